"""Envelope metadata: the one place it is built and parsed.

The wire names are S3 *user* metadata keys (``x-amz-meta-x-amz-key`` on the wire, ``"x-amz-key"``
in boto3's ``Metadata``). See docs/format.md for the rule each check implements.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from .errors import MetadataError, NotEncryptedError, UnsupportedAlgorithmError
from .suites import (
    AES_CBC,
    AES_ECB_WRAP,
    AES_GCM,
    AES_GCM_WRAP,
    CONTENT_SUITES,
    GCM_TAG_SIZE,
    V2_WRAP_SUITES,
    ContentSuite,
    WrapSuite,
)

KEY_V1 = "x-amz-key"
KEY_V2 = "x-amz-key-v2"
IV = "x-amz-iv"
MATDESC = "x-amz-matdesc"
WRAP_ALG = "x-amz-wrap-alg"
CEK_ALG = "x-amz-cek-alg"
TAG_LEN = "x-amz-tag-len"
UNENCRYPTED_CONTENT_LENGTH = "x-amz-unencrypted-content-length"
ENVELOPE_NAMES = frozenset(
    {KEY_V1, KEY_V2, IV, MATDESC, WRAP_ALG, CEK_ALG, TAG_LEN, UNENCRYPTED_CONTENT_LENGTH}
)
"""Every name this module writes; other user metadata passes through untouched."""
V3_MARKER = "x-amz-3"
"""Encrypted data key of the newer V3 message format, which s3seal does not read."""
USER_METADATA_PREFIX = "x-amz-meta-"
EMPTY_MATDESC = "{}"


class Format(StrEnum):
    """The two layouts s3seal writes."""

    V1 = "v1"
    """AES-256-CBC, ECB-wrapped data key: what Redshift ``COPY ... ENCRYPTED`` reads."""
    V2 = "v2"
    """AES-256-GCM, AES/GCM-wrapped data key: authenticated."""


@dataclass(frozen=True)
class EnvelopeMetadata:
    """What an encrypted object's metadata says about its envelope."""

    format: Format
    content: ContentSuite
    wrap: WrapSuite
    wrapped_key: bytes
    iv: bytes
    matdesc: str = EMPTY_MATDESC
    """Materials description, kept as the exact JSON text that was written or read."""
    unencrypted_length: int | None = None
    """Declared plaintext length; readers must not rely on it (it may be absent or wrong)."""

    @property
    def description(self) -> dict[str, str]:
        """The materials description as a dictionary."""
        parsed: dict[str, str] = json.loads(self.matdesc)
        return parsed

    def to_metadata(self) -> dict[str, str]:
        """The S3 user metadata for this envelope (names without ``x-amz-meta-``)."""
        out = {
            KEY_V1 if self.format is Format.V1 else KEY_V2: _b64(self.wrapped_key),
            IV: _b64(self.iv),
            MATDESC: self.matdesc,
        }
        if self.format is Format.V2:
            out[WRAP_ALG] = self.wrap.wrap_alg
            out[CEK_ALG] = self.content.cek_alg
            out[TAG_LEN] = str(self.content.tag_size * 8)
        if self.unencrypted_length is not None:
            out[UNENCRYPTED_CONTENT_LENGTH] = str(self.unencrypted_length)
        return out

    @classmethod
    def parse(cls, metadata: Mapping[str, str]) -> EnvelopeMetadata:
        """Read an envelope from S3 user metadata (or a sidecar holding the same names).

        Names are matched case-insensitively, with or without the ``x-amz-meta-`` prefix.
        """
        meta = _normalise(metadata)
        has_v1, has_v2 = KEY_V1 in meta, KEY_V2 in meta
        if has_v1 and has_v2:
            raise MetadataError(
                f"both {KEY_V1} and {KEY_V2} are present; the envelope is ambiguous"
            )
        if not has_v1 and not has_v2:
            if V3_MARKER in meta:
                raise UnsupportedAlgorithmError(
                    "the object uses the V3 client-side-encryption message format, "
                    "which s3seal does not read"
                )
            raise NotEncryptedError(
                f"not an S3 client-side encrypted object (no {KEY_V1} or {KEY_V2} metadata)"
            )
        # Writers must send x-amz-matdesc (official clients refuse V1 without it), but Redshift's
        # own UNLOAD files are known by their key and IV alone, so a reader takes "{}" for absent.
        matdesc = meta.get(MATDESC, EMPTY_MATDESC)
        _check_matdesc(matdesc)
        length = _parse_length(meta.get(UNENCRYPTED_CONTENT_LENGTH))
        if has_v1:
            fmt, content, wrap, key_name = Format.V1, AES_CBC, AES_ECB_WRAP, KEY_V1
        else:
            fmt, key_name = Format.V2, KEY_V2
            content, wrap = _v2_suites(meta)
        wrapped_key = _unb64(meta[key_name], key_name)
        iv = _unb64(_required(meta, IV), IV)
        if len(iv) != content.iv_size:
            raise MetadataError(
                f"{IV} is {len(iv)} bytes; {content.cek_alg} needs {content.iv_size}"
            )
        return cls(fmt, content, wrap, wrapped_key, iv, matdesc, length)


def describe(description: Mapping[str, str] | None) -> str:
    """Serialise a materials description the way s3seal writes it (compact, sorted keys)."""
    if not description:
        return EMPTY_MATDESC
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in description.items()):
        raise ValueError("materials description keys and values must be strings")
    return json.dumps(dict(description), separators=(",", ":"), sort_keys=True)


def _v2_suites(meta: Mapping[str, str]) -> tuple[ContentSuite, WrapSuite]:
    cek_alg = _required(meta, CEK_ALG)
    wrap_alg = _required(meta, WRAP_ALG)
    content = CONTENT_SUITES.get(cek_alg)
    if content is None:
        raise UnsupportedAlgorithmError(f"unsupported content algorithm {CEK_ALG}={cek_alg!r}")
    wrap = V2_WRAP_SUITES.get(wrap_alg)
    if wrap is None:
        raise UnsupportedAlgorithmError(
            f"unsupported key wrap {WRAP_ALG}={wrap_alg!r} (s3seal reads AES/GCM and AESWrap; "
            "KMS- and RSA-wrapped objects need the AWS S3 encryption client)"
        )
    if wrap == AES_GCM_WRAP and content != AES_GCM:
        raise MetadataError(f"{WRAP_ALG}=AES/GCM is only defined with {CEK_ALG}={AES_GCM.cek_alg}")
    tag_len = meta.get(TAG_LEN)
    if content.authenticated and tag_len is not None and tag_len != str(GCM_TAG_SIZE * 8):
        raise UnsupportedAlgorithmError(f"unsupported {TAG_LEN}={tag_len!r}; only 128 is read")
    return content, wrap


def _normalise(metadata: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in metadata.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise MetadataError("envelope metadata names and values must be strings")
        key = name.lower().removeprefix(USER_METADATA_PREFIX)
        if out.get(key, value) != value:
            # Two spellings of one name with different values: which one is meant is unknowable,
            # and guessing could pick an attacker's key or IV.
            raise MetadataError(f"{key} is given twice with different values")
        out[key] = value
    return out


def _required(meta: Mapping[str, str], name: str) -> str:
    try:
        return meta[name]
    except KeyError:
        raise MetadataError(f"{name} is missing") from None


def _check_matdesc(matdesc: str) -> None:
    try:
        parsed = json.loads(matdesc)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
        raise MetadataError(f"{MATDESC} is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise MetadataError(f"{MATDESC} must be a JSON object")


_MAX_LENGTH_DIGITS = 20
"""Digits of 2**64: no object is longer (S3's largest is 5 TiB)."""


def _parse_length(text: str | None) -> int | None:
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()):
        raise MetadataError(f"{UNENCRYPTED_CONTENT_LENGTH} is not a non-negative integer")
    # Checked before int(), which refuses more than 4300 digits with a ValueError.
    if len(text.lstrip("0")) > _MAX_LENGTH_DIGITS:
        raise MetadataError(f"{UNENCRYPTED_CONTENT_LENGTH} is too large")
    return int(text)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: str, name: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise MetadataError(f"{name} is not valid base64") from None
