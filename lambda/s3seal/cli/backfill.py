"""``s3seal backfill s3://LANDING[/prefix]``: an S3 Batch Operations job that has the encrypting
function stage what is already in landing (see ``backfill`` for the listing, manifest and job)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from ..errors import ConfigError
from ..names import (
    OUTPUT_BACKFILL_BUCKET,
    OUTPUT_BACKFILL_ROLE_ARN,
    OUTPUT_FUNCTION_ARN,
    OUTPUT_LANDING_BUCKET,
    STACK_NAME,
)
from ..objects import ObjectRef, parse_s3_prefix
from ..operate.backfill import (
    INVENTORY_PREFIX,
    MANIFEST_PREFIX,
    REPORT_PREFIX,
    REPORT_SCOPES,
    JobTarget,
    Manifest,
    Progress,
    create_job,
    job_progress,
    job_request,
    manifest_key,
    read_inventory,
    survey,
    write_manifest,
)
from ..operate.resources import stack_outputs
from .options import non_negative_int

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

DEFAULT_POLL_SECONDS = 15.0


class Clients(Protocol):
    """What this command needs of the CLI's AWS clients."""

    @property
    def s3(self) -> S3Client: ...

    def client(self, service: Any) -> Any: ...


def register(commands: Any, aws_parent: argparse.ArgumentParser) -> None:
    """Add ``backfill`` to the CLI's subparsers."""
    cmd = commands.add_parser(
        "backfill",
        parents=[aws_parent],
        help="stage objects already in landing with an S3 Batch Operations job",
        description="Lists the current versions under s3://LANDING[/prefix] into a CSV manifest "
        "(or takes an S3 Inventory report), then creates a Batch Operations job that invokes "
        "the encrypting function for each. The role, function and report bucket come from the "
        "stack's outputs unless given. Batch Operations charges per job and per object, and "
        "each object is one Lambda invocation: see --dryrun first.",
    )
    cmd.add_argument("landing", metavar="S3URL", help="s3://LANDING[/prefix]")
    cmd.add_argument(
        "--inventory",
        metavar="S3URL",
        help="an S3 Inventory report's manifest.json (current versions only) instead of a listing",
    )
    cmd.add_argument("--dryrun", action="store_true", help="count objects and bytes; no job")
    cmd.add_argument(
        "--stack-name",
        default=STACK_NAME,
        help="the stack to read outputs from (%(default)s)",
    )
    cmd.add_argument("--role-arn", help=f"the job's role [stack output {OUTPUT_BACKFILL_ROLE_ARN}]")
    cmd.add_argument(
        "--function-arn", help=f"the function to invoke [stack output {OUTPUT_FUNCTION_ARN}]"
    )
    cmd.add_argument(
        "--report-to",
        metavar="S3URL",
        help="where the completion report (and the manifest, under manifests/) goes "
        f"[s3://<{OUTPUT_BACKFILL_BUCKET}>/{REPORT_PREFIX}]",
    )
    cmd.add_argument(
        "--priority", type=non_negative_int, default=10, help="job priority (%(default)s)"
    )
    cmd.add_argument(
        "--report-scope", choices=REPORT_SCOPES, default="AllTasks", help="(%(default)s)"
    )
    cmd.add_argument(
        "--confirmation-required",
        action="store_true",
        help="create the job suspended until confirmed (implies --no-wait)",
    )
    cmd.add_argument("--no-wait", action="store_true", help="print the job id and return")
    cmd.add_argument(
        "--poll-seconds",
        type=_seconds,
        default=DEFAULT_POLL_SECONDS,
        help="while waiting, ask for progress this often (%(default)s)",
    )
    cmd.set_defaults(run=run_backfill)


def run_backfill(args: argparse.Namespace, aws: Clients, *, err: TextIO | None = None) -> int:
    err = err or sys.stderr
    landing = parse_s3_prefix(args.landing)
    if args.inventory and landing.key:
        raise ConfigError("--inventory covers what its configuration covers: give no prefix")
    if args.dryrun:
        return _dryrun(args, aws, landing)
    target, inventory_home = _target(args, aws, landing.bucket)
    manifest: Manifest | None
    if args.inventory:
        if inventory_home and not args.inventory.startswith(inventory_home):
            raise ConfigError(
                f"the stack's backfill role reads inventories only under {inventory_home}"
            )
        manifest = read_inventory(aws.s3, args.inventory, landing.bucket)
    else:
        destination = ObjectRef(target.report.bucket, manifest_key(MANIFEST_PREFIX, landing.bucket))
        manifest = write_manifest(aws.s3, landing, destination)
        if manifest is None:
            print(json.dumps({"Landing": landing.url, "Objects": 0, "JobId": None}, indent=2))
            return 0
    request = job_request(
        target,
        manifest,
        description=f"s3seal backfill {landing.url}",
        priority=args.priority,
        report_scope=args.report_scope,
        confirmation_required=args.confirmation_required,
    )
    s3control = aws.client("s3control")
    job_id = create_job(s3control, request)
    print(f"s3seal: backfill job {job_id} created", file=err)
    summary: dict[str, Any] = {
        "JobId": job_id,
        "Landing": landing.url,
        "Manifest": manifest.location.url,
        "ManifestETag": manifest.etag,
        "Report": target.report.url,
    }
    if not args.inventory:
        summary |= {"Objects": manifest.survey.objects, "Bytes": manifest.survey.bytes}
    if args.no_wait or args.confirmation_required:
        if args.confirmation_required:
            summary["Confirm"] = (
                f"aws s3control update-job-status --account-id {target.account} "
                f"--job-id {job_id} --requested-job-status Ready"
            )
        print(json.dumps(summary, indent=2))
        return 0
    progress = _wait(s3control, target.account, job_id, args.poll_seconds, err)
    print(json.dumps(summary | progress.to_json(), indent=2))
    if progress.status != "Complete" or progress.failed:
        print(f"s3seal: backfill job {job_id}: {progress.line()}", file=err)
        return 1
    return 0


def _dryrun(args: argparse.Namespace, aws: Clients, landing: ObjectRef) -> int:
    if args.inventory:
        found = read_inventory(aws.s3, args.inventory, landing.bucket, count=True).survey
        doc: dict[str, Any] = {"Inventory": args.inventory}
    else:
        found = survey(aws.s3, landing)
        doc = {"Landing": landing.url, "Versioned": found.versioned}
    doc |= {"Objects": found.objects, "Bytes": found.bytes, "DryRun": True}
    print(json.dumps(doc, indent=2))
    return 0


def _target(args: argparse.Namespace, aws: Clients, landing: str) -> tuple[JobTarget, str | None]:
    """The function, role and report location (from the options, else the stack's outputs),
    and where the stack's role may read inventories (None when the role is given)."""
    outputs: dict[str, str] = {}
    if not (args.role_arn and args.function_arn and args.report_to):
        outputs = stack_outputs(aws.client("cloudformation"), args.stack_name)
        stack_landing = outputs.get(OUTPUT_LANDING_BUCKET)
        if stack_landing and stack_landing != landing:
            raise ConfigError(
                f"s3://{landing} is not the landing bucket of stack {args.stack_name} "
                f"(s3://{stack_landing}): the function would refuse every object"
            )
    bucket = outputs.get(OUTPUT_BACKFILL_BUCKET)
    report = args.report_to or (
        f"s3://{_output(outputs, OUTPUT_BACKFILL_BUCKET, args.stack_name)}/{REPORT_PREFIX}"
    )
    target = JobTarget(
        function_arn=args.function_arn or _output(outputs, OUTPUT_FUNCTION_ARN, args.stack_name),
        role_arn=args.role_arn or _output(outputs, OUTPUT_BACKFILL_ROLE_ARN, args.stack_name),
        report=parse_s3_prefix(report),
    )
    if bucket and not args.role_arn:
        # The stack's role writes only its own bucket's reports/ and reads only its manifests/.
        allowed = parse_s3_prefix(f"s3://{bucket}/{REPORT_PREFIX}")
        if target.report.bucket != bucket or not target.report.key.startswith(allowed.key):
            raise ConfigError(f"the stack's backfill role writes reports only under {allowed.url}")
    home = f"s3://{bucket}/{INVENTORY_PREFIX}" if bucket and not args.role_arn else None
    return target, home


def _output(outputs: dict[str, str], key: str, stack: str) -> str:
    if key not in outputs:
        raise ConfigError(
            f"stack {stack} has no output {key}: deploy this version of s3seal, or pass "
            "--role-arn, --function-arn and --report-to"
        )
    return outputs[key]


def _wait(s3control: Any, account: str, job_id: str, every: float, err: TextIO) -> Progress:
    """Poll the job until it ends, drawing its progress on a terminal (a line per change else)."""
    last = ""
    tty = err.isatty()
    while True:
        progress = job_progress(s3control, account, job_id)
        line = f"job {job_id}  {progress.line()}"
        if tty:
            err.write("\r\x1b[K" + line)
        elif line != last:
            err.write(line + "\n")
        err.flush()
        last = line
        if progress.done:
            if tty:
                err.write("\n")
            return progress
        time.sleep(every)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value < 3600:
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and 3600 seconds")
    return value
