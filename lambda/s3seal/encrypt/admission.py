"""What the encrypting function refuses before it reads or writes anything: events that are not
its to act on, and objects too large for the limit or for the invocation's remaining time."""

from __future__ import annotations

from collections.abc import Callable

from .. import storage
from ..config import Settings
from ..errors import DeadlineError, ObjectTooLargeError, RefusedObjectError
from ..names import RESERVED_PREFIX
from ..objects import ObjectRef

ASSUMED_BYTES_PER_SECOND = 32 * storage.MiB
"""A floor for GET + encrypt + PUT throughput inside Lambda, used to refuse up front an object
that cannot finish in the invocation's remaining time (bench/ measures the real figure)."""
SAFETY_SECONDS = 10.0
"""Time kept back for verification, the delete and the response."""


def staged_key(settings: Settings, key: str) -> str:
    """The staging key of landing key ``key``."""
    return settings.staging_prefix + key + settings.compression.suffix


def refuse(settings: Settings, ref: ObjectRef) -> None:
    """Events the function must never act on, whoever sent them (anyone allowed to send to its
    queue or invoke it can name any bucket and key)."""
    if ref.bucket not in settings.landing_buckets:
        # The staging bucket above all: staging a staged object would re-encrypt it in place.
        raise RefusedObjectError(
            f"{ref} refused: {ref.bucket!r} is not a landing bucket of this function "
            "(LANDING_BUCKETS); nothing was read, written or deleted"
        )
    if staged_key(settings, ref.key).startswith(RESERVED_PREFIX):
        # Refused rather than re-prefixed: a renamed key would surprise whoever loads it, and
        # the plaintext stays in landing for a person to rename.
        raise RefusedObjectError(
            f"{ref} refused: it would be staged as {staged_key(settings, ref.key)!r}, under the "
            f"staging bucket's reserved prefix {RESERVED_PREFIX!r}; the plaintext is kept"
        )


def check_size(
    settings: Settings,
    ref: ObjectRef,
    size: int,
    remaining_seconds: Callable[[], float] | None,
) -> None:
    """ObjectTooLargeError over MAX_OBJECT_BYTES or over what the time left can carry;
    DeadlineError when too little time is left to start."""
    limit = settings.max_object_bytes
    if limit is not None and size > limit:
        raise ObjectTooLargeError(f"{ref} is {size} bytes, over MAX_OBJECT_BYTES={limit}")
    if remaining_seconds is None:
        return
    left = remaining_seconds()
    if left < SAFETY_SECONDS:
        raise DeadlineError(f"{ref}: only {left:.1f} s left in the invocation to start")
    budget = int((left - SAFETY_SECONDS) * ASSUMED_BYTES_PER_SECOND)
    if size > budget:
        raise ObjectTooLargeError(
            f"{ref} is {size} bytes; the {left:.0f} s left in this invocation "
            f"fit about {budget} bytes (raise the function timeout or set MAX_OBJECT_BYTES)"
        )
