"""Failure injection against a moto server: a fault at every step of staging one object, then a
retry of the same event. Whatever fails, nothing is lost (the plaintext is still in landing, or
its ciphertext is in staging and decrypts to it), no multipart upload is left behind, and the
retry finishes the job.

Faults go through botocore's own event system on the S3 client the harness hands to the App (see
``Faults`` in conftest), or are real state in moto (the secret deleted or holding a bad key).
"""

from __future__ import annotations

import base64
import copy
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import botocore.endpoint
import pytest

from s3seal.encrypt.admission import ASSUMED_BYTES_PER_SECOND, SAFETY_SECONDS

from .conftest import (
    FakeContext,
    Faults,
    Harness,
    Hits,
    Landed,
    landing_bodies,
    sqs_failed,
    sqs_ok,
    staged_versions,
)

MiB = 1024 * 1024
SIZE = 16 * MiB
"""With 5 MiB parts and the envelope's 16 bytes: four parts (5, 5, 5 and 1 MiB + 16 bytes)."""
PARTS = 4
MULTIPART = {"PART_SIZE_MIB": "5"}
LEGACY_MAX_ATTEMPTS = 5
"""botocore's default ("legacy") retry mode, which the harness's client uses: 5 attempts, and
503 is retried."""

Fired = Callable[[], bool]
"""Whether an armed fault actually happened."""


@pytest.fixture
def backoffs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """botocore's retry delays, recorded instead of slept: only botocore.endpoint (the one place
    that sleeps between attempts) sees the change; its retry decisions are untouched."""
    delays: list[float] = []
    monkeypatch.setattr(botocore.endpoint, "time", SimpleNamespace(sleep=delays.append))
    yield delays


def big_object(h: Harness, key: str = "in/big.bin") -> Landed:
    return h.put(key, os.urandom(SIZE))


def staging_bucket(h: Harness) -> Callable[[dict[str, Any]], bool]:
    return lambda params: params["Bucket"] == h.staging


def landing_bucket(h: Harness) -> Callable[[dict[str, Any]], bool]:
    return lambda params: params["Bucket"] == h.landing


def assert_nothing_lost(h: Harness, item: Landed) -> None:
    """The plaintext is in landing byte-identical, or its ciphertext is staged and decrypts to
    it (or both)."""
    versions = h.versions(h.landing, item.key)
    intact = [v.get("VersionId") for v in versions] == [item.version_id] and landing_bodies(
        h, item.key
    ) == [item.body]
    staged = bool(staged_versions(h, item.key)) and h.staged_plaintext(item.key) == item.body
    assert intact or staged


def assert_staged_and_gone(h: Harness, item: Landed) -> None:
    """Exactly one staged version, decrypting to the object; no plaintext, no delete marker, no
    multipart upload left."""
    versions = staged_versions(h, item.key)
    assert len(versions) == 1 and "Size" in versions[0], versions
    assert h.staged_plaintext(item.key) == item.body
    assert h.versions(h.landing, item.key) == []
    assert h.pending_uploads() == []


def staged_parts(h: Harness, key: str) -> int:
    head = h.s3.head_object(Bucket=h.staging, Key=key, PartNumber=1)
    return int(head.get("PartsCount", 1))


# --- 6. a fault at each step, then a retry ------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    arm: Callable[[Harness, Faults], Fired]
    """Sets the fault up; returns whether it fired."""
    restore: Callable[[Harness], None] = lambda h: None
    """Undoes a change of state in moto before the retry."""
    staged: bool = False
    """The ciphertext is in staging after the failed attempt."""
    plaintext_kept: bool = True
    """The plaintext is still in landing after the failed attempt."""
    started_upload: bool = True
    """A multipart upload was started (and must have been aborted)."""


def _delete_secret(h: Harness, _: Faults) -> Fired:
    h.secrets.delete_secret(SecretId=h.secret_id, ForceDeleteWithoutRecovery=True)
    return lambda: "GetSecretValue" in h.secret_calls


def _recreate_secret(h: Harness) -> None:
    h.secrets.create_secret(Name=h.secret_id, SecretString=h.root_key_b64)


def _short_key(h: Harness, _: Faults) -> Fired:
    # Valid base64, but of 16 bytes: an AES-128 key where s3seal requires 256 bits.
    h.secrets.put_secret_value(
        SecretId=h.secret_id, SecretString=base64.b64encode(os.urandom(16)).decode()
    )
    return lambda: "GetSecretValue" in h.secret_calls


def _restore_key(h: Harness) -> None:
    h.secrets.put_secret_value(SecretId=h.secret_id, SecretString=h.root_key_b64)


def _break_get(after: int) -> Callable[[Harness, Faults], Fired]:
    def arm(h: Harness, faults: Faults) -> Fired:
        hits = faults.break_stream(after=after, when=landing_bucket(h))
        return lambda: len(hits) == 1

    return arm


def _fail(
    operation: str,
    code: str = "InternalError",
    status: int = 500,
    *,
    bucket: Callable[[Harness], Callable[[dict[str, Any]], bool]] = staging_bucket,
    when: Callable[[dict[str, Any]], bool] = lambda p: True,
    applied: bool = False,
) -> Callable[[Harness, Faults], Fired]:
    def arm(h: Harness, faults: Faults) -> Fired:
        in_bucket = bucket(h)
        hits = faults.fail(
            operation,
            code,
            status=status,
            when=lambda p: in_bucket(p) and when(p),
            applied=applied,
        )
        return lambda: len(hits) == 1

    return arm


def _returns_checksum(operation: str, value: str) -> Callable[[Harness, Faults], Fired]:
    """S3's answer to ``operation`` on staging carries ``value`` as the CRC32 of what it stored
    (one that differs from what was sent stands for S3 having stored other bytes)."""

    def arm(h: Harness, faults: Faults) -> Fired:
        hits = Hits()

        def answer(parsed: dict[str, Any], model: Any, **_: Any) -> None:
            hits.add({"Operation": model.name})
            parsed["ChecksumCRC32"] = value

        faults.on(f"after-call.s3.{operation}", answer)
        return lambda: len(hits) == 1

    return arm


WRONG_CRC32 = "AAAAAA=="
"""The CRC32 of no bytes: never that of a ciphertext, which holds at least an IV's worth."""


def _is_part(number: int) -> Callable[[dict[str, Any]], bool]:
    return lambda params: params.get("PartNumber") == number


def _names_version(params: dict[str, Any]) -> bool:
    return "VersionId" in params


FAULTS: dict[str, Fault] = {
    "secret-missing": Fault(_delete_secret, _recreate_secret, started_upload=False),
    "secret-holds-a-128-bit-key": Fault(_short_key, _restore_key, started_upload=False),
    # 1 MiB reads: the body fails while the first two parts are assembled, before the upload
    # starts...
    "get-breaks-after-6-mib": Fault(_break_get(6 * MiB), started_upload=False),
    # ... or once two parts have been uploaded.
    "get-breaks-after-12-mib": Fault(_break_get(12 * MiB)),
    # The version listing runs beside the GET; its failure stops the upload before it is created.
    "version-listing-denied": Fault(
        _fail("ListObjectVersions", "AccessDenied", 403, bucket=landing_bucket),
        started_upload=False,
    ),
    **{
        f"upload-part-{n}-fails": Fault(_fail("UploadPart", when=_is_part(n)))
        for n in range(1, PARTS + 1)
    },
    "completion-fails": Fault(_fail("CompleteMultipartUpload")),
    "completion-applied-but-response-lost": Fault(
        _fail("CompleteMultipartUpload", applied=True), staged=True
    ),
    # The HEAD of the staged key before a multipart upload (a single PUT goes first instead).
    "staged-key-head-fails": Fault(
        _fail("HeadObject", when=lambda p: not _names_version(p)), started_upload=False
    ),
    # The completion's checksum is that of other bytes: the write is not trusted, and removed
    # so that a retry cannot take it for a staged object.
    "completion-checksum-differs": Fault(_returns_checksum("CompleteMultipartUpload", WRONG_CRC32)),
    # moto's completion returns no checksum: the write is verified by a HEAD, which fails.
    "verification-head-fails": Fault(_fail("HeadObject", when=_names_version), staged=True),
    "verification-head-not-found": Fault(
        _fail("HeadObject", "404", 404, when=_names_version), staged=True
    ),
    "plaintext-delete-denied": Fault(
        _fail("DeleteObject", "AccessDenied", 403, bucket=landing_bucket), staged=True
    ),
    "plaintext-delete-applied-but-response-lost": Fault(
        _fail("DeleteObject", bucket=landing_bucket, applied=True),
        staged=True,
        plaintext_kept=False,
    ),
}


def fault_then_retry(h: Harness, context: FakeContext, faults: Faults, fault: Fault) -> None:
    """GIVEN/WHEN/THEN shared by every fault."""
    # GIVEN a 16 MiB object (four 5 MiB parts) and its notification in an SQS message
    item = big_object(h)
    event = h.sqs_event(h.notification(item))
    # AND a fault at one step
    fired = fault.arm(h, faults)
    calls = faults.record()
    # WHEN the message is handled
    response = h.app(**MULTIPART).handle(copy.deepcopy(event), context)
    faults.clear()
    fault.restore(h)
    # THEN the record is reported failed (SQS will redeliver it), and the fault did happen
    assert response == sqs_failed(0)
    assert fired()
    # AND nothing is lost
    assert_nothing_lost(h, item)
    assert landing_bodies(h, item.key) == ([item.body] if fault.plaintext_kept else [])
    if fault.staged:
        assert len(staged_versions(h, item.key)) == 1
        assert h.staged_plaintext(item.key) == item.body
    else:
        assert staged_versions(h, item.key) == []
    # AND no multipart upload is left: one that was started was aborted
    assert len(calls.named("CreateMultipartUpload")) == int(fault.started_upload)
    assert h.pending_uploads() == []
    # WHEN the same message is delivered again, to a fresh container (the key is not cached)
    retry_calls = faults.record()
    response = h.app(**MULTIPART).handle(copy.deepcopy(event), context)
    faults.clear()
    # THEN it succeeds: staged once, decryptable, byte-identical, the plaintext gone
    assert response == sqs_ok()
    assert_staged_and_gone(h, item)
    assert staged_parts(h, item.key) == PARTS
    if fault.staged:
        # the ciphertext already there was checked and kept, not written again
        assert retry_calls.named("CreateMultipartUpload") == []


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_fault_at_each_step_loses_nothing_and_a_retry_finishes(
    harness: Harness, context: FakeContext, faults: Faults, fault: Fault
) -> None:
    fault_then_retry(harness, context, faults, fault)


def test_persistent_throttling_of_every_part(
    harness: Harness, context: FakeContext, faults: Faults, backoffs: list[float]
) -> None:
    # GIVEN S3 answers 503 SlowDown to every attempt of every UploadPart
    armed: dict[str, Hits] = {}

    def arm(h: Harness, f: Faults) -> Fired:
        armed["throttled"] = f.respond("UploadPart", 503, "SlowDown", bucket=h.staging)
        return lambda: len(armed["throttled"]) > 0

    # WHEN, THEN: the record fails once botocore gives up, nothing is lost, the retry finishes
    fault_then_retry(harness, context, faults, Fault(arm))
    # AND botocore did retry each part it sent, as often as its retry mode allows, backing off
    per_part: dict[int, int] = {}
    for attempt in armed["throttled"].items:
        number = int(attempt["partNumber"])
        per_part[number] = per_part.get(number, 0) + 1
    assert 1 in per_part
    assert set(per_part.values()) == {LEGACY_MAX_ATTEMPTS}
    assert len(backoffs) == len(per_part) * (LEGACY_MAX_ATTEMPTS - 1)


# --- 7. transient throttling --------------------------------------------------------------------


def test_transient_throttling_is_absorbed_by_botocore_retries(
    harness: Harness, context: FakeContext, faults: Faults
) -> None:
    # GIVEN a 16 MiB object, and S3 answering 503 SlowDown to the first two UploadPart attempts
    item = big_object(harness)
    throttled = faults.respond("UploadPart", 503, "SlowDown", bucket=harness.staging, attempts=2)
    calls = faults.record()
    # WHEN its event is handled (botocore backs off for real here: at most a few seconds)
    response = harness.app(**MULTIPART).handle(
        harness.sqs_event(harness.notification(item)), context
    )
    faults.clear()
    # THEN it succeeds the first time: botocore retried the throttled attempts
    assert response == sqs_ok()
    assert len(throttled) == 2
    # AND each part was sent by s3seal once (the retries were botocore's), within one upload
    assert sorted(p["PartNumber"] for p in calls.named("UploadPart")) == list(range(1, PARTS + 1))
    assert len(calls.named("CreateMultipartUpload")) == 1
    assert_staged_and_gone(harness, item)
    assert staged_parts(harness, item.key) == PARTS


# --- 8. the invocation's deadline ---------------------------------------------------------------

TRANSFER_SECONDS = SIZE / ASSUMED_BYTES_PER_SECOND
"""What the pipeline assumes the 16 MiB object needs (0.5 s at its assumed throughput)."""


@dataclass
class RunningOutContext(FakeContext):
    """Plenty of time until ``ran_out()``, then less than the pipeline's safety margin."""

    ran_out: Callable[[], bool] = field(default=lambda: False)

    def get_remaining_time_in_millis(self) -> int:
        if self.ran_out():
            return int((SAFETY_SECONDS - 1) * 1000)
        return self.remaining_ms


@pytest.mark.parametrize(
    "remaining_seconds",
    [SAFETY_SECONDS - 1, SAFETY_SECONDS + TRANSFER_SECONDS / 2],
    ids=["less-than-the-safety-margin", "too-little-for-the-size"],
)
def test_too_little_time_is_refused_before_anything_is_read_or_written(
    harness: Harness, faults: Faults, remaining_seconds: float
) -> None:
    # GIVEN a 16 MiB object, and an invocation with too little time left for it
    item = big_object(harness)
    event = harness.sqs_event(harness.notification(item))
    context = FakeContext(remaining_ms=int(remaining_seconds * 1000))
    calls = faults.record()
    # WHEN its event is handled
    response = harness.app(**MULTIPART).handle(copy.deepcopy(event), context)
    faults.clear()
    # THEN the record fails cleanly: nothing read, nothing written, the plaintext untouched
    assert response == sqs_failed(0)
    assert calls.named("GetObject") == []
    assert calls.named("PutObject") == calls.named("CreateMultipartUpload") == []
    assert landing_bodies(harness, item.key) == [item.body]
    assert staged_versions(harness, item.key) == []
    assert harness.pending_uploads() == []
    # AND with enough time (the same margin, twice the assumed transfer time) it is staged
    enough = FakeContext(remaining_ms=int((SAFETY_SECONDS + 2 * TRANSFER_SECONDS) * 1000))
    assert harness.app(**MULTIPART).handle(copy.deepcopy(event), enough) == sqs_ok()
    assert_staged_and_gone(harness, item)


def test_time_running_out_mid_upload_aborts_it_and_keeps_the_plaintext(
    harness: Harness, faults: Faults
) -> None:
    # GIVEN a 16 MiB object, and an invocation whose time runs out once the first part is up
    # (one part in flight at a time, so the next deadline check comes after that part)
    item = big_object(harness)
    event = harness.sqs_event(harness.notification(item))
    first_part_sent = threading.Event()
    faults.on("after-call.s3.UploadPart", lambda **_: first_part_sent.set())
    context = RunningOutContext(ran_out=first_part_sent.is_set)
    calls = faults.record()
    # WHEN its event is handled
    response = harness.app(**MULTIPART, PARTS_IN_FLIGHT="1").handle(copy.deepcopy(event), context)
    faults.clear()
    # THEN the record fails, after the upload had started and before it was completed
    assert response == sqs_failed(0)
    assert first_part_sent.is_set()
    assert len(calls.named("CreateMultipartUpload")) == 1
    assert 1 <= len(calls.named("UploadPart")) < PARTS
    assert calls.named("CompleteMultipartUpload") == []
    # AND the upload was aborted, nothing is staged, the plaintext is kept
    assert len(calls.named("AbortMultipartUpload")) == 1
    assert harness.pending_uploads() == []
    assert staged_versions(harness, item.key) == []
    assert landing_bodies(harness, item.key) == [item.body]
    # AND a redelivery with time enough stages it
    assert harness.app(**MULTIPART).handle(copy.deepcopy(event), FakeContext()) == sqs_ok()
    assert_staged_and_gone(harness, item)


# --- 9. one failing record in an SQS batch ------------------------------------------------------


def test_batch_with_a_failing_upload_reports_only_that_message(
    harness: Harness, context: FakeContext, faults: Faults
) -> None:
    # GIVEN three objects, their notifications in one SQS batch
    items = [harness.put(f"in/batch-{n}.csv", os.urandom(4000 + n)) for n in range(3)]
    event = harness.sqs_event(*(harness.notification(item) for item in items))
    # AND the write of the middle one's ciphertext fails
    middle = items[1]
    failed = faults.fail(
        "PutObject", when=lambda p: p["Bucket"] == harness.staging and p["Key"] == middle.key
    )
    # WHEN the batch is handled
    response = harness.app().handle(event, context)
    faults.clear()
    # THEN only the middle message is reported failed
    assert len(failed) == 1
    assert response == sqs_failed(1)
    # AND the other two are staged and their plaintext gone
    for item in (items[0], items[2]):
        assert_staged_and_gone(harness, item)
    # AND the middle one is untouched in landing, absent from staging
    assert landing_bodies(harness, middle.key) == [middle.body]
    assert staged_versions(harness, middle.key) == []
    # AND its redelivery alone stages it
    redelivery = harness.sqs_event(harness.notification(middle))
    assert harness.app().handle(redelivery, context) == sqs_ok()
    assert_staged_and_gone(harness, middle)


# --- a staged object that is not whole -----------------------------------------------------------


def test_redelivery_does_not_trust_a_truncated_staged_object(
    harness: Harness, context: FakeContext, faults: Faults
) -> None:
    # GIVEN an object staged by a delivery whose delete of the plaintext failed
    item = harness.put("in/truncated.bin", os.urandom(100_000))
    event = harness.sqs_event(harness.notification(item))
    faults.fail("DeleteObject", "AccessDenied", status=403, when=landing_bucket(harness))
    assert harness.app().handle(copy.deepcopy(event), context) == sqs_failed(0)
    faults.clear()
    # AND the staged object then replaced by a truncated copy that still names this version
    body, metadata, _ = harness.staged(item.key)
    harness.s3.put_object(Bucket=harness.staging, Key=item.key, Body=body[:-16], Metadata=metadata)
    # WHEN the event is delivered again
    response = harness.app().handle(copy.deepcopy(event), context)
    # THEN the record fails and the plaintext is kept: only a whole ciphertext stands for it
    assert response == sqs_failed(0)
    assert landing_bodies(harness, item.key) == [item.body]
