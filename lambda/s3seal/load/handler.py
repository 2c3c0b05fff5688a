"""The loader's Lambda entry point (``s3seal.load.handler.handler``): a scheduled run, or
``{"retry": "<batch-id>"}`` to retry one failed batch."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

import boto3
from botocore.config import Config

from .batches import LoadSummary
from .loader import Loader
from .logs import logger
from .settings import LoaderSettings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient

    from .redshift_data import DataApiClient

RETRY_EVENT_FIELD = "retry"
"""``{"retry": "<batch-id>"}`` retries that failed batch instead of a normal run."""

_loader: Loader | None = None


def from_env(environ: Mapping[str, str]) -> Loader:
    """A loader configured from ``environ``, with default boto3 clients."""
    settings = LoaderSettings.from_env(environ)
    config = Config(retries={"mode": "standard", "max_attempts": 5})
    s3: S3Client = boto3.client("s3", config=config)
    secrets: SecretsManagerClient = boto3.client("secretsmanager", config=config)
    data = cast("DataApiClient", boto3.client("redshift-data", config=config))
    return Loader(settings, s3, data, secrets)


def loader() -> Loader:
    """The function's loader, configured from the environment on first use."""
    global _loader  # noqa: PLW0603 (one per warm container, as Lambda reuses the module)
    if _loader is None:
        _loader = from_env(os.environ)
    return _loader


def reset() -> None:
    """Forget the configured loader (tests reconfigure between runs)."""
    global _loader  # noqa: PLW0603
    _loader = None


@logger.inject_lambda_context(clear_state=True)
def handler(event: Mapping[str, Any] | None, context: LambdaContext) -> dict[str, Any]:
    """Run the loader (a schedule's event), or ``{"retry": "<batch-id>"}`` one failed batch."""
    batch_id = event.get(RETRY_EVENT_FIELD) if isinstance(event, Mapping) else None
    if batch_id:
        record = loader().retry(str(batch_id))
        summary = LoadSummary()
        summary.add(record)
        return summary.to_dict()
    result = loader().run().to_dict()
    logger.info("loader run", **result)
    return result


if os.environ.get("_HANDLER") == f"{__name__}.handler":
    # Inside the loader's Lambda function: read the configuration now, so a bad setting fails
    # the init phase with a message naming the variable.
    loader()
