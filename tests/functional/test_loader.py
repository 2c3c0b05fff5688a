"""The loader against a moto server (S3, Secrets Manager) and a stubbed Redshift Data API.

moto's Data API never finishes a statement, has no BatchExecuteStatement and returns canned
results, so the ``redshift-data`` client is a botocore Stubber: every call the loader makes must be
the next one queued, with exactly the parameters queued (SQL text, target, ClientToken), and an
unexpected call fails the test.

Staged objects are real: encrypted with the envelope under a version of a root-key secret held in
moto, and put with their metadata into a versioned staging bucket.
"""

from __future__ import annotations

import base64
import gzip
import itertools
import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from s3seal.copying import CopyOptions, DataFormat
from s3seal.envelope import Format, encrypt_bytes
from s3seal.errors import LoadError, S3SealError
from s3seal.load import handler as loader_module
from s3seal.load.batches import State
from s3seal.load.execution import CREATE_LOAD_LOG_SQL
from s3seal.load.loader import Loader
from s3seal.load.lock import LOCK_PREFIX
from s3seal.load.redshift_data import DataApiClient
from s3seal.load.settings import LoaderSettings, LoadMode
from s3seal.names import SECRET_ARN_FIELD, SECRET_VERSION_FIELD
from s3seal.rootkey.keys import generate_root_key

from ..conftest import REGION
from .conftest import FakeContext

ROLE = "arn:aws:iam::123456789012:role/RedshiftCopyRole"
KMS_KEY = "arn:aws:kms:us-east-1:123456789012:key/0b4c1f7e-58a1-4c1e-9d7e-3f1a2b3c4d5e"
DB_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:redshift-admin-AbCdEf"
TARGET = {"ClusterIdentifier": "analytics", "Database": "dev", "SecretArn": DB_SECRET}
NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
COPY_FAILED = (
    "Load into table 'sales' failed. Check 'sys_load_error_detail' system table for details."
)


# --- the staging bucket and the root key ---------------------------------------------------------


@dataclass
class Staging:
    s3: Any
    secrets: Any
    bucket: str
    secret_id: str
    secret_arn: str
    keys: dict[str, str] = field(default_factory=dict)
    """Secret version id -> base64 root key."""
    versions: list[str] = field(default_factory=list)

    def rotate(self) -> str:
        """A new root key as the secret's new current version; its version id."""
        key = generate_root_key()
        version = str(
            self.secrets.put_secret_value(SecretId=self.secret_id, SecretString=key)["VersionId"]
        )
        self.keys[version] = key
        self.versions.append(version)
        return version

    def stage(
        self, key: str, plaintext: bytes, version: str | None = None, fmt: Format = Format.V1
    ) -> str:
        """Put ``plaintext`` as s3seal stages it (under ``version``, default the first); returns
        the staged object's version id."""
        version = version or self.versions[0]
        body, metadata = encrypt_bytes(
            base64.b64decode(self.keys[version]),
            plaintext,
            fmt,
            description={SECRET_ARN_FIELD: self.secret_arn, SECRET_VERSION_FIELD: version},
        )
        response = self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, Metadata=metadata)
        return str(response["VersionId"])

    def settings(self, **overrides: Any) -> LoaderSettings:
        values: dict[str, Any] = {
            "staging_bucket": self.bucket,
            "table": "sales",
            "iam_role": ROLE,
            "database": "dev",
            "cluster_identifier": "analytics",
            "secret_arn": DB_SECRET,
            "root_key_secret_id": self.secret_id,
            "load_kms_key_id": KMS_KEY,
            "poll_seconds": 0,
        }
        return LoaderSettings(**(values | overrides))

    def record(self, batch_id: str) -> dict[str, Any]:
        body = self.s3.get_object(Bucket=self.bucket, Key=f"_s3seal/batches/{batch_id}.json")
        doc: dict[str, Any] = json.loads(body["Body"].read())
        return doc

    def records(self) -> list[str]:
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix="_s3seal/batches/")
        return [item["Key"] for item in listed.get("Contents", []) if item["Key"].endswith(".json")]

    def load_versions(self) -> list[dict[str, Any]]:
        """Every object version and delete marker under ``_s3seal/load/``."""
        listed = self.s3.list_object_versions(Bucket=self.bucket, Prefix="_s3seal/load/")
        return [*listed.get("Versions", []), *listed.get("DeleteMarkers", [])]

    def read(self, key: str) -> bytes:
        data: bytes = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return data


@pytest.fixture
def staging(moto_endpoint: str, s3: Any) -> Staging:
    secrets = boto3.client("secretsmanager", endpoint_url=moto_endpoint, region_name=REGION)
    bucket = f"staging-{os.urandom(4).hex()}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    key = generate_root_key()
    name = f"s3seal/root-key-{os.urandom(4).hex()}"
    created = secrets.create_secret(Name=name, SecretString=key)
    return Staging(
        s3=s3,
        secrets=secrets,
        bucket=bucket,
        secret_id=name,
        secret_arn=created["ARN"],
        keys={created["VersionId"]: key},
        versions=[created["VersionId"]],
    )


# --- the stubbed Data API --------------------------------------------------------------------


class Redshift:
    """A ``redshift-data`` client whose answers are queued, each with the exact request expected."""

    def __init__(self) -> None:
        self.client = boto3.client("redshift-data", region_name=REGION)
        self.stubber = Stubber(self.client)
        self.stubber.activate()

    @property
    def api(self) -> DataApiClient:
        return cast("DataApiClient", self.client)

    def _describe(self, statement_id: str, status: str, error: str | None = None) -> None:
        response: dict[str, Any] = {"Id": statement_id, "Status": status}
        if error:
            response["Error"] = error
        self.stubber.add_response("describe_statement", response, {"Id": statement_id})

    def statement(self, sql: str, *, running: int = 0, status: str = "FINISHED") -> str:
        statement_id = str(uuid.uuid4())
        self.stubber.add_response("execute_statement", {"Id": statement_id}, {"Sql": sql, **TARGET})
        for _ in range(running):
            self._describe(statement_id, "STARTED")
        self._describe(statement_id, status)
        return statement_id

    def create_table(self) -> None:
        self.statement(CREATE_LOAD_LOG_SQL)

    def select(self, batch_id: str, *, present: bool) -> None:
        statement_id = self.statement(
            f"select count(*) from s3seal_load_log where batch_id = '{batch_id}';"
        )
        self.stubber.add_response(
            "get_statement_result",
            {"Records": [[{"longValue": 1 if present else 0}]], "TotalNumRows": 1},
            {"Id": statement_id},
        )

    def copy(
        self,
        sqls: list[str],
        token: str,
        batch_id: str,
        *,
        running: int = 0,
        status: str = "FINISHED",
        error: str | None = None,
    ) -> str:
        """One batch_execute_statement (the COPY and the log insert) and its describes."""
        statement_id = str(uuid.uuid4())
        self.stubber.add_response(
            "batch_execute_statement",
            {"Id": statement_id},
            self.copy_params(sqls, token, batch_id),
        )
        for _ in range(running):
            self._describe(statement_id, "STARTED")
        self._describe(statement_id, status, error)
        return statement_id

    def copy_params(self, sqls: list[str], token: str, batch_id: str) -> dict[str, Any]:
        return {
            "Sqls": sqls,
            "ClientToken": token,
            "StatementName": f"s3seal-load-{batch_id}",
            **TARGET,
        }

    def copy_request_fails(self, sqls: list[str], token: str, batch_id: str) -> None:
        self.stubber.add_client_error(
            "batch_execute_statement",
            service_error_code="InternalServerException",
            service_message="injected",
            http_status_code=500,
            expected_params=self.copy_params(sqls, token, batch_id),
        )

    def describe(self, statement_id: str, status: str, error: str | None = None) -> None:
        self._describe(statement_id, status, error)

    def describe_fails(self, statement_id: str) -> None:
        self.stubber.add_client_error(
            "describe_statement",
            service_error_code="InternalServerException",
            service_message="injected",
            http_status_code=500,
            expected_params={"Id": statement_id},
        )

    def cancel(self, statement_id: str) -> None:
        self.stubber.add_response("cancel_statement", {"Status": True}, {"Id": statement_id})

    def done(self) -> None:
        self.stubber.assert_no_pending_responses()

    def before_copy(self, action: Callable[[], None]) -> None:
        """Run ``action`` when the loader calls BatchExecuteStatement (while COPY would run)."""
        self.client.meta.events.register(
            "before-parameter-build.redshift-data.BatchExecuteStatement",
            lambda **_: action(),
        )


@pytest.fixture
def redshift() -> Iterator[Redshift]:
    stub = Redshift()
    yield stub
    stub.stubber.deactivate()


def batch_ids(*names: str) -> Callable[[datetime], str]:
    ids = iter(names)
    return lambda now: next(ids)


def make_loader(
    staging: Staging,
    redshift: Redshift,
    settings: LoaderSettings,
    ids: tuple[str, ...] = (),
    clock: Callable[[], datetime] = lambda: NOW,
    monotonic: Callable[[], float] | None = None,
) -> Loader:
    extra: dict[str, Any] = {"monotonic": monotonic} if monotonic else {}
    return Loader(
        settings,
        staging.s3,
        redshift.api,
        staging.secrets,
        clock=clock,
        sleep=lambda seconds: None,
        batch_ids=batch_ids(*ids) if ids else batch_ids(),
        **extra,
    )


def server_copy(bucket: str, batch_id: str, clauses: str = "manifest delimiter '|'") -> str:
    return (
        "copy sales\n"
        f"from 's3://{bucket}/_s3seal/load/{batch_id}/_s3seal/manifest.json'\n"
        f"iam_role '{ROLE}'\n"
        f"{clauses};"
    )


def log_insert(batch_id: str, files: int) -> str:
    return (
        "insert into s3seal_load_log (batch_id, loaded_at, files) "
        f"values ('{batch_id}', getdate(), {files});"
    )


def entries(manifest: bytes) -> list[dict[str, Any]]:
    doc: dict[str, list[dict[str, Any]]] = json.loads(manifest)
    assert set(doc) == {"entries"}
    return doc["entries"]


B1, B2 = "20261124T120000Z-0000000b", "20261124T120000Z-0000000c"


# --- server-side mode --------------------------------------------------------------------------


def test_server_side_load_decrypts_to_sse_kms_plaintext_and_deletes_it(
    staging: Staging, redshift: Redshift
) -> None:
    # GIVEN two staged objects (one larger than a part: a multipart transient upload)
    big = os.urandom(6 * 1024 * 1024 + 5)
    small = b"1|widget|9.99\n2|gadget|19.50\n"
    staging.stage("sales/2026/a.csv", small)
    staging.stage("sales/2026/b.csv", big)
    bucket = staging.bucket
    seen: dict[str, Any] = {}

    def inspect_while_copy_runs() -> None:
        for item in staging.load_versions():
            head = staging.s3.head_object(
                Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"]
            )
            seen[item["Key"]] = {
                "sse": head.get("ServerSideEncryption"),
                "kms": head.get("SSEKMSKeyId"),
                "body": staging.read(item["Key"]),
            }

    redshift.before_copy(inspect_while_copy_runs)
    redshift.create_table()
    redshift.copy(
        [server_copy(bucket, B1), log_insert(B1, 2)], B1, B1, running=2, status="FINISHED"
    )
    loader = make_loader(staging, redshift, staging.settings(part_size=5 * 1024 * 1024), ids=(B1,))

    # WHEN the loader runs
    summary = loader.run().to_dict()

    # THEN one batch is loaded with both files, the COPY read SSE-KMS plaintext ...
    redshift.done()
    assert summary["batches_loaded"] == 1
    assert summary["files"] == 2
    assert summary["bytes"] == sum(
        o["Size"] for o in staging.s3.list_objects_v2(Bucket=bucket, Prefix="sales/")["Contents"]
    )
    prefix = f"_s3seal/load/{B1}/"
    assert set(seen) == {
        f"{prefix}sales/2026/a.csv",
        f"{prefix}sales/2026/b.csv",
        f"{prefix}_s3seal/manifest.json",
    }
    for item in seen.values():
        assert item["sse"] == "aws:kms"
        assert item["kms"] == KMS_KEY
    assert seen[f"{prefix}sales/2026/a.csv"]["body"] == small
    assert seen[f"{prefix}sales/2026/b.csv"]["body"] == big
    assert entries(seen[f"{prefix}_s3seal/manifest.json"]["body"]) == [
        {"url": f"s3://{bucket}/{prefix}sales/2026/a.csv", "mandatory": True},
        {"url": f"s3://{bucket}/{prefix}sales/2026/b.csv", "mandatory": True},
    ]
    # ... and nothing of it is left: no version, no delete marker
    assert staging.load_versions() == []
    record = staging.record(B1)
    assert record["state"] == "loaded"
    assert record["mode"] == "server-side"
    assert record["statement_id"]
    assert [o["key"] for o in record["objects"]] == ["sales/2026/a.csv", "sales/2026/b.csv"]
    assert all(o["version_id"] for o in record["objects"])


def test_server_side_failed_copy_is_recorded_and_its_plaintext_deleted(
    staging: Staging, redshift: Redshift
) -> None:
    # GIVEN a staged gzip object and a COPY that Redshift refuses
    plaintext = gzip.compress(b"1|widget\n")
    staging.stage("sales/a.csv.gz", plaintext)
    redshift.create_table()
    clauses = "manifest gzip delimiter '|'"
    redshift.copy(
        [server_copy(staging.bucket, B1, clauses), log_insert(B1, 1)],
        B1,
        B1,
        status="FAILED",
        error=COPY_FAILED,
    )
    loader = make_loader(staging, redshift, staging.settings(), ids=(B1,))

    # WHEN the loader runs
    summary = loader.run().to_dict()

    # THEN the batch is failed with Redshift's error text, and no plaintext remains
    redshift.done()
    assert summary["batches_failed"] == 1
    assert summary["failed"] == [{"batch_id": B1, "error": COPY_FAILED}]
    assert staging.load_versions() == []
    record = staging.record(B1)
    assert (record["state"], record["error"]) == ("failed", COPY_FAILED)


def test_statement_timeout_cancels_deletes_plaintext_and_the_next_run_resolves_it(
    staging: Staging, redshift: Redshift
) -> None:
    # GIVEN a COPY that is still running when the statement timeout passes
    staging.stage("sales/a.csv", b"1|a\n")
    redshift.create_table()
    statement_id = redshift.copy(
        [server_copy(staging.bucket, B1), log_insert(B1, 1)], B1, B1, running=1, status="STARTED"
    )
    redshift.cancel(statement_id)
    ticks = itertools.count(0, 100)
    loader = make_loader(
        staging,
        redshift,
        staging.settings(statement_timeout_seconds=150),
        ids=(B1,),
        monotonic=lambda: float(next(ticks)),
    )

    # WHEN the loader runs
    with pytest.raises(LoadError, match=f"batch {B1}.*cancel requested") as caught:
        loader.run()

    # THEN it asked Redshift to cancel, deleted the plaintext, left the batch submitted
    assert caught.value.batch_id == B1
    redshift.done()
    assert staging.load_versions() == []
    assert staging.record(B1)["state"] == "submitted"

    # WHEN the next run finds the statement aborted and the batch not in the load log
    redshift.describe(statement_id, "ABORTED", "Query cancelled on user's request")
    redshift.create_table()
    redshift.select(B1, present=False)
    summary = make_loader(staging, redshift, staging.settings()).run().to_dict()

    # THEN the batch is failed, for retry(batch_id), and not run again
    redshift.done()
    assert summary["failed"] == [{"batch_id": B1, "error": "Query cancelled on user's request"}]


# --- client-side mode --------------------------------------------------------------------------


def test_client_side_one_batch_per_root_key_version_each_with_its_key(
    staging: Staging, redshift: Redshift, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN objects under two root-key versions (the second ones gzip), and one V2 object
    old = staging.versions[0]
    staging.stage("in/a.csv", b"id,name\n1,a\n", version=old)
    staging.stage("in/b.csv", b"id,name\n2,b\n", version=old)
    new = staging.rotate()
    staging.stage("in/c.csv.gz", gzip.compress(b"id,name\n3,c\n"), version=new)
    staging.stage("in/d.csv", b"id,name\n4,d\n", version=new, fmt=Format.V2)
    bucket = staging.bucket
    first, second = sorted([old, new])
    batch_of = {first: B1, second: B2}
    options = CopyOptions(data_format=DataFormat.CSV, delimiter=",", ignore_header=1)

    def client_copy(version: str) -> str:
        gz = " gzip" if version == new else ""
        return (
            "copy sales\n"
            f"from 's3://{bucket}/_s3seal/manifests/{batch_of[version]}.json'\n"
            f"iam_role '{ROLE}'\n"
            f"master_symmetric_key '{staging.keys[version]}'\n"
            f"manifest encrypted{gz} format as csv ignoreheader 1;"
        )

    redshift.create_table()
    for version in (first, second):
        batch_id = batch_of[version]
        files = 2 if version == old else 1
        redshift.copy([client_copy(version), log_insert(batch_id, files)], batch_id, batch_id)
    loader = make_loader(
        staging,
        redshift,
        staging.settings(mode=LoadMode.CLIENT_SIDE, copy_options=options),
        ids=(B1, B2),
    )

    # WHEN the loader runs
    summary = loader.run().to_dict()

    # THEN two batches, each COPY with its own key and its own manifest of the staged objects
    redshift.done()
    assert summary["batches_loaded"] == 2
    assert summary["files"] == 3
    assert summary["unloadable_files"] == 1  # V2: COPY ENCRYPTED reads V1 only
    assert entries(staging.read(f"_s3seal/manifests/{batch_of[old]}.json")) == [
        {"url": f"s3://{bucket}/in/a.csv", "mandatory": True},
        {"url": f"s3://{bucket}/in/b.csv", "mandatory": True},
    ]
    assert entries(staging.read(f"_s3seal/manifests/{batch_of[new]}.json")) == [
        {"url": f"s3://{bucket}/in/c.csv.gz", "mandatory": True},
    ]
    assert staging.record(batch_of[new])["gzip"] is True
    assert staging.record(batch_of[old])["key_version"] == old
    # ... and neither key appears in a log line or a batch record
    logged = "\n".join(repr(vars(record)) for record in caplog.records)
    assert "master_symmetric_key '<base64 root key>'" in logged
    for key in staging.keys.values():
        assert key not in logged
        assert key not in json.dumps([staging.record(B1), staging.record(B2)])


def test_client_side_object_replaced_after_planning_fails_the_batch(
    staging: Staging, redshift: Redshift
) -> None:
    # GIVEN a planned batch whose COPY request failed, then its object was replaced
    staging.stage("in/a.csv", b"1\n")
    settings = staging.settings(mode=LoadMode.CLIENT_SIDE)

    def client_copy(batch_id: str) -> str:
        return (
            "copy sales\n"
            f"from 's3://{staging.bucket}/_s3seal/manifests/{batch_id}.json'\n"
            f"iam_role '{ROLE}'\n"
            f"master_symmetric_key '{staging.keys[staging.versions[0]]}'\n"
            "manifest encrypted delimiter '|';"
        )

    redshift.create_table()
    redshift.copy_request_fails([client_copy(B1), log_insert(B1, 1)], B1, B1)
    with pytest.raises(LoadError, match="stays planned"):
        make_loader(staging, redshift, settings, ids=(B1,)).run()
    staging.stage("in/a.csv", b"2\n")

    # WHEN the next run resolves the planned batch
    redshift.create_table()
    redshift.select(B1, present=False)
    redshift.copy([client_copy(B2), log_insert(B2, 1)], B2, B2)
    summary = make_loader(staging, redshift, settings, ids=(B2,)).run()

    # THEN that batch fails (its COPY would read the new version), and the new version is
    # loaded as a batch of its own
    redshift.done()
    assert [r.batch_id for r in summary.failed] == [B1]
    assert "was replaced" in str(summary.failed[0].error)
    assert [r.batch_id for r in summary.loaded] == [B2]


# --- crash and rerun: exactly once ---------------------------------------------------------------


def test_crash_before_copy_the_rerun_runs_the_same_batch_once(
    staging: Staging, redshift: Redshift
) -> None:
    # GIVEN a run whose COPY request fails after the batch record was written
    staging.stage("sales/a.csv", b"1|a\n")
    sqls = [server_copy(staging.bucket, B1), log_insert(B1, 1)]
    redshift.create_table()
    redshift.copy_request_fails(sqls, B1, B1)
    with pytest.raises(LoadError, match=f"batch {B1}.*stays planned"):
        make_loader(staging, redshift, staging.settings(), ids=(B1,)).run()
    assert staging.record(B1)["state"] == "planned"
    assert staging.load_versions() == []

    # WHEN a new loader runs: Redshift has no trace of the batch
    redshift.create_table()
    redshift.select(B1, present=False)
    redshift.copy(sqls, B1, B1)
    summary = make_loader(staging, redshift, staging.settings()).run()

    # THEN the same batch (same id, same ClientToken, same objects) is loaded once; no new batch
    redshift.done()
    assert [r.batch_id for r in summary.loaded] == [B1]
    assert staging.record(B1)["state"] == "loaded"
    assert staging.record(B1)["attempt"] == 1
    assert staging.records() == [f"_s3seal/batches/{B1}.json"]
    assert staging.load_versions() == []


def test_crash_after_copy_committed_the_rerun_marks_it_loaded_without_a_second_copy(
    staging: Staging, redshift: Redshift
) -> None:
    # GIVEN a run that submitted the COPY, then lost track of it (describe fails)
    staging.stage("sales/a.csv", b"1|a\n")
    sqls = [server_copy(staging.bucket, B1), log_insert(B1, 1)]
    redshift.create_table()
    statement_id = str(uuid.uuid4())
    redshift.stubber.add_response(
        "batch_execute_statement", {"Id": statement_id}, redshift.copy_params(sqls, B1, B1)
    )
    redshift.describe_fails(statement_id)
    with pytest.raises(LoadError, match=f"batch {B1}"):
        make_loader(staging, redshift, staging.settings(), ids=(B1,)).run()
    record = staging.record(B1)
    assert (record["state"], record["statement_id"]) == ("submitted", statement_id)

    # WHEN the rerun finds the statement finished and the batch in the load log
    redshift.describe(statement_id, "FINISHED")
    redshift.create_table()
    redshift.select(B1, present=True)
    summary = make_loader(staging, redshift, staging.settings()).run()

    # THEN it is marked loaded, with no second BatchExecuteStatement (none is queued)
    redshift.done()
    assert [r.batch_id for r in summary.loaded] == [B1]
    assert staging.record(B1)["state"] == "loaded"


def test_crash_before_the_statement_id_was_recorded_the_log_decides(
    staging: Staging, redshift: Redshift
) -> None:
    # GIVEN a COPY that committed, but the record update after submitting it failed
    staging.stage("sales/a.csv", b"1|a\n")
    sqls = [server_copy(staging.bucket, B1), log_insert(B1, 1)]
    redshift.create_table()
    statement_id = str(uuid.uuid4())
    redshift.stubber.add_response(
        "batch_execute_statement", {"Id": statement_id}, redshift.copy_params(sqls, B1, B1)
    )
    record_key = f"_s3seal/batches/{B1}.json"
    writes = itertools.count(1)

    def fail_second_record_write(params: dict[str, Any], **_: Any) -> None:
        if params.get("Key") == record_key and next(writes) == 2:
            raise ClientError(
                {"Error": {"Code": "InternalError", "Message": "injected"}}, "PutObject"
            )

    staging.s3.meta.events.register("before-parameter-build.s3.PutObject", fail_second_record_write)
    try:
        with pytest.raises(S3SealError):
            make_loader(staging, redshift, staging.settings(), ids=(B1,)).run()
    finally:
        staging.s3.meta.events.unregister(
            "before-parameter-build.s3.PutObject", fail_second_record_write
        )
    assert staging.record(B1)["state"] == "planned"
    assert staging.load_versions() == []

    # WHEN the rerun asks the load log
    redshift.create_table()
    redshift.select(B1, present=True)
    summary = make_loader(staging, redshift, staging.settings()).run()

    # THEN loaded, no second COPY
    redshift.done()
    assert [r.batch_id for r in summary.loaded] == [B1]


def test_two_runs_without_new_objects_the_second_does_nothing(
    staging: Staging, redshift: Redshift
) -> None:
    # GIVEN a loaded batch, an object whose matdesc names no key version, and plaintext left by
    # a crash between an earlier COPY and its cleanup
    staging.stage("sales/a.csv", b"1|a\n")
    body, metadata = encrypt_bytes(os.urandom(32), b"x")  # matdesc "{}"
    staging.s3.put_object(
        Bucket=staging.bucket, Key="sales/unknown-key.csv", Body=body, Metadata=metadata
    )
    redshift.create_table()
    redshift.copy([server_copy(staging.bucket, B1), log_insert(B1, 1)], B1, B1)
    first = make_loader(staging, redshift, staging.settings(), ids=(B1,)).run()
    assert [r.batch_id for r in first.loaded] == [B1]
    staging.s3.put_object(Bucket=staging.bucket, Key=f"_s3seal/load/{B1}/sales/a.csv", Body=b"1")

    # WHEN the loader runs again (any Data API call would be unexpected)
    heads: list[str] = []

    def note_head(params: dict[str, Any], **_: Any) -> None:
        heads.append(params["Key"])

    staging.s3.meta.events.register("before-parameter-build.s3.HeadObject", note_head)
    try:
        summary = make_loader(staging, redshift, staging.settings(), ids=(B2,)).run().to_dict()
    finally:
        staging.s3.meta.events.unregister("before-parameter-build.s3.HeadObject", note_head)

    # THEN nothing is planned or loaded; the stale plaintext is gone
    redshift.done()
    assert summary["batches_loaded"] == summary["batches_failed"] == 0
    assert summary["pending_files"] == 0
    assert summary["unloadable_files"] == 1
    assert staging.records() == [f"_s3seal/batches/{B1}.json"]
    assert staging.load_versions() == []
    assert heads == ["sales/unknown-key.csv"]  # the claimed object is known by its ETag


def test_batches_of_another_table_are_neither_resolved_nor_claims(
    staging: Staging, redshift: Redshift
) -> None:
    # GIVEN a batch of table "returns" left planned by its loader
    staging.stage("sales/a.csv", b"1|a\n")
    returns_copy = server_copy(staging.bucket, B1).replace("copy sales", "copy returns")
    redshift.create_table()
    redshift.copy_request_fails([returns_copy, log_insert(B1, 1)], B1, B1)
    with pytest.raises(LoadError):
        make_loader(staging, redshift, staging.settings(table="returns"), ids=(B1,)).run()

    # WHEN the loader of table "sales" runs
    redshift.create_table()
    redshift.copy([server_copy(staging.bucket, B2), log_insert(B2, 1)], B2, B2)
    summary = make_loader(staging, redshift, staging.settings(), ids=(B2,)).run()

    # THEN it loads the object into sales and leaves the other batch alone
    redshift.done()
    assert [r.batch_id for r in summary.loaded] == [B2]
    assert staging.record(B1)["state"] == "planned"
    with pytest.raises(LoadError, match="loads table returns, not sales"):
        make_loader(staging, redshift, staging.settings()).retry(B1)


def test_a_failed_batch_is_left_by_run_and_retried_whole_by_retry(
    staging: Staging, redshift: Redshift
) -> None:
    # GIVEN a batch whose COPY failed
    staging.stage("sales/a.csv", b"1|a\n")
    staging.stage("sales/b.csv", b"2|b\n")
    sqls = [server_copy(staging.bucket, B1), log_insert(B1, 2)]
    redshift.create_table()
    redshift.copy(sqls, B1, B1, status="FAILED", error=COPY_FAILED)
    make_loader(staging, redshift, staging.settings(), ids=(B1,)).run()
    claimed = staging.record(B1)["objects"]

    # WHEN run() comes again, with one more object staged
    staging.stage("sales/c.csv", b"3|c\n")
    redshift.create_table()
    redshift.copy([server_copy(staging.bucket, B2), log_insert(B2, 1)], B2, B2)
    summary = make_loader(staging, redshift, staging.settings(), ids=(B2,)).run().to_dict()

    # THEN the failed batch is reported, not retried; only the new object is loaded
    redshift.done()
    assert summary["batches_skipped"] == 1
    assert summary["awaiting_retry"] == [B1]
    assert summary["loaded"] == [B2]
    assert staging.record(B1)["state"] == "failed"

    # WHEN retry(batch_id): Redshift shows it not loaded
    redshift.create_table()
    redshift.select(B1, present=False)
    redshift.copy(sqls, f"{B1}-retry2", B1)
    record = make_loader(staging, redshift, staging.settings()).retry(B1)

    # THEN the same objects are loaded under the same batch id, with a new ClientToken
    redshift.done()
    assert record.state is State.LOADED
    stored = staging.record(B1)
    assert (stored["state"], stored["attempt"], stored["error"]) == ("loaded", 2, None)
    assert stored["objects"] == claimed
    assert staging.load_versions() == []


def test_retry_of_a_batch_that_failed_again_raises_with_redshifts_error(
    staging: Staging, redshift: Redshift
) -> None:
    staging.stage("sales/a.csv", b"1|a\n")
    sqls = [server_copy(staging.bucket, B1), log_insert(B1, 1)]
    redshift.create_table()
    redshift.copy(sqls, B1, B1, status="FAILED", error="first")
    make_loader(staging, redshift, staging.settings(), ids=(B1,)).run()

    redshift.create_table()
    redshift.select(B1, present=False)
    redshift.copy(sqls, f"{B1}-retry2", B1, status="FAILED", error=COPY_FAILED)
    with pytest.raises(LoadError, match=f"batch {B1} failed again: .*sys_load_error_detail"):
        make_loader(staging, redshift, staging.settings()).retry(B1)
    redshift.done()
    assert staging.load_versions() == []


# --- thresholds and the lock -------------------------------------------------------------------


def test_below_the_thresholds_nothing_is_loaded_until_the_oldest_is_old_enough(
    staging: Staging, redshift: Redshift
) -> None:
    # GIVEN two small fresh objects, fewer than min_files and min_bytes, younger than max_wait
    staging.stage("sales/a.csv", b"1|a\n")
    staging.stage("sales/b.csv", b"2|b\n")
    settings = staging.settings(min_files=5, min_bytes=10**9, max_wait_seconds=3600)
    now = datetime.now(UTC)

    # WHEN the loader runs
    summary = make_loader(staging, redshift, settings, clock=lambda: now).run().to_dict()

    # THEN nothing is planned or loaded (no Data API call: none is queued)
    assert summary["below_threshold"] is True
    assert summary["pending_files"] == 2
    assert staging.records() == []

    # WHEN it runs after max_wait
    redshift.create_table()
    redshift.copy([server_copy(staging.bucket, B1), log_insert(B1, 2)], B1, B1)
    later = now + timedelta(hours=2)
    loaded = make_loader(staging, redshift, settings, ids=(B1,), clock=lambda: later).run()

    # THEN the objects are loaded
    redshift.done()
    assert [r.files for r in loaded.loaded] == [2]


def test_max_batch_files_splits_a_key_group(staging: Staging, redshift: Redshift) -> None:
    for name in ("a", "b", "c"):
        staging.stage(f"sales/{name}.csv", b"1\n")
    redshift.create_table()
    redshift.copy([server_copy(staging.bucket, B1), log_insert(B1, 2)], B1, B1)
    redshift.copy([server_copy(staging.bucket, B2), log_insert(B2, 1)], B2, B2)
    loader = make_loader(staging, redshift, staging.settings(max_batch_files=2), ids=(B1, B2))
    summary = loader.run()
    redshift.done()
    assert [r.files for r in summary.loaded] == [2, 1]
    assert [o["key"] for o in staging.record(B2)["objects"]] == ["sales/c.csv"]


def test_a_second_loader_does_nothing_while_the_lock_is_held(
    staging: Staging, redshift: Redshift
) -> None:
    # GIVEN another loader's lock, valid for an hour
    staging.stage("sales/a.csv", b"1|a\n")
    lock = {"owner": "other", "expires_at": (NOW + timedelta(hours=1)).isoformat()}
    lock_key = f"{LOCK_PREFIX}sales.lock"
    staging.s3.put_object(Bucket=staging.bucket, Key=lock_key, Body=json.dumps(lock).encode())

    # WHEN this loader runs
    summary = make_loader(staging, redshift, staging.settings()).run().to_dict()

    # THEN it does nothing; once the lock has expired it takes over, loads, and releases it
    assert summary["busy"] is True
    assert staging.records() == []
    redshift.create_table()
    redshift.copy([server_copy(staging.bucket, B1), log_insert(B1, 1)], B1, B1)
    later = NOW + timedelta(hours=2)
    taker = make_loader(staging, redshift, staging.settings(), ids=(B1,), clock=lambda: later)
    assert taker.run().to_dict()["loaded"] == [B1]
    redshift.done()
    versions = staging.s3.list_object_versions(Bucket=staging.bucket, Prefix=lock_key)
    assert versions.get("Versions", []) == []
    assert versions.get("DeleteMarkers", []) == []


# --- the Lambda entry point --------------------------------------------------------------------


def test_handler_runs_the_configured_loader_and_returns_a_summary(
    staging: Staging, redshift: Redshift, monkeypatch: pytest.MonkeyPatch
) -> None:
    staging.stage("sales/a.csv", b"1|a\n")
    redshift.create_table()
    redshift.copy([server_copy(staging.bucket, B1), log_insert(B1, 1)], B1, B1)
    monkeypatch.setattr(
        loader_module, "_loader", make_loader(staging, redshift, staging.settings(), ids=(B1,))
    )
    context: Any = FakeContext(function_name="s3seal-load")

    result = loader_module.handler({}, context)

    redshift.done()
    assert result["batches_loaded"] == 1
    assert result["files"] == 1
    assert result["bytes"] > 0
    assert result["batches_failed"] == result["batches_skipped"] == 0


def test_handler_retries_the_batch_an_event_names(
    staging: Staging, redshift: Redshift, monkeypatch: pytest.MonkeyPatch
) -> None:
    staging.stage("sales/a.csv", b"1|a\n")
    sqls = [server_copy(staging.bucket, B1), log_insert(B1, 1)]
    redshift.create_table()
    redshift.copy(sqls, B1, B1, status="FAILED", error=COPY_FAILED)
    make_loader(staging, redshift, staging.settings(), ids=(B1,)).run()
    redshift.create_table()
    redshift.select(B1, present=False)
    redshift.copy(sqls, f"{B1}-retry2", B1)
    monkeypatch.setattr(
        loader_module, "_loader", make_loader(staging, redshift, staging.settings())
    )
    context: Any = FakeContext(function_name="s3seal-load")

    result = loader_module.handler({"retry": B1}, context)

    redshift.done()
    assert (result["loaded"], result["files"]) == ([B1], 1)


def test_a_forged_batch_record_with_a_hostile_batch_id_never_reaches_sql(
    staging: Staging, redshift: Redshift
) -> None:
    # GIVEN a batch record written by someone else, its batch id made to break out of a literal
    hostile = "x\\'); drop table sales; --"
    forged = {
        "batch_id": hostile,
        "table": "sales",
        "mode": "server-side",
        "key_version": staging.versions[0],
        "gzip": False,
        "objects": [],
        "state": "submitted",
        "created_at": "2026-11-24T12:00:00+00:00",
        "updated_at": "2026-11-24T12:00:00+00:00",
    }
    staging.s3.put_object(
        Bucket=staging.bucket, Key="_s3seal/batches/forged.json", Body=json.dumps(forged).encode()
    )
    loader = make_loader(staging, redshift, staging.settings())
    # WHEN the loader runs, or is asked to retry that id
    with pytest.raises(LoadError, match="not a batch record"):
        loader.run()
    with pytest.raises(S3SealError, match="not a batch id"):
        loader.retry(hostile)
    # THEN nothing was sent to Redshift (the stub fails any call it was not given)
    redshift.done()


def test_server_side_loads_v3_as_comma_delimited_csv_from_the_load_options(
    staging: Staging, redshift: Redshift
) -> None:
    # GIVEN a V3 object (the default staging format) and the loader configured as
    # `s3seal load --format csv --ignore-header 1` configures it: no delimiter named
    plaintext = b"id,name\n1,a\n"
    staging.stage("in/a.csv", plaintext, fmt=Format.V3)
    bucket = staging.bucket
    environ = {
        "STAGING_BUCKET": bucket,
        "LOADER_TABLE": "sales",
        "COPY_IAM_ROLE": ROLE,
        "REDSHIFT_DATABASE": "dev",
        "REDSHIFT_CLUSTER_ID": "analytics",
        "REDSHIFT_SECRET_ARN": DB_SECRET,
        "ROOT_KEY_SECRET_ID": staging.secret_id,
        "LOAD_KMS_KEY_ID": KMS_KEY,
        "COPY_FORMAT": "csv",
        "COPY_IGNORE_HEADER": "1",
        "LOADER_POLL_SECONDS": "0",
    }
    seen: dict[str, bytes] = {}
    redshift.before_copy(
        lambda: seen.update(
            (item["Key"], staging.read(item["Key"])) for item in staging.load_versions()
        )
    )
    redshift.create_table()
    # THEN the COPY is a plain one, comma-delimited CSV as in Redshift (no delimiter '|') ...
    redshift.copy(
        [server_copy(bucket, B1, "manifest format as csv ignoreheader 1"), log_insert(B1, 1)],
        B1,
        B1,
    )
    loader = make_loader(staging, redshift, LoaderSettings.from_env(environ), ids=(B1,))

    # WHEN the loader runs
    summary = loader.run().to_dict()

    # ... and it read the V3 object's plaintext, under SSE-KMS, deleted afterwards
    redshift.done()
    assert summary["batches_loaded"] == 1
    assert seen[f"_s3seal/load/{B1}/in/a.csv"] == plaintext
    assert staging.load_versions() == []
