"""The Amazon Redshift Data API boundary: submit statements, wait for them, read their results.

Every Data API failure becomes a ``RedshiftError`` here; a statement that Redshift ran and
refused (``FAILED`` / ``ABORTED``) becomes a ``StatementFailedError`` carrying Redshift's own
error text. Nothing here logs: SQL may carry a root key (``COPY ... master_symmetric_key``), so
the caller decides what may be logged, and messages built here never include SQL text.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import (
    ConfigError,
    RedshiftError,
    StatementFailedError,
    StatementTimeoutError,
    aws_error_code,
    aws_reason,
)

_STATEMENT_GONE = frozenset({"ResourceNotFoundException"})


class Status(StrEnum):
    SUBMITTED = "SUBMITTED"
    PICKED = "PICKED"
    STARTED = "STARTED"
    FINISHED = "FINISHED"
    ABORTED = "ABORTED"
    FAILED = "FAILED"

    @property
    def done(self) -> bool:
        return self in (Status.FINISHED, Status.ABORTED, Status.FAILED)


class DataApiClient(Protocol):
    """The part of boto3's ``redshift-data`` client this module calls."""

    def execute_statement(self, **kwargs: Any) -> Mapping[str, Any]: ...

    def batch_execute_statement(self, **kwargs: Any) -> Mapping[str, Any]: ...

    def describe_statement(self, **kwargs: Any) -> Mapping[str, Any]: ...

    def get_statement_result(self, **kwargs: Any) -> Mapping[str, Any]: ...

    def cancel_statement(self, **kwargs: Any) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class Target:
    """Where statements run: a provisioned cluster or a Serverless workgroup, and how to log in.

    Provisioned: ``cluster_identifier`` with ``secret_arn`` (database credentials) or
    ``db_user`` (temporary IAM credentials). Serverless: ``workgroup_name``, with ``secret_arn``
    or neither (the caller's IAM identity).
    """

    database: str
    cluster_identifier: str | None = None
    workgroup_name: str | None = None
    secret_arn: str | None = None
    db_user: str | None = None

    def __post_init__(self) -> None:
        if not self.database:
            raise ConfigError("the Data API target needs a database (REDSHIFT_DATABASE)")
        if bool(self.cluster_identifier) == bool(self.workgroup_name):
            raise ConfigError(
                "the Data API target needs exactly one of a cluster identifier "
                "(REDSHIFT_CLUSTER_ID) or a workgroup name (REDSHIFT_WORKGROUP)"
            )
        if self.secret_arn and self.db_user:
            raise ConfigError(
                "give a secret ARN (REDSHIFT_SECRET_ARN) or a database user (REDSHIFT_DB_USER), "
                "not both"
            )
        if self.db_user and not self.cluster_identifier:
            raise ConfigError(
                "a database user (REDSHIFT_DB_USER) applies to a provisioned cluster only; "
                "a workgroup uses REDSHIFT_SECRET_ARN or the caller's IAM identity"
            )
        if self.cluster_identifier and not (self.secret_arn or self.db_user):
            raise ConfigError(
                "a provisioned cluster needs REDSHIFT_SECRET_ARN or REDSHIFT_DB_USER to log in"
            )

    def arguments(self) -> dict[str, str]:
        """The target's Data API request parameters."""
        out = {"Database": self.database}
        if self.cluster_identifier:
            out["ClusterIdentifier"] = self.cluster_identifier
        if self.workgroup_name:
            out["WorkgroupName"] = self.workgroup_name
        if self.secret_arn:
            out["SecretArn"] = self.secret_arn
        if self.db_user:
            out["DbUser"] = self.db_user
        return out

    def __str__(self) -> str:
        where = (
            f"cluster {self.cluster_identifier}"
            if self.cluster_identifier
            else f"workgroup {self.workgroup_name}"
        )
        return f"{where} database {self.database}"


@dataclass(frozen=True)
class Statement:
    """What ``describe_statement`` said about one statement."""

    id: str
    status: Status
    error: str = ""


class DataApi:
    """Statements on one target, with waits bounded by ``timeout_seconds``."""

    def __init__(
        self,
        client: DataApiClient,
        target: Target,
        *,
        poll_seconds: float = 2.0,
        timeout_seconds: float = 600.0,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.target = target
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds
        self._sleep = sleep
        self._monotonic = monotonic

    def submit(self, sql: str) -> str:
        """Start one statement; returns its id."""
        response = self._call(
            "execute_statement",
            "submit a statement to",
            Sql=sql,
            **self.target.arguments(),
        )
        return str(response["Id"])

    def submit_batch(
        self, sqls: Sequence[str], *, client_token: str, statement_name: str | None = None
    ) -> str:
        """Start ``sqls`` as one transaction (all commit or none do); returns the batch's id.

        ``client_token`` makes the request idempotent: sending it again with the same token
        returns the first request's statement instead of starting another.
        """
        extra = {"StatementName": statement_name} if statement_name else {}
        response = self._call(
            "batch_execute_statement",
            "submit a batch of statements to",
            Sqls=list(sqls),
            ClientToken=client_token,
            **extra,
            **self.target.arguments(),
        )
        return str(response["Id"])

    def describe(self, statement_id: str) -> Statement | None:
        """The statement's status (None if the Data API no longer knows it: ids expire)."""
        try:
            response = self.client.describe_statement(Id=statement_id)
        except ClientError as exc:
            if aws_error_code(exc) in _STATEMENT_GONE:
                return None
            raise RedshiftError(
                f"cannot describe statement {statement_id}: {aws_reason(exc)}"
            ) from None
        except BotoCoreError as exc:
            raise RedshiftError(
                f"cannot describe statement {statement_id}: {aws_reason(exc)}"
            ) from None
        try:
            status = Status(str(response["Status"]))
        except (KeyError, ValueError):
            raise RedshiftError(
                f"statement {statement_id}: unexpected status {response.get('Status')!r}"
            ) from None
        return Statement(statement_id, status, str(response.get("Error") or ""))

    def wait(self, statement_id: str) -> Statement | None:
        """Poll until the statement is FINISHED, FAILED or ABORTED (returned, not raised).

        None if the Data API does not know the statement; StatementTimeoutError if it is still
        running after ``timeout_seconds``.
        """
        deadline = self._monotonic() + self.timeout_seconds
        while True:
            statement = self.describe(statement_id)
            if statement is None or statement.status.done:
                return statement
            if self._monotonic() >= deadline:
                raise StatementTimeoutError(
                    f"statement {statement_id} still {statement.status.value} after "
                    f"{self.timeout_seconds:g} s"
                )
            self._sleep(self.poll_seconds)

    def run(self, sql: str, what: str) -> str:
        """Submit ``sql`` and wait for it to finish; returns its id. ``what`` names it in errors."""
        statement_id = self.submit(sql)
        statement = self.wait(statement_id)
        if statement is None:
            raise RedshiftError(f"{what}: statement {statement_id} vanished from the Data API")
        if statement.status is not Status.FINISHED:
            raise StatementFailedError(
                f"{what} {statement.status.value.lower()}: {statement.error}",
                status=statement.status.value,
                error=statement.error,
            )
        return statement_id

    def rows(self, statement_id: str) -> list[list[Any]]:
        """A finished statement's result rows, each a list of plain values (None for NULL)."""
        out: list[list[Any]] = []
        token: str | None = None
        while True:
            extra = {"NextToken": token} if token else {}
            response = self._call(
                "get_statement_result", "read the result of", Id=statement_id, **extra
            )
            out += [[_value(field) for field in record] for record in response["Records"]]
            token = response.get("NextToken")
            if not token:
                return out

    def cancel(self, statement_id: str) -> bool:
        """Ask Redshift to cancel the statement; False if that request failed."""
        try:
            self.client.cancel_statement(Id=statement_id)
        except (ClientError, BotoCoreError):
            return False
        return True

    def _call(self, operation: str, action: str, **kwargs: Any) -> Mapping[str, Any]:
        try:
            response: Mapping[str, Any] = getattr(self.client, operation)(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise RedshiftError(f"cannot {action} {self.target}: {aws_reason(exc)}") from None
        return response


def _value(field: Mapping[str, Any]) -> Any:
    """One Data API field (``{"longValue": 1}``, ``{"isNull": true}``...) as a plain value."""
    if field.get("isNull"):
        return None
    for name in ("stringValue", "longValue", "doubleValue", "booleanValue", "blobValue"):
        if name in field:
            return field[name]
    return None
