"""The s3seal stack.

For now it holds the two buckets with their secure defaults; the encrypting function, queue, root
key secret, Redshift role and alarms arrive with the stack issue.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
from constructs import Construct


def secure_bucket(scope: Construct, construct_id: str) -> s3.Bucket:
    """A bucket with no public access, TLS only, SSE-S3 at rest, versioned, owner-enforced."""
    return s3.Bucket(
        scope,
        construct_id,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        encryption=s3.BucketEncryption.S3_MANAGED,
        versioned=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )


class S3SealStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.landing = secure_bucket(self, "Landing")
        self.staging = secure_bucket(self, "Staging")
        cdk.CfnOutput(self, "LandingBucketName", value=self.landing.bucket_name)
        cdk.CfnOutput(self, "StagingBucketName", value=self.staging.bucket_name)
