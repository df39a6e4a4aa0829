"""The gateway's own HTML: one layout and the pages built on it.

Plain, accessible HTML with no script: a ``<nav>``, one ``<main>``, labelled
form fields, tables with header cells, and the gateway's stylesheet
(``/static/gateway.css``) for looks. Every value shown is escaped here with
:func:`esc`; callers pass text, never markup, except where a parameter is
named ``*_html`` and is built by this module.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from urllib.parse import quote

from node.gateway.security import CSRF_FIELD

NAV = (("/", "Home"), ("/queue", "Transfers"), ("/insert", "Insert"), ("/peers", "Peers"),
       ("/status", "Status"))  # fmt: skip


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def href(path: str) -> str:
    """A gateway path made safe for an attribute (keys are already URL-safe)."""
    return esc(quote(path, safe="/@,~-._!$&'()*+;=:?%"))


def layout(title: str, body_html: str, *, refresh: int | None = None, here: str = "") -> str:
    meta = f'<meta http-equiv="refresh" content="{int(refresh)}">' if refresh else ""
    nav = "".join(
        f'<li><a href="{path}"{" aria-current=page" if path == here else ""}>{name}</a></li>'
        for path, name in NAV
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"{meta}<title>{esc(title)} · Samizdat</title>"
        '<link rel="stylesheet" href="/static/gateway.css"></head>'
        f'<body><header><a class="brand" href="/">Samizdat</a>'
        f'<nav aria-label="Gateway"><ul>{nav}</ul></nav></header>'
        f"<main><h1>{esc(title)}</h1>{body_html}</main></body></html>\n"
    )


def csrf_input(token: str) -> str:
    return f'<input type="hidden" name="{CSRF_FIELD}" value="{esc(token)}">'


def fetch_form(value: str = "") -> str:
    return (
        '<form class="fetch" action="/fetch" method="get" role="search">'
        '<label for="key">Key to open</label>'
        f'<input id="key" name="key" type="text" size="60" value="{esc(value)}" '
        'placeholder="CHK@…, SSK@…/name, USK@…/site/0, KSK@…" required>'
        "<button>Open</button></form>"
    )


def message_page(title: str, text: str, *, extra_html: str = "") -> str:
    return layout(title, f"<p>{esc(text)}</p>{extra_html}")


def error_page(title: str, reason: str, *, key: str | None = None, retry: str | None = None) -> str:
    parts = [f'<p class="reason">{esc(reason)}</p>']
    if key:
        parts.append(f"<p>Key: <code>{esc(key)}</code></p>")
    if retry:
        parts.append(f'<p><a href="{href(retry)}">Try again</a></p>')
    parts.append(fetch_form())
    return layout(title, "".join(parts))


def progress_page(key: str, *, fraction: float, known: bool, detail: str, refresh: int) -> str:
    percent = int(fraction * 100)
    bar = (
        f'<progress max="100" value="{percent}" aria-label="Fetched">{percent}%</progress>'
        if known
        else '<progress aria-label="Fetched">looking for the key</progress>'
    )
    body = (
        f"<p>Fetching <code>{esc(key)}</code> from the network.</p>{bar}"
        f"<p>{esc(detail)}</p>"
        f"<p>This page reloads itself every {refresh} seconds until the data is here; "
        "you can also leave and come back: the fetch goes on.</p>"
        '<p><a href="/queue">All transfers</a></p>'
    )
    return layout("Fetching…", body, refresh=refresh)


def download_warning(
    *, key: str, claimed: str, size: int | None, reason: str, download: str
) -> str:
    size_text = "unknown size" if size is None else human_size(size)
    body = (
        f"<p>The file at <code>{esc(key)}</code> is <strong>{esc(claimed)}</strong> "
        f"({esc(size_text)}).</p>"
        f'<p class="reason">The gateway will not show it in the browser: {esc(reason)}.</p>'
        '<div class="warning"><p>A file the filter cannot check may contact the outside '
        "world when opened — a document that loads a picture from a web server, a media "
        "playlist, a program — and that would tell the server's owner your IP address "
        "and that you read this. Open it only with software you trust to stay offline, "
        "or on a computer that is not connected.</p></div>"
        f'<p><a class="button" href="{href(download)}" download>Save the file</a></p>'
    )
    return layout("Download warning", body)


def filter_off_warning(*, key: str, path: str, back: str, token: str) -> str:
    body = (
        '<div class="warning"><p><strong>You asked to see this page unfiltered.</strong></p>'
        "<p>The content filter removes everything in a page that could make your browser "
        "contact a server outside this gateway: scripts, pictures and styles from web "
        "sites, fonts, frames, forms that post elsewhere, automatic redirects. Without it "
        "the page's author can learn your IP address, that you read this page and when, "
        "and can run script in the gateway's origin. The gateway's security policy still "
        "blocks most outside loads, but it is a second line of defence, not a filter.</p>"
        "</div>"
        f"<p>Key: <code>{esc(key)}</code></p>"
        f'<p><a href="{href(back)}">Back to the filtered page</a></p>'
        f'<form method="post" action="/unfiltered">{csrf_input(token)}'
        f'<input type="hidden" name="path" value="{esc(path)}">'
        "<button>Show it unfiltered anyway</button></form>"
    )
    return layout("Unfiltered content", body)


def external_link_page(address: str) -> str:
    body = (
        "<p>The page links to an address outside the network. Following it would leave "
        "the anonymity of the network: the site would see your IP address.</p>"
        '<label for="address">Address (copy it if you want to open it elsewhere)</label>'
        f'<textarea id="address" readonly rows="3" cols="80">{esc(address)}</textarea>'
        "<p>The gateway never opens such links for you.</p>"
    )
    return layout("Link to the outside world", body)


def human_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


def table(headers: Iterable[str], rows: Iterable[Iterable[str]], *, caption: str) -> str:
    """A table; cells are HTML built by the caller with :func:`esc`."""
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><caption>{esc(caption)}</caption><thead><tr>{head}</tr></thead>" + (
        f"<tbody>{body}</tbody></table>"
    )
