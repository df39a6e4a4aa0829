"""FCP 2.0 conformance, written from the FCP documentation, against the real TCP server."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import anyio
import pytest

from crypto.uri import parse_uri
from node.fcp.protocol import encode_message
from node.fcp.session import SessionConfig
from tests.node.fcp.helpers import running_node

pytestmark = pytest.mark.anyio

REQUEST_MESSAGES = {
    "URIGenerated",
    "PutFetchable",
    "PutSuccessful",
    "PutFailed",
    "DataFound",
    "AllData",
    "GetFailed",
    "SimpleProgress",
    "IdentifierCollision",
    "PersistentGet",
    "PersistentPut",
    "PersistentPutDir",
    "PersistentRequestRemoved",
    "SSKKeypair",
    "SubscribedUSK",
    "SubscribedUSKUpdate",
}


async def test_node_hello_fields() -> None:
    async with running_node() as node, node.raw() as c:
        hello = c.hello
        assert hello is not None
        for key in (
            "FCPVersion",
            "Node",
            "Version",
            "Build",
            "Revision",
            "ExtBuild",
            "ExtRevision",
            "Testnet",
            "CompressionCodecs",
            "ConnectionIdentifier",
            "NodeLanguage",
        ):
            assert key in hello.fields, key
        assert hello["FCPVersion"] == "2.0" and hello["Node"] == "Samizdat"
        assert len(hello["Version"].split(",")) == 4
        assert hello["Version"].split(",")[3] == hello["Build"]
        assert not hello["ConnectionIdentifier"].isdigit()
        count, _, listed = hello["CompressionCodecs"].partition(" - ")
        assert int(count) == len(listed.split(", "))


async def test_first_message_must_be_hello() -> None:
    async with running_node() as node, node.raw(hello=None) as c:
        await c.send("ClientGet", {"URI": "KSK@x", "Identifier": "a"})
        err = await c.receive()
        assert err.name == "ProtocolError" and err["Code"] == "1"
        assert await c.closed()


async def test_late_hello_is_refused_but_connection_stays() -> None:
    async with running_node() as node, node.raw() as c:
        await c.send("ClientHello", {"Name": "again", "ExpectedVersion": "2.0"})
        assert (await c.receive())["Code"] == "2"
        await c.send("GenerateSSK", {"Identifier": "k"})
        assert (await c.receive()).name == "SSKKeypair"


async def test_duplicate_client_name_closes_the_older() -> None:
    async with running_node() as node, node.raw("same") as old, node.raw("same") as new:
        assert (await old.receive()).name == "CloseConnectionDuplicateClientName"
        assert await old.closed()
        await new.send("GenerateSSK", {"Identifier": "k"})
        assert (await new.receive()).name == "SSKKeypair"


async def test_ssk_keypair_has_trailing_slashes_and_identifier() -> None:
    async with running_node() as node, node.raw() as c:
        await c.send("GenerateSSK", {"Identifier": "keys"})
        msg = await c.receive()
        assert msg["Identifier"] == "keys"
        assert msg["InsertURI"].endswith("/") and msg["RequestURI"].endswith("/")
        assert parse_uri(msg["InsertURI"] + "doc").is_insert  # type: ignore[union-attr]


async def test_put_then_get_direct_with_identifiers_and_order() -> None:
    async with running_node() as node, node.raw() as c:
        await c.send(
            "ClientPut",
            {
                "URI": "CHK@",
                "Identifier": "p1",
                "Verbosity": "1",
                "UploadFrom": "direct",
                "Metadata.ContentType": "text/plain",
            },
            b"hello world",
        )
        replies = await c.until("PutSuccessful")
        assert all(m["Identifier"] == "p1" for m in replies)
        assert [m.name for m in replies] == ["URIGenerated", "SimpleProgress", "PutSuccessful"]
        uri = replies[-1]["URI"]
        await c.send("ClientGet", {"URI": "freenet:" + uri, "Identifier": "g1"})
        found, data = await c.receive(), await c.receive()
        assert found.name == "DataFound" and data.name == "AllData"
        assert found["Metadata.ContentType"] == "text/plain" and found["DataLength"] == "11"
        assert data["Identifier"] == "g1" and data.data == b"hello world"


async def test_get_chk_only_gives_the_same_key_and_inserts_nothing() -> None:
    async with running_node() as node, node.raw() as c:
        fields = {"URI": "CHK@", "Identifier": "x", "GetCHKOnly": "TRUE"}
        await c.send("ClientPut", fields, b"abc")
        only = (await c.until("PutSuccessful"))[-1]["URI"]
        assert not node.backend.store
        await c.send("ClientPut", {"URI": "CHK@", "Identifier": "x"}, b"abc")
        assert (await c.until("PutSuccessful"))[-1]["URI"] == only


async def test_put_fetchable_only_with_its_verbosity_bit() -> None:
    async with running_node() as node, node.raw() as c:
        await c.send("ClientPut", {"URI": "CHK@", "Identifier": "v", "Verbosity": "256"}, b"a")
        names = [m.name for m in await c.until("PutSuccessful")]
        assert names == ["URIGenerated", "PutFetchable", "PutSuccessful"]


async def test_get_failed_codes_and_redirect() -> None:
    async with running_node() as node, node.raw() as c:
        await c.send("ClientGet", {"URI": "KSK@missing", "Identifier": "m"})
        fail = await c.receive()
        assert fail.name == "GetFailed" and fail["Code"] == "13" and fail["Identifier"] == "m"
        for key in ("CodeDescription", "ShortCodeDescription", "Fatal"):
            assert key in fail.fields
        await c.send("ClientGet", {"URI": "KSK@moved", "Identifier": "m"})
        moved = await c.receive()
        assert moved["Code"] == "27" and moved["RedirectURI"] == "KSK@target"


async def test_max_size() -> None:
    async with running_node() as node, node.raw() as c:
        await c.send("ClientPut", {"URI": "KSK@big", "Identifier": "b"}, b"x" * 100)
        await c.until("PutSuccessful")
        await c.send("ClientGet", {"URI": "KSK@big", "Identifier": "g", "MaxSize": "10"})
        assert (await c.receive())["Code"] == "21"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"Identifier": "a"}, "5"),  # no URI
        ({"URI": "CHK@", "Identifier": "a", "PriorityClass": "9"}, "8"),
        ({"URI": "CHK@", "Identifier": "a", "MaxRetries": "lots"}, "6"),
        ({"URI": "XYZ@nope", "Identifier": "a"}, "4"),
        ({"URI": "CHK@", "Identifier": "a", "Persistence": "sometimes"}, "8"),
        ({"URI": "CHK@", "Identifier": "a", "UploadFrom": "disk"}, "5"),
    ],
)
async def test_protocol_error_codes_keep_the_connection(fields: dict[str, str], code: str) -> None:
    async with running_node() as node, node.raw() as c:
        await c.send("ClientPut", fields, b"d" if "UploadFrom" not in fields else None)
        err = await c.receive()
        assert err.name == "ProtocolError" and err["Code"] == code
        assert err["Identifier"] == "a" and err["Fatal"] == "false"
        await c.send("GenerateSSK", {"Identifier": "still-here"})
        assert (await c.receive()).name == "SSKKeypair"


async def test_unknown_and_unsupported_messages() -> None:
    async with running_node() as node, node.raw() as c:
        await c.send("FrobnicateNode", {"Identifier": "f"})
        assert (await c.receive())["Code"] == "7"
        await c.send("Shutdown", {})
        assert (await c.receive())["Code"] == "16"


async def test_unknown_fields_ignored_and_booleans_case_insensitive() -> None:
    async with running_node() as node, node.raw() as c:
        await c.send("WatchGlobal", {"Enabled": "True", "Identifier": "None", "asyn": "1"})
        fields = {
            "URI": "CHK@",
            "Identifier": "u",
            "GetCHKOnly": "False",
            "id": "7",
            "DontCompress": "TRUE",
        }
        await c.send("ClientPut", fields, b"z")
        assert (await c.until("PutSuccessful"))[-1].name == "PutSuccessful"


async def test_end_terminator_and_crlf_accepted() -> None:
    async with running_node() as node, node.raw() as c:
        await c.send_raw(b"GenerateSSK\r\nIdentifier=crlf\r\nEnd\r\n")
        assert (await c.receive())["Identifier"] == "crlf"


async def test_malformed_message_gets_error_and_connection_survives() -> None:
    async with running_node() as node, node.raw() as c:
        await c.send_raw(b"GenerateSSK\nIdentifier=x\nthis line has no equals\nEndMessage\n")
        err = await c.receive()
        assert err["Code"] == "3" and err["Identifier"] == "x"
        await c.send("GenerateSSK", {"Identifier": "y"})
        assert (await c.receive())["Identifier"] == "y"


async def test_identifier_collision_and_reuse_after_finish() -> None:
    async with running_node() as node, node.raw() as c:
        node.backend.hold = True
        await c.send("ClientPut", {"URI": "CHK@", "Identifier": "dup"}, b"1")
        await c.send("ClientPut", {"URI": "CHK@", "Identifier": "dup"}, b"2")
        replies = await c.until("IdentifierCollision")
        assert replies[-1]["Identifier"] == "dup"
        node.backend.released.set()
        await c.until("PutSuccessful")
        await c.send("ClientPut", {"URI": "CHK@", "Identifier": "dup"}, b"3")
        assert (await c.until("PutSuccessful"))[-1]["Identifier"] == "dup"


async def test_complex_dir_data_is_split_in_file_order() -> None:
    async with running_node() as node, node.raw() as c:
        fields = {
            "URI": "CHK@",
            "Identifier": "site",
            "DefaultName": "index.html",
            "Files.0.Name": "index.html",
            "Files.0.UploadFrom": "direct",
            "Files.0.DataLength": "5",
            "Files.1.Name": "elsewhere",
            "Files.1.UploadFrom": "redirect",
            "Files.1.TargetURI": "KSK@t",
            "Files.2.Name": "css/style.css",
            "Files.2.DataLength": "3",
        }
        await c.send_raw(
            encode_message("ClientPutComplexDir", fields, b"<h1/>a{}", data_length_field=False)
        )
        uri = (await c.until("PutSuccessful"))[-1]["URI"]
        assert node.backend.store[uri + "index.html"][0] == b"<h1/>"
        assert node.backend.store[uri + "css/style.css"][0] == b"a{}"
        assert node.backend.store[uri + "elsewhere"][0] == b"KSK@t"


async def test_disk_access_needs_test_dda(tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(b"from disk")
    async with running_node() as node, node.raw() as c:
        fields = {"URI": "CHK@", "Identifier": "d", "UploadFrom": "disk", "Filename": str(src)}
        await c.send("ClientPut", fields)
        assert (await c.receive())["Code"] == "25"
        dda = {
            "Directory": str(tmp_path),
            "WantReadDirectory": "true",
            "WantWriteDirectory": "true",
        }
        await c.send("TestDDARequest", dda)
        reply = await c.receive()
        assert reply.name == "TestDDAReply" and "Identifier" not in reply.fields
        content = Path(reply["ReadFilename"]).read_text()
        Path(reply["WriteFilename"]).write_text(reply["ContentToWrite"])
        await c.send("TestDDAResponse", {"Directory": str(tmp_path), "ReadContent": content})
        done = await c.receive()
        assert done["ReadDirectoryAllowed"] == "true" and done["WriteDirectoryAllowed"] == "true"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]  # test files removed
        await c.send("ClientPut", fields)
        uri = (await c.until("PutSuccessful"))[-1]["URI"]
        out = tmp_path / "out.txt"
        get = {"URI": uri, "Identifier": "g", "ReturnType": "disk", "Filename": str(out)}
        await c.send("ClientGet", get)
        assert (await c.receive()).name == "DataFound"
        assert out.read_bytes() == b"from disk"


async def test_wrong_dda_answer_is_refused(tmp_path: Path) -> None:
    async with running_node() as node, node.raw() as c:
        await c.send("TestDDARequest", {"Directory": str(tmp_path), "WantReadDirectory": "true"})
        await c.receive()
        await c.send("TestDDAResponse", {"Directory": str(tmp_path), "ReadContent": "guess"})
        done = await c.receive()
        assert done["ReadDirectoryAllowed"] == "false"


async def test_file_hash_proves_read_access(tmp_path: Path) -> None:
    src = tmp_path / "f.bin"
    src.write_bytes(b"hashed")
    async with running_node() as node, node.raw() as c:
        assert c.hello is not None
        conn = c.hello["ConnectionIdentifier"]
        digest = hashlib.sha256(f"{conn}-h-".encode() + b"hashed").digest()
        fields = {
            "URI": "CHK@",
            "Identifier": "h",
            "UploadFrom": "disk",
            "Filename": str(src),
            "FileHash": base64.b64encode(digest).decode(),
        }
        await c.send("ClientPut", fields)
        assert (await c.until("PutSuccessful"))[-1]["Identifier"] == "h"
        fields["FileHash"] = base64.b64encode(b"0" * 32).decode()
        await c.send("ClientPut", fields)
        assert (await c.receive())["Code"] == "25"


async def test_disk_dir_put(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "index.html").write_bytes(b"i")
    (tmp_path / "sub" / "a.txt").write_bytes(b"a")
    (tmp_path / ".hidden").write_bytes(b"h")
    async with running_node(SessionConfig(assume_read_dda=True)) as node, node.raw() as c:
        await c.send(
            "ClientPutDiskDir", {"URI": "CHK@", "Identifier": "dd", "Filename": str(tmp_path)}
        )
        uri = (await c.until("PutSuccessful"))[-1]["URI"]
        assert node.backend.store[uri + "sub/a.txt"][0] == b"a"
        assert uri + ".hidden" not in node.backend.store


async def test_persistent_global_listing_watch_and_remove() -> None:
    async with running_node() as node, node.raw("watcher") as w, node.raw("owner") as o:
        await w.send("WatchGlobal", {"Enabled": "true"})
        await w.send("GenerateSSK", {"Identifier": "sync"})  # WatchGlobal has no reply
        await w.receive()
        put = {"URI": "CHK@", "Identifier": "gp", "Global": "true", "Persistence": "forever"}
        await o.send("ClientPut", put, b"global data")
        own = await o.until("PutSuccessful")
        assert all(m["Identifier"] == "gp" and m["Global"] == "true" for m in own)
        seen = await w.until("PutSuccessful")
        assert "PersistentPut" in [m.name for m in seen]
        await w.send("ListPersistentRequests", {})
        listing = await w.until("EndListPersistentRequests")
        assert [m.name for m in listing] == [
            "PersistentPut",
            "SimpleProgress",
            "PutSuccessful",
            "EndListPersistentRequests",
        ]
        assert listing[0]["Identifier"] == "gp" and listing[0]["Global"] == "true"
        await o.send("ListPersistentRequests", {})  # not watching: global ones not listed
        assert [m.name for m in await o.until("EndListPersistentRequests")] == [
            "EndListPersistentRequests"
        ]
        await w.send("RemovePersistentRequest", {"Identifier": "gp", "Global": "TRUE"})
        removed = await w.receive()
        assert removed.name == "PersistentRequestRemoved" and removed["Identifier"] == "gp"
        await w.send("RemovePersistentRequest", {"Identifier": "gp", "Global": "true"})
        err = await w.receive()
        assert err["Code"] == "15" and err["Identifier"] == "gp"


async def test_persistent_direct_get_data_on_request() -> None:
    async with running_node() as node, node.raw() as c:
        await c.send("ClientPut", {"URI": "KSK@p", "Identifier": "p"}, b"persisted")
        await c.until("PutSuccessful")
        await c.send("ClientGet", {"URI": "KSK@p", "Identifier": "pg", "Persistence": "reboot"})
        names = [m.name for m in await c.until("DataFound")]
        assert names == ["PersistentGet", "DataFound"]  # no AllData pushed when persistent
        await c.send("GetRequestStatus", {"Identifier": "pg", "OnlyData": "true"})
        data = await c.receive()
        assert data.name == "AllData" and data.data == b"persisted"
        await c.send("GetRequestStatus", {"Identifier": "nope"})
        assert (await c.receive())["Code"] == "15"


async def test_modify_persistent_request() -> None:
    async with running_node() as node, node.raw() as c:
        node.backend.hold = True
        await c.send(
            "ClientPut", {"URI": "CHK@", "Identifier": "m", "Persistence": "forever"}, b"1"
        )
        await c.send("ModifyPersistentRequest", {"Identifier": "m", "PriorityClass": "1"})
        msgs = await c.until("PersistentRequestModified")
        assert msgs[-1]["PriorityClass"] == "1" and msgs[-1]["Identifier"] == "m"


async def test_usk_subscription() -> None:
    async with running_node() as node, node.raw() as c:
        await c.send("GenerateSSK", {"Identifier": "k"})
        keys = await c.receive()
        usk = keys["RequestURI"].replace("SSK@", "USK@") + "site/0"
        await c.send("SubscribeUSK", {"URI": usk, "Identifier": "sub"})
        subscribed, update = await c.receive(), await c.receive()
        assert subscribed.name == "SubscribedUSK" and subscribed["Identifier"] == "sub"
        assert update.name == "SubscribedUSKUpdate" and update["Edition"] == "1"
        await c.send("SubscribeUSK", {"URI": "KSK@x", "Identifier": "bad"})
        assert (await c.receive())["Code"] == "4"


async def test_node_data_and_peers() -> None:
    async with running_node() as node, node.raw() as c:
        await c.send("GetNode", {"Identifier": "n", "WithVolatile": "true"})
        data = await c.receive()
        assert data.name == "NodeData" and data["volatile.location"] == "0.5"
        await c.send("ListPeers", {"Identifier": "lp"})
        msgs = await c.until("EndListPeers")
        assert [m.name for m in msgs] == ["Peer", "Peer", "EndListPeers"]
        assert all(m["Identifier"] == "lp" for m in msgs)


async def test_every_request_reply_carries_identifier() -> None:
    async with running_node() as node, node.raw() as c:
        await c.send("ClientPut", {"URI": "CHK@", "Identifier": "i", "Verbosity": "-1"}, b"q")
        msgs = await c.until("PutSuccessful")
        await c.send("ClientGet", {"URI": msgs[-1]["URI"], "Identifier": "j", "Verbosity": "1"})
        msgs += await c.until("AllData")
        assert all("Identifier" in m.fields for m in msgs if m.name in REQUEST_MESSAGES)


async def test_disconnect_and_garbage_do_not_hurt_the_server() -> None:
    async with running_node() as node:
        async with node.raw(hello=None) as c:
            await c.send_raw(bytes(range(256)) * 10)
            await c.closed()
        async with node.raw() as c:
            await c.send("ClientPut", {"URI": "CHK@", "Identifier": "x", "DataLength": "100"}, None)
            await c.send_raw(b"Data\nshort")  # then hang up mid-payload
        async with node.raw() as c:
            await c.send("Disconnect", {})
            assert await c.closed()
        async with node.raw() as c:  # still serving
            await c.send("GenerateSSK", {"Identifier": "ok"})
            assert (await c.receive()).name == "SSKKeypair"
        with anyio.fail_after(1):
            pass
