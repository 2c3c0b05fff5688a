"""S3 reads and writes, streamed; the boundary where S3 errors become s3seal errors.

Memory: a read holds one chunk (``CHUNK_SIZE``). A write holds the parts being uploaded
(``parts_in_flight``) plus the one being assembled and the next read ahead, so at most
``part_size x (parts_in_flight + 2)`` bytes of object data: enforced by waiting for the oldest
part before a new one is submitted, never by hoping the network keeps up.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError

from .checksums import FullObjectCrc32, crc32
from .checksums import encode as encode_crc32
from .errors import (
    ConditionFailedError,
    ObjectNotFoundError,
    S3AccessError,
    StorageError,
    aws_error_code,
    aws_reason,
    is_aws_setup_failure,
)
from .objects import ObjectRef

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

MiB = 1024 * 1024
CHUNK_SIZE = 1 * MiB
"""How much of a body is read per request chunk."""
MIN_PART_SIZE = 5 * MiB
"""S3's minimum size of every part but the last."""
MAX_PART_SIZE = 5 * 1024 * MiB
MAX_PARTS = 10_000
DEFAULT_PART_SIZE = 16 * MiB

_NOT_FOUND = frozenset({"NoSuchKey", "NoSuchVersion", "NoSuchBucket", "404", "NotFound"})
# 412: an If-Match / If-None-Match did not hold; 409: S3 refused one of two racing conditional
# writes. Either way the caller must look again before deciding.
_CONDITION_FAILED = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict"})


class ObjectReader(NamedTuple):
    """An open GET: what S3 said about the object, and its body as an iterator of chunks."""

    ref: ObjectRef
    """The object, with ``version_id`` as S3 reported it (None for an unversioned bucket)."""
    content_length: int
    metadata: dict[str, str]
    content_type: str | None
    etag: str
    chunks: Iterator[bytes]
    last_modified: datetime | None = None
    close: Callable[[], None] = lambda: None
    """Give the connection back, whether or not the body was read (safe to call again)."""


def choose_part_size(object_size: int | None, requested: int) -> int:
    """The part size to use: ``requested``, raised if needed so the object fits in 10,000 parts.

    The result is a whole number of MiB, hence a multiple of the AES block size.
    """
    size = max(requested, MIN_PART_SIZE)
    if object_size is not None:
        while object_size > size * MAX_PARTS:
            size *= 2
    size = -(-size // MiB) * MiB
    if size > MAX_PART_SIZE:
        raise StorageError(f"an object of {object_size} bytes does not fit in {MAX_PARTS} parts")
    return size


def translate(exc: ClientError | BotoCoreError, action: str, target: object) -> StorageError:
    """An S3 failure as the s3seal error that says what it means."""
    reason = aws_reason(exc)
    code = aws_error_code(exc)
    if code in _NOT_FOUND:
        return ObjectNotFoundError(f"{action} {target}: not found ({reason})")
    if code in _CONDITION_FAILED:
        return ConditionFailedError(f"{action} {target}: condition failed ({reason})")
    if is_aws_setup_failure(exc):
        return S3AccessError(f"{action} {target}: {reason}")
    return StorageError(f"{action} {target}: {reason}")


def open_object(
    client: S3Client,
    ref: ObjectRef,
    chunk_size: int = CHUNK_SIZE,
    *,
    if_match: str | None = None,
) -> ObjectReader:
    """GET an object (the exact version when ``ref.version_id`` is set), body streamed.

    ``if_match``: an ETag the object must still have (for unversioned buckets, where a key can
    change under us).
    """
    kwargs: dict[str, Any] = {"Bucket": ref.bucket, "Key": ref.key}
    if ref.version_id:
        kwargs["VersionId"] = ref.version_id
    if if_match:
        kwargs["IfMatch"] = _quoted(if_match)
    try:
        response = client.get_object(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, "cannot read", ref) from None
    body = response["Body"]

    def chunks() -> Generator[bytes, None, None]:
        try:
            yield from body.iter_chunks(chunk_size)
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, "reading failed for", ref) from None
        finally:
            body.close()

    stream = chunks()

    def close() -> None:
        stream.close()  # runs the generator's finally, if it started
        body.close()

    return ObjectReader(
        ref=ObjectRef(ref.bucket, ref.key, response.get("VersionId")),
        content_length=response["ContentLength"],
        metadata=dict(response.get("Metadata", {})),
        content_type=response.get("ContentType"),
        etag=response["ETag"],
        chunks=stream,
        last_modified=response.get("LastModified"),
        close=close,
    )


def head_object(client: S3Client, ref: ObjectRef) -> dict[str, Any]:
    """HEAD an object; returns boto3's response."""
    kwargs: dict[str, Any] = {"Bucket": ref.bucket, "Key": ref.key}
    if ref.version_id:
        kwargs["VersionId"] = ref.version_id
    try:
        return dict(client.head_object(**kwargs))
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, "cannot inspect", ref) from None


class Condition(NamedTuple):
    """A conditional write: create only (``If-None-Match: *``) or replace only ``if_match``."""

    if_match: str | None = None

    @property
    def arguments(self) -> dict[str, str]:
        if self.if_match is None:
            return {"IfNoneMatch": "*"}
        return {"IfMatch": _quoted(self.if_match)}


CREATE_ONLY = Condition()


class UploadResult(NamedTuple):
    version_id: str | None
    etag: str
    size: int
    parts: int
    """0 for a single PUT."""
    server_side_encryption: str | None = None
    """What S3 says it encrypted the object with (``AES256``, ``aws:kms``)."""
    crc32: str | None = None
    """With ``checksum``: the CRC32 of the bytes sent (full object), as S3 encodes it."""
    stored_crc32: str | None = None
    """With ``checksum``: the CRC32 S3 returned for what it stored, if it returned one."""


def upload(
    client: S3Client,
    bucket: str,
    key: str,
    parts: Iterable[bytes],
    metadata: Callable[[], Mapping[str, str]],
    *,
    content_type: str | None = None,
    condition: Condition | None = None,
    parts_in_flight: int = 1,
    extra_arguments: Mapping[str, str] | None = None,
    checksum: bool = False,
) -> UploadResult:
    """Write ``parts`` as one object.

    One part: a single PUT. More: a multipart upload with at most ``parts_in_flight`` parts being
    sent at once, aborted if anything fails, including the ``parts`` iterator itself raising (so a
    decryption that fails at its last byte never becomes an object). ``metadata`` is called when
    the metadata must be sent: after the whole stream for a single PUT, before the first part for
    a multipart upload. ``condition`` applies to the PUT or to the completion; when it does not
    hold, ConditionFailedError is raised and nothing is written. ``extra_arguments`` go to the
    PUT or to the upload's creation (``ServerSideEncryption``, ``SSEKMSKeyId``, ...).
    ``checksum``: see ``Write``.
    """
    write = Write(
        client,
        bucket,
        key,
        parts,
        metadata,
        content_type=content_type,
        parts_in_flight=parts_in_flight,
        extra_arguments=extra_arguments,
        checksum=checksum,
    )
    return write.send(condition)


class Write:
    """Parts to be written as one object: the first two are read at once, to choose between a
    single PUT and a multipart upload (see ``upload``).

    A single part stays in memory until the Write is dropped, so it can be sent again with
    another condition after S3 refused one: a caller that lost a conditional write looks at what
    is there and replaces it without reading or encrypting anything again. A multipart write is
    streamed, so it can be sent once.

    ``checksum``: every PUT and part carries its CRC32 (S3 refuses a body that does not match
    it), a multipart upload is created with a full-object CRC32 that the completion also
    carries, and the result holds both the CRC32 of what was sent and the one S3 returned.
    """

    def __init__(
        self,
        client: S3Client,
        bucket: str,
        key: str,
        parts: Iterable[bytes],
        metadata: Callable[[], Mapping[str, str]],
        *,
        content_type: str | None = None,
        parts_in_flight: int = 1,
        extra_arguments: Mapping[str, str] | None = None,
        checksum: bool = False,
    ) -> None:
        self._client = client
        self._bucket = bucket
        self._key = key
        self._metadata_of = metadata
        self._sent_metadata: dict[str, str] | None = None
        self._parts_in_flight = parts_in_flight
        self._checksum = checksum
        self._create_extra: dict[str, Any] = dict(extra_arguments or {})
        if content_type:
            self._create_extra["ContentType"] = content_type
        stream = iter(parts)
        first = next(stream, b"")
        second = next(stream, None)
        # The two parts read ahead are handed over in a list that gives them up as they are
        # sent: names held here for the whole upload would keep two parts (32 MiB by default)
        # alive beyond the memory bound.
        self._body: bytes | None = first if second is None else None
        self._head: list[bytes] = [] if second is None else [first, second]
        self._rest: Iterator[bytes] | None = None if second is None else stream
        del first, second

    @property
    def multipart(self) -> bool:
        return self._body is None

    @property
    def target(self) -> str:
        return f"s3://{self._bucket}/{self._key}"

    @property
    def metadata(self) -> dict[str, str]:
        """The user metadata sent (asked of the caller once, when first needed)."""
        if self._sent_metadata is None:
            self._sent_metadata = dict(self._metadata_of())
        return self._sent_metadata

    def send(self, condition: Condition | None = None) -> UploadResult:
        """Write the object; ConditionFailedError if ``condition`` does not hold (for a single
        part, the Write can then be sent again)."""
        extra: dict[str, Any] = dict(condition.arguments) if condition else {}
        if self._body is not None:
            return self._put(self._body, extra)
        if self._rest is None:
            raise StorageError(f"{self.target}: a multipart write can be sent only once")
        stream, self._rest = self._rest, None
        return self._multipart(_chain(self._head, stream), extra)

    def _put(self, body: bytes, extra: dict[str, Any]) -> UploadResult:
        crc = encode_crc32(crc32(body)) if self._checksum else None
        if crc is not None:
            extra = extra | {"ChecksumAlgorithm": "CRC32", "ChecksumCRC32": crc}
        try:
            response = self._client.put_object(
                Bucket=self._bucket,
                Key=self._key,
                Body=body,
                Metadata=self.metadata,
                **extra,
                **self._create_extra,
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, "cannot write", self.target) from None
        return UploadResult(
            response.get("VersionId"),
            response["ETag"],
            len(body),
            0,
            response.get("ServerSideEncryption"),
            crc,
            response.get("ChecksumCRC32") if crc is not None else None,
        )

    def _multipart(self, parts: Iterator[bytes], extra: dict[str, Any]) -> UploadResult:
        client, bucket, key = self._client, self._bucket, self._key
        checksum: dict[str, Any] = {}
        if self._checksum:
            checksum = {"ChecksumAlgorithm": "CRC32", "ChecksumType": "FULL_OBJECT"}
        try:
            created = client.create_multipart_upload(
                Bucket=bucket, Key=key, Metadata=self.metadata, **checksum, **self._create_extra
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, "cannot start multipart upload to", self.target) from None
        upload_id = created["UploadId"]
        full = FullObjectCrc32() if self._checksum else None
        # Registered before the first part is sent: from here on every failure aborts the upload.
        try:
            done, size = _send_parts(
                client,
                bucket,
                key,
                upload_id,
                parts=parts,
                parts_in_flight=self._parts_in_flight,
                full=full,
            )
            if full is not None:
                extra = extra | {
                    "ChecksumCRC32": full.encoded,
                    "ChecksumType": "FULL_OBJECT",
                    "MpuObjectSize": size,
                }
            completed = client.complete_multipart_upload(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": done},
                **extra,
            )
        except BaseException as exc:
            _abort(client, bucket, key, upload_id)
            if isinstance(exc, ClientError | BotoCoreError):
                raise translate(exc, "multipart upload failed for", self.target) from None
            raise
        return UploadResult(
            completed.get("VersionId"),
            completed["ETag"],
            size,
            len(done),
            completed.get("ServerSideEncryption") or created.get("ServerSideEncryption"),
            full.encoded if full is not None else None,
            completed.get("ChecksumCRC32") if full is not None else None,
        )


def _send_parts(
    client: S3Client,
    bucket: str,
    key: str,
    upload_id: str,
    *,
    parts: Iterator[bytes],
    parts_in_flight: int,
    full: FullObjectCrc32 | None = None,
) -> tuple[list[CompletedPartTypeDef], int]:
    """Send ``parts``; with ``full``, each with its CRC32, combined in order into ``full``."""
    done: list[CompletedPartTypeDef] = []
    size = 0
    in_flight: deque[tuple[int, Future[tuple[Any, int, int]]]] = deque()

    def send(number: int, body: bytes) -> tuple[Any, int, int]:
        # In the pool's thread: zlib releases the GIL for the CRC as the socket does for the send.
        extra: dict[str, Any] = {}
        crc = 0
        if full is not None:
            crc = crc32(body)
            extra = {"ChecksumAlgorithm": "CRC32", "ChecksumCRC32": encode_crc32(crc)}
        response = client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body, **extra
        )
        return response, crc, len(body)

    def collect_oldest() -> None:
        number, future = in_flight.popleft()
        response, crc, length = future.result()
        part: CompletedPartTypeDef = {"PartNumber": number, "ETag": response["ETag"]}
        if full is not None:
            part["ChecksumCRC32"] = encode_crc32(crc)
            full.add(crc, length)
        done.append(part)

    with ThreadPoolExecutor(max_workers=parts_in_flight, thread_name_prefix="s3seal-part") as pool:
        try:
            for number, body in enumerate(parts, start=1):
                if len(in_flight) >= parts_in_flight:
                    collect_oldest()
                size += len(body)
                future = pool.submit(send, number, body)
                in_flight.append((number, future))
                del body  # the future holds the only reference until the part is sent
            while in_flight:
                collect_oldest()
        finally:
            for _, pending in in_flight:
                pending.cancel()
    return done, size


def delete_version(client: S3Client, ref: ObjectRef, *, if_match: str | None = None) -> bool:
    """Delete exactly ``ref.version_id`` (or, unversioned, the key while its ETag is ``if_match``).

    Returns False when an ``if_match`` no longer holds: the key has new content, which is not ours
    to delete. Deleting a version that is already gone succeeds, as S3 does.
    """
    kwargs: dict[str, Any] = {"Bucket": ref.bucket, "Key": ref.key}
    if ref.version_id:
        kwargs["VersionId"] = ref.version_id
    elif if_match:
        kwargs["IfMatch"] = _quoted(if_match)
    else:
        raise ValueError("refusing an unconditional delete of an unversioned object")
    try:
        client.delete_object(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        error = translate(exc, "cannot delete", ref)
        if isinstance(error, ConditionFailedError):
            return False
        if isinstance(error, ObjectNotFoundError):
            return True
        raise error from None
    return True


def _quoted(etag: str) -> str:
    return etag if etag.startswith('"') else f'"{etag}"'


def _chain(head: list[bytes], rest: Iterator[bytes]) -> Iterator[bytes]:
    """``head`` then ``rest``, keeping no reference to a part of ``head`` once it is yielded."""
    while head:
        yield head.pop(0)
    yield from rest


def _abort(client: S3Client, bucket: str, key: str, upload_id: str) -> None:
    # The original failure is what the caller must see; a lifecycle rule on the bucket cleans up
    # an upload whose abort also failed.
    with suppress(ClientError, BotoCoreError):
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
