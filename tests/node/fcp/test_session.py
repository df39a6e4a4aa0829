"""The session state machine and message validation without sockets."""

from __future__ import annotations

import pytest

from crypto.uri import CHKURI
from node.fcp.backend import GetFailure, GetSucceeded, Progress, RequestEvent, RequestInfo
from node.fcp.messages import ClientPut, ClientPutComplexDir, parse_client_message
from node.fcp.ops import DDACheck, DDAPrepare, StartGetOp, StartPutOp
from node.fcp.protocol import FCPMessage, FCPProtocolError
from node.fcp.session import Call, Close, Registered, Send, Session


def ready(name: str = "c", cid: str = "abc") -> Session:
    s = Session(connection_id=cid)
    actions = s.receive(FCPMessage("ClientHello", {"Name": name, "ExpectedVersion": "2.0"}))
    assert isinstance(actions[0], Registered) and isinstance(actions[1], Send)
    return s


def sent(actions: list) -> list[FCPMessage]:  # type: ignore[type-arg]
    return [a.message for a in actions if isinstance(a, Send)]


def test_connection_identifier_never_all_digits() -> None:
    assert not Session(connection_id="12345").connection_id.isdigit()


def test_hello_first_then_close() -> None:
    s = Session()
    actions = s.receive(FCPMessage("GenerateSSK", {}))
    assert sent(actions)[0]["Code"] == "1" and isinstance(actions[-1], Close)
    assert s.receive(FCPMessage("ClientHello", {"Name": "x", "ExpectedVersion": "2.0"})) == []


def test_uri_forms() -> None:
    for uri in ("CHK@", "freenet:CHK@", "CHK@/name.txt", "KSK@word"):
        msg = parse_client_message(FCPMessage("ClientPut", {"URI": uri, "Identifier": "i"}, b""))
        assert isinstance(msg, ClientPut)
    msg = parse_client_message(FCPMessage("ClientPut", {"URI": "CHK@/n", "Identifier": "i"}, b""))
    assert isinstance(msg, ClientPut) and msg.uri == CHKURI(path=("n",))


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"Files.0.Name": "a", "Files.0.DataLength": "9"}, 8),  # more than sent
        ({"Files.1.Name": "a", "Files.1.DataLength": "1"}, 8),  # gap
        ({"Files.0.DataLength": "1"}, 5),  # no name
        ({"Files.0.Name": "a", "Files.0.DataLength": "1", "DefaultName": "b"}, 8),
    ],
)
def test_complex_dir_validation(fields: dict[str, str], code: int) -> None:
    msg = FCPMessage("ClientPutComplexDir", {"URI": "CHK@", "Identifier": "d", **fields}, b"x")
    with pytest.raises(FCPProtocolError) as info:
        parse_client_message(msg)
    assert info.value.code == code and info.value.identifier == "d"


def test_complex_dir_slices_in_order() -> None:
    fields = {
        "URI": "CHK@",
        "Identifier": "d",
        "Files.0.Name": "a",
        "Files.0.DataLength": "2",
        "Files.1.Name": "b",
        "Files.1.DataLength": "1",
    }
    msg = parse_client_message(FCPMessage("ClientPutComplexDir", fields, b"xyz"))
    assert isinstance(msg, ClientPutComplexDir)
    assert [(e.name, e.data) for e in msg.files] == [("a", b"xy"), ("b", b"z")]


def test_events_routed_by_owner_and_verbosity() -> None:
    s, other = ready("c", "abc"), ready("d", "def")
    [call] = s.receive(
        FCPMessage("ClientGet", {"URI": "KSK@a", "Identifier": "g", "Verbosity": "0"})
    )
    assert isinstance(call, Call) and isinstance(call.op, StartGetOp)
    info = call.op.request.info
    progress = RequestEvent(info=info, event=Progress(total=1, required=1))
    assert s.on_event(progress) == [] and other.on_event(progress) == []
    done = RequestEvent(info=info, event=GetSucceeded(content_type="", data_length=1, data=b"x"))
    assert [m.name for m in sent(s.on_event(done))] == ["DataFound", "AllData"]
    assert sent(s.on_event(done))[0]["Metadata.ContentType"] == "application/octet-stream"
    assert other.on_event(done) == []


def test_redirect_code_without_uri_becomes_internal_error() -> None:
    s = ready()
    info = RequestInfo(client="c", identifier="g", connection=s.connection_id)
    [msg] = sent(s.on_event(RequestEvent(info=info, event=GetFailure(code=27))))
    assert msg["Code"] == "17" and msg["Identifier"] == "g"


def test_dda_decisions(tmp_path: object) -> None:
    tokens = iter(["f1", "secret", "f2", "towrite"])
    s = Session(connection_id="abc", token=lambda: next(tokens))
    s.receive(FCPMessage("ClientHello", {"Name": "c", "ExpectedVersion": "2.0"}))
    [call] = s.receive(
        FCPMessage(
            "TestDDARequest",
            {"Directory": "/data", "WantReadDirectory": "true", "WantWriteDirectory": "true"},
        )
    )
    assert isinstance(call, Call) and isinstance(call.op, DDAPrepare)
    assert call.op.content == "secret"
    [reply] = sent(s.complete(call.op, None))
    assert (
        reply["WriteFilename"] == "/data/DDACheck-f2.tmp" and reply["ContentToWrite"] == "towrite"
    )
    [check] = s.receive(
        FCPMessage("TestDDAResponse", {"Directory": "/data", "ReadContent": "secret"})
    )
    assert isinstance(check, Call) and isinstance(check.op, DDACheck)
    [done] = sent(s.complete(check.op, "towrite"))
    assert done["ReadDirectoryAllowed"] == "true" and done["WriteDirectoryAllowed"] == "true"
    [put] = s.receive(
        FCPMessage(
            "ClientPut",
            {"URI": "CHK@", "Identifier": "p", "UploadFrom": "disk", "Filename": "/data/sub/f"},
        )
    )
    assert isinstance(put, Call) and isinstance(put.op, StartPutOp) and put.op.file_hash is None


def test_connection_lost_cancels_connection_requests() -> None:
    s = ready()
    s.receive(FCPMessage("ClientGet", {"URI": "KSK@a", "Identifier": "g"}))
    s.receive(
        FCPMessage("ClientGet", {"URI": "KSK@a", "Identifier": "p", "Persistence": "forever"})
    )
    ops = s.connection_lost()
    assert [getattr(op, "identifier", None) for op in ops] == ["g"]
