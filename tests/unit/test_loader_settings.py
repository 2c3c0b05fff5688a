"""The loader's settings from environment variables, its batch records and the Data API target."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from s3seal.copying import DataFormat
from s3seal.errors import ConfigError
from s3seal.load.batches import BatchObject, BatchRecord, State, new_batch_id
from s3seal.load.redshift_data import Target
from s3seal.load.settings import LoaderSettings, LoadMode, load_command

ENV = {
    "STAGING_BUCKET": "staging",
    "ROOT_KEY_SECRET_ID": "s3seal/root-key",
    "LOADER_TABLE": "analytics.sales",
    "COPY_IAM_ROLE": "arn:aws:iam::123456789012:role/RedshiftCopyRole",
    "REDSHIFT_DATABASE": "dev",
    "REDSHIFT_WORKGROUP": "analytics",
    "LOAD_KMS_KEY_ID": "alias/s3seal-load",
}


def test_a_complete_environment_gives_every_setting() -> None:
    env = ENV | {
        "LOADER_MODE": "Client-Side",
        "LOAD_PREFIX_FILTER": "sales/",
        "COPY_FORMAT": "csv",
        "COPY_DELIMITER": ",",
        "COPY_IGNORE_HEADER": "1",
        "MIN_FILES": "10",
        "MIN_BYTES": "1048576",
        "MAX_WAIT_SECONDS": "900",
        "MAX_BATCH_FILES": "50",
        "STATEMENT_TIMEOUT_SECONDS": "300",
    }
    settings = LoaderSettings.from_env(env)
    assert settings.mode is LoadMode.CLIENT_SIDE
    assert settings.table == "analytics.sales"
    assert settings.prefix == "sales/"
    assert settings.copy_options.data_format is DataFormat.CSV
    assert settings.copy_options.clauses() == ["format as csv", "ignoreheader 1"]
    assert (settings.min_files, settings.min_bytes, settings.max_wait_seconds) == (10, 2**20, 900)
    assert settings.max_batch_files == 50
    assert settings.statement_timeout_seconds == 300
    assert settings.lock_seconds > settings.statement_timeout_seconds
    assert settings.target.arguments() == {"Database": "dev", "WorkgroupName": "analytics"}


def test_defaults_are_server_side_and_always_load() -> None:
    settings = LoaderSettings.from_env(ENV)
    assert settings.mode is LoadMode.SERVER_SIDE
    assert not settings.thresholds_set
    assert settings.copy_options.clauses() == ["delimiter '|'"]


def test_csv_without_a_delimiter_is_comma_delimited() -> None:
    settings = LoaderSettings.from_env(ENV | {"COPY_FORMAT": "csv"})
    assert settings.copy_options.delimiter is None
    assert settings.copy_options.clauses() == ["format as csv"]
    empty = LoaderSettings.from_env(ENV | {"COPY_FORMAT": "csv", "COPY_DELIMITER": ""})
    assert empty.copy_options.clauses() == ["format as csv"]
    tabs = LoaderSettings.from_env(ENV | {"COPY_FORMAT": "csv", "COPY_DELIMITER": "\t"})
    assert tabs.copy_options.clauses() == ["format as csv", "delimiter '\t'"]


def test_load_command_gives_the_options_that_set_these_variables() -> None:
    env = ENV | {"COPY_FORMAT": "csv", "MIN_FILES": "0", "LOADER_MODE": "server-side"}
    command = load_command(env)
    assert command == (
        "s3seal load --bucket staging --table analytics.sales --mode server-side "
        "--iam-role arn:aws:iam::123456789012:role/RedshiftCopyRole --database dev "
        "--workgroup analytics --key-secret s3seal/root-key --kms-key alias/s3seal-load "
        "--format csv"
    )
    assert load_command({"LOADER_TABLE": "it's"}) == "s3seal load --table 'it'\"'\"'s'"


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"LOADER_TABLE": ""}, "LOADER_TABLE"),
        ({"LOADER_TABLE": "sales; drop table x"}, "LOADER_TABLE"),
        ({"STAGING_BUCKET": " "}, "STAGING_BUCKET"),
        ({"COPY_IAM_ROLE": ""}, "COPY_IAM_ROLE"),
        ({"REDSHIFT_DATABASE": ""}, "REDSHIFT_DATABASE"),
        ({"ROOT_KEY_SECRET_ID": ""}, "ROOT_KEY_SECRET_ID"),
        ({"LOADER_MODE": "sideways"}, "LOADER_MODE"),
        ({"COPY_FORMAT": "parquet"}, "COPY_FORMAT"),
        ({"MIN_FILES": "many"}, "MIN_FILES"),
        ({"MIN_BYTES": "-1"}, "MIN_BYTES"),
        ({"MAX_WAIT_SECONDS": "1.5"}, "MAX_WAIT_SECONDS"),
        ({"COPY_IGNORE_HEADER": "x"}, "COPY_IGNORE_HEADER"),
        ({"COPY_DELIMITER": "||"}, "COPY_DELIMITER"),
        ({"MAX_BATCH_FILES": "0"}, "MAX_BATCH_FILES"),
        ({"LOAD_KMS_KEY_ID": ""}, "LOAD_KMS_KEY_ID"),
        ({"LOAD_PREFIX_FILTER": "_s3seal/load/"}, "LOAD_PREFIX_FILTER"),
        ({"REDSHIFT_CLUSTER_ID": "analytics"}, "REDSHIFT_CLUSTER_ID"),
        ({"REDSHIFT_WORKGROUP": ""}, "REDSHIFT_WORKGROUP"),
        ({"REDSHIFT_DB_USER": "loader"}, "REDSHIFT_DB_USER"),
        ({"STATEMENT_TIMEOUT_SECONDS": "0"}, "STATEMENT_TIMEOUT_SECONDS"),
    ],
)
def test_a_bad_value_names_its_variable(changes: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        LoaderSettings.from_env(ENV | changes)


def test_client_side_mode_needs_no_kms_key() -> None:
    env = {k: v for k, v in ENV.items() if k != "LOAD_KMS_KEY_ID"} | {"LOADER_MODE": "client-side"}
    assert LoaderSettings.from_env(env).load_kms_key_id is None


@pytest.mark.parametrize(
    ("target", "arguments"),
    [
        (
            Target("dev", cluster_identifier="c1", secret_arn="arn:s"),
            {"Database": "dev", "ClusterIdentifier": "c1", "SecretArn": "arn:s"},
        ),
        (
            Target("dev", cluster_identifier="c1", db_user="loader"),
            {"Database": "dev", "ClusterIdentifier": "c1", "DbUser": "loader"},
        ),
        (Target("dev", workgroup_name="wg1"), {"Database": "dev", "WorkgroupName": "wg1"}),
    ],
)
def test_data_api_targets(target: Target, arguments: dict[str, str]) -> None:
    assert target.arguments() == arguments


def test_a_cluster_needs_credentials() -> None:
    with pytest.raises(ConfigError, match="REDSHIFT_SECRET_ARN or REDSHIFT_DB_USER"):
        Target("dev", cluster_identifier="c1")


def test_a_batch_record_round_trips_through_json() -> None:
    record = BatchRecord(
        batch_id="20261124T120000Z-0000000b",
        table="sales",
        mode=LoadMode.SERVER_SIDE,
        key_version="v1",
        gzip=True,
        objects=(BatchObject("a.csv.gz", "ver-1", 10), BatchObject("b.csv.gz", None, 5)),
        state=State.SUBMITTED,
        created_at="2026-11-24T12:00:00+00:00",
        updated_at="2026-11-24T12:00:01+00:00",
        attempt=3,
        statement_id="7d5e4a0e-0000-4000-8000-000000000000",
    )
    doc = record.to_json()
    assert (doc["files"], doc["bytes"]) == (2, 15)
    assert BatchRecord.from_json(doc) == record
    assert record.client_token == "20261124T120000Z-0000000b-retry3"
    assert len(record.client_token) <= 64


def test_batch_ids_sort_by_time_and_are_unique() -> None:
    early, late = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    ids = {new_batch_id(early) for _ in range(100)}
    assert len(ids) == 100
    assert max(ids) < new_batch_id(late)


HOSTILE_BATCH_IDS = [
    "x'); drop table sales; --",
    "a\\'b",
    "../locks/sales",
    "",
    "a b",
    "é",
    "x" * 49,
]


@pytest.mark.parametrize("batch_id", HOSTILE_BATCH_IDS)
def test_a_batch_record_with_a_hostile_batch_id_is_refused_when_read(batch_id: str) -> None:
    doc = {
        "batch_id": batch_id,
        "table": "sales",
        "mode": "server-side",
        "key_version": "v1",
        "gzip": False,
        "objects": [],
        "state": "planned",
        "created_at": "2026-11-24T12:00:00+00:00",
        "updated_at": "2026-11-24T12:00:00+00:00",
    }
    with pytest.raises(ValueError, match="not a batch id"):
        BatchRecord.from_json(doc)
    with pytest.raises(ValueError, match="not a table name"):
        BatchRecord.from_json(doc | {"batch_id": "20261124T120000Z-0000000b", "table": "t'x"})
    assert BatchRecord.from_json(doc | {"batch_id": new_batch_id(datetime.now(UTC))})
