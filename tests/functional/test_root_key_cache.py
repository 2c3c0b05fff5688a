"""The function's root-key cache (moto server): one GetSecretValue per ``max_age``, failures never
cached, and the key's ARN and version from the same call as its material."""

from __future__ import annotations

import base64

import pytest

from s3seal.errors import InvalidRootKeyError, SecretError
from s3seal.rootkey.keys import CachedRootKey, generate_root_key

from .conftest import Harness


def test_the_key_is_read_once_within_its_age(harness: Harness) -> None:
    cache = CachedRootKey(harness.secret_id, 300, client=harness.secrets)
    first = cache()
    # A rotation inside the cache's age is not seen: the cached key is still current enough.
    harness.secrets.put_secret_value(SecretId=harness.secret_id, SecretString=generate_root_key())
    assert cache() is first
    assert harness.secret_calls == ["GetSecretValue"]
    assert first.material == harness.root_key
    described = harness.secrets.describe_secret(SecretId=harness.secret_id)
    assert first.secret_arn == described["ARN"]
    current = harness.secrets.get_secret_value(SecretId=harness.secret_id)
    assert first.secret_version != current["VersionId"]
    # After invalidate() the next call reads the secret again, and sees the new version.
    cache.invalidate()
    second = cache()
    assert second.secret_version == current["VersionId"]
    assert second.material == base64.b64decode(current["SecretString"])


def test_an_expired_key_is_read_again(harness: Harness) -> None:
    cache = CachedRootKey(harness.secret_id, 0, client=harness.secrets)
    cache()
    new_key = generate_root_key()
    harness.secrets.put_secret_value(SecretId=harness.secret_id, SecretString=new_key)
    assert cache().material == base64.b64decode(new_key)
    assert harness.secret_calls == ["GetSecretValue", "GetSecretValue"]


def test_an_invalid_secret_is_reported_without_its_value_and_not_cached(harness: Harness) -> None:
    cache = CachedRootKey(harness.secret_id, 300, client=harness.secrets)
    bad = "not-a-key-" + "x" * 34
    put = harness.secrets.put_secret_value(SecretId=harness.secret_id, SecretString=bad)
    with pytest.raises(InvalidRootKeyError) as caught:
        cache()
    message = str(caught.value)
    assert f"secret {harness.secret_id} version {put['VersionId']}" in message
    assert bad not in message
    # Once the secret is fixed, the very next call sees it.
    good = generate_root_key()
    harness.secrets.put_secret_value(SecretId=harness.secret_id, SecretString=good)
    assert cache().material == base64.b64decode(good)


def test_an_unreadable_secret_is_a_secret_error(harness: Harness) -> None:
    cache = CachedRootKey("s3seal/no-such-secret", 300, client=harness.secrets)
    with pytest.raises(SecretError, match="cannot read secret s3seal/no-such-secret"):
        cache()
