"""What the local demo says about loading into Amazon Redshift: the path that works today.

Redshift stopped reading client-side-encrypted files in COPY after 2026-04-30, so the demo shows
the loader's server-side bridge (``s3seal load --mode server-side``): each batch decrypted into
transient SSE-KMS objects, a plain COPY over them, then deleted. The local mode has no Redshift,
so it prints the command and the COPY the loader would run, built by the loader's own code.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TextIO

from .. import copying
from ..load import settings as loading
from ..load.inputs import LOAD_MANIFEST_NAME
from ..staged import LOAD_PREFIX

ACCOUNT = "123456789012"  # moto's default account
PLACEHOLDER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/RedshiftCopyRole"
PLACEHOLDER_BATCH = "<batch-id>"
LOAD_FORMATS = {
    ".csv": {loading.COPY_FORMAT: "delimited", loading.COPY_IGNORE_HEADER: "1"},
    ".jsonl": {loading.COPY_FORMAT: "json"},
}
"""How COPY reads each kind of example file, as the loader's settings (the CSVs use ``|``)."""


def demo_prefix(suffix: str) -> str:
    """One prefix per kind of file: a loader loads everything under its prefix into one table."""
    return f"demo/{suffix.lstrip('.').lower() or 'other'}/"


def print_load_guide(
    staging_bucket: str, secret_name: str, compression: str, suffixes: Iterable[str], out: TextIO
) -> None:
    """The load command and the plain COPY it runs, for each kind of staged example file."""
    print(
        "Loading into Amazon Redshift: COPY ... ENCRYPTED ended 2026-04-30 (Redshift no longer\n"
        "reads client-side-encrypted files). The loader's server-side bridge decrypts each batch\n"
        f"into transient SSE-KMS objects under s3://{staging_bucket}/{LOAD_PREFIX}"
        f"{PLACEHOLDER_BATCH}/,\n"
        "runs a plain COPY over them, then deletes them. Against a deployed stack (its\n"
        "LoadCommand output gives the command with your values), one table per prefix:\n",
        file=out,
    )
    for suffix in sorted({s.lower() for s in suffixes} & LOAD_FORMATS.keys()):
        environ = {
            loading.STAGING_BUCKET: staging_bucket,
            loading.LOADER_TABLE: f"public.demo_{suffix.lstrip('.')}",
            loading.LOADER_MODE: loading.LoadMode.SERVER_SIDE.value,
            loading.COPY_IAM_ROLE: PLACEHOLDER_ROLE,
            loading.ROOT_KEY_SECRET_ID: secret_name,
            loading.LOAD_KMS_KEY_ID: "<load key ARN>",
            loading.REDSHIFT_CLUSTER_ID: "<cluster>",
            loading.REDSHIFT_DATABASE: "dev",
            loading.REDSHIFT_DB_USER: "<user>",
            loading.LOAD_PREFIX_FILTER: demo_prefix(suffix),
            **LOAD_FORMATS[suffix],
        }
        settings = loading.LoaderSettings.from_env(environ)
        copy = copying.copy_statement(
            table=settings.table,
            manifest_url=f"s3://{staging_bucket}/{LOAD_PREFIX}{PLACEHOLDER_BATCH}/"
            f"{LOAD_MANIFEST_NAME}",
            iam_role=PLACEHOLDER_ROLE,
            options=settings.copy_options,
            gzip=compression == "gzip",
            encrypted=False,
        )
        print(f"{demo_prefix(suffix)}:\n  {loading.load_command(environ)}", file=out)
        print("  which runs, per batch:\n  " + copy.replace("\n", "\n  ") + "\n", file=out)
