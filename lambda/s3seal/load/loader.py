"""The loader: staged objects -> Amazon Redshift tables, each object exactly once.

Two modes:

- ``server-side`` (default; what Redshift accepts after 2026-04-30): each staged object of a
  batch is decrypted, streamed, into ``_s3seal/load/<batch-id>/<key>`` under SSE-KMS, with the
  manifest beside it; COPY reads that plaintext with no encryption option; then every transient
  object version is deleted by its exact version id, whatever the outcome.
- ``client-side``: a manifest of the staged objects themselves in ``_s3seal/manifests/``, and
  ``COPY ... ENCRYPTED`` with the root-key version named by the objects' matdesc.

Batches and exactly-once, each in its own module:

- ``planning``: pending objects (those no batch record claims), the load thresholds, batches of
  one root-key version and one compression each.
- ``records``: a batch record (``_s3seal/batches/<batch-id>.json``) is written, create-only,
  before anything else is done with the batch, and updated (conditionally on its ETag) at each
  step: ``planned`` -> ``submitted`` (statement id) -> ``loaded`` | ``failed`` (Redshift's
  error). Claimed objects are never batched again; a failed batch is retried whole by ``retry``.
- ``execution``: the COPY and the load-log insert as one transaction, and resolving batches left
  ``planned`` or ``submitted``; ``inputs``: what the COPY reads, and deleting it afterwards.
- ``lock``: one loader per table at a time. Batches belong to a table: loaders of different
  tables claim, resolve and lock separately.

Secrets: the root key is never logged or put in a message; in client-side mode it is in the COPY
sent to the Data API by necessity, so only a form with the key replaced is logged, and error
texts are scrubbed of it before they are stored or raised.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from ..errors import LoaderBusyError, LoadError
from .batches import BatchRecord, LoadSummary, State, new_batch_id, utcnow
from .execution import Executor
from .inputs import CopyInputs
from .lock import TableLock
from .logs import logger
from .planning import Planner
from .records import Records
from .redshift_data import DataApi, DataApiClient
from .settings import LoaderSettings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient


class Loader:
    """Plans batches of staged objects and loads them into ``settings.table``."""

    def __init__(
        self,
        settings: LoaderSettings,
        s3: S3Client,
        redshift_data: DataApiClient,
        secrets: SecretsManagerClient,
        *,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        batch_ids: Callable[[datetime], str] = new_batch_id,
        owner: str | None = None,
    ) -> None:
        self.settings = settings
        self.s3 = s3
        self.secrets = secrets
        self.data = DataApi(
            redshift_data,
            settings.target,
            poll_seconds=settings.poll_seconds,
            timeout_seconds=settings.statement_timeout_seconds,
            sleep=sleep,
            monotonic=monotonic,
        )
        bucket = settings.staging_bucket
        self._records = Records(s3, bucket, clock)
        self._lock = TableLock(
            s3,
            bucket,
            settings.table,
            owner=owner or f"{os.uname().nodename}:{os.getpid()}:{os.urandom(4).hex()}",
            lock_seconds=settings.lock_seconds,
            clock=clock,
        )
        self._planner = Planner(settings, s3, clock=clock, batch_ids=batch_ids)
        self._inputs = CopyInputs(settings, s3)
        self._executor = Executor(
            settings, secrets, self.data, self._records, self._inputs, clock=clock
        )

    def run(self) -> LoadSummary:
        """Resolve unfinished batches, then plan and load every pending batch.

        Failed batches (earlier or now) are reported, never retried here. Raises LoadError (or
        a StorageError) when AWS fails in a way that leaves a batch's fate to the next run.
        """
        summary = LoadSummary()
        try:
            with self._lock.held():
                self._run(summary)
        except LoaderBusyError as exc:
            logger.warning("another loader is running; nothing done", error=str(exc))
            summary.busy = True
        return summary

    def retry(self, batch_id: str) -> BatchRecord:
        """Load a failed batch again, whole (same id, same objects). A batch that the load log
        shows committed is marked loaded instead. Raises LoadError if it fails again."""
        with self._lock.held():
            record = self._records.read(batch_id)
            if record.table != self.settings.table:
                raise LoadError(
                    f"batch {batch_id} loads table {record.table}, not {self.settings.table}",
                    batch_id=batch_id,
                )
            if record.state is State.LOADED:
                logger.info("batch already loaded; nothing to retry", batch_id=batch_id)
                return record
            result = self._executor.resolve(record, retrying=True)
        if result.state is State.FAILED:
            raise LoadError(f"batch {batch_id} failed again: {result.error}", batch_id=batch_id)
        return result

    def records(self) -> list[BatchRecord]:
        """Every batch record, oldest first."""
        return self._records.all()

    def _run(self, summary: LoadSummary) -> None:
        everything = self._records.all()
        self._inputs.sweep_stale(everything)
        records = [r for r in everything if r.table == self.settings.table]
        for record in records:
            if record.state.unresolved:
                self._lock.renew()
                summary.add(self._executor.resolve(record, retrying=False))
            elif record.state is State.FAILED:
                summary.awaiting_retry.append(record.batch_id)
        if summary.awaiting_retry:
            logger.warning(
                "failed batches wait for retry(batch_id)", batch_ids=summary.awaiting_retry
            )
        pending = self._planner.pending(records, summary)
        summary.pending_files = len(pending)
        summary.pending_bytes = sum(obj.size for obj in pending)
        if not pending:
            return
        if not self._planner.ready(pending):
            summary.below_threshold = True
            logger.info(
                "below the load thresholds; nothing loaded",
                pending_files=summary.pending_files,
                pending_bytes=summary.pending_bytes,
            )
            return
        for objects in self._planner.batches(pending):
            self._lock.renew()
            record = self._records.create(self._planner.new_record(objects))
            summary.add(self._executor.execute(record))
