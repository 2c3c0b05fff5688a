"""Staged objects' user metadata fits S3's 2 KB for every valid key (S3 refuses more with
MetadataTooLarge; moto does not, so the size is measured here on every write).

Every envelope format s3seal writes is covered by parametrising over ``Format``: V1 and V2 today.
V3 (branch ``v3-envelope``) did not exist when this was written; once ``Format.V3`` is merged, it
is covered here without a change.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from s3seal.encrypt.origin import (
    OLDER_VERSIONS_KEPT,
    S3_USER_METADATA_LIMIT,
    SOURCE_OLDER_VERSIONS,
    fit,
    user_metadata_size,
)
from s3seal.envelope import Format
from s3seal.errors import MetadataTooLargeError

from .conftest import FakeContext, Harness

LONGEST_KEY = "€" * 341 + "x"
"""1,024 UTF-8 bytes, S3's longest key, of 3-byte characters (9 bytes each once URL-encoded)."""


def s3_counts(metadata: dict[str, str]) -> int:
    """User metadata as S3 counts it, names with their x-amz-meta- prefix (an upper bound)."""
    return sum(len(f"x-amz-meta-{k}".encode()) + len(v.encode()) for k, v in metadata.items())


@contextmanager
def metadata_sent(h: Harness) -> Iterator[list[dict[str, str]]]:
    """The user metadata of every PutObject and CreateMultipartUpload made through ``h.s3``."""
    sent: list[dict[str, str]] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        sent.append(dict(params.get("Metadata", {})))

    events = ("PutObject", "CreateMultipartUpload")
    for name in events:
        h.s3.meta.events.register(f"provide-client-params.s3.{name}", record)
    try:
        yield sent
    finally:
        for name in events:
            h.s3.meta.events.unregister(f"provide-client-params.s3.{name}", record)


@pytest.mark.parametrize("fmt", list(Format), ids=lambda f: f.value)
@pytest.mark.parametrize("part_size_mib", ["", "5"], ids=["single-put", "multipart"])
def test_a_1024_byte_key_of_3_byte_characters_is_staged_and_verified(
    harness: Harness, context: FakeContext, fmt: Format, part_size_mib: str
) -> None:
    # GIVEN S3's longest key, with older versions for the staged object to list
    assert len(LONGEST_KEY.encode()) == 1024
    body = b"r" * (6 * 1024 * 1024 if part_size_mib else 100)
    for _ in range(OLDER_VERSIONS_KEPT + 2):
        harness.s3.put_object(Bucket=harness.landing, Key=LONGEST_KEY, Body=b"old")
    item = harness.put(LONGEST_KEY, body)
    env = {"ENVELOPE_FORMAT": fmt.value} | (
        {"PART_SIZE_MIB": part_size_mib} if part_size_mib else {}
    )
    # WHEN the function stages it (and verifies it before deleting the plaintext)
    with metadata_sent(harness) as sent:
        response = harness.app(**env).handle(harness.notification(item), context)
    # THEN it was staged, reads back whole, and the metadata written fits S3's 2 KB
    assert response["objects"][0]["action"] == "staged"
    assert harness.staged_plaintext(LONGEST_KEY) == body
    (written,) = sent
    assert SOURCE_OLDER_VERSIONS in written
    assert s3_counts(written) <= S3_USER_METADATA_LIMIT
    _, stored, _ = harness.staged(LONGEST_KEY)
    assert s3_counts(stored) <= S3_USER_METADATA_LIMIT
    assert LONGEST_KEY.encode() not in repr(stored).encode()  # not repeated, in any encoding


def test_fit_shortens_the_older_versions_list_then_refuses() -> None:
    envelope = {"x-amz-key": "k" * 64, "x-amz-iv": "i" * 24, "x-amz-matdesc": "{}"}
    older = [f"{n:032d}" for n in range(OLDER_VERSIONS_KEPT)]
    source = {"s3seal-source-etag": "e" * 32, SOURCE_OLDER_VERSIONS: " ".join(older)}
    # a matdesc that leaves room for only part of the list
    room = S3_USER_METADATA_LIMIT - user_metadata_size(envelope | source) + 33 * 4
    envelope["x-amz-matdesc"] = "{" + "m" * (room - 2) + "}"
    fitted = fit(envelope, source, "s3://b/k")
    assert user_metadata_size(fitted) <= S3_USER_METADATA_LIMIT
    assert (
        fitted[SOURCE_OLDER_VERSIONS].split() == older[: len(fitted[SOURCE_OLDER_VERSIONS].split())]
    )
    assert 0 < len(fitted[SOURCE_OLDER_VERSIONS].split()) < OLDER_VERSIONS_KEPT
    envelope["x-amz-matdesc"] = "m" * S3_USER_METADATA_LIMIT
    with pytest.raises(MetadataTooLargeError, match="s3://b/k"):
        fit(envelope, source, "s3://b/k")
