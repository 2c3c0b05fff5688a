"""s3seal against the official AWS SDK for Ruby S3 encryption clients, both ways, on moto.

s3seal -> Ruby: objects s3seal writes (single PUT at the AES block edges, a multipart upload of one
continuous CBC chain / GCM stream, a materials description) are decrypted byte for byte by
``Aws::S3::Encryption::Client`` (V1) and ``Aws::S3::EncryptionV2::Client`` (V2; V1 too in its
``:v2_and_legacy`` profile). Ruby -> s3seal: what those clients write, s3seal reads with boto3 and
``Decryptor``, streaming the body. A wrong root key makes Ruby fail, so a mismatch would be caught.

Each direction runs one ``ruby`` process per client over a whole batch of objects (see
``ruby_sdk.py``); the per-object tests only look up their object's outcome.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from s3seal.envelope import (
    ROOT_KEY_SIZE,
    Decryptor,
    Encryptor,
    Format,
    encrypt_chunks,
    iter_parts,
)

from .common import assert_same_bytes, chunked, plaintext_for, size_id
from .ruby_sdk import Once, RubyClient, RubyRun, require_ruby_sdk, run_ruby

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef

pytestmark = pytest.mark.interop

KiB = 1024
MiB = 1024 * KiB
REGION = "us-east-1"
EDGE_SIZES = (0, 1, 15, 16, 17, 31, 32, 33, 1000, 65537)
"""Empty, one byte, either side of one and two AES blocks, and sizes that are no block multiple."""
RUBY_FORMATS = (Format.V1, Format.V2)
"""The AWS SDK for Ruby reads V1 and V2; V3 interop is test_aws_python_s3ec.py's."""
BIG_SIZE = 12 * MiB + 7
"""Three parts of a 5 MiB multipart upload, the last one short and not a block multiple."""
PART_SIZE = 5 * MiB
WRITE_CHUNK = 64 * KiB + 3
"""Plaintext is fed in chunks that are no multiple of 16, so chunks straddle AES blocks."""
READ_CHUNK = 64 * KiB
DESCRIPTION = {"s3seal:secret-version": "abc"}
DESCRIPTION_SIZE = 1000

READERS: dict[Format, tuple[RubyClient, ...]] = {
    Format.V1: ("v1", "v2-legacy"),
    Format.V2: ("v2",),
}
"""Which Ruby clients read which s3seal format."""
READ_PAIRS = [(fmt, reader) for fmt, readers in READERS.items() for reader in readers]
WRITERS: dict[RubyClient, Format] = {"v1": Format.V1, "v2": Format.V2}
"""Which format each Ruby client writes."""


# --- plaintexts, keys and byte comparison -----------------------------------------------------


def fresh_root_key() -> bytes:
    return os.urandom(ROOT_KEY_SIZE)


def s3_client(endpoint: str) -> S3Client:
    """A boto3 S3 client on moto (built in a test body, under the fake credentials)."""
    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION)


def create_bucket(s3: S3Client, prefix: str) -> str:
    name = f"{prefix}-{os.urandom(4).hex()}"
    s3.create_bucket(Bucket=name)
    return name


def s3seal_put(
    s3: S3Client,
    bucket: str,
    key: str,
    root_key: bytes,
    fmt: Format,
    plaintext: bytes,
    description: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A single PUT the way s3seal writes it; returns the metadata it sent."""
    encryptor = Encryptor(root_key, fmt, description=description, plaintext_length=len(plaintext))
    body = b"".join(encrypt_chunks(encryptor, chunked(plaintext, WRITE_CHUNK)))
    assert len(body) == encryptor.ciphertext_length
    metadata = encryptor.metadata.to_metadata()
    s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata=metadata)
    return metadata


def s3seal_multipart(
    s3: S3Client,
    bucket: str,
    key: str,
    root_key: bytes,
    fmt: Format,
    plaintext: bytes,
    *,
    announce_length: bool,
) -> tuple[dict[str, str], list[int]]:
    """A multipart upload of one continuous ciphertext stream; returns (metadata, part sizes).

    The envelope goes into CreateMultipartUpload before any part is encrypted; ``iter_parts`` cuts
    the one CBC chain (V1) or GCM stream (V2) into parts.
    """
    encryptor = Encryptor(
        root_key, fmt, plaintext_length=len(plaintext) if announce_length else None
    )
    metadata = encryptor.metadata.to_metadata()
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, Metadata=metadata)["UploadId"]
    parts: list[CompletedPartTypeDef] = []
    sizes: list[int] = []
    ciphertext = encrypt_chunks(encryptor, chunked(plaintext, WRITE_CHUNK))
    for number, part in enumerate(iter_parts(ciphertext, PART_SIZE), start=1):
        response = s3.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=part
        )
        parts.append({"ETag": response["ETag"], "PartNumber": number})
        sizes.append(len(part))
    s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    return metadata, sizes


# --- s3seal writes, Ruby reads ----------------------------------------------------------------


def put_key(fmt: Format, size: int) -> str:
    return f"s3seal-{fmt}/put-{size_id(size)}"


def multipart_key(fmt: Format, announce_length: bool) -> str:
    length = "length-announced" if announce_length else "length-unknown"
    return f"s3seal-{fmt}/multipart-{size_id(BIG_SIZE)}-{length}"


def description_key(fmt: Format) -> str:
    return f"s3seal-{fmt}/description-{size_id(DESCRIPTION_SIZE)}"


@dataclass(frozen=True)
class S3sealObject:
    key: str
    fmt: Format
    size: int


class S3sealToRuby:
    """s3seal writes every object once; each Ruby client then reads its formats in one process."""

    def __init__(self, endpoint: str, workdir: Path) -> None:
        self.endpoint = endpoint
        self.workdir = workdir
        self.root_key = fresh_root_key()
        self._written = Once(self._write_all)
        self._reads: dict[RubyClient, Once[tuple[RubyRun, dict[str, Path]]]] = {
            reader: Once(functools.partial(self._read_all, reader))
            for reader in ("v1", "v2", "v2-legacy")
        }

    def _write_all(self) -> tuple[str, list[S3sealObject]]:
        s3 = s3_client(self.endpoint)
        bucket = create_bucket(s3, "s3seal-to-ruby")
        objects: list[S3sealObject] = []
        for fmt in RUBY_FORMATS:
            for size in EDGE_SIZES:
                key = put_key(fmt, size)
                s3seal_put(s3, bucket, key, self.root_key, fmt, plaintext_for(key, size))
                objects.append(S3sealObject(key, fmt, size))

            key = description_key(fmt)
            metadata = s3seal_put(
                s3,
                bucket,
                key,
                self.root_key,
                fmt,
                plaintext_for(key, DESCRIPTION_SIZE),
                description=DESCRIPTION,
            )
            assert metadata["x-amz-matdesc"] == '{"s3seal:secret-version":"abc"}'
            objects.append(S3sealObject(key, fmt, DESCRIPTION_SIZE))

            for announce in (True, False):
                key = multipart_key(fmt, announce)
                metadata, sizes = s3seal_multipart(
                    s3,
                    bucket,
                    key,
                    self.root_key,
                    fmt,
                    plaintext_for(key, BIG_SIZE),
                    announce_length=announce,
                )
                body_size = Encryptor(self.root_key, fmt).metadata.content.ciphertext_length(
                    BIG_SIZE
                )
                # The test is only worth something if it really sent three parts, the first two
                # whole 5 MiB ones, and the length metadata is as the case's name says.
                assert sizes == [PART_SIZE, PART_SIZE, body_size - 2 * PART_SIZE]
                assert ("x-amz-unencrypted-content-length" in metadata) is announce
                objects.append(S3sealObject(key, fmt, BIG_SIZE))
        return bucket, objects

    def _read_all(self, reader: RubyClient) -> tuple[RubyRun, dict[str, Path]]:
        bucket, objects = self._written.get()
        outdir = self.workdir / f"read-by-{reader}"
        outdir.mkdir()
        paths = {
            o.key: outdir / o.key.replace("/", "__") for o in objects if reader in READERS[o.fmt]
        }
        run = run_ruby(
            "get",
            reader,
            endpoint=self.endpoint,
            bucket=bucket,
            root_key=self.root_key,
            objects=list(paths.items()),
        )
        return run, paths

    def check(self, reader: RubyClient, key: str, size: int) -> None:
        require_ruby_sdk()  # before any S3 work: a missing SDK fails at once, with the fix
        run, paths = self._reads[reader].get()
        run.expect_ok(key)
        assert_same_bytes(
            paths[key].read_bytes(),
            plaintext_for(key, size),
            f"Ruby {reader} client's plaintext of {key}",
        )


@pytest.fixture(scope="module")
def s3seal_to_ruby(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> S3sealToRuby:
    return S3sealToRuby(moto_endpoint, tmp_path_factory.mktemp("s3seal-to-ruby"))


@pytest.mark.parametrize(
    ("fmt", "reader", "size"),
    [
        pytest.param(fmt, reader, size, id=f"{fmt}-by-ruby-{reader}-{size_id(size)}")
        for fmt, reader in READ_PAIRS
        for size in EDGE_SIZES
    ],
)
def test_ruby_decrypts_s3seal_put(
    s3seal_to_ruby: S3sealToRuby, fmt: Format, reader: RubyClient, size: int
) -> None:
    s3seal_to_ruby.check(reader, put_key(fmt, size), size)


@pytest.mark.parametrize(
    ("fmt", "reader", "announce_length"),
    [
        pytest.param(
            fmt,
            reader,
            announce,
            id=f"{fmt}-by-ruby-{reader}-{'length-announced' if announce else 'length-unknown'}",
        )
        for fmt, reader in READ_PAIRS
        for announce in (True, False)
    ],
)
def test_ruby_decrypts_s3seal_multipart(
    s3seal_to_ruby: S3sealToRuby, fmt: Format, reader: RubyClient, announce_length: bool
) -> None:
    s3seal_to_ruby.check(reader, multipart_key(fmt, announce_length), BIG_SIZE)


@pytest.mark.parametrize(
    ("fmt", "reader"),
    [pytest.param(fmt, reader, id=f"{fmt}-by-ruby-{reader}") for fmt, reader in READ_PAIRS],
)
def test_ruby_decrypts_s3seal_with_description(
    s3seal_to_ruby: S3sealToRuby, fmt: Format, reader: RubyClient
) -> None:
    s3seal_to_ruby.check(reader, description_key(fmt), DESCRIPTION_SIZE)


@pytest.mark.parametrize(
    ("fmt", "reader"),
    [pytest.param(fmt, reader, id=f"{fmt}-by-ruby-{reader}") for fmt, reader in READ_PAIRS],
)
def test_ruby_refuses_wrong_root_key(
    s3: Any, bucket: str, moto_endpoint: str, tmp_path: Path, fmt: Format, reader: RubyClient
) -> None:
    """The negative control: the comparison above would notice a root key mismatch."""
    require_ruby_sdk()
    key = f"s3seal-{fmt}/wrong-root-key"
    plaintext = plaintext_for(key, 1000)
    s3seal_put(s3, bucket, key, fresh_root_key(), fmt, plaintext)
    out = tmp_path / "plaintext"
    run = run_ruby(
        "get",
        reader,
        endpoint=moto_endpoint,
        bucket=bucket,
        root_key=fresh_root_key(),
        objects=[(key, out)],
    )
    outcome = run.outcome(key)
    assert not outcome.ok, f"the Ruby {reader} client decrypted {key} under the wrong root key"
    assert run.returncode == 1
    # It must fail on the key, not on S3 (a missing object or a refused request proves nothing).
    assert not outcome.error_class.startswith(("Aws::S3::Errors::", "Seahorse::")), (
        f"the Ruby client failed for another reason: {outcome.error_class}: {outcome.message}"
    )
    assert not (out.exists() and out.read_bytes() == plaintext)


# --- Ruby writes, s3seal reads ----------------------------------------------------------------

RUBY_SIZES = (*EDGE_SIZES, BIG_SIZE)


def ruby_key(writer: RubyClient, size: int) -> str:
    return f"ruby-{writer}/{size_id(size)}"


class RubyToS3seal:
    """Each Ruby client writes every size in one process; s3seal reads them back one by one."""

    def __init__(self, endpoint: str, workdir: Path) -> None:
        self.endpoint = endpoint
        self.workdir = workdir
        self.root_key = fresh_root_key()
        self._bucket = Once(lambda: create_bucket(s3_client(self.endpoint), "ruby-to-s3seal"))
        self._puts: dict[RubyClient, Once[RubyRun]] = {
            writer: Once(functools.partial(self._put_all, writer)) for writer in WRITERS
        }

    @property
    def bucket(self) -> str:
        return self._bucket.get()

    def _put_all(self, writer: RubyClient) -> RubyRun:
        indir = self.workdir / f"written-by-{writer}"
        indir.mkdir()
        objects: list[tuple[str, Path]] = []
        for size in RUBY_SIZES:
            key = ruby_key(writer, size)
            path = indir / key.replace("/", "__")
            path.write_bytes(plaintext_for(key, size))
            objects.append((key, path))
        return run_ruby(
            "put",
            writer,
            endpoint=self.endpoint,
            bucket=self.bucket,
            root_key=self.root_key,
            objects=objects,
        )

    def check(self, writer: RubyClient, size: int) -> None:
        require_ruby_sdk()
        key = ruby_key(writer, size)
        self._puts[writer].get().expect_ok(key)
        response = s3_client(self.endpoint).get_object(Bucket=self.bucket, Key=key)
        decryptor = Decryptor(self.root_key, response["Metadata"])
        assert decryptor.metadata.format is WRITERS[writer]
        assert decryptor.metadata.unencrypted_length == size
        plaintext = bytearray()
        for chunk in response["Body"].iter_chunks(READ_CHUNK):
            plaintext += decryptor.update(chunk)
        plaintext += decryptor.finalize()
        expected = plaintext_for(key, size)
        assert_same_bytes(bytes(plaintext), expected, f"s3seal's plaintext of {key}")


@pytest.fixture(scope="module")
def ruby_to_s3seal(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> RubyToS3seal:
    return RubyToS3seal(moto_endpoint, tmp_path_factory.mktemp("ruby-to-s3seal"))


@pytest.mark.parametrize(
    ("writer", "size"),
    [
        pytest.param(writer, size, id=f"ruby-{writer}-{size_id(size)}")
        for writer in WRITERS
        for size in RUBY_SIZES
    ],
)
def test_s3seal_decrypts_ruby_object(
    ruby_to_s3seal: RubyToS3seal, writer: RubyClient, size: int
) -> None:
    ruby_to_s3seal.check(writer, size)
