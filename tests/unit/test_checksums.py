"""CRC32 as S3 writes it, and the full-object CRC of a multipart upload combined from its parts:
checked against ``zlib.crc32`` of the whole, on random splits."""

from __future__ import annotations

import random
import zlib

import pytest

from s3seal.checksums import FullObjectCrc32, combine, crc32, encode

CHECK_INPUT = b"123456789"
CHECK_VALUE = 0xCBF43926
"""The CRC-32/ISO-HDLC check value (the CRC of "123456789"), as catalogued for every CRC."""


def test_crc32_is_the_standard_crc32() -> None:
    assert crc32(CHECK_INPUT) == CHECK_VALUE


def test_encoding_is_base64_of_the_big_endian_bytes() -> None:
    # 0xCBF43926 -> bytes CB F4 39 26 -> "y/Q5Jg=="
    assert encode(CHECK_VALUE) == "y/Q5Jg=="
    assert encode(0) == "AAAAAA=="


@pytest.mark.parametrize("seed", range(20))
def test_combine_of_two_pieces_is_the_crc_of_both(seed: int) -> None:
    rng = random.Random(seed)
    data = rng.randbytes(rng.randint(0, 5000))
    cut = rng.randint(0, len(data))
    a, b = data[:cut], data[cut:]
    assert combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(data)


@pytest.mark.parametrize("seed", range(20))
def test_full_object_crc_of_random_parts_is_the_crc_of_the_whole(seed: int) -> None:
    rng = random.Random(1000 + seed)
    data = rng.randbytes(rng.randint(1, 200_000))
    full = FullObjectCrc32()
    start = 0
    while start < len(data):
        # parts of one size (as in an upload) or of any size, empty ones included
        size = 4096 if seed % 2 else rng.randint(0, 30_000)
        part = data[start : start + size]
        full.add(zlib.crc32(part), len(part))
        start += size
    assert full.value == zlib.crc32(data)
    assert full.length == len(data)
    assert full.encoded == encode(zlib.crc32(data))


def test_appending_nothing_changes_nothing() -> None:
    assert combine(CHECK_VALUE, 0, 0) == CHECK_VALUE
    full = FullObjectCrc32()
    full.add(zlib.crc32(b""), 0)
    assert full.value == zlib.crc32(b"")


def test_large_lengths_combine_as_zlib_does() -> None:
    # A 16 MiB part of zero bytes: crc32 of the zeros, then a tail, against zlib on the whole.
    zeros = bytes(16 * 1024 * 1024)
    tail = b"tail of the object"
    expected = zlib.crc32(zeros + tail)
    assert combine(zlib.crc32(zeros), zlib.crc32(tail), len(tail)) == expected
    assert combine(zlib.crc32(tail), zlib.crc32(zeros), len(zeros)) == zlib.crc32(tail + zeros)
