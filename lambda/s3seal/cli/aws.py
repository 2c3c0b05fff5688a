"""The AWS clients every command shares, built from the AWS-CLI-like options."""

from __future__ import annotations

import argparse
from functools import cached_property
from typing import TYPE_CHECKING, Any

import boto3

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient


class Aws:
    """boto3 clients built from the AWS-CLI-like options, created on first use."""

    def __init__(self, args: argparse.Namespace) -> None:
        self._region: str | None = getattr(args, "region", None)
        self._profile: str | None = getattr(args, "profile", None)
        # Without --endpoint-url, boto3 itself honours AWS_ENDPOINT_URL(_S3, ...).
        self._endpoint_url: str | None = getattr(args, "endpoint_url", None)

    @cached_property
    def _session(self) -> boto3.Session:
        return boto3.Session(region_name=self._region, profile_name=self._profile)

    @cached_property
    def s3(self) -> S3Client:
        client: S3Client = self._session.client("s3", endpoint_url=self._endpoint_url)
        return client

    def client(self, service: Any) -> Any:
        return self._session.client(service, endpoint_url=self._endpoint_url)

    @cached_property
    def secrets(self) -> SecretsManagerClient:
        client: SecretsManagerClient = self._session.client(
            "secretsmanager", endpoint_url=self._endpoint_url
        )
        return client
