"""The CLI against a real test network: files of every awkward size, sites, USKs, keygen, errors.

Everything is inserted at one node and fetched at another, through
``python -m node.cli`` subprocesses, and compared byte for byte.
"""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path

import pytest

from crypto.uri import CHKURI, SSKURI, USKURI, parse_uri
from node import testnet

from .conftest import cli

pytestmark = pytest.mark.e2e

KIB = 1024
SIZES = [0, 1, 32 * KIB - 1, 32 * KIB, 32 * KIB + 1, 5 * 1024 * KIB]


def _random(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.mark.parametrize("size", SIZES)
def test_put_at_one_node_get_at_another(net: testnet.Testnet, tmp_path: Path, size: int) -> None:
    src = tmp_path / "in.bin"
    src.write_bytes(_random(size, size))
    put = cli("put", src, node=1, net=net)
    assert put.code == 0, put.err
    uri = put.last_line
    assert isinstance(parse_uri(uri), CHKURI)
    out = tmp_path / "out.bin"
    got = cli("get", uri, "-o", out, node=4, net=net)
    assert got.code == 0, got.err
    assert out.read_bytes() == src.read_bytes()


def test_extra_inserts_is_a_count_the_node_takes(net: testnet.Testnet, tmp_path: Path) -> None:
    src = tmp_path / "note.txt"
    src.write_bytes(b"a short note, inserted once")
    put = cli("put", src, "--extra-inserts", "0", node=3, net=net)
    assert put.code == 0, put.err
    got = cli("get", put.last_line, node=0, net=net)
    assert got.code == 0 and got.out == src.read_bytes(), got.err
    for bad in ("11", "-1"):
        refused = cli("put", src, "--extra-inserts", bad, node=3, net=net)
        assert refused.code == 2 and "--extra-inserts is a count from 0 to 10" in refused.err
        assert "Traceback" not in refused.err


def test_get_to_stdout_and_the_mime_type(net: testnet.Testnet, tmp_path: Path) -> None:
    page = tmp_path / "note.txt"
    page.write_text("hello from samizdat\n")
    uri = cli("put", page, node=2, net=net).last_line
    got = cli("get", uri, node=5, net=net)
    assert got.code == 0 and got.out == b"hello from samizdat\n"


def test_a_site_with_nested_paths(net: testnet.Testnet, tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "sub" / "dir").mkdir(parents=True)
    (site / "index.html").write_text("<h1>home</h1>")
    (site / "sub" / "dir" / "file.txt").write_text("deep inside")
    (site / "sub" / "big.bin").write_bytes(_random(100_000, 9))
    put = cli("put", site, node=0, net=net)
    assert put.code == 0, put.err
    uri = put.last_line
    assert cli("get", f"{uri}/sub/dir/file.txt", node=3, net=net).out == b"deep inside"
    assert cli("get", uri, node=3, net=net).out == b"<h1>home</h1>"  # the default document
    assert cli("get", f"{uri}/sub/big.bin", node=4, net=net).out == _random(100_000, 9)
    missing = cli("get", f"{uri}/nothing.txt", node=3, net=net)
    assert missing.code == 1 and "no file by that name" in missing.err


def test_keygen_prints_request_then_insert_key(net: testnet.Testnet) -> None:
    run = cli("keygen", node=0, net=net)
    assert run.code == 0, run.err
    request, insert = run.text.split()
    req, ins = parse_uri(request + "doc"), parse_uri(insert + "doc")
    assert isinstance(req, SSKURI) and isinstance(ins, SSKURI)
    assert not req.is_insert and ins.is_insert
    assert request.endswith("/") and insert.endswith("/")


def test_usk_editions_and_latest(net: testnet.Testnet, tmp_path: Path) -> None:
    request, insert = cli("keygen", node=0, net=net).text.split()
    usk_insert = insert.replace("SSK@", "USK@", 1) + "blog/0"
    usk_request = request.replace("SSK@", "USK@", 1) + "blog"
    site = tmp_path / "blog"
    site.mkdir()
    editions = []
    for n in range(3):
        (site / "index.html").write_text(f"edition {n}")
        run = cli("publish", site, "--key", usk_insert, node=1, net=net)
        assert run.code == 0, run.err
        uri = parse_uri(run.last_line)
        assert isinstance(uri, USKURI) and not uri.is_insert
        editions.append(uri.edition)
    assert editions == [0, 1, 2]
    for edition in (-1, 0, 2):  # "latest", and a USK never goes back to an older edition
        got = cli("get", f"{usk_request}/{edition}", node=4, net=net)
        assert got.code == 0 and got.out == b"edition 2", got.err
    first = cli("get", f"{usk_request}/1/index.html", node=5, net=net)
    assert first.out == b"edition 2"


def test_errors_are_sentences_with_exit_codes(net: testnet.Testnet, tmp_path: Path) -> None:
    gone = cli("get", "KSK@nobody-ever-inserted-this", node=2, net=net)
    assert gone.code == 1 and "Traceback" not in gone.err
    assert "not found" in gone.err or "too few nodes could be reached" in gone.err
    nothing = cli("put", tmp_path / "absent.bin", node=2, net=net)
    assert nothing.code == 2 and "does not exist" in nothing.err
    bad = cli("get", "CHK@not-a-key", node=2, net=net)
    assert bad.code == 2 and "is not a key" in bad.err
    with socket.socket() as s:  # a port where no node listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = cli("keygen", "--fcp", f"127.0.0.1:{port}")
    assert dead.code == 3
    assert f"no node answers at 127.0.0.1:{port}: start one with `samizdat node run`" in dead.err
    request_key = cli("keygen", node=0, net=net).text.split()[0]
    refused = cli("publish", tmp_path, "--key", request_key.replace("SSK@", "USK@") + "s/0")
    assert refused.code == 2 and "insert key" in refused.err
    assert all("Traceback" not in r.err for r in (nothing, bad, dead, refused))


@pytest.mark.soak
def test_64_mib(net: testnet.Testnet, tmp_path: Path) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(64 * 1024 * KIB))
    put = cli("put", src, node=1, net=net, timeout=600)
    assert put.code == 0, put.err
    out = tmp_path / "out.bin"
    assert cli("get", put.last_line, "-o", out, node=4, net=net, timeout=600).code == 0
    assert out.read_bytes() == src.read_bytes()
