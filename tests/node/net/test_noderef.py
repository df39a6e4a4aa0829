"""Node references: round trips, and forged, damaged or foreign references refused clearly."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.encoding import b64decode, b64encode
from node.net.identity import NodeIdentity
from node.net.noderef import (
    MAX_ADDRESSES,
    PREFIX,
    NodeRef,
    NodeRefError,
    make_noderef,
    parse_address,
    parse_noderef,
    parse_noderef_bytes,
    sign_noderef,
)

NODE = NodeIdentity.from_seed(b"N" * 32)
OTHER = NodeIdentity.from_seed(b"O" * 32)
NOW = 1_800_000_000


def ref(**changes: object) -> str:
    args: dict[str, object] = {
        "addresses": ("127.0.0.1:9000", "[::1]:9000", "node.example.org:65535"),
        "location": 0.125,
        "opennet": False,
        "issued": NOW,
    }
    args.update(changes)
    return make_noderef(NODE, **args).to_text()  # type: ignore[arg-type]


def test_round_trip_text_and_bytes() -> None:
    signed = make_noderef(NODE, addresses=("10.0.0.1:1",), location=0.5, opennet=True, issued=NOW)
    text = signed.to_text()
    assert text.startswith(PREFIX)
    assert all(len(line) <= 64 for line in text.splitlines())
    parsed = parse_noderef(text, now=NOW, max_age=3600)
    assert parsed.ref == signed.ref and parsed.identity == NODE.public_key
    assert parse_noderef_bytes(signed.to_bytes()).ref == signed.ref
    # Mail and chat mangle whitespace; that is fine.
    assert parse_noderef("  " + text.replace("\n", " \r\n  ") + "\n").ref == signed.ref
    assert parse_noderef(signed.to_text(width=0)).ref == signed.ref


@given(st.data())
def test_any_changed_character_is_refused(data: st.DataObject) -> None:
    text = ref().replace("\n", "")
    position = data.draw(st.integers(len(PREFIX), len(text) - 1))
    replacement = data.draw(st.sampled_from("AbZ09~-").filter(lambda c: c != text[position]))
    with pytest.raises(NodeRefError):
        parse_noderef(text[:position] + replacement + text[position + 1 :])


def test_signature_by_another_identity_is_refused() -> None:
    signed = make_noderef(NODE, addresses=(), location=0.5, opennet=True, issued=NOW)
    forged = b64encode(signed.body + OTHER.sign(b"samizdat/noderef/v1\x00" + signed.body))
    with pytest.raises(NodeRefError, match="signature does not verify"):
        parse_noderef(PREFIX + forged)
    with pytest.raises(ValueError, match="its own"):
        sign_noderef(OTHER, signed.ref)


def test_garbage_and_foreign_formats_are_named() -> None:
    with pytest.raises(NodeRefError, match="starts with"):
        parse_noderef("hello")
    with pytest.raises(NodeRefError, match="format '2'"):
        parse_noderef("SAMIZDAT-NODEREF-2:AAAA")
    with pytest.raises(NodeRefError, match="damaged"):
        parse_noderef(PREFIX + "!!!!")
    with pytest.raises(NodeRefError, match="truncated"):
        parse_noderef(PREFIX + b64encode(bytes(10)))
    with pytest.raises(NodeRefError, match="malformed"):
        parse_noderef(PREFIX + b64encode(bytes(100)))
    with pytest.raises(NodeRefError, match="too long"):
        parse_noderef(PREFIX + "A" * 10_000)


def test_expired_future_and_unknown_version() -> None:
    text = ref(issued=NOW - 100)
    assert parse_noderef(text, now=NOW).ref.issued == NOW - 100
    with pytest.raises(NodeRefError, match="expired"):
        parse_noderef(text, now=NOW, max_age=50)
    with pytest.raises(NodeRefError, match="future"):
        parse_noderef(ref(issued=NOW + 3 * 86400), now=NOW)
    newer = NodeRef(
        identity=NODE.public_key, addresses=(), location=0.5, version=2, opennet=True, issued=NOW
    )
    with pytest.raises(NodeRefError, match="version 2"):
        parse_noderef(sign_noderef(NODE, newer).to_text())


@pytest.mark.parametrize(
    "changes",
    [
        {"location": 1.0},
        {"location": -0.1},
        {"addresses": ("nope",)},
        {"addresses": ("host:0",)},
        {"addresses": ("[zz]:80",)},
        {"addresses": ("a b:80",)},
        {"addresses": ("h:1", "h:1")},
        {"addresses": tuple(f"h:{i}" for i in range(1, MAX_ADDRESSES + 2))},
    ],
)
def test_invalid_content_cannot_be_signed(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ref(**changes)


def test_parse_address() -> None:
    assert parse_address("127.0.0.1:80") == ("127.0.0.1", 80)
    assert parse_address("[::1]:9481") == ("::1", 9481)
    assert parse_address("example.org:1") == ("example.org", 1)
    with pytest.raises(ValueError, match="port"):
        parse_address("example.org:99999")


def test_body_is_the_strict_codec() -> None:
    raw = b64decode(ref().replace("\n", "")[len(PREFIX) :])
    assert raw[0] >> 5 == 5  # a CBOR map
