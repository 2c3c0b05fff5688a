"""The IAM role Amazon Redshift assumes to COPY from the staging bucket."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from .access import source_account

REDSHIFT_SERVICES = ("redshift.amazonaws.com", "redshift-serverless.amazonaws.com")


class RedshiftCopyRole(Construct):
    """Read access to the staging bucket, for Redshift only (optionally one cluster/namespace).

    ``read_prefix``: what COPY reads. The staged envelopes (everything) for ``COPY ... ENCRYPTED``;
    only the transient load prefix when a server-side loader hands COPY plaintext.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        staging: s3.Bucket,
        source_arn: str | None,
        read_prefix: str = "",
    ) -> None:
        super().__init__(scope, construct_id)
        # Redshift names the account (and cluster or namespace) it acts for: the confused-deputy
        # conditions, so no other account's Redshift can be made to use this role.
        conditions: dict[str, object] = dict(source_account())
        if source_arn:
            conditions["ArnLike"] = {"aws:SourceArn": source_arn}
        principals: list[iam.IPrincipal] = [
            iam.ServicePrincipal(service, conditions=conditions) for service in REDSHIFT_SERVICES
        ]
        self.role = iam.Role(
            self,
            "Role",
            description="s3seal: Redshift COPY reads staged objects",
            assumed_by=iam.CompositePrincipal(*principals),
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadStagedObjects",
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[staging.arn_for_objects(f"{read_prefix}*")],
            )
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="ListStaging",
                actions=["s3:ListBucket", "s3:GetBucketLocation"],
                resources=[staging.bucket_arn],
            )
        )
