"""V3 (suite 0x0073, key commitment) against shared/docs/s3-cse-v3.md.

Known answers go through the private seam ``_DataKeyMaterial`` (fixed data key, wrap IV and message
id) and are compared with the independent computation in tests/unit/helpers.py (cryptography's
HKDF and AESGCM). The official client's own objects are in test_vectors.py.
"""

from __future__ import annotations

import base64
import json
import tracemalloc
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from s3seal.envelope import (
    INSTRUCTION_SUFFIX,
    Decryptor,
    Encryptor,
    EnvelopeMetadata,
    Format,
    InvalidRootKeyError,
    MetadataError,
    PlaintextLengthError,
    TamperedCiphertextError,
    decrypt_bytes,
    decrypt_chunks,
    encrypt_bytes,
    needs_instruction_file,
)
from s3seal.envelope.errors import V3_DECRYPT_FAILED
from s3seal.envelope.metadata import ENVELOPE_NAMES
from s3seal.envelope.stream import _DataKeyMaterial

from .helpers import (
    DATA_KEY,
    OTHER_ROOT_KEY,
    ROOT_KEY,
    V3_MESSAGE_ID,
    WRAP_IV,
    b64,
    chunked,
    decrypt_pieces,
    ref_gcm_wrap,
    ref_v3_encrypt,
    ref_v3_keys,
    ref_v3_wrap,
    unb64,
)

SIZES = [0, 1, 15, 16, 17, 1000, 65537]
V3_NAMES = {"x-amz-c", "x-amz-3", "x-amz-w", "x-amz-d", "x-amz-i"}
MATERIAL = _DataKeyMaterial(data_key=DATA_KEY, iv=b"", wrap_iv=WRAP_IV, message_id=V3_MESSAGE_ID)


def fixed_v3(
    plaintext: bytes, description: dict[str, str] | None = None
) -> tuple[bytes, dict[str, str]]:
    encryptor = Encryptor(
        ROOT_KEY,
        Format.V3,
        description=description,
        plaintext_length=len(plaintext),
        _material=MATERIAL,
    )
    body = encryptor.update(plaintext) + encryptor.finalize()
    return body, encryptor.complete_metadata().to_metadata()


# ------------------------------------------------------------------------------------------------
# Writing: known answers and layout
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_v3_known_answer(size: int) -> None:
    # GIVEN a fixed data key, wrap IV and message id
    plaintext = bytes(i % 251 for i in range(size))
    # WHEN s3seal encrypts through the seam
    body, metadata = fixed_v3(plaintext)
    # THEN every byte is the independent computation's
    commitment, derived_key = ref_v3_keys(DATA_KEY, V3_MESSAGE_ID)
    assert metadata == {
        "x-amz-c": "115",
        "x-amz-3": b64(ref_v3_wrap(ROOT_KEY, DATA_KEY, WRAP_IV)),
        "x-amz-w": "02",
        "x-amz-d": b64(commitment),
        "x-amz-i": b64(V3_MESSAGE_ID),
    }
    assert body == ref_v3_encrypt(derived_key, plaintext)
    assert len(body) == size + 16


def test_v3_metadata_layout() -> None:
    # s3-cse-v3.md section 2: exactly c/3/w/d/i; 60-byte wrapped key (80 chars), 28-byte d and i
    # (40 chars); no V1/V2 name, no plaintext length
    _, metadata = encrypt_bytes(ROOT_KEY, b"abc", Format.V3)
    assert set(metadata) == V3_NAMES
    assert len(metadata["x-amz-3"]) == 80 and len(unb64(metadata["x-amz-3"])) == 60
    assert len(metadata["x-amz-d"]) == 40 and len(unb64(metadata["x-amz-d"])) == 28
    assert len(metadata["x-amz-i"]) == 40 and len(unb64(metadata["x-amz-i"])) == 28
    assert V3_NAMES <= ENVELOPE_NAMES


def test_v3_fresh_data_key_and_message_id_per_object() -> None:
    metas = [encrypt_bytes(ROOT_KEY, b"same", Format.V3)[1] for _ in range(20)]
    for name in ("x-amz-3", "x-amz-d", "x-amz-i"):
        assert len({m[name] for m in metas}) == 20
    data_keys = {ref_unwrap_v3(ROOT_KEY, unb64(m["x-amz-3"])) for m in metas}
    assert len(data_keys) == 20


def ref_unwrap_v3(root_key: bytes, wrapped: bytes) -> bytes:
    return AESGCM(root_key).decrypt(wrapped[:12], wrapped[12:], b"115")


def test_v3_materials_description_goes_in_x_amz_m() -> None:
    description = {"secret": "arn:aws:secretsmanager:eu-west-1:1:secret:k", "version": "v-1"}
    body, metadata = encrypt_bytes(ROOT_KEY, b"abc", Format.V3, description=description)
    assert set(metadata) == V3_NAMES | {"x-amz-m"}
    assert json.loads(metadata["x-amz-m"]) == description
    assert EnvelopeMetadata.parse(metadata).description == description
    assert decrypt_bytes(ROOT_KEY, body, metadata) == b"abc"


def test_v3_x_amz_m_is_not_authenticated_but_only_describes() -> None:
    # A swapped x-amz-m changes what the envelope *says* about the key, not what decrypts: the
    # GCM key wrap (AAD "115") and the commitment still authenticate the data key.
    body, metadata = encrypt_bytes(ROOT_KEY, b"abc", Format.V3, description={"version": "a"})
    swapped = metadata | {"x-amz-m": '{"version":"b"}'}
    assert decrypt_bytes(ROOT_KEY, body, swapped) == b"abc"
    with pytest.raises(TamperedCiphertextError):
        decrypt_bytes(OTHER_ROOT_KEY, body, swapped)


def test_v3_key_wrap_is_bound_to_the_suite() -> None:
    # A V2 wrap (AAD "AES/GCM/NoPadding") of the same data key does not unwrap as V3
    body, metadata = fixed_v3(b"abc")
    v2_wrapped = ref_gcm_wrap(ROOT_KEY, DATA_KEY, WRAP_IV)
    with pytest.raises(TamperedCiphertextError):
        decrypt_bytes(ROOT_KEY, body, metadata | {"x-amz-3": b64(v2_wrapped)})


def test_v3_round_trip_streamed_and_multipart_style() -> None:
    plaintext = bytes(range(256)) * 300
    encryptor = Encryptor(ROOT_KEY, Format.V3)
    body = b"".join(encryptor.update(c) for c in chunked(plaintext, 4099)) + encryptor.finalize()
    metadata = encryptor.complete_metadata().to_metadata()
    assert "x-amz-unencrypted-content-length" not in metadata
    decryptor = Decryptor(ROOT_KEY, metadata)
    assert b"".join(decrypt_chunks(decryptor, chunked(body, 1))) == plaintext


def test_v3_root_key_must_be_32_bytes() -> None:
    _body, metadata = fixed_v3(b"abc")
    with pytest.raises(InvalidRootKeyError):
        Encryptor(ROOT_KEY[:16], Format.V3)
    with pytest.raises(InvalidRootKeyError):
        Decryptor(ROOT_KEY[:16], metadata)


# ------------------------------------------------------------------------------------------------
# Instruction files
# ------------------------------------------------------------------------------------------------


def _split(metadata: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    on_object = {k: v for k, v in metadata.items() if k in {"x-amz-c", "x-amz-d", "x-amz-i"}}
    instruction = {k: v for k, v in metadata.items() if k not in on_object}
    return on_object, instruction


def test_instruction_file_layout_is_read() -> None:
    body, metadata = fixed_v3(b"instruction file layout", description={"kid": "1"})
    on_object, instruction = _split(metadata)
    assert INSTRUCTION_SUFFIX == ".instruction"
    assert needs_instruction_file(on_object)
    assert needs_instruction_file({"x-amz-meta-" + k: v for k, v in on_object.items()})
    assert not needs_instruction_file(metadata)
    envelope = EnvelopeMetadata.parse(on_object, instruction=instruction)
    assert envelope == EnvelopeMetadata.parse(metadata)
    assert decrypt_bytes(ROOT_KEY, body, envelope) == b"instruction file layout"


def test_instruction_file_needed_but_missing_says_so() -> None:
    _, metadata = fixed_v3(b"abc")
    on_object, _ = _split(metadata)
    with pytest.raises(MetadataError, match=r"instruction file \(KEY\.instruction\)"):
        EnvelopeMetadata.parse(on_object)
    with pytest.raises(MetadataError, match="instruction file"):
        Decryptor(ROOT_KEY, on_object)


@pytest.mark.parametrize("name", ["x-amz-c", "x-amz-d", "x-amz-i"])
def test_instruction_file_holding_object_names_is_refused(name: str) -> None:
    # Java: "Instruction file is tampered"; even when the value equals the object's
    _body, metadata = fixed_v3(b"abc")
    on_object, instruction = _split(metadata)
    with pytest.raises(TamperedCiphertextError) as excinfo:
        EnvelopeMetadata.parse(on_object, instruction=instruction | {name: metadata[name]})
    assert str(excinfo.value) == V3_DECRYPT_FAILED


def test_instruction_file_with_another_objects_key_is_refused() -> None:
    # An instruction file from another object (another data key) fails the commitment
    body, metadata = fixed_v3(b"abc")
    _, other = encrypt_bytes(ROOT_KEY, b"abc", Format.V3)
    on_object, _ = _split(metadata)
    _, other_instruction = _split(other)
    swapped = EnvelopeMetadata.parse(on_object, instruction=other_instruction)
    _assert_opaque(lambda: decrypt_bytes(ROOT_KEY, body, swapped))


# ------------------------------------------------------------------------------------------------
# Tampering: one opaque error for every failure
# ------------------------------------------------------------------------------------------------

_PLAIN = bytes(range(100))
_BODY, _META = fixed_v3(_PLAIN)


def _assert_opaque(call: Callable[[], object]) -> None:
    with pytest.raises(TamperedCiphertextError) as excinfo:
        call()
    assert type(excinfo.value) is TamperedCiphertextError
    assert str(excinfo.value) == V3_DECRYPT_FAILED
    assert excinfo.value.__cause__ is None
    assert excinfo.value.__suppress_context__ or excinfo.value.__context__ is None


def _flip(text: str, index: int = 0) -> str:
    raw = bytearray(unb64(text))
    raw[index] ^= 0x01
    return b64(bytes(raw))


TAMPERED_METADATA: dict[str, dict[str, str | None]] = {
    "x-amz-d-bit-flip": {"x-amz-d": _flip(_META["x-amz-d"])},
    "x-amz-d-last-byte": {"x-amz-d": _flip(_META["x-amz-d"], 27)},
    "x-amz-d-short": {"x-amz-d": b64(unb64(_META["x-amz-d"])[:27])},
    "x-amz-d-missing": {"x-amz-d": None},
    "x-amz-d-not-base64": {"x-amz-d": "%%%"},
    "x-amz-i-bit-flip": {"x-amz-i": _flip(_META["x-amz-i"])},
    "x-amz-i-short": {"x-amz-i": b64(V3_MESSAGE_ID[:27])},
    "x-amz-i-long": {"x-amz-i": b64(V3_MESSAGE_ID + b"\0")},
    "x-amz-i-missing": {"x-amz-i": None},
    "x-amz-3-wrap-iv": {"x-amz-3": _flip(_META["x-amz-3"])},
    "x-amz-3-wrapped-key": {"x-amz-3": _flip(_META["x-amz-3"], 20)},
    "x-amz-3-wrap-tag": {"x-amz-3": _flip(_META["x-amz-3"], 59)},
    "x-amz-3-short": {"x-amz-3": b64(unb64(_META["x-amz-3"])[:59])},
    "x-amz-3-16-byte-key": {"x-amz-3": b64(ref_v3_wrap(ROOT_KEY, DATA_KEY[:16], WRAP_IV))},
    "x-amz-c-114": {"x-amz-c": "114"},
    "x-amz-c-v2-name": {"x-amz-c": "AES/GCM/NoPadding"},
    "x-amz-c-missing-with-3": {"x-amz-c": None},
    "x-amz-w-kms": {"x-amz-w": "12"},
    "x-amz-w-rsa": {"x-amz-w": "22"},
    "x-amz-w-v2-name": {"x-amz-w": "AES/GCM"},
    "x-amz-w-missing": {"x-amz-w": None},
    "x-amz-m-not-json": {"x-amz-m": "{kid"},
}


@pytest.mark.parametrize("changes", TAMPERED_METADATA.values(), ids=TAMPERED_METADATA.keys())
def test_v3_tampered_metadata_is_one_opaque_error(changes: dict[str, str | None]) -> None:
    metadata = {k: v for k, v in (_META | changes).items() if v is not None}
    # THEN it fails before any plaintext exists (constructor), with the one error
    _assert_opaque(lambda: Decryptor(ROOT_KEY, metadata))
    _assert_opaque(lambda: decrypt_bytes(ROOT_KEY, _BODY, metadata))


def test_v3_wrong_root_key_is_the_same_opaque_error() -> None:
    _assert_opaque(lambda: Decryptor(OTHER_ROOT_KEY, _META))


def test_v3_commitment_is_checked_before_decrypting() -> None:
    # GIVEN the right data key and body but a commitment for another message id: the content key
    # would still be derivable, yet the Decryptor refuses in its constructor, before any update()
    commitment, _ = ref_v3_keys(DATA_KEY, bytes(28))
    _assert_opaque(lambda: Decryptor(ROOT_KEY, _META | {"x-amz-d": b64(commitment)}))


BODY_TAMPERING: dict[str, bytes] = {
    "first-byte": bytes([_BODY[0] ^ 1]) + _BODY[1:],
    "last-ciphertext-byte": _BODY[:99] + bytes([_BODY[99] ^ 1]) + _BODY[100:],
    "tag": _BODY[:-1] + bytes([_BODY[-1] ^ 0x80]),
    "truncated-mid-way": _BODY[:50],
    "truncated-tag": _BODY[:-1],
    "shorter-than-tag": _BODY[:15],
    "empty": b"",
    "extended": _BODY + b"\0",
}


@pytest.mark.parametrize("body", BODY_TAMPERING.values(), ids=BODY_TAMPERING.keys())
@pytest.mark.parametrize("piece", [None, 1, 7, 64])
def test_v3_tampered_body_is_one_opaque_error(body: bytes, piece: int | None) -> None:
    if piece is None:
        _assert_opaque(lambda: decrypt_bytes(ROOT_KEY, body, _META))
    else:
        _assert_opaque(lambda: decrypt_pieces(ROOT_KEY, _META, chunked(body, piece)))


def test_v3_refuses_more_than_the_gcm_limit_up_front() -> None:
    with pytest.raises(PlaintextLengthError):
        Encryptor(ROOT_KEY, Format.V3, plaintext_length=2**36)


# ------------------------------------------------------------------------------------------------
# Memory: flat in object size
# ------------------------------------------------------------------------------------------------


def _peak(fmt: Format, total: int, chunk: int = 64 * 1024) -> int:
    """Peak traced allocation while streaming ``total`` bytes through encrypt and decrypt."""
    piece = bytes(chunk)
    tracemalloc.start()
    try:
        encryptor = Encryptor(ROOT_KEY, fmt)
        decryptor: Decryptor | None = None
        for _ in range(total // chunk):
            out = encryptor.update(piece)
            if decryptor is None:
                decryptor = Decryptor(ROOT_KEY, encryptor.metadata)
            decryptor.update(out)
        assert decryptor is not None
        decryptor.update(encryptor.finalize())
        decryptor.finalize()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_v3_memory_does_not_grow_with_object_size() -> None:
    small = _peak(Format.V3, 1 * 1024 * 1024)
    large = _peak(Format.V3, 16 * 1024 * 1024)
    # a few chunks in flight either way; 16x the object must not cost more than ~1 chunk more
    assert large < small + 64 * 1024
    assert large < 8 * 64 * 1024


def test_base64_is_standard_and_padded() -> None:
    _, metadata = encrypt_bytes(ROOT_KEY, b"", Format.V3)
    for name in ("x-amz-3", "x-amz-d", "x-amz-i"):
        assert base64.b64encode(base64.b64decode(metadata[name])).decode() == metadata[name]
