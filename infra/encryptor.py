"""Landing notifications -> queue (with its dead-letter queue) -> the encrypting function."""

from __future__ import annotations

import aws_cdk as cdk
import jsii
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as sm
from aws_cdk import aws_sqs as sqs
from aws_cdk.interfaces import aws_s3 as s3_refs
from constructs import Construct

from s3seal import config as env
from s3seal.names import RESERVED_PREFIX

from .access import OBJECT_WRITES, source_account
from .bundling import s3seal_function
from .root_key import grant_root_key_read
from .settings import StackSettings

DLQ_RETENTION = cdk.Duration.days(14)


@jsii.implements(s3.IBucketNotificationDestination)
class QueueDestination:
    """CDK's ``SqsDestination`` with the confused-deputy conditions: S3 may send only for this
    bucket (``aws:SourceArn``, as CDK does) *and* this account (``aws:SourceAccount``: a bucket
    name, once deleted, can be taken by another account)."""

    def __init__(self, queue: sqs.Queue) -> None:
        self.queue = queue

    def bind(
        self, scope: Construct, bucket: s3_refs.IBucketRef
    ) -> s3.BucketNotificationDestinationConfig:
        self.queue.add_to_resource_policy(
            iam.PolicyStatement(
                sid="S3SendsThisBucketsNotifications",
                principals=[iam.ServicePrincipal("s3.amazonaws.com")],
                actions=["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
                resources=[self.queue.queue_arn],
                conditions={
                    "ArnLike": {"aws:SourceArn": bucket.bucket_ref.bucket_arn},
                    **source_account(),
                },
            )
        )
        return s3.BucketNotificationDestinationConfig(
            arn=self.queue.queue_arn,
            type=s3.BucketNotificationDestinationType.QUEUE,
            dependencies=[self.queue],
        )


class Encryptor(Construct):
    """The encrypting function and the queue that feeds it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        landing: s3.Bucket,
        landing_kms_key: kms.IKey | None,
        staging: s3.Bucket,
        secret: sm.ISecret,
        secret_kms_key: kms.IKey | None,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
        )
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=cdk.Duration.seconds(settings.visibility_timeout_seconds),
            retention_period=DLQ_RETENTION,
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=settings.max_receive_count, queue=self.dead_letter_queue
            ),
        )
        filters = []
        if settings.landing_prefix_filter or settings.landing_suffix_filter:
            filters.append(
                s3.NotificationKeyFilter(
                    prefix=settings.landing_prefix_filter or None,
                    suffix=settings.landing_suffix_filter or None,
                )
            )
        landing.add_event_notification(
            s3.EventType.OBJECT_CREATED, QueueDestination(self.queue), *filters
        )
        self.function = s3seal_function(
            self,
            handler="s3seal.encrypt.handler.handler",
            description="s3seal: envelope-encrypts each landed object into staging",
            log_retention=log_retention,
            memory_size=settings.function_memory_mb,
            timeout=cdk.Duration.seconds(settings.function_timeout_seconds),
            reserved_concurrency=settings.reserved_concurrency,
            environment=function_environment(
                settings, staging.bucket_name, secret.secret_arn, landing.bucket_name
            ),
        )
        assert isinstance(self.function.role, iam.Role)
        self.role: iam.Role = self.function.role
        self.function.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=settings.batch_size,
                max_batching_window=cdk.Duration.seconds(settings.max_batching_window_seconds),
                report_batch_item_failures=True,
                max_concurrency=settings.event_source_max_concurrency,
            )
        )
        self._grant(landing, landing_kms_key, staging, secret, secret_kms_key)

    def _grant(
        self,
        landing: s3.Bucket,
        landing_kms_key: kms.IKey | None,
        staging: s3.Bucket,
        secret: sm.ISecret,
        secret_kms_key: kms.IKey | None,
    ) -> None:
        """Exactly what the pipeline calls, nothing more."""
        role = self.function
        role.add_to_role_policy(
            iam.PolicyStatement(
                sid="ReadAndDeleteLandedVersions",
                actions=[
                    "s3:GetObject",
                    "s3:GetObjectVersion",
                    "s3:DeleteObject",
                    "s3:DeleteObjectVersion",
                ],
                resources=[landing.arn_for_objects("*")],
            )
        )
        role.add_to_role_policy(
            iam.PolicyStatement(
                sid="WriteAndCheckStagedObjects",
                actions=[
                    "s3:PutObject",
                    "s3:GetObject",
                    "s3:GetObjectVersion",
                    "s3:AbortMultipartUpload",
                ],
                resources=[staging.arn_for_objects("*")],
            )
        )
        # Without ListBucket a HEAD of a missing key answers 403 instead of 404, and "already
        # gone" could not be told apart from "access denied".
        role.add_to_role_policy(
            iam.PolicyStatement(
                sid="TellMissingFromForbidden",
                actions=["s3:ListBucket", "s3:ListBucketVersions"],
                resources=[landing.bucket_arn, staging.bucket_arn],
            )
        )
        # Writing into landing would trigger the function on its own output.
        role.add_to_role_policy(
            iam.PolicyStatement(
                sid="NeverWriteToLanding",
                effect=iam.Effect.DENY,
                actions=["s3:PutObject", "s3:PutObjectAcl", "s3:PutObjectTagging"],
                resources=[landing.arn_for_objects("*")],
            )
        )
        # The loader's reserved prefix (batch records, lock, manifests, transient loads): a
        # landing key that maps there is refused by the function, and denied here as well.
        role.add_to_role_policy(
            iam.PolicyStatement(
                sid="NeverWriteTheLoadersPrefix",
                effect=iam.Effect.DENY,
                actions=OBJECT_WRITES,
                resources=[staging.arn_for_objects(f"{RESERVED_PREFIX}*")],
            )
        )
        grant_root_key_read(role, secret, secret_kms_key)
        if landing_kms_key is not None:
            landing_kms_key.grant_decrypt(role)


def function_environment(
    settings: StackSettings, staging_bucket: str, secret_arn: str, landing_bucket: str
) -> dict[str, str]:
    """The function's environment: the variable names are the runtime's own constants."""
    out = {
        env.STAGING_BUCKET: staging_bucket,
        env.LANDING_BUCKETS: landing_bucket,
        env.ROOT_KEY_SECRET_ID: secret_arn,
        env.STAGING_PREFIX: settings.staging_prefix,
        env.ENVELOPE_FORMAT: settings.function_envelope_format,
        env.COMPRESSION: settings.compression,
        env.PART_SIZE_MIB: str(settings.part_size_mib),
        env.PARTS_IN_FLIGHT: str(settings.parts_in_flight),
        env.KEY_CACHE_SECONDS: str(settings.key_cache_seconds),
        "POWERTOOLS_SERVICE_NAME": "s3seal",
        "POWERTOOLS_METRICS_NAMESPACE": "s3seal",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }
    if settings.max_object_bytes is not None:
        out[env.MAX_OBJECT_BYTES] = str(settings.max_object_bytes)
    return out
