"""Whether a staged object stands for its source: checked before the source's plaintext goes.

A write just made is verified from S3's own answer to it, without a further request. The write
carried the CRC32 of the ciphertext computed while it was streamed; S3 refuses a body that does
not match it, and returns the CRC32 of what it stored; the metadata (envelope and source) went in
the same request, which S3 applies whole or not at all. So an acknowledged write whose returned
CRC32 equals ours holds exactly the bytes and metadata sent, which is more than the HEAD this
replaces could tell (a length and metadata, not the content). Where S3 returns no checksum (an
S3-compatible store, or moto's multipart completion), a HEAD checks length, envelope and source.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from typing import TYPE_CHECKING

from .. import storage
from ..envelope import EnvelopeMetadata
from ..errors import MetadataError, ObjectNotFoundError, StorageError, VerificationError
from ..objects import ObjectRef, version_or_none
from .origin import SOURCE_ETAG

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def _discard(s3: S3Client, target: ObjectRef, written: storage.UploadResult) -> None:
    # A failed delete changes nothing: the VerificationError raised next keeps the plaintext.
    with suppress(StorageError):
        storage.delete_version(
            s3,
            ObjectRef(target.bucket, target.key, written_version(written)),
            if_match=written.etag,
        )


def verify_write(
    s3: S3Client,
    target: ObjectRef,
    written: storage.UploadResult,
    *,
    sent: Mapping[str, str],
    envelope: EnvelopeMetadata,
    source_etag: str,
) -> None:
    """``target``, just written, has the bytes sent, carries ``envelope`` and names the source."""
    check_metadata(target, sent, envelope, source_etag)
    if written.crc32 is not None and written.stored_crc32 is not None:
        if written.stored_crc32 != written.crc32:
            # Removed before raising, so that a redelivery cannot take it for a staged object
            # ("already staged" checks length and envelope only); the retry writes it again.
            _discard(s3, target, written)
            raise VerificationError(
                f"{target} failed verification: S3 stored CRC32 {written.stored_crc32}, "
                f"{written.crc32} was written"
            )
        return
    # No checksum came back: look, at the version written if S3 reported one.
    try:
        head = storage.head_object(
            s3, ObjectRef(target.bucket, target.key, written_version(written))
        )
    except ObjectNotFoundError:
        raise VerificationError(f"{target} is missing right after it was written") from None
    if int(head["ContentLength"]) != written.size:
        raise VerificationError(
            f"{target} failed verification: length {head['ContentLength']} != "
            f"{written.size} written"
        )
    check_metadata(target, dict(head.get("Metadata", {})), envelope, source_etag)


def check_metadata(
    target: ObjectRef, metadata: Mapping[str, str], envelope: EnvelopeMetadata, source_etag: str
) -> None:
    """``metadata`` carries ``envelope`` and names the source whose ETag is ``source_etag``."""
    try:
        stored = EnvelopeMetadata.parse(dict(metadata))
    except MetadataError as exc:
        raise VerificationError(f"{target} has unreadable envelope metadata: {exc}") from None
    problems = []
    if (stored.wrapped_key, stored.iv) != (envelope.wrapped_key, envelope.iv):
        problems.append("envelope differs from the one written")
    if metadata.get(SOURCE_ETAG) != source_etag:
        problems.append("names another source")
    if problems:
        raise VerificationError(f"{target} failed verification: {'; '.join(problems)}")


def check_staged(
    target: ObjectRef,
    metadata: Mapping[str, str],
    size: int,
    source_size: int,
    compressed: bool,
) -> None:
    """An object staged earlier (by a redelivery, say) is whole before its source goes."""
    try:
        envelope = EnvelopeMetadata.parse(dict(metadata))
    except MetadataError as exc:
        raise VerificationError(f"{target} has unreadable envelope metadata: {exc}") from None
    if not compressed:
        expected = envelope.content.ciphertext_length(source_size)
        if size != expected:
            raise VerificationError(
                f"{target} is {size} bytes; {source_size} plaintext bytes make {expected}"
            )


def written_version(written: storage.UploadResult) -> str | None:
    """The version a write created, or None in a bucket that is not versioned.

    S3 reports no version for a bucket never versioned and ``null`` for one whose versioning is
    suspended; ``null`` is not named in a later request (moto refuses it where a bucket was
    never versioned, and there the key's current object is the one just written anyway).
    """
    return version_or_none(written.version_id)
