"""Exceptions and result types of the async FCP client (re-exported by node.fcp.client)."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from dataclasses import dataclass, field

from node.fcp.protocol import FCPMessage


class FCPError(Exception):
    """The node refused or failed a request."""

    def __init__(
        self,
        description: str,
        *,
        code: int | None = None,
        extra: str = "",
        fatal: bool = True,
        message: FCPMessage | None = None,
    ) -> None:
        self.code = code
        self.description = description
        self.extra = extra
        self.fatal = fatal
        self.message = message
        text = description + (f" ({extra})" if extra else "")
        super().__init__(f"[{code}] {text}" if code is not None else text)

    @classmethod
    def from_message(cls, msg: FCPMessage) -> FCPError:
        code_text = msg.get("Code")
        code = int(code_text) if code_text and code_text.lstrip("-").isdigit() else None
        return cls(
            msg.get("CodeDescription") or msg.name,
            code=code,
            extra=msg.get("ExtraDescription") or "",
            fatal=(msg.get("Fatal") or "true").strip().lower() != "false",
            message=msg,
        )


class ProtocolErrorReply(FCPError):
    """The node answered ProtocolError: the request was malformed or not allowed."""


class GetFailedError(FCPError):
    """A fetch failed; ``redirect_uri`` is set for codes 11 and 27."""

    @property
    def redirect_uri(self) -> str | None:
        return self.message.get("RedirectURI") if self.message else None


class PutFailedError(FCPError):
    """An insert failed."""


class IdentifierCollisionError(FCPError):
    """The node already has a request with this identifier."""


class FCPConnectionError(FCPError):
    """The connection ended (or was never set up) while a request waited."""


@dataclass(frozen=True, slots=True)
class SSKKeypair:
    insert_uri: str  # ends in "/": append a document name
    request_uri: str


@dataclass(frozen=True, slots=True)
class GetResult:
    uri: str
    content_type: str
    data_length: int
    data: bytes | None = field(default=None, repr=False)  # None when written to disk


def new_identifier(prefix: str = "samizdat") -> str:
    """A fresh identifier (never all digits: some clients would read it as a number)."""
    return f"{prefix}-{secrets.token_hex(8)}"


def file_hash(connection_identifier: str, identifier: str, path: str | os.PathLike[str]) -> str:
    """FCP's FileHash for UploadFrom=disk without TestDDA."""
    h = hashlib.sha256(f"{connection_identifier}-{identifier}-".encode())
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return base64.b64encode(h.digest()).decode("ascii")
