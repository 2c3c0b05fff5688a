#!/usr/bin/env python3
"""Regenerate ``lambda/requirements.lock``: every distribution the Lambda asset bundles, pinned,
with the SHA-256 of the one wheel pip picks for the Lambda platform (Linux arm64, CPython 3.14).

Run after changing ``lambda/requirements.txt``:

    .venv/bin/python scripts/lock_lambda_requirements.py

It resolves ``lambda/requirements.txt`` (top-level pins, all transitive dependencies) with

    pip download --only-binary=:all: --platform manylinux2014_aarch64 --implementation cp \\
        --python-version 3.14 -d <empty temporary directory> -r lambda/requirements.txt

and hashes each downloaded wheel with hashlib (what ``pip hash`` prints). The bundling and the
Makefile then install from the lock with ``--require-hashes --no-deps``: nothing resolves
freely, and a wheel whose bytes differ from the locked ones is refused.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "lambda" / "requirements.txt"
LOCK = ROOT / "lambda" / "requirements.lock"
PLATFORM = ["--platform", "manylinux2014_aarch64", "--implementation", "cp"]
PYTHON_VERSION = ["--python-version", "3.14"]
HEADER = """\
# The Lambda asset's runtime dependencies, every one pinned with the hash of its wheel for
# manylinux2014_aarch64 / CPython 3.14. Generated from lambda/requirements.txt by
# scripts/lock_lambda_requirements.py (do not edit by hand); installed with
# --require-hashes --no-deps by infra/bundling.py and the Makefile.
"""


def wheel_name_and_version(wheel: Path) -> tuple[str, str]:
    """``cffi-2.1.1-cp314-...whl`` -> (``cffi``, ``2.1.1``): a wheel name's first two fields."""
    name, version = wheel.name.split("-")[:2]
    return name.replace("_", "-").lower(), version


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        download = [
            sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
            "--only-binary=:all:", *PLATFORM, *PYTHON_VERSION,
            "-d", tmp, "-r", str(REQUIREMENTS),
        ]  # fmt: skip
        subprocess.run(download, check=True)  # noqa: S603 (fixed argv)
        lines = []
        for wheel in sorted(Path(tmp).glob("*.whl"), key=wheel_name_and_version):
            name, version = wheel_name_and_version(wheel)
            digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
            lines.append(f"{name}=={version} \\\n    --hash=sha256:{digest}\n")
    LOCK.write_text(HEADER + "".join(lines))
    print(f"{LOCK.relative_to(ROOT)}: {len(lines)} distributions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
