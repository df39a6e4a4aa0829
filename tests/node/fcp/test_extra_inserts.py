"""ExtraInsertsSingleBlock and ExtraInsertsSplitfileHeaderBlock: parsing, errors, the
client's fields, and the node backend passing them on and keeping them across a restart."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import anyio
import pytest

from crypto.blocks import Block
from crypto.uri import CHKURI, parse_uri
from node.client.client import Client
from node.client.clientdb import ClientDatabase
from node.client.network import MemoryNetwork
from node.client.requests import RequestManager, RequestState
from node.fcp.backend import DirectData, PutOptions, PutRequest, RequestInfo
from node.fcp.client import FCPClient
from node.fcp.messages import (
    ClientPut,
    ClientPutComplexDir,
    ClientPutDiskDir,
    parse_client_message,
)
from node.fcp.node_backend import NodeBackend
from node.fcp.protocol import FCPMessage, FCPProtocolError
from tests.node.fcp.helpers import running_node

pytestmark = pytest.mark.anyio

SINGLE = "ExtraInsertsSingleBlock"
HEADER = "ExtraInsertsSplitfileHeaderBlock"

PUTS: list[tuple[str, dict[str, str], bytes | None]] = [
    ("ClientPut", {"URI": "CHK@", "Identifier": "i"}, b"data"),
    (
        "ClientPutComplexDir",
        {"URI": "CHK@", "Identifier": "i", "Files.0.Name": "a", "Files.0.DataLength": "1"},
        b"a",
    ),
    ("ClientPutDiskDir", {"URI": "CHK@", "Identifier": "i", "Filename": "/tmp"}, None),
]


def parse(name: str, fields: dict[str, str], data: bytes | None) -> PutOptions:
    msg = parse_client_message(FCPMessage(name, fields, data))
    assert isinstance(msg, ClientPut | ClientPutComplexDir | ClientPutDiskDir)
    return msg.options


@pytest.mark.parametrize(("name", "fields", "data"), PUTS)
def test_defaults_and_explicit_values(
    name: str, fields: dict[str, str], data: bytes | None
) -> None:
    options = parse(name, fields, data)
    assert options.extra_inserts_single_block == 2
    assert options.extra_inserts_splitfile_header_block == 2
    options = parse(name, {**fields, SINGLE: "0", HEADER: "10"}, data)
    assert options.extra_inserts_single_block == 0
    assert options.extra_inserts_splitfile_header_block == 10
    options = parse(name, {**fields, SINGLE: " 7 "}, data)
    assert options.extra_inserts_single_block == 7


@pytest.mark.parametrize(("name", "fields", "data"), PUTS)
@pytest.mark.parametrize(
    ("value", "code"),
    [("-1", 8), ("-5", 8), ("11", 8), ("1000000", 8), ("abc", 6), ("1.5", 6), ("", 6)],
)
@pytest.mark.parametrize("field", [SINGLE, HEADER])
def test_invalid_values_are_protocol_errors(
    name: str, fields: dict[str, str], data: bytes | None, value: str, code: int, field: str
) -> None:
    # 8 (invalid field) outside 0..10; 6 (error parsing number) when not a number,
    # as for every numeric field (MaxRetries, PriorityClass…).
    with pytest.raises(FCPProtocolError) as info:
        parse(name, {**fields, field: value}, data)
    assert info.value.code == code and info.value.identifier == "i"
    assert field in info.value.description


@pytest.mark.parametrize("value", ["11", "-1", "abc"])
async def test_an_invalid_value_keeps_the_connection(value: str) -> None:
    async with running_node() as node, node.raw() as c:
        await c.send("ClientPut", {"URI": "CHK@", "Identifier": "a", SINGLE: value}, b"d")
        err = await c.receive()
        assert err.name == "ProtocolError" and err["Identifier"] == "a"
        assert err["Code"] in ("6", "8") and err["Fatal"] == "false"
        await c.send("ClientPut", {"URI": "CHK@", "Identifier": "a", HEADER: "0"}, b"d")
        assert (await c.until("PutSuccessful"))[-1].name == "PutSuccessful"


async def test_the_fcp_client_sends_the_fields_only_when_given() -> None:
    async with running_node() as node, FCPClient.connect(port=node.port) as fcp:
        await fcp.put(data=b"x", identifier="p1", persistence="forever")
        await fcp.put(
            data=b"y", identifier="p2", persistence="forever",
            extra_inserts_single_block=0, extra_inserts_splitfile_header_block=4,
        )  # fmt: skip
        await fcp.put_dir(
            "CHK@", {"a.txt": b"a"}, identifier="d1", persistence="forever",
            extra_inserts_single_block=1,
        )  # fmt: skip
        options = {
            key[1]: (
                record.request.options.extra_inserts_single_block,
                record.request.options.extra_inserts_splitfile_header_block,
            )
            for key, record in node.backend.records.items()
        }
    assert options == {"p1": (2, 2), "p2": (0, 4), "d1": (1, 2)}


# --- the node backend over the request manager ------------------------------------------


class Stalled(MemoryNetwork):
    """Inserts never finish: requests stay running until the manager stops."""

    async def insert(self, block: Block) -> None:
        await anyio.sleep_forever()


def put_request(identifier: str, data: bytes, single: int, header: int) -> PutRequest:
    return PutRequest(
        info=RequestInfo(client="tester", identifier=identifier, persistence="forever"),
        uri=parse_uri("CHK@"),
        source=DirectData(data),
        options=PutOptions(
            extra_inserts_single_block=single, extra_inserts_splitfile_header_block=header
        ),
    )


async def top_key(data: bytes) -> bytes:
    async with Client(MemoryNetwork()) as client:
        uri = parse_uri(await client.put(data, get_chk_only=True))
    assert isinstance(uri, CHKURI) and uri.routing_key is not None
    return uri.routing_key


async def test_node_backend_passes_the_values_and_a_restart_keeps_them(tmp_path: Path) -> None:
    key = bytes(range(32))
    db_path = tmp_path / "client.db"
    big = random.Random(3).randbytes(100_000)  # incompressible: a splitfile
    small = b"small"  # inline in its metadata block
    async with Client(Stalled()) as client:
        manager = RequestManager(client, ClientDatabase(db_path, key))
        async with manager:
            backend = NodeBackend(manager, runtime=None)  # type: ignore[arg-type]
            await backend.start_put(put_request("big", big, single=0, header=5))
            await backend.start_put(put_request("small", small, single=4, header=0))
            await anyio.sleep(0.05)
        manager.db.close()
    net = MemoryNetwork()
    async with Client(net) as client:
        db = ClientDatabase(db_path, key)
        async with RequestManager(client, db) as manager:
            NodeBackend(manager, runtime=None)  # type: ignore[arg-type]
            for status in manager.list():
                done = await manager.wait(status.identifier)
                assert done.state is RequestState.SUCCEEDED
        db.close()
    counts: Counter[bytes] = net.stats.inserted_keys
    assert counts[await top_key(big)] == 1 + 5
    assert counts[await top_key(small)] == 1 + 4
