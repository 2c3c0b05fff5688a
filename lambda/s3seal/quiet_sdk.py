"""Keep the AWS SDK's loggers from ever writing request or response bodies.

At DEBUG, botocore logs every request's parameters and every response body: a ``GetSecretValue``
response is the root key, a ``PutSecretValue`` request is a new one, and a client-side COPY sent
to the Data API carries the key in its SQL. Lambda's ``ApplicationLogLevel=DEBUG`` puts the root
logger at DEBUG, and the SDK's loggers inherit it while their own level is NOTSET. So the SDK's
loggers, and the children that write bodies, get an explicit level here (a child with its own
level ignores its parent's), and a filter that drops anything below it, which holds even if
something (``boto3.set_stream_logger``, say) lowers a level later.

Every entry point (handler, loader, rotation, CLI) calls ``pin()`` when it is imported; it is
idempotent.
"""

from __future__ import annotations

import logging

SDK_LEVEL = logging.WARNING
"""What the SDK may still say: retries exhausted, connection problems; never bodies."""

SDK_LOGGERS = (
    "boto3",
    "botocore",
    "s3transfer",
    "urllib3",
    # The children that log parameters, bodies, signatures or credentials at DEBUG: pinned
    # themselves so a parent set back to DEBUG does not reopen them.
    "boto3.resources",
    "botocore.auth",
    "botocore.endpoint",
    "botocore.hooks",
    "botocore.httpsession",
    "botocore.parsers",
    "botocore.retryhandler",
    "botocore.credentials",
    "botocore.awsrequest",
    "urllib3.connectionpool",
)


class _BelowLevel(logging.Filter):
    """Drops records under ``SDK_LEVEL`` whatever the logger's level says."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= SDK_LEVEL


_FILTER = _BelowLevel()


def pin() -> None:
    """Set every SDK logger in ``SDK_LOGGERS`` to ``SDK_LEVEL`` and filter what is below it."""
    for name in SDK_LOGGERS:
        sdk_logger = logging.getLogger(name)
        sdk_logger.setLevel(SDK_LEVEL)
        if _FILTER not in sdk_logger.filters:
            sdk_logger.addFilter(_FILTER)
