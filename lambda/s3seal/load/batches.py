"""Batch records: which staged objects one COPY loads, and how far it got."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from .. import copying
from ..errors import ConfigError
from ..staged import BATCH_PREFIX
from .settings import LoadMode

BATCH_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,47}")
"""What ``new_batch_id`` makes, and all a batch id may be: it is read back from S3 and goes into
a SQL literal, an S3 key, a ClientToken (with a retry suffix, within 64) and a statement name."""


def check_batch_id(value: str) -> str:
    """``value`` if it is a batch id; ConfigError (naming it) if not."""
    if not BATCH_ID.fullmatch(value):
        raise ConfigError(f"not a batch id: {value!r}")
    return value


class State(StrEnum):
    PLANNED = "planned"
    SUBMITTED = "submitted"
    LOADED = "loaded"
    FAILED = "failed"

    @property
    def unresolved(self) -> bool:
        return self in (State.PLANNED, State.SUBMITTED)


# --- batch records -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchObject:
    key: str
    version_id: str | None
    size: int
    etag: str | None = None
    """As the listing showed it: a later run skips the object without a HEAD."""

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "version_id": self.version_id,
            "size": self.size,
            "etag": self.etag,
        }


@dataclass(frozen=True)
class BatchRecord:
    """One batch, as stored at ``_s3seal/batches/<batch-id>.json``."""

    batch_id: str
    table: str
    mode: LoadMode
    key_version: str
    """The root-key (secret) version that wrapped every object's data key."""
    gzip: bool
    objects: tuple[BatchObject, ...]
    state: State
    created_at: str
    updated_at: str
    attempt: int = 1
    statement_id: str | None = None
    error: str | None = None
    manifest_url: str | None = None
    submitted_at: str | None = None
    finished_at: str | None = None

    def __post_init__(self) -> None:
        # Records are read back from the staging bucket, which others may be able to write:
        # what goes into SQL is checked here, for every record however it was made.
        try:
            check_batch_id(self.batch_id)
            copying.identifier(self.table)
        except ConfigError as exc:
            raise ValueError(f"batch record: {exc}") from None

    @property
    def files(self) -> int:
        return len(self.objects)

    @property
    def bytes(self) -> int:
        return sum(obj.size for obj in self.objects)

    @property
    def client_token(self) -> str:
        """The Data API ClientToken: the batch id (a retry of a failed batch needs a new one,
        or the Data API would answer with the failed statement again)."""
        return self.batch_id if self.attempt == 1 else f"{self.batch_id}-retry{self.attempt}"

    @property
    def record_key(self) -> str:
        return f"{BATCH_PREFIX}{self.batch_id}.json"

    def to_json(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "table": self.table,
            "mode": self.mode.value,
            "key_version": self.key_version,
            "gzip": self.gzip,
            "state": self.state.value,
            "attempt": self.attempt,
            "statement_id": self.statement_id,
            "error": self.error,
            "manifest_url": self.manifest_url,
            "files": self.files,
            "bytes": self.bytes,
            "objects": [obj.to_json() for obj in self.objects],
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "submitted_at": self.submitted_at,
            "finished_at": self.finished_at,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> BatchRecord:
        return cls(
            batch_id=str(doc["batch_id"]),
            table=str(doc["table"]),
            mode=LoadMode(doc["mode"]),
            key_version=str(doc["key_version"]),
            gzip=bool(doc["gzip"]),
            objects=tuple(
                BatchObject(str(o["key"]), o.get("version_id"), int(o["size"]), o.get("etag"))
                for o in doc["objects"]
            ),
            state=State(doc["state"]),
            created_at=str(doc["created_at"]),
            updated_at=str(doc["updated_at"]),
            attempt=int(doc.get("attempt", 1)),
            statement_id=doc.get("statement_id"),
            error=doc.get("error"),
            manifest_url=doc.get("manifest_url"),
            submitted_at=doc.get("submitted_at"),
            finished_at=doc.get("finished_at"),
        )


@dataclass
class LoadSummary:
    """What one ``run`` did."""

    loaded: list[BatchRecord] = field(default_factory=list)
    failed: list[BatchRecord] = field(default_factory=list)
    awaiting_retry: list[str] = field(default_factory=list)
    """Batches that failed in earlier runs: ``run`` leaves them to ``retry(batch_id)``."""
    pending_files: int = 0
    pending_bytes: int = 0
    below_threshold: bool = False
    unloadable_files: int = 0
    """Staged objects this loader cannot load (no secret version in matdesc; V2 in client-side
    mode); they are logged and left alone."""
    busy: bool = False

    def add(self, record: BatchRecord) -> None:
        if record.state is State.LOADED:
            self.loaded.append(record)
        elif record.state is State.FAILED:
            self.failed.append(record)

    def to_dict(self) -> dict[str, Any]:
        return {
            "batches_loaded": len(self.loaded),
            "batches_failed": len(self.failed),
            "batches_skipped": len(self.awaiting_retry),
            "files": sum(r.files for r in self.loaded),
            "bytes": sum(r.bytes for r in self.loaded),
            "loaded": [r.batch_id for r in self.loaded],
            "failed": [{"batch_id": r.batch_id, "error": r.error} for r in self.failed],
            "awaiting_retry": list(self.awaiting_retry),
            "pending_files": self.pending_files,
            "pending_bytes": self.pending_bytes,
            "below_threshold": self.below_threshold,
            "unloadable_files": self.unloadable_files,
            "busy": self.busy,
        }


def new_batch_id(now: datetime) -> str:
    """Sortable by creation time, unique, short enough for a ClientToken with a retry suffix."""
    return f"{now:%Y%m%dT%H%M%SZ}-{os.urandom(4).hex()}"


def utcnow() -> datetime:
    return datetime.now(UTC)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")
