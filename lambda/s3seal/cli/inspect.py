"""``s3seal inspect``: what an object's envelope says, without the key."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .. import storage
from ..envelope import EnvelopeMetadata, Format
from ..errors import LegacyFormatError
from ..objects import is_s3_url, parse_s3_url
from .aws import Aws
from .exits import EXIT_OK
from .options import ALLOW_LEGACY
from .sources import SIDECAR_SUFFIX, parse_envelope, read_sidecar


def register(
    commands: Any, aws_parent: argparse.ArgumentParser, legacy_parent: argparse.ArgumentParser
) -> None:
    """Add ``inspect`` to the CLI's subparsers."""
    inspect = commands.add_parser(
        "inspect",
        parents=[aws_parent, legacy_parent],
        help="show an object's envelope (no key needed); exit 4 for a legacy shape unless "
        f"{ALLOW_LEGACY}",
    )
    inspect.add_argument(
        "src", metavar="SRC", help="s3://bucket/key, or a local file with its sidecar"
    )
    inspect.add_argument("--metadata", metavar="FILE", help="envelope metadata file")
    inspect.add_argument("--json", action="store_true", help="print JSON")
    inspect.set_defaults(run=cmd_inspect)


def cmd_inspect(args: argparse.Namespace, aws: Aws) -> int:
    if is_s3_url(args.src):
        head = storage.head_object(aws.s3, parse_s3_url(args.src))
        stored: int | None = head["ContentLength"]
        metadata = read_sidecar(args.metadata) if args.metadata else dict(head.get("Metadata", {}))
    else:
        sidecar = args.metadata or args.src + SIDECAR_SUFFIX
        metadata = read_sidecar(sidecar)
        stored = Path(args.src).stat().st_size if Path(args.src).exists() else None
    envelope = parse_envelope(args.src, aws, metadata)
    report = {"object": args.src} | describe_envelope(envelope, stored)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        width = max(len(k) for k in report)
        for name, value in report.items():
            shown = json.dumps(value) if isinstance(value, dict) else value
            print(f"{name + ':':<{width + 2}}{shown}")
    if envelope.legacy_shape and not args.allow_legacy:
        # The envelope is shown either way; the status says whether decrypt reads it as it is.
        raise LegacyFormatError(
            f"{envelope.legacy_shape} is a legacy unauthenticated shape: decrypt refuses it "
            f"unless given {ALLOW_LEGACY}"
        )
    return EXIT_OK


def describe_envelope(meta: EnvelopeMetadata, stored_bytes: int | None) -> dict[str, Any]:
    """What an envelope says, without the key: for ``inspect``."""
    key_bits = {48: 256, 32: 128, 60: 256, 44: 128, 40: 256, 24: 128}.get(len(meta.wrapped_key))
    report: dict[str, Any] = {
        "format": meta.format.value,
        "content_algorithm": meta.content.cek_alg,
        "key_wrap_algorithm": meta.wrap.wrap_alg,
        "data_key_bits": key_bits,
        "iv_bytes": len(meta.iv),
        "authenticated": meta.content.authenticated,
        "key_commitment": meta.format is Format.V3,
        "legacy_shape": meta.legacy_shape,
        "redshift_copy_encrypted": meta.format is Format.V1,
        "matdesc": meta.description,
        "stored_bytes": stored_bytes,
        "declared_plaintext_bytes": meta.unencrypted_length,
    }
    if stored_bytes is not None:
        if meta.content.authenticated:
            report["plaintext_bytes"] = stored_bytes - meta.content.tag_size
        else:
            report["plaintext_bytes"] = f"{max(stored_bytes - 16, 0)}..{max(stored_bytes - 1, 0)}"
    return report
