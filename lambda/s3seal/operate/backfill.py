"""Backfill: an S3 Batch Operations job that runs the encrypting function over objects already in
landing (they arrived before the stack, or while its notifications were off).

Here: the listing, the CSV manifest, reading an S3 Inventory report, the ``CreateJob`` request and
the job's progress. The CLI (``commands_backfill``) only parses options and prints.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import (
    AwsSetupError,
    BackfillError,
    ConfigError,
    S3SealError,
    aws_error_code,
    aws_reason,
    is_aws_setup_failure,
)
from ..objects import ObjectRef, parse_s3_url

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

S3ControlClient = Any
"""boto3's s3control client (boto3-stubs is installed without its s3control stubs)."""

# Stack output keys (infra.stack writes them, the CLI reads them: one spelling, here).

# The backfill bucket's prefixes: the job role reads the first two and writes only the third.
MANIFEST_PREFIX = "manifests/"
INVENTORY_PREFIX = "inventory/"
REPORT_PREFIX = "reports/"

CSV_MANIFEST = "S3BatchOperations_CSV_20180820"
INVENTORY_MANIFEST = "S3InventoryReport_CSV_20161130"
REPORT_FORMAT = "Report_CSV_20180820"
INVOCATION_SCHEMA = "2.0"
"""events.from_batch_job reads 1.0 and 2.0; 2.0 names the bucket without an ARN."""
REPORT_SCOPES = ("AllTasks", "FailedTasksOnly")
DONE = frozenset({"Complete", "Failed", "Cancelled"})

_ARN = re.compile(r"^arn:(?P<partition>aws[a-z-]*):(?P<service>[a-z0-9-]+):[a-z0-9-]*:(?P<account>\d{12}):.+$")  # fmt: skip  # noqa: E501


def aws_failure(exc: ClientError | BotoCoreError, action: str) -> S3SealError:
    """An AWS failure during a backfill: setup mistakes (credentials, access, no region, a bad
    endpoint; and a landing bucket that is not there, a wrong name or region) as AwsSetupError,
    anything else as BackfillError."""
    if is_aws_setup_failure(exc) or aws_error_code(exc) == "NoSuchBucket":
        return AwsSetupError(f"{action}: {aws_reason(exc)}")
    return BackfillError(f"{action}: {aws_reason(exc)}")


def parse_arn(arn: str, service: str, what: str) -> re.Match[str]:
    match = _ARN.match(arn)
    if match is None or match["service"] != service:
        raise ConfigError(f"{what} {arn!r} is not a {service} ARN")
    return match


# --- the listing and the CSV manifest -------------------------------------------------------------


@dataclass(frozen=True)
class Listed:
    key: str
    version_id: str | None
    size: int


@dataclass
class Survey:
    """What a backfill covers: ``objects`` current versions, ``bytes`` in all."""

    objects: int = 0
    bytes: int = 0
    versioned: bool = False

    def add(self, item: Listed) -> None:
        self.objects += 1
        self.bytes += item.size


def is_versioned(s3: S3Client, bucket: str) -> bool:
    """Versioning was ever turned on (Enabled or Suspended): then listings carry version ids."""
    try:
        status = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    except (ClientError, BotoCoreError) as exc:
        raise aws_failure(exc, f"read the versioning of s3://{bucket}") from None
    return status in ("Enabled", "Suspended")


def list_current(s3: S3Client, bucket: str, prefix: str, *, versioned: bool) -> Iterator[Listed]:
    """Every current version under ``prefix`` (delete markers and older versions left out)."""
    try:
        if versioned:
            pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
            for page in pages:
                for version in page.get("Versions", []):
                    if version.get("IsLatest"):
                        yield Listed(version["Key"], version["VersionId"], version.get("Size", 0))
        else:
            listing = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for objects in listing:
                for obj in objects.get("Contents", []):
                    yield Listed(obj["Key"], None, obj.get("Size", 0))
    except (ClientError, BotoCoreError) as exc:
        raise aws_failure(exc, f"list s3://{bucket}/{prefix}") from None


def survey(s3: S3Client, landing: ObjectRef) -> Survey:
    """Count and size what a backfill of ``landing`` (bucket and key prefix) would cover."""
    result = Survey(versioned=is_versioned(s3, landing.bucket))
    for item in list_current(s3, landing.bucket, landing.key, versioned=result.versioned):
        result.add(item)
    return result


def manifest_row(bucket: str, item: Listed) -> list[str]:
    """One manifest row. Batch Operations wants keys URL-encoded and hands them to the function
    as they are; events.from_batch_job decodes them (``+`` is a space, so ``+`` itself is %2B)."""
    key = quote_plus(item.key, safe="/")
    return [bucket, key] if item.version_id is None else [bucket, key, item.version_id]


@dataclass(frozen=True)
class Manifest:
    """A manifest in S3 that a job can be created from (its ETag is what CreateJob pins)."""

    location: ObjectRef
    etag: str
    spec: dict[str, Any]
    survey: Survey = field(default_factory=Survey)


def manifest_key(prefix: str, landing: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{prefix}{landing}/{stamp}-{uuid.uuid4().hex[:8]}.csv"


def write_manifest(s3: S3Client, landing: ObjectRef, destination: ObjectRef) -> Manifest | None:
    """List ``landing`` into a CSV manifest at ``destination`` (bucket and key); None, and nothing
    written, when there is nothing to backfill."""
    result = Survey(versioned=is_versioned(s3, landing.bucket))
    # Spooled: a listing of millions of keys stays off the heap.
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024, mode="w+b") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        writer = csv.writer(text, lineterminator="\n")
        for item in list_current(s3, landing.bucket, landing.key, versioned=result.versioned):
            writer.writerow(manifest_row(landing.bucket, item))
            result.add(item)
        text.flush()
        if not result.objects:
            return None
        raw.seek(0)
        try:
            response = s3.put_object(
                Bucket=destination.bucket,
                Key=destination.key,
                Body=raw,
                ContentType="text/csv",
            )
        except (ClientError, BotoCoreError) as exc:
            raise aws_failure(exc, f"write the manifest {destination.url}") from None
        text.detach()
    fields = ["Bucket", "Key", "VersionId"] if result.versioned else ["Bucket", "Key"]
    return Manifest(
        location=ObjectRef(destination.bucket, destination.key, response.get("VersionId")),
        etag=response["ETag"].strip('"'),
        spec={"Format": CSV_MANIFEST, "Fields": fields},
        survey=result,
    )


# --- an S3 Inventory report -----------------------------------------------------------------------


def read_inventory(s3: S3Client, url: str, landing: str, *, count: bool = False) -> Manifest:
    """An inventory report's ``manifest.json`` as a job manifest, checked first: it must list
    ``landing``, and current versions only (an all-versions inventory would have the function
    encrypt old versions too). ``count`` also reads its CSV files for the dryrun's figures."""
    ref = parse_s3_url(url)
    if not ref.key.endswith("manifest.json"):
        raise ConfigError(f"{url} is not an inventory report's manifest.json")
    try:
        response = s3.get_object(Bucket=ref.bucket, Key=ref.key)
        doc = json.loads(response["Body"].read())
    except (ClientError, BotoCoreError) as exc:
        raise aws_failure(exc, f"read the inventory {url}") from None
    except ValueError:
        raise BackfillError(f"inventory {url}: manifest.json is not JSON") from None
    if not isinstance(doc, Mapping):
        raise BackfillError(f"inventory {url}: manifest.json is not a JSON object")
    source = str(doc.get("sourceBucket", ""))
    if source != landing:
        raise BackfillError(f"inventory {url} lists s3://{source}, not s3://{landing}")
    columns = [name.strip() for name in str(doc.get("fileSchema", "")).split(",")]
    if "Key" not in columns:
        raise BackfillError(f"inventory {url}: its fileSchema has no Key column")
    if "IsLatest" in columns:
        raise BackfillError(
            f"inventory {url} lists every version: configure it for current versions only"
        )
    result = Survey(versioned="VersionId" in columns)
    if count:
        if doc.get("fileFormat") != "CSV":
            raise BackfillError(f"inventory {url}: --dryrun reads CSV inventories only")
        for item in _inventory_rows(s3, ref.bucket, doc, columns):
            result.add(item)
    return Manifest(
        location=ObjectRef(ref.bucket, ref.key, response.get("VersionId")),
        etag=response["ETag"].strip('"'),
        spec={"Format": INVENTORY_MANIFEST},
        survey=result,
    )


def _inventory_rows(
    s3: S3Client, bucket: str, doc: Mapping[str, Any], columns: list[str]
) -> Iterator[Listed]:
    size_at = columns.index("Size") if "Size" in columns else None
    key_at = columns.index("Key")
    for entry in doc.get("files", []):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("key"), str):
            raise BackfillError(f"inventory manifest: a file entry without a key: {entry!r:.200}")
        key = entry["key"]
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        except (ClientError, BotoCoreError) as exc:
            raise aws_failure(exc, f"read the inventory file s3://{bucket}/{key}") from None
        # Streamed: an inventory file can hold millions of rows.
        text = io.TextIOWrapper(gzip.GzipFile(fileobj=body), encoding="utf-8", newline="")
        try:
            for row in csv.reader(text):
                if not row:
                    continue
                size = row[size_at] if size_at is not None and size_at < len(row) else ""
                yield Listed(row[key_at], None, int(size) if size.isdigit() else 0)
        except (OSError, EOFError, UnicodeDecodeError, csv.Error, IndexError) as exc:
            raise BackfillError(
                f"inventory file s3://{bucket}/{key}: not a gzipped CSV inventory "
                f"with a Key column ({type(exc).__name__}: {exc})"
            ) from None
        except (ClientError, BotoCoreError) as exc:
            raise aws_failure(exc, f"read the inventory file s3://{bucket}/{key}") from None


# --- the job ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class JobTarget:
    """Where the job comes from and goes: the function it invokes, the role it runs as, and the
    bucket and prefix its completion report goes to."""

    function_arn: str
    role_arn: str
    report: ObjectRef

    def __post_init__(self) -> None:
        # A malformed ARN fails here, before a manifest is written.
        parse_arn(self.role_arn, "iam", "--role-arn")
        parse_arn(self.function_arn, "lambda", "--function-arn")

    @property
    def account(self) -> str:
        # The job is created in the role's account: Batch Operations takes only its own roles.
        return parse_arn(self.role_arn, "iam", "--role-arn")["account"]

    @property
    def partition(self) -> str:
        return parse_arn(self.function_arn, "lambda", "--function-arn")["partition"]

    def arn(self, ref: ObjectRef) -> str:
        return f"arn:{self.partition}:s3:::{ref.bucket}" + (f"/{ref.key}" if ref.key else "")


def job_request(
    target: JobTarget,
    manifest: Manifest,
    *,
    description: str,
    priority: int = 10,
    report_scope: str = "AllTasks",
    confirmation_required: bool = False,
    token: str | None = None,
) -> dict[str, Any]:
    """The ``s3control.create_job`` arguments: invoke the function (schema 2.0) for every row of
    ``manifest``, pinned to the manifest's ETag, and report to ``target.report``."""
    if report_scope not in REPORT_SCOPES:
        raise ConfigError(f"report scope {report_scope!r} is not one of {', '.join(REPORT_SCOPES)}")
    location: dict[str, Any] = {"ObjectArn": target.arn(manifest.location), "ETag": manifest.etag}
    if manifest.location.version_id:
        location["ObjectVersionId"] = manifest.location.version_id
    report: dict[str, Any] = {
        "Bucket": target.arn(ObjectRef(target.report.bucket, "")),
        "Format": REPORT_FORMAT,
        "Enabled": True,
        "ReportScope": report_scope,
    }
    if target.report.key.strip("/"):
        report["Prefix"] = target.report.key.strip("/")
    return {
        "AccountId": target.account,
        "ConfirmationRequired": confirmation_required,
        "Operation": {
            "LambdaInvoke": {
                "FunctionArn": target.function_arn,
                "InvocationSchemaVersion": INVOCATION_SCHEMA,
            }
        },
        "Report": report,
        "ClientRequestToken": token or str(uuid.uuid4()),
        "Manifest": {"Spec": manifest.spec, "Location": location},
        "Description": description[:256],
        "Priority": priority,
        "RoleArn": target.role_arn,
    }


def create_job(s3control: S3ControlClient, request: dict[str, Any]) -> str:
    try:
        return str(s3control.create_job(**request)["JobId"])
    except (ClientError, BotoCoreError) as exc:
        raise aws_failure(exc, "create the Batch Operations job") from None


@dataclass(frozen=True)
class Progress:
    status: str
    total: int
    succeeded: int
    failed: int
    reasons: tuple[str, ...] = ()

    @property
    def done(self) -> bool:
        return self.status in DONE

    def line(self) -> str:
        settled = self.succeeded + self.failed
        share = f" ({100 * settled // self.total}%)" if self.total else ""
        return (
            f"{self.status}  {settled}/{self.total}{share}  "
            f"succeeded {self.succeeded}  failed {self.failed}"
        )

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "Status": self.status,
            "Tasks": self.total,
            "Succeeded": self.succeeded,
            "Failed": self.failed,
        }
        if self.reasons:
            doc["FailureReasons"] = list(self.reasons)
        return doc


def job_progress(s3control: S3ControlClient, account: str, job_id: str) -> Progress:
    try:
        job = s3control.describe_job(AccountId=account, JobId=job_id)["Job"]
    except (ClientError, BotoCoreError) as exc:
        raise aws_failure(exc, f"describe the Batch Operations job {job_id}") from None
    summary = job.get("ProgressSummary", {})
    return Progress(
        status=job.get("Status", "Unknown"),
        total=summary.get("TotalNumberOfTasks", 0),
        succeeded=summary.get("NumberOfTasksSucceeded", 0),
        failed=summary.get("NumberOfTasksFailed", 0),
        reasons=tuple(
            f"{reason.get('FailureCode', '')}: {reason.get('FailureReason', '')}".strip(": ")
            for reason in job.get("FailureReasons", [])
        ),
    )
