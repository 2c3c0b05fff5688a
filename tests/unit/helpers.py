"""Helpers shared by the unit tests: chunkers and an independent reference implementation.

The reference functions use ``cryptography`` directly and nothing of s3seal's, so a known-answer
test compares s3seal against a second, separately written computation of the same bytes.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA512
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from s3seal.envelope import Decryptor, Encryptor, EnvelopeMetadata

ROOT_KEY = bytes.fromhex("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
"""A fixed 256-bit root key (the FIPS-197 / SP 800-38A AES-256 example key)."""
OTHER_ROOT_KEY = bytes(range(32))
DATA_KEY = bytes(range(0x40, 0x60))
V1_IV = bytes(range(0xA0, 0xB0))
V2_IV = bytes(range(0xC0, 0xCC))
WRAP_IV = bytes(range(0xE0, 0xEC))
GCM_AAD = b"AES/GCM/NoPadding"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


# --- chunkers ---------------------------------------------------------------------------------


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    """``data`` in pieces of ``size`` bytes (the last one shorter); nothing for empty data."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """``data`` cut at the given offsets (duplicates give empty pieces, which is allowed)."""
    points = [0, *sorted(min(max(c, 0), len(data)) for c in cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(points)]


def encrypt_pieces(encryptor: Encryptor, pieces: Sequence[bytes]) -> bytes:
    out = b"".join(encryptor.update(p) for p in pieces)
    return out + encryptor.finalize()


def decrypt_pieces(
    root_key: bytes, metadata: EnvelopeMetadata | Mapping[str, str], pieces: Iterable[bytes]
) -> bytes:
    decryptor = Decryptor(root_key, metadata)
    out = b"".join(decryptor.update(p) for p in pieces)
    return out + decryptor.finalize()


# --- independent reference computations -------------------------------------------------------


def ref_ecb_wrap(root_key: bytes, data_key: bytes) -> bytes:
    """V1 key wrap: AES-ECB(root, PKCS7pad(data key))."""
    padder = padding.PKCS7(128).padder()
    padded = padder.update(data_key) + padder.finalize()
    enc = Cipher(algorithms.AES(root_key), modes.ECB()).encryptor()
    return enc.update(padded) + enc.finalize()


def ref_ecb_block(root_key: bytes, block: bytes) -> bytes:
    enc = Cipher(algorithms.AES(root_key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def ref_ecb_unwrap(root_key: bytes, wrapped: bytes) -> bytes:
    dec = Cipher(algorithms.AES(root_key), modes.ECB()).decryptor()
    padded = dec.update(wrapped) + dec.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def ref_cbc_encrypt(data_key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    """V1 body: AES-CBC(data key, IV, PKCS7pad(plaintext))."""
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    enc = Cipher(algorithms.AES(data_key), modes.CBC(iv)).encryptor()
    return enc.update(padded) + enc.finalize()


def ref_cbc_decrypt_raw(data_key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    """CBC decryption of whole blocks, no unpadding."""
    dec = Cipher(algorithms.AES(data_key), modes.CBC(iv)).decryptor()
    return dec.update(ciphertext) + dec.finalize()


def ref_gcm_wrap(root_key: bytes, data_key: bytes, wrap_iv: bytes) -> bytes:
    """V2 key wrap: WIV || AES-GCM(root, WIV, data key, aad="AES/GCM/NoPadding")."""
    return wrap_iv + AESGCM(root_key).encrypt(wrap_iv, data_key, GCM_AAD)


def ref_gcm_unwrap(root_key: bytes, wrapped: bytes) -> bytes:
    return AESGCM(root_key).decrypt(wrapped[:12], wrapped[12:], GCM_AAD)


def ref_gcm_encrypt(data_key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    """V2 body: AES-GCM(data key, IV, plaintext, no AAD) || 16-byte tag."""
    return AESGCM(data_key).encrypt(iv, plaintext, None)


V3_MESSAGE_ID = bytes(range(0x10, 0x2C))
"""A fixed 28-byte V3 message id."""


def ref_v3_keys(data_key: bytes, message_id: bytes) -> tuple[bytes, bytes]:
    """V3 (shared/docs/s3-cse-v3.md section 3), with cryptography's HKDF: (commitment, DEK)."""

    def hkdf(info: bytes, length: int) -> bytes:
        return HKDF(SHA512(), length, salt=message_id, info=info).derive(data_key)

    return hkdf(b"\x00\x73COMMITKEY", 28), hkdf(b"\x00\x73DERIVEKEY", 32)


def ref_v3_wrap(root_key: bytes, data_key: bytes, wrap_iv: bytes) -> bytes:
    """V3 x-amz-3: WIV || AES-GCM(root, WIV, data key, aad="115") || tag."""
    return wrap_iv + AESGCM(root_key).encrypt(wrap_iv, data_key, b"115")


def ref_v3_encrypt(derived_key: bytes, plaintext: bytes) -> bytes:
    """V3 body: AES-GCM(derived key, IV 0x01 * 12, plaintext, aad 00 73) || tag."""
    return AESGCM(derived_key).encrypt(b"\x01" * 12, plaintext, b"\x00\x73")
