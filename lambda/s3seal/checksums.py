"""CRC32 as S3 computes it for ``x-amz-checksum-crc32``, including the full-object CRC of a
multipart upload (``ChecksumType=FULL_OBJECT``) built from its parts' CRCs.

A write is verified by comparing the CRC that S3 returns for what it stored with the one computed
here over the bytes sent, so no HEAD is needed after the write. CRC32 rather than CRC64NVME:
``zlib.crc32`` is in the standard library (CRC64NVME needs botocore's optional CRT extra), and
botocore already sends a CRC32 with every PUT and part by default, which this replaces.

Combining: ``crc32(a + b)`` is ``combine(crc32(a), crc32(b), len(b))``, the operator that
appends ``len(b)`` zero bytes to a CRC being a 32x32 matrix over GF(2) (zlib's
``crc32_combine``, which Python's ``zlib`` does not expose). Parts of one upload share a size,
so the operator for that length is cached and combining a part costs 32 XORs at most.
"""

from __future__ import annotations

import base64
import zlib
from functools import lru_cache

CRC32_POLYNOMIAL = 0xEDB88320
"""The reflected CRC-32 (IEEE 802.3) polynomial, as zlib and S3 use it."""

Matrix = tuple[int, ...]
"""32 columns: column ``n`` is the image of the bit ``1 << n``."""


def crc32(data: bytes, start: int = 0) -> int:
    return zlib.crc32(data, start)


def encode(crc: int) -> str:
    """A CRC32 as S3 writes it: base64 of its four bytes, big-endian."""
    return base64.b64encode(crc.to_bytes(4, "big")).decode("ascii")


def combine(crc1: int, crc2: int, length2: int) -> int:
    """The CRC32 of ``a + b`` from ``crc32(a)``, ``crc32(b)`` and ``len(b)``."""
    if length2 <= 0:
        return crc1
    return _times(_zeros_operator(length2), crc1) ^ crc2


class FullObjectCrc32:
    """The CRC32 of a whole object, fed with its parts' CRCs in order."""

    def __init__(self) -> None:
        self.value = 0
        self.length = 0

    def add(self, part_crc: int, part_length: int) -> None:
        self.value = combine(self.value, part_crc, part_length) if self.length else part_crc
        self.length += part_length

    @property
    def encoded(self) -> str:
        return encode(self.value)


def _times(matrix: Matrix, vector: int) -> int:
    total = 0
    column = 0
    while vector:
        if vector & 1:
            total ^= matrix[column]
        vector >>= 1
        column += 1
    return total


def _square(matrix: Matrix) -> Matrix:
    return tuple(_times(matrix, matrix[n]) for n in range(32))


@lru_cache(maxsize=16)
def _zeros_operator(length: int) -> Matrix:
    """The operator that appends ``length`` zero bytes to a CRC32 (zlib's crc32_combine, with
    the operator kept instead of applied)."""
    one_bit: Matrix = (CRC32_POLYNOMIAL, *(1 << n for n in range(31)))
    power = _square(_square(_square(one_bit)))  # one zero byte: eight zero bits
    result: Matrix | None = None
    while length:
        if length & 1:
            result = power if result is None else tuple(_times(power, c) for c in result)
        length >>= 1
        if length:
            power = _square(power)
    assert result is not None
    return result
