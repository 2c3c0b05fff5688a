"""The functions' code asset, bundled locally with pip: no Docker needed.

The asset is the ``s3seal`` package plus its runtime dependencies installed for the Lambda
platform (Linux arm64, the runtime's Python). When ``make`` has downloaded those wheels into
``.cache/lambda-wheels``, pip installs from there without touching the network, so ``cdk synth``
works offline. Last, ``write_bytecode`` compiles the whole asset for the runtime's Python (see
``infra/bytecode.py``), so cold starts do not compile it again.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from .access import source_account

ROOT = Path(__file__).resolve().parent.parent
LAMBDA_DIR = ROOT / "lambda"
REQUIREMENTS_LOCK = LAMBDA_DIR / "requirements.lock"
"""Every bundled distribution pinned with its wheel's hash (scripts/lock_lambda_requirements.py)."""
WHEEL_CACHE = ROOT / ".cache" / "lambda-wheels"
RUNTIME = lambda_.Runtime.PYTHON_3_14
PLATFORM = "manylinux2014_aarch64"
PYTHON_VERSION = "3.14"
COMPILE_PYC = ROOT / "scripts" / "compile-pyc.mjs"
PYODIDE = ROOT / "node_modules" / "pyodide"
TASK_ROOT = "/var/task"


def pip_arguments(target: str) -> list[str]:
    """``pip install`` for the Lambda platform; from the local wheel cache when there is one."""
    args = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--no-compile", "--platform", PLATFORM, "--implementation", "cp",
        "--python-version", PYTHON_VERSION, "--only-binary=:all:",
        # The lock names every distribution with its hash: nothing resolves freely, and a wheel
        # whose bytes differ from the locked ones is refused.
        "--require-hashes", "--no-deps",
        "--target", target, "-r", str(REQUIREMENTS_LOCK),
    ]  # fmt: skip
    if WHEEL_CACHE.is_dir() and any(WHEEL_CACHE.glob("*.whl")):
        args += ["--no-index", "--find-links", str(WHEEL_CACHE)]
    return args


@jsii.implements(cdk.ILocalBundling)
class PipBundling:
    """CDK local bundling: copy ``s3seal`` and pip-install its dependencies into the asset."""

    def try_bundle(self, output_dir: str, *, image: Any = None, **_: Any) -> bool:
        subprocess.run(pip_arguments(output_dir), check=True)  # noqa: S603 (fixed argv)
        shutil.copytree(
            LAMBDA_DIR / "s3seal",
            Path(output_dir) / "s3seal",
            # The demo examples (package data, several MiB) have no use in the Lambda.
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "examples"),
            dirs_exist_ok=True,
        )
        write_bytecode(output_dir)
        return True


def write_bytecode(output_dir: str) -> None:
    """Compile every ``.py`` of the asset for the runtime's Python (3.14), which this machine need
    not have: pyodide (CPython on WebAssembly, from npm) runs it under Node.js, offline."""
    node = shutil.which("node")
    if node is None or not PYODIDE.is_dir():
        raise RuntimeError("bundling needs Node.js and node_modules/pyodide: run make deps")
    subprocess.run(  # noqa: S603 (fixed argv); fails the synth with the files that did not compile
        [
            node, str(COMPILE_PYC), output_dir,
            "--ddir", TASK_ROOT, "--python-version", PYTHON_VERSION,
        ],
        check=True,
    )  # fmt: skip


def s3seal_function(
    scope: Construct,
    prefix: str = "",
    *,
    handler: str,
    description: str,
    log_retention: logs.RetentionDays,
    memory_size: int,
    timeout: cdk.Duration,
    environment: dict[str, str],
    reserved_concurrency: int | None = None,
) -> lambda_.Function:
    """One of s3seal's functions: the shared asset on arm64, active tracing, its own log group
    (``{prefix}Logs``) and a role (``{prefix}Role``) that may write only to that log group."""
    log_group = logs.LogGroup(scope, f"{prefix}Logs", retention=log_retention)
    return lambda_.Function(
        scope,
        f"{prefix}Function",
        description=description,
        runtime=RUNTIME,
        architecture=lambda_.Architecture.ARM_64,
        handler=handler,
        code=function_code(),
        memory_size=memory_size,
        timeout=timeout,
        reserved_concurrent_executions=reserved_concurrency,
        tracing=lambda_.Tracing.ACTIVE,
        log_group=log_group,
        role=function_role(scope, f"{prefix}Role", log_group),
        environment=environment,
    )


def function_role(scope: Construct, construct_id: str, log_group: logs.ILogGroup) -> iam.Role:
    """A function role that may write to its own log group and nothing else yet.

    Used instead of the AWSLambdaBasicExecutionRole managed policy, which allows writing to
    every log group in the account.
    """
    role = iam.Role(
        scope,
        construct_id,
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com", conditions=source_account()),
    )
    log_group.grant_write(role)
    return role


def function_code() -> lambda_.Code:
    """The code asset shared by the encrypting and rotation functions."""
    return lambda_.Code.from_asset(
        str(LAMBDA_DIR),
        bundling=cdk.BundlingOptions(
            image=RUNTIME.bundling_image,  # never pulled: local bundling always succeeds
            local=PipBundling(),
            command=["false"],
        ),
        exclude=["**/__pycache__", "**/*.pyc", "s3seal/examples"],
    )
