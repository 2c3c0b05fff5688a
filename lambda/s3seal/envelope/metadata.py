"""Envelope metadata: the one place it is built and parsed.

The wire names are S3 *user* metadata keys (``x-amz-meta-x-amz-key`` on the wire, ``"x-amz-key"``
in boto3's ``Metadata``). See docs/format.md for the rule each check implements.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from enum import StrEnum
from typing import NamedTuple

from .errors import MetadataError, NotEncryptedError, UnsupportedAlgorithmError, v3_failure
from .suites import (
    AES_CBC,
    AES_ECB_WRAP,
    AES_GCM,
    AES_GCM_WRAP,
    AES_KEY_WRAP,
    ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
    CONTENT_SUITES,
    GCM_IV_SIZE,
    GCM_TAG_SIZE,
    V2_WRAP_SUITES,
    V3_WRAP_SUITES,
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
# V3 (key-committing) names, shared/docs/s3-cse-v3.md section 2.
SUITE_V3 = "x-amz-c"
"""Algorithm suite id in decimal ("115")."""
KEY_V3 = "x-amz-3"
"""The wrapped data key."""
WRAP_ALG_V3 = "x-amz-w"
"""Compressed wrap algorithm ("02": AES/GCM)."""
COMMITMENT = "x-amz-d"
MESSAGE_ID = "x-amz-i"
MATDESC_V3 = "x-amz-m"
"""Materials description (JSON); not authenticated, only selects a key."""
ENCRYPTION_CONTEXT_V3 = "x-amz-t"
"""KMS encryption context; never written for a raw AES root key."""
V3_OBJECT_NAMES = frozenset({SUITE_V3, COMMITMENT, MESSAGE_ID})
"""What stays in the object's metadata when the rest is in an instruction file, and what an
instruction file must never hold (the commitment stays bound to the object)."""
V3_NAMES = V3_OBJECT_NAMES | {KEY_V3, WRAP_ALG_V3, MATDESC_V3, ENCRYPTION_CONTEXT_V3}
ENVELOPE_NAMES = (
    frozenset({KEY_V1, KEY_V2, IV, MATDESC, WRAP_ALG, CEK_ALG, TAG_LEN, UNENCRYPTED_CONTENT_LENGTH})
    | V3_NAMES
)
"""Every envelope name of every format; other user metadata passes through untouched."""
INSTRUCTION_SUFFIX = ".instruction"
"""A V3 instruction file is the S3 object (or local file) ``KEY + INSTRUCTION_SUFFIX``."""
USER_METADATA_PREFIX = "x-amz-meta-"
EMPTY_MATDESC = "{}"
V3 = ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY


class Format(StrEnum):
    """The layouts s3seal writes."""

    V1 = "v1"
    """AES-256-CBC, ECB-wrapped data key: what Redshift ``COPY ... ENCRYPTED`` read (until 2026)."""
    V2 = "v2"
    """AES-256-GCM, AES/GCM-wrapped data key: authenticated, not key-committing."""
    V3 = "v3"
    """AES-256-GCM under an HKDF-SHA512 key with key commitment (suite 0x0073): what current AWS
    S3 encryption clients write, and the only layout they read by default."""


def needs_instruction_file(metadata: Mapping[str, str]) -> bool:
    """True for V3 object metadata whose wrapped key is in ``KEY + INSTRUCTION_SUFFIX``.

    That is: ``x-amz-c``, ``x-amz-d`` and ``x-amz-i`` present, ``x-amz-3`` absent, and no V1/V2
    key. Pass the instruction file's JSON object to ``EnvelopeMetadata.parse(instruction=...)``.
    """
    meta = _normalise(metadata)
    return (
        meta.keys() >= V3_OBJECT_NAMES
        and KEY_V3 not in meta
        and KEY_V1 not in meta
        and KEY_V2 not in meta
    )


class EnvelopeMetadata(NamedTuple):
    """What an encrypted object's metadata says about its envelope."""

    format: Format
    content: ContentSuite
    wrap: WrapSuite
    wrapped_key: bytes
    iv: bytes
    matdesc: str = EMPTY_MATDESC
    """Materials description, kept as the exact JSON text that was written or read."""
    unencrypted_length: int | None = None
    """Declared plaintext length; readers must not rely on it (it may be absent or wrong).
    V3 does not write it (the AWS V3 writers do not)."""
    commitment: bytes = b""
    """V3 only: the key commitment (``x-amz-d``)."""
    message_id: bytes = b""
    """V3 only: the per-object message id, the HKDF salt (``x-amz-i``)."""

    @property
    def legacy_shape(self) -> str | None:
        """What makes this envelope a legacy, unauthenticated shape; None if it is not one."""
        if self.format is Format.V1 and len(self.wrapped_key) == 32:
            return "a V1 envelope with a 16-byte (AES-128) data key"
        if self.content == AES_CBC and self.format is Format.V2:
            return "AES-CBC content in a V2 envelope (no integrity protection)"
        if self.wrap == AES_KEY_WRAP:
            return "the AESWrap (RFC 3394) key wrap"
        return None

    @property
    def description(self) -> dict[str, str]:
        """The materials description as a dictionary."""
        parsed: dict[str, str] = json.loads(self.matdesc)
        return parsed

    def to_metadata(self) -> dict[str, str]:
        """The S3 user metadata for this envelope (names without ``x-amz-meta-``)."""
        if self.format is Format.V3:
            return self._to_v3_metadata()
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

    def _to_v3_metadata(self) -> dict[str, str]:
        # Exactly what the AWS V3 writers emit (s3-cse-v3.md section 8), plus x-amz-m when there
        # is a materials description: no V1/V2 name, no plaintext length.
        out = {
            SUITE_V3: self.content.cek_alg,
            KEY_V3: _b64(self.wrapped_key),
            WRAP_ALG_V3: self.wrap.wrap_alg,
            COMMITMENT: _b64(self.commitment),
            MESSAGE_ID: _b64(self.message_id),
        }
        if self.matdesc != EMPTY_MATDESC:
            out[MATDESC_V3] = self.matdesc
        return out

    @classmethod
    def parse(
        cls, metadata: Mapping[str, str], *, instruction: Mapping[str, str] | None = None
    ) -> EnvelopeMetadata:
        """Read an envelope from S3 user metadata (or a sidecar holding the same names).

        Names are matched case-insensitively, with or without the ``x-amz-meta-`` prefix.
        ``instruction`` is the JSON object of a V3 instruction file, needed exactly when
        ``needs_instruction_file(metadata)``; it is ignored when the metadata holds ``x-amz-3``.
        Every malformed V3 envelope raises the one opaque ``TamperedCiphertextError``.
        """
        meta = _normalise(metadata)
        has_v1, has_v2 = KEY_V1 in meta, KEY_V2 in meta
        if has_v1 and has_v2:
            raise MetadataError(
                f"both {KEY_V1} and {KEY_V2} are present; the envelope is ambiguous"
            )
        v3_names = V3_NAMES & meta.keys()
        if (has_v1 or has_v2) and v3_names:
            raise MetadataError(
                f"{min(v3_names)} is present with {KEY_V1 if has_v1 else KEY_V2}; "
                "the envelope is ambiguous"
            )
        if v3_names:
            return cls._parse_v3(meta, instruction)
        if not has_v1 and not has_v2:
            raise NotEncryptedError(
                f"not an S3 client-side encrypted object (no {KEY_V1}, {KEY_V2} or "
                f"{KEY_V3} metadata)"
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

    @classmethod
    def _parse_v3(
        cls, meta: dict[str, str], instruction: Mapping[str, str] | None
    ) -> EnvelopeMetadata:
        if KEY_V3 not in meta and meta.keys() >= V3_OBJECT_NAMES:
            if instruction is None:
                raise MetadataError(
                    f"the V3 object keeps its wrapped data key in an instruction file "
                    f"(KEY{INSTRUCTION_SUFFIX}), which is needed to decrypt it"
                )
            try:
                extra = _normalise(instruction)
            except MetadataError:
                raise v3_failure() from None
            # Java: "Instruction file is tampered". The commitment must stay with the object, or
            # a swapped instruction file could bring its own.
            if V3_OBJECT_NAMES & extra.keys() or any(meta.get(k, v) != v for k, v in extra.items()):
                raise v3_failure()
            meta = meta | extra
        try:
            suite, wrap_alg = meta[SUITE_V3], meta[WRAP_ALG_V3]
            wrapped_key = _unb64(meta[KEY_V3], KEY_V3)
            commitment = _unb64(meta[COMMITMENT], COMMITMENT)
            message_id = _unb64(meta[MESSAGE_ID], MESSAGE_ID)
            matdesc = meta.get(MATDESC_V3, EMPTY_MATDESC)
            _check_matdesc(matdesc)
        except (KeyError, MetadataError):
            raise v3_failure() from None
        wrap = V3_WRAP_SUITES.get(wrap_alg)
        if (
            suite != V3.id_string
            or wrap is None
            or len(wrapped_key) != GCM_IV_SIZE + V3.data_key_size + GCM_TAG_SIZE
            or len(commitment) != V3.commitment_size
            or len(message_id) != V3.message_id_size
        ):
            raise v3_failure()
        return cls(
            Format.V3,
            V3.content,
            wrap,
            wrapped_key,
            V3.content_iv,
            matdesc,
            commitment=commitment,
            message_id=message_id,
        )


def parse_instruction_file(data: bytes, source: str) -> dict[str, str]:
    """The JSON object of a V3 instruction file's body, or a MetadataError naming ``source``."""
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
        raise MetadataError(f"instruction file {source} is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise MetadataError(f"instruction file {source} must be a JSON object")
    return parsed


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


def _check_matdesc(matdesc: str, name: str = MATDESC) -> None:
    try:
        parsed = json.loads(matdesc)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
        raise MetadataError(f"{name} is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise MetadataError(f"{name} must be a JSON object")


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
