"""The Lambda entry point (``s3seal.encrypt.handler.handler``): events -> pipeline -> response.

One handler for every trigger, recognised by shape (see ``events``):

- SQS (the production path): a partial batch response, so one bad record neither fails nor
  repeats the others. The batch's records are staged concurrently by a pool of
  ``Settings.record_workers`` threads (sized from the function's memory, so object data in
  flight stays within it); records naming the same key run in order in one thread;
- direct S3 notifications and EventBridge events: an error is raised if any object failed, so
  Lambda's asynchronous retries and failure destination take over;
- S3 Batch Operations: ``Succeeded`` / ``TemporaryFailure`` / ``PermanentFailure`` per task.

Inside Lambda the configuration is read at import, so a bad setting fails the init phase with a
message naming the variable. Logs, metrics and traces never carry key material or plaintext:
only object names, sizes, outcomes and error messages (which s3seal writes without secrets).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, Protocol

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from botocore.config import Config

from .. import quiet_sdk
from ..config import Settings
from ..errors import EventError, ObjectTooLargeError, RefusedObjectError, S3SealError
from ..names import (
    FAILURE_REASON_DIMENSION,
    METRIC_BYTES_STAGED,
    METRIC_OBJECTS_FAILED,
    METRIC_OBJECTS_STAGED,
    METRIC_STAGE_DURATION,
    METRICS_NAMESPACE,
    SERVICE,
)
from ..rootkey.keys import CachedRootKey, RootKey
from . import sqs_batch
from .events import (
    BatchJob,
    ObjectEvent,
    Trigger,
    detect,
    from_batch_job,
    from_eventbridge,
    from_s3_notification,
    from_sqs_body,
)
from .pipeline import Action, Outcome, Pipeline

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_s3 import S3Client


TRACED_MODULES = ("botocore",)

# Batch Operations: failures that a retry cannot fix.
PERMANENT_FAILURES: tuple[type[Exception], ...] = (
    ObjectTooLargeError,
    EventError,
    RefusedObjectError,
)

# Metrics are buffered in one shared set that Powertools does not lock: records staged on several
# threads add to it (and emit single metrics) under this lock.
_metrics_lock = threading.Lock()

# Powertools' own variables (POWERTOOLS_SERVICE_NAME, POWERTOOLS_METRICS_NAMESPACE, ...) override
# these defaults: explicit arguments would take precedence over them.
quiet_sdk.pin()  # before any client exists: the SDK never logs bodies
logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE))
metrics = Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", METRICS_NAMESPACE),
    service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE),
)
# Only botocore is patched: it is the only traced library we call. Patching everything would
# import the sqlite3, httplib and requests patches at every cold start, and trace each S3 request
# twice (botocore's subsegment, then http.client's below it).
tracer = Tracer(
    service=os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE),
    patch_modules=TRACED_MODULES,
)


REFUSED = "refused"
"""The action reported for an object whose event was refused (see RefusedObjectError)."""


class InvocationContext(Protocol):
    """What the function needs of the Lambda context (the local worker passes its own)."""

    def get_remaining_time_in_millis(self) -> int: ...


class ObjectsFailedError(S3SealError):
    """Some objects of a direct S3 or EventBridge invocation were not staged (retry them)."""


class App:
    """One configured function: the pipeline and how each trigger is answered."""

    def __init__(self, settings: Settings, s3: S3Client, root_key: Callable[[], RootKey]) -> None:
        self.settings = settings
        self.pipeline = Pipeline(settings, s3, _serialised(root_key))

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> App:
        settings = Settings.from_env(environ)
        # Enough connections for every part in flight plus the HEAD/GET/DELETE around them, for
        # each record in flight.
        config = Config(
            max_pool_connections=settings.record_workers * (settings.parts_in_flight + 4),
            retries={"mode": "standard", "max_attempts": 5},
        )
        s3: S3Client = boto3.client("s3", config=config)
        root_key = CachedRootKey(settings.root_key_secret_id, settings.key_cache_seconds)
        return cls(settings, s3, root_key)

    def handle(self, event: Mapping[str, Any], context: InvocationContext | None) -> dict[str, Any]:
        trigger = detect(event)
        logger.debug("invocation", trigger=trigger.value)
        if trigger is Trigger.SQS:
            # A batch where every record failed is answered like any other (all of them listed),
            # rather than by raising: SQS retries the same messages either way, and the answer
            # keeps one shape for the local worker and the tests.
            return self._sqs_batch(event, context)
        if trigger is Trigger.BATCH_OPERATIONS:
            return self._batch_job(from_batch_job(event), context)
        events = (
            from_eventbridge(event)
            if trigger is Trigger.EVENTBRIDGE
            else from_s3_notification(event)
        )
        return self._direct(events, context)

    # --- triggers ---------------------------------------------------------------------------

    def _sqs_batch(
        self, event: Mapping[str, Any], context: InvocationContext | None
    ) -> dict[str, Any]:
        """Stage the batch's records concurrently; answer with a partial batch response.

        ``batchItemFailures`` lists exactly the failed messages, in the batch's order (see
        ``sqs_batch``); every failure was logged with its reason where it happened.
        """
        batch = sqs_batch.messages(event)
        failed: set[str] = set()
        groups = sqs_batch.same_key_groups(batch)

        def run(group: list[sqs_batch.Message]) -> None:
            # In order: the second record of a key sees what the first staged.
            for message in group:
                try:
                    self._sqs_record(message, context)
                except Exception:
                    failed.add(message.message_id)  # set.add: atomic across the pool's threads

        workers = self.settings.record_pool_size(len(groups))
        if workers == 1:
            for group in groups:
                run(group)
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="s3seal-record") as pool:
                # run() keeps every failure, so the futures only need to finish.
                for future in [pool.submit(run, group) for group in groups]:
                    future.result()
        return sqs_batch.partial_response(batch, failed)

    def _sqs_record(self, message: sqs_batch.Message, context: InvocationContext | None) -> None:
        try:
            if not isinstance(message.body, str):
                raise EventError("SQS message has no body")
            object_events = from_sqs_body(message.body)
        except EventError as exc:
            # Nothing was staged: the message is redelivered, and ends in the dead-letter queue.
            with _log_keys(message_id=message.message_id):
                logger.error("message not understood", reason=type(exc).__name__, error=str(exc))
            raise
        for object_event in object_events:
            # A refusal is logged (with the key) and counted by stage(); the message is then
            # acknowledged, as no redelivery could change the answer.
            with suppress(RefusedObjectError):
                self.stage(object_event, context)

    def _direct(
        self, events: list[ObjectEvent], context: InvocationContext | None
    ) -> dict[str, Any]:
        answers, failed = [], []
        for object_event in events:
            try:
                outcome = self.stage(object_event, context)
            except RefusedObjectError:
                # Logged by stage(); not raised, so Lambda's asynchronous retries do not repeat it.
                answers.append({"source": str(object_event.ref), "action": REFUSED})
            except Exception:
                failed.append(str(object_event.ref))
            else:
                answers.append({"source": str(outcome.source), "action": outcome.action.value})
        if failed:
            raise ObjectsFailedError(f"{len(failed)} of {len(events)} objects not staged: {failed}")
        return {"objects": answers}

    def _batch_job(self, job: BatchJob, context: InvocationContext | None) -> dict[str, Any]:
        results = []
        for task in job.tasks:
            try:
                outcome = self.stage(task.event, context)
            except PERMANENT_FAILURES as exc:
                code, message = "PermanentFailure", str(exc)
            except Exception as exc:
                code, message = "TemporaryFailure", str(exc)
            else:
                code, message = "Succeeded", f"{outcome.action.value}: {outcome.staged or ''}"
            results.append({"taskId": task.task_id, "resultCode": code, "resultString": message})
        return {
            "invocationSchemaVersion": job.schema,
            "treatMissingKeysAs": "PermanentFailure",
            "invocationId": job.invocation_id,
            "results": results,
        }

    # --- one object -------------------------------------------------------------------------

    def stage(self, event: ObjectEvent, context: InvocationContext | None) -> Outcome:
        """Stage one object with its name in every log line; record metrics either way."""
        ref = event.ref
        remaining = _remaining_seconds(context)
        with _log_keys(
            bucket=ref.bucket, key=ref.key, version_id=ref.version_id, sequencer=event.sequencer
        ):
            started = time.monotonic()
            try:
                outcome = self.pipeline.process(event, remaining)
            except Exception as exc:
                reason = type(exc).__name__ if isinstance(exc, S3SealError) else "Unexpected"
                _count_failure(reason)
                if isinstance(exc, RefusedObjectError):
                    logger.error("event refused; nothing touched", reason=reason, error=str(exc))
                elif isinstance(exc, S3SealError):
                    logger.error("object not staged; plaintext kept", reason=reason, error=str(exc))
                else:
                    logger.exception("object not staged; plaintext kept", reason=reason)
                raise
            elapsed_ms = (time.monotonic() - started) * 1000
            if outcome.action is Action.STAGED:
                with _metrics_lock:
                    metrics.add_metric(name=METRIC_OBJECTS_STAGED, unit=MetricUnit.Count, value=1)
                    metrics.add_metric(
                        name=METRIC_BYTES_STAGED,
                        unit=MetricUnit.Bytes,
                        value=outcome.plaintext_bytes,
                    )
                    metrics.add_metric(
                        name=METRIC_STAGE_DURATION, unit=MetricUnit.Milliseconds, value=elapsed_ms
                    )
            logger.info(
                "object " + outcome.action.value,
                action=outcome.action.value,
                staged=str(outcome.staged) if outcome.staged else None,
                plaintext_bytes=outcome.plaintext_bytes,
                staged_bytes=outcome.staged_bytes,
                detail=outcome.detail or None,
                duration_ms=round(elapsed_ms, 1),
            )
            return outcome


def _remaining_seconds(context: InvocationContext | None) -> Callable[[], float] | None:
    if context is None:
        return None
    return lambda: context.get_remaining_time_in_millis() / 1000


def _count_failure(reason: str) -> None:
    with (
        _metrics_lock,
        single_metric(
            name=METRIC_OBJECTS_FAILED,
            unit=MetricUnit.Count,
            value=1,
            namespace=metrics.namespace,
            default_dimensions=metrics.default_dimensions,
        ) as metric,
    ):
        metric.add_dimension(name=FAILURE_REASON_DIMENSION, value=reason)


@contextmanager
def _log_keys(**keys: Any) -> Iterator[None]:
    """Keys on every log line of this thread only (``append_context_keys`` is shared by all)."""
    logger.thread_safe_append_keys(**keys)
    try:
        yield
    finally:
        logger.thread_safe_remove_keys(keys)


def _serialised(root_key: Callable[[], RootKey]) -> Callable[[], RootKey]:
    """``root_key`` called one thread at a time: records starting together on a cold container
    fetch the secret once, then all read the cache."""
    lock = threading.Lock()

    def call() -> RootKey:
        with lock:
            return root_key()

    return call


_app: App | None = None


def app() -> App:
    """The function's App, configured from the environment on first use."""
    global _app  # noqa: PLW0603 (one per warm container, as Lambda reuses the module)
    if _app is None:
        _app = App.from_env(os.environ)
    return _app


def reset() -> None:
    """Forget the configured App (tests and the local worker reconfigure between runs)."""
    global _app  # noqa: PLW0603
    _app = None


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app().handle(event, context)


if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
    # Inside Lambda: read the configuration now, so a bad setting fails the init phase.
    app()
