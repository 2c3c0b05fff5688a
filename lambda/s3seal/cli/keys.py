"""``s3seal keys`` (root-key versions and what each wraps) and ``s3seal keys retire``."""

from __future__ import annotations

import argparse
import json
import os
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import ConfigError
from ..objects import ObjectRef, parse_s3_prefix
from ..rootkey.key_versions import report, retire

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient

SECRET_ENV = "ROOT_KEY_SECRET_ID"  # noqa: S105 (an environment variable's name)
STAGING_ENV = "STAGING_BUCKET"


class Clients(Protocol):
    """What these commands need of the CLI's AWS clients."""

    @property
    def s3(self) -> S3Client: ...

    @property
    def secrets(self) -> SecretsManagerClient: ...


def add_common(parser: argparse.ArgumentParser) -> None:
    """--key-secret and --staging, on a command and its subcommands alike (SUPPRESS: whichever
    level they are given at is kept)."""
    parser.add_argument(
        "--key-secret",
        metavar="SECRET_ID",
        default=argparse.SUPPRESS,
        help=f"the root key's secret [{SECRET_ENV}]",
    )
    parser.add_argument(
        "--staging",
        metavar="S3URL",
        default=argparse.SUPPRESS,
        help=f"the staging bucket, s3://BUCKET[/prefix] [{STAGING_ENV}]",
    )


def secret_id(args: argparse.Namespace) -> str:
    value = getattr(args, "key_secret", None) or os.environ.get(SECRET_ENV)
    if not value:
        raise ConfigError(f"no root-key secret: pass --key-secret or set {SECRET_ENV}")
    return str(value)


def staging(args: argparse.Namespace) -> ObjectRef:
    value = getattr(args, "staging", None) or os.environ.get(STAGING_ENV)
    if not value:
        raise ConfigError(f"no staging bucket: pass --staging s3://BUCKET or set {STAGING_ENV}")
    if "://" not in value:
        value = f"s3://{value}"
    return parse_s3_prefix(value)


def register(commands: Any, aws_parent: argparse.ArgumentParser) -> None:
    """Add ``keys`` and ``keys retire`` to the CLI's subparsers."""
    keys = commands.add_parser(
        "keys",
        parents=[aws_parent],
        help="list root-key versions, their labels and how many staged objects each wraps",
        description="Counting reads the staging listing and HEADs every object (two requests "
        "for a V3 object with an instruction file): for a large bucket, narrow it with a prefix.",
    )
    add_common(keys)
    keys.add_argument("--json", action="store_true", help="print JSON")
    keys.set_defaults(run=run_keys)
    sub = keys.add_subparsers(dest="keys_command", metavar="SUBCOMMAND")
    retire_cmd = sub.add_parser(
        "retire",
        parents=[aws_parent],
        help="remove a version's retention label once no staged object uses it",
    )
    retire_cmd.add_argument("version_id", metavar="VERSION_ID")
    add_common(retire_cmd)
    retire_cmd.set_defaults(run=run_retire)


def run_keys(args: argparse.Namespace, aws: Clients) -> int:
    where = staging(args)
    rows, others = report(aws.s3, aws.secrets, secret_id(args), where.bucket, where.key)
    if args.json:
        doc = {"Versions": [row.to_json() for row in rows], "OtherStagedObjects": others}
        print(json.dumps(doc, indent=2))
        return 0
    print(f"{'VERSION':<38} {'CREATED':<26} {'OBJECTS':>8}  LABELS")
    for row in rows:
        v = row.version
        print(f"{v.version_id:<38} {v.created or '-':<26} {row.objects:>8}  {', '.join(v.labels)}")
    for name, count in sorted(others.items()):
        print(f"{name:<38} {'(not a listed version)':<26} {count:>8}")
    return 0


def run_retire(args: argparse.Namespace, aws: Clients) -> int:
    where = staging(args)
    retire(aws.s3, aws.secrets, secret_id(args), args.version_id, where.bucket)
    print(json.dumps({"Retired": args.version_id}))
    return 0
