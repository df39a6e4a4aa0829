"""Messages: the declared metadata matches the checks, and invalid messages cannot exist."""

import dataclasses
import types
import typing

import pytest

from node.core import MESSAGE_TYPES, RemoteProtocolError
from node.core import messages as m

ALLOWED_SCALARS = {int, float, bool, bytes, str}


def _check_annotation(
    tp: object, owner: type, name: str, meta: typing.Mapping[str, object]
) -> None:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        assert len(args) == 1, f"{owner.__name__}.{name}: only X | None unions"
        _check_annotation(args[0], owner, name, meta)
        return
    if origin is tuple:
        args = typing.get_args(tp)
        assert len(args) == 2 and args[1] is Ellipsis, f"{owner.__name__}.{name}: tuple[X, ...]"
        assert "max" in meta, f"{owner.__name__}.{name}: tuples declare a max length"
        return
    if dataclasses.is_dataclass(tp):
        _check_class(tp)  # type: ignore[arg-type]
        return
    assert tp in ALLOWED_SCALARS, f"{owner.__name__}.{name}: {tp!r} is not a wire type"
    if tp in (bytes, str):
        assert "max" in meta, f"{owner.__name__}.{name}: bytes/str declare a max length"


def _check_class(cls: type) -> None:
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    assert params.frozen
    assert hasattr(cls, "__slots__")
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        assert f.kw_only, f"{cls.__name__}.{f.name} is keyword-only"
        _check_annotation(hints[f.name], cls, f.name, f.metadata)


@pytest.mark.parametrize("cls", list(MESSAGE_TYPES.values()), ids=lambda c: c.__name__)
def test_message_follows_the_wire_conventions(cls: type) -> None:
    _check_class(cls)
    assert MESSAGE_TYPES[cls.TYPE] is cls  # type: ignore[attr-defined]


def test_types_are_unique() -> None:
    assert len({c.TYPE for c in MESSAGE_TYPES.values()}) == len(MESSAGE_TYPES)  # type: ignore[attr-defined]


KEY = bytes(32)


@pytest.mark.parametrize(
    "build",
    [
        lambda: m.DataRequest(uid=-1, kind=1, routing_key=KEY, htl=18),
        lambda: m.DataRequest(uid=2**64, kind=1, routing_key=KEY, htl=18),
        lambda: m.DataRequest(uid=1, kind=3, routing_key=KEY, htl=18),
        lambda: m.DataRequest(uid=1, kind=1, routing_key=KEY[:31], htl=18),
        lambda: m.DataRequest(uid=1, kind=1, routing_key=KEY, htl=19),
        lambda: m.DataRequest(uid=1, kind=1, routing_key=KEY, htl=0),
        lambda: m.DataRequest(uid=True, kind=1, routing_key=KEY, htl=5),
        lambda: m.DataFound(uid=1, kind=1, routing_key=KEY, data=bytes(m.MAX_BLOCK_DATA + 1)),
        lambda: m.DataFound(uid=1, kind=1, routing_key=KEY, data=b"", fold="x"),  # type: ignore[arg-type]
        lambda: m.RouteNotFound(uid=1, htl=-1),
        lambda: m.FoldRef(ref=b"", location=0.5),
        lambda: m.FoldRef(ref=b"r", location=1.0),
        lambda: m.FoldRef(ref=b"r", location=float("nan")),
        lambda: m.Announce(uid=1, location=0.5, ref=bytes(m.MAX_REF + 1), htl=3),
        lambda: m.SwapRequest(uid=1, htl=3, location=0.5, peer_locations=(0.1,) * 65, nonce=1),
        lambda: m.SwapRequest(uid=1, htl=3, location=0.5, peer_locations=(2.0,), nonce=1),
        lambda: m.SwapReply(uid=1, location=0.5, peer_locations=[0.1], nonce=1),  # type: ignore[arg-type]
        lambda: m.LocationUpdate(location=-0.1),
        lambda: m.InsertCollision(uid=1, kind=0, routing_key=KEY, data=b""),
    ],
)
def test_invalid_messages_cannot_exist(build: typing.Callable[[], object]) -> None:
    with pytest.raises(RemoteProtocolError):
        build()


def test_valid_messages_build() -> None:
    fold = m.FoldRef(ref=b"ref", location=0.25)
    assert m.DataFound(uid=2**64 - 1, kind=2, routing_key=KEY, data=b"x", fold=fold).fold is fold
    assert m.SwapReply(uid=0, location=0.0, peer_locations=(0.5, 0.9), nonce=7).nonce == 7
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.RejectedLoop(uid=1).uid = 2  # type: ignore[misc]
