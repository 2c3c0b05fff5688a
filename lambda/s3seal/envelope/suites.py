"""Algorithm suites: how content is encrypted and how the data key is wrapped.

Each suite is a frozen dataclass, the single place its parameters are written down. This is the
only layer that touches ``cryptography.hazmat``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

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


@dataclass(frozen=True)
class ContentSuite:
    """How the object body is encrypted with the data key."""

    cek_alg: str
    """Its ``x-amz-cek-alg`` name (V1 objects carry none; this is the name the SDKs use)."""
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
AES_GCM = ContentSuite(cek_alg="AES/GCM/NoPadding", iv_size=12, tag_size=GCM_TAG_SIZE)
CONTENT_SUITES = {suite.cek_alg: suite for suite in (AES_CBC, AES_GCM)}


@dataclass(frozen=True)
class WrapSuite:
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
        if self == AES_GCM_WRAP:
            wrap_iv = os.urandom(12)
            return self.wrap_with_iv(root_key, data_key, content, wrap_iv)
        raise MetadataError(f"s3seal does not write the {self.wrap_alg} key wrap")

    def wrap_with_iv(
        self, root_key: bytes, data_key: bytes, content: ContentSuite, wrap_iv: bytes
    ) -> bytes:
        """AES/GCM wrap with a chosen IV: the deterministic seam known-answer tests need."""
        check_root_key(root_key)
        # The AAD binds the wrapped key to the content algorithm, as the V2 SDKs do.
        sealed = AESGCM(root_key).encrypt(wrap_iv, data_key, content.cek_alg.encode("ascii"))
        return wrap_iv + sealed

    def unwrap(self, root_key: bytes, wrapped: bytes, content: ContentSuite) -> bytes:
        """Recover the data key, or raise WrongRootKeyError / MetadataError."""
        check_root_key(root_key)
        if self == AES_ECB_WRAP:
            data_key = _unwrap_ecb(root_key, wrapped)
        elif self == AES_GCM_WRAP:
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
        raise MetadataError(f"x-amz-key-v2 is {len(wrapped)} bytes; an AES/GCM wrapped key is 60")
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
