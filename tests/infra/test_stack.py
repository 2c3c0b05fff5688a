"""What one deploy creates, property by property (assertions on the synthesized template)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from aws_cdk.assertions import Match

from infra.stack import LOADER_OFF, OUTPUT_LOAD_COMMAND, OUTPUT_LOADER_MODE

from .conftest import Synth, synth

PUBLIC_ACCESS_BLOCKED = {
    "BlockPublicAcls": True,
    "BlockPublicPolicy": True,
    "IgnorePublicAcls": True,
    "RestrictPublicBuckets": True,
}
TLS_ONLY = Match.object_like(
    {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
)


def bucket(s: Synth, construct: Any) -> dict[str, Any]:
    props: dict[str, Any] = s.resources("AWS::S3::Bucket")[s.logical_id(construct)]["Properties"]
    return props


def policy_statements(s: Synth, kind: str) -> list[dict[str, Any]]:
    return [
        st
        for resource in s.resources(kind).values()
        for st in resource["Properties"]["PolicyDocument"]["Statement"]
    ]


def role_statements(s: Synth, role: Any) -> list[dict[str, Any]]:
    role_id = s.logical_id(role)
    out = []
    for resource in s.resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in resource["Properties"]["Roles"]:
            out += resource["Properties"]["PolicyDocument"]["Statement"]
    return out


def ref_arn(s: Synth, construct: Any) -> dict[str, Any]:
    return {"Fn::GetAtt": [s.logical_id(construct), "Arn"]}


# --- landing -----------------------------------------------------------------------------------


def test_landing_bucket_is_private_versioned_encrypted_and_expires_leftovers(
    default: Synth,
) -> None:
    props = bucket(default, default.stack.buckets.landing)
    assert props["PublicAccessBlockConfiguration"] == PUBLIC_ACCESS_BLOCKED
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"
    ] == {"SSEAlgorithm": "AES256"}
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    [rule] = props["LifecycleConfiguration"]["Rules"]
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}
    assert rule["ExpiredObjectDeleteMarker"] is True
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert rule["Status"] == "Enabled"
    assert props["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": default.logical_id(default.stack.buckets.access_logs)},
        "LogFilePrefix": "landing/",
    }


def test_landing_can_use_sse_kms() -> None:
    s = synth(landing_encryption="kms")
    sse = bucket(s, s.stack.buckets.landing)["BucketEncryption"][
        "ServerSideEncryptionConfiguration"
    ][0]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    key_id = sse["ServerSideEncryptionByDefault"]["KMSMasterKeyID"]["Fn::GetAtt"][0]
    assert s.resources("AWS::KMS::Key")[key_id]["Properties"]["EnableKeyRotation"] is True
    # ... and the function may decrypt with that key
    statements = role_statements(s, s.stack.encryptor.role)
    assert any(
        "kms:Decrypt" in st["Action"] and st["Resource"] == {"Fn::GetAtt": [key_id, "Arn"]}
        for st in statements
    )


def test_every_bucket_is_tls_only(default: Synth) -> None:
    for resource in default.resources("AWS::S3::BucketPolicy").values():
        statements = resource["Properties"]["PolicyDocument"]["Statement"]
        assert any(
            st["Effect"] == "Deny" and st["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
            for st in statements
        )
    assert len(default.resources("AWS::S3::BucketPolicy")) == 3


def test_object_created_notifications_go_to_the_queue(default: Synth) -> None:
    default.template.has_resource_properties(
        "Custom::S3BucketNotifications",
        {
            "BucketName": {"Ref": default.logical_id(default.stack.buckets.landing)},
            "NotificationConfiguration": {
                "QueueConfigurations": [
                    {
                        "Events": ["s3:ObjectCreated:*"],
                        "QueueArn": ref_arn(default, default.stack.encryptor.queue),
                    }
                ]
            },
        },
    )


def test_notification_filters_come_from_context() -> None:
    s = synth(landing_prefix_filter="incoming/", landing_suffix_filter=".csv")
    [notifications] = s.resources("Custom::S3BucketNotifications").values()
    [queue_config] = notifications["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    rules = queue_config["Filter"]["Key"]["FilterRules"]
    assert sorted((r["Name"], r["Value"]) for r in rules) == [
        ("prefix", "incoming/"),
        ("suffix", ".csv"),
    ]


# --- queue -------------------------------------------------------------------------------------


def test_queue_and_dead_letter_queue(default: Synth) -> None:
    queues = default.resources("AWS::SQS::Queue")
    queue = queues[default.logical_id(default.stack.encryptor.queue)]["Properties"]
    dlq = queues[default.logical_id(default.stack.encryptor.dead_letter_queue)]["Properties"]
    assert queue["SqsManagedSseEnabled"] is True and dlq["SqsManagedSseEnabled"] is True
    assert queue["VisibilityTimeout"] >= 6 * 900
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": ref_arn(default, default.stack.encryptor.dead_letter_queue),
        "maxReceiveCount": 5,
    }
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    queue_policies = policy_statements(default, "AWS::SQS::QueuePolicy")
    tls = [
        st
        for st in queue_policies
        if st.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert len(tls) == 2


def test_queue_settings_follow_context() -> None:
    s = synth(max_receive_count=3, function_timeout_seconds=300)
    queue = s.resources("AWS::SQS::Queue")[s.logical_id(s.stack.encryptor.queue)]["Properties"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 3
    assert queue["VisibilityTimeout"] == 1800


# --- function ----------------------------------------------------------------------------------


def test_function_runtime_architecture_and_event_source(default: Synth) -> None:
    default.template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "s3seal.encrypt.handler.handler",
            "Runtime": Match.string_like_regexp(r"python3\.1[2-9]"),
            "Architectures": ["arm64"],
            "MemorySize": 1769,
            "Timeout": 900,
            "TracingConfig": {"Mode": "Active"},
        },
    )
    default.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": ref_arn(default, default.stack.encryptor.queue),
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BatchSize": 10,
        },
    )


def test_function_settings_and_environment_follow_context() -> None:
    s = synth(
        function_memory_mb=3008,
        function_timeout_seconds=600,
        reserved_concurrency=7,
        batch_size=50,
        max_batching_window_seconds=20,
        envelope_format="v2",
        compression="gzip",
        staging_prefix="sealed/",
        part_size_mib=32,
        parts_in_flight=3,
        max_object_bytes=1000,
        key_cache_seconds=60,
    )
    s.template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "s3seal.encrypt.handler.handler",
            "MemorySize": 3008,
            "Timeout": 600,
            "ReservedConcurrentExecutions": 7,
            "Environment": {
                "Variables": Match.object_like(
                    {
                        "STAGING_BUCKET": {"Ref": s.logical_id(s.stack.buckets.staging)},
                        "LANDING_BUCKETS": {"Ref": s.logical_id(s.stack.buckets.landing)},
                        "ROOT_KEY_SECRET_ID": {"Ref": s.logical_id(s.stack.root_key.secret)},
                        "STAGING_PREFIX": "sealed/",
                        "ENVELOPE_FORMAT": "v2",
                        "COMPRESSION": "gzip",
                        "PART_SIZE_MIB": "32",
                        "PARTS_IN_FLIGHT": "3",
                        "MAX_OBJECT_BYTES": "1000",
                        "KEY_CACHE_SECONDS": "60",
                    }
                )
            },
        },
    )
    s.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {"BatchSize": 50, "MaximumBatchingWindowInSeconds": 20},
    )


def test_function_is_least_privilege(default: Synth) -> None:
    s = default
    landing, staging = s.stack.buckets.landing, s.stack.buckets.staging
    landing_objects = {"Fn::Join": ["", [ref_arn(s, landing), "/*"]]}
    staging_objects = {"Fn::Join": ["", [ref_arn(s, staging), "/*"]]}
    by_sid = {st.get("Sid"): st for st in role_statements(s, s.stack.encryptor.role)}
    assert by_sid["ReadAndDeleteLandedVersions"]["Action"] == [
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
    ]
    assert by_sid["ReadAndDeleteLandedVersions"]["Resource"] == landing_objects
    assert by_sid["WriteAndCheckStagedObjects"]["Resource"] == staging_objects
    assert "s3:DeleteObject" not in by_sid["WriteAndCheckStagedObjects"]["Action"]
    deny = by_sid["NeverWriteToLanding"]
    assert deny["Effect"] == "Deny" and "s3:PutObject" in deny["Action"]
    assert deny["Resource"] == landing_objects
    assert by_sid["ReadTheRootKey"]["Resource"] == {"Ref": s.logical_id(s.stack.root_key.secret)}
    # No wildcard actions anywhere, and only X-Ray on "*".
    for st in role_statements(s, s.stack.encryptor.role):
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        assert not any(a.endswith(":*") or a == "*" for a in actions)
        if st["Resource"] == "*":
            assert all(a.startswith("xray:") for a in actions)
    # KMS: decrypt only, with the secret's key.
    kms = [st for st in role_statements(s, s.stack.encryptor.role) if "kms:Decrypt" in st["Action"]]
    assert [st["Resource"] for st in kms] == [ref_arn(s, s.stack.root_key.kms_key)]


def test_functions_do_not_use_the_broad_managed_logging_policy(default: Synth) -> None:
    for role_id in (
        default.logical_id(default.stack.encryptor.role),
        default.logical_id(default.stack.root_key.rotation_function.role),  # type: ignore[union-attr]
    ):
        role = default.resources("AWS::IAM::Role")[role_id]["Properties"]
        assert "ManagedPolicyArns" not in role


# --- root key ----------------------------------------------------------------------------------


def test_root_key_secret_is_kms_encrypted_and_rotated_by_our_function(default: Synth) -> None:
    secret_id = default.logical_id(default.stack.root_key.secret)
    secret = default.resources("AWS::SecretsManager::Secret")[secret_id]["Properties"]
    key_id = secret["KmsKeyId"]["Fn::GetAtt"][0]
    assert default.resources("AWS::KMS::Key")[key_id]["Properties"]["EnableKeyRotation"] is True
    assert "SecretString" not in secret  # generated by CloudFormation, replaced by rotation
    rotation_fn = default.stack.root_key.rotation_function
    assert rotation_fn is not None
    default.template.has_resource_properties(
        "AWS::SecretsManager::RotationSchedule",
        {
            "SecretId": {"Ref": secret_id},
            "RotationLambdaARN": ref_arn(default, rotation_fn),
            "RotateImmediatelyOnUpdate": True,
            "RotationRules": {"ScheduleExpression": "rate(90 days)"},
        },
    )
    default.template.has_resource_properties(
        "AWS::Lambda::Function",
        {"Handler": "s3seal.rootkey.rotation.handler", "Architectures": ["arm64"]},
    )


def test_rotation_schedule_can_be_off_but_the_key_is_still_generated_at_deploy() -> None:
    s = synth(root_key_rotation_days=0)
    [schedule] = s.resources("AWS::SecretsManager::RotationSchedule").values()
    assert schedule["Properties"]["RotateImmediatelyOnUpdate"] is True
    assert "RotationRules" not in schedule["Properties"]


def test_existing_secret_by_arn() -> None:
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:s3seal/root-key-AbCdEf"
    key_arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    s = synth(existing_root_key_secret_arn=arn, existing_root_key_kms_key_arn=key_arn)
    assert s.resources("AWS::SecretsManager::Secret") == {}
    assert s.resources("AWS::SecretsManager::RotationSchedule") == {}
    statements = role_statements(s, s.stack.encryptor.role)
    assert any(st.get("Resource") == arn for st in statements)
    assert any(st.get("Resource") == key_arn and "kms:Decrypt" in st["Action"] for st in statements)
    s.template.has_resource_properties(
        "AWS::Lambda::Function",
        {"Environment": {"Variables": Match.object_like({"ROOT_KEY_SECRET_ID": arn})}},
    )


def test_no_key_material_in_the_template(default: Synth) -> None:
    text = json.dumps(default.template.to_json())
    # Standard base64 of 32 bytes: 43 characters and one '='.
    assert not re.search(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{43}=(?!=)", text)
    assert '"SecretString"' not in text  # GenerateSecretString, CloudFormation-made, is fine


# --- staging and Redshift ----------------------------------------------------------------------


def test_staging_bucket(default: Synth) -> None:
    props = bucket(default, default.stack.buckets.staging)
    assert props["PublicAccessBlockConfiguration"] == PUBLIC_ACCESS_BLOCKED
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"
    ] == {"SSEAlgorithm": "AES256"}
    [rule] = props["LifecycleConfiguration"]["Rules"]
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert props["LoggingConfiguration"]["LogFilePrefix"] == "staging/"


def test_only_the_function_and_redshift_read_staging(default: Synth) -> None:
    [deny] = [
        st
        for st in policy_statements(default, "AWS::S3::BucketPolicy")
        if st.get("Sid") == "OnlyTheFunctionAndRedshiftRead"
    ]
    assert deny["Effect"] == "Deny" and deny["Principal"] == {"AWS": "*"}
    assert deny["Action"] == [
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:GetObjectVersionForReplication",
    ]
    assert deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] == [
        ref_arn(default, default.stack.encryptor.role),
        ref_arn(default, default.stack.redshift.role),
    ]


def test_redshift_copy_role(default: Synth) -> None:
    role = default.resources("AWS::IAM::Role")[default.logical_id(default.stack.redshift.role)]
    principals = [
        st["Principal"]["Service"]
        for st in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    ]
    assert sorted(principals) == ["redshift-serverless.amazonaws.com", "redshift.amazonaws.com"]
    statements = role_statements(default, default.stack.redshift.role)
    actions = sorted(a for st in statements for a in st["Action"])
    assert actions == [
        "s3:GetBucketLocation",
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:ListBucket",
    ]
    staging_arn = ref_arn(default, default.stack.buckets.staging)
    for st in statements:
        assert st["Resource"] in (staging_arn, {"Fn::Join": ["", [staging_arn, "/*"]]})


def test_redshift_role_bound_to_one_cluster() -> None:
    arn = "arn:aws:redshift:us-east-1:123456789012:namespace:0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"
    s = synth(redshift_source_arn=arn)
    role = s.resources("AWS::IAM::Role")[s.logical_id(s.stack.redshift.role)]
    for st in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]:
        assert st["Condition"] == {
            "ArnLike": {"aws:SourceArn": arn},
            "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        }


# --- operations and outputs --------------------------------------------------------------------


def test_alarms_notify_an_encrypted_topic(default: Synth) -> None:
    alarms = default.resources("AWS::CloudWatch::Alarm")
    topic_id = default.logical_id(default.stack.monitoring.topic)
    names = {a["Properties"].get("MetricName") for a in alarms.values()}
    assert {
        "ApproximateNumberOfMessagesVisible",
        "Errors",
        "Throttles",
        "ApproximateAgeOfOldestMessage",
        "ObjectsFailed",
    } <= names
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}]
    dlq_alarm = next(
        a
        for a in alarms.values()
        if a["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
    )
    assert dlq_alarm["Properties"]["Threshold"] == 0
    assert dlq_alarm["Properties"]["ComparisonOperator"] == "GreaterThanThreshold"
    topic = default.resources("AWS::SNS::Topic")[topic_id]["Properties"]
    assert "KmsMasterKeyId" in topic
    assert default.resources("AWS::SNS::Subscription") == {}
    assert len(default.resources("AWS::CloudWatch::Dashboard")) == 1


def test_alarm_email_subscription() -> None:
    s = synth(alarm_email="ops@example.com")
    s.template.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"}
    )


def test_outputs_lead_to_the_loader_not_to_copy_encrypted(default: Synth) -> None:
    outputs = default.template.find_outputs("*")
    assert {
        "LandingBucketName",
        "StagingBucketName",
        "QueueUrl",
        "DeadLetterQueueUrl",
        "RootKeySecretArn",
        "RedshiftCopyRoleArn",
        OUTPUT_LOADER_MODE,
        OUTPUT_LOAD_COMMAND,
    } <= set(outputs)
    # Redshift stopped reading client-side-encrypted files in COPY after 2026-04-30: no output
    # may offer COPY ... ENCRYPTED, and with the loader off the command output says how to load.
    assert "CopyStatementTemplate" not in outputs
    text = json.dumps(outputs).lower()
    assert "master_symmetric_key" not in text and "manifest encrypted" not in text
    assert outputs[OUTPUT_LOADER_MODE]["Value"] == "off"
    assert outputs[OUTPUT_LOAD_COMMAND]["Value"] == LOADER_OFF
    assert "loader_mode=server-side" in LOADER_OFF and "2026-04-30" in LOADER_OFF


def function_format(s: Synth) -> str:
    [fn] = [
        f["Properties"]
        for f in s.resources("AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == "s3seal.encrypt.handler.handler"
    ]
    value: str = fn["Environment"]["Variables"]["ENVELOPE_FORMAT"]
    return value


def test_the_function_writes_v3_by_default(default: Synth) -> None:
    assert default.stack.settings.envelope_format is None
    assert function_format(default) == "v3"


@pytest.mark.parametrize("fmt", ["v1", "v2", "v3"])
def test_an_explicit_format_reaches_the_function(fmt: str) -> None:
    assert function_format(synth(envelope_format=fmt)) == fmt


@pytest.mark.parametrize(
    ("context", "message"),
    [
        ({"landing_encryption": "sse-c"}, "landing_encryption"),
        ({"batch_size": 50}, "max_batching_window_seconds"),
        ({"root_key_rotation_days": -1}, "root_key_rotation_days"),
        ({"function_timeout_seconds": 1000}, "function_timeout_seconds"),
        ({"envelope_format": "v4"}, "envelope_format must be v1, v2, v3"),
    ],
)
def test_bad_context_is_refused_naming_the_key(context: dict[str, Any], message: str) -> None:
    from infra.settings import SettingsError

    with pytest.raises(SettingsError, match=message):
        synth(**context)
