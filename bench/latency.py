"""Small objects under S3's latency: the encrypting function against a plain copy loop.

Run from the project root::

    .venv/bin/python -m bench.latency            # 3 rounds of 200 objects per side (about 2 min)
    .venv/bin/python -m bench.latency --quick    # 1 round of 50 (about 20 s)

A moto server runs on loopback in its own process, and a delaying proxy (``bench.delay_proxy``,
another process) sits in front of it: every S3 request waits ``--delay-ms`` (default 20 ms), as
a request to S3 from Lambda takes tens of milliseconds where loopback moto takes one or two. Both
sides send every S3 request through the same proxy, which counts them.

- **handler**: ``App.from_env`` as Lambda builds it (default settings, the stack's default memory
  1,769 MB, so the records of a batch are staged concurrently), fed SQS batches of 10 messages,
  each an S3 ``ObjectCreated`` notification of an 8 KiB object.
- **plain**: the same client configuration in a sequential loop: GetObject, PutObject to another
  bucket, DeleteObject of the source version. No encryption, no checks.

Each batch is landed (straight to moto, untimed) just before it is processed, so the landing
bucket holds one batch at most (moto's version listing costs grow with the bucket; S3's do not).
The sides alternate, round by round, and the order swaps every round.

Judged, with a margin printed beside each (under 5% is flagged thin: one noisy minute could undo
it): handler objects/s / plain objects/s, the median of the rounds' ratios, >= 2; S3 requests per
object the handler made, as counted at the proxy, <= 4. The exit status is 1 if one is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from bench.bench_handler import (
    REGION,
    FakeContext,
    KiB,
    Landed,
    MotoServer,
    landed,
    new_bucket,
    own_cpu_seconds,
    process_cpu_seconds,
    sqs_event,
    use_fake_aws_environment,
)
from bench.delay_proxy import COUNTS_PATH
from s3seal.encrypt.handler import App, metrics
from s3seal.rootkey.keys import generate_root_key

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

DELAY_MS = 20.0
RATIO_TARGET = 2.0
REQUESTS_TARGET = 4.0
THIN_MARGIN = 0.05
FUNCTION_MEMORY_MB = "1769"
"""The stack's default (infra/settings.py): 15 records of a batch in flight at most."""
SIDES = ("handler", "plain")


@dataclass(frozen=True)
class Plan:
    objects: int
    """Objects per side per round."""
    rounds: int
    batch: int
    size: int


FULL = Plan(objects=200, rounds=3, batch=10, size=8 * KiB)
QUICK = Plan(objects=50, rounds=1, batch=10, size=8 * KiB)


class ProxyProcess:
    """``python -m bench.delay_proxy`` in front of ``upstream``, stopped when its stdin closes."""

    def __init__(self, upstream: str, delay_ms: float) -> None:
        command = [sys.executable, "-m", "bench.delay_proxy", "--upstream", upstream]
        command += ["--delay-ms", str(delay_ms)]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("listening on "):
            self.stop()
            raise RuntimeError(f"the delaying proxy did not start: {line!r}")
        self.endpoint = line.removeprefix("listening on ").strip()

    def take_counts(self) -> Counter[str]:
        with urllib.request.urlopen(self.endpoint + COUNTS_PATH, timeout=30) as response:
            return Counter(json.loads(response.read()))

    def stop(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def proxy_process(upstream: str, delay_ms: float) -> Iterator[ProxyProcess]:
    proxy = ProxyProcess(upstream, delay_ms)
    try:
        yield proxy
    finally:
        proxy.stop()


@dataclass
class Side:
    seconds: list[float]
    requests: Counter[str]
    objects: int = 0
    client_cpu: float = 0.0
    """CPU seconds of this process (the measured code) while the side ran."""
    server_cpu: float = 0.0
    """CPU seconds of the moto server while the side ran."""

    def rate(self, round_number: int, per_round: int) -> float:
        return per_round / self.seconds[round_number]


def plain_loop(s3: S3Client, items: Sequence[Landed], target: str) -> None:
    """The baseline: get, put, delete, one object after another."""
    for item in items:
        data = s3.get_object(Bucket=item.bucket, Key=item.key)["Body"].read()
        s3.put_object(Bucket=target, Key=item.key, Body=data)
        s3.delete_object(Bucket=item.bucket, Key=item.key, VersionId=item.version_id)


def handle(app: App, items: Sequence[Landed]) -> None:
    """One invocation, flushed as ``@metrics.log_metrics`` flushes after each one."""
    response = app.handle(sqs_event(items), FakeContext())
    metrics.flush_metrics()
    if response != {"batchItemFailures": []}:
        raise RuntimeError(f"the handler failed records: {response}")


def verdict(
    label: str, value: float, target: float, *, at_most: bool = False, count: bool = False
) -> bool:
    """Print and return whether ``value`` meets ``target``; ``count``: an exact count, which no
    noise moves, so no margin is asked of it."""
    margin = (target - value) / target if at_most else (value - target) / target
    passed = margin >= 0
    thin = margin < THIN_MARGIN and not count
    word = "MISSED" if not passed else ("met, thin" if thin else "met")
    sign = "<=" if at_most else ">="
    print(f"  {label}: {value:.2f} (target {sign} {target:g}, margin {margin:+.0%}): {word}")
    return passed


def run(plan: Plan, delay_ms: float) -> bool:
    use_fake_aws_environment()
    load = os.getloadavg()
    print(
        f"s3seal latency benchmark: {plan.rounds} round(s) of {plan.objects} objects of "
        f"{plan.size // KiB} KiB per side, SQS batches of {plan.batch}; every S3 request delayed "
        f"{delay_ms:g} ms by a proxy on loopback; {os.cpu_count()} CPUs, load average "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the start"
    )
    with MotoServer() as moto, proxy_process(moto.endpoint, delay_ms) as proxy:
        setup: S3Client = boto3.client("s3", endpoint_url=moto.endpoint, region_name=REGION)
        landing, staging = new_bucket(setup, "landing"), new_bucket(setup, "staging")
        copies = new_bucket(setup, "copies")
        secrets = boto3.client("secretsmanager", endpoint_url=moto.endpoint, region_name=REGION)
        secret_id = f"s3seal/root-key-{os.urandom(4).hex()}"
        secrets.create_secret(Name=secret_id, SecretString=generate_root_key())
        # As in Lambda: App.from_env builds its own clients; the S3 one goes through the proxy.
        os.environ["AWS_ENDPOINT_URL_S3"] = proxy.endpoint
        os.environ["AWS_ENDPOINT_URL_SECRETS_MANAGER"] = moto.endpoint
        app = App.from_env(
            {
                "STAGING_BUCKET": staging,
                "LANDING_BUCKETS": landing,
                "ROOT_KEY_SECRET_ID": secret_id,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": FUNCTION_MEMORY_MB,
            }
        )
        plain: S3Client = boto3.client(
            "s3", config=Config(retries={"mode": "standard", "max_attempts": 5})
        )
        bodies = [os.urandom(plan.size) for _ in range(16)]
        numbers = iter(range(10**9))

        def land(count: int) -> list[Landed]:
            out = []
            for n in range(count):
                key = f"in/{next(numbers):07d}.csv"
                put = setup.put_object(Bucket=landing, Key=key, Body=bodies[n % len(bodies)])
                out.append(landed(landing, key, plan.size, put["VersionId"], put["ETag"]))
            return out

        def one_batch(side: str, count: int) -> float:
            items = land(count)
            proxy.take_counts()
            server, client = process_cpu_seconds(moto.pid) or 0.0, own_cpu_seconds()
            start = time.perf_counter()
            if side == "handler":
                handle(app, items)
            else:
                plain_loop(plain, items, copies)
            elapsed = time.perf_counter() - start
            results[side].client_cpu += own_cpu_seconds() - client
            results[side].server_cpu += (process_cpu_seconds(moto.pid) or 0.0) - server
            results[side].requests.update(proxy.take_counts())
            return elapsed

        # Untimed: the secret, both clients' models and connections, as in a warm container.
        results = {side: Side([], Counter()) for side in SIDES}
        for side in SIDES:
            one_batch(side, plan.batch)
        results = {side: Side([], Counter()) for side in SIDES}  # the warm-up not counted
        for number in range(plan.rounds):
            order = SIDES if number % 2 == 0 else tuple(reversed(SIDES))
            for side in order:
                seconds = 0.0
                for start in range(0, plan.objects, plan.batch):
                    seconds += one_batch(side, min(plan.batch, plan.objects - start))
                results[side].seconds.append(seconds)
                results[side].objects += plan.objects
        left = setup.list_object_versions(Bucket=landing).get("Versions", [])
        staged = setup.list_objects_v2(Bucket=staging, MaxKeys=1000).get("KeyCount", 0)
        done = plan.objects * plan.rounds + plan.batch
        if left or staged != done:
            raise RuntimeError(f"{len(left)} objects left in landing, {staged} of {done} staged")
    return report(plan, results)


def report(plan: Plan, results: dict[str, Side]) -> bool:
    handler, plain = results["handler"], results["plain"]
    ratios = []
    print("\n  round   handler objects/s   plain objects/s   ratio")
    for number in range(plan.rounds):
        ours, theirs = handler.rate(number, plan.objects), plain.rate(number, plan.objects)
        ratios.append(ours / theirs)
        print(f"  {number + 1:5d}   {ours:17.1f}   {theirs:15.1f}   {ours / theirs:5.2f}")
    print("\n  requests per object, as counted at the proxy:")
    for name, side in results.items():
        per = sum(side.requests.values()) / side.objects
        detail = ", ".join(
            f"{op} {count / side.objects:g}" for op, count in side.requests.most_common()
        )
        print(f"    {name:8s} {per:.2f}  ({detail})")
    print("  CPU milliseconds per object (information; the proxy's own is not counted):")
    for name, side in results.items():
        client = 1000 * side.client_cpu / side.objects
        server = 1000 * side.server_cpu / side.objects
        print(f"    {name:8s} measured process {client:5.1f}, moto server {server:5.1f}")
    load = os.getloadavg()
    print(f"\n  load average at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")
    if len(ratios) > 1:
        print(f"  ratio, round by round: {min(ratios):.2f} to {max(ratios):.2f}")
    met = verdict(
        "handler objects/s / plain objects/s, median of rounds",
        statistics.median(ratios),
        RATIO_TARGET,
    )
    requests = sum(handler.requests.values()) / handler.objects
    met &= verdict(
        "handler S3 requests per object", requests, REQUESTS_TARGET, at_most=True, count=True
    )
    return met


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="one round of 50 objects per side")
    parser.add_argument("--delay-ms", type=float, default=DELAY_MS)
    parser.add_argument("--rounds", type=int, help="rounds per side (default 3)")
    parser.add_argument("--objects", type=int, help="objects per side per round (default 200)")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.rounds:
        plan = Plan(plan.objects, args.rounds, plan.batch, plan.size)
    if args.objects:
        plan = Plan(args.objects, plan.rounds, plan.batch, plan.size)
    return 0 if run(plan, args.delay_ms) else 1


if __name__ == "__main__":
    sys.exit(main())
