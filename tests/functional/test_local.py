"""`s3seal local`: the production event path on a laptop (moto server, worker, real handler)."""

from __future__ import annotations

import base64
import http.client
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from s3seal.local.pipeline import LocalPipeline, LocalSettings, free_loopback_port

ROOT = Path(__file__).resolve().parents[2]
S3SEAL = str(Path(sys.executable).parent / "s3seal")


def local_client(endpoint: str, service: Any, access_key_id: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=access_key_id,
        aws_secret_access_key="local",
    )


def exported_access_key_id(banner: str) -> str:
    """The per-run access key id from the banner's paste-able ``export`` line."""
    found = re.search(r"export AWS_ACCESS_KEY_ID=(\S+) AWS_SECRET_ACCESS_KEY=\S+ ", banner)
    assert found, banner
    return found.group(1)


def landing_versions(s3: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    listing = s3.list_object_versions(Bucket=bucket, Prefix=key)
    items = listing.get("Versions", []) + listing.get("DeleteMarkers", [])
    return [item for item in items if item["Key"] == key]


def test_demo_stages_v3_and_verifies_every_example(tmp_path: Path) -> None:
    # GIVEN the shipped examples (a CSV, a multi-MiB JSON-lines file, a unicode key)
    shipped = ROOT / "lambda" / "s3seal" / "examples"
    examples = sorted(p.name for p in shipped.iterdir() if p.is_file())
    assert len(examples) >= 3
    # WHEN the README's main command runs
    result = subprocess.run(
        [S3SEAL, "local", "--demo", "--log-file", str(tmp_path / "local.log")],
        cwd=tmp_path,  # outside the repository: the demo uses the examples the package ships
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    # THEN every file is staged as V3 (the default) and verified, and the DLQ is empty ...
    assert result.returncode == 0, result.stdout + result.stderr
    for name in examples:
        row = rf"demo/\w+/{re.escape(name)}\s+\d+\s+\d+\s+v3\s+verified"
        assert re.search(row, result.stdout), name
    assert "dead-letter queue: 0 message(s)" in result.stdout
    assert "ALL FILES VERIFIED" in result.stdout
    # ... and the way into Redshift shown is the loader's server-side bridge, never COPY ENCRYPTED
    out = result.stdout.lower()
    assert "master_symmetric_key" not in out and "manifest encrypted" not in out
    assert "copy ... encrypted ended 2026-04-30" in out
    assert "s3seal load --bucket s3seal-staging --table public.demo_csv --mode server-side" in out
    assert "--prefix demo/csv/ --format delimited --ignore-header 1" in out
    assert "manifest delimiter '|' ignoreheader 1;" in out
    assert "manifest format as json 'auto';" in out
    # ... with the function's logs in the log file, not on the terminal
    assert '"message":"object staged"' not in result.stdout
    assert '"message":"object staged"' in (tmp_path / "local.log").read_text()


Serving = tuple[subprocess.Popen[str], str, queue.Queue[str], str]


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[Serving]:
    port = free_loopback_port()
    proc = subprocess.Popen(
        [S3SEAL, "local", "--serve", "--port", str(port), "--log-file", str(tmp_path / "l.log")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        banner = wait_for(lines, "Press Ctrl-C", 60)
        yield proc, f"http://127.0.0.1:{port}", lines, banner
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def wait_for(lines: queue.Queue[str], text: str, timeout: float) -> str:
    """Everything printed up to the first line containing ``text``."""
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError(f"{text!r} not printed within {timeout} s; got:\n{''.join(seen)}")


def test_serve_stages_a_dropped_file_as_v3_readable_with_the_banners_command(
    serving: Serving, tmp_path: Path
) -> None:
    proc, endpoint, lines, banner = serving
    # The banner gives the commands to paste, with this endpoint.
    assert (
        f"aws s3 cp data.csv s3://s3seal-landing/incoming/data.csv --endpoint-url {endpoint}"
        in banner
    )
    assert "s3seal decrypt s3://s3seal-staging/incoming/data.csv" in banner
    assert f"--key-secret s3seal/root-key --endpoint-url {endpoint}" in banner
    key_id = exported_access_key_id(banner)
    s3 = local_client(endpoint, "s3", key_id)
    sqs = local_client(endpoint, "sqs", key_id)
    # GIVEN a file dropped into landing, as a user would with boto3 or the AWS CLI
    data = os.urandom(700_001)
    started = time.monotonic()
    s3.put_object(Bucket="s3seal-landing", Key="incoming/drop 1.bin", Body=data)
    # THEN within a few seconds it is reported staged ...
    wait_for(lines, "staged s3://s3seal-staging/incoming/drop 1.bin", 15)
    assert time.monotonic() - started < 15
    # ... as V3 (the default; the AWS SDK for Ruby reads V1/V2 only, and the official clients'
    # reading of V3 is tests/interop's), and the banner's decrypt command gives the same bytes ...
    staged = s3.head_object(Bucket="s3seal-staging", Key="incoming/drop 1.bin")["Metadata"]
    assert staged["x-amz-c"] == "115" and "x-amz-key" not in staged
    out = tmp_path / "decrypted.bin"
    decrypt = subprocess.run(
        [
            S3SEAL, "decrypt", "s3://s3seal-staging/incoming/drop 1.bin", str(out),
            "--key-secret", "s3seal/root-key", "--endpoint-url", endpoint,
        ],
        env=os.environ | {"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": "local",
                          "AWS_DEFAULT_REGION": "us-east-1"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert decrypt.returncode == 0, decrypt.stderr
    assert out.read_bytes() == data
    # ... no version of the plaintext is left, and the DLQ is empty
    deadline = time.monotonic() + 10
    while (
        landing_versions(s3, "s3seal-landing", "incoming/drop 1.bin")
        and time.monotonic() < deadline
    ):
        time.sleep(0.1)
    assert landing_versions(s3, "s3seal-landing", "incoming/drop 1.bin") == []
    dlq = sqs.get_queue_url(QueueName="s3seal-landing-events-dlq")["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    # WHEN Ctrl-C is pressed
    proc.send_signal(signal.SIGINT)
    # THEN everything stops cleanly: exit 0, and nothing listens on the port any more
    assert proc.wait(timeout=30) == 0
    port = int(endpoint.rsplit(":", 1)[1])
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0


def test_poisoned_object_ends_in_the_dead_letter_queue_with_plaintext_kept() -> None:
    # GIVEN the pipeline in-process, retrying fast, whose secret now holds an invalid key
    settings = LocalSettings(visibility_timeout_seconds=1, max_receive_count=2)
    with LocalPipeline(settings) as pipeline:
        invalid = base64.b64encode(os.urandom(16)).decode()
        pipeline.secrets.put_secret_value(SecretId=settings.secret_name, SecretString=invalid)
        # WHEN a file lands
        pipeline.s3.put_object(Bucket=settings.landing_bucket, Key="poison.csv", Body=b"a|b\n")
        # THEN after the configured receives its message is in the DLQ ...
        deadline = time.monotonic() + 30
        while pipeline.dead_letter_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert pipeline.dead_letter_count() == 1
        assert pipeline.failed_records >= settings.max_receive_count
        # ... the plaintext is still in landing, untouched, and nothing was staged
        body = pipeline.s3.get_object(Bucket=settings.landing_bucket, Key="poison.csv")["Body"]
        assert body.read() == b"a|b\n"
        staged = pipeline.s3.list_objects_v2(Bucket=settings.staging_bucket)
        assert staged.get("KeyCount") == 0


def test_worker_honours_batch_size_and_partial_failures() -> None:
    # GIVEN a batch size of 3 and five files, one of them over MAX_OBJECT_BYTES
    settings = LocalSettings(batch_size=3, visibility_timeout_seconds=1, max_receive_count=2)
    os.environ["MAX_OBJECT_BYTES"] = "1000"
    try:
        with LocalPipeline(settings) as pipeline:
            s3 = pipeline.s3
            for n in range(4):
                s3.put_object(Bucket=settings.landing_bucket, Key=f"ok-{n}.csv", Body=b"x" * 100)
            s3.put_object(Bucket=settings.landing_bucket, Key="big.csv", Body=b"y" * 5000)
            deadline = time.monotonic() + 30
            while pipeline.dead_letter_count() == 0 and time.monotonic() < deadline:
                time.sleep(0.2)
            # THEN the four small ones are staged and gone from landing, the big one is in the
            # DLQ with its plaintext kept
            staged = {
                o["Key"] for o in s3.list_objects_v2(Bucket=settings.staging_bucket)["Contents"]
            }
            assert staged == {f"ok-{n}.csv" for n in range(4)}
            for n in range(4):
                assert pipeline.landing_versions(f"ok-{n}.csv") == 0
            assert pipeline.landing_versions("big.csv") == 1
            assert pipeline.dead_letter_count() == 1
    finally:
        os.environ.pop("MAX_OBJECT_BYTES", None)


# --- the server refuses web pages and requests without this run's access key id ----------------


@pytest.fixture(scope="module")
def pipeline() -> Iterator[LocalPipeline]:
    with LocalPipeline() as running:
        yield running


def raw_request(
    pipeline: LocalPipeline,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes = b"",
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request exactly as given (as a browser or another program could send it)."""
    connection = http.client.HTTPConnection("127.0.0.1", pipeline.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def get_secret_value_headers(pipeline: LocalPipeline, key_id: str | None) -> dict[str, str]:
    headers = {
        "Host": f"127.0.0.1:{pipeline.port}",
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "secretsmanager.GetSecretValue",
    }
    if key_id is not None:
        credential = f"{key_id}/20261203/us-east-1/secretsmanager/aws4_request"
        headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host, Signature=00"
        )
    return headers


def assert_refused_without_the_key(
    pipeline: LocalPipeline, status: int, headers: dict[str, str], body: bytes
) -> None:
    assert status == 403
    assert "Access-Control-Allow-Origin" not in headers
    secret = pipeline.secrets.get_secret_value(SecretId=pipeline.settings.secret_name)
    assert secret["SecretString"].encode() not in body


SECRET_REQUEST = json.dumps({"SecretId": "s3seal/root-key"}).encode()


def test_this_runs_key_id_reads_the_secret_as_the_printed_commands_do(
    pipeline: LocalPipeline,
) -> None:
    # The guard passes what the AWS CLI and SDKs send with the exported key id.
    status, _, body = raw_request(
        pipeline, "POST", "/", get_secret_value_headers(pipeline, pipeline.access_key_id),
        SECRET_REQUEST,
    )  # fmt: skip
    assert status == 200 and b"SecretString" in body
    url = pipeline.s3.generate_presigned_url(
        "list_objects_v2", Params={"Bucket": pipeline.settings.staging_bucket}
    )
    path = url.split(str(pipeline.port), 1)[1]
    assert raw_request(pipeline, "GET", path, {"Host": f"127.0.0.1:{pipeline.port}"})[0] == 200


def test_a_request_with_an_origin_is_refused(pipeline: LocalPipeline) -> None:
    # GIVEN a web page's fetch, even one that somehow knew the key id
    headers = get_secret_value_headers(pipeline, pipeline.access_key_id)
    headers["Origin"] = "https://attacker.example"
    assert_refused_without_the_key(
        pipeline, *raw_request(pipeline, "POST", "/", headers, SECRET_REQUEST)
    )


def test_a_cors_preflight_is_refused(pipeline: LocalPipeline) -> None:
    headers = {
        "Host": f"127.0.0.1:{pipeline.port}",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-amz-target,content-type",
    }
    assert_refused_without_the_key(pipeline, *raw_request(pipeline, "OPTIONS", "/", headers))


def test_unsigned_requests_are_refused(pipeline: LocalPipeline) -> None:
    host = {"Host": f"127.0.0.1:{pipeline.port}"}
    for method, path, headers, body in [
        ("POST", "/", get_secret_value_headers(pipeline, None), SECRET_REQUEST),
        ("GET", f"/{pipeline.settings.staging_bucket}", host, b""),
        ("GET", "/moto-api/data.json", host, b""),
        ("POST", "/moto-api/reset", host, b""),
    ]:
        assert_refused_without_the_key(
            pipeline, *raw_request(pipeline, method, path, headers, body)
        )
    # ... and moto's state survived the refused reset
    assert pipeline.s3.head_bucket(Bucket=pipeline.settings.landing_bucket)


def test_another_access_key_id_is_refused(pipeline: LocalPipeline) -> None:
    # GIVEN a client with the credentials local mode used to print for everyone
    secrets = local_client(pipeline.endpoint, "secretsmanager", "local")
    with pytest.raises(ClientError) as refused:
        secrets.get_secret_value(SecretId=pipeline.settings.secret_name)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    status, headers, body = raw_request(
        pipeline, "POST", "/", get_secret_value_headers(pipeline, "AKIAIOSFODNN7EXAMPLE"),
        SECRET_REQUEST,
    )  # fmt: skip
    assert_refused_without_the_key(pipeline, status, headers, body)


def test_another_host_name_is_refused(pipeline: LocalPipeline) -> None:
    # A DNS-rebinding page reaches 127.0.0.1 under its own name (same-origin, so no Origin).
    headers = get_secret_value_headers(pipeline, pipeline.access_key_id)
    headers["Host"] = f"rebound.attacker.example:{pipeline.port}"
    assert_refused_without_the_key(
        pipeline, *raw_request(pipeline, "POST", "/", headers, SECRET_REQUEST)
    )
