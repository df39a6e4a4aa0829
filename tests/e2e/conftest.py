"""End-to-end tests: real node processes on 127.0.0.1 (node.testnet) and the CLI as a subprocess."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from node.testnet import Testnet

NODES = 6


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Testnet]:
    """One test network per module (starting one takes a few seconds)."""
    with Testnet(NODES, tmp_path_factory.mktemp("testnet")) as testnet:
        yield testnet


@dataclass
class Run:
    code: int
    out: bytes
    err: str

    @property
    def text(self) -> str:
        return self.out.decode()

    @property
    def last_line(self) -> str:
        return self.text.strip().splitlines()[-1]


def cli(
    *args: str | Path, node: int | None = None, net: Testnet | None = None, timeout: float = 120
) -> Run:
    """``samizdat ARGS`` as a subprocess, talking FCP to ``net.nodes[node]``."""
    command = [sys.executable, "-m", "node.cli", *map(str, args)]
    if node is not None:
        assert net is not None
        command += ["--fcp", f"127.0.0.1:{net.nodes[node].fcp_port}"]
    done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
    return Run(done.returncode, done.stdout, done.stderr.decode(errors="replace"))
