"""Test messages that exercise every field kind the codec supports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from hypothesis import strategies as st


@dataclass(frozen=True, slots=True, kw_only=True)
class Point:
    """A nested dataclass (no TYPE needed)."""

    x: float = field(metadata={"min": 0.0, "max": 1.0})
    label: str | None = field(metadata={"max": 8})


@dataclass(frozen=True, slots=True, kw_only=True)
class Everything:
    TYPE: ClassVar[str] = "everything"

    count: int = field(metadata={"min": 0, "max": 1000})
    anyint: int
    ratio: float
    flag: bool
    key: bytes = field(metadata={"min": 4, "max": 4})
    blob: bytes = field(metadata={"max": 40_000})
    name: str = field(metadata={"max": 16})
    maybe: bytes | None = field(metadata={"max": 8})
    points: tuple[Point, ...] = field(metadata={"max": 3})
    tags: tuple[str, ...] = field(metadata={"max": 4, "item": {"max": 5}})
    origin: Point | None

    def __post_init__(self) -> None:
        if self.name == "forbidden":
            raise ValueError("that name is forbidden")


@dataclass(frozen=True, slots=True, kw_only=True)
class Ping:
    TYPE: ClassVar[str] = "ping"

    nonce: int = field(metadata={"min": 0, "max": 2**64 - 1})


@dataclass(frozen=True, slots=True, kw_only=True)
class Block:
    """Shaped like the core's block messages (for the benchmark and size checks)."""

    TYPE: ClassVar[str] = "block"

    uid: int = field(metadata={"min": 0, "max": 2**64 - 1})
    kind: int = field(metadata={"min": 1, "max": 2})
    routing_key: bytes = field(metadata={"min": 32, "max": 32})
    data: bytes = field(metadata={"max": 32_788})


REGISTRY: dict[str, type] = {cls.TYPE: cls for cls in (Everything, Ping, Block)}

points = st.builds(
    Point,
    x=st.floats(0.0, 1.0, allow_nan=False),
    label=st.none() | st.text(max_size=8),
)

everything = st.builds(
    Everything,
    count=st.integers(0, 1000),
    anyint=st.integers(-(2**64), 2**64 - 1),
    ratio=st.floats(allow_nan=False, allow_infinity=False),
    flag=st.booleans(),
    key=st.binary(min_size=4, max_size=4),
    blob=st.binary(max_size=200),
    name=st.text(max_size=16).filter(lambda s: s != "forbidden"),
    maybe=st.none() | st.binary(max_size=8),
    points=st.lists(points, max_size=3).map(tuple),
    tags=st.lists(st.text(max_size=5), max_size=4).map(tuple),
    origin=st.none() | points,
)
