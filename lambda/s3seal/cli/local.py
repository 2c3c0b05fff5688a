"""``s3seal local``: the real pipeline on this machine, against an embedded moto server."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from ..config import DEFAULT_ENVELOPE_FORMAT
from ..envelope import Format
from ..errors import ConfigError
from .aws import Aws
from .exits import EXIT_FAILURE, EXIT_OK
from .options import port


def register(commands: Any) -> None:
    """Add ``local`` to the CLI's subparsers."""
    local = commands.add_parser(
        "local",
        help="run the real pipeline on this machine (an embedded moto server on 127.0.0.1)",
    )
    mode = local.add_mutually_exclusive_group(required=True)
    mode.add_argument(
        "--demo",
        action="store_true",
        help="stage the files of --examples, verify each, print a table; exit 0 if all verified",
    )
    mode.add_argument(
        "--serve", action="store_true", help="keep running and print each staged object"
    )
    local.add_argument("--port", type=port, help="loopback port (default: a free one)")
    local.add_argument(
        "--examples", help="folder of files for --demo (default: the examples s3seal ships)"
    )
    local.add_argument(
        "--format", choices=[f.value for f in Format], default=DEFAULT_ENVELOPE_FORMAT.value
    )
    local.add_argument("--compression", choices=["none", "gzip"], default="none")
    local.add_argument(
        "--log-file", default=".run/s3seal-local.log", help="where the function's logs go"
    )
    local.set_defaults(run=cmd_local)


def cmd_local(args: argparse.Namespace, aws: Aws) -> int:
    # Imported here: the local mode loads moto and the handler, which the other commands don't need.
    from ..local import pipeline as local  # noqa: PLC0415
    from ..local import run as local_run  # noqa: PLC0415

    settings = local.LocalSettings(envelope_format=args.format, compression=args.compression)
    examples = Path(args.examples) if args.examples else local_run.EXAMPLES
    if args.demo and not examples.is_dir():
        raise ConfigError(f"--examples {examples} is not a folder")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    print(f"function logs: {args.log_file}", file=sys.stderr)
    with (
        local.logs_to(Path(args.log_file)) as terminal,
        local.LocalPipeline(settings, args.port) as pipeline,
    ):
        if args.demo:
            return EXIT_OK if local_run.run_demo(pipeline, examples, terminal) else EXIT_FAILURE
        local_run.serve(pipeline, terminal, stop)
    print("stopped", file=sys.stderr)
    return EXIT_OK
