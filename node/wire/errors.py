"""The wire layer's errors, split by fault as h11 does, shared with ``node.core``.

:class:`RemoteProtocolError` means the peer sent something we refuse (bad
frame, undecodable or invalid message): the runtime closes that one link and
counts it against the peer. :class:`LocalProtocolError` means our own code tried
to send something the protocol does not allow: a bug on this side.

They are the core's own classes (``node.core.errors``), re-exported, so that a
message's ``__post_init__`` and the codec raise one and the same error, and the
runtime catches it in one place.
"""

from node.core.errors import LocalProtocolError, RemoteProtocolError

__all__ = ["FrameTooLarge", "LocalProtocolError", "RemoteProtocolError"]


class FrameTooLarge(RemoteProtocolError):
    """A frame header announced more bytes than any valid frame may hold."""
