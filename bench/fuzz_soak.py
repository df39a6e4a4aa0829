"""Soak the fuzz targets: N mutated inputs per parser, with counts and time per target.

    python -m bench.fuzz_soak --inputs 100000                 # every target
    python -m bench.fuzz_soak --inputs 20000 --target fcp uri  # some
    python -m bench.fuzz_soak --list
    python -m bench.fuzz_soak --atheris fcp                   # coverage-guided, if installed

Each input is a seed of the target (a valid example) with 1–8 random edits, or,
one time in ten, random bytes (``tests/fuzz/mutate.py``). The run is
deterministic for a given ``--seed``. An input that raises anything other than
the target's documented clean errors is a bug: it is written to ``--crashes``
(named by target and hash) with its traceback, and the run goes on. Add the
file to ``tests/fuzz/regressions/<target>/`` once the bug is fixed, and
``tests/fuzz/test_regressions.py`` replays it in CI.

The hypothesis tests give the same targets structured inputs; they soak with
``HYPOTHESIS_PROFILE=soak pytest tests/fuzz`` (100,000 examples per test).
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import logging
import random
import sys
import time
import traceback
from pathlib import Path

from tests.fuzz.mutate import MAX_INPUT, mutate
from tests.fuzz.stateful import ALL_TARGETS
from tests.fuzz.targets import Target


def soak(target: Target, inputs: int, seed: int, crashes: Path, report_every: float) -> int:
    """Run ``inputs`` inputs through one target; return how many crashed."""
    rng = random.Random(f"{seed}/{target.name}")
    corpus = target.seeds()
    outcomes: collections.Counter[str] = collections.Counter()
    crashed = 0
    start = last = time.perf_counter()
    with target.session() as check:
        for i in range(inputs):
            if rng.random() < 0.1:
                data = rng.randbytes(rng.choice((0, 1, 4, 16, 64, 512, 4096)))
            else:
                data = mutate(rng.choice(corpus), rng, corpus)[:MAX_INPUT]
            try:
                outcomes[check(data)] += 1
            except Exception as exc:  # the point: anything here is a bug to report
                crashed += 1
                outcomes[f"CRASH {type(exc).__name__}"] += 1
                _save(crashes, target.name, data, traceback.format_exc())
            now = time.perf_counter()
            if report_every and now - last >= report_every:
                last = now
                print(f"  {target.name}: {i + 1}/{inputs} in {now - start:.0f} s", flush=True)
    elapsed = time.perf_counter() - start
    shown = ", ".join(f"{k} {v}" for k, v in outcomes.most_common())
    print(
        f"{target.name:14} {inputs:>8} inputs {elapsed:8.1f} s {inputs / elapsed:9.0f}/s  "
        f"crashes {crashed}  [{shown}]",
        flush=True,
    )
    return crashed


def _save(crashes: Path, name: str, data: bytes, trace: str) -> None:
    crashes.mkdir(parents=True, exist_ok=True)
    stem = f"{name}-{hashlib.sha256(data).hexdigest()[:16]}"
    (crashes / f"{stem}.bin").write_bytes(data)
    (crashes / f"{stem}.txt").write_text(trace)
    print(f"  CRASH in {name}: {trace.strip().splitlines()[-1]} -> {crashes / stem}.bin")


def run_atheris(target: Target) -> None:  # pragma: no cover - optional tool
    try:
        import atheris  # type: ignore[import-not-found]
    except ImportError:
        sys.exit("atheris is not installed (pip install atheris); the mutation soak needs nothing")
    with target.session() as check:
        atheris.Setup([sys.argv[0], "-atheris_runs=0"], lambda data: check(bytes(data)))
        atheris.Fuzz()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inputs", type=int, default=100_000, help="inputs per target")
    parser.add_argument("--target", nargs="*", help="target names (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--crashes", type=Path, default=Path("fuzz-crashes"))
    parser.add_argument("--progress", type=float, default=30.0, help="seconds between reports")
    parser.add_argument("--list", action="store_true", help="list the targets and exit")
    parser.add_argument("--atheris", metavar="TARGET", help="run one target under atheris")
    args = parser.parse_args(argv)
    # Refusals are logged as warnings (a damaged store row, a bad multipart part):
    # at a thousand inputs a second that is noise; the counts say it instead.
    logging.disable(logging.WARNING)
    if args.list:
        for name, t in ALL_TARGETS.items():
            print(f"{name:14} {'cheap' if t.cheap else 'slow'}")
        return 0
    if args.atheris:
        run_atheris(ALL_TARGETS[args.atheris])
        return 0
    names = args.target or list(ALL_TARGETS)
    unknown = [n for n in names if n not in ALL_TARGETS]
    if unknown:
        parser.error(f"unknown targets {unknown}; --list shows them")
    total = sum(
        soak(ALL_TARGETS[n], args.inputs, args.seed, args.crashes, args.progress) for n in names
    )
    print(f"{total} crashing inputs" + (f" saved in {args.crashes}/" if total else ""))
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
