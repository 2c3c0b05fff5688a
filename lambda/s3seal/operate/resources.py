"""Where the deployed stack's resources are: its CloudFormation outputs, or options naming them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .. import names
from ..errors import ConfigError, aws_error_code
from .aws_calls import translate


@dataclass(frozen=True)
class Resources:
    """The stack's resources the operator commands look at (None: not asked for)."""

    landing: str | None = None
    staging: str | None = None
    queue_url: str | None = None
    dlq_url: str | None = None
    loader_function: str | None = None


OUTPUTS = {
    "landing": names.OUTPUT_LANDING_BUCKET,
    "staging": names.OUTPUT_STAGING_BUCKET,
    "queue_url": names.OUTPUT_QUEUE_URL,
    "dlq_url": names.OUTPUT_DLQ_URL,
    "loader_function": names.OUTPUT_LOADER_FUNCTION,
}
"""Which stack output holds each resource."""
OPTIONAL = frozenset({"loader_function"})
"""Outputs a stack may lack (no loader function with ``loader_mode`` off): None, not an error,
and never a reason to look the stack up."""


def resolve(
    stack_name: str,
    overrides: Mapping[str, str | None],
    needed: tuple[str, ...],
    cloudformation: Callable[[], Any],
) -> Resources:
    """The ``needed`` resources: each override as given, the rest from the stack's outputs.

    The stack is looked up only when the override of a required resource is missing;
    ``cloudformation`` makes the client (not made at all otherwise).
    """
    values = {name: overrides.get(name) for name in needed}
    missing = [name for name, value in values.items() if not value]
    if any(name not in OPTIONAL for name in missing):
        outputs = stack_outputs(cloudformation(), stack_name)
        for name in missing:
            value = outputs.get(OUTPUTS[name])
            if not value and name in OPTIONAL:
                continue
            if not value:
                raise ConfigError(
                    f"stack {stack_name} has no output {OUTPUTS[name]}; pass "
                    f"--{name.replace('_', '-')}"
                )
            values[name] = value
    known = {f.name for f in fields(Resources)}
    return Resources(**{k: v for k, v in values.items() if k in known})


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """The stack's outputs by key; ConfigError (exit 2) if there is no such stack."""
    where = f"stack {stack_name}"
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if aws_error_code(exc) == "ValidationError":  # CloudFormation's "does not exist"
            raise ConfigError(
                f"no {where} in this account and region: pass --stack-name, or name the "
                "resources with their options"
            ) from None
        raise translate(exc, "cannot describe", where) from None
    except BotoCoreError as exc:
        raise translate(exc, "cannot describe", where) from None
    if not stacks:
        raise ConfigError(f"no stack {stack_name}")
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
