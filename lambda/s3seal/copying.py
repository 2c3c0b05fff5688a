"""COPY manifests and statements for Amazon Redshift: pure text, no I/O.

A manifest is plain UTF-8 JSON, never encrypted or compressed. One COPY takes one
``master_symmetric_key``, so objects wrapped under different root-key versions need separate
manifests and statements.

Amazon Redshift stopped reading client-side-encrypted files in COPY after 2026-04-30
(``COPY_ENCRYPTED_ENDED``). What loads today is plaintext under SSE-KMS: the loader's server-side
bridge decrypts each batch into such transient objects and runs a plain COPY over them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from .errors import ConfigError

KEY_PLACEHOLDER = "<base64 root key>"
COPY_ENCRYPTED_ENDED = (
    "Amazon Redshift stopped reading client-side-encrypted files in COPY after 2026-04-30 "
    "(COPY ... ENCRYPTED MASTER_SYMMETRIC_KEY, which read V1 only). What works: the loader's "
    "server-side bridge (s3seal load --mode server-side, or the loader function in server-side "
    "mode) decrypts each batch into transient SSE-KMS objects and runs a plain COPY."
)
"""One wording, used wherever s3seal might lead someone to COPY ... ENCRYPTED."""
_IDENTIFIER = re.compile(r'^(?:[A-Za-z_][A-Za-z0-9_$]*|"(?:[^"]|"")+")$')


class DataFormat(StrEnum):
    """How COPY parses the files."""

    DELIMITED = "delimited"
    CSV = "csv"
    JSON = "json"

    @property
    def default_delimiter(self) -> str:
        """Redshift's own: ``|`` for delimited text, ``,`` for CSV (JSON has none)."""
        return "," if self is DataFormat.CSV else "|"


@dataclass(frozen=True)
class CopyOptions:
    """The data-format part of a COPY.

    ``delimiter`` None means the format's default, as in Redshift: a comma for CSV, ``|`` for
    delimited text. A delimiter equal to that default is not written out.
    """

    data_format: DataFormat = DataFormat.DELIMITED
    delimiter: str | None = None
    ignore_header: int = 0

    @property
    def effective_delimiter(self) -> str:
        return self.delimiter or self.data_format.default_delimiter

    def clauses(self) -> list[str]:
        if self.data_format is DataFormat.JSON:
            return ["format as json 'auto'"]
        out = ["format as csv"] if self.data_format is DataFormat.CSV else []
        # Delimited text always names its delimiter (the statement reads the same either way);
        # CSV names it only when it is not the comma COPY assumes for CSV.
        if self.data_format is DataFormat.DELIMITED or self.effective_delimiter != ",":
            out.append(f"delimiter {literal(self.effective_delimiter)}")
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
