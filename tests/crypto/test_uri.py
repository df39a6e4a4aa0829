"""URIs: parse/format round trips, Freenet shapes, and clean errors on any input."""

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.encoding import b64decode, b64encode
from crypto.errors import InvalidURI
from crypto.keys import generate_ssk, insert_chk
from crypto.uri import CHKURI, KSKURI, SSKURI, URI, USKURI, Extra, parse_uri, ssk_from_usk_docname
from tests import strategies as s

FREENET_B64 = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789~-")


@given(st.binary(max_size=100))
def test_base64_round_trip_uses_freenet_alphabet(raw: bytes) -> None:
    text = b64encode(raw)
    assert set(text) <= FREENET_B64
    assert "=" not in text
    assert b64decode(text) == raw


def test_key_field_shapes() -> None:
    _, uri = insert_chk(b"shape")
    rk, ck, extra = str(uri)[4:].split(",")
    assert (len(rk), len(ck), len(extra)) == (43, 43, 7)
    request, insert = generate_ssk(bytes(64))
    assert str(request).endswith("/") and str(insert).endswith("/")
    assert b64decode(str(request).split(",")[2].rstrip("/"))[1] == 0
    assert b64decode(str(insert).split(",")[2].rstrip("/"))[1] == 1


extras = st.builds(Extra, insert=st.booleans(), metadata=st.booleans())


def uris() -> st.SearchStrategy[URI]:
    chk = st.builds(
        CHKURI, routing_key=s.key32, decryption_key=s.key32, extra=extras, path=s.path
    ) | st.builds(CHKURI, path=s.path)
    ssk = st.builds(
        SSKURI, key=s.key32, crypto_key=s.key32, extra=extras, docname=s.docname, path=s.path
    )
    usk = st.builds(
        USKURI,
        key=s.key32,
        crypto_key=s.key32,
        extra=extras,
        site=s.keyword,
        edition=s.edition,
        path=s.path,
    )
    ksk = st.builds(KSKURI, keyword=s.keyword, path=s.path)
    return chk | ssk | usk | ksk


@given(uris(), st.booleans())
def test_round_trip(uri: URI, prefixed: bool) -> None:
    text = ("freenet:" if prefixed else "") + str(uri)
    assert parse_uri(text) == uri


@given(st.text(max_size=300))
def test_arbitrary_text_gives_a_clean_error_or_a_uri(text: str) -> None:
    try:
        uri = parse_uri(text)
    except InvalidURI as exc:
        assert str(exc)
    else:
        assert parse_uri(str(uri)) == uri


@given(uris(), st.data())
def test_mutated_uris_never_raise_anything_else(uri: URI, data: st.DataObject) -> None:
    text = str(uri)
    i = data.draw(st.integers(min_value=0, max_value=max(0, len(text) - 1)))
    ch = data.draw(st.characters())
    mutated = text[:i] + ch + text[i + 1 :]
    with contextlib.suppress(InvalidURI):
        parse_uri(mutated)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "starts with"),
        ("http://example.org/", "starts with"),
        ("CHK@abc", "three comma-separated"),
        ("CHK@" + "A" * 43 + "," + "A" * 43 + ",AQABAA", "extra"),
        ("SSK@" + "A" * 42 + "," + "A" * 43 + ",AQABAAA/x", "32 bytes"),
        ("USK@" + "A" * 43 + "," + "A" * 43 + ",AQABAAA/site", "ends in"),
        ("USK@" + "A" * 43 + "," + "A" * 43 + ",AQABAAA/site/x1", "whole number"),
        ("CHK@" + "A" * 43 + "," + "A" * 43 + ",AAMC--8", "Freenet key"),
        ("KSK@", "keyword"),
        ("CHK@a\x00b", "control"),
        ("KSK@" + "x" * 5000, "longer than"),
    ],
)
def test_error_messages_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InvalidURI, match=message):
        parse_uri(text)


def test_usk_maps_to_ssk_and_back() -> None:
    request, _ = generate_ssk(bytes(64))
    usk = parse_uri(str(request).replace("SSK@", "USK@") + "site/7")
    assert isinstance(usk, USKURI)
    ssk = usk.to_ssk()
    assert ssk.docname == "site-7"
    assert ssk_from_usk_docname(ssk) == usk
    assert usk.to_ssk(9).docname == "site-9"
    assert ssk_from_usk_docname(ssk.with_docname("plain")) is None
    latest = parse_uri(str(request).replace("SSK@", "USK@") + "site/-1")
    assert isinstance(latest, USKURI) and latest.edition == -1


def test_insert_forms() -> None:
    assert parse_uri("CHK@") == CHKURI()
    assert parse_uri("CHK@/name.txt") == CHKURI(path=("name.txt",))
    _, insert = generate_ssk(bytes(64))
    usk = parse_uri(str(insert).replace("SSK@", "USK@") + "site/0")
    assert isinstance(usk, USKURI) and usk.is_insert and not usk.public().is_insert
