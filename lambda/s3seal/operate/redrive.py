"""``s3seal redrive``: dead-lettered notifications back to the queue the function reads, once the
cause is fixed.

Two ways, chosen per run:

- SQS's own message move task (``StartMessageMoveTask``): asynchronous, SQS moves everything.
  Used when no ``--max`` is given.
- Receive, send, delete: for ``--max N``, and where the move task is not available (some
  SQS-compatible endpoints, moto). Each message is deleted from the dead-letter queue only after
  SQS accepted its copy; a failed send leaves it where it was (visible again after
  ``VISIBILITY_SECONDS``), so nothing is lost, at worst sent twice (the function stages an
  object once: a second notification for it finds the landing version gone).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from ..encrypt.events import from_sqs_body
from ..errors import ConfigError, EventError, aws_error_code
from . import queues
from .aws_calls import calling, translate

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueOutputTypeDef, MessageTypeDef

VISIBILITY_SECONDS = 60
"""How long a received message stays hidden while its copy is sent; if this run dies, it
reappears in the dead-letter queue after this long."""
WAIT_SECONDS = 1
"""Long polling: an empty answer then means the queue is empty, not that the servers sampled
had nothing."""

UNAVAILABLE_CODES = frozenset(
    {
        "500",  # moto: "The start_message_move_task action has not been implemented"
        "501",
        "InvalidAction",
        "NotImplemented",
        "UnknownOperationException",
    }
)
"""Answers to StartMessageMoveTask that mean "no such action here": the fallback runs instead.
(SQS's own refusals, such as UnsupportedOperation while another move task runs on the queue, are
reported as errors: ``--max N`` then moves messages by hand.)"""


class Method(StrEnum):
    MOVE_TASK = "move-task"
    RECEIVE_SEND = "receive-send"


@dataclass(frozen=True)
class Moved:
    message_id: str
    objects: tuple[str, ...]
    """The s3:// URLs the notification names (empty if it is not one s3seal can read)."""

    def to_json(self) -> dict[str, Any]:
        return {"MessageId": self.message_id, "Objects": list(self.objects)}


@dataclass
class Result:
    method: Method
    waiting: int
    """The dead-letter queue's approximate depth before the run."""
    dryrun: bool = False
    task_handle: str | None = None
    moved: list[Moved] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "Method": self.method.value,
            "DryRun": self.dryrun,
            "Waiting": self.waiting,
            "TaskHandle": self.task_handle,
            "Moved": len(self.moved),
            "Messages": [m.to_json() for m in self.moved],
        }


def redrive(
    sqs: SQSClient,
    *,
    dlq_url: str,
    queue_url: str,
    max_messages: int | None = None,
    dryrun: bool = False,
    on_moved: Callable[[Moved], None] = lambda _: None,
) -> Result:
    """Move dead-lettered messages from ``dlq_url`` back to ``queue_url`` (see the module).

    ``queue_url`` must name ``dlq_url`` as its dead-letter queue: messages of another queue's
    DLQ are refused rather than fed to this function. ``on_moved`` is told of each message as
    soon as its copy is sent and the original deleted (receive-send only).
    """
    dlq_arn = queues.arn(sqs, dlq_url)
    target = queues.dead_letter_target(sqs, queue_url)
    if target != dlq_arn:
        has = f"dead-letter queue {target}" if target else "no dead-letter queue"
        raise ConfigError(
            f"queue {queue_url} has {has}, not {dlq_arn}: refusing to move messages it did not "
            "dead-letter"
        )
    waiting = queues.depth(sqs, dlq_url).visible
    method = Method.RECEIVE_SEND if max_messages is not None else Method.MOVE_TASK
    if dryrun or not waiting:
        return Result(method, waiting, dryrun=dryrun)
    if method is Method.MOVE_TASK:
        handle = _start_move_task(sqs, dlq_arn, queues.arn(sqs, queue_url))
        if handle is not None:
            return Result(method, waiting, task_handle=handle)
        method = Method.RECEIVE_SEND
    result = Result(method, waiting)
    _receive_send_delete(
        sqs,
        dlq_url=dlq_url,
        queue_url=queue_url,
        max_messages=max_messages,
        result=result,
        on_moved=on_moved,
    )
    return result


def _start_move_task(sqs: SQSClient, source: str, destination: str) -> str | None:
    """The task's handle; None where SQS answers that the move task does not exist."""
    try:
        response = sqs.start_message_move_task(SourceArn=source, DestinationArn=destination)
    except ClientError as exc:
        if aws_error_code(exc) in UNAVAILABLE_CODES:
            return None
        raise translate(exc, "cannot start a message move task from", source) from None
    except BotoCoreError as exc:
        raise translate(exc, "cannot start a message move task from", source) from None
    return response["TaskHandle"]


def _receive_send_delete(
    sqs: SQSClient,
    *,
    dlq_url: str,
    queue_url: str,
    max_messages: int | None,
    result: Result,
    on_moved: Callable[[Moved], None],
) -> None:
    while max_messages is None or len(result.moved) < max_messages:
        wanted = 10 if max_messages is None else min(10, max_messages - len(result.moved))
        with calling("cannot receive from", dlq_url):
            messages = sqs.receive_message(
                QueueUrl=dlq_url,
                MaxNumberOfMessages=wanted,
                VisibilityTimeout=VISIBILITY_SECONDS,
                WaitTimeSeconds=WAIT_SECONDS,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
        if not messages:
            return
        for message in messages:
            moved = _move_one(sqs, message, dlq_url, queue_url, len(result.moved))
            result.moved.append(moved)
            on_moved(moved)


def _move_one(
    sqs: SQSClient, message: MessageTypeDef, dlq_url: str, queue_url: str, done: int
) -> Moved:
    message_id = message["MessageId"]
    attributes = _sendable(message.get("MessageAttributes", {}))
    try:
        sqs.send_message(QueueUrl=queue_url, MessageBody=message["Body"], **attributes)
    except (ClientError, BotoCoreError) as exc:
        failure = translate(exc, f"cannot send message {message_id} to", queue_url)
        raise type(failure)(
            f"{failure}; it stays in the dead-letter queue ({done} moved before it)"
        ) from None
    try:
        sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
    except (ClientError, BotoCoreError) as exc:
        failure = translate(
            exc, f"message {message_id} was sent, but cannot be deleted from", dlq_url
        )
        raise type(failure)(
            f"{failure}; it is in both queues, and reappears in the dead-letter queue "
            f"({done + 1} moved)"
        ) from None
    return Moved(message_id, _objects(message["Body"]))


def _sendable(attributes: Mapping[str, MessageAttributeValueOutputTypeDef]) -> dict[str, Any]:
    """Received message attributes in the shape SendMessage takes (no empty list fields)."""
    if not attributes:
        return {}
    kept = {
        name: {k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")}
        for name, value in attributes.items()
    }
    return {"MessageAttributes": kept}


def _objects(body: str) -> tuple[str, ...]:
    try:
        return tuple(event.ref.url for event in from_sqs_body(body))
    except EventError:
        return ()
