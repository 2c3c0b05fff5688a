"""AWS failures of the operator commands, in one line each: a setup mistake (unknown profile, no
credentials, no region, a bad endpoint, access denied) becomes AwsSetupError, so the CLI exits 5
and the operator knows to fix the setup rather than the data; anything else an S3SealError that
says what was being done to what."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from ..errors import AwsSetupError, S3SealError, aws_reason, is_aws_setup_failure


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
