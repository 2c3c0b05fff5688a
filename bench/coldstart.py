"""Cold import as the Lambda asset ships it, emulated with the local interpreter.

The asset carries unchecked hash-based bytecode for the runtime's Python (``infra/bytecode.py``,
run under pyodide at bundling). This builds the same tree for the local interpreter: s3seal and
the installed distributions ``lambda/requirements.txt`` needs (with their dependencies), copied
into a temporary folder and compiled by the same ``compile_tree``. Fresh interpreters then import
from that folder and the standard library only (``-S``, so site-packages and its ``.pth`` files
play no part: the venv's ``certifi``, which the asset lacks, would otherwise be imported by
botocore; a probe checks that every module imported has its bytecode; nothing is written), with
``LAMBDA_TASK_ROOT`` set as Lambda sets it, and ``python -X importtime`` gives the cumulative
time of ``import s3seal.encrypt.handler`` against ``import boto3`` from the same tree.

    .venv/bin/python -m bench.coldstart             # medians of 15 (about a minute)
    .venv/bin/python -m bench.coldstart --runs 31   # more runs on a busy machine
    .venv/bin/python -m bench.coldstart --instructions   # and instruction counts (valgrind)

The two statements alternate (the order swapping every run), so a busy minute slows both. The
judged ratio is the median handler time over the median boto3 time; printed beside it: each
side's spread (lowest, quartiles, highest), the spread of the per-run ratios (handler over the
boto3 run next to it), the ratio of the fastest runs, and the load average before and after;
with ``--instructions``, the instructions each import executes, which no load changes.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

from bench.importtime import ImportLine, importtime_and_output, subtree
from infra.bytecode import compile_tree

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LAMBDA_REQUIREMENTS = PROJECT_ROOT / "lambda" / "requirements.txt"
RATIO_TARGET = 1.3
RUNS = 15
ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "PYTHONDONTWRITEBYTECODE": "1",
}
STATEMENTS = {"boto3": "import boto3", "s3seal.encrypt.handler": "import s3seal.encrypt.handler"}
CPU_CLOCK = "import time as _t; _c = _t.process_time(); {}; print(_t.process_time() - _c)"
"""Each statement also prints the CPU seconds it took: on a busy machine, wall time measures the
scheduler as much as the import; CPU time does not (information, beside the judged figure)."""


@dataclass(frozen=True)
class ColdStart:
    handler_runs: list[int]
    """Cumulative microseconds of ``import s3seal.encrypt.handler``, one per fresh interpreter."""
    boto3_runs: list[int]
    handler_lines: list[ImportLine]
    handler_cpu: list[float]
    """CPU seconds of the same imports, as the process counted them."""
    boto3_cpu: list[float]

    @property
    def handler_us(self) -> float:
        return statistics.median(self.handler_runs)

    @property
    def boto3_us(self) -> float:
        return statistics.median(self.boto3_runs)

    @property
    def ratio(self) -> float:
        return self.handler_us / self.boto3_us

    @property
    def run_ratios(self) -> list[float]:
        return sorted(h / b for h, b in zip(self.handler_runs, self.boto3_runs, strict=True))


def _distributions() -> Iterator[metadata.Distribution]:
    """The installed distributions the asset holds: the requirements and what they require."""
    pending = [
        Requirement(line.split("#", 1)[0].strip())
        for line in LAMBDA_REQUIREMENTS.read_text().splitlines()
        if line.split("#", 1)[0].strip()
    ]
    seen: set[str] = set()
    while pending:
        requirement = pending.pop()
        name = requirement.name.lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        dist = metadata.distribution(requirement.name)
        yield dist
        for text in dist.requires or []:
            needed = Requirement(text)
            extras = requirement.extras or {""}
            if needed.marker is None or any(needed.marker.evaluate({"extra": e}) for e in extras):
                pending.append(needed)


def unpinned() -> list[str]:
    """The pins of ``lambda/requirements.txt`` the installed distributions do not match: the
    emulated asset is built from what is installed (``make deps`` installs the pins)."""
    wrong = []
    for line in LAMBDA_REQUIREMENTS.read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        requirement = Requirement(text)
        installed = metadata.version(requirement.name)
        if not requirement.specifier.contains(installed, prereleases=True):
            wrong.append(
                f"{requirement.name} {installed} installed, {requirement.specifier} pinned"
            )
    return wrong


def build_asset(folder: Path) -> Path:
    """The asset's tree for this interpreter under ``folder``, with unchecked-hash bytecode."""
    asset = folder / "asset"
    for dist in _distributions():
        for file in dist.files or []:
            if ".." in file.parts or file.suffix == ".pyc" or "__pycache__" in file.parts:
                continue
            source = Path(str(dist.locate_file(file)))
            if source.is_file():
                target = asset / file
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
    shutil.copytree(
        PROJECT_ROOT / "lambda" / "s3seal",
        asset / "s3seal",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    compile_tree(asset, ddir="/var/task")
    return asset


def environment(asset: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AWS_"))}
    env.update(ENVIRONMENT)
    env["PYTHONPATH"] = str(asset)
    # As in Lambda: the Tracer patches botocore and the X-Ray SDK takes its Lambda mode.
    env["LAMBDA_TASK_ROOT"] = str(asset)
    return env


def check_no_compilation(asset: Path, env: Mapping[str, str]) -> None:
    """Every module the two statements import comes from the asset with its bytecode, or from
    the standard library: nothing is compiled while timed, nothing comes from site-packages."""
    probe = f"""
import os, sys, sysconfig
before = set(sys.modules)
import boto3, s3seal.encrypt.handler
root, stdlib = {str(asset)!r}, sysconfig.get_paths()["stdlib"]
new = [sys.modules[name] for name in set(sys.modules) - before]
files = [m for m in new if (getattr(m, "__file__", None) or "").endswith(".py")]
outside = [m.__name__ for m in files if not m.__file__.startswith((root, stdlib))]
missing = [m.__name__ for m in files if m.__file__.startswith(root)
           and not os.path.exists(m.__cached__)]
assert files and not outside and not missing, (outside, missing)
"""
    subprocess.run([sys.executable, "-S", "-c", probe], env=dict(env), check=True)


def measure(asset: Path, runs: int = RUNS) -> ColdStart:
    """Medians of ``runs`` fresh interpreters per statement, interleaved."""
    env = environment(asset)
    check_no_compilation(asset, env)
    times: dict[str, list[int]] = {name: [] for name in STATEMENTS}
    cpu: dict[str, list[float]] = {name: [] for name in STATEMENTS}
    handler_lines: list[ImportLine] = []
    for number in range(runs):
        names = list(STATEMENTS) if number % 2 == 0 else list(reversed(STATEMENTS))
        for name in names:
            statement = CPU_CLOCK.format(STATEMENTS[name])
            lines, output = importtime_and_output(statement, env, flags=("-S",))
            times[name].append(subtree(lines, name)[-1].cumulative_us)
            cpu[name].append(float(output.strip().splitlines()[-1]))
            if name == "s3seal.encrypt.handler":
                handler_lines = lines
    return ColdStart(
        times["s3seal.encrypt.handler"],
        times["boto3"],
        handler_lines,
        cpu["s3seal.encrypt.handler"],
        cpu["boto3"],
    )


def _spread(values: list[int]) -> str:
    """Lowest, quartiles and highest, in ms."""
    q1, q2, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    shown = [min(values), q1, q2, q3, max(values)]
    return " / ".join(f"{v / 1000:.1f}" for v in shown)


def _load() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def report(result: ColdStart, load_before: str) -> None:
    runs = len(result.handler_runs)
    print(
        "cold import as the asset ships (unchecked-hash .pyc, local interpreter, -S, "
        f"LAMBDA_TASK_ROOT set), {runs} fresh interpreters per statement, alternating; "
        f"load average {load_before} before, {_load()} after:"
    )
    print("  cumulative ms:                 median   (lowest / quartiles / highest)")
    print(
        f"  import boto3                   {result.boto3_us / 1000:6.1f}   "
        f"({_spread(result.boto3_runs)})"
    )
    print(
        f"  import s3seal.encrypt.handler  {result.handler_us / 1000:6.1f}   "
        f"({_spread(result.handler_runs)})"
    )
    ratios = result.run_ratios
    print(
        f"  per-run ratios: {ratios[0]:.2f} to {ratios[-1]:.2f}, median "
        f"{statistics.median(ratios):.2f}; fastest handler / fastest boto3: "
        f"{min(result.handler_runs) / min(result.boto3_runs):.2f}"
    )
    cpu_handler, cpu_boto3 = (
        statistics.median(result.handler_cpu),
        statistics.median(result.boto3_cpu),
    )
    print(
        f"  CPU time of the imports (information): boto3 {cpu_boto3 * 1000:.1f} ms, handler "
        f"{cpu_handler * 1000:.1f} ms (medians), ratio {cpu_handler / cpu_boto3:.2f}"
    )
    margin = (RATIO_TARGET - result.ratio) / RATIO_TARGET
    verdict = "met" if margin >= 0.05 else "met, thin" if margin >= 0 else "MISSED"
    print(
        f"  ratio of medians {result.ratio:.2f} (target <= {RATIO_TARGET}, margin {margin:+.0%}): "
        f"{verdict}"
    )
    tree = subtree(result.handler_lines, "s3seal.encrypt.handler")
    print("  direct imports of s3seal.encrypt.handler >= 2 ms (last run):")
    for line in tree:
        if line.depth == 1 and line.cumulative_us >= 2000:
            print(f"    {line.cumulative_us / 1000:6.1f} ms  {line.name}")
    by_top: Counter[str] = Counter()
    for line in tree:
        by_top[line.name.split(".", 1)[0]] += line.self_us
    print(
        "  self time by top-level package: "
        + ", ".join(f"{name} {us / 1000:.1f} ms" for name, us in by_top.most_common(8))
    )


_COLLECTED = re.compile(r"Collected : (\d+)")


def instructions(asset: Path) -> dict[str, int]:
    """Instructions executed by each statement beyond ``pass``, counted by valgrind's callgrind.

    A count, not a time: the same on a busy machine as on an idle one (it leaves out what an
    instruction costs: cache misses, file reads), and about 50 times slower to take.
    """
    env = environment(asset)
    counts = {}
    callgrind = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    for name, statement in {"pass": "pass", **STATEMENTS}.items():
        done = subprocess.run(
            [*callgrind, sys.executable, "-S", "-c", statement],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        found = _COLLECTED.search(done.stderr)
        if found is None:
            raise RuntimeError(f"callgrind printed no instruction count: {done.stderr[-500:]}")
        counts[name] = int(found.group(1))
    return {name: counts[name] - counts["pass"] for name in STATEMENTS}


def report_instructions(counts: Mapping[str, int]) -> None:
    boto3, handler = counts["boto3"], counts["s3seal.encrypt.handler"]
    print(
        f"  instructions (callgrind, information): boto3 {boto3 / 1e6:.0f} M, handler "
        f"{handler / 1e6:.0f} M, ratio {handler / boto3:.3f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count the instructions of each import with valgrind (about a minute more)",
    )
    args = parser.parse_args(argv)
    for mismatch in unpinned():
        print(f"warning: {mismatch}; run make deps (the asset emulated is what is installed)")
    load_before = _load()
    with tempfile.TemporaryDirectory(prefix="bench-coldstart-") as folder:
        asset = build_asset(Path(folder))
        result = measure(asset, args.runs)
        counts = instructions(asset) if args.instructions else None
    report(result, load_before)
    if counts is not None:
        report_instructions(counts)
    return 0 if result.ratio <= RATIO_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
