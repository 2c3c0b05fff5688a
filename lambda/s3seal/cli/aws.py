"""The AWS clients every command shares, built from the AWS-CLI-like options.

Building them is where most setup mistakes show (an unknown profile, no region for Secrets
Manager, a malformed endpoint URL): each becomes one AwsSetupError line (exit 5), no traceback.
"""

from __future__ import annotations

import argparse
import os
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3
from botocore.exceptions import BotoCoreError, NoRegionError, ProfileNotFound

from ..errors import AwsSetupError

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
        try:
            return boto3.Session(region_name=self._region, profile_name=self._profile)
        except ProfileNotFound:
            raise AwsSetupError(self._no_profile()) from None

    @cached_property
    def s3(self) -> S3Client:
        client: S3Client = self.client("s3")
        return client

    def client(self, service: Any) -> Any:
        """A client for ``service``; AwsSetupError for whatever stops boto3 building one."""
        endpoint = self._endpoint_url
        if endpoint is not None:
            parts = urlsplit(endpoint)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise AwsSetupError(
                    f"--endpoint-url {endpoint!r} is not a URL (expected http(s)://HOST[:PORT])"
                )
        try:
            return self._session.client(service, endpoint_url=endpoint)
        except ProfileNotFound:
            raise AwsSetupError(self._no_profile()) from None
        except NoRegionError:
            raise AwsSetupError(
                f"{service} needs an AWS region: pass --region, or set AWS_REGION or a region "
                "in the AWS profile"
            ) from None
        except ValueError as exc:  # botocore: "Invalid endpoint: ..." (from AWS_ENDPOINT_URL too)
            raise AwsSetupError(f"cannot use the endpoint for {service}: {exc}") from None
        except BotoCoreError as exc:
            raise AwsSetupError(f"cannot set up the {service} client: {exc}") from None

    @cached_property
    def secrets(self) -> SecretsManagerClient:
        client: SecretsManagerClient = self.client("secretsmanager")
        return client

    def _no_profile(self) -> str:
        if self._profile:
            return f"--profile {self._profile}: no such AWS profile (see ~/.aws/config)"
        name = os.environ.get("AWS_PROFILE", "")
        return f"AWS_PROFILE={name}: no such AWS profile (see ~/.aws/config)"
