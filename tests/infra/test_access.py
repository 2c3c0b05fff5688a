"""Who may read and write each bucket, the root key and the load key; confused-deputy conditions
on every service principal (issue 11). One synth: a server-side loader with every extra named."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match

from infra.access import KEY_USE, LANDING_READS, OBJECT_READS, OBJECT_WRITES

from .conftest import Synth, synth
from .test_stack import ref_arn, role_statements

STAGING_READER = "arn:aws:iam::123456789012:role/analyst"
REWRAPPER = "arn:aws:iam::123456789012:role/key-operator"
LANDING_READER = "arn:aws:iam::123456789012:role/producer-audit"
BREAK_GLASS = "arn:aws:iam::123456789012:role/break-glass"
SOURCE_ACCOUNT = {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


@pytest.fixture(scope="module")
def s() -> Synth:
    return synth(
        loader_mode="server-side",
        redshift_cluster_id="analytics",
        redshift_db_user="loader",
        loader_table="public.sales",
        staging_extra_reader_arns=(STAGING_READER,),
        staging_rewrap_arns=(REWRAPPER,),
        landing_extra_reader_arns=(LANDING_READER,),
        root_key_break_glass_arns=(BREAK_GLASS,),
    )


def bucket_policy(s: Synth, bucket: Any) -> dict[str, dict[str, Any]]:
    bucket_id = s.logical_id(bucket)
    [policy] = [
        r["Properties"]["PolicyDocument"]["Statement"]
        for r in s.resources("AWS::S3::BucketPolicy").values()
        if r["Properties"]["Bucket"] == {"Ref": bucket_id}
    ]
    return {st.get("Sid", ""): st for st in policy}


def objects(s: Synth, bucket: Any, prefix: str = "") -> dict[str, Any]:
    return {"Fn::Join": ["", [ref_arn(s, bucket), f"/{prefix}*"]]}


def exempt(statement: dict[str, Any]) -> list[Any]:
    assert statement["Effect"] == "Deny" and statement["Principal"] == {"AWS": "*"}
    exempted: list[Any] = statement["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    return exempted


def roles(s: Synth) -> dict[str, Any]:
    loader = s.stack.loader
    rotation = s.stack.root_key.rotation_function
    assert loader is not None and rotation is not None and rotation.role is not None
    return {
        "function": ref_arn(s, s.stack.encryptor.role),
        "loader": ref_arn(s, loader.role),
        "copy": ref_arn(s, s.stack.redshift.role),
        "rotation": ref_arn(s, rotation.role),
    }


# --- staging: ciphertext -----------------------------------------------------------------------


def test_staging_reads_include_replication_and_the_load_prefix_excludes_extra_readers(
    s: Synth,
) -> None:
    r = roles(s)
    policy = bucket_policy(s, s.stack.buckets.staging)
    reads = policy["OnlyTheFunctionAndRedshiftRead"]
    assert "s3:GetObjectVersionForReplication" in reads["Action"]
    assert reads["Resource"] == objects(s, s.stack.buckets.staging)
    assert exempt(reads) == [r["function"], r["copy"], r["loader"], STAGING_READER, REWRAPPER]
    load = policy["OnlyTheLoaderAndRedshiftReadTransientPlaintext"]
    assert load["Action"] == OBJECT_READS
    assert load["Resource"] == objects(s, s.stack.buckets.staging, "_s3seal/load/")
    assert exempt(load) == [r["copy"], r["loader"]]


def test_only_the_function_writes_staged_objects_and_only_the_loader_its_prefix(s: Synth) -> None:
    r = roles(s)
    policy = bucket_policy(s, s.stack.buckets.staging)
    reserved = objects(s, s.stack.buckets.staging, "_s3seal/")
    staged = policy["OnlyTheFunctionWritesStagedObjects"]
    assert staged["NotResource"] == reserved and "Resource" not in staged
    assert exempt(staged) == [r["function"]]
    # PutObject: the function, and the operators named to run `s3seal rewrap` (who also read)
    put = policy["OnlyTheFunctionAndRewrapOperatorsPutStagedObjects"]
    assert put["NotResource"] == reserved and put["Action"] == "s3:PutObject"
    assert exempt(put) == [r["function"], REWRAPPER]
    assert REWRAPPER in exempt(policy["OnlyTheFunctionAndRedshiftRead"])
    assert REWRAPPER not in exempt(policy["OnlyTheLoaderAndRedshiftReadTransientPlaintext"])
    own = policy["OnlyTheLoaderWritesItsPrefix"]
    assert own["Resource"] == reserved
    assert exempt(own) == [r["loader"]]
    assert "s3:PutObject" in own["Action"]
    for statement in (staged, own):
        assert {
            "s3:DeleteObject",
            "s3:DeleteObjectVersion",
            "s3:AbortMultipartUpload",
            "s3:PutObjectTagging",
        } <= set(statement["Action"])


def test_denies_cover_object_actions_only_so_the_deployer_keeps_the_bucket(s: Synth) -> None:
    for bucket in (s.stack.buckets.staging, s.stack.buckets.landing):
        for statement in bucket_policy(s, bucket).values():
            if statement.get("Sid"):
                action = statement["Action"]
                actions = {action} if isinstance(action, str) else set(action)
                assert actions <= set(OBJECT_WRITES) | set(LANDING_READS), statement["Sid"]
                assert not any("Bucket" in action or "Policy" in action for action in actions)


def test_the_function_is_denied_the_loaders_prefix_in_iam_too(s: Synth) -> None:
    [deny] = [
        st
        for st in role_statements(s, s.stack.encryptor.role)
        if st.get("Sid") == "NeverWriteTheLoadersPrefix"
    ]
    assert deny["Effect"] == "Deny"
    assert deny["Resource"] == objects(s, s.stack.buckets.staging, "_s3seal/")
    assert {"s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"} <= set(deny["Action"])


def test_without_a_loader_nobody_writes_the_reserved_prefix(default: Synth) -> None:
    own = bucket_policy(default, default.stack.buckets.staging)["OnlyTheLoaderWritesItsPrefix"]
    assert own["Effect"] == "Deny" and "Condition" not in own


# --- landing: plaintext ------------------------------------------------------------------------


def test_landing_reads_are_limited_to_the_function_and_named_readers(s: Synth) -> None:
    reads = bucket_policy(s, s.stack.buckets.landing)["OnlyTheFunctionAndNamedReadersRead"]
    assert set(reads["Action"]) >= {
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:GetObjectVersionForReplication",
        "s3:GetObjectAcl",
        "s3:GetObjectAttributes",
    }
    assert reads["Resource"] == objects(s, s.stack.buckets.landing)
    assert exempt(reads) == [roles(s)["function"], LANDING_READER]


# --- the root key ------------------------------------------------------------------------------


def test_only_s3seal_roles_and_break_glass_read_the_root_key_secret(s: Synth) -> None:
    r = roles(s)
    readers = [r["function"], r["loader"], r["rotation"], BREAK_GLASS]
    s.template.has_resource_properties(
        "AWS::SecretsManager::ResourcePolicy",
        {
            "SecretId": {"Ref": s.logical_id(s.stack.root_key.secret)},
            "ResourcePolicy": {
                "Statement": Match.array_with(
                    [
                        {
                            "Sid": "OnlyS3SealRolesReadTheRootKey",
                            "Effect": "Deny",
                            "Principal": {"AWS": "*"},
                            "Action": "secretsmanager:GetSecretValue",
                            "Resource": "*",
                            "Condition": {"ArnNotEquals": {"aws:PrincipalArn": readers}},
                        },
                        Match.object_like(
                            {
                                "Sid": "OnlyRotationWritesTheRootKey",
                                "Effect": "Deny",
                                "Condition": {
                                    "ArnNotEquals": {
                                        "aws:PrincipalArn": [r["rotation"], BREAK_GLASS]
                                    }
                                },
                            }
                        ),
                    ]
                )
            },
        },
    )


def test_the_root_keys_cmk_decrypts_only_for_those_roles_and_only_via_secrets_manager(
    s: Synth,
) -> None:
    r = roles(s)
    key = s.resources("AWS::KMS::Key")[s.logical_id(s.stack.root_key.kms_key)]
    by_sid = {st.get("Sid"): st for st in key["Properties"]["KeyPolicy"]["Statement"]}
    decrypt = by_sid["OnlyS3SealRolesDecryptTheRootKey"]
    assert decrypt["Action"] == "kms:Decrypt"
    assert exempt(decrypt) == [r["function"], r["loader"], r["rotation"], BREAK_GLASS]
    via = by_sid["DecryptOnlyThroughSecretsManager"]
    assert via["Effect"] == "Deny" and via["Action"] == "kms:Decrypt"
    assert via["Condition"] == {
        "StringNotEquals": {
            "kms:ViaService": {
                "Fn::Join": ["", ["secretsmanager.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]
            }
        }
    }


# --- the load key ------------------------------------------------------------------------------


def test_only_the_loader_and_the_copy_role_use_the_load_key(s: Synth) -> None:
    r = roles(s)
    assert s.stack.loader is not None and s.stack.loader.load_key is not None
    key = s.resources("AWS::KMS::Key")[s.logical_id(s.stack.loader.load_key)]
    by_sid = {st.get("Sid"): st for st in key["Properties"]["KeyPolicy"]["Statement"]}
    deny = by_sid["OnlyTheLoaderAndRedshiftUseTheLoadKey"]
    assert deny["Action"] == KEY_USE
    assert exempt(deny) == [r["loader"], r["copy"]]


# --- confused deputy ---------------------------------------------------------------------------


def _service_statements(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        found = (
            [node]
            if isinstance(node.get("Principal"), dict) and "Service" in node["Principal"]
            else []
        )
        return found + [st for value in node.values() for st in _service_statements(value)]
    if isinstance(node, list):
        return [st for value in node for st in _service_statements(value)]
    return []


def test_every_service_principal_is_bound_to_this_account(s: Synth) -> None:
    statements = _service_statements(s.template.to_json()["Resources"])
    services = {st["Principal"]["Service"] for st in statements}
    assert {
        "lambda.amazonaws.com",
        "redshift.amazonaws.com",
        "redshift-serverless.amazonaws.com",
        "s3.amazonaws.com",
        "cloudwatch.amazonaws.com",
        "batchoperations.s3.amazonaws.com",
    } <= services
    for statement in statements:
        assert statement["Condition"]["StringEquals"] == SOURCE_ACCOUNT, statement
    # S3 acts for landing only: its notifications, and its inventory reports (for backfill)
    s3_acts = [st for st in statements if st["Principal"]["Service"] == "s3.amazonaws.com"]
    assert len(s3_acts) == 2
    for statement in s3_acts:
        assert statement["Condition"]["ArnLike"] == {
            "aws:SourceArn": ref_arn(s, s.stack.buckets.landing)
        }
    permissions = s.resources("AWS::Lambda::Permission")
    assert {p["Properties"]["Principal"] for p in permissions.values()} == {
        "secretsmanager.amazonaws.com",
        "events.amazonaws.com",
    }
    for permission in permissions.values():
        assert permission["Properties"]["SourceAccount"] == {"Ref": "AWS::AccountId"}
        assert "SourceArn" in permission["Properties"]
    s.template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Principal": "secretsmanager.amazonaws.com",
            "SourceArn": {"Ref": s.logical_id(s.stack.root_key.secret)},
        },
    )


def test_the_new_principal_lists_come_from_context_like_staging_readers() -> None:
    from infra.settings import StackSettings

    context = {
        "landing_extra_reader_arns": f"{LANDING_READER},{STAGING_READER}",
        "root_key_break_glass_arns": [BREAK_GLASS],
    }
    settings = StackSettings.from_context(context.get)
    assert settings.landing_extra_reader_arns == (LANDING_READER, STAGING_READER)
    assert settings.root_key_break_glass_arns == (BREAK_GLASS,)
