"""Requests per object: what the encrypting function sends to S3 for one object, counted on the
wire (every HTTP attempt botocore makes, retries included) against a moto server.

The common path (issue 12): an S3 notification with a versionId and a sequencer, for a key not
yet staged, takes at most 4 requests: GET, the version listing, PUT and DELETE. The refused and
retry paths (a redelivery, a newer or older version of a staged key, a racing writer) add the
HEAD of the staged key that the common path leaves out, and a second PUT only to replace.
"""

from __future__ import annotations

import collections
import dataclasses
import gzip
import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from s3seal.encrypt.origin import SOURCE_VERSION

from .conftest import FakeContext, Faults, Harness, Landed, sqs_failed, sqs_ok, staged_versions

MiB = 1024 * 1024
COMMON_PATH_REQUESTS = 4
COMMON_PATH = collections.Counter(
    {"GetObject": 1, "ListObjectVersions": 1, "PutObject": 1, "DeleteObject": 1}
)


class Wire:
    """Every HTTP request the client sends, as its operation name and its parameters' traces."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()
        self.sent: list[tuple[str, dict[str, str]]] = []

    def _note(self, request: Any, event_name: str, **_: Any) -> None:
        headers = {
            k.lower(): v.decode() if isinstance(v, bytes) else str(v)
            for k, v in request.headers.items()
        }
        with self._lock:
            self.sent.append((event_name.rsplit(".", 1)[-1], headers))

    def __enter__(self) -> Wire:
        self._client.meta.events.register("before-send.s3", self._note)
        return self

    def __exit__(self, *_: object) -> None:
        self._client.meta.events.unregister("before-send.s3", self._note)

    def reset(self) -> None:
        with self._lock:
            self.sent.clear()

    @property
    def operations(self) -> collections.Counter[str]:
        return collections.Counter(name for name, _ in self.sent)

    def headers(self, operation: str) -> list[dict[str, str]]:
        return [headers for name, headers in self.sent if name == operation]


@pytest.fixture
def wire(harness: Harness) -> Iterator[Wire]:
    with Wire(harness.s3) as recording:
        yield recording


def handle(h: Harness, *items: Landed, **env: str) -> dict[str, Any]:
    return h.app(**env).handle(h.sqs_event(*(h.notification(i) for i in items)), FakeContext())


def stage_first(h: Harness, item: Landed, **env: str) -> None:
    """``item`` staged by an earlier delivery (outside any recording)."""
    assert handle(h, item, **env) == sqs_ok()


# --- the common path ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "env",
    [{}, {"ENVELOPE_FORMAT": "v2"}, {"COMPRESSION": "gzip"}],
    ids=["v3", "v2", "gzip"],
)
def test_common_path_takes_at_most_4_requests_per_object(
    harness: Harness, wire: Wire, env: dict[str, str]
) -> None:
    # GIVEN ten small objects, not yet staged, their notifications (versionId and sequencer) in
    # one SQS batch
    items = [harness.put(f"in/common-{n}.csv", os.urandom(2000 + n)) for n in range(10)]
    wire.reset()
    # WHEN the batch is handled
    assert handle(harness, *items, **env) == sqs_ok()
    # THEN every object took a GET, a version listing, a PUT and a DELETE: 4 requests, no HEAD
    assert wire.operations == collections.Counter(
        {name: count * len(items) for name, count in COMMON_PATH.items()}
    )
    assert sum(wire.operations.values()) <= COMMON_PATH_REQUESTS * len(items)
    # AND each PUT was create-only and carried the CRC32 it was verified by
    for headers in wire.headers("PutObject"):
        assert headers["if-none-match"] == "*"
        assert "x-amz-checksum-crc32" in headers
    # AND every object is staged and its plaintext gone
    gzipped = env.get("COMPRESSION") == "gzip"
    for item in items:
        plaintext = harness.staged_plaintext(item.key + (".gz" if gzipped else ""))
        assert (gzip.decompress(plaintext) if gzipped else plaintext) == item.body
        assert harness.versions(harness.landing, item.key) == []


def test_an_unversioned_landing_bucket_takes_3_requests(harness: Harness, wire: Wire) -> None:
    # GIVEN a landing bucket that never had versioning, and an object's notification (an ETag,
    # no versionId)
    name = f"landing-plain-{os.urandom(4).hex()}"
    harness.s3.create_bucket(Bucket=name)
    h = dataclasses.replace(harness, landing=name)
    item = h.put("in/plain.csv", os.urandom(3000))
    wire.reset()
    # WHEN it is handled
    assert handle(h, item) == sqs_ok()
    # THEN a GET conditional on the event's ETag (no HEAD), a PUT and a conditional DELETE; no
    # listing, as there are no versions to order
    assert wire.operations == collections.Counter(
        {"GetObject": 1, "PutObject": 1, "DeleteObject": 1}
    )
    (get,) = wire.headers("GetObject")
    assert get["if-match"] == f'"{item.etag}"'
    assert h.staged_plaintext(item.key) == item.body


def test_multipart_looks_at_staging_first(harness: Harness, wire: Wire) -> None:
    # GIVEN an object of three 5 MiB parts
    item = harness.put("in/large.bin", os.urandom(11 * MiB))
    wire.reset()
    # WHEN it is handled
    assert handle(harness, item, PART_SIZE_MIB="5") == sqs_ok()
    # THEN one HEAD of the staged key came before the upload (a refused completion would cost
    # the whole upload); the completion carried the full-object CRC32 of the ciphertext
    ops = wire.operations
    assert ops["GetObject"] == ops["ListObjectVersions"] == ops["DeleteObject"] == 1
    assert ops["CreateMultipartUpload"] == ops["CompleteMultipartUpload"] == 1
    assert ops["UploadPart"] == 3
    (create,) = wire.headers("CreateMultipartUpload")
    assert create["x-amz-checksum-algorithm"] == "CRC32"
    assert create["x-amz-checksum-type"] == "FULL_OBJECT"
    assert all("x-amz-checksum-crc32" in part for part in wire.headers("UploadPart"))
    (complete,) = wire.headers("CompleteMultipartUpload")
    assert complete["x-amz-checksum-type"] == "FULL_OBJECT"
    assert "x-amz-checksum-crc32" in complete
    assert int(complete["x-amz-mp-object-size"]) == 11 * MiB + 16
    # AND moto's completion returns no checksum, so the write was verified by a HEAD: two in all
    assert ops["HeadObject"] == 2
    assert harness.staged_plaintext(item.key) == item.body


def test_multipart_verified_by_the_completion_checksum_needs_no_head(
    harness: Harness, faults: Faults, wire: Wire
) -> None:
    # GIVEN S3 answers the completion with the full-object CRC32 of what it stored, as S3 does
    # (moto returns none): here the one the completion carried
    sent: list[str] = []

    def note(params: dict[str, Any], **_: Any) -> None:
        sent.append(params["ChecksumCRC32"])

    def answer(parsed: dict[str, Any], **_: Any) -> None:
        parsed["ChecksumCRC32"] = sent[-1]

    faults.on("before-parameter-build.s3.CompleteMultipartUpload", note)
    faults.on("after-call.s3.CompleteMultipartUpload", answer)
    item = harness.put("in/large-checked.bin", os.urandom(11 * MiB))
    wire.reset()
    # WHEN it is handled
    assert handle(harness, item, PART_SIZE_MIB="5") == sqs_ok()
    faults.clear()
    # THEN the only HEAD is the look at staging before the upload: none verified the write
    assert wire.operations["HeadObject"] == 1
    assert harness.staged_plaintext(item.key) == item.body


# --- refused and retry paths --------------------------------------------------------------------


def test_redelivery_of_a_staged_version_is_refused_then_recognised(
    harness: Harness, faults: Faults, wire: Wire
) -> None:
    # GIVEN an object staged by a delivery whose delete of the plaintext failed
    item = harness.put("in/redelivered.csv", os.urandom(3000))
    faults.fail("DeleteObject", "AccessDenied", status=403, when=lambda p: "VersionId" in p)
    assert handle(harness, item) == sqs_failed(0)
    faults.clear()
    wire.reset()
    # WHEN the event is delivered again
    assert handle(harness, item) == sqs_ok()
    # THEN its create-only PUT was refused, one HEAD of the staged key recognised the version,
    # and only the plaintext was deleted: 5 requests, nothing written
    assert wire.operations == COMMON_PATH + collections.Counter({"HeadObject": 1})
    assert len(staged_versions(harness, item.key)) == 1
    assert harness.versions(harness.landing, item.key) == []


def test_a_newer_version_replaces_the_staged_one_without_reading_it_again(
    harness: Harness, wire: Wire
) -> None:
    # GIVEN v1 of a key staged, then v2 written
    v1 = harness.put("in/newer.csv", b"version one\n")
    stage_first(harness, v1)
    v2 = harness.put("in/newer.csv", b"version two, longer\n")
    wire.reset()
    # WHEN v2's event is handled
    assert handle(harness, v2) == sqs_ok()
    # THEN its create-only PUT was refused; a HEAD, the decision to replace, and the same
    # ciphertext sent again with If-Match on the staged ETag: no second GET or encryption
    assert wire.operations == COMMON_PATH + collections.Counter({"HeadObject": 1, "PutObject": 1})
    first, second = wire.headers("PutObject")
    assert first["if-none-match"] == "*" and "if-match" not in first
    assert second["if-match"].startswith('"') and "if-none-match" not in second
    assert first["x-amz-checksum-crc32"] == second["x-amz-checksum-crc32"]
    assert harness.staged_plaintext(v2.key) == v2.body
    metadata = harness.s3.head_object(Bucket=harness.staging, Key=v2.key)["Metadata"]
    assert metadata[SOURCE_VERSION] == v2.version_id


def test_an_older_version_is_refused_and_only_its_plaintext_deleted(
    harness: Harness, wire: Wire
) -> None:
    # GIVEN v2 of a key staged while v1's event is still on its way
    v1 = harness.put("in/older.csv", b"version one\n")
    v2 = harness.put("in/older.csv", b"version two, longer\n")
    stage_first(harness, v2)
    wire.reset()
    # WHEN v1's (late) event is handled
    assert handle(harness, v1) == sqs_ok()
    # THEN its PUT was refused, the HEAD showed a newer version, and v1's plaintext went
    assert wire.operations == COMMON_PATH + collections.Counter({"HeadObject": 1})
    assert len(staged_versions(harness, v2.key)) == 1
    assert harness.staged_plaintext(v2.key) == v2.body
    assert harness.versions(harness.landing, v2.key) == []


def test_a_conflict_between_racing_writers_is_looked_at_and_written_again(
    harness: Harness, faults: Faults, wire: Wire
) -> None:
    # GIVEN S3 answers the first PUT to staging with 409 ConditionalRequestConflict (another
    # conditional write to the key was in progress), which leaves nothing written
    conflict = faults.respond(
        "PutObject", 409, "ConditionalRequestConflict", bucket=harness.staging, attempts=1
    )
    item = harness.put("in/conflict.csv", os.urandom(3000))
    wire.reset()
    # WHEN the event is handled
    assert handle(harness, item) == sqs_ok()
    # THEN the HEAD found nothing staged, and the same ciphertext was written create-only again
    assert len(conflict) == 1
    assert wire.operations == COMMON_PATH + collections.Counter({"HeadObject": 1, "PutObject": 1})
    assert [h["if-none-match"] for h in wire.headers("PutObject")] == ["*", "*"]
    assert harness.staged_plaintext(item.key) == item.body
    assert harness.versions(harness.landing, item.key) == []


def test_an_event_for_a_version_already_gone_takes_one_get(harness: Harness, wire: Wire) -> None:
    # GIVEN an object staged, and its event delivered again
    item = harness.put("in/done.csv", os.urandom(3000))
    stage_first(harness, item)
    wire.reset()
    # WHEN the redelivery is handled
    assert handle(harness, item) == sqs_ok()
    # THEN the GET found no such version; the listing sent beside it is the only other request
    assert wire.operations == collections.Counter({"GetObject": 1, "ListObjectVersions": 1})


# --- unversioned staging buckets ----------------------------------------------------------------


@pytest.mark.parametrize("versioning", ["never", "suspended"])
@pytest.mark.parametrize("size", [3000, 11 * MiB], ids=["single-put", "multipart"])
def test_an_unversioned_staging_bucket_is_written_and_verified(
    harness: Harness, faults: Faults, versioning: str, size: int
) -> None:
    # GIVEN a staging bucket that reports no version (never versioned) or "null" (suspended)
    name = f"staging-plain-{os.urandom(4).hex()}"
    harness.s3.create_bucket(Bucket=name)
    if versioning == "suspended":
        harness.s3.put_bucket_versioning(
            Bucket=name, VersioningConfiguration={"Status": "Suspended"}
        )
    h = dataclasses.replace(harness, staging=name)
    item = h.put("in/plainstaging.bin", os.urandom(size))
    calls = faults.record()
    # WHEN the object is staged there
    response = h.app(PART_SIZE_MIB="5").handle(h.notification(item), FakeContext())
    faults.clear()
    # THEN it is staged and verified (by the PUT's checksum; for moto's multipart completion,
    # which returns none, by a HEAD that names no version) and the plaintext is gone
    assert response["objects"][0]["action"] == "staged"
    assert h.staged_plaintext(item.key) == item.body
    assert h.versions(h.landing, item.key) == []
    heads = calls.named("HeadObject", name)
    assert all("VersionId" not in head for head in heads)
    assert len(heads) == (2 if size > 5 * MiB else 0)
