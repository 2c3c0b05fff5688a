"""s3seal's V3 against the official AWS S3 Encryption Client for Python 4.x, both ways, on moto.

The official client runs in its DEFAULT configuration (``REQUIRE_ENCRYPT_REQUIRE_DECRYPT``: it
writes and reads only the key-committing V3 format) unless a test says otherwise, and then only as
a positive control. What is AWS's code and what is ours is set out in ``aws_python_s3ec.py``: in
short, the client, its V3 format, key derivation, commitment and policies are AWS's; the raw-AES
keyring (from the Java client's ``AesKeyring``, as the package ships only KMS), the
``x-amz-w`` "12" -> "02" rewrite and the move into an instruction file are ours.

* s3seal -> AWS: V3 objects s3seal writes (single PUTs at the AES block edges, multipart uploads
  through the ``s3seal`` CLI from a file and from stdin, a materials description) are decrypted
  byte for byte by the official client.
* AWS -> s3seal: every shared V3 vector and the objects the official client writes during the
  test (single PUTs, a multipart upload, the instruction-file layout) are decrypted by the
  ``s3seal`` CLI.
* Tampering with ``x-amz-d``, ``x-amz-i``, ``x-amz-3``, ``x-amz-c``, the body or the tag is refused
  by both; s3seal gives one exit code and one message whatever was changed.
* Why V3 is the default: the official client's default refuses s3seal's V1 and V2 output.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from s3_encryption.materials import CommitmentPolicy

from s3seal.envelope import ROOT_KEY_SIZE, Encryptor, Format, encrypt_chunks

from .aws_python_s3ec import (
    INSTRUCTION_SUFFIX,
    REGION,
    Outcome,
    V3Vector,
    move_to_instruction_file,
    official_client,
    official_get,
    s3_client,
    v3_vectors,
)
from .common import assert_same_bytes, chunked, plaintext_for, size_id
from .ruby_sdk import Once

pytestmark = pytest.mark.interop

KiB = 1024
MiB = 1024 * KiB
EDGE_SIZES = (0, 1, 15, 16, 17, 31, 32, 33, 1000, 65537)
"""Empty, one byte, either side of one and two AES blocks, and sizes that are no block multiple."""
BIG_SIZE = 12 * MiB + 7
"""Three parts of 5 MiB, the last one short."""
PART_SIZE_MIB = 5
WRITE_CHUNK = 64 * KiB + 3
"""Plaintext is fed in chunks that are no multiple of 16, so chunks straddle AES blocks."""
S3SEAL = shutil.which("s3seal", path=str(Path(sys.executable).parent))
CLI_TIMEOUT = 120
EXIT_CRYPTO = 4
"""The CLI's exit status for a format or decryption error."""


# --- plaintexts, keys, the CLI ----------------------------------------------------------------


def create_bucket(endpoint: str, prefix: str) -> str:
    name = f"{prefix}-{os.urandom(4).hex()}"
    s3_client(endpoint).create_bucket(Bucket=name)
    return name


def write_key_file(folder: Path, root_key: bytes) -> Path:
    path = folder / "root.key"
    path.write_text(base64.b64encode(root_key).decode("ascii") + "\n")
    path.chmod(0o600)  # s3seal refuses a key file others may read
    return path


def s3seal_cli(
    *args: str, endpoint: str, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    """The real ``s3seal`` command against moto (the fake credentials are in the environment)."""
    assert S3SEAL, "the s3seal console script is not installed in this virtualenv"
    return subprocess.run(
        [S3SEAL, *args, "--endpoint-url", endpoint],
        input=stdin,
        capture_output=True,
        env=dict(os.environ),
        timeout=CLI_TIMEOUT,
        check=False,
    )


def s3seal_put(
    endpoint: str,
    bucket: str,
    key: str,
    root_key: bytes,
    plaintext: bytes,
    description: Mapping[str, str] | None = None,
    fmt: Format = Format.V3,
) -> dict[str, str]:
    """A single PUT as s3seal's library writes it; returns the metadata it sent."""
    encryptor = Encryptor(root_key, fmt, description=description, plaintext_length=len(plaintext))
    body = b"".join(encrypt_chunks(encryptor, chunked(plaintext, WRITE_CHUNK)))
    assert len(body) == encryptor.ciphertext_length
    metadata = encryptor.metadata.to_metadata()
    s3_client(endpoint).put_object(Bucket=bucket, Key=key, Body=body, Metadata=metadata)
    return metadata


def s3seal_decrypt(endpoint: str, key_file: Path, bucket: str, key: str, out: Path) -> bytes:
    """``s3seal decrypt s3://... FILE``; fails the test with s3seal's own message if it fails."""
    done = s3seal_cli(
        "decrypt", f"s3://{bucket}/{key}", str(out), "--key-file", str(key_file), endpoint=endpoint
    )
    if done.returncode != 0:
        pytest.fail(
            f"s3seal decrypt s3://{bucket}/{key} exited {done.returncode}: "
            f"{done.stderr.decode(errors='replace').strip()}",
            pytrace=False,
        )
    return out.read_bytes()


def expect_decrypted(outcome: Outcome, expected: bytes, what: str) -> None:
    if not outcome.ok:
        pytest.fail(f"the official client (default config) refused {what}: {outcome.error}")
    assert_same_bytes(outcome.plaintext, expected, f"the official client's plaintext of {what}")


# --- s3seal writes, the official client reads --------------------------------------------------


def put_key(size: int) -> str:
    return f"s3seal-v3/put-{size_id(size)}"


MULTIPART_SOURCES = ("file", "stdin")
"""The CLI's multipart upload with the length known up front (a file) and unknown (stdin)."""


def multipart_key(source: str) -> str:
    return f"s3seal-v3/cli-multipart-{size_id(BIG_SIZE)}-from-{source}"


class S3sealToOfficial:
    """s3seal writes every object once; the official client reads each one in its test."""

    def __init__(self, endpoint: str, workdir: Path) -> None:
        self.endpoint = endpoint
        self.workdir = workdir
        self.root_key = os.urandom(ROOT_KEY_SIZE)
        self._bucket = Once(self._write_all)

    def _write_all(self) -> str:
        bucket = create_bucket(self.endpoint, "s3seal-to-aws-py")
        for size in EDGE_SIZES:
            key = put_key(size)
            metadata = s3seal_put(
                self.endpoint, bucket, key, self.root_key, plaintext_for(key, size)
            )
            assert metadata["x-amz-c"] == "115"
        key_file = write_key_file(self.workdir, self.root_key)
        for source in MULTIPART_SOURCES:
            key = multipart_key(source)
            plaintext = plaintext_for(key, BIG_SIZE)
            src_file = self.workdir / f"{source}.bin"
            src_file.write_bytes(plaintext)
            done = s3seal_cli(
                "encrypt",
                str(src_file) if source == "file" else "-",
                f"s3://{bucket}/{key}",
                "--format",
                "v3",
                "--part-size-mib",
                str(PART_SIZE_MIB),
                "--key-file",
                str(key_file),
                endpoint=self.endpoint,
                stdin=plaintext if source == "stdin" else None,
            )
            assert done.returncode == 0, done.stderr.decode(errors="replace")
            head = s3_client(self.endpoint).head_object(Bucket=bucket, Key=key)
            # Worth something only if it really is a three-part upload of one V3 stream.
            assert head["ETag"].strip('"').endswith("-3"), head["ETag"]
            assert head["ContentLength"] == BIG_SIZE + 16
            assert head["Metadata"]["x-amz-c"] == "115"
        return bucket

    def check(self, key: str, size: int) -> None:
        bucket = self._bucket.get()
        outcome = official_get(official_client(self.endpoint, self.root_key), bucket, key)
        expect_decrypted(outcome, plaintext_for(key, size), key)


@pytest.fixture(scope="module")
def s3seal_to_official(
    moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> S3sealToOfficial:
    return S3sealToOfficial(moto_endpoint, tmp_path_factory.mktemp("s3seal-to-aws-py"))


@pytest.mark.parametrize("size", EDGE_SIZES, ids=size_id)
def test_official_client_decrypts_s3seal_v3_put(
    s3seal_to_official: S3sealToOfficial, size: int
) -> None:
    s3seal_to_official.check(put_key(size), size)


@pytest.mark.parametrize("source", MULTIPART_SOURCES)
def test_official_client_decrypts_s3seal_v3_multipart(
    s3seal_to_official: S3sealToOfficial, source: str
) -> None:
    s3seal_to_official.check(multipart_key(source), BIG_SIZE)


def test_official_client_decrypts_s3seal_v3_with_its_secret_version(
    moto_endpoint: str, tmp_path: Path
) -> None:
    """What the CLI records about the wrapping secret version does not upset AWS's client.

    GIVEN a root key in Secrets Manager; WHEN ``s3seal encrypt --format v3 --key-secret`` writes
    an object (which names the secret version in its metadata); THEN the default official client
    decrypts it, whatever s3seal recorded (an ``x-amz-m`` must be a JSON object: AWS parses it).
    """
    secret = f"s3seal-interop-{os.urandom(3).hex()}"
    created = s3seal_cli("keygen", "--secret-id", secret, endpoint=moto_endpoint)
    assert created.returncode == 0, created.stderr.decode(errors="replace")
    bucket = create_bucket(moto_endpoint, "s3seal-secret-v3")
    key = "s3seal-v3/with-secret-version"
    plaintext = plaintext_for(key, 1000)
    src = tmp_path / "plain.bin"
    src.write_bytes(plaintext)
    done = s3seal_cli(
        "encrypt",
        str(src),
        f"s3://{bucket}/{key}",
        "--format",
        "v3",
        "--key-secret",
        secret,
        endpoint=moto_endpoint,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")

    metadata = s3_client(moto_endpoint).head_object(Bucket=bucket, Key=key)["Metadata"]
    version = json.loads(created.stdout)["VersionId"]
    assert any(version in value for value in metadata.values()), (
        f"the object does not name the secret version {version}: {sorted(metadata)}"
    )
    if "x-amz-m" in metadata:
        assert isinstance(json.loads(metadata["x-amz-m"]), dict)
    secrets = boto3.client("secretsmanager", endpoint_url=moto_endpoint, region_name=REGION)
    root_key = base64.b64decode(secrets.get_secret_value(SecretId=secret)["SecretString"])
    outcome = official_get(official_client(moto_endpoint, root_key), bucket, key)
    expect_decrypted(outcome, plaintext, key)


def test_official_client_decrypts_s3seal_v3_with_materials_description(
    moto_endpoint: str,
) -> None:
    """The library's ``description`` (what the CLI records) is accepted too, on a single PUT."""
    root_key = os.urandom(ROOT_KEY_SIZE)
    bucket = create_bucket(moto_endpoint, "s3seal-matdesc-v3")
    key = "s3seal-v3/description"
    plaintext = plaintext_for(key, 1000)
    description = {"s3seal:secret-version": "abc"}
    s3seal_put(moto_endpoint, bucket, key, root_key, plaintext, description=description)
    outcome = official_get(official_client(moto_endpoint, root_key), bucket, key)
    expect_decrypted(outcome, plaintext, key)


def test_official_client_refuses_s3seal_v3_under_wrong_root_key(moto_endpoint: str) -> None:
    """The negative control: the comparisons above would notice a root key mismatch."""
    bucket = create_bucket(moto_endpoint, "s3seal-wrong-key-v3")
    key = "s3seal-v3/wrong-root-key"
    s3seal_put(moto_endpoint, bucket, key, os.urandom(32), plaintext_for(key, 1000))
    outcome = official_get(official_client(moto_endpoint, os.urandom(32)), bucket, key)
    assert not outcome.ok
    assert "An error occurred (" not in outcome.error, outcome.error  # an S3 error proves nothing


# --- why V3 is the default: the official client's default refuses V1 and V2 --------------------


def test_official_client_default_refuses_s3seal_v2(moto_endpoint: str) -> None:
    """A default-configured current AWS client refuses V2 (not key-committing): V3 is the default.

    The control shows that the refusal is the policy's, not a broken object or keyring: the same
    object decrypts once the policy allows non-committing objects.
    """
    root_key = os.urandom(ROOT_KEY_SIZE)
    bucket = create_bucket(moto_endpoint, "s3seal-v2-refused")
    key = "s3seal-v2/refused-by-default"
    plaintext = plaintext_for(key, 1000)
    s3seal_put(moto_endpoint, bucket, key, root_key, plaintext, fmt=Format.V2)

    refused = official_get(official_client(moto_endpoint, root_key), bucket, key)
    assert not refused.ok, "the default official client decrypted s3seal's V2"
    assert "cannot decrypt non-key-committing object" in refused.error

    relaxed = official_client(
        moto_endpoint, root_key, commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT
    )
    expect_decrypted(official_get(relaxed, bucket, key), plaintext, f"{key} (policy relaxed)")


def test_official_client_default_refuses_s3seal_v1(moto_endpoint: str) -> None:
    """A default-configured current AWS client refuses V1 (unauthenticated AES-CBC).

    It refuses it twice over: its keyring does not unwrap the legacy AES/ECB data key, and even
    with a keyring that does, the client's default policy refuses the CBC content. The control
    decrypts the same object with legacy modes and non-committing objects allowed.
    """
    root_key = os.urandom(ROOT_KEY_SIZE)
    bucket = create_bucket(moto_endpoint, "s3seal-v1-refused")
    key = "s3seal-v1/refused-by-default"
    plaintext = plaintext_for(key, 1000)
    s3seal_put(moto_endpoint, bucket, key, root_key, plaintext, fmt=Format.V1)

    by_keyring = official_get(official_client(moto_endpoint, root_key), bucket, key)
    assert not by_keyring.ok, "the default official client decrypted s3seal's V1"
    unwrapping = official_client(moto_endpoint, root_key, legacy_wrapping=True)
    by_policy = official_get(unwrapping, bucket, key)
    assert not by_policy.ok, "the default official client decrypted s3seal's V1"
    assert "legacy unauthenticated algorithm suites" in by_policy.error

    relaxed = official_client(
        moto_endpoint,
        root_key,
        legacy_wrapping=True,
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT,
        legacy_modes=True,
    )
    expect_decrypted(official_get(relaxed, bucket, key), plaintext, f"{key} (policy relaxed)")


# --- the official client writes (and the shared vectors), s3seal reads -------------------------


def official_key(size: int) -> str:
    return f"aws-py-v3/put-{size_id(size)}"


OFFICIAL_MULTIPART_KEY = f"aws-py-v3/multipart-{size_id(BIG_SIZE)}"
INSTRUCTION_SIZES = (0, 17, 65537)
"""Objects of these sizes are also stored in the instruction-file layout."""


def instruction_key(size: int) -> str:
    return f"aws-py-v3/instruction-file-{size_id(size)}"


class OfficialToS3seal:
    """The official client writes every object once; the s3seal CLI reads each in its test."""

    def __init__(self, endpoint: str, workdir: Path) -> None:
        self.endpoint = endpoint
        self.workdir = workdir
        self.root_key = os.urandom(ROOT_KEY_SIZE)
        self.key_file = write_key_file(workdir, self.root_key)
        self._bucket = Once(self._write_all)

    def _write_all(self) -> str:
        bucket = create_bucket(self.endpoint, "aws-py-to-s3seal")
        client = official_client(self.endpoint, self.root_key)
        s3 = s3_client(self.endpoint)
        for size in EDGE_SIZES:
            key = official_key(size)
            client.put_object(Bucket=bucket, Key=key, Body=plaintext_for(key, size))
        for size in INSTRUCTION_SIZES:
            key = instruction_key(size)
            client.put_object(Bucket=bucket, Key=key, Body=plaintext_for(key, size))
            moved = move_to_instruction_file(s3, bucket, key)
            assert set(moved) == {"x-amz-3", "x-amz-w"}
            # The layout is AWS-readable: the official client decrypts it as it stands.
            outcome = official_get(client, bucket, key)
            expect_decrypted(outcome, plaintext_for(key, size), key)
        plaintext = plaintext_for(OFFICIAL_MULTIPART_KEY, BIG_SIZE)
        client.upload_fileobj(
            io.BytesIO(plaintext),
            bucket,
            OFFICIAL_MULTIPART_KEY,
            multipart_chunksize=PART_SIZE_MIB * MiB,
        )
        head = s3.head_object(Bucket=bucket, Key=OFFICIAL_MULTIPART_KEY)
        assert head["ETag"].strip('"').endswith("-3"), head["ETag"]
        for key in (official_key(1), OFFICIAL_MULTIPART_KEY):
            metadata = s3.head_object(Bucket=bucket, Key=key)["Metadata"]
            # What AWS's writer produced, with only x-amz-w rewritten by our hook.
            assert set(metadata) == {"x-amz-c", "x-amz-3", "x-amz-w", "x-amz-d", "x-amz-i"}
            assert (metadata["x-amz-c"], metadata["x-amz-w"]) == ("115", "02")
        return bucket

    def check(self, key: str, size: int) -> None:
        bucket = self._bucket.get()
        out = self.workdir / key.replace("/", "__")
        got = s3seal_decrypt(self.endpoint, self.key_file, bucket, key, out)
        assert_same_bytes(got, plaintext_for(key, size), f"s3seal's plaintext of {key}")


@pytest.fixture(scope="module")
def official_to_s3seal(
    moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> OfficialToS3seal:
    return OfficialToS3seal(moto_endpoint, tmp_path_factory.mktemp("aws-py-to-s3seal"))


@pytest.mark.parametrize("size", EDGE_SIZES, ids=size_id)
def test_s3seal_decrypts_official_v3_put(official_to_s3seal: OfficialToS3seal, size: int) -> None:
    official_to_s3seal.check(official_key(size), size)


def test_s3seal_decrypts_official_v3_multipart(official_to_s3seal: OfficialToS3seal) -> None:
    official_to_s3seal.check(OFFICIAL_MULTIPART_KEY, BIG_SIZE)


@pytest.mark.parametrize("size", INSTRUCTION_SIZES, ids=size_id)
def test_s3seal_decrypts_official_v3_instruction_file(
    official_to_s3seal: OfficialToS3seal, size: int
) -> None:
    official_to_s3seal.check(instruction_key(size), size)


@pytest.mark.parametrize("vector", v3_vectors(), ids=lambda v: v.name)
def test_s3seal_decrypts_shared_v3_vector(
    moto_endpoint: str, tmp_path: Path, vector: V3Vector
) -> None:
    """Every object of tests/vectors/aws-python-s3ec-v3, stored as S3 held it, through the CLI."""
    s3 = s3_client(moto_endpoint)
    bucket = create_bucket(moto_endpoint, "aws-py-vectors")
    key = f"vectors/{vector.name}"
    s3.put_object(Bucket=bucket, Key=key, Body=vector.body, Metadata=vector.metadata)
    if vector.instruction is not None:
        s3.put_object(Bucket=bucket, Key=key + INSTRUCTION_SUFFIX, Body=vector.instruction)
    key_file = write_key_file(tmp_path, vector.root_key)
    got = s3seal_decrypt(moto_endpoint, key_file, bucket, key, tmp_path / "plain")
    assert_same_bytes(got, vector.plaintext, f"s3seal's plaintext of {vector.name}")


# --- tampering: refused by both, and by s3seal with one opaque error ---------------------------


def flip_b64(value: str, index: int) -> str:
    """Flip the low bit of one decoded byte, keeping the value valid base64 of the same length."""
    raw = bytearray(base64.b64decode(value))
    raw[index] ^= 0x01
    return base64.b64encode(bytes(raw)).decode("ascii")


def flip_byte(body: bytes, index: int) -> bytes:
    raw = bytearray(body)
    raw[index] ^= 0x01
    return bytes(raw)


Tamper = Callable[[dict[str, str], bytes], tuple[dict[str, str], bytes]]


def _meta(name: str, change: Callable[[str], str]) -> Tamper:
    return lambda metadata, body: ({**metadata, name: change(metadata[name])}, body)


def _body(index: int) -> Tamper:
    return lambda metadata, body: (metadata, flip_byte(body, index))


TAMPER_SIZE = 1000
TAMPERS: dict[str, Tamper] = {
    "x-amz-d": _meta("x-amz-d", lambda v: flip_b64(v, 0)),
    "x-amz-i": _meta("x-amz-i", lambda v: flip_b64(v, 0)),
    "x-amz-3-iv": _meta("x-amz-3", lambda v: flip_b64(v, 0)),
    "x-amz-3-key": _meta("x-amz-3", lambda v: flip_b64(v, 20)),
    "x-amz-c-116": _meta("x-amz-c", lambda v: "116"),
    "x-amz-c-v2-cipher": _meta("x-amz-c", lambda v: "AES/GCM/NoPadding"),
    "body-first-byte": _body(0),
    "body-last-byte": _body(TAMPER_SIZE - 1),
    "tag": _body(TAMPER_SIZE + 15),
}
"""Each keeps the object well formed (valid base64, same lengths): only its content is wrong."""


@dataclass(frozen=True)
class S3sealRefusal:
    exit_code: int
    message: str
    """stderr with the object's URL replaced by ``SRC``."""
    wrote_output: bool


@dataclass(frozen=True)
class TamperRun:
    bucket: str
    s3seal: dict[str, S3sealRefusal]
    official: dict[str, Outcome]


class TamperedObjects:
    """One s3seal V3 object, stored once intact and once per tampering; both clients read all."""

    def __init__(self, endpoint: str, workdir: Path) -> None:
        self.endpoint = endpoint
        self.workdir = workdir
        self.root_key = os.urandom(ROOT_KEY_SIZE)
        self.plaintext = plaintext_for("tampered", TAMPER_SIZE)
        self._run = Once(self._run_all)

    def _run_all(self) -> TamperRun:
        bucket = create_bucket(self.endpoint, "s3seal-v3-tampered")
        s3 = s3_client(self.endpoint)
        encryptor = Encryptor(self.root_key, Format.V3, plaintext_length=TAMPER_SIZE)
        body = encryptor.update(self.plaintext) + encryptor.finalize()
        metadata = encryptor.metadata.to_metadata()
        key_file = write_key_file(self.workdir, self.root_key)
        client = official_client(self.endpoint, self.root_key)
        refusals: dict[str, S3sealRefusal] = {}
        outcomes: dict[str, Outcome] = {}
        untouched: Tamper = lambda metadata, body: (metadata, body)  # noqa: E731
        for name, tamper in {"intact": untouched, **TAMPERS}.items():
            changed_meta, changed_body = tamper(metadata, body)
            assert (changed_meta, changed_body) != (metadata, body) or name == "intact"
            key = f"tampered/{name}"
            s3.put_object(Bucket=bucket, Key=key, Body=changed_body, Metadata=changed_meta)
            out = self.workdir / f"{name}.out"
            src = f"s3://{bucket}/{key}"
            done = s3seal_cli(
                "decrypt", src, str(out), "--key-file", str(key_file), endpoint=self.endpoint
            )
            refusals[name] = S3sealRefusal(
                exit_code=done.returncode,
                message=done.stderr.decode(errors="replace").replace(src, "SRC").strip(),
                wrote_output=out.exists(),
            )
            outcomes[name] = official_get(client, bucket, key)
        return TamperRun(bucket, refusals, outcomes)

    def get(self) -> TamperRun:
        run = self._run.get()
        # The control: intact, both decrypt it, so every refusal below is the tampering's doing.
        assert run.s3seal["intact"].exit_code == 0, run.s3seal["intact"].message
        assert (self.workdir / "intact.out").read_bytes() == self.plaintext
        expect_decrypted(run.official["intact"], self.plaintext, "the intact object")
        return run


@pytest.fixture(scope="module")
def tampered(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> TamperedObjects:
    return TamperedObjects(moto_endpoint, tmp_path_factory.mktemp("s3seal-v3-tampered"))


@pytest.mark.parametrize("name", TAMPERS)
def test_s3seal_refuses_tampered_v3(tampered: TamperedObjects, name: str) -> None:
    refusal = tampered.get().s3seal[name]
    assert refusal.exit_code == EXIT_CRYPTO, refusal
    assert not refusal.wrote_output, "s3seal left a plaintext file behind"


@pytest.mark.parametrize("name", TAMPERS)
def test_official_client_refuses_tampered_v3(tampered: TamperedObjects, name: str) -> None:
    outcome = tampered.get().official[name]
    assert not outcome.ok, f"the official client decrypted the object with {name} tampered"
    assert "An error occurred (" not in outcome.error, outcome.error  # an S3 error proves nothing


def test_s3seal_gives_one_opaque_error_for_every_tampering(tampered: TamperedObjects) -> None:
    """Which part was changed must not show: one exit status and one message for all of them."""
    refusals = {name: tampered.get().s3seal[name] for name in TAMPERS}
    distinct = {(r.exit_code, r.message) for r in refusals.values()}
    assert len(distinct) == 1, "s3seal tells tamperings apart:\n" + "\n".join(
        f"  {name}: exit {r.exit_code}: {r.message}" for name, r in refusals.items()
    )
