"""The SQS partial batch response (moto server): the contract Lambda's event source mapping reads.

``batchItemFailures`` lists exactly the messages not done, by ``messageId`` and in the batch's
order; an empty list acknowledges the batch; a batch that cannot be answered message by message
fails the invocation, so that Lambda retries all of it. Held for the sequential path (no function
memory known) and the concurrent one (test_batch_concurrency.py covers more of the latter).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from s3seal.encrypt import handler as handler_module
from s3seal.errors import EventError

from .conftest import FakeContext, Harness, logs_of

CONCURRENT = {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769"}


@pytest.mark.parametrize("env", [{}, CONCURRENT], ids=["sequential", "concurrent"])
def test_failed_messages_are_listed_in_batch_order_and_the_rest_staged(
    harness: Harness, context: FakeContext, env: dict[str, str]
) -> None:
    # GIVEN a batch: good, too big, good, not JSON, a message naming a good and a too-big object
    ok = [harness.put(f"in/ok-{n}.csv", b"a,b\n" * (n + 1)) for n in range(3)]
    big = [harness.put(f"in/big-{n}.csv", b"z" * 4096) for n in range(2)]
    event = harness.sqs_event(
        harness.notification(ok[0]),
        harness.notification(big[0]),
        harness.notification(ok[1]),
        "not json",
        harness.notification(ok[2], big[1]),
    )
    # WHEN the function handles it
    response = harness.app(MAX_OBJECT_BYTES="1024", **env).handle(event, context)
    # THEN exactly messages 1, 3 and 4 are reported failed, in the batch's order ...
    assert response == {
        "batchItemFailures": [
            {"itemIdentifier": "message-1"},
            {"itemIdentifier": "message-3"},
            {"itemIdentifier": "message-4"},
        ]
    }
    # ... every good object is staged (message 4's too), and the too-big ones are kept
    for item in ok:
        assert harness.staged_plaintext(item.key) == item.body
    for item in big:
        assert len(harness.versions(harness.landing, item.key)) == 1


def test_a_batch_where_all_succeed_is_acknowledged_whole(
    harness: Harness, context: FakeContext
) -> None:
    items = [harness.put(f"in/all-{n}.csv", b"1\n") for n in range(3)]
    event = harness.sqs_event(*(harness.notification(item) for item in items))
    assert harness.app().handle(event, context) == {"batchItemFailures": []}


def test_a_message_without_a_body_fails_alone_and_is_logged_by_id(
    harness: Harness, context: FakeContext
) -> None:
    item = harness.put("in/fine.csv", b"1\n")
    event = harness.sqs_event(harness.notification(item), "{}")
    del event["Records"][1]["body"]
    with logs_of(handler_module.logger) as stream:
        response = harness.app().handle(event, context)
    assert response == {"batchItemFailures": [{"itemIdentifier": "message-1"}]}
    assert harness.staged_plaintext(item.key) == b"1\n"
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    errors = [line for line in lines if line.get("message") == "message not understood"]
    assert [(e["level"], e["message_id"], e["reason"]) for e in errors] == [
        ("ERROR", "message-1", "EventError")
    ]


def test_a_record_without_a_message_id_fails_the_whole_batch(
    harness: Harness, context: FakeContext
) -> None:
    # A failure that cannot be named would be acknowledged: the invocation fails instead, and
    # nothing of the batch is staged before it does.
    item = harness.put("in/never.csv", b"1\n")
    event = harness.sqs_event(harness.notification(item), harness.notification(item))
    del event["Records"][1]["messageId"]
    with pytest.raises(EventError, match="record 1 of the batch has no messageId"):
        harness.app().handle(event, context)
    assert harness.s3.list_objects_v2(Bucket=harness.staging).get("KeyCount") == 0


def test_the_lambda_entry_point_answers_the_same_way(
    harness: Harness, context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Through handler() and its Powertools decorators (logging context, tracing, metrics flush).
    for name, value in {
        "STAGING_BUCKET": harness.staging,
        "LANDING_BUCKETS": harness.landing,
        "ROOT_KEY_SECRET_ID": harness.secret_id,
        "AWS_ENDPOINT_URL": harness.s3.meta.endpoint_url,
    }.items():
        monkeypatch.setenv(name, value)
    item = harness.put("in/entry.csv", b"x\n")
    event: dict[str, Any] = harness.sqs_event("[]", harness.notification(item))
    handler_module.reset()
    try:
        response = handler_module.handler(event, context)
    finally:
        handler_module.reset()
    assert response == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}
