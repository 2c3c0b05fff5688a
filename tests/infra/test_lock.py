"""The Lambda asset is built from a hash-locked, fully pinned requirements file (issue 11)."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import pytest

from infra.bundling import LAMBDA_DIR, REQUIREMENTS_LOCK, ROOT, WHEEL_CACHE, pip_arguments

LOCK_ENTRY = re.compile(
    r"^([a-z0-9][a-z0-9._-]*)==(\S+) \\\n    --hash=sha256:([0-9a-f]{64})$", re.M
)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, tuple[str, str]]:
    """name -> (version, sha256) of every lock entry."""
    return {canonical(n): (v, h) for n, v, h in LOCK_ENTRY.findall(REQUIREMENTS_LOCK.read_text())}


def test_every_lock_line_is_a_pin_with_a_hash() -> None:
    text = REQUIREMENTS_LOCK.read_text()
    body = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(body) == 2 * len(locked()), "every entry: name==version then one --hash line"
    assert {
        "boto3",
        "botocore",
        "s3transfer",
        "urllib3",
        "jmespath",
        "python-dateutil",
        "six",
        "cryptography",
        "cffi",
        "pycparser",
        "aws-lambda-powertools",
        "aws-xray-sdk",
        "wrapt",
    } <= set(locked())


def test_the_lock_agrees_with_the_top_level_pins() -> None:
    pins = re.findall(
        r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==(\S+)",
        (LAMBDA_DIR / "requirements.txt").read_text(),
        re.M,
    )
    assert pins
    lock = locked()
    for name, version in pins:
        assert lock[canonical(name)][0] == version, name


def test_the_cached_wheels_are_the_locked_ones() -> None:
    assert WHEEL_CACHE.is_dir(), "the Lambda wheel cache is missing: run make deps"
    for name, (version, digest) in locked().items():
        wheels = [
            w
            for w in WHEEL_CACHE.glob("*.whl")
            if canonical(w.name.split("-")[0]) == name and w.name.split("-")[1] == version
        ]
        assert len(wheels) == 1, (name, version, wheels)
        assert hashlib.sha256(wheels[0].read_bytes()).hexdigest() == digest, wheels[0]


def test_bundling_and_the_makefile_install_only_from_the_lock_with_hashes() -> None:
    args = pip_arguments("/tmp/target")
    assert {"--require-hashes", "--no-deps"} <= set(args)
    assert args[args.index("-r") + 1] == str(REQUIREMENTS_LOCK)
    makefile = (ROOT / "Makefile").read_text()
    [download] = re.findall(r"pip download(?:[^\n]*\\\n)*[^\n]*", makefile)
    assert "--require-hashes --no-deps" in download
    assert "-r lambda/requirements.lock" in download


def test_bundling_refuses_a_wheel_whose_hash_differs(tmp_path: Path) -> None:
    # GIVEN the lock with one hash changed
    text = REQUIREMENTS_LOCK.read_text()
    _, digest = locked()["six"]
    forged = tmp_path / "requirements.lock"
    forged.write_text(text.replace(digest, "0" * 64))
    args = pip_arguments(str(tmp_path / "asset"))
    args[args.index("-r") + 1] = str(forged)
    # WHEN bundling installs from it THEN pip refuses, naming the mismatch
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "hash" in result.stderr.lower(), result.stderr[-2000:]
    assert not (tmp_path / "asset" / "six.py").exists()


@pytest.mark.parametrize("flag", ["--require-hashes", "--no-deps"])
def test_pip_arguments_are_what_bundling_runs(flag: str) -> None:
    # PipBundling runs exactly pip_arguments(output_dir): no other install path exists.
    source = (ROOT / "infra" / "bundling.py").read_text()
    assert "subprocess.run(pip_arguments(output_dir)" in source
    assert f'"{flag}"' in source
