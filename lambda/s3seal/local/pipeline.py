"""The embedded local mode: the real event path on a laptop, with no AWS account.

A moto server on 127.0.0.1 stands in for S3, SQS and Secrets Manager. It is provisioned as the CDK
stack provisions AWS (same names and settings where moto supports them): a versioned landing
bucket whose ``s3:ObjectCreated:*`` notifications go to a queue with a dead-letter queue, a
versioned staging bucket, and a secret holding a freshly generated root key. A worker long-polls
the queue and invokes the real ``s3seal.encrypt.handler.handler`` with SQS batches, as Lambda's
event source mapping does: the batch size is honoured, records reported in
``batchItemFailures`` stay on the queue and come back after the visibility timeout, and after
``max_receive_count`` deliveries the queue moves them to the dead-letter queue.

Deviations from AWS, all moto's or chosen for a laptop: moto's notifications carry no
``versionId`` or ``sequencer`` (the function then reads the current version, and "current wins"
orders versions); the visibility timeout is seconds, not six function timeouts, so a failed record
is retried while you watch; logs go to a file rather than CloudWatch.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import threading
import time
import urllib.request
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import boto3

from .. import storage
from ..config import (
    COMPRESSION,
    DEFAULT_ENVELOPE_FORMAT,
    ENVELOPE_FORMAT,
    LANDING_BUCKETS,
    PART_SIZE_MIB,
    ROOT_KEY_SECRET_ID,
    STAGING_BUCKET,
)
from ..encrypt import handler as handler_module
from ..envelope import Decryptor, EnvelopeMetadata, decrypt_chunks
from ..errors import S3SealError
from ..names import SECRET_VERSION_FIELD
from ..objects import ObjectRef
from ..rootkey.keys import generate_root_key, root_key_from_secret
from .server import (
    LOOPBACK,
    UNCHECKED_SECRET_ACCESS_KEY,
    GuardedMotoServer,
    new_access_key_id,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import DeleteMessageBatchRequestEntryTypeDef

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account


@dataclass(frozen=True)
class LocalSettings:
    """Names and settings, after the CDK stack's (``infra/settings.py``) where moto has them."""

    landing_bucket: str = "s3seal-landing"
    staging_bucket: str = "s3seal-staging"
    queue_name: str = "s3seal-landing-events"
    dead_letter_queue_name: str = "s3seal-landing-events-dlq"
    secret_name: str = "s3seal/root-key"  # noqa: S105 (a name, not a secret)
    max_receive_count: int = 5
    batch_size: int = 10
    visibility_timeout_seconds: int = 5
    function_timeout_seconds: int = 900
    part_size_mib: int = 5
    """The smallest S3 allows, so the demo's larger file goes through a multipart upload."""
    envelope_format: str = DEFAULT_ENVELOPE_FORMAT.value
    compression: str = "none"


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


class LocalContext:
    """The Lambda context the worker hands the handler: a real deadline, as Lambda's is."""

    def __init__(self, timeout_seconds: int, request_id: str) -> None:
        self._deadline = time.monotonic() + timeout_seconds
        self.function_name = "s3seal-local"
        self.memory_limit_in_mb = 1769
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:s3seal-local"
        self.aws_request_id = request_id

    def get_remaining_time_in_millis(self) -> int:
        return max(int((self._deadline - time.monotonic()) * 1000), 0)


class LocalPipeline:
    """A moto server provisioned like the stack, and the worker that feeds the real handler."""

    def __init__(self, settings: LocalSettings | None = None, port: int | None = None) -> None:
        self.settings = settings or LocalSettings()
        self.port = port or free_loopback_port()
        self.endpoint = f"http://{LOOPBACK}:{self.port}"
        self.access_key_id = new_access_key_id()
        """The per-run token: the server refuses requests not signed with it."""
        self._server: GuardedMotoServer | None = None
        self._worker: threading.Thread | None = None
        self._stop = threading.Event()
        self.invocations = 0
        self.failed_records = 0
        self._saved_environment: dict[str, str | None] = {}

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        # The server's per-request log is noise on a terminal.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = GuardedMotoServer(self.port, self.access_key_id)
        try:
            self._server.start()
        except ImportError:
            self._server = None
            raise S3SealError(
                "the local mode needs moto's server: pip install 's3seal[local]'"
            ) from None
        # moto keeps its state per process, not per server: start from nothing. (Signed with
        # this run's key id in the form the guard reads; moto checks no signature.)
        reset = urllib.request.Request(  # noqa: S310 (http, our loopback server)
            f"{self.endpoint}/moto-api/reset",
            method="POST",
            headers={"Authorization": f"AWS4-HMAC-SHA256 Credential={self.access_key_id}/"},
        )
        with urllib.request.urlopen(reset, timeout=10):  # noqa: S310
            pass
        self._configure_environment()
        self.provision()
        self._stop.clear()
        self._worker = threading.Thread(target=self._work, name="s3seal-worker", daemon=True)
        self._worker.start()

    def stop(self) -> None:
        self._stop.set()
        if self._worker is not None:
            self._worker.join(timeout=30)
            self._worker = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        for name, value in self._saved_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_environment = {}
        boto3.DEFAULT_SESSION = None
        handler_module.reset()

    def __enter__(self) -> LocalPipeline:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _configure_environment(self) -> None:
        # The handler is configured from the environment, exactly as in Lambda. What is set here
        # is put back by stop(), so an in-process pipeline leaves its caller's environment alone.
        variables = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": UNCHECKED_SECRET_ACCESS_KEY,
            STAGING_BUCKET: self.settings.staging_bucket,
            LANDING_BUCKETS: self.settings.landing_bucket,
            ROOT_KEY_SECRET_ID: self.settings.secret_name,
            PART_SIZE_MIB: str(self.settings.part_size_mib),
            ENVELOPE_FORMAT: self.settings.envelope_format,
            COMPRESSION: self.settings.compression,
            "POWERTOOLS_SERVICE_NAME": "s3seal",
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
        self._saved_environment = {name: os.environ.get(name) for name in variables}
        os.environ.update(variables)
        # boto3's default session keeps the credentials it first found: drop it, so the
        # function's clients sign with this run's access key id.
        boto3.DEFAULT_SESSION = None
        handler_module.reset()

    # --- clients ----------------------------------------------------------------------------

    def client(self, service: Any) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=UNCHECKED_SECRET_ACCESS_KEY,
        )

    @property
    def s3(self) -> S3Client:
        client: S3Client = self.client("s3")
        return client

    @property
    def sqs(self) -> SQSClient:
        client: SQSClient = self.client("sqs")
        return client

    @property
    def secrets(self) -> SecretsManagerClient:
        client: SecretsManagerClient = self.client("secretsmanager")
        return client

    # --- provisioning -----------------------------------------------------------------------

    def provision(self) -> None:
        s, s3, sqs = self.settings, self.s3, self.sqs
        dlq_url = sqs.create_queue(QueueName=s.dead_letter_queue_name)["QueueUrl"]
        self.dead_letter_queue_url = dlq_url
        dlq_arn = self._queue_arn(dlq_url)
        self.queue_url = sqs.create_queue(
            QueueName=s.queue_name,
            Attributes={
                "VisibilityTimeout": str(s.visibility_timeout_seconds),
                "MessageRetentionPeriod": str(14 * 24 * 3600),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(s.max_receive_count)}
                ),
            },
        )["QueueUrl"]
        self.queue_arn = self._queue_arn(self.queue_url)
        for bucket in (s.landing_bucket, s.staging_bucket):
            s3.create_bucket(Bucket=bucket)
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_notification_configuration(
            Bucket=s.landing_bucket,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {"QueueArn": self.queue_arn, "Events": ["s3:ObjectCreated:*"]}
                ]
            },
        )
        self.secrets.create_secret(
            Name=s.secret_name,
            SecretString=generate_root_key(),
            Description="s3seal root key (local mode)",
        )

    def _queue_arn(self, url: str) -> str:
        attributes = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return attributes["Attributes"]["QueueArn"]

    # --- the worker: Lambda's SQS event source mapping --------------------------------------

    def _work(self) -> None:
        sqs = self.sqs
        while not self._stop.is_set():
            try:
                received = sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=min(self.settings.batch_size, 10),
                    WaitTimeSeconds=1,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                )
            except Exception:
                time.sleep(0.2)
                continue
            messages = received.get("Messages", [])
            if messages:
                self._invoke(sqs, messages)

    def _invoke(self, sqs: SQSClient, messages: list[Any]) -> None:
        event = {"Records": [self._record(message) for message in messages]}
        self.invocations += 1
        context = LocalContext(self.settings.function_timeout_seconds, f"local-{self.invocations}")
        try:
            response = handler_module.handler(event, context)
            failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
        except Exception:
            failed = {message["MessageId"] for message in messages}
        self.failed_records += len(failed)
        done: list[DeleteMessageBatchRequestEntryTypeDef] = [
            {"Id": str(n), "ReceiptHandle": message["ReceiptHandle"]}
            for n, message in enumerate(messages)
            if message["MessageId"] not in failed
        ]
        if done:
            sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=done)

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": REGION,
        }

    # --- looking at the results -------------------------------------------------------------

    def dead_letter_count(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.dead_letter_queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    def staged_key(self, key: str) -> str:
        return key + (".gz" if self.settings.compression == "gzip" else "")

    def wait_until_staged(self, key: str, etag: str, timeout: float = 60.0) -> dict[str, Any]:
        """HEAD of the staged object whose source is this ETag, once it exists."""
        s3 = self.s3
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                head: dict[str, Any] = dict(
                    s3.head_object(Bucket=self.settings.staging_bucket, Key=self.staged_key(key))
                )
                if head.get("Metadata", {}).get("s3seal-source-etag") == etag.strip('"'):
                    return head
            except s3.exceptions.ClientError:
                pass
            time.sleep(0.2)
        raise TimeoutError(
            f"s3://{self.settings.landing_bucket}/{key} was not staged in {timeout:.0f} s"
        )

    def decrypt_staged(self, key: str) -> Iterator[bytes]:
        """The plaintext of a staged object, with the secret version its matdesc names."""
        reader = storage.open_object(
            self.s3, ObjectRef(self.settings.staging_bucket, self.staged_key(key))
        )
        envelope = EnvelopeMetadata.parse(reader.metadata)
        version = envelope.description.get(SECRET_VERSION_FIELD)
        root = root_key_from_secret(self.secrets, self.settings.secret_name, version)
        return decrypt_chunks(Decryptor(root.material, envelope), reader.chunks)

    def landing_versions(self, key: str) -> int:
        listing = self.s3.list_object_versions(Bucket=self.settings.landing_bucket, Prefix=key)
        items = listing.get("Versions", []) + listing.get("DeleteMarkers", [])
        return sum(1 for item in items if item["Key"] == key)


@contextmanager
def logs_to(path: Path) -> Iterator[TextIO]:
    """Send the function's output (structured logs, EMF metrics) to a file, not the terminal.

    Yields the terminal's stdout, for what the person running the command should see.
    Powertools prints metrics with ``print``, so stdout itself is redirected for the session.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    terminal = sys.stdout
    with (
        path.open("a", encoding="utf-8") as stream,
        redirect_stdout(stream),
        warnings.catch_warnings(),
    ):
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        handler = handler_module.logger.registered_handler
        previous = handler.setStream(stream) if isinstance(handler, logging.StreamHandler) else None
        try:
            yield terminal
        finally:
            if isinstance(handler, logging.StreamHandler) and previous is not None:
                handler.setStream(previous)
