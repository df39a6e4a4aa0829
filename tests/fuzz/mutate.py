"""Byte-level mutations of seed inputs, shared by the hypothesis tests and the soak runner.

A mutation starts from a valid input (a seed) and applies a few edits: flip a
bit, overwrite a byte with an "interesting" value (0, 0xff, 0x7f, 0x80, a
length boundary), insert or delete a run, duplicate a run, splice in part of
another seed, truncate. Valid-but-damaged inputs get far deeper into a parser
than uniform random bytes, which most parsers refuse at the first byte.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from hypothesis import strategies as st

INTERESTING = (0x00, 0x01, 0x7F, 0x80, 0xFF, 0x20, 0x0A, 0x0D, 0x3D, 0x2F, 0x40, 0x2C)
OPS = ("flip", "set", "insert", "delete", "duplicate", "splice", "truncate")
MAX_INPUT = 256 * 1024  # keeps one input cheap; every parser's own limit is far below or at it


def apply_edit(data: bytearray, op: str, a: int, b: int, payload: bytes) -> None:
    """Apply one edit in place; ``a`` and ``b`` are positions taken modulo the length."""
    n = len(data)
    if op == "flip" and n:
        data[a % n] ^= 1 << (b % 8)
    elif op == "set" and n:
        data[a % n] = INTERESTING[b % len(INTERESTING)] if not payload else payload[0]
    elif op in ("insert", "splice"):
        data[a % (n + 1) : a % (n + 1)] = payload
    elif op == "delete" and n:
        start = a % n
        del data[start : start + 1 + b % 64]
    elif op == "duplicate" and n:
        start = a % n
        chunk = data[start : start + 1 + b % 256]
        at = b % (n + 1)
        data[at:at] = chunk
    elif op == "truncate" and n:
        del data[a % n :]
    del data[MAX_INPUT:]


def mutate(seed: bytes, rng: random.Random, corpus: Sequence[bytes], edits: int = 0) -> bytes:
    """``seed`` with 1–8 random edits (``edits`` overrides the count)."""
    data = bytearray(seed)
    for _ in range(edits or rng.choice((1, 1, 1, 2, 2, 3, 4, 8))):
        op = rng.choice(OPS)
        a, b = rng.getrandbits(32), rng.getrandbits(32)
        if op == "splice" and corpus:
            other = rng.choice(corpus)
            start = rng.randrange(len(other) + 1)
            payload = other[start : start + rng.randrange(1, 65)]
        elif op == "insert":
            payload = rng.randbytes(rng.choice((1, 1, 2, 4, 16, 64)))
        elif op == "set" and rng.random() < 0.5:
            payload = rng.randbytes(1)
        else:
            payload = b""
        apply_edit(data, op, a, b, payload)
    return bytes(data)


_edit = st.tuples(
    st.sampled_from(OPS),
    st.integers(min_value=0, max_value=2**32 - 1),
    st.integers(min_value=0, max_value=2**32 - 1),
    st.binary(max_size=16),
)


def mutated(seeds: Sequence[bytes]) -> st.SearchStrategy[bytes]:
    """Hypothesis: a seed with a few shrinkable edits (or, sometimes, just the seed)."""

    def build(seed: bytes, edits: list[tuple[str, int, int, bytes]]) -> bytes:
        data = bytearray(seed)
        for op, a, b, payload in edits:
            apply_edit(data, op, a, b, payload)
        return bytes(data)

    return st.builds(build, st.sampled_from(list(seeds)), st.lists(_edit, max_size=6))


def fuzz_input(seeds: Sequence[bytes]) -> st.SearchStrategy[bytes]:
    """What every byte-level target is fed: mutated seeds, and plain random bytes."""
    return st.one_of(mutated(seeds), st.binary(max_size=2048))
