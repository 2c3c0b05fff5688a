"""The encrypting function against a moto server: buckets, the root key secret, events, an App."""

from __future__ import annotations

import base64
import copy
import io
import itertools
import json
import logging
import os
import threading
from collections.abc import Callable, Container, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast
from urllib.parse import parse_qsl, urlsplit

import boto3
import pytest
from aws_lambda_powertools import Logger
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, ReadTimeoutError, ResponseStreamingError
from botocore.response import StreamingBody

from s3seal.config import Settings
from s3seal.encrypt.handler import App
from s3seal.envelope import decrypt_bytes
from s3seal.rootkey.keys import CachedRootKey, generate_root_key

from ..conftest import REGION

EVENTS = Path(__file__).parent.parent / "events"
_sequencers = itertools.count(0x0055AED6DCD90281E5)


def load_event(name: str) -> dict[str, Any]:
    """A real-shaped event from tests/events/, as a fresh copy to fill in."""
    doc: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return doc


@dataclass
class FakeContext:
    """The parts of the Lambda context the handler and Powertools read."""

    remaining_ms: int = 900_000
    function_name: str = "s3seal-encrypt"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:s3seal-encrypt"
    aws_request_id: str = "3b0bd1b6-4c1e-4c7a-9a53-4a1d4f9e0c2e"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@dataclass(frozen=True)
class Landed:
    """An object put into the landing bucket, with what S3 would say about it in an event."""

    bucket: str
    key: str
    body: bytes
    version_id: str | None
    etag: str
    sequencer: str


@dataclass
class Harness:
    s3: Any
    secrets: Any
    landing: str
    staging: str
    secret_id: str
    root_key_b64: str
    secret_calls: list[str] = field(default_factory=list)

    @property
    def root_key(self) -> bytes:
        return base64.b64decode(self.root_key_b64)

    # --- landing and events -----------------------------------------------------------------

    def put(self, key: str, body: bytes, content_type: str | None = None) -> Landed:
        extra = {"ContentType": content_type} if content_type else {}
        response = self.s3.put_object(Bucket=self.landing, Key=key, Body=body, **extra)
        return Landed(
            bucket=self.landing,
            key=key,
            body=body,
            version_id=response.get("VersionId"),
            etag=response["ETag"].strip('"'),
            sequencer=f"{next(_sequencers):018X}",
        )

    def s3_record(self, landed: Landed, *, encoded_key: str | None = None) -> dict[str, Any]:
        """The S3 notification record S3 sends for ``landed`` (key URL-encoded as S3 does)."""
        from urllib.parse import quote_plus

        record: dict[str, Any] = copy.deepcopy(load_event("s3_notification.json")["Records"][0])
        record["s3"]["bucket"]["name"] = landed.bucket
        record["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{landed.bucket}"
        obj = record["s3"]["object"]
        obj["key"] = encoded_key if encoded_key is not None else quote_plus(landed.key, safe="/")
        obj["size"] = len(landed.body)
        obj["eTag"] = landed.etag
        obj["sequencer"] = landed.sequencer
        if landed.version_id:
            obj["versionId"] = landed.version_id
        else:
            del obj["versionId"]
        return record

    def notification(self, *landed: Landed) -> dict[str, Any]:
        return {"Records": [self.s3_record(item) for item in landed]}

    def sqs_event(self, *bodies: dict[str, Any] | str) -> dict[str, Any]:
        template = load_event("sqs_envelope.json")["Records"][0]
        records = []
        for number, body in enumerate(bodies):
            record = copy.deepcopy(template)
            record["messageId"] = f"message-{number}"
            record["body"] = body if isinstance(body, str) else json.dumps(body)
            records.append(record)
        return {"Records": records}

    # --- the function -----------------------------------------------------------------------

    def settings(self, **overrides: str) -> Settings:
        env = {
            "STAGING_BUCKET": self.staging,
            "LANDING_BUCKETS": self.landing,
            "ROOT_KEY_SECRET_ID": self.secret_id,
        }
        return Settings.from_env(env | overrides)

    def app(self, **env: str) -> App:
        root_key = CachedRootKey(self.secret_id, 300, client=self.secrets)
        return App(self.settings(**env), self.s3, root_key)

    # --- what ended where -------------------------------------------------------------------

    def staged(self, key: str) -> tuple[bytes, dict[str, str], dict[str, Any]]:
        """The staged object's body, user metadata and the whole GET response."""
        response = self.s3.get_object(Bucket=self.staging, Key=key)
        return response["Body"].read(), response["Metadata"], response

    def staged_plaintext(self, key: str) -> bytes:
        body, metadata, _ = self.staged(key)
        return decrypt_bytes(self.root_key, body, metadata)

    def versions(self, bucket: str, key: str | None = None) -> list[dict[str, Any]]:
        """Every version and delete marker in ``bucket`` (of ``key``, if given)."""
        response = self.s3.list_object_versions(Bucket=bucket, **({"Prefix": key} if key else {}))
        items = response.get("Versions", []) + response.get("DeleteMarkers", [])
        return [item for item in items if key is None or item["Key"] == key]

    def pending_uploads(self) -> list[dict[str, Any]]:
        out = []
        for bucket in (self.landing, self.staging):
            out += self.s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        return out


def _new_bucket(s3: Any, prefix: str) -> str:
    name = f"{prefix}-{os.urandom(4).hex()}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


@pytest.fixture
def harness(moto_endpoint: str, s3: Any) -> Iterator[Harness]:
    secrets = boto3.client("secretsmanager", endpoint_url=moto_endpoint, region_name=REGION)
    secret_id = f"s3seal/root-key-{os.urandom(4).hex()}"
    root_key_b64 = generate_root_key()
    secrets.create_secret(Name=secret_id, SecretString=root_key_b64)
    h = Harness(
        s3=s3,
        secrets=secrets,
        landing=_new_bucket(s3, "landing"),
        staging=_new_bucket(s3, "staging"),
        secret_id=secret_id,
        root_key_b64=root_key_b64,
    )
    secrets.meta.events.register(
        "before-call.secrets-manager.GetSecretValue",
        lambda **kwargs: h.secret_calls.append("GetSecretValue"),
    )
    yield h


@contextmanager
def logs_of(logger: Logger) -> Iterator[io.StringIO]:
    """Everything a Powertools logger writes, at DEBUG (it binds its stream at import, so pytest's
    capture would miss it)."""
    stream = io.StringIO()
    log_handler = cast(logging.StreamHandler[Any], logger.registered_handler)
    previous = log_handler.setStream(stream)
    level = logger.log_level
    logger.setLevel("DEBUG")
    try:
        yield stream
    finally:
        logger.setLevel(level)
        if previous is not None:
            log_handler.setStream(previous)


@pytest.fixture
def context() -> FakeContext:
    return FakeContext()


# --- fault injection through botocore's own event system ---------------------------------------

Params = dict[str, Any]
"""An S3 call's API parameters as the caller gave them (``Bucket``, ``Key``, ``PartNumber``)."""
Selector = Callable[[Params], bool]

_RECORDED = (
    "Bucket",
    "Key",
    "VersionId",
    "PartNumber",
    "UploadId",
    "IfMatch",
    "IfNoneMatch",
    "Metadata",
)


def everything(params: Params) -> bool:
    return True


def client_error(operation: str, code: str, status: int) -> ClientError:
    """The error botocore raises when S3 answers ``status`` with ``code``."""
    response: Any = {
        "Error": {"Code": code, "Message": f"injected {code}"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)


class Hits:
    """The calls a hook acted on (their API parameters), counted across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: list[Params] = []

    def add(self, params: Params) -> None:
        with self._lock:
            self.items.append(params)

    def __len__(self) -> int:
        with self._lock:
            return len(self.items)

    def named(self, operation: str, bucket: str | None = None) -> list[Params]:
        """Recorded calls of one operation (to ``bucket``, if given)."""
        with self._lock:
            return [
                p
                for p in self.items
                if p["Operation"] == operation and (bucket is None or p.get("Bucket") == bucket)
            ]


class _Raw:
    """A urllib3-like raw response body for an AWSResponse built by a hook."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


class BreakingBody(StreamingBody):
    """A GET body that delivers ``after`` bytes, then fails as a reset connection does."""

    def __init__(self, body: StreamingBody, after: int, length: int, hits: Hits) -> None:
        super().__init__(cast("IO[bytes]", body), length)
        self._after = after
        self._delivered = 0
        self._hits = hits

    def read(self, amt: int | None = None) -> bytes:
        if self._delivered >= self._after:
            self._hits.add({"delivered": self._delivered})
            raise ResponseStreamingError(error="Connection reset by peer (injected)")
        data = super().read(amt)
        self._delivered += len(data)
        return data


class Faults:
    """Hooks on one botocore client, all removed by ``clear()`` (and by the fixture's teardown).

    A hook acts only on the calls ``when`` selects among one operation, and of those only on the
    ``calls``-th ones (1-based; None: all). Selection happens in ``before-parameter-build``, where
    the API parameters are at hand, and is carried in the request context to the later events
    (``before-call``, ``before-send`` for every attempt, ``after-call``).
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._hooks: list[tuple[str, Callable[..., Any]]] = []
        self._lock = threading.Lock()
        self._tokens = 0

    def on(self, event: str, handler: Callable[..., Any]) -> None:
        self._client.meta.events.register(event, handler)
        self._hooks.append((event, handler))

    def clear(self) -> None:
        """Remove every hook (do it before the test's own S3 calls and assertions)."""
        while self._hooks:
            event, handler = self._hooks.pop()
            self._client.meta.events.unregister(event, handler)

    def _select(self, operation: str, when: Selector, calls: Container[int] | None) -> str:
        with self._lock:
            self._tokens += 1
            token = f"s3seal-test-fault-{self._tokens}"
        seen = [0]

        def mark(params: Params, context: dict[str, Any], **_: Any) -> None:
            if not when(params):
                return
            with self._lock:
                seen[0] += 1
                number = seen[0]
            if calls is None or number in calls:
                context[token] = {k: params[k] for k in _RECORDED if k in params}

        self.on(f"before-parameter-build.s3.{operation}", mark)
        return token

    def fail(
        self,
        operation: str,
        code: str = "InternalError",
        *,
        status: int = 500,
        when: Selector = everything,
        calls: Container[int] | None = None,
        applied: bool = False,
    ) -> Hits:
        """Selected calls raise the ClientError S3 would give for ``code``.

        ``applied``: the request reaches S3 and takes effect, and then the answer is lost (the
        connection closes before the response is read).
        """
        token = self._select(operation, when, calls)
        hits = Hits()

        def before(context: dict[str, Any], **_: Any) -> None:
            if token in context:
                hits.add(context[token])
                raise client_error(operation, code, status)

        def after(http_response: Any, context: dict[str, Any], **_: Any) -> None:
            if token in context:
                hits.add(context[token])
                # after-call runs outside botocore's retry loop: as if every attempt's answer
                # was lost.
                raise ReadTimeoutError(endpoint_url=str(http_response.url))

        if applied:
            self.on(f"after-call.s3.{operation}", after)
        else:
            self.on(f"before-call.s3.{operation}", before)
        return hits

    def respond(
        self,
        operation: str,
        status: int,
        code: str,
        *,
        bucket: str,
        attempts: int | None = None,
    ) -> Hits:
        """The first ``attempts`` HTTP attempts of ``operation`` on ``bucket`` (None: every
        attempt) get an S3 error response instead of being sent; botocore's retry handler sees
        them as it would S3's. (``before-send`` only has the prepared request: selection is by
        the path-style URL the moto endpoint uses.)"""
        hits = Hits()
        body = (
            f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
            f"<Message>injected {code}</Message><RequestId>INJECTED</RequestId></Error>"
        ).encode()

        def before_send(request: Any, **_: Any) -> AWSResponse | None:
            url = urlsplit(request.url)
            if not url.path.startswith(f"/{bucket}/"):
                return None
            with self._lock:
                if attempts is not None and len(hits) >= attempts:
                    return None
                hits.add({"url": request.url, **dict(parse_qsl(url.query))})
            headers: Any = {"Content-Type": "application/xml", "Content-Length": str(len(body))}
            return AWSResponse(request.url, status, headers, _Raw(body))

        self.on(f"before-send.s3.{operation}", before_send)
        return hits

    def break_stream(self, *, after: int, when: Selector = everything) -> Hits:
        """Selected GETs answer normally, but their body fails after ``after`` bytes."""
        token = self._select("GetObject", when, None)
        hits = Hits()

        def wrap(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
            if token in context and "Body" in parsed:
                parsed["Body"] = BreakingBody(
                    parsed["Body"], after, int(parsed["ContentLength"]), hits
                )

        self.on("after-call.s3.GetObject", wrap)
        return hits

    def before(
        self,
        operation: str,
        action: Callable[[Params], None],
        *,
        when: Selector = everything,
        calls: Container[int] | None = None,
    ) -> Hits:
        """Run ``action`` (wait at a barrier, change S3's state...) just before selected calls
        are sent."""
        token = self._select(operation, when, calls)
        hits = Hits()

        def run(context: dict[str, Any], **_: Any) -> None:
            if token in context:
                hits.add(context[token])
                action(context[token])

        self.on(f"before-call.s3.{operation}", run)
        return hits

    def record(self) -> Hits:
        """Every S3 API call from now on (``Operation`` plus the identifying parameters)."""
        hits = Hits()

        def note(params: Params, model: Any, **_: Any) -> None:
            hits.add({"Operation": model.name} | {k: params[k] for k in _RECORDED if k in params})

        self.on("before-parameter-build.s3", note)
        return hits


@pytest.fixture
def faults(harness: Harness) -> Iterator[Faults]:
    """Fault injection on the S3 client the harness gives the App; hooks removed at teardown."""
    injected = Faults(harness.s3)
    yield injected
    injected.clear()


# --- end states -------------------------------------------------------------------------------


def landing_bodies(h: Harness, key: str, bucket: str | None = None) -> list[bytes]:
    """The content of every version of ``key`` in landing, newest first; delete markers fail."""
    bucket = bucket or h.landing
    out = []
    for item in h.versions(bucket, key):
        assert "Size" in item, f"unexpected delete marker for {key}: {item}"
        out.append(
            h.s3.get_object(Bucket=bucket, Key=key, VersionId=item["VersionId"])["Body"].read()
        )
    return out


def staged_versions(h: Harness, key: str) -> list[dict[str, Any]]:
    """Every version and delete marker of ``key`` in staging."""
    return h.versions(h.staging, key)


def sqs_ok() -> dict[str, Any]:
    return {"batchItemFailures": []}


def sqs_failed(*numbers: int) -> dict[str, Any]:
    return {"batchItemFailures": [{"itemIdentifier": f"message-{n}"} for n in numbers]}
