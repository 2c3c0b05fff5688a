"""Every trigger shape becomes object events; keys are decoded once, per shape."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from s3seal.encrypt.events import (
    Trigger,
    detect,
    from_batch_job,
    from_eventbridge,
    from_s3_notification,
    from_sqs_body,
    sequencer_key,
)
from s3seal.errors import EventError
from s3seal.objects import ObjectRef

from ..functional.conftest import load_event


def sqs_event(body: dict[str, Any] | str) -> dict[str, Any]:
    event = load_event("sqs_envelope.json")
    event["Records"][0]["body"] = body if isinstance(body, str) else json.dumps(body)
    return event


@pytest.mark.parametrize(
    ("event", "trigger"),
    [
        (sqs_event(load_event("s3_notification.json")), Trigger.SQS),
        (load_event("s3_notification.json"), Trigger.S3),
        (load_event("s3_test_event.json"), Trigger.S3),
        (load_event("eventbridge_object_created.json"), Trigger.EVENTBRIDGE),
        (load_event("batch_operations_1.0.json"), Trigger.BATCH_OPERATIONS),
        (load_event("batch_operations_2.0.json"), Trigger.BATCH_OPERATIONS),
    ],
    ids=["sqs", "s3", "s3-test-event", "eventbridge", "batch-1.0", "batch-2.0"],
)
def test_trigger_is_recognised_by_shape(event: dict[str, Any], trigger: Trigger) -> None:
    assert detect(event) is trigger


@pytest.mark.parametrize(
    "event", [{}, {"Records": []}, {"foo": 1}, {"Records": [{"eventSource": "aws:sns"}]}]
)
def test_unknown_shape_is_an_event_error(event: dict[str, Any]) -> None:
    with pytest.raises(EventError, match="unrecognised event"):
        detect(event)


def test_s3_notification_fields() -> None:
    [event] = from_s3_notification(load_event("s3_notification.json"))
    assert event.ref == ObjectRef(
        "landing-bucket", "incoming/sales 2026-11-24.csv", "096fKKXTRTtl3on89fVO.nfljtsv6qko"
    )
    assert event.size == 1024
    assert event.etag == "d41d8cd98f00b204e9800998ecf8427e"
    assert event.sequencer == "0055AED6DCD90281E5"
    assert event.name == "ObjectCreated:Put"


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        ("a+b.csv", "a b.csv"),
        ("a%2Bb.csv", "a+b.csv"),
        ("caf%C3%A9/%E6%95%B0.csv", "café/数.csv"),
        ("100%25.csv", "100%.csv"),
    ],
    ids=["plus-is-space", "encoded-plus", "unicode", "percent"],
)
def test_s3_notification_keys_are_url_decoded(encoded: str, decoded: str) -> None:
    doc = load_event("s3_notification.json")
    doc["Records"][0]["s3"]["object"]["key"] = encoded
    assert from_s3_notification(doc)[0].ref.key == decoded


def test_invalid_utf8_in_a_key_is_an_event_error() -> None:
    doc = load_event("s3_notification.json")
    doc["Records"][0]["s3"]["object"]["key"] = "bad%FF.csv"
    with pytest.raises(EventError, match="not URL-encoded UTF-8"):
        from_s3_notification(doc)


def test_unversioned_object_has_no_version() -> None:
    doc = load_event("s3_notification.json")
    del doc["Records"][0]["s3"]["object"]["versionId"]
    assert from_s3_notification(doc)[0].ref.version_id is None


def test_only_object_created_records_count() -> None:
    doc = load_event("s3_notification.json")
    removed = copy.deepcopy(doc["Records"][0])
    removed["eventName"] = "ObjectRemoved:Delete"
    doc["Records"].append(removed)
    assert len(from_s3_notification(doc)) == 1


def test_test_event_yields_nothing() -> None:
    assert from_s3_notification(load_event("s3_test_event.json")) == []
    assert from_sqs_body(json.dumps(load_event("s3_test_event.json"))) == []


def test_eventbridge_key_is_taken_as_is() -> None:
    [event] = from_eventbridge(load_event("eventbridge_object_created.json"))
    assert event.ref == ObjectRef(
        "landing-bucket", "incoming/report 2026:11.jsonl", "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e"
    )
    assert event.sequencer == "00617F08299329D189"
    assert event.name == "EventBridge:PutObject"


def test_eventbridge_other_detail_types_yield_nothing() -> None:
    doc = load_event("eventbridge_object_created.json")
    doc["detail-type"] = "Object Deleted"
    assert from_eventbridge(doc) == []


def test_sqs_body_shapes() -> None:
    notification = load_event("s3_notification.json")
    eventbridge = load_event("eventbridge_object_created.json")
    sns = {"Type": "Notification", "Message": json.dumps(notification)}
    assert from_sqs_body(json.dumps(notification)) == from_s3_notification(notification)
    assert from_sqs_body(json.dumps(eventbridge)) == from_eventbridge(eventbridge)
    assert from_sqs_body(json.dumps(sns)) == from_s3_notification(notification)


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '{"hello": "world"}'])
def test_unreadable_sqs_body_is_an_event_error(body: str) -> None:
    with pytest.raises(EventError):
        from_sqs_body(body)


def test_malformed_record_names_the_missing_field() -> None:
    doc = load_event("s3_notification.json")
    del doc["Records"][0]["s3"]["bucket"]
    with pytest.raises(EventError, match="'bucket'"):
        from_s3_notification(doc)


def test_batch_operations_schema_1() -> None:
    job = from_batch_job(load_event("batch_operations_1.0.json"))
    assert job.schema == "1.0"
    assert job.invocation_id == "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo"
    [task] = job.tasks
    assert task.task_id == "dGFza2lkZ29lc2hlcmUK"
    assert task.event.ref == ObjectRef("landing-bucket", "incoming/café menu.csv", "1")
    assert task.event.sequencer is None


def test_batch_operations_schema_2() -> None:
    [task] = from_batch_job(load_event("batch_operations_2.0.json")).tasks
    assert task.event.ref == ObjectRef("landing-bucket", "incoming/a+b.csv", None)


def test_batch_operations_unknown_schema() -> None:
    doc = load_event("batch_operations_2.0.json")
    doc["invocationSchemaVersion"] = "3.0"
    with pytest.raises(EventError, match=r"3\.0"):
        from_batch_job(doc)


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        ("0055AED6DCD90281E5", "0055AED6DCD90281E6"),
        ("0055AED6DCD90281E5", "0055AED6DCD90281E500"),  # longer: right-padded with zeros ties...
        ("0055AED6DCD90281E5", "0055AED6DCD90281E501"),  # ...so one more digit is later
        ("0055aed6dcd90281e5", "0055AED6DCD90281F0"),
    ],
    ids=["same-length", "padded-equal", "padded-later", "case-insensitive"],
)
def test_sequencers_compare_right_padded(older: str, newer: str) -> None:
    if newer.endswith("E500"):
        assert sequencer_key(older) == sequencer_key(newer)
    else:
        assert sequencer_key(older) < sequencer_key(newer)
