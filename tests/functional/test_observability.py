"""What the function tells operators: structured logs, metrics, and never a secret."""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from s3seal.encrypt import handler as handler_module
from s3seal.envelope import Format, encrypt_bytes
from s3seal.load.loader import Loader
from s3seal.load.settings import LoaderSettings, LoadMode
from s3seal.names import SECRET_ARN_FIELD, SECRET_VERSION_FIELD
from s3seal.rootkey import rotation

from ..conftest import REGION
from .conftest import FakeContext, Harness, logs_of
from .test_rotation import begin_rotation

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from s3seal.load.redshift_data import DataApiClient

PLAINTEXT_MARKER = b"CONFIDENTIAL-ROW-7f3a9c"


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    with logs_of(handler_module.logger) as stream:
        yield stream


def forms(secret: bytes) -> list[bytes]:
    """A secret as it could leak: raw, standard and URL-safe base64, hex in both cases."""
    return [
        secret,
        base64.b64encode(secret),
        base64.b64encode(secret).rstrip(b"="),
        base64.urlsafe_b64encode(secret).rstrip(b"="),
        secret.hex().encode(),
        secret.hex().upper().encode(),
    ]


def unwrap_data_key(root_key: bytes, metadata: dict[str, str]) -> bytes:
    """The staged object's data key, unwrapped here independently of s3seal: V1's AES-ECB, or
    V3's (the default) AES-GCM wrap, IV || ciphertext || tag with the AAD "115"."""
    if "x-amz-key" in metadata:
        decryptor = Cipher(algorithms.AES(root_key), modes.ECB()).decryptor()
        padded = decryptor.update(base64.b64decode(metadata["x-amz-key"])) + decryptor.finalize()
        return padded[:32]
    wrapped = base64.b64decode(metadata["x-amz-3"])
    return AESGCM(root_key).decrypt(wrapped[:12], wrapped[12:], b"115")


def test_logs_and_metrics_never_carry_keys_or_plaintext(
    harness: Harness,
    context: FakeContext,
    captured_logs: io.StringIO,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a batch of objects that stage, and one that fails (over MAX_OBJECT_BYTES)
    rows = [PLAINTEXT_MARKER + b"|%d\n" % n * 50 for n in range(5)]
    items = [harness.put(f"in/secret-{n}.csv", row) for n, row in enumerate(rows)]
    big = harness.put("in/too-big.csv", PLAINTEXT_MARKER * 200)
    event = harness.sqs_event(*(harness.notification(i) for i in [*items, big]))
    # WHEN the handler entry point runs at DEBUG, then again with an invalid key in the secret
    os.environ.update(
        STAGING_BUCKET=harness.staging,
        LANDING_BUCKETS=harness.landing,
        ROOT_KEY_SECRET_ID=harness.secret_id,
        AWS_ENDPOINT_URL=harness.s3.meta.endpoint_url,
        MAX_OBJECT_BYTES="4096",
        POWERTOOLS_LOG_LEVEL="DEBUG",
    )
    invalid_key = base64.b64encode(os.urandom(16)).decode()
    try:
        handler_module.reset()
        first = handler_module.handler(event, context)
        harness.secrets.put_secret_value(SecretId=harness.secret_id, SecretString=invalid_key)
        handler_module.reset()
        late = harness.put("in/late.csv", PLAINTEXT_MARKER + b"|late\n")
        second = handler_module.handler(harness.sqs_event(harness.notification(late)), context)
    finally:
        handler_module.reset()
        for name in ("STAGING_BUCKET", "LANDING_BUCKETS", "ROOT_KEY_SECRET_ID", "AWS_ENDPOINT_URL"):
            os.environ.pop(name, None)
        os.environ.pop("MAX_OBJECT_BYTES", None)
        os.environ.pop("POWERTOOLS_LOG_LEVEL", None)
    assert first == {"batchItemFailures": [{"itemIdentifier": "message-5"}]}
    assert second == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}
    output = (captured_logs.getvalue() + capfd.readouterr().out).encode()
    # THEN the output is about the objects (so the test is looking at the right text) ...
    assert b"in/secret-0.csv" in output and b"in/too-big.csv" in output
    assert b"InvalidRootKeyError" in output and b"ObjectTooLargeError" in output
    # ... and holds no root key, no data key, no invalid secret value and no plaintext
    secrets = [harness.root_key, base64.b64decode(invalid_key)]
    for item in items:
        _, metadata, _ = harness.staged(item.key)
        secrets.append(unwrap_data_key(harness.root_key, metadata))
    assert len(set(secrets)) == len(items) + 2
    for secret in secrets:
        for form in forms(secret):
            assert form not in output
    assert PLAINTEXT_MARKER not in output


def test_bad_setting_fails_the_init_phase_naming_the_variable() -> None:
    env = {
        **os.environ,
        "AWS_LAMBDA_FUNCTION_NAME": "s3seal-encrypt",
        "STAGING_BUCKET": "staging",
        "LANDING_BUCKETS": "landing",
        "ROOT_KEY_SECRET_ID": "s3seal/root-key",
        "PART_SIZE_MIB": "three",
    }
    result = subprocess.run(
        [sys.executable, "-c", "import s3seal.encrypt.handler"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "PART_SIZE_MIB='three' is not a whole number" in result.stderr


def test_in_lambda_the_tracer_patches_botocore_and_nothing_else(tmp_path: Path) -> None:
    # LAMBDA_TASK_ROOT is what turns Powertools' Tracer (and X-Ray's Lambda mode) on.
    probe = (
        "import sys, s3seal.encrypt.handler\n"
        "from aws_xray_sdk.core.patcher import _PATCHED_MODULES\n"
        "print(sorted(_PATCHED_MODULES))\n"
        "unwanted = ('sqlite3', 'requests', 'aws_xray_sdk.ext.httplib')\n"
        "print(sorted(name for name in unwanted if name in sys.modules))\n"
    )
    env = {**os.environ, "LAMBDA_TASK_ROOT": str(tmp_path), "AWS_REGION": "us-east-1"}
    env.pop("AWS_LAMBDA_FUNCTION_NAME", None)
    env.pop("POWERTOOLS_TRACE_DISABLED", None)
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    patched, unwanted = result.stdout.splitlines()
    assert patched == "['botocore']"
    assert unwanted == "[]"


# --- the root logger at DEBUG (Lambda's ApplicationLogLevel=DEBUG): the AWS SDK's loggers -------


@pytest.fixture
def root_debug(capfd: pytest.CaptureFixture[str]) -> Iterator[Callable[[], bytes]]:
    """The root logger at DEBUG, as Lambda's runtime sets it, with a handler that records every
    line that reaches it. Nothing is configured on the SDK's loggers: botocore's children are
    NOTSET and inherit whatever their parents say. Yields: all output so far (root, stdout,
    stderr)."""
    root = logging.getLogger()
    stream = io.StringIO()
    catch_all = logging.StreamHandler(stream)
    catch_all.setLevel(logging.DEBUG)
    level = root.level
    root.addHandler(catch_all)
    root.setLevel(logging.DEBUG)
    assert logging.getLogger("botocore.client").level == logging.NOTSET

    def output() -> bytes:
        captured = capfd.readouterr()
        return (stream.getvalue() + captured.out + captured.err).encode()

    try:
        yield output
    finally:
        root.removeHandler(catch_all)
        root.setLevel(level)


def assert_never_in(output: bytes, *secrets: bytes) -> None:
    for secret in secrets:
        for form in forms(secret):
            assert form not in output


def test_root_debug_the_encrypting_function_logs_no_key(
    harness: Harness,
    context: FakeContext,
    captured_logs: io.StringIO,
    root_debug: Callable[[], bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN the function's environment, the root logger at DEBUG
    item = harness.put("in/secret.csv", PLAINTEXT_MARKER + b"|1\n")
    for name, value in {
        "STAGING_BUCKET": harness.staging,
        "LANDING_BUCKETS": harness.landing,
        "ROOT_KEY_SECRET_ID": harness.secret_id,
        "AWS_ENDPOINT_URL": harness.s3.meta.endpoint_url,
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
    }.items():
        monkeypatch.setenv(name, value)
    handler_module.reset()
    try:
        # WHEN it stages an object (GetSecretValue, then S3 requests)
        result = handler_module.handler(harness.sqs_event(harness.notification(item)), context)
    finally:
        handler_module.reset()
    assert result == {"batchItemFailures": []}
    # THEN the SDK said nothing at DEBUG: no secret value, no data key, no plaintext
    output = root_debug() + captured_logs.getvalue().encode()
    assert b"in/secret.csv" in output
    _, metadata, _ = harness.staged(item.key)
    data_key = unwrap_data_key(harness.root_key, metadata)
    assert_never_in(output, harness.root_key, data_key)
    assert PLAINTEXT_MARKER not in output
    assert b"Response body" not in output


class FakeDataApi:
    """The Redshift Data API answered at the HTTP layer (``before-send``), so botocore builds,
    logs and parses requests and responses as it would with the real service."""

    def __init__(self) -> None:
        self.client = boto3.client("redshift-data", region_name=REGION)
        self.client.meta.events.register("before-send.redshift-data", self._answer)
        self.sqls: list[str] = []

    def _answer(self, request: Any, **_: Any) -> AWSResponse:
        target = request.headers["X-Amz-Target"]
        operation = (target.decode() if isinstance(target, bytes) else target).split(".")[-1]
        body = json.loads(request.body)
        answer: dict[str, Any] = {}
        if operation in ("ExecuteStatement", "BatchExecuteStatement"):
            self.sqls += body.get("Sqls") or [body["Sql"]]
            answer = {"Id": str(uuid.uuid4())}
        elif operation == "DescribeStatement":
            answer = {"Id": body["Id"], "Status": "FINISHED"}
        elif operation == "GetStatementResult":
            answer = {"Records": [[{"longValue": 0}]], "TotalNumRows": 1}
        headers: Any = {"Content-Type": "application/x-amz-json-1.1"}
        return AWSResponse(request.url, 200, headers, _Raw(json.dumps(answer).encode()))


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def test_root_debug_the_client_side_loader_logs_no_key(
    harness: Harness, root_debug: Callable[[], bytes]
) -> None:
    # GIVEN a staged V1 object under the root-key secret, the loader in client-side mode
    created = harness.secrets.describe_secret(SecretId=harness.secret_id)
    version = harness.secrets.get_secret_value(SecretId=harness.secret_id)["VersionId"]
    body, metadata = encrypt_bytes(
        harness.root_key,
        PLAINTEXT_MARKER + b"|1\n",
        Format.V1,
        description={SECRET_ARN_FIELD: created["ARN"], SECRET_VERSION_FIELD: version},
    )
    harness.s3.put_object(Bucket=harness.staging, Key="in/a.csv", Body=body, Metadata=metadata)
    settings = LoaderSettings(
        staging_bucket=harness.staging,
        table="sales",
        iam_role="arn:aws:iam::123456789012:role/RedshiftCopyRole",
        database="dev",
        cluster_identifier="analytics",
        db_user="loader",
        root_key_secret_id=harness.secret_id,
        mode=LoadMode.CLIENT_SIDE,
        poll_seconds=0,
    )
    data = FakeDataApi()
    loader = Loader(
        settings,
        harness.s3,
        cast("DataApiClient", data.client),
        harness.secrets,
        sleep=lambda seconds: None,
    )
    # WHEN it loads: GetSecretValue, then a COPY whose SQL carries the key to the Data API
    summary = loader.run().to_dict()
    # THEN the key went to the Data API (so the test looks at the right requests) ...
    assert summary["batches_loaded"] == 1
    assert any(harness.root_key_b64 in sql for sql in data.sqls)
    # ... and into no log line at any level
    assert_never_in(root_debug(), harness.root_key)


def test_root_debug_the_rotation_function_logs_no_key(
    harness: Harness, root_debug: Callable[[], bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a rotation begun as Secrets Manager begins it, the root logger at DEBUG
    monkeypatch.setenv("AWS_ENDPOINT_URL", harness.s3.meta.endpoint_url)
    sm = harness.secrets
    token = begin_rotation(sm, harness.secret_id)
    rotation.reset()
    try:
        # WHEN the function runs every step (PutSecretValue sends the new key)
        for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
            rotation.handler(
                {"SecretId": harness.secret_id, "ClientRequestToken": token, "Step": step},
                cast("LambdaContext", FakeContext()),
            )
    finally:
        rotation.reset()
    # THEN neither the old nor the new key is in the output
    new_key = sm.get_secret_value(SecretId=harness.secret_id, VersionId=token)["SecretString"]
    output = root_debug()
    assert_never_in(output, harness.root_key, base64.b64decode(new_key))


def test_entry_points_pin_the_sdk_loggers_in_a_fresh_interpreter() -> None:
    # GIVEN the root logger at DEBUG before anything of ours is imported (Lambda's runtime)
    probe = (
        "import logging, boto3\n"
        "logging.basicConfig(level=logging.DEBUG)\n"
        "import s3seal.encrypt.handler, s3seal.load.handler, s3seal.rootkey.rotation, s3seal.cli\n"
        # even a later stream logger at DEBUG on the parent leaves the body-writing children shut
        "boto3.set_stream_logger('botocore', logging.DEBUG)\n"
        "names = ['botocore.parsers', 'botocore.endpoint', 'botocore.auth', 'botocore.hooks',\n"
        "         'urllib3.connectionpool', 's3transfer.tasks', 'boto3.resources']\n"
        "print([n for n in names if logging.getLogger(n).isEnabledFor(logging.DEBUG)])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False
    )
    # THEN none of the SDK's body-carrying loggers is enabled for DEBUG
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
