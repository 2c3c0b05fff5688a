"""Executing one batch, exactly once: stage what COPY reads, run it with the load-log insert as
one Data API transaction, record the outcome; and resolving batches whose outcome is unknown.

The COPY and ``insert into s3seal_load_log`` run as one Data API batch, i.e. one transaction,
with the batch id as the request's ClientToken. A rerun resolves records left ``planned`` or
``submitted``: it waits for a known statement still running, then asks the load log whether the
batch committed, and only if not runs the batch again (same id, same objects).

Secrets: in client-side mode the root key is in the COPY sent to the Data API by necessity, so
only a form with the key replaced is logged, and error texts are scrubbed of it before they are
stored or raised.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from .. import copying
from ..envelope import (
    CiphertextError,
    InvalidRootKeyError,
    MetadataError,
    WrongRootKeyError,
)
from ..errors import (
    LoadError,
    ObjectChangedError,
    ObjectNotFoundError,
    RedshiftError,
    S3SealError,
    StatementTimeoutError,
)
from ..rootkey.keys import RootKey, root_key_from_secret
from ..staged import LOAD_PREFIX, MANIFEST_PREFIX
from .batches import BatchRecord, State, stamp
from .inputs import LOAD_MANIFEST_NAME, CopyInputs, Written
from .logs import logger
from .records import Records
from .redshift_data import DataApi, Statement, Status
from .settings import LoaderSettings, LoadMode

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

LOAD_LOG_TABLE = "s3seal_load_log"
CREATE_LOAD_LOG_SQL = (
    f"create table if not exists {LOAD_LOG_TABLE} "
    "(batch_id varchar(64) not null, loaded_at timestamp not null, files integer not null);"
)

# Failures that say the batch cannot load as it stands (not that AWS was unreachable): the batch
# is marked failed, for ``retry`` once fixed. Anything else leaves the record as it was and
# stops the run, and the next run takes the batch up again.
_BATCH_FAILURES: tuple[type[Exception], ...] = (
    InvalidRootKeyError,
    WrongRootKeyError,
    MetadataError,
    CiphertextError,
    ObjectNotFoundError,
    ObjectChangedError,
)


class Executor:
    """Runs and resolves the batches of one table's loader."""

    def __init__(
        self,
        settings: LoaderSettings,
        secrets: SecretsManagerClient,
        data: DataApi,
        records: Records,
        inputs: CopyInputs,
        *,
        clock: Callable[[], datetime],
    ) -> None:
        self.settings = settings
        self.secrets = secrets
        self.data = data
        self.records = records
        self.inputs = inputs
        self._clock = clock
        self._keys: dict[str, RootKey] = {}
        self._log_table_ready = False

    def resolve(self, record: BatchRecord, *, retrying: bool) -> BatchRecord:
        """Settle a batch whose outcome is unknown (or, ``retrying``, that failed)."""
        batch_id = record.batch_id
        statement: Statement | None = None
        if record.statement_id and record.state.unresolved:
            # (A failed batch's statement is over; the load log alone decides.)
            try:
                statement = self.data.wait(record.statement_id)
            except StatementTimeoutError as exc:
                raise LoadError(
                    f"batch {batch_id}: {exc}; the next run waits for it again",
                    batch_id=batch_id,
                ) from None
            except RedshiftError as exc:
                raise self._load_error(record, exc) from None
        committed = self._in_load_log(record)
        if committed:
            logger.info("batch found in the load log: already loaded", batch_id=batch_id)
            self.inputs.clean(batch_id, [])
            return self.records.save(record, state=State.LOADED, finished=True, error=None)
        if statement is not None and statement.status is Status.FINISHED:
            # The transaction committed (its insert with it), yet the log does not show it:
            # someone changed the log. Never risk a second COPY.
            error = "the COPY finished but the batch is not in the load log; check by hand"
            return self.records.save(record, state=State.FAILED, finished=True, error=error)
        refused = statement is not None and statement.status in (Status.FAILED, Status.ABORTED)
        if refused and not retrying:
            self.inputs.clean(batch_id, [])
            assert statement is not None
            error = self._redact(statement.error) or f"statement {statement.status.value}"
            logger.error("batch failed", batch_id=batch_id, error=error)
            return self.records.save(record, state=State.FAILED, finished=True, error=error)
        # An earlier attempt's transient objects stay until this attempt's cleanup, which sweeps
        # the batch's whole prefix: a COPY of a crashed run may still be reading them.
        if record.state is State.FAILED or refused:
            # A new attempt needs a new ClientToken: the old one names the failed statement.
            record = self.records.save(
                record,
                state=State.PLANNED,
                attempt=record.attempt + 1,
                statement_id=None,
                error=None,
                manifest_url=None,
                submitted_at=None,
                finished_at=None,
            )
        logger.info("batch not loaded yet: running it", batch_id=batch_id, attempt=record.attempt)
        return self.execute(record)

    def execute(self, record: BatchRecord) -> BatchRecord:
        """Load a planned batch: stage what COPY reads, run it, clean up whatever happens."""
        written: Written = []
        try:
            result = self._load(record, written)
        except BaseException:
            self.inputs.clean_quietly(record.batch_id, written)
            raise
        self.inputs.clean(record.batch_id, written)
        return result

    def _load(self, record: BatchRecord, written: Written) -> BatchRecord:
        batch_id = record.batch_id
        s = self.settings
        try:
            self._ensure_load_log()
            key = self._root_key(record)
            if s.mode is LoadMode.CLIENT_SIDE:
                self.inputs.check_current(record)
                manifest_url = self.inputs.write_manifest(
                    record, f"{MANIFEST_PREFIX}{batch_id}.json"
                )
                key_b64 = base64.b64encode(key.material).decode("ascii")
                copy_sql = self._copy(record, manifest_url, key_b64)
                shown = self._copy(record, manifest_url, None)
            else:
                self.inputs.stage_plaintext(record, key, written)
                manifest_key = f"{LOAD_PREFIX}{batch_id}/{LOAD_MANIFEST_NAME}"
                manifest_url = self.inputs.write_manifest(record, manifest_key, written)
                copy_sql = shown = self._copy(record, manifest_url, None)
        except _BATCH_FAILURES as exc:
            error = self._redact(str(exc))
            logger.error("batch cannot be loaded", batch_id=batch_id, error=error)
            return self.records.save(record, state=State.FAILED, finished=True, error=error)
        except (S3SealError, ClientError, BotoCoreError) as exc:
            raise self._load_error(record, exc) from None
        sqls = [copy_sql, _log_insert(record)]
        logger.info(
            "submitting COPY",
            batch_id=batch_id,
            files=record.files,
            bytes=record.bytes,
            sql=[shown, sqls[1]],
        )
        try:
            statement_id = self.data.submit_batch(
                sqls, client_token=record.client_token, statement_name=f"s3seal-load-{batch_id}"
            )
        except RedshiftError as exc:
            raise self._load_error(
                record, exc, "it stays planned and the next run resolves it"
            ) from None
        record = self.records.save(
            record,
            state=State.SUBMITTED,
            mode=s.mode,
            statement_id=statement_id,
            manifest_url=manifest_url,
            submitted_at=stamp(self._clock()),
        )
        try:
            statement = self.data.wait(statement_id)
        except StatementTimeoutError as exc:
            cancelled = self.data.cancel(statement_id)
            raise LoadError(
                f"batch {batch_id}: {exc}; "
                + ("cancel requested" if cancelled else "the cancel request failed")
                + "; the next run resolves it",
                batch_id=batch_id,
            ) from None
        except RedshiftError as exc:
            raise self._load_error(record, exc, "the next run resolves it") from None
        if statement is None:
            raise LoadError(
                f"batch {batch_id}: statement {statement_id} vanished; the next run resolves it",
                batch_id=batch_id,
            )
        if statement.status is Status.FINISHED:
            logger.info("batch loaded", batch_id=batch_id, files=record.files, bytes=record.bytes)
            return self.records.save(record, state=State.LOADED, finished=True)
        error = self._redact(statement.error) or f"statement {statement.status.value}"
        logger.error("COPY failed", batch_id=batch_id, status=statement.status.value, error=error)
        return self.records.save(record, state=State.FAILED, finished=True, error=error)

    def _copy(self, record: BatchRecord, manifest_url: str, key_b64: str | None) -> str:
        s = self.settings
        return copying.copy_statement(
            table=s.table,
            manifest_url=manifest_url,
            iam_role=s.iam_role,
            options=s.copy_options,
            gzip=record.gzip,
            master_symmetric_key=key_b64,
            encrypted=s.mode is LoadMode.CLIENT_SIDE,
        )

    def _load_error(self, record: BatchRecord, exc: BaseException, note: str = "") -> LoadError:
        detail = self._redact(str(exc))
        return LoadError(
            f"batch {record.batch_id}: {detail}" + (f"; {note}" if note else ""),
            batch_id=record.batch_id,
        )

    # --- Redshift -----------------------------------------------------------------------------

    def _ensure_load_log(self) -> None:
        if not self._log_table_ready:
            self.data.run(CREATE_LOAD_LOG_SQL, f"creating {LOAD_LOG_TABLE}")
            self._log_table_ready = True

    def _in_load_log(self, record: BatchRecord) -> bool:
        try:
            self._ensure_load_log()
            statement_id = self.data.run(_log_select(record.batch_id), f"reading {LOAD_LOG_TABLE}")
            rows = self.data.rows(statement_id)
        except RedshiftError as exc:
            raise self._load_error(record, exc, "its outcome is still unknown") from None
        return bool(rows and rows[0] and int(rows[0][0] or 0) > 0)

    def _root_key(self, record: BatchRecord) -> RootKey:
        version = record.key_version
        if version not in self._keys:
            key = root_key_from_secret(self.secrets, self.settings.root_key_secret_id, version)
            self._keys[version] = key
        return self._keys[version]

    def _redact(self, text: str) -> str:
        """``text`` without any root key this loader has read (base64 as in the COPY)."""
        for key in self._keys.values():
            text = text.replace(
                base64.b64encode(key.material).decode("ascii"), copying.KEY_PLACEHOLDER
            )
        return text


def _log_insert(record: BatchRecord) -> str:
    # The batch id is quoted as a SQL literal; the table name is a constant.
    values = f"{copying.literal(record.batch_id)}, getdate(), {record.files}"
    return f"insert into {LOAD_LOG_TABLE} (batch_id, loaded_at, files) values ({values});"  # noqa: S608


def _log_select(batch_id: str) -> str:
    return f"select count(*) from {LOAD_LOG_TABLE} where batch_id = {copying.literal(batch_id)};"  # noqa: S608
