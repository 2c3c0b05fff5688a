"""Shared set-up for the rewrap and key-version tests: a rotated root-key secret in moto and a
versioned staging bucket holding objects of every format, sealed under one of its versions."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from s3seal.envelope import INSTRUCTION_SUFFIX, Format, encrypt_bytes
from s3seal.envelope.metadata import V3_OBJECT_NAMES
from s3seal.rootkey import rotation
from s3seal.rootkey.keys import RootKey, current_version, root_key_from_secret

from .test_rotation import begin_rotation, new_secret

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

STEPS = list(rotation.Step)
EXTRA_METADATA = {"source-etag": "abc123", "origin": "landing/in.csv"}
CONTENT_TYPE = "text/csv"


def rotate(sm: SecretsManagerClient, secret_id: str) -> RootKey:
    """One whole rotation; the new current key."""
    token = begin_rotation(sm, secret_id)
    for step in STEPS:
        rotation.rotate(sm, secret_id, token, step)
    return root_key_from_secret(sm, secret_id, current_version(sm, secret_id))


def rotated_secret(sm: SecretsManagerClient) -> tuple[str, RootKey]:
    secret_id = new_secret(sm)
    return secret_id, rotate(sm, secret_id)


def versioned_bucket(s3: Any) -> str:
    name = f"t-staging-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


@dataclass(frozen=True)
class Staged:
    key: str
    plaintext: bytes
    body: bytes
    instruction: bool = False


def stage(
    s3: Any, bucket: str, key: str, root: RootKey, fmt: Format, *, instruction: bool = False
) -> Staged:
    """Put an object as the encrypting function would, with other user metadata beside it."""
    plaintext = f"id,name\n1,{key}\n".encode() * 20
    body, metadata = encrypt_bytes(root.material, plaintext, fmt, description=root.description())
    if instruction:
        assert fmt is Format.V3
        on_object = {k: v for k, v in metadata.items() if k in V3_OBJECT_NAMES}
        rest = {k: v for k, v in metadata.items() if k not in V3_OBJECT_NAMES}
        s3.put_object(Bucket=bucket, Key=key + INSTRUCTION_SUFFIX, Body=json.dumps(rest).encode())
        metadata = on_object
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=body,
        Metadata=metadata | EXTRA_METADATA,
        ContentType=CONTENT_TYPE,
    )
    return Staged(key, plaintext, body, instruction)


def body_of(s3: Any, bucket: str, key: str) -> tuple[bytes, dict[str, Any]]:
    response = s3.get_object(Bucket=bucket, Key=key)
    return response["Body"].read(), response


def instruction_of(s3: Any, bucket: str, key: str) -> dict[str, str] | None:
    try:
        raw = s3.get_object(Bucket=bucket, Key=key + INSTRUCTION_SUFFIX)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    parsed: dict[str, str] = json.loads(raw)
    return parsed
