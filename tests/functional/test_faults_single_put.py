"""Failure injection on the single-PUT path, where the requests differ from a multipart upload's:
the source is read by its GET alone (no HEAD), the ciphertext is written create-only before
staging is looked at, the staged key is HEADed only when S3 refuses that write, a replacement
resends the same ciphertext with If-Match, and the write is verified by the CRC32 S3 returns.

Each fault: the record fails, nothing is lost, and a redelivery of the same event finishes.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from .conftest import (
    FakeContext,
    Faults,
    Harness,
    Landed,
    landing_bodies,
    sqs_failed,
    sqs_ok,
    staged_versions,
)
from .test_faults import (
    WRONG_CRC32,
    Fired,
    _fail,
    _returns_checksum,
    assert_nothing_lost,
    assert_staged_and_gone,
    landing_bucket,
)

SIZE = 3000


def _staged_by_an_earlier_delivery(h: Harness, faults: Faults, item: Landed) -> None:
    """``item`` staged by a delivery whose delete of the plaintext failed."""
    faults.fail("DeleteObject", "AccessDenied", status=403, when=landing_bucket(h))
    assert h.app().handle(h.sqs_event(h.notification(item)), FakeContext()) == sqs_failed(0)
    faults.clear()


@dataclass(frozen=True)
class SingleFault:
    arm: Callable[[Harness, Faults], Fired]
    staged: bool = False
    """The ciphertext is in staging after the failed attempt."""
    plaintext_kept: bool = True
    before: Callable[[Harness, Faults, Landed], None] = lambda h, f, item: None
    """State set up before the fault is armed (an earlier delivery, say)."""


def _is_refused_put_followed_by_head(params: dict[str, Any]) -> bool:
    return "VersionId" not in params


SINGLE_FAULTS: dict[str, SingleFault] = {
    # The GET that replaced the source's HEAD: nothing read, nothing written.
    "get-fails": SingleFault(_fail("GetObject", bucket=landing_bucket)),
    "get-denied": SingleFault(_fail("GetObject", "AccessDenied", 403, bucket=landing_bucket)),
    # The listing is awaited when the metadata is built, just before the PUT.
    "version-listing-denied": SingleFault(
        _fail("ListObjectVersions", "AccessDenied", 403, bucket=landing_bucket)
    ),
    # The create-only PUT.
    "put-fails": SingleFault(_fail("PutObject")),
    "put-applied-but-response-lost": SingleFault(_fail("PutObject", applied=True), staged=True),
    # S3's answer names a CRC32 other than that of the bytes sent: the write is removed again.
    "put-checksum-differs": SingleFault(_returns_checksum("PutObject", WRONG_CRC32)),
    # The HEAD of the staged key, sent only because the create-only PUT was refused.
    "staged-key-head-after-refusal-fails": SingleFault(
        _fail("HeadObject", when=_is_refused_put_followed_by_head),
        staged=True,
        before=_staged_by_an_earlier_delivery,
    ),
    "plaintext-delete-denied": SingleFault(
        _fail("DeleteObject", "AccessDenied", 403, bucket=landing_bucket), staged=True
    ),
}


@pytest.mark.parametrize("fault", SINGLE_FAULTS.values(), ids=SINGLE_FAULTS.keys())
def test_fault_at_each_step_of_a_single_put_loses_nothing_and_a_retry_finishes(
    harness: Harness, context: FakeContext, faults: Faults, fault: SingleFault
) -> None:
    h = harness
    # GIVEN a small object and its notification in an SQS message
    item = h.put("in/small.bin", os.urandom(SIZE))
    event = h.sqs_event(h.notification(item))
    fault.before(h, faults, item)
    # AND a fault at one step
    fired = fault.arm(h, faults)
    # WHEN the message is handled
    response = h.app().handle(copy.deepcopy(event), context)
    faults.clear()
    # THEN the record is reported failed, and the fault did happen
    assert response == sqs_failed(0)
    assert fired()
    # AND nothing is lost
    assert_nothing_lost(h, item)
    assert landing_bodies(h, item.key) == ([item.body] if fault.plaintext_kept else [])
    assert len(staged_versions(h, item.key)) == int(fault.staged)
    if fault.staged:
        assert h.staged_plaintext(item.key) == item.body
    # WHEN the same message is delivered again
    retry = faults.record()
    response = h.app().handle(copy.deepcopy(event), context)
    faults.clear()
    # THEN it succeeds: staged once, decryptable, the plaintext gone
    assert response == sqs_ok()
    assert_staged_and_gone(h, item)
    if fault.staged:
        # the ciphertext already there was recognised after the create-only PUT was refused
        assert len(retry.named("PutObject", h.staging)) == 1
        assert len(retry.named("HeadObject", h.staging)) == 1


def test_the_replacing_put_fails_and_a_retry_replaces(
    harness: Harness, context: FakeContext, faults: Faults
) -> None:
    h = harness
    # GIVEN v1 of a key staged, then v2 written
    v1 = h.put("in/replaced.csv", b"version one\n")
    assert h.app().handle(h.notification(v1), context)["objects"][0]["action"] == "staged"
    v2 = h.put("in/replaced.csv", b"version two, longer\n")
    event = h.sqs_event(h.notification(v2))
    # AND the second PUT of v2's delivery (the replacement, If-Match on v1's staged object) fails
    failed = faults.fail("PutObject", when=lambda p: "IfMatch" in p)
    # WHEN v2's event is handled
    response = h.app().handle(copy.deepcopy(event), context)
    faults.clear()
    # THEN the record fails; v1 is still what is staged, and v2's plaintext is kept
    assert response == sqs_failed(0)
    assert len(failed) == 1
    assert h.staged_plaintext(v2.key) == v1.body
    assert landing_bodies(h, v2.key) == [v2.body]
    # AND its redelivery replaces v1 with v2 and removes v2's plaintext
    assert h.app().handle(copy.deepcopy(event), context) == sqs_ok()
    assert h.staged_plaintext(v2.key) == v2.body
    assert len(staged_versions(h, v2.key)) == 2
    assert h.versions(h.landing, v2.key) == []


def test_a_put_answered_without_a_checksum_is_verified_by_a_head(
    harness: Harness, context: FakeContext, faults: Faults
) -> None:
    h = harness
    # GIVEN S3 (or an S3-compatible store) answers the PUT without a checksum
    item = h.put("in/unchecked.csv", os.urandom(SIZE))

    def drop(parsed: dict[str, Any], **_: Any) -> None:
        parsed.pop("ChecksumCRC32", None)

    faults.on("after-call.s3.PutObject", drop)
    calls = faults.record()
    # WHEN the object is handled
    response = h.app().handle(h.sqs_event(h.notification(item)), context)
    faults.clear()
    # THEN it is verified by a HEAD of the version written, then its plaintext deleted
    assert response == sqs_ok()
    (head,) = calls.named("HeadObject", h.staging)
    assert head["VersionId"] == staged_versions(h, item.key)[0]["VersionId"]
    assert_staged_and_gone(h, item)
