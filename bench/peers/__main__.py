"""``python -m bench.peers``: Samizdat, GNUnet and Tahoe-LAFS side by side, in one run.

As root: installs what is missing, makes the random files (one per size and
repetition, the same for every system), runs each system's runner
(``bench.peers.samizdat``, ``.tahoe``, ``.gnunet``) inside its own network
namespace with only ``lo`` up, kills by PID whatever of ours is left, prints
one table and writes it as Markdown and a PNG bar chart to ``WORK/output`` and
``bench/out/``, then removes the work directory (unless ``--keep``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.peers.common import MB, MIB, exit_on_signals, kill_matching

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench" / "out"
CACHE = OUT / "cache"
SYSTEMS = ("samizdat", "tahoe", "gnunet")
PUTS = ("publish", "put (web)", "put (cli)")
GETS = ("download a0", "download a1", "get (web)", "get (cli)")


def sh(args: list[str], **kwargs: object) -> None:
    print("$ " + " ".join(args), flush=True)
    subprocess.run(args, check=True, **kwargs)  # type: ignore[call-overload]


def install(systems: list[str], work: Path, tahoe_venv: Path | None) -> Path | None:
    if "gnunet" in systems and shutil.which("gnunet-arm") is None:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        sh(["apt-get", "update", "-q"], env=env)
        sh(["apt-get", "install", "-y", "-q", "gnunet"], env=env)
    if "tahoe" not in systems:
        return None
    venv = tahoe_venv or work / "tahoe-venv"
    tahoe = venv / "bin" / "tahoe"
    if not tahoe.exists():
        base = getattr(sys, "_base_executable", sys.executable)
        sh([base, "-m", "venv", str(venv)])
        sh([str(venv / "bin" / "pip"), "install", "-q", "tahoe-lafs"])
    return tahoe


def make_files(work: Path, sizes: list[int], repeats: int) -> Path:
    files = work / "files"
    files.mkdir(parents=True, exist_ok=True)
    listing = []
    for size in sizes:
        for rep in range(repeats):
            path = files / f"{size}MiB-{rep}.bin"
            with path.open("wb") as f:
                for _ in range(size):
                    f.write(os.urandom(MIB))
            listing.append({"size": size * MIB, "rep": rep, "path": str(path)})
    spec = work / "files.json"
    spec.write_text(json.dumps(listing))
    return spec


def run_system(name: str, work: Path, spec: Path, args: argparse.Namespace, extra: list[str]):
    """The system's runner in a fresh network namespace (only ``lo`` up); its results."""
    home = work / name
    shutil.rmtree(home, ignore_errors=True)  # a kept work directory's last run
    home.mkdir(parents=True)
    out = home / "results.json"
    runner = [
        sys.executable, "-m", f"bench.peers.{name}", "--work", str(home),
        "--files", str(spec), "--timeout", str(args.timeout), "--out", str(out), *extra,
    ]  # fmt: skip
    command = ["unshare", "-n", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *runner]
    operations = len(json.loads(spec.read_text())) * 4
    budget = args.timeout * operations + 900
    print(f"== {name} (network namespace; log {home / 'runner.log'})", flush=True)
    t0 = time.monotonic()
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    with (home / "runner.log").open("wb") as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)  # fmt: skip
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            sys.stdout.write(line.decode(errors="replace"))
            sys.stdout.flush()
            if time.monotonic() - t0 > budget:
                proc.kill()
        code = proc.wait()
    left = kill_matching(str(home))
    if left:
        print(f"   killed {len(left)} leftover processes of {name}: {left}", flush=True)
    if code != 0:
        print(f"   {name} runner exited with code {code}", flush=True)
    if not out.exists():
        return [], [f"{name}: no results (runner exit code {code}; see runner.log)"]
    data = json.loads(out.read_text())
    notes = data["notes"] + ([f"{name}: runner exit code {code}"] if code else [])
    return data["measures"], notes


def rate(m: dict) -> list[float]:
    return [m["size"] / MB / s for s in m["seconds"]]


def median_rate(m: dict) -> float | None:
    rates = rate(m)
    return statistics.median(rates) if rates else None


def table(measures: list[dict]) -> tuple[str, list[str]]:
    ours = {
        (m["operation"], m["size"]): median_rate(m) for m in measures if m["system"] == "Samizdat"
    }
    head = (
        "| system | operation | size | median MB/s | min–max MB/s | CPU s (median) "
        "| ok / stalls / errors | Samizdat / peer |"
    )
    lines = [head, "|" + "---|" * 8]
    for m in measures:
        rates = rate(m)
        med = median_rate(m)
        ratio = ""
        ref = "insert" if m["operation"] in PUTS else "fetch" if m["operation"] in GETS else None
        if ref and med and ours.get((ref, m["size"])):
            ratio = f"{ours[(ref, m['size'])] / med:.2f}× ({ref})"
        lines.append(
            f"| {m['system']} | {m['operation']} | {m['size'] // MIB} MiB | "
            + (f"{med:.2f}" if med else "—")
            + " | "
            + (f"{min(rates):.2f}–{max(rates):.2f}" if rates else "—")
            + " | "
            + (f"{statistics.median(m['cpu']):.1f}" if m["cpu"] else "—")
            + f" | {len(rates)} / {m['stalls']} / {len(m['errors'])} | {ratio or '—'} |"
        )
    return "\n".join(lines), targets(measures)


def targets(measures: list[dict]) -> list[str]:
    if not measures:
        return ["- nothing was measured"]
    size = max(m["size"] for m in measures)
    at = {(m["system"], m["operation"]): median_rate(m) for m in measures if m["size"] == size}
    fetch, insert = at.get(("Samizdat", "fetch")), at.get(("Samizdat", "insert"))
    checks = [
        ("fetch", "GNUnet", "download a0", 10.0),
        ("fetch", "Tahoe-LAFS", "get (web)", 1.0),
        ("fetch", "Tahoe-LAFS", "get (cli)", 1.0),
        ("insert", "Tahoe-LAFS", "put (web)", 1.0),
        ("insert", "Tahoe-LAFS", "put (cli)", 1.0),
    ]
    out = []
    for ours, system, op, want in checks:
        mine = fetch if ours == "fetch" else insert
        theirs = at.get((system, op))
        if mine and theirs:
            got = mine / theirs
            verdict = "met" if got >= want else "NOT met"
            out.append(
                f"- {size // MIB} MiB: Samizdat {ours} / {system} {op} = {got:.2f}× "
                f"(target ≥ {want:g}×): {verdict}"
            )
        else:
            out.append(f"- {size // MIB} MiB: Samizdat {ours} vs {system} {op}: not measured")
    return out


def chart(measures: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted({m["size"] for m in measures})
    if not sizes:
        return
    fig, axes = plt.subplots(len(sizes), 1, figsize=(9, 2.2 + 0.35 * len(measures)), squeeze=False)
    colours = {"Samizdat": "tab:red", "GNUnet": "tab:blue", "Tahoe-LAFS": "tab:green"}
    for ax, size in zip(axes[:, 0], sizes, strict=True):
        rows = [m for m in measures if m["size"] == size]
        labels = [f"{m['system']} {m['operation']}" for m in rows]
        values = [median_rate(m) or 0.0 for m in rows]
        ax.barh(labels, values, color=[colours.get(m["system"], "grey") for m in rows])
        for y, m in enumerate(rows):
            rates = rate(m)
            if rates:
                ax.plot([min(rates), max(rates)], [y, y], color="black", linewidth=1)
            if m["stalls"] and not rates:
                ax.text(0, y, " stalled", va="center")
        ax.invert_yaxis()
        ax.set_title(f"{size // MIB} MiB", fontsize=10)
        ax.set_xlabel("MB/s (median; line = min–max)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1,16,64", help="MiB, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per operation")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--work", type=Path, default=None, help="work directory (default: new)")
    parser.add_argument("--tahoe-venv", type=Path, default=None, help="reuse this Tahoe venv")
    args = parser.parse_args()
    exit_on_signals()
    if os.geteuid() != 0:
        print("bench.peers: run as root (apt-get, unshare -n)", file=sys.stderr)
        return 2
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = set(systems) - set(SYSTEMS)
    if unknown:
        parser.error(f"unknown systems {sorted(unknown)}")
    sizes = [int(s) for s in args.sizes.split(",")]
    work = args.work or Path(tempfile.mkdtemp(prefix="samizdat-peers-", dir="/var/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    work = work.resolve()
    load0 = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"work directory {work}; load average {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}")
    measures: list[dict] = []
    notes: list[str] = []
    try:
        tahoe = install(systems, work, args.tahoe_venv)
        spec = make_files(work, sizes, args.repeats)
        for name in systems:
            extra: list[str] = []
            if name == "tahoe":
                extra = ["--tahoe", str(tahoe)]
            elif name == "gnunet":
                extra = ["--cache", str(CACHE / "gnunet")]
            got, more = run_system(name, work, spec, args, extra)
            measures += got
            notes += more
        load1 = os.getloadavg()
        text, checks = table(measures)
        header = (
            f"Run {started}, sizes {args.sizes} MiB, {args.repeats} repetitions, "
            f"timeout {args.timeout:g} s per operation; {os.cpu_count()} cores; load average "
            f"{load0[0]:.2f} at the start, {load1[0]:.2f} at the end (1 min)."
        )
        print()
        print(header)
        print(text)
        print("\n".join(checks))
        for note in notes:
            print("  " + note)
        output = work / "output"
        output.mkdir(exist_ok=True)
        md = "\n\n".join([
            "# Samizdat beside GNUnet and Tahoe-LAFS", header, text,
            "Targets:\n" + "\n".join(checks),
            "Notes:\n" + "\n".join(f"- {n}" for n in notes),
            "CPU s: utime+stime of the system's processes (every process whose command line "
            "names its work directory) and of the client (the runner and its commands), per "
            "operation, sampled while they run.",
        ])  # fmt: skip
        (output / "peers.md").write_text(md + "\n")
        (output / "peers.json").write_text(json.dumps({"measures": measures, "notes": notes}))
        try:
            title = (
                f"Samizdat beside Tahoe-LAFS and GNUnet on 127.0.0.1, {started}; "
                f"load average {load0[0]:.1f}–{load1[0]:.1f} on {os.cpu_count()} cores"
            )
            chart(measures, output / "peers.png", title)
        except Exception as exc:  # the table matters more than the picture
            print(f"no chart: {exc}")
        OUT.mkdir(parents=True, exist_ok=True)
        for f in output.iterdir():
            shutil.copy2(f, OUT / f.name)
        print(f"written: {OUT / 'peers.md'}, {OUT / 'peers.png'}")
    finally:
        kill_matching(str(work))
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
