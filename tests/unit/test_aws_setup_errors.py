"""AWS setup mistakes become AwsSetupError (CLI exit 5) and stay what the function expects."""

from __future__ import annotations

import argparse

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from s3seal import storage
from s3seal.cli.aws import Aws
from s3seal.cli.exits import EXIT_AWS_SETUP, EXIT_FAILURE, EXIT_KEY, exit_code_for
from s3seal.errors import AwsSetupError, SecretError, StorageError, secret_error


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "GetObject")


@pytest.mark.parametrize(
    "exc",
    [
        client_error("AccessDenied"),
        client_error("403"),
        client_error("InvalidAccessKeyId"),
        NoCredentialsError(),
        EndpointConnectionError(endpoint_url="http://127.0.0.1:9"),
    ],
    ids=["denied", "head-403", "bad-key-id", "no-credentials", "unreachable"],
)
def test_setup_failures_are_aws_setup_errors_and_still_storage_errors(exc: Exception) -> None:
    error = storage.translate(exc, "cannot read", "s3://b/k")  # type: ignore[arg-type]
    assert isinstance(error, StorageError) and isinstance(error, AwsSetupError)
    assert exit_code_for(error) == EXIT_AWS_SETUP and "s3://b/k" in str(error)


def test_other_s3_failures_are_not_setup_errors() -> None:
    error = storage.translate(client_error("InternalError"), "cannot read", "s3://b/k")
    assert not isinstance(error, AwsSetupError) and exit_code_for(error) == EXIT_FAILURE


def test_a_secret_denied_is_setup_a_secret_missing_is_a_root_key_error() -> None:
    denied = secret_error("cannot read secret s", client_error("AccessDeniedException"))
    missing = secret_error("cannot read secret s", client_error("ResourceNotFoundException"))
    assert isinstance(denied, SecretError) and exit_code_for(denied) == EXIT_AWS_SETUP
    assert not isinstance(missing, AwsSetupError) and exit_code_for(missing) == EXIT_KEY


@pytest.mark.parametrize("url", ["localhost:4566", "ftp://host", "http://", "127.0.0.1"])
def test_a_malformed_endpoint_url_is_a_setup_error(url: str) -> None:
    aws = Aws(argparse.Namespace(endpoint_url=url, region="us-east-1", profile=None))
    with pytest.raises(AwsSetupError, match="--endpoint-url"):
        _ = aws.s3


def test_an_unknown_profile_is_a_setup_error() -> None:
    aws = Aws(argparse.Namespace(endpoint_url=None, region=None, profile="no-such-profile"))
    with pytest.raises(AwsSetupError, match="--profile no-such-profile"):
        _ = aws.secrets
