"""Sources at the edges of the ordering rules: a landing bucket with versioning suspended (S3 names
every write "null"), a staged write whose returned CRC32 differs, and one key in two landing
buckets. Each of these once lost plaintext; each test checks that the object is staged or kept."""

from __future__ import annotations

import os
from typing import Any

from .conftest import FakeContext, Harness, Landed, sqs_failed, sqs_ok


def handle(h: Harness, *items: Landed, **env: str) -> dict[str, Any]:
    return h.app(**env).handle(h.sqs_event(*(h.notification(i) for i in items)), FakeContext())


def test_suspended_landing_overwrite_is_staged_not_deleted_as_already_staged(
    harness: Harness,
) -> None:
    # GIVEN a landing bucket whose versioning is suspended: every PUT replaces the "null"
    # version, and S3 answers a GET of it with x-amz-version-id: null (moto sends none, so a
    # hook adds it as S3 does)
    harness.s3.put_bucket_versioning(
        Bucket=harness.landing, VersioningConfiguration={"Status": "Suspended"}
    )

    def null_version(parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if not parsed.get("VersionId"):
            parsed["VersionId"] = "null"

    harness.s3.meta.events.register("after-call.s3.GetObject", null_version)
    try:
        first = harness.put("in/null.csv", os.urandom(3000))
        assert handle(harness, first) == sqs_ok()
        assert harness.staged_plaintext(first.key) == first.body
        # WHEN the key gets new content of the same size, and its event is handled
        second = harness.put("in/null.csv", os.urandom(3000))
        handle(harness, second)
    finally:
        harness.s3.meta.events.unregister("after-call.s3.GetObject", null_version)
    # THEN the new content is staged, or at least its plaintext is kept
    staged = harness.staged_plaintext(second.key)
    kept = harness.versions(harness.landing, second.key)
    assert staged == second.body or kept, "new content deleted without being staged"


def test_a_write_whose_returned_crc32_differs_is_never_taken_as_staged(harness: Harness) -> None:
    # GIVEN S3 answers the staging PUT with a CRC32 other than the one sent (the bytes it
    # stored are not the ones written)
    def wrong_crc(parsed: dict[str, Any], **_: Any) -> None:
        if "ChecksumCRC32" in parsed:
            parsed["ChecksumCRC32"] = "AAAAAA=="

    harness.s3.meta.events.register("after-call.s3.PutObject", wrong_crc)
    item = harness.put("in/crc.csv", os.urandom(3000))
    try:
        # WHEN the event is handled: verification fails, the plaintext is kept
        assert handle(harness, item) == sqs_failed(0)
        assert len(harness.versions(harness.landing, item.key)) == 1
        # AND the message is retried
        handle(harness, item)
    finally:
        harness.s3.meta.events.unregister("after-call.s3.PutObject", wrong_crc)
    # THEN the plaintext is still there: the object that failed verification was not accepted
    # as "already staged" on the retry
    assert len(harness.versions(harness.landing, item.key)) == 1, "plaintext deleted unverified"


def test_the_same_key_in_two_landing_buckets_loses_neither(harness: Harness) -> None:
    # GIVEN two landing buckets (LANDING_BUCKETS takes a list) holding the same key
    other = f"landing2-{os.urandom(4).hex()}"
    harness.s3.create_bucket(Bucket=other)
    harness.s3.put_bucket_versioning(Bucket=other, VersioningConfiguration={"Status": "Enabled"})
    a = harness.put("in/same.csv", os.urandom(3000))
    body = os.urandom(3000)
    put = harness.s3.put_object(Bucket=other, Key=a.key, Body=body)
    seq = f"{int(a.sequencer, 16) + 1:018X}"
    b = Landed(other, a.key, body, put["VersionId"], put["ETag"].strip('"'), seq)
    env = {"LANDING_BUCKETS": f"{harness.landing},{other}"}
    # WHEN both events are handled
    handle(harness, a, **env)
    handle(harness, b, **env)
    # THEN each content is either staged or still in landing
    staged = harness.staged_plaintext(a.key)
    for item in (a, b):
        kept = harness.versions(item.bucket, item.key)
        assert staged == item.body or kept, f"{item.bucket}/{item.key} lost"
