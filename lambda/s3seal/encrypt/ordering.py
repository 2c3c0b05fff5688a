"""Which of two versions of one landing key staging should hold (the pipeline's rules 2 to 4),
and the record that answers it later for events without a sequencer.

``decide`` is pure; ``older_versions`` is the one request ordering needs (see its docstring).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from .. import storage
from ..objects import ObjectRef
from .events import sequencer_key
from .origin import (
    OLDER_VERSIONS_KEPT,
    SOURCE_ETAG,
    SOURCE_LAST_MODIFIED,
    SOURCE_OLDER_VERSIONS,
    SOURCE_SEQUENCER,
    SOURCE_VERSION,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class Source(NamedTuple):
    """The landing object as it is now."""

    ref: ObjectRef
    etag: str
    size: int
    content_type: str | None
    sequencer: str | None
    last_modified: datetime | None = None


class Staged(NamedTuple):
    """What the staged object says about where it came from."""

    etag: str
    version_id: str | None
    size: int
    metadata: dict[str, str]

    @property
    def source_version(self) -> str | None:
        return self.metadata.get(SOURCE_VERSION) or None

    @property
    def source_etag(self) -> str | None:
        return self.metadata.get(SOURCE_ETAG) or None

    @property
    def sequencer(self) -> str | None:
        return self.metadata.get(SOURCE_SEQUENCER) or None

    @property
    def older_versions(self) -> frozenset[str]:
        return frozenset(self.metadata.get(SOURCE_OLDER_VERSIONS, "").split())

    @property
    def source_last_modified(self) -> datetime | None:
        text = self.metadata.get(SOURCE_LAST_MODIFIED)
        try:
            return datetime.fromisoformat(text) if text else None
        except ValueError:
            return None


class Decision(StrEnum):
    CREATE = "create"
    REPLACE = "replace"
    ALREADY_STAGED = "already-staged"
    SUPERSEDED = "superseded"


def decide(source: Source, staged: Staged | None, is_current: Callable[[], bool]) -> Decision:
    """Whether ``source`` should be written over what is staged for its key (rules 2 to 4)."""
    if staged is None:
        return Decision.CREATE
    version = source.ref.version_id
    same_version = version is not None and staged.source_version == version
    same_content = version is None and staged.source_version is None
    if same_version or (same_content and staged.source_etag == source.etag):
        return Decision.ALREADY_STAGED
    if source.sequencer and staged.sequencer:
        newer = sequencer_key(source.sequencer) > sequencer_key(staged.sequencer)
        return Decision.REPLACE if newer else Decision.SUPERSEDED
    if version is not None and version in staged.older_versions:
        return Decision.SUPERSEDED
    staged_time = staged.source_last_modified
    if source.last_modified and staged_time and source.last_modified != staged_time:
        newer = source.last_modified > staged_time
        return Decision.REPLACE if newer else Decision.SUPERSEDED
    return Decision.REPLACE if is_current() else Decision.SUPERSEDED


def older_versions(s3: S3Client, ref: ObjectRef) -> list[str]:
    """Ids of the versions S3 lists after (older than) ``ref``, to be recorded on its staged
    object.

    The one request of the common path that is about ordering, not data, and it cannot go:
    an event for an older version may come later without a sequencer (a Batch Operations
    backfill), after this version's plaintext was deleted, which makes the older version the
    key's current one again. Only this record, taken while both versions existed, then tells
    that the late version is older when both were written in the same second (LastModified
    resolves no finer). It is sent beside the GET, so it adds a request but no waiting.
    """
    try:
        listing = s3.list_object_versions(Bucket=ref.bucket, Prefix=ref.key, MaxKeys=100)
    except (ClientError, BotoCoreError) as exc:
        raise storage.translate(exc, "cannot list versions of", ref) from None
    ids = [v["VersionId"] for v in listing.get("Versions", []) if v["Key"] == ref.key]
    if ref.version_id not in ids:
        return []
    start = ids.index(ref.version_id) + 1
    return ids[start : start + OLDER_VERSIONS_KEPT]
