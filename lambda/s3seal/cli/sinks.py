"""Where encrypt and decrypt write: a local file (and its sidecar), stdout or an S3 object."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import suppress
from pathlib import Path

from .. import storage, verified
from ..envelope import iter_parts
from ..errors import S3SealError
from ..objects import is_s3_url, parse_s3_url
from .aws import Aws
from .sources import SIDECAR_SUFFIX, STDIO

_SPOOL_IN_MEMORY = 8 * storage.MiB


def _write_local(
    path: str, chunks: Iterator[bytes], sidecar: tuple[str, Callable[[], Mapping[str, str]]] | None
) -> None:
    """Write to temporary files beside the targets and rename them into place only on success."""
    target = Path(path)
    written: list[Path] = []
    try:
        body_tmp = _temp_beside(target)
        written.append(body_tmp)
        with body_tmp.open("wb") as out:
            for chunk in chunks:
                out.write(chunk)
        if sidecar is not None:
            side_path, metadata = sidecar
            side_tmp = _temp_beside(Path(side_path))
            written.append(side_tmp)
            side_tmp.write_text(_sidecar_text(metadata()), encoding="utf-8")
            os.replace(side_tmp, side_path)
        os.replace(body_tmp, target)
        written.clear()
    except OSError as exc:
        raise S3SealError(f"cannot write {path}: {exc.strerror}") from None
    finally:
        for leftover in written:
            with suppress(OSError):
                leftover.unlink()


def _sidecar_text(metadata: Mapping[str, str]) -> str:
    return json.dumps(dict(metadata), indent=1, sort_keys=True) + "\n"


def _temp_beside(target: Path) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(fd)
    return Path(tmp)


def _write_stdout(chunks: Iterator[bytes]) -> None:
    """Emit nothing until the whole stream succeeded: spool, then copy to stdout."""
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
        for chunk in chunks:
            spool.write(chunk)
        spool.seek(0)
        out = sys.stdout.buffer
        while chunk := spool.read(storage.CHUNK_SIZE):
            out.write(chunk)
        out.flush()


def write(
    dst: str,
    aws: Aws,
    chunks: Iterator[bytes],
    *,
    part_size: int,
    content_type: str | None,
    envelope: Callable[[], Mapping[str, str]] | None = None,
    sidecar: str | None = None,
    authenticated: bool = False,
) -> None:
    """Write DST. ``envelope`` (encrypt only) goes to S3 metadata or to the sidecar file.

    ``authenticated`` (decrypting V2/V3): no byte may leave the process before the tag verified.
    Every sink holds it back: S3 through ``verified.spooled`` (an anonymous 0600 temp file, then
    the upload), a local file by writing a 0600 temp file beside it that is renamed into place
    only at the end, stdout by spooling. V1 plaintext has no tag; it goes to S3 as it decrypts.
    On SIGTERM or Ctrl-C (see ``cli.signals``) the temp file is removed and an upload aborted.
    """
    if is_s3_url(dst):
        ref = parse_s3_url(dst)
        parts = iter_parts(verified.spooled(chunks) if authenticated else chunks, part_size)
        storage.upload(
            aws.s3, ref.bucket, ref.key, parts, envelope or dict, content_type=content_type
        )
    elif dst == STDIO:
        _write_stdout(chunks)
        if envelope is not None and sidecar:
            Path(sidecar).write_text(_sidecar_text(envelope()), encoding="utf-8")
    else:
        side = (sidecar or dst + SIDECAR_SUFFIX, envelope) if envelope is not None else None
        _write_local(dst, chunks, side)
