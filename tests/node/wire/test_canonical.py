"""The codec's canonical-form check and encoder, against cbor2's canonical encoder.

The codec decides "is this input the canonical encoding of what it decoded
to?" by key order and length arithmetic, and encodes by writing the map's
pieces itself. Both must agree with the plain definition, kept here as the
reference: ``cbor2.dumps(value, canonical=True)``. The inputs are every
message type (the test set and the core's), re-encoded with random head
widths, float widths, key orders and trailing bytes, so that canonical and
non-canonical encodings of one and the same value are both well covered.
"""

from __future__ import annotations

import dataclasses
import itertools
import struct
import typing
from collections.abc import Callable
from typing import Any, ClassVar

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.core import messages as m
from node.core.config import MAX_HTL
from node.wire import cbor
from node.wire import codec as codec_module
from node.wire.codec import Codec
from node.wire.errors import RemoteProtocolError
from tests.node.wire.messages import REGISTRY, Block, Ping, everything

TEST_CODEC = Codec(REGISTRY)
CORE_CODEC = Codec(m.MESSAGE_TYPES)


def reference_is_canonical(raw: object, data: bytes) -> bool:
    """The definition: ``data`` is byte for byte the canonical encoding of ``raw``."""
    return bool(cbor2.dumps(raw, canonical=True) == data)


def strict_loads(data: bytes) -> Any:
    return cbor2.loads(
        data,
        tag_hook=codec_module._reject_tag,
        semantic_decoders=codec_module._REJECT_SEMANTIC,
        allow_indefinite=False,
        allow_duplicate_keys=False,
        strict_hashable_types=True,
    )


# --- core messages, drawn from their declared limits ---------------------------------

# What __post_init__ demands beyond the metadata, by field name.
OVERRIDES: dict[str, st.SearchStrategy[Any]] = {
    "routing_key": st.binary(min_size=32, max_size=32),
    "htl": st.integers(1, MAX_HTL),
    "location": st.floats(0.0, 1.0, exclude_max=True),
    "beta": st.floats(m.MIN_SWAP_BETA, 1.0),
    "ref": st.binary(min_size=1, max_size=40) | st.integers(1, m.MAX_REF).map(bytes),
}


def sized_bytes(lo: int, hi: int) -> st.SearchStrategy[bytes]:
    """Short random bytes, or long zero bytes up to ``hi`` (every length-head width)."""
    return st.binary(min_size=lo, max_size=min(hi, 40)) | st.integers(lo, hi).map(bytes)


def value_for(hint: object, meta: typing.Mapping[str, Any], name: str) -> st.SearchStrategy[Any]:
    if name in OVERRIDES:
        return OVERRIDES[name]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is bool:
        return st.booleans()
    if hint is int:
        return st.integers(meta.get("min", -(2**64)), meta.get("max", 2**64 - 1))
    if hint is float:
        return st.floats(meta.get("min"), meta.get("max"), allow_nan=False, allow_infinity=False)
    if hint is bytes:
        return sized_bytes(meta.get("min", 0), meta["max"])
    if origin is tuple:
        item = st.floats(0.0, 1.0, exclude_max=True)  # the core's only tuples are locations
        many = st.integers(0, meta["max"]).map(lambda n: (0.25,) * n)  # every count-head width
        return st.lists(item, max_size=8).map(tuple) | many
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return message_of(hint)
    if origin is typing.Union or origin is not None:
        (inner,) = [a for a in args if a is not type(None)]
        return st.none() | value_for(inner, meta, name)
    raise AssertionError(f"no strategy for {hint!r}")


def message_of(cls: type) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls)
    fields = {f.name: value_for(hints[f.name], f.metadata, f.name) for f in dataclasses.fields(cls)}
    return st.builds(cls, **fields)


core_messages = st.sampled_from(list(m.MESSAGE_TYPES.values())).flatmap(message_of)


# --- a loose CBOR encoder: any head width, any float width, any key order ------------


class Loose:
    """Encodes a decoded value canonically except at the chosen decision points.

    Every head width, float width and map key order is a decision point,
    numbered in encoding order; at the points in ``deviate`` the encoder takes
    a drawn non-canonical alternative (where there is one). Deviating at one
    or two points at a time covers each kind of non-canonical form alone.
    """

    def __init__(self, draw: Callable[[st.SearchStrategy[Any]], Any], deviate: set[int]) -> None:
        self.draw, self.deviate, self.points = draw, deviate, 0

    def choose(self, options: list[Any]) -> Any:
        point, self.points = self.points, self.points + 1
        if point in self.deviate and len(options) > 1:
            return self.draw(st.sampled_from(options[1:]))
        return options[0]

    def head(self, major: int, n: int) -> bytes:
        limits = ((0, 24), (1, 2**8), (2, 2**16), (4, 2**32), (8, 2**64))
        width = self.choose([w for w, limit in limits if n < limit])
        if width == 0:
            return bytes([major << 5 | n])
        extra = {1: 24, 2: 25, 4: 26, 8: 27}[width]
        return bytes([major << 5 | extra]) + n.to_bytes(width, "big")

    def encode(self, value: object) -> bytes:
        if value is None:
            return b"\xf6"
        if value is True or value is False:
            return b"\xf5" if value else b"\xf4"
        if type(value) is int:
            return self.head(0, value) if value >= 0 else self.head(1, -1 - value)
        if type(value) is float:
            widths = [(0xF9, ">e"), (0xFA, ">f"), (0xFB, ">d")]
            code, fmt = self.choose([(c, f) for c, f in widths if _round_trips(value, f)])
            return bytes([code]) + struct.pack(fmt, value)
        if type(value) is bytes:
            return self.head(2, len(value)) + value
        if type(value) is str:
            utf8 = value.encode()
            return self.head(3, len(utf8)) + utf8
        if type(value) is list:
            return self.head(4, len(value)) + b"".join(self.encode(x) for x in value)
        if type(value) is dict:
            keys = list(value)  # the codec's raw maps come in canonical order
            others = [
                p for p in itertools.islice(itertools.permutations(keys), 24) if list(p) != keys
            ]
            order = self.choose([keys, *others])
            return self.head(5, len(value)) + b"".join(
                self.encode(key) + self.encode(value[key]) for key in order
            )
        raise AssertionError(f"unexpected {value!r}")


def _round_trips(value: float, fmt: str) -> bool:
    try:
        return bool(struct.unpack(fmt, struct.pack(fmt, value))[0] == value)
    except (OverflowError, struct.error):
        return False


def check_against_reference(codec: Codec, message: object, data: st.DataObject) -> None:
    canonical = codec.encode(message)
    raw = strict_loads(canonical)
    assert canonical == cbor2.dumps(raw, canonical=True)
    counter = Loose(data.draw, set())
    assert counter.encode(raw) == canonical
    deviate = data.draw(st.sets(st.integers(0, counter.points - 1), max_size=2))
    encoded = Loose(data.draw, deviate).encode(raw)
    if data.draw(st.integers(0, 3)) == 0:
        encoded += data.draw(st.binary(min_size=1, max_size=3))  # trailing bytes
    decoded_raw = strict_loads(encoded)
    verdict = reference_is_canonical(decoded_raw, encoded)
    class_codec = codec._by_class[type(message)]
    class_codec.decode_map(decoded_raw, 1)  # the check assumes a valid map
    assert codec_module._is_canonical(class_codec, decoded_raw, encoded) is verdict
    if verdict:
        assert encoded == canonical
        assert codec.decode(encoded) == message
    else:
        with pytest.raises(RemoteProtocolError, match="canonical"):
            codec.decode(encoded)


# Integers on each side of every head-width boundary, both signs.
EDGE_INTS = sorted(
    {
        v
        for b in (24, 2**8, 2**16, 2**32, 2**64)
        for v in (b - 1, b, -b, -b - 1)
        if -(2**64) <= v <= 2**64 - 1
    }
)
everything_at_edges = st.builds(
    dataclasses.replace,
    everything,
    anyint=st.sampled_from(EDGE_INTS),
    blob=st.sampled_from([23, 24, 255, 256, 40_000]).map(bytes),
)


@settings(max_examples=300)
@given(everything | everything_at_edges, st.data())
def test_the_canonical_check_agrees_with_re_encoding(message: Any, data: st.DataObject) -> None:
    check_against_reference(TEST_CODEC, message, data)


@settings(max_examples=300)
@given(core_messages, st.data())
def test_the_canonical_check_agrees_with_re_encoding_for_core_messages(
    message: Any, data: st.DataObject
) -> None:
    check_against_reference(CORE_CODEC, message, data)


@given(core_messages)
def test_core_messages_encode_as_cbor2_canonical_and_round_trip(message: Any) -> None:
    data = CORE_CODEC.encode(message)
    assert data == cbor2.dumps(strict_loads(data), canonical=True)
    decoded = CORE_CODEC.decode(data)
    assert decoded == message and type(decoded) is type(message)
    assert Codec(m.MESSAGE_TYPES).encode(decoded) == data


@given(everything)
def test_test_messages_encode_as_cbor2_canonical(message: Any) -> None:
    data = TEST_CODEC.encode(message)
    assert data == cbor2.dumps(strict_loads(data), canonical=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, b"\x00"),
        (23, b"\x17"),
        (24, b"\x18\x18"),
        (255, b"\x18\xff"),
        (256, b"\x19\x01\x00"),
        (65535, b"\x19\xff\xff"),
        (65536, b"\x1a\x00\x01\x00\x00"),
        (2**32 - 1, b"\x1a\xff\xff\xff\xff"),
        (2**32, b"\x1b\x00\x00\x00\x01\x00\x00\x00\x00"),
        (2**64 - 1, b"\x1b" + b"\xff" * 8),
    ],
)
def test_heads_are_the_shortest(value: int, expected: bytes) -> None:
    assert cbor.head(0, value) == expected == cbor2.dumps(value)
    assert cbor.head_size(value) == len(expected)


@pytest.mark.parametrize("value", EDGE_INTS)
def test_integer_sizes_at_every_boundary(value: int) -> None:
    assert codec_module._int_size(value) == len(cbor2.dumps(value))


def test_a_decoded_message_is_built_as_its_constructor_builds_it() -> None:
    message = m.DataFound(uid=1, kind=2, routing_key=bytes(32), data=b"x", fold=None)
    decoded = CORE_CODEC.decode(CORE_CODEC.encode(message))
    assert type(decoded) is m.DataFound
    assert [getattr(decoded, f.name) for f in dataclasses.fields(m.DataFound)] == [
        getattr(message, f.name) for f in dataclasses.fields(m.DataFound)
    ]
    with pytest.raises(dataclasses.FrozenInstanceError):
        decoded.uid = 2  # type: ignore[misc]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OwnInit:
    """A class with a hand-written __init__: the codec must call it, not bypass it."""

    TYPE: ClassVar[str] = "own_init"
    n: int = dataclasses.field(metadata={"min": 0, "max": 100})

    def __init__(self, *, n: int) -> None:
        if n == 13:
            raise ValueError("unlucky")
        object.__setattr__(self, "n", n)


def test_a_class_with_its_own_init_is_built_by_calling_it() -> None:
    codec = Codec({OwnInit.TYPE: OwnInit})
    assert not codec._by_class[OwnInit].direct
    assert CORE_CODEC._by_class[m.DataFound].direct
    assert codec.decode(cbor2.dumps({"t": "own_init", "n": 5}, canonical=True)) == OwnInit(n=5)
    with pytest.raises(RemoteProtocolError, match="unlucky"):
        codec.decode(cbor2.dumps({"t": "own_init", "n": 13}, canonical=True))


def test_post_init_still_runs_on_decoded_messages() -> None:
    data = cbor2.dumps(
        {"t": "data_request", "uid": 1, "kind": 1, "routing_key": bytes(32), "htl": 0},
        canonical=True,
    )
    with pytest.raises(RemoteProtocolError, match="HTL"):
        CORE_CODEC.decode(data)
    short_key = cbor2.dumps(
        {"t": "insert", "uid": 1, "kind": 1, "routing_key": bytes(31), "htl": 3, "sinks": 0},
        canonical=True,
    )
    with pytest.raises(RemoteProtocolError, match="routing key"):
        CORE_CODEC.decode(short_key)


def _shortest_exact_width(value: float) -> int:
    """3, 5 or 9: the shortest CBOR float that holds ``value`` exactly (sign of zero too)."""
    for size, fmt in ((3, ">e"), (5, ">f")):
        if _round_trips(value, fmt):  # packing keeps the sign of zero
            return size
    return 9


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_cbor2_writes_a_float_in_its_shortest_exact_width(value: float) -> None:
    """What the length arithmetic assumes: no shorter encoding of a float exists than cbor2's."""
    assert len(cbor2.dumps(value, canonical=True)) == _shortest_exact_width(value)


def test_cbor2_writes_every_half_precision_float_in_its_shortest_width() -> None:
    for bits in range(0x10000):
        (value,) = struct.unpack(">e", bits.to_bytes(2, "big"))
        if value == value and abs(value) != float("inf"):
            assert len(cbor2.dumps(value, canonical=True)) == 3


# --- the fast path, against the full decoder ---------------------------------------


def slow_codec(registry: dict[str, type]) -> Codec:
    """A codec whose every decode goes through cbor2 and the full checks."""
    codec = Codec(registry)
    codec._fast.clear()
    return codec


SLOW_CORE, SLOW_TEST = slow_codec(m.MESSAGE_TYPES), slow_codec(REGISTRY)


def outcome(codec: Codec, data: bytes) -> tuple[str, object]:
    try:
        message = codec.decode(data)
    except RemoteProtocolError as exc:
        return "refused", str(exc)
    return type(message).__name__, message


def mutated(encoded: bytes, data: st.DataObject) -> bytes:
    """``encoded`` with a few bytes changed, inserted, removed or cut off."""
    out = bytearray(encoded)
    for _ in range(data.draw(st.integers(0, 3))):
        where = data.draw(st.integers(0, max(len(out) - 1, 0)))
        how = data.draw(st.sampled_from(["set", "insert", "delete", "cut"]))
        byte = data.draw(st.integers(0, 255))
        if how == "set" and out:
            out[where] = byte
        elif how == "insert":
            out.insert(where, byte)
        elif how == "delete" and out:
            del out[where]
        elif how == "cut":
            del out[where:]
    return bytes(out)


@settings(max_examples=400)
@given(core_messages | everything | message_of(Block) | message_of(Ping), st.data())
def test_the_fast_path_decodes_exactly_what_the_full_decoder_does(
    message: Any, data: st.DataObject
) -> None:
    """Canonical encodings of every class, the same values with non-canonical heads or
    key orders, trailing bytes, and bytes changed, inserted, removed or cut: the codec
    with its fast path says exactly what the full decoder says (the same message, or
    the same refusal); and for a class it may read, the fast path reads the canonical
    encoding itself."""
    core = type(message) in m.MESSAGE_TYPES.values()
    codec, slow = (CORE_CODEC, SLOW_CORE) if core else (TEST_CODEC, SLOW_TEST)
    canonical = codec.encode(message)
    class_codec = codec._by_class[type(message)]
    if class_codec.fast is not None:  # null optionals only: a nested map is not its to read
        fields = dataclasses.fields(message)
        nested = any(dataclasses.is_dataclass(getattr(message, f.name)) for f in fields)
        assert class_codec.decode_fast(canonical) == (None if nested else message)
    assert codec.decode(canonical) == message
    raw = strict_loads(canonical)
    counter = Loose(data.draw, set())
    counter.encode(raw)
    deviate = data.draw(st.sets(st.integers(0, counter.points - 1), max_size=2))
    encoded = Loose(data.draw, deviate).encode(raw)
    if data.draw(st.booleans()):
        encoded = mutated(encoded, data)
    if data.draw(st.integers(0, 3)) == 0:
        encoded += data.draw(st.binary(min_size=1, max_size=3))  # trailing bytes
    assert outcome(codec, encoded) == outcome(slow, encoded)


def test_the_fast_path_reads_the_hot_messages_and_leaves_floats_to_cbor2() -> None:
    fast = {codec.type_name for codec in CORE_CODEC._fast.values()}
    assert {"data_request", "data_found", "insert", "insert_data", "route_not_found"} <= fast
    assert "location_update" not in fast  # a float: cbor2 and the canonical check
    request = m.DataRequest(uid=5, kind=1, routing_key=bytes(32), htl=18)
    data = CORE_CODEC.encode(request)
    assert CORE_CODEC._by_class[m.DataRequest].decode_fast(data) == request
    # A folded DataFound carries a nested map: the fast path hands it over.
    found = m.DataFound(
        uid=5,
        kind=1,
        routing_key=bytes(32),
        data=bytes(32_788),
        fold=m.FoldRef(ref=b"r", location=0.5),
    )
    encoded = CORE_CODEC.encode(found)
    assert CORE_CODEC._by_class[m.DataFound].decode_fast(encoded) is None
    assert CORE_CODEC.decode(encoded) == found
    # Not bytes: the full decoder reads it.
    assert CORE_CODEC.decode(bytearray(data)) == request  # type: ignore[arg-type]
