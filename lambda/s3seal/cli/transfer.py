"""``s3seal encrypt`` and ``s3seal decrypt``: SRC to DST, each a local file, stdio or S3."""

from __future__ import annotations

import argparse
from typing import Any

from .. import storage
from ..config import DEFAULT_ENVELOPE_FORMAT
from ..envelope import Decryptor, Encryptor, Format, decrypt_chunks, encrypt_chunks
from ..envelope.metadata import ENVELOPE_NAMES
from ..errors import ConfigError, MetadataError
from . import progress
from .aws import Aws
from .exits import EXIT_OK
from .options import positive_int, root_key
from .sinks import write
from .sources import SIDECAR_SUFFIX, STDIO, open_source, parse_envelope


def register(
    commands: Any,
    aws_parent: argparse.ArgumentParser,
    keys_parent: argparse.ArgumentParser,
    legacy_parent: argparse.ArgumentParser,
) -> None:
    """Add ``encrypt`` and ``decrypt`` to the CLI's subparsers."""
    io = argparse.ArgumentParser(add_help=False)
    io.add_argument("src", metavar="SRC", help="local path, - for stdin, or s3://bucket/key")
    io.add_argument("dst", metavar="DST", help="local path, - for stdout, or s3://bucket/key")
    io.add_argument(
        "--metadata",
        metavar="FILE",
        help=f"envelope metadata file (default for local files: PATH{SIDECAR_SUFFIX})",
    )
    io.add_argument(
        "--part-size-mib",
        type=positive_int,
        default=storage.DEFAULT_PART_SIZE // storage.MiB,
        help="multipart part size for s3:// destinations (default: %(default)s)",
    )
    encrypt = commands.add_parser(
        "encrypt", parents=[io, keys_parent, aws_parent], help="encrypt SRC to DST"
    )
    encrypt.add_argument(
        "--format",
        choices=[f.value for f in Format],
        default=DEFAULT_ENVELOPE_FORMAT.value,
        help="v3 (default): AES-GCM with key commitment, what current AWS S3 encryption clients "
        "read; v2: AES-GCM; v1: AES-CBC, unauthenticated (only for COPY ENCRYPTED, which "
        "Redshift stopped reading after 2026-04-30)",
    )
    encrypt.set_defaults(run=cmd_encrypt)

    decrypt = commands.add_parser(
        "decrypt", parents=[io, keys_parent, aws_parent, legacy_parent], help="decrypt SRC to DST"
    )
    decrypt.set_defaults(run=cmd_decrypt)


def cmd_encrypt(args: argparse.Namespace, aws: Aws) -> int:
    _check_paths(args)
    if args.dst == STDIO and not args.metadata:
        raise ConfigError("writing ciphertext to stdout needs --metadata FILE for the envelope")
    root = root_key(args, aws)
    source = open_source(args.src, aws, sidecar=None, envelope=False)
    encryptor = Encryptor(
        root.material, args.format, description=root.description(), plaintext_length=source.size
    )
    chunks = encrypt_chunks(encryptor, progress.track(source.chunks, source.size, "encrypting"))
    # An S3 source's own user metadata travels with it; the envelope's names are ours to set.
    kept = {k: v for k, v in (source.metadata or {}).items() if k not in ENVELOPE_NAMES}
    write(
        args.dst,
        aws,
        chunks,
        part_size=storage.choose_part_size(source.size, args.part_size_mib * storage.MiB),
        content_type=source.content_type,
        envelope=lambda: kept | encryptor.complete_metadata().to_metadata(),
        sidecar=args.metadata,
    )
    return EXIT_OK


def cmd_decrypt(args: argparse.Namespace, aws: Aws) -> int:
    _check_paths(args)
    source = open_source(args.src, aws, sidecar=args.metadata, envelope=True)
    if source.metadata is None:
        raise MetadataError(
            f"no envelope metadata: expected {args.src}{SIDECAR_SUFFIX} or --metadata FILE"
        )
    envelope = parse_envelope(args.src, aws, source.metadata)
    root = root_key(args, aws, envelope)
    decryptor = Decryptor(root.material, envelope, allow_legacy=args.allow_legacy)
    chunks = decrypt_chunks(decryptor, progress.track(source.chunks, source.size, "decrypting"))
    write(
        args.dst,
        aws,
        chunks,
        part_size=storage.choose_part_size(source.size, args.part_size_mib * storage.MiB),
        content_type=source.content_type,
        authenticated=envelope.content.authenticated,
    )
    return EXIT_OK


def _check_paths(args: argparse.Namespace) -> None:
    if args.src == args.dst and args.src != STDIO:
        raise ConfigError("SRC and DST are the same; s3seal never overwrites its input")
