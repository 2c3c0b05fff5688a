"""The package's layers, read from its source: which of our modules each module may import.

From the bottom up: ``envelope`` (the format, imports nothing of ours); the base modules at the
package's top level (errors, names, objects, storage, config, ...); ``rootkey``; the two paths,
``encrypt`` and ``load``, which never import each other; ``local``, which runs both; and ``cli``,
which nothing imports. Every import counts: top-level, inside a function, under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

import s3seal

PACKAGE = "s3seal"
ROOT = Path(s3seal.__file__).resolve().parent

ALLOWED: dict[str, frozenset[str]] = {
    "envelope": frozenset({"envelope"}),
    "base": frozenset({"envelope", "base"}),
    "rootkey": frozenset({"envelope", "base", "rootkey"}),
    "encrypt": frozenset({"envelope", "base", "rootkey", "encrypt"}),
    "load": frozenset({"envelope", "base", "rootkey", "load"}),
    "local": frozenset({"envelope", "base", "rootkey", "encrypt", "load", "local"}),
    "cli": frozenset({"envelope", "base", "rootkey", "encrypt", "load", "local", "cli"}),
}
"""Each layer and the layers it may import (itself included)."""


def layer(module: str, packages: frozenset[str]) -> str:
    """``s3seal.rootkey.keys`` -> ``rootkey``; a top-level module (or the package) -> ``base``."""
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in packages:
        return parts[1]
    return "base"


def package_modules(root: Path) -> dict[str, str]:
    """Every module of the package under ``root``: dotted name -> source."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = [PACKAGE, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path.read_text(encoding="utf-8")
    return out


def imported(module: str, source: str, is_package: bool, known: set[str]) -> Iterator[str]:
    """The modules of ours that ``module`` imports, resolved to dotted names."""
    here = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(here.split(".")[: len(here.split(".")) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            elif node.module and node.module.split(".")[0] == PACKAGE:
                target = node.module
            else:
                continue
            # ``from . import storage`` imports the module ``storage``, not the package.
            names = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known]
            yield from names or [target]


def violations(modules: Mapping[str, str], packages: frozenset[str]) -> list[str]:
    """Every import that crosses the layers the wrong way, as ``importer -> imported``."""
    known = set(modules)
    wrong = []
    for module, source in modules.items():
        is_package = any(other.startswith(module + ".") for other in known)
        mine = layer(module, packages)
        for target in imported(module, source, is_package, known):
            theirs = layer(target, packages)
            if theirs not in ALLOWED[mine]:
                wrong.append(f"{module} ({mine}) -> {target} ({theirs})")
    return wrong


def subpackages(root: Path) -> frozenset[str]:
    return frozenset(p.parent.name for p in root.glob("*/__init__.py"))


# --- the package as it is -------------------------------------------------------------------------


def test_every_subpackage_has_a_layer() -> None:
    # A new subpackage must be placed in ALLOWED before the layer rules can say anything about it.
    assert subpackages(ROOT) == set(ALLOWED) - {"base"}


def test_the_package_keeps_its_layers() -> None:
    modules = package_modules(ROOT)
    assert len(modules) > 40  # the whole package was read, not an empty folder
    # The imports were resolved (a resolver that found none would pass any layering):
    handler = modules["s3seal.encrypt.handler"]
    assert "s3seal.rootkey.keys" in set(
        imported("s3seal.encrypt.handler", handler, False, set(modules))
    )
    assert violations(modules, subpackages(ROOT)) == []


# --- the check itself: each rule, broken on purpose, is reported --------------------------------

PACKAGES = frozenset(ALLOWED) - {"base"}
SYNTHETIC = {
    "s3seal": "",
    "s3seal.errors": "",
    "s3seal.storage": "from .errors import S3SealError\n",
    "s3seal.envelope": "",
    "s3seal.envelope.stream": "from . import suites\n",
    "s3seal.envelope.suites": "",
    "s3seal.rootkey": "",
    "s3seal.rootkey.keys": "from ..envelope import stream\nfrom .. import storage\n",
    "s3seal.encrypt": "",
    "s3seal.encrypt.handler": "from ..rootkey.keys import RootKey\n",
    "s3seal.load": "",
    "s3seal.load.loader": "from ..rootkey import keys\n",
    "s3seal.local": "",
    "s3seal.local.run": "from ..encrypt import handler\nfrom ..load.loader import Loader\n",
    "s3seal.cli": "",
    "s3seal.cli.main": "from ..local import run\nfrom ..load import loader\nfrom . import main\n",
}


def test_a_clean_synthetic_package_passes() -> None:
    assert violations(SYNTHETIC, PACKAGES) == []


@pytest.mark.parametrize(
    ("module", "source", "reported"),
    [
        # envelope imports nothing of ours
        ("s3seal.envelope.suites", "from ..errors import S3SealError\n", "s3seal.errors (base)"),
        ("s3seal.envelope.suites", "import s3seal.storage\n", "s3seal.storage (base)"),
        # base modules import no subpackage but envelope
        ("s3seal.storage", "from .rootkey.keys import X\n", "s3seal.rootkey.keys (rootkey)"),
        ("s3seal.storage", "from .encrypt import handler\n", "s3seal.encrypt.handler (encrypt)"),
        # rootkey imports neither path, nor local or cli
        ("s3seal.rootkey.keys", "from ..load.loader import Loader\n", "s3seal.load.loader (load)"),
        ("s3seal.rootkey.keys", "from s3seal.encrypt import handler\n", "(encrypt)"),
        # encrypt and load never import each other (even when only type checking)
        (
            "s3seal.encrypt.handler",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..load import loader\n",
            "s3seal.load.loader (load)",
        ),
        ("s3seal.load.loader", "def f():\n    from ..encrypt import handler\n", "(encrypt)"),
        # local imports no cli; nothing but cli imports cli
        ("s3seal.local.run", "from ..cli import main\n", "s3seal.cli.main (cli)"),
        ("s3seal.errors", "from . import cli\n", "s3seal.cli (cli)"),
        ("s3seal.load.loader", "from ..local import run\n", "s3seal.local.run (local)"),
    ],
)
def test_each_broken_rule_is_reported(module: str, source: str, reported: str) -> None:
    broken = {**SYNTHETIC, module: source}
    found = violations(broken, PACKAGES)
    assert len(found) == 1
    assert found[0].startswith(f"{module} (") and found[0].endswith(reported)
