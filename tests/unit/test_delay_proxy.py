"""The benchmark's delaying proxy: it forwards requests and answers unchanged, delays each request,
and counts them by S3 operation (bench/latency.py's requests per object come from these counts)."""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from bench.delay_proxy import DelayProxy, operation


class Echo(BaseHTTPRequestHandler):
    """Answers every request with its method, path and body, and an ETag header."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        data = f"{self.command} {self.path} ".encode() + body
        self.send_response(200)
        self.send_header("ETag", '"abc"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _answer


@pytest.fixture
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def request(
    endpoint: str, method: str, path: str, body: bytes = b""
) -> tuple[int, bytes, str | None]:
    target = urlsplit(endpoint)
    connection = http.client.HTTPConnection(target.hostname or "", target.port, timeout=10)
    try:
        connection.request(method, path, body=body or None)
        response = connection.getresponse()
        return response.status, response.read(), response.getheader("ETag")
    finally:
        connection.close()


def test_requests_and_answers_pass_unchanged_each_delayed_and_counted(upstream: str) -> None:
    with DelayProxy(upstream, 0.05) as proxy:
        started = time.perf_counter()
        status, body, etag = request(proxy.endpoint, "PUT", "/bucket/in/a.csv", b"1,2\n")
        elapsed = time.perf_counter() - started
        assert (status, body, etag) == (200, b"PUT /bucket/in/a.csv 1,2\n", '"abc"')
        assert elapsed >= 0.05
        assert request(proxy.endpoint, "GET", "/bucket/in/a.csv")[1] == b"GET /bucket/in/a.csv "
        assert request(proxy.endpoint, "HEAD", "/bucket/in/a.csv")[:2] == (200, b"")
        request(proxy.endpoint, "GET", "/bucket?versions&prefix=in%2Fa.csv")
        assert proxy.take_counts() == {
            "PutObject": 1,
            "GetObject": 1,
            "HeadObject": 1,
            "ListObjectVersions": 1,
        }
        assert proxy.take_counts() == {}  # counting starts again


def test_concurrent_requests_wait_concurrently(upstream: str) -> None:
    with DelayProxy(upstream, 0.2) as proxy:
        threads = [
            threading.Thread(target=request, args=(proxy.endpoint, "GET", f"/b/k{n}"))
            for n in range(8)
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # Eight requests of 0.2 s each, in series, would take 1.6 s.
        assert time.perf_counter() - started < 1.0
        assert proxy.take_counts() == {"GetObject": 8}


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("PUT", "/b/k?partNumber=1&uploadId=x", "UploadPart"),
        ("POST", "/b/k?uploads", "CreateMultipartUpload"),
        ("POST", "/b/k?uploadId=x", "CompleteMultipartUpload"),
        ("DELETE", "/b/k?versionId=v", "DeleteObject"),
        ("GET", "/b?list-type=2", "ListObjects"),
        ("HEAD", "/b", "HeadBucket"),
    ],
)
def test_operations_are_told_apart(method: str, path: str, expected: str) -> None:
    assert operation(method, path) == expected
    assert operation("PUT", "/b/k", copy_source=True) == "CopyObject"
