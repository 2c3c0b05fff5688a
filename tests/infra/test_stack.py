"""The placeholder stack synthesizes, and its buckets carry the secure defaults."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk.assertions import Match, Template

from infra.stack import S3SealStack


def test_both_buckets_are_private_encrypted_versioned_and_tls_only() -> None:
    # GIVEN the stack
    app = cdk.App()
    stack = S3SealStack(app, "TestS3Seal")
    # WHEN it is synthesized
    template = Template.from_stack(stack)
    # THEN each bucket blocks public access, encrypts at rest and is versioned
    template.resource_count_is("AWS::S3::Bucket", 2)
    template.all_resources_properties(
        "AWS::S3::Bucket",
        {
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                ]
            },
            "VersioningConfiguration": {"Status": "Enabled"},
        },
    )
    # AND both bucket policies deny any request that is not over TLS
    template.resource_count_is("AWS::S3::BucketPolicy", 2)
    template.all_resources_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            }
        },
    )
