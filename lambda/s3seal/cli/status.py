"""``s3seal status``: queues, dead letters, objects stuck in landing, load batches, the loader."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from .. import names
from ..objects import parse_s3_prefix
from ..operate import health
from ..operate.resources import Resources, resolve
from .options import non_negative_int, positive_int

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient


class Clients(Protocol):
    """What these commands need of the CLI's AWS clients."""

    @property
    def s3(self) -> S3Client: ...

    def client(self, service: Any) -> Any: ...


def add_resources(parser: argparse.ArgumentParser, *which: str) -> None:
    """--stack-name, and an override option for each resource in ``which``."""
    group = parser.add_argument_group(
        "resources (default: the stack's outputs; an option given skips that output)"
    )
    group.add_argument(
        "--stack-name",
        default=names.STACK_NAME,
        help="the deployed stack (context stack_name; default: %(default)s)",
    )
    helps = {
        "landing": ("BUCKET", "the landing bucket, or s3://BUCKET/PREFIX to look under a prefix"),
        "staging": ("BUCKET", "the staging bucket (its batch records)"),
        "queue_url": ("URL", "the queue the encrypting function reads"),
        "dlq_url": ("URL", "its dead-letter queue"),
        "loader_function": ("NAME", "the loader function, for its runs (its Lambda metrics)"),
    }
    for name in which:
        metavar, text = helps[name]
        group.add_argument(f"--{name.replace('_', '-')}", metavar=metavar, help=text)


def resources(args: argparse.Namespace, aws: Clients, *needed: str) -> Resources:
    overrides = {name: getattr(args, name, None) for name in needed}
    return resolve(
        args.stack_name,
        overrides,
        needed,
        lambda: aws.client("cloudformation"),
    )


def sqs_client(aws: Clients) -> SQSClient:
    client: SQSClient = aws.client("sqs")
    return client


def register(commands: Any, aws_parent: argparse.ArgumentParser) -> None:
    """Add ``status`` to the CLI's subparsers."""
    status = commands.add_parser(
        "status",
        parents=[aws_parent],
        help="show queue depths, dead letters, objects stuck in landing and load batches; "
        "exit non-zero when something needs a person",
        description="Exit status: 0 nothing needs a person; otherwise the sum of "
        + ", ".join(f"{int(flag)} {_MEANING[flag]}" for flag in health.Attention)
        + ". Errors: 1 AWS failure, 2 usage (no such stack), 5 AWS setup (credentials, region, "
        "endpoint, access denied).",
    )
    add_resources(status, "landing", "staging", "queue_url", "dlq_url", "loader_function")
    status.add_argument(
        "--older-than",
        type=non_negative_int,
        default=health.DEFAULT_OLDER_THAN_MINUTES,
        metavar="MINUTES",
        help="landing objects older than this count as stuck (default: %(default)s)",
    )
    status.add_argument(
        "--batch-older-than",
        type=non_negative_int,
        default=health.DEFAULT_BATCH_OLDER_THAN_MINUTES,
        metavar="MINUTES",
        help="a load batch planned or submitted longer ago counts as stuck (default: %(default)s)",
    )
    status.add_argument(
        "--scan-limit",
        type=positive_int,
        default=health.DEFAULT_SCAN_LIMIT,
        metavar="N",
        help="list at most N landing objects; beyond, counts are lower bounds (default: "
        "%(default)s)",
    )
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(run=run_status)


def run_status(args: argparse.Namespace, aws: Clients) -> int:
    where = resources(args, aws, "landing", "staging", "queue_url", "dlq_url", "loader_function")
    assert where.landing and where.staging and where.queue_url and where.dlq_url
    landing = parse_s3_prefix(_url(where.landing))
    s3: S3Client = aws.s3
    status = health.gather(
        s3=s3,
        sqs=sqs_client(aws),
        cloudwatch=aws.client("cloudwatch"),
        landing=landing.bucket,
        landing_prefix=landing.key,
        staging=parse_s3_prefix(_url(where.staging)).bucket,
        queue_url=where.queue_url,
        dlq_url=where.dlq_url,
        now=datetime.now(UTC),
        older_than=timedelta(minutes=args.older_than),
        batch_older_than=timedelta(minutes=args.batch_older_than),
        scan_limit=args.scan_limit,
        loader_function=where.loader_function,
    )
    if args.json:
        print(json.dumps(status.to_json(), indent=2))
    else:
        print(table(status, datetime.now(UTC)))
    return int(status.attention)


_MEANING = {
    health.Attention.DEAD_LETTERS: "the dead-letter queue has messages",
    health.Attention.FAILED_BATCH: "a load batch failed",
    health.Attention.STALE_LANDING: "landing objects older than --older-than",
    health.Attention.STUCK_BATCH: "a load batch unresolved longer than --batch-older-than",
}


def table(status: health.Status, now: datetime) -> str:
    """The human-readable report: one line per check, the exit bit it set at the end."""
    rows: list[tuple[str, str, str]] = []
    q, d, scan, batches = status.queue, status.dead_letters, status.landing, status.batches
    rows.append(("queue", f"{q.visible} waiting, {q.in_flight} in flight, {q.delayed} delayed", ""))
    age = status.dead_letter_age_seconds
    dead = f"{d.visible} waiting, {d.in_flight} in flight"
    if d.visible or d.in_flight:
        dead += f" (oldest {_age(age)})" if age is not None else " (age: no CloudWatch data)"
    rows.append(("dead-letter queue", dead, _bit(status, health.Attention.DEAD_LETTERS)))
    count = f"{'at least ' if not scan.complete else ''}{scan.stale}"
    found = f"{count} older than {scan.older_than_minutes} min, of {scan.scanned} listed"
    if scan.oldest_key is not None and scan.oldest_modified is not None:
        found += (
            f"; oldest {scan.oldest_key} ({_age((now - scan.oldest_modified).total_seconds())})"
        )
    where = f"landing s3://{scan.bucket}/{scan.prefix}"
    rows.append((where, found, _bit(status, health.Attention.STALE_LANDING)))
    rows += _batch_rows(status)
    latest = batches.latest
    activity = (
        f"{latest.updated_at}: batch {latest.batch_id} {latest.state}" if latest else "no batches"
    )
    rows.append(("last loader activity", activity, ""))
    if status.loader is not None:
        runs = status.loader
        last = f"last at {_iso(runs.last_run)}" if runs.last_run else "none"
        text = f"{runs.invocations} in 24 h ({last}), {runs.errors} errors: {runs.function}"
        rows.append(("loader runs", text, ""))
    for lock in batches.locks:
        if lock.held:
            rows.append(
                ("loader running", f"{lock.table} by {lock.owner} until {lock.expires_at}", "")
            )
    width = max(len(row[0]) for row in rows)
    lines = [f"{name:<{width}}  {text}" + (f"  [{bit}]" if bit else "") for name, text, bit in rows]
    attention = status.attention
    if attention:
        named = ", ".join(_MEANING[flag] for flag in health.Attention if flag in attention)
        lines.append(f"needs a person (exit {int(attention)}): {named}")
    else:
        lines.append("nothing needs a person")
    return "\n".join(lines)


SHOWN = 10
"""Failed or stuck batches listed by name at most; ``--json`` lists them all."""


def _batch_rows(status: health.Status) -> list[tuple[str, str, str]]:
    batches, stuck = status.batches, status.batches.stuck
    bits = (health.Attention.FAILED_BATCH, health.Attention.STUCK_BATCH)
    summary = (
        f"{len(batches.pending)} pending ({len(stuck)} stuck), {len(batches.failed)} failed, "
        f"{len(batches.records)} records"
    )
    rows = [("load batches", summary, " ".join(filter(None, (_bit(status, b) for b in bits))))]
    named = [("  failed", r, _one_line(r.error)) for r in batches.failed]
    named += [("  stuck", r, f"{r.state} since {r.updated_at}") for r in stuck]
    rows += [(label, f"{r.batch_id} {r.table}: {text}", "") for label, r, text in named[:SHOWN]]
    if len(named) > SHOWN:
        rows.append(("", f"... and {len(named) - SHOWN} more (--json lists them all)", ""))
    return rows


def _one_line(text: str | None) -> str:
    return " ".join(str(text).split())


def _bit(status: health.Status, flag: health.Attention) -> str:
    return str(int(flag)) if flag in status.attention else ""


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} days"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="minutes")


def _url(value: str) -> str:
    return value if "://" in value else f"s3://{value}"
