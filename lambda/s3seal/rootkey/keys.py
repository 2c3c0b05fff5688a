"""Root keys: parse and validate them, generate them, read and write them in Secrets Manager.

A root key is standard base64 of exactly 32 random bytes (44 characters ending in one ``=``);
nothing else is accepted. Key material never appears in a message, a repr or a log line.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from ..envelope import ROOT_KEY_SIZE
from ..errors import (
    ConfigError,
    InsecureKeyFileError,
    InvalidRootKeyError,
    SecretError,
    aws_error_code,
    aws_reason,
    secret_error,
)
from ..names import SECRET_ARN_FIELD, SECRET_VERSION_FIELD

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

ROOT_KEY_ENV = "S3SEAL_ROOT_KEY"
ROOT_KEY_B64_LENGTH = 44
RETAIN_LABEL_PREFIX = "s3seal-keep-"
"""A custom staging label ``s3seal-keep-<version id>`` keeps a root-key version reachable after it
stops being AWSPREVIOUS: Secrets Manager may delete versions that carry no label at all."""


def retain_label(version_id: str) -> str:
    """The retention label of one version (a label is unique within a secret: it names one)."""
    return RETAIN_LABEL_PREFIX + version_id


@dataclass(frozen=True)
class RootKey:
    """A validated 256-bit root key and, when it came from Secrets Manager, where from."""

    material: bytes = field(repr=False)
    secret_arn: str | None = None
    secret_version: str | None = None

    def __post_init__(self) -> None:
        if len(self.material) != ROOT_KEY_SIZE:
            raise InvalidRootKeyError(f"a root key must be {ROOT_KEY_SIZE} bytes")

    def description(self) -> dict[str, str]:
        """The materials description to record with objects this key wraps."""
        if self.secret_arn is None or self.secret_version is None:
            return {}
        return {SECRET_ARN_FIELD: self.secret_arn, SECRET_VERSION_FIELD: self.secret_version}


def generate_root_key() -> str:
    """A fresh root key, base64-encoded."""
    return base64.b64encode(os.urandom(ROOT_KEY_SIZE)).decode("ascii")


def parse_root_key(text: str | bytes, *, source: str) -> bytes:
    """Decode a base64 root key; ``source`` names where it came from, for the error message."""
    raw = text.encode("ascii", "replace") if isinstance(text, str) else text
    raw = raw.strip()
    try:
        if len(raw) != ROOT_KEY_B64_LENGTH:
            raise ValueError
        material = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRootKeyError(
            f"{source} is not a root key: expected standard base64 of exactly {ROOT_KEY_SIZE} "
            f"bytes ({ROOT_KEY_B64_LENGTH} characters, as 's3seal keygen' prints)"
        ) from None
    return material


KEY_FILE_MAX_BYTES = 4096
"""A key file is 44 base64 characters and a newline; anything far larger is not one."""


def root_key_from_file(path: str | Path) -> RootKey:
    """The root key in ``path``, which only its owner may read (as ssh does with private keys).

    The permissions are those of the file opened (``fstat``), not of a name looked up apart.
    """
    try:
        with Path(path).open("rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if os.name == "posix" and mode & 0o077:
                raise InsecureKeyFileError(
                    f"key file {path} is readable or writable by others (mode "
                    f"{stat.S_IMODE(mode):04o}); run: chmod 600 {path}"
                )
            text = handle.read(KEY_FILE_MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read key file {path}: {exc.strerror}") from None
    if len(text) > KEY_FILE_MAX_BYTES:
        raise InvalidRootKeyError(f"key file {path} is not a root key (too large)")
    return RootKey(parse_root_key(text, source=f"key file {path}"))


def root_key_from_env(environ: Mapping[str, str]) -> RootKey:
    value = environ.get(ROOT_KEY_ENV)
    if not value:
        raise ConfigError(f"no root key: {ROOT_KEY_ENV} is not set")
    return RootKey(parse_root_key(value, source=f"${ROOT_KEY_ENV}"))


def root_key_from_secret(
    client: SecretsManagerClient, secret_id: str, version_id: str | None = None
) -> RootKey:
    """Read the root key from a secret (its current version, or ``version_id``)."""
    kwargs: dict[str, str] = {"SecretId": secret_id}
    if version_id:
        kwargs["VersionId"] = version_id
    where = f"secret {secret_id}" + (f" version {version_id}" if version_id else "")
    try:
        response = client.get_secret_value(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise secret_error(f"cannot read {where}", exc) from None
    where = f"secret {secret_id} version {response['VersionId']}"
    text = response.get("SecretString")
    if text is None:
        raise InvalidRootKeyError(f"{where} holds binary data; s3seal expects a base64 string")
    material = parse_root_key(text, source=where)
    return RootKey(material, response["ARN"], response["VersionId"])


def store_root_key(client: SecretsManagerClient, secret_id: str, key_b64: str) -> tuple[str, str]:
    """Create ``secret_id`` holding ``key_b64``, or add it as the secret's new current version.

    Returns (ARN, version id).
    """
    parse_root_key(key_b64, source="the new key")
    try:
        try:
            created = client.create_secret(
                Name=secret_id,
                SecretString=key_b64,
                Description="s3seal root key (base64 of 32 bytes)",
            )
            return created["ARN"], created["VersionId"]
        except ClientError as exc:
            if aws_error_code(exc) != "ResourceExistsException":
                raise
        updated = client.put_secret_value(SecretId=secret_id, SecretString=key_b64)
        return updated["ARN"], updated["VersionId"]
    except (ClientError, BotoCoreError) as exc:
        raise secret_error(f"cannot write secret {secret_id}", exc) from None


class CachedRootKey:
    """The current root key of one secret, fetched at most once per ``max_age`` seconds.

    Calling it returns a validated RootKey; a secret that does not hold a valid key raises
    InvalidRootKeyError (never showing the value), an unreadable one SecretError. Neither is
    cached: once someone fixes the secret, the next call sees it. Not thread-safe: the handler
    calls it one thread at a time.

    The secret is read with ``root_key_from_secret``, so the key, its ARN and its version id
    (what ``x-amz-matdesc`` records) come from one ``GetSecretValue`` call. (Powertools'
    parameters utility did this caching before; it costs about 4 ms of every cold start.)
    """

    def __init__(
        self, secret_id: str, max_age: int, client: SecretsManagerClient | None = None
    ) -> None:
        self.secret_id = secret_id
        self._max_age = max_age
        # boto3's default session: a second session loads botocore's endpoint and partition data
        # again (about 30 ms of every cold start).
        self._client = client or boto3.client("secretsmanager")
        self._cached: RootKey | None = None
        self._expires = 0.0

    def __call__(self) -> RootKey:
        now = time.monotonic()
        if self._cached is None or now >= self._expires:
            self._cached = None
            self._cached = root_key_from_secret(self._client, self.secret_id)
            self._expires = now + self._max_age
        return self._cached

    def invalidate(self) -> None:
        """Forget the cached key: the next call reads the secret."""
        self._cached = None


class KeyVersion(NamedTuple):
    """One version of a root-key secret, as Secrets Manager lists it."""

    version_id: str
    labels: tuple[str, ...]
    created: str | None
    """ISO 8601 creation time, when Secrets Manager gives one."""

    @property
    def retained(self) -> bool:
        return retain_label(self.version_id) in self.labels


def list_key_versions(client: SecretsManagerClient, secret_id: str) -> list[KeyVersion]:
    """Every version of the secret (deprecated, unlabelled ones included), oldest first."""
    versions: list[KeyVersion] = []
    kwargs: dict[str, Any] = {"SecretId": secret_id, "IncludeDeprecated": True}
    try:
        while True:
            page = client.list_secret_version_ids(**kwargs)
            for item in page.get("Versions", []):
                created = item.get("CreatedDate")
                versions.append(
                    KeyVersion(
                        item["VersionId"],
                        tuple(sorted(item.get("VersionStages", []))),
                        created.isoformat() if created else None,
                    )
                )
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
    except (ClientError, BotoCoreError) as exc:
        raise secret_error(f"cannot list the versions of secret {secret_id}", exc) from None
    return sorted(versions, key=lambda v: (v.created or "", v.version_id))


def release_version(client: SecretsManagerClient, secret_id: str, version_id: str) -> None:
    """Remove the version's retention label (Secrets Manager may then delete it once unlabelled)."""
    label = retain_label(version_id)
    try:
        client.update_secret_version_stage(
            SecretId=secret_id, VersionStage=label, RemoveFromVersionId=version_id
        )
    except (ClientError, BotoCoreError) as exc:
        raise SecretError(
            f"cannot remove label {label} from secret {secret_id} version {version_id}: "
            f"{aws_reason(exc)}"
        ) from None


def current_version(client: SecretsManagerClient, secret_id: str) -> str:
    """The id of the version labelled AWSCURRENT (asked for by label, not by default)."""
    for version in list_key_versions(client, secret_id):
        if "AWSCURRENT" in version.labels:
            return version.version_id
    raise SecretError(f"secret {secret_id} has no AWSCURRENT version")
