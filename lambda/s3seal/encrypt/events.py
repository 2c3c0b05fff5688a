"""Every trigger shape, turned into a list of object events.

Shapes: S3 event notifications (direct, or in an SQS message body, or in an SNS envelope inside
one), EventBridge "Object Created" events (direct or through SQS), and S3 Batch Operations jobs
(schema 1.0 and 2.0). Keys are URL-decoded here, once, for every shape that encodes them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, NamedTuple
from urllib.parse import unquote_plus

from ..errors import EventError
from ..objects import ObjectRef, version_or_none

S3_TEST_EVENT = "s3:TestEvent"
OBJECT_CREATED_PREFIX = "ObjectCreated:"
EVENTBRIDGE_OBJECT_CREATED = "Object Created"
BATCH_SCHEMAS = ("1.0", "2.0")


class Trigger(StrEnum):
    """How the function was invoked."""

    SQS = "sqs"
    S3 = "s3"
    EVENTBRIDGE = "eventbridge"
    BATCH_OPERATIONS = "batch-operations"


class ObjectEvent(NamedTuple):
    """One object that was created, as an event describes it."""

    ref: ObjectRef
    size: int | None = None
    etag: str | None = None
    """Without quotes, as S3 notifications carry it."""
    sequencer: str | None = None
    """Orders events on one key (see ``sequencer_key``); absent for Batch Operations."""
    name: str = ""
    """The event name (``ObjectCreated:Put``...), for logs."""


class BatchTask(NamedTuple):
    task_id: str
    event: ObjectEvent


class BatchJob(NamedTuple):
    schema: str
    invocation_id: str
    tasks: list[BatchTask]


def detect(event: Mapping[str, Any]) -> Trigger:
    """Recognise the trigger by the event's shape."""
    if "invocationSchemaVersion" in event and "tasks" in event:
        return Trigger.BATCH_OPERATIONS
    if event.get("source") == "aws.s3" and "detail" in event:
        return Trigger.EVENTBRIDGE
    records = event.get("Records")
    if isinstance(records, list) and records:
        sources = {r.get("eventSource") for r in records if isinstance(r, Mapping)}
        if sources == {"aws:sqs"}:
            return Trigger.SQS
        if sources == {"aws:s3"}:
            return Trigger.S3
    if event.get("Event") == S3_TEST_EVENT:
        return Trigger.S3
    raise EventError("unrecognised event: not SQS, S3, EventBridge or S3 Batch Operations")


def sequencer_key(sequencer: str) -> str:
    """A sort key for sequencers of one object key.

    AWS: sequencers may differ in length; right-pad the shorter with zeros, then compare
    lexicographically. Padding to a fixed width gives the same order for any pair.
    """
    return sequencer.upper().ljust(64, "0")


def from_s3_notification(doc: Mapping[str, Any]) -> list[ObjectEvent]:
    """The ObjectCreated records of an S3 notification; ``s3:TestEvent`` gives none."""
    if doc.get("Event") == S3_TEST_EVENT:
        return []
    records = doc.get("Records")
    if not isinstance(records, list):
        raise EventError("S3 notification without a Records list")
    out = []
    for record in records:
        name = str(_get(record, "eventName"))
        if not name.startswith(OBJECT_CREATED_PREFIX):
            continue
        s3 = _get(record, "s3")
        obj = _get(s3, "object")
        # S3 notifications URL-encode keys as HTML forms do: '+' is a space, '%2B' a plus.
        key = _decode_key(_get(obj, "key"))
        out.append(
            ObjectEvent(
                ref=ObjectRef(
                    str(_get(_get(s3, "bucket"), "name")),
                    key,
                    version_or_none(obj.get("versionId")),
                ),
                size=_int_or_none(obj.get("size")),
                etag=_unquote_etag(obj.get("eTag")),
                sequencer=obj.get("sequencer") or None,
                name=name,
            )
        )
    return out


def from_eventbridge(doc: Mapping[str, Any]) -> list[ObjectEvent]:
    """An EventBridge S3 event; only "Object Created" yields an object."""
    if doc.get("detail-type") != EVENTBRIDGE_OBJECT_CREATED:
        return []
    detail = _get(doc, "detail")
    obj = _get(detail, "object")
    # EventBridge carries keys as they are, not URL-encoded.
    return [
        ObjectEvent(
            ref=ObjectRef(
                str(_get(_get(detail, "bucket"), "name")),
                str(_get(obj, "key")),
                version_or_none(obj.get("version-id")),
            ),
            size=_int_or_none(obj.get("size")),
            etag=_unquote_etag(obj.get("etag")),
            sequencer=obj.get("sequencer") or None,
            name=f"EventBridge:{detail.get('reason', EVENTBRIDGE_OBJECT_CREATED)}",
        )
    ]


def from_sqs_body(body: str) -> list[ObjectEvent]:
    """The objects in one SQS message: an S3 notification, an EventBridge event, or either
    wrapped in an SNS notification."""
    try:
        doc = json.loads(body)
    except ValueError:
        raise EventError("SQS message body is not JSON") from None
    if not isinstance(doc, dict):
        raise EventError("SQS message body is not a JSON object")
    if doc.get("Type") == "Notification" and isinstance(doc.get("Message"), str):
        return from_sqs_body(doc["Message"])
    if doc.get("source") == "aws.s3" and "detail" in doc:
        return from_eventbridge(doc)
    if "Records" in doc or doc.get("Event") == S3_TEST_EVENT:
        return from_s3_notification(doc)
    raise EventError("SQS message body is neither an S3 notification nor an EventBridge event")


def from_batch_job(event: Mapping[str, Any]) -> BatchJob:
    """The tasks of an S3 Batch Operations invocation (schema 1.0 or 2.0)."""
    schema = str(event.get("invocationSchemaVersion"))
    if schema not in BATCH_SCHEMAS:
        raise EventError(f"unsupported S3 Batch Operations schema {schema!r}")
    tasks = []
    for task in _get(event, "tasks"):
        if schema == "1.0":
            bucket = str(_get(task, "s3BucketArn")).rsplit(":", 1)[-1]
        else:
            bucket = str(_get(task, "s3Bucket"))
        # Batch Operations hands keys over URL-encoded, like the manifest it read them from.
        key = _decode_key(_get(task, "s3Key"))
        ref = ObjectRef(bucket, key, version_or_none(task.get("s3VersionId")))
        tasks.append(BatchTask(str(_get(task, "taskId")), ObjectEvent(ref, name="BatchOperations")))
    return BatchJob(schema, str(event.get("invocationId", "")), tasks)


def _get(mapping: Any, name: str) -> Any:
    if not isinstance(mapping, Mapping) or name not in mapping:
        raise EventError(f"malformed event: missing {name!r}")
    return mapping[name]


def _decode_key(value: Any) -> str:
    try:
        return unquote_plus(str(value), encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise EventError(f"malformed event: key {value!r} is not URL-encoded UTF-8") from None


def _int_or_none(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise EventError(f"malformed event: size {value!r} is not a number") from None


def _unquote_etag(value: Any) -> str | None:
    return str(value).strip('"') or None if value else None
