"""The s3seal stack: composes the constructs and does the wiring in one visible place."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from s3seal.names import (  # output keys: shared with the operator commands and the tests
    OUTPUT_DLQ_URL,
    OUTPUT_LANDING_BUCKET,
    OUTPUT_LOAD_COMMAND,
    OUTPUT_LOADER_FUNCTION,
    OUTPUT_LOADER_MODE,
    OUTPUT_QUEUE_URL,
    OUTPUT_REDSHIFT_ROLE_ARN,
    OUTPUT_SECRET_ARN,
    OUTPUT_STAGING_BUCKET,
)
from s3seal.staged import LOAD_PREFIX

from . import access
from .backfill import Backfill
from .buckets import Buckets
from .encryptor import Encryptor
from .loader import Loader
from .monitoring import Monitoring
from .nag import acknowledge_findings
from .redshift import RedshiftCopyRole
from .root_key import RootKey
from .settings import StackSettings

LOADER_OFF = (
    "loader_mode is off: deploy with -c loader_mode=server-side (with loader_table and the "
    "Redshift target) to load staged objects; it decrypts each batch into transient SSE-KMS "
    "objects and runs a plain COPY (COPY ... ENCRYPTED ended 2026-04-30)"
)


class S3SealStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        settings = settings or StackSettings()
        self.settings = settings
        log_retention = _retention(settings.log_retention_days)

        landing_key = None
        if settings.landing_encryption == "kms":
            landing_key = kms.Key(
                self,
                "LandingKey",
                description="s3seal: encrypts plaintext at rest in the landing bucket",
                enable_key_rotation=True,
                removal_policy=cdk.RemovalPolicy.RETAIN,
            )
        self.buckets = Buckets(
            self,
            "Buckets",
            landing_kms_key=landing_key,
            log_retention_days=settings.log_retention_days,
        )
        self.root_key = RootKey(
            self,
            "RootKey",
            rotation_days=settings.root_key_rotation_days,
            existing_secret_arn=settings.existing_root_key_secret_arn,
            existing_kms_key_arn=settings.existing_root_key_kms_key_arn,
            log_retention=log_retention,
        )
        self.encryptor = Encryptor(
            self,
            "Encryptor",
            settings=settings,
            landing=self.buckets.landing,
            landing_kms_key=landing_key,
            staging=self.buckets.staging,
            secret=self.root_key.secret,
            secret_kms_key=self.root_key.kms_key,
            log_retention=log_retention,
        )
        self.backfill = Backfill(
            self,
            "Backfill",
            function=self.encryptor.function,
            landing=self.buckets.landing,
            access_logs=self.buckets.access_logs,
        )
        self.redshift = RedshiftCopyRole(
            self,
            "RedshiftCopy",
            staging=self.buckets.staging,
            source_arn=settings.redshift_source_arn,
            read_prefix=LOAD_PREFIX if settings.loader_mode == "server-side" else "",
        )
        self.loader: Loader | None = None
        if settings.loader_enabled:
            self.loader = Loader(
                self,
                "Loader",
                settings=settings,
                staging=self.buckets.staging,
                secret=self.root_key.secret,
                secret_kms_key=self.root_key.kms_key,
                copy_role=self.redshift.role,
                log_retention=log_retention,
            )
        self._restrict_access(settings)
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            function=self.encryptor.function,
            queue=self.encryptor.queue,
            dead_letter_queue=self.encryptor.dead_letter_queue,
            oldest_message_alarm_seconds=settings.oldest_message_alarm_seconds,
            alarm_email=settings.alarm_email,
        )
        self._outputs(settings)
        acknowledge_findings(self)

    def _restrict_access(self, settings: StackSettings) -> None:
        """Resource policies: who may read and write each bucket, the root key and the load key
        (see ``access``); and ``aws:SourceAccount`` on every service-principal trust."""
        function = self.encryptor.role.role_arn
        loader = self.loader.role.role_arn if self.loader else None
        copy_role = self.redshift.role.role_arn
        access.restrict_staging(
            self.buckets.staging,
            function=function,
            loader=loader,
            copy_role=copy_role,
            extra_readers=settings.staging_extra_reader_arns,
            rewrappers=settings.staging_rewrap_arns,
        )
        access.restrict_landing(
            self.buckets.landing, readers=[function, *settings.landing_extra_reader_arns]
        )
        rotation = self.root_key.rotation_function
        writers = [rotation.role.role_arn] if rotation and rotation.role else []
        access.restrict_root_key(
            self.root_key.secret,
            self.root_key.kms_key,
            readers=[function, *([loader] if loader else []), *writers,
                     *settings.root_key_break_glass_arns],
            writers=[*writers, *settings.root_key_break_glass_arns],
        )  # fmt: skip
        if self.loader is not None and self.loader.load_key is not None:
            assert loader is not None
            access.restrict_load_key(self.loader.load_key, users=[loader, copy_role])
        access.bind_service_principals_to_account(self)

    def _outputs(self, settings: StackSettings) -> None:
        staging = self.buckets.staging.bucket_name
        outputs = {
            OUTPUT_LANDING_BUCKET: (self.buckets.landing.bucket_name, "Upload data files here"),
            OUTPUT_STAGING_BUCKET: (staging, "Encrypted objects; the loader decrypts for COPY"),
            OUTPUT_QUEUE_URL: (self.encryptor.queue.queue_url, "Landing notifications"),
            OUTPUT_DLQ_URL: (
                self.encryptor.dead_letter_queue.queue_url,
                "Notifications whose objects could not be staged",
            ),
            OUTPUT_SECRET_ARN: (self.root_key.secret.secret_arn, "The root key's secret"),
            OUTPUT_REDSHIFT_ROLE_ARN: (self.redshift.role.role_arn, "IAM_ROLE for COPY"),
            OUTPUT_LOADER_MODE: (settings.loader_mode, _LOADER_MODES[settings.loader_mode]),
            OUTPUT_LOAD_COMMAND: (
                self.loader.load_command if self.loader else LOADER_OFF,
                "Load what is staged now, by hand, with the loader function's settings",
            ),
        }
        outputs |= self.backfill.outputs()
        if self.loader is not None:
            outputs[OUTPUT_LOADER_FUNCTION] = (
                self.loader.function.function_name,
                "Runs on the schedule; invoke it to load now",
            )
        for key, (value, description) in outputs.items():
            cdk.CfnOutput(self, key, value=value, description=description)


_LOADER_MODES = {
    "server-side": "Each batch is decrypted into transient SSE-KMS objects, then a plain COPY",
    "client-side": "COPY ... ENCRYPTED of V1 files: Redshift stopped reading it after 2026-04-30",
    "off": "No loader: staged objects stay in staging",
}

_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    731: logs.RetentionDays.TWO_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


def _retention(days: int) -> logs.RetentionDays:
    try:
        return _RETENTION[days]
    except KeyError:
        raise ValueError(f"log_retention_days={days} is not one of {sorted(_RETENTION)}") from None
