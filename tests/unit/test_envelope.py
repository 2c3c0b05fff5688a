"""The envelope core against the byte-level contract (shared/docs/s3-cse-format.md, docs/format.md).

Known answers go through the private seam ``_DataKeyMaterial`` (fixed data key, IV and wrap IV) and
are compared with an independent computation written with ``cryptography`` in tests/unit/helpers.py,
itself anchored to published NIST test vectors.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

from s3seal.envelope import (
    AlreadyFinalizedError,
    CiphertextError,
    Decryptor,
    Encryptor,
    EnvelopeMetadata,
    Format,
    InvalidRootKeyError,
    LegacyFormatError,
    MetadataError,
    NotEncryptedError,
    PlaintextLengthError,
    S3SealError,
    TamperedCiphertextError,
    TruncatedCiphertextError,
    UnsupportedAlgorithmError,
    WrongRootKeyError,
    decrypt_bytes,
    decrypt_chunks,
    encrypt_bytes,
    encrypt_chunks,
    iter_parts,
)
from s3seal.envelope.stream import V1_DECRYPT_FAILED, _DataKeyMaterial
from tests.conftest import ruby_vectors

from .helpers import (
    DATA_KEY,
    OTHER_ROOT_KEY,
    ROOT_KEY,
    V1_IV,
    V2_IV,
    WRAP_IV,
    b64,
    chunked,
    decrypt_pieces,
    ref_cbc_decrypt_raw,
    ref_cbc_encrypt,
    ref_ecb_block,
    ref_ecb_unwrap,
    ref_ecb_wrap,
    ref_gcm_encrypt,
    ref_gcm_unwrap,
    ref_gcm_wrap,
    unb64,
)

FORMATS = [Format.V1, Format.V2]
SIZES = [0, 1, 15, 16, 17, 31, 32, 33, 1000]
B64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
"""Standard alphabet, padded, no newlines."""

V1_ONLY = {
    "x-amz-key",
    "x-amz-iv",
    "x-amz-matdesc",
    "x-amz-unencrypted-content-length",
}
V2_ONLY = {
    "x-amz-key-v2",
    "x-amz-iv",
    "x-amz-matdesc",
    "x-amz-wrap-alg",
    "x-amz-cek-alg",
    "x-amz-tag-len",
    "x-amz-unencrypted-content-length",
}


def fixed_encrypt(
    plaintext: bytes,
    fmt: Format,
    *,
    data_key: bytes = DATA_KEY,
    iv: bytes | None = None,
    root_key: bytes = ROOT_KEY,
) -> tuple[bytes, dict[str, str]]:
    """Encrypt with fixed material: the same bytes every run."""
    iv = iv if iv is not None else (V1_IV if fmt is Format.V1 else V2_IV)
    material = _DataKeyMaterial(data_key=data_key, iv=iv, wrap_iv=WRAP_IV)
    encryptor = Encryptor(root_key, fmt, plaintext_length=len(plaintext), _material=material)
    body = encryptor.update(plaintext) + encryptor.finalize()
    return body, encryptor.metadata.to_metadata()


def flip(data: bytes, index: int, mask: int = 0x01) -> bytes:
    out = bytearray(data)
    out[index] ^= mask
    return bytes(out)


# ------------------------------------------------------------------------------------------------
# Known answers
# ------------------------------------------------------------------------------------------------

# NIST SP 800-38A, F.1.5 (ECB-AES256) and F.2.5 (CBC-AES256): key ROOT_KEY, IV 00..0f.
SP800_38A_PLAIN = bytes.fromhex(
    "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"
)
SP800_38A_ECB = bytes.fromhex(
    "f3eed1bdb5d2a03c064b5a7e3db181f8591ccb10d410ed26dc5ba74a31362870"
    "b6ed21b99ca6f4f9f153e7b1beafed1d23304b7a39f9f3ff067d8d8f9e24ecc7"
)
SP800_38A_CBC = bytes.fromhex(
    "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d"
    "39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b"
)
# The GCM specification (McGrew & Viega), test case 15: AES-256, 96-bit IV, no AAD.
GCM_TC15_KEY = bytes.fromhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
GCM_TC15_IV = bytes.fromhex("cafebabefacedbaddecaf888")
GCM_TC15_PLAIN = bytes.fromhex(
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
)
GCM_TC15_CIPHER_AND_TAG = bytes.fromhex(
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad"
    "b094dac5d93471bdec1a502270e3cc6c"
)


def test_reference_functions_match_published_vectors() -> None:
    # The independent computations the known-answer tests rely on are themselves right.
    assert ref_ecb_block(ROOT_KEY, SP800_38A_PLAIN) == SP800_38A_ECB
    assert ref_cbc_encrypt(ROOT_KEY, bytes(range(16)), SP800_38A_PLAIN)[:64] == SP800_38A_CBC
    assert ref_gcm_encrypt(GCM_TC15_KEY, GCM_TC15_IV, GCM_TC15_PLAIN) == GCM_TC15_CIPHER_AND_TAG


def test_v1_known_answer_against_sp800_38a() -> None:
    # GIVEN the SP 800-38A key as root key, and its first two plaintext blocks as the data key
    material = _DataKeyMaterial(data_key=SP800_38A_PLAIN[:32], iv=V1_IV, wrap_iv=WRAP_IV)
    encryptor = Encryptor(ROOT_KEY, Format.V1, _material=material)
    # THEN the wrapped key is the published ECB ciphertext of those blocks, then ECB(0x10 * 16)
    wrapped = encryptor.metadata.wrapped_key
    assert wrapped == SP800_38A_ECB[:32] + ref_ecb_block(ROOT_KEY, b"\x10" * 16)

    # GIVEN the SP 800-38A key as data key, with the published IV
    material = _DataKeyMaterial(data_key=ROOT_KEY, iv=bytes(range(16)), wrap_iv=WRAP_IV)
    encryptor = Encryptor(ROOT_KEY, Format.V1, _material=material)
    # WHEN s3seal encrypts the four published plaintext blocks
    body = encryptor.update(SP800_38A_PLAIN) + encryptor.finalize()
    # THEN the body is the published CBC ciphertext followed by one full padding block
    assert body[:64] == SP800_38A_CBC
    assert len(body) == 80


def test_v2_body_known_answer_against_gcm_test_case_15() -> None:
    material = _DataKeyMaterial(data_key=GCM_TC15_KEY, iv=GCM_TC15_IV, wrap_iv=WRAP_IV)
    encryptor = Encryptor(ROOT_KEY, Format.V2, _material=material)
    body = encryptor.update(GCM_TC15_PLAIN) + encryptor.finalize()
    assert body == GCM_TC15_CIPHER_AND_TAG


@pytest.mark.parametrize("size", SIZES, ids=[f"{n}B" for n in SIZES])
def test_v1_known_answer(size: int) -> None:
    # GIVEN fixed data key and IV
    plaintext = bytes((7 * i + 3) % 256 for i in range(size))
    # WHEN s3seal writes a V1 object
    body, metadata = fixed_encrypt(plaintext, Format.V1)
    # THEN metadata and body are what the spec's formulas give, computed independently
    assert metadata == {
        "x-amz-key": b64(ref_ecb_wrap(ROOT_KEY, DATA_KEY)),
        "x-amz-iv": b64(V1_IV),
        "x-amz-matdesc": "{}",
        "x-amz-unencrypted-content-length": str(size),
    }
    assert body == ref_cbc_encrypt(DATA_KEY, V1_IV, plaintext)
    assert decrypt_bytes(ROOT_KEY, body, metadata) == plaintext


@pytest.mark.parametrize("size", SIZES, ids=[f"{n}B" for n in SIZES])
def test_v2_known_answer(size: int) -> None:
    plaintext = bytes((11 * i + 5) % 256 for i in range(size))
    body, metadata = fixed_encrypt(plaintext, Format.V2)
    assert metadata == {
        "x-amz-key-v2": b64(ref_gcm_wrap(ROOT_KEY, DATA_KEY, WRAP_IV)),
        "x-amz-iv": b64(V2_IV),
        "x-amz-matdesc": "{}",
        "x-amz-wrap-alg": "AES/GCM",
        "x-amz-cek-alg": "AES/GCM/NoPadding",
        "x-amz-tag-len": "128",
        "x-amz-unencrypted-content-length": str(size),
    }
    assert body == ref_gcm_encrypt(DATA_KEY, V2_IV, plaintext)
    assert decrypt_bytes(ROOT_KEY, body, metadata) == plaintext


# ------------------------------------------------------------------------------------------------
# Layouts
# ------------------------------------------------------------------------------------------------


def test_v1_metadata_layout() -> None:
    # WHEN s3seal writes a V1 object
    _, metadata = encrypt_bytes(ROOT_KEY, b"id|name\n1|a\n", Format.V1)
    # THEN it carries exactly the four V1 names, and none of V2's or V3's
    assert set(metadata) == V1_ONLY
    assert not set(metadata) & {"x-amz-key-v2", "x-amz-wrap-alg", "x-amz-cek-alg", "x-amz-tag-len"}
    assert not [name for name in metadata if name.startswith("x-amz-3")]
    # ... with a 48-byte wrapped key in 64 characters and a 16-byte IV in 24
    assert len(metadata["x-amz-key"]) == 64
    assert len(unb64(metadata["x-amz-key"])) == 48
    assert len(metadata["x-amz-iv"]) == 24
    assert len(unb64(metadata["x-amz-iv"])) == 16
    assert metadata["x-amz-matdesc"] == "{}"
    assert metadata["x-amz-unencrypted-content-length"] == "12"
    assert B64.match(metadata["x-amz-key"])
    assert B64.match(metadata["x-amz-iv"])


def test_v2_metadata_layout() -> None:
    _, metadata = encrypt_bytes(ROOT_KEY, b"id|name\n1|a\n", Format.V2)
    assert set(metadata) == V2_ONLY
    assert "x-amz-key" not in metadata
    assert len(unb64(metadata["x-amz-key-v2"])) == 60
    assert len(unb64(metadata["x-amz-iv"])) == 12
    assert metadata["x-amz-wrap-alg"] == "AES/GCM"
    assert metadata["x-amz-cek-alg"] == "AES/GCM/NoPadding"
    assert metadata["x-amz-tag-len"] == "128"
    assert metadata["x-amz-matdesc"] == "{}"
    assert metadata["x-amz-unencrypted-content-length"] == "12"
    assert B64.match(metadata["x-amz-key-v2"])
    assert B64.match(metadata["x-amz-iv"])


def test_streaming_encryptor_without_length_omits_it_until_complete() -> None:
    # GIVEN an encryptor that is not told the plaintext length (a multipart upload of a stream)
    encryptor = Encryptor(ROOT_KEY, Format.V1)
    assert "x-amz-unencrypted-content-length" not in encryptor.metadata.to_metadata()
    assert encryptor.ciphertext_length is None
    # WHEN the stream has been encrypted
    encryptor.update(b"x" * 20)
    encryptor.finalize()
    # THEN the completed metadata records the length
    assert encryptor.complete_metadata().unencrypted_length == 20
    assert encryptor.complete_metadata().to_metadata()["x-amz-unencrypted-content-length"] == "20"


def test_materials_description_is_written_and_read() -> None:
    body, metadata = encrypt_bytes(ROOT_KEY, b"abc", Format.V1, description={"kid": "v7"})
    assert metadata["x-amz-matdesc"] == '{"kid":"v7"}'
    assert EnvelopeMetadata.parse(metadata).description == {"kid": "v7"}
    assert decrypt_bytes(ROOT_KEY, body, metadata) == b"abc"


@pytest.mark.parametrize("size", SIZES, ids=[f"{n}B" for n in SIZES])
@pytest.mark.parametrize("fmt", FORMATS, ids=str)
def test_body_length(fmt: Format, size: int) -> None:
    # THEN V1 bodies are n + 16 - n % 16 bytes (PKCS#7 always pads), V2 bodies n + 16 (the tag)
    expected = size + 16 - size % 16 if fmt is Format.V1 else size + 16
    encryptor = Encryptor(ROOT_KEY, fmt, plaintext_length=size)
    body = encryptor.update(os.urandom(size)) + encryptor.finalize()
    assert len(body) == expected
    assert encryptor.ciphertext_length == expected


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
def test_fresh_data_key_and_iv_per_object(fmt: Format) -> None:
    # GIVEN the same plaintext encrypted twice under the same root key
    plaintext = b"same plaintext, twice"
    objects = [encrypt_bytes(ROOT_KEY, plaintext, fmt) for _ in range(2)]
    # WHEN the data keys are unwrapped independently of s3seal
    if fmt is Format.V1:
        keys = [ref_ecb_unwrap(ROOT_KEY, unb64(m["x-amz-key"])) for _, m in objects]
    else:
        keys = [ref_gcm_unwrap(ROOT_KEY, unb64(m["x-amz-key-v2"])) for _, m in objects]
        wrap_ivs = [unb64(m["x-amz-key-v2"])[:12] for _, m in objects]
        assert wrap_ivs[0] != wrap_ivs[1]
    # THEN data keys, IVs and bodies all differ; data keys are 256-bit
    assert [len(k) for k in keys] == [32, 32]
    assert keys[0] != keys[1]
    assert objects[0][1]["x-amz-iv"] != objects[1][1]["x-amz-iv"]
    assert objects[0][0] != objects[1][0]


# ------------------------------------------------------------------------------------------------
# Root keys
# ------------------------------------------------------------------------------------------------


def _distinctive(size: int) -> bytes:
    return bytes((0x81 + 7 * i) % 256 for i in range(size))


BAD_ROOT_KEYS: dict[str, Any] = {
    "0-bytes": b"",
    "16-bytes": _distinctive(16),
    "31-bytes": _distinctive(31),
    "33-bytes": _distinctive(33),
    "64-bytes": _distinctive(64),
    "str-base64-of-32-bytes": b64(_distinctive(32)),
    "str-32-chars": "S3cr3t-R00t-K3y-0123456789abcdef",
    "bytes-base64-not-decoded": b64(_distinctive(32)).encode("ascii"),
}

_V1_VECTOR = next(v for v in ruby_vectors() if v.name == "ruby-v1-17")
_V2_VECTOR = next(v for v in ruby_vectors() if v.name == "ruby-v2-17")

ROOT_KEY_USES: dict[str, Callable[[Any], object]] = {
    "Encryptor-v1": lambda key: Encryptor(key, Format.V1),
    "Encryptor-v2": lambda key: Encryptor(key, Format.V2),
    "encrypt_bytes": lambda key: encrypt_bytes(key, b"x"),
    "Decryptor-v1": lambda key: Decryptor(key, _V1_VECTOR.metadata),
    "decrypt_bytes-v2": lambda key: decrypt_bytes(key, _V2_VECTOR.body, _V2_VECTOR.metadata),
}


def _renderings(key: Any) -> list[str]:
    """Ways a key could leak into a message."""
    if isinstance(key, str):
        return [key]
    if not key:
        return []
    return [repr(key), key.hex(), b64(key), key.decode("latin-1")]


@pytest.mark.parametrize("use", ROOT_KEY_USES.values(), ids=ROOT_KEY_USES.keys())
@pytest.mark.parametrize("key", BAD_ROOT_KEYS.values(), ids=BAD_ROOT_KEYS.keys())
def test_root_key_must_be_32_bytes(key: Any, use: Callable[[Any], object]) -> None:
    # WHEN anything is done with a root key that is not 32 raw bytes
    with pytest.raises(InvalidRootKeyError) as excinfo:
        use(key)
    # THEN it is refused, and the message never contains the key
    message = str(excinfo.value) + repr(excinfo.value)
    for rendering in _renderings(key):
        assert rendering not in message
    assert excinfo.value.__cause__ is None


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
def test_wrong_root_key(fmt: Format) -> None:
    # GIVEN an object written under one root key
    body, metadata = encrypt_bytes(ROOT_KEY, b"secret rows", fmt)
    # WHEN it is read with another
    # THEN the data key does not unwrap
    with pytest.raises(WrongRootKeyError):
        decrypt_bytes(OTHER_ROOT_KEY, body, metadata)


@pytest.mark.parametrize("vector", [_V1_VECTOR, _V2_VECTOR], ids=lambda v: v.name)
def test_wrong_root_key_on_ruby_vectors(vector: Any) -> None:
    with pytest.raises(WrongRootKeyError):
        Decryptor(OTHER_ROOT_KEY, vector.metadata)


# ------------------------------------------------------------------------------------------------
# Metadata: what is refused
# ------------------------------------------------------------------------------------------------

_V1_BODY, _V1_META = fixed_encrypt(b"one|two|three\n" * 3, Format.V1)
_V2_BODY, _V2_META = fixed_encrypt(b"one|two|three\n" * 3, Format.V2)


def _v1(**changes: str | None) -> dict[str, Any]:
    return _changed(_V1_META, changes)


def _v2(**changes: str | None) -> dict[str, Any]:
    return _changed(_V2_META, changes)


def _changed(base: Mapping[str, str], changes: Mapping[str, str | None]) -> dict[str, Any]:
    """``base`` with names (underscores for dashes) set, or removed when None."""
    out: dict[str, Any] = dict(base)
    for name, value in changes.items():
        wire = name.replace("_", "-")
        if value is None:
            out.pop(wire, None)
        else:
            out[wire] = value
    return out


_V1_KEY = unb64(_V1_META["x-amz-key"])
_V2_KEY = unb64(_V2_META["x-amz-key-v2"])

BAD_METADATA: dict[str, tuple[Format, dict[str, Any], type[S3SealError]]] = {
    # no envelope at all
    "empty": (Format.V1, {}, NotEncryptedError),
    "unrelated-user-metadata": (Format.V1, {"owner": "etl"}, NotEncryptedError),
    "iv-and-matdesc-but-no-key": (Format.V1, _v1(x_amz_key=None), NotEncryptedError),
    # ambiguous
    "both-v1-and-v2-keys": (
        Format.V1,
        _v1(x_amz_key_v2=_V2_META["x-amz-key-v2"]),
        MetadataError,
    ),
    # base64
    "v1-key-not-base64": (Format.V1, _v1(x_amz_key="not*base64*at*all"), MetadataError),
    "v1-key-with-newline": (
        Format.V1,
        _v1(x_amz_key=_V1_META["x-amz-key"][:32] + "\n" + _V1_META["x-amz-key"][32:]),
        MetadataError,
    ),
    "iv-unpadded": (Format.V1, _v1(x_amz_iv=b64(V1_IV).rstrip("=")), MetadataError),
    "v2-key-not-base64": (Format.V2, _v2(x_amz_key_v2="%%%%"), MetadataError),
    "iv-not-base64": (Format.V1, _v1(x_amz_iv="zKYtoqntwmq76bzY7Pu7x!=="), MetadataError),
    # IV
    "v1-iv-missing": (Format.V1, _v1(x_amz_iv=None), MetadataError),
    "v1-iv-12-bytes": (Format.V1, _v1(x_amz_iv=b64(bytes(12))), MetadataError),
    "v1-iv-15-bytes": (Format.V1, _v1(x_amz_iv=b64(bytes(15))), MetadataError),
    "v1-iv-17-bytes": (Format.V1, _v1(x_amz_iv=b64(bytes(17))), MetadataError),
    "v2-iv-16-bytes": (Format.V2, _v2(x_amz_iv=b64(bytes(16))), MetadataError),
    "v2-iv-missing": (Format.V2, _v2(x_amz_iv=None), MetadataError),
    # wrapped key length
    "v1-wrapped-key-47-bytes": (Format.V1, _v1(x_amz_key=b64(_V1_KEY[:47])), MetadataError),
    "v1-wrapped-key-64-bytes": (Format.V1, _v1(x_amz_key=b64(_V1_KEY + bytes(16))), MetadataError),
    "v1-wrapped-key-empty": (Format.V1, _v1(x_amz_key=""), MetadataError),
    "v2-wrapped-key-59-bytes": (Format.V2, _v2(x_amz_key_v2=b64(_V2_KEY[:59])), MetadataError),
    "v2-wrapped-key-61-bytes": (Format.V2, _v2(x_amz_key_v2=b64(_V2_KEY + b"\0")), MetadataError),
    # materials description
    "matdesc-not-json": (Format.V1, _v1(x_amz_matdesc="{kid: v1}"), MetadataError),
    "matdesc-empty-string": (Format.V1, _v1(x_amz_matdesc=""), MetadataError),
    "matdesc-array": (Format.V1, _v1(x_amz_matdesc="[]"), MetadataError),
    "matdesc-string": (Format.V2, _v2(x_amz_matdesc='"{}"'), MetadataError),
    "matdesc-null": (Format.V2, _v2(x_amz_matdesc="null"), MetadataError),
    # algorithms
    "wrap-alg-kms+context": (
        Format.V2,
        _v2(x_amz_wrap_alg="kms+context"),
        UnsupportedAlgorithmError,
    ),
    "wrap-alg-kms": (Format.V2, _v2(x_amz_wrap_alg="kms"), UnsupportedAlgorithmError),
    "wrap-alg-rsa": (
        Format.V2,
        _v2(x_amz_wrap_alg="RSA-OAEP-SHA1"),
        UnsupportedAlgorithmError,
    ),
    "wrap-alg-lower-case": (Format.V2, _v2(x_amz_wrap_alg="aes/gcm"), UnsupportedAlgorithmError),
    "cek-alg-ctr": (Format.V2, _v2(x_amz_cek_alg="AES/CTR/NoPadding"), UnsupportedAlgorithmError),
    "cek-alg-unknown": (Format.V2, _v2(x_amz_cek_alg="ChaCha20"), UnsupportedAlgorithmError),
    "gcm-wrap-with-cbc-content": (
        Format.V2,
        _v2(x_amz_cek_alg="AES/CBC/PKCS5Padding"),
        MetadataError,
    ),
    "wrap-alg-missing": (Format.V2, _v2(x_amz_wrap_alg=None), MetadataError),
    "cek-alg-missing": (Format.V2, _v2(x_amz_cek_alg=None), MetadataError),
    "tag-len-96": (Format.V2, _v2(x_amz_tag_len="96"), UnsupportedAlgorithmError),
    "tag-len-not-a-number": (Format.V2, _v2(x_amz_tag_len="full"), UnsupportedAlgorithmError),
    # a V3 name beside a V1/V2 key (s3-cse-v3.md section 6: mixed exclusive keys are refused)
    "v3-key-beside-v2-key": (Format.V2, _v2(x_amz_3=b64(bytes(60))), MetadataError),
    "v3-commitment-beside-v1-key": (Format.V1, _v1(x_amz_d=b64(bytes(28))), MetadataError),
    # declared length
    "length-not-numeric": (
        Format.V1,
        _v1(x_amz_unencrypted_content_length="forty-two"),
        MetadataError,
    ),
    "length-negative": (Format.V1, _v1(x_amz_unencrypted_content_length="-1"), MetadataError),
    "length-empty": (Format.V2, _v2(x_amz_unencrypted_content_length=""), MetadataError),
    "length-float": (Format.V2, _v2(x_amz_unencrypted_content_length="4.0"), MetadataError),
    # types
    "value-not-a-string": (
        Format.V1,
        _v1(x_amz_matdesc=None) | {"x-amz-matdesc": {}},
        MetadataError,
    ),
}


@pytest.mark.parametrize(
    ("fmt", "metadata", "expected"), BAD_METADATA.values(), ids=BAD_METADATA.keys()
)
def test_bad_metadata_is_refused(
    fmt: Format, metadata: dict[str, Any], expected: type[S3SealError]
) -> None:
    # GIVEN an intact body whose metadata is missing, malformed or names an unknown algorithm
    body = _V1_BODY if fmt is Format.V1 else _V2_BODY
    # WHEN it is decrypted
    with pytest.raises(MetadataError) as excinfo:
        decrypt_bytes(ROOT_KEY, body, metadata)
    # THEN exactly the expected error is raised (a MetadataError: nothing reaches the body)
    assert excinfo.type is expected


def test_not_encrypted_error_says_so() -> None:
    with pytest.raises(NotEncryptedError, match="not an S3 client-side encrypted object"):
        EnvelopeMetadata.parse({"content-type": "text/csv"})


# ------------------------------------------------------------------------------------------------
# Metadata: what is accepted
# ------------------------------------------------------------------------------------------------

NAME_SPELLINGS: dict[str, Callable[[str], str]] = {
    "x-amz-meta-prefix": lambda name: "x-amz-meta-" + name,
    "upper-case": str.upper,
    "upper-case-with-prefix": lambda name: ("x-amz-meta-" + name).upper(),
    "http-title-case-with-prefix": lambda name: ("x-amz-meta-" + name).title(),
}


@pytest.mark.parametrize("spell", NAME_SPELLINGS.values(), ids=NAME_SPELLINGS.keys())
@pytest.mark.parametrize("fmt", FORMATS, ids=str)
def test_metadata_names_with_prefix_or_any_case(fmt: Format, spell: Callable[[str], str]) -> None:
    # GIVEN metadata names as S3 or an HTTP library may spell them
    body, metadata = fixed_encrypt(b"spelled differently", fmt)
    respelled = {spell(name): value for name, value in metadata.items()}
    # THEN the object still decrypts
    assert decrypt_bytes(ROOT_KEY, body, respelled) == b"spelled differently"


@pytest.mark.parametrize(
    "length",
    [None, "0", "999999"],
    ids=["length-absent", "length-too-small", "length-too-large"],
)
@pytest.mark.parametrize("fmt", FORMATS, ids=str)
def test_unencrypted_length_is_not_trusted(fmt: Format, length: str | None) -> None:
    # Spec: readers must not assume x-amz-unencrypted-content-length is present or right.
    body, metadata = fixed_encrypt(b"twenty-one characters", fmt)
    changed = _changed(metadata, {"x-amz-unencrypted-content-length": length})
    assert decrypt_bytes(ROOT_KEY, body, changed) == b"twenty-one characters"


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
def test_missing_matdesc_reads_as_empty(fmt: Format) -> None:
    body, metadata = fixed_encrypt(b"no matdesc", fmt)
    changed = _changed(metadata, {"x-amz-matdesc": None})
    assert EnvelopeMetadata.parse(changed).matdesc == "{}"
    assert decrypt_bytes(ROOT_KEY, body, changed) == b"no matdesc"


@pytest.mark.parametrize("key_size", [32, 16], ids=["256-bit-data-key", "128-bit-data-key"])
def test_v2_aeswrap_rfc3394_is_read_only_with_allow_legacy(key_size: int) -> None:
    # GIVEN an object as older writers made it: RFC 3394 key wrap ("AESWrap") and GCM content
    data_key = os.urandom(key_size)
    iv = os.urandom(12)
    plaintext = b"written by an older S3 encryption client\n" * 5
    wrapped = aes_key_wrap(ROOT_KEY, data_key)
    assert len(wrapped) == key_size + 8
    metadata = {
        "x-amz-key-v2": b64(wrapped),
        "x-amz-iv": b64(iv),
        "x-amz-matdesc": "{}",
        "x-amz-wrap-alg": "AESWrap",
        "x-amz-cek-alg": "AES/GCM/NoPadding",
        "x-amz-tag-len": "128",
    }
    body = AESGCM(data_key).encrypt(iv, plaintext, None)
    # THEN by default it is refused as a legacy shape, before any unwrap
    _assert_legacy_refused(body, metadata, "AESWrap")
    # ... and with allow_legacy s3seal reads it, whole and streamed
    assert decrypt_bytes(ROOT_KEY, body, metadata, allow_legacy=True) == plaintext
    decryptor = Decryptor(ROOT_KEY, metadata, allow_legacy=True)
    assert b"".join(decrypt_chunks(decryptor, chunked(body, 7))) == plaintext
    # ... and under another root key the unwrap fails cleanly
    with pytest.raises(WrongRootKeyError):
        decrypt_bytes(OTHER_ROOT_KEY, body, metadata, allow_legacy=True)


def _assert_legacy_refused(body: bytes, metadata: Mapping[str, str], shape: str) -> None:
    """The default (strict) reader refuses the legacy shape and says how to accept it."""
    for call in (
        lambda: decrypt_bytes(ROOT_KEY, body, metadata),
        lambda: Decryptor(ROOT_KEY, metadata),
        lambda: decrypt_bytes(OTHER_ROOT_KEY, body, metadata),  # refused before the unwrap
    ):
        with pytest.raises(LegacyFormatError) as excinfo:
            call()
        message = str(excinfo.value)
        assert shape in message
        assert "legacy" in message
        assert "unauthenticated" in message
        assert "--allow-legacy" in message
        assert "allow-legacy setting" in message
    assert isinstance(excinfo.value, UnsupportedAlgorithmError)


def test_aeswrap_with_cbc_content_is_read_only_with_allow_legacy() -> None:
    # GIVEN the other legacy combination (the AWS SDK for Java's V1 client in EncryptionOnly mode):
    # x-amz-key-v2 wrapped with AESWrap, AES/CBC/PKCS5Padding content, 16-byte IV
    data_key, iv = os.urandom(32), os.urandom(16)
    plaintext = b"legacy java layout\n" * 4
    metadata = {
        "x-amz-key-v2": b64(aes_key_wrap(ROOT_KEY, data_key)),
        "x-amz-iv": b64(iv),
        "x-amz-matdesc": "{}",
        "x-amz-wrap-alg": "AESWrap",
        "x-amz-cek-alg": "AES/CBC/PKCS5Padding",
    }
    body = ref_cbc_encrypt(data_key, iv, plaintext)
    _assert_legacy_refused(body, metadata, "AES-CBC content in a V2 envelope")
    assert decrypt_bytes(ROOT_KEY, body, metadata, allow_legacy=True) == plaintext
    # ... and, being CBC, its body failures get the one generic V1 error
    with pytest.raises(CiphertextError) as excinfo:
        decrypt_bytes(ROOT_KEY, body[:-1], metadata, allow_legacy=True)
    assert type(excinfo.value) is CiphertextError
    assert str(excinfo.value) == V1_DECRYPT_FAILED


def test_conflicting_spellings_of_one_name_are_refused() -> None:
    # GIVEN metadata holding x-amz-key twice, in two spellings, with two different values
    _, metadata = fixed_encrypt(b"abc", Format.V1)
    _, other = fixed_encrypt(b"abc", Format.V1, data_key=bytes(32))
    conflicting = {**metadata, "X-Amz-Meta-X-Amz-Key": other["x-amz-key"]}
    # THEN the envelope is ambiguous, like one holding both x-amz-key and x-amz-key-v2
    with pytest.raises(MetadataError):
        EnvelopeMetadata.parse(conflicting)


def test_repeated_spellings_with_one_value_are_read() -> None:
    body, metadata = fixed_encrypt(b"abc", Format.V1)
    doubled = {**metadata, **{"x-amz-meta-" + k: v for k, v in metadata.items()}}
    assert decrypt_bytes(ROOT_KEY, body, doubled) == b"abc"


def test_v1_with_128_bit_data_key_is_read_only_with_allow_legacy() -> None:
    # GIVEN a V1 object from a third-party writer with an AES-128 data key
    data_key = os.urandom(16)
    iv = os.urandom(16)
    plaintext = b"1|aes-128 data key\n" * 9
    wrapped = ref_ecb_wrap(ROOT_KEY, data_key)
    assert len(wrapped) == 32
    metadata = {"x-amz-key": b64(wrapped), "x-amz-iv": b64(iv), "x-amz-matdesc": "{}"}
    body = ref_cbc_encrypt(data_key, iv, plaintext)
    # THEN it is refused by default, and decrypts with allow_legacy
    _assert_legacy_refused(body, metadata, "16-byte (AES-128) data key")
    assert decrypt_bytes(ROOT_KEY, body, metadata, allow_legacy=True) == plaintext
    decryptor = Decryptor(ROOT_KEY, metadata, allow_legacy=True)
    assert b"".join(decrypt_chunks(decryptor, chunked(body, 5))) == plaintext
    with pytest.raises(WrongRootKeyError):
        decrypt_bytes(OTHER_ROOT_KEY, body, metadata, allow_legacy=True)


def test_s3seals_own_formats_are_read_without_allow_legacy() -> None:
    # V1 with a 32-byte data key (what s3seal and Redshift UNLOAD write), V2 AES/GCM, V3
    for fmt in Format:
        body, metadata = encrypt_bytes(ROOT_KEY, b"strict by default", fmt)
        assert EnvelopeMetadata.parse(metadata).legacy_shape is None
        assert decrypt_bytes(ROOT_KEY, body, metadata) == b"strict by default"


# ------------------------------------------------------------------------------------------------
# V2 bodies: truncation and tampering
# ------------------------------------------------------------------------------------------------

_PLAIN = bytes(range(100))
_GCM_BODY, _GCM_META = fixed_encrypt(_PLAIN, Format.V2)


@pytest.mark.parametrize("length", [0, 1, 15], ids=lambda n: f"{n}B-left")
def test_v2_body_shorter_than_tag_is_truncated(length: int) -> None:
    with pytest.raises(TruncatedCiphertextError):
        decrypt_bytes(ROOT_KEY, _GCM_BODY[:length], _GCM_META)


@pytest.mark.parametrize(
    "length",
    [16, 58, len(_GCM_BODY) - 16, len(_GCM_BODY) - 1],
    ids=["tag-sized", "cut-mid-way", "tag-removed", "last-byte-removed"],
)
def test_v2_body_cut_mid_way_is_tampered(length: int) -> None:
    with pytest.raises(TamperedCiphertextError) as excinfo:
        decrypt_bytes(ROOT_KEY, _GCM_BODY[:length], _GCM_META)
    assert excinfo.type is TamperedCiphertextError


V2_TAMPERING: dict[str, tuple[bytes, dict[str, str]]] = {
    "first-body-byte": (flip(_GCM_BODY, 0), _GCM_META),
    "middle-body-byte": (flip(_GCM_BODY, 50, 0x80), _GCM_META),
    "last-ciphertext-byte": (flip(_GCM_BODY, 99), _GCM_META),
    "first-tag-byte": (flip(_GCM_BODY, 100), _GCM_META),
    "last-tag-byte": (flip(_GCM_BODY, -1), _GCM_META),
    "extra-byte-appended": (_GCM_BODY + b"\0", _GCM_META),
    "iv-changed": (_GCM_BODY, {**_GCM_META, "x-amz-iv": b64(flip(V2_IV, 11))}),
    "blocks-swapped": (_GCM_BODY[16:32] + _GCM_BODY[:16] + _GCM_BODY[32:], _GCM_META),
}


@pytest.mark.parametrize(("body", "metadata"), V2_TAMPERING.values(), ids=V2_TAMPERING.keys())
def test_v2_tampering_is_detected(body: bytes, metadata: dict[str, str]) -> None:
    # GIVEN a V2 object with one thing changed
    result: bytes | None = None
    # WHEN it is decrypted in one call
    with pytest.raises(TamperedCiphertextError):
        result = decrypt_bytes(ROOT_KEY, body, metadata)
    # THEN the tag check fails and no plaintext is returned at all
    assert result is None


def test_v2_stream_ends_in_error_when_tampered() -> None:
    # GIVEN a V2 body with one ciphertext bit flipped, read as a stream
    received: list[bytes] = []
    decryptor = Decryptor(ROOT_KEY, _GCM_META)
    # WHEN it is streamed THEN the stream cannot end cleanly
    with pytest.raises(TamperedCiphertextError):
        for piece in decrypt_chunks(decryptor, chunked(flip(_GCM_BODY, 3), 10)):
            received.append(piece)
    # ... although the provisional pieces handed out before the end (everything but the held-back
    # tag) were unverified and carry the flip: this is why only decrypt_bytes, or a reader that
    # waits for finalize, may treat V2 plaintext as the result
    assert b"".join(received) == flip(_PLAIN, 3)


@pytest.mark.parametrize("index", [0, 11, 12, 59], ids=["wrap-iv", "wrap-iv-end", "key", "tag"])
def test_v2_tampered_wrapped_key_is_wrong_root_key(index: int) -> None:
    changed = {**_GCM_META, "x-amz-key-v2": b64(flip(unb64(_GCM_META["x-amz-key-v2"]), index))}
    with pytest.raises(WrongRootKeyError):
        decrypt_bytes(ROOT_KEY, _GCM_BODY, changed)


def test_v2_wrapped_key_is_bound_to_the_content_algorithm() -> None:
    # The wrap's AAD is "AES/GCM/NoPadding"; a key wrapped with another AAD must not unwrap.
    sealed = AESGCM(ROOT_KEY).encrypt(WRAP_IV, DATA_KEY, b"")
    changed = {**_GCM_META, "x-amz-key-v2": b64(WRAP_IV + sealed)}
    with pytest.raises(WrongRootKeyError):
        decrypt_bytes(ROOT_KEY, _GCM_BODY, changed)


# ------------------------------------------------------------------------------------------------
# V1 bodies: one error, one message
# ------------------------------------------------------------------------------------------------

_CBC_PLAIN = b"A" * 40  # three blocks once padded; any block cut out ends in "AAAA", pad 0x41
_CBC_BODY, _CBC_META = fixed_encrypt(_CBC_PLAIN, Format.V1)
_, _CBC_META_OTHER_KEY = fixed_encrypt(_CBC_PLAIN, Format.V1, data_key=bytes(range(0x60, 0x80)))

V1_FAILURES: dict[str, tuple[bytes, dict[str, str]]] = {
    "empty-body": (b"", _CBC_META),
    "truncated-to-15": (_CBC_BODY[:15], _CBC_META),
    "truncated-to-non-multiple": (_CBC_BODY[:-1], _CBC_META),
    "truncated-to-40": (_CBC_BODY[:40], _CBC_META),
    "cut-at-block-boundary": (_CBC_BODY[:32], _CBC_META),
    "cut-to-one-block": (_CBC_BODY[:16], _CBC_META),
    "flipped-last-byte": (flip(_CBC_BODY, -1), _CBC_META),
    "padding-byte-0x11": (flip(_CBC_BODY, 31), _CBC_META),
    "padding-byte-0x00": (flip(_CBC_BODY, 31, 0x10), _CBC_META),
    "padding-inconsistent": (flip(_CBC_BODY, 24), _CBC_META),
    "block-appended": (_CBC_BODY + bytes(16), _CBC_META),
    "wrong-data-key": (_CBC_BODY, _CBC_META_OTHER_KEY),
}


def _v1_failure(body: bytes, metadata: dict[str, str], piece: int | None) -> CiphertextError:
    with pytest.raises(CiphertextError) as excinfo:
        if piece is None:
            decrypt_bytes(ROOT_KEY, body, metadata)
        else:
            decrypt_pieces(ROOT_KEY, metadata, chunked(body, piece))
    return excinfo.value


@pytest.mark.parametrize("piece", [None, 1, 5], ids=["whole", "1-byte-pieces", "5-byte-pieces"])
@pytest.mark.parametrize(("body", "metadata"), V1_FAILURES.values(), ids=V1_FAILURES.keys())
def test_v1_body_failure_is_one_generic_error(
    body: bytes, metadata: dict[str, str], piece: int | None
) -> None:
    # WHEN a V1 body is truncated, padded wrongly or read with the wrong data key
    error = _v1_failure(body, metadata, piece)
    # THEN the error is exactly CiphertextError, never a subclass, with the one fixed message
    assert type(error) is CiphertextError
    assert error.args == (V1_DECRYPT_FAILED,)
    # ... and no underlying exception is chained into tracebacks
    assert error.__cause__ is None
    assert error.__suppress_context__


def test_v1_body_failures_share_one_message() -> None:
    # No padding oracle: every V1 failure reads the same, whatever went wrong.
    messages = {str(_v1_failure(b, m, None)) for b, m in V1_FAILURES.values()}
    messages |= {str(_v1_failure(b, m, 1)) for b, m in V1_FAILURES.values()}
    assert messages == {V1_DECRYPT_FAILED}
    assert "padding" not in V1_DECRYPT_FAILED.lower()


def test_v1_has_no_integrity() -> None:
    # The spec's warning, demonstrated: a flipped bit in block 1 garbles block 1 and flips the same
    # bit in block 2, and the object still "decrypts" without any error.
    tampered = decrypt_bytes(ROOT_KEY, flip(_CBC_BODY, 0), _CBC_META)
    assert tampered != _CBC_PLAIN
    assert tampered[16:] == b"@" + _CBC_PLAIN[17:]


# ------------------------------------------------------------------------------------------------
# Encryptor and Decryptor state machines
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
def test_encryptor_cannot_be_used_after_finalize(fmt: Format) -> None:
    # GIVEN a finalized encryptor
    encryptor = Encryptor(ROOT_KEY, fmt)
    encryptor.update(b"abc")
    encryptor.finalize()
    # THEN update and a second finalize are refused
    with pytest.raises(AlreadyFinalizedError):
        encryptor.update(b"more")
    with pytest.raises(AlreadyFinalizedError):
        encryptor.finalize()


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
def test_decryptor_cannot_be_used_after_finalize(fmt: Format) -> None:
    body, metadata = fixed_encrypt(b"abc", fmt)
    decryptor = Decryptor(ROOT_KEY, metadata)
    assert decryptor.update(body) + decryptor.finalize() == b"abc"
    with pytest.raises(AlreadyFinalizedError):
        decryptor.update(b"more")
    with pytest.raises(AlreadyFinalizedError):
        decryptor.finalize()


def test_complete_metadata_fills_in_the_length_only_after_finalize() -> None:
    encryptor = Encryptor(ROOT_KEY, Format.V2)
    encryptor.update(b"abc")
    assert not encryptor.finalized
    assert encryptor.complete_metadata() == encryptor.metadata
    assert encryptor.complete_metadata().unencrypted_length is None
    encryptor.finalize()
    assert encryptor.finalized
    assert encryptor.complete_metadata().unencrypted_length == 3
    assert encryptor.complete_metadata().wrapped_key == encryptor.metadata.wrapped_key


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
def test_plaintext_shorter_than_announced(fmt: Format) -> None:
    # GIVEN an encryptor told to expect 10 bytes
    encryptor = Encryptor(ROOT_KEY, fmt, plaintext_length=10)
    encryptor.update(b"123456789")
    # WHEN only 9 arrive THEN finalize refuses to complete the object
    with pytest.raises(PlaintextLengthError):
        encryptor.finalize()


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
def test_plaintext_longer_than_announced(fmt: Format) -> None:
    encryptor = Encryptor(ROOT_KEY, fmt, plaintext_length=10)
    encryptor.update(b"12345")
    # WHEN the stream runs past the announced length THEN the update that crosses it fails
    with pytest.raises(PlaintextLengthError):
        encryptor.update(b"123456")


def test_negative_plaintext_length_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        Encryptor(ROOT_KEY, Format.V1, plaintext_length=-1)


def test_v2_refuses_more_than_the_gcm_limit_up_front() -> None:
    with pytest.raises(PlaintextLengthError):
        Encryptor(ROOT_KEY, Format.V2, plaintext_length=2**36)


@pytest.mark.parametrize("name", ["v1", "v2", "v3"])
def test_format_given_as_string(name: str) -> None:
    body, metadata = encrypt_bytes(ROOT_KEY, b"abc", name)
    assert EnvelopeMetadata.parse(metadata).format is Format(name)
    assert decrypt_bytes(ROOT_KEY, body, metadata) == b"abc"


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="v4"):
        Encryptor(ROOT_KEY, "v4")


# ------------------------------------------------------------------------------------------------
# iter_parts and multipart-style encryption
# ------------------------------------------------------------------------------------------------

PART_CASES: dict[str, tuple[int, int, int, list[int]]] = {
    # name: (stream length, incoming chunk size, part size, expected part lengths)
    "exact-multiple": (64, 10, 32, [32, 32]),
    "exact-multiple-one-chunk": (96, 96, 32, [32, 32, 32]),
    "remainder": (70, 10, 32, [32, 32, 6]),
    "shorter-than-one-part": (5, 1, 16, [5]),
    "chunks-bigger-than-parts": (100, 50, 16, [16, 16, 16, 16, 16, 16, 4]),
    "empty-stream": (0, 1, 16, [0]),
}


@pytest.mark.parametrize(
    ("length", "chunk", "part_size", "expected"), PART_CASES.values(), ids=PART_CASES.keys()
)
def test_iter_parts(length: int, chunk: int, part_size: int, expected: list[int]) -> None:
    data = os.urandom(length)
    parts = list(iter_parts(chunked(data, chunk), part_size))
    assert [len(p) for p in parts] == expected
    assert b"".join(parts) == data


def test_iter_parts_of_only_empty_chunks_yields_one_empty_part() -> None:
    assert list(iter_parts([b"", b"", b""], 16)) == [b""]


@pytest.mark.parametrize("part_size", [0, -16, 1, 15, 17, 100])
def test_iter_parts_needs_a_positive_multiple_of_16(part_size: int) -> None:
    with pytest.raises(ValueError, match="multiple of 16"):
        list(iter_parts([b"x" * 64], part_size))


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
def test_multipart_style_encryption(fmt: Format) -> None:
    # GIVEN a 100 kB stream arriving in odd-sized chunks, encrypted as one object,
    # cut into 16 KiB parts
    part_size = 16 * 1024
    plaintext = os.urandom(100_000)
    material = _DataKeyMaterial(DATA_KEY, V1_IV if fmt is Format.V1 else V2_IV, WRAP_IV)
    encryptor = Encryptor(ROOT_KEY, fmt, plaintext_length=len(plaintext), _material=material)
    metadata = encryptor.metadata.to_metadata()  # complete before the first part is sent
    parts = list(iter_parts(encrypt_chunks(encryptor, chunked(plaintext, 4099)), part_size))
    # THEN every part but the last is part_size bytes
    assert all(len(p) == part_size for p in parts[:-1])
    assert 0 < len(parts[-1]) <= part_size
    body = b"".join(parts)
    assert len(body) == encryptor.ciphertext_length
    # ... the parts concatenate to a body that decrypts, whole or part by part
    assert decrypt_bytes(ROOT_KEY, body, metadata) == plaintext
    assert decrypt_pieces(ROOT_KEY, metadata, parts) == plaintext
    if fmt is Format.V1:
        # ... and (spec) the parts are one continuous CBC chain: part 2 decrypts on its own with
        # the last ciphertext block of part 1 as its IV
        part2 = ref_cbc_decrypt_raw(DATA_KEY, parts[0][-16:], parts[1])
        assert part2 == plaintext[part_size : 2 * part_size]


def test_encryptor_accepts_any_buffer_type() -> None:
    material = _DataKeyMaterial(DATA_KEY, V1_IV, WRAP_IV)
    encryptor = Encryptor(ROOT_KEY, Format.V1, _material=material)
    body = encryptor.update(bytearray(b"abc")) + encryptor.update(memoryview(b"def"))
    body += encryptor.finalize()
    assert body == Cipher(algorithms.AES(DATA_KEY), modes.CBC(V1_IV)).encryptor().update(
        b"abcdef" + b"\x0a" * 10
    )
