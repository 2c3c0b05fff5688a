"""What the operator commands read of the SQS queues: depth, ARNs, the dead-letter target, and the
age of the oldest message (a CloudWatch metric: SQS itself does not say)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .aws_calls import calling
from .watch import datapoints

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

AGE_METRIC = "ApproximateAgeOfOldestMessage"
AGE_WINDOW = timedelta(minutes=30)
"""SQS publishes its metrics every minute or five: the latest datapoint in this window counts."""
AGE_PERIOD_SECONDS = 300


@dataclass(frozen=True)
class Depth:
    """A queue's approximate message counts (SQS's own attributes)."""

    url: str
    visible: int
    in_flight: int
    """Received by a consumer and not yet deleted (being processed, or about to be retried)."""
    delayed: int

    def to_json(self) -> dict[str, Any]:
        return {
            "Url": self.url,
            "Visible": self.visible,
            "InFlight": self.in_flight,
            "Delayed": self.delayed,
        }


def queue_name(url: str) -> str:
    """The queue's name: the last segment of its URL."""
    return url.rstrip("/").rsplit("/", 1)[-1]


def depth(sqs: SQSClient, url: str) -> Depth:
    with calling("cannot read the attributes of queue", url):
        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        ).get("Attributes", {})
    return Depth(
        url=url,
        visible=int(attributes.get("ApproximateNumberOfMessages", 0)),
        in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        delayed=int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
    )


def arn(sqs: SQSClient, url: str) -> str:
    with calling("cannot read the ARN of queue", url):
        return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]


def dead_letter_target(sqs: SQSClient, url: str) -> str | None:
    """The ARN of the queue's dead-letter queue (its redrive policy), None without one."""
    with calling("cannot read the redrive policy of queue", url):
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
    policy = attributes.get("Attributes", {}).get("RedrivePolicy")
    if not policy:
        return None
    try:
        target = json.loads(policy).get("deadLetterTargetArn")
    except (ValueError, AttributeError):
        return None
    return str(target) if target else None


def oldest_age_seconds(cloudwatch: Any, url: str, now: datetime) -> float | None:
    """The latest ``ApproximateAgeOfOldestMessage`` of the queue in the last half hour, in
    seconds; None when CloudWatch has no datapoint (a new queue, or metrics not yet in)."""
    points = datapoints(
        cloudwatch,
        "AWS/SQS",
        AGE_METRIC,
        {"QueueName": queue_name(url)},
        start=now - AGE_WINDOW,
        end=now + timedelta(seconds=AGE_PERIOD_SECONDS),
        period_seconds=AGE_PERIOD_SECONDS,
        statistic="Maximum",
    )
    return points[-1][1] if points else None
