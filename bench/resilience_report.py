"""The resilience report: fuzz soak, hostile/churn/crash scenarios and adversary figures.

Usage::

    .venv/bin/python -m bench.resilience_report            # --quick: a few minutes
    .venv/bin/python -m bench.resilience_report --soak     # 10,000 nodes, 100,000 inputs
    .venv/bin/python -m bench.resilience_report --no-fuzz --no-scenarios --nodes 10000 \
        --requests 20000 --seeds 3                         # adversary figures only, with CIs
    .venv/bin/python -m bench.resilience_report --adversary-json bench/out/adversary_10k.json

Writes Markdown (default ``bench/out/resilience.md``) with PNG plots beside it.
Parts that are not available (``bench/fuzz_soak.py``, ``bench/resilience/
scenarios.py``) are reported as "not run". Prints figures; never pass/fail.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from bench.resilience import adversary, store_probe

ROOT = Path(__file__).resolve().parent.parent

QUICK = {"nodes": 2000, "requests": 10_000, "stored": 2000, "fuzz_inputs": 2000}
SOAK = {"nodes": 10_000, "requests": 20_000, "stored": 10_000, "fuzz_inputs": 100_000}


# --- the parts ------------------------------------------------------------------------


def fuzz(inputs: int, out: Path) -> str:
    if not (ROOT / "bench" / "fuzz_soak.py").exists():
        return "not run: bench/fuzz_soak.py is absent"
    cmd = [sys.executable, "-m", "bench.fuzz_soak", "--inputs", str(inputs), "--progress", "0"]
    cmd += ["--crashes", str(out / "fuzz-crashes")]
    t = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    text = (done.stdout + done.stderr).strip()
    took = time.perf_counter() - t
    return f"`{' '.join(cmd[1:])}` (exit {done.returncode}, {took:.0f} s)\n\n```\n{text}\n```"


def scenarios(soak: bool) -> list[str]:
    try:
        mod = importlib.import_module("bench.resilience.scenarios")
    except Exception as exc:  # a colleague's module; absent or broken means "not run"
        return [f"not run: bench.resilience.scenarios is not importable ({exc})"]
    plan: list[tuple[str, dict[str, Any]]] = (
        [
            ("hostile", {}),
            ("churn", {"size": 64 * 2**20}),
            ("crash", {"kills": 50}),
            ("full_disk", {}),
            ("store_limit", {}),
        ]
        if soak
        else [
            # The hostile default (6 files, 3 fetchers each) alone took 342 s on 2 cores.
            ("hostile", {"files": 3, "fetchers_per_file": 2}),
            ("churn", {"size": 4 * 2**20}),
            ("crash", {"kills": 3}),
        ]
    )
    lines = []
    for name, kwargs in plan:
        fn = getattr(mod, name, None)
        if fn is None:
            lines.append(f"{name}: not run (no such scenario)")
            continue
        with tempfile.TemporaryDirectory(prefix=f"samizdat-{name}-") as tmp:

            async def go(fn: Any = fn, tmp: str = tmp, kwargs: dict[str, Any] = kwargs) -> Any:
                return await fn(Path(tmp), **kwargs)

            try:
                result = anyio.run(go)
                lines.append(result.summary() if hasattr(result, "summary") else repr(result))
            except Exception as exc:  # report and go on with the next scenario
                lines.append(f"{name}: failed to run: {type(exc).__name__}: {exc}")
    return lines


# --- plots -------------------------------------------------------------------------------


def plots(adv: dict[str, Any], out: Path, stem: str) -> list[str]:
    """PNGs named ``<stem>_<what>.png`` beside the report; returns their names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rules = [r for r in adversary.HTL_RULES if r in adv]
    names = []

    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.8 / len(adversary.CLASSIFIERS)
    for k, cls in enumerate(adversary.CLASSIFIERS):
        ys = [_nan0(adv[r]["inference"].get(cls, {}).get("precision", 0.0)) for r in rules]
        cis = [adv[r]["inference"].get(cls, {}).get("ci_bootstrap") for r in rules]
        err = [
            [max(0.0, y - _nan0(c[0])) if c else 0.0 for y, c in zip(ys, cis, strict=True)],
            [max(0.0, _nan0(c[1]) - y) if c else 0.0 for y, c in zip(ys, cis, strict=True)],
        ]
        xs = [x + k * width for x in range(len(rules))]
        ax.bar(xs, ys, width, yerr=err, capsize=2, label=cls)
    ax.axhline(0.5, color="grey", linestyle="--", linewidth=1, label="target ≤ 0.5")
    mid = width * (len(adversary.CLASSIFIERS) - 1) / 2
    ax.set_xticks([x + mid for x in range(len(rules))], [_rule(r, "\n") for r in rules])
    ax.set_ylabel("precision of 'my peer originated this'")
    ax.set_ylim(0, 1.3)
    ax.set_title(f"Originator inference by a neighbour ({adv['nodes']} nodes)")
    ax.legend(fontsize=8, ncol=3, loc="upper center")
    names.append(_save(fig, out / f"{stem}_inference.png"))

    fig, ax = plt.subplots(figsize=(7, 4))
    for r in rules:
        rows = adv[r]["collusion"]
        xs = [row["percent"] for row in rows]
        ax.plot(xs, [row["held_max"]["singled_out"] for row in rows], "o-", label=f"{r}: held_max")
        ax.plot(xs, [row["bayes"]["singled_out"] for row in rows], "s--", label=f"{r}: bayes")
    ax.set_xlabel("% of nodes colluding")
    ax.set_ylabel("requests whose originator is named")
    ax.set_title("Colluding nodes")
    ax.legend(fontsize=8)
    names.append(_save(fig, out / f"{stem}_collusion.png"))

    if "censorship" in adv:
        fig, ax = plt.subplots(figsize=(7, 4))
        c = adv["censorship"]
        pop = [row["retrievable"] for row in c["popular"]["keys"]]
        cold = [row["retrievable"] for row in c["unpopular"]["keys"]]
        ax.bar(range(len(pop)), pop, label="popular keys")
        ax.bar(range(len(pop), len(pop) + len(cold)), cold, label="never-requested keys")
        ax.axhline(0.9, color="grey", linestyle="--", linewidth=1, label="target ≥ 0.9 (popular)")
        ax.set_ylabel("fetches that succeed after the attack")
        ax.set_xlabel("key")
        ax.set_title(f"Removing the {adversary.TARGETED} nodes nearest a key")
        ax.legend(fontsize=8)
        names.append(_save(fig, out / f"{stem}_censorship.png"))
    return names


def _save(fig: Any, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path.name


def _nan0(x: float) -> float:
    return 0.0 if isinstance(x, float) and math.isnan(x) else x


def _rule(r: str, sep: str = " ") -> str:
    h = adversary.HTL_RULES[r]
    return f"{r}{sep}(p_max={h['p_decrement_at_max']}, p_one={h['p_decrement_at_one']})"


# --- Markdown --------------------------------------------------------------------------


def _pct(x: float) -> str:
    return "–" if isinstance(x, float) and math.isnan(x) else f"{100 * x:.1f} %"


def _pci(s: dict[str, Any]) -> str:
    """Precision with its request-bootstrap 95 % interval."""
    if s.get("flagged") == 0:
        return "flags none"
    ci = s.get("ci_bootstrap")
    if not ci or any(isinstance(x, float) and math.isnan(x) for x in ci):
        return _pct(s["precision"])
    return f"{_pct(s['precision'])} [{100 * ci[0]:.1f}–{100 * ci[1]:.1f}]"


def adversary_md(adv: dict[str, Any]) -> list[str]:
    rules = [r for r in adversary.HTL_RULES if r in adv]
    md = [
        f"Simulator, opennet of {adv['nodes']} nodes, {adv['requests']} measured Zipf requests "
        f"per rule set (seed {adv['seed']}); see `bench/resilience/adversary.py` for the "
        "classifiers and what each node is allowed to see.",
        "",
        "### Originator inference by a neighbour",
        "",
        "| HTL rules | requests found | messages per request | sightings | base rate | "
        "relays at max that answered (f) | "
        + " | ".join(f"{c} P [95 % CI] / R" for c in adversary.CLASSIFIERS)
        + " |",
        "|---|---|---|---|---|---|" + "---|" * len(adversary.CLASSIFIERS),
    ]
    for r in rules:
        inf = adv[r]["inference"]
        cells = [
            f"{_pci(inf[c])} / {_pct(inf[c]['recall'])}" if c in inf else "–"
            for c in adversary.CLASSIFIERS
        ]
        cut = inf.get("chain_cut", {}).get("f", math.nan)
        md.append(
            f"| {_rule(r)} | {_pct(adv[r]['success_rate'])} | "
            f"{adv[r].get('messages_per_request', '–')} | {inf['sightings']} | "
            f"{_pct(inf['base_rate'])} | {_pct(cut)} | " + " | ".join(cells) + " |"
        )
    md += [
        "",
        "P = precision (of the sightings flagged 'originator', the share that were), R = recall; "
        "[95 % CI] = bootstrap over the test requests; "
        "base rate = share of sightings whose sender is the originator (a guess's floor). "
        "bayes uses the peer's distance to the key and whether it has room for more peers; "
        "bayes_no_key and bayes_no_room are the same table without one of them. "
        "f = share of relays that received a request at max HTL and answered it from their "
        "store instead of passing it on; the held_max rule's precision is 1 − (1 − p)(1 − f) "
        "(½ + f/2 at p = ½).",
        "",
    ]
    if "pooled" in adv:
        md += pooled_md(adv["pooled"])
    md += [
        "### Colluding nodes",
        "",
        "| HTL rules | colluders | requests seen | named right (held_max) | precision | "
        "named right (bayes) | precision |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rules:
        for row in adv[r]["collusion"]:
            md.append(
                f"| {r} | {row['percent']} % | {_pct(row['seen'])} | "
                f"{_pct(row['held_max']['singled_out'])} | {_pct(row['held_max']['precision'])} | "
                f"{_pct(row['bayes']['singled_out'])} | {_pct(row['bayes']['precision'])} |"
            )
    if "censorship" in adv:
        c = adv["censorship"]
        md += [
            "",
            f"### Censorship: the {adversary.TARGETED} nodes nearest a key removed (default rules)",
            "",
            "| key | requests before | copies before | copies after | fetches that succeed |",
            "|---|---|---|---|---|",
        ]
        for label in ("popular", "unpopular"):
            for row in c[label]["keys"]:
                md.append(
                    f"| {label} | {row['requested']} | {row['copies_before']} | "
                    f"{row['copies_after']} | {_pct(row['retrievable'])} |"
                )
        md += [
            "",
            f"Mean: popular {_pct(c['popular']['retrievable_mean'])}, "
            f"never requested {_pct(c['unpopular']['retrievable_mean'])}.",
        ]
    return md


POOLED_COLUMNS = (*adversary.CLASSIFIERS, "bayes_cross", *adversary.DIAGNOSTICS)


def pooled_md(pooled: dict[str, Any]) -> list[str]:
    """Default rules over several networks: the verdict on 'no better than ½'."""
    first = next(iter(pooled.values()))
    seeds = [s["seed"] for s in first["per_seed"]]
    md = [
        f"#### Default rules, pooled over {len(seeds)} networks (seeds {seeds})",
        "",
        "| core | messages per request | f | "
        + " | ".join(f"{c} P [95 % CI]" for c in POOLED_COLUMNS)
        + " |",
        "|---|---|---|" + "---|" * len(POOLED_COLUMNS),
    ]
    for variant, res in pooled.items():
        per = res["per_seed"]
        mpr = sum(s["messages_per_request"] for s in per) / len(per)
        got = sum(s["chain_cut"]["relays_at_max"] for s in per)
        cut = sum(s["chain_cut"]["answered_at_max"] for s in per)
        cells = [_pci(res["pooled"][c]) if c in res["pooled"] else "–" for c in POOLED_COLUMNS]
        md.append(
            f"| {variant} | {mpr:.2f} | {_pct(cut / got if got else math.nan)} | "
            + " | ".join(cells)
            + " |"
        )
    md += [
        "",
        "[95 % CI]: bootstrap over requests within each network. bayes_cross: tables trained "
        "on another network (no overfitting to the test network). bayes_degree is given the "
        "peer's exact degree, which no opennet message reveals: an upper bound, not a "
        "classifier a neighbour has. 'relays at max answer': the core before "
        "`Config.answer_at_max` became False, in which a relay still holding the maximum HTL "
        "answered from its store instead of forwarding; 'hold by degree' "
        "(`adversary.hold_by_degree`): a link keeps max HTL with probability "
        "min(1, ½ · max_peers / the receiver's degree) instead of ½.",
        "",
    ]
    return md


def store_md(probe: dict[str, Any]) -> list[str]:
    return [
        f"A real `BlockStore` of {probe['stored_blocks']} blocks ({probe['file_mib']} MiB), "
        f"{probe['candidates']} candidate routing keys of which {probe['candidates_stored']} "
        "are stored:",
        "",
        f"- open (with quick_check): {probe['open_seconds']} s; `contains`: "
        f"{probe['contains_us_per_probe']} µs per probe; `get` (unseals hits): "
        f"{probe['get_us_per_probe']} µs per probe; all candidates: "
        f"{probe['all_candidates_seconds']} s; found {probe['found_by_contains']} of "
        f"{probe['candidates_stored']}.",
        "- Confirming candidates is cheap: the store's deniability is against *listing* "
        "(without a candidate key the file names no key and holds no readable block: "
        "`tests/store/test_deniability.py`), not against an operator who already has the keys.",
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="resilience_report", description=__doc__.split("\n")[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="a few minutes (the default)")
    mode.add_argument(
        "--soak", action="store_true", help="full sizes: 10,000 nodes, 100,000 inputs"
    )
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "resilience.md")
    ap.add_argument("--nodes", type=int, help="simulated nodes (overrides the mode)")
    ap.add_argument("--requests", type=int, help="measured requests per rule set")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--seeds",
        type=int,
        help="networks to pool the default rules over, with confidence intervals "
        "(default: 3 with --soak, else 1 = no pooled table)",
    )
    ap.add_argument("--adversary-json", type=Path, help="reuse adversary figures saved earlier")
    ap.add_argument("--no-fuzz", action="store_true")
    ap.add_argument("--no-scenarios", action="store_true")
    args = ap.parse_args(argv)
    size = dict(SOAK if args.soak else QUICK)
    if args.nodes:
        size["nodes"] = args.nodes
    if args.requests:
        size["requests"] = args.requests
    out_dir = args.out.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    if args.adversary_json:
        adv = json.loads(args.adversary_json.read_text())
    else:
        seeds = args.seeds if args.seeds else (3 if args.soak else 1)
        adv = adversary.measure(size["nodes"], size["requests"], args.seed, seeds)
        (out_dir / f"adversary_{size['nodes']}.json").write_text(json.dumps(adv, indent=1))
    print(json.dumps({k: adv[k] for k in adversary.HTL_RULES if k in adv}), flush=True)
    probe = store_probe.measure(size["stored"])
    print(json.dumps(probe), flush=True)
    pngs = plots(adv, out_dir, args.out.stem)
    fuzz_text = "not run (--no-fuzz)" if args.no_fuzz else fuzz(size["fuzz_inputs"], out_dir)
    scen = ["not run (--no-scenarios)"] if args.no_scenarios else scenarios(args.soak)

    md = [
        "# Samizdat resilience report",
        "",
        f"Mode: {'soak' if args.soak else 'quick'}; command: "
        f"`python -m bench.resilience_report {' '.join(sys.argv[1:] if argv is None else argv)}`",
        "",
        "## Bad input: fuzz soak",
        "",
        fuzz_text,
        "",
        "## Hostile peers, churn, crashes (real processes on 127.0.0.1)",
        "",
        *[f"- {line}" for line in scen],
        "",
        "## What an adversary learns",
        "",
        *adversary_md(adv),
        "",
        "### Store deniability",
        "",
        *store_md(probe),
        "",
        "## Plots",
        "",
        *[f"![{p}]({p})" for p in pngs],
        "",
        f"Total time {time.perf_counter() - started:.0f} s.",
        "",
    ]
    args.out.write_text("\n".join(md))
    print(f"wrote {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
