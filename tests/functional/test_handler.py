"""The encrypting function end to end against a moto server: every trigger shape, one object's
journey from landing to staging, and what the staged object carries."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import os
from typing import Any, cast

import pytest

from s3seal.encrypt import handler as handler_module
from s3seal.envelope import EnvelopeMetadata, Format

from .conftest import FakeContext, Harness, load_event

MiB = 1024 * 1024


def assert_staged_and_gone(h: Harness, key: str, plaintext: bytes) -> None:
    """The object is staged, decrypts to ``plaintext``, and no plaintext version is left."""
    assert h.staged_plaintext(key) == plaintext
    assert h.versions(h.landing, key) == []


def test_sqs_batch_stages_every_object_and_removes_the_plaintext(
    harness: Harness, context: FakeContext
) -> None:
    # GIVEN three objects in landing, their notifications delivered in one SQS batch
    landed = [harness.put(f"in/file-{n}.csv", os.urandom(1000 * n)) for n in range(3)]
    event = harness.sqs_event(*(harness.notification(item) for item in landed))
    # WHEN the function handles the batch
    response = harness.app().handle(event, context)
    # THEN no record failed, each object is staged and decryptable, and landing is empty
    assert response == {"batchItemFailures": []}
    for item in landed:
        assert_staged_and_gone(harness, item.key, item.body)


def test_staged_object_names_its_source_and_keeps_content_type(
    harness: Harness, context: FakeContext
) -> None:
    item = harness.put("in/orders.jsonl", b'{"id": 1}\n', content_type="application/x-ndjson")
    harness.app(STAGING_PREFIX="sealed/").handle(harness.notification(item), context)
    body, metadata, response = harness.staged("sealed/in/orders.jsonl")
    assert response["ContentType"] == "application/x-ndjson"
    assert metadata["s3seal-source-bucket"] == harness.landing
    assert metadata["s3seal-source-key-sha256"] == hashlib.sha256(b"in/orders.jsonl").hexdigest()
    assert metadata["s3seal-source-version"] == item.version_id
    assert metadata["s3seal-source-etag"] == item.etag
    assert metadata["s3seal-source-sequencer"] == item.sequencer
    envelope = EnvelopeMetadata.parse(metadata)
    assert envelope.format is Format.V3  # the default
    description = envelope.description
    assert description["s3seal:secret-version"]
    assert description["s3seal:secret-arn"].endswith(
        harness.secret_id + "-" + description["s3seal:secret-arn"].rsplit("-", 1)[-1]
    )
    assert len(body) == len(b'{"id": 1}\n') + 16  # V3: ciphertext, then the 16-byte tag


@pytest.mark.parametrize(
    ("key", "encoded"),
    [
        ("in/sales 2026.csv", "in/sales+2026.csv"),
        ("in/a+b.csv", "in/a%2Bb.csv"),
        ("in/café ünïcode/数据.csv", "in/caf%C3%A9+%C3%BCn%C3%AFcode/%E6%95%B0%E6%8D%AE.csv"),
    ],
    ids=["space-as-plus", "literal-plus", "unicode"],
)
def test_keys_are_url_decoded_once(
    harness: Harness, context: FakeContext, key: str, encoded: str
) -> None:
    item = harness.put(key, b"a|b\n")
    event = {"Records": [harness.s3_record(item, encoded_key=encoded)]}
    harness.app().handle(event, context)
    assert_staged_and_gone(harness, key, b"a|b\n")


def test_test_event_is_acknowledged_and_ignored(harness: Harness, context: FakeContext) -> None:
    event = harness.sqs_event(load_event("s3_test_event.json"))
    assert harness.app().handle(event, context) == {"batchItemFailures": []}
    assert harness.s3.list_objects_v2(Bucket=harness.staging).get("KeyCount") == 0


def test_folder_marker_is_skipped_but_empty_file_is_encrypted(
    harness: Harness, context: FakeContext
) -> None:
    marker = harness.put("in/folder/", b"")
    empty = harness.put("in/empty.csv", b"")
    harness.app().handle(harness.notification(marker, empty), context)
    assert_staged_and_gone(harness, "in/empty.csv", b"")
    assert [v["Key"] for v in harness.versions(harness.landing)] == ["in/folder/"]
    staged_keys = [o["Key"] for o in harness.s3.list_objects_v2(Bucket=harness.staging)["Contents"]]
    assert staged_keys == ["in/empty.csv"]


def test_eventbridge_object_created(harness: Harness, context: FakeContext) -> None:
    item = harness.put("in/report 2026:11.jsonl", b'{"a": 1}\n')
    event = load_event("eventbridge_object_created.json")
    obj = event["detail"]["object"]
    event["detail"]["bucket"]["name"] = harness.landing
    obj.update(
        {"key": item.key, "size": len(item.body), "etag": item.etag, "version-id": item.version_id}
    )
    result = harness.app().handle(event, context)
    assert result["objects"][0]["action"] == "staged"
    assert_staged_and_gone(harness, item.key, item.body)


@pytest.mark.parametrize("schema", ["1.0", "2.0"])
def test_batch_operations_answers_per_task(
    harness: Harness, context: FakeContext, schema: str
) -> None:
    # GIVEN a small object, an over-limit one and a version that no longer exists
    small = harness.put("in/café menu.csv", b"x" * 100)
    big = harness.put("in/big.csv", b"y" * 5000)
    event = load_event(f"batch_operations_{schema}.json")
    template = event["tasks"][0]
    tasks = []
    for number, (key, version) in enumerate(
        [
            ("in/caf%C3%A9+menu.csv", small.version_id),
            ("in/big.csv", big.version_id),
            ("in/gone.csv", None),
        ]
    ):
        task = dict(template, taskId=f"task-{number}", s3Key=key, s3VersionId=version)
        if schema == "1.0":
            task["s3BucketArn"] = f"arn:aws:s3:::{harness.landing}"
        else:
            task["s3Bucket"] = harness.landing
        tasks.append(task)
    event["tasks"] = tasks
    # WHEN the job invokes the function with MAX_OBJECT_BYTES below the big object
    response = harness.app(MAX_OBJECT_BYTES="1000").handle(event, context)
    # THEN the answer follows the schema, one result per task
    assert response["invocationSchemaVersion"] == schema
    assert response["invocationId"] == event["invocationId"]
    codes = {r["taskId"]: r["resultCode"] for r in response["results"]}
    assert codes == {"task-0": "Succeeded", "task-1": "PermanentFailure", "task-2": "Succeeded"}
    assert "MAX_OBJECT_BYTES" in response["results"][1]["resultString"]
    assert_staged_and_gone(harness, "in/café menu.csv", small.body)
    assert len(harness.versions(harness.landing, "in/big.csv")) == 1  # kept, untouched


def test_one_bad_record_fails_alone(harness: Harness, context: FakeContext) -> None:
    good = [harness.put(f"in/ok-{n}.csv", b"ok\n" * n) for n in range(1, 3)]
    big = harness.put("in/too-big.csv", b"z" * 4096)
    event = harness.sqs_event(
        harness.notification(good[0]),
        harness.notification(big),
        "not json",
        harness.notification(good[1]),
    )
    response = harness.app(MAX_OBJECT_BYTES="1024").handle(event, context)
    assert response == {
        "batchItemFailures": [{"itemIdentifier": "message-1"}, {"itemIdentifier": "message-2"}]
    }
    for item in good:
        assert_staged_and_gone(harness, item.key, item.body)
    assert len(harness.versions(harness.landing, "in/too-big.csv")) == 1


def test_gzip_compression_stages_dot_gz(harness: Harness, context: FakeContext) -> None:
    rows = b"".join(b"%d|2026-11-24|widget|%d\n" % (n, n * 7) for n in range(20_000))
    item = harness.put("in/rows.csv", rows)
    harness.app(COMPRESSION="gzip").handle(harness.notification(item), context)
    compressed = harness.staged_plaintext("in/rows.csv.gz")
    assert gzip.decompress(compressed) == rows
    assert len(compressed) < len(rows) // 3
    assert harness.versions(harness.landing, "in/rows.csv") == []


def test_v2_format_and_multipart_above_part_size(harness: Harness, context: FakeContext) -> None:
    data = os.urandom(12 * MiB + 3)
    item = harness.put("in/large.bin", data)
    harness.app(ENVELOPE_FORMAT="v2", PART_SIZE_MIB="5").handle(harness.notification(item), context)
    body, metadata, _ = harness.staged("in/large.bin")
    assert EnvelopeMetadata.parse(metadata).format is Format.V2
    assert len(body) == len(data) + 16
    head = harness.s3.head_object(Bucket=harness.staging, Key="in/large.bin", PartNumber=1)
    assert head["PartsCount"] == 3
    assert_staged_and_gone(harness, item.key, data)


def test_secret_is_fetched_once_for_many_objects(harness: Harness, context: FakeContext) -> None:
    items = [harness.put(f"in/n{n}.csv", b"%d\n" % n) for n in range(12)]
    app = harness.app()
    for start in range(0, 12, 4):
        app.handle(
            harness.sqs_event(*(harness.notification(i) for i in items[start : start + 4])), context
        )
    assert harness.secret_calls == ["GetSecretValue"]


def test_handler_entry_point_with_powertools(
    harness: Harness,
    context: FakeContext,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # GIVEN the module-level handler configured from the environment, as in Lambda
    monkeypatch.setenv("STAGING_BUCKET", harness.staging)
    monkeypatch.setenv("LANDING_BUCKETS", harness.landing)
    monkeypatch.setenv("ROOT_KEY_SECRET_ID", harness.secret_id)
    monkeypatch.setenv("AWS_ENDPOINT_URL", harness.s3.meta.endpoint_url)
    handler_module.reset()
    item = harness.put("in/entry.csv", b"1|2\n")
    log_stream = io.StringIO()
    # Powertools binds its stream at import; point it at a buffer for this test.
    log_handler = cast(logging.StreamHandler[Any], handler_module.logger.registered_handler)
    previous = log_handler.setStream(log_stream)
    try:
        response = handler_module.handler(harness.sqs_event(harness.notification(item)), context)
    finally:
        if previous is not None:
            log_handler.setStream(previous)
        handler_module.reset()
    assert response == {"batchItemFailures": []}
    assert_staged_and_gone(harness, item.key, item.body)
    # AND the logs are JSON lines naming the object, and the metrics are EMF
    output = log_stream.getvalue() + capfd.readouterr().out
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    staged_logs = [line for line in lines if line.get("message") == "object staged"]
    assert staged_logs and staged_logs[0]["key"] == "in/entry.csv"
    assert staged_logs[0]["bucket"] == harness.landing
    emf: list[dict[str, Any]] = [line for line in lines if "_aws" in line]
    names = {
        m["Name"] for doc in emf for d in doc["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]
    }
    assert {"ObjectsStaged", "BytesStaged", "StageDuration"} <= names
