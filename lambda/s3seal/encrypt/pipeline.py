"""One object: stream GET -> encrypt -> PUT or multipart -> verify -> delete the plaintext.

The rules that keep data safe under at-least-once, out-of-order, concurrent delivery:

1. The plaintext is deleted only after its ciphertext is verified in staging, and only the exact
   version that was encrypted (unversioned buckets: only while its ETag is the one read).
2. The staging bucket mirrors the *newest* version of each landing key. Every staged object names
   its source (bucket, key, version, ETag, event sequencer). Before writing, the staged object is
   looked at; the write itself is conditional (``If-None-Match: *`` when there is none,
   ``If-Match`` on the ETag seen when replacing an older one), so a racing writer makes the write
   fail and the decision is taken again, never silently overwritten.
3. Newer is decided by S3's event sequencer. Without one on either side (S3 Batch Operations),
   a version that S3 listed as older than the staged one when that was staged is older; else the
   source objects' LastModified decides; only on a tie (same second) whether the version is the
   key's current one. (Not "current" alone: once a newer version is staged and its plaintext
   deleted, an older one becomes current again.)
4. A version that is older than what is staged is superseded: its plaintext is deleted without
   being staged, as the newer version stands for the key.

Memory: object data held at once is at most ``Settings.memory_bound``.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from .. import storage
from ..config import Compression, Settings
from ..envelope import Encryptor, EnvelopeMetadata, encrypt_chunks, iter_parts
from ..errors import (
    ConditionFailedError,
    DeadlineError,
    MetadataError,
    ObjectNotFoundError,
    SourceChangedError,
    VerificationError,
)
from ..objects import ObjectRef
from ..rootkey.keys import RootKey
from .admission import SAFETY_SECONDS, check_size, refuse, staged_key
from .events import ObjectEvent, sequencer_key
from .origin import (
    OLDER_VERSIONS_KEPT,
    SOURCE_ETAG,
    SOURCE_LAST_MODIFIED,
    SOURCE_OLDER_VERSIONS,
    SOURCE_SEQUENCER,
    SOURCE_VERSION,
    fit,
    source_metadata,
)

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


@dataclass(frozen=True)
class Outcome:
    """What happened to one object."""

    action: Action
    source: ObjectRef
    staged: ObjectRef | None = None
    plaintext_bytes: int = 0
    staged_bytes: int = 0
    detail: str = ""


@dataclass(frozen=True)
class Source:
    """The landing object as it is now."""

    ref: ObjectRef
    etag: str
    size: int
    content_type: str | None
    sequencer: str | None
    last_modified: datetime | None = None


@dataclass(frozen=True)
class Staged:
    """What the staged object says about where it came from."""

    etag: str
    version_id: str | None
    size: int
    metadata: dict[str, str]

    @property
    def source_version(self) -> str | None:
        return self.metadata.get(SOURCE_VERSION) or None

    @property
    def source_etag(self) -> str | None:
        return self.metadata.get(SOURCE_ETAG) or None

    @property
    def sequencer(self) -> str | None:
        return self.metadata.get(SOURCE_SEQUENCER) or None

    @property
    def older_versions(self) -> frozenset[str]:
        return frozenset(self.metadata.get(SOURCE_OLDER_VERSIONS, "").split())

    @property
    def source_last_modified(self) -> datetime | None:
        text = self.metadata.get(SOURCE_LAST_MODIFIED)
        try:
            return datetime.fromisoformat(text) if text else None
        except ValueError:
            return None


class Decision(StrEnum):
    CREATE = "create"
    REPLACE = "replace"
    ALREADY_STAGED = "already-staged"
    SUPERSEDED = "superseded"


def decide(source: Source, staged: Staged | None, is_current: Callable[[], bool]) -> Decision:
    """Whether ``source`` should be written over what is staged for its key (rules 2 to 4)."""
    if staged is None:
        return Decision.CREATE
    version = source.ref.version_id
    same_version = version is not None and staged.source_version == version
    same_content = version is None and staged.source_version is None
    if same_version or (same_content and staged.source_etag == source.etag):
        return Decision.ALREADY_STAGED
    if source.sequencer and staged.sequencer:
        newer = sequencer_key(source.sequencer) > sequencer_key(staged.sequencer)
        return Decision.REPLACE if newer else Decision.SUPERSEDED
    if version is not None and version in staged.older_versions:
        return Decision.SUPERSEDED
    staged_time = staged.source_last_modified
    if source.last_modified and staged_time and source.last_modified != staged_time:
        newer = source.last_modified > staged_time
        return Decision.REPLACE if newer else Decision.SUPERSEDED
    return Decision.REPLACE if is_current() else Decision.SUPERSEDED


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
        # Threads start on first use; one listing per object being staged by this container.
        self._listing = ThreadPoolExecutor(max_workers=2, thread_name_prefix="s3seal-list")

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
        admitted = self._admit(event)
        if isinstance(admitted, Outcome):
            return admitted
        check_size(self.settings, admitted.ref, admitted.size, remaining_seconds)
        # The key is fetched (and validated) before anything is written.
        root = self._root_key()
        return self._stage(event, admitted, root, remaining_seconds)

    def _admit(self, event: ObjectEvent) -> Source | Outcome:
        """The object to stage, or the outcome for an event that needs no staging."""
        ref = event.ref
        if _is_folder_marker(ref.key, event.size):
            return Outcome(Action.SKIPPED, ref, detail="folder marker")
        source = self._current_source(event)
        if source is None:
            return Outcome(Action.GONE, ref, detail="the object version no longer exists")
        if _is_folder_marker(ref.key, source.size):
            return Outcome(Action.SKIPPED, source.ref, detail="folder marker")
        if ref.version_id is None and event.etag and event.etag != source.etag:
            # The event named no version and the key was overwritten since: the new content has
            # its own event, which stages it.
            return Outcome(Action.SUPERSEDED, source.ref, detail="changed since the event")
        return source

    def _stage(
        self,
        event: ObjectEvent,
        source: Source,
        root: RootKey,
        remaining_seconds: Callable[[], float] | None,
    ) -> Outcome:
        staged_ref = ObjectRef(self.settings.staging_bucket, self.staged_key(source.ref.key))
        for _ in range(MAX_DECISION_ROUNDS):
            staged = self._head_staged(staged_ref)
            decision = decide(source, staged, lambda: self._is_current(source))
            if decision is Decision.ALREADY_STAGED and staged is not None:
                self._check_staged(staged_ref, staged, source)
                self._delete_source(source)
                return Outcome(
                    Action.ALREADY_STAGED, source.ref, staged_ref, source.size, staged.size
                )
            if decision is Decision.SUPERSEDED:
                self._delete_source(source)
                return Outcome(
                    Action.SUPERSEDED, source.ref, staged_ref, detail="a newer version is staged"
                )
            condition = storage.Condition(if_match=staged.etag) if staged else storage.CREATE_ONLY
            try:
                written, envelope = self._encrypt_and_upload(
                    source, staged_ref, root, condition, remaining_seconds
                )
            except SourceChangedError:
                # Unversioned landing key overwritten between our HEAD and GET: the new content
                # has its own event, which stages it. Nothing here is ours to write or delete.
                return Outcome(Action.SUPERSEDED, source.ref, detail="changed while being read")
            except ConditionFailedError:
                continue  # another writer got there first: look again
            except ObjectNotFoundError:
                if self._current_source(event) is None:
                    # A concurrent delivery staged it and deleted the source while we read.
                    return Outcome(Action.GONE, source.ref, detail="removed while being read")
                raise
            self._verify(staged_ref, written, envelope, source)
            self._delete_source(source)
            staged_at = ObjectRef(staged_ref.bucket, staged_ref.key, written.version_id)
            return Outcome(Action.STAGED, source.ref, staged_at, source.size, written.size)
        raise ConditionFailedError(
            f"{staged_ref} kept changing while staging {source.ref}; the event will be retried"
        )

    # --- steps ------------------------------------------------------------------------------

    def _current_source(self, event: ObjectEvent) -> Source | None:
        try:
            head = storage.head_object(self._s3, event.ref)
        except ObjectNotFoundError:
            return None
        # The version S3 reports, even when the event named none: in a versioned bucket only a
        # version-exact delete removes the plaintext (a plain delete would add a delete marker).
        version = head.get("VersionId") or None
        return Source(
            ref=ObjectRef(event.ref.bucket, event.ref.key, version),
            etag=str(head["ETag"]).strip('"'),
            size=int(head["ContentLength"]),
            content_type=head.get("ContentType"),
            sequencer=event.sequencer,
            last_modified=_utc(head.get("LastModified")),
        )

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

    def _older_versions(self, source: Source) -> list[str]:
        """Ids of the versions S3 lists after (older than) the source, for ordering without a
        sequencer."""
        ref = source.ref
        try:
            listing = self._s3.list_object_versions(Bucket=ref.bucket, Prefix=ref.key, MaxKeys=100)
        except (ClientError, BotoCoreError) as exc:
            raise storage.translate(exc, "cannot list versions of", ref) from None
        ids = [v["VersionId"] for v in listing.get("Versions", []) if v["Key"] == ref.key]
        if ref.version_id not in ids:
            return []
        start = ids.index(ref.version_id) + 1
        return ids[start : start + OLDER_VERSIONS_KEPT]

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

    def _encrypt_and_upload(
        self,
        source: Source,
        target: ObjectRef,
        root: RootKey,
        condition: storage.Condition,
        remaining_seconds: Callable[[], float] | None,
    ) -> tuple[storage.UploadResult, EnvelopeMetadata]:
        settings = self.settings
        compressed = settings.compression is Compression.GZIP
        encryptor = Encryptor(
            root.material,
            settings.envelope_format,
            description=root.description(),
            plaintext_length=None if compressed else source.size,
        )
        older: Future[list[str]] | None = None
        if source.ref.version_id:
            # Recorded even when this event has a sequencer: a later event for an older version
            # may come without one (a Batch Operations backfill). Listed while the GET starts
            # and the first part is read, off the critical path: the metadata, which needs it,
            # is sent only when the upload is created.
            older = self._listing.submit(self._older_versions, source)
        try:
            reader = storage.open_object(self._s3, source.ref, if_match=source.etag)
        except ConditionFailedError:
            raise SourceChangedError(f"{source.ref} changed after it was looked at") from None
        plaintext: Iterable[bytes] = _gzip(reader.chunks) if compressed else reader.chunks
        parts = iter_parts(encrypt_chunks(encryptor, plaintext), settings.part_size)
        if remaining_seconds is not None:
            parts = _until_deadline(parts, remaining_seconds, source.ref)
        written = storage.upload(
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
            condition=condition,
            parts_in_flight=settings.parts_in_flight,
        )
        return written, encryptor.complete_metadata()

    def _verify(
        self,
        target: ObjectRef,
        written: storage.UploadResult,
        envelope: EnvelopeMetadata,
        source: Source,
    ) -> None:
        """The staged object exists, has the length written and carries our envelope."""
        try:
            head = storage.head_object(
                self._s3, ObjectRef(target.bucket, target.key, written.version_id)
            )
        except ObjectNotFoundError:
            raise VerificationError(f"{target} is missing right after it was written") from None
        metadata = dict(head.get("Metadata", {}))
        try:
            stored = EnvelopeMetadata.parse(metadata)
        except MetadataError as exc:
            raise VerificationError(f"{target} has unreadable envelope metadata: {exc}") from None
        problems = []
        if int(head["ContentLength"]) != written.size:
            problems.append(f"length {head['ContentLength']} != {written.size} written")
        if (stored.wrapped_key, stored.iv) != (envelope.wrapped_key, envelope.iv):
            problems.append("envelope differs from the one written")
        if metadata.get(SOURCE_ETAG) != source.etag:
            problems.append("names another source")
        if problems:
            raise VerificationError(f"{target} failed verification: {'; '.join(problems)}")

    def _check_staged(self, target: ObjectRef, staged: Staged, source: Source) -> None:
        """An object staged earlier (by a redelivery, say) is whole before its source goes."""
        try:
            envelope = EnvelopeMetadata.parse(staged.metadata)
        except MetadataError as exc:
            raise VerificationError(f"{target} has unreadable envelope metadata: {exc}") from None
        if self.settings.compression is Compression.NONE:
            expected = envelope.content.ciphertext_length(source.size)
            if staged.size != expected:
                raise VerificationError(
                    f"{target} is {staged.size} bytes; {source.size} plaintext bytes "
                    f"make {expected}"
                )

    def _delete_source(self, source: Source) -> None:
        if source.ref.version_id:
            storage.delete_version(self._s3, source.ref)
        else:
            storage.delete_version(self._s3, source.ref, if_match=source.etag)


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
