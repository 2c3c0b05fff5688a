"""A progress line on stderr for large transfers, shown only when stderr is a terminal."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO

SHOW_FROM_BYTES = 8 * 1024 * 1024
"""Smaller transfers finish before a progress line would help."""
_REDRAW_SECONDS = 0.2


def _human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def track(
    chunks: Iterable[bytes], total: int | None, label: str, stream: TextIO | None = None
) -> Iterator[bytes]:
    """Pass ``chunks`` through, drawing ``label  done / total (pct)`` on a terminal."""
    out = stream if stream is not None else sys.stderr
    if not out.isatty() or (total is not None and total < SHOW_FROM_BYTES):
        yield from chunks
        return
    done = 0
    last_draw = 0.0
    for chunk in chunks:
        done += len(chunk)
        now = time.monotonic()
        if now - last_draw >= _REDRAW_SECONDS:
            _draw(out, label, done, total)
            last_draw = now
        yield chunk
    _draw(out, label, done, total)
    out.write("\n")
    out.flush()


def _draw(out: TextIO, label: str, done: int, total: int | None) -> None:
    if total:
        line = f"{label}  {_human(done)} / {_human(total)} ({100 * done // total}%)"
    else:
        line = f"{label}  {_human(done)}"
    out.write("\r\x1b[K" + line)
    out.flush()
