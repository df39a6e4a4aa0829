"""The sans-I/O protocol engine: events in, actions out; no sockets, clocks or threads.

The public surface is :class:`Node` (events are its methods), the actions in
:mod:`node.core.actions`, the peer messages in :mod:`node.core.messages` and the
errors in :mod:`node.core.errors`. ``specs/routing.md`` is the normative text.
"""

from node.core.actions import (
    Action,
    AnnounceDone,
    Area,
    ConnectTo,
    DropPeer,
    InsertDone,
    LocationChanged,
    LookupBlock,
    Outcome,
    PeerId,
    RequestDone,
    Send,
    SetTimer,
    StoreBlock,
)
from node.core.config import Config
from node.core.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from node.core.messages import MESSAGE_TYPES, Message
from node.core.node import Node

__all__ = [
    "MESSAGE_TYPES",
    "Action",
    "AnnounceDone",
    "Area",
    "Config",
    "ConnectTo",
    "DropPeer",
    "InsertDone",
    "LocalProtocolError",
    "LocationChanged",
    "LookupBlock",
    "Message",
    "Node",
    "Outcome",
    "PeerId",
    "ProtocolError",
    "RemoteProtocolError",
    "RequestDone",
    "Send",
    "SetTimer",
    "StoreBlock",
]
