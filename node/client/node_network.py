"""The client's block network over a running node: :class:`NodeNetwork`.

It turns the routing core's outcomes into the client layer's errors, so the
splitfile, site and USK code runs unchanged on a real node and on the
in-memory network of the tests.
"""

from __future__ import annotations

from crypto.blocks import Block, KeyKind
from node.client.errors import Collision, DataNotFound, InsertFailed, Overloaded, RouteNotFound
from node.core import Outcome
from node.net.runtime import NodeRuntime


class NodeNetwork:
    """A :class:`~node.client.network.BlockNetwork` backed by a :class:`NodeRuntime`."""

    def __init__(self, runtime: NodeRuntime) -> None:
        self.runtime = runtime

    async def fetch(self, kind: KeyKind, routing_key: bytes) -> Block:
        result = await self.runtime.fetch(kind, routing_key)
        if result.outcome is Outcome.FOUND and result.block is not None:
            return result.block
        if result.outcome is Outcome.DATA_NOT_FOUND:
            raise DataNotFound("the network looked for the block and did not find it")
        if result.outcome is Outcome.ROUTE_NOT_FOUND:
            raise RouteNotFound(
                "too few nodes could be reached to finish the search; "
                "check that the node has peers, then retry"
            )
        raise Overloaded("the request timed out on its way; retrying later may work")

    async def insert(self, block: Block) -> None:
        result = await self.runtime.insert(block)
        if result.outcome is Outcome.INSERTED:
            return
        if result.outcome is Outcome.COLLISION:
            raise Collision("a different block is already stored under this key", result.existing)
        if result.outcome is Outcome.ROUTE_NOT_FOUND:
            raise InsertFailed(
                "no node accepted the block: check that the node has peers, then retry"
            )
        raise Overloaded("the insert timed out on its way; retrying later may work")
