"""Crash safety: a child putting blocks is killed with SIGKILL at random moments.

After each kill the file must pass ``PRAGMA integrity_check``, every block whose
put was acknowledged must be there intact, and the batch in flight must be
wholly there or wholly absent. ``slots`` puts every record in a slot,
``inline`` every record inline (one fsync a transaction), ``sync`` and
``evict`` mix both (batches of 1-3 blocks inline, 4 in slots). In every
other round of the ``slots``, ``inline`` and ``evict`` modes the kill lands
between the slot file writes of a transaction (none, inline) and its
``COMMIT``: that batch must be absent, and every row must still find
its own record in its slot. ``evict`` puts into a cache of a few blocks, so
slots are freed and reused all the time: no row may ever read another's record
(``dropped`` stays 0) and the slot file stays bounded.
"""

import dataclasses
import functools
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crypto.blocks import Block
from store import BlockStore, StoreConfig
from store.slots import SLOT_SIZE, slot_path
from tests.store.conftest import chk_block, row_forms
from tests.store.crash_child import SMALL_BLOCKS, SMALL_CONFIG

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 20


@functools.cache
def block(n: int) -> Block:
    return chk_block(n)


def integrity(path: Path) -> list[str]:
    raw = sqlite3.connect(path)
    try:
        return [row[0] for row in raw.execute("PRAGMA integrity_check")]
    finally:
        raw.close()


def run_and_kill(path: Path, start: int, rng: random.Random, mode: str, hold: bool) -> list[str]:
    """Start a child at block ``start``, kill it after some acknowledgements; its output.

    With ``hold``, the kill comes once the child says it has written a
    transaction's slot records and is waiting before its commit.
    """
    wanted = rng.randint(1, 12)
    command = [sys.executable, "-m", "tests.store.crash_child", str(path), str(start), mode]
    child = subprocess.Popen(
        command + ([str(wanted)] if hold else []), cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    lines: list[str] = []
    try:
        assert child.stdout is not None
        while sum(line.startswith("ack") for line in lines) < wanted or (
            hold and lines[-1] != "written"
        ):
            line = child.stdout.readline()
            if not line:
                break
            lines.append(line.strip())
        if not hold:
            time.sleep(rng.uniform(0, 0.004))
        child.send_signal(signal.SIGKILL)
        lines += [line.strip() for line in child.stdout.read().splitlines()]
    finally:
        child.kill()
        child.wait(timeout=10)
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL, f"the child died on its own: {lines[-3:]}"
    assert not hold or "written" in lines, "the child was not held before its commit"
    return lines


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
@pytest.mark.parametrize("mode", ["sync", "async", "slots", "inline", "evict"])
def test_acknowledged_writes_survive_kill_9(tmp_path: Path, mode: str) -> None:
    """``async``: concurrent AsyncBlockStore puts, acknowledged by group commits."""
    path = tmp_path / "datastore.sqlite"
    rng = random.Random(20260509)
    evicting = mode == "evict"
    config = SMALL_CONFIG if evicting else StoreConfig(size_bytes=10**9)
    acknowledged: list[int] = []
    forms = (0, 0)  # inline rows and slot rows seen after the kills
    start = 0
    for number in range(ROUNDS):
        hold = mode in ("slots", "inline", "evict") and number % 2 == 1
        lines = run_and_kill(path, start, rng, mode, hold)
        begun = [tuple(map(int, line.split()[1:])) for line in lines if line.startswith("begin")]
        acked = [tuple(map(int, line.split()[1:])) for line in lines if line.startswith("ack")]
        assert begun, "the child never started writing"
        for first, end in acked:
            acknowledged += range(first, end)
        assert integrity(path) == ["ok"]
        inline, in_slots = row_forms(path)
        assert not (mode == "slots" and inline), "a record was kept inline"
        assert not (mode == "inline" and in_slots), "a record went to a slot"
        forms = (forms[0] + inline, forms[1] + in_slots)
        in_flight = [b for b in begun if b not in acked]
        with BlockStore.open(path, dataclasses.replace(config, check_on_open=True)) as store:
            if evicting:
                # Blocks come and go; every row left must open to its own block.
                found = [n for n in range(max(e for _f, e in begun)) if check(store, n)]
                assert len(found) == store.stats().cache.blocks
                first, end = acked[-1]
                assert set(range(first, end)) <= set(found), "the last acknowledged batch lost"
                assert store.stats().dropped == 0, "a row read another row's record"
            else:
                for n in acknowledged:
                    assert store.get(block(n).routing_key) == block(n), f"acked block {n} lost"
            for first, end in in_flight:
                present = [store.contains(block(n).routing_key) for n in range(first, end)]
                assert all(present) or not any(present), f"batch {first}..{end} half written"
                assert not (hold and any(present)), f"batch {first}..{end} held, yet committed"
                if all(present):
                    assert all(check(store, n) for n in range(first, end))
            assert store.stats().dropped == 0
        if evicting:  # at most the cache's blocks and one transaction's, after the open's trim
            assert slot_path(path).stat().st_size <= (SMALL_BLOCKS + 4) * SLOT_SIZE
        start = max(end for _first, end in begun)
    assert len(acknowledged) >= ROUNDS
    if mode in ("sync", "evict"):
        assert all(forms), "the mixed modes wrote only one form of row"


def check(store: BlockStore, n: int) -> bool:
    """Whether block ``n`` is held; if it is, it must read back intact."""
    got = store.get(block(n).routing_key)
    assert got is None or got == block(n), f"block {n} read back wrong"
    return got is not None
