"""``s3seal encrypt``/``decrypt`` with ``aws s3 cp`` semantics, and AWS setup mistakes (exit 5):
the real command as a subprocess, against local files, a moto S3 server, and a stub endpoint
that denies everything."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from s3seal.envelope import decrypt_bytes, encrypt_bytes

from .test_cli import S3SEAL, _run_with_tty_stderr, new_key_file, root_key
from .test_copy_artifacts import stage

MiB = 1024 * 1024


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return new_key_file(tmp_path / "root.key")


def cli(*args: str, cwd: Path | None = None, env: Mapping[str, str | None] | None = None) -> Any:
    """Run s3seal; ``env`` entries set to None are removed from the environment."""
    assert S3SEAL
    environ = dict(os.environ)
    for name, value in (env or {}).items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    return subprocess.run(
        [S3SEAL, *args], capture_output=True, env=environ, cwd=cwd, timeout=120, check=False
    )


def one_line_error(result: Any, code: int, *says: str) -> None:
    err = result.stderr.decode()
    assert result.returncode == code, err
    assert "Traceback" not in err and err.count("\n") == 1 and err.startswith("s3seal: "), err
    for text in says:
        assert text in err, err


def keys_of(s3: Any, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def make_tree(root: Path) -> dict[str, bytes]:
    files = {
        "a.csv": b"1,a\n" * 100,
        "sub/b.csv": b"2,b\n" * 200,
        "skip.json": b"{}",
        "tmp/c.csv": b"3,c\n",
    }
    for rel, body in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(body)
    return files


# --- destinations -----------------------------------------------------------------------------


def test_a_folder_destination_keeps_the_source_name(
    tmp_path: Path, key_file: Path, moto_endpoint: str, s3: Any, bucket: str
) -> None:
    # GIVEN a file, an S3 prefix, an existing folder and a folder yet to be made
    plain = tmp_path / "sales.csv"
    plain.write_bytes(b"id,amount\n" + b"1,2\n" * 1000)
    (tmp_path / "out").mkdir()
    key = ["--key-file", str(key_file), "--endpoint-url", moto_endpoint]
    # WHEN the file goes to s3://bucket/in/ and to the folders, and back from S3 to new/
    to_s3 = cli("encrypt", str(plain), f"s3://{bucket}/in/", *key)
    to_dir = cli("encrypt", str(plain), str(tmp_path / "out"), *key)
    back = cli("decrypt", f"s3://{bucket}/in/sales.csv", str(tmp_path / "new") + "/", *key)
    # THEN each lands under the source's name, with nothing stray beside it
    for result in (to_s3, to_dir, back):
        assert result.returncode == 0, result.stderr
    assert keys_of(s3, bucket) == ["in/sales.csv"]
    assert files_under(tmp_path / "out") == ["sales.csv", "sales.csv.s3seal.json"]
    sidecar = json.loads((tmp_path / "out" / "sales.csv.s3seal.json").read_text())
    body = (tmp_path / "out" / "sales.csv").read_bytes()
    assert decrypt_bytes(root_key(key_file), body, sidecar) == plain.read_bytes()
    assert (tmp_path / "new" / "sales.csv").read_bytes() == plain.read_bytes()


def test_a_failed_write_into_a_folder_leaves_no_stray_file(tmp_path: Path, key_file: Path) -> None:
    # GIVEN a destination whose name is taken by a folder inside the destination folder
    plain = tmp_path / "p.csv"
    plain.write_bytes(b"rows\n")
    (tmp_path / "out" / "p.csv").mkdir(parents=True)
    # WHEN the file is encrypted into out/
    result = cli("encrypt", str(plain), str(tmp_path / "out"), "--key-file", str(key_file))
    # THEN it fails in one line, and neither a sidecar nor a temporary file is left
    one_line_error(result, 1, "p.csv")
    assert files_under(tmp_path / "out") == []


def test_never_overwrites_its_input_by_another_name(tmp_path: Path, key_file: Path) -> None:
    plain = tmp_path / "sales.csv"
    original = b"plaintext rows\n"
    plain.write_bytes(original)
    (tmp_path / "link.csv").symlink_to(plain)
    key = ["--key-file", str(key_file)]
    same = [
        cli("encrypt", "sales.csv", "./sales.csv", *key, cwd=tmp_path),
        cli("encrypt", "sales.csv", "link.csv", *key, cwd=tmp_path),
        cli("encrypt", "sales.csv", ".", *key, cwd=tmp_path),  # a folder: ./sales.csv again
        # the sidecar of DST would be the input
        cli("encrypt", "sales.csv.s3seal.json", "sales.csv", *key, cwd=tmp_path),
    ]
    for result in same:
        one_line_error(result, 2, "never overwrites its input")
    assert plain.read_bytes() == original


def test_s3_keys_are_compared_without_the_version(key_file: Path, moto_endpoint: str) -> None:
    result = cli(
        "encrypt",
        "s3://b/k?versionId=abc",
        "s3://b/k",
        "--key-file",
        str(key_file),
        "--endpoint-url",
        moto_endpoint,
    )
    one_line_error(result, 2, "never overwrites its input")


# --- recursive --------------------------------------------------------------------------------


def test_recursive_in_all_four_directions_with_filters(
    tmp_path: Path, key_file: Path, moto_endpoint: str, s3: Any, bucket: str
) -> None:
    data = tmp_path / "data"
    files = make_tree(data)
    wanted = {rel: body for rel, body in files.items() if rel in ("a.csv", "sub/b.csv")}
    key = ["--key-file", str(key_file), "--endpoint-url", moto_endpoint]
    filters = ["--exclude", "*.json", "--exclude", "tmp/*"]
    # local -> S3, then S3 -> S3 and S3 -> local
    up = cli("encrypt", "--recursive", str(data), f"s3://{bucket}/enc/", *filters, *key)
    assert up.returncode == 0, up.stderr
    assert keys_of(s3, bucket) == ["enc/a.csv", "enc/sub/b.csv"]
    assert f"encrypt {data / 'a.csv'} to s3://{bucket}/enc/a.csv\n".encode() in up.stdout
    across = cli("decrypt", "--recursive", f"s3://{bucket}/enc", f"s3://{bucket}/plain", *key)
    down = cli("decrypt", "--recursive", f"s3://{bucket}/enc/", str(tmp_path / "back"), *key)
    assert across.returncode == 0 and down.returncode == 0, across.stderr + down.stderr
    for rel, body in wanted.items():
        assert s3.get_object(Bucket=bucket, Key=f"plain/{rel}")["Body"].read() == body
        assert (tmp_path / "back" / rel).read_bytes() == body
    # local -> local (sidecars travel with their files and are not decrypted themselves)
    enc = cli("encrypt", "--recursive", str(data), str(tmp_path / "enc"), "--include", "*", *key)
    dec = cli("decrypt", "--recursive", str(tmp_path / "enc"), str(tmp_path / "dec"), *key)
    assert enc.returncode == 0 and dec.returncode == 0, enc.stderr + dec.stderr
    assert files_under(tmp_path / "enc") == sorted([*files, *(f"{r}.s3seal.json" for r in files)])
    assert {rel: (tmp_path / "dec" / rel).read_bytes() for rel in files} == files
    assert files_under(tmp_path / "dec") == sorted(files)


def test_dryrun_quiet_and_filter_usage(
    tmp_path: Path, key_file: Path, moto_endpoint: str, s3: Any, bucket: str
) -> None:
    data = tmp_path / "data"
    make_tree(data)
    dst = f"s3://{bucket}/x/"
    # --dryrun lists what it would do, touches nothing, and needs no key
    dry = cli(
        "--endpoint-url", moto_endpoint, "encrypt", "--recursive", str(data), dst, "--dryrun",
        "--exclude", "*", "--include", "*.csv", "--exclude", "tmp/*",
    )  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.decode().splitlines() == [
        f"(dryrun) encrypt {data / 'a.csv'} to {dst}a.csv",
        f"(dryrun) encrypt {data / 'sub' / 'b.csv'} to {dst}sub/b.csv",
    ]
    assert keys_of(s3, bucket) == []
    # --quiet prints nothing on success
    quiet = cli(
        "encrypt", "--recursive", str(data), dst, "--quiet", "--key-file", str(key_file),
        "--endpoint-url", moto_endpoint,
    )  # fmt: skip
    assert quiet.returncode == 0 and quiet.stdout == b"" and quiet.stderr == b""
    assert len(keys_of(s3, bucket)) == 4
    # filters without --recursive are a usage error, not ignored
    one = cli("encrypt", str(data / "a.csv"), dst, "--exclude", "*.csv", "--dryrun")
    one_line_error(one, 2, "--recursive")
    folder = cli("encrypt", str(data), dst, "--dryrun")
    one_line_error(folder, 2, "--recursive")


def test_recursive_goes_on_past_a_bad_object_and_fails_at_the_end(
    tmp_path: Path, key_file: Path
) -> None:
    # GIVEN three encrypted files, one with a broken sidecar
    data = tmp_path / "data"
    make_tree(data)
    (data / "skip.json").unlink()
    key = ["--key-file", str(key_file)]
    assert cli("encrypt", "--recursive", str(data), str(tmp_path / "enc"), *key).returncode == 0
    (tmp_path / "enc" / "sub" / "b.csv.s3seal.json").write_text("not json")
    # WHEN the folder is decrypted
    result = cli("decrypt", "--recursive", str(tmp_path / "enc"), str(tmp_path / "dec"), *key)
    # THEN the bad one is named in one line, the others are decrypted, and the exit is 4
    err = result.stderr.decode().splitlines()
    assert result.returncode == 4, err
    assert len(err) == 2 and str(tmp_path / "enc" / "sub" / "b.csv") in err[0], err
    assert "not valid JSON" in err[0] and err[1] == "s3seal: decrypt: 1 of 3 failed"
    assert files_under(tmp_path / "dec") == ["a.csv", "tmp/c.csv"]


@pytest.mark.parametrize(
    ("where", "signum"),
    [("local", signal.SIGTERM), ("s3", signal.SIGTERM), ("local", signal.SIGINT)],
    ids=["local-sigterm", "s3-sigterm", "local-ctrl-c"],
)
def test_sigterm_mid_recursive_leaves_no_partial_output(
    tmp_path: Path,
    key_file: Path,
    moto_endpoint: str,
    s3: Any,
    bucket: str,
    where: str,
    signum: signal.Signals,
) -> None:
    # GIVEN a folder of files large enough to take a while (multipart uploads to S3)
    data = tmp_path / "data"
    data.mkdir()
    count, size = (40, 3 * MiB) if where == "local" else (8, 6 * MiB)
    bodies = {f"f{n:02d}.bin": os.urandom(size) for n in range(count)}
    for name, body in bodies.items():
        (data / name).write_bytes(body)
    dst = str(tmp_path / "out") if where == "local" else f"s3://{bucket}/out/"
    assert S3SEAL
    proc = subprocess.Popen(
        [S3SEAL, "encrypt", "--recursive", str(data), dst, "--key-file", str(key_file),
         "--endpoint-url", moto_endpoint, "--part-size-mib", "5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    # WHEN SIGTERM (or Ctrl-C's SIGINT) arrives once the first object is done
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.startswith(b"encrypt "), first
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    # THEN the run stops with 143 (130); every object written is whole, nothing partial is left
    assert proc.returncode == 128 + signum, err
    said = "terminated" if signum == signal.SIGTERM else "interrupted"
    assert err.decode().endswith(f"s3seal: {said}\n"), err
    done = [line.split()[-1] for line in [first, *out.splitlines()]]
    if where == "local":
        names = files_under(tmp_path / "out")
        written = sorted(n for n in names if not n.endswith(".s3seal.json"))
        assert names == sorted([*written, *(f"{n}.s3seal.json" for n in written)])
        read = {
            n: ((tmp_path / "out" / n).read_bytes(), (tmp_path / "out" / f"{n}.s3seal.json"))
            for n in written
        }
        plain = {
            n: decrypt_bytes(root_key(key_file), b, json.loads(m.read_text()))
            for n, (b, m) in read.items()
        }
    else:
        assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
        written = [k.removeprefix("out/") for k in keys_of(s3, bucket)]
        plain = {}
        for name in written:
            got = s3.get_object(Bucket=bucket, Key=f"out/{name}")
            plain[name] = decrypt_bytes(root_key(key_file), got["Body"].read(), got["Metadata"])
    assert 1 <= len(written) < count and len(done) <= len(written)
    assert all(plain[name] == bodies[name] for name in written)


def test_progress_on_a_terminal_has_rate_and_eta(tmp_path: Path, key_file: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for name in ("a.bin", "b.bin"):
        (data / name).write_bytes(os.urandom(5 * MiB))
    env = {"S3SEAL_ROOT_KEY": key_file.read_text().strip()}
    shown = _run_with_tty_stderr(["encrypt", "--recursive", str(data), str(tmp_path / "o")], env)
    last = shown.rsplit("\r\x1b[K", 1)[-1]
    assert last.startswith("encrypting  10.0 MiB / 10.0 MiB (100%)  "), shown
    assert "/s  ETA 0:00  file 2/2" in last, shown
    hidden = ["encrypt", "--recursive", str(data), str(tmp_path / "p"), "--no-progress"]
    assert _run_with_tty_stderr(hidden, env) == ""


# --- options anywhere, and exit codes ---------------------------------------------------------


def test_global_options_go_before_or_after_the_command(
    key_file: Path, moto_endpoint: str, s3: Any, bucket: str
) -> None:
    body, meta = encrypt_bytes(root_key(key_file), b"a|b\n", "v2")
    s3.put_object(Bucket=bucket, Key="x.csv", Body=body, Metadata=meta)
    url = f"s3://{bucket}/x.csv"
    before = cli("--endpoint-url", moto_endpoint, "--region", "us-east-1", "inspect", url)
    after = cli("inspect", url, "--endpoint-url", moto_endpoint)
    key = ["--key-file", str(key_file)]
    both = cli("--region", "eu-west-1", "decrypt", url, "-", "--endpoint-url", moto_endpoint, *key)
    assert before.returncode == after.returncode == both.returncode == 0, before.stderr
    assert before.stdout == after.stdout and both.stdout == b"a|b\n"


def test_stdio_without_metadata_is_the_same_usage_error_both_ways(key_file: Path) -> None:
    key = ["--key-file", str(key_file)]
    one_line_error(cli("encrypt", "-", "-", *key), 2, "--metadata")
    one_line_error(cli("decrypt", "-", "-", *key), 2, "--metadata")


class _Denied(BaseHTTPRequestHandler):
    """Every request denied, as S3 (XML) and Secrets Manager (JSON) say it."""

    def _deny(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if "secretsmanager" in self.headers.get("X-Amz-Target", ""):
            body = json.dumps({"__type": "AccessDeniedException", "message": "denied"}).encode()
            status, kind = 400, "application/x-amz-json-1.1"
        else:
            body = b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
            status, kind = 403, "application/xml"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_HEAD = _deny

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def denying_endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Denied)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_aws_setup_mistakes_are_one_line_and_exit_5(
    tmp_path: Path, moto_endpoint: str, denying_endpoint: str
) -> None:
    plain = tmp_path / "p.csv"
    plain.write_bytes(b"rows\n")
    url = "s3://some-bucket/k.csv"
    no_region = {"AWS_DEFAULT_REGION": None, "AWS_REGION": None}
    no_credentials = {
        "AWS_ACCESS_KEY_ID": None,
        "AWS_SECRET_ACCESS_KEY": None,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    moto, denied = ["--endpoint-url", moto_endpoint], ["--endpoint-url", denying_endpoint]
    secret = ["--key-secret", "s3seal/k"]
    cases: list[tuple[Any, list[str]]] = [
        (cli("--profile", "nope", "inspect", url), ["--profile nope", "no such AWS profile"]),
        (cli("inspect", url, env={"AWS_PROFILE": "gone"}), ["AWS_PROFILE=gone"]),
        (cli("inspect", url, "--endpoint-url", "localhost:4566"), ["--endpoint-url"]),
        (cli("encrypt", str(plain), url, *secret, env=no_region), ["needs an AWS region"]),
        (cli("keygen", "--secret-id", "s3seal/k", *moto, env=no_region), ["needs an AWS region"]),
        (cli("inspect", url, *moto, env=no_credentials), [url, "credentials"]),
        (cli("inspect", url, *denied), [url, "403"]),  # a HEAD: no body to name the code
        (cli("decrypt", url, "-", "--key-file", "/nonexistent", *denied), [url, "AccessDenied"]),
        (cli("encrypt", str(plain), url, *secret, *denied), ["s3seal/k", "AccessDenied"]),
    ]
    for result, says in cases:
        one_line_error(result, 5, *says)


def test_load_logs_to_stderr_and_prints_only_its_summary(
    key_file: Path, moto_endpoint: str, s3: Any, bucket: str
) -> None:
    # GIVEN one staged object, below the load's --min-files threshold
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    root = key_file.read_text().strip()
    stage(s3, bucket, "in/a.csv", root, "arn:aws:secretsmanager:us-east-1:1:secret:k", "v1")
    # WHEN the loader runs
    result = cli(
        "load", "--bucket", bucket, "--table", "public.sales", "--iam-role",
        "arn:aws:iam::123456789012:role/copy", "--database", "dev", "--cluster-id", "c",
        "--db-user", "loader", "--key-secret", "s3seal/root-key", "--kms-key", "alias/k",
        "--min-files", "5", "--endpoint-url", moto_endpoint,
    )  # fmt: skip
    # THEN stdout is its JSON summary alone, and the log line is on stderr
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["pending_files"] == 1
    assert b"below the load thresholds" in result.stderr
