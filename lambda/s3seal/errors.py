"""Every exception s3seal raises on purpose: the envelope's hierarchy plus the I/O layers' errors.

AWS errors are translated where their meaning is known (``storage`` for S3, ``keys`` for Secrets
Manager); callers above see only these types.
"""

from __future__ import annotations

from botocore import exceptions as sdk
from botocore.exceptions import BotoCoreError, ClientError

from .envelope.errors import (
    AlreadyFinalizedError,
    CiphertextError,
    InvalidRootKeyError,
    LegacyFormatError,
    MetadataError,
    NotEncryptedError,
    PlaintextLengthError,
    RootKeyError,
    S3SealError,
    TamperedCiphertextError,
    TruncatedCiphertextError,
    UnsupportedAlgorithmError,
    WrongRootKeyError,
)


class ConfigError(S3SealError):
    """A setting (command-line option, environment variable) is missing or invalid."""


class AwsSetupError(S3SealError):
    """AWS itself is not usable as configured: an unknown profile, no credentials, no region, a
    malformed endpoint URL, or access denied to something the command needs. The CLI reports it in
    one line with its own exit code (5), so scripts can tell "fix the setup" from "the data is bad".
    """


class BackfillError(S3SealError):
    """A backfill that cannot go ahead or did not finish: an unusable inventory, a failed job."""


class SecretError(RootKeyError):
    """The root key's secret could not be read or written in Secrets Manager."""


class InsecureKeyFileError(RootKeyError):
    """A root-key file that others than its owner can read (group or world permissions)."""


class SecretAccessError(SecretError, AwsSetupError):
    """The secret could not be read or written because of the AWS setup (credentials, access)."""


class StorageError(S3SealError):
    """An S3 request failed."""


class S3AccessError(StorageError, AwsSetupError):
    """An S3 request failed because of the AWS setup: no or bad credentials, access denied, an
    endpoint that cannot be reached. Still a StorageError for the function's callers."""


class VersionInUseError(S3SealError):
    """A root-key version is still current, pending, or wraps staged objects: not retirable."""


class ObjectNotFoundError(StorageError):
    """The object (or the named version of it) does not exist."""


class ConditionFailedError(StorageError):
    """A conditional request found the object changed (HTTP 412, or 409 for racing writes)."""


class MetadataTooLargeError(StorageError):
    """A staged object's user metadata would exceed S3's 2 KB; nothing is written."""


class SourceChangedError(StorageError):
    """The landing object changed between being looked at and being read (unversioned keys)."""


class VerificationError(StorageError):
    """A staged object is not what was written; the plaintext is kept."""


class EventError(S3SealError):
    """An event the function cannot read: malformed, or of an unknown shape."""


class RefusedObjectError(S3SealError):
    """A permanent refusal, decided before anything is read, written or deleted: the event names
    a bucket that is not a configured landing bucket, or a key that would be staged under the
    staging bucket's reserved prefix. A retry cannot change the answer, so none is asked for."""


class ObjectTooLargeError(S3SealError):
    """The object exceeds MAX_OBJECT_BYTES or cannot be encrypted in the invocation's time."""


class DeadlineError(S3SealError):
    """The invocation ran out of time mid-object; the upload was aborted, the plaintext kept."""


class LoadError(S3SealError):
    """A batch was not loaded; the message names it (and, for a failed COPY, has Redshift's
    error text). ``batch_id`` is None for failures outside any batch."""

    def __init__(self, message: str, *, batch_id: str | None = None) -> None:
        super().__init__(message)
        self.batch_id = batch_id


class LoaderBusyError(LoadError):
    """Another loader holds the table's loader lock."""


class ObjectChangedError(S3SealError):
    """A staged object's current version is no longer the one the batch claimed."""


class RedshiftError(S3SealError):
    """A Redshift Data API request failed (the statement's fate is unknown or it never ran)."""


class StatementFailedError(RedshiftError):
    """Redshift ran the statement and it failed or was aborted; ``error`` is Redshift's text."""

    def __init__(self, message: str, *, status: str, error: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error


class StatementTimeoutError(RedshiftError):
    """The statement did not finish within the time allowed; it may still be running."""


def aws_error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError (None for anything else)."""
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None


_SETUP_CODES = frozenset(
    {
        "403",  # a HEAD has no body to name the code: S3's 403 is access denied
        "AccessDenied",
        "AccessDeniedException",
        "AllAccessDisabled",
        "AuthFailure",
        "AuthorizationError",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "InvalidToken",
        "MissingAuthenticationToken",
        "SignatureDoesNotMatch",
        "UnauthorizedOperation",
        "UnrecognizedClientException",
    }
)
_SETUP_EXCEPTIONS = (
    sdk.CredentialRetrievalError,
    sdk.EndpointConnectionError,
    sdk.InvalidEndpointConfigurationError,
    sdk.NoCredentialsError,
    sdk.NoRegionError,
    sdk.PartialCredentialsError,
    sdk.ProfileNotFound,
)


def is_aws_setup_failure(exc: BaseException) -> bool:
    """Whether an AWS failure says "fix the setup" (credentials, access, region, endpoint) rather
    than anything about the object or secret asked for."""
    return isinstance(exc, _SETUP_EXCEPTIONS) or aws_error_code(exc) in _SETUP_CODES


def secret_error(message: str, exc: ClientError | BotoCoreError) -> SecretError:
    """``message: reason`` as a SecretError, or a SecretAccessError when the setup is at fault."""
    kind = SecretAccessError if is_aws_setup_failure(exc) else SecretError
    return kind(f"{message}: {aws_reason(exc)}")


def aws_reason(exc: ClientError | BotoCoreError) -> str:
    """A one-line reason for an AWS failure: its error code and message, nothing else."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    return str(exc)


__all__ = [
    "AlreadyFinalizedError",
    "AwsSetupError",
    "BackfillError",
    "CiphertextError",
    "ConditionFailedError",
    "ConfigError",
    "DeadlineError",
    "EventError",
    "InsecureKeyFileError",
    "InvalidRootKeyError",
    "LegacyFormatError",
    "LoadError",
    "LoaderBusyError",
    "MetadataError",
    "MetadataTooLargeError",
    "NotEncryptedError",
    "ObjectChangedError",
    "ObjectNotFoundError",
    "ObjectTooLargeError",
    "PlaintextLengthError",
    "RedshiftError",
    "RefusedObjectError",
    "RootKeyError",
    "S3AccessError",
    "S3SealError",
    "SecretAccessError",
    "SecretError",
    "SourceChangedError",
    "StatementFailedError",
    "StatementTimeoutError",
    "StorageError",
    "TamperedCiphertextError",
    "TruncatedCiphertextError",
    "UnsupportedAlgorithmError",
    "VerificationError",
    "WrongRootKeyError",
    "aws_error_code",
    "aws_reason",
    "is_aws_setup_failure",
    "secret_error",
]
