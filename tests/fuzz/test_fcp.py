"""Fuzz FCP: the byte-stream parser, then each message's validation, as a session does."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from node.fcp.messages import _PARSERS
from tests.fuzz import targets as t
from tests.fuzz.mutate import fuzz_input

FIELDS = [
    "Identifier",
    "URI",
    "Global",
    "Persistence",
    "PriorityClass",
    "Verbosity",
    "ReturnType",
    "UploadFrom",
    "DataLength",
    "Filename",
    "TargetURI",
    "MaxSize",
    "Metadata.ContentType",
    "DefaultName",
    "Files.0.Name",
    "Files.0.UploadFrom",
    "Files.0.DataLength",
    "Files.1.Name",
    "Files.1.TargetURI",
    "Files.x.Name",
    "Files.99999999999.Name",
    "Directory",
    "Name",
    "ExpectedVersion",
    "ClientToken",
    "Codecs",
    "DontCompress",
    "WithPrivate",
    "VerbosityMask",
    "Enabled",
    "ReadContent",
    "BinaryBlob",
    "FileHash",
    "IgnoreDS",
    "DSOnly",
    "MaxRetries",
    "Repair",
]
VALUES = [
    "",
    "true",
    "FALSE",
    "yes",
    "0",
    "-1",
    "2",
    "9",
    "99999999999999999999",
    "+7",
    "direct",
    "disk",
    "redirect",
    "none",
    "forever",
    "reboot",
    "CHK@",
    "KSK@x",
    "USK@a,b,c/s/1",
    "/tmp",
    "a",
    "a/b",
    "..",
    "2.0",
    "text/html",
    "١٢",
]
value = st.one_of(st.sampled_from(VALUES), st.text(max_size=12).filter(lambda s: "\n" not in s))
field_line = st.builds(lambda k, v: f"{k}={v}\n", st.sampled_from(FIELDS), value)


@st.composite
def fcp_streams(draw: st.DrawFn) -> bytes:
    out = b""
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from([*sorted(_PARSERS), "Unknown", "ClientPutComplexDir"]))
        lines = "".join(draw(st.lists(field_line, max_size=8)))
        body = (name + "\n" + lines).encode()
        if draw(st.booleans()):
            payload = draw(st.binary(max_size=40))
            body += b"DataLength=%d\nData\n" % draw(st.sampled_from([len(payload), 0, 3]))
            body += payload
        else:
            body += draw(st.sampled_from([b"EndMessage\n", b"End\n", b"", b"EndMessage\r\n"]))
        out += body
    return out


@given(st.one_of(fuzz_input(t.FCP_SEEDS), fcp_streams()))
@example(b"ClientPut\nDataLength=99999999999999999999\nData\n")
@example(b"=x\n")
@example(b"ClientGet\n" + b"x" * 5000)
@example(b"ClientPutComplexDir\nFiles.0.DataLength=5\nFiles.0.UploadFrom=direct\nData\nab")
def test_fcp_stream(data: bytes) -> None:
    t.check_fcp(data)
