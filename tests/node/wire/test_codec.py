"""The strict CBOR codec: round trips, and every malformed input is a RemoteProtocolError."""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import cbor2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.wire.codec import REMEMBERED, Codec, registry_of
from node.wire.errors import LocalProtocolError, RemoteProtocolError
from tests.node.wire.messages import REGISTRY, Block, Everything, Ping, Point, everything

CODEC = Codec(REGISTRY)


def raw_everything(**changes: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "t": "everything",
        "count": 3,
        "anyint": -5,
        "ratio": 0.5,
        "flag": True,
        "key": b"abcd",
        "blob": b"",
        "name": "n",
        "maybe": None,
        "points": [{"x": 0.25, "label": None}],
        "tags": ["a"],
        "origin": None,
    }
    raw.update(changes)
    return raw


def enc(obj: object) -> bytes:
    return bytes(cbor2.dumps(obj, canonical=True))


def rejects(data: bytes, match: str | None = None) -> None:
    with pytest.raises(RemoteProtocolError, match=match):
        CODEC.decode(data)


def test_the_reference_encoding_decodes() -> None:
    message = CODEC.decode(enc(raw_everything()))
    assert isinstance(message, Everything)
    assert message.points == (Point(x=0.25, label=None),)
    assert CODEC.encode(message) == enc(raw_everything())


@given(everything)
def test_round_trip(message: Everything) -> None:
    data = CODEC.encode(message)
    assert CODEC.decode(data) == message
    assert CODEC.decode_as(data, Everything) == message


def test_block_message_round_trip_and_size() -> None:
    block = Block(uid=2**64 - 1, kind=1, routing_key=bytes(32), data=bytes(32_788))
    data = CODEC.encode(block)
    assert len(data) < 33_000
    assert CODEC.decode(data) == block


def test_a_decoded_block_message_is_sent_on_as_the_bytes_it_came_in() -> None:
    codec = Codec(REGISTRY)
    message = Block(uid=7, kind=1, routing_key=bytes(range(32)), data=bytes(32_788))
    data = codec.encode(message)
    decoded = codec.decode(data)
    assert codec.encode(decoded) is data  # remembered, not built again
    assert codec._decoded == {}  # forgotten once used
    assert codec.encode(decoded) == data  # built again: the same bytes
    assert codec.encode(message) == data  # an equal object: built, the same bytes
    small = codec.decode(codec.encode(Ping(nonce=1)))
    assert codec.encode(small) == codec.encode(Ping(nonce=1))
    kept = codec.decode(data)
    for n in range(40):  # the memory is bounded: the oldest are forgotten
        codec.decode(codec.encode(Block(uid=n, kind=1, routing_key=bytes(32), data=bytes(2000))))
    assert len(codec._decoded) <= REMEMBERED
    assert codec.encode(kept) == data


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"t": "nonesuch"}, "unknown message type"),
        ({"t": 7}, "unknown message type"),
        ({"count": True}, "expected an integer"),
        ({"count": 1.0}, "expected an integer"),
        ({"count": 1001}, "outside"),
        ({"count": -1}, "outside"),
        ({"ratio": 1}, "expected a float"),
        ({"ratio": math.nan}, "NaN"),
        ({"ratio": math.inf}, "NaN"),
        ({"flag": 1}, "expected a boolean"),
        ({"key": b"abc"}, "length 3"),
        ({"key": "abcd"}, "expected bytes"),
        ({"name": "x" * 17}, "length 17"),
        ({"name": b"n"}, "expected str"),
        ({"maybe": b"123456789"}, "length 9"),
        ({"points": [{"x": 0.1, "label": None}] * 4}, "4 items"),
        ({"points": [{"x": 2.0, "label": None}]}, "outside"),
        ({"points": [{"x": 0.1}]}, "lacks the field 'label'"),
        ({"points": [{"x": 0.1, "label": None, "y": 1}]}, "unknown fields"),
        ({"points": {"x": 0.1}}, "expected an array"),
        ({"tags": ["toolong"]}, "length 7"),
        ({"origin": 5}, "must be a CBOR map"),
        ({"name": "forbidden"}, "forbidden"),
        ({"extra": 1}, "unknown fields: 'extra'"),
        ({"anyint": 2**64}, "not valid CBOR"),  # a bignum tag
    ],
)
def test_wrong_values_are_refused(changes: dict[str, Any], match: str | None) -> None:
    rejects(enc(raw_everything(**changes)), match)


def test_missing_field_is_refused() -> None:
    raw = raw_everything()
    del raw["flag"]
    rejects(enc(raw), "lacks the field 'flag'")


def test_not_a_map_or_not_cbor() -> None:
    rejects(enc([1, 2]), "must be a CBOR map")
    rejects(b"", "not valid CBOR")
    rejects(b"\xff", "not valid CBOR")
    rejects(enc(raw_everything())[:-1], "not valid CBOR")


def test_tags_are_refused_everywhere() -> None:
    rejects(enc({"t": "ping", "nonce": cbor2.CBORTag(1, 5)}))  # datetime
    rejects(enc({"t": "ping", "nonce": cbor2.CBORTag(999, 5)}))  # unknown tag
    rejects(b"\xd9\xd9\xf7" + enc({"t": "ping", "nonce": 5}))  # self-describe 55799
    rejects(b"\xd8\x1c" + enc({"t": "ping", "nonce": 5}))  # shareable 28


def test_non_canonical_forms_are_refused() -> None:
    good = enc({"t": "ping", "nonce": 5})
    assert CODEC.decode(good) == Ping(nonce=5)
    rejects(good + b"\x00", "canonical")  # trailing bytes
    rejects(b"\xa2\x61t\x64ping\x65nonce\x18\x05", "canonical")  # padded integer
    rejects(b"\xa2\x65nonce\x05\x61t\x64ping", "canonical")  # keys out of order
    rejects(b"\xbf\x61t\x64ping\x65nonce\x05\xff", "not valid CBOR")  # indefinite map
    rejects(b"\xa3\x61t\x64ping\x65nonce\x05\x65nonce\x06", "not valid CBOR")  # duplicate
    as_double = bytes(cbor2.dumps(0.5, canonical=False))
    assert as_double[0] == 0xFB
    raw = enc(raw_everything()).replace(b"\x65ratio\xf9\x38\x00", b"\x65ratio" + as_double)
    rejects(raw, "canonical")


@given(st.permutations(["t", "uid", "kind", "routing_key", "data"]), st.integers(0, 2**64 - 1))
def test_a_message_without_floats_is_canonical_only_in_canonical_key_order(
    order: list[str], uid: int
) -> None:
    raw = {"t": "block", "uid": uid, "kind": 2, "routing_key": bytes(32), "data": b"x" * 300}
    data = bytes(cbor2.dumps({key: raw[key] for key in order}))
    assert CODEC.encode(Block(uid=uid, kind=2, routing_key=bytes(32), data=b"x" * 300)) == enc(raw)
    if data == enc(raw):
        assert CODEC.decode(data) == Block(uid=uid, kind=2, routing_key=bytes(32), data=b"x" * 300)
    else:
        rejects(data, "canonical")


def test_padded_length_heads_are_refused() -> None:
    good = enc({"t": "block", "uid": 1, "kind": 1, "routing_key": bytes(32), "data": b"ab"})
    assert CODEC.decode(good).data == b"ab"  # type: ignore[attr-defined]
    rejects(good.replace(b"\x42ab", b"\x58\x02ab"), "canonical")  # 2-byte string, long head
    rejects(good.replace(b"\x58\x20" + bytes(32), b"\x59\x00\x20" + bytes(32)), "canonical")


def test_non_text_keys_and_depth_are_refused() -> None:
    rejects(b"\xa2\x61t\x64ping\x01\x05", "not valid CBOR")  # integer key
    deep = {"t": "ping", "nonce": 5}
    nested: Any = 1
    for _ in range(50):
        nested = [nested]
    deep["x"] = nested
    rejects(enc(deep), "not valid CBOR")


def test_size_limit_before_decoding() -> None:
    small = Codec(REGISTRY, max_size=100)
    with pytest.raises(RemoteProtocolError, match="exceeds"):
        small.decode(bytes(101))
    with pytest.raises(LocalProtocolError, match="limit"):
        small.encode(Block(uid=0, kind=1, routing_key=bytes(32), data=bytes(100)))


def test_huge_declared_length_fails_without_allocating() -> None:
    # A byte string claiming 2**40 bytes inside a 20-byte message.
    rejects(b"\xa2\x61t\x64ping\x65nonce\x5b" + (2**40).to_bytes(8, "big"))


def test_decode_as_insists_on_the_class() -> None:
    with pytest.raises(RemoteProtocolError, match="expected a Block"):
        CODEC.decode_as(CODEC.encode(Ping(nonce=1)), Block)


def test_encoding_checks_our_own_messages() -> None:
    with pytest.raises(LocalProtocolError, match="not a registered"):
        CODEC.encode(Point(x=0.1, label=None))
    with pytest.raises(LocalProtocolError, match="length 5"):
        CODEC.encode(Block(uid=0, kind=1, routing_key=bytes(5), data=b""))
    with pytest.raises(LocalProtocolError, match="expected an integer"):
        CODEC.encode(Ping(nonce=True))


def test_float_fields_accept_local_ints() -> None:
    """Our own code may write ``location=0``; it goes out as the float 0.0."""
    base = CODEC.decode_as(enc(raw_everything()), Everything)
    local = Everything(
        count=base.count,
        anyint=base.anyint,
        ratio=1,
        flag=base.flag,
        key=base.key,
        blob=base.blob,
        name=base.name,
        maybe=base.maybe,
        points=base.points,
        tags=base.tags,
        origin=Point(x=0, label=None),
    )
    decoded = CODEC.decode_as(CODEC.encode(local), Everything)
    assert type(decoded.ratio) is float and decoded.ratio == 1.0
    assert decoded.origin is not None and type(decoded.origin.x) is float


@given(st.binary(max_size=300))
def test_arbitrary_bytes_only_raise_remote_protocol_error(data: bytes) -> None:
    with contextlib.suppress(RemoteProtocolError):
        CODEC.decode(data)


@given(everything, st.data())
def test_mutated_encodings_decode_to_valid_messages_or_fail_cleanly(
    message: Everything, data: st.DataObject
) -> None:
    encoded = bytearray(CODEC.encode(message))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(encoded) - 1))
        encoded[position] = data.draw(st.integers(0, 255))
    try:
        decoded = CODEC.decode(bytes(encoded))
    except RemoteProtocolError:
        return
    assert CODEC.encode(decoded) == bytes(encoded)  # only canonical inputs get through


def test_schema_errors_are_found_when_the_codec_is_built() -> None:
    @dataclass(frozen=True, slots=True, kw_only=True)
    class NoMax:
        TYPE: ClassVar[str] = "nomax"
        data: bytes

    @dataclass(frozen=True, slots=True, kw_only=True)
    class BadType:
        TYPE: ClassVar[str] = "badtype"
        data: list[int]

    @dataclass(frozen=True, slots=True, kw_only=True)
    class Reserved:
        TYPE: ClassVar[str] = "reserved"
        t: int

    @dataclass(slots=True, kw_only=True)
    class Mutable:
        TYPE: ClassVar[str] = "mutable"
        n: int

    for cls, match in [
        (NoMax, "must declare"),
        (BadType, "unsupported"),
        (Reserved, "reserved"),
        (Mutable, "frozen"),
    ]:
        with pytest.raises(TypeError, match=match):
            Codec({cls.TYPE: cls})
    with pytest.raises(TypeError, match="differs"):
        Codec({"other": Ping})
    with pytest.raises(TypeError, match="is used by"):
        registry_of([Ping, Ping])
    with pytest.raises(TypeError, match="no TYPE"):
        registry_of([Point])


def test_core_messages_round_trip() -> None:
    messages = pytest.importorskip("node.core.messages")
    codec = Codec(messages.MESSAGE_TYPES)
    found = messages.DataFound(
        uid=7,
        kind=1,
        routing_key=bytes(32),
        data=bytes(32_788),
        fold=messages.FoldRef(ref=b"r" * 100, location=0.5),
    )
    assert codec.decode(codec.encode(found)) == found
