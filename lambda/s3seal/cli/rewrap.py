"""``s3seal rewrap``: re-wrap staged objects' data keys under the current root-key version."""

from __future__ import annotations

import argparse
import json
from functools import cache
from typing import Any

from ..rootkey.keys import RootKey, current_version, root_key_from_secret
from ..rootkey.rewrap import rewrap_bucket
from .keys import Clients, add_common, secret_id, staging


def register(commands: Any, aws_parent: argparse.ArgumentParser) -> None:
    """Add ``rewrap`` to the CLI's subparsers."""
    rewrap = commands.add_parser(
        "rewrap",
        parents=[aws_parent],
        help="re-wrap staged objects' data keys under the current root-key version",
        description="Rewrites only envelope metadata (or V3 instruction files), conditionally on "
        "each object's ETag; objects already under the current version are skipped, so a "
        "re-run finishes an interrupted one.",
    )
    add_common(rewrap)
    rewrap.add_argument("--prefix", default="", help="only keys under this prefix")
    rewrap.add_argument(
        "--from-version", metavar="VERSION_ID", help="only objects wrapped by this version"
    )
    rewrap.add_argument("--dryrun", action="store_true", help="show what would be rewrapped")
    rewrap.add_argument(
        "--verify-body",
        action="store_true",
        help="before each rewrite, decrypt the whole body with the new envelope (one GET each)",
    )
    rewrap.set_defaults(run=run_rewrap)


def run_rewrap(args: argparse.Namespace, aws: Clients) -> int:
    secret = secret_id(args)
    where = staging(args)
    current = root_key_from_secret(aws.secrets, secret, current_version(aws.secrets, secret))

    @cache
    def old_key(version: str) -> RootKey:
        return root_key_from_secret(aws.secrets, secret, version)

    summary = rewrap_bucket(
        aws.s3,
        where.bucket,
        current,
        old_key,
        prefix=where.key + args.prefix,
        from_version=args.from_version,
        dryrun=args.dryrun,
        verify_body=args.verify_body,
    )
    print(json.dumps({"CurrentVersion": current.secret_version, **summary.to_json()}, indent=2))
    return 1 if summary.failures else 0
