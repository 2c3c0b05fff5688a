"""Planning: which staged objects are pending, whether to load now, and how to batch them.

Pending objects are those under the prefix that no batch record of this table claims (by key
and version id), grouped by root-key version and compression (one COPY takes one key, and GZIP
applies to every file of it), at most ``max_batch_files`` each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from .. import storage
from ..envelope import Format
from ..names import RESERVED_PREFIX
from ..objects import ObjectRef
from ..staged import StagedObject, describe, group_by_key
from .batches import BatchObject, BatchRecord, LoadSummary, State, stamp
from .logs import logger
from .settings import LoaderSettings, LoadMode

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class Planner:
    """Plans the batches of one table's loader."""

    def __init__(
        self,
        settings: LoaderSettings,
        s3: S3Client,
        *,
        clock: Callable[[], datetime],
        batch_ids: Callable[[datetime], str],
    ) -> None:
        self.settings = settings
        self.s3 = s3
        self._clock = clock
        self._batch_ids = batch_ids
        self._etags_listed: dict[tuple[str, str | None], str] = {}

    def pending(self, records: list[BatchRecord], summary: LoadSummary) -> list[StagedObject]:
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

    def ready(self, pending: list[StagedObject]) -> bool:
        """Whether the load thresholds (any one of them) are met; always, when none is set."""
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

    def batches(self, pending: list[StagedObject]) -> Iterator[list[StagedObject]]:
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

    def new_record(self, objects: list[StagedObject]) -> BatchRecord:
        """The ``planned`` record of a batch of ``objects`` (not yet written)."""
        now = self._clock()
        first = objects[0]
        return BatchRecord(
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
