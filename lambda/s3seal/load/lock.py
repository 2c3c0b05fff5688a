"""One loader per table at a time: ``_s3seal/batches/locks/<table>.lock``.

Created with ``If-None-Match: *``, renewed (conditionally on its ETag) between batches, taken
over only once expired, and deleted by its exact version when the run ends.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from .. import storage
from ..errors import ConditionFailedError, LoaderBusyError, ObjectNotFoundError, S3SealError
from ..objects import ObjectRef
from ..staged import BATCH_PREFIX
from .batches import stamp
from .logs import logger
from .records import JSON_TYPE

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

LOCK_PREFIX = f"{BATCH_PREFIX}locks/"
"""One lock per target table: ``_s3seal/batches/locks/<table>.lock`` (beside the records, so
the permissions on the records cover it; record listings take ``*.json`` only)."""


@dataclass(frozen=True)
class _Held:
    """Our version of the lock object."""

    version_id: str | None
    etag: str


class TableLock:
    """The lock of one table's loader, held by ``owner``."""

    def __init__(
        self,
        s3: S3Client,
        bucket: str,
        table: str,
        *,
        owner: str,
        lock_seconds: int,
        clock: Callable[[], datetime],
    ) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.key = f"{LOCK_PREFIX}{table}.lock"
        self._owner = owner
        self._lock_seconds = lock_seconds
        self._clock = clock
        self._held: _Held | None = None

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock for the ``with`` block; LoaderBusyError if another loader holds it."""
        self._acquire()
        try:
            yield
        finally:
            self._release()

    def renew(self) -> None:
        """Extend the lock; LoaderBusyError if another loader took it over meanwhile."""
        held = self._held
        if held is None:
            return
        try:
            self._held = self._write(storage.Condition(if_match=held.etag))
        except ConditionFailedError:
            self._held = None
            raise LoaderBusyError("the loader lock was taken over; stopping") from None
        if held.version_id:
            storage.delete_version(self.s3, ObjectRef(self.bucket, self.key, held.version_id))

    def _body(self) -> bytes:
        now = self._clock()
        expires = now + timedelta(seconds=self._lock_seconds)
        doc = {"owner": self._owner, "acquired_at": stamp(now), "expires_at": stamp(expires)}
        return json.dumps(doc).encode("utf-8")

    def _write(self, condition: storage.Condition) -> _Held:
        result = storage.upload(
            self.s3,
            self.bucket,
            self.key,
            [self._body()],
            dict,
            content_type=JSON_TYPE,
            condition=condition,
        )
        return _Held(result.version_id, result.etag)

    def _acquire(self) -> None:
        try:
            self._held = self._write(storage.CREATE_ONLY)
            return
        except ConditionFailedError:
            pass
        try:
            reader = storage.open_object(self.s3, ObjectRef(self.bucket, self.key))
            doc = json.loads(b"".join(reader.chunks))
            expires = datetime.fromisoformat(str(doc["expires_at"]))
        except ObjectNotFoundError:
            raise LoaderBusyError("the loader lock changed hands just now; try again") from None
        except (ValueError, KeyError, TypeError):
            expires = datetime.min.replace(tzinfo=UTC)  # unreadable: treat as expired
            doc = {}
        if expires > self._clock():
            raise LoaderBusyError(
                f"another loader ({doc.get('owner')}) holds s3://{self.bucket}/{self.key} until "
                f"{doc.get('expires_at')}"
            )
        try:
            self._held = self._write(storage.Condition(if_match=reader.etag))
        except ConditionFailedError:
            raise LoaderBusyError("another loader took over the expired lock first") from None
        logger.warning("took over an expired loader lock", previous_owner=doc.get("owner"))
        if reader.ref.version_id:
            with suppress(S3SealError):
                storage.delete_version(self.s3, reader.ref)

    def _release(self) -> None:
        held, self._held = self._held, None
        if held is None:
            return
        ref = ObjectRef(self.bucket, self.key, held.version_id)
        try:
            storage.delete_version(self.s3, ref, if_match=held.etag)
        except S3SealError as exc:
            logger.warning("loader lock not released; it expires on its own", error=str(exc))
