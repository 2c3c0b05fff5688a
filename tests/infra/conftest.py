"""Synthesized stacks for the infra tests (bundling skipped unless a test asks for it)."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from infra.bundling import ROOT, WHEEL_CACHE
from infra.settings import StackSettings
from infra.stack import S3SealStack

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")
FEATURE_FLAGS: dict[str, Any] = {
    key: value
    for key, value in json.loads((ROOT / "cdk.json").read_text())["context"].items()
    if ":" in key
}
"""cdk.json's feature flags, so that the tests synthesize what `cdk synth` deploys."""
NO_BUNDLING: dict[str, Any] = {**FEATURE_FLAGS, "aws:cdk:bundling-stacks": []}
CDK_CLI = ROOT / "node_modules" / ".bin" / "cdk"


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


@pytest.fixture(scope="session")
def cli_asset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The functions' code asset as `cdk synth` through the project's pinned CLI bundles it:
    offline (pip may not reach an index), locally, without Docker."""
    assert CDK_CLI.exists(), "the pinned CDK CLI is missing: run make deps (npm ci)"
    assert WHEEL_CACHE.is_dir(), "the Lambda wheel cache is missing: run make deps"
    out = tmp_path_factory.mktemp("cdk.out")
    env = {
        **os.environ,
        # Any attempt by pip to reach an index would fail: bundling must use the wheel cache.
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "18,20",
    }
    result = subprocess.run(
        [str(CDK_CLI), "synth", "--quiet", "--no-notices", "--output", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assets = json.loads((out / "S3Seal.assets.json").read_text())
    folders: list[Path] = [
        out / asset["source"]["path"]
        for asset in assets["files"].values()
        if asset["source"].get("packaging") == "zip"
    ]
    code = [folder for folder in folders if (folder / "s3seal" / "encrypt" / "handler.py").exists()]
    assert code, f"no asset holds s3seal: {folders}"
    return code[0]
