"""Objects written by other implementations decrypt: the AWS SDK for Ruby and Amazon Redshift.

Spec (shared/docs/s3-cse-format.md): "Your implementation must read all of those vectors."
"""

from __future__ import annotations

import pytest

from s3seal.envelope import (
    Decryptor,
    EnvelopeMetadata,
    Format,
    decrypt_bytes,
    decrypt_chunks,
    encrypt_bytes,
)
from tests.conftest import Vector, redshift_vectors, ruby_vectors

from .helpers import chunked, ref_ecb_block, unb64

RUBY = ruby_vectors()
REDSHIFT = redshift_vectors()
ALL = RUBY + REDSHIFT

# 1 byte at a time, odd sizes that straddle AES blocks and the 16-byte GCM tag, and one bigger
# than most vectors.
CHUNK_SIZES = [1, 3, 7, 13, 15, 17, 31, 33, 1001]


def _ids(vectors: list[Vector]) -> list[str]:
    return [v.name for v in vectors]


def test_the_vector_sets_are_complete() -> None:
    # GIVEN the vectors copied from shared/vectors
    # THEN both Ruby layouts at every size, and the four Redshift files, are there
    sizes = {"0", "1", "15", "16", "17", "1000", "65537"}
    assert {v.name for v in RUBY} == {f"ruby-{f}-{n}" for f in ("v1", "v2") for n in sizes}
    assert len(REDSHIFT) == 4


@pytest.mark.parametrize("vector", ALL, ids=_ids(ALL))
def test_vector_decrypts_whole(vector: Vector) -> None:
    # WHEN the whole body is decrypted in one call
    plaintext = decrypt_bytes(vector.root_key, vector.body, vector.metadata)
    # THEN it is the plaintext the other implementation encrypted
    assert plaintext == vector.plaintext


@pytest.mark.parametrize("size", CHUNK_SIZES, ids=[f"chunk{n}" for n in CHUNK_SIZES])
@pytest.mark.parametrize("vector", ALL, ids=_ids(ALL))
def test_vector_decrypts_in_chunks(vector: Vector, size: int) -> None:
    # GIVEN the body fed to a streaming decryptor in pieces of `size` bytes
    decryptor = Decryptor(vector.root_key, vector.metadata)
    # WHEN every piece is decrypted
    plaintext = b"".join(decrypt_chunks(decryptor, chunked(vector.body, size)))
    # THEN the pieces join to the plaintext
    assert plaintext == vector.plaintext


@pytest.mark.parametrize("vector", ALL, ids=_ids(ALL))
def test_vector_format_is_detected(vector: Vector) -> None:
    expected = Format.V2 if vector.name.startswith("ruby-v2") else Format.V1
    assert EnvelopeMetadata.parse(vector.metadata).format is expected


@pytest.mark.parametrize("vector", REDSHIFT, ids=_ids(REDSHIFT))
def test_redshift_vector_has_only_key_and_iv(vector: Vector) -> None:
    # GIVEN a Redshift UNLOAD file, which carries x-amz-key and x-amz-iv but no x-amz-matdesc
    assert set(vector.metadata) == {"x-amz-key", "x-amz-iv"}
    # WHEN its envelope is parsed
    envelope = EnvelopeMetadata.parse(vector.metadata)
    # THEN the missing materials description reads as {} and the layout is V1's
    assert envelope.matdesc == "{}"
    assert envelope.unencrypted_length is None
    assert len(envelope.wrapped_key) == 48
    assert len(envelope.iv) == 16
    assert decrypt_bytes(vector.root_key, vector.body, vector.metadata) == vector.plaintext


def test_redshift_wrapped_keys_share_their_last_block() -> None:
    # GIVEN the four Redshift files, all under one root key
    root_keys = {v.root_key for v in REDSHIFT}
    assert len(root_keys) == 1
    (root_key,) = root_keys
    # WHEN their x-amz-key values are decoded
    last_blocks = {unb64(v.metadata["x-amz-key"])[-16:] for v in REDSHIFT}
    # THEN (spec) the last 16 bytes are the same, and are AES-ECB(root, 0x10 * 16)
    assert last_blocks == {ref_ecb_block(root_key, b"\x10" * 16)}
    # ... while the data keys themselves differ from file to file
    assert len({unb64(v.metadata["x-amz-key"])[:32] for v in REDSHIFT}) == len(REDSHIFT)


def test_s3seal_v1_wrapped_key_ends_like_redshifts() -> None:
    # GIVEN the Redshift root key
    root_key = REDSHIFT[0].root_key
    redshift_last_block = unb64(REDSHIFT[0].metadata["x-amz-key"])[-16:]
    # WHEN s3seal writes V1 objects under it
    for _ in range(3):
        _, metadata = encrypt_bytes(root_key, b"1|widget|2.50\n", Format.V1)
        wrapped = unb64(metadata["x-amz-key"])
        # THEN its 48-byte wrapped key ends with exactly the block Redshift's do
        assert len(wrapped) == 48
        assert wrapped[-16:] == redshift_last_block


def test_ruby_v1_wrapped_keys_share_their_last_block() -> None:
    v1 = [v for v in RUBY if v.name.startswith("ruby-v1")]
    (root_key,) = {v.root_key for v in v1}
    last_blocks = {unb64(v.metadata["x-amz-key"])[-16:] for v in v1}
    assert last_blocks == {ref_ecb_block(root_key, b"\x10" * 16)}


@pytest.mark.parametrize("vector", RUBY, ids=_ids(RUBY))
def test_ruby_vector_body_length_matches_layout(vector: Vector) -> None:
    # The Ruby SDK's bodies have exactly the lengths the spec gives for each layout.
    n = len(vector.plaintext)
    expected = n + 16 if vector.name.startswith("ruby-v2") else n + 16 - n % 16
    assert len(vector.body) == expected
    assert vector.metadata["x-amz-unencrypted-content-length"] == str(n)
