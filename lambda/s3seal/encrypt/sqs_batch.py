"""SQS partial batch responses: which messages of a batch failed, and which may run at once.

The event source mapping reports batch item failures (``ReportBatchItemFailures``): the function
answers ``{"batchItemFailures": [{"itemIdentifier": <messageId>}, ...]}`` and Lambda deletes every
other message of the batch. An empty list acknowledges the whole batch; an entry Lambda cannot
match to a message makes it retry the whole batch.

This is the contract of Powertools' ``BatchProcessor``, kept here in a few lines because that
utility imports about 30 event classes and asyncio at every cold start (21 ms, more than all of
s3seal) for a loop this short. ``tests/functional/test_partial_batch.py`` holds it to the contract.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..errors import EventError
from .events import from_sqs_body


class Message:
    """One SQS message of a batch: its id and body, as the event carries them."""

    __slots__ = ("body", "message_id")

    def __init__(self, message_id: str, body: object) -> None:
        self.message_id = message_id
        self.body = body


def messages(event: Mapping[str, Any]) -> list[Message]:
    """The batch's messages, in order.

    A record without a message id cannot be reported failed on its own, so it fails the
    invocation (EventError): Lambda then retries the whole batch.
    """
    found = []
    for number, record in enumerate(event.get("Records") or []):
        message_id = record.get("messageId") if isinstance(record, Mapping) else None
        if not isinstance(message_id, str) or not message_id:
            raise EventError(f"SQS record {number} of the batch has no messageId")
        found.append(Message(message_id, record.get("body")))
    return found


def partial_response(batch: Iterable[Message], failed: Iterable[str]) -> dict[str, Any]:
    """The response listing exactly the failed messages, in the batch's order."""
    failed_ids = set(failed)
    return {
        "batchItemFailures": [
            {"itemIdentifier": m.message_id} for m in batch if m.message_id in failed_ids
        ]
    }


def object_keys(message: Message) -> set[tuple[str, str]]:
    """The (bucket, key) pairs a message names; none if its body does not parse (staging it
    raises that error again, and reports it)."""
    if not isinstance(message.body, str):
        return set()
    try:
        return {(e.ref.bucket, e.ref.key) for e in from_sqs_body(message.body)}
    except Exception:
        return set()


def same_key_groups(
    batch: list[Message], keys_of: Callable[[Message], set[tuple[str, str]]] = object_keys
) -> list[list[Message]]:
    """The messages, in groups that share no key, each in the batch's order.

    Messages naming a common (bucket, key) land in one group (a message can name several keys,
    so groups are merged transitively). A body that does not parse names no key: it is a group of
    its own, and fails when staged.
    """
    groups: list[list[Message]] = []
    group_of: dict[tuple[str, str], int] = {}
    merged_into: list[int] = []  # group index -> the group it was merged into (itself if live)

    def live(index: int) -> int:
        while merged_into[index] != index:
            index = merged_into[index]
        return index

    for message in batch:
        keys = keys_of(message)
        owners = sorted({live(group_of[key]) for key in keys if key in group_of})
        if owners:
            target = owners[0]
            for other in owners[1:]:
                groups[target].extend(groups[other])
                groups[other] = []
                merged_into[other] = target
        else:
            target = len(groups)
            groups.append([])
            merged_into.append(target)
        groups[target].append(message)
        for key in keys:
            group_of[key] = target
    # A merge appends a later group's messages after the target's: put them back in batch order.
    order = {id(message): position for position, message in enumerate(batch)}
    return [sorted(group, key=lambda m: order[id(m)]) for group in groups if group]
