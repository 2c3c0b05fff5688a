"""Options several commands share: argparse parents, value checks, and the root key they name."""

from __future__ import annotations

import argparse
import os
from typing import Any

from ..envelope import EnvelopeMetadata
from ..names import SECRET_VERSION_FIELD
from ..rootkey.keys import (
    RootKey,
    root_key_from_env,
    root_key_from_file,
    root_key_from_secret,
)
from .aws import Aws

ALLOW_LEGACY = "--allow-legacy"


def add_aws_options(parser: argparse.ArgumentParser, default: Any = None) -> None:
    """The AWS-CLI-like options. The top-level parser takes them too, so that they go before or
    after the command; a subcommand's copy defaults to SUPPRESS so that it never hides them."""
    group = parser.add_argument_group("AWS (before or after the command)")
    group.add_argument(
        "--endpoint-url",
        default=default,
        help="S3/Secrets Manager endpoint (default: AWS; honours AWS_ENDPOINT_URL)",
    )
    group.add_argument(
        "--region", default=default, help="AWS region (default: the SDK's configuration)"
    )
    group.add_argument("--profile", default=default, help="AWS named profile")


def aws_parent() -> argparse.ArgumentParser:
    aws = argparse.ArgumentParser(add_help=False)
    add_aws_options(aws, default=argparse.SUPPRESS)
    return aws


def keys_parent() -> argparse.ArgumentParser:
    keys = argparse.ArgumentParser(add_help=False)
    source = keys.add_argument_group("root key (default: $S3SEAL_ROOT_KEY, base64)")
    one = source.add_mutually_exclusive_group()
    one.add_argument(
        "--key-secret",
        metavar="SECRET_ID",
        help="Secrets Manager secret holding the base64 root key",
    )
    one.add_argument("--key-file", metavar="PATH", help="file holding the base64 root key")
    return keys


def legacy_parent() -> argparse.ArgumentParser:
    legacy = argparse.ArgumentParser(add_help=False)
    legacy.add_argument(
        ALLOW_LEGACY,
        action="store_true",
        help="also read legacy unauthenticated shapes (AES-CBC in a V2 envelope, AESWrap, "
        "16-byte V1 data keys), which the official AWS clients refuse by default",
    )
    return legacy


def root_key(
    args: argparse.Namespace, aws: Aws, envelope: EnvelopeMetadata | None = None
) -> RootKey:
    """The root key ``keys_parent``'s options name (or $S3SEAL_ROOT_KEY)."""
    if args.key_secret:
        # Decrypt with the secret version that wrapped this object's data key when it says so.
        version = envelope.description.get(SECRET_VERSION_FIELD) if envelope else None
        return root_key_from_secret(aws.secrets, args.key_secret, version)
    if args.key_file:
        return root_key_from_file(args.key_file)
    return root_key_from_env(os.environ)


def port(text: str) -> int:
    value = positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError("a port is at most 65535")
    return value


def _whole(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    return _whole(text, 1)


def non_negative_int(text: str) -> int:
    """An argparse type: a whole number of at least 0."""
    return _whole(text, 0)
