"""AWS failures of the operator commands, in one line each: a setup mistake (unknown profile, no
credentials, no region, a bad endpoint, access denied) becomes AwsSetupError, so the CLI exits 5
and the operator knows to fix the setup rather than the data; anything else an S3SealError that
says what was being done to what."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import AwsSetupError, S3SealError, aws_reason, is_aws_setup_failure

T = TypeVar("T")


def translate(exc: ClientError | BotoCoreError, action: str, target: object) -> S3SealError:
    """``exc`` as the s3seal error to raise: "<action> <target>: <reason>"."""
    message = f"{action} {target}: {aws_reason(exc)}"
    if is_aws_setup_failure(exc):
        return AwsSetupError(message)
    return S3SealError(message)


@contextmanager
def calling(action: str, target: object) -> Iterator[None]:
    """Translate any AWS failure inside the block (see ``translate``)."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, action, target) from None


def client(factory: Callable[[], T], service: str) -> T:
    """A client from ``factory``: an unknown profile, no region or a malformed endpoint URL
    (botocore raises ValueError for that one) is an AwsSetupError naming the service."""
    try:
        return factory()
    except (BotoCoreError, ValueError) as exc:
        raise AwsSetupError(f"cannot use {service}: {exc}") from None
