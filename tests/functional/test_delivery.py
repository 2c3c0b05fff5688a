"""At-least-once, out-of-order, concurrent delivery against a moto server: redeliveries, races
between deliveries of one event, versions of one key in either order, events for objects that
are gone or changed, and unversioned landing buckets.

Concurrency: the moto server handles requests on threads, but its conditional checks
(``If-None-Match``/``If-Match``) are not atomic with the write they guard: three concurrent
``CompleteMultipartUpload`` with ``If-None-Match: *`` all succeed there, where S3 lets one win.
So every concurrent test sends the conditional writes to staging (PUT, completion) one at a time,
which is what S3's atomic conditional write amounts to; everything else interleaves freely.
The "free" tests then just start the deliveries together. The "lockstep" tests also hold every
racing writer at the conditional write until all of them have decided on the same stale view of
staging, then release them one after another: the race the function must survive (a decision
taken on a stale view) is forced, not left to timing.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import quote_plus

import pytest

from s3seal.encrypt.handler import App
from s3seal.encrypt.origin import SOURCE_ETAG, SOURCE_VERSION

from .conftest import (
    FakeContext,
    Faults,
    Harness,
    Landed,
    Params,
    landing_bodies,
    load_event,
    sqs_ok,
    staged_versions,
)

MiB = 1024 * 1024
MULTIPART = {"PART_SIZE_MIB": "5"}
STAGGER_SECONDS = 0.3
"""Between the released writers of a lockstep race: enough for moto to finish one write."""
BARRIER_TIMEOUT = 20.0

T = TypeVar("T")


def run_together(calls: list[Callable[[], T]]) -> list[T]:
    """Run ``calls`` on one thread each, released together by a barrier; their results in order
    (an exception in any is raised here)."""
    start = threading.Barrier(len(calls))

    def released(call: Callable[[], T]) -> T:
        start.wait(timeout=BARRIER_TIMEOUT)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(released, call) for call in calls]
        return [future.result(timeout=120) for future in futures]


def lockstep(
    faults: Faults,
    operation: str,
    bucket: str,
    writers: int,
    rank: Callable[[Params], int] | None = None,
) -> Any:
    """Hold the first ``writers`` ``operation`` calls to ``bucket`` until all of them are about
    to be sent, then release them ``STAGGER_SECONDS`` apart (in ``rank`` order if given).

    Returns the hook's hits: one per writer that took part in the race.
    """
    barrier = threading.Barrier(writers)

    def hold(params: Params) -> None:
        arrival = barrier.wait(timeout=BARRIER_TIMEOUT)
        time.sleep((rank(params) if rank else arrival) * STAGGER_SECONDS)

    return faults.before(
        operation,
        hold,
        when=lambda p: p["Bucket"] == bucket,
        calls=range(1, writers + 1),
    )


def atomic_conditional_writes(faults: Faults, bucket: str) -> None:
    """Send PUTs and multipart completions to ``bucket`` one at a time (see the module
    docstring): a write's condition is then checked and applied as one step, as S3 does."""
    lock = threading.Lock()
    held = threading.local()

    def acquire(_: Params) -> None:
        assert lock.acquire(timeout=BARRIER_TIMEOUT)
        held.lock = True

    def release(**_: Any) -> None:
        if getattr(held, "lock", False):
            held.lock = False
            lock.release()

    for operation in ("PutObject", "CompleteMultipartUpload"):
        faults.before(operation, acquire, when=lambda p: p["Bucket"] == bucket)
        faults.on(f"after-call.s3.{operation}", release)


def only_version(h: Harness, key: str) -> dict[str, Any]:
    """The one staged version of ``key``: exactly one, and not a delete marker."""
    versions = staged_versions(h, key)
    assert len(versions) == 1, versions
    assert "Size" in versions[0], versions
    return versions[0]


def staged_source_version(h: Harness, key: str) -> str | None:
    """The landing version the current staged object names as its source."""
    metadata: dict[str, str] = h.s3.head_object(Bucket=h.staging, Key=key)["Metadata"]
    return metadata.get(SOURCE_VERSION)


def batch_job(*landed: Landed) -> dict[str, Any]:
    """An S3 Batch Operations (schema 2.0) invocation with one task per landed version: like
    every Batch Operations task, it carries no event sequencer."""
    event = load_event("batch_operations_2.0.json")
    template = event["tasks"][0]
    event["tasks"] = [
        dict(
            template,
            taskId=f"task-{number}",
            s3Bucket=item.bucket,
            s3Key=quote_plus(item.key, safe="/"),
            s3VersionId=item.version_id,
        )
        for number, item in enumerate(landed)
    ]
    return event


def succeeded(response: dict[str, Any]) -> list[str]:
    return [result["resultCode"] for result in response["results"]]


def unversioned(h: Harness) -> Harness:
    """The harness with a landing bucket that never had versioning."""
    name = f"landing-plain-{os.urandom(4).hex()}"
    h.s3.create_bucket(Bucket=name)
    assert "Status" not in h.s3.get_bucket_versioning(Bucket=name)
    return dataclasses.replace(h, landing=name)


# --- 1. the same event, again and again ---------------------------------------------------------


def test_same_event_delivered_three_times_in_a_row(
    harness: Harness, context: FakeContext, faults: Faults
) -> None:
    # GIVEN one object and its notification in an SQS message
    item = harness.put("in/again.csv", os.urandom(3000))
    event = harness.sqs_event(harness.notification(item))
    calls = faults.record()
    # WHEN the message is delivered three times, one after another (warm and cold containers)
    shared = harness.app()
    responses = [
        shared.handle(copy.deepcopy(event), context),
        shared.handle(copy.deepcopy(event), context),
        harness.app().handle(copy.deepcopy(event), context),
    ]
    faults.clear()
    # THEN every delivery succeeded
    assert responses == [sqs_ok()] * 3
    # AND staging holds exactly one version, the object's ciphertext
    only_version(harness, item.key)
    assert harness.staged_plaintext(item.key) == item.body
    # AND landing has no version and no delete marker left for the key
    assert harness.versions(harness.landing, item.key) == []
    # AND only the first delivery wrote anything
    writes = calls.named("PutObject", harness.staging) + calls.named("CreateMultipartUpload")
    assert len(writes) == 1


# --- 2. the same event, three times at once -----------------------------------------------------


@pytest.mark.parametrize("mode", ["free", "lockstep"])
@pytest.mark.parametrize("apps", ["shared-app", "app-per-delivery"])
@pytest.mark.parametrize("size", [3000, 11 * MiB], ids=["single-put", "multipart"])
def test_same_event_delivered_three_times_at_once(
    harness: Harness, context: FakeContext, faults: Faults, size: int, apps: str, mode: str
) -> None:
    # GIVEN one object and its notification in an SQS message
    item = harness.put("in/race.bin", os.urandom(size))
    event = harness.sqs_event(harness.notification(item))
    multipart = size > 5 * MiB
    # AND, in lockstep, the three deliveries each reach the conditional write having seen an
    # empty staging: the write must be the thing that decides. For a multipart object it is the
    # completion, which carries If-None-Match: * (honoured by moto, as by S3).
    raced = None
    if mode == "lockstep":
        write = "CompleteMultipartUpload" if multipart else "PutObject"
        raced = lockstep(faults, write, harness.staging, writers=3)
    atomic_conditional_writes(faults, harness.staging)
    shared = harness.app(**MULTIPART)
    app: Callable[[], App] = (
        (lambda: shared) if apps == "shared-app" else (lambda: harness.app(**MULTIPART))
    )
    # WHEN the three deliveries are handled at the same time
    responses = run_together(
        [lambda: app().handle(copy.deepcopy(event), context) for _ in range(3)]
    )
    faults.clear()
    # THEN no delivery failed: the losers saw the winner's object and stood down
    assert responses == [sqs_ok()] * 3
    if raced is not None:
        assert len(raced) == 3  # all three really wrote against the same stale view
    # AND staging holds exactly one version, which decrypts to the object
    only_version(harness, item.key)
    assert harness.staged_plaintext(item.key) == item.body
    # AND no plaintext version, no delete marker, no abandoned multipart upload is left
    assert harness.versions(harness.landing, item.key) == []
    assert harness.pending_uploads() == []


# --- 3. events for versions that are gone -------------------------------------------------------


@pytest.mark.parametrize("how", ["deleted-by-someone", "already-processed"])
def test_event_for_a_version_that_is_gone(
    harness: Harness, context: FakeContext, faults: Faults, how: str
) -> None:
    # GIVEN an object whose version no longer exists in landing when its event is handled
    item = harness.put("in/gone.csv", b"id|name\n1|a\n")
    event = harness.sqs_event(harness.notification(item))
    if how == "deleted-by-someone":
        harness.s3.delete_object(Bucket=item.bucket, Key=item.key, VersionId=item.version_id)
        staged_before = 0
    else:
        assert harness.app().handle(copy.deepcopy(event), context) == sqs_ok()
        staged_before = 1
    assert harness.versions(harness.landing, item.key) == []
    calls = faults.record()
    # WHEN the event is delivered (to a fresh container)
    response = harness.app().handle(copy.deepcopy(event), context)
    faults.clear()
    # THEN it succeeds, so it is not retried forever
    assert response == sqs_ok()
    # AND nothing was read from landing or written to staging
    assert calls.named("GetObject") == []
    assert calls.named("PutObject") == calls.named("CreateMultipartUpload") == []
    assert len(staged_versions(harness, item.key)) == staged_before
    if staged_before:
        assert harness.staged_plaintext(item.key) == item.body
    # AND landing is still empty (no delete marker was added)
    assert harness.versions(harness.landing, item.key) == []


def test_source_removed_by_a_concurrent_delivery_while_being_read(
    harness: Harness, context: FakeContext, faults: Faults
) -> None:
    # GIVEN an object and its notification
    item = harness.put("in/overtaken.csv", os.urandom(3000))
    event = harness.sqs_event(harness.notification(item))
    # AND a second delivery of the same event that runs to completion (staging the object and
    # deleting its plaintext) after the first one has looked at landing and staging, just
    # before the first one reads the object
    overtaking: list[dict[str, Any]] = []
    faults.before(
        "GetObject",
        lambda _: overtaking.append(harness.app().handle(copy.deepcopy(event), context)),
        when=lambda p: p["Bucket"] == harness.landing,
        calls={1},
    )
    calls = faults.record()
    # WHEN the first delivery goes on
    response = harness.app().handle(copy.deepcopy(event), context)
    faults.clear()
    # THEN both succeed: the first found its version gone and stood down
    assert overtaking == [sqs_ok()]
    assert response == sqs_ok()
    # AND the object was written to staging once, and no plaintext is left
    assert len(calls.named("PutObject", harness.staging)) == 1
    only_version(harness, item.key)
    assert harness.staged_plaintext(item.key) == item.body
    assert harness.versions(harness.landing, item.key) == []


# --- 4. two versions of one key -----------------------------------------------------------------


@pytest.mark.parametrize("order", ["v1-then-v2", "v2-then-v1"])
def test_newer_version_wins_in_either_order(
    harness: Harness, context: FakeContext, order: str
) -> None:
    # GIVEN two versions of one key, v2 written after v1 (its event has the higher sequencer)
    v1 = harness.put("in/two.csv", b"version one\n")
    v2 = harness.put("in/two.csv", b"version two, longer\n")
    assert v2.sequencer > v1.sequencer
    first, second = (v1, v2) if order == "v1-then-v2" else (v2, v1)
    # WHEN their events are delivered in that order, in separate invocations
    for item in (first, second):
        response = harness.app().handle(harness.sqs_event(harness.notification(item)), context)
        assert response == sqs_ok()
    # THEN staging holds v2's content, naming v2 as its source
    assert harness.staged_plaintext(v2.key) == v2.body
    assert staged_source_version(harness, v2.key) == v2.version_id
    # AND neither plaintext version is left in landing
    assert harness.versions(harness.landing, v2.key) == []
    # AND when v2 came first, the late v1 never wrote to staging at all
    if order == "v2-then-v1":
        only_version(harness, v2.key)
    else:
        assert len(staged_versions(harness, v2.key)) == 2


@pytest.mark.parametrize("mode", ["lockstep-v1-writes-first", "lockstep-v2-writes-first", "free"])
def test_newer_version_wins_when_both_are_processed_at_once(
    harness: Harness, context: FakeContext, faults: Faults, mode: str
) -> None:
    # GIVEN two versions of one key, v2 written after v1
    v1 = harness.put("in/both.csv", b"version one\n")
    v2 = harness.put("in/both.csv", b"version two, longer\n")
    # AND, in lockstep, both deliveries reach the staging write having seen an empty staging,
    # then write in a chosen order (single PUTs: moto honours If-None-Match and If-Match there)
    raced = None
    if mode.startswith("lockstep"):
        winner = v1 if mode == "lockstep-v1-writes-first" else v2

        def rank(params: Params) -> int:
            return 0 if params["Metadata"][SOURCE_VERSION] == winner.version_id else 1

        raced = lockstep(faults, "PutObject", harness.staging, writers=2, rank=rank)
    atomic_conditional_writes(faults, harness.staging)
    # WHEN their events are handled at the same time
    responses = run_together(
        [
            lambda item=item: harness.app().handle(  # type: ignore[misc]
                harness.sqs_event(harness.notification(item)), context
            )
            for item in (v1, v2)
        ]
    )
    faults.clear()
    # THEN both succeed
    assert responses == [sqs_ok()] * 2
    if raced is not None:
        assert len(raced) == 2
    # AND staging ends with v2's content, and landing holds no plaintext version of the key
    assert harness.staged_plaintext(v2.key) == v2.body
    assert staged_source_version(harness, v2.key) == v2.version_id
    assert harness.versions(harness.landing, v2.key) == []
    # AND when v2 won the race, v1 never replaced it
    if mode == "lockstep-v2-writes-first":
        only_version(harness, v2.key)


@pytest.mark.parametrize(
    "order",
    [
        "v1-then-v2",
        "v2-then-v1",
        "v2-notified-then-v1-backfilled",
        "v2-backfilled-then-v1-notified",
    ],
)
def test_without_sequencer_the_current_version_wins(
    harness: Harness, context: FakeContext, order: str
) -> None:
    # GIVEN two versions of one key, v2 being the current version in landing
    v1 = harness.put("in/backfill.csv", b"version one\n")
    v2 = harness.put("in/backfill.csv", b"version two, longer\n")
    # WHEN they are processed in that order by S3 Batch Operations tasks, which carry no event
    # sequencer; or one by a backfill job and the other by its (late) notification
    steps = {
        "v1-then-v2": [batch_job(v1), batch_job(v2)],
        "v2-then-v1": [batch_job(v2), batch_job(v1)],
        "v2-notified-then-v1-backfilled": [harness.notification(v2), batch_job(v1)],
        "v2-backfilled-then-v1-notified": [batch_job(v2), harness.notification(v1)],
    }[order]
    for step in steps:
        response = harness.app().handle(step, context)
        if "results" in response:
            assert succeeded(response) == ["Succeeded"]
    # THEN both plaintext versions are gone from landing
    assert harness.versions(harness.landing, v2.key) == []
    # AND staging ends with the content of v2, the version that was current
    assert staged_source_version(harness, v2.key) == v2.version_id
    assert harness.staged_plaintext(v2.key) == v2.body


# --- 5. unversioned landing buckets -------------------------------------------------------------


def test_unversioned_landing_is_staged_and_deleted_conditionally(
    harness: Harness, context: FakeContext, faults: Faults
) -> None:
    # GIVEN a landing bucket without versioning, and an object's notification (no versionId)
    h = unversioned(harness)
    item = h.put("in/plain.csv", os.urandom(2000))
    assert item.version_id is None
    calls = faults.record()
    # WHEN the event is handled
    response = h.app().handle(h.sqs_event(h.notification(item)), context)
    faults.clear()
    # THEN it is staged, naming the source's ETag and no version
    assert response == sqs_ok()
    assert h.staged_plaintext(item.key) == item.body
    _, metadata, _ = h.staged(item.key)
    assert metadata[SOURCE_ETAG] == item.etag
    assert SOURCE_VERSION not in metadata
    # AND the plaintext was deleted only on the condition that it still had the ETag read
    deletes = calls.named("DeleteObject", h.landing)
    assert [(d.get("IfMatch"), d.get("VersionId")) for d in deletes] == [(f'"{item.etag}"', None)]
    assert h.s3.list_objects_v2(Bucket=h.landing).get("KeyCount") == 0


def test_unversioned_key_overwritten_before_its_event_keeps_the_new_content(
    harness: Harness, context: FakeContext, faults: Faults
) -> None:
    # GIVEN an unversioned landing key written twice, A then B, before A's event is handled
    h = unversioned(harness)
    a = h.put("in/overwritten.csv", b"content A\n")
    b = h.put("in/overwritten.csv", b"content B, newer\n")
    calls = faults.record()
    # WHEN A's (now stale) event is delivered
    response = h.app().handle(h.sqs_event(h.notification(a)), context)
    faults.clear()
    # THEN it succeeds without staging A or deleting anything
    assert response == sqs_ok()
    assert calls.named("DeleteObject") == []
    assert staged_versions(h, a.key) == []
    # AND landing still holds B, byte-identical
    assert landing_bodies(h, b.key) == [b.body]
    # AND B's own event then stages B and removes it
    assert h.app().handle(h.sqs_event(h.notification(b)), context) == sqs_ok()
    assert h.staged_plaintext(b.key) == b.body
    assert h.s3.list_objects_v2(Bucket=h.landing).get("KeyCount") == 0


def test_unversioned_key_overwritten_while_staging_keeps_the_new_content(
    harness: Harness, context: FakeContext, faults: Faults
) -> None:
    # GIVEN an unversioned landing key holding A, and A's event
    h = unversioned(harness)
    a = h.put("in/changing.csv", b"content A\n")
    b_body = b"content B, written while A was being staged\n"
    # AND the key is overwritten with B just before A's ciphertext is written to staging
    overwrite = faults.before(
        "PutObject",
        lambda _: h.s3.put_object(Bucket=h.landing, Key=a.key, Body=b_body),
        when=lambda p: p["Bucket"] == h.staging,
        calls={1},
    )
    # WHEN A's event is handled
    response = h.app().handle(h.sqs_event(h.notification(a)), context)
    faults.clear()
    assert len(overwrite) == 1
    # THEN A is staged, and the conditional delete left B alone
    assert response == sqs_ok()
    assert h.staged_plaintext(a.key) == a.body
    assert landing_bodies(h, a.key) == [b_body]
    # AND B's event then replaces A in staging and removes B
    head = h.s3.head_object(Bucket=h.landing, Key=a.key)
    later = f"{int(a.sequencer, 16) + 1:018X}"  # B was written after A
    b = dataclasses.replace(a, body=b_body, etag=head["ETag"].strip('"'), sequencer=later)
    assert h.app().handle(h.sqs_event(h.notification(b)), context) == sqs_ok()
    assert h.staged_plaintext(a.key) == b_body
    assert h.versions(h.landing, a.key) == []


def test_unversioned_key_overwritten_while_being_read_is_not_staged_as_the_old_event(
    harness: Harness, context: FakeContext, faults: Faults
) -> None:
    # GIVEN an unversioned landing key holding A, and A's event
    h = unversioned(harness)
    a = h.put("in/racing.csv", b"content A\n")
    b_body = b"content B, written between the function's HEAD and its GET\n"
    # AND the key is overwritten with B after the function looked at it, before it reads it
    faults.before(
        "GetObject",
        lambda _: h.s3.put_object(Bucket=h.landing, Key=a.key, Body=b_body),
        when=lambda p: p["Bucket"] == h.landing,
        calls={1},
    )
    # WHEN A's event is delivered, and redelivered if it was reported failed
    event = h.sqs_event(h.notification(a))
    first = h.app().handle(copy.deepcopy(event), context)
    faults.clear()
    if first != sqs_ok():
        assert h.app().handle(copy.deepcopy(event), context) == sqs_ok()
    # THEN B was neither staged under A's name nor deleted: B's content is intact in landing
    assert staged_versions(h, a.key) == []
    assert landing_bodies(h, a.key) == [b_body]


def test_unversioned_key_overwritten_while_being_read_is_settled_at_once(
    harness: Harness, context: FakeContext, faults: Faults
) -> None:
    # GIVEN an unversioned landing key holding A, overwritten with B between the function's
    # HEAD and its GET
    h = unversioned(harness)
    a = h.put("in/racing.csv", b"content A\n")
    b_body = b"content B, written between the function's HEAD and its GET\n"
    faults.before(
        "GetObject",
        lambda _: h.s3.put_object(Bucket=h.landing, Key=a.key, Body=b_body),
        when=lambda p: p["Bucket"] == h.landing,
        calls={1},
    )
    calls = faults.record()
    # WHEN A's event is delivered
    response = h.app().handle(h.sqs_event(h.notification(a)), context)
    faults.clear()
    # THEN it succeeds at once, as for an event whose key changed before it was handled (B has
    # its own event), having read landing once
    assert response == sqs_ok()
    assert len(calls.named("GetObject", h.landing)) == 1
    assert staged_versions(h, a.key) == []
    assert landing_bodies(h, a.key) == [b_body]
