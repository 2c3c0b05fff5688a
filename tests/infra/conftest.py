"""Synthesized stacks for the infra tests (bundling skipped unless a test asks for it)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from infra.settings import StackSettings
from infra.stack import S3SealStack

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")
NO_BUNDLING: dict[str, Any] = {"aws:cdk:bundling-stacks": []}


@dataclass
class Synth:
    stack: S3SealStack
    template: Template

    def logical_id(self, construct: Any) -> str:
        child = construct.node.default_child
        assert isinstance(child, cdk.CfnElement)
        return self.stack.get_logical_id(child)

    def resources(self, kind: str) -> dict[str, Any]:
        return dict(self.template.find_resources(kind))


def synth(**settings: Any) -> Synth:
    app = cdk.App(context=NO_BUNDLING)
    stack = S3SealStack(app, "Test", settings=StackSettings(**settings))
    return Synth(stack, Template.from_stack(stack))


@pytest.fixture(scope="session")
def default() -> Synth:
    """The stack with every setting at its default."""
    return synth()
