"""`s3seal manifest` and `s3seal copy-sql` against staged objects in a moto S3."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3

from s3seal.copying import manifest_bytes
from s3seal.envelope import encrypt_bytes
from s3seal.names import SECRET_ARN_FIELD, SECRET_VERSION_FIELD
from s3seal.rootkey.keys import generate_root_key

from ..conftest import REGION

S3SEAL = str(Path(sys.executable).parent / "s3seal")
ROLE = "arn:aws:iam::123456789012:role/RedshiftCopyRole"


def run(*args: str, endpoint: str) -> Any:
    return subprocess.run(
        [S3SEAL, *args, "--endpoint-url", endpoint],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def stage(
    s3: Any, bucket: str, key: str, root_b64: str, arn: str, version: str, fmt: str = "v1"
) -> None:
    body, metadata = encrypt_bytes(
        base64.b64decode(root_b64),
        b"1|a\n2|b\n",
        fmt,
        description={SECRET_ARN_FIELD: arn, SECRET_VERSION_FIELD: version},
    )
    s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata=metadata)


def test_manifests_group_by_key_version_and_copy_sql(
    moto_endpoint: str, s3: Any, bucket: str
) -> None:
    # GIVEN staged objects under two versions of the root key, and something that is not staged
    secrets = boto3.client("secretsmanager", endpoint_url=moto_endpoint, region_name=REGION)
    name = f"s3seal/copy-{os.urandom(3).hex()}"
    first_key, second_key = generate_root_key(), generate_root_key()
    created = secrets.create_secret(Name=name, SecretString=first_key)
    arn, v1 = created["ARN"], created["VersionId"]
    v2 = secrets.put_secret_value(SecretId=name, SecretString=second_key)["VersionId"]
    stage(s3, bucket, "in/a.csv", first_key, arn, v1)
    stage(s3, bucket, "in/b.csv", first_key, arn, v1)
    stage(s3, bucket, "in/c.csv.gz", second_key, arn, v2)
    s3.put_object(Bucket=bucket, Key="in/readme.txt", Body=b"not an envelope")
    s3.put_object(Bucket=bucket, Key="other/d.csv", Body=b"elsewhere")
    # WHEN manifests are written for the prefix
    result = run("manifest", f"s3://{bucket}/in/", endpoint=moto_endpoint)
    # THEN one manifest per key version, printed, plain JSON, every entry mandatory
    assert result.returncode == 0, result.stderr
    urls = result.stdout.split()
    assert len(urls) == 2 and all(u.startswith(f"s3://{bucket}/_s3seal/manifests/") for u in urls)
    manifests = {}
    for url in urls:
        key = url.removeprefix(f"s3://{bucket}/")
        manifests[key.rsplit("/", 1)[-1].removesuffix(".json")] = (
            url,
            json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()),
        )
    assert manifests[v1][1] == {
        "entries": [
            {"url": f"s3://{bucket}/in/a.csv", "mandatory": True},
            {"url": f"s3://{bucket}/in/b.csv", "mandatory": True},
        ]
    }
    assert manifests[v2][1] == {
        "entries": [{"url": f"s3://{bucket}/in/c.csv.gz", "mandatory": True}]
    }
    # WHEN COPY statements are asked for without --encrypted, then with it (and with the key)
    copy_sql = ["copy-sql", "--table", "public.sales", "--iam-role", ROLE]
    refused = run(*copy_sql, "--manifest", manifests[v1][0], endpoint=moto_endpoint)
    plain = run(*copy_sql, "--manifest", manifests[v1][0], "--encrypted", endpoint=moto_endpoint)
    keyed = run(
        *copy_sql, "--manifest", manifests[v2][0], "--encrypted", "--with-key",
        "--key-secret", name, endpoint=moto_endpoint,
    )  # fmt: skip
    # THEN COPY ENCRYPTED is not offered by default: the message says it ended and what works
    assert refused.returncode == 2 and refused.stdout == ""
    assert "2026-04-30" in refused.stderr and "s3seal load --mode server-side" in refused.stderr
    assert "--encrypted" in refused.stderr
    # ... with --encrypted it is printed, with a warning on stderr every time
    for result in (plain, keyed):
        assert result.returncode == 0, result.stderr
        assert result.stderr.startswith("s3seal: warning: ") and "2026-04-30" in result.stderr
    # ... and the key appears only when asked for, and it is the version that wrapped the files
    assert "master_symmetric_key '<base64 root key>'" in plain.stdout
    assert first_key not in plain.stdout and second_key not in plain.stdout
    assert plain.stdout.rstrip().endswith("manifest encrypted delimiter '|';")
    assert f"master_symmetric_key '{second_key}'" in keyed.stdout
    assert "manifest encrypted gzip delimiter '|'" in keyed.stdout
    assert first_key not in keyed.stderr and second_key not in keyed.stderr


def test_copy_sql_refuses_encrypted_for_v3_and_gives_plain_copy_for_plaintext(
    moto_endpoint: str, s3: Any, bucket: str
) -> None:
    # GIVEN a manifest of V3 staged files (the default format), one of plaintext CSV files (as the
    # server-side bridge writes them, under SSE-KMS), and one mixing the two
    root = generate_root_key()
    stage(s3, bucket, "in/a.csv", root, "arn:aws:secretsmanager:us-east-1:1:secret:x", "v", "v3")
    s3.put_object(Bucket=bucket, Key="load/b.csv", Body=b"1,a\n")
    manifests = {
        "v3": ["in/a.csv"],
        "plain": ["load/b.csv"],
        "mixed": ["load/b.csv", "in/a.csv"],
    }
    for name, keys in manifests.items():
        body = manifest_bytes(f"s3://{bucket}/{k}" for k in keys)
        s3.put_object(Bucket=bucket, Key=f"m/{name}.json", Body=body)
    copy_sql = ["copy-sql", "--table", "public.sales", "--iam-role", ROLE]

    def manifest(name: str) -> list[str]:
        return ["--manifest", f"s3://{bucket}/m/{name}.json"]

    # WHEN copy-sql is asked for each
    v3 = run(*copy_sql, *manifest("v3"), "--encrypted", endpoint=moto_endpoint)
    plain = run(*copy_sql, *manifest("plain"), "--format", "csv", endpoint=moto_endpoint)
    mixed = run(*copy_sql, *manifest("mixed"), endpoint=moto_endpoint)
    not_sealed = run(*copy_sql, *manifest("plain"), "--encrypted", endpoint=moto_endpoint)
    # THEN COPY ENCRYPTED is refused for V3 (it read V1 only), naming the file and what works
    assert v3.returncode == 4 and v3.stdout == ""
    assert f"s3://{bucket}/in/a.csv is v3" in v3.stderr and "s3seal load" in v3.stderr
    # ... plaintext gets a plain, comma-delimited CSV COPY with no warning
    assert plain.returncode == 0, plain.stderr
    assert plain.stderr == ""
    assert plain.stdout.rstrip().endswith("\nmanifest format as csv;")
    assert "master_symmetric_key" not in plain.stdout
    # ... a manifest mixing the two, or --encrypted for plaintext, is refused
    assert mixed.returncode == 4 and "mixes" in mixed.stderr
    assert not_sealed.returncode == 2 and "no client-side envelope" in not_sealed.stderr


def test_manifest_since_and_empty_prefix(moto_endpoint: str, s3: Any, bucket: str) -> None:
    root = generate_root_key()
    stage(s3, bucket, "in/a.csv", root, "arn:aws:secretsmanager:us-east-1:1:secret:x", "v")
    later = run("manifest", f"s3://{bucket}/in/", "--since", "2999-01-01", endpoint=moto_endpoint)
    assert later.returncode == 1 and "no staged objects" in later.stderr
    bad = run("manifest", f"s3://{bucket}/in/", "--since", "yesterday", endpoint=moto_endpoint)
    assert bad.returncode == 2 and "--since" in bad.stderr


def test_load_command_reads_loader_settings_and_lists_batches(
    moto_endpoint: str, bucket: str
) -> None:
    missing = run("load", "--bucket", bucket, endpoint=moto_endpoint)
    assert missing.returncode == 2
    assert "LOADER_TABLE is required" in missing.stderr
    listed = run(
        "load", "--list", "--bucket", bucket, "--table", "public.sales", "--iam-role", ROLE,
        "--database", "dev", "--cluster-id", "analytics", "--db-user", "loader",
        "--key-secret", "s3seal/root-key", "--kms-key", "alias/s3seal-load",
        endpoint=moto_endpoint,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == ""  # no batch has been planned in this bucket
