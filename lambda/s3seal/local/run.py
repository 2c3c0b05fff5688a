"""The two ways to run the local mode: ``--demo`` (stage examples/, verify, print COPY) and
``--serve`` (print the commands to paste, then each staged object)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ..envelope import EnvelopeMetadata
from ..errors import S3SealError
from .load import demo_prefix, print_load_guide
from .pipeline import REGION
from .server import UNCHECKED_SECRET_ACCESS_KEY

if TYPE_CHECKING:
    from .pipeline import LocalPipeline


@dataclass(frozen=True)
class DemoResult:
    key: str
    plaintext_bytes: int
    staged_bytes: int
    format: str
    result: str

    @property
    def verified(self) -> bool:
        return self.result == "verified"


EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
"""The demo files, shipped in the package (package data) so that ``--demo`` works anywhere."""


def run_demo(pipeline: LocalPipeline, examples: Path, out: TextIO) -> bool:
    """Drop every file of ``examples`` into landing, wait for each to be staged, decrypt it back,
    compare, and print what happened. True only if every file verified and the DLQ is empty."""
    s = pipeline.settings
    files = sorted(path for path in examples.iterdir() if path.is_file())
    if not files:
        raise FileNotFoundError(f"no files in {examples}")
    uploaded = []
    for path in files:
        key = f"{demo_prefix(path.suffix)}{path.name}"
        etag = pipeline.s3.put_object(Bucket=s.landing_bucket, Key=key, Body=path.read_bytes())[
            "ETag"
        ]
        uploaded.append((path, key, etag))
        print(f"uploaded  s3://{s.landing_bucket}/{key} ({path.stat().st_size} bytes)", file=out)
    results = [_check_one(pipeline, path, key, etag) for path, key, etag in uploaded]
    dead = pipeline.dead_letter_count()
    _print_table(results, out)
    staged_kinds = {Path(r.key).suffix for r in results if r.verified}
    print_load_guide(s.staging_bucket, s.secret_name, s.compression, staged_kinds, out)
    print(f"dead-letter queue: {dead} message(s)", file=out)
    ok = all(r.verified for r in results) and dead == 0
    print("ALL FILES VERIFIED" if ok else "SOME FILES FAILED", file=out)
    return ok


def _check_one(pipeline: LocalPipeline, path: Path, key: str, etag: str) -> DemoResult:
    try:
        head = pipeline.wait_until_staged(key, etag)
        envelope = EnvelopeMetadata.parse(head.get("Metadata", {}))
        same = _same_bytes(pipeline.decrypt_staged(key), path)
        deadline = time.monotonic() + 10
        while pipeline.landing_versions(key) and time.monotonic() < deadline:
            time.sleep(0.1)  # the plaintext is deleted just after the staged object is verified
        left = pipeline.landing_versions(key)
        result = (
            "verified"
            if same and not left
            else ("MISMATCH" if not same else f"plaintext left in landing ({left} versions)")
        )
        return DemoResult(
            key, path.stat().st_size, int(head["ContentLength"]), envelope.format.value, result
        )
    except (S3SealError, TimeoutError, OSError) as exc:
        return DemoResult(key, path.stat().st_size, 0, "-", f"FAILED: {exc}")


def _same_bytes(chunks: Iterator[bytes], path: Path) -> bool:
    with path.open("rb") as original:
        for chunk in chunks:
            if original.read(len(chunk)) != chunk:
                return False
        return original.read(1) == b""


def _print_table(results: list[DemoResult], out: TextIO) -> None:
    headers = ("key", "plaintext bytes", "staged bytes", "format", "result")
    rows = [
        (r.key, str(r.plaintext_bytes), str(r.staged_bytes), r.format, r.result) for r in results
    ]
    widths = [max(len(str(row[n])) for row in [headers, *rows]) for n in range(len(headers))]
    print(file=out)
    for row in [headers, tuple("-" * w for w in widths), *rows]:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print("  ".join(cells).rstrip(), file=out)
    print(file=out)


def serve(pipeline: LocalPipeline, out: TextIO, stop: threading.Event, poll: float = 0.5) -> None:
    """Print how to use the running pipeline, then a line per staged object until ``stop``."""
    s, endpoint = pipeline.settings, pipeline.endpoint
    print(
        f"s3seal local is running on {endpoint} (S3, SQS, Secrets Manager). Try:\n\n"
        f"  export AWS_ACCESS_KEY_ID={pipeline.access_key_id} "
        f"AWS_SECRET_ACCESS_KEY={UNCHECKED_SECRET_ACCESS_KEY} AWS_DEFAULT_REGION={REGION}\n"
        f"  aws s3 cp data.csv s3://{s.landing_bucket}/incoming/data.csv "
        f"--endpoint-url {endpoint}\n"
        f"  s3seal decrypt s3://{s.staging_bucket}/incoming/data.csv data.out.csv "
        f"--key-secret {s.secret_name} --endpoint-url {endpoint}\n\n"
        "Press Ctrl-C to stop.",
        file=out,
        flush=True,
    )
    seen: set[tuple[str, str]] = set()
    dead = 0
    while not stop.wait(poll):
        try:
            listing = pipeline.s3.list_object_versions(Bucket=s.staging_bucket)
        except Exception:  # noqa: S112 (the server is stopping)
            continue
        for version in sorted(listing.get("Versions", []), key=lambda v: v["LastModified"]):
            marker = (version["Key"], version["VersionId"])
            if marker not in seen:
                seen.add(marker)
                print(
                    f"staged s3://{s.staging_bucket}/{version['Key']} ({version['Size']} bytes)",
                    file=out,
                    flush=True,
                )
        now_dead = pipeline.dead_letter_count()
        if now_dead > dead:
            print(
                f"{now_dead - dead} message(s) moved to the dead-letter queue", file=out, flush=True
            )
        dead = now_dead
