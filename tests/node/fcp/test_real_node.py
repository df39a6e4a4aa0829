"""The FCP conformance suite against a real node: runtime, client layer and FCP server in-process.

The tests of ``test_conformance`` that do not look inside the FakeBackend run
unchanged here, with ``running_node`` swapped for three real nodes (darknet
friends on loopback) whose first node's FCP port the tests talk to.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

import tests.node.fcp.test_conformance as conformance
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
