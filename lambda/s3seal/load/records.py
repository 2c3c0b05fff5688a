"""Batch records in the staging bucket: ``_s3seal/batches/<batch-id>.json``, one per batch.

A record is written create-only before anything else is done with its batch, and every update
is conditional on the ETag this loader last saw, so two loaders never both own a batch.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from .. import storage
from ..errors import ConditionFailedError, LoadError, ObjectNotFoundError
from ..objects import ObjectRef
from ..staged import BATCH_PREFIX
from .batches import BatchRecord, check_batch_id, stamp
from .logs import logger

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

JSON_TYPE = "application/json"


class Records:
    """Reads and writes the batch records of one staging bucket."""

    def __init__(self, s3: S3Client, bucket: str, clock: Callable[[], datetime]) -> None:
        self.s3 = s3
        self.bucket = bucket
        self._clock = clock
        self._etags: dict[str, str] = {}

    def create(self, record: BatchRecord) -> BatchRecord:
        """Write a newly planned batch's record; it must not exist yet."""
        self._write(record, storage.CREATE_ONLY)
        logger.info(
            "batch planned",
            batch_id=record.batch_id,
            files=record.files,
            bytes=record.bytes,
            key_version=record.key_version,
        )
        return record

    def save(self, record: BatchRecord, *, finished: bool = False, **changes: Any) -> BatchRecord:
        """``record`` with ``changes`` (and a new ``updated_at``), written over the one read."""
        now = stamp(self._clock())
        if finished:
            changes["finished_at"] = now
        updated = replace(record, updated_at=now, **changes)
        self._write(updated, storage.Condition(if_match=self._etags.get(record.batch_id)))
        return updated

    def _write(self, record: BatchRecord, condition: storage.Condition) -> None:
        body = json.dumps(record.to_json(), indent=1).encode("utf-8")
        try:
            result = storage.upload(
                self.s3,
                self.bucket,
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

    def all(self) -> list[BatchRecord]:
        """Every batch record (of every table), oldest first."""
        keys: list[str] = []
        try:
            for page in self.s3.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=BATCH_PREFIX
            ):
                keys += [i["Key"] for i in page.get("Contents", []) if i["Key"].endswith(".json")]
        except (ClientError, BotoCoreError) as exc:
            raise storage.translate(
                exc, "cannot list", f"s3://{self.bucket}/{BATCH_PREFIX}"
            ) from None
        records = [self._read_key(key) for key in keys]
        return sorted(records, key=lambda r: (r.created_at, r.batch_id))

    def read(self, batch_id: str) -> BatchRecord:
        check_batch_id(batch_id)
        try:
            return self._read_key(f"{BATCH_PREFIX}{batch_id}.json")
        except ObjectNotFoundError:
            raise LoadError(f"no batch {batch_id}", batch_id=batch_id) from None

    def _read_key(self, key: str) -> BatchRecord:
        reader = storage.open_object(self.s3, ObjectRef(self.bucket, key))
        body = b"".join(reader.chunks)
        try:
            record = BatchRecord.from_json(json.loads(body))
        except (ValueError, KeyError, TypeError) as exc:
            raise LoadError(
                f"s3://{self.bucket}/{key} is not a batch record ({exc}); "
                "fix or remove it: the objects it claims are unknown"
            ) from None
        self._etags[record.batch_id] = reader.etag
        return record
