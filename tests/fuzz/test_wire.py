"""Fuzz wire messages (the codec over the runtime's registry) and node references."""

from __future__ import annotations

import dataclasses

import cbor2
from hypothesis import example, given
from hypothesis import strategies as st

from node.net.runtime import REGISTRY
from tests.fuzz import targets as t
from tests.fuzz.mutate import fuzz_input

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64 - 1),
    st.sampled_from([0, 1, -1, 18, 19, 2**63, 2**64 - 1, -(2**64)]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 1.0, -0.0, 0.5, 1e-300]),
    st.binary(max_size=80),
    st.sampled_from([bytes(32), bytes(31), bytes(33)]),
    st.text(max_size=20),
)
cbor_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def wire_maps(draw: st.DrawFn) -> bytes:
    """A CBOR map with a real type and its real field names, holding arbitrary values."""
    name = draw(st.sampled_from(sorted(REGISTRY)))
    raw: dict[object, object] = {"t": name}
    for f in dataclasses.fields(REGISTRY[name]):
        if draw(st.integers(0, 9)):
            if f.name == "fold" and draw(st.booleans()):
                raw[f.name] = {"ref": draw(cbor_values), "location": draw(cbor_values)}
            else:
                raw[f.name] = draw(cbor_values)
    if draw(st.integers(0, 9)) == 0:
        raw[draw(st.one_of(st.text(max_size=5), st.integers(), st.binary(max_size=3)))] = 1
    return bytes(cbor2.dumps(raw, canonical=draw(st.integers(0, 9)) > 0))


@given(st.one_of(fuzz_input(t.wire_samples()), wire_maps()))
@example(b"\xa1at\xd9\xd9\xf7\x00")  # a tag
@example(b"\xbf\xff")  # an indefinite map
@example(b"\x81" * 64 + b"\x00")  # deep nesting
@example(b"\x5b\xff\xff\xff\xff\xff\xff\xff\xff")  # a byte string "of 2**64 bytes"
def test_wire_messages(data: bytes) -> None:
    t.check_wire(data)


@given(fuzz_input(t.noderef_samples()[:2]))
def test_noderef_bytes(data: bytes) -> None:
    t.check_noderef_bytes(data)


@given(
    st.one_of(
        fuzz_input(t.noderef_samples()[2:]),
        st.text(max_size=200).map(lambda s: ("SAMIZDAT-NODEREF-1:" + s).encode()),
    )
)
@example(b"SAMIZDAT-NODEREF-9:abc")
@example(b"SAMIZDAT-NODEREF-1:" + b"=" * 9000)
def test_noderef_text(data: bytes) -> None:
    t.check_noderef_text(data)
