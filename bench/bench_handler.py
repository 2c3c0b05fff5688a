"""Benchmark of the encrypting function (``s3seal.encrypt.handler``) against a local moto S3
endpoint.

Run from the project root::

    .venv/bin/python -m bench.bench_handler            # full run (about 7 minutes on 2 cores)
    .venv/bin/python -m bench.bench_handler --quick    # smoke test (about 30 seconds)

The machines this runs on are small and noisy, so every judged figure is either a ratio against a
baseline measured in the same run, or an absolute with its own target (peak RSS):

1. Large object: an SQS event -> ``App.handle`` stages a 1 GiB object (default settings: V1,
   16 MiB parts, ``PARTS_IN_FLIGHT`` default) against a plain boto3 copy of the same object through
   the same endpoint (one streamed GET re-cut into 16 MiB parts, a multipart upload with the same
   parts in flight). The sides take turns, round by round; judged: best handler / best plain time.
   Information: the same copy plus raw AES-256-CBC, s3transfer's ``upload_fileobj``, and the time
   spent in moto's ``ListObjectVersions`` and ``CompleteMultipartUpload``.
2. Peak RSS: the handler stages a 2 GiB object in a fresh subprocess (the moto server is another
   process, so its memory is not counted); judged: that subprocess's ``VmHWM``.
3. Small objects: 2,000 objects of 8 KiB as SQS batches of 10, against a plain boto3
   get + put + delete loop; judged: the number of ``GetSecretValue`` calls (one per warm container).
4. Cold start: ``import s3seal.encrypt.handler`` against ``import boto3`` in fresh interpreters;
   judged: the ratio of their ``python -X importtime`` cumulative times (medians), as the issue
   defines it. Information: the wall-time ratio, the init phase, and what dominates the import.

By default moto runs as its own process (``python -m bench.moto_s3``: moto's server, its version
listing made to share bodies rather than copy them, as S3's index does) pinned to one CPU, and the
measured process to another (a function with 1,769 MB has one vCPU; S3's work is not on it).
``--server thread`` runs moto's ``ThreadedMotoServer`` inside the measured process instead;
bench/README.md says why it is not the default. The exit status is 1 if a judged target is missed.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field, replace
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

import boto3
import botocore
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

import s3seal
from bench.importtime import ImportLine, importtime, subtree
from s3seal.config import Settings
from s3seal.encrypt.handler import App, metrics
from s3seal.rootkey.keys import CachedRootKey, generate_root_key
from s3seal.storage import CHUNK_SIZE

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient

MiB = 1 << 20
GiB = 1 << 30
KiB = 1 << 10
PROJECT_ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
FAKE_AWS_ENV = {
    # No request may reach a real AWS account, whatever the caller's environment holds: every
    # client is given the local endpoint, and these credentials only satisfy the signer.
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
DROPPED_ENV = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_LAMBDA_FUNCTION_NAME")
RESULT_MARKER = "bench-handler-result: "
"""Prefix of the one stdout line a child reports on (the handler's own logs are JSON lines)."""

COPY_RATIO_TARGET = 1.15
RSS_TARGET_MIB = 256.0
SECRET_CALLS_TARGET = 1
IMPORT_RATIO_TARGET = 1.5
LAMBDA_SECONDS = 900.0
"""The remaining time the fake Lambda context starts from (Lambda's maximum timeout)."""
SEED_BLOCKS = 4
"""Distinct random 16 MiB blocks a large object is assembled from."""
SERVER_MODES = ("process", "thread")
SECTIONS = ("copy", "memory", "small", "import")


@dataclass(frozen=True)
class Plan:
    copy_object: int
    copy_rounds: int
    memory_object: int
    small_objects: int
    small_size: int
    small_rounds: int
    batch_size: int
    import_runs: int


FULL = Plan(
    copy_object=1 * GiB,
    copy_rounds=3,
    memory_object=2 * GiB,
    small_objects=2000,
    small_size=8 * KiB,
    small_rounds=4,
    batch_size=10,
    import_runs=7,
)
QUICK = Plan(
    copy_object=64 * MiB,
    copy_rounds=2,
    memory_object=128 * MiB,
    small_objects=200,
    small_size=8 * KiB,
    small_rounds=2,
    batch_size=10,
    import_runs=5,
)


def _size(size: int) -> str:
    return f"{size / GiB:g} GiB" if size >= GiB else f"{size / MiB:g} MiB"


def fake_aws_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    env.update(FAKE_AWS_ENV)
    return env


def use_fake_aws_environment() -> None:
    for name in DROPPED_ENV:
        os.environ.pop(name, None)
    os.environ.update(FAKE_AWS_ENV)


# --------------------------------------------------------------------------------------------
# The moto server and what a process costs
# --------------------------------------------------------------------------------------------


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_listening(port: int, process: subprocess.Popen[bytes] | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the moto server exited with status {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            time.sleep(0.05)
        else:
            return
    raise RuntimeError(f"the moto server did not listen on port {port} within {timeout:.0f} s")


def pinning() -> tuple[int, int] | None:
    """(server CPU, client CPU) when this process may run on at least two CPUs."""
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None
    return (cpus[0], cpus[1]) if len(cpus) >= 2 else None


@dataclass
class Pins:
    """Where the orchestrator puts the moto server and the measuring children (``--no-pin``)."""

    server: int | None = None
    client: int | None = None


PINS = Pins()


def pin_to(cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


class MotoServer:
    """``python -m moto.server`` on loopback, as a subprocess of its own (on ``cpu`` if given)."""

    def __init__(self, cpu: int | None = None) -> None:
        self.port = free_loopback_port()
        # bench.moto_s3: moto.server without its listing's copy of every body (see there).
        command = [sys.executable, "-m", "bench.moto_s3", "-H", "127.0.0.1", "-p", str(self.port)]
        env = fake_aws_environment()
        if os.environ.get("BENCH_MOTO_TMP"):
            env["TMPDIR"] = os.environ["BENCH_MOTO_TMP"]
        self.process = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=None if cpu is None else lambda: pin_to(cpu),  # noqa: PLW1509
        )
        try:
            _wait_listening(self.port, self.process, timeout=30)
        except BaseException:
            self.stop()
            raise

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def peak_rss_mib(self) -> float | None:
        kib = status_kib("VmHWM", self.pid)
        return None if kib is None else kib / 1024

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> MotoServer:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


@contextmanager
def threaded_moto_server() -> Iterator[str]:
    """moto's ThreadedMotoServer inside this process (``--server thread``)."""
    # Imported here: moto is heavy, and the measuring children must not carry it otherwise.
    from moto.server import ThreadedMotoServer  # noqa: PLC0415

    from .moto_s3 import patch  # noqa: PLC0415

    patch()

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_loopback_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        _wait_listening(port, None, timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def status_kib(field_name: str, pid: int | str = "self") -> int | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(rf"^{field_name}:\s+(\d+) kB", text, re.MULTILINE)
    return int(found.group(1)) if found else None


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (all its threads), from /proc/PID/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def mem_available_gib() -> float | None:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    found = re.search(r"^MemAvailable:\s+(\d+) kB", text, re.MULTILINE)
    return int(found.group(1)) / (1024 * 1024) if found else None


# --------------------------------------------------------------------------------------------
# Buckets, objects, events and the function
# --------------------------------------------------------------------------------------------


def s3_client(endpoint: str, settings: Settings) -> S3Client:
    """An S3 client configured as ``App.from_env`` configures the function's."""
    config = Config(
        max_pool_connections=settings.parts_in_flight + 4,
        retries={"mode": "standard", "max_attempts": 5},
    )
    client: S3Client = boto3.client("s3", endpoint_url=endpoint, region_name=REGION, config=config)
    return client


SETUP_READ_TIMEOUT = 900
"""Seconds the setup client waits for an answer. moto assembles a multipart object when it
completes it: 2 GiB takes over a minute on a busy machine, and botocore's default (60 s) then
retried a completion moto was still working on, which moto answered with a 500."""


def setup_client(endpoint: str) -> S3Client:
    """The client that lands and inspects objects (untimed): patient, and never retrying."""
    config = Config(read_timeout=SETUP_READ_TIMEOUT, retries={"max_attempts": 1})
    client: S3Client = boto3.client("s3", endpoint_url=endpoint, region_name=REGION, config=config)
    return client


def secrets_client(endpoint: str) -> SecretsManagerClient:
    client: SecretsManagerClient = boto3.client(
        "secretsmanager", endpoint_url=endpoint, region_name=REGION
    )
    return client


def new_bucket(s3: S3Client, prefix: str) -> str:
    name = f"{prefix}-{os.urandom(4).hex()}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def empty_bucket(s3: S3Client, bucket: str) -> None:
    """Delete every version and delete marker (moto keeps old versions' bodies)."""
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket):
        for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
            s3.delete_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])


def put_large(s3: S3Client, bucket: str, key: str, size: int, part_size: int) -> None:
    """Upload ``size`` bytes, assembled from a few random blocks, as a multipart upload."""
    blocks = [os.urandom(part_size) for _ in range(SEED_BLOCKS)]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts: list[dict[str, Any]] = []
    offset = 0
    for number in count(1):
        if offset >= size:
            break
        length = min(part_size, size - offset)
        block = blocks[number % SEED_BLOCKS]
        body = block if length == part_size else block[:length]
        response = s3.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
        )
        parts.append({"PartNumber": number, "ETag": response["ETag"]})
        offset += length
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=upload_id,
        MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
    )


@dataclass(frozen=True)
class Landed:
    """An object in the landing bucket, with what S3 would say about it in a notification."""

    bucket: str
    key: str
    size: int
    version_id: str
    etag: str
    sequencer: str


_sequencers = count(0x0055AED6DCD90281E5)


def landed(bucket: str, key: str, size: int, version_id: str, etag: str) -> Landed:
    return Landed(bucket, key, size, version_id, etag.strip('"'), f"{next(_sequencers):018X}")


def s3_record(item: Landed) -> dict[str, Any]:
    """An ``ObjectCreated`` notification record, shaped as S3 sends it."""
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": REGION,
        "eventTime": "2026-11-24T07:00:00.000Z",
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "203.0.113.10"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "s3seal-landing",
            "bucket": {
                "name": item.bucket,
                "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                "arn": f"arn:aws:s3:::{item.bucket}",
            },
            "object": {
                "key": quote_plus(item.key, safe="/"),
                "size": item.size,
                "eTag": item.etag,
                "versionId": item.version_id,
                "sequencer": item.sequencer,
            },
        },
    }


def sqs_event(items: Sequence[Landed]) -> dict[str, Any]:
    """One SQS batch: a message per object, each body an S3 notification with one record."""
    records = []
    for number, item in enumerate(items):
        body = json.dumps({"Records": [s3_record(item)]})
        records.append(
            {
                "messageId": f"message-{number}",
                "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a...",
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1795000000000",
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": "1795000000001",
                },
                "messageAttributes": {},
                "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:s3seal-landing-events",
                "awsRegion": REGION,
            }
        )
    return {"Records": records}


@dataclass
class FakeContext:
    """The parts of the Lambda context the handler and Powertools read; time really runs out."""

    deadline: float = field(default_factory=lambda: time.monotonic() + LAMBDA_SECONDS)
    function_name: str = "s3seal-encrypt"
    memory_limit_in_mb: int = 1769
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:s3seal-encrypt"
    aws_request_id: str = "3b0bd1b6-4c1e-4c7a-9a53-4a1d4f9e0c2e"

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.monotonic()) * 1000)


@dataclass
class Function:
    """The function as Lambda would hold it in a warm container, plus its secret-call count."""

    app: App
    s3: S3Client
    secret_calls: list[str]
    settings: Settings


def function(endpoint: str, staging: str, landing: str) -> Function:
    """An App with default settings; its root key in a new secret, read by a counted client."""
    secrets = secrets_client(endpoint)
    secret_id = f"s3seal/root-key-{os.urandom(4).hex()}"
    secrets.create_secret(Name=secret_id, SecretString=generate_root_key())
    calls: list[str] = []
    secrets.meta.events.register(
        "before-call.secrets-manager.GetSecretValue",
        lambda **_: calls.append("GetSecretValue"),
    )
    settings = Settings.from_env(
        {"STAGING_BUCKET": staging, "LANDING_BUCKETS": landing, "ROOT_KEY_SECRET_ID": secret_id}
    )
    s3 = s3_client(endpoint, settings)
    root_key = CachedRootKey(secret_id, settings.key_cache_seconds, client=secrets)
    return Function(App(settings, s3, root_key), s3, calls, settings)


def handle(fn: Function, items: Sequence[Landed]) -> None:
    """One invocation, flushed as ``@metrics.log_metrics`` flushes after each one."""
    response = fn.app.handle(sqs_event(items), FakeContext())
    metrics.flush_metrics()
    if response != {"batchItemFailures": []}:
        raise RuntimeError(f"the handler failed records: {response}")


def plain_copy(
    s3: S3Client,
    source: tuple[str, str],
    target: tuple[str, str],
    part_size: int,
    parts_in_flight: int,
    *,
    encrypt: bool = False,
) -> int:
    """The baseline: a streamed GET re-cut into parts, at most ``parts_in_flight`` being sent.

    The same shape as the function's path (1 MiB reads, 16 MiB parts, the oldest part awaited
    before another is submitted) without the envelope, the checks and the delete. ``encrypt``
    (information only) adds raw AES-256-CBC of every chunk: the crypto cost without s3seal.
    """
    body = s3.get_object(Bucket=source[0], Key=source[1])["Body"]
    bucket, key = target
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    done: list[dict[str, Any]] = []
    in_flight: deque[tuple[int, Future[Any]]] = deque()
    numbers = count(1)
    size = 0

    def collect_oldest() -> None:
        number, future = in_flight.popleft()
        done.append({"PartNumber": number, "ETag": future.result()["ETag"]})

    with ThreadPoolExecutor(max_workers=parts_in_flight) as pool:

        def submit(part: bytes) -> None:
            if len(in_flight) >= parts_in_flight:
                collect_oldest()
            number = next(numbers)
            future = pool.submit(
                s3.upload_part,
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                Body=part,
            )
            in_flight.append((number, future))

        pending: list[bytes] = []
        pending_size = submitted = 0
        cipher = (
            Cipher(algorithms.AES(os.urandom(32)), modes.CBC(os.urandom(16))).encryptor()
            if encrypt
            else None
        )
        for chunk in body.iter_chunks(CHUNK_SIZE):
            if cipher is not None:
                chunk = cipher.update(chunk)  # noqa: PLW2901
            size += len(chunk)
            pending.append(chunk)
            pending_size += len(chunk)
            if pending_size >= part_size:
                joined = b"".join(pending)
                if pending_size == part_size:
                    pending, pending_size = [], 0
                else:
                    pending, pending_size = [joined[part_size:]], pending_size - part_size
                    joined = joined[:part_size]
                submit(joined)
                submitted += 1
                del joined
        if cipher is not None:
            pad = 16 - size % 16
            pending.append(cipher.update(bytes([pad]) * pad) + cipher.finalize())
            pending_size += len(pending[-1])
        if pending_size or not submitted:
            submit(b"".join(pending))
        while in_flight:
            collect_oldest()
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key=key,
        UploadId=upload_id,
        MultipartUpload={"Parts": done},  # type: ignore[typeddict-item]
    )
    return size


def transfer_copy(
    s3: S3Client,
    source: tuple[str, str],
    target: tuple[str, str],
    part_size: int,
    parts_in_flight: int,
) -> int:
    """Second baseline (information): the streamed GET body handed to s3transfer."""
    response = s3.get_object(Bucket=source[0], Key=source[1])
    config = TransferConfig(
        multipart_threshold=part_size,
        multipart_chunksize=part_size,
        max_concurrency=parts_in_flight,
    )
    s3.upload_fileobj(response["Body"], target[0], target[1], Config=config)
    return int(response["ContentLength"])


# --------------------------------------------------------------------------------------------
# Children: each section runs in a fresh interpreter and reports one JSON line
# --------------------------------------------------------------------------------------------


def report(result: Mapping[str, Any]) -> None:
    print(RESULT_MARKER + json.dumps(result), flush=True)


def run_child(name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """Run this module as ``--child name`` in a fresh interpreter; return what it reported."""
    args = dict(args) | {"cpu": PINS.client}
    command = [sys.executable, "-m", "bench.bench_handler", "--child", name, json.dumps(args)]
    done = subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        env=fake_aws_environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_MARKER) and done.returncode == 0:
            result: dict[str, Any] = json.loads(line.removeprefix(RESULT_MARKER))
            return result
    raise RuntimeError(f"child {name} failed (status {done.returncode}):\n{done.stderr[-4000:]}")


def server_for(args: Mapping[str, Any]) -> AbstractContextManager[str]:
    """The endpoint the orchestrator started, or (``--server thread``) one in this process."""
    if args["endpoint"] == "thread":
        return threaded_moto_server()

    @contextmanager
    def given() -> Iterator[str]:
        yield str(args["endpoint"])

    return given()


@dataclass
class Sample:
    seconds: float
    client_cpu: float
    server_cpu: float | None
    completing: float = 0.0
    """Seconds waiting for CompleteMultipartUpload (moto assembles the object then)."""
    listing: float = 0.0
    """Seconds waiting for ListObjectVersions (moto walks every version in the bucket)."""

    def __add__(self, other: Sample) -> Sample:
        server = (
            None
            if self.server_cpu is None or other.server_cpu is None
            else self.server_cpu + other.server_cpu
        )
        return Sample(
            self.seconds + other.seconds,
            self.client_cpu + other.client_cpu,
            server,
            self.completing + other.completing,
            self.listing + other.listing,
        )


WAITED_FOR = {"CompleteMultipartUpload": "completing", "ListObjectVersions": "listing"}
"""Calls whose time the Meter reports apart: moto's cost for them is far from S3's."""


class Meter:
    """Wall time, this process's CPU and (when it is a separate process) the server's CPU.

    With ``client``, also the time spent in that client's calls named in ``WAITED_FOR``.
    """

    def __init__(self, server_pid: int | None, client: S3Client | None = None) -> None:
        self.server_pid = server_pid
        self._waits: dict[str, float] = {}
        self._started: dict[str, float] = {}
        if client is not None:
            events = client.meta.events
            for operation in WAITED_FOR:
                events.register(f"before-call.s3.{operation}", self._before)
                events.register(f"after-call.s3.{operation}", self._after)

    def _before(self, model: Any, **_: Any) -> None:
        self._started[model.name] = time.perf_counter()

    def _after(self, model: Any, **_: Any) -> None:
        started = self._started.pop(model.name, None)
        if started is not None:
            field_name = WAITED_FOR[model.name]
            waited = time.perf_counter() - started
            self._waits[field_name] = self._waits.get(field_name, 0.0) + waited

    @contextmanager
    def measure(self, into: list[Sample]) -> Iterator[None]:
        gc.collect()
        server = process_cpu_seconds(self.server_pid) if self.server_pid else None
        cpu = own_cpu_seconds()
        self._waits = {}
        start = time.perf_counter()
        yield
        elapsed = time.perf_counter() - start
        cpu = own_cpu_seconds() - cpu
        if server is not None and self.server_pid:
            after = process_cpu_seconds(self.server_pid)
            server = None if after is None else after - server
        into.append(Sample(elapsed, cpu, server, **self._waits))


COPY_SIDES = ("handler", "plain", "plain+aes", "s3transfer")


def copy_side(fn: Function, side: str, item: Landed, copies: str) -> int:
    """Stage or copy ``item`` one way; returns the size of what was written."""
    settings = fn.settings
    padded = item.size + 16 - item.size % 16  # V1: PKCS#7 padding
    if side == "handler":
        handle(fn, [item])
        return padded
    source, target = (item.bucket, item.key), (copies, item.key)
    if side == "s3transfer":
        transfer_copy(fn.s3, source, target, settings.part_size, settings.parts_in_flight)
        return item.size
    encrypt = side == "plain+aes"
    plain_copy(fn.s3, source, target, settings.part_size, settings.parts_in_flight, encrypt=encrypt)
    return padded if encrypt else item.size


def copy_child(args: Mapping[str, Any]) -> dict[str, Any]:
    """Section 1: the function against plain copies of one large object, rounds interleaved."""
    size, rounds = int(args["size"]), int(args["rounds"])
    sides: list[str] = list(args["sides"])
    with server_for(args) as endpoint:
        setup = setup_client(endpoint)
        seed, landing = new_bucket(setup, "seed"), new_bucket(setup, "landing")
        staging, copies = new_bucket(setup, "staging"), new_bucket(setup, "copies")
        fn = function(endpoint, staging, landing)
        part_size = fn.settings.part_size
        meter = Meter(args.get("server_pid"), fn.s3)
        samples: dict[str, list[Sample]] = {side: [] for side in sides}

        def run(side: str, seed_key: str, object_size: int, key: str) -> None:
            # A fresh landing object per run, copied inside moto (the function deletes its own).
            copied = setup.copy_object(
                Bucket=landing, Key=key, CopySource={"Bucket": seed, "Key": seed_key}
            )
            etag = copied["CopyObjectResult"]["ETag"]
            item = landed(landing, key, object_size, copied["VersionId"], etag)
            sink: list[Sample] = [] if key.startswith("warm/") else samples[side]
            with meter.measure(sink):
                expected = copy_side(fn, side, item, copies)
            where = staging if side == "handler" else copies
            written = setup.head_object(Bucket=where, Key=key)["ContentLength"]
            if written != expected:
                raise RuntimeError(f"{side} wrote {written} bytes, expected {expected}")
            for bucket in (landing, staging, copies):
                empty_bucket(setup, bucket)

        # Untimed: each side once on a small object (code paths, service models, connections).
        warm = min(size, 2 * part_size)
        put_large(setup, seed, "warm", warm, part_size)
        for side in sides:
            run(side, "warm", warm, f"warm/{side}.bin")
        empty_bucket(setup, seed)
        put_large(setup, seed, "object", size, part_size)
        # Untimed: one full-size copy, so that no side's first round pays for moto's heap growing
        # to hold whole objects (that round was the slowest of every side's in trial runs).
        run("plain", "object", size, "warm/full-size.bin")
        for number in range(rounds):
            order = sides[number % len(sides) :] + sides[: number % len(sides)]
            for side in order:
                run(side, "object", size, f"round-{number}/{side}.bin")
    return {
        "secret_calls": len(fn.secret_calls),
        "samples": {side: [asdict(s) for s in rows] for side, rows in samples.items()},
    }


def memory_child(args: Mapping[str, Any]) -> dict[str, Any]:
    """Section 2: one large object staged (or plainly copied) in this fresh process."""
    endpoint, side = str(args["endpoint"]), str(args["side"])
    fn = function(endpoint, str(args["staging"]), str(args["item"]["bucket"]))
    item = Landed(**args["item"])
    fn.s3.list_buckets()  # load the S3 model before the baseline, as a warm container has
    gc.collect()
    before = status_kib("VmRSS")
    if before is None:
        raise RuntimeError("the memory section needs /proc/self/status (Linux)")
    start = time.perf_counter()
    if side == "handler":
        handle(fn, [item])
    else:
        key = item.key + ".plain"
        plain_copy(
            fn.s3,
            (item.bucket, item.key),
            (str(args["staging"]), key),
            fn.settings.part_size,
            fn.settings.parts_in_flight,
        )
    elapsed = time.perf_counter() - start
    peak = status_kib("VmHWM")
    return {
        "baseline_kib": before,
        "peak_kib": peak,
        "seconds": elapsed,
        "memory_bound": fn.settings.memory_bound,
        "part_size": fn.settings.part_size,
        "parts_in_flight": fn.settings.parts_in_flight,
    }


def small_child(args: Mapping[str, Any]) -> dict[str, Any]:
    """Section 3: many small objects in SQS batches against a plain get + put + delete loop.

    Each batch is landed just before it is processed (untimed), so the landing bucket never holds
    more than one batch: moto's ListObjectVersions walks every object in the bucket, which would
    make the function's per-object cost grow with the bucket (S3's does not).
    """
    total, size = int(args["objects"]), int(args["size"])
    rounds, batch = int(args["rounds"]), int(args["batch"])
    per_round = total // rounds
    with server_for(args) as endpoint:
        setup = setup_client(endpoint)
        landing, staging = new_bucket(setup, "landing"), new_bucket(setup, "staging")
        copies = new_bucket(setup, "copies")
        fn = function(endpoint, staging, landing)
        requests: Counter[str] = Counter()
        side_now = ["-"]
        fn.s3.meta.events.register(
            "before-call.s3", lambda model, **_: requests.update([f"{side_now[0]}:{model.name}"])
        )
        fn.s3.head_bucket(Bucket=landing)  # untimed: the S3 model and a connection
        requests.clear()
        meter = Meter(args.get("server_pid"), fn.s3)
        samples: dict[str, list[Sample]] = {"handler": [], "plain": []}
        bodies = [os.urandom(size) for _ in range(16)]

        def land(prefix: str, count: int) -> list[Landed]:
            out = []
            for n in range(count):
                key = f"{prefix}-{n:02d}.csv"
                put = setup.put_object(Bucket=landing, Key=key, Body=bodies[n % len(bodies)])
                out.append(landed(landing, key, size, put["VersionId"], put["ETag"]))
            return out

        def by_plain(items: list[Landed]) -> None:
            s3 = fn.s3
            for item in items:
                data = s3.get_object(Bucket=item.bucket, Key=item.key)["Body"].read()
                s3.put_object(Bucket=copies, Key=item.key, Body=data)
                s3.delete_object(Bucket=item.bucket, Key=item.key, VersionId=item.version_id)

        for number in range(rounds):
            order = ["handler", "plain"] if number % 2 == 0 else ["plain", "handler"]
            for side in order:
                batches: list[Sample] = []
                for start in range(0, per_round, batch):
                    items = land(
                        f"round-{number}/{side}/{start:05d}", min(batch, per_round - start)
                    )
                    side_now[0] = side
                    with meter.measure(batches):
                        if side == "handler":
                            handle(fn, items)
                        else:
                            by_plain(items)
                    side_now[0] = "-"
                samples[side].append(sum(batches[1:], batches[0]))
        left = setup.list_object_versions(Bucket=landing).get("Versions", [])
        pages = setup.get_paginator("list_objects_v2").paginate(Bucket=staging)
        staged = sum(page.get("KeyCount", 0) for page in pages)
        if left or staged != per_round * rounds:
            raise RuntimeError(f"{len(left)} objects left in landing, {staged} staged")
    return {
        "per_round": per_round,
        "secret_calls": len(fn.secret_calls),
        "requests": dict(requests),
        "samples": {side: [asdict(s) for s in rows] for side, rows in samples.items()},
    }


CHILDREN: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "copy": copy_child,
    "memory": memory_child,
    "small": small_child,
}


# --------------------------------------------------------------------------------------------
# Sections, as the orchestrator runs and prints them
# --------------------------------------------------------------------------------------------


@dataclass
class Verdict:
    check: str
    value: str
    target: str
    passed: bool


def _samples(raw: Sequence[Mapping[str, Any]]) -> list[Sample]:
    return [Sample(**row) for row in raw]


def _median_cpu(rows: Sequence[Sample], server: bool) -> str:
    values = [r.server_cpu if server else r.client_cpu for r in rows]
    known = [v for v in values if v is not None]
    return f"{statistics.median(known):.1f}" if known else "-"


@contextmanager
def endpoint_for(mode: str) -> Iterator[tuple[str, int | None, MotoServer | None]]:
    """A fresh server per section: its memory (moto keeps old bodies) does not carry over."""
    if mode == "thread":
        yield "thread", None, None
        return
    with MotoServer(PINS.server) as server:
        yield server.endpoint, server.pid, server


def _server_note(server: MotoServer | None) -> str:
    if server is None:
        return "moto server: in the measuring process (--server thread)"
    peak = server.peak_rss_mib()
    return f"moto server: separate process, peak RSS {peak or 0:.0f} MiB"


def run_copy(plan: Plan, mode: str, sides: Sequence[str]) -> list[Verdict]:
    size = plan.copy_object
    print(
        f"1. Large object: {_size(size)} staged by App.handle (SQS event; V1, 16 MiB parts, "
        f"PARTS_IN_FLIGHT default) vs plain boto3 copies through the same endpoint; "
        f"{plan.copy_rounds} rounds per side, order rotating."
    )
    print(
        "   plain: streamed GET, 16 MiB parts, the same parts in flight (the judged baseline). "
        "Information only:\n   plain+aes: plain plus raw AES-256-CBC of every chunk; s3transfer: "
        "the GET body to upload_fileobj\n   (TransferConfig with the same chunk size and "
        "concurrency)."
    )
    with endpoint_for(mode) as (endpoint, pid, server):
        result = run_child(
            "copy",
            {
                "endpoint": endpoint,
                "server_pid": pid,
                "size": size,
                "rounds": plan.copy_rounds,
                "sides": list(sides),
            },
        )
        note = _server_note(server)
    samples = {side: _samples(rows) for side, rows in result["samples"].items()}
    print()
    head = (
        f"   {'side':<10} {'best s':>6} {'median s':>8} {'MiB/s':>5}  {'rounds s':<18} "
        f"{'listing s':>9} {'completing s':>12} {'client CPU s':>12} {'server CPU s':>12}"
    )
    print(head)
    print("   " + "-" * (len(head) - 3))
    for side, rows in samples.items():
        times = [r.seconds for r in rows]
        listing = statistics.median(r.listing for r in rows)
        completing = statistics.median(r.completing for r in rows)
        print(
            f"   {side:<10} {min(times):>6.2f} {statistics.median(times):>8.2f} "
            f"{size / MiB / min(times):>5.0f}  {' '.join(f'{t:.2f}' for t in times):<18} "
            f"{listing:>9.2f} {completing:>12.2f} "
            f"{_median_cpu(rows, False):>12} {_median_cpu(rows, True):>12}"
        )
    print(
        "   MiB/s: best round; the other columns: medians. listing / completing: how long moto "
        "took to answer\n   ListObjectVersions (the function lists the key's versions beside "
        "the GET, so this overlaps the\n   transfer; bench.moto_s3 no longer copies bodies to "
        "list) and CompleteMultipartUpload (moto\n   assembles the object; its time varies most)."
    )
    handler = [r.seconds for r in samples["handler"]]
    plain = [r.seconds for r in samples["plain"]]
    best = min(handler) / min(plain)
    paired = statistics.median(h / p for h, p in zip(handler, plain, strict=True))
    print()
    print(
        f"   ratio handler/plain: best {best:.3f}, median of per-round ratios {paired:.3f} "
        f"(target <= {COPY_RATIO_TARGET:.2f}, judged on best)"
    )

    plain_best = min(plain)
    if "plain+aes" in samples:
        aes = min(r.seconds for r in samples["plain+aes"])
        print(
            f"   information: plain+aes/plain best {aes / plain_best:.3f} (the crypto), "
            f"handler/plain+aes best {min(handler) / aes:.3f} (the rest of the function)"
        )
    if "s3transfer" in samples:
        transfer = min(r.seconds for r in samples["s3transfer"])
        print(
            f"   information: plain/s3transfer best {plain_best / transfer:.3f}, "
            f"handler/s3transfer best {min(handler) / transfer:.3f}"
        )
    cpu_h = [r.client_cpu + (r.server_cpu or 0.0) for r in samples["handler"]]
    cpu_p = [r.client_cpu + (r.server_cpu or 0.0) for r in samples["plain"]]
    client_h = statistics.median(r.client_cpu for r in samples["handler"])
    client_p = statistics.median(r.client_cpu for r in samples["plain"])
    print(
        f"   information: CPU handler/plain (medians): client {client_h / client_p:.2f}, "
        f"client + server {statistics.median(cpu_h) / statistics.median(cpu_p):.2f}"
    )
    print(f"   {note}")
    return [
        Verdict(
            f"{_size(size)} staging time / plain copy (best)",
            f"{best:.3f}",
            f"<= {COPY_RATIO_TARGET:.2f}",
            best <= COPY_RATIO_TARGET,
        )
    ]


def run_memory(plan: Plan, with_plain: bool) -> list[Verdict]:
    size = plan.memory_object
    print(
        f"2. Peak RSS: {_size(size)} staged by App.handle in a fresh subprocess; the moto server "
        "is another process. peak = that subprocess's VmHWM (whole life, imports included)."
    )
    with MotoServer(PINS.server) as server:
        setup = setup_client(server.endpoint)
        landing, staging = new_bucket(setup, "landing"), new_bucket(setup, "staging")
        put_large(setup, landing, "big.bin", size, 16 * MiB)
        head = setup.head_object(Bucket=landing, Key="big.bin")
        item = landed(landing, "big.bin", size, head["VersionId"], head["ETag"])
        args = {"endpoint": server.endpoint, "staging": staging, "item": asdict(item)}
        # The plain copy first: the function deletes the plaintext it staged.
        sides = ["plain", "handler"] if with_plain else ["handler"]
        results = {side: run_child("memory", args | {"side": side}) for side in sides}
        staged = setup.head_object(Bucket=staging, Key="big.bin")["ContentLength"]
        if staged != size + 16 - size % 16:
            raise RuntimeError(f"staged {staged} bytes for {size}")
        note = _server_note(server)
    print()
    head_line = (
        f"   {'process':<22} {'after setup':>11} {'peak (VmHWM)':>12} {'growth':>9} {'seconds':>8}"
    )
    print(head_line)
    print("   " + "-" * (len(head_line) - 3))
    for side, result in results.items():
        base, peak = result["baseline_kib"] / 1024, result["peak_kib"] / 1024
        label = "App.handle" if side == "handler" else "plain copy (info)"
        print(
            f"   {label:<22} {base:>7.1f} MiB {peak:>8.1f} MiB {peak - base:>5.1f} MiB "
            f"{result['seconds']:>8.1f}"
        )
    handler = results["handler"]
    bound = handler["memory_bound"]
    part, in_flight = handler["part_size"], handler["parts_in_flight"]
    print()
    extra = bound // part - in_flight
    print(
        f"   Settings.memory_bound = part_size x (parts_in_flight + {extra}) = {part // MiB} MiB x "
        f"({in_flight} + {extra}) = {bound / MiB:.0f} MiB of object data"
    )
    print(f"   {note}")
    peak = handler["peak_kib"] / 1024
    return [
        Verdict(
            f"peak RSS staging {_size(size)} (VmHWM)",
            f"{peak:.0f} MiB",
            f"< {RSS_TARGET_MIB:.0f} MiB",
            peak < RSS_TARGET_MIB,
        )
    ]


def run_small(plan: Plan, mode: str) -> list[Verdict]:
    total = plan.small_objects
    print(
        f"3. Small objects: {total} objects of {plan.small_size // KiB} KiB, as SQS batches of "
        f"{plan.batch_size} (one App, as a warm container), vs a plain boto3 get + put + delete "
        f"loop; {plan.small_rounds} rounds of {total // plan.small_rounds} per side, alternating."
        "\n   Each batch is put into landing (untimed) just before it is processed: moto's "
        "ListObjectVersions\n   walks every object in the bucket, so a full bucket would slow "
        "the function's listing (S3's does not)."
    )
    with endpoint_for(mode) as (endpoint, pid, server):
        result = run_child(
            "small",
            {
                "endpoint": endpoint,
                "server_pid": pid,
                "objects": total,
                "size": plan.small_size,
                "rounds": plan.small_rounds,
                "batch": plan.batch_size,
            },
        )
        note = _server_note(server)
    per_round = int(result["per_round"])
    samples = {side: _samples(rows) for side, rows in result["samples"].items()}
    requests: dict[str, int] = result["requests"]
    print()
    head = (
        f"   {'side':<8} {'objects/s':>9} {'best round':>10} {'requests/object':>15} "
        f"{'client CPU ms/obj':>17} {'server CPU ms/obj':>17}"
    )
    print(head)
    print("   " + "-" * (len(head) - 3))
    rates: dict[str, list[float]] = {}
    per_object: dict[str, float] = {}
    for side, rows in samples.items():
        objects = per_round * len(rows)
        rates[side] = [per_round / r.seconds for r in rows]
        overall = objects / sum(r.seconds for r in rows)
        calls = sum(n for name, n in requests.items() if name.startswith(f"{side}:")) / objects
        per_object[side] = calls
        client = sum(r.client_cpu for r in rows) / objects * 1000
        servers = [r.server_cpu for r in rows if r.server_cpu is not None]
        server_ms = f"{sum(servers) / objects * 1000:.1f}" if servers else "-"
        print(
            f"   {side:<8} {overall:>9.0f} {max(rates[side]):>10.0f} {calls:>15.1f} "
            f"{client:>17.1f} {server_ms:>17}"
        )
    handler_ops = sorted(
        (name.split(":", 1)[1], n) for name, n in requests.items() if name.startswith("handler:")
    )
    best = max(rates["handler"]) / max(rates["plain"])
    paired = statistics.median(h / p for h, p in zip(rates["handler"], rates["plain"], strict=True))
    print()
    print(
        f"   objects/s handler/plain: best {best:.3f}, median of per-round ratios {paired:.3f} "
        "(information: the function makes more requests per object, listed below)"
    )
    print(
        "   information: requests/s handler/plain (best rounds) "
        f"{best * per_object['handler'] / per_object['plain']:.3f}; "
        "ListObjectVersions answered in "
        f"{samples['handler'][0].listing / per_round * 1000:.1f} ms/object"
    )
    print("   handler requests: " + ", ".join(f"{name} {n}" for name, n in handler_ops))
    secret_calls = int(result["secret_calls"])
    print(f"   GetSecretValue calls for {per_round * plan.small_rounds} objects: {secret_calls}")
    print(f"   {note}")
    return [
        Verdict(
            f"GetSecretValue calls, {total} objects",
            str(secret_calls),
            f"== {SECRET_CALLS_TARGET}",
            secret_calls == SECRET_CALLS_TARGET,
        )
    ]


IMPORT_STATEMENTS = {
    "pass": "pass",
    "boto3": "import boto3",
    "handler": "import s3seal.encrypt.handler",
}


INIT_STATEMENTS = {
    "boto3 clients": "import boto3; boto3.client('s3'); boto3.client('secretsmanager')",
    "handler init": "import s3seal.encrypt.handler",
}
"""Information: the whole init phase. With AWS_LAMBDA_FUNCTION_NAME set, importing the handler
also reads the settings and builds its S3 and Secrets Manager clients (a bad setting fails init)."""


def _init_environment(env: Mapping[str, str]) -> dict[str, str]:
    return {
        **env,
        "AWS_LAMBDA_FUNCTION_NAME": "s3seal-bench",
        "AWS_REGION": REGION,
        "STAGING_BUCKET": "staging",
        "LANDING_BUCKETS": "landing",
        "ROOT_KEY_SECRET_ID": "s3seal/root-key",
    }


def _wall(statement: str, env: Mapping[str, str]) -> float:
    command = [sys.executable, "-c", statement]
    start = time.perf_counter()
    subprocess.run(command, cwd=PROJECT_ROOT, env=dict(env), check=True)
    return time.perf_counter() - start


def _medians(statements: Mapping[str, str], env: Mapping[str, str], runs: int) -> dict[str, float]:
    """Median wall seconds per statement, the statements interleaved in a rotating order."""
    times: dict[str, list[float]] = {name: [] for name in statements}
    names = list(statements)
    for number in range(runs):
        turn = number % len(names)
        for name in names[turn:] + names[:turn]:
            times[name].append(_wall(statements[name], env))
    return {name: statistics.median(values) for name, values in times.items()}


def _bytecode_environments(folder: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Environments whose .pyc files live under ``folder`` (nothing is written beside sources).

    The first has every module's .pyc written (by one untimed import of each statement). The
    second keeps only the standard library's: site-packages and s3seal are compiled at every
    import, as in the Lambda asset (built with ``pip --no-compile``; /var/task is read-only).
    """
    cached = fake_aws_environment()
    cached.pop("PYTHONDONTWRITEBYTECODE", None)
    cached.pop("POWERTOOLS_TRACE_DISABLED", None)
    cached["PYTHONPYCACHEPREFIX"] = str(folder / "all")
    # As in Lambda: LAMBDA_TASK_ROOT turns Powertools' Tracer on (it patches botocore) and puts the
    # X-Ray SDK in its Lambda mode. Outside it, the SDK builds a sampler with its own botocore X-Ray
    # client at import (about 80 ms) that a deployed function never builds. The SDK touches
    # /tmp/.aws-xray/initialized, as it does in Lambda.
    cached["LAMBDA_TASK_ROOT"] = str(PROJECT_ROOT / "lambda")
    for statement in IMPORT_STATEMENTS.values():
        _wall(statement, cached)
    for statement in INIT_STATEMENTS.values():  # building clients imports a few modules more
        _wall(statement, _init_environment(cached))
    stdlib_only = folder / "stdlib-only"
    shutil.copytree(folder / "all", stdlib_only)
    paths = sysconfig.get_paths()
    package_root = Path(s3seal.__file__).parent.parent
    for tree in {Path(paths["purelib"]), Path(paths["platlib"]), package_root}:
        shutil.rmtree(stdlib_only / tree.relative_to(tree.anchor), ignore_errors=True)
    uncached = dict(cached)
    uncached["PYTHONPYCACHEPREFIX"] = str(stdlib_only)
    uncached["PYTHONDONTWRITEBYTECODE"] = "1"
    return cached, uncached


def _importtime_medians(env: Mapping[str, str], runs: int) -> tuple[float, float, list[ImportLine]]:
    """Median ``-X importtime`` cumulative microseconds of ``s3seal.encrypt.handler`` and of
    ``boto3``, each in its own fresh interpreters, interleaved; and the last run's lines for the
    handler."""
    handler: list[int] = []
    boto3_alone: list[int] = []
    lines: list[ImportLine] = []
    for number in range(runs):
        order = ("handler", "boto3") if number % 2 == 0 else ("boto3", "handler")
        for name in order:
            found = importtime(IMPORT_STATEMENTS[name], env, cwd=PROJECT_ROOT)
            if name == "handler":
                lines = found
                handler.append(subtree(found, "s3seal.encrypt.handler")[-1].cumulative_us)
            else:
                boto3_alone.append(next(x.cumulative_us for x in found if x.name == "boto3"))
    return statistics.median(handler), statistics.median(boto3_alone), lines


def run_imports(plan: Plan) -> list[Verdict]:
    runs = plan.import_runs
    print(
        "4. Cold start, as the issue defines it: `python -X importtime`, the cumulative time of "
        "`import s3seal.encrypt.handler`\n   against that of `import boto3`, each in fresh "
        "interpreters, "
        f"{runs} runs each, interleaved; judged: the ratio of the\n   medians. Every .pyc written "
        "first (in a temporary PYTHONPYCACHEPREFIX), LAMBDA_TASK_ROOT set as in Lambda\n   (the "
        "Tracer on, X-Ray in its Lambda mode). Information: the wall time of `python -c STATEMENT` "
        "above `python -c pass`."
    )
    with tempfile.TemporaryDirectory(prefix="bench-handler-pyc-") as folder:
        env, uncached = _bytecode_environments(Path(folder))
        handler_us, boto3_us, lines = _importtime_medians(env, runs)
        cached_times = _medians(IMPORT_STATEMENTS, env, runs)
        compiled_times = _medians(IMPORT_STATEMENTS, uncached, max(3, runs // 2))
        init_times = _medians(INIT_STATEMENTS, _init_environment(env), runs)
    ratio = handler_us / boto3_us
    print()
    print(
        f"   -X importtime: import boto3                   median {boto3_us / 1000:6.0f} ms "
        "cumulative"
    )
    print(
        f"   -X importtime: import s3seal.encrypt.handler  median {handler_us / 1000:6.0f} ms "
        "cumulative"
    )
    print(f"   ratio handler/boto3 {ratio:.2f} (target <= {IMPORT_RATIO_TARGET:.2f})")
    base = cached_times["pass"]
    boto3_s = cached_times["boto3"] - base
    handler_s = cached_times["handler"] - base
    print(
        f"   information, wall time above `python -c pass` ({base * 1000:.0f} ms): boto3 "
        f"{boto3_s * 1000:.0f} ms, s3seal.encrypt.handler {handler_s * 1000:.0f} ms, ratio "
        f"{handler_s / boto3_s:.2f}\n   (it also counts the interpreter's teardown of the "
        "modules imported)"
    )
    base_c = compiled_times["pass"]
    boto3_c = compiled_times["boto3"] - base_c
    handler_c = compiled_times["handler"] - base_c
    print(
        "   information, wall time without .pyc for site-packages and s3seal (as in the Lambda "
        f"asset): boto3 {boto3_c * 1000:.0f} ms,\n   s3seal.encrypt.handler "
        f"{handler_c * 1000:.0f} ms, "
        f"ratio {handler_c / boto3_c:.2f}"
    )
    clients_s = init_times["boto3 clients"] - base
    init_s = init_times["handler init"] - base
    print(
        "   information, wall time of the init phase as Lambda runs it (AWS_LAMBDA_FUNCTION_NAME "
        "set: the handler\n   also reads its settings and builds its two clients): "
        f"s3seal.encrypt.handler {init_s * 1000:.0f} ms against {clients_s * 1000:.0f} ms for "
        "boto3 "
        f"with the same two clients, ratio {init_s / clients_s:.2f}"
    )
    tree = subtree(lines, "s3seal.encrypt.handler")
    print(
        "   what s3seal.encrypt.handler's import spends its time on (direct imports >= 3 ms, "
        "in order):"
    )
    for line in tree:
        if line.depth == 1 and line.cumulative_us >= 3000:
            print(
                f"     {line.cumulative_us / 1000:6.1f} ms cumulative {line.self_us / 1000:6.1f} "
                f"ms self  {line.name}"
            )
    by_top: Counter[str] = Counter()
    for line in tree:
        by_top[line.name.split(".", 1)[0]] += line.self_us
    print(
        "   self time by top-level package: "
        + ", ".join(f"{name} {us / 1000:.0f} ms" for name, us in by_top.most_common(7))
    )
    return [
        Verdict(
            "import s3seal.encrypt.handler / import boto3",
            f"{ratio:.2f}",
            f"<= {IMPORT_RATIO_TARGET:.2f}",
            ratio <= IMPORT_RATIO_TARGET,
        )
    ]


# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_handler",
        description="The encrypting function against a local moto S3: large-object time and peak "
        "RSS, small-object throughput and secret calls, import time; ratios against baselines "
        "measured in the same run.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke-test sizes: 64 MiB / 128 MiB objects, 200 small objects, 2 rounds",
    )
    parser.add_argument(
        "--server",
        choices=SERVER_MODES,
        default="process",
        help="where moto runs for sections 1 and 3: its own process (default) or a thread of "
        "the measuring process (section 2 always uses a separate process)",
    )
    parser.add_argument("--rounds", type=int, help="large-object rounds per side (default 3)")
    parser.add_argument(
        "--judged-only",
        action="store_true",
        help="section 1 with the handler and plain sides only (no plain+aes, no s3transfer)",
    )
    parser.add_argument(
        "--skip-plain-memory",
        action="store_true",
        help="leave out the plain copy's peak RSS (information) in section 2",
    )
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run (default: all of {','.join(SECTIONS)})",
    )
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="do not pin the moto server and the measuring process to separate CPUs",
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    use_fake_aws_environment()
    if args.child:
        name, raw = args.child
        child_args = json.loads(raw)
        if child_args.get("endpoint") != "thread":
            pin_to(child_args.get("cpu"))
        report(CHILDREN[name](child_args))
        return 0

    plan = QUICK if args.quick else FULL
    if args.rounds is not None:
        if args.rounds < 1:
            parser.error("--rounds must be at least 1")
        plan = replace(plan, copy_rounds=args.rounds)
    pins = None if args.no_pin else pinning()
    if pins is not None:
        PINS.server, PINS.client = pins
    sides = ["handler", "plain"] if args.judged_only else list(COPY_SIDES)
    started = time.perf_counter()
    available = mem_available_gib()
    print(
        f"s3seal handler benchmark ({'quick' if args.quick else 'full'} run): "
        f"Python {platform.python_version()}, boto3 {boto3.__version__}, botocore "
        f"{botocore.__version__}, {os.cpu_count()} CPUs, "
        f"{'?' if available is None else f'{available:.1f}'} GiB available, "
        f"moto server: {args.server}, "
        + (f"on CPU {PINS.server}, measuring process on CPU {PINS.client}" if pins else "unpinned")
    )
    needed = 12.0 if plan.memory_object >= GiB else 1.0
    if available is not None and available < needed:
        print(
            f"warning: moto holds whole objects in memory (about {needed:.0f} GiB at peak for "
            f"these sizes); only {available:.1f} GiB are available"
        )
    print()
    verdicts: list[Verdict] = []
    sections = [name.strip() for name in args.sections.split(",") if name.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    for name in SECTIONS:
        if name not in sections:
            continue
        if name == "copy":
            verdicts += run_copy(plan, args.server, sides)
        elif name == "memory":
            verdicts += run_memory(plan, with_plain=not args.skip_plain_memory)
        elif name == "small":
            verdicts += run_small(plan, args.server)
        else:
            verdicts += run_imports(plan)
        print()
    head = f"{'check':<44} {'value':>9} {'target':>10}  result"
    print(head)
    print("-" * len(head))
    for verdict in verdicts:
        print(
            f"{verdict.check:<44} {verdict.value:>9} {verdict.target:>10}  "
            f"{'PASS' if verdict.passed else 'FAIL'}"
        )
    ok = all(v.passed for v in verdicts)
    print()
    print(
        f"{'all targets met' if ok else 'SOME TARGETS MISSED'} "
        f"({time.perf_counter() - started:.0f} s)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
