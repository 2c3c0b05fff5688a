"""The landing, staging and access-log buckets."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

ONE_DAY = cdk.Duration.days(1)


class Buckets(Construct):
    """Landing (plaintext arrives), staging (ciphertext stays) and their access logs."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        landing_kms_key: kms.IKey | None,
        log_retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            # Server access logs can only be delivered to an SSE-S3 bucket.
            encryption=s3.BucketEncryption.S3_MANAGED,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireAccessLogs",
                    expiration=cdk.Duration.days(log_retention_days),
                    noncurrent_version_expiration=ONE_DAY,
                    abort_incomplete_multipart_upload_after=ONE_DAY,
                )
            ],
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.landing = s3.Bucket(
            self,
            "Landing",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            encryption=s3.BucketEncryption.KMS
            if landing_kms_key
            else s3.BucketEncryption.S3_MANAGED,
            encryption_key=landing_kms_key,
            bucket_key_enabled=landing_kms_key is not None,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            # Versioned, so the function deletes exactly the version it encrypted; anything else
            # a version leaves behind (noncurrent versions, delete markers, abandoned uploads)
            # is gone after a day.
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpirePlaintextLeftovers",
                    noncurrent_version_expiration=ONE_DAY,
                    expired_object_delete_marker=True,
                    abort_incomplete_multipart_upload_after=ONE_DAY,
                )
            ],
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="landing/",
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.staging = s3.Bucket(
            self,
            "Staging",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            # A second layer under the client-side envelope.
            encryption=s3.BucketEncryption.S3_MANAGED,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="AbortIncompleteUploads", abort_incomplete_multipart_upload_after=ONE_DAY
                )
            ],
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="staging/",
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
