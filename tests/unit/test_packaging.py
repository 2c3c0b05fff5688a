"""The wheel is a complete package: licence, type hints, the demo's examples, one version."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import s3seal

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_carries_licence_type_hints_examples_and_the_one_version(
    tmp_path: Path,
) -> None:
    # WHEN a wheel is built from a copy of the sources (setuptools writes build/ next to them;
    # the repository stays untouched) with the installed build backend (no network)
    source = tmp_path / "source"
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        source.mkdir(exist_ok=True)
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "lambda" / "s3seal",
        source / "lambda" / "s3seal",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path), str(source)],
        check=True,
        timeout=300,
    )  # fmt: skip
    # THEN it is named after s3seal.__version__ (pyproject reads it, nowhere else writes it) ...
    (wheel,) = tmp_path.glob("s3seal-*.whl")
    assert wheel.name.startswith(f"s3seal-{s3seal.__version__}-")
    names = set(zipfile.ZipFile(wheel).namelist())
    # ... and holds the licence, the PEP 561 marker and every demo example
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), sorted(names)
    assert "s3seal/py.typed" in names
    examples = ROOT / "lambda" / "s3seal" / "examples"
    shipped = sorted(p.name for p in examples.iterdir() if p.is_file())
    assert len(shipped) >= 3
    for name in shipped:
        assert f"s3seal/examples/{name}" in names
    license_text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in license_text and "Version 2.0" in license_text
