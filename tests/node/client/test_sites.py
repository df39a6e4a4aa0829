"""Sites: directories become manifests; nested paths, defaults and path errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.client.errors import (
    InvalidInsertURI,
    NotEnoughPathComponents,
    PathNotFound,
    TooManyPathComponents,
)
from node.client.manifest import SiteFile, guess_mime, scan_directory
from node.client.network import MemoryNetwork

from .helpers import client_on, payload

pytestmark = pytest.mark.anyio


def make_site(root: Path) -> dict[str, bytes]:
    files = {
        "index.html": b"<h1>home</h1>",
        "about/index.html": b"<h1>about</h1>",
        "about/team/people.html": b"<p>us</p>" * 10,
        "img/big.png": payload(100_000, seed=1),
        "style.css": b"body { color: black }",
    }
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


async def test_directory_site_with_nested_paths(tmp_path: Path) -> None:
    files = make_site(tmp_path)
    async with client_on() as client:
        uri = await client.put_site(scan_directory(tmp_path))
        for name, data in files.items():
            result, back = await client.get_bytes(f"{uri}/{name}")
            assert back == data, name
            assert result.mime == guess_mime(name)
        _, home = await client.get_bytes(uri)
        assert home == files["index.html"]
        _, about = await client.get_bytes(f"{uri}/about/")
        assert about == files["about/index.html"]
        with pytest.raises(PathNotFound):
            await client.get_bytes(f"{uri}/missing.html")
        with pytest.raises(TooManyPathComponents) as info:
            await client.get_bytes(f"{uri}/style.css/extra")
        assert info.value.redirect_uri.endswith("/style.css")
        with pytest.raises(NotEnoughPathComponents):
            await client.get_bytes(f"{uri}/about/team")
        again = await client.put_site(scan_directory(tmp_path), get_chk_only=True)
    assert again == uri


async def test_default_name_and_redirect_entries() -> None:
    async with client_on() as client:
        target = await client.put(b"elsewhere", mime="text/plain")
        uri = await client.put_site(
            {
                "start.html": SiteFile(data=b"<p>start</p>"),
                "link": SiteFile(target=target, mime="text/x-link"),
            },
            default="start.html",
        )
        _, start = await client.get_bytes(uri)
        assert start == b"<p>start</p>"
        result, linked = await client.get_bytes(f"{uri}/link")
        assert linked == b"elsewhere" and result.mime == "text/x-link"
        with pytest.raises(InvalidInsertURI):
            await client.put_site({"a.html": SiteFile(data=b"")}, default="nope.html")


async def test_big_manifest_is_split_metadata() -> None:
    net = MemoryNetwork()
    files = {f"dir{i % 7}/page-{i:04d}.html": SiteFile(data=b"<p>%d</p>" % i) for i in range(1500)}
    async with client_on(net) as client:
        uri = await client.put_site(files)
        _, page = await client.get_bytes(f"{uri}/dir3/page-0003.html")
    assert page == b"<p>3</p>"
    assert len(net.blocks) > 3


async def test_filename_makes_a_one_file_site() -> None:
    async with client_on() as client:
        uri = await client.put(b"report", "CHK@/report.txt")
        assert uri.endswith("/report.txt")
        result, data = await client.get_bytes(uri)
        assert data == b"report" and result.mime == "text/plain"
        _, bare = await client.get_bytes(uri.rsplit("/", 1)[0])
        assert bare == b"report"


def test_symlinks_are_not_followed(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "a.html").write_text("a")
    (tmp_path / "secret").write_text("s")
    (tmp_path / "site" / "leak").symlink_to(tmp_path / "secret")
    assert sorted(scan_directory(tmp_path / "site")) == ["a.html"]
