"""Bytecode for the functions' asset: every ``.py`` compiled to ``__pycache__/NAME.TAG.pyc``.

Standard library only, because this file runs under two interpreters: ``scripts/compile-pyc.mjs``
runs it inside pyodide (CPython 3.14 compiled to WebAssembly, under the Node.js the CDK needs) to
write the Lambda runtime's bytecode at bundling, and ``bench/coldstart.py`` runs it with the local
interpreter to emulate the asset.

The ``.pyc`` files are unchecked hash-based (PEP 552): the runtime loads them without looking at
the source. Timestamp-based ones would be stale in Lambda (the CDK zips every file with the date
1980-01-01, so the source's mtime never matches), and /var/task is read-only, so every cold start
would compile again; checked hash-based ones would hash every source at every import. The asset is
immutable once deployed, so there is nothing to check.
"""

from __future__ import annotations

import argparse
import os
import py_compile
import sys
from pathlib import Path

INVALIDATION = py_compile.PycInvalidationMode.UNCHECKED_HASH


class BytecodeError(Exception):
    """A source file of the asset did not compile, or the interpreter is not the one expected."""


def compile_tree(root: Path, *, ddir: str | None = None) -> int:
    """Compile every ``.py`` under ``root`` for this interpreter; return how many.

    ``ddir`` is the directory the tree will live in (``/var/task``), recorded as the file name in
    the bytecode. Raises ``BytecodeError`` naming every file that failed.
    """
    count = 0
    failures: list[str] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            source = Path(folder) / name
            shown = source.relative_to(root).as_posix()
            try:
                py_compile.compile(
                    str(source),
                    dfile=f"{ddir.rstrip('/')}/{shown}" if ddir else None,
                    doraise=True,
                    invalidation_mode=INVALIDATION,
                )
            except py_compile.PyCompileError as exc:
                failures.append(f"{shown}: {exc.msg.strip()}")
            count += 1
    if failures:
        raise BytecodeError(f"{len(failures)} of {count} files did not compile: {failures}")
    return count


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--ddir", help="where the tree is deployed, e.g. /var/task")
    parser.add_argument("--python-version", help="fail unless this interpreter is X.Y")
    args = parser.parse_args(argv)
    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if args.python_version and args.python_version != running:
        raise BytecodeError(f"bytecode for Python {args.python_version} asked of Python {running}")
    count = compile_tree(args.root, ddir=args.ddir)
    tag = sys.implementation.cache_tag
    print(f"compiled {count} files under {args.root} to {tag} bytecode ({INVALIDATION.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
