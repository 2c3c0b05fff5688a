"""cdk-nag (AwsSolutions) findings that are accepted, each acknowledged with its specific reason.

Everything else cdk-nag reports fails ``cdk synth``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import aws_cdk as cdk
from aws_cdk import Acknowledgment, Validations
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

from s3seal.staged import LOAD_PREFIX

if TYPE_CHECKING:
    from .stack import S3SealStack

XRAY_REASON = (
    "xray:PutTraceSegments and xray:PutTelemetryRecords have no resource-level permissions; "
    "they are what active tracing needs (added by CDK for Tracing.ACTIVE)."
)


def add_checks(app: cdk.App) -> None:
    """Run the AwsSolutions pack on every synth: a finding fails ``cdk synth``."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))


def _objects_finding(stack: cdk.Stack, bucket: s3.Bucket, prefix: str = "") -> str:
    resource = bucket.node.default_child
    assert isinstance(resource, cdk.CfnElement)
    return f"AwsSolutions-IAM5[Resource::<{stack.get_logical_id(resource)}.Arn>/{prefix}*]"


def _acknowledge(scope: IConstruct, finding: str, reason: str) -> None:
    # cdk-nag's plugin reports its rules as "AwsSolutions::<rule>[<finding>]".
    Validations.of(scope).acknowledge(Acknowledgment(id=f"AwsSolutions::{finding}", reason=reason))


def acknowledge_findings(stack: S3SealStack) -> None:
    landing, staging = stack.buckets.landing, stack.buckets.staging
    function_policy = stack.encryptor.role
    _acknowledge(
        function_policy,
        _objects_finding(stack, landing),
        "The function reads and deletes whatever object landed: any key in the landing bucket, "
        "and only object actions (Get/Delete and their version forms).",
    )
    _acknowledge(
        function_policy,
        _objects_finding(stack, staging),
        "The function writes each staged object under the landing key it came from: any key in "
        "the staging bucket, and only Put/Get/AbortMultipartUpload.",
    )
    if stack.settings.loader_mode == "server-side":
        _acknowledge(
            stack.redshift.role,
            _objects_finding(stack, staging, LOAD_PREFIX),
            "COPY reads the transient plaintext of the batch being loaded: any key under the "
            "loader's own prefix, read only, and nothing else in the bucket.",
        )
    else:
        _acknowledge(
            stack.redshift.role,
            _objects_finding(stack, staging),
            "COPY reads the staged objects a manifest names: any key in the staging bucket, "
            "read only.",
        )
    _acknowledge(function_policy, "AwsSolutions-IAM5[Resource::*]", XRAY_REASON)
    rotation = stack.root_key.rotation_function
    if rotation is not None:
        _acknowledge(
            rotation.role or rotation,
            "AwsSolutions-IAM5[Resource::*]",
            XRAY_REASON + " secretsmanager:GetRandomPassword (resource-less too) is added by "
            "CDK's RotationSchedule; our rotation function draws its key from os.urandom.",
        )
    if stack.loader is not None:
        _acknowledge_loader(stack)
    for child in stack.node.children:
        if child.node.id.startswith("BucketNotificationsHandler"):
            _acknowledge(
                child,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                "AWSLambdaBasicExecutionRole]",
                "CDK's own handler that sets the landing bucket's notification configuration "
                "at deploy time; its role is created by CDK and used only then.",
            )


def _acknowledge_loader(stack: S3SealStack) -> None:
    assert stack.loader is not None
    role = stack.loader.role
    staging = stack.buckets.staging
    _acknowledge(
        role,
        _objects_finding(stack, staging),
        "The loader reads (only reads) whichever staged objects are pending: any key in the "
        "staging bucket.",
    )
    for prefix, what in (
        ("_s3seal/batches/", "batch records, one per batch id"),
        ("_s3seal/manifests/", "COPY manifests, one per batch id"),
        ("_s3seal/load/", "transient SSE-KMS plaintext, one folder per batch, deleted after COPY"),
    ):
        _acknowledge(
            role,
            _objects_finding(stack, staging, prefix),
            f"The loader writes and deletes its own {what}, only under {prefix} "
            "in the staging bucket.",
        )
    _acknowledge(
        role,
        "AwsSolutions-IAM5[Resource::*]",
        XRAY_REASON
        + " redshift-data:DescribeStatement, GetStatementResult and CancelStatement take no "
        "resource: the Data API only lets a caller follow its own statements.",
    )
    _acknowledge(
        role,
        "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:redshift-serverless:<AWS::Region>:"
        "<AWS::AccountId>:workgroup/*]",
        "Serverless workgroup ARNs end in a generated id that is not known from the workgroup "
        "name given in context; access stays within this account and region.",
    )
