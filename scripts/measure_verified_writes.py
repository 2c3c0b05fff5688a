"""What "authenticate first, then write" costs: one authenticated object decrypted to S3 three ways.

    PYTHONPATH=lambda .venv/bin/python scripts/measure_verified_writes.py [--mib 256] [--runs 3]

Against an in-process moto server on 127.0.0.1 (so S3's own speed is moto's, not AWS's), with a
V2 object of ``--mib`` MiB and the default 16 MiB parts:

- ``stream``: GET -> decrypt -> multipart upload as it decrypts (before: unverified parts sent);
- ``spool``: GET -> decrypt -> anonymous 0600 temp file -> upload after the tag (the CLI);
- ``two-pass``: GET -> decrypt, discard; GET of the same version -> decrypt -> upload (the loader).

Prints the median wall time of each and its ratio to ``stream`` (one warm-up round first; the
order rotates between rounds), then what the two choices add without S3: the decryption alone,
the SHA-256 of the ciphertext (two-pass does it twice), and a spool file written and read back.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial

import boto3
from moto.server import ThreadedMotoServer

from s3seal import storage, verified
from s3seal.envelope import Decryptor, EnvelopeMetadata, Format, encrypt_bytes, iter_parts
from s3seal.envelope import decrypt_chunks as decrypt
from s3seal.objects import ObjectRef

ROOT_KEY = os.urandom(32)
BUCKET = "s3seal-measure"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x")  # noqa: S106 (moto)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    s3 = boto3.client("s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    body, metadata = encrypt_bytes(ROOT_KEY, os.urandom(args.mib * storage.MiB), Format.V2)
    s3.put_object(Bucket=BUCKET, Key="sealed", Body=body, Metadata=metadata)
    local = _local_costs(body, metadata, args.runs)
    del body
    envelope = EnvelopeMetadata.parse(metadata)
    decryptor = partial(Decryptor, ROOT_KEY, envelope)

    def stream(reader: storage.ObjectReader) -> Iterator[bytes]:
        return decrypt(decryptor(), reader.chunks)

    def spool(reader: storage.ObjectReader) -> Iterator[bytes]:
        return verified.spooled(decrypt(decryptor(), reader.chunks))

    def two_pass(reader: storage.ObjectReader) -> Iterator[bytes]:
        return verified.two_pass(s3, reader, decryptor)

    ways: dict[str, Callable[[storage.ObjectReader], Iterator[bytes]]] = {
        "stream": stream,
        "spool": spool,
        "two-pass": two_pass,
    }
    times: dict[str, list[float]] = {name: [] for name in ways}
    for run in range(-1, args.runs):  # run -1 warms up and is not counted
        order = list(ways.items())
        for name, plaintext in order[run % 3 :] + order[: run % 3]:
            start = time.perf_counter()
            reader = storage.open_object(s3, ObjectRef(BUCKET, "sealed"))
            parts = iter_parts(plaintext(reader), storage.DEFAULT_PART_SIZE)
            storage.upload(s3, BUCKET, f"out-{name}-{run}", parts, dict)
            if run >= 0:
                times[name].append(time.perf_counter() - start)
    server.stop()
    base = statistics.median(times["stream"])
    print(f"{args.mib} MiB V2 object -> S3 (moto), median of {args.runs}:")
    for name, seconds in times.items():
        median = statistics.median(seconds)
        rate = args.mib / median
        print(f"  {name:<9} {median:6.2f} s  {rate:6.1f} MiB/s  x{median / base:.2f}")
    print("without S3, median of", args.runs)
    for name, seconds in local.items():
        print(f"  {name:<20} {seconds:6.2f} s")


def _local_costs(body: bytes, metadata: dict[str, str], runs: int) -> dict[str, float]:
    def decrypt_only() -> None:
        for _ in decrypt(Decryptor(ROOT_KEY, metadata), iter_parts([body], storage.CHUNK_SIZE)):
            pass

    def sha256() -> None:
        for part in iter_parts([body], 8 * storage.MiB):
            hashlib.sha256(part).digest()

    def spool_file() -> None:
        with tempfile.TemporaryFile() as spool:
            for part in iter_parts([body], storage.CHUNK_SIZE):
                spool.write(part)
            spool.seek(0)
            while spool.read(storage.CHUNK_SIZE):
                pass

    out = {}
    for name, work in (
        ("decrypt", decrypt_only),
        ("sha256", sha256),
        ("spool write+read", spool_file),
    ):
        seconds = []
        for _ in range(runs):
            start = time.perf_counter()
            work()
            seconds.append(time.perf_counter() - start)
        out[name] = statistics.median(seconds)
    return out


if __name__ == "__main__":
    main()
