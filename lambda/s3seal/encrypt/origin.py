"""What a staged object records about its source, as S3 user metadata, within S3's 2 KB.

The source's key is not repeated: the staged key is ``STAGING_PREFIX + key`` (plus ``.gz``), and
a key URL-encoded into metadata grows up to 3x (``€`` is ``%E2%82%AC``), so a valid 1,024-byte
key would not fit. Only its SHA-256 is kept, which ties the staged object to its key. What is
left has a size bounded independently of the key; ``fit`` checks the total before every write.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

from ..errors import MetadataTooLargeError

S3_USER_METADATA_LIMIT = 2048
"""S3: user-defined metadata is at most 2 KB, the UTF-8 bytes of every name and value."""
USER_METADATA_PREFIX = "x-amz-meta-"

SOURCE_BUCKET = "s3seal-source-bucket"
SOURCE_KEY_SHA256 = "s3seal-source-key-sha256"
"""Hex SHA-256 of the source key's UTF-8 bytes (the key itself is the staged key's suffix)."""
SOURCE_VERSION = "s3seal-source-version"
SOURCE_ETAG = "s3seal-source-etag"
SOURCE_SEQUENCER = "s3seal-source-sequencer"
SOURCE_LAST_MODIFIED = "s3seal-source-last-modified"
"""ISO 8601, UTC: orders versions when an event carries no sequencer."""
SOURCE_OLDER_VERSIONS = "s3seal-source-older-versions"
"""Space-separated ids of the versions S3 listed as older than the source when it was staged."""
OLDER_VERSIONS_KEPT = 10
"""Enough for a burst of uploads to one key; trimmed further if the 2 KB would be exceeded."""


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def user_metadata_size(metadata: Mapping[str, str]) -> int:
    """The size S3 counts against ``S3_USER_METADATA_LIMIT``: UTF-8 bytes of names and values.

    Names are counted with their ``x-amz-meta-`` prefix, as sent on the wire: an upper bound
    whichever way S3 counts them.
    """
    return sum(
        len((USER_METADATA_PREFIX + name.removeprefix(USER_METADATA_PREFIX)).encode("utf-8"))
        + len(value.encode("utf-8"))
        for name, value in metadata.items()
    )


def source_metadata(
    *,
    bucket: str,
    key: str,
    etag: str,
    version_id: str | None,
    sequencer: str | None,
    last_modified: str | None,
    older_versions: Sequence[str] = (),
) -> dict[str, str]:
    meta = {SOURCE_BUCKET: bucket, SOURCE_KEY_SHA256: key_digest(key), SOURCE_ETAG: etag}
    if version_id:
        meta[SOURCE_VERSION] = version_id
    if sequencer:
        meta[SOURCE_SEQUENCER] = sequencer
    if last_modified:
        meta[SOURCE_LAST_MODIFIED] = last_modified
    if older_versions:
        meta[SOURCE_OLDER_VERSIONS] = " ".join(older_versions[:OLDER_VERSIONS_KEPT])
    return meta


def fit(envelope: Mapping[str, str], source: Mapping[str, str], where: str) -> dict[str, str]:
    """The staged object's metadata: ``envelope | source`` within S3's limit.

    The list of older versions (an ordering hint, nothing more) is shortened, newest kept, until
    it fits; without it, the rest is bounded (an envelope and a few ids), so MetadataTooLargeError
    means a setting is out of bounds (a secret ARN hundreds of characters long, say).
    """
    merged = dict(envelope) | dict(source)
    older = merged.pop(SOURCE_OLDER_VERSIONS, "").split()
    while older:
        candidate = merged | {SOURCE_OLDER_VERSIONS: " ".join(older)}
        if user_metadata_size(candidate) <= S3_USER_METADATA_LIMIT:
            return candidate
        older.pop()
    size = user_metadata_size(merged)
    if size > S3_USER_METADATA_LIMIT:
        raise MetadataTooLargeError(
            f"{where}: its metadata would be {size} bytes, over S3's {S3_USER_METADATA_LIMIT}"
        )
    return merged
