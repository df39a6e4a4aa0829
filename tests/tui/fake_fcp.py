"""A deterministic stand-in for FCPClient, for snapshot tests: fixed node, peers, transfers, keys.

Snapshots must not change from run to run, and a real node's identity,
location, ports, keys and uptime all do; this fake answers the TUI's calls
with fixed values instead (the Pilot tests use a real node).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import anyio

from node.fcp.client import SSKKeypair
from node.fcp.protocol import FCPMessage

_B = "B" * 43
REQUEST = f"SSK@{'A' * 43},{_B},AQABAAA/"
INSERT = f"SSK@{'C' * 43},{_B},AQEBAAA/"
CHK = f"CHK@{'D' * 43},{'E' * 43},AAMCAAA/report.pdf"


def _m(name: str, **fields: object) -> FCPMessage:
    return FCPMessage(name, {k.replace("_", "."): str(v) for k, v in fields.items()})


class FakeFCP:
    def __init__(self) -> None:
        self.entries: dict[str, dict[str, dict[str, str]]] = {
            "Keypair": {
                "blog": {"InsertURI": INSERT, "RequestURI": REQUEST, "Edition": "4"},
            },
            "Bookmark": {
                "news": {"URI": REQUEST.replace("SSK@", "USK@") + "news/12", "Edition": "12"},
            },
        }

    async def watch_global(self, enabled: bool = True) -> None:
        return None

    async def list_persistent(self) -> list[FCPMessage]:
        g = {"Global": "true"}
        return [
            _m("PersistentGet", Identifier="get-1", URI=CHK, Filename="/srv/dl/report.pdf", **g),
            _m("SimpleProgress", Identifier="get-1", Total=40, Required=32, Succeeded=12, **g),
            _m("PersistentPut", Identifier="put-1", URI="CHK@", TargetFilename="notes.txt", **g),
            _m(
                "PutSuccessful", Identifier="put-1", URI=CHK.replace("report.pdf", "notes.txt"), **g
            ),
            _m("PersistentGet", Identifier="get-2", URI="KSK@missing", **g),
            _m("GetFailed", Identifier="get-2", Code=13, CodeDescription="Data not found", **g),
        ]

    async def list_entries(self, kind: str, *, with_private: bool = False) -> list[dict[str, str]]:
        out = []
        for name, fields in sorted(self.entries[kind].items()):
            keep = {k: v for k, v in fields.items() if with_private or k != "InsertURI"}
            out.append({"Name": name, **keep})
        return out

    async def put_entry(self, kind: str, name: str, fields: Mapping[str, object]) -> None:
        self.entries[kind][name] = {k: str(v) for k, v in fields.items()}

    async def remove_entry(self, kind: str, name: str) -> None:
        self.entries[kind].pop(name, None)

    async def node_info(
        self, *, with_private: bool = False, with_volatile: bool = False
    ) -> dict[str, str]:
        info = {
            "identity": "identity",
            "myName": "Zm9vYmFy",
            "location": "0.421337",
            "opennet": "false",
            "volatile.numberOfConnected": "2",
            "volatile.uptimeSeconds": "3725",
            "volatile.storeSize": str(300 * 2**20),
            "volatile.maxStoreSize": str(1024 * 2**20),
            "volatile.cacheSize": str(1000 * 2**20),
            "volatile.maxCacheSize": str(1024 * 2**20),
            "volatile.storeKeys": "9600",
            "volatile.cacheKeys": "32000",
            "volatile.messagesIn": "0",
            "volatile.totalInputBytes": "0",
            "volatile.totalOutputBytes": "0",
            "volatile.messagesOut": "0",
        }
        if with_private:
            info["noderef"] = "SAMIZDAT-NODEREF-1:" + "x" * 150
        return info

    async def list_peers(self, *, with_volatile: bool = False) -> list[dict[str, str]]:
        return [
            {
                "identity": "QUJDREVG",
                "location": "0.400000",
                "opennet": "false",
                "metadata.status": "CONNECTED",
                "metadata.direction": "outbound",
                "volatile.connectedSeconds": "600",
            },
            {
                "identity": "R0hJSktM",
                "location": "0.950000",
                "opennet": "false",
                "metadata.status": "CONNECTED",
                "metadata.direction": "inbound",
                "volatile.connectedSeconds": "59",
            },
        ]

    async def events(self) -> AsyncIterator[FCPMessage]:
        await anyio.sleep_forever()
        yield FCPMessage("never")

    @asynccontextmanager
    async def subscribe_usk(self, uri: str) -> AsyncIterator[AsyncIterator[tuple[int, str]]]:
        async def updates() -> AsyncIterator[tuple[int, str]]:
            await anyio.sleep_forever()
            yield 0, uri

        yield updates()

    async def generate_ssk(self) -> SSKKeypair:
        return SSKKeypair(INSERT, REQUEST)


def fake_connect() -> object:
    @asynccontextmanager
    async def connect() -> AsyncIterator[FakeFCP]:
        yield FakeFCP()

    return connect
