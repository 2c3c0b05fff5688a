"""No unverified plaintext leaves the process; signals clean up what a decryption left behind.

The CLI runs as a subprocess against the session's moto server. To see what reached S3 at all
(an aborted multipart upload leaves no trace in a listing), moto's request recorder is switched on
through its HTTP API for the length of one command; it appends to ``moto_recording`` in the
server's working directory, which the test points at its own temporary folder.
"""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.response import StreamingBody

from s3seal.envelope import Format, encrypt_bytes
from s3seal.envelope.errors import V3_DECRYPT_FAILED
from s3seal.rootkey.keys import generate_root_key

from ..unit.helpers import b64, ref_cbc_encrypt, ref_ecb_wrap
from . import test_loader
from .conftest import Faults
from .test_cli import S3SEAL, run
from .test_loader import B1, Redshift, Staging, log_insert, make_loader, server_copy

staging = test_loader.staging  # the loader tests' fixtures: a staging bucket, a stubbed Data API
redshift = test_loader.redshift

MiB = 1024 * 1024
WRITES = ("PUT", "POST")
_TAG_FAILED = {Format.V2: "authentication tag did not verify", Format.V3: V3_DECRYPT_FAILED}


# --- helpers --------------------------------------------------------------------------------


def _moto(endpoint: str, action: str) -> bytes:
    method = "GET" if action == "download-recording" else "POST"
    request = urllib.request.Request(f"{endpoint}/moto-api/recorder/{action}", method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        body: bytes = response.read()
        return body


@pytest.fixture
def recorded(
    moto_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[], list[tuple[str, str]]]]:
    """(method, path) of every request moto serves from now on; call it to read them."""
    monkeypatch.chdir(tmp_path)  # the in-process server writes its recording to its cwd
    _moto(moto_endpoint, "reset-recording")
    _moto(moto_endpoint, "start-recording")

    def requests() -> list[tuple[str, str]]:
        lines = _moto(moto_endpoint, "download-recording").decode().splitlines()
        return [(doc["method"], urlsplit(doc["url"]).path) for doc in map(json.loads, lines) if doc]

    try:
        yield requests
    finally:
        _moto(moto_endpoint, "stop-recording")
        _moto(moto_endpoint, "reset-recording")


@pytest.fixture
def key_b64() -> str:
    return generate_root_key()


def _sealed(
    tmp_path: Path, key_b64: str, size: int, fmt: str = "v2", tamper: bool = False
) -> tuple[bytes, dict[str, str], Path]:
    body, meta = encrypt_bytes(base64.b64decode(key_b64), os.urandom(size), fmt)
    if tamper:
        body = body[:-1] + bytes([body[-1] ^ 1])  # the last byte: the GCM tag
    meta_file = tmp_path / "meta.json"
    meta_file.write_text(json.dumps(meta))
    return body, meta, meta_file


# --- S3 destinations: nothing before the tag ------------------------------------------------


@pytest.mark.parametrize("fmt", ["v2", "v3"])
def test_tampered_tag_decrypted_to_s3_never_sends_one_byte_to_the_destination(
    fmt: str,
    tmp_path: Path,
    moto_endpoint: str,
    s3: Any,
    bucket: str,
    key_b64: str,
    recorded: Callable[[], list[tuple[str, str]]],
) -> None:
    # GIVEN an 11 MiB authenticated object whose tag is corrupted, and a versioned destination
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    body, meta, _ = _sealed(tmp_path, key_b64, 11 * MiB, fmt, tamper=True)
    s3.put_object(Bucket=bucket, Key="t.bin", Body=body, Metadata=meta)
    before = len(recorded())
    # WHEN it is decrypted to S3 in 5 MiB parts (a multipart upload, if anything were sent)
    result = run(
        "decrypt",
        f"s3://{bucket}/t.bin",
        f"s3://{bucket}/plain.bin",
        "--part-size-mib",
        "5",
        "--endpoint-url",
        moto_endpoint,
        env={"S3SEAL_ROOT_KEY": key_b64},
    )
    # THEN it fails on the tag, and no write of any kind ever reached the destination key
    assert result.returncode == 4, result.stderr
    assert _TAG_FAILED[Format(fmt)].encode() in result.stderr
    sent = recorded()[before:]
    assert ("GET", f"/{bucket}/t.bin") in sent
    assert [r for r in sent if r[0] in WRITES and r[1].endswith("/plain.bin")] == []
    listed = s3.list_object_versions(Bucket=bucket, Prefix="plain.bin")
    assert listed.get("Versions", []) == [] and listed.get("DeleteMarkers", []) == []
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_verified_v2_decrypt_to_s3_is_complete_and_identical(
    tmp_path: Path, moto_endpoint: str, s3: Any, bucket: str, key_b64: str
) -> None:
    body, meta, _ = _sealed(tmp_path, key_b64, 11 * MiB + 3)
    s3.put_object(Bucket=bucket, Key="ok.bin", Body=body, Metadata=meta)
    result = run(
        "decrypt",
        f"s3://{bucket}/ok.bin",
        f"s3://{bucket}/plain.bin",
        "--part-size-mib",
        "5",
        "--endpoint-url",
        moto_endpoint,
        env={"S3SEAL_ROOT_KEY": key_b64},
    )
    assert result.returncode == 0, result.stderr
    head = s3.head_object(Bucket=bucket, Key="plain.bin", PartNumber=1)
    assert head["PartsCount"] == 3
    out = s3.get_object(Bucket=bucket, Key="plain.bin")["Body"].read()
    assert len(out) == 11 * MiB + 3


# --- the loader: nothing under _s3seal/load/ before the tag -------------------------------


@pytest.mark.parametrize("fmt", [Format.V2, Format.V3])
def test_loader_never_puts_plaintext_of_an_object_whose_tag_fails(
    staging: Staging, redshift: Redshift, fmt: Format
) -> None:
    # GIVEN a staged 11 MiB authenticated object whose last byte (the tag) is corrupted
    version = staging.versions[0]
    root = base64.b64decode(staging.keys[version])
    description = {"s3seal:secret-version": version, "s3seal:secret": staging.secret_arn}
    body, meta = encrypt_bytes(root, os.urandom(11 * MiB), fmt, description=description)
    staging.s3.put_object(
        Bucket=staging.bucket,
        Key="sales/bad.csv",
        Body=body[:-1] + bytes([body[-1] ^ 1]),
        Metadata=meta,
    )
    redshift.create_table()
    loader = make_loader(staging, redshift, staging.settings(part_size=5 * MiB), ids=(B1,))
    calls = Faults(staging.s3)
    seen = calls.record()
    # WHEN the loader runs
    try:
        summary = loader.run().to_dict()
    finally:
        calls.clear()
    # THEN the batch fails on the tag, and no write was ever sent under the load prefix
    redshift.done()
    assert summary["batches_failed"] == 1
    assert _TAG_FAILED[fmt] in summary["failed"][0]["error"]
    writes = [
        p
        for op in ("PutObject", "CreateMultipartUpload", "UploadPart")
        for p in seen.named(op)
        if p["Key"].startswith("_s3seal/load/")
    ]
    assert writes == []
    assert staging.load_versions() == []  # not even a deleted version or a delete marker


def test_loader_reads_an_authenticated_object_twice_pinned_to_its_version(
    staging: Staging, redshift: Redshift
) -> None:
    # GIVEN a staged 6 MiB V2 object
    plaintext = os.urandom(6 * MiB + 1)
    version_id = staging.stage("sales/good.csv", plaintext, fmt=Format.V2)
    bucket = staging.bucket
    copied: dict[str, bytes] = {}

    def read_while_copy_runs() -> None:
        copied["body"] = staging.read(f"_s3seal/load/{B1}/sales/good.csv")

    redshift.before_copy(read_while_copy_runs)
    redshift.create_table()
    redshift.copy([server_copy(bucket, B1), log_insert(B1, 1)], B1, B1)
    loader = make_loader(staging, redshift, staging.settings(part_size=5 * MiB), ids=(B1,))
    calls = Faults(staging.s3)
    seen = calls.record()
    # WHEN the loader runs
    try:
        summary = loader.run().to_dict()
    finally:
        calls.clear()
    # THEN it loaded the exact plaintext, having read that one version twice (verify, then write)
    redshift.done()
    assert summary["batches_loaded"] == 1
    assert copied["body"] == plaintext
    gets = [p for p in seen.named("GetObject") if p["Key"] == "sales/good.csv"]
    assert [p.get("VersionId") for p in gets] == [version_id, version_id]


# --- signals: SIGTERM and SIGINT clean up as Ctrl-C always did ------------------------------


def _start_decrypt(dst: str, meta_file: Path, key_b64: str, *extra: str) -> subprocess.Popen[bytes]:
    assert S3SEAL
    return subprocess.Popen(
        [S3SEAL, "decrypt", "-", dst, "--metadata", str(meta_file), *extra],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "S3SEAL_ROOT_KEY": key_b64},
    )


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _stop(proc: subprocess.Popen[bytes], signum: int) -> tuple[int, bytes]:
    proc.send_signal(signum)
    assert proc.stdin is not None and proc.stderr is not None
    _, stderr = proc.communicate(timeout=60)  # (closes stdin: the source ends, too late)
    return proc.returncode, stderr


def _partials(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.endswith(".partial")]


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"]
)
def test_signal_mid_decrypt_to_a_local_file_removes_the_partial_file(
    tmp_path: Path, key_b64: str, signum: int, code: int
) -> None:
    # GIVEN a decryption to a local file, fed slowly from stdin, its temp file growing
    body, _, meta_file = _sealed(tmp_path, key_b64, 8 * MiB)
    out = tmp_path / "out" / "plain.bin"
    out.parent.mkdir()
    proc = _start_decrypt(str(out), meta_file, key_b64)
    assert proc.stdin is not None
    proc.stdin.write(body[: 4 * MiB])
    proc.stdin.flush()
    _wait_for(lambda: any(p.stat().st_size > 0 for p in _partials(out.parent)), "the partial file")
    # WHEN the process gets the signal mid-stream
    returncode, stderr = _stop(proc, signum)
    # THEN it exits 128 + signal, and neither the target nor its temp file is left
    assert returncode == code, stderr
    assert list(out.parent.iterdir()) == []


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"]
)
def test_signal_mid_upload_aborts_the_multipart_upload(
    tmp_path: Path,
    moto_endpoint: str,
    s3: Any,
    bucket: str,
    key_b64: str,
    signum: int,
    code: int,
) -> None:
    # GIVEN a V1 decryption (no tag: streamed) to S3 in 5 MiB parts, fed slowly from stdin
    body, _, meta_file = _sealed(tmp_path, key_b64, 24 * MiB, fmt="v1")
    proc = _start_decrypt(
        f"s3://{bucket}/plain.bin",
        meta_file,
        key_b64,
        "--part-size-mib",
        "5",
        "--endpoint-url",
        moto_endpoint,
    )
    assert proc.stdin is not None
    proc.stdin.write(body[: 16 * MiB])
    proc.stdin.flush()

    def uploading() -> bool:
        uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        return bool(uploads) and bool(
            s3.list_parts(Bucket=bucket, Key="plain.bin", UploadId=uploads[0]["UploadId"]).get(
                "Parts"
            )
        )

    _wait_for(uploading, "the first uploaded part")
    # WHEN the process gets the signal mid-upload
    returncode, stderr = _stop(proc, signum)
    # THEN it exits 128 + signal with the upload aborted and no object written
    assert returncode == code, stderr
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert s3.list_objects_v2(Bucket=bucket, Prefix="plain.bin").get("Contents", []) == []


def test_sigterm_while_spooling_a_v2_decrypt_to_s3_sends_nothing(
    tmp_path: Path, moto_endpoint: str, s3: Any, bucket: str, key_b64: str
) -> None:
    # GIVEN a V2 decryption to S3, fed slowly from stdin (spooled until the tag verifies)
    body, _, meta_file = _sealed(tmp_path, key_b64, 12 * MiB)
    proc = _start_decrypt(
        f"s3://{bucket}/plain.bin",
        meta_file,
        key_b64,
        "--part-size-mib",
        "5",
        "--endpoint-url",
        moto_endpoint,
    )
    assert proc.stdin is not None
    proc.stdin.write(body[: 11 * MiB])
    proc.stdin.flush()
    time.sleep(1.0)
    # WHEN SIGTERM arrives before the end of the body
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    returncode, stderr = _stop(proc, signal.SIGTERM)
    # THEN nothing was ever started at the destination
    assert returncode == 143, stderr
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert s3.list_objects_v2(Bucket=bucket).get("Contents", []) == []


# --- legacy shapes: refused unless asked for --------------------------------------------------


def _legacy_v1(
    root: bytes, plaintext: bytes, description: str = "{}"
) -> tuple[bytes, dict[str, str]]:
    """A V1 object with a 16-byte (AES-128) data key, as third-party writers made them."""
    data_key, iv = os.urandom(16), os.urandom(16)
    metadata = {
        "x-amz-key": b64(ref_ecb_wrap(root, data_key)),
        "x-amz-iv": b64(iv),
        "x-amz-matdesc": description,
    }
    return ref_cbc_encrypt(data_key, iv, plaintext), metadata


def test_cli_refuses_a_legacy_shape_unless_allow_legacy(tmp_path: Path, key_b64: str) -> None:
    # GIVEN a legacy-shaped object in a local file with its sidecar
    plaintext = b"1|legacy row\n" * 50
    body, metadata = _legacy_v1(base64.b64decode(key_b64), plaintext)
    src = tmp_path / "old.enc"
    src.write_bytes(body)
    (tmp_path / "old.enc.s3seal.json").write_text(json.dumps(metadata))
    env = {"S3SEAL_ROOT_KEY": key_b64}
    out = tmp_path / "out.csv"
    # WHEN it is decrypted and inspected by default
    refused = run("decrypt", str(src), str(out), env=env)
    looked = run("inspect", str(src), "--json")
    # THEN decrypt refuses (exit 4) naming the object and the flag, writing nothing; inspect
    # shows the envelope and exits 4 too
    assert refused.returncode == 4
    assert str(src).encode() in refused.stderr and b"--allow-legacy" in refused.stderr
    assert not out.exists()
    assert looked.returncode == 4 and b"--allow-legacy" in looked.stderr
    assert "16-byte" in json.loads(looked.stdout)["legacy_shape"]
    # WHEN asked for with --allow-legacy THEN both succeed
    allowed = run("decrypt", str(src), str(out), "--allow-legacy", env=env)
    assert allowed.returncode == 0, allowed.stderr
    assert out.read_bytes() == plaintext
    assert run("inspect", str(src), "--allow-legacy").returncode == 0


@pytest.mark.parametrize("allow", [False, True], ids=["default", "LOAD_ALLOW_LEGACY"])
def test_loader_refuses_a_legacy_shape_unless_allowed(
    staging: Staging, redshift: Redshift, allow: bool
) -> None:
    # GIVEN a staged legacy-shaped object naming the secret version that wrapped it
    version = staging.versions[0]
    description = json.dumps(
        {"s3seal:secret-version": version, "s3seal:secret": staging.secret_arn}
    )
    plaintext = b"1|legacy\n"
    body, metadata = _legacy_v1(base64.b64decode(staging.keys[version]), plaintext, description)
    staging.s3.put_object(Bucket=staging.bucket, Key="old/a.csv", Body=body, Metadata=metadata)
    redshift.create_table()
    copied: dict[str, bytes] = {}
    if allow:
        redshift.before_copy(
            lambda: copied.update(body=staging.read(f"_s3seal/load/{B1}/old/a.csv"))
        )
        redshift.copy([server_copy(staging.bucket, B1), log_insert(B1, 1)], B1, B1)
    loader = make_loader(staging, redshift, staging.settings(allow_legacy=allow), ids=(B1,))
    # WHEN the loader runs
    summary = loader.run().to_dict()
    # THEN by default the batch fails with an error naming the object and the setting
    redshift.done()
    if allow:
        assert summary["batches_loaded"] == 1 and copied["body"] == plaintext
    else:
        error = summary["failed"][0]["error"]
        assert f"s3://{staging.bucket}/old/a.csv" in error and "LOAD_ALLOW_LEGACY=true" in error
        assert staging.load_versions() == []


def test_loader_second_pass_that_reads_other_bytes_writes_nothing(
    staging: Staging, redshift: Redshift
) -> None:
    # GIVEN a staged 11 MiB V2 object, and an S3 whose second GET of it returns one byte changed
    # (what an unversioned key with an MD5-colliding replacement would look like to If-Match)
    staging.stage("sales/flip.csv", os.urandom(11 * MiB), fmt=Format.V2)
    gets = [0]

    def flip_second_get(parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "GetObject" and "Body" in parsed:
            gets[0] += 1
            if gets[0] == 2:
                data = bytearray(parsed["Body"].read())
                data[len(data) // 2] ^= 0x01
                parsed["Body"] = StreamingBody(io.BytesIO(bytes(data)), len(data))

    redshift.create_table()
    loader = make_loader(staging, redshift, staging.settings(part_size=5 * MiB), ids=(B1,))
    calls = Faults(staging.s3)
    seen = calls.record()
    calls.on("after-call.s3.GetObject", flip_second_get)
    # WHEN the loader runs
    try:
        summary = loader.run().to_dict()
    finally:
        calls.clear()
    # THEN the batch fails as a changed object, and not one write reached the load prefix
    redshift.done()
    assert "read back differently in the second pass" in summary["failed"][0]["error"]
    writes = [
        p
        for op in ("PutObject", "CreateMultipartUpload", "UploadPart")
        for p in seen.named(op)
        if p["Key"].startswith("_s3seal/load/")
    ]
    assert writes == []
    assert staging.load_versions() == []
