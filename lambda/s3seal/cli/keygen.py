"""``s3seal keygen``: a new root key, printed or stored in Secrets Manager."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..rootkey.keys import generate_root_key, store_root_key
from .aws import Aws
from .exits import EXIT_OK


def register(commands: Any, aws_parent: argparse.ArgumentParser) -> None:
    """Add ``keygen`` to the CLI's subparsers."""
    keygen = commands.add_parser("keygen", parents=[aws_parent], help="generate a root key")
    keygen.add_argument(
        "--secret-id",
        metavar="NAME",
        help="store it in this Secrets Manager secret (created, or given a new version) "
        "and print only its ARN and version",
    )
    keygen.set_defaults(run=cmd_keygen)


def cmd_keygen(args: argparse.Namespace, aws: Aws) -> int:
    key = generate_root_key()
    if not args.secret_id:
        print(key)
        return EXIT_OK
    arn, version = store_root_key(aws.secrets, args.secret_id, key)
    print(json.dumps({"ARN": arn, "VersionId": version}))
    return EXIT_OK
