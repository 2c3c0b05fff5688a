"""Where encrypt, decrypt and inspect read from: a local file, stdin or an S3 object, and the
envelope metadata that goes with it (the object's metadata, a sidecar, an instruction file)."""

from __future__ import annotations

import json
import mimetypes
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .. import storage
from ..envelope import (
    INSTRUCTION_SUFFIX,
    EnvelopeMetadata,
    needs_instruction_file,
    parse_instruction_file,
)
from ..errors import MetadataError, S3SealError
from ..objects import ObjectRef, is_s3_url, parse_s3_url
from .aws import Aws

STDIO = "-"
SIDECAR_SUFFIX = ".s3seal.json"
SIDECAR_MAX_BYTES = 64 * 1024
"""Far above any envelope (S3 allows 2 KB of user metadata); a larger file is refused unread."""
_INSTRUCTION_MAX_BYTES = 64 * 1024
"""An instruction file is a few hundred bytes of JSON; anything far larger is not one."""


@dataclass
class Source:
    name: str
    chunks: Iterator[bytes]
    size: int | None
    metadata: dict[str, str] | None
    """Envelope metadata: the object's user metadata, or the sidecar's contents."""
    content_type: str | None = None


def open_source(spec: str, aws: Aws, sidecar: str | None, *, envelope: bool) -> Source:
    """Open SRC. With ``envelope``, also find its envelope metadata (object metadata or sidecar)."""
    if is_s3_url(spec):
        reader = storage.open_object(aws.s3, parse_s3_url(spec))
        metadata = read_sidecar(sidecar) if sidecar else reader.metadata
        return Source(spec, reader.chunks, reader.content_length, metadata, reader.content_type)
    if spec == STDIO:
        meta = read_sidecar(sidecar) if sidecar and envelope else None
        return Source("stdin", _read_chunks(sys.stdin.buffer), None, meta)
    try:
        handle = Path(spec).open("rb")  # noqa: SIM115 (closed by _read_chunks when drained)
        size = os.fstat(handle.fileno()).st_size
    except OSError as exc:
        raise S3SealError(f"cannot read {spec}: {exc.strerror}") from None
    meta = None
    if envelope:
        sidecar_path = sidecar or spec + SIDECAR_SUFFIX
        meta = read_sidecar(sidecar_path) if Path(sidecar_path).exists() else None
    return Source(spec, _read_chunks(handle, close=True), size, meta, mimetypes.guess_type(spec)[0])


def _read_chunks(handle: IO[bytes], close: bool = False) -> Iterator[bytes]:
    try:
        while chunk := handle.read(storage.CHUNK_SIZE):
            yield chunk
    finally:
        if close:
            handle.close()


def parse_envelope(spec: str, aws: Aws, metadata: Mapping[str, str]) -> EnvelopeMetadata:
    """SRC's envelope. A V3 object may keep its wrapped key in ``KEY.instruction``: for S3 that
    object is read; for a local file, ``FILE.instruction`` beside it (its sidecar has the rest)."""
    if not needs_instruction_file(metadata):
        return EnvelopeMetadata.parse(metadata)
    if is_s3_url(spec):
        ref = parse_s3_url(spec)
        instruction_ref = ObjectRef(ref.bucket, ref.key + INSTRUCTION_SUFFIX)
        where = str(instruction_ref)
        reader = storage.open_object(aws.s3, instruction_ref)
        raw = bytearray()
        for chunk in reader.chunks:
            raw += chunk
            if len(raw) > _INSTRUCTION_MAX_BYTES:
                raise MetadataError(f"{where} is too large to be an instruction file")
        text = bytes(raw)
    else:
        where = spec + INSTRUCTION_SUFFIX
        if spec == STDIO or not Path(where).exists():
            raise MetadataError(
                f"{spec}: the V3 envelope keeps its wrapped data key in an instruction file; "
                f"expected {where if spec != STDIO else 'FILE' + INSTRUCTION_SUFFIX}"
            )
        text = Path(where).read_bytes()[: _INSTRUCTION_MAX_BYTES + 1]
    return EnvelopeMetadata.parse(metadata, instruction=parse_instruction_file(text, where))


def read_sidecar(path: str) -> dict[str, str]:
    """A sidecar's names and values; MetadataError (exit 4) for anything that is not one."""
    try:
        with Path(path).open("rb") as handle:
            raw = handle.read(SIDECAR_MAX_BYTES + 1)
    except OSError as exc:
        raise MetadataError(f"cannot read metadata file {path}: {exc.strerror}") from None
    if len(raw) > SIDECAR_MAX_BYTES:
        raise MetadataError(
            f"metadata file {path} is over {SIDECAR_MAX_BYTES} bytes: not a sidecar"
        )
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):  # bad UTF-8 or JSON, a 5000-digit number, deep nesting
        raise MetadataError(f"metadata file {path} is not valid JSON") from None
    # Also accept {"metadata": {...}}, the layout of the test vectors' JSON files.
    if isinstance(doc, dict) and isinstance(doc.get("metadata"), dict):
        doc = doc["metadata"]
    if not isinstance(doc, dict) or not all(isinstance(v, str) for v in doc.values()):
        raise MetadataError(f"metadata file {path} must be a JSON object of strings")
    return doc
