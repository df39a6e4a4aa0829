"""The unit the network moves: a verified block under its routing key.

Nodes never see plaintext or client keys. They hold ``Block`` values — the kind
(CHK or SSK), the 32-byte routing key and the encrypted bytes — and check every
one with :func:`verify_block` before storing or forwarding it.
"""

import enum
from dataclasses import dataclass

from crypto.errors import InvalidBlock
from crypto.location import ROUTING_KEY_SIZE, location_of


class KeyKind(enum.IntEnum):
    """What a routing key names; requests carry it so nodes know how to verify."""

    CHK = 1
    SSK = 2


@dataclass(frozen=True, slots=True)
class Block:
    """An encrypted block and the routing key it is stored and requested under."""

    kind: KeyKind
    routing_key: bytes
    data: bytes

    def __post_init__(self) -> None:
        if len(self.routing_key) != ROUTING_KEY_SIZE:
            raise InvalidBlock(f"a routing key is {ROUTING_KEY_SIZE} bytes")

    @property
    def location(self) -> float:
        """The block's point on the circle: where the network stores it."""
        return location_of(self.routing_key)


def verify_block(block: Block) -> None:
    """Check that ``block.data`` is a valid block for ``block.routing_key``.

    Raises:
        InvalidBlock: the block is malformed or belongs to another key
            (:class:`~crypto.errors.BadSignature` for a forged SSK).
    """
    if block.kind is KeyKind.CHK:
        chk.verify_chk(block.routing_key, block.data)
    elif block.kind is KeyKind.SSK:
        ssk.verify_ssk(block.routing_key, block.data)
    else:  # pragma: no cover - KeyKind is closed
        raise InvalidBlock(f"unknown block kind {block.kind!r}")


def block_size(kind: KeyKind) -> int:
    """The exact size in bytes of every valid block of ``kind``."""
    return chk.CHK_BLOCK_SIZE if kind is KeyKind.CHK else ssk.SSK_BLOCK_SIZE


# Last: both modules import this one (KeyKind and Block are defined by now). Not
# inside verify_block, which runs for every block every node receives.
from crypto import chk, ssk  # noqa: E402
