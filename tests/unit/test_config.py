"""Settings from environment variables: defaults, and a clear error naming each bad variable."""

from __future__ import annotations

import pytest

from s3seal.config import Compression, Settings
from s3seal.envelope import Format
from s3seal.errors import ConfigError

MiB = 1024 * 1024
REQUIRED = {
    "STAGING_BUCKET": "staging",
    "LANDING_BUCKETS": "landing",
    "ROOT_KEY_SECRET_ID": "s3seal/root-key",
}


def test_defaults() -> None:
    settings = Settings.from_env(REQUIRED)
    assert settings.staging_bucket == "staging"
    assert settings.root_key_secret_id == "s3seal/root-key"
    assert settings.staging_prefix == ""
    assert settings.envelope_format is Format.V3
    assert settings.compression is Compression.NONE
    assert settings.part_size == 16 * MiB
    assert settings.max_object_bytes is None
    assert settings.key_cache_seconds == 300
    assert settings.parts_in_flight == 4
    assert settings.memory_bound == 16 * MiB * 6


def test_every_setting_is_read() -> None:
    settings = Settings.from_env(
        REQUIRED
        | {
            "STAGING_PREFIX": "sealed/",
            "ENVELOPE_FORMAT": "V2",
            "COMPRESSION": "gzip",
            "PART_SIZE_MIB": "8",
            "MAX_OBJECT_BYTES": "1000",
            "KEY_CACHE_SECONDS": "60",
            "PARTS_IN_FLIGHT": "2",
        }
    )
    assert settings.staging_prefix == "sealed/"
    assert settings.envelope_format is Format.V2
    assert settings.compression is Compression.GZIP
    assert settings.compression.suffix == ".gz"
    assert settings.part_size == 8 * MiB
    assert settings.max_object_bytes == 1000
    assert settings.key_cache_seconds == 60
    assert settings.parts_in_flight == 2


@pytest.mark.parametrize("fmt", list(Format))
def test_every_format_is_accepted_in_any_case(fmt: Format) -> None:
    for spelling in (fmt.value, fmt.value.upper(), f" {fmt.value} "):
        settings = Settings.from_env(REQUIRED | {"ENVELOPE_FORMAT": spelling})
        assert settings.envelope_format is fmt


def test_an_empty_format_means_the_default_v3() -> None:
    assert Settings.from_env(REQUIRED | {"ENVELOPE_FORMAT": ""}).envelope_format is Format.V3
    minimal = Settings(staging_bucket="s", root_key_secret_id="k", landing_buckets=frozenset({"l"}))
    assert minimal.envelope_format is Format.V3


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"STAGING_BUCKET": ""}, "STAGING_BUCKET"),
        ({"ROOT_KEY_SECRET_ID": "  "}, "ROOT_KEY_SECRET_ID"),
        ({"ENVELOPE_FORMAT": "v4"}, "ENVELOPE_FORMAT"),
        ({"COMPRESSION": "zstd"}, "COMPRESSION"),
        ({"PART_SIZE_MIB": "4"}, "PART_SIZE_MIB"),
        ({"PART_SIZE_MIB": "sixteen"}, "PART_SIZE_MIB"),
        ({"PART_SIZE_MIB": "5121"}, "PART_SIZE_MIB"),
        ({"MAX_OBJECT_BYTES": "-1"}, "MAX_OBJECT_BYTES"),
        ({"KEY_CACHE_SECONDS": "1.5"}, "KEY_CACHE_SECONDS"),
        ({"PARTS_IN_FLIGHT": "0"}, "PARTS_IN_FLIGHT"),
        ({"STAGING_PREFIX": "/abs"}, "STAGING_PREFIX"),
        ({"STAGING_PREFIX": "_s3seal/in/"}, "STAGING_PREFIX"),
        ({"LANDING_BUCKETS": " , "}, "LANDING_BUCKETS"),
        ({"LANDING_BUCKETS": "landing,staging"}, "LANDING_BUCKETS"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_bad_value_names_the_variable(overrides: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(REQUIRED | overrides)


def test_landing_buckets_is_required_and_a_comma_list() -> None:
    without = {k: v for k, v in REQUIRED.items() if k != "LANDING_BUCKETS"}
    with pytest.raises(ConfigError, match="LANDING_BUCKETS is required"):
        Settings.from_env(without)
    settings = Settings.from_env(REQUIRED | {"LANDING_BUCKETS": " a-bucket, b-bucket ,"})
    assert settings.landing_buckets == frozenset({"a-bucket", "b-bucket"})


def test_missing_required_variable() -> None:
    with pytest.raises(ConfigError, match="STAGING_BUCKET is required"):
        Settings.from_env({"ROOT_KEY_SECRET_ID": "x"})
