"""The data directory: layout, config and state TOML, the peers file, and the TOML writer."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.net import tomlfile
from node.net.datadir import DataDir, DataDirError, default_data_dir
from node.net.identity import NodeIdentity
from node.net.noderef import make_noderef


def test_layout_and_identity_persist(tmp_path: Path) -> None:
    root = tmp_path / "node"
    data = DataDir.open(root)
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert data.identity().public_key == DataDir.open(root).identity().public_key
    assert data.store_path == root / "store"
    assert "samizdat" in str(default_data_dir()).lower()


def test_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataDirError):
        DataDir.open(tmp_path / "file")


def test_config_and_state_round_trip(tmp_path: Path) -> None:
    data = DataDir.open(tmp_path)
    assert data.read_config() == {}
    config = {
        "listen": "127.0.0.1:0",
        "opennet": True,
        "store_size": 10 * 2**30,
        "bandwidth": {"upload": 1.5e6, "download": 0},
        "seednodes": ["a", "b"],
    }
    data.write_config(config)
    assert data.read_config() == config
    data.write_state({"location": 0.123456789})
    assert data.read_state() == {"location": 0.123456789}
    data.config_path.write_text("this is = = not toml")
    with pytest.raises(DataDirError, match="not valid TOML"):
        data.read_config()


def test_peers_file(tmp_path: Path) -> None:
    data = DataDir.open(tmp_path)
    assert data.read_peers() == ([], [])
    a = NodeIdentity.from_seed(b"a" * 32)
    b = NodeIdentity.from_seed(b"b" * 32)
    ref_a = make_noderef(a, addresses=("127.0.0.1:1",), location=0.1, opennet=False, issued=10)
    ref_b = make_noderef(b, addresses=("127.0.0.1:2",), location=0.2, opennet=False, issued=10)
    assert data.add_peer(ref_a) and data.add_peer(ref_b)
    assert not data.add_peer(ref_a)  # already known, not newer
    newer = make_noderef(a, addresses=("127.0.0.1:3",), location=0.1, opennet=False, issued=11)
    assert data.add_peer(newer)
    refs, problems = data.read_peers()
    assert [r.ref for r in refs] == [newer.ref, ref_b.ref] and problems == []
    with data.peers_path.open("a") as f:
        f.write("garbage line\n")
    refs, problems = data.read_peers()
    assert len(refs) == 2 and len(problems) == 1 and ":4:" in problems[0]


scalars = (
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
)
keys = st.text(min_size=1, max_size=10)
documents = st.recursive(
    st.dictionaries(keys, scalars | st.lists(scalars, max_size=3), max_size=4),
    lambda inner: st.dictionaries(keys, inner, max_size=3),
    max_leaves=10,
)


@given(documents)
def test_toml_writer_round_trips(document: dict[str, object]) -> None:
    assert tomllib.loads(tomlfile.dumps(document)) == document


def test_toml_writer_refuses_what_it_cannot_write() -> None:
    with pytest.raises(TypeError):
        tomlfile.dumps({"x": object()})
