"""`cdk synth` refuses context it does not understand, with one line naming the key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from infra.bundling import ROOT


def run_app(tmp_path: Path, context: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """app.py as the CDK CLI runs it: context arrives in CDK_CONTEXT_JSON."""
    env = {
        **os.environ,
        "CDK_CONTEXT_JSON": json.dumps({"aws:cdk:bundling-stacks": [], **context}),
        "CDK_OUTDIR": str(tmp_path),
        "PYTHONPATH": str(ROOT / "lambda"),
    }
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_misspelled_key_fails_with_one_line_naming_it(tmp_path: Path) -> None:
    # GIVEN a typo of batch_size next to the CDK's own keys (feature flags, aws:cdk:...)
    context = {"batch_sise": 5, "@aws-cdk/core:checkSecretUsage": True, "stack_name": "X"}
    # WHEN the app runs
    result = run_app(tmp_path, context)
    # THEN it fails before synthesizing, with one line naming the key and the valid ones
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("s3seal: unknown context key batch_sise;")
    assert "batch_size" in lines[0] and "loader_mode" in lines[0]
    assert "checkSecretUsage" not in lines[0] and "stack_name," in lines[0]
    assert not (tmp_path / "X.template.json").exists()


def test_a_bad_value_fails_with_one_line(tmp_path: Path) -> None:
    result = run_app(tmp_path, {"batch_size": "ten"})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "s3seal: context batch_size='ten' is not a valid int"
    ]


def test_cdk_json_holds_only_settings_and_feature_flags() -> None:
    # The flags `cdk init` writes are there (the CDK's own keys are not settings) ...
    context: dict[str, Any] = json.loads((ROOT / "cdk.json").read_text())["context"]
    assert context["@aws-cdk/core:checkSecretUsage"] is True
    # ... and every other key is a setting: the app would refuse it otherwise.
    from infra.settings import StackSettings

    StackSettings.from_context(context.get, context.keys())
