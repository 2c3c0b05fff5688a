"""``s3seal redrive``: dead-lettered notifications back to the encrypting function's queue."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..operate.redrive import Method, Moved, redrive
from .options import positive_int
from .status import Clients, add_resources, resources, sqs_client


def register(commands: Any, aws_parent: argparse.ArgumentParser) -> None:
    """Add ``redrive`` to the CLI's subparsers."""
    command = commands.add_parser(
        "redrive",
        parents=[aws_parent],
        help="move dead-lettered messages back to the queue, once the cause is fixed",
        description="Without --max: an SQS message move task (asynchronous; SQS moves the "
        "messages itself). With --max, or where the move task is not available: receive, send, "
        "then delete, one message at a time; no message is deleted before its copy was sent.",
    )
    add_resources(command, "queue_url", "dlq_url")
    command.add_argument(
        "--max",
        type=positive_int,
        metavar="N",
        help="move at most N messages, one at a time (receive, send, delete)",
    )
    command.add_argument("--dryrun", action="store_true", help="show what would be moved")
    command.add_argument("--json", action="store_true", help="print JSON")
    command.set_defaults(run=run_redrive)


def run_redrive(args: argparse.Namespace, aws: Clients) -> int:
    where = resources(args, aws, "queue_url", "dlq_url")
    assert where.queue_url and where.dlq_url

    def report(moved: Moved) -> None:
        if not args.json:
            print(f"moved {moved.message_id} {' '.join(moved.objects)}".rstrip(), flush=True)

    result = redrive(
        sqs_client(aws),
        dlq_url=where.dlq_url,
        queue_url=where.queue_url,
        max_messages=args.max,
        dryrun=args.dryrun,
        on_moved=report,
    )
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    elif result.dryrun:
        would = result.waiting if args.max is None else min(args.max, result.waiting)
        print(
            f"would move {would} of {result.waiting} message(s) by {result.method} "
            f"to {where.queue_url}"
        )
    elif not result.waiting:
        print(f"nothing to move: {where.dlq_url} is empty")
    elif result.task_handle:
        print(
            f"started a message move task for {result.waiting} message(s) to {where.queue_url}: "
            f"{result.task_handle}"
        )
        print("it runs on its own; `s3seal status` shows the dead-letter queue draining")
    else:
        print(f"moved {len(result.moved)} message(s) by {result.method} to {where.queue_url}")
    if result.method is Method.RECEIVE_SEND and not result.dryrun and args.max is None:
        print("(the SQS message move task is not available here)", file=sys.stderr)
    return 0
