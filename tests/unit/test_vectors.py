"""Objects written by other implementations decrypt: AWS S3 encryption clients and Amazon Redshift.

Spec (shared/docs/s3-cse-format.md): "Your implementation must read all of those vectors."
V3 (shared/docs/s3-cse-v3.md): the official Python client 4.0.0's objects, both layouts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

from s3seal.envelope import (
    Decryptor,
    EnvelopeMetadata,
    Format,
    LegacyFormatError,
    MetadataError,
    decrypt_bytes,
    decrypt_chunks,
    encrypt_bytes,
    needs_instruction_file,
)
from s3seal.envelope.suites import ALG_AES_256_GCM_HKDF_SHA512_COMMIT_KEY as SUITE
from tests.conftest import VECTORS, Vector, redshift_vectors, ruby_vectors

from .helpers import b64, chunked, ref_ecb_block, ref_ecb_unwrap, unb64

RUBY = ruby_vectors()
REDSHIFT = redshift_vectors()
ALL = RUBY + REDSHIFT


@dataclass(frozen=True)
class V3Vector:
    """One object the official AWS S3 Encryption Client for Python 4.0.0 wrote (V3)."""

    name: str
    root_key: bytes
    body: bytes
    metadata: dict[str, str]
    instruction: dict[str, str] | None
    """The JSON of ``KEY.instruction`` for the instruction-file layout, else None."""
    plaintext: bytes


def v3_vectors() -> list[V3Vector]:
    folder = VECTORS / "aws-python-s3ec-v3"
    out = []
    for meta_file in sorted(folder.glob("*.json")):
        doc = json.loads(meta_file.read_text())
        instruction_file = folder / f"{meta_file.stem}.instruction"
        out.append(
            V3Vector(
                name=meta_file.stem,
                root_key=base64.b64decode(doc["root_key_b64"]),
                body=(folder / f"{meta_file.stem}.body").read_bytes(),
                metadata=doc["metadata"],
                instruction=(
                    json.loads(instruction_file.read_text()) if instruction_file.exists() else None
                ),
                plaintext=(folder / f"{meta_file.stem}.plain").read_bytes(),
            )
        )
    return out


V3_VECTORS = v3_vectors()

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


# ------------------------------------------------------------------------------------------------
# Strict by default: none of the shared V1/V2 vectors is a legacy shape
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("vector", ALL, ids=_ids(ALL))
def test_shared_v1_v2_vectors_are_not_legacy_shapes(vector: Vector) -> None:
    # GIVEN Redshift's UNLOAD files (V1, 32-byte data keys) and the Ruby SDK's V1 (32-byte data
    # key) and V2 (AES/GCM wrap and content) objects
    envelope = EnvelopeMetadata.parse(vector.metadata)
    # THEN none is a legacy shape: the strict default reads them (test_vector_decrypts_whole),
    # and allow_legacy changes nothing
    assert envelope.legacy_shape is None
    assert decrypt_bytes(vector.root_key, vector.body, vector.metadata, allow_legacy=True) == (
        vector.plaintext
    )


def test_a_legacy_variant_of_a_ruby_vector_is_refused_by_default() -> None:
    # GIVEN the Ruby V1 vector's body and data key, re-stated in the legacy layout of the AWS SDK
    # for Java's V1 client: AESWrap (RFC 3394) key wrap, AES-CBC content in a V2 envelope
    (vector,) = [v for v in RUBY if v.name == "ruby-v1-17"]
    data_key = ref_ecb_unwrap(vector.root_key, unb64(vector.metadata["x-amz-key"]))
    legacy = {
        "x-amz-key-v2": b64(aes_key_wrap(vector.root_key, data_key)),
        "x-amz-iv": vector.metadata["x-amz-iv"],
        "x-amz-matdesc": "{}",
        "x-amz-wrap-alg": "AESWrap",
        "x-amz-cek-alg": "AES/CBC/PKCS5Padding",
    }
    # THEN the strict default refuses it, and allow_legacy reads it
    with pytest.raises(LegacyFormatError, match="--allow-legacy"):
        decrypt_bytes(vector.root_key, vector.body, legacy)
    assert decrypt_bytes(vector.root_key, vector.body, legacy, allow_legacy=True) == (
        vector.plaintext
    )


# ------------------------------------------------------------------------------------------------
# V3: the official AWS S3 Encryption Client for Python 4.0.0
# ------------------------------------------------------------------------------------------------


def _v3_ids(vectors: list[V3Vector]) -> list[str]:
    return [v.name for v in vectors]


def _envelope(vector: V3Vector) -> EnvelopeMetadata:
    return EnvelopeMetadata.parse(vector.metadata, instruction=vector.instruction)


def test_the_v3_vector_set_is_complete() -> None:
    sizes = {"0", "1", "15", "16", "17", "1000", "65537"}
    assert {v.name for v in V3_VECTORS} == {f"py-v3-{n}" for n in sizes} | {"py-v3-instr-17"}
    assert [v.name for v in V3_VECTORS if v.instruction is not None] == ["py-v3-instr-17"]
    assert (VECTORS / "aws-python-s3ec-v3" / "README.md").exists()


@pytest.mark.parametrize("vector", V3_VECTORS, ids=_v3_ids(V3_VECTORS))
def test_v3_vector_decrypts_whole(vector: V3Vector) -> None:
    envelope = _envelope(vector)
    assert envelope.format is Format.V3
    assert envelope.legacy_shape is None
    assert decrypt_bytes(vector.root_key, vector.body, envelope) == vector.plaintext


@pytest.mark.parametrize("size", CHUNK_SIZES, ids=[f"chunk{n}" for n in CHUNK_SIZES])
@pytest.mark.parametrize("vector", V3_VECTORS, ids=_v3_ids(V3_VECTORS))
def test_v3_vector_decrypts_in_chunks(vector: V3Vector, size: int) -> None:
    decryptor = Decryptor(vector.root_key, _envelope(vector))
    plaintext = b"".join(decrypt_chunks(decryptor, chunked(vector.body, size)))
    assert plaintext == vector.plaintext


@pytest.mark.parametrize("vector", V3_VECTORS, ids=_v3_ids(V3_VECTORS))
def test_v3_vector_layout_is_detected(vector: V3Vector) -> None:
    # Metadata layout: c/3/w/d/i on the object. Instruction-file layout: c/d/i on the object, the
    # rest in KEY.instruction, and parse() without it says the instruction file is needed.
    assert needs_instruction_file(vector.metadata) is (vector.instruction is not None)
    if vector.instruction is None:
        assert set(vector.metadata) == {"x-amz-c", "x-amz-3", "x-amz-w", "x-amz-d", "x-amz-i"}
    else:
        assert set(vector.metadata) == {"x-amz-c", "x-amz-d", "x-amz-i"}
        assert set(vector.instruction) == {"x-amz-3", "x-amz-w"}
        with pytest.raises(MetadataError, match="instruction file"):
            EnvelopeMetadata.parse(vector.metadata)


@pytest.mark.parametrize("vector", V3_VECTORS, ids=_v3_ids(V3_VECTORS))
def test_v3_vector_commitment_is_reproduced(vector: V3Vector) -> None:
    # GIVEN the data key unwrapped independently (AES-GCM, AAD "115")
    merged = vector.metadata | (vector.instruction or {})
    wrapped = unb64(merged["x-amz-3"])
    data_key = AESGCM(vector.root_key).decrypt(wrapped[:12], wrapped[12:], b"115")
    message_id = unb64(merged["x-amz-i"])
    # THEN s3seal's derivation gives exactly the x-amz-d AWS's code wrote ...
    assert SUITE.commitment(data_key, message_id) == unb64(merged["x-amz-d"])
    # ... and so does a from-the-spec HKDF-SHA512 written here with hmac alone
    prk = hmac.digest(message_id, data_key, hashlib.sha512)
    expected = hmac.digest(prk, b"\x00\x73COMMITKEY\x01", hashlib.sha512)[:28]
    assert expected == unb64(merged["x-amz-d"])
