"""Token bucket and fair limiter properties, with time as an input; and the anyio wrapper."""

from __future__ import annotations

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.net.bandwidth import BandwidthLimiter, FairLimiter, TokenBucket


@given(
    st.floats(1e3, 1e7),
    st.floats(1e3, 1e6),
    st.lists(st.tuples(st.floats(0, 0.5), st.integers(0, 70_000)), max_size=50),
)
def test_bucket_never_exceeds_rate_plus_burst_plus_one_debt(
    rate: float, burst: float, steps: list[tuple[float, int]]
) -> None:
    bucket = TokenBucket(rate, burst, now=0.0)
    now, granted, largest = 0.0, 0, 0
    for dt, n in steps:
        now += dt
        if bucket.try_consume(n, now):
            granted += n
            largest = max(largest, n)
        assert bucket.ready_at(now) >= now
    assert granted <= burst + rate * now + largest + 1e-6


def test_bucket_refuses_while_in_debt_and_says_when() -> None:
    bucket = TokenBucket(1000, 100, now=0.0)
    assert bucket.try_consume(600, 0.0)  # into debt by 500
    assert not bucket.try_consume(1, 0.1)
    ready = bucket.ready_at(0.1)
    assert ready == pytest.approx(0.5, abs=1e-3)
    assert bucket.try_consume(1, ready)
    with pytest.raises(ValueError):
        TokenBucket(0, 1, now=0)


def drain(limiter: FairLimiter, until: float, step: float = 0.01) -> list[int]:
    granted: list[int] = []
    now = 0.0
    while now < until:
        granted += limiter.poll(now)
        now += step
    return granted


@given(st.integers(500, 9000), st.integers(500, 9000), st.integers(1000, 20_000))
def test_backlogged_peers_share_bytes_equally(size_a: int, size_b: int, quantum: int) -> None:
    limiter = FairLimiter(100_000, burst=10_000, quantum=quantum, now=0.0)
    owner: dict[int, tuple[str, int]] = {}
    for _ in range(400):
        owner[limiter.enqueue("a", size_a)] = ("a", size_a)
        owner[limiter.enqueue("b", size_b)] = ("b", size_b)
    sent = {"a": 0, "b": 0}
    for ticket in drain(limiter, 2.0):
        peer, size = owner[ticket]
        sent[peer] += size
    total = sent["a"] + sent["b"]
    assert total <= 10_000 + 100_000 * 2.0 + max(size_a, size_b)
    assert abs(sent["a"] - sent["b"]) <= quantum + max(size_a, size_b)


def test_an_idle_peer_leaves_its_share_to_others_and_cancel_works() -> None:
    limiter = FairLimiter(10_000, burst=1000, quantum=1000, now=0.0)
    tickets = [limiter.enqueue("busy", 1000) for _ in range(10)]
    lone = limiter.enqueue("quiet", 1000)
    limiter.cancel(lone)
    limiter.cancel(lone)  # twice is harmless
    granted = drain(limiter, 1.0)
    assert granted == tickets
    assert limiter.waiting == 0 and limiter.next_wakeup(1.0) is None


def test_order_within_a_peer_is_kept() -> None:
    limiter = FairLimiter(1e9, now=0.0)
    tickets = [limiter.enqueue("p", n) for n in (10, 20_000, 5)]
    assert limiter.poll(0.0) + limiter.poll(0.0) + limiter.poll(0.0) == tickets


@pytest.mark.anyio
async def test_unlimited_is_free_and_limited_takes_time() -> None:
    await BandwidthLimiter(None).acquire("p", 10**9)
    limiter = BandwidthLimiter(400_000, burst=10_000, quantum=10_000)
    finished: dict[str, float] = {}
    start = anyio.current_time()

    async def sender(peer: str) -> None:
        for _ in range(10):
            await limiter.acquire(peer, 10_000)
        finished[peer] = anyio.current_time() - start

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(sender, "a")
            tg.start_soon(sender, "b")
    # 200 kB at 400 kB/s with 10 kB saved up: about 0.45 s, and both finish together
    # (within one grant of each other; the slack is for a loaded host's scheduler,
    # which failed the 0.1 s bound once under a full test run beside benchmarks).
    last = max(finished.values())
    assert 0.35 <= last <= 3.0
    assert abs(finished["a"] - finished["b"]) <= max(0.1, 0.25 * last)


@pytest.mark.anyio
async def test_cancelled_waiter_leaves_the_queue() -> None:
    limiter = BandwidthLimiter(1000, burst=1000)
    await limiter.acquire("p", 5000)  # deep debt: the next waiter must wait ~4 s
    with anyio.move_on_after(0.05):
        await limiter.acquire("q", 10)
    assert limiter._core is not None and limiter._core.waiting == 0
