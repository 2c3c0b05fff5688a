"""The encrypting function's settings, read once from environment variables.

Each variable is named here once; a missing or invalid value raises ConfigError naming it, so the
function fails at start (its init phase) instead of on the first object.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import NamedTuple, TypeVar

from .envelope import Format
from .errors import ConfigError
from .names import RESERVED_PREFIX
from .storage import MAX_PART_SIZE, MIN_PART_SIZE, MiB

STAGING_BUCKET = "STAGING_BUCKET"
LANDING_BUCKETS = "LANDING_BUCKETS"
"""Comma-separated: the only buckets whose objects the function takes (anything else is refused)."""
ROOT_KEY_SECRET_ID = "ROOT_KEY_SECRET_ID"  # noqa: S105 (a variable name)
STAGING_PREFIX = "STAGING_PREFIX"
ENVELOPE_FORMAT = "ENVELOPE_FORMAT"
COMPRESSION = "COMPRESSION"
PART_SIZE_MIB = "PART_SIZE_MIB"
MAX_OBJECT_BYTES = "MAX_OBJECT_BYTES"
KEY_CACHE_SECONDS = "KEY_CACHE_SECONDS"
PARTS_IN_FLIGHT = "PARTS_IN_FLIGHT"
RECORD_CONCURRENCY = "RECORD_CONCURRENCY"
"""At most this many records of one SQS batch staged at once (default: what the memory allows)."""
FUNCTION_MEMORY = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"
"""Set by Lambda: the function's memory in MB (Lambda's MB are MiB)."""

DEFAULT_ENVELOPE_FORMAT = Format.V3
"""What current AWS S3 encryption clients read under their default (key-committing) policy.
Only COPY ... ENCRYPTED needed V1, and Redshift stopped reading it after 2026-04-30."""
DEFAULT_PART_SIZE_MIB = 16
DEFAULT_KEY_CACHE_SECONDS = 300
DEFAULT_PARTS_IN_FLIGHT = 4
RUNTIME_HEADROOM_MIB = 256
"""Memory kept back from the function's for everything but object data: the interpreter, boto3,
Powertools and cryptography (about 120 MiB resident once imported), thread stacks, connection
buffers and the allocator's slack. What is left is shared out in ``memory_bound`` slices."""
MAX_RECORD_CONCURRENCY = 32
"""A ceiling on records in flight whatever the memory: past it the one or few vCPUs and the S3
connection pool, not memory, are the limit (10,240 MB would otherwise allow 104)."""


class Compression(StrEnum):
    NONE = "none"
    GZIP = "gzip"

    @property
    def suffix(self) -> str:
        """What the staged key gets appended (COPY then takes GZIP)."""
        return ".gz" if self is Compression.GZIP else ""


class Settings(NamedTuple):
    """Everything the encrypting function is configured with."""

    staging_bucket: str
    root_key_secret_id: str
    landing_buckets: frozenset[str]
    """Events naming any other bucket are refused before anything is touched."""
    staging_prefix: str = ""
    envelope_format: Format = DEFAULT_ENVELOPE_FORMAT
    compression: Compression = Compression.NONE
    part_size: int = DEFAULT_PART_SIZE_MIB * MiB
    max_object_bytes: int | None = None
    """None: whatever can be encrypted in the invocation's remaining time."""
    key_cache_seconds: int = DEFAULT_KEY_CACHE_SECONDS
    parts_in_flight: int = DEFAULT_PARTS_IN_FLIGHT
    function_memory_mib: int | None = None
    """The function's memory (from Lambda); None outside Lambda."""
    record_concurrency: int | None = None
    """A cap on records in flight; None: what the memory allows (see ``record_workers``)."""

    @property
    def memory_bound(self) -> int:
        """Object data one object in flight holds at most: part size x (parts in flight + 2).

        The +2: the part being assembled while the others upload, and the one read ahead to choose
        between a single PUT and a multipart upload (see ``storage``).
        """
        return self.part_size * (self.parts_in_flight + 2)

    @property
    def record_workers(self) -> int:
        """Records of one batch staged at once, at most: one ``memory_bound`` slice each.

        (function memory - RUNTIME_HEADROOM_MIB) // memory_bound, at least 1, at most
        MAX_RECORD_CONCURRENCY and RECORD_CONCURRENCY. Object data in flight is then at most
        ``record_workers x memory_bound``, within the memory left after the headroom. Outside
        Lambda, where the memory is unknown, 1 (one record at a time) unless RECORD_CONCURRENCY
        says otherwise.
        """
        if self.function_memory_mib is None:
            workers = self.record_concurrency or 1
        else:
            available = (self.function_memory_mib - RUNTIME_HEADROOM_MIB) * MiB
            workers = available // self.memory_bound
            if self.record_concurrency is not None:
                workers = min(workers, self.record_concurrency)
        return max(1, min(workers, MAX_RECORD_CONCURRENCY))

    def record_pool_size(self, records: int) -> int:
        """Threads for ``records`` records (or groups of records) of one batch."""
        return max(1, min(records, self.record_workers))

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        return cls(
            staging_bucket=(staging := required(environ, STAGING_BUCKET)),
            root_key_secret_id=required(environ, ROOT_KEY_SECRET_ID),
            landing_buckets=_landing_buckets(required(environ, LANDING_BUCKETS), staging),
            staging_prefix=_prefix(environ.get(STAGING_PREFIX, "")),
            envelope_format=choice(environ, ENVELOPE_FORMAT, Format, DEFAULT_ENVELOPE_FORMAT),
            compression=choice(environ, COMPRESSION, Compression, Compression.NONE),
            part_size=integer(
                environ,
                PART_SIZE_MIB,
                DEFAULT_PART_SIZE_MIB,
                low=MIN_PART_SIZE // MiB,
                high=MAX_PART_SIZE // MiB,
            )
            * MiB,
            max_object_bytes=optional_integer(environ, MAX_OBJECT_BYTES, low=0),
            key_cache_seconds=integer(
                environ, KEY_CACHE_SECONDS, DEFAULT_KEY_CACHE_SECONDS, low=0, high=86_400
            ),
            parts_in_flight=integer(
                environ, PARTS_IN_FLIGHT, DEFAULT_PARTS_IN_FLIGHT, low=1, high=64
            ),
            # Lambda's own range; read from the environment so the local worker and the tests
            # can stand in for a function of any size.
            function_memory_mib=optional_integer(environ, FUNCTION_MEMORY, low=128, high=10_240),
            record_concurrency=optional_integer(
                environ, RECORD_CONCURRENCY, low=1, high=MAX_RECORD_CONCURRENCY
            ),
        )


def required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is required and not set")
    return value


def _landing_buckets(value: str, staging_bucket: str) -> frozenset[str]:
    # Required, with no default: a function that took any bucket's events could be pointed at
    # the staging bucket (re-encrypting staged objects in place) by anyone who can send to its
    # queue.
    names = frozenset(name.strip() for name in value.split(",") if name.strip())
    if not names:
        raise ConfigError(f"{LANDING_BUCKETS} is required and not set")
    if staging_bucket in names:
        raise ConfigError(
            f"{LANDING_BUCKETS} must not include the staging bucket {staging_bucket!r}"
        )
    return names


def _prefix(value: str) -> str:
    if value.startswith("/"):
        raise ConfigError(f"{STAGING_PREFIX} must not start with '/': S3 keys have no root")
    if value.startswith(RESERVED_PREFIX):
        raise ConfigError(
            f"{STAGING_PREFIX} must not start with {RESERVED_PREFIX!r}: the loader's own prefix"
        )
    return value


_Choice = TypeVar("_Choice", bound=StrEnum)


def choice(environ: Mapping[str, str], name: str, kind: type[_Choice], default: _Choice) -> _Choice:
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise ConfigError(f"{name}={raw!r} is not one of: {allowed}") from None


def integer(environ: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    value = optional_integer(environ, name, low=low, high=high)
    return default if value is None else value


def optional_integer(
    environ: Mapping[str, str], name: str, *, low: int, high: int | None = None
) -> int | None:
    raw = environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if value < low or (high is not None and value > high):
        bounds = f"at least {low}" if high is None else f"between {low} and {high}"
        raise ConfigError(f"{name}={value} must be {bounds}")
    return value
