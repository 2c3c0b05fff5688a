"""The loader's one logger, shared by its modules (one Powertools ``Logger``, one set of keys)."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger

from .. import quiet_sdk

SERVICE = "s3seal-loader"
quiet_sdk.pin()  # before any client exists: the SDK never logs bodies
logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE))
