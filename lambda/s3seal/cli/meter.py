"""The progress line on stderr: bytes done of the total, rate and ETA, on a terminal only."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TextIO

SHOW_FROM_BYTES = 8 * 1024 * 1024
"""Smaller transfers finish before a progress line would help."""
_REDRAW_SECONDS = 0.2
_CLEAR = "\r\x1b[K"


def human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _clock_text(seconds: float) -> str:
    whole = int(seconds + 0.5)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_line(
    label: str, done: int, total: int | None, elapsed: float, files: tuple[int, int] | None = None
) -> str:
    """``label  done / total (pct)  rate/s  ETA m:ss  [file i/n]``; what is unknown is left out."""
    amount = f"{human(done)} / {human(total)} ({100 * done // total}%)" if total else human(done)
    parts = [label, amount]
    rate = done / elapsed if elapsed > 0 else 0.0
    if rate > 0:
        parts.append(f"{human(rate)}/s")
        if total:
            parts.append(f"ETA {_clock_text(max(total - done, 0) / rate)}")
    if files is not None:
        parts.append(f"file {files[0]}/{files[1]}")
    return "  ".join(parts)


class Meter:
    """Counts the bytes read through ``track`` for one or many files and redraws one line.

    Shown only when enabled, the stream is a terminal, and the transfer is not small.
    """

    def __init__(
        self,
        label: str,
        total: int | None,
        files: int = 1,
        *,
        enabled: bool = True,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._out = stream if stream is not None else sys.stderr
        self._label = label
        self._total = total
        self._files = files
        self._clock = clock
        self._terminal = enabled and self._out.isatty()
        self._start = clock()
        self._last_draw = 0.0
        self._drawn = False
        self.done = 0
        self.current_file = 0

    @property
    def shown(self) -> bool:
        return self._terminal and (self._total is None or self._total >= SHOW_FROM_BYTES)

    def track(self, chunks: Iterable[bytes], size: int | None = None) -> Iterator[bytes]:
        """Pass one file's chunks through, counting them. A one-file meter made before the file
        was opened takes ``size`` as its total."""
        self.current_file += 1
        if self._files == 1 and self._total is None:
            self._total = size
        for chunk in chunks:
            self.done += len(chunk)
            now = self._clock()
            if self.shown and now - self._last_draw >= _REDRAW_SECONDS:
                self._draw(now)
            yield chunk

    def clear(self) -> None:
        """Wipe the line before something else is printed to the terminal."""
        if self._drawn:
            self._out.write(_CLEAR)
            self._out.flush()
            self._drawn = False

    def finish(self) -> None:
        """Draw the final figures and end the line (nothing when never shown)."""
        if self.shown:
            self._draw(self._clock())
            self._out.write("\n")
            self._out.flush()
            self._drawn = False

    def _draw(self, now: float) -> None:
        files = (self.current_file, self._files) if self._files > 1 else None
        line = progress_line(self._label, self.done, self._total, now - self._start, files)
        self._out.write(_CLEAR + line)
        self._out.flush()
        self._last_draw = now
        self._drawn = True
