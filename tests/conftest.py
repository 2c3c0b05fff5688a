"""Shared fixtures: fake AWS credentials, a moto server on 127.0.0.1, the test vectors."""

from __future__ import annotations

import base64
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

VECTORS = Path(__file__).parent / "vectors"
REGION = "us-east-1"


@pytest.fixture(autouse=True)
def _fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach a real AWS account, whatever the developer's environment holds."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "S3SEAL_ROOT_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server (S3, SQS, Secrets Manager) on loopback for the whole session."""
    from moto.server import ThreadedMotoServer

    port = _free_loopback_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3(moto_endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=moto_endpoint, region_name=REGION)


@pytest.fixture
def bucket(s3: Any, request: pytest.FixtureRequest) -> str:
    """A fresh bucket per test, named after it."""
    name = "t-" + "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:50]
    name = name.strip("-") + f"-{os.urandom(3).hex()}"
    s3.create_bucket(Bucket=name)
    return name


@dataclass(frozen=True)
class Vector:
    """One stored object with its plaintext and root key."""

    name: str
    root_key: bytes
    body: bytes
    metadata: dict[str, str]
    plaintext: bytes


def ruby_vectors() -> list[Vector]:
    folder = VECTORS / "aws-sdk-ruby"
    out = []
    for meta_file in sorted(folder.glob("*.json")):
        doc = json.loads(meta_file.read_text())
        out.append(
            Vector(
                name=meta_file.stem,
                root_key=base64.b64decode(doc["root_key_b64"]),
                body=(folder / f"{meta_file.stem}.body").read_bytes(),
                metadata=doc["metadata"],
                plaintext=(folder / f"{meta_file.stem}.plain").read_bytes(),
            )
        )
    return out


REDSHIFT_ROOT_KEY_B64 = "cibeQ6J5GwJ8hLrrAdAbb09HjObumZGC/LuzM1RBKRA="


def redshift_vectors() -> list[Vector]:
    """Redshift's UNLOAD files, with only the metadata Redshift is known to write (key and IV)."""
    folder = VECTORS / "redshift-unload"
    out = []
    for body_file in sorted(folder.glob("encrypted.*_part_00")):
        part = body_file.name.removeprefix("encrypted.")
        out.append(
            Vector(
                name=f"redshift-{part}",
                root_key=base64.b64decode(REDSHIFT_ROOT_KEY_B64),
                body=body_file.read_bytes(),
                metadata={
                    "x-amz-key": (folder / f"{body_file.name}.key").read_text().strip(),
                    "x-amz-iv": (folder / f"{body_file.name}.iv").read_text().strip(),
                },
                plaintext=(folder / f"plaintext.{part}").read_bytes(),
            )
        )
    return out
