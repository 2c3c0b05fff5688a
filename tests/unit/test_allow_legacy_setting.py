"""LOAD_ALLOW_LEGACY: the loader's switch for legacy envelope shapes, off unless set to true."""

from __future__ import annotations

import pytest

from s3seal.errors import ConfigError
from s3seal.load.settings import LOAD_ALLOW_LEGACY, LoaderSettings

BASE = {
    "STAGING_BUCKET": "staging",
    "LOADER_TABLE": "sales",
    "COPY_IAM_ROLE": "arn:aws:iam::123456789012:role/RedshiftCopyRole",
    "REDSHIFT_DATABASE": "dev",
    "REDSHIFT_CLUSTER_ID": "analytics",
    "REDSHIFT_DB_USER": "loader",
    "ROOT_KEY_SECRET_ID": "s3seal/root-key",
    "LOAD_KMS_KEY_ID": "alias/s3seal-load",
}


@pytest.mark.parametrize(
    ("value", "expected"), [(None, False), ("", False), ("false", False), ("TRUE", True)]
)
def test_allow_legacy_defaults_to_false(value: str | None, expected: bool) -> None:
    environ = BASE | ({LOAD_ALLOW_LEGACY: value} if value is not None else {})
    assert LoaderSettings.from_env(environ).allow_legacy is expected


def test_allow_legacy_other_values_name_the_variable() -> None:
    with pytest.raises(ConfigError, match="LOAD_ALLOW_LEGACY='yes please'"):
        LoaderSettings.from_env(BASE | {LOAD_ALLOW_LEGACY: "yes please"})


def test_load_allow_legacy_option_sets_the_variable_only_when_given() -> None:
    from s3seal.cli import build_parser
    from s3seal.load.settings import LOAD_OPTIONS

    assert LOAD_OPTIONS["allow_legacy"] == LOAD_ALLOW_LEGACY
    assert build_parser().parse_args(["load", "--allow-legacy"]).allow_legacy == "true"
    # Not given: None, so a LOAD_ALLOW_LEGACY already in the environment is left as it is.
    assert build_parser().parse_args(["load"]).allow_legacy is None
