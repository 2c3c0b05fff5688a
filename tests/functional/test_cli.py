"""The real ``s3seal`` command, run as a subprocess, against local files and a moto S3 server."""

from __future__ import annotations

import base64
import json
import os
import pty
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from s3seal.envelope import decrypt_bytes, encrypt_bytes

from ..conftest import REGION, ruby_vectors

S3SEAL = shutil.which("s3seal", path=str(Path(sys.executable).parent))
MiB = 1024 * 1024


def run(*args: str, stdin: bytes | None = None, env: dict[str, str] | None = None) -> Any:
    assert S3SEAL, "the s3seal console script is not installed in this virtualenv"
    return subprocess.run(
        [S3SEAL, *args],
        input=stdin,
        capture_output=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


def new_key_file(path: Path) -> Path:
    """A fresh root key in ``path``, readable by its owner only (as the CLI requires)."""
    path.write_text(run("keygen").stdout.decode())
    path.chmod(0o600)
    return path


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return new_key_file(tmp_path / "root.key")


def root_key(path: Path) -> bytes:
    return base64.b64decode(path.read_text())


def test_keygen_prints_a_fresh_256_bit_base64_key_each_time() -> None:
    first, second = run("keygen"), run("keygen")
    assert first.returncode == 0
    text = first.stdout.decode().strip()
    assert len(text) == 44 and text.endswith("=") and not text.endswith("==")
    assert len(base64.b64decode(text, validate=True)) == 32
    assert text != second.stdout.decode().strip()


@pytest.mark.parametrize("fmt", ["v1", "v2"])
def test_local_file_round_trip_with_sidecar(tmp_path: Path, key_file: Path, fmt: str) -> None:
    # GIVEN a local file
    plain = tmp_path / "data.csv"
    plain.write_bytes(os.urandom(100_003))
    # WHEN it is encrypted and decrypted back
    enc = run(
        "encrypt",
        str(plain),
        str(tmp_path / "data.enc"),
        "--key-file",
        str(key_file),
        "--format",
        fmt,
    )
    dec = run(
        "decrypt",
        str(tmp_path / "data.enc"),
        str(tmp_path / "out.csv"),
        "--key-file",
        str(key_file),
    )
    # THEN the sidecar holds the envelope and the output is byte-identical
    assert enc.returncode == 0, enc.stderr
    assert dec.returncode == 0, dec.stderr
    sidecar = json.loads((tmp_path / "data.enc.s3seal.json").read_text())
    assert ("x-amz-key" in sidecar) == (fmt == "v1")
    assert ("x-amz-key-v2" in sidecar) == (fmt == "v2")
    assert sidecar["x-amz-unencrypted-content-length"] == "100003"
    body = (tmp_path / "data.enc").read_bytes()
    assert decrypt_bytes(root_key(key_file), body, sidecar) == plain.read_bytes()
    assert (tmp_path / "out.csv").read_bytes() == plain.read_bytes()


@pytest.mark.parametrize("chosen", [[], ["--format", "v3"]], ids=["default", "explicit"])
def test_encrypt_writes_v3_by_default(tmp_path: Path, key_file: Path, chosen: list[str]) -> None:
    # GIVEN a local file
    plain = tmp_path / "d.csv"
    plain.write_bytes(b"id,name\n" + b"1,a\n" * 5000)
    # WHEN it is encrypted with no --format (or --format v3)
    enc = run("encrypt", str(plain), str(tmp_path / "d.enc"), "--key-file", str(key_file), *chosen)
    # THEN the envelope is V3 (suite 115, key commitment), and it decrypts back
    assert enc.returncode == 0, enc.stderr
    sidecar = json.loads((tmp_path / "d.enc.s3seal.json").read_text())
    assert sidecar["x-amz-c"] == "115" and {"x-amz-3", "x-amz-d", "x-amz-i"} <= set(sidecar)
    assert "x-amz-key" not in sidecar and "x-amz-key-v2" not in sidecar
    body = (tmp_path / "d.enc").read_bytes()
    assert decrypt_bytes(root_key(key_file), body, sidecar) == plain.read_bytes()
    assert b"v3 (default)" in run("encrypt", "--help").stdout


def test_root_key_from_environment_variable(tmp_path: Path, key_file: Path) -> None:
    plain = tmp_path / "a.txt"
    plain.write_bytes(b"hello, redshift\n")
    env = {"S3SEAL_ROOT_KEY": key_file.read_text().strip()}
    assert run("encrypt", str(plain), str(tmp_path / "a.enc"), env=env).returncode == 0
    out = run("decrypt", str(tmp_path / "a.enc"), "-", env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"hello, redshift\n"


def test_stdin_to_stdout_with_explicit_metadata_file(tmp_path: Path, key_file: Path) -> None:
    data = os.urandom(70_000)
    meta = tmp_path / "meta.json"
    enc = run(
        "encrypt",
        "-",
        "-",
        "--metadata",
        str(meta),
        "--key-file",
        str(key_file),
        "--format",
        "v2",
        stdin=data,
    )
    assert enc.returncode == 0, enc.stderr
    assert len(enc.stdout) == len(data) + 16
    # Length was unknown up front (stdin), but the sidecar is written after the stream ends.
    assert json.loads(meta.read_text())["x-amz-unencrypted-content-length"] == "70000"
    dec = run(
        "decrypt", "-", "-", "--metadata", str(meta), "--key-file", str(key_file), stdin=enc.stdout
    )
    assert dec.returncode == 0, dec.stderr
    assert dec.stdout == data


def test_stdout_ciphertext_without_metadata_file_is_a_usage_error(key_file: Path) -> None:
    result = run("encrypt", "-", "-", "--key-file", str(key_file), stdin=b"x")
    assert result.returncode == 2
    assert b"--metadata" in result.stderr
    assert result.stdout == b""


@pytest.mark.parametrize("vector", ruby_vectors(), ids=lambda v: v.name)
def test_decrypts_ruby_vector_with_its_json_as_metadata(tmp_path: Path, vector: Any) -> None:
    body = tmp_path / "obj.body"
    body.write_bytes(vector.body)
    meta = tmp_path / "obj.json"
    meta.write_text(json.dumps({"metadata": vector.metadata}))
    env = {"S3SEAL_ROOT_KEY": base64.b64encode(vector.root_key).decode()}
    result = run("decrypt", str(body), "-", "--metadata", str(meta), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == vector.plaintext


# --- failures: exit codes, messages, and no partial output ----------------------------------


@pytest.mark.parametrize(
    ("fmt", "code", "says"),
    [
        ("v1", 3, b"wrong root key"),
        ("v2", 3, b"wrong root key"),
        # V3 (the default): a wrong root key and a tampered x-amz-3 fail the same key unwrap, and
        # every V3 failure shares one opaque message, so this is a format error (exit 4).
        (None, 4, b"no plaintext is valid"),
    ],
    ids=["v1", "v2", "v3-default"],
)
def test_wrong_root_key_fails_names_the_object_and_writes_nothing(
    tmp_path: Path, key_file: Path, fmt: str | None, code: int, says: bytes
) -> None:
    plain = tmp_path / "p.bin"
    plain.write_bytes(b"secret rows\n" * 100)
    chosen = ["--format", fmt] if fmt else []
    encrypt = ["encrypt", str(plain), str(tmp_path / "p.enc"), "--key-file", str(key_file)]
    assert run(*encrypt, *chosen).returncode == 0
    other = new_key_file(tmp_path / "other.key")
    result = run(
        "decrypt", str(tmp_path / "p.enc"), str(tmp_path / "out.bin"), "--key-file", str(other)
    )
    assert result.returncode == code
    assert str(tmp_path / "p.enc").encode() in result.stderr
    assert says in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["p.bin", "p.enc", "p.enc.s3seal.json", "root.key", "other.key"]
    )


def test_invalid_root_key_exits_3_without_echoing_it(tmp_path: Path) -> None:
    plain = tmp_path / "p.bin"
    plain.write_bytes(b"x")
    bad = base64.b64encode(b"sixteen byte key").decode()
    result = run("encrypt", str(plain), str(tmp_path / "p.enc"), env={"S3SEAL_ROOT_KEY": bad})
    assert result.returncode == 3
    assert b"S3SEAL_ROOT_KEY" in result.stderr and b"32 bytes" in result.stderr
    assert bad.encode() not in result.stderr + result.stdout
    assert not (tmp_path / "p.enc").exists()


def test_tampered_v2_body_exits_4_and_leaves_no_output(tmp_path: Path, key_file: Path) -> None:
    plain = tmp_path / "p.bin"
    plain.write_bytes(os.urandom(3 * MiB))
    assert (
        run(
            "encrypt",
            str(plain),
            str(tmp_path / "p.enc"),
            "--format",
            "v2",
            "--key-file",
            str(key_file),
        ).returncode
        == 0
    )
    body = bytearray((tmp_path / "p.enc").read_bytes())
    body[len(body) // 2] ^= 0x01
    (tmp_path / "p.enc").write_bytes(bytes(body))
    for dst in (str(tmp_path / "out.bin"), "-"):
        result = run("decrypt", str(tmp_path / "p.enc"), dst, "--key-file", str(key_file))
        assert result.returncode == 4
        assert b"authentication tag did not verify" in result.stderr
        assert result.stdout == b""  # not one unverified byte reached stdout
    assert not (tmp_path / "out.bin").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_v1_padding_and_truncation_failures_are_indistinguishable(
    tmp_path: Path, key_file: Path
) -> None:
    plain = tmp_path / "p.bin"
    plain.write_bytes(b"0123456789abcdef" * 10 + b"tail")
    assert (
        run("encrypt", str(plain), str(tmp_path / "p.enc"), "--key-file", str(key_file)).returncode
        == 0
    )
    good = (tmp_path / "p.enc").read_bytes()
    bad_padding = bytearray(good)
    bad_padding[-17] ^= 0x5A  # changes the last plaintext block, hence its padding
    variants = {
        "padding": bytes(bad_padding),
        "cut-at-block": good[:-16],
        "cut-mid-block": good[:-5],
    }
    messages = set()
    for name, body in variants.items():
        (tmp_path / "p.enc").write_bytes(body)
        result = run(
            "decrypt", str(tmp_path / "p.enc"), str(tmp_path / "out"), "--key-file", str(key_file)
        )
        assert result.returncode == 4, name
        messages.add(result.stderr)
        assert not (tmp_path / "out").exists()
    assert len(messages) == 1, messages


def test_missing_sidecar_exits_4_and_says_where_it_looked(tmp_path: Path, key_file: Path) -> None:
    body = tmp_path / "orphan.enc"
    body.write_bytes(b"\0" * 32)
    result = run("decrypt", str(body), str(tmp_path / "out"), "--key-file", str(key_file))
    assert result.returncode == 4
    assert b"orphan.enc.s3seal.json" in result.stderr


MALFORMED_SIDECARS: dict[str, Callable[[dict[str, str]], str]] = {
    "deeply-nested-matdesc": lambda meta: json.dumps(
        meta | {"x-amz-matdesc": "[" * 100_000 + "]" * 100_000}
    ),
    "5000-digit-length": lambda meta: json.dumps(
        meta | {"x-amz-unencrypted-content-length": "9" * 5000}
    ),
    "5000-digit-json-number": lambda meta: (
        '{"x-amz-unencrypted-content-length": ' + "9" * 5000 + "}"
    ),
    "deeply-nested-json": lambda meta: "[" * 100_000 + "]" * 100_000,
    "not-an-object": lambda meta: json.dumps(list(meta.items())),
    "huge-file": lambda meta: json.dumps(meta | {"padding": "x" * (4 * MiB)}),
    "not-utf8": lambda meta: "\udcff",
}


@pytest.mark.parametrize("name", list(MALFORMED_SIDECARS))
@pytest.mark.parametrize("command", ["decrypt", "inspect"])
def test_a_malformed_sidecar_is_a_clean_error_exit_4(
    tmp_path: Path, key_file: Path, name: str, command: str
) -> None:
    # GIVEN an encrypted file whose sidecar was replaced by something hostile (V2: it declares
    # the plaintext length, which V3 does not write)
    plain, enc = tmp_path / "p.bin", tmp_path / "p.enc"
    plain.write_bytes(b"rows\n")
    encrypt = ["encrypt", str(plain), str(enc), "--key-file", str(key_file), "--format", "v2"]
    assert run(*encrypt).returncode == 0
    sidecar = tmp_path / "p.enc.s3seal.json"
    text = MALFORMED_SIDECARS[name](json.loads(sidecar.read_text()))
    sidecar.write_bytes(text.encode("utf-8", "surrogateescape"))
    # WHEN the CLI reads it
    key = ["--key-file", str(key_file)]
    args = [str(enc), str(tmp_path / "out"), *key] if command == "decrypt" else [str(enc)]
    result = run(command, *args)
    # THEN one line naming the file, exit 4, no traceback and no output file
    assert result.returncode == 4, result.stderr
    assert b"Traceback" not in result.stderr
    assert result.stderr.startswith(b"s3seal: ") and str(enc).encode() in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660], ids=oct)
def test_a_key_file_others_can_read_is_refused_with_chmod_600(
    tmp_path: Path, key_file: Path, mode: int
) -> None:
    plain = tmp_path / "p.bin"
    plain.write_bytes(b"rows\n")
    key_file.chmod(mode)
    result = run("encrypt", str(plain), str(tmp_path / "p.enc"), "--key-file", str(key_file))
    assert result.returncode == 3
    assert f"chmod 600 {key_file}".encode() in result.stderr
    assert not (tmp_path / "p.enc").exists()
    key_file.chmod(0o400)
    assert (
        run("encrypt", str(plain), str(tmp_path / "p.enc"), "--key-file", str(key_file)).returncode
        == 0
    )


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run("encrypt").returncode == 2
    assert run("encrypt", "a", "b", "--format", "v4").returncode == 2
    assert run("encrypt", "a", "b", "--key-file", "k", "--key-secret", "s").returncode == 2
    same = run("encrypt", str(tmp_path / "a"), str(tmp_path / "a"), env={"S3SEAL_ROOT_KEY": "x"})
    assert same.returncode == 2 and b"same" in same.stderr


def test_inspect_local_file_reports_envelope_without_a_key(tmp_path: Path, key_file: Path) -> None:
    plain = tmp_path / "p.bin"
    plain.write_bytes(b"x" * 1000)
    assert (
        run(
            "encrypt",
            str(plain),
            str(tmp_path / "p.enc"),
            "--format",
            "v2",
            "--key-file",
            str(key_file),
        ).returncode
        == 0
    )
    result = run("inspect", str(tmp_path / "p.enc"), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["format"] == "v2"
    assert report["content_algorithm"] == "AES/GCM/NoPadding"
    assert report["key_wrap_algorithm"] == "AES/GCM"
    assert report["stored_bytes"] == 1016
    assert report["plaintext_bytes"] == 1000
    assert report["authenticated"] is True
    assert report["copy_encrypted_format"] is False
    assert "2026-04-30" in report["redshift_load"]


# --- progress ---------------------------------------------------------------------------------


def _run_with_tty_stderr(args: list[str], env: dict[str, str]) -> str:
    assert S3SEAL
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.run(
            [S3SEAL, *args],
            stderr=terminal,
            stdout=subprocess.DEVNULL,
            env={**os.environ, **env},
            timeout=120,
            check=False,
        )
        os.close(terminal)
        terminal = -1
        chunks = []
        while True:
            try:
                data = os.read(controller, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        assert proc.returncode == 0
        return b"".join(chunks).decode(errors="replace")
    finally:
        os.close(controller)
        if terminal != -1:
            os.close(terminal)


def test_progress_bar_on_a_terminal_only_for_large_transfers(
    tmp_path: Path, key_file: Path
) -> None:
    env = {"S3SEAL_ROOT_KEY": key_file.read_text().strip()}
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(9 * MiB))
    small = tmp_path / "small.bin"
    small.write_bytes(b"x" * 1000)
    shown = _run_with_tty_stderr(["encrypt", str(big), str(tmp_path / "big.enc")], env)
    assert "encrypting" in shown and "100%" in shown
    assert _run_with_tty_stderr(["encrypt", str(small), str(tmp_path / "small.enc")], env) == ""
    # Not a terminal: nothing but errors on stderr.
    piped = run("encrypt", str(big), str(tmp_path / "big2.enc"), env=env)
    assert piped.returncode == 0 and piped.stderr == b""


# --- S3 and Secrets Manager (moto server on 127.0.0.1) ----------------------------------------


def test_keygen_to_secret_prints_only_arn_and_version(moto_endpoint: str) -> None:
    first = run("keygen", "--secret-id", "s3seal/test-keygen", "--endpoint-url", moto_endpoint)
    assert first.returncode == 0, first.stderr
    printed = json.loads(first.stdout)
    assert set(printed) == {"ARN", "VersionId"}
    client = boto3.client("secretsmanager", endpoint_url=moto_endpoint, region_name=REGION)
    value = client.get_secret_value(SecretId="s3seal/test-keygen")
    assert len(base64.b64decode(value["SecretString"], validate=True)) == 32
    assert value["SecretString"].encode() not in first.stdout + first.stderr
    # A second call adds a new current version rather than failing.
    second = json.loads(
        run("keygen", "--secret-id", "s3seal/test-keygen", "--endpoint-url", moto_endpoint).stdout
    )
    assert second["ARN"] == printed["ARN"] and second["VersionId"] != printed["VersionId"]


def test_s3_round_trip_multipart_with_secret_and_endpoint_env(
    tmp_path: Path, moto_endpoint: str, s3: Any, bucket: str
) -> None:
    # GIVEN a root key in Secrets Manager and a 12 MiB local file
    env = {"AWS_ENDPOINT_URL": moto_endpoint}
    assert run("keygen", "--secret-id", "s3seal/test-rt", env=env).returncode == 0
    plain = tmp_path / "big.csv"
    plain.write_bytes(os.urandom(12 * MiB + 7))
    url = f"s3://{bucket}/in/big.csv"
    # WHEN it is encrypted to S3 in 5 MiB parts, then decrypted from S3 to S3 and to a file
    enc = run(
        "encrypt",
        str(plain),
        url,
        "--key-secret",
        "s3seal/test-rt",
        "--part-size-mib",
        "5",
        env=env,
    )
    assert enc.returncode == 0, enc.stderr
    dec = run(
        "decrypt", url, f"s3://{bucket}/out/big.csv", "--key-secret", "s3seal/test-rt", env=env
    )
    assert dec.returncode == 0, dec.stderr
    local = run(
        "decrypt", url, str(tmp_path / "back.csv"), "--key-secret", "s3seal/test-rt", env=env
    )
    assert local.returncode == 0, local.stderr
    # THEN the object is a 3-part V3 envelope (the default) naming the secret version in its
    # materials description; both copies match
    head = s3.head_object(Bucket=bucket, Key="in/big.csv", PartNumber=1)
    assert head["PartsCount"] == 3
    meta = s3.head_object(Bucket=bucket, Key="in/big.csv")["Metadata"]
    assert meta["x-amz-c"] == "115" and "x-amz-key" not in meta
    assert "s3seal:secret-version" in json.loads(meta["x-amz-m"])
    assert s3.get_object(Bucket=bucket, Key="out/big.csv")["Body"].read() == plain.read_bytes()
    assert (tmp_path / "back.csv").read_bytes() == plain.read_bytes()


def test_decrypt_uses_the_secret_version_recorded_in_matdesc(
    tmp_path: Path, moto_endpoint: str, bucket: str
) -> None:
    env = {"AWS_ENDPOINT_URL": moto_endpoint}
    assert run("keygen", "--secret-id", "s3seal/test-rotate", env=env).returncode == 0
    plain = tmp_path / "p.txt"
    plain.write_bytes(b"before rotation\n")
    url = f"s3://{bucket}/p.txt"
    assert (
        run("encrypt", str(plain), url, "--key-secret", "s3seal/test-rotate", env=env).returncode
        == 0
    )
    # The secret gets a new current version (a rotation) after the object was written.
    assert run("keygen", "--secret-id", "s3seal/test-rotate", env=env).returncode == 0
    result = run("decrypt", url, "-", "--key-secret", "s3seal/test-rotate", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"before rotation\n"


def test_failed_decrypt_to_s3_creates_no_object_and_no_pending_upload(
    tmp_path: Path, moto_endpoint: str, s3: Any, bucket: str, key_file: Path
) -> None:
    # GIVEN a tampered 11 MiB V2 object (decrypted in 5 MiB parts: a multipart upload)
    data = os.urandom(11 * MiB)
    body, meta = encrypt_bytes(root_key(key_file), data, "v2")
    tampered = body[:-1] + bytes([body[-1] ^ 1])
    s3.put_object(Bucket=bucket, Key="t.bin", Body=tampered, Metadata=meta)
    # WHEN it is decrypted to another S3 object
    result = run(
        "decrypt",
        f"s3://{bucket}/t.bin",
        f"s3://{bucket}/plain.bin",
        "--part-size-mib",
        "5",
        "--key-file",
        str(key_file),
        "--endpoint-url",
        moto_endpoint,
    )
    # THEN it fails with exit 4, and neither an object nor an incomplete upload remains
    assert result.returncode == 4
    assert f"s3://{bucket}/t.bin".encode() in result.stderr
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == ["t.bin"]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_inspect_s3_object_and_missing_object(
    moto_endpoint: str, s3: Any, bucket: str, key_file: Path
) -> None:
    body, meta = encrypt_bytes(root_key(key_file), b"a|b|c\n" * 50, "v1")
    s3.put_object(Bucket=bucket, Key="x.csv", Body=body, Metadata=meta)
    ok = run("inspect", f"s3://{bucket}/x.csv", "--json", "--endpoint-url", moto_endpoint)
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)
    assert report["format"] == "v1" and report["copy_encrypted_format"] is True
    assert report["stored_bytes"] == len(body) and report["declared_plaintext_bytes"] == 300
    missing = run("inspect", f"s3://{bucket}/nope.csv", "--endpoint-url", moto_endpoint)
    assert missing.returncode == 1
    assert f"s3://{bucket}/nope.csv".encode() in missing.stderr and b"not found" in missing.stderr
