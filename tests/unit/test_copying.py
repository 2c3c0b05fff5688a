"""COPY statements and manifests, to the character."""

from __future__ import annotations

import json

import pytest

from s3seal.copying import (
    COPY_ENCRYPTED_ENDED,
    KEY_PLACEHOLDER,
    CopyOptions,
    DataFormat,
    copy_statement,
    literal,
    manifest,
    manifest_bytes,
)
from s3seal.errors import ConfigError

ROLE = "arn:aws:iam::123456789012:role/RedshiftCopyRole"


def test_client_side_copy_with_placeholder() -> None:
    sql = copy_statement(
        table="public.sales",
        manifest_url="s3://staging/_s3seal/manifests/m.json",
        iam_role=ROLE,
        options=CopyOptions(),
    )
    assert sql == (
        "copy public.sales\n"
        "from 's3://staging/_s3seal/manifests/m.json'\n"
        f"iam_role '{ROLE}'\n"
        f"master_symmetric_key '{KEY_PLACEHOLDER}'\n"
        "manifest encrypted delimiter '|';"
    )


def test_client_side_copy_with_key_gzip_and_header() -> None:
    sql = copy_statement(
        table="sales",
        manifest_url="s3://b/m.json",
        iam_role=ROLE,
        options=CopyOptions(DataFormat.CSV, delimiter=",", ignore_header=1),
        gzip=True,
        master_symmetric_key="cibeQ6J5GwJ8hLrrAdAbb09HjObumZGC/LuzM1RBKRA=",
    )
    assert "master_symmetric_key 'cibeQ6J5GwJ8hLrrAdAbb09HjObumZGC/LuzM1RBKRA='" in sql
    assert sql.endswith("manifest encrypted gzip format as csv ignoreheader 1;")


def test_server_side_copy_has_no_key_and_no_encrypted() -> None:
    sql = copy_statement(
        table="events",
        manifest_url="s3://b/_s3seal/load/batch/manifest.json",
        iam_role=ROLE,
        options=CopyOptions(DataFormat.JSON),
        encrypted=False,
    )
    assert "master_symmetric_key" not in sql and "encrypted" not in sql
    assert sql.endswith("manifest format as json 'auto';")


def test_csv_is_comma_delimited_as_in_redshift() -> None:
    # GIVEN CSV with no delimiter named: COPY's CSV default, a comma, so no delimiter clause
    assert CopyOptions(DataFormat.CSV).clauses() == ["format as csv"]
    assert CopyOptions(DataFormat.CSV).effective_delimiter == ","
    assert CopyOptions(DataFormat.CSV, delimiter=",").clauses() == ["format as csv"]
    # an explicit other delimiter is kept; delimited text keeps its pipe
    assert CopyOptions(DataFormat.CSV, delimiter=";").clauses() == [
        "format as csv",
        "delimiter ';'",
    ]
    assert CopyOptions().clauses() == ["delimiter '|'"]
    assert CopyOptions(DataFormat.DELIMITED, delimiter="\t").clauses() == ["delimiter '\t'"]
    sql = copy_statement(
        table="sales",
        manifest_url="s3://b/_s3seal/load/batch/manifest.json",
        iam_role=ROLE,
        options=CopyOptions(DataFormat.CSV, ignore_header=1),
        encrypted=False,
    )
    assert sql.endswith("manifest format as csv ignoreheader 1;")
    assert "'|'" not in sql


def test_the_end_of_copy_encrypted_is_worded_once() -> None:
    assert "2026-04-30" in COPY_ENCRYPTED_ENDED
    assert "s3seal load --mode server-side" in COPY_ENCRYPTED_ENDED
    assert "SSE-KMS" in COPY_ENCRYPTED_ENDED and "\n" not in COPY_ENCRYPTED_ENDED


def test_literals_are_escaped_and_table_names_checked() -> None:
    sql = copy_statement(
        table='"odd ""name"""',
        manifest_url="s3://b/it's.json",
        iam_role=ROLE,
        options=CopyOptions(),
    )
    assert "from 's3://b/it''s.json'" in sql
    for bad in ("sales; drop table x", "a.b.c.d", "", "x'y"):
        with pytest.raises(ConfigError, match="not a table name"):
            copy_statement(table=bad, manifest_url="s3://b/m", iam_role=ROLE, options=CopyOptions())


def test_manifest_entries_are_mandatory_and_plain_json() -> None:
    urls = ["s3://b/a.csv", "s3://b/ünï.csv"]
    assert manifest(urls) == {
        "entries": [{"url": u, "mandatory": True} for u in urls],
    }
    assert json.loads(manifest_bytes(urls).decode("utf-8")) == manifest(urls)
    with pytest.raises(ValueError, match="at least one"):
        manifest([])


def redshift_reads(sql: str) -> tuple[str, str]:
    """How Redshift reads a string literal at the start of ``sql``: (its value, what follows).
    Inside a literal ``\\`` escapes the next character and ``''`` is a quote."""
    assert sql.startswith("'")
    value, n = [], 1
    while n < len(sql):
        char = sql[n]
        if char == "\\":
            value.append(sql[n + 1])
            n += 2
        elif sql.startswith("''", n):
            value.append("'")
            n += 2
        elif char == "'":
            return "".join(value), sql[n + 1 :]
        else:
            value.append(char)
            n += 1
    raise AssertionError(f"unterminated literal: {sql!r}")


@pytest.mark.parametrize(
    "text",
    [
        "it's",
        "back\\slash",
        "x\\'; drop table sales; --",
        "\\",
        "'\\''",
        "s3://b/k\\\\'\\",
    ],
)
def test_a_literal_reads_back_as_its_text_with_quotes_and_backslashes(text: str) -> None:
    # WHEN text with quotes and backslashes becomes a literal followed by more SQL
    value, rest = redshift_reads(literal(text) + " iam_role 'r';")
    # THEN Redshift reads exactly the text, and the literal ends where it should
    assert value == text
    assert rest == " iam_role 'r';"


def test_a_literal_refuses_nul() -> None:
    with pytest.raises(ConfigError, match="NUL"):
        literal("a\0b")
