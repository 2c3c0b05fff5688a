"""Which source goes to which destination, as ``aws s3 cp`` decides it; no I/O of its own.

- One object: a destination ending in ``/`` (local or ``s3://``), a bare ``s3://bucket``, or an
  existing local directory means "under this name": ``sales.csv`` to ``s3://stage/in/`` is
  ``s3://stage/in/sales.csv``.
- ``--recursive``: every file under a local folder, or every object under an S3 prefix (read as a
  folder: ``s3://b/in`` lists ``in/``), goes to the same relative path under the destination.
- ``--include``/``--exclude``: applied in order to the path relative to the source, the last one
  that matches deciding (everything is included when none matches); ``*`` also matches ``/``.

The caller passes the listing (``Entry`` items) and a ``same_file`` test for local paths, so the
whole plan can be checked without touching a disk or a bucket.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Literal

from .errors import ConfigError
from .objects import S3_SCHEME, is_s3_url

STDIO = "-"
INCLUDE: Literal["include"] = "include"
EXCLUDE: Literal["exclude"] = "exclude"

Rule = tuple[Literal["include", "exclude"], str]
"""One ``--include``/``--exclude`` option and its pattern, in the order given."""


@dataclass(frozen=True)
class Entry:
    """One file or object found under the source root: its path relative to it, with ``/``."""

    rel: str
    size: int | None = None


@dataclass(frozen=True)
class Step:
    """Encrypt or decrypt ``src`` to ``dst``."""

    src: str
    dst: str
    size: int | None = None


@dataclass(frozen=True)
class Refusal:
    """A source the plan will not transfer, and why (reported as a failure)."""

    src: str
    reason: str


@dataclass
class Plan:
    steps: list[Step] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)

    @property
    def total_bytes(self) -> int | None:
        sizes = [step.size for step in self.steps]
        return None if any(size is None for size in sizes) else sum(s or 0 for s in sizes)


def included(rel: str, rules: Sequence[Rule]) -> bool:
    """aws-cli filter semantics: the last rule whose pattern matches ``rel`` decides."""
    keep = True
    for kind, pattern in rules:
        if fnmatchcase(rel, pattern):
            keep = kind == INCLUDE
    return keep


def split_s3(url: str) -> tuple[str, str]:
    """``s3://bucket/key`` to (bucket, key); the key may be empty or end with ``/``."""
    if not is_s3_url(url):
        raise ConfigError(f"not an s3:// URL: {url}")
    bucket, _, key = url[len(S3_SCHEME) :].partition("/")
    if not bucket:
        raise ConfigError(f"{url} names no bucket")
    return bucket, key


def name_of(src: str) -> str:
    """The last component of a local path or an S3 key: the name kept under a folder."""
    if src == STDIO:
        raise ConfigError("stdin has no name to keep: give DST a file name, not a folder")
    if is_s3_url(src):
        _, key = split_s3(src)
        name = key.rsplit("/", 1)[-1]
        if not name:
            raise ConfigError(f"{src} names a prefix, not an object (use --recursive)")
        return name
    name = os.path.basename(src.rstrip(os.sep))
    if not name or name in (".", ".."):
        raise ConfigError(f"{src} has no file name to keep")
    return name


def resolve_destination(src: str, dst: str, *, is_dir: Callable[[str], bool]) -> str:
    """DST for one object, as ``aws s3 cp`` reads it: under DST when it ends in ``/``, is a bare
    ``s3://bucket``, or is an existing local directory; else DST itself."""
    if dst == STDIO:
        return dst
    if is_s3_url(dst):
        bucket, key = split_s3(dst)
        if key and not key.endswith("/"):
            return dst
        return f"{S3_SCHEME}{bucket}/{key}{name_of(src)}"
    if dst.endswith(("/", os.sep)) or is_dir(dst):
        return os.path.join(dst, name_of(src))
    return dst


def s3_folder(url: str) -> tuple[str, str]:
    """An S3 source or destination of ``--recursive`` as (bucket, prefix ending in ``/`` or
    empty): ``s3://b/in`` is the folder ``in/``, as in aws-cli."""
    bucket, key = split_s3(url)
    if key and not key.endswith("/"):
        key += "/"
    return bucket, key


def same_place(a: str, b: str, same_file: Callable[[str, str], bool]) -> bool:
    """Whether two SRC/DST names are the same object: S3 by bucket and key (a ``?versionId``
    does not make a different key), local paths by ``same_file`` (resolved paths, symlinks)."""
    if STDIO in (a, b):
        return False
    if is_s3_url(a) or is_s3_url(b):
        if not (is_s3_url(a) and is_s3_url(b)):
            return False
        return _without_version(split_s3(a)) == _without_version(split_s3(b))
    return same_file(a, b)


def _without_version(where: tuple[str, str]) -> tuple[str, str]:
    bucket, key = where
    if "?versionId=" in key:
        key = key.rpartition("?versionId=")[0]
    return bucket, key


def check_recursive(src: str, dst: str) -> None:
    """A recursive transfer reads a folder or prefix and writes one; stdio is neither."""
    for role, spec in (("SRC", src), ("DST", dst)):
        if spec == STDIO:
            raise ConfigError(f"--recursive: {role} must be a folder or s3:// prefix, not -")


def plan_recursive(
    src: str,
    dst: str,
    entries: Iterable[Entry],
    rules: Sequence[Rule] = (),
    *,
    companions: Sequence[str] = (),
) -> Plan:
    """Every listed entry kept by ``rules``, paired with its place under ``dst``.

    ``companions``: suffixes of files that travel with another listed entry (a decrypt source's
    ``.s3seal.json`` sidecar, a V3 ``.instruction`` file); they are not transfers of their own.
    Keys that end in ``/`` (folder markers) are skipped; keys that cannot be a local path under
    ``dst`` (``..``, empty segments) are refused rather than written outside it.
    """
    listed = [entry for entry in entries if entry.rel and not entry.rel.endswith("/")]
    names = {entry.rel for entry in listed}
    plan = Plan()
    for entry in sorted(listed, key=lambda e: e.rel):
        if _is_companion(entry.rel, names, companions) or not included(entry.rel, rules):
            continue
        source = _join(src, entry.rel)
        if not is_s3_url(dst) and not _safe_relative(entry.rel):
            plan.refused.append(
                Refusal(source, f"cannot be written under {dst}: its key is not a safe local path")
            )
            continue
        plan.steps.append(Step(source, _join(dst, entry.rel), entry.size))
    return plan


def _is_companion(rel: str, names: set[str], companions: Sequence[str]) -> bool:
    return any(rel.endswith(suffix) and rel[: -len(suffix)] in names for suffix in companions)


def _safe_relative(rel: str) -> bool:
    parts = rel.split("/")
    return not rel.startswith("/") and all(part not in ("", ".", "..") for part in parts)


def _join(root: str, rel: str) -> str:
    if is_s3_url(root):
        bucket, prefix = s3_folder(root)
        return f"{S3_SCHEME}{bucket}/{prefix}{rel}"
    return os.path.join(root, *rel.split("/"))


def local_rel(root: str, path: str) -> str:
    """A local file's path under ``root`` in the ``/`` form filters and S3 keys use."""
    return posixpath.join(*os.path.relpath(path, root).split(os.sep))
