"""COPY manifests and statements for Amazon Redshift: pure text, no I/O.

A manifest is plain UTF-8 JSON, never encrypted or compressed. One COPY takes one
``master_symmetric_key``, so objects wrapped under different root-key versions need separate
manifests and statements.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from .errors import ConfigError

KEY_PLACEHOLDER = "<base64 root key>"
_IDENTIFIER = re.compile(r'^(?:[A-Za-z_][A-Za-z0-9_$]*|"(?:[^"]|"")+")$')


class DataFormat(StrEnum):
    """How COPY parses the files."""

    DELIMITED = "delimited"
    CSV = "csv"
    JSON = "json"


@dataclass(frozen=True)
class CopyOptions:
    """The data-format part of a COPY."""

    data_format: DataFormat = DataFormat.DELIMITED
    delimiter: str = "|"
    ignore_header: int = 0

    def clauses(self) -> list[str]:
        if self.data_format is DataFormat.JSON:
            return ["format as json 'auto'"]
        out = ["format as csv"] if self.data_format is DataFormat.CSV else []
        if self.data_format is DataFormat.DELIMITED or self.delimiter != ",":
            out.append(f"delimiter {literal(self.delimiter)}")
        if self.ignore_header:
            out.append(f"ignoreheader {self.ignore_header}")
        return out


def manifest(urls: Iterable[str]) -> dict[str, list[dict[str, object]]]:
    """A COPY manifest naming every URL as mandatory (a missing file fails the COPY)."""
    entries: list[dict[str, object]] = [{"url": url, "mandatory": True} for url in urls]
    if not entries:
        raise ValueError("a manifest needs at least one file")
    return {"entries": entries}


def manifest_bytes(urls: Iterable[str]) -> bytes:
    return json.dumps(manifest(urls), indent=1, ensure_ascii=False).encode("utf-8")


def copy_statement(
    *,
    table: str,
    manifest_url: str,
    iam_role: str,
    options: CopyOptions,
    gzip: bool = False,
    master_symmetric_key: str | None = None,
    encrypted: bool = True,
) -> str:
    """The COPY for a manifest.

    ``encrypted``: the files are in the client-side envelope (``ENCRYPTED`` and the key, or
    ``KEY_PLACEHOLDER`` when ``master_symmetric_key`` is None). Otherwise they are plaintext
    under server-side encryption, which COPY reads with no extra option.
    """
    lines = [
        f"copy {identifier(table)}",
        f"from {literal(manifest_url)}",
        f"iam_role {literal(iam_role)}",
    ]
    if encrypted:
        lines.append(f"master_symmetric_key {literal(master_symmetric_key or KEY_PLACEHOLDER)}")
    clauses = ["manifest"]
    if encrypted:
        clauses.append("encrypted")
    if gzip:
        clauses.append("gzip")
    clauses += options.clauses()
    lines.append(" ".join(clauses))
    return "\n".join(lines) + ";"


def literal(text: str) -> str:
    r"""A Redshift string literal. Quotes are doubled; so are backslashes, which Redshift reads
    as an escape inside a literal (``\'`` is a quote that does not end it, so ``x\'`` doubled
    only for quotes would break out). NUL cannot be in a literal at all."""
    if "\0" in text:
        raise ConfigError("a SQL literal cannot hold a NUL character")
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def identifier(name: str) -> str:
    """A table name, optionally schema-qualified; refused unless it is a plain identifier."""
    parts = name.split(".")
    if not 1 <= len(parts) <= 3 or not all(_IDENTIFIER.match(part) for part in parts):
        raise ConfigError(f"not a table name: {name!r} (expected table or schema.table)")
    return name
