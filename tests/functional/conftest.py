"""The encrypting function against a moto server: buckets, the root key secret, events, an App."""

from __future__ import annotations

import base64
import copy
import itertools
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from s3seal.config import Settings
from s3seal.envelope import decrypt_bytes
from s3seal.handler import App
from s3seal.keys import CachedRootKey, generate_root_key

from ..conftest import REGION

EVENTS = Path(__file__).parent.parent / "events"
_sequencers = itertools.count(0x0055AED6DCD90281E5)


def load_event(name: str) -> dict[str, Any]:
    """A real-shaped event from tests/events/, as a fresh copy to fill in."""
    doc: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return doc


@dataclass
class FakeContext:
    """The parts of the Lambda context the handler and Powertools read."""

    remaining_ms: int = 900_000
    function_name: str = "s3seal-encrypt"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:s3seal-encrypt"
    aws_request_id: str = "3b0bd1b6-4c1e-4c7a-9a53-4a1d4f9e0c2e"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@dataclass(frozen=True)
class Landed:
    """An object put into the landing bucket, with what S3 would say about it in an event."""

    bucket: str
    key: str
    body: bytes
    version_id: str | None
    etag: str
    sequencer: str


@dataclass
class Harness:
    s3: Any
    secrets: Any
    landing: str
    staging: str
    secret_id: str
    root_key_b64: str
    secret_calls: list[str] = field(default_factory=list)

    @property
    def root_key(self) -> bytes:
        return base64.b64decode(self.root_key_b64)

    # --- landing and events -----------------------------------------------------------------

    def put(self, key: str, body: bytes, content_type: str | None = None) -> Landed:
        extra = {"ContentType": content_type} if content_type else {}
        response = self.s3.put_object(Bucket=self.landing, Key=key, Body=body, **extra)
        return Landed(
            bucket=self.landing,
            key=key,
            body=body,
            version_id=response.get("VersionId"),
            etag=response["ETag"].strip('"'),
            sequencer=f"{next(_sequencers):018X}",
        )

    def s3_record(self, landed: Landed, *, encoded_key: str | None = None) -> dict[str, Any]:
        """The S3 notification record S3 sends for ``landed`` (key URL-encoded as S3 does)."""
        from urllib.parse import quote_plus

        record: dict[str, Any] = copy.deepcopy(load_event("s3_notification.json")["Records"][0])
        record["s3"]["bucket"]["name"] = landed.bucket
        record["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{landed.bucket}"
        obj = record["s3"]["object"]
        obj["key"] = encoded_key if encoded_key is not None else quote_plus(landed.key, safe="/")
        obj["size"] = len(landed.body)
        obj["eTag"] = landed.etag
        obj["sequencer"] = landed.sequencer
        if landed.version_id:
            obj["versionId"] = landed.version_id
        else:
            del obj["versionId"]
        return record

    def notification(self, *landed: Landed) -> dict[str, Any]:
        return {"Records": [self.s3_record(item) for item in landed]}

    def sqs_event(self, *bodies: dict[str, Any] | str) -> dict[str, Any]:
        template = load_event("sqs_envelope.json")["Records"][0]
        records = []
        for number, body in enumerate(bodies):
            record = copy.deepcopy(template)
            record["messageId"] = f"message-{number}"
            record["body"] = body if isinstance(body, str) else json.dumps(body)
            records.append(record)
        return {"Records": records}

    # --- the function -----------------------------------------------------------------------

    def settings(self, **overrides: str) -> Settings:
        env = {"STAGING_BUCKET": self.staging, "ROOT_KEY_SECRET_ID": self.secret_id}
        return Settings.from_env(env | overrides)

    def app(self, **env: str) -> App:
        root_key = CachedRootKey(self.secret_id, 300, client=self.secrets)
        return App(self.settings(**env), self.s3, root_key)

    # --- what ended where -------------------------------------------------------------------

    def staged(self, key: str) -> tuple[bytes, dict[str, str], dict[str, Any]]:
        """The staged object's body, user metadata and the whole GET response."""
        response = self.s3.get_object(Bucket=self.staging, Key=key)
        return response["Body"].read(), response["Metadata"], response

    def staged_plaintext(self, key: str) -> bytes:
        body, metadata, _ = self.staged(key)
        return decrypt_bytes(self.root_key, body, metadata)

    def versions(self, bucket: str, key: str | None = None) -> list[dict[str, Any]]:
        """Every version and delete marker in ``bucket`` (of ``key``, if given)."""
        response = self.s3.list_object_versions(Bucket=bucket, **({"Prefix": key} if key else {}))
        items = response.get("Versions", []) + response.get("DeleteMarkers", [])
        return [item for item in items if key is None or item["Key"] == key]

    def pending_uploads(self) -> list[dict[str, Any]]:
        out = []
        for bucket in (self.landing, self.staging):
            out += self.s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        return out


def _new_bucket(s3: Any, prefix: str) -> str:
    name = f"{prefix}-{os.urandom(4).hex()}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


@pytest.fixture
def harness(moto_endpoint: str, s3: Any) -> Iterator[Harness]:
    secrets = boto3.client("secretsmanager", endpoint_url=moto_endpoint, region_name=REGION)
    secret_id = f"s3seal/root-key-{os.urandom(4).hex()}"
    root_key_b64 = generate_root_key()
    secrets.create_secret(Name=secret_id, SecretString=root_key_b64)
    h = Harness(
        s3=s3,
        secrets=secrets,
        landing=_new_bucket(s3, "landing"),
        staging=_new_bucket(s3, "staging"),
        secret_id=secret_id,
        root_key_b64=root_key_b64,
    )
    secrets.meta.events.register(
        "before-call.secrets-manager.GetSecretValue",
        lambda **kwargs: h.secret_calls.append("GetSecretValue"),
    )
    yield h


@pytest.fixture
def context() -> FakeContext:
    return FakeContext()
