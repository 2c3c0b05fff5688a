"""The loader's resources: created only when context enables them, least privilege per mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from infra.bundling import ROOT
from infra.nag import add_checks
from infra.settings import SettingsError, StackSettings
from infra.stack import S3SealStack

from .conftest import NO_BUNDLING, Synth, synth
from .test_stack import ref_arn, role_statements

CLUSTER: dict[str, Any] = {
    "redshift_cluster_id": "analytics",
    "redshift_db_user": "loader",
    "loader_table": "public.sales",
}


def statements_of(s: Synth, role: Any) -> dict[str, dict[str, Any]]:
    return {st.get("Sid", ""): st for st in role_statements(s, role)}


def test_no_loader_by_default(default: Synth) -> None:
    handlers = [
        f["Properties"]["Handler"] for f in default.resources("AWS::Lambda::Function").values()
    ]
    assert "s3seal.load.handler.handler" not in handlers
    assert default.resources("AWS::Events::Rule") == {}
    # The COPY role reads the staged envelopes, for COPY ... ENCRYPTED.
    [read] = [
        st
        for st in role_statements(default, default.stack.redshift.role)
        if st["Sid"] == "ReadStagedObjects"
    ]
    assert read["Resource"] == {
        "Fn::Join": ["", [ref_arn(default, default.stack.buckets.staging), "/*"]]
    }


def test_server_side_loader() -> None:
    s = synth(loader_mode="server-side", loader_schedule_minutes=30, **CLUSTER)
    loader = s.stack.loader
    assert loader is not None and loader.load_key is not None
    staging_arn = ref_arn(s, s.stack.buckets.staging)
    load_key_arn = ref_arn(s, loader.load_key)
    # A scheduled function, one at a time, with its settings in the environment
    s.template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "s3seal.load.handler.handler",
            "ReservedConcurrentExecutions": 1,
            "Architectures": ["arm64"],
            "Environment": {
                "Variables": {
                    "STAGING_BUCKET": {"Ref": s.logical_id(s.stack.buckets.staging)},
                    "ROOT_KEY_SECRET_ID": {"Ref": s.logical_id(s.stack.root_key.secret)},
                    "LOADER_MODE": "server-side",
                    "LOADER_TABLE": "public.sales",
                    "LOAD_PREFIX_FILTER": "",
                    "COPY_IAM_ROLE": ref_arn(s, s.stack.redshift.role),
                    "COPY_FORMAT": "delimited",
                    "COPY_IGNORE_HEADER": "0",
                    "REDSHIFT_CLUSTER_ID": "analytics",
                    "REDSHIFT_DATABASE": "dev",
                    "REDSHIFT_DB_USER": "loader",
                    "LOAD_KMS_KEY_ID": load_key_arn,
                    "MIN_FILES": "0",
                    "MIN_BYTES": "0",
                    "MAX_WAIT_SECONDS": "0",
                    "POWERTOOLS_SERVICE_NAME": "s3seal-loader",
                }
            },
        },
    )
    [rule] = s.resources("AWS::Events::Rule").values()
    assert rule["Properties"]["ScheduleExpression"] == "rate(30 minutes)"
    assert rule["Properties"]["Targets"][0]["Arn"] == ref_arn(s, loader.function)
    # The load key rotates; the lifecycle backstop removes transient plaintext within a day
    assert s.resources("AWS::KMS::Key")[s.logical_id(loader.load_key)]["Properties"][
        "EnableKeyRotation"
    ]
    staging = s.resources("AWS::S3::Bucket")[s.logical_id(s.stack.buckets.staging)]["Properties"]
    rules = {r["Id"]: r for r in staging["LifecycleConfiguration"]["Rules"]}
    backstop = rules["ExpireTransientLoadPlaintext"]
    assert backstop["Prefix"] == "_s3seal/load/"
    assert backstop["ExpirationInDays"] == 1
    assert backstop["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}
    # The COPY role reads only the transient prefix, and may decrypt with the load key
    copy = role_statements(s, s.stack.redshift.role)
    [read] = [st for st in copy if st.get("Sid") == "ReadStagedObjects"]
    assert read["Resource"] == {"Fn::Join": ["", [staging_arn, "/_s3seal/load/*"]]}
    assert any(st["Resource"] == load_key_arn and "kms:Decrypt" in st["Action"] for st in copy)
    # The loader: reads staged objects, writes only under _s3seal/, runs statements on one cluster
    own = statements_of(s, loader.role)
    assert own["ReadStagedObjects"]["Action"] == ["s3:GetObject", "s3:GetObjectVersion"]
    written = own["WriteBatchRecordsManifestsAndTransientLoads"]["Resource"]
    assert written == [
        {"Fn::Join": ["", [staging_arn, f"/_s3seal/{p}/*"]]}
        for p in ("batches", "manifests", "load")
    ]
    cluster = json.dumps(own["RunStatementsOnTheWarehouse"]["Resource"])
    assert ":cluster:analytics" in cluster
    assert "redshift:GetClusterCredentials" in json.dumps(own["TemporaryDatabaseCredentials"])
    # ... and it is one of the staging bucket's permitted readers
    policy = [
        st
        for r in s.resources("AWS::S3::BucketPolicy").values()
        for st in r["Properties"]["PolicyDocument"]["Statement"]
        if st.get("Sid") == "OnlyTheFunctionAndRedshiftRead"
    ]
    assert ref_arn(s, loader.role) in policy[0]["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]


def test_server_side_outputs_give_the_load_command_with_the_functions_settings() -> None:
    s = synth(loader_mode="server-side", copy_format="csv", **CLUSTER)
    loader = s.stack.loader
    assert loader is not None and loader.load_key is not None
    outputs = s.template.find_outputs("*")
    assert outputs["LoaderMode"]["Value"] == "server-side"
    assert outputs["LoaderFunctionName"]["Value"] == {"Ref": s.logical_id(loader.function)}
    [head, *parts] = outputs["LoadCommand"]["Value"]["Fn::Join"][1]
    assert head.startswith("s3seal load --bucket ")
    text = json.dumps(parts)
    assert "--mode server-side" in text and "--table public.sales" in text
    assert "--format csv" in text and "--delimiter" not in text  # csv: COPY's own comma
    assert json.dumps(ref_arn(s, loader.load_key)) in text  # --kms-key: the load key
    assert "encrypted" not in text.lower()


def test_a_csv_loader_gets_no_pipe_delimiter_and_an_explicit_one_passes() -> None:
    def variables(**extra: Any) -> dict[str, Any]:
        s = synth(loader_mode="server-side", copy_format="csv", **CLUSTER, **extra)
        [fn] = [
            f["Properties"]
            for f in s.resources("AWS::Lambda::Function").values()
            if f["Properties"]["Handler"] == "s3seal.load.handler.handler"
        ]
        env: dict[str, Any] = fn["Environment"]["Variables"]
        return env

    assert "COPY_DELIMITER" not in variables()
    assert variables(copy_delimiter=";")["COPY_DELIMITER"] == ";"


def test_client_side_loader_needs_no_load_key() -> None:
    s = synth(
        loader_mode="client-side",
        redshift_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf",
        redshift_cluster_id="analytics",
        loader_table="sales",
    )
    assert s.stack.loader is not None and s.stack.loader.load_key is None
    # COPY ENCRYPTED reads V1 only: the function writes V1 for it, and the outputs warn
    function = [
        f["Properties"]["Environment"]["Variables"]
        for f in s.resources("AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == "s3seal.encrypt.handler.handler"
    ]
    assert function[0]["ENVELOPE_FORMAT"] == "v1"
    outputs = s.template.find_outputs("*")
    assert "2026-04-30" in outputs["LoaderMode"]["Description"]
    [read] = [
        st
        for st in role_statements(s, s.stack.redshift.role)
        if st.get("Sid") == "ReadStagedObjects"
    ]
    assert read["Resource"] == {"Fn::Join": ["", [ref_arn(s, s.stack.buckets.staging), "/*"]]}
    assert not any(
        "kms:Decrypt" in st["Action"] for st in role_statements(s, s.stack.redshift.role)
    )
    own = statements_of(s, s.stack.loader.role)
    assert own["ReadTheDatabaseCredentials"]["Resource"].endswith(":secret:db-AbCdEf")


@pytest.mark.parametrize(
    "settings",
    [
        {"loader_mode": "server-side", **CLUSTER},
        {"loader_mode": "client-side", "redshift_workgroup": "wg", "loader_table": "t"},
    ],
    ids=["server-side-cluster", "client-side-serverless"],
)
def test_loader_passes_cdk_nag(tmp_path: Path, settings: dict[str, Any]) -> None:
    app = cdk.App(outdir=str(tmp_path), context=NO_BUNDLING)
    S3SealStack(app, "LoaderNag", settings=StackSettings(**settings))
    add_checks(app)
    app.synth()  # raises on any unacknowledged finding
    report = json.loads((tmp_path / "validation-report.json").read_text())
    assert all(plugin["conclusion"] == "success" for plugin in report["pluginReports"])


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        (
            {"loader_mode": "server-side", "redshift_cluster_id": "c", "redshift_db_user": "u"},
            "loader_table",
        ),
        ({"loader_mode": "server-side", "loader_table": "t"}, "redshift_cluster_id"),
        (
            {"loader_mode": "server-side", "loader_table": "t", "redshift_cluster_id": "c"},
            "redshift_secret_arn",
        ),
        ({"loader_mode": "sometimes"}, "loader_mode"),
        ({"loader_mode": "server-side", **CLUSTER, "copy_format": "parquet"}, "copy_format"),
        ({"loader_mode": "server-side", **CLUSTER, "copy_delimiter": "||"}, "copy_delimiter"),
    ],
    ids=["no-table", "no-warehouse", "no-credentials", "bad-mode", "bad-format", "bad-delimiter"],
)
def test_loader_context_is_checked(settings: dict[str, Any], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        StackSettings(**settings)


@pytest.mark.parametrize("fmt", ["v2", "v3"])
def test_client_side_loader_refuses_a_format_copy_encrypted_cannot_read(fmt: str) -> None:
    with pytest.raises(SettingsError) as raised:
        StackSettings(envelope_format=fmt, loader_mode="client-side", **CLUSTER)
    message = str(raised.value)
    assert "\n" not in message
    assert f"envelope_format={fmt}" in message and "loader_mode=client-side" in message
    assert "v1 only" in message and "2026-04-30" in message


def test_client_side_loader_accepts_v1_and_defaults_to_it() -> None:
    assert StackSettings(envelope_format="v1", loader_mode="client-side", **CLUSTER)
    unset = StackSettings(loader_mode="client-side", **CLUSTER)
    assert unset.function_envelope_format == "v1"
    assert StackSettings(loader_mode="server-side", **CLUSTER).function_envelope_format == "v3"


def test_cdk_synth_refuses_client_side_with_v3_in_one_line() -> None:
    """Through app.py, the only reader of context, as `cdk synth -c ...` runs it."""
    context = {"loader_mode": "client-side", "envelope_format": "v3", **CLUSTER}
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env=os.environ | {"CDK_CONTEXT_JSON": json.dumps(context)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("s3seal: context envelope_format=v3 cannot be used with loader_mode=")
