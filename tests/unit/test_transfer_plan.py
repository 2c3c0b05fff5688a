"""transfer_plan: destinations, filters and recursive plans as ``aws s3 cp`` makes them."""

from __future__ import annotations

import io
import os

import pytest

from s3seal.cli.meter import Meter, progress_line
from s3seal.errors import ConfigError
from s3seal.transfer_plan import (
    EXCLUDE,
    INCLUDE,
    Entry,
    Refusal,
    Rule,
    Step,
    check_recursive,
    included,
    plan_recursive,
    resolve_destination,
    same_place,
)


def no_dirs(path: str) -> bool:
    return False


@pytest.mark.parametrize(
    ("src", "dst", "expected"),
    [
        ("sales.csv", "s3://stage/in/", "s3://stage/in/sales.csv"),
        ("data/sales.csv", "s3://stage", "s3://stage/sales.csv"),
        ("data/sales.csv", "s3://stage/", "s3://stage/sales.csv"),
        ("data/sales.csv", "s3://stage/in/x.enc", "s3://stage/in/x.enc"),
        ("s3://land/a/b/sales.csv", "s3://stage/in/", "s3://stage/in/sales.csv"),
        ("s3://land/a/sales.csv", "out/", os.path.join("out/", "sales.csv")),
        ("sales.csv", "out.enc", "out.enc"),
        ("sales.csv", "-", "-"),
        ("-", "s3://stage/in/x", "s3://stage/in/x"),
    ],
)
def test_a_trailing_slash_means_under_this_name(src: str, dst: str, expected: str) -> None:
    assert resolve_destination(src, dst, is_dir=no_dirs) == expected


def test_an_existing_local_folder_means_under_this_name() -> None:
    folders = {"out"}
    resolved = resolve_destination("s3://b/k/sales.csv", "out", is_dir=folders.__contains__)
    assert resolved == os.path.join("out", "sales.csv")
    assert resolve_destination("in/sales.csv", "other", is_dir=folders.__contains__) == "other"


@pytest.mark.parametrize(
    ("src", "dst"),
    [("-", "out/"), ("-", "s3://b/in/"), ("s3://b/prefix/", "out/"), ("s3://b/p/", "s3://c/")],
)
def test_no_name_to_keep_is_a_usage_error(src: str, dst: str) -> None:
    with pytest.raises(ConfigError):
        resolve_destination(src, dst, is_dir=no_dirs)


def test_filters_apply_in_order_and_the_last_match_wins() -> None:
    assert included("a.csv", [])
    only_csv: list[Rule] = [(EXCLUDE, "*"), (INCLUDE, "*.csv")]
    assert included("a.csv", only_csv) and included("deep/er/b.csv", only_csv)
    assert not included("a.json", only_csv)
    # The same two filters the other way round exclude everything: the last match wins.
    assert not included("a.csv", [(INCLUDE, "*.csv"), (EXCLUDE, "*")])
    assert not included("tmp/a.csv", [*only_csv, (EXCLUDE, "tmp/*")])
    assert included("A.CSV", [(EXCLUDE, "*.csv")])  # case-sensitive, as S3 keys are


def test_recursive_from_an_s3_prefix_reads_it_as_a_folder() -> None:
    entries = [
        Entry("a.csv", 3),
        Entry("sub/b.csv", 4),
        Entry("sub/", 0),  # a folder marker: not an object to transfer
        Entry("skip.json", 5),
    ]
    plan = plan_recursive("s3://land/in", "s3://stage/out", entries, [(EXCLUDE, "*.json")])
    assert plan.steps == [
        Step("s3://land/in/a.csv", "s3://stage/out/a.csv", 3),
        Step("s3://land/in/sub/b.csv", "s3://stage/out/sub/b.csv", 4),
    ]
    assert plan.refused == [] and plan.total_bytes == 7
    to_bucket = plan_recursive("s3://land/in/", "s3://stage", [Entry("a.csv", 1)])
    assert to_bucket.steps == [Step("s3://land/in/a.csv", "s3://stage/a.csv", 1)]


def test_recursive_to_a_folder_never_writes_outside_it() -> None:
    entries = [Entry("ok/a.csv", 1), Entry("../../etc/passwd", 1), Entry("x//y", 1)]
    plan = plan_recursive("s3://land/p/", "out", entries)
    assert plan.steps == [Step("s3://land/p/ok/a.csv", os.path.join("out", "ok", "a.csv"), 1)]
    assert [r.src for r in plan.refused] == ["s3://land/p/../../etc/passwd", "s3://land/p/x//y"]
    assert all(isinstance(r, Refusal) and "safe local path" in r.reason for r in plan.refused)
    # The same keys are fine under an S3 destination: keys are literal there.
    assert len(plan_recursive("s3://land/p/", "s3://stage/", entries).steps) == 3


def test_companion_files_travel_with_their_object() -> None:
    entries = [
        Entry("a.enc"),
        Entry("a.enc.s3seal.json"),
        Entry("b.enc.instruction"),  # no b.enc: an object of its own
        Entry("b.enc.instruction.s3seal.json"),
    ]
    plan = plan_recursive("in", "out", entries, companions=(".s3seal.json", ".instruction"))
    assert [step.src for step in plan.steps] == [
        os.path.join("in", "a.enc"),
        os.path.join("in", "b.enc.instruction"),
    ]
    assert plan.total_bytes is None  # sizes unknown: no total for the progress line


def test_same_place_compares_s3_keys_and_local_files() -> None:
    never = lambda a, b: False  # noqa: E731
    assert same_place("s3://b/k", "s3://b/k?versionId=3", never)
    assert not same_place("s3://b/k", "s3://b/k2", never)
    assert not same_place("s3://b/k", "k", lambda a, b: True)
    assert not same_place("-", "-", lambda a, b: True)
    assert same_place("./a", "a", lambda a, b: os.path.normpath(a) == os.path.normpath(b))


@pytest.mark.parametrize(("src", "dst"), [("-", "out/"), ("in/", "-")])
def test_recursive_needs_folders_on_both_sides(src: str, dst: str) -> None:
    with pytest.raises(ConfigError, match="--recursive"):
        check_recursive(src, dst)


def test_progress_line_shows_rate_and_eta() -> None:
    line = progress_line("encrypting", 4 * 1024 * 1024, 16 * 1024 * 1024, 2.0, (2, 5))
    assert line == "encrypting  4.0 MiB / 16.0 MiB (25%)  2.0 MiB/s  ETA 0:06  file 2/5"
    assert progress_line("decrypting", 1024, None, 0.0) == "decrypting  1.0 KiB"


def test_the_meter_draws_nothing_off_a_terminal() -> None:
    out = io.StringIO()
    meter = Meter("encrypting", 100 * 1024 * 1024, stream=out)
    assert b"".join(meter.track([b"x" * 10, b"y"])) == b"x" * 10 + b"y"
    meter.finish()
    assert out.getvalue() == "" and meter.done == 11
