"""``s3seal load``: load pending staged objects into Redshift, list or retry batches."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from .. import copying
from .aws import Aws
from .exits import EXIT_FAILURE, EXIT_OK
from .options import ALLOW_LEGACY


def register(commands: Any, aws_parent: argparse.ArgumentParser) -> None:
    """Add ``load`` to the CLI's subparsers."""
    load = commands.add_parser(
        "load",
        parents=[aws_parent],
        help="load pending staged objects into a Redshift table (options override the "
        "loader's environment variables)",
    )
    group = load.add_argument_group("what and where")
    group.add_argument("--bucket", help="the staging bucket [STAGING_BUCKET]")
    group.add_argument("--prefix", help="only staged keys under this prefix [LOAD_PREFIX_FILTER]")
    group.add_argument("--table", help="target table, schema.table [LOADER_TABLE]")
    group.add_argument(
        "--mode",
        choices=["server-side", "client-side"],
        help="server-side (default): decrypt into transient SSE-KMS objects, then a plain COPY; "
        "client-side: COPY ENCRYPTED, which Redshift stopped reading after 2026-04-30 "
        "[LOADER_MODE]",
    )
    group.add_argument("--iam-role", help="the COPY role's ARN [COPY_IAM_ROLE]")
    group.add_argument("--key-secret", help="the root key's secret [ROOT_KEY_SECRET_ID]")
    group.add_argument("--kms-key", help="KMS key for transient plaintext [LOAD_KMS_KEY_ID]")
    group.add_argument(
        ALLOW_LEGACY,
        action="store_const",
        const="true",
        help="server-side mode: also decrypt legacy unauthenticated shapes [LOAD_ALLOW_LEGACY]",
    )
    warehouse = load.add_argument_group("Redshift (through the Data API)")
    warehouse.add_argument("--cluster-id", help="provisioned cluster [REDSHIFT_CLUSTER_ID]")
    warehouse.add_argument("--workgroup", help="serverless workgroup [REDSHIFT_WORKGROUP]")
    warehouse.add_argument("--database", help="database [REDSHIFT_DATABASE]")
    warehouse.add_argument(
        "--db-secret-arn", help="database credentials secret [REDSHIFT_SECRET_ARN]"
    )
    warehouse.add_argument("--db-user", help="IAM-authenticated user [REDSHIFT_DB_USER]")
    data = load.add_argument_group("file format")
    data.add_argument(
        "--format",
        dest="data_format",
        choices=[f.value for f in copying.DataFormat],
        help="delimited, csv (comma-delimited) or json [COPY_FORMAT]",
    )
    data.add_argument(
        "--delimiter",
        help="one character (default: | for delimited, a comma for csv) [COPY_DELIMITER]",
    )
    data.add_argument("--ignore-header", type=int, metavar="N", help="[COPY_IGNORE_HEADER]")
    when = load.add_argument_group("when to load (each 0 = off; none set = always)")
    when.add_argument("--min-files", type=int, help="[MIN_FILES]")
    when.add_argument("--min-bytes", type=int, help="[MIN_BYTES]")
    when.add_argument("--max-wait", type=int, metavar="SECONDS", help="[MAX_WAIT_SECONDS]")
    action = load.add_mutually_exclusive_group()
    action.add_argument("--retry", metavar="BATCH_ID", help="retry one failed batch as a whole")
    action.add_argument("--list", action="store_true", help="list the batch records")
    load.set_defaults(run=cmd_load)


def cmd_load(args: argparse.Namespace, aws: Aws) -> int:
    # Imported here: only this command needs the loader and the Data API.
    from ..load.loader import Loader  # noqa: PLC0415
    from ..load.settings import LOAD_OPTIONS, LoaderSettings, LoadMode  # noqa: PLC0415

    environ = dict(os.environ)
    for option, variable in LOAD_OPTIONS.items():
        value = getattr(args, option)
        if value is not None:
            environ[variable] = str(value)
    settings = LoaderSettings.from_env(environ)
    if settings.mode is LoadMode.CLIENT_SIDE and not args.list:
        print(f"s3seal: warning: client-side mode. {copying.COPY_ENCRYPTED_ENDED}", file=sys.stderr)
    redshift_data = aws.client("redshift-data")
    loader = Loader(settings, aws.s3, redshift_data, aws.secrets)
    if args.list:
        for record in loader.records():
            doc = record.to_json()
            doc.pop("objects", None)
            print(json.dumps(doc, default=str))
        return EXIT_OK
    if args.retry:
        record = loader.retry(args.retry)
        print(json.dumps({"batch_id": record.batch_id, "state": record.state.value}))
        return EXIT_OK
    summary = loader.run().to_dict()
    print(json.dumps(summary, indent=1, default=str))
    return EXIT_FAILURE if summary.get("batches_failed") else EXIT_OK
