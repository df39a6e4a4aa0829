"""Reference rewriting: what stays inside, what goes to the warning page, what is dropped."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.gateway.filter.links import UrlUse, base_directory, external_link, rewrite_url
from tests.node.gateway.helpers import BASE, CHK, SITE_ROOT, USK
from tests.node.gateway.leakcheck import safe_reference

NAV, LOAD = UrlUse.NAVIGATE, UrlUse.LOAD


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("img.png", f"/{CHK}/dir/img.png"),
        ("./a/../b.png", f"/{CHK}/dir/b.png"),
        ("../top.html", f"/{CHK}/top.html"),
        ("sub/", f"/{CHK}/dir/sub/"),
        ("#sec", "#sec"),
        ("page2.html#sec", f"/{CHK}/dir/page2.html#sec"),
        ("my file.html", f"/{CHK}/dir/my%20file.html"),
        ("?q=1", BASE),
        (f"/{USK}/index.html", f"/{USK}/index.html"),
        (f"freenet:{USK}/a.html", f"/{USK}/a.html"),
        (f"{USK}/a.html", f"/{USK}/a.html"),
        (f"FREENET:{CHK}", f"/{CHK}"),
        (f"/freenet:{CHK}/x", f"/{CHK}/x"),
        (f"http://127.0.0.1:8888/{USK}/a.html?force=1", f"/{USK}/a.html"),
        (f"http://localhost:8888/freenet:{CHK}", f"/{CHK}"),
        ("/KSK@hello/x.html", "/KSK@hello/x.html"),
        (f"/{CHK}/x.png?filter=off", f"/{CHK}/x.png"),
    ],
)
def test_inside_references_become_gateway_paths(ref: str, expected: str) -> None:
    assert rewrite_url(ref, base_path=BASE, use=LOAD) == expected
    assert rewrite_url(ref, base_path=BASE, use=NAV) == expected


@pytest.mark.parametrize(
    "ref",
    [
        "http://example.org/",
        "HTTPS://example.org/x?y#z",
        "//example.org/x",
        "\\\\example.org\\x",
        "/\\example.org/x",
        "http:example.org",
        "ftp://example.org/f",
        "mailto:someone@example.org",
        "http://127.0.0.1:8888/queue",  # the gateway's own pages are not keys
    ],
)
def test_outside_links_go_to_the_warning_page_and_loads_are_dropped(ref: str) -> None:
    assert rewrite_url(ref, base_path=BASE, use=NAV) == external_link(ref.strip())
    assert rewrite_url(ref, base_path=BASE, use=LOAD) is None


@pytest.mark.parametrize(
    "ref",
    [
        "javascript:alert(1)",
        " JavaScript:alert(1)",
        "java\tscript:alert(1)",
        "\x01javascript:alert(1)",
        "data:image/png;base64,AAAA",
        "vbscript:x",
        "file:///etc/passwd",
        "blob:http://x/1",
        "about:blank",
        "/queue",
        "/",
        "../../../../peers",
        "/KSK@x/../../peers",
        "/KSK@x/%2e%2e/%2E%2e/peers",
        "/KSK@x%2f..%2f..%2fpeers",
        "/KSK@x%5c..%5cpeers",
        "/KSK@x/%00",
        "CHK@notakey",
        "",
        "   ",
        "x" * 10_000,
    ],
)
def test_dangerous_or_unparseable_references_are_dropped(ref: str) -> None:
    assert rewrite_url(ref, base_path=BASE, use=NAV) is None
    assert rewrite_url(ref, base_path=BASE, use=LOAD) is None


def test_a_base_naming_only_a_key_is_the_site_root() -> None:
    assert rewrite_url("a.png", base_path=SITE_ROOT, use=LOAD) == f"/{USK}/a.png"
    assert rewrite_url("a.png", base_path=f"/{CHK}", use=LOAD) == f"/{CHK}/a.png"
    assert base_directory(f"/{USK}/index.html") == USK.split("/")
    assert base_directory(f"/{CHK}/d/e/f.html") == [CHK, "d", "e"]


def test_the_warning_page_link_survives_refiltering() -> None:
    link = external_link("http://example.org/a b?c=d&e")
    assert rewrite_url(link, base_path=BASE, use=NAV) == link
    assert rewrite_url(link, base_path=BASE, use=LOAD) is None


@given(st.text(max_size=200), st.sampled_from([NAV, LOAD]))
def test_every_rewritten_reference_is_safe(ref: str, use: UrlUse) -> None:
    out = rewrite_url(ref, base_path=BASE, use=use)
    assert out is None or safe_reference(out)
    if use is LOAD and out is not None:
        assert not out.startswith("/external-link")


_PIECES = st.sampled_from(
    ["/", "\\", "..", ".", "%2e", "%2f", "http:", "//", "x", "KSK@k", CHK, "?", "#", ":",
     "freenet:", "\t", " ", "@", "%", "javascript:", "localhost", "127.0.0.1:8888"]
)  # fmt: skip


@given(st.lists(_PIECES, max_size=12).map("".join), st.sampled_from([NAV, LOAD]))
def test_references_built_from_tricky_pieces_are_safe(ref: str, use: UrlUse) -> None:
    out = rewrite_url(ref, base_path=BASE, use=use)
    assert out is None or safe_reference(out)
