"""One object: stream GET -> encrypt -> PUT or multipart -> verify -> delete the plaintext.

The rules that keep data safe under at-least-once, out-of-order, concurrent delivery:

1. The plaintext is deleted only after its ciphertext is verified in staging (``verification``),
   and only the exact version that was encrypted (unversioned buckets: only while its ETag is the
   one read).
2. The staging bucket mirrors the *newest* version of each landing key. Every staged object names
   its source (bucket, key, version, ETag, event sequencer). Every write is conditional
   (``If-None-Match: *`` when nothing is staged, ``If-Match`` on the ETag seen when replacing an
   older one), so a racing writer makes the write fail and the decision is taken again, never
   silently overwritten. A single part is first written create-only and the staged object looked
   at only if S3 refuses; a multipart object looks first (``Pipeline._stage`` says why).
3. Newer is decided by S3's event sequencer. Without one on either side (S3 Batch Operations),
   a version that S3 listed as older than the staged one when that was staged is older; else the
   source objects' LastModified decides; only on a tie (same second) whether the version is the
   key's current one. (Not "current" alone: once a newer version is staged and its plaintext
   deleted, an older one becomes current again.) ``ordering`` has the rules.
4. A version that is older than what is staged is superseded: its plaintext is deleted without
   being staged, as the newer version stands for the key.

Requests per object on the common path (a notification with a version and a sequencer, for a key
not yet staged): GET, ListObjectVersions (beside the GET; ``ordering.older_versions`` says why it
stays), PUT, DELETE. A multipart object adds a HEAD of the staged key and the upload's own calls.

Memory: object data held at once is at most ``Settings.memory_bound``.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, NamedTuple

from .. import storage
from ..config import Compression, Settings
from ..envelope import Encryptor, encrypt_chunks, iter_parts
from ..errors import (
    ConditionFailedError,
    DeadlineError,
    ObjectNotFoundError,
    RefusedObjectError,
)
from ..objects import ObjectRef, version_or_none
from ..rootkey.keys import RootKey
from .admission import SAFETY_SECONDS, check_size, refuse, staged_key
from .events import ObjectEvent
from .ordering import Decision, Source, Staged, decide, older_versions
from .origin import SOURCE_BUCKET, fit, source_metadata
from .verification import check_staged, verify_write, written_version

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MAX_DECISION_ROUNDS = 4
"""How often a lost conditional-write race is re-decided before the record is retried later."""
GZIP_LEVEL = 6


class Action(StrEnum):
    STAGED = "staged"
    ALREADY_STAGED = "already-staged"
    SUPERSEDED = "superseded"
    GONE = "gone"
    SKIPPED = "skipped"


class Outcome(NamedTuple):
    """What happened to one object."""

    action: Action
    source: ObjectRef
    staged: ObjectRef | None = None
    plaintext_bytes: int = 0
    staged_bytes: int = 0
    detail: str = ""


class Pipeline:
    """Stages objects for one configuration; one instance serves a warm container."""

    def __init__(
        self,
        settings: Settings,
        s3: S3Client,
        root_key: Callable[[], RootKey],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._s3 = s3
        self._root_key = root_key
        self._clock = clock
        # Threads start on first use; one listing per object being staged by this container
        # (records of a batch are staged concurrently, and a single PUT waits for its listing).
        self._listing = ThreadPoolExecutor(
            max_workers=max(2, settings.record_workers), thread_name_prefix="s3seal-list"
        )

    def staged_key(self, key: str) -> str:
        return staged_key(self.settings, key)

    def process(
        self, event: ObjectEvent, remaining_seconds: Callable[[], float] | None = None
    ) -> Outcome:
        """Stage one object; see the module docstring for the rules.

        Raises an S3SealError when the object is not staged and its plaintext is kept: the event
        should be retried (or, for ObjectTooLargeError, looked at by a person). RefusedObjectError
        comes before any request: the event is not this function's to act on.
        """
        refuse(self.settings, event.ref)
        ref = event.ref
        if _is_folder_marker(ref.key, event.size):
            return Outcome(Action.SKIPPED, ref, detail="folder marker")
        if event.size is not None:
            # On the event's word, before any request; checked again on the size S3 reports.
            check_size(self.settings, ref, event.size, remaining_seconds)
        # Listed beside the GET: the metadata, which needs it, is sent only once the ciphertext
        # (or its first two parts) is ready.
        older = self._list_older(ref) if ref.version_id else None
        opened = self._open(event)
        if isinstance(opened, Outcome):
            return opened
        source, reader = opened
        try:
            if _is_folder_marker(ref.key, source.size):
                return Outcome(Action.SKIPPED, source.ref, detail="folder marker")
            check_size(self.settings, source.ref, source.size, remaining_seconds)
            # The key is fetched (and validated) before anything is written.
            root = self._root_key()
            if older is None and source.ref.version_id:
                older = self._list_older(source.ref)
            return self._stage(source, reader, older, root, remaining_seconds)
        finally:
            reader.close()

    def _open(self, event: ObjectEvent) -> tuple[Source, storage.ObjectReader] | Outcome:
        """GET the object the event names: what S3 says about it is the source (no HEAD)."""
        ref = event.ref
        # Without a version the key may have changed since the event: only the content the
        # event describes is read (If-Match), and its ETag is what the delete will require.
        if_match = event.etag if ref.version_id is None else None
        try:
            reader = storage.open_object(self._s3, ref, if_match=if_match)
        except ObjectNotFoundError:
            return Outcome(Action.GONE, ref, detail="the object version no longer exists")
        except ConditionFailedError:
            # The event named no version and the key was overwritten since: the new content
            # has its own event, which stages it.
            return Outcome(Action.SUPERSEDED, ref, detail="changed since the event")
        # The version S3 reports, even when the event named none: in a versioned bucket only a
        # version-exact delete removes the plaintext (a plain delete would add a delete marker).
        source = Source(
            ref=ObjectRef(ref.bucket, ref.key, version_or_none(reader.ref.version_id)),
            etag=reader.etag.strip('"'),
            size=reader.content_length,
            content_type=reader.content_type,
            sequencer=event.sequencer,
            last_modified=_utc(reader.last_modified),
        )
        return source, reader

    def _reopen(self, source: Source) -> storage.ObjectReader | Outcome:
        """The source again, for a write that must be streamed a second time."""
        try:
            return storage.open_object(self._s3, source.ref, if_match=source.etag)
        except ObjectNotFoundError:
            # A concurrent delivery staged it and deleted the source meanwhile.
            return Outcome(Action.GONE, source.ref, detail="removed while being staged")
        except ConditionFailedError:
            # Unversioned landing key overwritten meanwhile: the new content has its own event.
            return Outcome(Action.SUPERSEDED, source.ref, detail="changed while being staged")

    def _stage(
        self,
        source: Source,
        reader: storage.ObjectReader,
        older: Future[list[str]] | None,
        root: RootKey,
        remaining_seconds: Callable[[], float] | None,
    ) -> Outcome:
        """Write the ciphertext conditionally; look at staging only when that is refused.

        A single part is written with ``If-None-Match: *`` straight away: on the common path (a
        key not yet staged) nothing needs looking at. When S3 refuses, the staged object is
        HEADed, decided on, and the same ciphertext, still in memory, is sent again with
        ``If-Match`` on what was seen. A multipart object looks first (one HEAD): a refused
        completion would cost its whole upload, and the next attempt a new GET.
        """
        staged_ref = ObjectRef(self.settings.staging_bucket, self.staged_key(source.ref.key))
        job = _Job(source, older, root, staged_ref, remaining_seconds)
        readers = [reader]
        first = self._prepare(job, reader)
        attempt: _Attempt | None = first
        staged: Staged | None = None
        looked = first.write.multipart
        if looked:
            staged = self._head_staged(staged_ref)
        try:
            for _ in range(MAX_DECISION_ROUNDS):
                settled = self._settle(source, staged, staged_ref) if looked else None
                if settled is not None:
                    return settled
                if attempt is None:
                    again = self._reopen(source)
                    if isinstance(again, Outcome):
                        return again
                    readers.append(again)
                    attempt = self._prepare(job, again)
                condition = storage.Condition(staged.etag) if staged else storage.CREATE_ONLY
                try:
                    written = attempt.write.send(condition)
                except ConditionFailedError:
                    # Staged before (a redelivery), or another writer got there first: look.
                    if attempt.write.multipart:
                        attempt = None  # streamed and aborted: a new GET for the next round
                    staged, looked = self._head_staged(staged_ref), True
                    continue
                verify_write(
                    self._s3,
                    staged_ref,
                    written,
                    sent=attempt.write.metadata,
                    envelope=attempt.encryptor.complete_metadata(),
                    source_etag=source.etag,
                )
                self._delete_source(source)
                staged_at = ObjectRef(staged_ref.bucket, staged_ref.key, written_version(written))
                return Outcome(Action.STAGED, source.ref, staged_at, source.size, written.size)
        finally:
            for opened in readers:
                opened.close()
        raise ConditionFailedError(
            f"{staged_ref} kept changing while staging {source.ref}; the event will be retried"
        )

    # --- steps ------------------------------------------------------------------------------

    def _settle(self, source: Source, staged: Staged | None, target: ObjectRef) -> Outcome | None:
        """The outcome when what is staged makes writing needless (already there, or newer);
        None when the source must be written."""
        staged_from = staged.metadata.get(SOURCE_BUCKET) if staged is not None else None
        if staged_from is not None and staged_from != source.ref.bucket:
            # Two landing buckets map a key to the same staged key: either object would replace
            # or be taken for the other. Kept for a person (rename it, or give each bucket its
            # own prefix) rather than decided here.
            raise RefusedObjectError(
                f"{source.ref} refused: its staged key {target} holds the object of landing bucket "
                f"{staged_from!r}; the plaintext is kept"
            )
        decision = decide(source, staged, lambda: self._is_current(source))
        if decision is Decision.ALREADY_STAGED and staged is not None:
            compressed = self.settings.compression is Compression.GZIP
            check_staged(target, staged.metadata, staged.size, source.size, compressed)
            self._delete_source(source)
            return Outcome(Action.ALREADY_STAGED, source.ref, target, source.size, staged.size)
        if decision is Decision.SUPERSEDED:
            self._delete_source(source)
            return Outcome(
                Action.SUPERSEDED, source.ref, target, detail="a newer version is staged"
            )
        return None

    def _list_older(self, ref: ObjectRef) -> Future[list[str]]:
        return self._listing.submit(older_versions, self._s3, ref)

    def _is_current(self, source: Source) -> bool:
        if source.ref.version_id is None:
            return True
        try:
            head = storage.head_object(self._s3, ObjectRef(source.ref.bucket, source.ref.key))
        except ObjectNotFoundError:
            return False
        return bool(head.get("VersionId") == source.ref.version_id)

    def _head_staged(self, ref: ObjectRef) -> Staged | None:
        try:
            head = storage.head_object(self._s3, ref)
        except ObjectNotFoundError:
            return None
        return Staged(
            etag=str(head["ETag"]).strip('"'),
            version_id=head.get("VersionId"),
            size=int(head["ContentLength"]),
            metadata=dict(head.get("Metadata", {})),
        )

    def _source_metadata(self, source: Source, older: Future[list[str]] | None) -> dict[str, str]:
        return source_metadata(
            bucket=source.ref.bucket,
            key=source.ref.key,
            etag=source.etag,
            version_id=source.ref.version_id,
            sequencer=source.sequencer,
            last_modified=source.last_modified.isoformat() if source.last_modified else None,
            older_versions=older.result() if older is not None else (),
        )

    def _prepare(self, job: _Job, reader: storage.ObjectReader) -> _Attempt:
        """Start encrypting ``reader``'s body: a single part is encrypted whole here, a larger
        object up to its first two parts (nothing is written yet)."""
        settings = self.settings
        source, target, older = job.source, job.target, job.older
        compressed = settings.compression is Compression.GZIP
        encryptor = Encryptor(
            job.root.material,
            settings.envelope_format,
            description=job.root.description(),
            plaintext_length=None if compressed else source.size,
        )
        plaintext: Iterable[bytes] = _gzip(reader.chunks) if compressed else reader.chunks
        parts = iter_parts(encrypt_chunks(encryptor, plaintext), settings.part_size)
        if job.remaining_seconds is not None:
            parts = _until_deadline(parts, job.remaining_seconds, source.ref)
        write = storage.Write(
            self._s3,
            target.bucket,
            target.key,
            parts,
            lambda: fit(
                encryptor.complete_metadata().to_metadata(),
                self._source_metadata(source, older),
                str(target),
            ),
            content_type=source.content_type,
            parts_in_flight=settings.parts_in_flight,
            checksum=True,
        )
        return _Attempt(write, encryptor)

    def _delete_source(self, source: Source) -> None:
        if source.ref.version_id:
            storage.delete_version(self._s3, source.ref)
        else:
            storage.delete_version(self._s3, source.ref, if_match=source.etag)


class _Job(NamedTuple):
    """One object being staged: what every attempt at writing it needs."""

    source: Source
    older: Future[list[str]] | None
    root: RootKey
    target: ObjectRef
    remaining_seconds: Callable[[], float] | None


class _Attempt(NamedTuple):
    """One encryption of the source, ready to be written."""

    write: storage.Write
    encryptor: Encryptor


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _is_folder_marker(key: str, size: int | None) -> bool:
    return key.endswith("/") and size == 0


def _gzip(chunks: Iterable[bytes]) -> Iterator[bytes]:
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # 31: gzip container
    for chunk in chunks:
        out = compressor.compress(chunk)
        if out:
            yield out
    yield compressor.flush()


def _until_deadline(
    parts: Iterator[bytes], remaining_seconds: Callable[[], float], ref: ObjectRef
) -> Iterator[bytes]:
    for part in parts:
        if remaining_seconds() < SAFETY_SECONDS:
            raise DeadlineError(
                f"{ref}: stopped with {remaining_seconds():.1f} s left in the invocation; "
                "the upload was aborted and the plaintext kept"
            )
        yield part
