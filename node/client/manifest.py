"""Sites: a directory (or a list of named files) becomes a manifest, and paths resolve in it.

A manifest maps names to documents; a nested path ``a/b/c.html`` becomes
manifests within manifests. Small files are inlined into the manifest (one
fetch gets the page and its little images), larger ones are entries that
redirect to the file's own metadata CHK. The default document is
``index.html`` unless the caller names another. MIME types are guessed from
the name with Python's built-in table only (never the system's
``/etc/mime.types``), so the same site inserted on two machines gives the same
CHK.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from node.client.errors import InvalidInsertURI
from node.client.metadata import (
    DEFAULT_MIME,
    Document,
    Manifest,
    check_name,
)

DEFAULT_NAME = "index.html"
# Files whose compressed payload is at most 2 KiB go inside the manifest, up to
# 1 MiB of them per site (Freenet packs small files in containers the same way).
INLINE_FILE_LIMIT = 2 * 1024
INLINE_SITE_LIMIT = 1024 * 1024
# A hostile or mistaken directory (a home folder) should fail early, not after
# hours: Freenet's largest sites have tens of thousands of files.
MAX_SITE_FILES = 100_000

_MIME = mimetypes.MimeTypes(filenames=())


def guess_mime(name: str) -> str:
    """The MIME type for a file name from Python's built-in table, or octet-stream."""
    mime, encoding = _MIME.guess_type(name, strict=False)
    if mime is None or encoding is not None:
        return DEFAULT_MIME  # "x.tar.gz" is a gzip file to a browser, not a tar
    return mime


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteFile:
    """One file of a site: bytes, a file on disk, or a redirect to another key."""

    data: bytes | None = None
    path: Path | None = None
    target: str | None = None
    mime: str | None = None

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.data, self.path, self.target)) != 1:
            raise ValueError("a site file has exactly one of data, path and target")

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path.read_bytes()


def scan_directory(root: Path) -> dict[str, SiteFile]:
    """Every regular file under ``root`` by its ``/``-separated relative name.

    Symbolic links are not followed (a site must not leak files from outside
    its directory).
    """
    if not root.is_dir():
        raise InvalidInsertURI(f"{root} is not a directory")
    files: dict[str, SiteFile] = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        if any(part.is_symlink() for part in path.relative_to(root).parents if part != Path()):
            continue
        files[path.relative_to(root).as_posix()] = SiteFile(path=path)
        if len(files) > MAX_SITE_FILES:
            raise InvalidInsertURI(f"a site has at most {MAX_SITE_FILES} files")
    return files


def split_name(name: str) -> list[str]:
    """A site path split into checked components (``a/b/c.html`` → three names)."""
    parts = [p for p in name.split("/") if p]
    if not parts:
        raise InvalidInsertURI(f"{name!r} is not a file name")
    try:
        return [check_name(p) for p in parts]
    except ValueError as exc:
        raise InvalidInsertURI(str(exc)) from None


def build_manifest(entries: Mapping[str, Document], default: str | None) -> Manifest:
    """Nest flat ``a/b/c`` entries into manifests; ``default`` names the root's default."""
    tree: dict[str, object] = {}
    for name, doc in entries.items():
        parts = split_name(name)
        node = tree
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise InvalidInsertURI(f"{name!r}: {part!r} is both a file and a directory")
            node = child
        if parts[-1] in node:
            raise InvalidInsertURI(f"{name!r} appears twice, or is both a file and a directory")
        node[parts[-1]] = doc
    return _freeze(tree, default)


def _freeze(tree: dict[str, object], default: str | None) -> Manifest:
    entries: dict[str, Document] = {}
    for name, value in sorted(tree.items()):
        if isinstance(value, dict):
            sub_default = DEFAULT_NAME if DEFAULT_NAME in value else None
            entries[name] = _freeze(value, sub_default)
        else:
            entries[name] = cast(Document, value)
    return Manifest(entries=entries, default=default)
