"""Run the AWS SDK for Ruby S3 encryption clients (``ruby/s3_cse.rb``) from the tests.

One ``ruby`` process handles a whole batch of objects: loading ``aws-sdk-s3`` takes about a second,
so a process per object would make the interop module slow. The Ruby side talks to the moto
endpoint only: its environment is built here from scratch (no proxies, no AWS profile, no instance
metadata) and it uses static fake credentials.

A missing ``ruby`` or ``aws-sdk-s3`` is a test *failure*, never a skip: the interop tests are the
only proof that what s3seal writes is readable by an official client.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Literal, TypeVar

import pytest

RUBY_SCRIPT = Path(__file__).parent / "ruby" / "s3_cse.rb"
ROOT_KEY_VARIABLE = "S3SEAL_INTEROP_ROOT_KEY"
"""The script reads the root key from this variable, never from its command line."""
INSTALL_HINT = (
    "run `make test`, which installs the Debian package ruby-aws-sdk-s3 "
    "(the AWS SDK for Ruby, with the official S3 encryption clients)"
)
RUBY_TIMEOUT = 300.0
"""Seconds for one batch; a batch normally takes one to three."""
ACCESS_KEY_VARIABLE = "S3SEAL_TEST_ACCESS_KEY_ID"
"""The access key id the script signs with (default ``testing``)."""
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "GEM_HOME", "GEM_PATH", "RUBYLIB")
"""The only variables the Ruby process inherits (proxies and AWS settings are left out)."""

Mode = Literal["put", "get"]
RubyClient = Literal["v1", "v2", "v2-legacy"]
"""``v1``: ``Aws::S3::Encryption::Client``; ``v2``: ``Aws::S3::EncryptionV2::Client`` with
``security_profile: :v2``; ``v2-legacy``: the same with ``:v2_and_legacy`` (reads V1 too)."""

T = TypeVar("T")


def ruby_env(root_key: bytes | None = None, access_key_id: str | None = None) -> dict[str, str]:
    env = {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ}
    env.setdefault("PATH", os.defpath)
    env.update(
        {
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    if root_key is not None:
        env[ROOT_KEY_VARIABLE] = base64.b64encode(root_key).decode("ascii")
    if access_key_id is not None:
        env[ACCESS_KEY_VARIABLE] = access_key_id
    return env


@functools.cache
def _probe_ruby_sdk() -> tuple[str, str]:
    """``(path to ruby, "")`` if ``ruby`` can load aws-sdk-s3, else ``("", why not)``."""
    ruby = shutil.which("ruby")
    if ruby is None:
        return "", "`ruby` is not on PATH"
    try:
        probe = subprocess.run(
            [ruby, "-e", 'require "aws-sdk-s3"; print Aws::S3::GEM_VERSION'],
            env=ruby_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=RUBY_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return "", f"`{ruby}` did not run: {exc}"
    if probe.returncode != 0:
        return "", f"`{ruby}` cannot load aws-sdk-s3: {probe.stderr.strip()[-800:]}"
    return ruby, ""


def require_ruby_sdk() -> str:
    """The path of ``ruby``; fails the calling test (not skips it) if the SDK is missing."""
    ruby, problem = _probe_ruby_sdk()
    if problem:
        pytest.fail(
            f"the interop tests need the AWS SDK for Ruby: {problem}. To fix: {INSTALL_HINT}.",
            pytrace=False,
        )
    return ruby


@dataclass(frozen=True)
class Outcome:
    """What the Ruby client did with one object."""

    key: str
    ok: bool
    error_class: str = ""
    message: str = ""


@dataclass(frozen=True)
class RubyRun:
    """One ``ruby`` process over a batch of objects."""

    command: str
    returncode: int
    outcomes: dict[str, Outcome]
    stderr: str

    def outcome(self, key: str) -> Outcome:
        return self.outcomes[key]

    def expect_ok(self, key: str) -> None:
        """Fail the test with Ruby's own error if it did not handle ``key``."""
        found = self.outcomes[key]
        if not found.ok:
            pytest.fail(
                f"{self.command}: the Ruby client failed on {key!r}: "
                f"{found.error_class}: {found.message}\n--- ruby stderr (tail) ---\n"
                f"{self.stderr[-3000:]}",
                pytrace=False,
            )


def run_ruby(
    mode: Mode,
    client: RubyClient,
    *,
    endpoint: str,
    bucket: str,
    root_key: bytes,
    objects: Sequence[tuple[str, Path]],
    access_key_id: str | None = None,
) -> RubyRun:
    """Put (encrypt from file) or get (decrypt to file) every ``(key, file)`` in one process.

    Fails the test if the process itself broke (usage error, crash, missing report lines); a
    per-object failure is reported in the result for the caller to judge.
    """
    if not objects:
        raise ValueError("run_ruby needs at least one object")
    ruby = require_ruby_sdk()
    argv = [ruby, str(RUBY_SCRIPT), mode, client, endpoint, bucket]
    for key, path in objects:
        argv += [key, str(path)]
    command = f"ruby s3_cse.rb {mode} {client} ({len(objects)} objects)"
    proc = subprocess.run(
        argv,
        env=ruby_env(root_key, access_key_id),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUBY_TIMEOUT,
        check=False,
    )
    outcomes: dict[str, Outcome] = {}
    for line in proc.stdout.splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue  # not a report line; the SDK writes its warnings to stderr anyway
        if isinstance(doc, dict) and "key" in doc and "ok" in doc:
            outcomes[str(doc["key"])] = Outcome(
                key=str(doc["key"]),
                ok=doc["ok"] is True,
                error_class=str(doc.get("error_class", "")),
                message=str(doc.get("message", "")),
            )
    all_ok = all(o.ok for o in outcomes.values())
    consistent = proc.returncode == (0 if all_ok else 1)
    if not consistent or set(outcomes) != {key for key, _ in objects}:
        pytest.fail(
            f"{command} did not run as expected (exit status {proc.returncode}, "
            f"{len(outcomes)} of {len(objects)} objects reported)\n--- stdout ---\n"
            f"{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-3000:]}",
            pytrace=False,
        )
    return RubyRun(command, proc.returncode, outcomes, proc.stderr)


class Once(Generic[T]):
    """A batch built on first use, inside a test body, and shared by the tests of a module.

    Building inside the test (not in fixture setup) makes a missing Ruby SDK a test *failure*
    rather than a setup error. A batch that failed fails every later test that needs it, with the
    first failure's message, instead of being rebuilt for each.
    """

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: list[T] = []
        self._failure: str | None = None

    def get(self) -> T:
        if self._failure is not None:
            pytest.fail(f"an earlier test failed to build it: {self._failure}", pytrace=False)
        if not self._value:
            try:
                self._value.append(self._build())
            except pytest.fail.Exception as exc:
                self._failure = str(exc)
                raise
            except Exception as exc:
                self._failure = f"{type(exc).__name__}: {exc}"
                raise
        return self._value[0]
