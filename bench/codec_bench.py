"""Micro-benchmark of the peer-message codec: µs per encode and per decode, by message type.

Run ``python -m bench.codec_bench``. It times the codec in the working tree and,
as a baseline measured in the same run, ``node/wire/codec.py`` as it was at
``--baseline`` (a git revision, loaded from ``git show`` into a throwaway
module: the old code lives only in git, and takes its imports from the
working tree). The default, db550fd, is the codec before its canonical
check and encoder stopped re-encoding whole maps. Each figure is the best of
``--repeat`` runs of ``--number`` calls, so a busy machine inflates the
figures less than it would a mean; the two codecs take turns run by run.

The messages are those of a relay forwarding 32 KiB blocks: ``DataFound`` and
``InsertData`` with a full CHK block, and the small ``DataRequest``,
``Insert``, ``InsertAccepted`` and ``InsertReply``. Encoding times a freshly
built message (a relay that decoded the very object sends remembered bytes,
which costs nothing).
"""

from __future__ import annotations

import argparse
import functools
import math
import subprocess
import sys
import timeit
import types
from collections.abc import Callable

from node.core import messages as m
from node.wire import codec as current

UID = 2**63 + 12345
KEY = bytes(range(32))
BLOCK = bytes(i % 251 for i in range(m.MAX_BLOCK_DATA))

MESSAGES: dict[str, Callable[[], object]] = {
    "DataFound (32 KiB)": lambda: m.DataFound(uid=UID, kind=1, routing_key=KEY, data=BLOCK),
    "DataFound + fold": lambda: m.DataFound(
        uid=UID,
        kind=1,
        routing_key=KEY,
        data=BLOCK,
        fold=m.FoldRef(ref=bytes(300), location=0.123456789),
    ),
    "InsertData (32 KiB)": lambda: m.InsertData(uid=UID, data=BLOCK),
    "DataRequest": lambda: m.DataRequest(uid=UID, kind=1, routing_key=KEY, htl=18),
    "Insert": lambda: m.Insert(uid=UID, kind=1, routing_key=KEY, htl=18, sinks=2),
    "InsertAccepted": lambda: m.InsertAccepted(uid=UID),
    "InsertReply": lambda: m.InsertReply(uid=UID),
}


def load_baseline(revision: str) -> types.ModuleType:
    """``node.wire.codec`` as it was at ``revision``, as a separate module."""
    source = subprocess.run(
        ["git", "show", f"{revision}:node/wire/codec.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    module = types.ModuleType("codec_baseline")
    module.__file__ = f"<{revision}:node/wire/codec.py>"
    sys.modules[module.__name__] = module  # dataclasses looks its module up
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module


def timings(
    modules: list[types.ModuleType], number: int, repeat: int
) -> list[dict[str, tuple[float, float]]]:
    """``{message: (encode µs, decode µs)}`` for each codec module.

    The modules take turns, run by run, so that a load that comes and goes on
    the machine weighs on each alike; each figure is the best run.
    """
    codecs = [module.Codec(m.MESSAGE_TYPES) for module in modules]
    figures: list[dict[str, tuple[float, float]]] = [{} for _ in modules]
    for name, build in MESSAGES.items():
        message = build()
        cases = []
        for codec in codecs:
            data = codec.encode(message)
            assert codec.decode(data) == message
            encode = timeit.Timer(functools.partial(codec.encode, message))
            decode = timeit.Timer(functools.partial(codec.decode, data))
            cases.append((encode, decode))
        best = [[math.inf, math.inf] for _ in codecs]
        for _ in range(repeat):
            for i, timers in enumerate(cases):
                for j, timer in enumerate(timers):
                    best[i][j] = min(best[i][j], timer.timeit(number) / number * 1e6)
        for i, (enc, dec) in enumerate(best):
            figures[i][name] = (enc, dec)
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--baseline", default="db550fd", help="git revision to compare with")
    parser.add_argument("--no-baseline", action="store_true", help="time the working tree only")
    parser.add_argument("--number", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args(argv)
    modules = [current] if args.no_baseline else [load_baseline(args.baseline), current]
    figures = timings(modules, args.number, args.repeat)
    print(f"µs per message (best of {args.repeat} x {args.number})")
    if args.no_baseline:
        print(f"{'message':22} {'encode':>8} {'decode':>8}")
        for name, (enc, dec) in figures[0].items():
            print(f"{name:22} {enc:8.2f} {dec:8.2f}")
        return
    before, after = figures
    print(f"{'message':22} {'encode':>18} {'decode':>18}   (baseline {args.baseline} -> now)")
    for name, (enc, dec) in after.items():
        old_enc, old_dec = before[name]
        print(f"{name:22} {old_enc:7.2f} -> {enc:6.2f}  {old_dec:7.2f} -> {dec:6.2f}")


if __name__ == "__main__":
    main()
