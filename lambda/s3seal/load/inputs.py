"""What a batch's COPY reads, and cleaning it up.

- client-side mode: a manifest of the staged objects themselves in ``_s3seal/manifests/``;
- server-side mode: each staged object decrypted, streamed, into ``_s3seal/load/<batch-id>/<key>``
  under SSE-KMS, with the manifest beside it; every version written there is deleted by its
  exact version id once the batch is over, whatever the outcome.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from .. import copying, storage, verified
from ..envelope import (
    Decryptor,
    EnvelopeMetadata,
    LegacyFormatError,
    MetadataError,
    decrypt_chunks,
    iter_parts,
)
from ..errors import ObjectChangedError, StorageError
from ..names import RESERVED_PREFIX, SECRET_VERSION_FIELD
from ..objects import ObjectRef
from ..rootkey.keys import RootKey
from ..staged import LOAD_PREFIX
from .batches import BatchRecord
from .logs import logger
from .records import JSON_TYPE
from .settings import LOAD_ALLOW_LEGACY, LoaderSettings, LoadMode

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

LOAD_MANIFEST_NAME = f"{RESERVED_PREFIX}manifest.json"
"""The server-side manifest, at ``_s3seal/load/<batch-id>/_s3seal/manifest.json``: staged keys
never start with ``_s3seal/``, so it cannot collide with a transient copy of one."""
SSE_KMS = "aws:kms"

Written = list[tuple[ObjectRef, str]]
"""Transient object versions written for a batch, with their ETags."""


class CopyInputs:
    """Writes (and removes) what COPY reads for one table's loader."""

    def __init__(self, settings: LoaderSettings, s3: S3Client) -> None:
        self.settings = settings
        self.s3 = s3

    def check_current(self, record: BatchRecord) -> None:
        """COPY ENCRYPTED reads each key's current version: it must be the claimed one."""
        for obj in record.objects:
            if obj.version_id is None:
                continue
            head = storage.head_object(self.s3, ObjectRef(self.settings.staging_bucket, obj.key))
            if head.get("VersionId") != obj.version_id:
                raise ObjectChangedError(
                    f"s3://{self.settings.staging_bucket}/{obj.key} was replaced after the batch "
                    f"claimed version {obj.version_id}; its new version is pending on its own"
                )

    def stage_plaintext(self, record: BatchRecord, key: RootKey, written: Written) -> None:
        bucket = self.settings.staging_bucket
        for obj in record.objects:
            source = ObjectRef(bucket, obj.key, obj.version_id)
            reader = storage.open_object(self.s3, source)
            envelope = EnvelopeMetadata.parse(reader.metadata)
            found = envelope.description.get(SECRET_VERSION_FIELD)
            if found != record.key_version:
                raise MetadataError(
                    f"{source}: its data key is wrapped by secret version {found}, "
                    f"not {record.key_version} as the batch says"
                )
            decryptor = partial(
                Decryptor, key.material, envelope, allow_legacy=self.settings.allow_legacy
            )
            try:
                first = decryptor()
            except LegacyFormatError as exc:
                raise LegacyFormatError(
                    f"{source}: {exc}; the loader reads it only with {LOAD_ALLOW_LEGACY}=true"
                ) from None
            if envelope.content.authenticated:
                # Authenticate first: nothing is PUT until the whole body's tag verified.
                plaintext = verified.two_pass(self.s3, reader, decryptor)
            else:
                # V1 has no tag to check: streamed as it decrypts (docs/format.md).
                plaintext = decrypt_chunks(first, reader.chunks)
            parts = iter_parts(plaintext, self.settings.part_size)
            target = f"{LOAD_PREFIX}{record.batch_id}/{obj.key}"
            written.append(self._put_sse_kms(target, parts))

    def write_manifest(self, record: BatchRecord, key: str, written: Written | None = None) -> str:
        """The COPY manifest at ``key``: of the staged objects, or (server-side) of ``written``."""
        bucket = self.settings.staging_bucket
        if written is None:
            urls = [f"s3://{bucket}/{obj.key}" for obj in record.objects]
            storage.upload(
                self.s3,
                bucket,
                key,
                [copying.manifest_bytes(urls)],
                dict,
                content_type=JSON_TYPE,
            )
        else:
            urls = [ref.url for ref, _ in written]
            written.append(self._put_sse_kms(key, [copying.manifest_bytes(urls)], JSON_TYPE))
        return f"s3://{bucket}/{key}"

    def _put_sse_kms(
        self, key: str, parts: Iterable[bytes], content_type: str | None = None
    ) -> tuple[ObjectRef, str]:
        """Write transient plaintext under SSE-KMS; returns the exact version and its ETag.

        An object S3 does not confirm as SSE-KMS is deleted at once and the load stops.
        """
        bucket = self.settings.staging_bucket
        written = storage.upload(
            self.s3,
            bucket,
            key,
            parts,
            dict,
            content_type=content_type,
            extra_arguments={
                "ServerSideEncryption": SSE_KMS,
                "SSEKMSKeyId": str(self.settings.load_kms_key_id),
            },
        )
        ref = ObjectRef(bucket, key, written.version_id)
        if written.server_side_encryption != SSE_KMS:
            storage.delete_version(self.s3, ref, if_match=written.etag)
            raise StorageError(f"s3://{bucket}/{key} was not written under SSE-KMS; deleted")
        return ref, written.etag

    # --- transient plaintext ------------------------------------------------------------------

    def clean(self, batch_id: str, written: Written) -> None:
        """Delete every version under ``_s3seal/load/<batch-id>/``: the ones written (by exact
        version id), then whatever a listing still shows (a lost PUT response, a crash)."""
        if self.settings.mode is not LoadMode.SERVER_SIDE and not written:
            return
        for ref, etag in written:
            storage.delete_version(self.s3, ref, if_match=etag)
        leftovers = self._load_versions(f"{LOAD_PREFIX}{batch_id}/")
        for ref in leftovers:
            storage.delete_version(self.s3, ref)
        if written or leftovers:
            count = len(written) + len(leftovers)
            logger.info("transient plaintext deleted", batch_id=batch_id, versions=count)

    def clean_quietly(self, batch_id: str, written: Written) -> None:
        """``clean`` while another error is on its way out: that error is the one to raise."""
        try:
            self.clean(batch_id, written)
        except Exception as exc:
            logger.error(
                "transient plaintext NOT deleted; the next run deletes it",
                batch_id=batch_id,
                error=str(exc),
            )

    def sweep_stale(self, records: list[BatchRecord]) -> None:
        """Delete transient plaintext of batches that are over (a crash between COPY and
        cleanup); batches still unresolved are cleaned when resolved."""
        unresolved = {r.batch_id for r in records if r.state.unresolved}
        stale = [
            ref
            for ref in self._load_versions(LOAD_PREFIX)
            if ref.key[len(LOAD_PREFIX) :].split("/", 1)[0] not in unresolved
        ]
        for ref in stale:
            storage.delete_version(self.s3, ref)
        if stale:
            logger.warning("stale transient plaintext deleted", versions=len(stale))

    def _load_versions(self, prefix: str) -> list[ObjectRef]:
        bucket = self.settings.staging_bucket
        out = []
        try:
            for page in self.s3.get_paginator("list_object_versions").paginate(
                Bucket=bucket, Prefix=prefix
            ):
                items = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
                out += [ObjectRef(bucket, i["Key"], i.get("VersionId") or "null") for i in items]
        except (ClientError, BotoCoreError) as exc:
            raise storage.translate(exc, "cannot list", f"s3://{bucket}/{prefix}") from None
        return out
