"""Benchmark of the s3seal envelope core against raw ``cryptography``.

Run from the project root::

    .venv/bin/python -m bench.bench_envelope            # full run (about a minute)
    .venv/bin/python -m bench.bench_envelope --quick    # smoke test (seconds)

Every figure that is judged is a ratio against a baseline measured in the same run, because the
machines this runs on are small and noisy:

1. Throughput: s3seal's streaming ``Encryptor`` / ``Decryptor`` fed 1 MiB chunks, against the raw
   ``cryptography`` cipher (AES-256-CBC for V1, AES-256-GCM for V2 and V3) on the same chunks.
   Each path runs in its own subprocess, so that no path inherits another's allocator state; in
   it the s3seal and raw runs alternate (their order swaps every round) and each side keeps its
   best round. The judged ratio is best s3seal throughput / best raw throughput, printed with its
   margin over the target (a margin under 5% is flagged "thin": one noisy minute could undo it).
   For V3 the raw decryption runs over the very body s3seal wrote, under the content key this
   module derives from that object's wire metadata with its own few lines of HKDF, so it also
   checks the format. The table is printed twice: in a fresh process, and after the process has
   freed one 16 MiB block, because glibc's malloc tunes its ``mmap`` and trim thresholds to the
   largest block freed so far and 1 MiB chunks cost page faults or not depending on that (the
   ``faults/MiB`` columns show it).
2. Memory: a 16 MiB, a medium and a large (1 GiB) object are encrypted in fresh subprocesses, from
   one reusable 1 MiB buffer, and each subprocess reports its peak RSS above its RSS after imports.
   The judged figure is the large object's peak over the 16 MiB object's.

The exit status is 1 if a judged check fails.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cryptography
from cryptography.hazmat.backends.openssl import backend
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA512
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from s3seal.envelope import (
    Decryptor,
    Encryptor,
    EnvelopeMetadata,
    Format,
    encrypt_chunks,
    iter_parts,
)

MiB = 1 << 20
CHUNK_SIZE = 1 * MiB
"""Plaintext chunk fed to every encryptor, s3seal and raw alike."""
POOL_CHUNKS = 8
"""Distinct random 1 MiB chunks the throughput data cycles through (8 MiB of real data)."""
PART_SIZE = 16 * MiB
"""Multipart part size used by the multipart rows."""
ROOT_KEY = os.urandom(32)
PROJECT_ROOT = Path(__file__).resolve().parent.parent

V1_ENCRYPT_TARGET = 0.90
V2_ENCRYPT_TARGET = 0.80
V3_ENCRYPT_TARGET = 0.90
V3_DECRYPT_TARGET = 0.80
THIN_MARGIN = 0.05
"""A judged ratio less than 5% above its target passes, but is flagged: it is not a safe pass."""
V3_IV = b"\x01" * 12
"""V3 (suite 0x0073): the content IV is fixed, the content AAD is the suite id, 2 bytes."""
V3_AAD = b"\x00\x73"
MEMORY_RATIO_TARGET = 1.10
MEMORY_SLACK_MIB = 4.0
"""A memory check also passes when the large object's peak is at most this much above the small."""

Run = Callable[[], None]
"""One complete pass over the data: construct, update every chunk, finalize."""


@dataclass(frozen=True)
class Settings:
    throughput_bytes: int
    rounds: int
    small_object: int
    medium_object: int
    large_object: int


FULL = Settings(
    throughput_bytes=256 * MiB,
    rounds=7,
    small_object=16 * MiB,
    medium_object=128 * MiB,
    large_object=1024 * MiB,
)
QUICK = Settings(
    throughput_bytes=32 * MiB,
    rounds=3,
    small_object=16 * MiB,
    medium_object=32 * MiB,
    large_object=64 * MiB,
)


# --------------------------------------------------------------------------------------------
# Throughput: the measured passes
# --------------------------------------------------------------------------------------------


def make_plaintext(total: int) -> list[bytes]:
    """``total`` bytes as 1 MiB chunks: references into a small pool of random chunks."""
    if total % CHUNK_SIZE:
        raise ValueError("the throughput size must be a whole number of MiB")
    pool = [os.urandom(CHUNK_SIZE) for _ in range(POOL_CHUNKS)]
    return [pool[i % POOL_CHUNKS] for i in range(total // CHUNK_SIZE)]


def s3seal_encrypt(fmt: Format, chunks: Sequence[bytes], total: int) -> Run:
    def run() -> None:
        encryptor = Encryptor(ROOT_KEY, fmt, plaintext_length=total)
        for chunk in chunks:
            encryptor.update(chunk)
        encryptor.finalize()

    return run


def s3seal_multipart(fmt: Format, chunks: Sequence[bytes], total: int) -> Run:
    """The multipart writer's path: encrypt_chunks re-cut into 16 MiB parts by iter_parts."""

    def run() -> None:
        encryptor = Encryptor(ROOT_KEY, fmt, plaintext_length=total)
        for part in iter_parts(encrypt_chunks(encryptor, chunks), PART_SIZE):
            del part

    return run


def raw_cbc_encrypt(chunks: Sequence[bytes]) -> Run:
    def run() -> None:
        key, iv = os.urandom(32), os.urandom(16)
        encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
        for chunk in chunks:
            encryptor.update(chunk)
        encryptor.finalize()

    return run


def raw_gcm_encrypt(chunks: Sequence[bytes], v3: bool = False) -> Run:
    """Raw AES-256-GCM; ``v3``: with V3's fixed IV and 2-byte AAD, as its content cipher is."""

    def run() -> None:
        key, iv = os.urandom(32), V3_IV if v3 else os.urandom(12)
        encryptor = Cipher(algorithms.AES(key), modes.GCM(iv)).encryptor()
        if v3:
            encryptor.authenticate_additional_data(V3_AAD)
        for chunk in chunks:
            encryptor.update(chunk)
        encryptor.finalize()
        _ = encryptor.tag

    return run


@dataclass(frozen=True)
class Sealed:
    """One object encrypted by s3seal, kept in memory as the chunks its encryptor returned."""

    metadata: EnvelopeMetadata
    content_key: bytes
    """The key the body is encrypted under: the data key (V1/V2), the derived key (V3)."""
    iv: bytes
    aad: bytes | None
    body: list[bytes]
    """``update`` outputs (1 MiB each) and then the ``finalize`` output (pad block, or tag)."""


def v3_content_key(metadata: dict[str, str]) -> bytes:
    """The V3 content key from an object's wire metadata, by the spec (docs/format.md), not s3seal.

    Unwrap ``x-amz-3`` (AES-GCM under the root key, AAD "115"), then HKDF-SHA512 with the message
    id ``x-amz-i`` as salt and ``00 73 "DERIVEKEY"`` as info.
    """
    wrapped = base64.b64decode(metadata["x-amz-3"])
    data_key = AESGCM(ROOT_KEY).decrypt(wrapped[:12], wrapped[12:], b"115")
    salt = base64.b64decode(metadata["x-amz-i"])
    hkdf = HKDF(algorithm=SHA512(), length=32, salt=salt, info=V3_AAD + b"DERIVEKEY")
    return hkdf.derive(data_key)


def seal(fmt: Format, chunks: Sequence[bytes], total: int) -> Sealed:
    encryptor = Encryptor(ROOT_KEY, fmt, plaintext_length=total)
    body = [encryptor.update(chunk) for chunk in chunks]
    body.append(encryptor.finalize())
    meta = encryptor.metadata
    # No separate check: every timed decryption ends in finalize, which verifies the GCM tag (V2,
    # V3) or the padding (V1), for s3seal and raw alike; a wrong V3 derivation fails there.
    if fmt is Format.V3:
        return Sealed(meta, v3_content_key(meta.to_metadata()), V3_IV, V3_AAD, body)
    data_key = meta.wrap.unwrap(ROOT_KEY, meta.wrapped_key, meta.content)
    return Sealed(meta, data_key, meta.iv, None, body)


def s3seal_decrypt(sealed: Sealed) -> Run:
    def run() -> None:
        decryptor = Decryptor(ROOT_KEY, sealed.metadata)
        for chunk in sealed.body:
            decryptor.update(chunk)
        decryptor.finalize()

    return run


def raw_cbc_decrypt(sealed: Sealed) -> Run:
    def run() -> None:
        mode = modes.CBC(sealed.iv)
        decryptor = Cipher(algorithms.AES(sealed.content_key), mode).decryptor()
        for chunk in sealed.body:
            decryptor.update(chunk)
        decryptor.finalize()

    return run


def raw_gcm_decrypt(sealed: Sealed) -> Run:
    ciphertext, tag = sealed.body[:-1], sealed.body[-1]

    def run() -> None:
        mode = modes.GCM(sealed.iv, tag)
        decryptor = Cipher(algorithms.AES(sealed.content_key), mode).decryptor()
        if sealed.aad is not None:
            decryptor.authenticate_additional_data(sealed.aad)
        for chunk in ciphertext:
            decryptor.update(chunk)
        decryptor.finalize()

    return run


Builder = Callable[[int], tuple[Run, Run]]
"""Builds the (s3seal, raw) passes over ``total`` bytes of fresh data."""


@dataclass(frozen=True)
class Case:
    label: str
    baseline: str
    target: float | None
    build: Builder


def _encrypt_case(fmt: Format) -> Builder:
    def build(total: int) -> tuple[Run, Run]:
        chunks = make_plaintext(total)
        if fmt is Format.V1:
            raw = raw_cbc_encrypt(chunks)
        else:
            raw = raw_gcm_encrypt(chunks, v3=fmt is Format.V3)
        return s3seal_encrypt(fmt, chunks, total), raw

    return build


def _decrypt_case(fmt: Format) -> Builder:
    def build(total: int) -> tuple[Run, Run]:
        sealed = seal(fmt, make_plaintext(total), total)
        raw = raw_cbc_decrypt(sealed) if fmt is Format.V1 else raw_gcm_decrypt(sealed)
        return s3seal_decrypt(sealed), raw

    return build


def _multipart_case(total: int) -> tuple[Run, Run]:
    chunks = make_plaintext(total)
    return s3seal_multipart(Format.V1, chunks, total), raw_cbc_encrypt(chunks)


CASES: dict[str, Case] = {
    "v1-encrypt": Case(
        "V1 encrypt (Encryptor.update)", "CBC update", V1_ENCRYPT_TARGET, _encrypt_case(Format.V1)
    ),
    "v2-encrypt": Case(
        "V2 encrypt (Encryptor.update)", "GCM update", V2_ENCRYPT_TARGET, _encrypt_case(Format.V2)
    ),
    "v3-encrypt": Case(
        "V3 encrypt (Encryptor.update)", "GCM update", V3_ENCRYPT_TARGET, _encrypt_case(Format.V3)
    ),
    "v1-decrypt": Case(
        "V1 decrypt (Decryptor.update)", "CBC dec. update", None, _decrypt_case(Format.V1)
    ),
    "v2-decrypt": Case(
        "V2 decrypt (Decryptor.update)", "GCM dec. update", None, _decrypt_case(Format.V2)
    ),
    "v3-decrypt": Case(
        "V3 decrypt (Decryptor.update)",
        "GCM dec. update",
        V3_DECRYPT_TARGET,
        _decrypt_case(Format.V3),
    ),
    "v1-multipart": Case("V1 multipart (iter_parts 16 MiB)", "CBC update", None, _multipart_case),
}


# --------------------------------------------------------------------------------------------
# Throughput: one subprocess per case
# --------------------------------------------------------------------------------------------


def warm_allocator() -> None:
    """Free one 16 MiB block, as a process that has sent one multipart part has done.

    glibc's malloc raises its ``mmap`` threshold to the size of the largest block freed, and its
    trim threshold to twice that; afterwards 1 MiB chunks come from the heap, which is no longer
    trimmed (and re-faulted) after every chunk.
    """
    block = bytes(PART_SIZE)
    del block


def _minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def throughput_child(name: str, total: int, rounds: int, warm: bool) -> None:
    """Body of one throughput subprocess: s3seal and raw interleaved; prints one JSON line.

    After one untimed pass of each side, ``rounds`` rounds run both back to back, the order
    swapping every round so that neither side always runs first.
    """
    if warm:
        warm_allocator()
    ours, raw = CASES[name].build(total)
    ours()
    raw()
    samples: dict[str, dict[str, list[float]]] = {
        side: {"seconds": [], "faults": []} for side in ("s3seal", "raw")
    }
    for number in range(rounds):
        pair = [("s3seal", ours), ("raw", raw)]
        if number % 2:
            pair.reverse()
        for side, run in pair:
            gc.collect()
            faults = _minor_faults()
            start = time.perf_counter()
            run()
            elapsed = time.perf_counter() - start
            samples[side]["seconds"].append(elapsed)
            samples[side]["faults"].append(_minor_faults() - faults)
    print(json.dumps(samples))


def _run_child(flag: str, args: Sequence[str]) -> str:
    """Run this module in a fresh interpreter and return the last line it printed."""
    command = [sys.executable, "-m", "bench.bench_envelope", flag, *args]
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"child {flag} {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1]


@dataclass(frozen=True)
class Side:
    seconds: list[float]
    faults: list[float]

    def best_mib_s(self, total: int) -> float:
        return total / MiB / min(self.seconds)

    def faults_per_mib(self, total: int) -> float:
        return statistics.median(self.faults) / (total / MiB)


def spawn_throughput_child(name: str, settings: Settings, warm: bool) -> tuple[Side, Side]:
    total, rounds = str(settings.throughput_bytes), str(settings.rounds)
    args = [name, total, rounds, "warm" if warm else "fresh"]
    report = json.loads(_run_child("--throughput-child", args))
    ours, raw = (
        Side([float(x) for x in report[s]["seconds"]], [float(x) for x in report[s]["faults"]])
        for s in ("s3seal", "raw")
    )
    return ours, raw


def run_throughput(settings: Settings, warm: bool) -> bool:
    total = settings.throughput_bytes
    if warm:
        print(
            "Throughput, warmed allocator: the same, but each child first frees one 16 MiB block "
            "(as a process that has sent one multipart part has)."
        )
    else:
        print(
            f"Throughput, fresh process: each path in its own subprocess, {total // MiB} MiB per "
            f"pass in {CHUNK_SIZE // MiB} MiB chunks, s3seal and raw alternating, "
            f"{settings.rounds} rounds."
        )
        print(
            "MiB/s: each side's best round. ratio: best s3seal / best raw. median: median of the "
            "per-round ratios. faults/MiB: median minor page faults per MiB (s3seal / raw)."
        )
        print(f"margin: ratio over target, in %; under {THIN_MARGIN:.0%} the pass is flagged thin.")
    print()
    head = (
        f"{'path':<33} {'s3seal MiB/s':>12} {'raw MiB/s':>10} {'ratio':>6} {'median':>6} "
        f"{'faults/MiB':>11}  {'raw baseline':<15} {'target':<6} {'margin':>6} result"
    )
    print(head)
    print("-" * len(head))
    ok = True
    for name, case in CASES.items():
        ours, raw = spawn_throughput_child(name, settings, warm)
        ratio = min(raw.seconds) / min(ours.seconds)
        paired = statistics.median(r / s for s, r in zip(ours.seconds, raw.seconds, strict=True))
        faults = f"{ours.faults_per_mib(total):.0f} / {raw.faults_per_mib(total):.0f}"
        if case.target is None:
            target, margin, result = "-", "-", "info"
        else:
            target = f">={case.target:.2f}"
            over = ratio / case.target - 1
            margin = f"{over:+.0%}"
            passed = ratio >= case.target
            ok = ok and passed
            result = ("PASS" if over >= THIN_MARGIN else "PASS, thin") if passed else "FAIL"
        print(
            f"{case.label:<33} {ours.best_mib_s(total):>12.0f} {raw.best_mib_s(total):>10.0f} "
            f"{ratio:>6.3f} {paired:>6.3f} {faults:>11}  {case.baseline:<15} {target:<6} "
            f"{margin:>6} {result}",
            flush=True,
        )
    return ok


# --------------------------------------------------------------------------------------------
# Peak memory: one fresh subprocess per object
# --------------------------------------------------------------------------------------------


def _status_kib(field: str) -> int | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    found = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(found.group(1)) if found else None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS, if the kernel allows it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def plaintext_stream(size: int, block: bytes) -> Iterator[bytes]:
    """``size`` bytes as chunks of the one reusable ``block``; the object is never materialised."""
    full, rest = divmod(size, len(block))
    for _ in range(full):
        yield block
    if rest:
        yield block[:rest]


def _stream(fmt: Format, size: int, chunks: Iterable[bytes]) -> tuple[int, int]:
    encryptor = Encryptor(ROOT_KEY, fmt, plaintext_length=size)
    produced = 0
    for chunk in chunks:
        produced += len(encryptor.update(chunk))
    produced += len(encryptor.finalize())
    return produced, 1


def _multipart(fmt: Format, size: int, chunks: Iterable[bytes]) -> tuple[int, int]:
    encryptor = Encryptor(ROOT_KEY, fmt, plaintext_length=size)
    produced = parts = 0
    for part in iter_parts(encrypt_chunks(encryptor, chunks), PART_SIZE):
        produced += len(part)
        parts += 1
        del part  # the uploader sends a part and drops it
    return produced, parts


SCENARIOS: dict[str, Callable[[Format, int, Iterable[bytes]], tuple[int, int]]] = {
    "stream": _stream,
    "multipart": _multipart,
}


def memory_child(scenario: str, fmt_name: str, size: int) -> None:
    """Body of one memory subprocess: prints one JSON line."""
    fmt = Format(fmt_name)
    block = os.urandom(CHUNK_SIZE)
    gc.collect()
    baseline = _status_kib("VmRSS")
    if baseline is None:
        raise RuntimeError("the memory benchmark needs /proc/self/status (Linux)")
    reset = _reset_peak()
    produced, parts = SCENARIOS[scenario](fmt, size, plaintext_stream(size, block))
    if reset and (hwm := _status_kib("VmHWM")) is not None:
        peak, method = hwm, "VmHWM, reset after imports"
    else:
        # ru_maxrss is KiB on Linux; it also covers the import phase, so it can only over-report.
        peak, method = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "ru_maxrss"
    expected = Encryptor(ROOT_KEY, fmt).metadata.content.ciphertext_length(size)
    if produced != expected:
        raise AssertionError(f"{produced} ciphertext bytes, expected {expected}")
    report = {"baseline_kib": baseline, "peak_kib": peak, "method": method, "parts": parts}
    print(json.dumps(report))


@dataclass(frozen=True)
class MemoryResult:
    baseline_kib: int
    peak_kib: int
    method: str

    @property
    def growth_mib(self) -> float:
        return (self.peak_kib - self.baseline_kib) / 1024


def spawn_memory_child(scenario: str, fmt: Format, size: int) -> MemoryResult:
    report = json.loads(_run_child("--memory-child", [scenario, fmt.value, str(size)]))
    return MemoryResult(
        baseline_kib=int(report["baseline_kib"]),
        peak_kib=int(report["peak_kib"]),
        method=str(report["method"]),
    )


def _size(size: int) -> str:
    return f"{size // 1024**3} GiB" if size >= 1024**3 else f"{size // MiB} MiB"


def run_memory(settings: Settings) -> bool:
    small, medium, large = settings.small_object, settings.medium_object, settings.large_object
    print(
        "Peak memory: one fresh subprocess per object; +peak = peak RSS minus the RSS after "
        "imports and the 1 MiB source buffer."
    )
    print(
        f"ratio = +peak {_size(large)} / +peak {_size(small)} (judged: <= {MEMORY_RATIO_TARGET:.2f}"
        f", or diff <= {MEMORY_SLACK_MIB:.0f} MiB); {_size(large)}/{_size(medium)} for information."
    )
    print()
    head = (
        f"{'path':<33} {'baseline':>9} {_size(small):>9} {_size(medium):>9} {_size(large):>9} "
        f"{'ratio':>6} {'diff':>9} {f'{_size(large)}/{_size(medium)}':>15}  result"
    )
    print(head)
    print("-" * len(head))
    ok = True
    methods: set[str] = set()
    rows = [
        ("stream", Format.V1, "V1 stream (Encryptor.update)"),
        ("stream", Format.V2, "V2 stream (Encryptor.update)"),
        ("stream", Format.V3, "V3 stream (Encryptor.update)"),
        ("multipart", Format.V1, "V1 multipart (iter_parts 16 MiB)"),
        ("multipart", Format.V2, "V2 multipart (iter_parts 16 MiB)"),
        ("multipart", Format.V3, "V3 multipart (iter_parts 16 MiB)"),
    ]
    for scenario, fmt, label in rows:
        little, mid, big = (spawn_memory_child(scenario, fmt, s) for s in (small, medium, large))
        methods.update(r.method for r in (little, mid, big))
        ratio = big.growth_mib / little.growth_mib if little.growth_mib > 0 else float("inf")
        plateau = big.growth_mib / mid.growth_mib if mid.growth_mib > 0 else float("inf")
        diff = big.growth_mib - little.growth_mib
        passed = ratio <= MEMORY_RATIO_TARGET or diff <= MEMORY_SLACK_MIB
        ok = ok and passed
        print(
            f"{label:<33} {little.baseline_kib / 1024:>5.1f} MiB "
            f"{little.growth_mib:>5.1f} MiB {mid.growth_mib:>5.1f} MiB {big.growth_mib:>5.1f} MiB "
            f"{ratio:>6.3f} {diff:>+5.1f} MiB {plateau:>15.3f}  {'PASS' if passed else 'FAIL'}",
            flush=True,
        )
    print(f"(peak RSS from {', '.join(sorted(methods))})")
    return ok


# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_envelope",
        description="Throughput and peak memory of the s3seal envelope core, as ratios against "
        "raw cryptography and against a small object.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke-test sizes: 32 MiB per throughput pass, 3 rounds, a 64 MiB large object",
    )
    parser.add_argument("--rounds", type=int, help="throughput rounds (default: 7, quick: 3)")
    parser.add_argument(
        "--skip-warm",
        action="store_true",
        help="skip the second throughput table (allocator warmed by one 16 MiB free)",
    )
    parser.add_argument("--memory-child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--throughput-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.memory_child:
        scenario, fmt_name, size = args.memory_child
        memory_child(scenario, fmt_name, int(size))
        return 0
    if args.throughput_child:
        name, total, rounds, warm = args.throughput_child
        throughput_child(name, int(total), int(rounds), warm == "warm")
        return 0

    settings = QUICK if args.quick else FULL
    if args.rounds is not None:
        if args.rounds < 1:
            parser.error("--rounds must be at least 1")
        settings = Settings(
            settings.throughput_bytes,
            args.rounds,
            settings.small_object,
            settings.medium_object,
            settings.large_object,
        )
    started = time.perf_counter()
    print(
        f"s3seal envelope benchmark ({'quick' if args.quick else 'full'} run): "
        f"Python {platform.python_version()}, cryptography {cryptography.__version__}, "
        f"{backend.openssl_version_text()}, {os.cpu_count()} CPUs, {platform.machine()}"
    )
    print()
    throughput_ok = run_throughput(settings, warm=False)
    print()
    if not args.skip_warm:
        throughput_ok = run_throughput(settings, warm=True) and throughput_ok
        print()
    memory_ok = run_memory(settings)
    print()
    verdict = "all targets met" if throughput_ok and memory_ok else "SOME TARGETS MISSED"
    print(f"{verdict} ({time.perf_counter() - started:.0f} s)")
    return 0 if throughput_ok and memory_ok else 1


if __name__ == "__main__":
    sys.exit(main())
