"""S3 reads and writes, streamed; the boundary where S3 errors become s3seal errors.

Memory: a read holds one chunk (``CHUNK_SIZE``); a write holds at most two parts
(``2 x part_size``): the part being sent and the next one, read ahead to decide between a single
PUT and a multipart upload.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from .errors import ObjectNotFoundError, StorageError, aws_error_code, aws_reason
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
    if aws_error_code(exc) in _NOT_FOUND:
        return ObjectNotFoundError(f"{action} {target}: not found ({reason})")
    return StorageError(f"{action} {target}: {reason}")


def open_object(client: S3Client, ref: ObjectRef, chunk_size: int = CHUNK_SIZE) -> ObjectReader:
    """GET an object (the exact version when ``ref.version_id`` is set), body streamed."""
    kwargs: dict[str, Any] = {"Bucket": ref.bucket, "Key": ref.key}
    if ref.version_id:
        kwargs["VersionId"] = ref.version_id
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


def upload(
    client: S3Client,
    bucket: str,
    key: str,
    parts: Iterable[bytes],
    metadata: Callable[[], Mapping[str, str]],
    *,
    content_type: str | None = None,
) -> str | None:
    """Write ``parts`` as one object; returns its version id (None if unversioned).

    One part: a single PUT. More: a multipart upload, aborted if anything fails, including the
    ``parts`` iterator itself raising (so a decryption that fails at its last byte never becomes
    an object). ``metadata`` is called when the object's metadata must be sent: after the whole
    stream for a single PUT, before the first part for a multipart upload.
    """
    target = f"s3://{bucket}/{key}"
    extra: dict[str, Any] = {}
    if content_type:
        extra["ContentType"] = content_type
    stream = iter(parts)
    first = next(stream, b"")
    second = next(stream, None)
    if second is None:
        try:
            response = client.put_object(
                Bucket=bucket, Key=key, Body=first, Metadata=dict(metadata()), **extra
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, "cannot write", target) from None
        return response.get("VersionId")
    try:
        created = client.create_multipart_upload(
            Bucket=bucket, Key=key, Metadata=dict(metadata()), **extra
        )
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, "cannot start multipart upload to", target) from None
    upload_id = created["UploadId"]
    try:
        done: list[CompletedPartTypeDef] = []
        pending: Iterator[bytes] = _chain(first, second, stream)
        for number, body in enumerate(pending, start=1):
            sent = client.upload_part(
                Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
            )
            done.append({"PartNumber": number, "ETag": sent["ETag"]})
        completed = client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": done}
        )
    except BaseException as exc:
        _abort(client, bucket, key, upload_id)
        if isinstance(exc, ClientError | BotoCoreError):
            raise translate(exc, "multipart upload failed for", target) from None
        raise
    return completed.get("VersionId")


def _chain(first: bytes, second: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield second
    yield from rest


def _abort(client: S3Client, bucket: str, key: str, upload_id: str) -> None:
    # The original failure is what the caller must see; a lifecycle rule on the bucket cleans up
    # an upload whose abort also failed.
    with suppress(ClientError, BotoCoreError):
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
