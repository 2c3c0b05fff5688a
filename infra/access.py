"""Who may read and write what: the resource policies on the buckets, the root key and the load key.

IAM grants each role what it calls; these explicit denies make the resources themselves refuse
everyone else, so a broad IAM policy elsewhere in the account (an admin's ``s3:*``) cannot read
plaintext, forge staged objects or read the root key. Each deny names its exempt principals by
``aws:PrincipalArn`` (the role ARN, whatever the session) and covers object-, secret- or key-use
actions only: bucket, secret and key *management* (policy edits, CloudFormation updates) stays
with the account, so the deployer can never lock themselves out.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as sm

from s3seal.names import RESERVED_PREFIX
from s3seal.staged import LOAD_PREFIX

OBJECT_READS = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectVersionForReplication"]
"""What returns an object's content (replication reads it too)."""
LANDING_READS = [
    *OBJECT_READS,
    "s3:GetObjectAcl",
    "s3:GetObjectVersionAcl",
    "s3:GetObjectAttributes",
    "s3:GetObjectVersionAttributes",
]
OBJECT_WRITES = [
    # PutObject also covers CreateMultipartUpload, UploadPart(Copy) and CompleteMultipartUpload.
    "s3:PutObject",
    "s3:AbortMultipartUpload",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:PutObjectAcl",
    "s3:PutObjectVersionAcl",
    "s3:PutObjectTagging",
    "s3:PutObjectVersionTagging",
    "s3:DeleteObjectTagging",
    "s3:DeleteObjectVersionTagging",
    "s3:PutObjectRetention",
    "s3:PutObjectLegalHold",
    "s3:ReplicateObject",
    "s3:ReplicateDelete",
    "s3:ReplicateTags",
    "s3:RestoreObject",
]
"""Everything that creates, replaces, removes or relabels an object or one of its versions."""
KEY_USE = [
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
]


def _deny(
    sid: str, actions: list[str], principals: Sequence[str], **where: list[str]
) -> iam.PolicyStatement:
    """Deny ``actions`` to everyone but ``principals`` (none: to everyone)."""
    conditions = {"ArnNotEquals": {"aws:PrincipalArn": list(principals)}} if principals else None
    return iam.PolicyStatement(
        sid=sid,
        effect=iam.Effect.DENY,
        principals=[iam.AnyPrincipal()],
        actions=actions,
        conditions=conditions,
        **where,  # type: ignore[arg-type]
    )


def restrict_staging(
    staging: s3.Bucket,
    *,
    function: str,
    loader: str | None,
    copy_role: str,
    extra_readers: Sequence[str],
    rewrappers: Sequence[str] = (),
) -> None:
    """Ciphertext: the function writes staged objects, the loader its reserved prefix; the
    function, the COPY role, the loader and the named extras read; only the loader and the COPY
    role read the transient plaintext under the load prefix (extras are not exempt there).
    ``rewrappers`` (``s3seal rewrap`` operators) also read staged objects and may PutObject onto
    them, nothing else: rewrap is a conditional copy of an object onto itself."""
    reserved = staging.arn_for_objects(f"{RESERVED_PREFIX}*")
    loader_only = [loader] if loader else []
    for statement in (
        _deny(
            "OnlyTheFunctionAndRedshiftRead",
            OBJECT_READS,
            [function, copy_role, *loader_only, *extra_readers, *rewrappers],
            resources=[staging.arn_for_objects("*")],
        ),
        _deny(
            "OnlyTheLoaderAndRedshiftReadTransientPlaintext",
            OBJECT_READS,
            [copy_role, *loader_only],
            resources=[staging.arn_for_objects(f"{LOAD_PREFIX}*")],
        ),
        # Every key outside the reserved prefix is a staged object.
        _deny(
            "OnlyTheFunctionWritesStagedObjects",
            [action for action in OBJECT_WRITES if action != "s3:PutObject"],
            [function],
            not_resources=[reserved],
        ),
        _deny(
            "OnlyTheFunctionAndRewrapOperatorsPutStagedObjects",
            ["s3:PutObject"],
            [function, *rewrappers],
            not_resources=[reserved],
        ),
        _deny("OnlyTheLoaderWritesItsPrefix", OBJECT_WRITES, loader_only, resources=[reserved]),
    ):
        staging.add_to_resource_policy(statement)


def restrict_landing(landing: s3.Bucket, *, readers: Sequence[str]) -> None:
    """Plaintext: only the function and the principals the deployer names may read it."""
    landing.add_to_resource_policy(
        _deny(
            "OnlyTheFunctionAndNamedReadersRead",
            LANDING_READS,
            readers,
            resources=[landing.arn_for_objects("*")],
        )
    )


def restrict_root_key(
    secret: sm.ISecret, kms_key: kms.IKey | None, *, readers: Sequence[str], writers: Sequence[str]
) -> None:
    """Only ``readers`` may read the root key, only ``writers`` may write a version of it; its
    CMK decrypts only for ``readers`` and only through Secrets Manager.

    For an existing secret (imported by ARN) CDK cannot change its policies: the README lists
    what the deployer adds."""
    if not isinstance(secret, sm.Secret):
        return
    secret.add_to_resource_policy(
        _deny(
            "OnlyS3SealRolesReadTheRootKey",
            ["secretsmanager:GetSecretValue"],
            readers,
            resources=["*"],
        )
    )
    secret.add_to_resource_policy(
        _deny(
            "OnlyRotationWritesTheRootKey",
            ["secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage"],
            writers,
            resources=["*"],
        )
    )
    if not isinstance(kms_key, kms.Key):
        return
    # Encrypt/GenerateDataKey stay open to Secrets Manager for the account: CloudFormation
    # (the deploy role) creates the secret's first version with them. Reading needs Decrypt.
    kms_key.add_to_resource_policy(
        _deny("OnlyS3SealRolesDecryptTheRootKey", ["kms:Decrypt"], readers, resources=["*"])
    )
    kms_key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="DecryptOnlyThroughSecretsManager",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=["kms:Decrypt"],
            resources=["*"],
            conditions={
                "StringNotEquals": {
                    "kms:ViaService": f"secretsmanager.{cdk.Aws.REGION}.amazonaws.com"
                }
            },
        )
    )


def restrict_load_key(load_key: kms.Key, *, users: Sequence[str]) -> None:
    """The load key encrypts and decrypts only for the loader and the COPY role.

    The account root keeps the default ``kms:*`` statement CDK writes: CloudFormation and the
    account's administrators manage the key through it (a key without it cannot be updated or
    deleted by the stack). This deny takes the cryptographic uses back from everyone else, so that
    statement is key management only in effect.
    """
    load_key.add_to_resource_policy(
        _deny("OnlyTheLoaderAndRedshiftUseTheLoadKey", KEY_USE, users, resources=["*"])
    )


def bind_service_principals_to_account(stack: cdk.Stack) -> None:
    """``aws:SourceAccount`` where CDK writes a service-principal trust without one: every Lambda
    permission (Secrets Manager's for rotation, EventBridge's for the loader's schedule) and the
    role of CDK's own bucket-notification handler (a singleton we do not construct)."""
    for child in stack.node.find_all():
        if isinstance(child, lambda_.CfnPermission) and child.source_account is None:
            child.source_account = stack.account
        if child.node.id.startswith("BucketNotificationsHandler"):
            role = child.node.try_find_child("Role")
            resource = role.node.default_child if role is not None else None
            if isinstance(resource, iam.CfnRole):
                resource.add_property_override(
                    "AssumeRolePolicyDocument.Statement.0.Condition", source_account()
                )


def source_account() -> dict[str, dict[str, str]]:
    """The confused-deputy condition for a service principal acting for this account."""
    return {"StringEquals": {"aws:SourceAccount": cdk.Aws.ACCOUNT_ID}}
