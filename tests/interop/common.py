"""Helpers both interop suites use: object sizes as test ids, reproducible plaintexts, chunking,
and a byte comparison whose failure message stays short."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

MiB = 1024 * 1024


def size_id(size: int) -> str:
    if size >= MiB:
        whole, rest = divmod(size, MiB)
        return f"{whole}MiB+{rest}-bytes"
    return f"{size}-bytes"


def plaintext_for(key: str, size: int) -> bytes:
    """Reproducible random plaintext, different for every object key."""
    return random.Random(f"{key}:{size}").randbytes(size)


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def assert_same_bytes(got: bytes, expected: bytes, what: str) -> None:
    """Byte equality with a short message (a diff of megabytes would drown the report)."""
    if got == expected:
        return
    first = next(
        (i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b),
        min(len(got), len(expected)),
    )
    pytest.fail(
        f"{what}: {len(got)} bytes, expected {len(expected)}; first difference at offset {first}",
        pytrace=False,
    )
