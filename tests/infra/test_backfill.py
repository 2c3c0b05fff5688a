"""The backfill role and bucket (s3seal backfill): least privilege in IAM, mirrored in the bucket
policy, transient files, and the outputs the CLI reads."""

from __future__ import annotations

from infra.access import OBJECT_WRITES
from infra.backfill import BATCH_OPERATIONS, EXPIRE_DAYS
from s3seal.names import (
    OUTPUT_BACKFILL_BUCKET,
    OUTPUT_BACKFILL_ROLE_ARN,
    OUTPUT_FUNCTION_ARN,
    OUTPUT_LANDING_BUCKET,
)

from .conftest import Synth
from .test_access import SOURCE_ACCOUNT, bucket_policy, exempt, objects
from .test_stack import PUBLIC_ACCESS_BLOCKED, bucket, ref_arn, role_statements


def test_only_batch_operations_of_this_account_assumes_the_role(default: Synth) -> None:
    role = default.resources("AWS::IAM::Role")[default.logical_id(default.stack.backfill.role)]
    [trust] = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": BATCH_OPERATIONS}
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"] == {"StringEquals": SOURCE_ACCOUNT}
    assert "ManagedPolicyArns" not in role["Properties"]


def test_the_role_invokes_only_the_function_reads_only_manifests_writes_only_reports(
    default: Synth,
) -> None:
    backfill = default.stack.backfill
    by_sid = {st["Sid"]: st for st in role_statements(default, backfill.role)}
    assert set(by_sid) == {
        "InvokeTheEncryptingFunction",
        "ReadManifestsAndInventories",
        "WriteCompletionReports",
        "LocateTheBucket",
    }
    assert all(st["Effect"] == "Allow" for st in by_sid.values())
    invoke = by_sid["InvokeTheEncryptingFunction"]
    assert invoke["Action"] == "lambda:InvokeFunction"
    assert invoke["Resource"] == ref_arn(default, default.stack.encryptor.function)
    reads = by_sid["ReadManifestsAndInventories"]
    assert reads["Action"] == ["s3:GetObject", "s3:GetObjectVersion"]
    assert reads["Resource"] == [
        objects(default, backfill.bucket, "manifests/"),
        objects(default, backfill.bucket, "inventory/"),
    ]
    writes = by_sid["WriteCompletionReports"]
    assert writes["Action"] == "s3:PutObject"
    assert writes["Resource"] == objects(default, backfill.bucket, "reports/")
    locate = by_sid["LocateTheBucket"]
    assert (locate["Action"], locate["Resource"]) == (
        "s3:GetBucketLocation",
        ref_arn(default, backfill.bucket),
    )


def test_the_role_is_exempt_from_no_landing_or_staging_deny(default: Synth) -> None:
    # It needs neither: Batch Operations hands keys to the function, which reads and writes.
    role = ref_arn(default, default.stack.backfill.role)
    for target in (default.stack.buckets.landing, default.stack.buckets.staging):
        for statement in bucket_policy(default, target).values():
            if statement.get("Condition", {}).get("ArnNotEquals"):
                assert role not in exempt(statement)


def test_the_bucket_is_private_tls_only_and_its_files_expire(default: Synth) -> None:
    backfill = default.stack.backfill.bucket
    props = bucket(default, backfill)
    assert props["PublicAccessBlockConfiguration"] == PUBLIC_ACCESS_BLOCKED
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0][
        "ServerSideEncryptionByDefault"
    ] == {"SSEAlgorithm": "AES256"}
    assert props["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    [rule] = props["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == EXPIRE_DAYS and "Prefix" not in rule
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert props["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": default.logical_id(default.stack.buckets.access_logs)},
        "LogFilePrefix": "backfill/",
    }
    assert backfill.bucket_name != default.stack.buckets.landing.bucket_name


def test_the_bucket_policy_mirrors_the_role(default: Synth) -> None:
    backfill = default.stack.backfill
    policy = bucket_policy(default, backfill.bucket)
    insecure = {"Bool": {"aws:SecureTransport": "false"}}
    tls = [st for st in policy.values() if st.get("Condition") == insecure]
    assert tls and tls[0]["Effect"] == "Deny"
    reports = policy["OnlyTheBackfillRoleWritesReports"]
    assert reports["Action"] == OBJECT_WRITES
    assert reports["Resource"] == objects(default, backfill.bucket, "reports/")
    assert exempt(reports) == [ref_arn(default, backfill.role)]
    outside = policy["NothingOutsideTheBackfillPrefixes"]
    assert outside["Effect"] == "Deny" and outside["Principal"] == {"AWS": "*"}
    assert outside["Action"] == "s3:PutObject" and "Condition" not in outside
    prefixes = ("manifests/", "inventory/", "reports/")
    assert outside["NotResource"] == [objects(default, backfill.bucket, p) for p in prefixes]
    inventory = policy["S3InventoryDeliversLandingsReports"]
    assert inventory["Effect"] == "Allow"
    assert inventory["Principal"] == {"Service": "s3.amazonaws.com"}
    assert inventory["Action"] == "s3:PutObject"
    assert inventory["Resource"] == objects(default, backfill.bucket, "inventory/")
    assert inventory["Condition"] == {
        "ArnLike": {"aws:SourceArn": ref_arn(default, default.stack.buckets.landing)},
        "StringEquals": SOURCE_ACCOUNT,
    }
    # ... and it is the only Allow: everything else is a Deny
    allows = [sid for sid, st in policy.items() if st["Effect"] == "Allow"]
    assert allows == ["S3InventoryDeliversLandingsReports"]


def test_outputs_give_the_cli_what_it_needs(default: Synth) -> None:
    outputs = default.template.find_outputs("*")
    stack = default.stack
    assert outputs[OUTPUT_FUNCTION_ARN]["Value"] == ref_arn(default, stack.encryptor.function)
    assert outputs[OUTPUT_BACKFILL_ROLE_ARN]["Value"] == ref_arn(default, stack.backfill.role)
    assert outputs[OUTPUT_BACKFILL_BUCKET]["Value"] == {
        "Ref": default.logical_id(stack.backfill.bucket)
    }
    assert outputs[OUTPUT_LANDING_BUCKET]["Value"] == {
        "Ref": default.logical_id(stack.buckets.landing)
    }
