"""The encrypting function's concurrency is capped by default, at the queue's event source."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match

from infra.settings import SettingsError, StackSettings

from .conftest import Synth, synth


def scaling(s: Synth) -> Any:
    [mapping] = s.resources("AWS::Lambda::EventSourceMapping").values()
    return mapping["Properties"].get("ScalingConfig")


def test_event_source_caps_concurrency_by_default(default: Synth) -> None:
    default.template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": Match.any_value(),
            "ScalingConfig": {"MaximumConcurrency": StackSettings().max_concurrency},
        },
    )
    assert StackSettings().max_concurrency == 10


def test_context_raises_the_cap() -> None:
    assert scaling(synth(max_concurrency=100)) == {"MaximumConcurrency": 100}


def test_zero_lifts_the_cap() -> None:
    assert scaling(synth(max_concurrency=0)) is None


def test_cap_never_exceeds_the_reserved_concurrency() -> None:
    # Beyond the reserve, invocations are throttled and messages count receives towards the DLQ.
    assert scaling(synth(reserved_concurrency=5)) == {"MaximumConcurrency": 5}
    assert scaling(synth(reserved_concurrency=50, max_concurrency=20)) == {"MaximumConcurrency": 20}


def test_context_string_is_coerced() -> None:
    # `cdk deploy -c max_concurrency=100` passes a string.
    settings = StackSettings.from_context({"max_concurrency": "100"}.get)
    assert settings.event_source_max_concurrency == 100


@pytest.mark.parametrize("value", [1, -1, 1001])
def test_cap_outside_lambdas_range_is_refused(value: int) -> None:
    with pytest.raises(SettingsError, match="max_concurrency"):
        StackSettings(max_concurrency=value)
