"""The wire layer's errors, split by fault as h11 does.

:class:`RemoteProtocolError` means the peer sent something we refuse (bad
frame, undecodable or invalid message): the runtime closes that one link and
counts it against the peer. :class:`LocalProtocolError` means our own code tried
to send something the protocol does not allow: a bug on this side.
"""


class RemoteProtocolError(Exception):
    """The peer broke the wire protocol; close its link, count it, keep serving others."""


class LocalProtocolError(Exception):
    """This node tried to send something the wire protocol forbids (a local bug)."""


class FrameTooLarge(RemoteProtocolError):
    """A frame header announced more bytes than any valid frame may hold."""
