"""FCP framing: the parser against arbitrary and hostile bytes, round trips, field helpers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.fcp.protocol import (
    FCPMessage,
    FCPParser,
    FCPProtocolError,
    Limits,
    encode_message,
    field_groups,
    flatten_groups,
    parse_bool,
    parse_int,
)

names = st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,20}", fullmatch=True).filter(
    lambda n: n not in ("Data", "End", "EndMessage")
)
keys = st.from_regex(r"[A-Za-z][A-Za-z0-9.]{0,20}", fullmatch=True)
values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
    max_size=40,
)
fields = st.dictionaries(keys, values, max_size=8).filter(lambda f: "DataLength" not in f)


def parse_all(stream: bytes, sizes: list[int], limits: Limits | None = None) -> list[FCPMessage]:
    parser = FCPParser(limits)
    out: list[FCPMessage] = []
    pos = 0
    for size in [*sizes, len(stream)]:
        out += parser.feed(stream[pos : pos + size])
        pos += size
    out += parser.feed(b"")
    return out


@given(st.binary(max_size=2000), st.lists(st.integers(1, 64), max_size=20))
def test_arbitrary_bytes_raise_only_protocol_errors(data: bytes, sizes: list[int]) -> None:
    parser = FCPParser(Limits(max_line_length=256, max_fields=16, max_data_length=512))
    pos = 0
    for size in [*sizes, len(data)]:
        chunk = data[pos : pos + size]
        pos += size
        try:
            for msg in parser.feed(chunk):
                assert isinstance(msg, FCPMessage)
        except FCPProtocolError:
            if parser.failed:
                return


@given(
    st.lists(st.tuples(names, fields, st.none() | st.binary(max_size=300)), max_size=5),
    st.lists(st.integers(1, 50), max_size=30),
)
def test_encode_then_parse_round_trips(
    msgs: list[tuple[str, dict[str, str], bytes | None]], sizes: list[int]
) -> None:
    stream = b"".join(encode_message(n, f, d) for n, f, d in msgs)
    parsed = parse_all(stream, sizes)
    assert len(parsed) == len(msgs)
    for (name, flds, data), got in zip(msgs, parsed, strict=True):
        assert got.name == name
        expected = dict(flds)
        if data is not None:
            expected["DataLength"] = str(len(data))
        assert got.fields == expected
        assert got.data == data


def test_end_crlf_first_equals_and_blank_lines() -> None:
    raw = b"\n\r\nClientHello\r\nName=a=b=c\r\nExpectedVersion=2.0\r\nEnd\r\n"
    [msg] = FCPParser().feed(raw)
    assert msg == FCPMessage("ClientHello", {"Name": "a=b=c", "ExpectedVersion": "2.0"})


def test_data_is_exact_and_next_message_follows() -> None:
    payload = b"EndMessage\nData\n\x00\xff"
    raw = encode_message("ClientPut", {"URI": "CHK@"}, payload) + b"WatchGlobal\nEndMessage\n"
    first, second = FCPParser().feed(raw)
    assert first.data == payload and second.name == "WatchGlobal"


def test_spoiled_message_is_reported_and_parsing_resumes() -> None:
    parser = FCPParser()
    raw = b"ClientGet\nIdentifier=x\nno equals sign\nEndMessage\nWatchGlobal\nEndMessage\n"
    with pytest.raises(FCPProtocolError) as info:
        parser.feed(raw)
    assert info.value.code == 3 and not info.value.fatal and info.value.identifier == "x"
    assert [m.name for m in parser.feed(b"")] == ["WatchGlobal"]


def test_messages_before_an_error_are_returned_first() -> None:
    parser = FCPParser()
    raw = b"WatchGlobal\nEndMessage\n\xff\xfe\nEndMessage\n"
    assert [m.name for m in parser.feed(raw)] == ["WatchGlobal"]
    with pytest.raises(FCPProtocolError):
        parser.feed(b"")


def test_invalid_utf8_field_spoils_one_message() -> None:
    parser = FCPParser()
    with pytest.raises(FCPProtocolError) as info:
        parser.feed(b"ClientHello\nName=\xff\nEndMessage\n")
    assert not info.value.fatal
    assert parser.feed(b"Disconnect\nEnd\n")[0].name == "Disconnect"


def test_long_line_is_fatal() -> None:
    parser = FCPParser(Limits(max_line_length=100))
    with pytest.raises(FCPProtocolError) as info:
        parser.feed(b"ClientHello\nName=" + b"x" * 200)
    assert info.value.fatal and parser.failed
    with pytest.raises(FCPProtocolError):
        parser.feed(b"\nEndMessage\n")


def test_too_many_fields_is_fatal() -> None:
    parser = FCPParser(Limits(max_fields=3))
    with pytest.raises(FCPProtocolError) as info:
        parser.feed(b"X\na=1\nb=2\nc=3\nd=4\nEndMessage\n")
    assert info.value.fatal


def test_payload_over_cap_is_skipped_not_fatal() -> None:
    parser = FCPParser(Limits(max_data_length=10))
    raw = encode_message("ClientPut", {"Identifier": "big"}, b"x" * 50)
    with pytest.raises(FCPProtocolError) as info:
        parser.feed(raw + b"WatchGlobal\nEndMessage\n")
    assert info.value.identifier == "big" and not info.value.fatal
    assert [m.name for m in parser.feed(b"")] == ["WatchGlobal"]


def test_bad_data_length_is_fatal() -> None:
    with pytest.raises(FCPProtocolError) as info:
        FCPParser().feed(b"ClientPut\nDataLength=-5\nData\n")
    assert info.value.fatal and info.value.code == 6
    with pytest.raises(FCPProtocolError) as info:
        FCPParser().feed(b"ClientPut\nData\n")
    assert info.value.fatal and info.value.code == 5


def test_complex_dir_payload_is_the_sum_of_direct_files() -> None:
    fields = {
        "Files.0.Name": "a",
        "Files.0.DataLength": "3",
        "Files.1.Name": "b",
        "Files.1.UploadFrom": "redirect",
        "Files.1.TargetURI": "KSK@x",
        "Files.2.Name": "c",
        "Files.2.UploadFrom": "direct",
        "Files.2.DataLength": "2",
    }
    raw = encode_message("ClientPutComplexDir", fields, b"abcde", data_length_field=False)
    [msg] = FCPParser().feed(raw + b"Disconnect\nEndMessage\n")[:1]
    assert msg.data == b"abcde" and "DataLength" not in msg.fields


def test_large_payload_in_chunks_is_linear() -> None:
    payload = bytes(range(256)) * 4096 * 16  # 16 MiB
    raw = encode_message("ClientPut", {"URI": "CHK@"}, payload)
    parser = FCPParser()
    out: list[FCPMessage] = []
    for i in range(0, len(raw), 65536):
        out += parser.feed(raw[i : i + 65536])
    assert len(out) == 1 and out[0].data == payload


def test_encode_refuses_line_breaks() -> None:
    with pytest.raises(ValueError):
        encode_message("ClientGet", {"URI": "a\nb"})
    with pytest.raises(ValueError):
        encode_message("Bad Name", {})


@pytest.mark.parametrize(("yes", "no"), [("true", "false"), ("True", "False"), ("TRUE", "FALSE")])
def test_booleans_are_case_insensitive(yes: str, no: str) -> None:
    assert parse_bool(yes) is True
    assert parse_bool(no) is False


def test_parse_int_codes() -> None:
    assert parse_int("-1", minimum=-1) == -1
    with pytest.raises(FCPProtocolError) as info:
        parse_int("x1")
    assert info.value.code == 6
    with pytest.raises(FCPProtocolError) as info:
        parse_int("9", maximum=6)
    assert info.value.code == 8
    with pytest.raises(FCPProtocolError) as info:
        parse_int(None)
    assert info.value.code == 5


def test_field_groups_round_trip() -> None:
    groups = [{"Name": "a", "DataLength": "1"}, {"Name": "b/c", "Metadata.ContentType": "x/y"}]
    flat = dict((k, str(v)) for k, v in flatten_groups("Files", groups))
    assert field_groups(flat | {"Files.x.Name": "ignored", "Other": "1"}, "Files") == {
        0: groups[0],
        1: groups[1],
    }
