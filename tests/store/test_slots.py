"""The slot file: CHK records out of SQLite, migration from inline records, damage, reuse."""

import dataclasses
import logging
import os
import random
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.blocks import Block
from store import Area, BlockStore, DatabaseCorrupt, DatabaseError, StoreConfig, Synchronous
from store import slots as store_slots
from store.slots import SLOT_SIZE, SlotFile, slot_path
from tests.store.conftest import CHK, chk_block, datastore_schema_at, records, write_old_file


def slot_rows(path: Path) -> list[tuple[int, int, int | None]]:
    """(row, length of the inline record, slot) of every row of a closed store."""
    with sqlite3.connect(path) as raw:
        rows = raw.execute("SELECT id, length(record), slot FROM blocks ORDER BY id").fetchall()
    raw.close()
    return rows


def integrity(path: Path) -> list[str]:
    with sqlite3.connect(path) as raw:
        rows = [row[0] for row in raw.execute("PRAGMA integrity_check")]
    raw.close()
    return rows


def slot_bytes(path: Path, slot: int) -> bytes:
    with slot_path(path).open("rb") as slots:
        slots.seek(slot * SLOT_SIZE)
        return slots.read(SLOT_SIZE)


def test_chk_records_go_to_slots_and_ssk_records_stay_inline(
    db_path: Path, chks: list[Block], ssk_pairs: list[tuple[Block, Block]]
) -> None:
    ssk = ssk_pairs[0][0]
    with BlockStore.open(db_path, StoreConfig(inline_below=0, size_bytes=10**7)) as store:
        store.put_many([chks[0], ssk, chks[1]], Area.STORE)
        store.put(chks[2], Area.CACHE)
        assert store.get_many([b.routing_key for b in (ssk, chks[1], chks[2])]) == [
            ssk,
            chks[1],
            chks[2],
        ]
    assert slot_path(db_path) == db_path.with_name("datastore.slots")
    assert slot_rows(db_path) == [(1, 0, 0), (2, 1248, None), (3, 0, 1), (4, 0, 2)]
    assert slot_path(db_path).stat().st_size == 3 * SLOT_SIZE
    assert [len(record) for record in records(db_path)] == [SLOT_SIZE, 1248, SLOT_SIZE, SLOT_SIZE]


def test_a_version_5_store_with_inline_records_opens_and_keeps_its_blocks(
    db_path: Path, chks: list[Block], ssk_pairs: list[tuple[Block, Block]]
) -> None:
    """Written as version 5 wrote it (every record inline); read, evicted, deleted, mixed."""
    old = [(chks[0], Area.STORE), (chks[1], Area.CACHE), (ssk_pairs[0][0], Area.CACHE)]
    old += [(chks[2], Area.CACHE)]
    write_old_file(db_path, old, datastore_schema_at(5))
    assert not slot_path(db_path).exists()
    config = StoreConfig(inline_below=0, size_bytes=8 * CHK)  # four CHK blocks an area
    with BlockStore.open(db_path, config) as store:
        assert [store.get(b.routing_key) for b, _ in old] == [b for b, _ in old]
        # New CHK blocks go to slots; they evict old inline ones (LRU: chks[1] first).
        store.put_many(chks[3:5], Area.CACHE)
        assert not store.contains(chks[1].routing_key)
        assert store.delete(chks[0].routing_key)  # an inline row deleted
        assert store.stats().dropped == 0
    assert slot_rows(db_path) == [(3, 1248, None), (4, CHK + 50, None), (5, 0, 0), (6, 0, 1)]
    assert integrity(db_path) == ["ok"]
    with BlockStore.open(db_path, config) as store:
        held = [ssk_pairs[0][0], chks[2], chks[3], chks[4]]
        assert store.get_many([b.routing_key for b in held]) == held
        assert store.stats().cache.blocks == 4


def test_a_torn_or_garbage_slot_is_dropped_as_damaged_and_the_others_stay(
    db_path: Path, chks: list[Block], caplog: pytest.LogCaptureFixture
) -> None:
    config = StoreConfig(inline_below=0, size_bytes=10**7)
    with BlockStore.open(db_path, config) as store:
        store.put_many(chks[:4], Area.STORE)
    with slot_path(db_path).open("r+b") as slots:
        slots.seek(1 * SLOT_SIZE + 5000)
        slots.write(random.Random(1).randbytes(SLOT_SIZE - 5000))  # torn: a garbage tail
        slots.seek(2 * SLOT_SIZE)
        slots.write(bytes(SLOT_SIZE))  # never written: zeros
    with BlockStore.open(db_path, config) as store, caplog.at_level(logging.WARNING):
        assert [store.get(b.routing_key) for b in chks[:4]] == [chks[0], None, None, chks[3]]
        assert store.stats().dropped == 2
        assert "dropping damaged datastore row 2" in caplog.text
        assert "dropping damaged datastore row 3" in caplog.text
        assert not any(b.routing_key.hex() in caplog.text for b in chks[:4])
        # Their slots are free once the drops committed: the next puts fill them.
        store.put_many(chks[4:6], Area.STORE)
        assert store.get_many([b.routing_key for b in chks[4:6]]) == chks[4:6]
    assert slot_rows(db_path) == [(1, 0, 0), (4, 0, 3), (5, 0, 1), (6, 0, 2)]


def test_a_slot_file_cut_short_drops_only_the_rows_past_its_end(
    db_path: Path, chks: list[Block], caplog: pytest.LogCaptureFixture
) -> None:
    config = StoreConfig(inline_below=0, size_bytes=10**7)
    with BlockStore.open(db_path, config) as store:
        store.put_many(chks[:4], Area.STORE)
    os.truncate(slot_path(db_path), 2 * SLOT_SIZE + 100)  # slot 2 is cut, slot 3 gone
    with caplog.at_level(logging.WARNING), BlockStore.open(db_path, config) as store:
        assert "does not hold the slots of 2 datastore rows" in caplog.text
        assert store.stats().dropped == 2
        assert store.stats().store.blocks == 2
        assert [store.get(b.routing_key) for b in chks[:4]] == [chks[0], chks[1], None, None]
        assert not store.might_contain(chks[3].routing_key)
        assert slot_path(db_path).stat().st_size == 2 * SLOT_SIZE  # the cut slot is trimmed
    assert integrity(db_path) == ["ok"]


def test_rows_naming_no_slot_number_are_dropped_at_open_and_the_others_stay(
    db_path: Path, chks: list[Block], caplog: pytest.LogCaptureFixture
) -> None:
    """A damaged or tampered ``slot`` column (text, a fraction, negative) is bad input
    from disk: those rows are dropped as damaged, never a crash, never another's slot."""
    config = StoreConfig(inline_below=0, size_bytes=10**7)
    with BlockStore.open(db_path, config) as store:
        store.put_many(chks[:5], Area.STORE)
    with sqlite3.connect(db_path) as raw:
        raw.execute("UPDATE blocks SET slot = 'three' WHERE id = 2")
        raw.execute("UPDATE blocks SET slot = 7.5 WHERE id = 3")
        raw.execute("UPDATE blocks SET slot = -1 WHERE id = 4")
    raw.close()
    with caplog.at_level(logging.WARNING), BlockStore.open(db_path, config) as store:
        assert "does not hold the slots of 3 datastore rows" in caplog.text
        assert store.get_many([b.routing_key for b in chks[:5]]) == [
            chks[0],
            None,
            None,
            None,
            chks[4],
        ]
        assert (store.stats().dropped, store.stats().store.blocks) == (3, 2)
        store.put_many(chks[5:8], Area.STORE)  # into the freed slots 1, 2, 3
        assert store.get_many([b.routing_key for b in chks[5:8]]) == chks[5:8]
    assert integrity(db_path) == ["ok"]
    assert sorted(slot for *_, slot in slot_rows(db_path) if slot is not None) == [0, 1, 2, 3, 4]


def test_a_missing_slot_file_is_a_clear_error_and_changes_nothing(
    db_path: Path, chks: list[Block]
) -> None:
    config = StoreConfig(inline_below=0, size_bytes=10**7)
    with BlockStore.open(db_path, config) as store:
        store.put_many(chks[:2], Area.STORE)
    moved = db_path.with_name("elsewhere")
    slot_path(db_path).rename(moved)
    before = db_path.read_bytes()
    with pytest.raises(DatabaseCorrupt, match=r"datastore.slots is missing.*keeps 2 blocks"):
        BlockStore.open(db_path, config)
    assert db_path.read_bytes() == before
    assert not slot_path(db_path).exists()
    moved.rename(slot_path(db_path))
    with BlockStore.open(db_path, config) as store:
        assert store.get_many([b.routing_key for b in chks[:2]]) == chks[:2]


def test_an_unopenable_slot_file_is_a_clear_error(db_path: Path) -> None:
    slot_path(db_path).mkdir()
    with pytest.raises(DatabaseError, match="cannot open the slot file"):
        BlockStore.open(db_path, StoreConfig(inline_below=0, size_bytes=10**7))


def test_a_stale_slot_file_beside_a_new_datastore_is_emptied(
    db_path: Path, chks: list[Block]
) -> None:
    slot_path(db_path).write_bytes(b"\xaa" * (3 * SLOT_SIZE))  # left by a datastore moved away
    with BlockStore.open(db_path, StoreConfig(inline_below=0, size_bytes=10**7)) as store:
        assert slot_path(db_path).stat().st_size == 0
        store.put(chks[0], Area.CACHE)
        assert store.get(chks[0].routing_key) == chks[0]


def test_a_read_error_on_the_slot_file_is_a_clear_error(
    db_path: Path, chks: list[Block], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = BlockStore.open(db_path, StoreConfig(inline_below=0, size_bytes=10**7))
    store.put(chks[0], Area.CACHE)

    def failing_read(self: SlotFile, slot: int, *args: object) -> bytes:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(SlotFile, "read", failing_read)  # pread
    monkeypatch.setattr(SlotFile, "open_record", failing_read)  # mapping the file
    with pytest.raises(DatabaseError, match=r"the slot file .* failed .*Input/output error"):
        store.get(chks[0].routing_key)
    monkeypatch.undo()
    assert store.get(chks[0].routing_key) == chks[0]
    store.close()


@pytest.mark.parametrize("where", ["before the slot writes", "after the slot writes"])
def test_a_failed_transaction_neither_frees_nor_overwrites_slots(
    db_path: Path,
    small_config: StoreConfig,
    chks: list[Block],
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    """The victim's slot keeps its record when the eviction rolls back, and the slot the
    failed put took is free again (the next put takes it)."""
    with BlockStore.open(db_path, dataclasses.replace(small_config, inline_below=0)) as store:
        store.put_many(chks[:3], Area.CACHE)  # the cache is full: the next put evicts chks[0]
        before = [slot_bytes(db_path, slot) for slot in range(3)]
        if where == "before the slot writes":
            remove = BlockStore._remove

            def remove_then_fail(self: BlockStore, *args: object) -> None:
                remove(self, *args)  # type: ignore[arg-type]
                raise sqlite3.OperationalError("disk I/O error")

            monkeypatch.setattr(BlockStore, "_remove", remove_then_fail)
        else:
            flush = SlotFile.flush

            def flush_then_fail(self: SlotFile, *, sync: bool) -> None:
                flush(self, sync=sync)
                raise OSError(28, "No space left on device")

            monkeypatch.setattr(SlotFile, "flush", flush_then_fail)
        with pytest.raises(DatabaseError):
            store.put(chks[3], Area.CACHE)
        monkeypatch.undo()
        assert [slot_bytes(db_path, slot) for slot in range(3)] == before
        order = [chks[1], chks[2], chks[0], chks[3]]
        assert store.get_many([b.routing_key for b in order]) == [*order[:3], None]
        assert store.stats().cache.blocks == 3
        # The gets made chks[1] the least recently used: it goes; slot 3 is taken again.
        assert store.put(chks[3], Area.CACHE).evicted == 1
        assert store.get(chks[3].routing_key) == chks[3]
    assert slot_rows(db_path) == [(1, 0, 0), (3, 0, 2), (4, 0, 3)]
    assert slot_bytes(db_path, 1) == before[1]  # freed, not yet reused: nothing zeroes it


def test_the_slot_file_stays_bounded_under_heavy_eviction(db_path: Path, chks: list[Block]) -> None:
    """Puts one by one and in batches of four into two areas of three blocks each: at most
    the six blocks the limits allow, plus the four one transaction adds, ever."""
    config = StoreConfig(inline_below=0, size_bytes=6 * CHK)
    rng = random.Random(7)
    pool = chks  # 24 blocks for 6 places: puts of new blocks, duplicates and moves
    with BlockStore.open(db_path, config, location=0.3) as store:
        for _ in range(150):
            batch = rng.sample(pool, rng.choice((1, 4)))
            store.put_many(batch, rng.choice(list(Area)))
            assert slot_path(db_path).stat().st_size <= (6 + 4) * SLOT_SIZE
            assert store._slots.end <= 6 + 4
            if rng.random() < 0.1:
                store.delete(rng.choice(pool).routing_key)
        held = [block for block in chks if store.contains(block.routing_key)]
        assert store.get_many([b.routing_key for b in held]) == held
        assert store.stats().dropped == 0
    # Closing cuts the slot file after the last slot in use.
    last = max(slot for *_, slot in slot_rows(db_path) if slot is not None)
    assert slot_path(db_path).stat().st_size == (last + 1) * SLOT_SIZE


def test_a_put_many_far_larger_than_the_area_reuses_its_own_slots(
    db_path: Path, chks: list[Block]
) -> None:
    """A slot taken and freed inside one transaction was never named by a committed row:
    it is reused at once, so one big batch does not grow the file by its own size."""
    with BlockStore.open(db_path, StoreConfig(inline_below=0, size_bytes=6 * CHK)) as store:
        store.put_many(chks[:3], Area.CACHE)
        store.put_many(chks[3:], Area.CACHE)  # 21 blocks through a 3-block cache
        assert store._slots.end <= 3 + 3 + 1
        assert store.get_many([b.routing_key for b in chks[-3:]]) == chks[-3:]


def test_full_commits_fdatasync_the_slot_file_before_commit_and_normal_ones_do_not(
    tmp_path: Path, chks: list[Block], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    fdatasync = os.fdatasync

    def counted(fd: int) -> None:
        calls.append("fdatasync")
        fdatasync(fd)

    monkeypatch.setattr(os, "fdatasync", counted)
    for sync, expected in ((Synchronous.FULL, ["fdatasync"]), (Synchronous.NORMAL, [])):
        config = StoreConfig(inline_below=0, size_bytes=10**7, synchronous=sync)
        with BlockStore.open(tmp_path / f"{sync.value}.sqlite", config) as store:
            calls.clear()
            store.put_many(chks[:3], Area.STORE)  # one transaction: one fdatasync
            assert calls == expected
            calls.clear()
            store.get(chks[0].routing_key)
            store.delete(chks[1].routing_key)  # no slot written: no fdatasync
            assert calls == []


# -- the slot allocator against a model -------------------------------------------

OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("take"), st.integers(0, 0)),
        st.tuples(st.just("release"), st.integers(0, 63)),
        st.tuples(st.just("commit"), st.integers(0, 0)),
        st.tuples(st.just("rollback"), st.integers(0, 0)),
    ),
    max_size=80,
)


@given(used=st.sets(st.integers(0, 40), max_size=20), operations=OPERATIONS)
def test_a_slot_is_never_handed_out_while_a_committed_row_may_name_it(
    used: set[int], operations: list[tuple[str, int]]
) -> None:
    """Model: ``committed`` are the slots committed rows name. A slot is taken only if no
    committed row names it and the transaction has not taken it; always the lowest such;
    a release frees a committed slot only at commit, a taken one at once."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "x.slots"
        path.touch()
        slots = SlotFile.open(path, sorted(used), durable=False)
        committed = set(used)
        taken: set[int] = set()
        released: set[int] = set()
        record = bytes(SLOT_SIZE)
        try:
            for operation, pick in operations:
                if operation == "take":
                    slot = slots.take(record)
                    assert slot == min(set(range(slots.end)) - committed - taken)
                    assert slot not in committed and slot not in taken
                    taken.add(slot)
                elif operation == "release":
                    live = sorted((committed - released) | taken)
                    if not live:
                        continue
                    slot = live[pick % len(live)]
                    slots.release(slot)
                    if slot in taken:
                        taken.remove(slot)
                    else:
                        released.add(slot)
                elif operation == "commit":
                    slots.flush(sync=False)
                    slots.commit()
                    committed = (committed - released) | taken
                    taken, released = set(), set()
                else:
                    slots.rollback()
                    taken, released = set(), set()
                assert slots.free == slots.end - len(committed | taken)
        finally:
            slots.close()


def _record(n: int) -> bytes:
    """A slot-sized record that differs from every other n's at its first and last bytes."""
    mark = n.to_bytes(4, "big")
    return mark + bytes(SLOT_SIZE - 8) + mark


@given(
    used=st.sets(st.integers(0, 90), max_size=40),
    puts=st.integers(0, 100),
    pwritev=st.sampled_from(["whole", "short", "absent"]),
)
def test_flush_writes_every_staged_record_into_its_own_slot(
    used: set[int], puts: int, pwritev: str
) -> None:
    """Runs of neighbouring slots (longer than one pwritev takes, broken by slots in use)
    go out in few calls, and each record lands in its slot and nowhere else; a short
    pwritev is finished, and a system without pwritev writes them one by one."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "x.slots"
        before = b"".join(_record(10_000 + slot) for slot in range(max(used, default=-1) + 1))
        path.write_bytes(before)
        slots = SlotFile.open(path, sorted(used), durable=False)
        calls: list[int] = []

        def short(fd: int, buffers: list[bytes], offset: int) -> int:
            calls.append(len(buffers))
            return os.pwrite(fd, buffers[0][:1000], offset)  # far less than asked

        def counted(fd: int, buffers: list[bytes], offset: int) -> int:
            calls.append(len(buffers))
            return os.pwritev(fd, buffers, offset)

        replacement = {"whole": counted, "short": short, "absent": None}[pwritev]
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(store_slots, "_pwritev", replacement)
            try:
                placed = {slots.take(_record(n)): n for n in range(puts)}
                slots.flush(sync=False)
                slots.commit()
            finally:
                slots.close()
        data = path.read_bytes()
        end = max([*used, *placed], default=-1) + 1
        assert len(data) == end * SLOT_SIZE
        for slot in range(end):
            record = _record(placed[slot]) if slot in placed else _record(10_000 + slot)
            assert data[slot * SLOT_SIZE : (slot + 1) * SLOT_SIZE] == record
        runs: list[list[int]] = []  # neighbouring slots, at most _MAX_RUN to a run
        for slot in sorted(placed):
            if runs and slot == runs[-1][-1] + 1 and len(runs[-1]) < store_slots._MAX_RUN:
                runs[-1].append(slot)
            else:
                runs.append([slot])
        assert calls == ([len(run) for run in runs if len(run) > 1] if replacement else [])


@pytest.fixture(scope="module")
def filled_slots(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    """A closed store of six CHK blocks: its database and slot file, as bytes."""
    path = tmp_path_factory.mktemp("filled") / "datastore.sqlite"
    with BlockStore.open(path, StoreConfig(inline_below=0, size_bytes=10**7)) as store:
        store.put_many([chk_block(n) for n in range(6)], Area.STORE)
    return path.read_bytes(), slot_path(path).read_bytes()


@given(
    damage=st.lists(
        st.tuples(st.integers(0, 6 * SLOT_SIZE), st.binary(min_size=1, max_size=64)),
        max_size=4,
    ),
    cut=st.one_of(st.none(), st.integers(0, 6 * SLOT_SIZE)),
)
def test_any_damage_to_the_slot_file_loses_only_the_damaged_blocks(
    filled_slots: tuple[bytes, bytes], damage: list[tuple[int, bytes]], cut: int | None
) -> None:
    database, slot_file = filled_slots
    changed = bytearray(slot_file)
    for offset, data in damage:
        changed[offset : offset + len(data)] = data
    if cut is not None:
        del changed[cut:]
    blocks = [chk_block(n) for n in range(6)]
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "datastore.sqlite"
        path.write_bytes(database)
        slot_path(path).write_bytes(bytes(changed))
        with BlockStore.open(path, StoreConfig(inline_below=0, size_bytes=10**7)) as store:
            got = store.get_many([b.routing_key for b in blocks])
            for n, block in enumerate(blocks):
                intact = (
                    changed[n * SLOT_SIZE : (n + 1) * SLOT_SIZE]
                    == (slot_file[n * SLOT_SIZE : (n + 1) * SLOT_SIZE])
                )
                assert got[n] == (block if intact else None)
            assert store.stats().dropped == sum(g is None for g in got)
