"""The root key's rotation function against a moto server: the four steps, retries, refusals,
the handler entry point, and logs that never carry a key.

Secrets Manager begins a rotation by adding an empty version labelled AWSPENDING (id = the
token) and enabling rotation, then invokes the function per step. ``begin_rotation`` reproduces
that state in moto; see its docstring for the two moto quirks it relies on or works around.
"""

from __future__ import annotations

import base64
import io
import secrets as stdlib_secrets
import string
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest
from botocore.exceptions import ClientError

from s3seal.envelope import EnvelopeMetadata, Format, decrypt_bytes, encrypt_bytes
from s3seal.errors import EventError, InvalidRootKeyError, S3SealError
from s3seal.names import SECRET_VERSION_FIELD
from s3seal.rootkey import rotation
from s3seal.rootkey.keys import (
    parse_root_key,
    retain_label,
    root_key_from_secret,
)
from s3seal.rootkey.rotation import RotationError, Step

from ..conftest import REGION
from .conftest import FakeContext, logs_of

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_secretsmanager import SecretsManagerClient

CURRENT, PENDING, PREVIOUS = "AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"
STEPS = [Step.CREATE, Step.SET, Step.TEST, Step.FINISH]
NO_SUCH_FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:s3seal-no-such-function"


# --- fixtures and helpers -----------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_module_client() -> Iterator[None]:
    """Each test starts and ends without the function's lazily created client."""
    rotation.reset()
    yield
    rotation.reset()


@pytest.fixture
def sm(moto_endpoint: str) -> SecretsManagerClient:
    return boto3.client("secretsmanager", endpoint_url=moto_endpoint, region_name=REGION)


def placeholder() -> str:
    """A password like CloudFormation's GenerateSecretString default: 32 printable characters."""
    alphabet = string.ascii_letters + string.digits + string.punctuation
    return "".join(stdlib_secrets.choice(alphabet) for _ in range(32))


def new_secret(sm: SecretsManagerClient, value: str | None = None) -> str:
    """A secret as the stack creates it (a placeholder password as AWSCURRENT); its ARN."""
    name = f"s3seal/root-key-{uuid.uuid4().hex[:8]}"
    return sm.create_secret(Name=name, SecretString=value or placeholder())["ARN"]


def stages(sm: SecretsManagerClient, secret_id: str) -> dict[str, list[str]]:
    return {
        version: sorted(labels)
        for version, labels in sm.describe_secret(SecretId=secret_id)["VersionIdsToStages"].items()
    }


def current(sm: SecretsManagerClient, secret_id: str) -> tuple[str, str]:
    """(version id, value) of AWSCURRENT, asked for by label.

    moto answers GetSecretValue without a VersionStage from a default version that
    UpdateSecretVersionStage does not move, so it would return the old value after a rotation.
    """
    response = sm.get_secret_value(SecretId=secret_id, VersionStage=CURRENT)
    return response["VersionId"], response["SecretString"]


def value_of(sm: SecretsManagerClient, secret_id: str, version_id: str) -> str:
    return sm.get_secret_value(SecretId=secret_id, VersionId=version_id)["SecretString"]


def is_root_key(text: str) -> bool:
    """Standard base64 of exactly 32 bytes (44 characters)."""
    try:
        return len(text) == 44 and len(base64.b64decode(text, validate=True)) == 32
    except ValueError:
        return False


def begin_rotation(sm: SecretsManagerClient, secret_id: str) -> str:
    """What Secrets Manager does before it invokes the function: a new token, its empty version
    labelled AWSPENDING, rotation enabled. Returns the token.

    moto's RotateSecret cannot invoke a Lambda function without Docker, but it creates the empty
    AWSPENDING version and enables rotation before it looks the function up; a function that does
    not exist therefore leaves exactly the state AWS hands the function. Its check for a rotation
    "still in progress" is inverted (it refuses when AWSPENDING shares the AWSCURRENT version,
    which AWS accepts after a finished rotation), so that leftover label is removed first.
    """
    token = str(uuid.uuid4())
    for version, labels in stages(sm, secret_id).items():
        if PENDING in labels and CURRENT in labels:
            sm.update_secret_version_stage(
                SecretId=secret_id, VersionStage=PENDING, RemoveFromVersionId=version
            )
    with pytest.raises(ClientError) as raised:
        sm.rotate_secret(
            SecretId=secret_id,
            ClientRequestToken=token,
            RotationLambdaARN=NO_SUCH_FUNCTION,
            RotationRules={"AutomaticallyAfterDays": 30},
        )
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"
    described = sm.describe_secret(SecretId=secret_id)
    assert described.get("RotationEnabled") is True, "moto no longer enables rotation this way"
    assert described["VersionIdsToStages"].get(token) == [PENDING], (
        "moto no longer leaves the empty AWSPENDING version when the function is missing"
    )
    return token


def run_rotation(sm: SecretsManagerClient, secret_id: str) -> str:
    """A whole rotation, step by step through ``rotate``; returns its token."""
    token = begin_rotation(sm, secret_id)
    for step in STEPS:
        rotation.rotate(sm, secret_id, token, step)
    return token


def put_pending(sm: SecretsManagerClient, secret_id: str, token: str, value: str) -> None:
    """Fill the token's empty AWSPENDING version by hand (as a broken rotation function might)."""
    sm.put_secret_value(
        SecretId=secret_id, ClientRequestToken=token, SecretString=value, VersionStages=[PENDING]
    )


def forms(secret: bytes) -> list[bytes]:
    """A secret as it could leak: raw, standard and URL-safe base64, hex in both cases."""
    return [
        secret,
        base64.b64encode(secret),
        base64.b64encode(secret).rstrip(b"="),
        base64.urlsafe_b64encode(secret).rstrip(b"="),
        secret.hex().encode(),
        secret.hex().upper().encode(),
    ]


# --- a whole rotation ---------------------------------------------------------------------------


def test_first_rotation_replaces_the_placeholder_with_a_root_key(sm: SecretsManagerClient) -> None:
    # GIVEN a secret as the stack creates it: a generated placeholder password, not a root key
    secret_id = new_secret(sm)
    placeholder_version, placeholder_value = current(sm, secret_id)
    with pytest.raises(InvalidRootKeyError):
        parse_root_key(placeholder_value, source="the placeholder")
    # WHEN the four steps run in order for a fresh token
    token = run_rotation(sm, secret_id)
    # THEN AWSCURRENT is the token's version and holds base64 of exactly 32 bytes
    version, value = current(sm, secret_id)
    assert version == token
    assert is_root_key(value)
    assert len(parse_root_key(value, source="the new key")) == 32
    # ... and the placeholder is AWSPREVIOUS, untouched
    assert CURRENT in stages(sm, secret_id)[token]
    assert stages(sm, secret_id)[placeholder_version] == [PREVIOUS]
    assert value_of(sm, secret_id, placeholder_version) == placeholder_value


def test_second_rotation_makes_a_new_key_and_keeps_the_old_one_readable(
    sm: SecretsManagerClient,
) -> None:
    # GIVEN a rotated secret and an object encrypted under its key, naming the key's version
    secret_id = new_secret(sm)
    first = run_rotation(sm, secret_id)
    first_key = root_key_from_secret(sm, secret_id, first)
    body, metadata = encrypt_bytes(
        first_key.material, b"row 1\n", Format.V2, description=first_key.description()
    )
    # WHEN the secret is rotated again
    second = run_rotation(sm, secret_id)
    # THEN the new current key is another valid key
    version, value = current(sm, secret_id)
    assert version == second != first
    assert is_root_key(value)
    assert base64.b64decode(value) != first_key.material
    # ... the first key's version is AWSPREVIOUS and still readable by its id
    assert stages(sm, secret_id)[first] == sorted([PREVIOUS, retain_label(first)])
    assert value_of(sm, secret_id, first) == base64.b64encode(first_key.material).decode()
    # ... so the object still decrypts with the version its metadata names
    named = EnvelopeMetadata.parse(metadata).description[SECRET_VERSION_FIELD]
    assert named == first
    assert decrypt_bytes(root_key_from_secret(sm, secret_id, named).material, body, metadata) == (
        b"row 1\n"
    )


def test_three_rotations_leave_every_old_key_labelled_and_readable(
    sm: SecretsManagerClient,
) -> None:
    # GIVEN a secret as the stack creates it (placeholder first)
    secret_id = new_secret(sm)
    placeholder_version, _ = current(sm, secret_id)
    # WHEN it is rotated three times
    tokens = [run_rotation(sm, secret_id) for _ in range(3)]
    # THEN every root key that was ever current keeps a label (AWS deletes unlabelled versions)
    labels = stages(sm, secret_id)
    first, second, third = tokens
    assert labels[first] == [retain_label(first)]
    assert labels[second] == sorted([PREVIOUS, retain_label(second)])
    assert CURRENT in labels[third]
    assert retain_label(third) not in labels[third]
    # ... each is still readable by its version id and holds a distinct key
    values = {value_of(sm, secret_id, token) for token in tokens}
    assert len(values) == 3
    assert all(is_root_key(value) for value in values)
    # ... and the placeholder, never a key, gets no retention label
    kept = [label for label in labels.get(placeholder_version, []) if "s3seal-keep-" in label]
    assert kept == []


# --- retries and refusals -----------------------------------------------------------------------


def test_create_secret_is_idempotent(sm: SecretsManagerClient) -> None:
    # GIVEN a rotation whose createSecret has run once
    secret_id = new_secret(sm)
    token = begin_rotation(sm, secret_id)
    rotation.rotate(sm, secret_id, token, Step.CREATE)
    pending = sm.get_secret_value(SecretId=secret_id, VersionId=token, VersionStage=PENDING)
    before = stages(sm, secret_id)
    # WHEN createSecret runs again for the same token (Secrets Manager retries a step)
    rotation.rotate(sm, secret_id, token, "createSecret")
    # THEN the pending key is the same (not regenerated) and no version was added
    again = sm.get_secret_value(SecretId=secret_id, VersionId=token, VersionStage=PENDING)
    assert is_root_key(pending["SecretString"])
    assert again["SecretString"] == pending["SecretString"]
    assert stages(sm, secret_id) == before


def test_finish_secret_for_a_token_already_current_does_nothing(sm: SecretsManagerClient) -> None:
    secret_id = new_secret(sm)
    token = run_rotation(sm, secret_id)
    before, (version, value) = stages(sm, secret_id), current(sm, secret_id)
    assert version == token
    for step in STEPS:
        rotation.rotate(sm, secret_id, token, step)
    assert stages(sm, secret_id) == before
    assert current(sm, secret_id) == (token, value)


def test_a_token_that_is_not_a_version_of_the_secret_is_refused(sm: SecretsManagerClient) -> None:
    secret_id = new_secret(sm)
    run_rotation(sm, secret_id)
    before = stages(sm, secret_id)
    stranger = str(uuid.uuid4())
    for step in (Step.CREATE, Step.FINISH):
        with pytest.raises(RotationError, match="not a version of the secret") as raised:
            rotation.rotate(sm, secret_id, stranger, step)
        assert stranger in str(raised.value) and secret_id in str(raised.value)
    assert stages(sm, secret_id) == before


def test_a_token_neither_pending_nor_current_is_refused(sm: SecretsManagerClient) -> None:
    # GIVEN a rotated secret: the placeholder's version is now only AWSPREVIOUS
    secret_id = new_secret(sm)
    placeholder_version, _ = current(sm, secret_id)
    run_rotation(sm, secret_id)
    before = stages(sm, secret_id)
    assert before[placeholder_version] == [PREVIOUS]
    # WHEN / THEN finishSecret (or any step) for that version is refused, and nothing moves
    for step in STEPS:
        with pytest.raises(RotationError, match=f"is not {PENDING}"):
            rotation.rotate(sm, secret_id, placeholder_version, step)
    assert stages(sm, secret_id) == before


def test_a_secret_without_a_rotation_schedule_is_still_guarded_by_versions(
    sm: SecretsManagerClient,
) -> None:
    # GIVEN a secret with no rotation schedule (the stack's root_key_rotation_days=0)
    secret_id = new_secret(sm)
    version, _ = current(sm, secret_id)
    before = stages(sm, secret_id)
    # WHEN finishSecret runs for its current version, and for a token that is no version of it
    rotation.rotate(sm, secret_id, version, Step.FINISH)
    with pytest.raises(RotationError, match="not a version of the secret"):
        rotation.rotate(sm, secret_id, str(uuid.uuid4()), Step.FINISH)
    # THEN nothing moved
    assert stages(sm, secret_id) == before


def test_an_invalid_pending_value_is_never_promoted(sm: SecretsManagerClient) -> None:
    # GIVEN a secret holding a valid key, and a new rotation whose AWSPENDING version was filled
    # with something that looks like a key but is 16 bytes, not 32
    secret_id = new_secret(sm)
    good = run_rotation(sm, secret_id)
    good_value = value_of(sm, secret_id, good)
    token = begin_rotation(sm, secret_id)
    invalid_raw = stdlib_secrets.token_bytes(16)
    invalid = base64.b64encode(invalid_raw).decode()
    put_pending(sm, secret_id, token, invalid)
    # WHEN testSecret runs, THEN it refuses the value, naming the secret and version only
    with pytest.raises(InvalidRootKeyError) as tested:
        rotation.rotate(sm, secret_id, token, Step.TEST)
    # WHEN finishSecret runs anyway, THEN it refuses to promote it
    with pytest.raises(InvalidRootKeyError) as finished:
        rotation.rotate(sm, secret_id, token, Step.FINISH)
    # WHEN createSecret is retried, THEN it refuses to overwrite it
    with pytest.raises(InvalidRootKeyError, match="will not overwrite") as created:
        rotation.rotate(sm, secret_id, token, Step.CREATE)
    # ... AWSCURRENT stays on the previous valid key, the invalid version stays pending
    assert current(sm, secret_id) == (good, good_value)
    assert stages(sm, secret_id)[token] == [PENDING]
    assert value_of(sm, secret_id, token) == invalid
    # ... and no message contains the invalid value in any form
    for raised in (tested, finished, created):
        message = str(raised.value)
        assert secret_id in message and token in message
        for form in forms(invalid_raw):
            assert form not in message.encode()


def test_test_secret_refuses_a_pending_version_with_no_value(sm: SecretsManagerClient) -> None:
    secret_id = new_secret(sm)
    token = begin_rotation(sm, secret_id)
    placeholder_version, _ = current(sm, secret_id)
    for step in (Step.TEST, Step.FINISH):
        with pytest.raises(RotationError, match="holds no value"):
            rotation.rotate(sm, secret_id, token, step)
    assert current(sm, secret_id)[0] == placeholder_version


# --- the Lambda entry point ---------------------------------------------------------------------


def event(secret_id: str, token: str, step: str) -> dict[str, Any]:
    return {"SecretId": secret_id, "ClientRequestToken": token, "Step": step}


def invoke(event: dict[str, Any]) -> None:
    """Call the handler as Lambda does (a context with the fields Powertools reads)."""
    rotation.handler(event, cast("LambdaContext", FakeContext()))


def test_handler_runs_the_steps_with_its_own_client(
    sm: SecretsManagerClient, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the function's environment points boto3 at moto
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    secret_id = new_secret(sm)
    token = begin_rotation(sm, secret_id)
    # WHEN Secrets Manager invokes the handler for each step
    for step in STEPS:
        invoke(event(secret_id, token, step.value))
    # THEN the rotation happened, through the module's lazily created client
    version, value = current(sm, secret_id)
    assert version == token and is_root_key(value)
    assert rotation.secrets_client().meta.endpoint_url == moto_endpoint


@pytest.mark.parametrize(
    "bad_event",
    [
        {"SecretId": "s", "ClientRequestToken": "t", "Step": "rotateSecret"},
        {"SecretId": "s", "Step": "createSecret"},
        {"SecretId": "s", "ClientRequestToken": 7, "Step": "createSecret"},
    ],
    ids=["unknown-step", "no-token", "token-not-a-string"],
)
def test_handler_refuses_events_that_are_not_rotation_steps(bad_event: dict[str, Any]) -> None:
    with pytest.raises(EventError):
        invoke(bad_event)


# --- logs ---------------------------------------------------------------------------------------


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    with logs_of(rotation.logger) as stream:
        yield stream


def test_no_step_logs_a_key(
    sm: SecretsManagerClient,
    moto_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
    captured_logs: io.StringIO,
    capfd: pytest.CaptureFixture[str],
) -> None:
    # GIVEN the handler at DEBUG against moto
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    secret_id = new_secret(sm)
    _, placeholder_value = current(sm, secret_id)
    # WHEN a first rotation runs (each step twice, as retries would) ...
    first = begin_rotation(sm, secret_id)
    for step in STEPS:
        for _ in range(2):
            invoke(event(secret_id, first, step.value))
    # ... then a second one whose pending value is invalid fails at testSecret
    second = begin_rotation(sm, secret_id)
    invalid_raw = stdlib_secrets.token_bytes(16)
    put_pending(sm, secret_id, second, base64.b64encode(invalid_raw).decode())
    with pytest.raises(S3SealError):
        invoke(event(secret_id, second, Step.TEST.value))
    output = (captured_logs.getvalue() + capfd.readouterr().out).encode()
    # THEN the output is about the rotation (so the test is looking at the right text) ...
    for step in STEPS:
        assert step.value.encode() in output
    assert first.encode() in output and second.encode() in output
    assert b"InvalidRootKeyError" in output
    # ... and holds neither the new key, the invalid value nor the placeholder, in any form
    new_key = base64.b64decode(value_of(sm, secret_id, first))
    assert current(sm, secret_id)[0] == first
    for secret in (new_key, invalid_raw):
        for form in forms(secret):
            assert form not in output
    assert placeholder_value.encode() not in output
