"""What to tell a user when a fetch or an insert fails: why, in plain words, and what to try.

The node's FCP codes are Freenet's numbers (``node/fcp/codes.py``); only the
ones a user can act on get advice, the rest fall back to the node's own text.
"""

from __future__ import annotations

GET_ADVICE: dict[int, str] = {
    13: "No node on the path had it. Check the key; if it was inserted just now, "
    "wait a minute and retry — or ask the author to insert it again.",
    14: "The request found no route: this node has too few peers. Add friends on the "
    "Peers screen (7) or wait for connections, then retry.",
    15: "Peers are overloaded and refused the request. Retry in a minute.",
    18: "A transfer from a peer broke off. Retry.",
    20: "That is not a key Samizdat can fetch. Paste the whole key, e.g. CHK@…, SSK@…/name, "
    "USK@…/site/3 or KSK@word.",
    21: "The file is bigger than the limit set for this fetch.",
    25: "The request was cancelled.",
    28: "Parts of the file could not be found. Retry later; if it keeps failing the "
    "file has fallen out of the network and must be inserted again.",
    30: "This key failed moments ago; the node waits before asking the network again. "
    "Retry in a minute.",
}

PUT_ADVICE: dict[int, str] = {
    1: "The key to insert under is not valid: for SSK and USK use an insert key "
    "(from the Keys screen), for KSK a word.",
    4: "Peers are overloaded. Retry in a minute.",
    5: "The insert found no route: this node has too few peers. Add friends on the "
    "Peers screen (7), then retry.",
    8: "The insert found no route: this node has too few peers. Add friends on the "
    "Peers screen (7), then retry.",
    9: "Something different is already stored under this key. SSK and KSK keys hold "
    "one version: choose another name, or publish to a USK site for updates.",
    10: "The insert was cancelled.",
    14: "The data is too big for this kind of key.",
}


def explain(kind: str, code: int | None, text: str | None) -> str:
    """``kind`` is ``get`` or ``put``; returns the reason and, when known, what to try."""
    table = GET_ADVICE if kind == "get" else PUT_ADVICE
    reason = text or "the node gave no reason"
    advice = table.get(code) if code is not None else None
    return f"{reason}. {advice}" if advice else reason
