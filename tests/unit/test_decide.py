"""The ordering rule: whether an object version is written over what is staged for its key."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from s3seal.encrypt.origin import (
    SOURCE_ETAG,
    SOURCE_LAST_MODIFIED,
    SOURCE_SEQUENCER,
    SOURCE_VERSION,
)
from s3seal.encrypt.pipeline import Decision, Source, Staged, decide
from s3seal.objects import ObjectRef

T1 = datetime(2026, 11, 24, 7, 0, 0, tzinfo=UTC)
T2 = datetime(2026, 11, 24, 7, 0, 5, tzinfo=UTC)


def source(
    version: str | None = "v2",
    etag: str = "e2",
    sequencer: str | None = "00A2",
    modified: datetime | None = None,
) -> Source:
    return Source(ObjectRef("landing", "k", version), etag, 10, None, sequencer, modified)


def staged(
    version: str | None = "v1",
    etag: str = "e1",
    sequencer: str | None = "00A1",
    modified: datetime | None = None,
) -> Staged:
    metadata = {SOURCE_ETAG: etag}
    if modified:
        metadata[SOURCE_LAST_MODIFIED] = modified.isoformat()
    if version:
        metadata[SOURCE_VERSION] = version
    if sequencer:
        metadata[SOURCE_SEQUENCER] = sequencer
    return Staged(etag="staged-etag", version_id="s1", size=32, metadata=metadata)


def never_asked() -> bool:
    raise AssertionError("the current version should not be needed here")


@pytest.mark.parametrize(
    ("src", "stg", "current", "expected"),
    [
        (source(), None, never_asked, Decision.CREATE),
        (source(), staged(version="v2"), never_asked, Decision.ALREADY_STAGED),
        (source(), staged(sequencer="00A1"), never_asked, Decision.REPLACE),
        (source(sequencer="00A1"), staged(sequencer="00A2"), never_asked, Decision.SUPERSEDED),
        (source(sequencer="00A2"), staged(sequencer="00A100"), never_asked, Decision.REPLACE),
        (source(sequencer=None), staged(), lambda: True, Decision.REPLACE),
        (source(sequencer=None), staged(), lambda: False, Decision.SUPERSEDED),
        (source(), staged(sequencer=None), lambda: True, Decision.REPLACE),
        (source(sequencer=None, modified=T2), staged(modified=T1), never_asked, Decision.REPLACE),
        (
            source(sequencer=None, modified=T1),
            staged(modified=T2),
            never_asked,
            Decision.SUPERSEDED,
        ),
        (source(sequencer=None, modified=T1), staged(modified=T1), lambda: True, Decision.REPLACE),
        (
            source(version=None, etag="e1"),
            staged(version=None, etag="e1"),
            never_asked,
            Decision.ALREADY_STAGED,
        ),
        (
            source(version=None, etag="e2"),
            staged(version=None, etag="e1"),
            never_asked,
            Decision.REPLACE,
        ),
    ],
    ids=[
        "nothing-staged",
        "this-version-staged",
        "newer-sequencer",
        "older-sequencer",
        "padded-sequencer",
        "no-sequencer-current",
        "no-sequencer-not-current",
        "staged-without-sequencer",
        "no-sequencer-later-modified",
        "no-sequencer-older-than-staged-though-current",
        "no-sequencer-same-second-current",
        "unversioned-same-etag",
        "unversioned-new-content",
    ],
)
def test_decide(
    src: Source, stg: Staged | None, current: Callable[[], bool], expected: Decision
) -> None:
    assert decide(src, stg, current) is expected
