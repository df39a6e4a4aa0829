"""The identity file: created once with mode 0600, reloaded identically, refused when unsafe."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from node.net.identity import (
    IdentityError,
    NodeIdentity,
    load_identity,
    load_or_create_identity,
    save_identity,
)


def test_created_once_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "identity"
    first, created = load_or_create_identity(path)
    assert created
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again, created = load_or_create_identity(path)
    assert not created and again.public_key == first.public_key
    assert again.keys == first.keys
    assert first.keys.identity_seed.hex() not in repr(first)


def test_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "identity"
    save_identity(path, NodeIdentity.generate())
    with pytest.raises(IdentityError, match="refusing to overwrite"):
        save_identity(path, NodeIdentity.generate())


def test_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "identity"
    load_or_create_identity(path)
    path.chmod(0o644)
    with pytest.raises(IdentityError, match="chmod 600"):
        load_identity(path)


@pytest.mark.parametrize(
    "content", [b"", b"hello\n", b"samizdat-identity-v1\nshort\n", b"\xff\xfe"]
)
def test_damaged_files_are_named(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "identity"
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(IdentityError, match=str(path)):
        load_identity(path)


def test_signing() -> None:
    from crypto.primitives import verify_signature

    identity = NodeIdentity.from_seed(bytes(32))
    assert verify_signature(identity.public_key, b"m", identity.sign(b"m"))
