"""References to S3 objects: the one type every trigger shape and every command turns into."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from .errors import ConfigError

S3_SCHEME = "s3://"


@dataclass(frozen=True)
class ObjectRef:
    """One S3 object, or one exact version of it. ``key`` is already URL-decoded."""

    bucket: str
    key: str
    version_id: str | None = None

    @property
    def url(self) -> str:
        return f"{S3_SCHEME}{self.bucket}/{self.key}"

    def __str__(self) -> str:
        return self.url + (f"?versionId={self.version_id}" if self.version_id else "")


def is_s3_url(text: str) -> bool:
    return text.startswith(S3_SCHEME)


def parse_s3_url(url: str) -> ObjectRef:
    """``s3://bucket/key`` (optionally ``?versionId=...``) to an ObjectRef.

    The key is taken literally, as the AWS CLI does: ``s3://b/a%20b`` names the key ``a%20b``.
    """
    if not is_s3_url(url):
        raise ConfigError(f"not an s3:// URL: {url}")
    rest = url[len(S3_SCHEME) :]
    bucket, sep, key = rest.partition("/")
    version_id = None
    if "?versionId=" in key:
        key, _, version = key.rpartition("?versionId=")
        version_id = unquote(version) or None
    if not bucket or not sep or not key:
        raise ConfigError(f"{url} does not name an object (expected s3://bucket/key)")
    return ObjectRef(bucket, key, version_id)


def parse_s3_prefix(url: str) -> ObjectRef:
    """``s3://bucket/prefix/`` (or just ``s3://bucket``) to a reference whose key is the prefix."""
    if not is_s3_url(url):
        raise ConfigError(f"not an s3:// URL: {url}")
    bucket, _, prefix = url[len(S3_SCHEME) :].partition("/")
    if not bucket:
        raise ConfigError(f"{url} names no bucket")
    return ObjectRef(bucket, prefix)


def version_or_none(version_id: str | None) -> str | None:
    """A version id as S3 reported it, or None when there is no version to name: none at all, or
    "null", the version of every write while versioning is suspended (or never enabled), which the
    next write replaces in place, so it identifies no content."""
    return None if version_id in (None, "", "null") else version_id
