"""Records of one SQS batch staged at once (moto server): more than one in flight, the records of
one key in order, and the partial batch response naming exactly the failed messages."""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from s3seal.encrypt import handler as handler_module
from s3seal.names import METRIC_BYTES_STAGED, METRIC_OBJECTS_FAILED, METRIC_OBJECTS_STAGED

from .conftest import FakeContext, Harness, logs_of

LAMBDA_1769_MB = {"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769"}  # the stack's default: 15 workers
S3_LATENCY_SECONDS = 0.1
"""Each landing GetObject is held this long, as S3's latency would, so overlap is visible."""


@dataclass
class GetObjectWatch:
    """Concurrent GetObject calls to the landing bucket, counted by botocore's own events (its
    ``provide-client-params`` hook sees the call's parameters, before the request is sent)."""

    landing: str
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: int = 0
    max_in_flight: int = 0
    per_key: Counter[str] = field(default_factory=Counter)
    max_per_key: Counter[str] = field(default_factory=Counter)
    order: list[tuple[str, str | None]] = field(default_factory=list)

    def __call__(self, params: dict[str, Any], **_: Any) -> None:
        if params.get("Bucket") != self.landing:
            return
        key = params["Key"]
        with self.lock:
            self.in_flight += 1
            self.per_key[key] += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.max_per_key[key] = max(self.max_per_key[key], self.per_key[key])
            self.order.append((key, params.get("VersionId")))
        time.sleep(S3_LATENCY_SECONDS)
        with self.lock:
            self.in_flight -= 1
            self.per_key[key] -= 1


@pytest.fixture
def watch(harness: Harness) -> Iterator[GetObjectWatch]:
    watcher = GetObjectWatch(harness.landing)
    harness.s3.meta.events.register("provide-client-params.s3.GetObject", watcher)
    yield watcher
    harness.s3.meta.events.unregister("provide-client-params.s3.GetObject", watcher)


def test_ten_small_objects_are_staged_with_several_in_flight(
    harness: Harness, context: FakeContext, watch: GetObjectWatch
) -> None:
    # GIVEN ten small objects, their notifications in one SQS batch, a function of 1,769 MB
    landed = [harness.put(f"in/small-{n}.csv", os.urandom(512 + n)) for n in range(10)]
    event = harness.sqs_event(*(harness.notification(item) for item in landed))
    app = harness.app(**LAMBDA_1769_MB)
    assert app.settings.record_pool_size(10) == 10
    # WHEN the function handles the batch
    response = app.handle(event, context)
    # THEN more than one record was being read at once, and every object is staged
    assert response == {"batchItemFailures": []}
    assert watch.max_in_flight > 1
    for item in landed:
        assert harness.staged_plaintext(item.key) == item.body
        assert harness.versions(harness.landing, item.key) == []


def test_outside_lambda_records_are_staged_one_at_a_time(
    harness: Harness, context: FakeContext, watch: GetObjectWatch
) -> None:
    landed = [harness.put(f"in/seq-{n}.csv", b"row\n" * (n + 1)) for n in range(3)]
    event = harness.sqs_event(*(harness.notification(item) for item in landed))
    assert harness.app().handle(event, context) == {"batchItemFailures": []}
    assert watch.max_in_flight == 1
    assert [key for key, _ in watch.order] == [item.key for item in landed]


def test_records_of_one_key_run_in_order_and_the_newer_version_wins(
    harness: Harness, context: FakeContext, watch: GetObjectWatch
) -> None:
    # GIVEN two versions of one key, each with its notification, among other keys in one batch
    older = harness.put("in/daily.csv", b"old rows\n")
    others = [harness.put(f"in/other-{n}.csv", os.urandom(300)) for n in range(4)]
    newer = harness.put("in/daily.csv", b"new rows\n" * 3)
    event = harness.sqs_event(
        harness.notification(older),
        *(harness.notification(item) for item in others[:2]),
        harness.notification(newer),
        *(harness.notification(item) for item in others[2:]),
    )
    # WHEN the batch is staged concurrently
    response = harness.app(**LAMBDA_1769_MB).handle(event, context)
    # THEN the other keys overlapped, but the two records of the key never did, and ran in order
    assert response == {"batchItemFailures": []}
    assert watch.max_in_flight > 1
    assert watch.max_per_key["in/daily.csv"] == 1
    daily = [version for key, version in watch.order if key == "in/daily.csv"]
    assert daily == [older.version_id, newer.version_id]
    # AND the newer version is what staging holds; no plaintext version of the key is left
    assert harness.staged_plaintext("in/daily.csv") == newer.body
    assert harness.versions(harness.landing, "in/daily.csv") == []
    for item in others:
        assert harness.staged_plaintext(item.key) == item.body


def test_a_message_naming_two_keys_joins_both_keys_records(
    harness: Harness, context: FakeContext, watch: GetObjectWatch
) -> None:
    # GIVEN a message naming keys a and b, then later messages for new versions of a and of b
    a1, b1 = harness.put("in/a.csv", b"a1\n"), harness.put("in/b.csv", b"b1\n")
    a2, b2 = harness.put("in/a.csv", b"a2\n"), harness.put("in/b.csv", b"b2\n")
    event = harness.sqs_event(
        harness.notification(a1, b1), harness.notification(a2), harness.notification(b2)
    )
    # WHEN staged concurrently
    response = harness.app(**LAMBDA_1769_MB).handle(event, context)
    # THEN each key's records ran in order, one at a time, and the newer versions are staged
    assert response == {"batchItemFailures": []}
    assert watch.max_per_key["in/a.csv"] == 1
    assert watch.max_per_key["in/b.csv"] == 1
    assert [v for k, v in watch.order if k == "in/a.csv"] == [a1.version_id, a2.version_id]
    assert [v for k, v in watch.order if k == "in/b.csv"] == [b1.version_id, b2.version_id]
    assert harness.staged_plaintext("in/a.csv") == a2.body
    assert harness.staged_plaintext("in/b.csv") == b2.body


def test_partial_failure_names_exactly_the_failed_messages(
    harness: Harness, context: FakeContext, watch: GetObjectWatch
) -> None:
    # GIVEN a batch of ten where message 2 is too big, 5 is not JSON and 8 is too big
    good = {n: harness.put(f"in/ok-{n}.csv", b"ok\n" * (n + 1)) for n in range(10)}
    big = {n: harness.put(f"in/big-{n}.csv", b"z" * 4096) for n in (2, 8)}
    bodies: list[dict[str, Any] | str] = []
    for n in range(10):
        if n in big:
            bodies.append(harness.notification(big[n]))
        elif n == 5:
            bodies.append("not json")
        else:
            bodies.append(harness.notification(good[n]))
    event = harness.sqs_event(*bodies)
    # WHEN staged concurrently
    response = harness.app(MAX_OBJECT_BYTES="1024", **LAMBDA_1769_MB).handle(event, context)
    # THEN exactly the three failed messages are reported, in the batch's order
    assert response == {
        "batchItemFailures": [
            {"itemIdentifier": "message-2"},
            {"itemIdentifier": "message-5"},
            {"itemIdentifier": "message-8"},
        ]
    }
    assert watch.max_in_flight > 1
    for n, item in good.items():
        if n not in (2, 5, 8):
            assert harness.staged_plaintext(item.key) == item.body
    for item in big.values():
        assert len(harness.versions(harness.landing, item.key)) == 1  # kept, untouched


def test_every_record_failing_lists_them_all(harness: Harness, context: FakeContext) -> None:
    event = harness.sqs_event("not json", "{}", "[1, 2]")
    response = harness.app(**LAMBDA_1769_MB).handle(event, context)
    assert response == {"batchItemFailures": [{"itemIdentifier": f"message-{n}"} for n in range(3)]}


def test_the_root_key_is_fetched_once_for_a_concurrent_batch(
    harness: Harness, context: FakeContext
) -> None:
    landed = [harness.put(f"in/key-{n}.csv", b"x\n" * (n + 1)) for n in range(8)]
    event = harness.sqs_event(*(harness.notification(item) for item in landed))
    assert harness.app(**LAMBDA_1769_MB).handle(event, context) == {"batchItemFailures": []}
    assert harness.secret_calls == ["GetSecretValue"]


def test_log_lines_name_their_own_object(
    harness: Harness, context: FakeContext, watch: GetObjectWatch
) -> None:
    # Powertools' shared context keys would let one thread's object name leak into another's
    # lines: each "object staged" line must name the key it staged.
    landed = [harness.put(f"in/log-{n}.csv", os.urandom(100)) for n in range(6)]
    event = harness.sqs_event(*(harness.notification(item) for item in landed))
    with logs_of(handler_module.logger) as stream:
        harness.app(**LAMBDA_1769_MB).handle(event, context)
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    staged = [line for line in lines if line.get("message") == "object staged"]
    assert sorted(line["key"] for line in staged) == sorted(item.key for item in landed)
    for line in staged:
        assert f"/{line['key']}?versionId=" in line["staged"]
    assert watch.max_in_flight > 1


def test_metrics_of_a_concurrent_batch_count_every_object(
    harness: Harness, context: FakeContext, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN ten objects that stage and two that fail, in one batch staged concurrently
    landed = [harness.put(f"in/m-{n}.csv", os.urandom(200 + n)) for n in range(10)]
    big = [harness.put(f"in/m-big-{n}.csv", b"z" * 4096) for n in range(2)]
    event = harness.sqs_event(*(harness.notification(item) for item in [*landed, *big]))
    metrics = handler_module.metrics
    metrics.clear_metrics()
    capsys.readouterr()
    try:
        response = harness.app(MAX_OBJECT_BYTES="1024", **LAMBDA_1769_MB).handle(event, context)
        metric_set = {name: dict(entry) for name, entry in metrics.metric_set.items()}
    finally:
        metrics.clear_metrics()
    assert len(response["batchItemFailures"]) == 2
    # THEN every staged object was counted once (added from the workers under one lock) ...
    assert metric_set[METRIC_OBJECTS_STAGED]["Value"] == [1.0] * 10
    assert sorted(metric_set[METRIC_BYTES_STAGED]["Value"]) == [200.0 + n for n in range(10)]
    # ... and each failure emitted one whole single-metric line
    failures = [
        json.loads(line)
        for line in capsys.readouterr().out.splitlines()
        if METRIC_OBJECTS_FAILED in line
    ]
    assert [line[METRIC_OBJECTS_FAILED] for line in failures] == [[1.0], [1.0]]
