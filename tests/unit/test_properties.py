"""Properties of the envelope core over arbitrary plaintexts, chunkings, bit flips and cuts."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from s3seal.envelope import (
    CiphertextError,
    Decryptor,
    Encryptor,
    EnvelopeMetadata,
    Format,
    TamperedCiphertextError,
    TruncatedCiphertextError,
    WrongRootKeyError,
    decrypt_bytes,
    iter_parts,
)
from s3seal.envelope.errors import V3_DECRYPT_FAILED
from s3seal.envelope.stream import V1_DECRYPT_FAILED, _DataKeyMaterial

from .helpers import (
    DATA_KEY,
    ROOT_KEY,
    V1_IV,
    V2_IV,
    V3_MESSAGE_ID,
    WRAP_IV,
    chunked,
    decrypt_pieces,
    encrypt_pieces,
    ref_cbc_encrypt,
    ref_gcm_encrypt,
    ref_v3_encrypt,
    ref_v3_keys,
    split_at,
)

PROPERTY = settings(max_examples=150, deadline=None, database=None)
FORMATS = [Format.V1, Format.V2, Format.V3]

plaintexts = st.binary(max_size=4096)
small_plaintexts = st.binary(max_size=512)
root_keys = st.binary(min_size=32, max_size=32)


def pieces_of(buffer: bytes) -> st.SearchStrategy[list[bytes]]:
    """Ways to cut ``buffer`` into a stream: 1-byte pieces, fixed sizes, or arbitrary cuts."""
    n = len(buffer)
    one_byte = st.just(list(chunked(buffer, 1)))
    fixed = st.integers(1, max(n, 1)).map(lambda size: list(chunked(buffer, size)))
    cuts = st.lists(st.integers(0, n), max_size=24).map(lambda c: split_at(buffer, c))
    return st.one_of(one_byte, fixed, cuts)


def _body_length(fmt: Format, n: int) -> int:
    return n + 16 - n % 16 if fmt is Format.V1 else n + 16


def _encrypt(root_key: bytes, plaintext: bytes, fmt: Format) -> tuple[bytes, EnvelopeMetadata]:
    encryptor = Encryptor(root_key, fmt, plaintext_length=len(plaintext))
    return encryptor.update(plaintext) + encryptor.finalize(), encryptor.metadata


# ------------------------------------------------------------------------------------------------
# Round trips
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
@PROPERTY
@given(root_key=root_keys, plaintext=plaintexts, data=st.data())
def test_round_trip_with_any_chunking(
    fmt: Format, root_key: bytes, plaintext: bytes, data: st.DataObject
) -> None:
    # GIVEN any plaintext, encrypted in pieces cut anywhere
    encryptor = Encryptor(root_key, fmt, plaintext_length=len(plaintext))
    body = encrypt_pieces(encryptor, data.draw(pieces_of(plaintext), label="plaintext pieces"))
    metadata = encryptor.metadata.to_metadata()
    # THEN the body has the layout's length
    assert len(body) == _body_length(fmt, len(plaintext))
    # WHEN it is decrypted in pieces cut anywhere else, or whole
    pieces = data.draw(pieces_of(body), label="ciphertext pieces")
    # THEN the plaintext comes back either way
    assert decrypt_pieces(root_key, metadata, pieces) == plaintext
    assert decrypt_bytes(root_key, body, metadata) == plaintext


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
@PROPERTY
@given(plaintext=plaintexts, data=st.data())
def test_decryption_does_not_depend_on_chunking(
    fmt: Format, plaintext: bytes, data: st.DataObject
) -> None:
    # GIVEN one body
    body, metadata = _encrypt(ROOT_KEY, plaintext, fmt)
    # WHEN it is decrypted with two independent chunkings
    first = decrypt_pieces(ROOT_KEY, metadata, data.draw(pieces_of(body), label="first"))
    second = decrypt_pieces(ROOT_KEY, metadata, data.draw(pieces_of(body), label="second"))
    # THEN both give the same plaintext
    assert first == second == plaintext


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
@PROPERTY
@given(plaintext=plaintexts, data=st.data())
def test_encryption_does_not_depend_on_chunking(
    fmt: Format, plaintext: bytes, data: st.DataObject
) -> None:
    # With fresh randomness two bodies differ anyway; with fixed material (the known-answer seam)
    # the chunking must make no difference at all, and the bytes are the reference computation's.
    iv = V1_IV if fmt is Format.V1 else V2_IV
    material = _DataKeyMaterial(data_key=DATA_KEY, iv=iv, wrap_iv=WRAP_IV, message_id=V3_MESSAGE_ID)
    chunked_body = encrypt_pieces(
        Encryptor(ROOT_KEY, fmt, _material=material), data.draw(pieces_of(plaintext))
    )
    if fmt is Format.V1:
        expected = ref_cbc_encrypt(DATA_KEY, iv, plaintext)
    elif fmt is Format.V2:
        expected = ref_gcm_encrypt(DATA_KEY, iv, plaintext)
    else:
        expected = ref_v3_encrypt(ref_v3_keys(DATA_KEY, V3_MESSAGE_ID)[1], plaintext)
    assert chunked_body == expected


@PROPERTY
@given(
    description=st.dictionaries(st.text(max_size=12), st.text(max_size=24), max_size=4),
    fmt=st.sampled_from(FORMATS),
    length=st.none() | st.integers(0, 2**35),  # under the GCM limit
)
def test_metadata_round_trips(description: dict[str, str], fmt: Format, length: int | None) -> None:
    encryptor = Encryptor(ROOT_KEY, fmt, description=description, plaintext_length=length)
    written = encryptor.metadata.to_metadata()
    parsed = EnvelopeMetadata.parse(written)
    # V3 does not write the plaintext length (the AWS V3 writers do not)
    expected = encryptor.metadata
    if fmt is Format.V3:
        expected = expected._replace(unencrypted_length=None)
    assert parsed == expected
    assert parsed.description == description
    assert parsed.to_metadata() == written


# ------------------------------------------------------------------------------------------------
# Tampering and truncation
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", [Format.V2, Format.V3], ids=str)
@PROPERTY
@given(plaintext=small_plaintexts, data=st.data())
def test_gcm_any_bit_flip_is_detected(fmt: Format, plaintext: bytes, data: st.DataObject) -> None:
    # GIVEN a V2 or V3 body with any single bit flipped (ciphertext or tag)
    body, metadata = _encrypt(ROOT_KEY, plaintext, fmt)
    bit = data.draw(st.integers(0, len(body) * 8 - 1), label="bit")
    tampered = bytearray(body)
    tampered[bit // 8] ^= 1 << (bit % 8)
    # THEN decryption fails, whole or streamed
    with pytest.raises(TamperedCiphertextError):
        decrypt_bytes(ROOT_KEY, bytes(tampered), metadata)
    with pytest.raises(TamperedCiphertextError):
        decrypt_pieces(ROOT_KEY, metadata, data.draw(pieces_of(bytes(tampered))))


@PROPERTY
@given(plaintext=small_plaintexts, data=st.data())
def test_v1_bit_flip_fails_generically_or_changes_the_plaintext(
    plaintext: bytes, data: st.DataObject
) -> None:
    # GIVEN a V1 body with any single bit flipped
    body, metadata = _encrypt(ROOT_KEY, plaintext, Format.V1)
    bit = data.draw(st.integers(0, len(body) * 8 - 1), label="bit")
    tampered = bytearray(body)
    tampered[bit // 8] ^= 1 << (bit % 8)
    # WHEN it is decrypted
    try:
        result = decrypt_bytes(ROOT_KEY, bytes(tampered), metadata)
    except CiphertextError as error:
        # THEN either it fails with the one generic error (never a subclass, never another type)
        assert type(error) is CiphertextError
        assert str(error) == V1_DECRYPT_FAILED
    else:
        # ... or (V1 has no integrity) it decrypts to something that is not the original
        assert result != plaintext


@PROPERTY
@given(plaintext=small_plaintexts, data=st.data())
def test_v3_any_metadata_bit_flip_is_one_opaque_error(
    plaintext: bytes, data: st.DataObject
) -> None:
    # GIVEN a V3 object with one bit flipped in x-amz-3, x-amz-d or x-amz-i (decoded bytes)
    _body, metadata = _encrypt(ROOT_KEY, plaintext, Format.V3)
    written = metadata.to_metadata()
    name = data.draw(st.sampled_from(["x-amz-3", "x-amz-d", "x-amz-i"]), label="name")
    raw = bytearray(base64.b64decode(written[name]))
    bit = data.draw(st.integers(0, len(raw) * 8 - 1), label="bit")
    raw[bit // 8] ^= 1 << (bit % 8)
    tampered = written | {name: base64.b64encode(bytes(raw)).decode()}
    # THEN decryption fails before any plaintext, with the one message
    with pytest.raises(TamperedCiphertextError) as excinfo:
        Decryptor(ROOT_KEY, tampered)
    assert str(excinfo.value) == V3_DECRYPT_FAILED


@PROPERTY
@given(plaintext=small_plaintexts, data=st.data())
def test_v3_truncation_anywhere_is_one_opaque_error(plaintext: bytes, data: st.DataObject) -> None:
    body, metadata = _encrypt(ROOT_KEY, plaintext, Format.V3)
    cut = data.draw(st.integers(0, len(body) - 1), label="cut")
    with pytest.raises(TamperedCiphertextError) as excinfo:
        decrypt_pieces(ROOT_KEY, metadata, data.draw(pieces_of(body[:cut])))
    assert type(excinfo.value) is TamperedCiphertextError
    assert str(excinfo.value) == V3_DECRYPT_FAILED


@PROPERTY
@given(plaintext=small_plaintexts, data=st.data())
def test_v2_truncation_anywhere_fails(plaintext: bytes, data: st.DataObject) -> None:
    # GIVEN a V2 body cut at any point before its end
    body, metadata = _encrypt(ROOT_KEY, plaintext, Format.V2)
    cut = data.draw(st.integers(0, len(body) - 1), label="cut")
    # THEN decryption raises a CiphertextError: truncated below the tag size, tampered above it
    with pytest.raises(CiphertextError) as excinfo:
        decrypt_bytes(ROOT_KEY, body[:cut], metadata)
    expected = TruncatedCiphertextError if cut < 16 else TamperedCiphertextError
    assert excinfo.type is expected


@PROPERTY
@given(plaintext=small_plaintexts, data=st.data())
def test_v1_truncation_anywhere_never_gives_the_plaintext(
    plaintext: bytes, data: st.DataObject
) -> None:
    body, metadata = _encrypt(ROOT_KEY, plaintext, Format.V1)
    cut = data.draw(st.integers(0, len(body) - 1), label="cut")
    try:
        result = decrypt_bytes(ROOT_KEY, body[:cut], metadata)
    except CiphertextError as error:
        assert type(error) is CiphertextError
        assert str(error) == V1_DECRYPT_FAILED
    else:
        # Only a cut at a block boundary whose new last block happens to end in valid padding
        # decrypts, and then to a shorter plaintext.
        assert cut % 16 == 0
        assert result != plaintext


@pytest.mark.parametrize("fmt", FORMATS, ids=str)
@PROPERTY
@given(plaintext=small_plaintexts, other=root_keys)
def test_decryptor_accepts_only_its_root_key(fmt: Format, plaintext: bytes, other: bytes) -> None:
    body, metadata = _encrypt(ROOT_KEY, plaintext, fmt)
    if other == ROOT_KEY:
        assert decrypt_bytes(other, body, metadata) == plaintext
        return
    # V3: a wrong root key is the same opaque error as any other V3 failure
    with pytest.raises(TamperedCiphertextError if fmt is Format.V3 else WrongRootKeyError):
        Decryptor(other, metadata)


# ------------------------------------------------------------------------------------------------
# iter_parts
# ------------------------------------------------------------------------------------------------


@PROPERTY
@given(
    stream=st.binary(max_size=2048),
    blocks=st.integers(1, 8),
    data=st.data(),
)
def test_iter_parts_recuts_without_loss(stream: bytes, blocks: int, data: st.DataObject) -> None:
    part_size = 16 * blocks
    parts = list(iter_parts(data.draw(pieces_of(stream)), part_size))
    # THEN the parts concatenate to the stream, and all but the last are exactly part_size
    assert b"".join(parts) == stream
    assert all(len(p) == part_size for p in parts[:-1])
    assert 0 < len(parts[-1]) <= part_size or parts == [b""]
    # ... so every part but the last ends on an AES block boundary
    assert all(len(p) % 16 == 0 for p in parts[:-1])
