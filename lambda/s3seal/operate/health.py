"""``s3seal status``: what is waiting, stuck or failed, and whether a person is needed.

Each finding that needs a person sets one bit of the exit status, so a script (or a cron job's
mail) can tell them apart; 0 means nothing needs a person. Errors keep the CLI's own codes (1-5),
which no bit combination produces.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntFlag
from typing import TYPE_CHECKING, Any

from ..errors import AwsSetupError
from ..load.batches import BatchRecord, State, is_record_key, parse_record
from ..staged import BATCH_PREFIX
from . import queues
from .aws_calls import calling
from .watch import datapoints

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

LOCK_SUFFIX = ".lock"
"""The loader's per-table lock, ``_s3seal/batches/locks/<table>.lock`` (see ``loader``)."""
DEFAULT_OLDER_THAN_MINUTES = 15
DEFAULT_BATCH_OLDER_THAN_MINUTES = 60
"""A batch still planned or submitted after this long outlived the loader run (at most 15
minutes) that made it, and the runs after it that should have resolved it."""
DEFAULT_SCAN_LIMIT = 100_000
"""Landing objects listed at most (100 LIST requests): landing may hold millions after an
outage; past the limit, counts are lower bounds ("at least")."""
SAMPLES = 5
RUNS_WINDOW = timedelta(hours=24)
RUNS_PERIOD_SECONDS = 300


class Attention(IntFlag):
    """Exit-status bits: what needs a person."""

    DEAD_LETTERS = 8
    """The dead-letter queue holds messages: objects the function gave up on."""
    FAILED_BATCH = 16
    """A load batch failed: it waits for ``s3seal load --retry BATCH_ID`` once fixed."""
    STALE_LANDING = 32
    """Landing objects older than ``--older-than``: not staged (the function deletes what it
    stages), so not notified, failing, or waiting behind a deep queue."""
    STUCK_BATCH = 64
    """A batch planned or submitted longer than ``--batch-older-than`` ago: the loader is not
    running, or cannot finish it."""


@dataclass(frozen=True)
class LandingScan:
    bucket: str
    prefix: str
    older_than_minutes: int
    scanned: int
    complete: bool
    """False: the listing stopped at the scan limit, and ``stale`` is a lower bound."""
    stale: int
    oldest_key: str | None
    oldest_modified: datetime | None
    samples: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "Bucket": self.bucket,
            "Prefix": self.prefix,
            "OlderThanMinutes": self.older_than_minutes,
            "Scanned": self.scanned,
            "Complete": self.complete,
            "Stale": self.stale,
            "StaleAtLeast": not self.complete,
            "Oldest": None
            if self.oldest_key is None
            else {"Key": self.oldest_key, "LastModified": _iso(self.oldest_modified)},
            "Samples": list(self.samples),
        }


@dataclass(frozen=True)
class LoaderLock:
    table: str
    owner: str | None
    expires_at: datetime | None
    held: bool
    """Not expired: a loader is running for this table now."""

    def to_json(self) -> dict[str, Any]:
        return {
            "Table": self.table,
            "Owner": self.owner,
            "ExpiresAt": _iso(self.expires_at),
            "Held": self.held,
        }


@dataclass(frozen=True)
class Batches:
    bucket: str
    records: tuple[BatchRecord, ...]
    stuck_after: timedelta
    now: datetime
    locks: tuple[LoaderLock, ...] = ()

    @property
    def pending(self) -> list[BatchRecord]:
        return [r for r in self.records if r.state.unresolved]

    @property
    def failed(self) -> list[BatchRecord]:
        return [r for r in self.records if r.state is State.FAILED]

    @property
    def stuck(self) -> list[BatchRecord]:
        return [r for r in self.pending if self.now - _when(r.updated_at) > self.stuck_after]

    @property
    def latest(self) -> BatchRecord | None:
        """The record the loader touched last: its last run that did something."""
        return max(self.records, key=lambda r: (r.updated_at, r.batch_id), default=None)

    def to_json(self) -> dict[str, Any]:
        stuck = {r.batch_id for r in self.stuck}
        latest = self.latest
        return {
            "Bucket": self.bucket,
            "Records": len(self.records),
            "Pending": [_batch(r) | {"Stuck": r.batch_id in stuck} for r in self.pending],
            "Failed": [_batch(r) | {"Error": r.error} for r in self.failed],
            "LastActivity": None if latest is None else _batch(latest),
            "Locks": [lock.to_json() for lock in self.locks],
        }


@dataclass(frozen=True)
class LoaderRuns:
    """The loader function's invocations over ``RUNS_WINDOW`` (its Lambda metrics): a run that
    found nothing to load leaves no batch record, but it is counted here."""

    function: str
    invocations: int
    errors: int
    last_run: datetime | None
    """The start of the last 5-minute period with an invocation (the metrics' resolution)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "Function": self.function,
            "WindowHours": int(RUNS_WINDOW.total_seconds() // 3600),
            "Invocations": self.invocations,
            "Errors": self.errors,
            "LastRun": _iso(self.last_run),
        }


@dataclass
class Status:
    queue: queues.Depth
    dead_letters: queues.Depth
    dead_letter_age_seconds: float | None
    landing: LandingScan
    batches: Batches
    loader: LoaderRuns | None = None
    """None: no loader function (``loader_mode`` off, or not named)."""

    @property
    def attention(self) -> Attention:
        found = Attention(0)
        if self.dead_letters.visible or self.dead_letters.in_flight:
            found |= Attention.DEAD_LETTERS
        if self.batches.failed:
            found |= Attention.FAILED_BATCH
        if self.landing.stale:
            found |= Attention.STALE_LANDING
        if self.batches.stuck:
            found |= Attention.STUCK_BATCH
        return found

    def to_json(self) -> dict[str, Any]:
        attention = self.attention
        return {
            "Queue": self.queue.to_json(),
            "DeadLetterQueue": self.dead_letters.to_json()
            | {"OldestAgeSeconds": self.dead_letter_age_seconds},
            "Landing": self.landing.to_json(),
            "Batches": self.batches.to_json(),
            "Loader": None if self.loader is None else self.loader.to_json(),
            "Attention": [flag.name for flag in Attention if flag in attention],
            "ExitStatus": int(attention),
        }


def gather(
    *,
    s3: S3Client,
    sqs: SQSClient,
    cloudwatch: Any,
    landing: str,
    staging: str,
    queue_url: str,
    dlq_url: str,
    now: datetime,
    landing_prefix: str = "",
    older_than: timedelta = timedelta(minutes=DEFAULT_OLDER_THAN_MINUTES),
    batch_older_than: timedelta = timedelta(minutes=DEFAULT_BATCH_OLDER_THAN_MINUTES),
    scan_limit: int = DEFAULT_SCAN_LIMIT,
    loader_function: str | None = None,
) -> Status:
    """Read everything ``s3seal status`` shows. Every AWS failure raises (see ``aws_calls``):
    a status that silently left something out would say "fine" when it does not know."""
    dead_letters = queues.depth(sqs, dlq_url)
    age = None
    if dead_letters.visible or dead_letters.in_flight:
        age = queues.oldest_age_seconds(cloudwatch, dlq_url, now)
    records, locks = read_batches(s3, staging, now)
    return Status(
        queue=queues.depth(sqs, queue_url),
        dead_letters=dead_letters,
        dead_letter_age_seconds=age,
        landing=scan_landing(
            s3, landing, landing_prefix, cutoff=now - older_than, limit=scan_limit, now=now
        ),
        batches=Batches(staging, tuple(records), batch_older_than, now, tuple(locks)),
        loader=loader_runs(cloudwatch, loader_function, now) if loader_function else None,
    )


def loader_runs(cloudwatch: Any, function: str, now: datetime) -> LoaderRuns:
    """The loader function's invocations and errors in the last ``RUNS_WINDOW``."""

    def sums(metric: str) -> list[tuple[datetime, float]]:
        return datapoints(
            cloudwatch,
            "AWS/Lambda",
            metric,
            {"FunctionName": function},
            start=now - RUNS_WINDOW,
            end=now + timedelta(seconds=RUNS_PERIOD_SECONDS),
            period_seconds=RUNS_PERIOD_SECONDS,
            statistic="Sum",
        )

    invocations = [(when, value) for when, value in sums("Invocations") if value > 0]
    return LoaderRuns(
        function=function,
        invocations=int(sum(value for _, value in invocations)),
        errors=int(sum(value for _, value in sums("Errors"))),
        last_run=invocations[-1][0] if invocations else None,
    )


def scan_landing(
    s3: S3Client, bucket: str, prefix: str, *, cutoff: datetime, limit: int, now: datetime
) -> LandingScan:
    """Count landing objects last modified before ``cutoff``, listing at most ``limit``."""
    scanned = stale = 0
    oldest: tuple[datetime, str] | None = None
    samples: list[str] = []
    complete = True
    for item in _listing(s3, bucket, prefix):
        if scanned >= limit:
            complete = False
            break
        scanned += 1
        key, modified = item["Key"], item["LastModified"]
        if key.endswith("/") or modified > cutoff:
            continue  # (a folder marker is never staged: it is not data)
        stale += 1
        if len(samples) < SAMPLES:
            samples.append(key)
        if oldest is None or (modified, key) < oldest:
            oldest = (modified, key)
    minutes = int((now - cutoff).total_seconds() // 60)
    return LandingScan(
        bucket=bucket,
        prefix=prefix,
        older_than_minutes=minutes,
        scanned=scanned,
        complete=complete,
        stale=stale,
        oldest_key=oldest[1] if oldest else None,
        oldest_modified=oldest[0] if oldest else None,
        samples=tuple(samples),
    )


def read_batches(
    s3: S3Client, bucket: str, now: datetime
) -> tuple[list[BatchRecord], list[LoaderLock]]:
    """Every batch record in ``bucket`` (oldest first) and every loader lock."""
    records: list[BatchRecord] = []
    locks: list[LoaderLock] = []
    for item in _listing(s3, bucket, BATCH_PREFIX):
        key = item["Key"]
        if is_record_key(key):
            records.append(parse_record(_read(s3, bucket, key), f"s3://{bucket}/{key}"))
        elif key.endswith(LOCK_SUFFIX):
            locks.append(_lock(key, _read(s3, bucket, key), now))
    records.sort(key=lambda r: (r.created_at, r.batch_id))
    return records, locks


def _lock(key: str, body: bytes, now: datetime) -> LoaderLock:
    table = key.rsplit("/", 1)[-1].removesuffix(LOCK_SUFFIX)
    try:
        doc = json.loads(body)
        expires: datetime | None = datetime.fromisoformat(str(doc["expires_at"]))
        owner = str(doc.get("owner"))
    except (ValueError, KeyError, TypeError):
        return LoaderLock(table, None, None, held=False)  # unreadable: the loader takes it over
    return LoaderLock(table, owner, expires, held=expires is not None and expires > now)


def _listing(s3: S3Client, bucket: str, prefix: str) -> Iterator[Any]:
    with calling("cannot list", f"s3://{bucket}/{prefix}"):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            yield from page.get("Contents", [])


def _read(s3: S3Client, bucket: str, key: str) -> bytes:
    try:
        with calling("cannot read", f"s3://{bucket}/{key}"):
            body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except AwsSetupError as exc:
        # The staging bucket's policy denies reads to all but s3seal's roles and those named.
        raise AwsSetupError(f"{exc} (is this principal in staging_extra_reader_arns?)") from None
    return body


def _batch(record: BatchRecord) -> dict[str, Any]:
    return {
        "BatchId": record.batch_id,
        "Table": record.table,
        "State": record.state.value,
        "Files": record.files,
        "Attempt": record.attempt,
        "UpdatedAt": record.updated_at,
    }


def _when(stamp: str) -> datetime:
    moment = datetime.fromisoformat(stamp)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")
