"""The node's long-term identity: an Ed25519 seed on disk (mode 0600) and the keys derived from it.

The identity public key is how other nodes name this node (in node references
and in the link handshake); the X25519 static key for the handshake is derived
from the same seed, so one small secret file is all there is to keep.

File format (``identity``, text, versioned)::

    samizdat-identity-v1
    <the 32-byte seed in Freenet base64>

It is created atomically (``O_CREAT | O_EXCL`` with mode 0600, written, fsynced)
on first run; a file readable by group or others is refused rather than used,
as ssh does, because a leaked seed lets anyone impersonate the node.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from crypto.encoding import b64decode, b64encode
from crypto.errors import CryptoError
from crypto.handshake import LocalKeys
from crypto.primitives import SIGN_SEED_SIZE, random_bytes, sign

MAGIC = "samizdat-identity-v1"


class IdentityError(Exception):
    """The identity file is missing, unreadable, malformed or too widely readable."""


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    """This node's keys. ``public_key`` (32 bytes) is its name on the network."""

    keys: LocalKeys = field(repr=False)

    @classmethod
    def generate(cls) -> NodeIdentity:
        return cls.from_seed(random_bytes(SIGN_SEED_SIZE))

    @classmethod
    def from_seed(cls, seed: bytes) -> NodeIdentity:
        return cls(LocalKeys.from_seed(seed))

    @property
    def public_key(self) -> bytes:
        return self.keys.identity_public

    def sign(self, message: bytes) -> bytes:
        """Ed25519 signature by the identity key (callers prefix a context)."""
        return sign(self.keys.identity_seed, message)

    def __repr__(self) -> str:
        return f"NodeIdentity({b64encode(self.public_key)[:8]}…)"


def save_identity(path: Path, identity: NodeIdentity) -> None:
    """Write a new identity file; refuse to overwrite an existing one."""
    text = f"{MAGIC}\n{b64encode(identity.keys.identity_seed)}\n".encode("ascii")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise IdentityError(f"{path} already exists; refusing to overwrite an identity") from None
    try:
        os.write(fd, text)
        os.fsync(fd)
    finally:
        os.close(fd)


def load_identity(path: Path) -> NodeIdentity:
    """Read an identity file, checking its permissions and format."""
    try:
        st = path.stat()
        if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise IdentityError(
                f"{path} is readable by other users; run 'chmod 600 {path}' "
                "(and consider the identity leaked if others could read it)"
            )
        text = path.read_text("ascii")
    except OSError as exc:
        raise IdentityError(f"cannot read the identity file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise IdentityError(f"{path} is not a Samizdat identity file") from None
    lines = text.split()
    if len(lines) != 2 or lines[0] != MAGIC:
        raise IdentityError(f"{path} is not a Samizdat identity file (expected '{MAGIC}')")
    try:
        seed = b64decode(lines[1], length=SIGN_SEED_SIZE, what="identity seed")
    except CryptoError as exc:
        raise IdentityError(f"{path} is damaged: {exc}") from None
    return NodeIdentity.from_seed(seed)


def load_or_create_identity(path: Path) -> tuple[NodeIdentity, bool]:
    """The identity at ``path``, creating one on first run; returns ``(identity, created)``."""
    if path.exists():
        return load_identity(path), False
    identity = NodeIdentity.generate()
    try:
        save_identity(path, identity)
    except IdentityError:  # another process created it first: use theirs
        return load_identity(path), False
    return identity, True
