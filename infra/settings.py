"""The stack's settings: every `cdk.json` context key, its default, and its type, in one place.

``app.py`` is the only reader of context; constructs receive these typed values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any

from s3seal.config import DEFAULT_ENVELOPE_FORMAT, Compression
from s3seal.copying import DataFormat
from s3seal.envelope import Format
from s3seal.names import STACK_NAME


class SettingsError(ValueError):
    """A context value has the wrong type or range; the message names the key."""


@dataclass(frozen=True)
class StackSettings:
    """Deploy-time settings. Context keys are these field names."""

    stack_name: str = STACK_NAME
    # Landing bucket and its notifications
    landing_prefix_filter: str = ""
    landing_suffix_filter: str = ""
    landing_encryption: str = "s3"
    """``s3`` (SSE-S3) or ``kms`` (SSE-KMS under a key the stack creates)."""
    # Queue
    max_receive_count: int = 5
    batch_size: int = 10
    max_batching_window_seconds: int = 0
    oldest_message_alarm_seconds: int = 3600
    # Encrypting function
    function_memory_mb: int = 1769
    """1,769 MB is one full vCPU."""
    function_timeout_seconds: int = 900
    reserved_concurrency: int | None = None
    max_concurrency: int = 10
    """Most concurrent invocations the queue's event source starts; ``0`` lifts the cap.

    10 is 1% of an account's default quota of 1,000 concurrent executions: a backfill of a million
    objects then waits in the queue instead of starving every other function in the account (the
    oldest-message alarm says when it waits too long). Unlike ``reserved_concurrency``, this cap
    never throttles: messages stay in the queue without counting towards ``max_receive_count``.
    """
    envelope_format: str | None = None
    """Unset: v3, or v1 when ``loader_mode`` is ``client-side`` (``function_envelope_format``)."""
    compression: str = Compression.NONE.value
    staging_prefix: str = ""
    part_size_mib: int = 16
    parts_in_flight: int = 4
    max_object_bytes: int | None = None
    key_cache_seconds: int = 300
    log_retention_days: int = 365
    # Root key
    root_key_rotation_days: int = 90
    """0 turns scheduled rotation off (the first key is still generated at deploy)."""
    existing_root_key_secret_arn: str | None = None
    existing_root_key_kms_key_arn: str | None = None
    # Redshift
    redshift_source_arn: str | None = None
    """Bind the COPY role to one cluster or serverless namespace (``aws:SourceArn``)."""
    staging_extra_reader_arns: tuple[str, ...] = ()
    """Principals besides the function and the COPY role allowed to read staging (not the
    transient plaintext under ``_s3seal/load/``)."""
    staging_rewrap_arns: tuple[str, ...] = ()
    """Operators who run ``s3seal rewrap``: they may read staged objects and PutObject onto them
    (a copy onto itself with new envelope metadata); every other write stays the function's."""
    landing_extra_reader_arns: tuple[str, ...] = ()
    """Principals besides the function allowed to read the landing bucket's plaintext."""
    root_key_break_glass_arns: tuple[str, ...] = ()
    """Principals besides s3seal's roles allowed to read (and write) the root-key secret."""
    # Operations
    alarm_email: str | None = None
    # Loading into Redshift (nothing is created while loader_mode is "off")
    loader_mode: str = "off"
    """``off``, ``server-side`` (current Redshift) or ``client-side`` (COPY ... ENCRYPTED, V1 only,
    which Redshift stopped reading after 2026-04-30)."""
    loader_table: str | None = None
    loader_prefix: str = ""
    loader_schedule_minutes: int = 15
    loader_min_files: int = 0
    loader_min_bytes: int = 0
    loader_max_wait_seconds: int = 0
    copy_format: str = "delimited"
    copy_delimiter: str | None = None
    """Unset: the format's own, as in Redshift (``|`` for delimited, ``,`` for csv)."""
    copy_ignore_header: int = 0
    redshift_cluster_id: str | None = None
    redshift_workgroup: str | None = None
    redshift_database: str = "dev"
    redshift_secret_arn: str | None = None
    """Database credentials for the Data API; without it, IAM auth as ``redshift_db_user``."""
    redshift_db_user: str | None = None

    def __post_init__(self) -> None:
        _check(self.landing_encryption in ("s3", "kms"), "landing_encryption", "'s3' or 'kms'")
        _check(
            not self.envelope_format or self.envelope_format in {f.value for f in Format},
            "envelope_format",
            ", ".join(f.value for f in Format),
        )
        if self.loader_mode == "client-side" and self.function_envelope_format != Format.V1:
            raise SettingsError(
                f"context envelope_format={self.envelope_format} cannot be used with "
                "loader_mode=client-side: COPY ... ENCRYPTED reads v1 only (and Redshift stopped "
                "reading it after 2026-04-30); use loader_mode=server-side, or envelope_format=v1"
            )
        _check(self.compression in {c.value for c in Compression}, "compression", "none or gzip")
        _check(1 <= self.max_receive_count <= 1000, "max_receive_count", "1 to 1000")
        _check(1 <= self.batch_size <= 10_000, "batch_size", "1 to 10000")
        _check(0 <= self.max_batching_window_seconds <= 300, "max_batching_window_seconds", "0-300")
        _check(128 <= self.function_memory_mb <= 10_240, "function_memory_mb", "128 to 10240")
        _check(30 <= self.function_timeout_seconds <= 900, "function_timeout_seconds", "30-900")
        _check(5 <= self.part_size_mib <= 5120, "part_size_mib", "5 to 5120")
        _check(
            self.max_concurrency == 0 or 2 <= self.max_concurrency <= 1000,
            "max_concurrency",
            "0 (no cap) or 2 to 1000",
        )
        _check(
            self.root_key_rotation_days == 0 or 1 <= self.root_key_rotation_days <= 1000,
            "root_key_rotation_days",
            "0 (off) or 1 to 1000",
        )
        _check(
            self.loader_mode in ("off", "server-side", "client-side"),
            "loader_mode",
            "off, server-side or client-side",
        )
        if self.loader_enabled:
            _check(bool(self.loader_table), "loader_table", "set when the loader is on")
            _check(
                bool(self.redshift_cluster_id) != bool(self.redshift_workgroup),
                "redshift_cluster_id",
                "set (or redshift_workgroup, not both) when the loader is on",
            )
            _check(
                bool(self.redshift_secret_arn or self.redshift_db_user or self.redshift_workgroup),
                "redshift_secret_arn",
                "set (or redshift_db_user) for a provisioned cluster",
            )
            _check(1 <= self.loader_schedule_minutes <= 1440, "loader_schedule_minutes", "1-1440")
            _check(
                self.copy_format in {f.value for f in DataFormat},
                "copy_format",
                ", ".join(f.value for f in DataFormat),
            )
            _check(
                not self.copy_delimiter or len(self.copy_delimiter) == 1,
                "copy_delimiter",
                "one character",
            )
        # A batch larger than 10 needs a batching window (a Lambda rule for SQS sources).
        _check(
            self.batch_size <= 10 or self.max_batching_window_seconds > 0,
            "max_batching_window_seconds",
            "> 0 when batch_size > 10",
        )

    @property
    def function_envelope_format(self) -> str:
        """What the encrypting function writes: v3 (what current AWS S3 encryption clients read
        by default), or v1 for a client-side loader, whose COPY ... ENCRYPTED reads nothing else."""
        if self.envelope_format:
            return self.envelope_format
        if self.loader_mode == "client-side":
            return Format.V1.value
        return DEFAULT_ENVELOPE_FORMAT.value

    @property
    def loader_enabled(self) -> bool:
        return self.loader_mode != "off"

    @property
    def event_source_max_concurrency(self) -> int | None:
        """The event source's cap (None: none), never above ``reserved_concurrency``: beyond the
        reserve invocations are throttled and their messages count receives towards the DLQ."""
        if self.max_concurrency == 0:
            return None
        if self.reserved_concurrency is None:
            return self.max_concurrency
        return max(2, min(self.max_concurrency, self.reserved_concurrency))  # Lambda's minimum is 2

    @property
    def visibility_timeout_seconds(self) -> int:
        """Six times the function timeout, as AWS recommends for SQS event sources."""
        return 6 * self.function_timeout_seconds

    @classmethod
    def from_context(cls, get: Callable[[str], Any], keys: Iterable[str] = ()) -> StackSettings:
        """Build from CDK context (``app.node.try_get_context``); absent keys keep defaults.

        ``keys`` are every context key set (``app.node.get_all_context()``): one that is not a
        setting (a typo would otherwise be silently ignored) is an error naming the valid ones.
        """
        check_keys(keys)
        values: dict[str, Any] = {}
        for field in fields(cls):
            raw = get(field.name)
            if raw is None:
                continue
            values[field.name] = _coerce(field.name, str(field.type), raw)
        return cls(**values)


NOT_SETTINGS = frozenset({"acknowledged-issue-numbers"})
"""Context keys the CDK CLI itself writes to cdk.json (``cdk acknowledge``)."""


def check_keys(keys: Iterable[str]) -> None:
    """Refuse a context key that is neither a setting nor the CDK's own (``@aws-cdk/...`` feature
    flags and ``aws:cdk:...`` keys all contain a colon)."""
    valid = {field.name for field in fields(StackSettings)}
    unknown = sorted(k for k in keys if ":" not in k and k not in valid and k not in NOT_SETTINGS)
    if unknown:
        raise SettingsError(
            f"unknown context key {', '.join(unknown)}; valid keys: {', '.join(sorted(valid))}"
        )


def _coerce(name: str, kind: str, raw: Any) -> Any:
    try:
        if kind.startswith("int"):
            if isinstance(raw, bool):
                raise TypeError
            return int(raw)
        if kind.startswith("tuple"):
            if isinstance(raw, str):
                return tuple(part for part in raw.split(",") if part)
            return tuple(str(part) for part in raw)
        return str(raw)
    except (TypeError, ValueError):
        raise SettingsError(f"context {name}={raw!r} is not a valid {kind}") from None


def _check(ok: bool, name: str, expected: str) -> None:
    if not ok:
        raise SettingsError(f"context {name} must be {expected}")
