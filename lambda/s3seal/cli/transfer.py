"""``s3seal encrypt`` and ``s3seal decrypt``: SRC to DST with ``aws s3 cp`` semantics.

SRC and DST are each a local path, ``-`` (stdio) or ``s3://bucket/key``; ``--recursive`` takes a
folder or prefix (see ``transfer_plan`` for how destinations are named, ``bulk`` for the run).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterator
from typing import Any

from .. import storage
from ..config import DEFAULT_ENVELOPE_FORMAT
from ..envelope import (
    INSTRUCTION_SUFFIX,
    Decryptor,
    Encryptor,
    EnvelopeMetadata,
    Format,
    decrypt_chunks,
    encrypt_chunks,
)
from ..envelope.metadata import ENVELOPE_NAMES
from ..errors import ConfigError, MetadataError, S3SealError
from ..names import SECRET_VERSION_FIELD
from ..objects import is_s3_url
from ..rootkey.keys import RootKey
from ..transfer_plan import EXCLUDE, INCLUDE, same_place
from . import bulk
from .aws import Aws
from .meter import Meter
from .options import positive_int, root_key
from .sinks import write
from .sources import SIDECAR_SUFFIX, STDIO, Source, open_source, parse_envelope


class _Filter(argparse.Action):
    """``--include``/``--exclude``: one list in the order given, since the last match decides."""

    def __call__(
        self, parser: Any, namespace: argparse.Namespace, values: Any, option: Any = None
    ) -> None:
        rules = [*(getattr(namespace, self.dest, None) or []), (self.const, values)]
        setattr(namespace, self.dest, rules)


def register(
    commands: Any,
    aws_parent: argparse.ArgumentParser,
    keys_parent: argparse.ArgumentParser,
    legacy_parent: argparse.ArgumentParser,
) -> None:
    """Add ``encrypt`` and ``decrypt`` to the CLI's subparsers."""
    io = argparse.ArgumentParser(add_help=False)
    io.add_argument(
        "src", metavar="SRC", help="local path, - for stdin, or s3://bucket/key (or a folder)"
    )
    io.add_argument(
        "dst",
        metavar="DST",
        help="local path, - for stdout, or s3://bucket/key; ending in / (or an existing "
        "folder): under SRC's name there",
    )
    io.add_argument(
        "--metadata",
        metavar="FILE",
        help=f"envelope metadata file (default for local files: PATH{SIDECAR_SUFFIX}); "
        "needed with stdin or stdout",
    )
    io.add_argument(
        "--part-size-mib",
        type=positive_int,
        default=storage.DEFAULT_PART_SIZE // storage.MiB,
        help="multipart part size for s3:// destinations (default: %(default)s)",
    )
    bulk_group = io.add_argument_group("many objects and output (as aws s3 cp)")
    bulk_group.add_argument(
        "--recursive",
        action="store_true",
        help="every file under the SRC folder or every object under the SRC prefix, to the "
        "same relative path under DST",
    )
    for option, kind in (("--include", INCLUDE), ("--exclude", EXCLUDE)):
        bulk_group.add_argument(
            option,
            dest="filters",
            action=_Filter,
            const=kind,
            default=[],
            metavar="PATTERN",
            help=f"with --recursive: {kind} paths (relative to SRC) matching PATTERN; in order, "
            "the last match wins",
        )
    bulk_group.add_argument(
        "--dryrun", action="store_true", help="print what would be done; touch nothing"
    )
    bulk_group.add_argument(
        "--quiet", action="store_true", help="print no per-object lines and no progress"
    )
    bulk_group.add_argument(
        "--no-progress", action="store_true", help="no progress line (shown on a terminal only)"
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
    bulk.check_usage(args)
    if args.dst == STDIO and not args.metadata:
        raise ConfigError("writing ciphertext to stdout needs --metadata FILE for the envelope")
    steps = bulk.plan(args, aws, companions=())
    keys: dict[None, RootKey] = {}

    def one(src: str, dst: str, meter: Meter) -> None:
        if None not in keys:  # read once, and only when something is to be encrypted
            keys[None] = root_key(args, aws)
        root = keys[None]
        source = open_source(src, aws, sidecar=None, envelope=False)
        encryptor = Encryptor(
            root.material, args.format, description=root.description(), plaintext_length=source.size
        )
        chunks = encrypt_chunks(encryptor, meter.track(source.chunks, source.size))
        # An S3 source's own user metadata travels with it; the envelope's names are ours to set.
        kept = {k: v for k, v in (source.metadata or {}).items() if k not in ENVELOPE_NAMES}
        envelope = lambda: kept | encryptor.complete_metadata().to_metadata()  # noqa: E731
        _write(args, aws, dst, source, chunks, envelope=envelope, sidecar=args.metadata)

    def outputs(dst: str) -> list[str]:
        local = dst != STDIO and not is_s3_url(dst)
        return [dst, args.metadata or dst + SIDECAR_SUFFIX] if local else [dst]

    clash = _clash_check(lambda src: [src], outputs)
    return bulk.run(
        args, verb="encrypt", steps=steps, transfer=one, clash=clash, label="encrypting"
    )


def cmd_decrypt(args: argparse.Namespace, aws: Aws) -> int:
    bulk.check_usage(args)
    if args.src == STDIO and not args.metadata:
        raise ConfigError("reading ciphertext from stdin needs --metadata FILE for the envelope")
    steps = bulk.plan(args, aws, companions=(SIDECAR_SUFFIX, INSTRUCTION_SUFFIX))
    keys: dict[str | None, RootKey] = {}

    def key_for(envelope: EnvelopeMetadata) -> RootKey:
        # One secret read per root-key version, not one per object of a recursive run.
        version = envelope.description.get(SECRET_VERSION_FIELD) if args.key_secret else None
        if version not in keys:
            keys[version] = root_key(args, aws, envelope)
        return keys[version]

    def one(src: str, dst: str, meter: Meter) -> None:
        source = open_source(src, aws, sidecar=args.metadata, envelope=True)
        if source.metadata is None:
            raise MetadataError(
                f"no envelope metadata: expected {src}{SIDECAR_SUFFIX} or --metadata FILE"
            )
        envelope = parse_envelope(src, aws, source.metadata)
        decryptor = Decryptor(key_for(envelope).material, envelope, allow_legacy=args.allow_legacy)
        chunks = decrypt_chunks(decryptor, meter.track(source.chunks, source.size))
        _write(args, aws, dst, source, chunks, authenticated=envelope.content.authenticated)

    def inputs(src: str) -> list[str]:
        if src == STDIO or is_s3_url(src):
            return [src, *([args.metadata] if args.metadata else [])]
        return [src, args.metadata or src + SIDECAR_SUFFIX, src + INSTRUCTION_SUFFIX]

    clash = _clash_check(inputs, lambda dst: [dst])
    return bulk.run(
        args, verb="decrypt", steps=steps, transfer=one, clash=clash, label="decrypting"
    )


def _clash_check(
    inputs: Callable[[str], list[str]], outputs: Callable[[str], list[str]]
) -> Callable[[str, str], str | None]:
    """``clash(src, dst)``: why writing DST (and its sidecar) would overwrite an input of SRC
    (itself, its sidecar or instruction file), compared by resolved path or S3 key."""

    def clash(src: str, dst: str) -> str | None:
        for written in outputs(dst):
            for read in inputs(src):
                if same_place(read, written, bulk.same_file):
                    what = (
                        "SRC and DST are the same"
                        if read == src and written == dst
                        else (f"{written} is {read}")
                    )
                    return f"{what}; s3seal never overwrites its input"
        return None

    return clash


def _write(
    args: argparse.Namespace,
    aws: Aws,
    dst: str,
    source: Source,
    chunks: Iterator[bytes],
    **envelope: Any,
) -> None:
    """Write DST (see ``sinks.write``; ``envelope``: its envelope or authenticated arguments)."""
    _make_parent(dst)
    part_size = storage.choose_part_size(source.size, args.part_size_mib * storage.MiB)
    write(dst, aws, chunks, part_size=part_size, content_type=source.content_type, **envelope)


def _make_parent(dst: str) -> None:
    """A local DST's folder, created as ``aws s3 cp`` does (``out/`` or a recursive subfolder)."""
    if dst == STDIO or is_s3_url(dst):
        return
    parent = os.path.dirname(dst)
    if parent:
        try:
            os.makedirs(parent, exist_ok=True)
        except OSError as exc:
            raise S3SealError(f"cannot write {dst}: {parent}: {exc.strerror}") from None
