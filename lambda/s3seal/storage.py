"""S3 reads and writes, streamed; the boundary where S3 errors become s3seal errors.

Memory: a read holds one chunk (``CHUNK_SIZE``). A write holds the parts being uploaded
(``parts_in_flight``) plus the one being assembled and the next read ahead, so at most
``part_size x (parts_in_flight + 2)`` bytes of object data: enforced by waiting for the oldest
part before a new one is submitted, never by hoping the network keeps up.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

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


@dataclass
class ObjectReader:
    """An open GET: what S3 said about the object, and its body as an iterator of chunks."""

    ref: ObjectRef
    """The object, with ``version_id`` as S3 reported it (None for an unversioned bucket)."""
    content_length: int
    metadata: dict[str, str]
    content_type: str | None
    etag: str
    chunks: Iterator[bytes]


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

    def chunks() -> Iterator[bytes]:
        try:
            yield from body.iter_chunks(chunk_size)
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, "reading failed for", ref) from None
        finally:
            body.close()

    return ObjectReader(
        ref=ObjectRef(ref.bucket, ref.key, response.get("VersionId")),
        content_length=response["ContentLength"],
        metadata=dict(response.get("Metadata", {})),
        content_type=response.get("ContentType"),
        etag=response["ETag"],
        chunks=chunks(),
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


@dataclass(frozen=True)
class Condition:
    """A conditional write: create only (``If-None-Match: *``) or replace only ``if_match``."""

    if_match: str | None = None

    @property
    def arguments(self) -> dict[str, str]:
        if self.if_match is None:
            return {"IfNoneMatch": "*"}
        return {"IfMatch": _quoted(self.if_match)}


CREATE_ONLY = Condition()


@dataclass(frozen=True)
class UploadResult:
    version_id: str | None
    etag: str
    size: int
    parts: int
    """0 for a single PUT."""
    server_side_encryption: str | None = None
    """What S3 says it encrypted the object with (``AES256``, ``aws:kms``)."""


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
) -> UploadResult:
    """Write ``parts`` as one object.

    One part: a single PUT. More: a multipart upload with at most ``parts_in_flight`` parts being
    sent at once, aborted if anything fails, including the ``parts`` iterator itself raising (so a
    decryption that fails at its last byte never becomes an object). ``metadata`` is called when
    the metadata must be sent: after the whole stream for a single PUT, before the first part for
    a multipart upload. ``condition`` applies to the PUT or to the completion; when it does not
    hold, ConditionFailedError is raised and nothing is written. ``extra_arguments`` go to the
    PUT or to the upload's creation (``ServerSideEncryption``, ``SSEKMSKeyId``, ...).
    """
    target = f"s3://{bucket}/{key}"
    extra: dict[str, Any] = dict(condition.arguments) if condition else {}
    create_extra: dict[str, Any] = dict(extra_arguments or {})
    if content_type:
        create_extra["ContentType"] = content_type
    stream = iter(parts)
    first = next(stream, b"")
    second = next(stream, None)
    if second is None:
        try:
            response = client.put_object(
                Bucket=bucket,
                Key=key,
                Body=first,
                Metadata=dict(metadata()),
                **extra,
                **create_extra,
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, "cannot write", target) from None
        return UploadResult(
            response.get("VersionId"),
            response["ETag"],
            len(first),
            0,
            response.get("ServerSideEncryption"),
        )
    try:
        created = client.create_multipart_upload(
            Bucket=bucket, Key=key, Metadata=dict(metadata()), **create_extra
        )
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, "cannot start multipart upload to", target) from None
    upload_id = created["UploadId"]
    # The two parts read ahead are handed over in a list that gives them up as they are sent:
    # names held here for the whole upload would keep two parts (32 MiB by default) alive beyond
    # the memory bound.
    head = [first, second]
    del first, second
    # Registered before the first part is sent: from here on every failure aborts the upload.
    try:
        done, size = _send_parts(
            client,
            bucket,
            key,
            upload_id,
            parts=_chain(head, stream),
            parts_in_flight=parts_in_flight,
        )
        completed = client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": done}, **extra
        )
    except BaseException as exc:
        _abort(client, bucket, key, upload_id)
        if isinstance(exc, ClientError | BotoCoreError):
            raise translate(exc, "multipart upload failed for", target) from None
        raise
    return UploadResult(
        completed.get("VersionId"),
        completed["ETag"],
        size,
        len(done),
        completed.get("ServerSideEncryption") or created.get("ServerSideEncryption"),
    )


def _send_parts(
    client: S3Client,
    bucket: str,
    key: str,
    upload_id: str,
    *,
    parts: Iterator[bytes],
    parts_in_flight: int,
) -> tuple[list[CompletedPartTypeDef], int]:
    done: list[CompletedPartTypeDef] = []
    size = 0
    in_flight: deque[tuple[int, Future[Any]]] = deque()

    def collect_oldest() -> None:
        number, future = in_flight.popleft()
        done.append({"PartNumber": number, "ETag": future.result()["ETag"]})

    with ThreadPoolExecutor(max_workers=parts_in_flight, thread_name_prefix="s3seal-part") as pool:
        try:
            for number, body in enumerate(parts, start=1):
                if len(in_flight) >= parts_in_flight:
                    collect_oldest()
                size += len(body)
                future = pool.submit(
                    client.upload_part,
                    Bucket=bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=body,
                )
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
