"""The root key: a Secrets Manager secret under a customer-managed KMS key, generated and rotated
by our own function; or an existing secret the user already has."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as sm
from constructs import Construct

from .bundling import s3seal_function


class RootKey(Construct):
    """The secret that holds the base64 root key.

    A new secret starts with a placeholder that CloudFormation generates (never a value of ours
    in the template); the rotation schedule runs our rotation function immediately at deploy,
    which writes a fresh ``os.urandom(32)`` key as the current version, and then every
    ``rotation_days`` (0: only at deploy).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        rotation_days: int,
        existing_secret_arn: str | None,
        existing_kms_key_arn: str | None,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.rotation_function: lambda_.Function | None = None
        if existing_secret_arn:
            self.secret: sm.ISecret = sm.Secret.from_secret_complete_arn(
                self, "Secret", existing_secret_arn
            )
            self.kms_key: kms.IKey | None = (
                kms.Key.from_key_arn(self, "Key", existing_kms_key_arn)
                if existing_kms_key_arn
                else None
            )
            return
        key = kms.Key(
            self,
            "Key",
            description="s3seal: encrypts the root key secret",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        secret = sm.Secret(
            self,
            "Secret",
            description="s3seal root key: standard base64 of 32 random bytes (AES-256)",
            encryption_key=key,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        rotation = s3seal_function(
            self,
            "Rotation",
            handler="s3seal.rootkey.rotation.handler",
            description="s3seal: writes a fresh 256-bit root key as the secret's new version",
            log_retention=log_retention,
            memory_size=256,
            timeout=cdk.Duration.seconds(60),
            environment={"POWERTOOLS_SERVICE_NAME": "s3seal-rotation"},
        )
        secret.add_rotation_schedule(
            "Rotation",
            rotation_lambda=rotation,
            automatically_after=cdk.Duration.days(rotation_days),
            rotate_immediately_on_update=True,
        )
        # Secrets Manager may invoke the rotation function only for this secret (and account:
        # the stack adds aws:SourceAccount to every Lambda permission).
        for child in rotation.node.find_all():
            if isinstance(child, lambda_.CfnPermission):
                child.source_arn = secret.secret_arn
        self.secret = secret
        self.kms_key = key
        self.rotation_function = rotation


def grant_root_key_read(role: iam.IGrantable, secret: sm.ISecret, kms_key: kms.IKey | None) -> None:
    """Read the root key: that one secret, and decrypt with the key that encrypts it."""
    role.grant_principal.add_to_principal_policy(
        iam.PolicyStatement(
            sid="ReadTheRootKey",
            actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
            resources=[secret.secret_arn],
        )
    )
    if kms_key is not None:
        kms_key.grant_decrypt(role)
