"""The asset carries bytecode the Lambda runtime's Python (3.14) loads as it is.

Each module needs ``__pycache__/NAME.cpython-314.pyc`` with 3.14's magic number and the PEP 552
flags of an unchecked hash-based file: the runtime then never looks at the source's mtime (the
CDK's zip sets every date to 1980) and never compiles on the read-only /var/task.
"""

from __future__ import annotations

from pathlib import Path

# importlib.util.MAGIC_NUMBER of CPython 3.14 (3627, little-endian, then b"\r\n"), as pyodide
# 314.0.8 (CPython 3.14.2) reports it.
MAGIC_3_14 = (3627).to_bytes(2, "little") + b"\r\n"
HASH_BASED = 0b01
CHECK_SOURCE = 0b10


def test_every_module_has_bytecode_that_3_14_loads_without_its_source(cli_asset: Path) -> None:
    sources = sorted(cli_asset.rglob("*.py"))
    assert len(sources) > 500  # s3seal and every dependency, not only our package
    wrong = []
    for source in sources:
        compiled = source.parent / "__pycache__" / f"{source.stem}.cpython-314.pyc"
        if not compiled.is_file():
            wrong.append(f"{source.relative_to(cli_asset)}: no bytecode")
            continue
        header = compiled.read_bytes()[:16]
        flags = int.from_bytes(header[4:8], "little")
        if header[:4] != MAGIC_3_14 or flags & HASH_BASED == 0 or flags & CHECK_SOURCE:
            wrong.append(f"{source.relative_to(cli_asset)}: header {header[:8].hex()}")
    assert wrong == []


def test_bytecode_names_the_task_root(cli_asset: Path) -> None:
    compiled = cli_asset / "s3seal" / "encrypt" / "__pycache__" / "handler.cpython-314.pyc"
    assert b"/var/task/s3seal/encrypt/handler.py" in compiled.read_bytes()


def test_the_asset_leaves_out_the_demo_examples(cli_asset: Path) -> None:
    # The package ships several MiB of demo files (package data); the Lambda has no use for them.
    assert (cli_asset / "s3seal" / "encrypt" / "handler.py").exists()
    assert not (cli_asset / "s3seal" / "examples").exists()
