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

from s3seal.envelope import encrypt_bytes
from s3seal.keys import SECRET_ARN_FIELD, SECRET_VERSION_FIELD, generate_root_key

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


def stage(s3: Any, bucket: str, key: str, root_b64: str, arn: str, version: str) -> None:
    body, metadata = encrypt_bytes(
        base64.b64decode(root_b64),
        b"1|a\n2|b\n",
        "v1",
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
    # WHEN COPY statements are printed, without and with the key
    plain = run(
        "copy-sql",
        "--table",
        "public.sales",
        "--manifest",
        manifests[v1][0],
        "--iam-role",
        ROLE,
        endpoint=moto_endpoint,
    )
    keyed = run(
        "copy-sql", "--table", "public.sales", "--manifest", manifests[v2][0], "--iam-role", ROLE,
        "--with-key", "--key-secret", name, endpoint=moto_endpoint,
    )  # fmt: skip
    # THEN the key appears only when asked for, and it is the version that wrapped the files
    assert plain.returncode == 0, plain.stderr
    assert "master_symmetric_key '<base64 root key>'" in plain.stdout
    assert first_key not in plain.stdout and second_key not in plain.stdout
    assert plain.stdout.rstrip().endswith("manifest encrypted delimiter '|';")
    assert keyed.returncode == 0, keyed.stderr
    assert f"master_symmetric_key '{second_key}'" in keyed.stdout
    assert "manifest encrypted gzip delimiter '|'" in keyed.stdout


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
