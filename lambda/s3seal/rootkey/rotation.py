"""The root key's rotation function (``s3seal.rootkey.rotation.handler``), for Secrets Manager.

Secrets Manager starts a rotation by creating a new, still empty version of the secret whose id
is the ``ClientRequestToken`` and labelling it ``AWSPENDING``; it then invokes this function
once per step, with ``{"SecretId", "ClientRequestToken", "Step"}``:

- ``createSecret``: store a fresh root key (base64 of 32 bytes from ``os.urandom``) as the
  token's version, labelled ``AWSPENDING``. If that version already holds a valid key (a retry),
  leave it alone.
- ``setSecret``: nothing to do. The key is used only from the secret, there is no other system
  (a database, say) to tell about it.
- ``testSecret``: the token's ``AWSPENDING`` value must be a root key.
- ``finishSecret``: move ``AWSCURRENT`` to the token's version (Secrets Manager then labels the
  version it left ``AWSPREVIOUS``).

Before any step, as in AWS's ``SecretsManagerRotationTemplate``, the token must be one of the
secret's versions (unlike the template, a secret with no rotation schedule is not refused: the
stack rotates once at deploy without rules when ``root_key_rotation_days`` is 0). A token
already ``AWSCURRENT`` means the rotation has finished, so the step does nothing. A token that
is not ``AWSPENDING`` is refused.

Safety rules:

- A pending key is never regenerated or overwritten: a version's value cannot change, and a
  retried ``createSecret`` must leave the key an earlier attempt stored. A pending value that is
  not a root key is refused, not replaced.
- ``AWSCURRENT`` never moves to a version that is not a valid root key: ``finishSecret`` reads
  and checks the pending value again right before moving the label. The first rotation after
  the stack creates the secret with a generated placeholder password therefore works: the
  placeholder is never read as a key, it just becomes ``AWSPREVIOUS``.
- Old versions are never deleted, and never left without a label: ``finishSecret`` gives the
  outgoing ``AWSCURRENT`` (if it holds a root key) the label ``s3seal-keep-<version id>`` before
  moving ``AWSCURRENT``, because after the next rotation it is no longer ``AWSPREVIOUS`` and
  Secrets Manager may delete unlabelled versions. Objects name the version that wrapped their data
  key in ``x-amz-matdesc`` and stay decryptable with it; ``s3seal keys retire`` removes the label
  once ``s3seal rewrap`` has moved every staged object off that version. Secrets Manager caps
  the staging labels of one secret (20 across its versions, per its quotas page): should
  attaching the label fail, the step fails before ``AWSCURRENT`` moves, so the old key stays
  current and nothing becomes unreadable; retiring unused versions makes room.
- Key material and secret values never appear in a log line or an error message: those name
  the secret, the version and the step. AWS errors become ``SecretError`` here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from aws_lambda_powertools import Logger
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .. import quiet_sdk
from ..errors import (
    EventError,
    InvalidRootKeyError,
    S3SealError,
    SecretError,
    aws_error_code,
    aws_reason,
)
from .keys import generate_root_key, parse_root_key, retain_label

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_secretsmanager import SecretsManagerClient

SERVICE = "s3seal-rotation"
AWSCURRENT = "AWSCURRENT"
AWSPENDING = "AWSPENDING"

quiet_sdk.pin()  # before any client exists: the SDK never logs bodies
logger = Logger(service=SERVICE)

_T = TypeVar("_T")


class Step(StrEnum):
    """The four steps Secrets Manager invokes a rotation function for, in order."""

    CREATE = "createSecret"
    SET = "setSecret"
    TEST = "testSecret"
    FINISH = "finishSecret"


class RotationError(SecretError):
    """The secret is not in a state this rotation step may proceed from."""


# --- entry points -------------------------------------------------------------------------------

_client: SecretsManagerClient | None = None


def secrets_client() -> SecretsManagerClient:
    """The function's Secrets Manager client, created on first use (honours AWS_ENDPOINT_URL)."""
    global _client  # noqa: PLW0603 (one per warm container, as Lambda reuses the module)
    if _client is None:
        _client = boto3.client(
            "secretsmanager", config=Config(retries={"mode": "standard", "max_attempts": 5})
        )
    return _client


def reset() -> None:
    """Forget the client (tests point the function at another endpoint between runs)."""
    global _client  # noqa: PLW0603
    _client = None


@logger.inject_lambda_context(clear_state=True)
def handler(event: Mapping[str, Any], context: LambdaContext) -> None:
    """The Lambda entry point: one rotation step for one secret."""
    secret_id, token, step = parse_event(event)
    rotate(secrets_client(), secret_id, token, step)


def parse_event(event: Mapping[str, Any]) -> tuple[str, str, Step]:
    """(secret id, token, step) from a rotation event; EventError if it is not one."""
    values = []
    for name in ("SecretId", "ClientRequestToken", "Step"):
        value = event.get(name) if isinstance(event, Mapping) else None
        if not isinstance(value, str) or not value:
            raise EventError(f"not a rotation event: {name} is missing or not a string")
        values.append(value)
    secret_id, token, step = values
    return secret_id, token, _step(step)


def rotate(client: SecretsManagerClient, secret_id: str, token: str, step: Step | str) -> None:
    """Run one rotation ``step`` for version ``token`` of ``secret_id``.

    Raises an s3seal error (RotationError, InvalidRootKeyError, SecretError, EventError) naming
    the secret and version, never a value.
    """
    step = _step(step)
    with logger.append_context_keys(secret_id=secret_id, version_id=token, step=step.value):
        try:
            if not _ready(client, secret_id, token):
                return
            _STEPS[step](client, secret_id, token)
        except S3SealError as exc:
            logger.error("rotation step failed", reason=type(exc).__name__, error=str(exc))
            raise


# --- the steps ----------------------------------------------------------------------------------


def create_secret(client: SecretsManagerClient, secret_id: str, token: str) -> None:
    """Store a fresh root key as the token's AWSPENDING version, unless one is already there."""
    where = _where(secret_id, token)
    existing = _pending_value(client, secret_id, token)
    if existing is not None:
        try:
            parse_root_key(existing, source=where)
        except InvalidRootKeyError as exc:
            raise InvalidRootKeyError(
                f"{exc}. createSecret will not overwrite it: remove its {AWSPENDING} label and "
                "start a new rotation"
            ) from None
        logger.info("createSecret: the pending version already holds a root key; kept as is")
        return
    _aws(
        "write",
        where,
        lambda: client.put_secret_value(
            SecretId=secret_id,
            ClientRequestToken=token,
            SecretString=generate_root_key(),
            VersionStages=[AWSPENDING],
        ),
    )
    logger.info("createSecret: new root key stored as the pending version")


def set_secret(client: SecretsManagerClient, secret_id: str, token: str) -> None:
    """Nothing to do: the root key lives only in the secret."""
    logger.info("setSecret: nothing to set; the root key is used only from the secret")


def test_secret(client: SecretsManagerClient, secret_id: str, token: str) -> None:
    """The token's AWSPENDING value must be a root key."""
    _pending_root_key(client, secret_id, token)
    logger.info("testSecret: the pending version holds a valid root key")


def finish_secret(client: SecretsManagerClient, secret_id: str, token: str) -> None:
    """Move AWSCURRENT to the token's version, once more checking it holds a root key."""
    versions = _versions(client, secret_id)
    current = _current_version(versions)
    if current == token:
        logger.info(f"finishSecret: the version is already {AWSCURRENT}; nothing to do")
        return
    _pending_root_key(client, secret_id, token)
    if current and _holds_root_key(client, secret_id, current):
        # First the retention label, then the move: a retried finishSecret attaches it again
        # (harmless), and there is never a moment the outgoing key has only AWSPREVIOUS.
        label = retain_label(current)
        if label not in versions.get(current, []):
            _aws(
                f"label {label}",
                _where(secret_id, current),
                lambda: client.update_secret_version_stage(
                    SecretId=secret_id, VersionStage=label, MoveToVersionId=current
                ),
            )
    moved: dict[str, str] = {"RemoveFromVersionId": current} if current else {}
    _aws(
        f"move {AWSCURRENT} to",
        _where(secret_id, token),
        lambda: client.update_secret_version_stage(
            SecretId=secret_id, VersionStage=AWSCURRENT, MoveToVersionId=token, **moved
        ),
    )
    logger.info(f"finishSecret: {AWSCURRENT} moved to the new version", previous_version=current)


_STEPS: dict[Step, Callable[[SecretsManagerClient, str, str], None]] = {
    Step.CREATE: create_secret,
    Step.SET: set_secret,
    Step.TEST: test_secret,
    Step.FINISH: finish_secret,
}

# --- helpers ------------------------------------------------------------------------------------


def _step(value: Step | str) -> Step:
    try:
        return Step(value)
    except ValueError:
        raise EventError(
            f"unknown rotation step {value!r}: expected one of {', '.join(Step)}"
        ) from None


def _where(secret_id: str, token: str) -> str:
    return f"secret {secret_id} version {token}"


def _aws(action: str, where: str, call: Callable[[], _T]) -> _T:
    """``call()``, with AWS failures as SecretError naming what was being done to what."""
    try:
        return call()
    except (ClientError, BotoCoreError) as exc:
        raise SecretError(f"cannot {action} {where}: {aws_reason(exc)}") from None


def _versions(client: SecretsManagerClient, secret_id: str) -> dict[str, list[str]]:
    """The secret's version ids with their labels."""
    metadata = _aws(
        "describe", f"secret {secret_id}", lambda: client.describe_secret(SecretId=secret_id)
    )
    return dict(metadata.get("VersionIdsToStages", {}))


def _current_version(versions: Mapping[str, list[str]]) -> str | None:
    return next((version for version, stages in versions.items() if AWSCURRENT in stages), None)


def _ready(client: SecretsManagerClient, secret_id: str, token: str) -> bool:
    """Whether the step should run: AWS's template checks, before any step (False: done).

    Unlike AWS's template, a secret without a rotation *schedule* is not refused: the stack's
    ``root_key_rotation_days=0`` rotates once at deploy with no rules, which may leave
    ``RotationEnabled`` false. The version checks below are what keep a step from doing harm.
    """
    versions = _versions(client, secret_id)
    stages = versions.get(token)
    where = _where(secret_id, token)
    if stages is None:
        raise RotationError(f"{where} does not exist: the token is not a version of the secret")
    if AWSCURRENT in stages:
        logger.info(f"the version is already {AWSCURRENT}; nothing to do")
        return False
    if AWSPENDING not in stages:
        raise RotationError(f"{where} is not {AWSPENDING}: it is not being rotated to")
    return True


def _pending_value(client: SecretsManagerClient, secret_id: str, token: str) -> str | None:
    """The token's AWSPENDING string, or None while the version holds no value yet."""
    where = _where(secret_id, token)
    try:
        response = client.get_secret_value(
            SecretId=secret_id, VersionId=token, VersionStage=AWSPENDING
        )
    except ClientError as exc:
        if aws_error_code(exc) == "ResourceNotFoundException":
            return None
        raise SecretError(f"cannot read {where}: {aws_reason(exc)}") from None
    except BotoCoreError as exc:
        raise SecretError(f"cannot read {where}: {aws_reason(exc)}") from None
    text = response.get("SecretString")
    if text is None:
        raise InvalidRootKeyError(f"{where} holds binary data; s3seal expects a base64 string")
    return text


def _holds_root_key(client: SecretsManagerClient, secret_id: str, version_id: str) -> bool:
    """Whether a version holds a root key (the stack's first placeholder password does not)."""
    where = _where(secret_id, version_id)
    response = _aws(
        "read",
        where,
        lambda: client.get_secret_value(SecretId=secret_id, VersionId=version_id),
    )
    text = response.get("SecretString")
    try:
        parse_root_key(text or "", source=where)
    except InvalidRootKeyError:
        return False
    return True


def _pending_root_key(client: SecretsManagerClient, secret_id: str, token: str) -> None:
    """Check that the token's AWSPENDING version holds a root key (InvalidRootKeyError if not)."""
    where = _where(secret_id, token)
    text = _pending_value(client, secret_id, token)
    if text is None:
        raise RotationError(f"{where} holds no value: createSecret has not stored a key in it")
    parse_root_key(text, source=where)
