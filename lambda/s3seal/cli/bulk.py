"""Running an ``aws s3 cp``-like transfer: one object, or ``--recursive`` over a folder or prefix.

``transfer_plan`` decides the (SRC, DST) pairs; this module lists the source, refuses a pair
that would overwrite its input, runs each pair and reports. A recursive run goes on past a
failed object (one line on stderr naming it and the cause) and exits non-zero at the end.
Ctrl-C and SIGTERM are not caught here: they unwind through the sinks' cleanup (no temp file,
no incomplete upload) and end the run.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from botocore.exceptions import BotoCoreError, ClientError

from .. import storage
from ..errors import ConfigError, S3SealError
from ..objects import is_s3_url
from ..transfer_plan import (
    STDIO,
    Entry,
    Plan,
    Step,
    check_recursive,
    local_rel,
    plan_recursive,
    resolve_destination,
    s3_folder,
)
from .aws import Aws
from .exits import EXIT_FAILURE, EXIT_OK, exit_code_for
from .meter import Meter


class Transfer(Protocol):
    """Encrypt or decrypt one SRC to one DST, counting what it reads through ``meter``."""

    def __call__(self, src: str, dst: str, meter: Meter) -> None: ...


def same_file(a: str, b: str) -> bool:
    """Local paths naming one file: the same inode when both exist, else the same resolved path
    (``./a`` and ``a``, a symlink and its target)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def list_source(src: str, aws: Aws) -> Iterator[Entry]:
    """The files under a local folder, or the objects under an S3 prefix, relative to it."""
    if is_s3_url(src):
        bucket, prefix = s3_folder(src)
        pages = aws.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        try:
            for page in pages:
                for item in page.get("Contents", []):
                    yield Entry(item["Key"][len(prefix) :], item.get("Size"))
        except (ClientError, BotoCoreError) as exc:
            raise storage.translate(exc, "cannot list", src) from None
        return
    if not os.path.isdir(src):
        raise S3SealError(f"cannot list {src}: not a folder")

    def unreadable(exc: OSError) -> None:
        raise S3SealError(f"cannot list {exc.filename}: {exc.strerror}")

    for folder, subfolders, files in os.walk(src, onerror=unreadable):
        subfolders.sort()
        for name in files:
            path = os.path.join(folder, name)
            try:
                info = os.stat(path)
            except OSError:
                continue  # a dangling symlink: nothing to read
            if stat.S_ISREG(info.st_mode):  # not a FIFO, socket or device
                yield Entry(local_rel(src, path), info.st_size)


def check_usage(args: argparse.Namespace) -> None:
    """Option combinations that cannot mean anything: usage errors (exit 2), not ignored."""
    if args.filters and not args.recursive:
        raise ConfigError("--include/--exclude select files under a folder: add --recursive")
    if args.recursive:
        check_recursive(args.src, args.dst)
        if args.metadata:
            raise ConfigError("--metadata names one envelope file: not with --recursive")


def plan(args: argparse.Namespace, aws: Aws, companions: Sequence[str]) -> Plan:
    if args.recursive:
        entries = list_source(args.src, aws)
        return plan_recursive(args.src, args.dst, entries, args.filters, companions=companions)
    if args.src != STDIO and not is_s3_url(args.src) and os.path.isdir(args.src):
        raise ConfigError(f"{args.src} is a folder: add --recursive")
    dst = resolve_destination(args.src, args.dst, is_dir=os.path.isdir)
    return Plan([Step(args.src, dst)])


def run(
    args: argparse.Namespace,
    *,
    verb: str,
    steps: Plan,
    transfer: Transfer,
    clash: Callable[[str, str], str | None],
    label: str,
) -> int:
    """Run every step of the plan. ``clash(src, dst)``: why the pair would overwrite an input,
    or None. One object: its error propagates (the caller's one line and exit code)."""
    quiet = args.quiet
    if not args.recursive:
        (step,) = steps.steps
        if reason := clash(step.src, step.dst):
            raise ConfigError(reason)
        if args.dryrun:
            _say(quiet, f"(dryrun) {verb} {step.src} to {step.dst}")
            return EXIT_OK
        meter = Meter(label, None, enabled=not (quiet or args.no_progress))
        try:
            transfer(step.src, step.dst, meter)
        finally:
            meter.clear()
        meter.finish()
        return EXIT_OK
    failures: list[S3SealError] = []

    def failed(src: str, exc: S3SealError) -> None:
        meter.clear()
        print(f"s3seal: {verb} {src}: {exc}", file=sys.stderr, flush=True)
        failures.append(exc)

    meter = Meter(
        label,
        steps.total_bytes,
        len(steps.steps),
        enabled=not (quiet or args.no_progress or args.dryrun),
    )
    for refusal in steps.refused:
        failed(refusal.src, S3SealError(refusal.reason))
    try:
        for step in steps.steps:
            if reason := clash(step.src, step.dst):
                failed(step.src, ConfigError(reason))
                continue
            if args.dryrun:
                _say(quiet, f"(dryrun) {verb} {step.src} to {step.dst}")
                continue
            try:
                transfer(step.src, step.dst, meter)
            except S3SealError as exc:
                failed(step.src, exc)
                continue
            meter.clear()
            _say(quiet, f"{verb} {step.src} to {step.dst}")
    finally:
        meter.clear()
    meter.finish()
    if not failures:
        return EXIT_OK
    total = len(steps.steps) + len(steps.refused)
    print(f"s3seal: {verb}: {len(failures)} of {total} failed", file=sys.stderr)
    codes = {exit_code_for(exc) for exc in failures}
    return codes.pop() if len(codes) == 1 else EXIT_FAILURE


def _say(quiet: bool, line: str) -> None:
    if not quiet:
        print(line, flush=True)
