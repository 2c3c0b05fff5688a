"""The benchmarks' moto server (bench/moto_s3.py): its version listing shares bodies instead of
copying them, and must answer exactly as moto does, leaving every stored body readable."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    port = _free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.moto_s3", "-H", "127.0.0.1", "-p", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=15)
        # A body closed under a stored key shows up as a server-side traceback.
        assert b"Traceback" not in errors, errors.decode(errors="replace")[-2000:]


def test_listing_answers_as_moto_and_leaves_every_body_readable(endpoint: str) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket="bench-moto")
    s3.put_bucket_versioning(Bucket="bench-moto", VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket="bench-moto", Key="k", Body=b"first")["VersionId"]
    second = s3.put_object(Bucket="bench-moto", Key="k", Body=b"second!")["VersionId"]
    s3.put_object(Bucket="bench-moto", Key="other", Body=b"x")
    for _ in range(3):  # the listing's twins are collected between requests
        listed = s3.list_object_versions(Bucket="bench-moto", Prefix="k")["Versions"]
        assert [(v["VersionId"], v["IsLatest"], v["Size"]) for v in listed] == [
            (second, True, 7),
            (first, False, 5),
        ]
    assert s3.get_object(Bucket="bench-moto", Key="k")["Body"].read() == b"second!"
    older = s3.get_object(Bucket="bench-moto", Key="k", VersionId=first)["Body"].read()
    assert older == b"first"
    s3.delete_object(Bucket="bench-moto", Key="k", VersionId=second)
    listed = s3.list_object_versions(Bucket="bench-moto", Prefix="k")["Versions"]
    assert [(v["VersionId"], v["IsLatest"]) for v in listed] == [(first, True)]
    assert s3.get_object(Bucket="bench-moto", Key="k")["Body"].read() == b"first"
