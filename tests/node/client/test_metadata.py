"""Metadata documents: canonical round trips and clean errors on any corruption."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.uri import CHKURI, Extra
from node.client.compression import Codec
from node.client.errors import InvalidMetadata
from node.client.fec import FecCodec
from node.client.metadata import (
    Content,
    Document,
    FileDoc,
    Hint,
    Manifest,
    MetaDoc,
    Redirect,
    Segment,
    encode_document,
    parse_document,
)

CHK = str(CHKURI(routing_key=bytes(32), decryption_key=bytes(range(32)), extra=Extra()))

hashes = st.binary(min_size=32, max_size=32)
mimes = st.sampled_from(["text/html", "image/png", "text/plain; charset=utf-8"])
names = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/"),
    min_size=1,
    max_size=20,
).filter(lambda n: n not in (".", ".."))


@st.composite
def segments(draw: st.DrawFn) -> Segment:
    k = draw(st.integers(1, 8))
    n = draw(st.integers(k, k + 8))
    keys = draw(st.binary(min_size=64 * n, max_size=64 * n))
    return Segment(k=k, n=n, keys=keys, fec=draw(st.sampled_from(list(FecCodec))))


@st.composite
def contents(draw: st.DrawFn) -> Content:
    crypt = draw(st.none() | hashes)
    if draw(st.booleans()):
        data = draw(st.binary(max_size=200))
        codec = draw(st.sampled_from(list(Codec)))
        size = len(data) if codec is Codec.NONE else draw(st.integers(0, 10**6))
        return Content(
            size=size, hash=draw(hashes), codec=codec, payload_size=len(data),
            crypt_key=crypt, inline=data,
        )  # fmt: skip
    segs = tuple(draw(st.lists(segments(), min_size=1, max_size=3)))
    blocks = sum(s.k for s in segs)
    psize = draw(st.integers((blocks - 1) * 32768 + 1, blocks * 32768))
    return Content(
        size=psize, hash=draw(hashes), payload_size=psize, crypt_key=crypt, segments=segs
    )


leaf_docs: st.SearchStrategy[Document] = st.one_of(
    st.builds(FileDoc, mime=mimes, content=contents()),
    st.builds(Redirect, target=st.just(CHK), mime=st.none() | mimes),
)
documents: st.SearchStrategy[Document] = st.one_of(
    leaf_docs,
    st.builds(MetaDoc, content=contents()),
    st.builds(Hint, edition=st.integers(0, 2**40)),
    st.recursive(
        leaf_docs,
        lambda inner: st.builds(
            Manifest,
            entries=st.dictionaries(names, inner, max_size=4),
            default=st.none() | names,
        ),
        max_leaves=8,
    ),
)


@given(documents)
def test_round_trip_is_exact_and_canonical(doc: Document) -> None:
    raw = encode_document(doc)
    back = parse_document(raw)
    assert back == doc
    assert encode_document(back) == raw


@given(documents, st.data())
def test_any_corruption_is_a_clean_error(doc: Document, data: st.DataObject) -> None:
    raw = bytearray(encode_document(doc))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        raw[at] = data.draw(st.integers(0, 255))
    with contextlib.suppress(InvalidMetadata):
        parse_document(bytes(raw))


@given(documents, st.data())
def test_truncation_is_a_clean_error(doc: Document, data: st.DataObject) -> None:
    raw = encode_document(doc)
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(InvalidMetadata):
        parse_document(raw[:cut])


@given(st.binary(max_size=300))
def test_garbage_is_a_clean_error(raw: bytes) -> None:
    with contextlib.suppress(InvalidMetadata):
        parse_document(raw)


@pytest.mark.parametrize(
    "value",
    [
        {"v": 2, "t": "hint", "edition": 1},
        {"v": 1, "t": "hint", "edition": -1},
        {"v": 1, "t": "hint", "edition": True},
        {"v": 1, "t": "hint", "edition": 1, "extra": 0},
        {"v": 1, "t": "nope"},
        {"v": 1, "t": "redirect", "target": "not a key"},
        {"v": 1, "t": "manifest", "entries": {"a/b": {"v": 1, "t": "hint", "edition": 1}}},
        {"v": 1, "t": "manifest", "entries": {"..": {"v": 1, "t": "redirect", "target": CHK}}},
        {"v": 1, "t": "manifest", "entries": {"h": {"v": 1, "t": "hint", "edition": 1}}},
        [1, 2, 3],
    ],
)
def test_invalid_documents_are_refused(value: object) -> None:
    import cbor2

    with pytest.raises(InvalidMetadata):
        parse_document(cbor2.dumps(value))


def _file_with_segment(seg: object) -> dict[str, object]:
    return {
        "v": 1, "t": "file", "mime": "text/plain", "size": 10, "hash": bytes(32),
        "codec": Codec.NONE.value, "psize": 10, "segs": [seg],
    }  # fmt: skip


def test_a_segment_without_a_codec_is_zfec() -> None:
    """Documents written before segments named their codec read as they always did."""
    import cbor2

    doc = parse_document(cbor2.dumps(_file_with_segment([1, 2, bytes(128)])))
    assert isinstance(doc, FileDoc)
    assert doc.content.segments[0].fec is FecCodec.ZFEC
    assert encode_document(doc) == cbor2.dumps(
        _file_with_segment([1, 2, bytes(128)]), canonical=True
    )  # and zfec segments are still written that way


def test_isal_segments_name_their_codec() -> None:
    import cbor2

    raw = cbor2.dumps(_file_with_segment([1, 2, bytes(128), "isal-cauchy"]))
    doc = parse_document(raw)
    assert isinstance(doc, FileDoc)
    assert doc.content.segments[0].fec is FecCodec.ISAL_CAUCHY
    assert encode_document(doc) == cbor2.dumps(cbor2.loads(raw), canonical=True)


@pytest.mark.parametrize(
    "fec",
    ["zfec", "isal", "ISAL-CAUCHY", "", "isal-cauchy\x00", 1, None, b"isal-cauchy", ["zfec"]],
)
def test_unknown_or_spelled_out_codecs_are_refused(fec: object) -> None:
    import cbor2

    with pytest.raises(InvalidMetadata):
        parse_document(cbor2.dumps(_file_with_segment([1, 2, bytes(128), fec])))
    with pytest.raises(InvalidMetadata):
        parse_document(cbor2.dumps(_file_with_segment([1, 2, bytes(128), "isal-cauchy", fec])))


@given(st.text(max_size=20) | st.binary(max_size=20) | st.integers())
def test_any_codec_name_is_known_or_a_clean_error(fec: object) -> None:
    import cbor2

    try:
        doc = parse_document(cbor2.dumps(_file_with_segment([1, 2, bytes(128), fec])))
    except InvalidMetadata:
        assert fec != "isal-cauchy"
    else:
        assert isinstance(doc, FileDoc) and fec == "isal-cauchy"
        assert doc.content.segments[0].fec is FecCodec.ISAL_CAUCHY


def test_a_segment_cannot_be_built_with_an_unknown_codec() -> None:
    with pytest.raises(InvalidMetadata):
        Segment(k=1, n=2, keys=bytes(128), fec="zfec")  # type: ignore[arg-type]


def test_deep_nesting_is_refused() -> None:
    doc: Document = Redirect(target=CHK)
    for _ in range(40):
        doc = Manifest(entries={"d": doc})
    with pytest.raises(InvalidMetadata):
        encode_document(doc)
    import cbor2

    nested: object = {"v": 1, "t": "redirect", "target": CHK}
    for _ in range(40):
        nested = {"v": 1, "t": "manifest", "entries": {"d": nested}}
    with pytest.raises(InvalidMetadata):
        parse_document(cbor2.dumps(nested))
