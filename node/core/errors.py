"""The errors of the routing core, split by fault as h11 splits them.

``LocalProtocolError`` means the caller (the runtime, the simulator, a test)
misused the API: a bug on our side of the link. ``RemoteProtocolError`` means a
peer sent something invalid; the core converts it in exactly one place, at the
receive boundary (:meth:`node.core.node.Node.receive`), into a ``DropPeer``
action, so garbage from a peer never crashes the node.
"""


class ProtocolError(Exception):
    """Base of the core's errors."""


class LocalProtocolError(ProtocolError):
    """The API was misused by the code driving the core (a local bug)."""


class RemoteProtocolError(ProtocolError):
    """A peer sent an invalid message or block; the link should be closed."""
