"""What ``s3seal backfill`` needs from the stack: the S3 Batch Operations job's role and a bucket
for its manifests, inventory reports and completion reports.

A dedicated bucket rather than prefixes in an existing one: landing would invoke the function on
every manifest and report written to it; staging's policy lets only the function write outside
its reserved prefix, and ``keys``/``rewrap`` treat every object there as staged; the access-log
bucket is SSE-S3 by necessity and written by the log service. Here everything is transient and
expires.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from s3seal.names import (
    OUTPUT_BACKFILL_BUCKET,
    OUTPUT_BACKFILL_ROLE_ARN,
    OUTPUT_FUNCTION_ARN,
)
from s3seal.operate.backfill import (
    INVENTORY_PREFIX,
    MANIFEST_PREFIX,
    REPORT_PREFIX,
)

from .access import OBJECT_WRITES, _deny, source_account
from .nag import _acknowledge, _objects_finding

BATCH_OPERATIONS = "batchoperations.s3.amazonaws.com"
EXPIRE_DAYS = 30
"""Manifests, inventory reports and completion reports are kept this long."""
MANIFEST_READS = ["s3:GetObject", "s3:GetObjectVersion"]


class Backfill(Construct):
    """The backfill bucket and the Batch Operations role: it may invoke only the encrypting
    function, read only manifests and inventory reports, and write only completion reports."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        landing: s3.Bucket,
        access_logs: s3.Bucket,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = function
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            encryption=s3.BucketEncryption.S3_MANAGED,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireBackfillFiles",
                    expiration=cdk.Duration.days(EXPIRE_DAYS),
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(1),
                )
            ],
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="backfill/",
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(BATCH_OPERATIONS, conditions=source_account()),
            description="s3seal backfill: S3 Batch Operations invokes the encrypting function",
        )
        bucket = self.bucket
        for statement in (
            iam.PolicyStatement(
                sid="InvokeTheEncryptingFunction",
                actions=["lambda:InvokeFunction"],
                resources=[function.function_arn],
            ),
            iam.PolicyStatement(
                sid="ReadManifestsAndInventories",
                actions=MANIFEST_READS,
                resources=[
                    bucket.arn_for_objects(f"{MANIFEST_PREFIX}*"),
                    bucket.arn_for_objects(f"{INVENTORY_PREFIX}*"),
                ],
            ),
            iam.PolicyStatement(
                sid="WriteCompletionReports",
                actions=["s3:PutObject"],
                resources=[bucket.arn_for_objects(f"{REPORT_PREFIX}*")],
            ),
            iam.PolicyStatement(
                sid="LocateTheBucket",
                actions=["s3:GetBucketLocation"],
                resources=[bucket.bucket_arn],
            ),
        ):
            self.role.add_to_policy(statement)
        self._restrict_bucket(landing)
        self._acknowledge()

    def _restrict_bucket(self, landing: s3.Bucket) -> None:
        """The bucket mirrors the role: only the role writes reports (a forged report could hide
        a failed object), nothing is written outside the three prefixes, and S3 Inventory may
        deliver landing's reports under inventory/ (that statement is the only Allow)."""
        bucket = self.bucket
        prefixes = [
            bucket.arn_for_objects(f"{prefix}*")
            for prefix in (MANIFEST_PREFIX, INVENTORY_PREFIX, REPORT_PREFIX)
        ]
        bucket.add_to_resource_policy(
            _deny(
                "OnlyTheBackfillRoleWritesReports",
                OBJECT_WRITES,
                [self.role.role_arn],
                resources=[bucket.arn_for_objects(f"{REPORT_PREFIX}*")],
            )
        )
        bucket.add_to_resource_policy(
            _deny("NothingOutsideTheBackfillPrefixes", ["s3:PutObject"], [], not_resources=prefixes)
        )
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="S3InventoryDeliversLandingsReports",
                principals=[iam.ServicePrincipal("s3.amazonaws.com")],
                actions=["s3:PutObject"],
                resources=[bucket.arn_for_objects(f"{INVENTORY_PREFIX}*")],
                conditions={"ArnLike": {"aws:SourceArn": landing.bucket_arn}, **source_account()},
            )
        )

    def _acknowledge(self) -> None:
        stack = cdk.Stack.of(self)
        for prefix, why in (
            (MANIFEST_PREFIX, "reads the manifests s3seal backfill writes, one per job"),
            (
                INVENTORY_PREFIX,
                "reads landing's S3 Inventory reports (manifest.json and its files)",
            ),
            (REPORT_PREFIX, "writes its completion report, one folder per job"),
        ):
            _acknowledge(
                self.role,
                _objects_finding(stack, self.bucket, prefix),
                f"The Batch Operations job {why}: any key under {prefix} in the backfill bucket, "
                "and nothing else in it.",
            )

    def outputs(self) -> dict[str, tuple[str, str]]:
        """Stack outputs the CLI reads (``s3seal backfill``)."""
        return {
            OUTPUT_FUNCTION_ARN: (self.function.function_arn, "The encrypting function"),
            OUTPUT_BACKFILL_ROLE_ARN: (self.role.role_arn, "Role for s3seal backfill jobs"),
            OUTPUT_BACKFILL_BUCKET: (
                self.bucket.bucket_name,
                "Backfill manifests, inventory reports and job reports (expire)",
            ),
        }
