"""The CLI's exit codes, and which one each of our errors ends in."""

from __future__ import annotations

from ..errors import (
    AwsSetupError,
    CiphertextError,
    ConfigError,
    MetadataError,
    PlaintextLengthError,
    RootKeyError,
    S3SealError,
)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_KEY = 3
EXIT_CRYPTO = 4
EXIT_AWS_SETUP = 5


def exit_code_for(exc: S3SealError) -> int:
    if isinstance(exc, AwsSetupError):
        return EXIT_AWS_SETUP
    if isinstance(exc, ConfigError):
        return EXIT_USAGE
    if isinstance(exc, RootKeyError):
        return EXIT_KEY
    if isinstance(exc, MetadataError | CiphertextError | PlaintextLengthError):
        return EXIT_CRYPTO
    return EXIT_FAILURE
