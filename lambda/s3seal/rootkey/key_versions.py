"""Which root-key version wraps each staged object, and retiring versions nothing uses any more.

The staging bucket is read as the loader reads it: a listing, then one HEAD per object (two
requests for a V3 object that keeps its wrapped key in ``KEY.instruction``). For a large bucket a
count is therefore a full listing plus a HEAD per object; ``--prefix`` narrows it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from .. import storage
from ..envelope import (
    INSTRUCTION_SUFFIX,
    EnvelopeMetadata,
    needs_instruction_file,
    parse_instruction_file,
)
from ..errors import MetadataError, ObjectNotFoundError, S3SealError, VersionInUseError
from ..names import RESERVED_PREFIX, SECRET_VERSION_FIELD
from ..objects import ObjectRef
from ..staged import UNVERSIONED_KEY
from .keys import (
    KeyVersion,
    list_key_versions,
    release_version,
    retain_label,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient

MAX_INSTRUCTION_BYTES = 64 * 1024
"""An instruction file is a few hundred bytes of JSON; anything far larger is not one."""


@dataclass(frozen=True)
class Sealed:
    """A staged object's envelope as read now, with what a conditional rewrite needs."""

    ref: ObjectRef
    """The object, with the version id HEAD returned (None in an unversioned bucket)."""
    etag: str
    head: dict[str, Any] = field(repr=False)
    envelope: EnvelopeMetadata
    instruction_etag: str | None = None
    """Set when the envelope's wrapped key lives in ``KEY.instruction`` (V3)."""

    @property
    def key_version(self) -> str | None:
        return self.envelope.description.get(SECRET_VERSION_FIELD)

    @property
    def instruction_ref(self) -> ObjectRef:
        return ObjectRef(self.ref.bucket, self.ref.key + INSTRUCTION_SUFFIX)


def read_sealed(s3: S3Client, ref: ObjectRef) -> Sealed | None:
    """The object's envelope (None if it vanished or is not an s3seal envelope)."""
    try:
        head = storage.head_object(s3, ref)
    except ObjectNotFoundError:
        return None
    metadata = head.get("Metadata", {})
    instruction: dict[str, str] | None = None
    instruction_etag = None
    try:
        if needs_instruction_file(metadata):
            instruction, instruction_etag = _read_instruction(
                s3, ObjectRef(ref.bucket, ref.key + INSTRUCTION_SUFFIX)
            )
        envelope = EnvelopeMetadata.parse(metadata, instruction=instruction)
    except (MetadataError, ObjectNotFoundError):
        return None
    return Sealed(
        ObjectRef(ref.bucket, ref.key, head.get("VersionId") or None),
        str(head["ETag"]),
        head,
        envelope,
        instruction_etag,
    )


def scan(s3: S3Client, bucket: str, prefix: str = "") -> Iterator[Sealed]:
    """Every sealed object under ``prefix``: s3seal's ``_s3seal/`` objects and V3 instruction
    files are not objects of their own."""
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                key = item["Key"]
                if (
                    key.startswith(RESERVED_PREFIX)
                    or key.endswith("/")
                    or key.endswith(INSTRUCTION_SUFFIX)
                ):
                    continue
                found = read_sealed(s3, ObjectRef(bucket, key))
                if found is not None:
                    yield found
    except (ClientError, BotoCoreError) as exc:
        raise storage.translate(exc, "cannot list", f"s3://{bucket}/{prefix}") from None


def count_by_version(s3: S3Client, bucket: str, prefix: str = "") -> dict[str, int]:
    """How many staged objects each root-key version wraps (``unversioned``: keys from files)."""
    counts: dict[str, int] = {}
    for sealed in scan(s3, bucket, prefix):
        group = sealed.key_version or UNVERSIONED_KEY
        counts[group] = counts.get(group, 0) + 1
    return counts


@dataclass(frozen=True)
class VersionReport:
    version: KeyVersion
    objects: int

    def to_json(self) -> dict[str, Any]:
        return {
            "VersionId": self.version.version_id,
            "Labels": list(self.version.labels),
            "Created": self.version.created,
            "Retained": self.version.retained,
            "StagedObjects": self.objects,
        }


def report(
    s3: S3Client, secrets: SecretsManagerClient, secret_id: str, bucket: str, prefix: str = ""
) -> tuple[list[VersionReport], dict[str, int]]:
    """Each version with its object count, and the counts no listed version accounts for (objects
    naming a deleted version, or none)."""
    versions = list_key_versions(secrets, secret_id)
    counts = count_by_version(s3, bucket, prefix)
    rows = [VersionReport(v, counts.pop(v.version_id, 0)) for v in versions]
    return rows, counts


def retire(
    s3: S3Client, secrets: SecretsManagerClient, secret_id: str, version_id: str, bucket: str
) -> None:
    """Remove the version's retention label, only if no staged object in ``bucket`` names it.

    Raises VersionInUseError (objects still wrapped by it, or it is AWSCURRENT/AWSPENDING) or
    S3SealError (no such version, or it carries no retention label).
    """
    versions = {v.version_id: v for v in list_key_versions(secrets, secret_id)}
    found = versions.get(version_id)
    where = f"secret {secret_id} version {version_id}"
    if found is None:
        raise S3SealError(f"{where} does not exist")
    busy = {"AWSCURRENT", "AWSPENDING"} & set(found.labels)
    if busy:
        raise VersionInUseError(f"{where} is {', '.join(sorted(busy))}; it cannot be retired")
    if not found.retained:
        raise S3SealError(f"{where} carries no {retain_label(version_id)} label; nothing to retire")
    using = count_by_version(s3, bucket).get(version_id, 0)
    if using:
        raise VersionInUseError(
            f"{where} still wraps {using} staged object(s) in s3://{bucket}; run "
            f"'s3seal rewrap s3://{bucket} --from-version {version_id}' first"
        )
    release_version(secrets, secret_id, version_id)


def _read_instruction(s3: S3Client, ref: ObjectRef) -> tuple[dict[str, str], str]:
    reader = storage.open_object(s3, ref)
    data = b""
    for chunk in reader.chunks:
        data += chunk
        if len(data) > MAX_INSTRUCTION_BYTES:
            raise MetadataError(f"{ref} is too large to be an instruction file")
    return parse_instruction_file(data, str(ref)), reader.etag
