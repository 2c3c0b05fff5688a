"""The loader: a scheduled function that COPYs staged objects into a Redshift table.

Created only when ``loader_mode`` is not ``off``. In ``server-side`` mode (what current Redshift
accepts) it decrypts each batch into ``_s3seal/load/`` under SSE-KMS with a key only the loader
and the COPY role may use, COPYs, and deletes the plaintext; a lifecycle rule on that prefix is
the backstop. In ``client-side`` mode it COPYs the staged envelopes with ``ENCRYPTED``, which
Redshift stopped reading after 2026-04-30 (kept for clusters that still do; V1 only).
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as sm
from constructs import Construct

from s3seal import config
from s3seal.load import settings as runtime
from s3seal.staged import BATCH_PREFIX, LOAD_PREFIX, MANIFEST_PREFIX

from .bundling import s3seal_function
from .root_key import grant_root_key_read
from .settings import StackSettings

ONE_DAY = cdk.Duration.days(1)


class Loader(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        staging: s3.Bucket,
        secret: sm.ISecret,
        secret_kms_key: kms.IKey | None,
        copy_role: iam.Role,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        server_side = settings.loader_mode == "server-side"
        stack = cdk.Stack.of(self)
        self.load_key: kms.Key | None = None
        if server_side:
            self.load_key = kms.Key(
                self,
                "LoadKey",
                description="s3seal: encrypts plaintext handed to COPY, for the load only",
                enable_key_rotation=True,
            )
            # The backstop: plaintext that a crashed load left behind is gone within a day.
            staging.add_lifecycle_rule(
                id="ExpireTransientLoadPlaintext",
                prefix=LOAD_PREFIX,
                expiration=ONE_DAY,
                noncurrent_version_expiration=ONE_DAY,
            )
        self.environment = self._environment(settings, staging, secret, copy_role)
        # The same settings as options: loading now, by hand, runs exactly what the function runs.
        self.load_command = runtime.load_command(self.environment)
        # One loader at a time: batches are claimed by records in S3, not by locks.
        self.function = s3seal_function(
            self,
            handler="s3seal.load.handler.handler",
            description="s3seal: loads staged objects into Redshift",
            log_retention=log_retention,
            memory_size=1769,
            timeout=cdk.Duration.minutes(15),
            reserved_concurrency=1,
            environment=self.environment,
        )
        assert isinstance(self.function.role, iam.Role)
        self.role: iam.Role = self.function.role
        events.Rule(
            self,
            "Schedule",
            description="s3seal: load what is staged",
            schedule=events.Schedule.rate(cdk.Duration.minutes(settings.loader_schedule_minutes)),
            targets=[targets.LambdaFunction(self.function)],
        )
        self._grant(
            settings,
            staging=staging,
            secret=secret,
            secret_kms_key=secret_kms_key,
            copy_role=copy_role,
            stack=stack,
        )

    def _environment(
        self,
        settings: StackSettings,
        staging: s3.Bucket,
        secret: sm.ISecret,
        copy_role: iam.Role,
    ) -> dict[str, str]:
        env = {
            config.STAGING_BUCKET: staging.bucket_name,
            config.ROOT_KEY_SECRET_ID: secret.secret_arn,
            runtime.LOADER_MODE: settings.loader_mode,
            runtime.LOADER_TABLE: settings.loader_table or "",
            runtime.LOAD_PREFIX_FILTER: settings.loader_prefix,
            runtime.COPY_IAM_ROLE: copy_role.role_arn,
            runtime.COPY_FORMAT: settings.copy_format,
            runtime.COPY_IGNORE_HEADER: str(settings.copy_ignore_header),
            runtime.REDSHIFT_DATABASE: settings.redshift_database,
            runtime.MIN_FILES: str(settings.loader_min_files),
            runtime.MIN_BYTES: str(settings.loader_min_bytes),
            runtime.MAX_WAIT_SECONDS: str(settings.loader_max_wait_seconds),
            "POWERTOOLS_SERVICE_NAME": "s3seal-loader",
        }
        optional = {
            runtime.REDSHIFT_CLUSTER_ID: settings.redshift_cluster_id,
            runtime.REDSHIFT_WORKGROUP: settings.redshift_workgroup,
            runtime.REDSHIFT_SECRET_ARN: settings.redshift_secret_arn,
            runtime.REDSHIFT_DB_USER: settings.redshift_db_user,
            runtime.LOAD_KMS_KEY_ID: self.load_key.key_arn if self.load_key else None,
            # Unset, the loader takes the format's own delimiter (a comma for csv).
            runtime.COPY_DELIMITER: settings.copy_delimiter,
        }
        env.update({name: value for name, value in optional.items() if value})
        return env

    def _grant(
        self,
        settings: StackSettings,
        *,
        staging: s3.Bucket,
        secret: sm.ISecret,
        secret_kms_key: kms.IKey | None,
        copy_role: iam.Role,
        stack: cdk.Stack,
    ) -> None:
        role = self.role
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ReadStagedObjects",
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[staging.arn_for_objects("*")],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ListStaging",
                actions=["s3:ListBucket", "s3:ListBucketVersions"],
                resources=[staging.bucket_arn],
            )
        )
        own = [staging.arn_for_objects(f"{prefix}*") for prefix in (BATCH_PREFIX, MANIFEST_PREFIX)]
        if self.load_key is not None:
            own.append(staging.arn_for_objects(f"{LOAD_PREFIX}*"))
        role.add_to_policy(
            iam.PolicyStatement(
                sid="WriteBatchRecordsManifestsAndTransientLoads",
                actions=[
                    "s3:PutObject",
                    "s3:DeleteObject",
                    "s3:DeleteObjectVersion",
                    "s3:AbortMultipartUpload",
                ],
                resources=own,
            )
        )
        grant_root_key_read(role, secret, secret_kms_key)
        if self.load_key is not None:
            # What SSE-KMS writes need: a data key per object, and Decrypt for multipart uploads.
            self.load_key.grant(role, "kms:GenerateDataKey", "kms:Decrypt")
            self.load_key.grant_decrypt(copy_role)
        self._grant_data_api(settings, stack)

    def _grant_data_api(self, settings: StackSettings, stack: cdk.Stack) -> None:
        if settings.redshift_cluster_id:
            target = stack.format_arn(
                service="redshift",
                resource="cluster",
                resource_name=settings.redshift_cluster_id,
                arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
            )
        else:
            target = stack.format_arn(
                service="redshift-serverless",
                resource="workgroup",
                resource_name="*",
            )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="RunStatementsOnTheWarehouse",
                actions=["redshift-data:ExecuteStatement", "redshift-data:BatchExecuteStatement"],
                resources=[target],
            )
        )
        # The Data API checks that a statement belongs to its caller; these take no resource.
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="FollowOwnStatements",
                actions=[
                    "redshift-data:DescribeStatement",
                    "redshift-data:GetStatementResult",
                    "redshift-data:CancelStatement",
                ],
                resources=["*"],
            )
        )
        if settings.redshift_secret_arn:
            self.role.add_to_policy(
                iam.PolicyStatement(
                    sid="ReadTheDatabaseCredentials",
                    actions=["secretsmanager:GetSecretValue"],
                    resources=[settings.redshift_secret_arn],
                )
            )
        elif settings.redshift_cluster_id and settings.redshift_db_user:
            self.role.add_to_policy(
                iam.PolicyStatement(
                    sid="TemporaryDatabaseCredentials",
                    actions=["redshift:GetClusterCredentials"],
                    resources=[
                        stack.format_arn(
                            service="redshift",
                            resource="dbuser",
                            resource_name=f"{settings.redshift_cluster_id}/{settings.redshift_db_user}",
                            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                        ),
                        stack.format_arn(
                            service="redshift",
                            resource="dbname",
                            resource_name=f"{settings.redshift_cluster_id}/{settings.redshift_database}",
                            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                        ),
                    ],
                )
            )
        else:
            self.role.add_to_policy(
                iam.PolicyStatement(
                    sid="TemporaryServerlessCredentials",
                    actions=["redshift-serverless:GetCredentials"],
                    resources=[
                        stack.format_arn(
                            service="redshift-serverless", resource="workgroup", resource_name="*"
                        )
                    ],
                )
            )
