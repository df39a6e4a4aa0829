"""The FCP conformance suite against a real node: runtime, client layer and FCP server in-process.

The tests of ``test_conformance`` that do not look inside the FakeBackend run
unchanged here, with ``running_node`` swapped for three real nodes (darknet
friends on loopback) whose first node's FCP port the tests talk to. Then a few
checks only a real node can answer: data inserted at one node is fetched at
another, a missing key fails with a Freenet code, and ``SamizdatCheck``.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

import tests.node.fcp.test_conformance as conformance
from node.fcp.client import FCPClient, GetFailedError
from node.fcp.session import SessionConfig
from tests.node.fcp.helpers import Node
from tests.node.fcp.real_nodes import real_network

pytestmark = pytest.mark.anyio

# Conformance tests that assert only on the wire (no FakeBackend internals or knobs).
WIRE_ONLY = [
    "test_node_hello_fields",
    "test_first_message_must_be_hello",
    "test_late_hello_is_refused_but_connection_stays",
    "test_duplicate_client_name_closes_the_older",
    "test_ssk_keypair_has_trailing_slashes_and_identifier",
    "test_unknown_and_unsupported_messages",
    "test_end_terminator_and_crlf_accepted",
    "test_malformed_message_gets_error_and_connection_survives",
    "test_wrong_dda_answer_is_refused",
    "test_disconnect_and_garbage_do_not_hurt_the_server",
    "test_put_fetchable_only_with_its_verbosity_bit",
    "test_unknown_fields_ignored_and_booleans_case_insensitive",
    "test_every_request_reply_carries_identifier",
    "test_persistent_direct_get_data_on_request",
    "test_disk_access_needs_test_dda",
    "test_file_hash_proves_read_access",
    "test_persistent_global_listing_watch_and_remove",
]


@pytest.fixture
def real(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    @asynccontextmanager
    async def running_real_node(session: SessionConfig | None = None) -> AsyncIterator[Node]:
        assert session is None, "a real node runs with the default session settings"
        async with real_network(tmp_path / "net") as nodes:
            yield Node(nodes[0].ports["fcp_port"], backend=None)  # type: ignore[arg-type]

    monkeypatch.setattr(conformance, "running_node", running_real_node)
    return tmp_path


@pytest.mark.parametrize("name", WIRE_ONLY)
async def test_conformance_on_a_real_node(name: str, real: Path) -> None:
    test: Callable[..., Any] = getattr(conformance, name)
    kwargs = {}
    if "tmp_path" in inspect.signature(test).parameters:
        (real / "files").mkdir()
        kwargs["tmp_path"] = real / "files"
    await test(**kwargs)


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"Identifier": "a"}, "5"),
        ({"URI": "CHK@", "Identifier": "a", "PriorityClass": "9"}, "8"),
        ({"URI": "XYZ@nope", "Identifier": "a"}, "4"),
    ],
)
async def test_protocol_errors_on_a_real_node(
    fields: dict[str, str], code: str, real: Path
) -> None:
    await conformance.test_protocol_error_codes_keep_the_connection(fields, code)


async def test_put_then_get_direct_messages(real: Path) -> None:
    """As the conformance test, but a real insert reports progress as it goes, and knows
    its CHK only once every block is encoded (so SimpleProgress may come first)."""
    async with conformance.running_node() as node, node.raw() as c:
        fields = {"URI": "CHK@", "Identifier": "p1", "Verbosity": "1"}
        await c.send("ClientPut", {**fields, "Metadata.ContentType": "text/plain"}, b"hello")
        replies = await c.until("PutSuccessful")
        assert all(m["Identifier"] == "p1" for m in replies)
        assert {m.name for m in replies[:-1]} == {"URIGenerated", "SimpleProgress"}
        uri = replies[-1]["URI"]
        assert [m["URI"] for m in replies if m.name == "URIGenerated"] == [uri]
        await c.send("ClientGet", {"URI": "freenet:" + uri, "Identifier": "g1"})
        found, data = await c.receive(), await c.receive()
        assert found.name == "DataFound" and data.name == "AllData"
        assert found["Metadata.ContentType"] == "text/plain" and found["DataLength"] == "5"
        assert data["Identifier"] == "g1" and data.data == b"hello"


async def test_insert_at_one_node_fetch_at_another(tmp_path: Path) -> None:
    data = os.urandom(200_000)
    async with real_network(tmp_path) as nodes:
        port_a, port_b = nodes[0].ports["fcp_port"], nodes[2].ports["fcp_port"]
        async with FCPClient.connect(port=port_a) as a, FCPClient.connect(port=port_b) as b:
            uri = await a.put("CHK@", data, content_type="application/x-test")
            assert uri == await a.put(
                "CHK@", data, content_type="application/x-test", get_chk_only=True
            )
            got = await b.get(uri)
            assert got.data == data and got.content_type == "application/x-test"
            with pytest.raises(GetFailedError) as failed:
                await b.get("KSK@nobody-inserted-this")
            assert failed.value.code in (13, 14, 28)


async def test_samizdat_check_and_repair(tmp_path: Path) -> None:
    data = os.urandom(300_000)
    async with real_network(tmp_path) as nodes:
        port_a, port_b = nodes[0].ports["fcp_port"], nodes[1].ports["fcp_port"]
        async with FCPClient.connect(port=port_a) as a, FCPClient.connect(port=port_b) as b:
            uri = await a.put("CHK@", data, dont_compress=True)
            segments: list[str] = []
            done = await b.check(uri, on_segment=lambda m: segments.append(m.name))
            assert done["Survives"] == "true" and done["Missing"] == "0"
            assert segments == ["SamizdatCheckSegment"] * int(done["Segments"])
            assert int(done["Found"]) == int(done["Blocks"]) > 10
            done = await b.check(uri, repair=True, local=[data])
            assert done["Repaired"] == "0" and done["Survives"] == "true"
            with pytest.raises(GetFailedError):
                await b.check("KSK@nothing-here")
