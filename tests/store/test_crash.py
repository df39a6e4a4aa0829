"""Crash safety: a child putting blocks is killed with SIGKILL at random moments.

After each kill the file must pass ``PRAGMA integrity_check``, every block whose
put was acknowledged must be there intact, and the batch in flight must be
wholly there or wholly absent.
"""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from store import BlockStore, StoreConfig
from tests.store.conftest import chk_block

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 20


def integrity(path: Path) -> list[str]:
    raw = sqlite3.connect(path)
    try:
        return [row[0] for row in raw.execute("PRAGMA integrity_check")]
    finally:
        raw.close()


def run_and_kill(path: Path, start: int, rng: random.Random, mode: str) -> list[str]:
    """Start a child at block ``start``, kill it after some acknowledgements; its output."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.store.crash_child", str(path), str(start), mode],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    try:
        assert child.stdout is not None
        wanted = rng.randint(1, 12)
        while sum(line.startswith("ack") for line in lines) < wanted:
            line = child.stdout.readline()
            if not line:
                break
            lines.append(line.strip())
        time.sleep(rng.uniform(0, 0.004))
        child.send_signal(signal.SIGKILL)
        lines += [line.strip() for line in child.stdout.read().splitlines()]
    finally:
        child.kill()
        child.wait(timeout=10)
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL, f"the child died on its own: {lines[-3:]}"
    return lines


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_acknowledged_writes_survive_kill_9(tmp_path: Path, mode: str) -> None:
    """``async``: concurrent AsyncBlockStore puts, acknowledged by group commits."""
    path = tmp_path / "datastore.sqlite"
    rng = random.Random(20260509)
    acknowledged: list[int] = []
    start = 0
    for _ in range(ROUNDS):
        lines = run_and_kill(path, start, rng, mode)
        begun = [tuple(map(int, line.split()[1:])) for line in lines if line.startswith("begin")]
        acked = [tuple(map(int, line.split()[1:])) for line in lines if line.startswith("ack")]
        assert begun, "the child never started writing"
        for first, end in acked:
            acknowledged += range(first, end)
        assert integrity(path) == ["ok"]
        with BlockStore.open(path, StoreConfig(size_bytes=10**9)) as store:
            for n in acknowledged:
                block = chk_block(n)
                assert store.get(block.routing_key) == block, f"acknowledged block {n} lost"
            in_flight = [b for b in begun if b not in acked]
            for first, end in in_flight:
                present = [store.contains(chk_block(n).routing_key) for n in range(first, end)]
                assert all(present) or not any(present), f"batch {first}..{end} half written"
                if all(present):
                    assert all(
                        store.get(chk_block(n).routing_key) == chk_block(n)
                        for n in range(first, end)
                    )
        start = max(end for _first, end in begun)
    assert len(acknowledged) >= ROUNDS
