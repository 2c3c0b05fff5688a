"""SIGINT and SIGTERM during a command: both unwind through the same ``finally`` blocks."""

from __future__ import annotations

import signal
import threading
from typing import Any


class Terminated(BaseException):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt, so that the same
    ``finally`` blocks run: the temp file beside a local target is removed, a multipart upload
    aborted (``storage.upload`` aborts on any BaseException)."""


def _on_signal(signum: int, frame: object) -> None:
    # Once only: a second signal must not cut short the cleanup the first one started.
    for other in (signal.SIGINT, signal.SIGTERM):
        signal.signal(other, signal.SIG_IGN)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated


def handle_signals() -> dict[int, Any]:
    """Install ``_on_signal`` for SIGINT and SIGTERM; returns the handlers it replaced."""
    if threading.current_thread() is not threading.main_thread():
        return {}  # (only the main thread may set handlers; an embedding caller keeps its own)
    return {signum: signal.signal(signum, _on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}


def restore(previous: dict[int, Any]) -> None:
    """Put back the handlers ``handle_signals`` replaced."""
    for signum, handler in previous.items():
        signal.signal(signum, handler)
