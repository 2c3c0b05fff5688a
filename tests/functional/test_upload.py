"""storage.upload's memory bound: a part is let go of as soon as S3 has it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3

from s3seal.storage import upload

from ..conftest import REGION

PART = 5 * 1024 * 1024  # S3's smallest part


class Part(bytes):
    """A part body that reports when the last reference to it goes."""

    released: list[int]
    number: int

    def __del__(self) -> None:
        self.released.append(self.number)


def numbered_parts(count: int, released: list[int]) -> Iterator[bytes]:
    for number in range(1, count + 1):
        part = Part(bytes([number]) * PART)
        part.number = number
        part.released = released
        yield part


def test_parts_already_sent_are_not_kept_for_the_rest_of_the_upload(
    moto_endpoint: str, bucket: str
) -> None:
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name=REGION)
    released: list[int] = []
    released_when_sent: dict[int, list[int]] = {}

    def note(params: dict[str, Any], **_: Any) -> None:
        released_when_sent[params["PartNumber"]] = sorted(released)

    s3.meta.events.register("before-parameter-build.s3.UploadPart", note)
    result = upload(
        s3,
        bucket,
        "big.csv",
        numbered_parts(6, released),
        lambda: {},
        parts_in_flight=1,
    )

    assert result.parts == 6
    # One part in flight: by the time part 4 is sent, parts 1 to 3 are done and must be gone,
    # including the two that upload() read ahead to choose between a PUT and a multipart upload.
    assert released_when_sent[4][:2] == [1, 2]
    assert set(released_when_sent[6]) >= {1, 2, 3, 4}
    body = s3.get_object(Bucket=bucket, Key="big.csv")["Body"].read()
    assert body == b"".join(bytes([n]) * PART for n in range(1, 7))
