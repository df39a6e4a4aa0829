"""SamizdatCheck on the wire: streamed segments, the final report, failures, collisions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest

from crypto.uri import KSKURI
from node.fcp.backend import CheckReporter, CheckRequest, CheckResult, CheckSegment, GetFailure
from node.fcp.server import FCPServer, ServerConfig
from tests.node.fcp.fake_backend import FakeBackend
from tests.node.fcp.helpers import Node, running_node

pytestmark = pytest.mark.anyio


class CheckingBackend(FakeBackend):
    """The FakeBackend plus a check that reports two segments, one of them damaged."""

    requests: list[CheckRequest]
    gate: anyio.Event

    async def check(self, request: CheckRequest, report: CheckReporter) -> CheckResult | GetFailure:
        self.requests.append(request)
        await self.gate.wait()
        if isinstance(request.uri, KSKURI) and request.uri.keyword == "gone":
            return GetFailure(code=13, extra="no such key")
        report(CheckSegment(path="a.txt", index=0, segments=2, k=2, n=4, found=4))
        repaired = 1 if request.repair else 0
        report(
            CheckSegment(
                path="a.txt",
                index=1,
                segments=2,
                k=2,
                n=4,
                found=1,
                missing=(0, 2, 3),
                repaired=repaired,
                note="" if repaired else "too few",
            )
        )
        return CheckResult(
            uri=str(request.uri),
            files=1,
            segments=2,
            blocks=8,
            found=5,
            missing=3,
            repaired=repaired,
            metadata_blocks=1,
            lost=(("b.txt", "metadata gone"),),
            survives=False,
        )


@asynccontextmanager
async def checking_node() -> AsyncIterator[tuple[Node, CheckingBackend]]:
    async with anyio.create_task_group() as tg:
        backend = CheckingBackend(tg)
        backend.requests, backend.gate = [], anyio.Event()
        port = await tg.start(FCPServer(backend, ServerConfig(port=0)).serve)
        yield Node(port, backend), backend
        tg.cancel_scope.cancel()


async def test_segments_stream_then_complete_and_the_connection_stays_usable() -> None:
    async with checking_node() as (node, backend), node.raw() as c:
        fields = {
            "Identifier": "c1",
            "URI": "KSK@site",
            "Repair": "true",
            "DataLength": "5",
            "Files.0.DataLength": "2",
            "Files.1.DataLength": "3",
        }
        await c.send("SamizdatCheck", fields, b"ab" + b"cde")
        await c.send("SamizdatCheck", {"Identifier": "c1", "URI": "KSK@site"})
        assert (await c.receive()).name == "IdentifierCollision"
        await c.send("GenerateSSK", {"Identifier": "meanwhile"})  # a check does not block
        assert (await c.receive()).name == "SSKKeypair"
        backend.gate.set()
        msgs = await c.until("SamizdatCheckComplete")
    assert backend.requests[0].local == (b"ab", b"cde") and backend.requests[0].repair
    assert [m.name for m in msgs] == ["SamizdatCheckSegment"] * 2 + ["SamizdatCheckComplete"]
    assert all(m["Identifier"] == "c1" for m in msgs)
    assert msgs[1]["Missing"] == "0,2,3" and msgs[1]["Repaired"] == "1"
    assert msgs[1]["Retrievable"] == "true" and msgs[0]["Retrievable"] == "true"
    done = msgs[-1]
    assert done["Survives"] == "false" and done["Lost.0.Path"] == "b.txt"


async def test_a_missing_key_is_get_failed_and_bad_input_a_protocol_error() -> None:
    async with checking_node() as (node, backend), node.raw() as c:
        backend.gate.set()
        await c.send("SamizdatCheck", {"Identifier": "g", "URI": "KSK@gone"})
        failed = await c.receive()
        assert failed.name == "GetFailed" and failed["Code"] == "13"
        await c.send("SamizdatCheck", {"Identifier": "u", "URI": "XYZ@bad"})
        assert (await c.receive())["Code"] == "4"
        await c.send("SamizdatCheck", {"URI": "KSK@a"})
        assert (await c.receive())["Code"] == "5"


async def test_a_backend_without_check_says_not_supported() -> None:
    async with running_node() as node, node.raw() as c:
        assert not hasattr(FakeBackend, "check")
        await c.send("SamizdatCheck", {"Identifier": "n", "URI": "KSK@a"})
        err = await c.receive()
        assert err.name == "ProtocolError" and err["Code"] == "16" and err["Identifier"] == "n"
