"""envelope.rewrap: the data key moves to another root key; the ciphertext and everything that
authenticates it stay as they are."""

from __future__ import annotations

import base64
import os

import pytest

from s3seal.envelope import (
    EnvelopeMetadata,
    Format,
    MetadataError,
    TamperedCiphertextError,
    WrongRootKeyError,
    data_key_of,
    decrypt_bytes,
    encrypt_bytes,
    rewrap,
)

PLAINTEXT = b"id,amount\n1,10\n2,20\n" * 50
FORMATS = [Format.V1, Format.V2, Format.V3]


def _sealed(fmt: Format, root: bytes) -> tuple[bytes, EnvelopeMetadata]:
    body, metadata = encrypt_bytes(root, PLAINTEXT, fmt, description={"s3seal:secret-version": "a"})
    return body, EnvelopeMetadata.parse(metadata)


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_rewrapped_envelope_decrypts_the_same_body_with_the_new_key_only(fmt: Format) -> None:
    # GIVEN an object sealed under an old root key
    old, new = os.urandom(32), os.urandom(32)
    body, envelope = _sealed(fmt, old)
    # WHEN its data key is re-wrapped under the new root key, naming the new version
    moved = rewrap(envelope, old, new, description={"s3seal:secret-version": "b"})
    # THEN the unchanged body decrypts to the same plaintext with the new key
    assert decrypt_bytes(new, body, moved.to_metadata()) == PLAINTEXT
    assert moved.description == {"s3seal:secret-version": "b"}
    # ... the same data key sits under both
    assert data_key_of(moved, new) == data_key_of(envelope, old)
    # ... and everything but the wrapped key and description is kept
    assert (moved.format, moved.iv, moved.content, moved.wrap) == (
        envelope.format,
        envelope.iv,
        envelope.content,
        envelope.wrap,
    )
    assert moved.unencrypted_length == envelope.unencrypted_length
    # ... the old root key no longer opens it
    with pytest.raises((WrongRootKeyError, TamperedCiphertextError, MetadataError)):
        data_key_of(moved, old)


def test_v3_commitment_and_message_id_are_unchanged() -> None:
    old, new = os.urandom(32), os.urandom(32)
    body, envelope = _sealed(Format.V3, old)
    moved = rewrap(envelope, old, new)
    assert moved.commitment == envelope.commitment
    assert moved.message_id == envelope.message_id
    assert moved.matdesc == envelope.matdesc
    assert decrypt_bytes(new, body, moved.to_metadata()) == PLAINTEXT


@pytest.mark.parametrize("fmt", [Format.V2, Format.V3], ids=lambda f: f.name)
def test_gcm_wraps_get_a_fresh_wrap_iv(fmt: Format) -> None:
    old, new = os.urandom(32), os.urandom(32)
    _, envelope = _sealed(fmt, old)
    first, second = rewrap(envelope, old, new), rewrap(envelope, old, new)
    assert first.wrapped_key[:12] != second.wrapped_key[:12]


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_a_wrong_old_key_is_refused(fmt: Format) -> None:
    old, new = os.urandom(32), os.urandom(32)
    _, envelope = _sealed(fmt, old)
    with pytest.raises((WrongRootKeyError, TamperedCiphertextError, MetadataError)):
        rewrap(envelope, os.urandom(32), new)


def test_a_v3_envelope_with_a_wrong_commitment_is_not_rewrapped() -> None:
    # GIVEN a V3 envelope whose commitment was tampered with (the key still unwraps)
    old, new = os.urandom(32), os.urandom(32)
    _, envelope = _sealed(Format.V3, old)
    flipped = bytes([envelope.commitment[0] ^ 1]) + envelope.commitment[1:]
    tampered = EnvelopeMetadata.parse(
        {**envelope.to_metadata(), "x-amz-d": base64.b64encode(flipped).decode()}
    )
    # WHEN/THEN re-wrapping refuses it with the one opaque V3 error
    with pytest.raises(TamperedCiphertextError):
        rewrap(tampered, old, new)
