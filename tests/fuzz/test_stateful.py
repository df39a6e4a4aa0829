"""Fuzz the gateway's HTTP surface and the datastore file on open."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from store.slots import SLOT_SIZE
from tests.fuzz import stateful as s
from tests.fuzz.mutate import fuzz_input, mutated
from tests.fuzz.targets import Check

ONE_SESSION = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def gateway() -> Iterator[Check]:
    with s.gateway_session() as check:
        yield check


@pytest.fixture(scope="module")
def store() -> Iterator[Check]:
    with s.store_session() as check:
        yield check


PATHS = [
    "/",
    "/fetch",
    "/queue",
    "/insert",
    "/peers",
    "/status",
    "/static/x",
    "/favicon.ico",
    "/external-link",
    "/USK-SITE/",
    "/USK-SITE/d/b.html",
    "/USK-SITE/../../x",
    "/TEXT-KEY",
    "/CHK@",
    "/KSK@",
    "/SSK@a,b,c/x",
    "/freenet:KSK@x",
    "/%00",
    "/%ff%fe",
    "//x",
    "/a?b",
    "/USK-SITE/-1/",
    "/bookmarks",
    "/bookmarks/remove",
    "/peers/add",
    "/unfiltered",
]
QUERY = [
    "",
    "key=KSK@x",
    "key=",
    "url=javascript:x",
    "filter=off",
    "forcedownload",
    "max-size=-1",
    "type=text/html",
    "grant=x",
    "a=%ff",
    "key=USK-SITE",
]
HEADERS = [
    "",
    "Cookie: samizdat-session=x",
    "Range: bytes=5-2",
    "Range: bytes=-0",
    "Accept-Encoding: gzip",
    "Origin: http://evil",
    "Sec-Fetch-Site: cross-site",
    "If-None-Match: *",
    "Content-Length: 5",
    s.FORM,
    s.MULTIPART,
    "Content-Type: multipart/form-data",
]
text = st.text(max_size=30)


@st.composite
def requests(draw: st.DrawFn) -> bytes:
    method = draw(st.sampled_from(["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "x"]))
    path = draw(
        st.one_of(
            st.sampled_from(PATHS),
            text.map(lambda x: "/" + x),
            st.builds(lambda p, x: p + x, st.sampled_from(PATHS), text),
        )
    )
    query = draw(st.one_of(st.sampled_from(QUERY), text)).encode("utf-8", "surrogatepass")
    host = draw(st.one_of(st.sampled_from(s.HOSTS), text))
    headers = "\n".join(draw(st.lists(st.sampled_from(HEADERS), max_size=3)))
    fields = draw(
        st.lists(
            st.tuples(
                st.sampled_from(["csrf", "key", "name", "id", "ref", "path", "file", "x"]),
                st.one_of(st.none(), text),
                st.one_of(st.sampled_from([b"@CSRF@", b"CHK@"]), st.binary(max_size=40)),
            )
        )
    )
    body = draw(
        st.one_of(
            st.just(s.multipart(fields)),
            st.binary(max_size=100),
            st.sampled_from([b"csrf=@CSRF@&key=KSK@x", b"csrf=@CSRF@&ref=%ff"]),
        )
    )
    return s.encode_request(method, path, query, host, headers.encode(), body)


@ONE_SESSION
@given(st.one_of(requests(), fuzz_input(s.gateway_seeds())))
@example(
    s.encode_request(
        "POST",
        "/insert",
        b"",
        s.HOSTS[0],
        s.MULTIPART.encode(),
        s.multipart([("csrf", None, "é".encode())]),
    )
)
@example(s.encode_request("POST", "/bookmarks", b"", s.HOSTS[0], s.FORM.encode(), b"csrf=%C3%A9"))
def test_gateway_requests(gateway: Check, data: bytes) -> None:
    gateway(data)


@ONE_SESSION
@given(st.one_of(mutated(s.store_seeds()), st.binary(max_size=4096)))
def test_store_file_on_open(store: Check, data: bytes) -> None:
    store(data)


def slot_seed() -> tuple[bytes, bytes]:
    """The database and the slot file (two slots) of the seed that keeps its records in slots."""
    database, slots = s.store_files(s.store_seeds()[0])
    assert slots is not None and len(slots) == 2 * SLOT_SIZE
    return database, slots


def test_store_seeds_open_and_reach_the_slot_file(store: Check) -> None:
    seeds = s.store_seeds()
    assert [s.store_files(seed)[1] is not None for seed in seeds] == [True, True, False, False]
    assert [store(seed) for seed in seeds] == ["ok"] * len(seeds)


@pytest.mark.parametrize(
    "damage",
    [
        lambda slots: bytes(len(slots)),  # zeros
        lambda slots: random.Random(1).randbytes(len(slots)),  # garbage
        lambda slots: slots[SLOT_SIZE:] + slots[:SLOT_SIZE],  # the two records swapped
        lambda slots: slots[: 2 * SLOT_SIZE - 1],  # cut inside the second slot
        lambda slots: slots[:1],  # cut inside the first
        lambda slots: slots + random.Random(2).randbytes(3 * SLOT_SIZE + 7),  # too long
        lambda slots: slots[:100] + b"\xff" + slots[101:],  # one byte of a record
    ],
)
def test_a_damaged_or_hostile_slot_file_opens_and_loses_only_its_damaged_blocks(
    store: Check, damage: Callable[[bytes], bytes]
) -> None:
    database, slots = slot_seed()
    assert store(database + damage(slots)) == "ok"


def test_a_missing_slot_file_is_refused_with_a_clear_error(store: Check) -> None:
    database, _slots = slot_seed()
    assert store(database) == "DatabaseCorrupt"


@ONE_SESSION
@given(mutated([slot_seed()[1]]))
def test_store_slot_file_mutations(store: Check, slots: bytes) -> None:
    database, _slots = slot_seed()
    store(database + slots)
