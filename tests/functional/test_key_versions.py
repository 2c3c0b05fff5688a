"""s3seal keys / keys retire / rewrap end to end on moto: rotate, count, rewrap, retire."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from s3seal.cli import main
from s3seal.envelope import Format
from s3seal.errors import VersionInUseError
from s3seal.rootkey.key_versions import report, retire
from s3seal.rootkey.keys import retain_label, root_key_from_secret
from s3seal.rootkey.rewrap import rewrap_bucket

from ..conftest import REGION
from .rewrap_helpers import rotate, rotated_secret, stage, versioned_bucket
from .test_rotation import stages

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient


@pytest.fixture
def sm(moto_endpoint: str) -> SecretsManagerClient:
    return boto3.client("secretsmanager", endpoint_url=moto_endpoint, region_name=REGION)


def cli(moto_endpoint: str, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main([*args, "--endpoint-url", moto_endpoint, "--region", REGION])
    return code, capsys.readouterr().out


def test_rotate_rewrap_then_the_old_version_has_no_objects_and_retires(
    s3: Any, sm: SecretsManagerClient
) -> None:
    # GIVEN objects under the first root key, then a rotation
    secret_id, first = rotated_secret(sm)
    bucket = versioned_bucket(s3)
    for i, fmt in enumerate(Format):
        stage(s3, bucket, f"o{i}.csv", first, fmt)
    second = rotate(sm, secret_id)
    assert first.secret_version and second.secret_version
    # THEN the listing counts them under the first version, which is kept by its label
    rows, others = report(s3, sm, secret_id, bucket)
    by_id = {row.version.version_id: row for row in rows}
    assert by_id[first.secret_version].objects == 3
    assert by_id[second.secret_version].objects == 0
    assert retain_label(first.secret_version) in by_id[first.secret_version].version.labels
    assert "AWSCURRENT" in by_id[second.secret_version].version.labels
    assert others == {}
    # ... and retiring it is refused while they are there
    with pytest.raises(VersionInUseError, match="3 staged object"):
        retire(s3, sm, secret_id, first.secret_version, bucket)
    assert retain_label(first.secret_version) in stages(sm, secret_id)[first.secret_version]
    # WHEN everything is rewrapped
    rewrap_bucket(s3, bucket, second, lambda v: root_key_from_secret(sm, secret_id, v))
    rows, _ = report(s3, sm, secret_id, bucket)
    by_id = {row.version.version_id: row for row in rows}
    # THEN the old version wraps nothing and the current one everything
    assert by_id[first.secret_version].objects == 0
    assert by_id[second.secret_version].objects == 3
    # ... so it retires: the label is gone
    retire(s3, sm, secret_id, first.secret_version, bucket)
    assert retain_label(first.secret_version) not in stages(sm, secret_id).get(
        first.secret_version, []
    )


def test_the_current_version_cannot_be_retired(s3: Any, sm: SecretsManagerClient) -> None:
    secret_id, first = rotated_secret(sm)
    bucket = versioned_bucket(s3)
    assert first.secret_version
    with pytest.raises(VersionInUseError, match="AWSCURRENT"):
        retire(s3, sm, secret_id, first.secret_version, bucket)


def test_cli_keys_rewrap_and_retire(
    s3: Any, sm: SecretsManagerClient, moto_endpoint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a V2 object under the first key and a rotation
    secret_id, first = rotated_secret(sm)
    bucket = versioned_bucket(s3)
    stage(s3, bucket, "in/a.csv", first, Format.V2)
    second = rotate(sm, secret_id)
    common = ["--key-secret", secret_id, "--staging", f"s3://{bucket}"]
    # WHEN keys --json runs
    code, out = cli(moto_endpoint, "keys", *common, "--json", capsys=capsys)
    assert code == 0
    counts = {v["VersionId"]: v["StagedObjects"] for v in json.loads(out)["Versions"]}
    assert counts[str(first.secret_version)] == 1
    # ... retire refuses (exit non-zero) while the object is on it
    code, _ = cli(
        moto_endpoint, "keys", "retire", str(first.secret_version), *common, capsys=capsys
    )
    assert code != 0
    # ... rewrap --dryrun reports, rewrap does it
    code, out = cli(moto_endpoint, "rewrap", *common, "--dryrun", capsys=capsys)
    assert (code, json.loads(out)["counts"]) == (0, {"would-rewrap": 1})
    code, out = cli(moto_endpoint, "rewrap", *common, "--prefix", "in/", capsys=capsys)
    assert (code, json.loads(out)["counts"]) == (0, {"rewrapped": 1})
    assert json.loads(out)["CurrentVersion"] == second.secret_version
    # THEN the table shows no object on the old version, and retire succeeds
    code, out = cli(moto_endpoint, "keys", *common, capsys=capsys)
    assert code == 0 and "VERSION" in out
    code, out = cli(
        moto_endpoint, "keys", "retire", str(first.secret_version), *common, capsys=capsys
    )
    assert code == 0
    assert json.loads(out) == {"Retired": first.secret_version}
