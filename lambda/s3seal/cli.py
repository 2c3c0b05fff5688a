"""The operator CLI: ``s3seal keygen | encrypt | decrypt | inspect``.

Exit codes: 0 success; 1 an AWS or file error; 2 usage or configuration; 3 a root-key error
(invalid, wrong, or its secret unreadable); 4 a format or decryption error (metadata missing or
malformed, body corrupt or tampered).
"""

from __future__ import annotations

import argparse
import base64
import json
import mimetypes
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from . import (
    __version__,
    commands_keys,
    commands_redrive,
    commands_rewrap,
    commands_status,
    copying,
    progress,
    quiet_sdk,
    staged,
    storage,
    verified,
)
from .config import DEFAULT_ENVELOPE_FORMAT
from .envelope import (
    INSTRUCTION_SUFFIX,
    Decryptor,
    Encryptor,
    EnvelopeMetadata,
    Format,
    decrypt_chunks,
    encrypt_chunks,
    iter_parts,
    needs_instruction_file,
    parse_instruction_file,
)
from .envelope.metadata import ENVELOPE_NAMES
from .errors import (
    AwsSetupError,
    CiphertextError,
    ConfigError,
    LegacyFormatError,
    MetadataError,
    PlaintextLengthError,
    RootKeyError,
    S3SealError,
)
from .keys import (
    SECRET_VERSION_FIELD,
    RootKey,
    generate_root_key,
    root_key_from_env,
    root_key_from_file,
    root_key_from_secret,
    store_root_key,
)
from .objects import ObjectRef, is_s3_url, parse_s3_prefix, parse_s3_url

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_KEY = 3
EXIT_CRYPTO = 4
EXIT_AWS_SETUP = 5

SIDECAR_SUFFIX = ".s3seal.json"
SIDECAR_MAX_BYTES = 64 * 1024
"""Far above any envelope (S3 allows 2 KB of user metadata); a larger file is refused unread."""
ALLOW_LEGACY = "--allow-legacy"
STDIO = "-"
_SPOOL_IN_MEMORY = 8 * storage.MiB


def exit_code_for(exc: S3SealError) -> int:
    if isinstance(exc, AwsSetupError):
        return EXIT_AWS_SETUP
    if isinstance(exc, ConfigError):
        return EXIT_USAGE
    if isinstance(exc, RootKeyError):
        return EXIT_KEY
    if isinstance(exc, MetadataError | CiphertextError | PlaintextLengthError):
        return EXIT_CRYPTO
    return EXIT_FAILURE


class Aws:
    """boto3 clients built from the AWS-CLI-like options, created on first use."""

    def __init__(self, args: argparse.Namespace) -> None:
        self._region: str | None = getattr(args, "region", None)
        self._profile: str | None = getattr(args, "profile", None)
        # Without --endpoint-url, boto3 itself honours AWS_ENDPOINT_URL(_S3, ...).
        self._endpoint_url: str | None = getattr(args, "endpoint_url", None)

    @cached_property
    def _session(self) -> boto3.Session:
        return boto3.Session(region_name=self._region, profile_name=self._profile)

    @cached_property
    def s3(self) -> S3Client:
        client: S3Client = self._session.client("s3", endpoint_url=self._endpoint_url)
        return client

    def client(self, service: Any) -> Any:
        return self._session.client(service, endpoint_url=self._endpoint_url)

    @cached_property
    def secrets(self) -> SecretsManagerClient:
        client: SecretsManagerClient = self._session.client(
            "secretsmanager", endpoint_url=self._endpoint_url
        )
        return client


# --- root key ---------------------------------------------------------------------------------


def _root_key(
    args: argparse.Namespace, aws: Aws, envelope: EnvelopeMetadata | None = None
) -> RootKey:
    if args.key_secret:
        # Decrypt with the secret version that wrapped this object's data key when it says so.
        version = envelope.description.get(SECRET_VERSION_FIELD) if envelope else None
        return root_key_from_secret(aws.secrets, args.key_secret, version)
    if args.key_file:
        return root_key_from_file(args.key_file)
    return root_key_from_env(os.environ)


# --- sources ----------------------------------------------------------------------------------


@dataclass
class Source:
    name: str
    chunks: Iterator[bytes]
    size: int | None
    metadata: dict[str, str] | None
    """Envelope metadata: the object's user metadata, or the sidecar's contents."""
    content_type: str | None = None


def _open_source(spec: str, aws: Aws, sidecar: str | None, *, envelope: bool) -> Source:
    """Open SRC. With ``envelope``, also find its envelope metadata (object metadata or sidecar)."""
    if is_s3_url(spec):
        reader = storage.open_object(aws.s3, parse_s3_url(spec))
        metadata = _read_sidecar(sidecar) if sidecar else reader.metadata
        return Source(spec, reader.chunks, reader.content_length, metadata, reader.content_type)
    if spec == STDIO:
        meta = _read_sidecar(sidecar) if sidecar and envelope else None
        return Source("stdin", _read_chunks(sys.stdin.buffer), None, meta)
    try:
        handle = Path(spec).open("rb")  # noqa: SIM115 (closed by _read_chunks when drained)
        size = os.fstat(handle.fileno()).st_size
    except OSError as exc:
        raise S3SealError(f"cannot read {spec}: {exc.strerror}") from None
    meta = None
    if envelope:
        sidecar_path = sidecar or spec + SIDECAR_SUFFIX
        meta = _read_sidecar(sidecar_path) if Path(sidecar_path).exists() else None
    return Source(spec, _read_chunks(handle, close=True), size, meta, mimetypes.guess_type(spec)[0])


def _read_chunks(handle: IO[bytes], close: bool = False) -> Iterator[bytes]:
    try:
        while chunk := handle.read(storage.CHUNK_SIZE):
            yield chunk
    finally:
        if close:
            handle.close()


_INSTRUCTION_MAX_BYTES = 64 * 1024
"""An instruction file is a few hundred bytes of JSON; anything far larger is not one."""


def _parse_envelope(spec: str, aws: Aws, metadata: Mapping[str, str]) -> EnvelopeMetadata:
    """SRC's envelope. A V3 object may keep its wrapped key in ``KEY.instruction``: for S3 that
    object is read; for a local file, ``FILE.instruction`` beside it (its sidecar has the rest)."""
    if not needs_instruction_file(metadata):
        return EnvelopeMetadata.parse(metadata)
    if is_s3_url(spec):
        ref = parse_s3_url(spec)
        instruction_ref = ObjectRef(ref.bucket, ref.key + INSTRUCTION_SUFFIX)
        where = str(instruction_ref)
        reader = storage.open_object(aws.s3, instruction_ref)
        raw = bytearray()
        for chunk in reader.chunks:
            raw += chunk
            if len(raw) > _INSTRUCTION_MAX_BYTES:
                raise MetadataError(f"{where} is too large to be an instruction file")
        text = bytes(raw)
    else:
        where = spec + INSTRUCTION_SUFFIX
        if spec == STDIO or not Path(where).exists():
            raise MetadataError(
                f"{spec}: the V3 envelope keeps its wrapped data key in an instruction file; "
                f"expected {where if spec != STDIO else 'FILE' + INSTRUCTION_SUFFIX}"
            )
        text = Path(where).read_bytes()[: _INSTRUCTION_MAX_BYTES + 1]
    return EnvelopeMetadata.parse(metadata, instruction=parse_instruction_file(text, where))


def _read_sidecar(path: str) -> dict[str, str]:
    """A sidecar's names and values; MetadataError (exit 4) for anything that is not one."""
    try:
        with Path(path).open("rb") as handle:
            raw = handle.read(SIDECAR_MAX_BYTES + 1)
    except OSError as exc:
        raise MetadataError(f"cannot read metadata file {path}: {exc.strerror}") from None
    if len(raw) > SIDECAR_MAX_BYTES:
        raise MetadataError(
            f"metadata file {path} is over {SIDECAR_MAX_BYTES} bytes: not a sidecar"
        )
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):  # bad UTF-8 or JSON, a 5000-digit number, deep nesting
        raise MetadataError(f"metadata file {path} is not valid JSON") from None
    # Also accept {"metadata": {...}}, the layout of the test vectors' JSON files.
    if isinstance(doc, dict) and isinstance(doc.get("metadata"), dict):
        doc = doc["metadata"]
    if not isinstance(doc, dict) or not all(isinstance(v, str) for v in doc.values()):
        raise MetadataError(f"metadata file {path} must be a JSON object of strings")
    return doc


# --- sinks ------------------------------------------------------------------------------------


def _write_local(
    path: str, chunks: Iterator[bytes], sidecar: tuple[str, Callable[[], Mapping[str, str]]] | None
) -> None:
    """Write to temporary files beside the targets and rename them into place only on success."""
    target = Path(path)
    written: list[Path] = []
    try:
        body_tmp = _temp_beside(target)
        written.append(body_tmp)
        with body_tmp.open("wb") as out:
            for chunk in chunks:
                out.write(chunk)
        if sidecar is not None:
            side_path, metadata = sidecar
            side_tmp = _temp_beside(Path(side_path))
            written.append(side_tmp)
            side_tmp.write_text(_sidecar_text(metadata()), encoding="utf-8")
            os.replace(side_tmp, side_path)
        os.replace(body_tmp, target)
        written.clear()
    except OSError as exc:
        raise S3SealError(f"cannot write {path}: {exc.strerror}") from None
    finally:
        for leftover in written:
            with suppress(OSError):
                leftover.unlink()


def _sidecar_text(metadata: Mapping[str, str]) -> str:
    return json.dumps(dict(metadata), indent=1, sort_keys=True) + "\n"


def _temp_beside(target: Path) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(fd)
    return Path(tmp)


def _write_stdout(chunks: Iterator[bytes]) -> None:
    """Emit nothing until the whole stream succeeded: spool, then copy to stdout."""
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
        for chunk in chunks:
            spool.write(chunk)
        spool.seek(0)
        out = sys.stdout.buffer
        while chunk := spool.read(storage.CHUNK_SIZE):
            out.write(chunk)
        out.flush()


def _write(
    dst: str,
    aws: Aws,
    chunks: Iterator[bytes],
    *,
    part_size: int,
    content_type: str | None,
    envelope: Callable[[], Mapping[str, str]] | None = None,
    sidecar: str | None = None,
    authenticated: bool = False,
) -> None:
    """Write DST. ``envelope`` (encrypt only) goes to S3 metadata or to the sidecar file.

    ``authenticated`` (decrypting V2/V3): no byte may leave the process before the tag verified.
    Every sink holds it back: S3 through ``verified.spooled`` (an anonymous 0600 temp file, then
    the upload), a local file by writing a 0600 temp file beside it that is renamed into place
    only at the end, stdout by spooling. V1 plaintext has no tag; it goes to S3 as it decrypts.
    On SIGTERM or Ctrl-C (see ``main``) the temp file is removed and an upload aborted.
    """
    if is_s3_url(dst):
        ref = parse_s3_url(dst)
        parts = iter_parts(verified.spooled(chunks) if authenticated else chunks, part_size)
        storage.upload(
            aws.s3, ref.bucket, ref.key, parts, envelope or dict, content_type=content_type
        )
    elif dst == STDIO:
        _write_stdout(chunks)
        if envelope is not None and sidecar:
            Path(sidecar).write_text(_sidecar_text(envelope()), encoding="utf-8")
    else:
        side = (sidecar or dst + SIDECAR_SUFFIX, envelope) if envelope is not None else None
        _write_local(dst, chunks, side)


# --- commands ---------------------------------------------------------------------------------


def cmd_keygen(args: argparse.Namespace, aws: Aws) -> int:
    key = generate_root_key()
    if not args.secret_id:
        print(key)
        return EXIT_OK
    arn, version = store_root_key(aws.secrets, args.secret_id, key)
    print(json.dumps({"ARN": arn, "VersionId": version}))
    return EXIT_OK


def cmd_encrypt(args: argparse.Namespace, aws: Aws) -> int:
    _check_paths(args)
    if args.dst == STDIO and not args.metadata:
        raise ConfigError("writing ciphertext to stdout needs --metadata FILE for the envelope")
    root = _root_key(args, aws)
    source = _open_source(args.src, aws, sidecar=None, envelope=False)
    encryptor = Encryptor(
        root.material, args.format, description=root.description(), plaintext_length=source.size
    )
    chunks = encrypt_chunks(encryptor, progress.track(source.chunks, source.size, "encrypting"))
    # An S3 source's own user metadata travels with it; the envelope's names are ours to set.
    kept = {k: v for k, v in (source.metadata or {}).items() if k not in ENVELOPE_NAMES}
    _write(
        args.dst,
        aws,
        chunks,
        part_size=storage.choose_part_size(source.size, args.part_size_mib * storage.MiB),
        content_type=source.content_type,
        envelope=lambda: kept | encryptor.complete_metadata().to_metadata(),
        sidecar=args.metadata,
    )
    return EXIT_OK


def cmd_decrypt(args: argparse.Namespace, aws: Aws) -> int:
    _check_paths(args)
    source = _open_source(args.src, aws, sidecar=args.metadata, envelope=True)
    if source.metadata is None:
        raise MetadataError(
            f"no envelope metadata: expected {args.src}{SIDECAR_SUFFIX} or --metadata FILE"
        )
    envelope = _parse_envelope(args.src, aws, source.metadata)
    root = _root_key(args, aws, envelope)
    decryptor = Decryptor(root.material, envelope, allow_legacy=args.allow_legacy)
    chunks = decrypt_chunks(decryptor, progress.track(source.chunks, source.size, "decrypting"))
    _write(
        args.dst,
        aws,
        chunks,
        part_size=storage.choose_part_size(source.size, args.part_size_mib * storage.MiB),
        content_type=source.content_type,
        authenticated=envelope.content.authenticated,
    )
    return EXIT_OK


def cmd_inspect(args: argparse.Namespace, aws: Aws) -> int:
    if is_s3_url(args.src):
        head = storage.head_object(aws.s3, parse_s3_url(args.src))
        stored: int | None = head["ContentLength"]
        metadata = _read_sidecar(args.metadata) if args.metadata else dict(head.get("Metadata", {}))
    else:
        sidecar = args.metadata or args.src + SIDECAR_SUFFIX
        metadata = _read_sidecar(sidecar)
        stored = Path(args.src).stat().st_size if Path(args.src).exists() else None
    envelope = _parse_envelope(args.src, aws, metadata)
    report = {"object": args.src} | describe_envelope(envelope, stored)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        width = max(len(k) for k in report)
        for name, value in report.items():
            shown = json.dumps(value) if isinstance(value, dict) else value
            print(f"{name + ':':<{width + 2}}{shown}")
    if envelope.legacy_shape and not args.allow_legacy:
        # The envelope is shown either way; the status says whether decrypt reads it as it is.
        raise LegacyFormatError(
            f"{envelope.legacy_shape} is a legacy unauthenticated shape: decrypt refuses it "
            f"unless given {ALLOW_LEGACY}"
        )
    return EXIT_OK


def describe_envelope(meta: EnvelopeMetadata, stored_bytes: int | None) -> dict[str, Any]:
    """What an envelope says, without the key: for ``inspect``."""
    key_bits = {48: 256, 32: 128, 60: 256, 44: 128, 40: 256, 24: 128}.get(len(meta.wrapped_key))
    report: dict[str, Any] = {
        "format": meta.format.value,
        "content_algorithm": meta.content.cek_alg,
        "key_wrap_algorithm": meta.wrap.wrap_alg,
        "data_key_bits": key_bits,
        "iv_bytes": len(meta.iv),
        "authenticated": meta.content.authenticated,
        "key_commitment": meta.format is Format.V3,
        "legacy_shape": meta.legacy_shape,
        "redshift_copy_encrypted": meta.format is Format.V1,
        "matdesc": meta.description,
        "stored_bytes": stored_bytes,
        "declared_plaintext_bytes": meta.unencrypted_length,
    }
    if stored_bytes is not None:
        if meta.content.authenticated:
            report["plaintext_bytes"] = stored_bytes - meta.content.tag_size
        else:
            report["plaintext_bytes"] = f"{max(stored_bytes - 16, 0)}..{max(stored_bytes - 1, 0)}"
    return report


def _check_paths(args: argparse.Namespace) -> None:
    if args.src == args.dst and args.src != STDIO:
        raise ConfigError("SRC and DST are the same; s3seal never overwrites its input")


def cmd_manifest(args: argparse.Namespace, aws: Aws) -> int:
    """Write one COPY manifest per root-key version for the staged objects under a prefix."""
    where = parse_s3_prefix(args.prefix)
    since = _timestamp(args.since) if args.since else None
    groups = staged.group_by_key(staged.list_staged(aws.s3, where.bucket, where.key, since))
    if not groups:
        raise S3SealError(f"no staged objects under {args.prefix}")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out_bucket, out_prefix = where.bucket, staged.MANIFEST_PREFIX
    if args.output:
        target = parse_s3_prefix(args.output)
        out_bucket, out_prefix = target.bucket, target.key
    for group, objects in sorted(groups.items()):
        key = f"{out_prefix}{stamp}/{group}.json"
        body = copying.manifest_bytes(obj.url for obj in objects)
        try:
            aws.s3.put_object(Bucket=out_bucket, Key=key, Body=body, ContentType="application/json")
        except (ClientError, BotoCoreError) as exc:
            raise storage.translate(exc, "cannot write", f"s3://{out_bucket}/{key}") from None
        print(f"s3://{out_bucket}/{key}")
        print(f"  {len(objects)} objects, root key version {group}", file=sys.stderr)
    return EXIT_OK


def cmd_copy_sql(args: argparse.Namespace, aws: Aws) -> int:
    """Print the COPY for a manifest: plain for plaintext files (under SSE, as the loader's
    server-side bridge writes them); ``ENCRYPTED`` only with --encrypted, with a warning."""
    ref = parse_s3_url(args.manifest)
    reader = storage.open_object(aws.s3, ref)
    try:
        doc = json.loads(b"".join(reader.chunks))
        urls = [str(entry["url"]) for entry in doc["entries"]]
    except (ValueError, KeyError, TypeError):
        raise MetadataError(f"{args.manifest} is not a COPY manifest") from None
    if not urls:
        raise MetadataError(f"{args.manifest} lists no files")
    gzip = all(url.endswith(staged.GZIP_SUFFIX) for url in urls)
    # One HEAD per file: a COPY reads all of them one way, so every one must be of one kind.
    envelopes = {url: _envelope_of(aws, url) for url in urls}
    sealed = {url: env for url, env in envelopes.items() if env is not None}
    if sealed and len(sealed) < len(urls):
        raise MetadataError(
            f"{args.manifest} mixes client-side-encrypted and plain files; one COPY reads one kind"
        )
    if sealed and not args.encrypted:
        raise ConfigError(
            f"the files of {args.manifest} are client-side encrypted. "
            f"{copying.COPY_ENCRYPTED_ENDED} For a cluster that still reads COPY ENCRYPTED "
            "(V1 files only), pass --encrypted."
        )
    if not sealed and (args.encrypted or args.with_key):
        raise ConfigError(
            f"--encrypted/--with-key: the files of {args.manifest} carry no client-side envelope"
        )
    for url, envelope in sealed.items():
        if envelope.format is not Format.V1:
            raise MetadataError(
                f"{url} is {envelope.format.value}: COPY ENCRYPTED reads V1 only; load it with "
                "s3seal load --mode server-side"
            )
    key = None
    if args.with_key:
        # One COPY takes one key: the version that wrapped the manifest's files (manifests from
        # `s3seal manifest` never mix versions).
        key = base64.b64encode(_root_key(args, aws, sealed[urls[0]]).material).decode("ascii")
    options = copying.CopyOptions(
        data_format=copying.DataFormat(args.data_format),
        delimiter=args.delimiter,
        ignore_header=args.ignore_header,
    )
    if sealed:
        print(f"s3seal: warning: {copying.COPY_ENCRYPTED_ENDED}", file=sys.stderr)
    print(
        copying.copy_statement(
            table=args.table,
            manifest_url=args.manifest,
            iam_role=args.iam_role,
            options=options,
            gzip=gzip,
            master_symmetric_key=key,
            encrypted=bool(sealed),
        )
    )
    return EXIT_OK


def _envelope_of(aws: Aws, url: str) -> EnvelopeMetadata | None:
    """The file's client-side envelope, or None when it carries none (plaintext under SSE)."""
    metadata = dict(storage.head_object(aws.s3, parse_s3_url(url)).get("Metadata", {}))
    if not ENVELOPE_NAMES & {name.lower() for name in metadata}:
        return None
    return EnvelopeMetadata.parse(metadata)


def _timestamp(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--since {text!r} is not an ISO 8601 date or time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def cmd_load(args: argparse.Namespace, aws: Aws) -> int:
    # Imported here: only this command needs the loader and the Data API.
    from .load_settings import LOAD_OPTIONS, LoaderSettings, LoadMode  # noqa: PLC0415
    from .loader import Loader  # noqa: PLC0415

    environ = dict(os.environ)
    for option, variable in LOAD_OPTIONS.items():
        value = getattr(args, option)
        if value is not None:
            environ[variable] = str(value)
    settings = LoaderSettings.from_env(environ)
    if settings.mode is LoadMode.CLIENT_SIDE and not args.list:
        print(f"s3seal: warning: client-side mode. {copying.COPY_ENCRYPTED_ENDED}", file=sys.stderr)
    redshift_data = aws.client("redshift-data")
    loader = Loader(settings, aws.s3, redshift_data, aws.secrets)
    if args.list:
        for record in loader.records():
            doc = record.to_json()
            doc.pop("objects", None)
            print(json.dumps(doc, default=str))
        return EXIT_OK
    if args.retry:
        record = loader.retry(args.retry)
        print(json.dumps({"batch_id": record.batch_id, "state": record.state.value}))
        return EXIT_OK
    summary = loader.run().to_dict()
    print(json.dumps(summary, indent=1, default=str))
    return EXIT_FAILURE if summary.get("batches_failed") else EXIT_OK


def cmd_local(args: argparse.Namespace, aws: Aws) -> int:
    # Imported here: the local mode loads moto and the handler, which the other commands don't need.
    from . import local, local_run  # noqa: PLC0415

    settings = local.LocalSettings(envelope_format=args.format, compression=args.compression)
    examples = Path(args.examples) if args.examples else local_run.EXAMPLES
    if args.demo and not examples.is_dir():
        raise ConfigError(f"--examples {examples} is not a folder")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    print(f"function logs: {args.log_file}", file=sys.stderr)
    with (
        local.logs_to(Path(args.log_file)) as terminal,
        local.LocalPipeline(settings, args.port) as pipeline,
    ):
        if args.demo:
            return EXIT_OK if local_run.run_demo(pipeline, examples, terminal) else EXIT_FAILURE
        local_run.serve(pipeline, terminal, stop)
    print("stopped", file=sys.stderr)
    return EXIT_OK


# --- parser -----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="s3seal",
        description="Envelope-encrypt files and S3 objects in the Amazon S3 client-side "
        "encryption format (V3 by default, as current AWS S3 encryption clients read it).",
        epilog="Exit codes: 0 ok, 1 AWS/file error, 2 usage, 3 root-key error, "
        "4 format/decryption error.",
    )
    parser.add_argument("--version", action="version", version=f"s3seal {__version__}")
    aws = argparse.ArgumentParser(add_help=False)
    group = aws.add_argument_group("AWS")
    group.add_argument(
        "--endpoint-url",
        help="S3/Secrets Manager endpoint (default: AWS; honours AWS_ENDPOINT_URL)",
    )
    group.add_argument("--region", help="AWS region (default: the SDK's configuration)")
    group.add_argument("--profile", help="AWS named profile")
    keys = argparse.ArgumentParser(add_help=False)
    source = keys.add_argument_group("root key (default: $S3SEAL_ROOT_KEY, base64)")
    one = source.add_mutually_exclusive_group()
    one.add_argument(
        "--key-secret",
        metavar="SECRET_ID",
        help="Secrets Manager secret holding the base64 root key",
    )
    one.add_argument("--key-file", metavar="PATH", help="file holding the base64 root key")
    io = argparse.ArgumentParser(add_help=False)
    io.add_argument("src", metavar="SRC", help="local path, - for stdin, or s3://bucket/key")
    io.add_argument("dst", metavar="DST", help="local path, - for stdout, or s3://bucket/key")
    io.add_argument(
        "--metadata",
        metavar="FILE",
        help=f"envelope metadata file (default for local files: PATH{SIDECAR_SUFFIX})",
    )
    io.add_argument(
        "--part-size-mib",
        type=_positive_int,
        default=storage.DEFAULT_PART_SIZE // storage.MiB,
        help="multipart part size for s3:// destinations (default: %(default)s)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands_keys.register(commands, aws)
    commands_rewrap.register(commands, aws)
    commands_status.register(commands, aws)
    commands_redrive.register(commands, aws)

    keygen = commands.add_parser("keygen", parents=[aws], help="generate a root key")
    keygen.add_argument(
        "--secret-id",
        metavar="NAME",
        help="store it in this Secrets Manager secret (created, or given a new version) "
        "and print only its ARN and version",
    )
    keygen.set_defaults(run=cmd_keygen)

    encrypt = commands.add_parser("encrypt", parents=[io, keys, aws], help="encrypt SRC to DST")
    encrypt.add_argument(
        "--format",
        choices=[f.value for f in Format],
        default=DEFAULT_ENVELOPE_FORMAT.value,
        help="v3 (default): AES-GCM with key commitment, what current AWS S3 encryption clients "
        "read; v2: AES-GCM; v1: AES-CBC, unauthenticated (only for COPY ENCRYPTED, which "
        "Redshift stopped reading after 2026-04-30)",
    )
    encrypt.set_defaults(run=cmd_encrypt)

    legacy = argparse.ArgumentParser(add_help=False)
    legacy.add_argument(
        ALLOW_LEGACY,
        action="store_true",
        help="also read legacy unauthenticated shapes (AES-CBC in a V2 envelope, AESWrap, "
        "16-byte V1 data keys), which the official AWS clients refuse by default",
    )
    decrypt = commands.add_parser(
        "decrypt", parents=[io, keys, aws, legacy], help="decrypt SRC to DST"
    )
    decrypt.set_defaults(run=cmd_decrypt)

    inspect = commands.add_parser(
        "inspect",
        parents=[aws, legacy],
        help="show an object's envelope (no key needed); exit 4 for a legacy shape unless "
        f"{ALLOW_LEGACY}",
    )
    inspect.add_argument(
        "src", metavar="SRC", help="s3://bucket/key, or a local file with its sidecar"
    )
    inspect.add_argument("--metadata", metavar="FILE", help="envelope metadata file")
    inspect.add_argument("--json", action="store_true", help="print JSON")
    inspect.set_defaults(run=cmd_inspect)

    _add_copy_commands(commands, aws, keys)
    _add_load_command(commands, aws)
    _add_local_command(commands)
    return parser


def _add_copy_commands(
    commands: Any, aws: argparse.ArgumentParser, keys: argparse.ArgumentParser
) -> None:
    manifest = commands.add_parser(
        "manifest",
        parents=[aws],
        help="write COPY manifests (one per root-key version) for staged objects",
    )
    manifest.add_argument("prefix", metavar="s3://BUCKET/PREFIX", help="staged objects to list")
    manifest.add_argument("--since", help="only objects modified at or after this ISO 8601 time")
    manifest.add_argument(
        "--output",
        metavar="s3://BUCKET/PREFIX",
        help=f"where manifests go (default: s3://BUCKET/{staged.MANIFEST_PREFIX})",
    )
    manifest.set_defaults(run=cmd_manifest)

    copy_sql = commands.add_parser(
        "copy-sql",
        parents=[keys, aws],
        help="print the COPY statement for a manifest of plaintext (SSE) files; client-side-"
        "encrypted files need --encrypted (COPY ENCRYPTED ended 2026-04-30: use s3seal load)",
    )
    copy_sql.add_argument("--table", required=True, help="target table (schema.table)")
    copy_sql.add_argument("--manifest", required=True, metavar="s3://BUCKET/KEY")
    copy_sql.add_argument("--iam-role", required=True, metavar="ARN", help="the COPY role")
    copy_sql.add_argument(
        "--format",
        dest="data_format",
        choices=[f.value for f in copying.DataFormat],
        default=copying.DataFormat.DELIMITED.value,
        help="delimited (default, with --delimiter), csv (comma-delimited), or json ('auto')",
    )
    copy_sql.add_argument(
        "--delimiter", help="field delimiter (default: | for delimited, a comma for csv)"
    )
    copy_sql.add_argument("--ignore-header", type=int, default=0, metavar="N")
    copy_sql.add_argument(
        "--encrypted",
        action="store_true",
        help="print COPY ... ENCRYPTED for V1 files, for a cluster that still reads it (Redshift "
        "stopped after 2026-04-30); warns on stderr",
    )
    copy_sql.add_argument(
        "--with-key",
        action="store_true",
        help="with --encrypted: insert the root key (of the version the files name) instead of "
        "a placeholder",
    )
    copy_sql.set_defaults(run=cmd_copy_sql)


def _add_load_command(commands: Any, aws: argparse.ArgumentParser) -> None:
    load = commands.add_parser(
        "load",
        parents=[aws],
        help="load pending staged objects into a Redshift table (options override the "
        "loader's environment variables)",
    )
    group = load.add_argument_group("what and where")
    group.add_argument("--bucket", help="the staging bucket [STAGING_BUCKET]")
    group.add_argument("--prefix", help="only staged keys under this prefix [LOAD_PREFIX_FILTER]")
    group.add_argument("--table", help="target table, schema.table [LOADER_TABLE]")
    group.add_argument(
        "--mode",
        choices=["server-side", "client-side"],
        help="server-side (default): decrypt into transient SSE-KMS objects, then a plain COPY; "
        "client-side: COPY ENCRYPTED, which Redshift stopped reading after 2026-04-30 "
        "[LOADER_MODE]",
    )
    group.add_argument("--iam-role", help="the COPY role's ARN [COPY_IAM_ROLE]")
    group.add_argument("--key-secret", help="the root key's secret [ROOT_KEY_SECRET_ID]")
    group.add_argument("--kms-key", help="KMS key for transient plaintext [LOAD_KMS_KEY_ID]")
    group.add_argument(
        ALLOW_LEGACY,
        action="store_const",
        const="true",
        help="server-side mode: also decrypt legacy unauthenticated shapes [LOAD_ALLOW_LEGACY]",
    )
    warehouse = load.add_argument_group("Redshift (through the Data API)")
    warehouse.add_argument("--cluster-id", help="provisioned cluster [REDSHIFT_CLUSTER_ID]")
    warehouse.add_argument("--workgroup", help="serverless workgroup [REDSHIFT_WORKGROUP]")
    warehouse.add_argument("--database", help="database [REDSHIFT_DATABASE]")
    warehouse.add_argument(
        "--db-secret-arn", help="database credentials secret [REDSHIFT_SECRET_ARN]"
    )
    warehouse.add_argument("--db-user", help="IAM-authenticated user [REDSHIFT_DB_USER]")
    data = load.add_argument_group("file format")
    data.add_argument(
        "--format",
        dest="data_format",
        choices=[f.value for f in copying.DataFormat],
        help="delimited, csv (comma-delimited) or json [COPY_FORMAT]",
    )
    data.add_argument(
        "--delimiter",
        help="one character (default: | for delimited, a comma for csv) [COPY_DELIMITER]",
    )
    data.add_argument("--ignore-header", type=int, metavar="N", help="[COPY_IGNORE_HEADER]")
    when = load.add_argument_group("when to load (each 0 = off; none set = always)")
    when.add_argument("--min-files", type=int, help="[MIN_FILES]")
    when.add_argument("--min-bytes", type=int, help="[MIN_BYTES]")
    when.add_argument("--max-wait", type=int, metavar="SECONDS", help="[MAX_WAIT_SECONDS]")
    action = load.add_mutually_exclusive_group()
    action.add_argument("--retry", metavar="BATCH_ID", help="retry one failed batch as a whole")
    action.add_argument("--list", action="store_true", help="list the batch records")
    load.set_defaults(run=cmd_load)


def _add_local_command(commands: Any) -> None:
    local = commands.add_parser(
        "local",
        help="run the real pipeline on this machine (an embedded moto server on 127.0.0.1)",
    )
    mode = local.add_mutually_exclusive_group(required=True)
    mode.add_argument(
        "--demo",
        action="store_true",
        help="stage the files of --examples, verify each, print a table; exit 0 if all verified",
    )
    mode.add_argument(
        "--serve", action="store_true", help="keep running and print each staged object"
    )
    local.add_argument("--port", type=_port, help="loopback port (default: a free one)")
    local.add_argument(
        "--examples", help="folder of files for --demo (default: the examples s3seal ships)"
    )
    local.add_argument(
        "--format", choices=[f.value for f in Format], default=DEFAULT_ENVELOPE_FORMAT.value
    )
    local.add_argument("--compression", choices=["none", "gzip"], default="none")
    local.add_argument(
        "--log-file", default=".run/s3seal-local.log", help="where the function's logs go"
    )
    local.set_defaults(run=cmd_local)


def _port(text: str) -> int:
    port = _positive_int(text)
    if port > 65535:
        raise argparse.ArgumentTypeError("a port is at most 65535")
    return port


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


class Terminated(BaseException):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt, so that the same
    ``finally`` blocks run: the temp file beside a local target is removed, a multipart upload
    aborted (``storage.upload`` aborts on any BaseException)."""


def _on_signal(signum: int, frame: object) -> None:
    # Once only: a second signal must not cut short the cleanup the first one started.
    for other in (signal.SIGINT, signal.SIGTERM):
        signal.signal(other, signal.SIG_IGN)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated


def _handle_signals() -> dict[int, Any]:
    """Install ``_on_signal`` for SIGINT and SIGTERM; returns the handlers it replaced."""
    if threading.current_thread() is not threading.main_thread():
        return {}  # (only the main thread may set handlers; an embedding caller keeps its own)
    return {signum: signal.signal(signum, _on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}


def main(argv: list[str] | None = None) -> int:
    """Exit status: see the module docstring; 130 after SIGINT, 143 after SIGTERM (128 + n)."""
    quiet_sdk.pin()  # the SDK never logs bodies (keys, secret values)
    args = build_parser().parse_args(argv)
    subject = " ".join(part for part in (args.command, getattr(args, "src", None)) if part)
    previous = _handle_signals()
    try:
        code: int = args.run(args, Aws(args))
    except S3SealError as exc:
        print(f"s3seal: {subject}: {exc}", file=sys.stderr)
        return exit_code_for(exc)
    except KeyboardInterrupt:
        print("s3seal: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except Terminated:
        print("s3seal: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except BrokenPipeError:
        return EXIT_FAILURE
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return code


if __name__ == "__main__":
    sys.exit(main())
