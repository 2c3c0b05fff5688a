"""infra/bytecode.py and scripts/compile-pyc.mjs: the asset's bytecode, and loud failures."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infra.bundling import COMPILE_PYC, PYTHON_VERSION
from infra.bytecode import BytecodeError, compile_tree

from .test_asset_bytecode import MAGIC_3_14

UNCHECKED_HASH_FLAGS = (0b01).to_bytes(4, "little")


def tree(root: Path, bad: bool = False) -> Path:
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    (root / "pkg" / "sub" / "mod.py").write_text("def f() -> int:\n    return 2\n")
    if bad:
        (root / "pkg" / "broken.py").write_text("def (\n")
    return root


def test_local_interpreter_writes_unchecked_hash_bytecode(tmp_path: Path) -> None:
    assert compile_tree(tree(tmp_path), ddir="/var/task") == 2
    tag = sys.implementation.cache_tag
    header = (tmp_path / "pkg" / "sub" / "__pycache__" / f"mod.{tag}.pyc").read_bytes()[:8]
    assert header == importlib.util.MAGIC_NUMBER + UNCHECKED_HASH_FLAGS


def test_a_file_that_does_not_compile_is_named(tmp_path: Path) -> None:
    with pytest.raises(BytecodeError, match=r"1 of 3 files did not compile.*pkg/broken\.py"):
        compile_tree(tree(tmp_path, bad=True))


def run_pyodide(root: Path) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    assert node, "Node.js is missing: run make deps"
    return subprocess.run(
        [node, str(COMPILE_PYC), str(root), "--python-version", PYTHON_VERSION],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_pyodide_writes_bytecode_for_3_14(tmp_path: Path) -> None:
    result = run_pyodide(tree(tmp_path))
    assert result.returncode == 0, result.stderr
    header = (tmp_path / "pkg" / "__pycache__" / "__init__.cpython-314.pyc").read_bytes()[:8]
    assert header == MAGIC_3_14 + UNCHECKED_HASH_FLAGS


def test_pyodide_fails_loudly_naming_the_file(tmp_path: Path) -> None:
    result = run_pyodide(tree(tmp_path, bad=True))
    assert result.returncode != 0
    assert "pkg/broken.py" in result.stderr
