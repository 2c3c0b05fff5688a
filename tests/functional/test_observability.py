"""What the function tells operators: structured logs, metrics, and never a secret."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from s3seal import handler as handler_module

from .conftest import FakeContext, Harness, logs_of

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
        for name in ("STAGING_BUCKET", "ROOT_KEY_SECRET_ID", "AWS_ENDPOINT_URL"):
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
        "ROOT_KEY_SECRET_ID": "s3seal/root-key",
        "PART_SIZE_MIB": "three",
    }
    result = subprocess.run(
        [sys.executable, "-c", "import s3seal.handler"],
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
        "import sys, s3seal.handler\n"
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
