"""`python -X importtime`, read: one line per imported module, and the subtree of one import.

Shared by bench_handler (the cold start as the development venv sees it) and coldstart (as the
Lambda asset ships, with bytecode)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


@dataclass(frozen=True)
class ImportLine:
    self_us: int
    cumulative_us: int
    depth: int
    name: str


def importtime(
    statement: str,
    env: Mapping[str, str],
    *,
    flags: Sequence[str] = (),
    cwd: Path | None = None,
) -> list[ImportLine]:
    """Run ``statement`` in a fresh interpreter under ``-X importtime`` and parse what it prints."""
    return importtime_and_output(statement, env, flags=flags, cwd=cwd)[0]


def importtime_and_output(
    statement: str,
    env: Mapping[str, str],
    *,
    flags: Sequence[str] = (),
    cwd: Path | None = None,
) -> tuple[list[ImportLine], str]:
    """As ``importtime``, with what the statement printed on stdout."""
    done = subprocess.run(
        [sys.executable, *flags, "-X", "importtime", "-c", statement],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        check=True,
    )
    lines = []
    for raw in done.stderr.splitlines():
        found = _LINE.match(raw)
        if found:
            depth = (len(found.group(3)) - 1) // 2
            lines.append(
                ImportLine(int(found.group(1)), int(found.group(2)), depth, found.group(4))
            )
    return lines, done.stdout


def subtree(lines: Sequence[ImportLine], name: str) -> list[ImportLine]:
    """The lines of ``name``'s import and everything it imported (printed before it)."""
    end = next(i for i, line in enumerate(lines) if line.name == name and line.depth == 0)
    start = end
    while start > 0 and lines[start - 1].depth > 0:
        start -= 1
    return list(lines[start : end + 1])
