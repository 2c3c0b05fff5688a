"""``s3seal status`` and ``s3seal redrive`` against moto: queues, dead letters, landing, batches."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from s3seal import names
from s3seal.cli import main
from s3seal.cli.exits import EXIT_AWS_SETUP, EXIT_FAILURE, EXIT_USAGE, exit_code_for
from s3seal.errors import AwsSetupError, S3SealError
from s3seal.load.batches import BatchObject, BatchRecord, State
from s3seal.load.settings import LoadMode
from s3seal.operate import health
from s3seal.operate.redrive import Method, redrive
from s3seal.staged import BATCH_PREFIX

from ..conftest import REGION
from .conftest import Harness

Capture = pytest.CaptureFixture[str]


@dataclass
class Stack:
    """A deployed stack as ``status`` sees it: its outputs (in moto's CloudFormation), the two
    queues, the buckets of the harness."""

    name: str
    h: Harness
    sqs: Any
    cloudwatch: Any
    queue_url: str
    dlq_url: str
    endpoint: str

    def cli(self, command: str, *args: str, capsys: Capture) -> tuple[int, str, str]:
        """Run ``s3seal COMMAND`` in-process against this stack (``args`` may name another)."""
        aws = ["--endpoint-url", self.endpoint, "--region", REGION]
        code = main([command, "--stack-name", self.name, *args, *aws])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    def status(self, *args: str, capsys: Capture) -> tuple[int, dict[str, Any]]:
        code, out, _ = self.cli("status", "--json", *args, capsys=capsys)
        return code, json.loads(out)

    def dead_letter(self, *keys: str) -> list[str]:
        """One S3 notification per key in the dead-letter queue; their message ids."""
        ids = []
        for key in keys:
            body = {"Records": [_s3_record(self.h.landing, key)]}
            sent = self.sqs.send_message(QueueUrl=self.dlq_url, MessageBody=json.dumps(body))
            ids.append(sent["MessageId"])
        return ids

    def drain(self, url: str) -> list[dict[str, Any]]:
        """Every message in the queue, received (and so hidden) for the rest of the test."""
        out: list[dict[str, Any]] = []
        while batch := self.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300
        ).get("Messages", []):
            out += batch
        return out

    def count(self, url: str) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
            ],
        )["Attributes"]
        return sum(int(value) for value in attributes.values())

    def put_record(self, record: BatchRecord) -> None:
        body = json.dumps(record.to_json()).encode()
        self.h.s3.put_object(Bucket=self.h.staging, Key=record.record_key, Body=body)


def _s3_record(bucket: str, key: str) -> dict[str, Any]:
    return {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
            "object": {"key": key, "size": 3, "eTag": "abc", "sequencer": "0055AED6DCD90281E5"},
        },
    }


def _new_queues(sqs: Any, suffix: str) -> tuple[str, str]:
    dlq = sqs.create_queue(QueueName=f"s3seal-dlq-{suffix}")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})
    queue = sqs.create_queue(
        QueueName=f"s3seal-queue-{suffix}", Attributes={"RedrivePolicy": policy}
    )["QueueUrl"]
    return queue, dlq


def _deploy(cfn: Any, name: str, outputs: dict[str, str]) -> None:
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(template))


@pytest.fixture
def stack(harness: Harness, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    # moto answers StartMessageMoveTask with a 500: one attempt, not botocore's five.
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    suffix = os.urandom(4).hex()
    clients: dict[str, Any] = {
        service: boto3.client(service, endpoint_url=moto_endpoint, region_name=REGION)
        for service in ("sqs", "cloudformation", "cloudwatch")
    }
    queue, dlq = _new_queues(clients["sqs"], suffix)
    name = f"S3Seal-{suffix}"
    _deploy(
        clients["cloudformation"],
        name,
        {
            names.OUTPUT_LANDING_BUCKET: harness.landing,
            names.OUTPUT_STAGING_BUCKET: harness.staging,
            names.OUTPUT_QUEUE_URL: queue,
            names.OUTPUT_DLQ_URL: dlq,
            names.OUTPUT_LOADER_FUNCTION: f"s3seal-loader-{suffix}",
        },
    )
    yield Stack(
        name, harness, clients["sqs"], clients["cloudwatch"], queue, dlq, endpoint=moto_endpoint
    )
    clients["cloudformation"].delete_stack(StackName=name)


def _record(
    number: int, state: State, *, updated: datetime, error: str | None = None
) -> BatchRecord:
    return BatchRecord(
        batch_id=f"20261207T010000Z-0000000{number}",
        table="public.sales",
        mode=LoadMode.SERVER_SIDE,
        key_version="v1",
        gzip=False,
        objects=(BatchObject(f"in/{number}.csv", "null", 10),),
        state=state,
        created_at=updated.isoformat(timespec="seconds"),
        updated_at=updated.isoformat(timespec="seconds"),
        error=error,
    )


# --- status ------------------------------------------------------------------------------------


def test_a_healthy_stack_exits_0_with_every_section(stack: Stack, capsys: Capture) -> None:
    # GIVEN a stack with nothing waiting, a landing object just arrived, one loaded batch
    stack.h.put("in/fresh.csv", b"a,b")
    stack.sqs.send_message(QueueUrl=stack.queue_url, MessageBody="{}")
    now = datetime.now(UTC)
    stack.put_record(_record(1, State.LOADED, updated=now))
    # WHEN status runs
    code, doc = stack.status(capsys=capsys)
    # THEN nothing needs a person, and each resource came from the stack's outputs
    assert code == 0
    assert doc["Attention"] == [] and doc["ExitStatus"] == 0
    assert doc["Queue"] == {"Url": stack.queue_url, "Visible": 1, "InFlight": 0, "Delayed": 0}
    assert doc["DeadLetterQueue"]["Url"] == stack.dlq_url
    assert doc["DeadLetterQueue"]["Visible"] == 0
    assert doc["DeadLetterQueue"]["OldestAgeSeconds"] is None
    landing = doc["Landing"]
    assert landing["Bucket"] == stack.h.landing and landing["OlderThanMinutes"] == 15
    assert (landing["Scanned"], landing["Stale"], landing["Complete"]) == (1, 0, True)
    batches = doc["Batches"]
    assert batches["Bucket"] == stack.h.staging
    assert (batches["Records"], batches["Pending"], batches["Failed"]) == (1, [], [])
    assert batches["LastActivity"]["BatchId"] == "20261207T010000Z-00000001"
    assert batches["LastActivity"]["State"] == "loaded"
    assert doc["Loader"] == {
        "Function": f"s3seal-loader-{stack.name.removeprefix('S3Seal-')}",
        "WindowHours": 24,
        "Invocations": 0,
        "Errors": 0,
        "LastRun": None,
    }
    # AND the table says so too
    code, out, _ = stack.cli("status", capsys=capsys)
    assert code == 0
    assert out.strip().endswith("nothing needs a person")
    assert "1 waiting, 0 in flight, 0 delayed" in out


def _dead_letters(stack: Stack) -> None:
    stack.dead_letter("in/a.csv")


def _failed_batch(stack: Stack) -> None:
    stack.put_record(
        _record(2, State.FAILED, updated=datetime.now(UTC), error="Load into table failed")
    )


def _stale_landing(stack: Stack) -> None:
    stack.h.put("in/old.csv", b"a,b")


def _stuck_batch(stack: Stack) -> None:
    stack.put_record(_record(3, State.SUBMITTED, updated=datetime.now(UTC) - timedelta(hours=2)))


FINDINGS = {
    health.Attention.DEAD_LETTERS: _dead_letters,
    health.Attention.FAILED_BATCH: _failed_batch,
    health.Attention.STALE_LANDING: _stale_landing,
    health.Attention.STUCK_BATCH: _stuck_batch,
}


@pytest.mark.parametrize("flag", list(FINDINGS), ids=lambda flag: flag.name)
def test_each_finding_sets_its_own_exit_bit(
    stack: Stack, capsys: Capture, flag: health.Attention
) -> None:
    # GIVEN one thing that needs a person (landing objects count as stale at once)
    FINDINGS[flag](stack)
    # WHEN status runs
    code, doc = stack.status("--older-than", "0", capsys=capsys)
    # THEN exactly its bit is set, and named
    assert code == int(flag) == doc["ExitStatus"]
    assert doc["Attention"] == [flag.name]


def test_all_findings_together_and_what_the_table_says(stack: Stack, capsys: Capture) -> None:
    for setup in FINDINGS.values():
        setup(stack)
    stack.put_record(_record(4, State.PLANNED, updated=datetime.now(UTC)))  # pending, not stuck
    code, doc = stack.status("--older-than", "0", capsys=capsys)
    assert code == 8 + 16 + 32 + 64
    batches = doc["Batches"]
    assert [b["BatchId"] for b in batches["Failed"]] == ["20261207T010000Z-00000002"]
    assert batches["Failed"][0]["Error"] == "Load into table failed"
    pending = {b["BatchId"]: b["Stuck"] for b in batches["Pending"]}
    assert pending == {"20261207T010000Z-00000003": True, "20261207T010000Z-00000004": False}
    assert doc["Landing"]["Oldest"]["Key"] == "in/old.csv"
    assert doc["Landing"]["Samples"] == ["in/old.csv"]
    code, out, _ = stack.cli("status", "--older-than", "0", capsys=capsys)
    assert code == 120
    assert "1 waiting, 0 in flight (age: no CloudWatch data)  [8]" in out
    assert "20261207T010000Z-00000002 public.sales: Load into table failed" in out
    assert "20261207T010000Z-00000003 public.sales: submitted since" in out
    assert "[16 64]" in out
    assert "needs a person (exit 120)" in out


def test_the_table_names_ten_failed_batches_each_on_one_line(stack: Stack, capsys: Capture) -> None:
    now = datetime.now(UTC)
    for number in range(12):
        error = f"COPY failed\n  line {number}:\tbad value"  # Redshift's text may span lines
        stack.put_record(_record(number, State.FAILED, updated=now, error=error))
    code, out, _ = stack.cli("status", capsys=capsys)
    assert code == int(health.Attention.FAILED_BATCH)
    failed = [line for line in out.splitlines() if line.lstrip().startswith("failed")]
    assert len(failed) == 10
    assert failed[0].endswith(
        "20261207T010000Z-00000000 public.sales: COPY failed line 0: bad value"
    )
    assert "... and 2 more (--json lists them all)" in out
    _, doc = stack.status(capsys=capsys)
    assert len(doc["Batches"]["Failed"]) == 12


def test_recent_landing_objects_are_not_stale(stack: Stack, capsys: Capture) -> None:
    stack.h.put("in/new.csv", b"a,b")
    code, doc = stack.status(capsys=capsys)  # (the default: 15 minutes)
    assert code == 0 and doc["Landing"]["Stale"] == 0 and doc["Landing"]["Scanned"] == 1


def test_the_landing_listing_stops_at_the_scan_limit_and_says_at_least(
    stack: Stack, capsys: Capture
) -> None:
    for number in range(5):
        stack.h.put(f"in/{number}.csv", b"x")
    code, doc = stack.status("--older-than", "0", "--scan-limit", "3", capsys=capsys)
    assert code == int(health.Attention.STALE_LANDING)
    landing = doc["Landing"]
    assert (landing["Scanned"], landing["Stale"]) == (3, 3)
    assert landing["Complete"] is False and landing["StaleAtLeast"] is True
    _, out, _ = stack.cli("status", "--older-than", "0", "--scan-limit", "3", capsys=capsys)
    assert "at least 3 older than 0 min, of 3 listed" in out


def test_a_landing_prefix_narrows_the_scan(stack: Stack, capsys: Capture) -> None:
    stack.h.put("elsewhere/x.csv", b"x")
    landing = f"s3://{stack.h.landing}/in/"
    code, doc = stack.status("--older-than", "0", "--landing", landing, capsys=capsys)
    assert code == 0 and doc["Landing"]["Prefix"] == "in/" and doc["Landing"]["Scanned"] == 0


def test_the_dead_letter_age_comes_from_cloudwatch(stack: Stack, capsys: Capture) -> None:
    stack.dead_letter("in/a.csv", "in/b.csv")
    stack.cloudwatch.put_metric_data(
        Namespace="AWS/SQS",
        MetricData=[
            {
                "MetricName": "ApproximateAgeOfOldestMessage",
                "Dimensions": [{"Name": "QueueName", "Value": stack.dlq_url.rsplit("/", 1)[1]}],
                "Value": 7380.0,
                "Timestamp": datetime.now(UTC),
            }
        ],
    )
    code, doc = stack.status(capsys=capsys)
    assert code == 8
    assert doc["DeadLetterQueue"]["Visible"] == 2
    assert doc["DeadLetterQueue"]["OldestAgeSeconds"] == 7380.0
    _, out, _ = stack.cli("status", capsys=capsys)
    assert "2 waiting, 0 in flight (oldest 2 h 3 min)  [8]" in out


def test_the_loader_runs_come_from_its_lambda_metrics(stack: Stack, capsys: Capture) -> None:
    # GIVEN a loader function that ran three times in the last hour, once with an error
    now = datetime.now(UTC)
    function = f"s3seal-loader-{stack.name.removeprefix('S3Seal-')}"
    dimensions = [{"Name": "FunctionName", "Value": function}]
    data = [("Invocations", 2.0, 50), ("Invocations", 1.0, 20), ("Errors", 1.0, 20)]
    stack.cloudwatch.put_metric_data(
        Namespace="AWS/Lambda",
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": dimensions,
                "Value": value,
                "Timestamp": now - timedelta(minutes=ago),
            }
            for name, value, ago in data
        ],
    )
    # WHEN status runs
    code, doc = stack.status(capsys=capsys)
    # THEN they are counted, and the last one dated (to the metrics' 5-minute periods)
    assert code == 0
    loader = doc["Loader"]
    assert (loader["Invocations"], loader["Errors"]) == (3, 1)
    last_run = datetime.fromisoformat(loader["LastRun"])
    assert now - timedelta(minutes=26) <= last_run <= now
    _, out, _ = stack.cli("status", capsys=capsys)
    assert f"3 in 24 h (last at {last_run:%Y-%m-%dT%H:%M}+00:00), 1 errors: {function}" in out


def test_a_held_loader_lock_shows_the_loader_running(stack: Stack, capsys: Capture) -> None:
    expires = datetime.now(UTC) + timedelta(minutes=10)
    lock = {"owner": "host:42:ab", "acquired_at": "x", "expires_at": expires.isoformat()}
    key = f"{BATCH_PREFIX}locks/public.sales.lock"
    stack.h.s3.put_object(Bucket=stack.h.staging, Key=key, Body=json.dumps(lock).encode())
    code, doc = stack.status(capsys=capsys)
    assert code == 0
    assert doc["Batches"]["Locks"] == [
        {
            "Table": "public.sales",
            "Owner": "host:42:ab",
            "ExpiresAt": expires.isoformat(timespec="seconds"),
            "Held": True,
        }
    ]
    _, out, _ = stack.cli("status", capsys=capsys)
    assert "loader running" in out and "public.sales by host:42:ab" in out


def test_options_name_the_resources_without_a_stack(stack: Stack, capsys: Capture) -> None:
    h = stack.h
    code, out, _ = stack.cli(
        "status",
        "--json",
        "--landing",
        h.landing,
        "--staging",
        f"s3://{h.staging}",
        "--queue-url",
        stack.queue_url,
        "--dlq-url",
        stack.dlq_url,
        "--stack-name",
        "NoSuchStack",  # (the last --stack-name wins: the stack is never looked up)
        capsys=capsys,
    )
    assert code == 0 and json.loads(out)["Landing"]["Bucket"] == h.landing


def test_an_unknown_stack_is_a_one_line_usage_error(stack: Stack, capsys: Capture) -> None:
    code, out, err = stack.cli("status", "--stack-name", "NoSuchStack", capsys=capsys)
    assert code == EXIT_USAGE and out == ""
    assert err.count("\n") == 1 and "no stack NoSuchStack" in err


def test_a_stack_without_an_output_names_it(
    stack: Stack, capsys: Capture, moto_endpoint: str
) -> None:
    cfn = boto3.client("cloudformation", endpoint_url=moto_endpoint, region_name=REGION)
    name = f"Partial-{os.urandom(3).hex()}"
    _deploy(cfn, name, {names.OUTPUT_LANDING_BUCKET: stack.h.landing})
    code, _, err = stack.cli("status", "--stack-name", name, capsys=capsys)
    assert code == EXIT_USAGE and err.count("\n") == 1
    assert f"stack {name} has no output StagingBucketName; pass --staging" in err


def test_the_default_stack_name_is_the_stacks(
    harness: Harness, moto_endpoint: str, capsys: Capture
) -> None:
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name=REGION)
    cfn = boto3.client("cloudformation", endpoint_url=moto_endpoint, region_name=REGION)
    queue, dlq = _new_queues(sqs, os.urandom(4).hex())
    outputs = {
        names.OUTPUT_LANDING_BUCKET: harness.landing,
        names.OUTPUT_STAGING_BUCKET: harness.staging,
        names.OUTPUT_QUEUE_URL: queue,
        names.OUTPUT_DLQ_URL: dlq,
    }
    _deploy(cfn, names.STACK_NAME, outputs)
    try:
        code = main(["status", "--json", "--endpoint-url", moto_endpoint, "--region", REGION])
        assert code == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["Queue"]["Url"] == queue
        assert doc["Loader"] is None  # (no LoaderFunctionName output: the loader is off)
    finally:
        cfn.delete_stack(StackName=names.STACK_NAME)


@pytest.mark.parametrize(
    ("options", "environment"),
    [
        (["--endpoint-url", "http://127.0.0.1:9"], {}),  # nothing listens on the discard port
        (["--endpoint-url", "not a url"], {}),
        (["--profile", "no-such-profile"], {}),
        ([], {"AWS_DEFAULT_REGION": None}),
    ],
    ids=["unreachable-endpoint", "malformed-endpoint", "unknown-profile", "no-region"],
)
def test_aws_setup_mistakes_exit_5_in_one_line(
    options: list[str],
    environment: dict[str, str | None],
    capsys: Capture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    for name, value in environment.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
    for command in (["status"], ["redrive"]):
        code = main([*command, *options])
        captured = capsys.readouterr()
        assert code == EXIT_AWS_SETUP, captured.err
        assert captured.out == "" and captured.err.count("\n") == 1
        assert captured.err.startswith(f"s3seal: {command[0]}: ")


# --- a fault at each AWS call -----------------------------------------------------------------

STATUS_CALLS = [
    ("sqs", "GetQueueAttributes"),
    ("s3", "ListObjectsV2"),
    ("s3", "GetObject"),
    ("cloudwatch", "GetMetricStatistics"),
]


def _fail(client: Any, service: str, operation: str, code: str) -> Callable[[], None]:
    """``operation`` on ``client`` raises the ClientError AWS would give for ``code``, until the
    returned function is called."""
    event = f"before-call.{service}.{operation}"

    def raise_error(**_: Any) -> None:
        response: Any = {"Error": {"Code": code, "Message": f"injected {code}"}}
        raise ClientError(response, operation)

    client.meta.events.register(event, raise_error)
    return lambda: client.meta.events.unregister(event, raise_error)


@pytest.mark.parametrize(("service", "operation"), STATUS_CALLS)
@pytest.mark.parametrize(
    ("code", "expected", "exit_code"),
    [("AccessDenied", AwsSetupError, EXIT_AWS_SETUP), ("InternalError", S3SealError, EXIT_FAILURE)],
)
def test_a_fault_at_each_status_call_is_one_line(
    stack: Stack,
    service: str,
    operation: str,
    code: str,
    expected: type[S3SealError],
    exit_code: int,
) -> None:
    # GIVEN something for every call to read (a dead letter, a batch record)
    stack.dead_letter("in/a.csv")
    stack.put_record(_record(1, State.LOADED, updated=datetime.now(UTC)))
    clients = {"s3": stack.h.s3, "sqs": stack.sqs, "cloudwatch": stack.cloudwatch}
    _fail(clients[service], service, operation, code)
    # WHEN status gathers, THEN the failure is the error to report, in one line
    with pytest.raises(expected) as caught:
        health.gather(
            s3=stack.h.s3,
            sqs=stack.sqs,
            cloudwatch=stack.cloudwatch,
            landing=stack.h.landing,
            staging=stack.h.staging,
            queue_url=stack.queue_url,
            dlq_url=stack.dlq_url,
            now=datetime.now(UTC),
        )
    message = str(caught.value)
    assert "\n" not in message and f"injected {code}" in message
    assert exit_code_for(caught.value) == exit_code
    if code == "InternalError":
        assert not isinstance(caught.value, AwsSetupError)
    elif operation == "GetObject":
        assert message.endswith("(is this principal in staging_extra_reader_arns?)")


def test_a_record_that_is_not_one_is_named(stack: Stack) -> None:
    key = f"{BATCH_PREFIX}20261207T010000Z-bad.json"
    stack.h.s3.put_object(Bucket=stack.h.staging, Key=key, Body=b"{not json")
    with pytest.raises(S3SealError, match=f"s3://{stack.h.staging}/{key} is not a batch record"):
        health.read_batches(stack.h.s3, stack.h.staging, datetime.now(UTC))


# --- redrive ----------------------------------------------------------------------------------


def test_redrive_falls_back_to_receive_send_delete_where_the_move_task_is_missing(
    stack: Stack, capsys: Capture
) -> None:
    # GIVEN three dead letters (moto has no StartMessageMoveTask)
    ids = stack.dead_letter("in/a.csv", "in/b c.csv", "in/c.csv")
    # WHEN they are redriven
    code, out, err = stack.cli("redrive", capsys=capsys)
    # THEN each is back in the queue, said as it moved, and gone from the DLQ
    assert code == 0
    lines = out.splitlines()
    assert lines[:3] == [
        f"moved {ids[0]} s3://{stack.h.landing}/in/a.csv",
        f"moved {ids[1]} s3://{stack.h.landing}/in/b c.csv",
        f"moved {ids[2]} s3://{stack.h.landing}/in/c.csv",
    ]
    assert lines[3] == f"moved 3 message(s) by receive-send to {stack.queue_url}"
    assert "move task is not available" in err
    assert stack.count(stack.dlq_url) == 0
    bodies = sorted(m["Body"] for m in stack.drain(stack.queue_url))
    keys = sorted(json.loads(body)["Records"][0]["s3"]["object"]["key"] for body in bodies)
    assert keys == ["in/a.csv", "in/b c.csv", "in/c.csv"]
    # AND a second run finds nothing to move
    code, out, _ = stack.cli("redrive", capsys=capsys)
    assert code == 0 and out.strip() == f"nothing to move: {stack.dlq_url} is empty"


def test_redrive_max_moves_that_many(stack: Stack, capsys: Capture) -> None:
    stack.dead_letter("in/a.csv", "in/b.csv", "in/c.csv")
    code, out, _ = stack.cli("redrive", "--max", "2", "--json", capsys=capsys)
    doc = json.loads(out)
    assert code == 0 and doc["Method"] == "receive-send" and doc["Moved"] == 2
    assert doc["Waiting"] == 3 and len(doc["Messages"]) == 2
    assert stack.count(stack.dlq_url) == 1 and stack.count(stack.queue_url) == 2


def test_redrive_dryrun_moves_nothing(stack: Stack, capsys: Capture) -> None:
    stack.dead_letter("in/a.csv", "in/b.csv")
    code, out, _ = stack.cli("redrive", "--dryrun", capsys=capsys)
    assert code == 0
    assert out.strip() == f"would move 2 of 2 message(s) by move-task to {stack.queue_url}"
    code, out, _ = stack.cli("redrive", "--dryrun", "--max", "1", "--json", capsys=capsys)
    assert json.loads(out) | {"Messages": []} == {
        "Method": "receive-send",
        "DryRun": True,
        "Waiting": 2,
        "TaskHandle": None,
        "Moved": 0,
        "Messages": [],
    }
    assert stack.count(stack.dlq_url) == 2 and stack.count(stack.queue_url) == 0


def test_redrive_uses_the_move_task_where_sqs_has_it(stack: Stack) -> None:
    # GIVEN an SQS that accepts StartMessageMoveTask (moto does not: answered here as SQS would)
    stack.dead_letter("in/a.csv")
    calls: list[dict[str, Any]] = []

    def accept(params: dict[str, Any], **_: Any) -> tuple[Any, dict[str, Any]]:
        calls.append(params)
        return SimpleNamespace(status_code=200), {"TaskHandle": "handle-1"}

    stack.sqs.meta.events.register("before-call.sqs.StartMessageMoveTask", accept)
    # WHEN redriven without --max
    result = redrive(stack.sqs, dlq_url=stack.dlq_url, queue_url=stack.queue_url)
    # THEN the task was started from the DLQ to the queue, and nothing was received by hand
    assert result.method is Method.MOVE_TASK and result.task_handle == "handle-1"
    arns = [
        stack.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        for url in (stack.dlq_url, stack.queue_url)
    ]
    assert len(calls) == 1
    assert json.loads(calls[0]["body"]) == {"SourceArn": arns[0], "DestinationArn": arns[1]}
    assert stack.count(stack.dlq_url) == 1 and stack.count(stack.queue_url) == 0


def test_an_sqs_refusal_of_the_move_task_is_reported_not_worked_around(stack: Stack) -> None:
    # GIVEN an SQS that refuses the task (as it does while another one runs on the queue)
    stack.dead_letter("in/a.csv")
    undo = _fail(stack.sqs, "sqs", "StartMessageMoveTask", "UnsupportedOperation")
    with pytest.raises(S3SealError, match="cannot start a message move task") as caught:
        redrive(stack.sqs, dlq_url=stack.dlq_url, queue_url=stack.queue_url)
    undo()
    # THEN nothing was moved by hand behind its back
    assert not isinstance(caught.value, AwsSetupError)
    assert stack.count(stack.dlq_url) == 1 and stack.count(stack.queue_url) == 0


def test_redrive_refuses_a_queue_whose_dead_letter_queue_is_another(
    stack: Stack, capsys: Capture
) -> None:
    other, _ = _new_queues(stack.sqs, os.urandom(4).hex())
    stack.dead_letter("in/a.csv")
    code, out, err = stack.cli("redrive", "--queue-url", other, capsys=capsys)
    assert code == EXIT_USAGE and out == "" and err.count("\n") == 1
    assert "refusing to move messages it did not dead-letter" in err
    assert stack.count(stack.dlq_url) == 1


def test_a_failed_send_deletes_nothing(stack: Stack) -> None:
    # GIVEN a dead letter, and an SQS that refuses the copy
    stack.dead_letter("in/a.csv")
    undo = _fail(stack.sqs, "sqs", "SendMessage", "InternalError")
    # WHEN redriven, THEN the error says so in one line and the message is still in the DLQ
    with pytest.raises(S3SealError) as caught:
        redrive(stack.sqs, dlq_url=stack.dlq_url, queue_url=stack.queue_url, max_messages=5)
    undo()
    assert "\n" not in str(caught.value)
    assert "it stays in the dead-letter queue (0 moved before it)" in str(caught.value)
    assert stack.count(stack.dlq_url) == 1 and stack.count(stack.queue_url) == 0


def test_a_failed_delete_after_the_send_says_it_is_in_both_queues(stack: Stack) -> None:
    stack.dead_letter("in/a.csv")
    undo = _fail(stack.sqs, "sqs", "DeleteMessage", "AccessDenied")
    with pytest.raises(AwsSetupError, match="it is in both queues"):
        redrive(stack.sqs, dlq_url=stack.dlq_url, queue_url=stack.queue_url, max_messages=5)
    undo()
    assert stack.count(stack.dlq_url) == 1 and stack.count(stack.queue_url) == 1


@pytest.mark.parametrize(
    "operation", ["GetQueueAttributes", "ReceiveMessage", "StartMessageMoveTask"]
)
def test_a_fault_at_each_redrive_call_is_one_line(stack: Stack, operation: str) -> None:
    stack.dead_letter("in/a.csv")
    undo = _fail(stack.sqs, "sqs", operation, "AccessDenied")
    with pytest.raises(AwsSetupError) as caught:
        redrive(stack.sqs, dlq_url=stack.dlq_url, queue_url=stack.queue_url)
    undo()
    assert "\n" not in str(caught.value) and "injected AccessDenied" in str(caught.value)
    assert stack.count(stack.dlq_url) == 1
