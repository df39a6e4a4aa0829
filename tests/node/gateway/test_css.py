"""The CSS filter: references, escapes, at-rules, and a tokenizer that round-trips."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from node.gateway.filter.css import filter_style_attribute, filter_stylesheet
from node.gateway.filter.css_tokens import CSSTooLarge, Kind, Token, serialize, tokenize
from tests.node.gateway.helpers import BASE, CHK
from tests.node.gateway.leakcheck import check_css

EVIL = "http://tracker.example/p.gif"

HOSTILE = [
    f"a{{background:url({EVIL})}}",
    f"a{{background:url('{EVIL}')}}",
    f'a{{background:url( "{EVIL}" )}}',
    "a{background:url(//tracker.example/p)}",
    "a{background:url(\\\\tracker.example\\p)}",
    "a{background:url(/\\tracker.example/p)}",
    f"a{{background:\\75 rl({EVIL})}}",
    f"a{{background:\\55\\52\\4c({EVIL})}}",
    f"a{{background:u\\rl({EVIL})}}",
    f"a{{background:u/**/rl({EVIL})}}",
    f"a{{background/**/:/**/url({EVIL})}}",
    f"a{{background:image-set('{EVIL}' 1x)}}",
    f"a{{background:-webkit-image-set(url({EVIL}) 1x, 'b.png' 2x)}}",
    f"a{{background:image-set('a.png' type('image/png'), '{EVIL}' 2x)}}",
    f"a{{--x:'{EVIL}';background:image-set(var(--x) 1x)}}",
    f"a{{background:src('{EVIL}')}}",
    f"a{{background:image('{EVIL}')}}",
    f"a{{background:cross-fade(url({EVIL}), url(b.png))}}",
    "a{width:attr(data-u url)}",
    "a{width:expression(alert(1))}",
    "a{width:expr/**/ession(alert(1))}",
    "a{width:\\65xpression(alert(1))}",
    "a{behavior:url(a.htc)}",
    "a{-moz-binding:url(b.xml#x)}",
    "a{-ms-behavior:url(a.htc)}",
    f"@import '{EVIL}';",
    f"@import url({EVIL}) screen;",
    f"@IMPORT url('{EVIL}');",
    f"@\\69mport '{EVIL}';",
    "@import 'a.css'; @import url(//tracker.example/b.css);",
    f"@import url('a.css') supports(background:url({EVIL}));",
    f"@font-face{{font-family:f;src:url({EVIL}) format('woff')}}",
    f"@font-face{{font-family:f;src:local(x),url({EVIL})}}",
    "@namespace svg url(http://www.w3.org/2000/svg);",
    f"@charset 'utf-7'; a{{background:url({EVIL})}}",
    f"@media screen{{a{{background:url({EVIL})}}}}",
    f"@supports (background:url({EVIL})){{a{{color:red}}}}",
    f"@-moz-document url-prefix({EVIL}){{a{{color:red}}}}",
    f"@page{{@top-left{{background:url({EVIL})}}}}",
    f"@keyframes k{{from{{background:url({EVIL})}}}}",
    f"a{{color:red;&:hover{{background:url({EVIL})}}}}",
    f"a{{cursor:url({EVIL}),auto;list-style:url({EVIL});content:url({EVIL})}}",
    f"a{{mask:url({EVIL});filter:url({EVIL}#f);clip-path:url({EVIL}#c)}}",
    f"a[href=x]{{background:url({EVIL})}}",
    f"a{{background:url({EVIL}",
    "a{background:url(http://x/a b)}",
    'a{background:url(http://x/a"b)}',
    "<!-- a{background:url(http://x)} -->",
    "a{content:'</style><img src=http://x>'}",
    "a{content:'\\3c /style\\3e'}",
    "a{background:u\\\nrl(http://x)}",
    "a{background:url(\x00http://x)}",
    f"a{{background:url({EVIL})}} }}}} b{{background:url({EVIL})}}",
    f"a{{b:c;}} ;@x; {{background:url({EVIL})}}",
]


@pytest.mark.parametrize("css", HOSTILE)
def test_hostile_stylesheets_cannot_reach_outside(css: str) -> None:
    out = filter_stylesheet(css, base_path=BASE)
    check_css(out)
    assert "</" not in out and "<!--" not in out
    assert "expression" not in out.lower() and "binding" not in out.lower()
    assert filter_stylesheet(out, base_path=BASE) == out  # a fixed point


@pytest.mark.parametrize("css", HOSTILE)
def test_hostile_style_attributes_cannot_reach_outside(css: str) -> None:
    body = css.partition("{")[2].rpartition("}")[0] or css
    out = filter_style_attribute(body, base_path=BASE)
    check_css(out)


def test_legitimate_css_survives() -> None:
    css = (
        "@import 'theme.css' screen;\n"
        "body { color: #333; background: #fff url(bg.png) no-repeat; font: 14px/1.4 serif }\n"
        "a:hover > b.c, #id::before { margin: -1px 2em calc(100% - 3px) !important }\n"
        "@media (max-width: 600px) { .nav { display: none } }\n"
        "@font-face { font-family: F; src: local(F), url(f.woff2) format('woff2') }\n"
        "h1 { background: linear-gradient(to right, rgba(0,0,0,.5), transparent) }\n"
        ".x { background-image: image-set('a.png' 1x, 'a2.png' 2x) }\n"
    )
    out = filter_stylesheet(css, base_path=BASE)
    check_css(out)
    for kept in (
        f'@import url("/{CHK}/dir/theme.css") screen;',
        f'url("/{CHK}/dir/bg.png")',
        "a:hover > b.c, #id::before",
        "!important",
        "calc(100% - 3px)",
        "@media (max-width: 600px)",
        f'url("/{CHK}/dir/f.woff2") format("woff2")',
        "linear-gradient(to right, rgba(0,0,0,.5), transparent)",
        f'image-set("/{CHK}/dir/a.png" 1x, "/{CHK}/dir/a2.png" 2x)',
        "color: #333",
    ):
        assert kept in out, kept


def test_style_attribute_keeps_declarations_and_rewrites_urls() -> None:
    out = filter_style_attribute("color: red; background: url(a.png); x: y", base_path=BASE)
    assert out == f'color: red;background: url("/{CHK}/dir/a.png");x: y;'


def test_escapes_are_normalised_before_checking() -> None:
    assert filter_style_attribute("c\\6flor: r\\65 d", base_path=BASE) == "color: red;"
    assert filter_style_attribute("background: \\75 rl(a.png)", base_path=BASE) == (
        f'background: url("/{CHK}/dir/a.png");'
    )


def test_limits() -> None:
    with pytest.raises(CSSTooLarge):
        filter_stylesheet("a{" + "(" * 100 + "}", base_path=BASE)
    with pytest.raises(CSSTooLarge):
        filter_stylesheet("a" * (4 * 1024 * 1024 + 1), base_path=BASE)


def _comparable(tokens: list[Token]) -> list[Token]:
    """Tokens up to what serialising changes on purpose (URL tokens become url("…"))."""
    out: list[Token] = []
    for t in tokens:
        if t.kind is Kind.URL:
            out += [
                Token(Kind.FUNCTION, "url"),
                Token(Kind.STRING, t.value),
                Token(Kind.CLOSE_PAREN),
            ]
        elif t.kind in (Kind.BAD_URL, Kind.BAD_STRING, Kind.CDO, Kind.CDC) or (
            t.kind is Kind.DELIM and t.value == "\\"
        ):
            continue
        elif t.kind is Kind.WHITESPACE:
            out.append(Token(Kind.WHITESPACE, " "))
        else:
            out.append(t)
    merged: list[Token] = []
    for t in out:  # dropping tokens can leave whitespace next to whitespace
        if t.kind is Kind.WHITESPACE and merged and merged[-1].kind is Kind.WHITESPACE:
            continue
        if t.kind is Kind.WHITESPACE and merged and merged[-1] == Token(Kind.DELIM, "<"):
            continue  # the serialiser writes "< " before "/" or "!" on purpose
        merged.append(t)
    return merged


def _url_function_without_string(tokens: list[Token]) -> bool:
    """The one shape serialize() documents it cannot write back (the filter never makes it)."""
    for i, t in enumerate(tokens):
        if t.kind is Kind.FUNCTION and t.value.lower() == "url":
            rest = [u for u in tokens[i + 1 :] if u.kind is not Kind.WHITESPACE]
            if not rest or rest[0].kind is not Kind.STRING:
                return True
    return False


CSS_ALPHABET = st.sampled_from(
    [
        *"abeEuUrlL0123456789-+._@#%!*/\\<>()[]{}:;,'\" \n\t\x00\ufffd\u00e9",
        *("url(", "/*", "*/", "\\75 ", "\\\n", "<!--", "-->", "</style", "1e3", "--x"),
    ]
)


@given(st.lists(CSS_ALPHABET, max_size=60).map("".join))
def test_serialising_tokens_gives_the_same_tokens_back(text: str) -> None:
    tokens = tokenize(text)
    assume(not _url_function_without_string(tokens))
    written = serialize(tokens)
    assert _comparable(tokenize(written)) == _comparable(tokens)
    assert "</" not in written and "<!--" not in written


@given(st.lists(CSS_ALPHABET, max_size=80).map("".join))
def test_arbitrary_css_filters_to_something_safe(text: str) -> None:
    out = filter_stylesheet(text, base_path=BASE)
    check_css(out)
    assert "</" not in out
    check_css(filter_style_attribute(text, base_path=BASE))


@given(st.text(max_size=300))
def test_arbitrary_text_never_raises(text: str) -> None:
    filter_stylesheet(text, base_path=BASE)
    filter_style_attribute(text, base_path=BASE)
