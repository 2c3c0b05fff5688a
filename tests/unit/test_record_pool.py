"""How many records of one SQS batch are staged at once: the memory formula and its caps."""

from __future__ import annotations

import pytest

from s3seal.config import MAX_RECORD_CONCURRENCY, RUNTIME_HEADROOM_MIB, Settings
from s3seal.errors import ConfigError

MiB = 1024 * 1024
REQUIRED = {
    "STAGING_BUCKET": "staging",
    "LANDING_BUCKETS": "landing",
    "ROOT_KEY_SECRET_ID": "s3seal/root-key",
}


def settings(**env: str) -> Settings:
    return Settings.from_env(REQUIRED | env)


@pytest.mark.parametrize(
    ("memory_mb", "env", "workers"),
    [
        # The stack's default: (1769 - 256) MiB // (16 MiB x (4 + 2)) = 1513 // 96
        ("1769", {}, 15),
        ("1024", {}, (1024 - RUNTIME_HEADROOM_MIB) // 96),
        # Too little memory for even one slice beside the runtime: still one record at a time.
        ("128", {}, 1),
        ("384", {}, 1),
        # Bigger parts, bigger slices: 64 MiB x 6 = 384 MiB each.
        ("1769", {"PART_SIZE_MIB": "64"}, 1513 // 384),
        ("1769", {"PARTS_IN_FLIGHT": "10"}, 1513 // (16 * 12)),
        # RECORD_CONCURRENCY only lowers what the memory allows.
        ("1769", {"RECORD_CONCURRENCY": "4"}, 4),
        ("1024", {"RECORD_CONCURRENCY": "32"}, (1024 - RUNTIME_HEADROOM_MIB) // 96),
        # 10,240 MB would allow 104: the ceiling holds.
        ("10240", {}, MAX_RECORD_CONCURRENCY),
    ],
)
def test_record_workers_follow_the_memory_formula(
    memory_mb: str, env: dict[str, str], workers: int
) -> None:
    s = settings(AWS_LAMBDA_FUNCTION_MEMORY_SIZE=memory_mb, **env)
    assert s.function_memory_mib == int(memory_mb)
    assert s.record_workers == workers
    # The object data in flight fits in what is left after the headroom (when any slice does).
    if workers > 1:
        assert workers * s.memory_bound <= (int(memory_mb) - RUNTIME_HEADROOM_MIB) * MiB


def test_outside_lambda_one_record_at_a_time_unless_told() -> None:
    assert settings().function_memory_mib is None
    assert settings().record_workers == 1
    assert settings(RECORD_CONCURRENCY="6").record_workers == 6


@pytest.mark.parametrize(("records", "size"), [(0, 1), (1, 1), (3, 3), (10, 10), (40, 15)])
def test_pool_size_is_never_more_than_the_records(records: int, size: int) -> None:
    s = settings(AWS_LAMBDA_FUNCTION_MEMORY_SIZE="1769")
    assert s.record_pool_size(records) == size


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RECORD_CONCURRENCY", "0"),
        ("RECORD_CONCURRENCY", str(MAX_RECORD_CONCURRENCY + 1)),
        ("RECORD_CONCURRENCY", "many"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "64"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        settings(**{name: value})
