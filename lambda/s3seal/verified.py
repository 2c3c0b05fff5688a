"""Authenticate first, then write: no plaintext of an authenticated object leaves the process
before its GCM tag has verified.

A GCM decryptor releases plaintext as it goes; only its last step says whether any of it is
genuine. Streaming that plaintext into a multipart upload sends unverified parts to S3, and the
abort that follows a bad tag is best effort. So, per sink:

- ``spooled`` (the CLI, writing to S3): the whole plaintext goes to an anonymous temporary file
  (``tempfile.TemporaryFile``: mode 0600, unlinked at creation, so it vanishes with the process
  even on SIGKILL) and is read back only after the tag verified. One GET, one decryption; costs
  local disk of the object's size and one extra local write and read.
- ``two_pass`` (the loader, in Lambda, whose ``/tmp`` may be smaller than an object): pass 1
  decrypts the body and discards it, to check the tag; pass 2 GETs the same version (unversioned:
  the same ETag, ``If-Match``) and yields its plaintext, the tag checked again at its end. Pass 1
  also keeps a SHA-256 of each ciphertext segment, and pass 2 hands a segment to the decryptor
  only once it matched: the plaintext released is that of bytes already authenticated, whatever
  a second GET returns (an ETag is an MD5, not a proof). Memory stays flat (one more segment in
  pass 2); costs a second GET and a second decryption.

V1 (AES-CBC) has no tag: nothing can authenticate it, so its plaintext is streamed as before.
"""

from __future__ import annotations

import hashlib
import hmac
import tempfile
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from . import storage
from .envelope import Decryptor, decrypt_chunks, iter_parts
from .errors import ObjectChangedError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def spooled(plaintext: Iterable[bytes], chunk_size: int = storage.CHUNK_SIZE) -> Iterator[bytes]:
    """``plaintext`` again, but its first byte only once all of it was produced (the tag checked).

    A generator: the spooling happens at the first ``next()``, so a consumer that starts an upload
    on its first part has nothing to upload if the decryption fails.
    """
    with tempfile.TemporaryFile(prefix="s3seal-") as spool:
        for chunk in plaintext:
            spool.write(chunk)
        spool.seek(0)
        while chunk := spool.read(chunk_size):
            yield chunk


def two_pass(
    client: S3Client, reader: storage.ObjectReader, decryptor: Callable[[], Decryptor]
) -> Iterator[bytes]:
    """The plaintext of ``reader``'s object, once its whole body has been authenticated.

    Pass 1 runs now (this function is eager): ``reader``'s body is decrypted and thrown away; a
    bad tag raises here, before the caller has written anything. Pass 2 is a new GET pinned to
    the version ``reader`` read (or to its ETag when the bucket is unversioned), decrypted again
    as it is consumed: the same bytes, so the same plaintext, and its tag is checked once more.
    """
    size = _segment_size(reader.content_length)
    first = decryptor()
    digests = []
    for segment in iter_parts(reader.chunks, size):
        digests.append(hashlib.sha256(segment).digest())
        first.update(segment)
    first.finalize()
    ref = reader.ref
    again = storage.open_object(client, ref, if_match=None if ref.version_id else reader.etag)
    return decrypt_chunks(decryptor(), _as_verified(again.chunks, size, digests, ref))


SEGMENT_SIZE = 8 * storage.MiB
MAX_SEGMENTS = 4096
"""Segments grow past ``SEGMENT_SIZE`` for objects over 32 GiB, keeping the digests small."""


def _segment_size(content_length: int) -> int:
    needed = -(-content_length // MAX_SEGMENTS)
    return max(SEGMENT_SIZE, -(-needed // storage.MiB) * storage.MiB)


def _as_verified(
    chunks: Iterable[bytes], size: int, digests: list[bytes], ref: object
) -> Iterator[bytes]:
    """``chunks`` in segments, each released only if it is the segment pass 1 authenticated."""
    count = 0
    for segment in iter_parts(chunks, size):
        digest = hashlib.sha256(segment).digest()
        if count >= len(digests) or not hmac.compare_digest(digest, digests[count]):
            raise ObjectChangedError(
                f"{ref} read back differently in the second pass; nothing was written from it"
            )
        count += 1
        yield segment
    if count != len(digests):
        raise ObjectChangedError(f"{ref} read back shorter in the second pass")
