"""``hash_for`` hashes the concatenation of its parts, however they are split."""

import blake3
from hypothesis import given
from hypothesis import strategies as st

from crypto.primitives import hash_for

CONTEXT = "samizdat/test-hash-for/v1"


@given(st.lists(st.binary(max_size=200), max_size=5))
def test_the_parts_are_hashed_as_their_concatenation(parts: list[bytes]) -> None:
    joined = b"".join(parts)
    expected = blake3.blake3(joined, derive_key_context=CONTEXT).digest()
    assert hash_for(CONTEXT, *parts) == hash_for(CONTEXT, joined) == expected
    assert type(hash_for(CONTEXT, *parts)) is bytes


def test_no_parts_is_the_hash_of_nothing() -> None:
    assert hash_for(CONTEXT) == blake3.blake3(b"", derive_key_context=CONTEXT).digest()
