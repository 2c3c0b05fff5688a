"""Algorithm suites: how content is encrypted and how the data key is wrapped.

Each suite is a frozen dataclass, the single place its parameters are written down. This is the
only layer that touches ``cryptography.hazmat``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import keywrap
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import InvalidRootKeyError, MetadataError, WrongRootKeyError

BLOCK_SIZE = 16
"""AES block size in bytes."""
ROOT_KEY_SIZE = 32
"""The root key is AES-256, nothing else (spec: "Nothing else is a valid root key")."""
DATA_KEY_SIZE = 32
"""s3seal always writes 256-bit data keys."""
READABLE_DATA_KEY_SIZES = (16, 32)
"""Readers accept AES-128 data keys too: some third-party V1 writers use them."""
GCM_TAG_SIZE = 16
GCM_IV_SIZE = 12
GCM_MAX_PLAINTEXT = 2**36 - 32
"""NIST SP 800-38D limit for one GCM invocation: 64 GiB minus 32 bytes."""


def check_root_key(root_key: bytes) -> None:
    """Raise InvalidRootKeyError unless ``root_key`` is exactly 32 bytes."""
    if not isinstance(root_key, bytes | bytearray | memoryview) or len(root_key) != ROOT_KEY_SIZE:
        size = len(root_key) if isinstance(root_key, bytes | bytearray | memoryview) else None
        raise InvalidRootKeyError(
            f"the root key must be exactly {ROOT_KEY_SIZE} bytes (AES-256); got "
            + (f"{size} bytes" if size is not None else type(root_key).__name__)
        )


class ContentSuite(NamedTuple):
    """How the object body is encrypted with the data key."""

    cek_alg: str
    """Its ``x-amz-cek-alg`` name (V1 objects carry none; this is the name the SDKs use), or for
    V3 its ``x-amz-c`` suite id ("115"). Either way it is also the AAD of the AES/GCM key wrap."""
    iv_size: int
    tag_size: int
    """Bytes appended to the body after the ciphertext (0: none)."""

    @property
    def authenticated(self) -> bool:
        return self.tag_size > 0

    def ciphertext_length(self, plaintext_length: int) -> int:
        """Body length for a plaintext of ``plaintext_length`` bytes."""
        if self.authenticated:
            return plaintext_length + self.tag_size
        return plaintext_length + BLOCK_SIZE - plaintext_length % BLOCK_SIZE


AES_CBC = ContentSuite(cek_alg="AES/CBC/PKCS5Padding", iv_size=16, tag_size=0)
AES_GCM = ContentSuite(cek_alg="AES/GCM/NoPadding", iv_size=GCM_IV_SIZE, tag_size=GCM_TAG_SIZE)
CONTENT_SUITES = {suite.cek_alg: suite for suite in (AES_CBC, AES_GCM)}
"""The V2 ``x-amz-cek-alg`` values s3seal reads."""


class CommittingSuite(NamedTuple):
    """A V3 key-committing algorithm suite: every parameter of its HKDF and content encryption.

    Source: shared/docs/s3-cse-v3.md sections 1 and 3 (the AWS specification's key-derivation.md).
    """

    suite_id: int
    """Two-byte suite id: raw in the HKDF infos and the content AAD, decimal in ``x-amz-c``."""
    data_key_size: int
    """The HKDF input key material (the wrapped data key), in bytes."""
    message_id_size: int
    """The HKDF salt, stored in ``x-amz-i``."""
    commitment_size: int
    """The commitment key, stored in ``x-amz-d``."""
    derived_key_size: int
    """The AES-GCM content key derived from the data key and message id."""
    content_iv: bytes
    """Fixed: uniqueness comes from the per-object message id, so the IV need not vary."""
    derive_key_label: bytes
    commit_key_label: bytes
    content: ContentSuite

    @property
    def id_bytes(self) -> bytes:
        """The suite id as 2 big-endian bytes: the HKDF info prefix and the content AAD."""
        return self.suite_id.to_bytes(2, "big")

    @property
    def id_string(self) -> str:
        """The suite id in decimal: the ``x-amz-c`` value and the key-wrap AAD."""
        return str(self.suite_id)

    def derive(self, data_key: bytes, message_id: bytes) -> tuple[bytes, bytes]:
        """``(commitment, content key)`` for one object (the writer needs both)."""
        return self.commitment(data_key, message_id), self.content_key(data_key, message_id)

    def commitment(self, data_key: bytes, message_id: bytes) -> bytes:
        """The commitment key: readers compare it before deriving the content key."""
        return self._hkdf(data_key, message_id, self.commit_key_label)[: self.commitment_size]

    def content_key(self, data_key: bytes, message_id: bytes) -> bytes:
        """The AES-GCM key of the body."""
        return self._hkdf(data_key, message_id, self.derive_key_label)[: self.derived_key_size]

    def _hkdf(self, data_key: bytes, message_id: bytes, label: bytes) -> bytes:
        # HKDF-SHA512 (RFC 5869): Extract with salt = message id, IKM = data key; both outputs are
        # shorter than one SHA-512 block, so Expand is one HMAC over info || 0x01.
        prk = hmac.digest(message_id, data_key, hashlib.sha512)
        return hmac.digest(prk, self.id_bytes + label + b"\x01", hashlib.sha512)


_V3_ID = 0x0073
AES_GCM_COMMIT = ContentSuite(cek_alg=str(_V3_ID), iv_size=GCM_IV_SIZE, tag_size=GCM_TAG_SIZE)
"""V3 content: AES-256-GCM under the derived key; ``cek_alg`` is the ``x-amz-c`` value "115"."""
ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY = CommittingSuite(
    suite_id=_V3_ID,
    data_key_size=32,
    message_id_size=28,
    commitment_size=28,
    derived_key_size=32,
    content_iv=b"\x01" * GCM_IV_SIZE,
    derive_key_label=b"DERIVEKEY",
    commit_key_label=b"COMMITKEY",
    content=AES_GCM_COMMIT,
)


class WrapSuite(NamedTuple):
    """How the data key is wrapped under the root key (the ``x-amz-wrap-alg`` of V2)."""

    wrap_alg: str
    """Its ``x-amz-wrap-alg`` name; V1 carries no such header (its wrap is always AES/ECB)."""
    writable: bool

    def wrap(self, root_key: bytes, data_key: bytes, content: ContentSuite) -> bytes:
        check_root_key(root_key)
        if self == AES_ECB_WRAP:
            # V1: AES-ECB over the PKCS#7-padded data key. Deterministic, and that is the format:
            # the last block is AES-ECB(root, 0x10 * 16) for every object under one root key.
            pad = BLOCK_SIZE - len(data_key) % BLOCK_SIZE
            encryptor = Cipher(algorithms.AES(root_key), modes.ECB()).encryptor()  # noqa: S305
            return encryptor.update(data_key + bytes([pad]) * pad) + encryptor.finalize()
        if self in _GCM_WRAPS:
            wrap_iv = os.urandom(GCM_IV_SIZE)
            return self.wrap_with_iv(root_key, data_key, content, wrap_iv)
        raise MetadataError(f"s3seal does not write the {self.wrap_alg} key wrap")

    def wrap_with_iv(
        self, root_key: bytes, data_key: bytes, content: ContentSuite, wrap_iv: bytes
    ) -> bytes:
        """AES/GCM wrap with a chosen IV: the deterministic seam known-answer tests need."""
        check_root_key(root_key)
        # The AAD binds the wrapped key to the content algorithm, as the SDKs do: V2's
        # "AES/GCM/NoPadding", V3's "115"; so a V2 wrapped key does not unwrap as V3 or back.
        sealed = AESGCM(root_key).encrypt(wrap_iv, data_key, content.cek_alg.encode("ascii"))
        return wrap_iv + sealed

    def unwrap(self, root_key: bytes, wrapped: bytes, content: ContentSuite) -> bytes:
        """Recover the data key, or raise WrongRootKeyError / MetadataError."""
        check_root_key(root_key)
        if self == AES_ECB_WRAP:
            data_key = _unwrap_ecb(root_key, wrapped)
        elif self in _GCM_WRAPS:
            data_key = _unwrap_gcm(root_key, wrapped, content)
        else:
            data_key = _unwrap_rfc3394(root_key, wrapped)
        if len(data_key) not in READABLE_DATA_KEY_SIZES:
            raise MetadataError(f"the unwrapped data key is {len(data_key)} bytes, not 16 or 32")
        return data_key


AES_ECB_WRAP = WrapSuite(wrap_alg="AES/ECB/PKCS5Padding", writable=True)
AES_GCM_WRAP = WrapSuite(wrap_alg="AES/GCM", writable=True)
AES_KEY_WRAP = WrapSuite(wrap_alg="AESWrap", writable=False)
V2_WRAP_SUITES = {suite.wrap_alg: suite for suite in (AES_GCM_WRAP, AES_KEY_WRAP)}
AES_GCM_WRAP_V3 = WrapSuite(wrap_alg="02", writable=True)
"""V3 raw-AES wrap: ``x-amz-w`` "02" (compressed AES/GCM), the same GCM wrap with AAD "115"."""
V3_WRAP_SUITES = {suite.wrap_alg: suite for suite in (AES_GCM_WRAP_V3,)}
"""V3 ``x-amz-w`` values s3seal reads: "12" (KMS) and "22" (RSA) need the AWS client."""
_GCM_WRAPS = (AES_GCM_WRAP, AES_GCM_WRAP_V3)

_WRONG_KEY = "the data key did not unwrap: wrong root key, or corrupt key metadata"


def _unwrap_ecb(root_key: bytes, wrapped: bytes) -> bytes:
    # 48 bytes wrap a 32-byte data key, 32 bytes a 16-byte one: either way the last block is
    # a full block of padding, so the check below is exact rather than probabilistic.
    if len(wrapped) not in (48, 32):
        raise MetadataError(f"x-amz-key is {len(wrapped)} bytes; a V1 wrapped key is 48 (or 32)")
    decryptor = Cipher(algorithms.AES(root_key), modes.ECB()).decryptor()  # noqa: S305
    padded = decryptor.update(wrapped) + decryptor.finalize()
    if padded[-BLOCK_SIZE:] != bytes([BLOCK_SIZE]) * BLOCK_SIZE:
        raise WrongRootKeyError(_WRONG_KEY)
    return padded[:-BLOCK_SIZE]


def _unwrap_gcm(root_key: bytes, wrapped: bytes, content: ContentSuite) -> bytes:
    if len(wrapped) not in (12 + 32 + 16, 12 + 16 + 16):
        raise MetadataError(
            f"the wrapped key is {len(wrapped)} bytes; an AES/GCM wrapped key is 60"
        )
    try:
        return AESGCM(root_key).decrypt(wrapped[:12], wrapped[12:], content.cek_alg.encode("ascii"))
    except InvalidTag:
        raise WrongRootKeyError(_WRONG_KEY) from None


def _unwrap_rfc3394(root_key: bytes, wrapped: bytes) -> bytes:
    if len(wrapped) not in (40, 24):
        raise MetadataError(f"x-amz-key-v2 is {len(wrapped)} bytes; an AESWrap key is 40")
    try:
        return keywrap.aes_key_unwrap(root_key, wrapped)
    except keywrap.InvalidUnwrap:
        raise WrongRootKeyError(_WRONG_KEY) from None
