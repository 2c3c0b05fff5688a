"""Events the function must not act on: a bucket that is not its landing bucket (the staging
bucket above all), and landing keys that would be staged under the reserved ``_s3seal/`` prefix.
Each is a permanent, logged refusal made before any request: nothing is read, written or
deleted, and no retry is asked for."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest

from s3seal.encrypt import handler as handler_module

from .conftest import FakeContext, Harness, Landed, load_event, logs_of


@contextmanager
def s3_requests(h: Harness) -> Iterator[list[str]]:
    """Every S3 operation made through the harness's client (the one the App uses)."""
    calls: list[str] = []

    def record(model: Any, **_: Any) -> None:
        calls.append(model.name)

    h.s3.meta.events.register("before-call.s3", record)
    try:
        yield calls
    finally:
        h.s3.meta.events.unregister("before-call.s3", record)


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    with logs_of(handler_module.logger) as stream:
        yield stream


@pytest.mark.parametrize(
    ("prefix", "key"),
    [("", "_s3seal/batches/x.json"), ("", "_s3seal/batches/locks/sales.lock"), ("_s3", "seal/a")],
    ids=["batch-record", "loader-lock", "prefix-plus-key"],
)
def test_a_key_that_would_be_staged_under_the_reserved_prefix_is_refused_and_kept(
    harness: Harness, context: FakeContext, logs: io.StringIO, prefix: str, key: str
) -> None:
    # GIVEN a landing object whose staged key would start with _s3seal/
    item = harness.put(key, b"forged batch record")
    app = harness.app(STAGING_PREFIX=prefix)
    # WHEN its notification arrives through SQS
    with s3_requests(harness) as calls:
        response = app.handle(harness.sqs_event(harness.notification(item)), context)
    # THEN the message is acknowledged (no retry can help), nothing was requested of S3 ...
    assert response == {"batchItemFailures": []}
    assert calls == []
    # ... the plaintext is kept, nothing is staged, and the log names the key and the rule
    assert len(harness.versions(harness.landing, key)) == 1
    assert harness.versions(harness.staging) == []
    log = logs.getvalue()
    assert "RefusedObjectError" in log and key in log and "reserved prefix" in log


def test_an_event_naming_the_staging_bucket_is_refused_and_touches_nothing(
    harness: Harness, context: FakeContext, logs: io.StringIO
) -> None:
    # GIVEN an object staged as usual
    item = harness.put("in/a.csv", b"1|2\n")
    app = harness.app()
    assert app.handle(harness.notification(item), context)["objects"][0]["action"] == "staged"
    before = harness.versions(harness.staging)
    staged = harness.s3.head_object(Bucket=harness.staging, Key="in/a.csv")
    # WHEN a queue message names the staged object itself (anyone who may send to the queue)
    forged = replace(
        item, bucket=harness.staging, version_id=staged["VersionId"], etag=staged["ETag"]
    )
    with s3_requests(harness) as calls:
        response = app.handle(harness.sqs_event(harness.notification(forged)), context)
    # THEN it is refused before any request: the staged object is exactly as it was
    assert response == {"batchItemFailures": []}
    assert calls == []
    assert harness.versions(harness.staging) == before
    assert harness.staged_plaintext("in/a.csv") == b"1|2\n"
    log = logs.getvalue()
    assert "RefusedObjectError" in log and harness.staging in log and "LANDING_BUCKETS" in log


def test_an_unlisted_bucket_is_refused_on_every_trigger(
    harness: Harness, context: FakeContext, s3: Any
) -> None:
    # GIVEN an object in a bucket that is not the function's landing bucket
    other = f"other-{harness.landing}"[:63]
    s3.create_bucket(Bucket=other)
    s3.put_bucket_versioning(Bucket=other, VersioningConfiguration={"Status": "Enabled"})
    put = s3.put_object(Bucket=other, Key="in/b.csv", Body=b"kept")
    item = Landed(other, "in/b.csv", b"kept", put["VersionId"], put["ETag"].strip('"'), "0A")
    app = harness.app()
    # WHEN it arrives as a direct notification, and as a Batch Operations task
    direct = app.handle(harness.notification(item), context)
    job = load_event("batch_operations_2.0.json")
    job["tasks"] = [dict(job["tasks"][0], taskId="t", s3Bucket=other, s3Key="in/b.csv")]
    answered = app.handle(job, context)
    # THEN the direct call answers "refused" without raising (no asynchronous retries) ...
    assert [o["action"] for o in direct["objects"]] == ["refused"]
    assert direct["objects"][0]["source"].startswith(f"s3://{other}/in/b.csv")
    # ... Batch Operations gets a permanent failure naming the bucket ...
    (result,) = answered["results"]
    assert result["resultCode"] == "PermanentFailure"
    assert other in result["resultString"]
    # ... and the object is where it was, unstaged
    assert s3.get_object(Bucket=other, Key="in/b.csv")["Body"].read() == b"kept"
    assert harness.versions(harness.staging) == []
