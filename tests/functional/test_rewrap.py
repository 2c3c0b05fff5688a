"""s3seal rewrap against moto: every format moves to the current root-key version without its
ciphertext changing; re-runs, interruptions, concurrent restaging and --dryrun."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from s3seal.envelope import EnvelopeMetadata, Format, decrypt_bytes
from s3seal.names import SECRET_VERSION_FIELD
from s3seal.rootkey.keys import RootKey, root_key_from_secret
from s3seal.rootkey.rewrap import Outcome, rewrap_bucket

from ..conftest import REGION
from .conftest import _Raw
from .rewrap_helpers import (
    CONTENT_TYPE,
    EXTRA_METADATA,
    Staged,
    body_of,
    instruction_of,
    rotate,
    rotated_secret,
    stage,
    versioned_bucket,
)

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

LAYOUTS = [
    ("v1.csv", Format.V1, False),
    ("v2.csv", Format.V2, False),
    ("v3.csv", Format.V3, False),
    ("v3-instr.csv", Format.V3, True),
]


@pytest.fixture
def sm(moto_endpoint: str) -> SecretsManagerClient:
    return boto3.client("secretsmanager", endpoint_url=moto_endpoint, region_name=REGION)


def keys_of(sm: SecretsManagerClient, secret_id: str) -> Callable[[str], RootKey]:
    return lambda version: root_key_from_secret(sm, secret_id, version)


def envelope_of(s3: Any, bucket: str, item: Staged) -> EnvelopeMetadata:
    _, response = body_of(s3, bucket, item.key)
    instruction = instruction_of(s3, bucket, item.key) if item.instruction else None
    return EnvelopeMetadata.parse(response["Metadata"], instruction=instruction)


def stage_all(s3: Any, bucket: str, root: RootKey) -> list[Staged]:
    return [stage(s3, bucket, key, root, fmt, instruction=instr) for key, fmt, instr in LAYOUTS]


def test_every_format_moves_to_the_current_version_and_decrypts_to_the_same_plaintext(
    s3: Any, sm: SecretsManagerClient
) -> None:
    # GIVEN V1, V2, V3 and V3-with-instruction-file objects sealed under the first root key
    secret_id, first = rotated_secret(sm)
    bucket = versioned_bucket(s3)
    staged = stage_all(s3, bucket, first)
    # ... and a rotation since
    second = rotate(sm, secret_id)
    # WHEN they are rewrapped
    summary = rewrap_bucket(s3, bucket, second, keys_of(sm, secret_id))
    # THEN all four moved
    assert summary.counts == {Outcome.REWRAPPED.value: 4}, summary.failures
    for item in staged:
        body, response = body_of(s3, bucket, item.key)
        envelope = envelope_of(s3, bucket, item)
        # ... the ciphertext is byte for byte the same
        assert body == item.body
        # ... the envelope names the current version and decrypts with the current key only
        assert envelope.description[SECRET_VERSION_FIELD] == second.secret_version
        assert decrypt_bytes(second.material, body, envelope) == item.plaintext
        with pytest.raises(Exception):  # noqa: B017 (V1/V2/V3 raise different errors)
            decrypt_bytes(first.material, body, envelope)
        # ... and the other user metadata and content type are kept
        assert EXTRA_METADATA.items() <= response["Metadata"].items()
        assert response["ContentType"] == CONTENT_TYPE


def test_v3_commitment_and_message_id_are_unchanged(s3: Any, sm: SecretsManagerClient) -> None:
    secret_id, first = rotated_secret(sm)
    bucket = versioned_bucket(s3)
    item = stage(s3, bucket, "v3.csv", first, Format.V3)
    before = envelope_of(s3, bucket, item)
    second = rotate(sm, secret_id)
    rewrap_bucket(s3, bucket, second, keys_of(sm, secret_id))
    after = envelope_of(s3, bucket, item)
    assert (after.commitment, after.message_id) == (before.commitment, before.message_id)
    assert after.wrapped_key != before.wrapped_key


def test_a_second_run_skips_what_is_already_current(s3: Any, sm: SecretsManagerClient) -> None:
    secret_id, first = rotated_secret(sm)
    bucket = versioned_bucket(s3)
    stage_all(s3, bucket, first)
    second = rotate(sm, secret_id)
    rewrap_bucket(s3, bucket, second, keys_of(sm, secret_id))
    versions_before = s3.list_object_versions(Bucket=bucket)["Versions"]
    # WHEN it runs again
    again = rewrap_bucket(s3, bucket, second, keys_of(sm, secret_id))
    # THEN nothing is written
    assert again.counts == {Outcome.CURRENT.value: 4}
    assert s3.list_object_versions(Bucket=bucket)["Versions"] == versions_before


def test_an_interrupted_run_is_finished_by_the_next(s3: Any, sm: SecretsManagerClient) -> None:
    # GIVEN three objects under an old version, and a run that dies at its second copy
    secret_id, first = rotated_secret(sm)
    bucket = versioned_bucket(s3)
    staged = [stage(s3, bucket, f"k{i}.csv", first, Format.V2) for i in range(3)]
    second = rotate(sm, secret_id)
    calls = []

    def die_at_second_copy(**_: Any) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt

    s3.meta.events.register("before-call.s3.CopyObject", die_at_second_copy)
    try:
        with pytest.raises(KeyboardInterrupt):
            rewrap_bucket(s3, bucket, second, keys_of(sm, secret_id))
    finally:
        s3.meta.events.unregister("before-call.s3.CopyObject", die_at_second_copy)
    # WHEN it is run again
    summary = rewrap_bucket(s3, bucket, second, keys_of(sm, secret_id))
    # THEN the one done is skipped and the other two are done
    assert summary.counts == {Outcome.CURRENT.value: 1, Outcome.REWRAPPED.value: 2}
    for item in staged:
        body, response = body_of(s3, bucket, item.key)
        assert decrypt_bytes(second.material, body, response["Metadata"]) == item.plaintext


def test_an_object_restaged_meanwhile_is_not_clobbered(s3: Any, sm: SecretsManagerClient) -> None:
    # GIVEN an object under an old version
    secret_id, first = rotated_secret(sm)
    bucket = versioned_bucket(s3)
    stage(s3, bucket, "hot.csv", first, Format.V2)
    second = rotate(sm, secret_id)
    other = boto3.client("s3", endpoint_url=s3.meta.endpoint_url, region_name=REGION)
    restaged: list[Staged] = []

    def restage_first(**_: Any) -> None:
        # The encrypting function writes the object again between our HEAD and our copy.
        if not restaged:
            restaged.append(stage(other, bucket, "hot.csv", second, Format.V2))

    def s3_copy_source_if_match(request: Any, **_: Any) -> AWSResponse | None:
        # S3 answers 412 when x-amz-copy-source-if-match no longer holds; moto 5.2 ignores the
        # header, so this hook gives the answer S3 would (and fails if the header is missing).
        wanted = request.headers["x-amz-copy-source-if-match"].decode().strip('"')
        now = other.head_object(Bucket=bucket, Key="hot.csv")["ETag"].strip('"')
        if wanted == now:
            return None
        body = b"<Error><Code>PreconditionFailed</Code><Message>condition</Message></Error>"
        headers: Any = {"Content-Type": "application/xml", "Content-Length": str(len(body))}
        return AWSResponse(request.url, 412, headers, _Raw(body))

    s3.meta.events.register("before-call.s3.CopyObject", restage_first)
    s3.meta.events.register("before-send.s3.CopyObject", s3_copy_source_if_match)
    try:
        summary = rewrap_bucket(s3, bucket, second, keys_of(sm, secret_id))
    finally:
        s3.meta.events.unregister("before-call.s3.CopyObject", restage_first)
        s3.meta.events.unregister("before-send.s3.CopyObject", s3_copy_source_if_match)
    # THEN the copy's condition failed and the restaged object is as the function wrote it
    assert summary.counts == {Outcome.CHANGED.value: 1}
    body, response = body_of(s3, bucket, "hot.csv")
    assert body == restaged[0].body
    assert decrypt_bytes(second.material, body, response["Metadata"]) == restaged[0].plaintext


def test_dryrun_changes_nothing(s3: Any, sm: SecretsManagerClient) -> None:
    secret_id, first = rotated_secret(sm)
    bucket = versioned_bucket(s3)
    staged = stage_all(s3, bucket, first)
    second = rotate(sm, secret_id)
    before = s3.list_object_versions(Bucket=bucket)["Versions"]
    summary = rewrap_bucket(s3, bucket, second, keys_of(sm, secret_id), dryrun=True)
    assert summary.counts == {Outcome.WOULD_REWRAP.value: 4}
    assert s3.list_object_versions(Bucket=bucket)["Versions"] == before
    for item in staged:
        assert envelope_of(s3, bucket, item).description[SECRET_VERSION_FIELD] == (
            first.secret_version
        )


def test_from_version_and_prefix_select_objects(s3: Any, sm: SecretsManagerClient) -> None:
    # GIVEN objects under two old versions, in two prefixes
    secret_id, first = rotated_secret(sm)
    bucket = versioned_bucket(s3)
    stage(s3, bucket, "a/1.csv", first, Format.V2)
    second = rotate(sm, secret_id)
    stage(s3, bucket, "a/2.csv", second, Format.V2)
    stage(s3, bucket, "b/3.csv", first, Format.V2)
    third = rotate(sm, secret_id)
    # WHEN only the first version's objects under a/ are rewrapped
    summary = rewrap_bucket(
        s3, bucket, third, keys_of(sm, secret_id), prefix="a/", from_version=first.secret_version
    )
    # THEN exactly a/1.csv moved
    assert summary.counts == {Outcome.REWRAPPED.value: 1, Outcome.OTHER_VERSION.value: 1}
    named = {
        key: EnvelopeMetadata.parse(body_of(s3, bucket, key)[1]["Metadata"]).description[
            SECRET_VERSION_FIELD
        ]
        for key in ("a/1.csv", "a/2.csv", "b/3.csv")
    }
    assert named == {
        "a/1.csv": third.secret_version,
        "a/2.csv": second.secret_version,
        "b/3.csv": first.secret_version,
    }


def test_an_object_uploaded_in_parts_is_left_on_its_version(
    s3: Any, sm: SecretsManagerClient
) -> None:
    # GIVEN an object whose ETag is a multipart one (a copy would change it, and the loader
    # recognises loaded objects by key and ETag)
    secret_id, first = rotated_secret(sm)
    bucket = versioned_bucket(s3)
    item = stage(s3, bucket, "big.csv", first, Format.V2)
    _, response = body_of(s3, bucket, item.key)
    upload = s3.create_multipart_upload(
        Bucket=bucket, Key=item.key, Metadata=response["Metadata"], ContentType=CONTENT_TYPE
    )
    part = s3.upload_part(
        Bucket=bucket, Key=item.key, UploadId=upload["UploadId"], PartNumber=1, Body=item.body
    )
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key=item.key,
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    etag = s3.head_object(Bucket=bucket, Key=item.key)["ETag"]
    assert "-" in etag
    second = rotate(sm, secret_id)
    # WHEN rewrap runs
    summary = rewrap_bucket(s3, bucket, second, keys_of(sm, secret_id))
    # THEN it is skipped, untouched
    assert summary.counts == {Outcome.MULTIPART.value: 1}
    assert s3.head_object(Bucket=bucket, Key=item.key)["ETag"] == etag


@pytest.mark.parametrize("fmt", [Format.V2, Format.V3], ids=lambda f: f.name)
def test_verify_body_refuses_an_object_whose_body_does_not_decrypt(
    s3: Any, sm: SecretsManagerClient, fmt: Format
) -> None:
    # GIVEN an object whose body was damaged (its envelope is intact)
    secret_id, first = rotated_secret(sm)
    bucket = versioned_bucket(s3)
    good = stage(s3, bucket, "good.csv", first, fmt)
    item = stage(s3, bucket, "bad.csv", first, fmt)
    _, response = body_of(s3, bucket, item.key)
    damaged = bytes([item.body[0] ^ 1]) + item.body[1:]
    s3.put_object(Bucket=bucket, Key=item.key, Body=damaged, Metadata=response["Metadata"])
    second = rotate(sm, secret_id)
    # WHEN rewrap runs with --verify-body
    summary = rewrap_bucket(s3, bucket, second, keys_of(sm, secret_id), verify_body=True)
    # THEN the damaged one is reported and left on its version; the good one moved
    assert summary.counts == {Outcome.FAILED.value: 1, Outcome.REWRAPPED.value: 1}
    assert "bad.csv" in summary.failures[0]
    bad_envelope = EnvelopeMetadata.parse(body_of(s3, bucket, item.key)[1]["Metadata"])
    assert bad_envelope.description[SECRET_VERSION_FIELD] == first.secret_version
    body, response = body_of(s3, bucket, good.key)
    assert decrypt_bytes(second.material, body, response["Metadata"]) == good.plaintext
