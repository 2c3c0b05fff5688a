"""``s3seal rewrap``: move staged objects' data keys to the current root-key version.

Only the envelope changes; the ciphertext is never read or rewritten. Per object:

1. HEAD it (and its ``KEY.instruction`` for a V3 instruction-file object): the envelope, the ETag,
   and the root-key version the materials description names.
2. Skip it when that version is already the current one (so a re-run after an interruption only
   does what is left), names no version, or is not ``--from-version``.
3. Unwrap the data key with the old version, wrap it under the current one (``envelope.rewrap``:
   the V3 commitment is checked, and the new envelope is unwrapped again before anything is
   written).
4. Write it conditionally: V1/V2/V3 metadata by CopyObject onto itself with
   ``MetadataDirective=REPLACE`` and ``CopySourceIfMatch`` + ``IfMatch`` on the ETag read in 1
   (all other user metadata, content type and headers kept), or the instruction file by a PUT
   with ``IfMatch`` on its ETag. An object the encrypting function restaged meanwhile fails the
   condition and is left alone (it is under the current key anyway).
5. HEAD the result and check its envelope opens with the current key and kept its ETag.

Objects uploaded in parts (an ETag ending ``-N``) are skipped: a single copy would change their
ETag, and the loader, which knows objects it already loaded by (key, ETag), would load them again.
They stay on their version, which keeps its retention label (``keys retire`` refuses it).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from .. import storage
from ..envelope import (
    CiphertextError,
    Decryptor,
    EnvelopeMetadata,
    Format,
    MetadataError,
    data_key_of,
    rewrap,
)
from ..envelope.metadata import ENVELOPE_NAMES, MATDESC_V3, V3_OBJECT_NAMES
from ..errors import ConditionFailedError, S3SealError, VerificationError
from ..names import SECRET_ARN_FIELD
from ..objects import ObjectRef
from .key_versions import Sealed, read_sealed, scan
from .keys import RootKey

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = Logger(service="s3seal-rewrap")

MAX_COPY_SIZE = 5 * 1024**3
"""CopyObject's single-request limit; a larger object would need a multipart copy."""
_KEPT_HEADERS = (
    "ContentType",
    "ContentEncoding",
    "ContentDisposition",
    "ContentLanguage",
    "CacheControl",
    "Expires",
    "ServerSideEncryption",
    "SSEKMSKeyId",
    "BucketKeyEnabled",
    "StorageClass",
)
"""What a REPLACE copy would otherwise reset: set again from the HEAD."""


class Outcome(StrEnum):
    REWRAPPED = "rewrapped"
    WOULD_REWRAP = "would-rewrap"
    CURRENT = "already-current"
    OTHER_VERSION = "other-version"
    UNVERSIONED = "unversioned"
    CHANGED = "changed-concurrently"
    MULTIPART = "skipped-multipart-etag"
    FAILED = "failed"


@dataclass
class RewrapSummary:
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        self.counts[outcome.value] = self.counts.get(outcome.value, 0) + 1

    def to_json(self) -> dict[str, Any]:
        return {"counts": dict(sorted(self.counts.items())), "failures": self.failures}


def rewrap_bucket(
    s3: S3Client,
    bucket: str,
    current: RootKey,
    old_key: Callable[[str], RootKey],
    *,
    prefix: str = "",
    from_version: str | None = None,
    dryrun: bool = False,
    verify_body: bool = False,
) -> RewrapSummary:
    """Re-wrap every staged object under ``prefix`` that an older version wraps.

    ``current`` must come from Secrets Manager (it names its version); ``old_key(version_id)``
    returns that version's root key. Failures of single objects are counted and named in the
    summary; the run goes on with the next object.
    """
    if current.secret_version is None:
        raise S3SealError("rewrap needs the current root key from Secrets Manager (--key-secret)")
    summary = RewrapSummary()
    for sealed in scan(s3, bucket, prefix):
        try:
            outcome = rewrap_object(
                s3, sealed, current, old_key, from_version, dryrun=dryrun, verify_body=verify_body
            )
        except ConditionFailedError:
            outcome = Outcome.CHANGED
            logger.warning(
                "object changed while being rewrapped; left alone", object=str(sealed.ref)
            )
        except S3SealError as exc:
            outcome = Outcome.FAILED
            summary.failures.append(f"{sealed.ref.url}: {exc}")
        summary.add(outcome)
    return summary


def rewrap_object(
    s3: S3Client,
    sealed: Sealed,
    current: RootKey,
    old_key: Callable[[str], RootKey],
    from_version: str | None = None,
    *,
    dryrun: bool = False,
    verify_body: bool = False,
) -> Outcome:
    """Re-wrap one object (see the module docstring); returns what was done.

    ``verify_body``: before writing, also decrypt the whole body (the version read, ETag pinned)
    with the new envelope: V2/V3 tags verified, V1 padding checked. One GET of the object.
    """
    version = sealed.key_version
    if version is None:
        return Outcome.UNVERSIONED
    if version == current.secret_version:
        return Outcome.CURRENT
    if from_version is not None and version != from_version:
        return Outcome.OTHER_VERSION
    if "-" in sealed.etag:
        # A copy would give it a plain MD5 ETag, and the loader recognises objects it has loaded
        # by (key, ETag): it would load this one again. Left on its version (which stays labelled).
        logger.warning("multipart ETag; not rewrapped", object=sealed.ref.url)
        return Outcome.MULTIPART
    description = sealed.envelope.description | current.description()
    new = rewrap(
        sealed.envelope, old_key(version).material, current.material, description=description
    )
    if verify_body:
        _decrypts(s3, sealed, new, current.material)
    if dryrun:
        return Outcome.WOULD_REWRAP
    if sealed.instruction_etag is not None:
        _write_instruction(s3, sealed, new)
    else:
        _copy_with_metadata(s3, sealed, new)
    _verify(s3, sealed, current)
    logger.info(
        "rewrapped", object=sealed.ref.url, from_version=version, to_version=current.secret_version
    )
    return Outcome.REWRAPPED


def _copy_with_metadata(s3: S3Client, sealed: Sealed, new: EnvelopeMetadata) -> None:
    ref, head = sealed.ref, sealed.head
    if int(head["ContentLength"]) > MAX_COPY_SIZE:
        raise S3SealError(
            f"{ref.url} is larger than CopyObject's 5 GiB limit; s3seal rewrap does not yet do "
            "a multipart copy"
        )
    kept = {k: v for k, v in head.get("Metadata", {}).items() if k.lower() not in ENVELOPE_NAMES}
    extra = {name: head[name] for name in _KEPT_HEADERS if head.get(name) is not None}
    try:
        s3.copy_object(
            Bucket=ref.bucket,
            Key=ref.key,
            CopySource={"Bucket": ref.bucket, "Key": ref.key},
            CopySourceIfMatch=sealed.etag,
            IfMatch=sealed.etag,
            MetadataDirective="REPLACE",
            Metadata=kept | new.to_metadata(),
            **extra,
        )
    except (ClientError, BotoCoreError) as exc:
        raise storage.translate(exc, "cannot rewrite the envelope of", ref) from None


def _write_instruction(s3: S3Client, sealed: Sealed, new: EnvelopeMetadata) -> None:
    target = sealed.instruction_ref
    if sealed.envelope.format is not Format.V3 or MATDESC_V3 in sealed.head.get("Metadata", {}):
        # The materials description would have to change in the object's metadata too.
        raise S3SealError(
            f"{sealed.ref.url} keeps {MATDESC_V3} in its own metadata and its key in an "
            "instruction file; s3seal rewrap does not rewrite that split layout"
        )
    document = {k: v for k, v in new.to_metadata().items() if k not in V3_OBJECT_NAMES}
    try:
        s3.put_object(
            Bucket=target.bucket,
            Key=target.key,
            Body=json.dumps(document).encode(),
            ContentType="application/json",
            IfMatch=str(sealed.instruction_etag),
        )
    except (ClientError, BotoCoreError) as exc:
        raise storage.translate(exc, "cannot rewrite the instruction file", target) from None


def _decrypts(s3: S3Client, sealed: Sealed, new: EnvelopeMetadata, root: bytes) -> None:
    """The body decrypts to the end under ``new`` (the plaintext is discarded as it comes)."""
    reader = storage.open_object(s3, sealed.ref, if_match=sealed.etag)
    try:
        decryptor = Decryptor(root, new, allow_legacy=True)
        for chunk in reader.chunks:
            decryptor.update(chunk)
        decryptor.finalize()
    except (CiphertextError, MetadataError) as exc:
        raise VerificationError(
            f"{sealed.ref.url}: the body does not decrypt with its data key ({exc}); not rewrapped"
        ) from None


def _verify(s3: S3Client, sealed: Sealed, current: RootKey) -> None:
    """The object as it is now must open with the current key and name its version."""
    after = read_sealed(s3, ObjectRef(sealed.ref.bucket, sealed.ref.key))
    if after is None or after.key_version != current.secret_version:
        raise VerificationError(
            f"{sealed.ref.url}: after the rewrite its envelope does not name version "
            f"{current.secret_version}"
        )
    try:
        data_key_of(after.envelope, current.material)
    except S3SealError:
        raise VerificationError(
            f"{sealed.ref.url}: after the rewrite its data key does not unwrap with the current key"
        ) from None
    if after.etag != sealed.etag:
        raise VerificationError(
            f"{sealed.ref.url}: the rewrite changed its ETag; the loader may load it again"
        )
    if after.envelope.description.get(SECRET_ARN_FIELD) != current.secret_arn:
        raise VerificationError(f"{sealed.ref.url}: after the rewrite it names another secret")
