"""Checking and repairing keys on a memory network: per-segment counts, FEC and local repair."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest

from crypto.blocks import KeyKind
from crypto.keys import request_key
from crypto.uri import parse_uri
from node.client.check import LocalCopy, SegmentCheck
from node.client.client import Client
from node.client.errors import DataNotFound
from node.client.fec import FecCodec
from node.client.manifest import SiteFile
from node.client.network import MemoryNetwork

from .helpers import client_on, payload

pytestmark = pytest.mark.anyio

SIZE = 3 * 1024 * 1024 + 5  # 97 data blocks: two segments (49+49, 48+48)


def _data_keys(net: MemoryNetwork, uri: str) -> list[bytes]:
    """Every stored routing key but the file's own metadata block, in insert order."""
    meta = request_key(parse_uri(uri))[1]
    return [rk for (_kind, rk) in net.blocks if rk != meta]


async def test_a_healthy_file_reports_every_block() -> None:
    net = MemoryNetwork()
    seen: list[SegmentCheck] = []
    async with client_on(net) as client:
        uri = await client.put(payload(SIZE))
        report = await client.check(uri, on_segment=seen.append)
    assert report.survives and report.missing == 0 and report.lost == []
    assert [(s.k, s.n) for s in report.segments] == [(49, 98), (48, 96)]
    assert report.found == report.blocks == 194 and report.files == [""]
    assert sorted(s.index for s in seen) == [0, 1] and report.metadata_blocks == 1


async def test_lost_blocks_are_counted_and_fec_repair_restores_them() -> None:
    net = MemoryNetwork()
    async with client_on(net, heal=False) as client:
        uri = await client.put(payload(SIZE))
        lost = random.Random(3).sample(_data_keys(net, uri), 60)
        for rk in lost:
            net.drop(rk)
        report = await client.check(uri)
        assert report.missing == 60 and report.survives
        assert all(s.retrievable for s in report.segments)
        repaired = await client.check(uri, repair=True)
        assert repaired.repaired == 60
        assert all(net.has(rk) for rk in lost)
        again = await client.check(uri)
    assert again.missing == 0 and again.found == again.blocks


async def test_content_inserted_with_zfec_is_repaired_with_zfec(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Files inserted before the ISA-L codec keep zfec check blocks: both repair
    # paths (FEC from what is left, and a local copy) must rebuild those.
    original = Client._transfer

    def zfec_transfer(self: Client, *args: object, **kwargs: object) -> object:
        return dataclasses.replace(original(self, *args, **kwargs), fec=FecCodec.ZFEC)  # type: ignore[arg-type]

    monkeypatch.setattr(Client, "_transfer", zfec_transfer)
    data = payload(SIZE, seed=9)
    net = MemoryNetwork()
    async with client_on(net, heal=False) as client:
        uri = await client.put(data)
        keys = _data_keys(net, uri)
        for rk in random.Random(4).sample(keys, 50):
            net.drop(rk)
        repaired = await client.check(uri, repair=True)
        assert repaired.repaired == 50 and repaired.survives
        for rk in keys[:80]:
            net.drop(rk)
        (tmp_path / "copy.bin").write_bytes(data)
        fixed = await client.check(uri, repair=True, local=LocalCopy.of(tmp_path))
        assert fixed.survives and fixed.repaired == 80
        _result, back = await client.get_bytes(uri)
    assert back == data


async def test_a_dead_segment_needs_the_local_copy(tmp_path: Path) -> None:
    data = payload(SIZE, seed=5)
    net = MemoryNetwork()
    async with client_on(net, heal=False) as client:
        uri = await client.put(data, "KSK@checked")  # keystream-encrypted splitfile
        keys = [rk for rk in _data_keys(net, uri) if (KeyKind.CHK, rk) in net.blocks]
        for rk in keys[:80]:  # all of segment 1 but a few: fewer than k remain
            net.drop(rk)
        report = await client.check(uri, repair=True)
        assert not report.survives and report.repaired == 0
        dead = [s for s in report.segments if not s.retrievable]
        assert dead and "no local copy" in dead[0].note
        (tmp_path / "other.bin").write_bytes(b"not it")
        (tmp_path / "copy.bin").write_bytes(data)
        fixed = await client.check(uri, repair=True, local=LocalCopy.of(tmp_path))
        assert fixed.survives and fixed.repaired == report.missing
        _result, back = await client.get_bytes(uri)
    assert back == data


async def test_a_site_is_checked_file_by_file() -> None:
    files = {
        "index.html": SiteFile(data=b"<p>hi</p>"),
        "sub/dir/file.txt": SiteFile(data=payload(100_000, seed=2)),
        "big.bin": SiteFile(data=payload(70_000, seed=4)),
    }
    async with client_on() as client:
        uri = await client.put_site(files)
        report = await client.check(uri + "/sub/dir/file.txt")  # a path checks the site
    assert sorted(report.files) == ["big.bin", "index.html", "sub/dir/file.txt"]
    assert {s.path for s in report.segments} == {"big.bin", "sub/dir/file.txt"}
    assert report.survives and report.metadata_blocks == 3


async def test_lost_metadata_is_reported_and_a_missing_root_raises() -> None:
    net = MemoryNetwork()
    async with client_on(net) as client:
        uri = await client.put_site({"a.bin": SiteFile(data=payload(50_000))})
        root = request_key(parse_uri(uri))[1]
        for rk in [rk for (_kind, rk) in net.blocks if rk != root]:
            net.drop(rk)
        report = await client.check(uri)
        assert not report.survives and report.lost[0].path == "a.bin"
        net.drop(root)
        with pytest.raises(DataNotFound):
            await client.check(uri)
