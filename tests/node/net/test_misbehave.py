"""The test-only misbehaviour hook: what each mode does to what a node sends; the hidden flag."""

from __future__ import annotations

import random

import pytest

from node.cli import build_parser
from node.core.messages import DataFound, DataNotFound, DataRequest, LocationUpdate
from node.net.misbehave import ENV_SWITCH, SLOW_DELAY, Misbehaviour

KEY = bytes(range(32))
FOUND = DataFound(uid=1, kind=1, routing_key=KEY, data=b"block data" * 10)
REQUEST = DataRequest(uid=2, kind=1, routing_key=KEY, htl=10)


def hook(mode: str) -> Misbehaviour:
    return Misbehaviour(mode, random.Random(1))


def test_corrupt_flips_a_byte_of_blocks_only() -> None:
    sent, delay = hook("corrupt").outgoing(FOUND)
    assert isinstance(sent, DataFound) and delay == 0
    assert sent.data != FOUND.data and len(sent.data) == len(FOUND.data)
    assert hook("corrupt").outgoing(REQUEST) == (REQUEST, 0.0)


def test_drop_swallows_request_traffic() -> None:
    for message in (FOUND, REQUEST, DataNotFound(uid=3)):
        assert hook("drop").outgoing(message) == (None, 0.0)
    update = LocationUpdate(location=0.5)
    assert hook("drop").outgoing(update) == (update, 0.0)


def test_slow_delays_replies_not_requests() -> None:
    assert hook("slow").outgoing(FOUND) == (FOUND, SLOW_DELAY)
    assert hook("slow").outgoing(REQUEST) == (REQUEST, 0.0)


def test_liar_lies_about_its_location() -> None:
    liar = hook("liar")
    sent, _ = liar.outgoing(LocationUpdate(location=0.25))
    assert isinstance(sent, LocationUpdate) and sent.location != 0.25
    assert liar.claimed_location(0.25) != 0.25
    assert hook("corrupt").claimed_location(0.25) == 0.25


def test_unknown_modes_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown misbehaviour"):
        Misbehaviour("evil")


def test_the_flag_exists_only_for_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_SWITCH, raising=False)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["node", "run", "--misbehave", "drop"])
    monkeypatch.setenv(ENV_SWITCH, "1")
    args = build_parser().parse_args(["node", "run", "--misbehave", "drop"])
    assert args.misbehave == "drop"
    assert "misbehave" not in build_parser().format_help()
