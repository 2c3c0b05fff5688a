"""The loader: staged objects -> Amazon Redshift tables, each object exactly once.

Two modes:

- ``server-side`` (default; what Redshift accepts after 2026-04-30): each staged object of a
  batch is decrypted, streamed, into ``_s3seal/load/<batch-id>/<key>`` under SSE-KMS, with the
  manifest beside it; COPY reads that plaintext with no encryption option; then every transient
  object version is deleted by its exact version id, whatever the outcome.
- ``client-side``: a manifest of the staged objects themselves in ``_s3seal/manifests/``, and
  ``COPY ... ENCRYPTED`` with the root-key version named by the objects' matdesc.

Batches and exactly-once:

- Pending objects are those under the prefix that no batch record claims (by key and version
  id), grouped by root-key version and compression (one COPY takes one key, and GZIP applies to
  every file of it), at most ``max_batch_files`` each.
- A batch record (``_s3seal/batches/<batch-id>.json``) is written, create-only, before anything
  else is done with the batch, and updated (conditionally on its ETag) at each step:
  ``planned`` -> ``submitted`` (statement id) -> ``loaded`` | ``failed`` (Redshift's error).
  Claimed objects are never batched again; a failed batch is retried whole by ``retry``.
- The COPY and ``insert into s3seal_load_log`` run as one Data API batch, i.e. one transaction,
  with the batch id as the request's ClientToken. A rerun resolves records left ``planned`` or
  ``submitted``: it waits for a known statement still running, then asks the load log whether
  the batch committed, and only if not runs the batch again (same id, same objects).
- Batches belong to a table: loaders of different tables claim, resolve and lock separately.
- One loader per table at a time: ``_s3seal/batches/locks/<table>.lock``, created with
  ``If-None-Match: *``, renewed between batches, taken over only once expired.

Secrets: the root key is never logged or put in a message; in client-side mode it is in the COPY
sent to the Data API by necessity, so only a form with the key replaced is logged, and error
texts are scrubbed of it before they are stored or raised.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, cast

import boto3
from aws_lambda_powertools import Logger
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .. import copying, quiet_sdk, storage, verified
from ..envelope import (
    CiphertextError,
    Decryptor,
    EnvelopeMetadata,
    Format,
    InvalidRootKeyError,
    LegacyFormatError,
    MetadataError,
    WrongRootKeyError,
    decrypt_chunks,
    iter_parts,
)
from ..errors import (
    ConditionFailedError,
    LoaderBusyError,
    LoadError,
    ObjectChangedError,
    ObjectNotFoundError,
    RedshiftError,
    S3SealError,
    StatementTimeoutError,
    StorageError,
)
from ..names import RESERVED_PREFIX, SECRET_VERSION_FIELD
from ..objects import ObjectRef
from ..rootkey.keys import RootKey, root_key_from_secret
from ..staged import (
    BATCH_PREFIX,
    LOAD_PREFIX,
    MANIFEST_PREFIX,
    StagedObject,
    describe,
    group_by_key,
)
from .batches import (
    BatchObject,
    BatchRecord,
    LoadSummary,
    State,
    check_batch_id,
    new_batch_id,
    stamp,
    utcnow,
)
from .redshift_data import (
    DataApi,
    DataApiClient,
    Statement,
    Status,
)
from .settings import LOAD_ALLOW_LEGACY, LoaderSettings, LoadMode

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient

SERVICE = "s3seal-loader"
quiet_sdk.pin()  # before any client exists: the SDK never logs bodies
logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE))

LOAD_LOG_TABLE = "s3seal_load_log"
CREATE_LOAD_LOG_SQL = (
    f"create table if not exists {LOAD_LOG_TABLE} "
    "(batch_id varchar(64) not null, loaded_at timestamp not null, files integer not null);"
)
LOCK_PREFIX = f"{BATCH_PREFIX}locks/"
"""One lock per target table: ``_s3seal/batches/locks/<table>.lock`` (beside the records, so
the permissions on the records cover it; record listings take ``*.json`` only)."""
LOAD_MANIFEST_NAME = f"{RESERVED_PREFIX}manifest.json"
"""The server-side manifest, at ``_s3seal/load/<batch-id>/_s3seal/manifest.json``: staged keys
never start with ``_s3seal/``, so it cannot collide with a transient copy of one."""
SSE_KMS = "aws:kms"
JSON_TYPE = "application/json"


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


@dataclass(frozen=True)
class _Held:
    """Our version of the lock object."""

    version_id: str | None
    etag: str


# --- the loader ----------------------------------------------------------------------------------


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
        self._clock = clock
        self._batch_ids = batch_ids
        self._owner = owner or f"{os.uname().nodename}:{os.getpid()}:{os.urandom(4).hex()}"
        self._etags: dict[str, str] = {}
        self._etags_listed: dict[tuple[str, str | None], str] = {}
        self._lock_key = f"{LOCK_PREFIX}{settings.table}.lock"
        self._keys: dict[str, RootKey] = {}
        self._log_table_ready = False
        self._held: _Held | None = None

    # --- public -------------------------------------------------------------------------------

    def run(self) -> LoadSummary:
        """Resolve unfinished batches, then plan and load every pending batch.

        Failed batches (earlier or now) are reported, never retried here. Raises LoadError (or
        a StorageError) when AWS fails in a way that leaves a batch's fate to the next run.
        """
        summary = LoadSummary()
        try:
            with self._locked():
                self._run(summary)
        except LoaderBusyError as exc:
            logger.warning("another loader is running; nothing done", error=str(exc))
            summary.busy = True
        return summary

    def retry(self, batch_id: str) -> BatchRecord:
        """Load a failed batch again, whole (same id, same objects). A batch that the load log
        shows committed is marked loaded instead. Raises LoadError if it fails again."""
        with self._locked():
            record = self._read_record(batch_id)
            if record.table != self.settings.table:
                raise LoadError(
                    f"batch {batch_id} loads table {record.table}, not {self.settings.table}",
                    batch_id=batch_id,
                )
            if record.state is State.LOADED:
                logger.info("batch already loaded; nothing to retry", batch_id=batch_id)
                return record
            result = self._resolve(record, retrying=True)
        if result.state is State.FAILED:
            raise LoadError(f"batch {batch_id} failed again: {result.error}", batch_id=batch_id)
        return result

    def records(self) -> list[BatchRecord]:
        """Every batch record, oldest first."""
        return self._records()

    # --- one run ------------------------------------------------------------------------------

    def _run(self, summary: LoadSummary) -> None:
        everything = self._records()
        self._sweep_stale(everything)
        records = [r for r in everything if r.table == self.settings.table]
        for record in records:
            if record.state.unresolved:
                self._renew_lock()
                summary.add(self._resolve(record, retrying=False))
            elif record.state is State.FAILED:
                summary.awaiting_retry.append(record.batch_id)
        if summary.awaiting_retry:
            logger.warning(
                "failed batches wait for retry(batch_id)", batch_ids=summary.awaiting_retry
            )
        pending = self._pending(records, summary)
        summary.pending_files = len(pending)
        summary.pending_bytes = sum(obj.size for obj in pending)
        if not pending:
            return
        if not self._ready(pending):
            summary.below_threshold = True
            logger.info(
                "below the load thresholds; nothing loaded",
                pending_files=summary.pending_files,
                pending_bytes=summary.pending_bytes,
            )
            return
        for objects in self._plan(pending):
            self._renew_lock()
            record = self._create_record(objects)
            summary.add(self._execute(record))

    def _pending(self, records: list[BatchRecord], summary: LoadSummary) -> list[StagedObject]:
        """Staged objects under the prefix that no batch of this table claims.

        Claims are by (key, version id); an object whose listed ETag a batch recorded is
        skipped without a HEAD, so a run costs one HEAD per new object, not per staged one.
        """
        s = self.settings
        claimed = {(obj.key, obj.version_id) for r in records for obj in r.objects}
        seen = {(obj.key, obj.etag) for r in records for obj in r.objects if obj.etag}
        out = []
        for key, etag in self._listing():
            if (key, etag) in seen:
                continue
            obj = describe(self.s3, ObjectRef(s.staging_bucket, key))
            if obj is None or (obj.ref.key, obj.ref.version_id) in claimed:
                continue
            reason = None
            if obj.secret_version is None:
                reason = "its matdesc names no root-key secret version"
            elif s.mode is LoadMode.CLIENT_SIDE and obj.format is not Format.V1:
                reason = "COPY ENCRYPTED reads V1 only"
            if reason:
                summary.unloadable_files += 1
                logger.warning(
                    "staged object not loadable; left alone", object=str(obj.ref), reason=reason
                )
                continue
            self._etags_listed[(obj.ref.key, obj.ref.version_id)] = etag
            out.append(obj)
        return out

    def _listing(self) -> Iterator[tuple[str, str]]:
        """(key, ETag) of every object under the prefix, s3seal's own ones left out."""
        bucket, prefix = self.settings.staging_bucket, self.settings.prefix
        try:
            for page in self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix
            ):
                for item in page.get("Contents", []):
                    key = item["Key"]
                    if not key.startswith(RESERVED_PREFIX) and not key.endswith("/"):
                        yield key, item["ETag"].strip('"')
        except (ClientError, BotoCoreError) as exc:
            raise storage.translate(exc, "cannot list", f"s3://{bucket}/{prefix}") from None

    def _ready(self, pending: list[StagedObject]) -> bool:
        s = self.settings
        if not s.thresholds_set:
            return True
        if s.min_files and len(pending) >= s.min_files:
            return True
        if s.min_bytes and sum(obj.size for obj in pending) >= s.min_bytes:
            return True
        oldest = min(obj.last_modified for obj in pending)
        return bool(
            s.max_wait_seconds and self._clock() - oldest >= timedelta(seconds=s.max_wait_seconds)
        )

    def _plan(self, pending: list[StagedObject]) -> Iterator[list[StagedObject]]:
        """Batches: one root-key version and one compression each, oldest objects first."""
        for _, group in sorted(group_by_key(pending).items()):
            for gzip in (False, True):
                same = sorted(
                    (obj for obj in group if obj.gzip is gzip),
                    key=lambda obj: (obj.last_modified, obj.ref.key),
                )
                step = self.settings.max_batch_files
                for start in range(0, len(same), step):
                    yield same[start : start + step]

    # --- resolving and executing one batch ----------------------------------------------------

    def _resolve(self, record: BatchRecord, *, retrying: bool) -> BatchRecord:
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
            self._clean(batch_id, [])
            return self._save(record, state=State.LOADED, finished=True, error=None)
        if statement is not None and statement.status is Status.FINISHED:
            # The transaction committed (its insert with it), yet the log does not show it:
            # someone changed the log. Never risk a second COPY.
            error = "the COPY finished but the batch is not in the load log; check by hand"
            return self._save(record, state=State.FAILED, finished=True, error=error)
        refused = statement is not None and statement.status in (Status.FAILED, Status.ABORTED)
        if refused and not retrying:
            self._clean(batch_id, [])
            assert statement is not None
            error = self._redact(statement.error) or f"statement {statement.status.value}"
            logger.error("batch failed", batch_id=batch_id, error=error)
            return self._save(record, state=State.FAILED, finished=True, error=error)
        # An earlier attempt's transient objects stay until this attempt's cleanup, which sweeps
        # the batch's whole prefix: a COPY of a crashed run may still be reading them.
        if record.state is State.FAILED or refused:
            # A new attempt needs a new ClientToken: the old one names the failed statement.
            record = self._save(
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
        return self._execute(record)

    def _execute(self, record: BatchRecord) -> BatchRecord:
        """Load a planned batch: stage what COPY reads, run it, clean up whatever happens."""
        written: list[tuple[ObjectRef, str]] = []
        try:
            result = self._load(record, written)
        except BaseException:
            self._clean_quietly(record.batch_id, written)
            raise
        self._clean(record.batch_id, written)
        return result

    def _load(self, record: BatchRecord, written: list[tuple[ObjectRef, str]]) -> BatchRecord:
        batch_id = record.batch_id
        s = self.settings
        try:
            self._ensure_load_log()
            key = self._root_key(record)
            if s.mode is LoadMode.CLIENT_SIDE:
                self._check_current(record)
                manifest_url = self._write_manifest(record, f"{MANIFEST_PREFIX}{batch_id}.json")
                key_b64 = base64.b64encode(key.material).decode("ascii")
                copy_sql = self._copy(record, manifest_url, key_b64)
                shown = self._copy(record, manifest_url, None)
            else:
                self._stage_plaintext(record, key, written)
                manifest_key = f"{LOAD_PREFIX}{batch_id}/{LOAD_MANIFEST_NAME}"
                manifest_url = self._write_manifest(record, manifest_key, written)
                copy_sql = shown = self._copy(record, manifest_url, None)
        except _BATCH_FAILURES as exc:
            error = self._redact(str(exc))
            logger.error("batch cannot be loaded", batch_id=batch_id, error=error)
            return self._save(record, state=State.FAILED, finished=True, error=error)
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
        record = self._save(
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
            return self._save(record, state=State.LOADED, finished=True)
        error = self._redact(statement.error) or f"statement {statement.status.value}"
        logger.error("COPY failed", batch_id=batch_id, status=statement.status.value, error=error)
        return self._save(record, state=State.FAILED, finished=True, error=error)

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

    # --- what COPY reads ----------------------------------------------------------------------

    def _root_key(self, record: BatchRecord) -> RootKey:
        version = record.key_version
        if version not in self._keys:
            key = root_key_from_secret(self.secrets, self.settings.root_key_secret_id, version)
            self._keys[version] = key
        return self._keys[version]

    def _check_current(self, record: BatchRecord) -> None:
        """COPY ENCRYPTED reads each key's current version: it must be the claimed one."""
        for obj in record.objects:
            if obj.version_id is None:
                continue
            head = storage.head_object(self.s3, ObjectRef(self.settings.staging_bucket, obj.key))
            if head.get("VersionId") != obj.version_id:
                raise ObjectChangedError(
                    f"s3://{self.settings.staging_bucket}/{obj.key} was replaced after the batch "
                    f"claimed version {obj.version_id}; its new version is pending on its own"
                )

    def _stage_plaintext(
        self, record: BatchRecord, key: RootKey, written: list[tuple[ObjectRef, str]]
    ) -> None:
        bucket = self.settings.staging_bucket
        for obj in record.objects:
            source = ObjectRef(bucket, obj.key, obj.version_id)
            reader = storage.open_object(self.s3, source)
            envelope = EnvelopeMetadata.parse(reader.metadata)
            found = envelope.description.get(SECRET_VERSION_FIELD)
            if found != record.key_version:
                raise MetadataError(
                    f"{source}: its data key is wrapped by secret version {found}, "
                    f"not {record.key_version} as the batch says"
                )
            decryptor = partial(
                Decryptor, key.material, envelope, allow_legacy=self.settings.allow_legacy
            )
            try:
                first = decryptor()
            except LegacyFormatError as exc:
                raise LegacyFormatError(
                    f"{source}: {exc}; the loader reads it only with {LOAD_ALLOW_LEGACY}=true"
                ) from None
            if envelope.content.authenticated:
                # Authenticate first: nothing is PUT until the whole body's tag verified.
                plaintext = verified.two_pass(self.s3, reader, decryptor)
            else:
                # V1 has no tag to check: streamed as it decrypts (docs/format.md).
                plaintext = decrypt_chunks(first, reader.chunks)
            parts = iter_parts(plaintext, self.settings.part_size)
            target = f"{LOAD_PREFIX}{record.batch_id}/{obj.key}"
            written.append(self._put_sse_kms(target, parts))

    def _write_manifest(
        self, record: BatchRecord, key: str, written: list[tuple[ObjectRef, str]] | None = None
    ) -> str:
        bucket = self.settings.staging_bucket
        if written is None:
            urls = [f"s3://{bucket}/{obj.key}" for obj in record.objects]
            storage.upload(
                self.s3,
                bucket,
                key,
                [copying.manifest_bytes(urls)],
                dict,
                content_type=JSON_TYPE,
            )
        else:
            urls = [ref.url for ref, _ in written]
            written.append(self._put_sse_kms(key, [copying.manifest_bytes(urls)], JSON_TYPE))
        return f"s3://{bucket}/{key}"

    def _put_sse_kms(
        self, key: str, parts: Iterable[bytes], content_type: str | None = None
    ) -> tuple[ObjectRef, str]:
        """Write transient plaintext under SSE-KMS; returns the exact version and its ETag.

        An object S3 does not confirm as SSE-KMS is deleted at once and the load stops.
        """
        bucket = self.settings.staging_bucket
        written = storage.upload(
            self.s3,
            bucket,
            key,
            parts,
            dict,
            content_type=content_type,
            extra_arguments={
                "ServerSideEncryption": SSE_KMS,
                "SSEKMSKeyId": str(self.settings.load_kms_key_id),
            },
        )
        ref = ObjectRef(bucket, key, written.version_id)
        if written.server_side_encryption != SSE_KMS:
            storage.delete_version(self.s3, ref, if_match=written.etag)
            raise StorageError(f"s3://{bucket}/{key} was not written under SSE-KMS; deleted")
        return ref, written.etag

    # --- transient plaintext ------------------------------------------------------------------

    def _clean(self, batch_id: str, written: list[tuple[ObjectRef, str]]) -> None:
        """Delete every version under ``_s3seal/load/<batch-id>/``: the ones written (by exact
        version id), then whatever a listing still shows (a lost PUT response, a crash)."""
        if self.settings.mode is not LoadMode.SERVER_SIDE and not written:
            return
        for ref, etag in written:
            storage.delete_version(self.s3, ref, if_match=etag)
        leftovers = self._load_versions(f"{LOAD_PREFIX}{batch_id}/")
        for ref in leftovers:
            storage.delete_version(self.s3, ref)
        if written or leftovers:
            count = len(written) + len(leftovers)
            logger.info("transient plaintext deleted", batch_id=batch_id, versions=count)

    def _clean_quietly(self, batch_id: str, written: list[tuple[ObjectRef, str]]) -> None:
        """``_clean`` while another error is on its way out: that error is the one to raise."""
        try:
            self._clean(batch_id, written)
        except Exception as exc:
            logger.error(
                "transient plaintext NOT deleted; the next run deletes it",
                batch_id=batch_id,
                error=str(exc),
            )

    def _sweep_stale(self, records: list[BatchRecord]) -> None:
        """Delete transient plaintext of batches that are over (a crash between COPY and
        cleanup); batches still unresolved are cleaned when resolved."""
        unresolved = {r.batch_id for r in records if r.state.unresolved}
        stale = [
            ref
            for ref in self._load_versions(LOAD_PREFIX)
            if ref.key[len(LOAD_PREFIX) :].split("/", 1)[0] not in unresolved
        ]
        for ref in stale:
            storage.delete_version(self.s3, ref)
        if stale:
            logger.warning("stale transient plaintext deleted", versions=len(stale))

    def _load_versions(self, prefix: str) -> list[ObjectRef]:
        bucket = self.settings.staging_bucket
        out = []
        try:
            for page in self.s3.get_paginator("list_object_versions").paginate(
                Bucket=bucket, Prefix=prefix
            ):
                items = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
                out += [ObjectRef(bucket, i["Key"], i.get("VersionId") or "null") for i in items]
        except (ClientError, BotoCoreError) as exc:
            raise storage.translate(exc, "cannot list", f"s3://{bucket}/{prefix}") from None
        return out

    # --- records ------------------------------------------------------------------------------

    def _create_record(self, objects: list[StagedObject]) -> BatchRecord:
        now = self._clock()
        first = objects[0]
        record = BatchRecord(
            batch_id=self._batch_ids(now),
            table=self.settings.table,
            mode=self.settings.mode,
            key_version=first.key_group,
            gzip=first.gzip,
            objects=tuple(
                BatchObject(
                    obj.ref.key,
                    obj.ref.version_id,
                    obj.size,
                    self._etags_listed.get((obj.ref.key, obj.ref.version_id)),
                )
                for obj in objects
            ),
            state=State.PLANNED,
            created_at=stamp(now),
            updated_at=stamp(now),
        )
        self._write_record(record, storage.CREATE_ONLY)
        logger.info(
            "batch planned",
            batch_id=record.batch_id,
            files=record.files,
            bytes=record.bytes,
            key_version=record.key_version,
        )
        return record

    def _save(self, record: BatchRecord, *, finished: bool = False, **changes: Any) -> BatchRecord:
        now = stamp(self._clock())
        if finished:
            changes["finished_at"] = now
        updated = replace(record, updated_at=now, **changes)
        self._write_record(updated, storage.Condition(if_match=self._etags.get(record.batch_id)))
        return updated

    def _write_record(self, record: BatchRecord, condition: storage.Condition) -> None:
        body = json.dumps(record.to_json(), indent=1).encode("utf-8")
        try:
            result = storage.upload(
                self.s3,
                self.settings.staging_bucket,
                record.record_key,
                [body],
                dict,
                content_type=JSON_TYPE,
                condition=condition,
            )
        except ConditionFailedError:
            raise LoadError(
                f"batch {record.batch_id}: its record changed under this loader (another loader "
                "running?); stopping",
                batch_id=record.batch_id,
            ) from None
        self._etags[record.batch_id] = result.etag

    def _records(self) -> list[BatchRecord]:
        bucket = self.settings.staging_bucket
        keys: list[str] = []
        try:
            for page in self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=BATCH_PREFIX
            ):
                keys += [i["Key"] for i in page.get("Contents", []) if i["Key"].endswith(".json")]
        except (ClientError, BotoCoreError) as exc:
            raise storage.translate(exc, "cannot list", f"s3://{bucket}/{BATCH_PREFIX}") from None
        records = [self._read_record_key(key) for key in keys]
        return sorted(records, key=lambda r: (r.created_at, r.batch_id))

    def _read_record(self, batch_id: str) -> BatchRecord:
        check_batch_id(batch_id)
        try:
            return self._read_record_key(f"{BATCH_PREFIX}{batch_id}.json")
        except ObjectNotFoundError:
            raise LoadError(f"no batch {batch_id}", batch_id=batch_id) from None

    def _read_record_key(self, key: str) -> BatchRecord:
        reader = storage.open_object(self.s3, ObjectRef(self.settings.staging_bucket, key))
        body = b"".join(reader.chunks)
        try:
            record = BatchRecord.from_json(json.loads(body))
        except (ValueError, KeyError, TypeError) as exc:
            raise LoadError(
                f"s3://{self.settings.staging_bucket}/{key} is not a batch record ({exc}); "
                "fix or remove it: the objects it claims are unknown"
            ) from None
        self._etags[record.batch_id] = reader.etag
        return record

    # --- the lock -----------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self._acquire_lock()
        try:
            yield
        finally:
            self._release_lock()

    def _lock_body(self) -> bytes:
        now = self._clock()
        expires = now + timedelta(seconds=self.settings.lock_seconds)
        doc = {"owner": self._owner, "acquired_at": stamp(now), "expires_at": stamp(expires)}
        return json.dumps(doc).encode("utf-8")

    def _write_lock(self, condition: storage.Condition) -> _Held:
        result = storage.upload(
            self.s3,
            self.settings.staging_bucket,
            self._lock_key,
            [self._lock_body()],
            dict,
            content_type=JSON_TYPE,
            condition=condition,
        )
        return _Held(result.version_id, result.etag)

    def _acquire_lock(self) -> None:
        bucket = self.settings.staging_bucket
        try:
            self._held = self._write_lock(storage.CREATE_ONLY)
            return
        except ConditionFailedError:
            pass
        try:
            reader = storage.open_object(self.s3, ObjectRef(bucket, self._lock_key))
            doc = json.loads(b"".join(reader.chunks))
            expires = datetime.fromisoformat(str(doc["expires_at"]))
        except ObjectNotFoundError:
            raise LoaderBusyError("the loader lock changed hands just now; try again") from None
        except (ValueError, KeyError, TypeError):
            expires = datetime.min.replace(tzinfo=UTC)  # unreadable: treat as expired
            doc = {}
        if expires > self._clock():
            raise LoaderBusyError(
                f"another loader ({doc.get('owner')}) holds s3://{bucket}/{self._lock_key} until "
                f"{doc.get('expires_at')}"
            )
        try:
            self._held = self._write_lock(storage.Condition(if_match=reader.etag))
        except ConditionFailedError:
            raise LoaderBusyError("another loader took over the expired lock first") from None
        logger.warning("took over an expired loader lock", previous_owner=doc.get("owner"))
        if reader.ref.version_id:
            with suppress(S3SealError):
                storage.delete_version(self.s3, reader.ref)

    def _renew_lock(self) -> None:
        held = self._held
        if held is None:
            return
        try:
            self._held = self._write_lock(storage.Condition(if_match=held.etag))
        except ConditionFailedError:
            self._held = None
            raise LoaderBusyError("the loader lock was taken over; stopping") from None
        if held.version_id:
            storage.delete_version(
                self.s3, ObjectRef(self.settings.staging_bucket, self._lock_key, held.version_id)
            )

    def _release_lock(self) -> None:
        held, self._held = self._held, None
        if held is None:
            return
        ref = ObjectRef(self.settings.staging_bucket, self._lock_key, held.version_id)
        try:
            storage.delete_version(self.s3, ref, if_match=held.etag)
        except S3SealError as exc:
            logger.warning("loader lock not released; it expires on its own", error=str(exc))

    # --- secrets ------------------------------------------------------------------------------

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


# --- Lambda entry point ------------------------------------------------------------------------

RETRY_EVENT_FIELD = "retry"
"""``{"retry": "<batch-id>"}`` retries that failed batch instead of a normal run."""

_loader: Loader | None = None


def from_env(environ: Mapping[str, str]) -> Loader:
    """A loader configured from ``environ``, with default boto3 clients."""
    settings = LoaderSettings.from_env(environ)
    config = Config(retries={"mode": "standard", "max_attempts": 5})
    s3: S3Client = boto3.client("s3", config=config)
    secrets: SecretsManagerClient = boto3.client("secretsmanager", config=config)
    data = cast("DataApiClient", boto3.client("redshift-data", config=config))
    return Loader(settings, s3, data, secrets)


def loader() -> Loader:
    """The function's loader, configured from the environment on first use."""
    global _loader  # noqa: PLW0603 (one per warm container, as Lambda reuses the module)
    if _loader is None:
        _loader = from_env(os.environ)
    return _loader


def reset() -> None:
    """Forget the configured loader (tests reconfigure between runs)."""
    global _loader  # noqa: PLW0603
    _loader = None


@logger.inject_lambda_context(clear_state=True)
def handler(event: Mapping[str, Any] | None, context: LambdaContext) -> dict[str, Any]:
    """Run the loader (a schedule's event), or ``{"retry": "<batch-id>"}`` one failed batch."""
    batch_id = event.get(RETRY_EVENT_FIELD) if isinstance(event, Mapping) else None
    if batch_id:
        record = loader().retry(str(batch_id))
        summary = LoadSummary()
        summary.add(record)
        return summary.to_dict()
    result = loader().run().to_dict()
    logger.info("loader run", **result)
    return result


if os.environ.get("_HANDLER") == f"{__name__}.handler":
    # Inside the loader's Lambda function: read the configuration now, so a bad setting fails
    # the init phase with a message naming the variable.
    loader()
