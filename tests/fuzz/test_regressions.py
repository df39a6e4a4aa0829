"""Replay every input a fuzzer once crashed on (``regressions/<target>/*.bin``).

Each file is an input that raised something other than the target's clean
errors before its bug was fixed; the check must now return an outcome.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzz.stateful import ALL_TARGETS

HERE = Path(__file__).with_name("regressions")
CASES = sorted(HERE.glob("*/*.bin"))


def test_every_regression_names_a_target() -> None:
    assert {p.parent.name for p in CASES} <= set(ALL_TARGETS)


@pytest.mark.parametrize("target", sorted({p.parent.name for p in CASES}))
def test_regressions_replay_cleanly(target: str) -> None:
    with ALL_TARGETS[target].session() as check:
        for path in HERE.glob(f"{target}/*.bin"):
            outcome = check(path.read_bytes())
            assert isinstance(outcome, str), path.name
