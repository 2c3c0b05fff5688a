"""s3seal backfill against moto: the listing, the manifest, the inventory checks, the dryrun
figures, the stack's outputs, and the CreateJob request.

moto (5.2) has no S3 Batch Operations: s3control CreateJob and DescribeJob are answered by a
botocore Stubber on a real s3control client, which still checks every request against the AWS
API model (so a malformed job request fails here). Everything else (S3, CloudFormation outputs)
is moto. What no test here can show: that Batch Operations accepts the manifest and the role
(the role's policies are checked in tests/infra/test_access.py), and its throttling and retries.
The manifest's rows are fed to the function as Batch Operations would send them, so the key
encoding is checked end to end.
"""

from __future__ import annotations

import copy
import csv
import gzip
import io
import json
import os
from collections.abc import Iterator
from contextlib import redirect_stdout
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from s3seal.cli import backfill as commands_backfill
from s3seal.cli import build_parser, main
from s3seal.cli.exits import exit_code_for
from s3seal.errors import AwsSetupError, BackfillError, ConfigError, S3SealError
from s3seal.names import (
    OUTPUT_BACKFILL_BUCKET,
    OUTPUT_BACKFILL_ROLE_ARN,
    OUTPUT_FUNCTION_ARN,
    OUTPUT_LANDING_BUCKET,
)
from s3seal.operate.backfill import (
    CSV_MANIFEST,
    INVENTORY_MANIFEST,
)

from ..conftest import REGION
from .conftest import FakeContext, Harness, load_event

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/s3seal-backfill"
FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:s3seal-encrypt"
JOB = "f3cc4f60-61f6-4a2b-8a21-d07600c373ce"


@dataclass
class Clients:
    """The CLI's clients: moto's S3 and CloudFormation, and a stubbed s3control."""

    s3: Any
    cloudformation: Any
    s3control: Any

    def client(self, service: str) -> Any:
        return {"cloudformation": self.cloudformation, "s3control": self.s3control}[service]


@dataclass
class World:
    clients: Clients
    stub: Stubber
    landing: str
    backfill: str
    stack: str
    err: io.StringIO

    def run(self, *argv: str) -> tuple[int, dict[str, Any]]:
        args = build_parser().parse_args(["backfill", *argv, "--stack-name", self.stack])
        out = io.StringIO()
        try:
            with redirect_stdout(out):
                code = commands_backfill.run_backfill(args, self.clients, err=self.err)
        except S3SealError as exc:
            return exit_code_for(exc), {"Error": str(exc), "Type": type(exc).__name__}
        return code, json.loads(out.getvalue())

    def manifests(self) -> list[str]:
        listing = self.clients.s3.list_objects_v2(Bucket=self.backfill, Prefix="manifests/")
        return [obj["Key"] for obj in listing.get("Contents", [])]

    def body(self, key: str) -> bytes:
        data: bytes = self.clients.s3.get_object(Bucket=self.backfill, Key=key)["Body"].read()
        return data


def _bucket(s3: Any, prefix: str, *, versioned: bool) -> str:
    name = f"{prefix}-{os.urandom(4).hex()}"
    s3.create_bucket(Bucket=name)
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def _stack(cloudformation: Any, outputs: dict[str, str]) -> str:
    name = f"S3Seal-{os.urandom(3).hex()}"
    template = {
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))
    return name


def _world(moto_endpoint: str, s3: Any, landing: str) -> Iterator[World]:
    cloudformation = boto3.client("cloudformation", endpoint_url=moto_endpoint, region_name=REGION)
    s3control = boto3.client("s3control", region_name=REGION)
    backfill = _bucket(s3, "backfill", versioned=False)
    stack = _stack(
        cloudformation,
        {
            OUTPUT_FUNCTION_ARN: FUNCTION,
            OUTPUT_BACKFILL_ROLE_ARN: ROLE,
            OUTPUT_BACKFILL_BUCKET: backfill,
            OUTPUT_LANDING_BUCKET: landing,
        },
    )
    with Stubber(s3control) as stub:
        yield World(
            Clients(s3, cloudformation, s3control), stub, landing, backfill, stack, io.StringIO()
        )
        stub.assert_no_pending_responses()


@pytest.fixture
def world(moto_endpoint: str, harness: Harness) -> Iterator[World]:
    """A versioned landing bucket (the harness's, so the function can stage what it lists)."""
    yield from _world(moto_endpoint, harness.s3, harness.landing)


def expect_job(world: World, manifest: Any, **overrides: Any) -> None:
    request: dict[str, Any] = {
        "AccountId": ACCOUNT,
        "ConfirmationRequired": False,
        "Operation": {"LambdaInvoke": {"FunctionArn": FUNCTION, "InvocationSchemaVersion": "2.0"}},
        "Report": {
            "Bucket": f"arn:aws:s3:::{world.backfill}",
            "Format": "Report_CSV_20180820",
            "Enabled": True,
            "ReportScope": "AllTasks",
            "Prefix": "reports",
        },
        "ClientRequestToken": ANY,
        "Manifest": manifest,
        "Description": ANY,
        "Priority": 10,
        "RoleArn": ROLE,
    }
    world.stub.add_response("create_job", {"JobId": JOB}, request | overrides)


def expect_progress(world: World, status: str, total: int, ok: int, failed: int = 0) -> None:
    job: dict[str, Any] = {
        "JobId": JOB,
        "Status": status,
        "ProgressSummary": {
            "TotalNumberOfTasks": total,
            "NumberOfTasksSucceeded": ok,
            "NumberOfTasksFailed": failed,
        },
    }
    if status == "Failed":
        job["FailureReasons"] = [
            {"FailureCode": "ManifestNotFound", "FailureReason": "manifest unreadable"}
        ]
    world.stub.add_response("describe_job", {"Job": job}, {"AccountId": ACCOUNT, "JobId": JOB})


def batch_event(rows: list[list[str]]) -> dict[str, Any]:
    """The schema 2.0 event Batch Operations sends for these manifest rows (keys as written)."""
    event = load_event("batch_operations_2.0.json")
    template = event["tasks"][0]
    event["tasks"] = [
        dict(
            copy.deepcopy(template),
            taskId=f"task-{n}",
            s3Bucket=row[0],
            s3Key=row[1],
            s3VersionId=row[2] if len(row) > 2 else None,
        )
        for n, row in enumerate(rows)
    ]
    return event


# --- a listing manifest ---------------------------------------------------------------------------


def test_backfill_lists_current_versions_into_a_manifest_the_function_can_stage(
    world: World, harness: Harness, context: FakeContext
) -> None:
    # GIVEN landing with odd keys, an overwritten key, a deleted key and a key outside the prefix
    odd = harness.put("in/café, menu+1.csv", b"a" * 10)
    harness.put("in/twice.csv", b"old")
    twice = harness.put("in/twice.csv", b"b" * 20)
    harness.put("in/gone.csv", b"c")
    harness.s3.delete_object(Bucket=harness.landing, Key="in/gone.csv")
    harness.put("elsewhere/x.csv", b"d")
    # WHEN backfilling the prefix, with the job ending in Complete
    expect_job(world, ANY)
    for status, ok in (("Active", 1), ("Complete", 2)):
        expect_progress(world, status, 2, ok)
    code, out = world.run(f"s3://{harness.landing}/in/", "--poll-seconds", "0")
    # THEN the manifest names the two current versions, keys URL-encoded, and nothing else
    [key] = world.manifests()
    assert key.startswith(f"manifests/{harness.landing}/") and key.endswith(".csv")
    rows = list(csv.reader(io.StringIO(world.body(key).decode())))
    assert sorted(rows) == sorted(
        [
            [harness.landing, "in/caf%C3%A9%2C+menu%2B1.csv", odd.version_id],
            [harness.landing, "in/twice.csv", twice.version_id],
        ]
    )
    # ... the job was created from that manifest, pinned to its ETag (the stub checks the request)
    assert code == 0
    assert out["JobId"] == JOB and out["Status"] == "Complete"
    assert out["Objects"] == 2 and out["Bytes"] == 30
    assert out["Manifest"] == f"s3://{world.backfill}/{key}"
    etag = world.clients.s3.head_object(Bucket=world.backfill, Key=key)["ETag"].strip('"')
    assert out["ManifestETag"] == etag
    assert "Active  1/2 (50%)" in world.err.getvalue()
    # ... and the rows, sent as Batch Operations sends them, are staged by the function
    response = harness.app().handle(batch_event(rows), context)
    assert {r["resultCode"] for r in response["results"]} == {"Succeeded"}
    assert harness.staged_plaintext("in/café, menu+1.csv") == odd.body
    assert harness.staged_plaintext("in/twice.csv") == twice.body


def test_the_create_job_request_pins_the_manifest_etag(world: World, harness: Harness) -> None:
    harness.put("in/a.csv", b"abc")
    captured: dict[str, Any] = {}

    def keep(params: dict[str, Any], **_: Any) -> None:
        captured.update(params)

    world.clients.s3control.meta.events.register("provide-client-params.s3-control.CreateJob", keep)
    expect_job(
        world,
        {
            "Spec": {"Format": CSV_MANIFEST, "Fields": ["Bucket", "Key", "VersionId"]},
            "Location": ANY,
        },
        Priority=42,
        ConfirmationRequired=True,
        Report={
            "Bucket": f"arn:aws:s3:::{world.backfill}",
            "Format": "Report_CSV_20180820",
            "Enabled": True,
            "ReportScope": "FailedTasksOnly",
            "Prefix": "reports",
        },
    )
    code, out = world.run(
        f"s3://{harness.landing}",
        "--priority", "42",
        "--report-scope", "FailedTasksOnly",
        "--confirmation-required",
    )  # fmt: skip
    assert code == 0
    [key] = world.manifests()
    etag = world.clients.s3.head_object(Bucket=world.backfill, Key=key)["ETag"].strip('"')
    assert captured["Manifest"]["Location"] == {
        "ObjectArn": f"arn:aws:s3:::{world.backfill}/{key}",
        "ETag": etag,
    }
    # confirmation required: no waiting, and the command to confirm
    assert "--requested-job-status Ready" in out["Confirm"] and "Status" not in out


def test_overrides_replace_the_stack_outputs(world: World, harness: Harness) -> None:
    harness.put("a.csv", b"abc")
    other = _bucket(harness.s3, "reports", versioned=False)
    role = f"arn:aws:iam::{ACCOUNT}:role/other"
    expect_job(
        world,
        ANY,
        RoleArn=role,
        Report={
            "Bucket": f"arn:aws:s3:::{other}",
            "Format": "Report_CSV_20180820",
            "Enabled": True,
            "ReportScope": "AllTasks",
            "Prefix": "bf/out",
        },
    )
    code, _ = world.run(
        f"s3://{harness.landing}",
        "--role-arn", role,
        "--function-arn", FUNCTION,
        "--report-to", f"s3://{other}/bf/out/",
        "--stack-name", "no-such-stack",  # never read: every output is given
        "--no-wait",
    )  # fmt: skip
    assert code == 0
    assert [
        obj["Key"].split("/")[0] for obj in harness.s3.list_objects_v2(Bucket=other)["Contents"]
    ] == ["manifests"]


def test_a_report_location_the_stacks_role_cannot_write_is_refused(
    world: World, harness: Harness
) -> None:
    harness.put("a.csv", b"abc")
    for elsewhere in (f"s3://{world.backfill}/other/", "s3://some-other-bucket/reports/"):
        code, out = world.run(f"s3://{harness.landing}", "--report-to", elsewhere)
        assert code == 2, out
        assert f"writes reports only under s3://{world.backfill}/reports/" in out["Error"]
    assert world.manifests() == []
    # ... a folder under reports/ is fine
    expect_job(world, ANY, Report=ANY)
    code, _ = world.run(
        f"s3://{harness.landing}", "--report-to", f"s3://{world.backfill}/reports/x/", "--no-wait"
    )
    assert code == 0


def test_a_failed_job_exits_1_with_its_reasons(world: World, harness: Harness) -> None:
    harness.put("a.csv", b"abc")
    expect_job(world, ANY)
    expect_progress(world, "Failed", 0, 0)
    code, out = world.run(f"s3://{harness.landing}", "--poll-seconds", "0")
    assert code == 1
    assert out["FailureReasons"] == ["ManifestNotFound: manifest unreadable"]
    assert f"backfill job {JOB}: Failed" in world.err.getvalue()


def test_access_denied_creating_the_job_is_a_setup_error(world: World, harness: Harness) -> None:
    harness.put("a.csv", b"abc")
    world.stub.add_client_error("create_job", "AccessDenied", "not allowed: iam:PassRole")
    code, out = world.run(f"s3://{harness.landing}")
    assert code == 5 and out["Type"] == AwsSetupError.__name__
    assert "create the Batch Operations job: AccessDenied: not allowed" in out["Error"]


def test_nothing_to_backfill_writes_no_manifest_and_creates_no_job(
    world: World, harness: Harness
) -> None:
    harness.put("in/a.csv", b"abc")
    code, out = world.run(f"s3://{harness.landing}/empty/")
    assert code == 0 and out == {
        "Landing": f"s3://{harness.landing}/empty/",
        "Objects": 0,
        "JobId": None,
    }
    assert world.manifests() == []


def test_a_bucket_that_is_not_the_stacks_landing_is_refused(world: World, s3: Any) -> None:
    other = _bucket(s3, "other", versioned=True)
    code, out = world.run(f"s3://{other}")
    assert code == 2 and "is not the landing bucket of stack" in out["Error"]
    assert world.manifests() == []


def test_a_malformed_role_arn_is_refused_before_anything_is_written(
    world: World, harness: Harness
) -> None:
    harness.put("a.csv", b"abc")
    code, out = world.run(f"s3://{harness.landing}", "--role-arn", "s3seal-backfill")
    assert code == 2 and "--role-arn 's3seal-backfill' is not a iam ARN" in out["Error"]
    assert world.manifests() == []


# --- an unversioned landing bucket ----------------------------------------------------------------


def test_unversioned_landing_gives_a_two_column_manifest(moto_endpoint: str, s3: Any) -> None:
    landing = _bucket(s3, "plain", versioned=False)
    s3.put_object(Bucket=landing, Key="k 1.csv", Body=b"abcd")
    for world in _world(moto_endpoint, s3, landing):
        expect_job(
            world,
            {"Spec": {"Format": CSV_MANIFEST, "Fields": ["Bucket", "Key"]}, "Location": ANY},
        )
        code, _ = world.run(f"s3://{landing}", "--no-wait")
        assert code == 0
        [key] = world.manifests()
        assert world.body(key) == f"{landing},k+1.csv\n".encode()


# --- the dryrun, through the CLI ------------------------------------------------------------------


def test_dryrun_counts_current_objects_and_bytes_under_the_prefix(
    moto_endpoint: str, harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    harness.put("in/a.csv", b"x" * 100)
    harness.put("in/b.csv", b"old version, not counted")
    harness.put("in/b.csv", b"y" * 50)
    harness.put("out/c.csv", b"z" * 7)
    code = main(["backfill", f"s3://{harness.landing}/in/", "--dryrun",
                 "--endpoint-url", moto_endpoint, "--region", REGION])  # fmt: skip
    assert code == 0
    assert json.loads(capsys.readouterr().out) == {
        "Landing": f"s3://{harness.landing}/in/",
        "Versioned": True,
        "Objects": 2,
        "Bytes": 150,
        "DryRun": True,
    }


def test_dryrun_of_an_unversioned_bucket(
    moto_endpoint: str, s3: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    landing = _bucket(s3, "plain", versioned=False)
    for n in range(3):
        s3.put_object(Bucket=landing, Key=f"f{n}", Body=b"q" * (n + 1))
    code = main(["backfill", f"s3://{landing}", "--dryrun",
                 "--endpoint-url", moto_endpoint, "--region", REGION])  # fmt: skip
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["Objects"], doc["Bytes"], doc["Versioned"]) == (3, 6, False)


def test_a_missing_bucket_or_stack_is_one_line(
    moto_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["--endpoint-url", moto_endpoint, "--region", REGION]
    assert main(["backfill", "s3://no-such-bucket-s3seal", "--dryrun", *common]) == 5
    assert "NoSuchBucket" in capsys.readouterr().err
    # A stack that is not there is a usage mistake (its name or region), as for status.
    assert main(["backfill", "s3://whatever", "--stack-name", "NoSuchStack", *common]) == 2
    err = capsys.readouterr().err
    assert "no stack NoSuchStack in this account and region" in err
    assert len(err.strip().splitlines()) == 1


# --- an inventory report --------------------------------------------------------------------------


def put_inventory(
    world: World, rows: list[list[str]], schema: str = "Bucket, Key, VersionId, Size"
) -> str:
    """An inventory report in the backfill bucket, as S3 Inventory writes one."""
    base = f"inventory/{world.landing}/all"
    data = f"{base}/data/part-0.csv.gz"
    text = io.StringIO()
    csv.writer(text, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)
    world.clients.s3.put_object(
        Bucket=world.backfill, Key=data, Body=gzip.compress(text.getvalue().encode())
    )
    manifest = {
        "sourceBucket": world.landing,
        "destinationBucket": f"arn:aws:s3:::{world.backfill}",
        "version": "2016-11-30",
        "fileFormat": "CSV",
        "fileSchema": schema,
        "files": [{"key": data, "size": 1, "MD5checksum": "x"}],
    }
    key = f"{base}/2026-12-06T01-00Z/manifest.json"
    world.clients.s3.put_object(Bucket=world.backfill, Key=key, Body=json.dumps(manifest).encode())
    return f"s3://{world.backfill}/{key}"


def test_an_inventory_report_is_the_manifest_and_dryrun_counts_it(world: World) -> None:
    url = put_inventory(
        world, [[world.landing, "a.csv", "v1", "10"], [world.landing, "b%2Bc.csv", "v2", "5"]]
    )
    code, out = world.run(f"s3://{world.landing}", "--inventory", url, "--dryrun")
    assert code == 0 and (out["Objects"], out["Bytes"]) == (2, 15)
    key = url.removeprefix(f"s3://{world.backfill}/")
    etag = world.clients.s3.head_object(Bucket=world.backfill, Key=key)["ETag"].strip('"')
    expect_job(
        world,
        {
            "Spec": {"Format": INVENTORY_MANIFEST},
            "Location": {"ObjectArn": f"arn:aws:s3:::{world.backfill}/{key}", "ETag": etag},
        },
    )
    code, out = world.run(f"s3://{world.landing}", "--inventory", url, "--no-wait")
    assert code == 0 and out["JobId"] == JOB and out["ManifestETag"] == etag
    assert world.manifests() == []  # the inventory is the manifest


@pytest.mark.parametrize(
    ("schema", "landing", "message", "error"),
    [
        ("Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size", None, "lists every version",
         BackfillError),
        ("Bucket, Key, Size", "other-bucket", "lists s3://", BackfillError),
    ],
)  # fmt: skip
def test_unusable_inventories_are_refused(
    world: World, schema: str, landing: str | None, message: str, error: type[Exception]
) -> None:
    url = put_inventory(world, [[world.landing, "a.csv", "v1", "true", "false", "1"]], schema)
    code, out = world.run(f"s3://{landing or world.landing}",
                          "--inventory", url, "--dryrun")  # fmt: skip
    assert out["Type"] == error.__name__ and message in out["Error"], out
    assert code == 1


def test_an_inventory_the_stacks_role_cannot_read_is_refused(world: World) -> None:
    url = put_inventory(world, [[world.landing, "a.csv", "v1", "1"]])
    elsewhere = url.replace("/inventory/", "/other/")
    code, out = world.run(f"s3://{world.landing}", "--inventory", elsewhere)
    assert code == 2 and out["Type"] == ConfigError.__name__
    assert f"reads inventories only under s3://{world.backfill}/inventory/" in out["Error"]
    code, out = world.run(f"s3://{world.landing}/in/", "--inventory", url)
    assert code == 2 and "give no prefix" in out["Error"]


@pytest.mark.parametrize(
    "body",
    [b'"b","a.csv","1"\n', gzip.compress(b"\xff\xfe not utf-8\n")],
    ids=["not-gzip", "not-utf8"],
)
def test_an_inventory_file_that_cannot_be_read_is_a_one_line_error(
    world: World, moto_endpoint: str, body: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    url = put_inventory(world, [[world.landing, "a.csv", "1"]], "Bucket, Key, Size")
    data = f"inventory/{world.landing}/all/data/part-0.csv.gz"
    world.clients.s3.put_object(Bucket=world.backfill, Key=data, Body=body)
    argv = ["backfill", f"s3://{world.landing}", "--inventory", url, "--dryrun"]
    code = main([*argv, "--endpoint-url", moto_endpoint, "--region", REGION])
    err = capsys.readouterr().err
    assert code == 1, err
    assert len(err.strip().splitlines()) == 1 and data in err, err
