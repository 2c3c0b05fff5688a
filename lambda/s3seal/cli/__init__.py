"""The operator CLI: ``s3seal keygen | encrypt | decrypt | inspect | ...``, one module per
command group, each adding its commands to the parser with ``register``.

Exit codes (``exits``): 0 success; 1 an AWS or file error; 2 usage or configuration; 3 a
root-key error (invalid, wrong, or its secret unreadable); 4 a format or decryption error
(metadata missing or malformed, body corrupt or tampered); 5 an AWS setup mistake.
"""

from __future__ import annotations

import argparse
import signal
import sys

from .. import __version__, quiet_sdk
from ..errors import S3SealError
from . import copy, inspect, keygen, keys, load, local, rewrap, transfer
from .aws import Aws
from .exits import EXIT_FAILURE, exit_code_for
from .options import aws_parent, keys_parent, legacy_parent
from .signals import Terminated, handle_signals, restore

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="s3seal",
        description="Envelope-encrypt files and S3 objects in the Amazon S3 client-side "
        "encryption format (V3 by default, as current AWS S3 encryption clients read it).",
        epilog="Exit codes: 0 ok, 1 AWS/file error, 2 usage, 3 root-key error, "
        "4 format/decryption error.",
    )
    parser.add_argument("--version", action="version", version=f"s3seal {__version__}")
    aws, key_options, legacy = aws_parent(), keys_parent(), legacy_parent()
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    keys.register(commands, aws)
    rewrap.register(commands, aws)
    keygen.register(commands, aws)
    transfer.register(commands, aws, key_options, legacy)
    inspect.register(commands, aws, legacy)
    copy.register(commands, aws, key_options)
    load.register(commands, aws)
    local.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Exit status: see the module docstring; 130 after SIGINT, 143 after SIGTERM (128 + n)."""
    quiet_sdk.pin()  # the SDK never logs bodies (keys, secret values)
    args = build_parser().parse_args(argv)
    subject = " ".join(part for part in (args.command, getattr(args, "src", None)) if part)
    previous = handle_signals()
    try:
        code: int = args.run(args, Aws(args))
    except S3SealError as exc:
        print(f"s3seal: {subject}: {exc}", file=sys.stderr)
        return exit_code_for(exc)
    except KeyboardInterrupt:
        print("s3seal: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except Terminated:
        print("s3seal: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except BrokenPipeError:
        return EXIT_FAILURE
    finally:
        restore(previous)
    return code
