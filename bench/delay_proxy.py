"""A delaying HTTP forwarder on loopback: S3's latency put in front of a local moto server.

Every request waits ``delay`` seconds, then goes to the upstream endpoint on a keep-alive
connection of its own thread, and the answer comes back as it came. A loopback moto server
answers a small request in a millisecond or two where S3 takes tens: without the delay, a client
that makes more requests per object pays almost nothing for them, and a client that overlaps
requests gains almost nothing from it. The proxy also counts what passes through it, by
operation, which is how the benchmark counts requests per object (as S3 would bill them).

Threaded (one thread per client connection), so concurrent requests wait concurrently, as they
would on S3. Bodies are buffered whole, both ways: it is for small objects. ``bench.latency``
runs it as a process of its own, so that its work competes with neither the measured code's GIL
nor moto's::

    python -m bench.delay_proxy --upstream http://127.0.0.1:PORT --delay-ms 20

prints ``listening on http://127.0.0.1:PORT`` once it accepts requests; ``GET /__bench__/counts``
(not delayed, not counted) answers the requests counted since the last such call, as JSON.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "expect",  # answered here (BaseHTTPRequestHandler sends the 100 Continue)
}
"""Headers of one connection, not of the request: neither forwarded nor returned."""
COPY_CHUNK = 1 << 16
COUNTS_PATH = "/__bench__/counts"


def operation(method: str, path: str, *, copy_source: bool = False) -> str:
    """The S3 operation a request is, closely enough to count requests per object."""
    query = parse_qs(urlsplit(path).query, keep_blank_values=True)
    key = urlsplit(path).path.strip("/").count("/") > 0
    if method == "PUT" and "partNumber" in query:
        return "UploadPart"
    if method == "POST" and "uploads" in query:
        return "CreateMultipartUpload"
    if method == "POST" and "uploadId" in query:
        return "CompleteMultipartUpload"
    if method == "PUT" and copy_source:
        return "CopyObject"
    if method == "GET" and "versions" in query:
        return "ListObjectVersions"
    if method == "GET" and not key:
        return "ListObjects"
    if not key:
        return {"HEAD": "HeadBucket", "PUT": "PutBucket", "DELETE": "DeleteBucket"}.get(
            method, method + " (bucket)"
        )
    names = {"GET": "GetObject", "HEAD": "HeadObject", "PUT": "PutObject", "DELETE": "DeleteObject"}
    return names.get(method, method)


class DelayProxy:
    """``with DelayProxy("http://127.0.0.1:PORT", 0.020) as proxy:`` then use ``proxy.endpoint``."""

    def __init__(self, upstream: str, delay: float) -> None:
        target = urlsplit(upstream)
        if target.scheme != "http" or not target.hostname or not target.port:
            raise ValueError(f"upstream must be http://HOST:PORT, not {upstream!r}")
        self.delay = delay
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        proxy = self
        host, port = target.hostname, target.port

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects

            def log_message(self, format: str, *args: object) -> None:
                pass  # one line per request would be most of the benchmark's output

            def _upstream(self) -> http.client.HTTPConnection:
                connection = getattr(self, "_connection", None)
                if connection is None:
                    connection = http.client.HTTPConnection(host, port, timeout=600)
                    self._connection = connection
                return connection

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks: list[bytes] = []
                    while True:
                        size = int(self.rfile.readline().split(b";", 1)[0], 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass  # trailers
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _counts(self) -> None:
                data = json.dumps(proxy.take_counts()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _forward(self) -> None:
                if self.command == "GET" and self.path == COUNTS_PATH:
                    self._counts()
                    return
                body = self._body()
                copied = bool(self.headers.get("x-amz-copy-source"))
                proxy.count(operation(self.command, self.path, copy_source=copied))
                time.sleep(proxy.delay)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                if body or self.command in ("PUT", "POST"):
                    headers["Content-Length"] = str(len(body))
                connection = self._upstream()
                try:
                    connection.request(self.command, self.path, body=body, headers=headers)
                    response = connection.getresponse()
                except (OSError, http.client.HTTPException):
                    connection.close()  # a stale keep-alive connection: one retry on a new one
                    connection.request(self.command, self.path, body=body, headers=headers)
                    response = connection.getresponse()
                data = response.read()
                self.send_response_only(response.status, response.reason)
                for name, value in response.getheaders():
                    if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                declared = response.getheader("Content-Length")
                # HEAD: the length of the body a GET would have, as upstream declared it.
                length = declared if self.command == "HEAD" and declared else str(len(data))
                self.send_header("Content-Length", length)
                self.end_headers()
                if self.command != "HEAD":
                    view = memoryview(data)
                    for start in range(0, len(view), COPY_CHUNK):
                        self.wfile.write(view[start : start + COPY_CHUNK])

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def count(self, name: str) -> None:
        with self._lock:
            self.counts[name] += 1

    def take_counts(self) -> Counter[str]:
        """The requests counted since the last call, by operation; the count starts again."""
        with self._lock:
            counts, self.counts = self.counts, Counter()
        return counts

    def start(self) -> DelayProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> DelayProxy:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--upstream", required=True, help="http://HOST:PORT of the S3 endpoint")
    parser.add_argument("--delay-ms", type=float, default=20.0)
    args = parser.parse_args(argv)
    proxy = DelayProxy(args.upstream, args.delay_ms / 1000).start()
    print(f"listening on {proxy.endpoint}", flush=True)
    try:
        sys.stdin.read()  # until the parent closes our stdin (or dies)
    finally:
        proxy.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
