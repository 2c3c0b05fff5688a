"""``s3seal manifest`` and ``s3seal copy-sql``: COPY manifests and statements for staged files."""

from __future__ import annotations

import argparse
import base64
import json
import sys
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .. import copying, staged, storage
from ..envelope import EnvelopeMetadata, Format
from ..envelope.metadata import ENVELOPE_NAMES
from ..errors import ConfigError, MetadataError, S3SealError
from ..objects import parse_s3_prefix, parse_s3_url
from .aws import Aws
from .exits import EXIT_OK
from .options import root_key


def register(
    commands: Any, aws_parent: argparse.ArgumentParser, keys_parent: argparse.ArgumentParser
) -> None:
    """Add ``manifest`` and ``copy-sql`` to the CLI's subparsers."""
    manifest = commands.add_parser(
        "manifest",
        parents=[aws_parent],
        help="write COPY manifests (one per root-key version) for staged objects",
    )
    manifest.add_argument("prefix", metavar="s3://BUCKET/PREFIX", help="staged objects to list")
    manifest.add_argument("--since", help="only objects modified at or after this ISO 8601 time")
    manifest.add_argument(
        "--output",
        metavar="s3://BUCKET/PREFIX",
        help=f"where manifests go (default: s3://BUCKET/{staged.MANIFEST_PREFIX})",
    )
    manifest.set_defaults(run=cmd_manifest)

    copy_sql = commands.add_parser(
        "copy-sql",
        parents=[keys_parent, aws_parent],
        help="print the COPY statement for a manifest of plaintext (SSE) files; client-side-"
        "encrypted files need --encrypted (COPY ENCRYPTED ended 2026-04-30: use s3seal load)",
    )
    copy_sql.add_argument("--table", required=True, help="target table (schema.table)")
    copy_sql.add_argument("--manifest", required=True, metavar="s3://BUCKET/KEY")
    copy_sql.add_argument("--iam-role", required=True, metavar="ARN", help="the COPY role")
    copy_sql.add_argument(
        "--format",
        dest="data_format",
        choices=[f.value for f in copying.DataFormat],
        default=copying.DataFormat.DELIMITED.value,
        help="delimited (default, with --delimiter), csv (comma-delimited), or json ('auto')",
    )
    copy_sql.add_argument(
        "--delimiter", help="field delimiter (default: | for delimited, a comma for csv)"
    )
    copy_sql.add_argument("--ignore-header", type=int, default=0, metavar="N")
    copy_sql.add_argument(
        "--encrypted",
        action="store_true",
        help="print COPY ... ENCRYPTED for V1 files, for a cluster that still reads it (Redshift "
        "stopped after 2026-04-30); warns on stderr",
    )
    copy_sql.add_argument(
        "--with-key",
        action="store_true",
        help="with --encrypted: insert the root key (of the version the files name) instead of "
        "a placeholder",
    )
    copy_sql.set_defaults(run=cmd_copy_sql)


def cmd_manifest(args: argparse.Namespace, aws: Aws) -> int:
    """Write one COPY manifest per root-key version for the staged objects under a prefix."""
    where = parse_s3_prefix(args.prefix)
    since = _timestamp(args.since) if args.since else None
    groups = staged.group_by_key(staged.list_staged(aws.s3, where.bucket, where.key, since))
    if not groups:
        raise S3SealError(f"no staged objects under {args.prefix}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_bucket, out_prefix = where.bucket, staged.MANIFEST_PREFIX
    if args.output:
        target = parse_s3_prefix(args.output)
        out_bucket, out_prefix = target.bucket, target.key
    for group, objects in sorted(groups.items()):
        key = f"{out_prefix}{stamp}/{group}.json"
        body = copying.manifest_bytes(obj.url for obj in objects)
        try:
            aws.s3.put_object(Bucket=out_bucket, Key=key, Body=body, ContentType="application/json")
        except (ClientError, BotoCoreError) as exc:
            raise storage.translate(exc, "cannot write", f"s3://{out_bucket}/{key}") from None
        print(f"s3://{out_bucket}/{key}")
        print(f"  {len(objects)} objects, root key version {group}", file=sys.stderr)
    return EXIT_OK


def cmd_copy_sql(args: argparse.Namespace, aws: Aws) -> int:
    """Print the COPY for a manifest: plain for plaintext files (under SSE, as the loader's
    server-side bridge writes them); ``ENCRYPTED`` only with --encrypted, with a warning."""
    ref = parse_s3_url(args.manifest)
    reader = storage.open_object(aws.s3, ref)
    try:
        doc = json.loads(b"".join(reader.chunks))
        urls = [str(entry["url"]) for entry in doc["entries"]]
    except (ValueError, KeyError, TypeError):
        raise MetadataError(f"{args.manifest} is not a COPY manifest") from None
    if not urls:
        raise MetadataError(f"{args.manifest} lists no files")
    gzip = all(url.endswith(staged.GZIP_SUFFIX) for url in urls)
    # One HEAD per file: a COPY reads all of them one way, so every one must be of one kind.
    envelopes = {url: _envelope_of(aws, url) for url in urls}
    sealed = {url: env for url, env in envelopes.items() if env is not None}
    if sealed and len(sealed) < len(urls):
        raise MetadataError(
            f"{args.manifest} mixes client-side-encrypted and plain files; one COPY reads one kind"
        )
    if sealed and not args.encrypted:
        raise ConfigError(
            f"the files of {args.manifest} are client-side encrypted. "
            f"{copying.COPY_ENCRYPTED_ENDED} For a cluster that still reads COPY ENCRYPTED "
            "(V1 files only), pass --encrypted."
        )
    if not sealed and (args.encrypted or args.with_key):
        raise ConfigError(
            f"--encrypted/--with-key: the files of {args.manifest} carry no client-side envelope"
        )
    for url, envelope in sealed.items():
        if envelope.format is not Format.V1:
            raise MetadataError(
                f"{url} is {envelope.format.value}: COPY ENCRYPTED reads V1 only; load it with "
                "s3seal load --mode server-side"
            )
    key = None
    if args.with_key:
        # One COPY takes one key: the version that wrapped the manifest's files (manifests from
        # `s3seal manifest` never mix versions).
        key = base64.b64encode(root_key(args, aws, sealed[urls[0]]).material).decode("ascii")
    options = copying.CopyOptions(
        data_format=copying.DataFormat(args.data_format),
        delimiter=args.delimiter,
        ignore_header=args.ignore_header,
    )
    if sealed:
        print(f"s3seal: warning: {copying.COPY_ENCRYPTED_ENDED}", file=sys.stderr)
    print(
        copying.copy_statement(
            table=args.table,
            manifest_url=args.manifest,
            iam_role=args.iam_role,
            options=options,
            gzip=gzip,
            master_symmetric_key=key,
            encrypted=bool(sealed),
        )
    )
    return EXIT_OK


def _envelope_of(aws: Aws, url: str) -> EnvelopeMetadata | None:
    """The file's client-side envelope, or None when it carries none (plaintext under SSE)."""
    metadata = dict(storage.head_object(aws.s3, parse_s3_url(url)).get("Metadata", {}))
    if not ENVELOPE_NAMES & {name.lower() for name in metadata}:
        return None
    return EnvelopeMetadata.parse(metadata)


def _timestamp(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--since {text!r} is not an ISO 8601 date or time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
