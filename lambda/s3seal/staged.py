"""The staging bucket's inventory: which staged objects exist, under which root-key version."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from . import storage
from .envelope import EnvelopeMetadata, Format
from .errors import MetadataError, ObjectNotFoundError
from .names import RESERVED_PREFIX, SECRET_ARN_FIELD, SECRET_VERSION_FIELD
from .objects import ObjectRef

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

LOAD_PREFIX = "_s3seal/load/"
"""Transient plaintext for server-side loads (SSE-KMS, deleted after each COPY)."""
MANIFEST_PREFIX = "_s3seal/manifests/"
BATCH_PREFIX = "_s3seal/batches/"
GZIP_SUFFIX = ".gz"
UNVERSIONED_KEY = "unversioned"
"""The group name for objects whose matdesc names no secret version (keys from files or env)."""


@dataclass(frozen=True)
class StagedObject:
    ref: ObjectRef
    size: int
    last_modified: datetime
    format: Format
    secret_arn: str | None
    secret_version: str | None

    @property
    def url(self) -> str:
        return self.ref.url

    @property
    def gzip(self) -> bool:
        return self.ref.key.endswith(GZIP_SUFFIX)

    @property
    def key_group(self) -> str:
        """Objects that one COPY can take together: same root-key version."""
        return self.secret_version or UNVERSIONED_KEY


def list_staged(
    s3: S3Client, bucket: str, prefix: str = "", since: datetime | None = None
) -> Iterator[StagedObject]:
    """Every staged object under ``prefix`` (modified at or after ``since``), oldest first within
    each listing page; s3seal's own ``_s3seal/`` objects are skipped."""
    paginator = s3.get_paginator("list_objects_v2")
    try:
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                key = item["Key"]
                if key.startswith(RESERVED_PREFIX) or key.endswith("/"):
                    continue
                if since is not None and item["LastModified"] < since:
                    continue
                found = describe(s3, ObjectRef(bucket, key))
                if found is not None:
                    yield found
    except (ClientError, BotoCoreError) as exc:
        raise storage.translate(exc, "cannot list", f"s3://{bucket}/{prefix}") from None


def describe(s3: S3Client, ref: ObjectRef) -> StagedObject | None:
    """The staged object's envelope facts (None if it vanished or is not s3seal's)."""
    try:
        head = storage.head_object(s3, ref)
    except ObjectNotFoundError:
        return None
    try:
        envelope = EnvelopeMetadata.parse(head.get("Metadata", {}))
    except MetadataError:
        return None  # not an envelope: something else put it there; COPY ENCRYPTED can't read it
    description = envelope.description
    return StagedObject(
        ref=ObjectRef(ref.bucket, ref.key, head.get("VersionId") or None),
        size=int(head["ContentLength"]),
        last_modified=head["LastModified"],
        format=envelope.format,
        secret_arn=description.get(SECRET_ARN_FIELD),
        secret_version=description.get(SECRET_VERSION_FIELD),
    )


def group_by_key(objects: Iterable[StagedObject]) -> dict[str, list[StagedObject]]:
    groups: dict[str, list[StagedObject]] = {}
    for obj in objects:
        groups.setdefault(obj.key_group, []).append(obj)
    return groups
