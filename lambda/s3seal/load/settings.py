"""The loader's settings, from environment variables (the CLI's options set the same ones)."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from .. import config, copying, storage
from ..config import choice, integer, required
from ..errors import ConfigError
from ..names import RESERVED_PREFIX
from .redshift_data import Target

# --- environment variables of the Lambda entry point ---------------------------------------------
LOADER_TABLE = "LOADER_TABLE"
LOADER_MODE = "LOADER_MODE"
REDSHIFT_CLUSTER_ID = "REDSHIFT_CLUSTER_ID"
REDSHIFT_WORKGROUP = "REDSHIFT_WORKGROUP"
REDSHIFT_DATABASE = "REDSHIFT_DATABASE"
REDSHIFT_SECRET_ARN = "REDSHIFT_SECRET_ARN"  # noqa: S105 (a variable name)
REDSHIFT_DB_USER = "REDSHIFT_DB_USER"
COPY_IAM_ROLE = "COPY_IAM_ROLE"
LOAD_KMS_KEY_ID = "LOAD_KMS_KEY_ID"
LOAD_PREFIX_FILTER = "LOAD_PREFIX_FILTER"
COPY_FORMAT = "COPY_FORMAT"
COPY_DELIMITER = "COPY_DELIMITER"
COPY_IGNORE_HEADER = "COPY_IGNORE_HEADER"
MIN_FILES = "MIN_FILES"
MIN_BYTES = "MIN_BYTES"
MAX_WAIT_SECONDS = "MAX_WAIT_SECONDS"
MAX_BATCH_FILES = "MAX_BATCH_FILES"
POLL_SECONDS = "LOADER_POLL_SECONDS"
STATEMENT_TIMEOUT_SECONDS = "STATEMENT_TIMEOUT_SECONDS"
LOCK_SECONDS = "LOADER_LOCK_SECONDS"
LOAD_ALLOW_LEGACY = "LOAD_ALLOW_LEGACY"
"""``true`` lets the server-side mode decrypt legacy, unauthenticated envelope shapes."""
STAGING_BUCKET = config.STAGING_BUCKET
ROOT_KEY_SECRET_ID = config.ROOT_KEY_SECRET_ID
"""The encrypting function's variables, same names and meaning."""

# Each `s3seal load` option (by its argparse dest) sets the loader variable of the same meaning,
# so the command and the scheduled function are configured the same way; unset options fall back
# to the environment.
LOAD_OPTIONS = {
    "bucket": STAGING_BUCKET,
    "table": LOADER_TABLE,
    "mode": LOADER_MODE,
    "iam_role": COPY_IAM_ROLE,
    "database": REDSHIFT_DATABASE,
    "cluster_id": REDSHIFT_CLUSTER_ID,
    "workgroup": REDSHIFT_WORKGROUP,
    "db_secret_arn": REDSHIFT_SECRET_ARN,
    "db_user": REDSHIFT_DB_USER,
    "key_secret": ROOT_KEY_SECRET_ID,
    "kms_key": LOAD_KMS_KEY_ID,
    "prefix": LOAD_PREFIX_FILTER,
    "data_format": COPY_FORMAT,
    "delimiter": COPY_DELIMITER,
    "ignore_header": COPY_IGNORE_HEADER,
    "min_files": MIN_FILES,
    "min_bytes": MIN_BYTES,
    "max_wait": MAX_WAIT_SECONDS,
    "allow_legacy": LOAD_ALLOW_LEGACY,
}
_FLAGS = {"data_format": "--format"}
_SWITCHES = {"allow_legacy"}
"""Options that take no value: the variable's "true" is the bare flag."""

DEFAULT_MAX_BATCH_FILES = 1000
DEFAULT_POLL_SECONDS = 2
DEFAULT_STATEMENT_TIMEOUT_SECONDS = 600
DEFAULT_LOCK_SECONDS = 1800


class _Switch(StrEnum):
    TRUE = "true"
    FALSE = "false"


class LoadMode(StrEnum):
    SERVER_SIDE = "server-side"
    """Decrypt into transient SSE-KMS plaintext and COPY that (current Redshift)."""
    CLIENT_SIDE = "client-side"
    """COPY ... ENCRYPTED with the root key, V1 only: Redshift stopped reading it after
    2026-04-30 (``copying.COPY_ENCRYPTED_ENDED``); kept for clusters that still do."""


# --- settings ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoaderSettings:
    """Everything a loader is configured with. Invalid combinations raise ConfigError."""

    staging_bucket: str
    table: str
    iam_role: str
    database: str
    root_key_secret_id: str
    prefix: str = ""
    copy_options: copying.CopyOptions = field(default_factory=copying.CopyOptions)
    mode: LoadMode = LoadMode.SERVER_SIDE
    cluster_identifier: str | None = None
    workgroup_name: str | None = None
    secret_arn: str | None = None
    db_user: str | None = None
    load_kms_key_id: str | None = None
    min_files: int = 0
    min_bytes: int = 0
    max_wait_seconds: int = 0
    """Thresholds: load when any one set (non-zero) is reached; when none is set, always."""
    max_batch_files: int = DEFAULT_MAX_BATCH_FILES
    poll_seconds: float = DEFAULT_POLL_SECONDS
    statement_timeout_seconds: float = DEFAULT_STATEMENT_TIMEOUT_SECONDS
    lock_seconds: int = DEFAULT_LOCK_SECONDS
    part_size: int = storage.DEFAULT_PART_SIZE
    allow_legacy: bool = False
    """Decrypt legacy, unauthenticated shapes (CBC in V2, AESWrap, 16-byte V1 keys); off by
    default, as in the official AWS clients."""

    def __post_init__(self) -> None:
        for name, env in (
            ("staging_bucket", STAGING_BUCKET),
            ("iam_role", COPY_IAM_ROLE),
            ("root_key_secret_id", ROOT_KEY_SECRET_ID),
        ):
            if not getattr(self, name):
                raise ConfigError(f"the loader needs {name} ({env})")
        copying.identifier(self.table)
        object.__setattr__(self, "mode", LoadMode(self.mode))
        if self.mode is LoadMode.SERVER_SIDE and not self.load_kms_key_id:
            raise ConfigError(
                f"server-side mode needs load_kms_key_id ({LOAD_KMS_KEY_ID}): the transient "
                "plaintext is written only under SSE-KMS"
            )
        if self.prefix.startswith("/") or self.prefix.startswith(RESERVED_PREFIX):
            raise ConfigError(
                f"prefix ({LOAD_PREFIX_FILTER}) {self.prefix!r} must not start with '/' or "
                f"{RESERVED_PREFIX!r}"
            )
        for name, env in (
            ("min_files", MIN_FILES),
            ("min_bytes", MIN_BYTES),
            ("max_wait_seconds", MAX_WAIT_SECONDS),
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} ({env}) must not be negative")
        if self.max_batch_files < 1:
            raise ConfigError(f"max_batch_files ({MAX_BATCH_FILES}) must be at least 1")
        if self.statement_timeout_seconds <= 0 or self.poll_seconds < 0:
            raise ConfigError(
                f"statement_timeout_seconds ({STATEMENT_TIMEOUT_SECONDS}) must be positive and "
                f"poll_seconds ({POLL_SECONDS}) not negative"
            )
        if self.lock_seconds <= self.statement_timeout_seconds:
            raise ConfigError(
                f"lock_seconds ({LOCK_SECONDS}) must exceed statement_timeout_seconds "
                f"({STATEMENT_TIMEOUT_SECONDS}): the lock is renewed only between batches"
            )
        if self.part_size < storage.MIN_PART_SIZE or self.part_size % storage.MiB:
            raise ConfigError("part_size must be a whole number of MiB, at least 5 MiB")
        self.target  # noqa: B018 (validates the Data API target)

    @property
    def target(self) -> Target:
        return Target(
            database=self.database,
            cluster_identifier=self.cluster_identifier,
            workgroup_name=self.workgroup_name,
            secret_arn=self.secret_arn,
            db_user=self.db_user,
        )

    @property
    def thresholds_set(self) -> bool:
        return bool(self.min_files or self.min_bytes or self.max_wait_seconds)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> LoaderSettings:
        """Settings from the variables named by this module's constants (ConfigError names the
        variable that is missing or invalid)."""

        def optional(name: str) -> str | None:
            return environ.get(name, "").strip() or None

        ignore_header = integer(environ, COPY_IGNORE_HEADER, 0, low=0, high=1_000_000)
        options = copying.CopyOptions(
            data_format=choice(
                environ, COPY_FORMAT, copying.DataFormat, copying.DataFormat.DELIMITED
            ),
            delimiter=_delimiter(environ.get(COPY_DELIMITER, "")),
            ignore_header=ignore_header,
        )
        timeout = integer(
            environ,
            STATEMENT_TIMEOUT_SECONDS,
            DEFAULT_STATEMENT_TIMEOUT_SECONDS,
            low=1,
            high=86_400,
        )
        return cls(
            staging_bucket=required(environ, STAGING_BUCKET),
            table=_table(required(environ, LOADER_TABLE)),
            iam_role=required(environ, COPY_IAM_ROLE),
            database=required(environ, REDSHIFT_DATABASE),
            root_key_secret_id=required(environ, ROOT_KEY_SECRET_ID),
            prefix=environ.get(LOAD_PREFIX_FILTER, "").strip(),
            copy_options=options,
            mode=choice(environ, LOADER_MODE, LoadMode, LoadMode.SERVER_SIDE),
            cluster_identifier=optional(REDSHIFT_CLUSTER_ID),
            workgroup_name=optional(REDSHIFT_WORKGROUP),
            secret_arn=optional(REDSHIFT_SECRET_ARN),
            db_user=optional(REDSHIFT_DB_USER),
            load_kms_key_id=optional(LOAD_KMS_KEY_ID),
            min_files=integer(environ, MIN_FILES, 0, low=0, high=10**9),
            min_bytes=integer(environ, MIN_BYTES, 0, low=0, high=10**18),
            max_wait_seconds=integer(environ, MAX_WAIT_SECONDS, 0, low=0, high=10**9),
            max_batch_files=integer(
                environ, MAX_BATCH_FILES, DEFAULT_MAX_BATCH_FILES, low=1, high=1_000_000
            ),
            poll_seconds=integer(environ, POLL_SECONDS, DEFAULT_POLL_SECONDS, low=0, high=300),
            statement_timeout_seconds=timeout,
            lock_seconds=integer(
                environ, LOCK_SECONDS, max(DEFAULT_LOCK_SECONDS, timeout + 300), low=60, high=10**6
            ),
            allow_legacy=choice(environ, LOAD_ALLOW_LEGACY, _Switch, _Switch.FALSE) is _Switch.TRUE,
        )


def load_command(environ: Mapping[str, str]) -> str:
    """The ``s3seal load`` command line that sets these variables (empty and zero ones left out):
    what the stack prints to load now, by hand, exactly as its loader function would."""
    words = ["s3seal", "load"]
    for dest, variable in LOAD_OPTIONS.items():
        value = environ.get(variable, "")
        flag = _FLAGS.get(dest, "--" + dest.replace("_", "-"))
        if dest in _SWITCHES:
            words += [flag] if value.lower() == "true" else []
        elif value and value != "0":
            words += [flag, shlex.quote(value)]
    return " ".join(words)


def _delimiter(value: str) -> str | None:
    """None (unset) leaves the format's default: a comma for CSV, ``|`` for delimited text."""
    if not value:
        return None
    if len(value) != 1:
        raise ConfigError(f"{COPY_DELIMITER}={value!r} must be a single character")
    return value


def _table(name: str) -> str:
    try:
        return copying.identifier(name)
    except ConfigError as exc:
        raise ConfigError(f"{LOADER_TABLE}: {exc}") from None
