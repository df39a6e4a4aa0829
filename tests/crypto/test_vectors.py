"""Known-answer vectors: fixed content and keys give exactly these URIs and block bytes.

The vectors pin the formats of specs/keys.md; a change to any layout, context
string or cipher makes these fail, which is the point.
"""

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from crypto.blocks import Block, KeyKind, verify_block
from crypto.keys import decode_block, generate_ssk, insert_chk, insert_ssk, ksk_as_ssk, request_key
from crypto.location import location_of
from crypto.uri import KSKURI, parse_uri

VECTORS: dict[str, Any] = json.loads((Path(__file__).parent / "vectors.json").read_text())


def _chk_data(entry: dict[str, Any]) -> bytes:
    if entry["data_pattern"] == "range256x128":
        return bytes(range(256)) * 128
    return bytes.fromhex(entry["data_hex"])


@pytest.mark.parametrize("entry", VECTORS["chk"], ids=lambda e: e["uri"][:16])
def test_chk_vector(entry: dict[str, Any]) -> None:
    data = _chk_data(entry)
    block, uri = insert_chk(data)
    assert str(uri) == entry["uri"]
    assert hashlib.sha256(block.data).hexdigest() == entry["block_sha256"]
    assert location_of(block.routing_key) == entry["location"]
    if "block_hex" in entry:
        assert block.data.hex() == entry["block_hex"]
    assert decode_block(parse_uri(entry["uri"]), block) == data


@pytest.mark.parametrize("entry", VECTORS["ssk"], ids=lambda e: e["request_uri"][-8:])
def test_ssk_vector(entry: dict[str, Any]) -> None:
    request, insert = generate_ssk(bytes.fromhex(entry["seed_hex"]))
    docname = parse_uri(entry["request_uri"]).docname  # type: ignore[union-attr]
    assert str(request.with_docname(docname)) == entry["request_uri"]
    assert str(insert.with_docname(docname)) == entry["insert_uri"]
    block = insert_ssk(insert.with_docname(docname), bytes.fromhex(entry["data_hex"]))
    assert block.routing_key.hex() == entry["routing_key_hex"]
    assert block.data.hex() == entry["block_hex"]
    stored = Block(
        KeyKind.SSK, bytes.fromhex(entry["routing_key_hex"]), bytes.fromhex(entry["block_hex"])
    )
    verify_block(stored)
    assert request_key(parse_uri(entry["request_uri"])) == (KeyKind.SSK, stored.routing_key)
    assert decode_block(parse_uri(entry["request_uri"]), stored) == bytes.fromhex(entry["data_hex"])


@pytest.mark.parametrize("entry", VECTORS["ksk"], ids=lambda e: e["uri"])
def test_ksk_vector(entry: dict[str, Any]) -> None:
    uri = parse_uri(entry["uri"])
    assert isinstance(uri, KSKURI)
    assert str(ksk_as_ssk(uri).public()) == entry["request_uri"]
    block = insert_ssk(ksk_as_ssk(uri), bytes.fromhex(entry["data_hex"]))
    assert block.data.hex() == entry["block_hex"]
    assert request_key(uri) == (KeyKind.SSK, bytes.fromhex(entry["routing_key_hex"]))
    assert decode_block(uri, block) == bytes.fromhex(entry["data_hex"])
