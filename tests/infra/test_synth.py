"""The whole app: cdk-nag, cfn-lint, and `cdk synth` through the project's pinned CLI, offline,
bundling the functions' asset locally for arm64 (no Docker)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3

from infra.bundling import REQUIREMENTS_LOCK
from infra.nag import add_checks
from infra.settings import StackSettings
from infra.stack import S3SealStack

from .conftest import NO_BUNDLING

ELF_MACHINE_AARCH64 = 0xB7


def synth_with_nag(tmp_path: Path, *, extra: bool = False) -> tuple[Path, list[dict[str, Any]]]:
    app = cdk.App(outdir=str(tmp_path), context=NO_BUNDLING)
    stack = S3SealStack(app, "Nag", settings=StackSettings())
    if extra:
        # A bucket with none of the stack's protections: cdk-nag must object.
        s3.Bucket(stack, "Careless")
    add_checks(app)
    try:
        app.synth()
        failed = False
    except RuntimeError as exc:
        assert "ValidationFailed" in str(exc)
        failed = True
    report = json.loads((tmp_path / "validation-report.json").read_text())
    violations = [v for plugin in report["pluginReports"] for v in plugin["violations"]]
    assert failed == bool(violations)
    return tmp_path, violations


def test_cdk_nag_has_no_unacknowledged_findings(tmp_path: Path) -> None:
    _, violations = synth_with_nag(tmp_path)
    assert violations == []


def test_cdk_nag_is_really_checking(tmp_path: Path) -> None:
    _, violations = synth_with_nag(tmp_path, extra=True)
    rules = {v["ruleName"] for v in violations}
    assert "AwsSolutions-S1" in rules  # no access logs on the careless bucket
    assert "AwsSolutions-S10" in rules  # no TLS-only policy


def test_every_acknowledgment_gives_a_specific_reason() -> None:
    app = cdk.App(context=NO_BUNDLING)
    stack = S3SealStack(app, "Reasons", settings=StackSettings())
    acknowledged = [
        (construct.node.path, rule, reason)
        for construct in stack.node.find_all()
        for entry in construct.node.metadata
        if entry.type == "aws:cdk:acknowledged-rules"
        for rule, reason in entry.data.items()
        if rule.startswith("AwsSolutions::")
    ]
    assert len(acknowledged) >= 6
    for path, rule, reason in acknowledged:
        assert len(reason) > 80, (path, rule, reason)


def test_cfn_lint_finds_no_errors(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path), context=NO_BUNDLING)
    S3SealStack(app, "Lint", settings=StackSettings())
    template = Path(app.synth().directory) / "Lint.template.json"
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "parseable", str(template)],
        capture_output=True,
        text=True,
        check=False,
    )
    errors = [line for line in result.stdout.splitlines() if ":E" in line]
    assert errors == [], result.stdout
    assert result.returncode in (0, 4, 8), result.stdout + result.stderr  # warnings/info only


def test_cdk_cli_synthesizes_offline_and_bundles_arm64(cli_asset: Path) -> None:
    asset = cli_asset
    assert (asset / "s3seal" / "envelope" / "stream.py").exists()
    assert (asset / "s3seal" / "rootkey" / "rotation.py").exists()
    assert (asset / "aws_lambda_powertools").is_dir()
    # Active tracing makes Powertools' Tracer import the X-Ray SDK when the function starts.
    assert (asset / "aws_xray_sdk").is_dir()
    [binding] = list((asset / "cryptography").rglob("_rust*.so"))
    header = binding.read_bytes()[:20]
    assert header[:4] == b"\x7fELF"
    assert int.from_bytes(header[18:20], "little") == ELF_MACHINE_AARCH64
    # Only the runtime's bytecode: none of this machine's leaks in from lambda/s3seal.
    tags = {path.name.split(".")[-2] for path in asset.rglob("*.pyc")}
    assert tags == {"cpython-314"}
    # Every distribution in the asset is one the hash lock names, at the locked version.
    lock = {
        name.lower(): version
        for name, version in re.findall(
            r"^([A-Za-z0-9._-]+)==(\S+)", REQUIREMENTS_LOCK.read_text(), re.M
        )
    }
    bundled = {
        re.sub(r"[-_.]+", "-", d.name.removesuffix(".dist-info").rsplit("-", 1)[0]).lower(): (
            d.name.removesuffix(".dist-info").rsplit("-", 1)[1]
        )
        for d in asset.glob("*.dist-info")
    }
    assert bundled == lock
