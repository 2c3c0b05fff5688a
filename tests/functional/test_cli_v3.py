"""``s3seal decrypt`` and ``inspect`` read V3 objects (both layouts) and refuse legacy shapes by
default: the real command, as a subprocess, against local files and a moto S3 server."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

from s3seal.envelope import encrypt_bytes

from ..conftest import VECTORS
from ..unit.helpers import ref_cbc_encrypt
from .test_cli import run

V3_DIR = VECTORS / "aws-python-s3ec-v3"


def _vector(name: str) -> tuple[dict[str, Any], bytes, bytes]:
    doc = json.loads((V3_DIR / f"{name}.json").read_text())
    return doc, (V3_DIR / f"{name}.body").read_bytes(), (V3_DIR / f"{name}.plain").read_bytes()


def _key_file(tmp_path: Path, root_key_b64: str) -> Path:
    path = tmp_path / "root.key"
    path.write_text(root_key_b64 + "\n")
    path.chmod(0o600)
    return path


@pytest.mark.parametrize("name", ["py-v3-1000", "py-v3-instr-17"])
def test_decrypt_v3_from_s3(
    name: str, tmp_path: Path, moto_endpoint: str, s3: Any, bucket: str
) -> None:
    # GIVEN an object the official AWS client wrote (with KEY.instruction for the second layout)
    doc, body, plain = _vector(name)
    s3.put_object(Bucket=bucket, Key="o.bin", Body=body, Metadata=doc["metadata"])
    if "instruction_file" in doc:
        s3.put_object(
            Bucket=bucket,
            Key="o.bin.instruction",
            Body=(V3_DIR / f"{name}.instruction").read_bytes(),
        )
    key = _key_file(tmp_path, doc["root_key_b64"])
    url = f"s3://{bucket}/o.bin"
    # WHEN s3seal decrypts it
    result = run(
        "decrypt", url, str(tmp_path / "out"), "--key-file", str(key),
        "--endpoint-url", moto_endpoint,
    )  # fmt: skip
    # THEN the plaintext comes back
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out").read_bytes() == plain
    # ... and inspect describes V3
    shown = run("inspect", url, "--json", "--endpoint-url", moto_endpoint)
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    assert report["format"] == "v3"
    assert report["content_algorithm"] == "115"
    assert report["key_wrap_algorithm"] == "02"
    assert report["key_commitment"] is True
    assert report["authenticated"] is True
    assert report["plaintext_bytes"] == len(plain)


def test_decrypt_v3_instruction_layout_without_the_instruction_object(
    tmp_path: Path, moto_endpoint: str, s3: Any, bucket: str
) -> None:
    doc, body, _ = _vector("py-v3-instr-17")
    s3.put_object(Bucket=bucket, Key="o.bin", Body=body, Metadata=doc["metadata"])
    key = _key_file(tmp_path, doc["root_key_b64"])
    result = run(
        "decrypt", f"s3://{bucket}/o.bin", str(tmp_path / "out"), "--key-file", str(key),
        "--endpoint-url", moto_endpoint,
    )  # fmt: skip
    assert result.returncode == 1
    assert b"o.bin.instruction" in result.stderr and b"not found" in result.stderr
    assert not (tmp_path / "out").exists()


def test_decrypt_v3_local_file_with_sidecar_and_instruction_file(tmp_path: Path) -> None:
    # GIVEN the instruction-layout vector as local files: the body, its sidecar (the object's
    # metadata) and FILE.instruction beside it
    doc, body, plain = _vector("py-v3-instr-17")
    enc = tmp_path / "o.enc"
    enc.write_bytes(body)
    (tmp_path / "o.enc.s3seal.json").write_text(json.dumps(doc["metadata"]))
    key = _key_file(tmp_path, doc["root_key_b64"])
    # WHEN the instruction file is missing THEN s3seal says it is needed
    missing = run("decrypt", str(enc), str(tmp_path / "out"), "--key-file", str(key))
    assert missing.returncode == 4
    assert b"instruction file" in missing.stderr and b"o.enc.instruction" in missing.stderr
    # WHEN it is there THEN the plaintext comes back
    (tmp_path / "o.enc.instruction").write_bytes(
        (V3_DIR / "py-v3-instr-17.instruction").read_bytes()
    )
    result = run("decrypt", str(enc), str(tmp_path / "out"), "--key-file", str(key))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out").read_bytes() == plain


def test_tampered_v3_is_one_opaque_error_exit_4(tmp_path: Path) -> None:
    doc, body, _ = _vector("py-v3-17")
    key = _key_file(tmp_path, doc["root_key_b64"])
    messages = set()
    for name in ("x-amz-d", "x-amz-i", "x-amz-3"):
        raw = bytearray(base64.b64decode(doc["metadata"][name]))
        raw[3] ^= 1
        meta = doc["metadata"] | {name: base64.b64encode(bytes(raw)).decode()}
        enc = tmp_path / f"{name}.enc"
        enc.write_bytes(body)
        Path(f"{enc}.s3seal.json").write_text(json.dumps(meta))
        result = run("decrypt", str(enc), str(tmp_path / f"{name}.out"), "--key-file", str(key))
        assert result.returncode == 4
        assert not (tmp_path / f"{name}.out").exists()
        messages.add(result.stderr.decode().split(": ", 2)[-1])
    assert len(messages) == 1


def test_legacy_shape_is_refused_unless_allow_legacy(tmp_path: Path) -> None:
    # GIVEN an AESWrap + AES-CBC object (the AWS SDK for Java V1 client's legacy layout)
    root = bytes(range(32))
    data_key, iv = bytes(range(32, 64)), bytes(16)
    enc = tmp_path / "legacy.enc"
    enc.write_bytes(ref_cbc_encrypt(data_key, iv, b"legacy\n"))
    Path(f"{enc}.s3seal.json").write_text(
        json.dumps(
            {
                "x-amz-key-v2": base64.b64encode(aes_key_wrap(root, data_key)).decode(),
                "x-amz-iv": base64.b64encode(iv).decode(),
                "x-amz-matdesc": "{}",
                "x-amz-wrap-alg": "AESWrap",
                "x-amz-cek-alg": "AES/CBC/PKCS5Padding",
            }
        )
    )
    key = _key_file(tmp_path, base64.b64encode(root).decode())
    refused = run("decrypt", str(enc), str(tmp_path / "out"), "--key-file", str(key))
    assert refused.returncode == 4
    assert b"--allow-legacy" in refused.stderr
    allowed = run(
        "decrypt", str(enc), str(tmp_path / "out"), "--key-file", str(key), "--allow-legacy"
    )
    assert allowed.returncode == 0, allowed.stderr
    assert (tmp_path / "out").read_bytes() == b"legacy\n"


def test_s3seal_v3_round_trip_through_the_cli(tmp_path: Path) -> None:
    root = bytes(range(32))
    body, meta = encrypt_bytes(root, b"written by s3seal\n", "v3")
    enc = tmp_path / "mine.enc"
    enc.write_bytes(body)
    Path(f"{enc}.s3seal.json").write_text(json.dumps(meta))
    key = _key_file(tmp_path, base64.b64encode(root).decode())
    result = run("decrypt", str(enc), str(tmp_path / "out"), "--key-file", str(key))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out").read_bytes() == b"written by s3seal\n"
