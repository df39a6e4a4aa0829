"""What every system's runner shares: files, timing, CPU accounting, processes, results."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MB = 1_000_000
MIB = 1024 * 1024
TICKS = os.sysconf("SC_CLK_TCK")


class Stall(Exception):
    """An operation did not finish within its timeout."""


@dataclass
class Measure:
    """One (system, operation, size): a duration and CPU seconds per repetition."""

    system: str
    operation: str
    size: int
    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    stalls: int = 0
    errors: list[str] = field(default_factory=list)
    note: str = ""


class Results:
    def __init__(self, system: str, path: Path) -> None:
        self.system = system
        self.path = path
        self.measures: dict[tuple[str, int], Measure] = {}
        self.notes: list[str] = []

    def get(self, operation: str, size: int) -> Measure:
        key = (operation, size)
        if key not in self.measures:
            self.measures[key] = Measure(self.system, operation, size)
        return self.measures[key]

    def save(self) -> None:
        data = {"measures": [asdict(m) for m in self.measures.values()], "notes": self.notes}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, self.path)


def ancestors() -> set[int]:
    """This process and its ancestors (whose command lines may name our directories)."""
    found = set()
    pid = os.getpid()
    while pid > 1:
        found.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat[stat.rindex(")") + 2 :].split()[1])
    return found


def proc_cpu(match: str) -> float:
    """utime+stime (s) of every living process whose command line mentions ``match``,
    and of their descendants (a node's worker processes do not name its directory)."""
    mine = ancestors()
    parent: dict[int, int] = {}
    ticks: dict[int, int] = {}
    matched: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in mine:
            continue
        pid = int(entry)
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        parent[pid] = int(fields[1])
        ticks[pid] = int(fields[11]) + int(fields[12])  # utime, stime
        if match.encode() in cmdline:
            matched.add(pid)
    total = 0
    for pid, value in ticks.items():
        seen = pid
        for _ in range(64):
            if seen in matched:
                total += value
                break
            seen = parent.get(seen, 0)
            if seen <= 1:
                break
    return total / TICKS


def own_cpu() -> float:
    """This process and its reaped children (client commands), utime+stime in s."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class CPUMeter:
    """CPU seconds spent by the system's processes (those naming ``match``) and by us."""

    def __init__(self, match: str) -> None:
        self.match = match

    def sample(self) -> float:
        return proc_cpu(self.match) + own_cpu()


def timed(meter: CPUMeter, measure: Measure, fn: Any, *args: Any) -> Any:
    """Run ``fn(*args)``; record its wall time and CPU in ``measure`` (a stall as such)."""
    cpu0 = meter.sample()
    t0 = time.perf_counter()
    try:
        result = fn(*args)
    except Stall:
        measure.stalls += 1
        print(f"  {measure.operation} {measure.size // MIB} MiB: STALL", flush=True)
        raise
    except Exception as exc:
        measure.errors.append(f"{type(exc).__name__}: {exc}"[:300])
        print(f"  {measure.operation} {measure.size // MIB} MiB: ERROR {exc}", flush=True)
        raise
    elapsed = time.perf_counter() - t0
    cpu = meter.sample() - cpu0
    measure.seconds.append(elapsed)
    measure.cpu.append(cpu)
    print(
        f"  {measure.operation} {measure.size // MIB} MiB: {measure.size / MB / elapsed:8.2f} MB/s"
        f" ({elapsed:.2f} s, CPU {cpu:.1f} s)",
        flush=True,
    )
    return result


def run(args: list[str], timeout: float, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a client command to completion; a timeout is a :class:`Stall`."""
    try:
        proc = subprocess.run(
            args, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
        )
    except subprocess.TimeoutExpired:
        raise Stall(" ".join(args[:2])) from None
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:3])} exited {proc.returncode}: {proc.stderr[-500:]}")
    return proc


class Processes:
    """Background processes we started, stopped by PID (SIGTERM, then SIGKILL)."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], log: Path, **kwargs: Any) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **kwargs
            )
        self.procs.append(proc)
        return proc

    def stop_all(self, grace: float = 10.0) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()


def kill_matching(match: str, grace: float = 5.0) -> list[int]:
    """SIGTERM (then SIGKILL) each process whose command line names ``match``, by PID.

    ``match`` is a work directory of ours: only processes we started name it.
    """
    mine = ancestors()

    def pids() -> list[int]:
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) not in mine:
                with contextlib.suppress(OSError):
                    if match.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                        found.append(int(entry))
        return found

    victims = pids()
    for pid in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and pids():
        time.sleep(0.2)
    for pid in pids():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return victims


def exit_on_signals() -> None:
    """SIGTERM and SIGINT (ignored by a shell's background jobs) raise SystemExit, so
    ``finally`` blocks and context managers stop what we started."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def load_files(path: Path) -> list[tuple[int, int, Path]]:
    """(size, repetition, path) of the random files, from the orchestrator's list."""
    return [(f["size"], f["rep"], Path(f["path"])) for f in json.loads(path.read_text())]


def runner_args(description: str) -> argparse.ArgumentParser:
    exit_on_signals()
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--files", type=Path, required=True)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--out", type=Path, required=True)
    return parser


def same_bytes(path: Path, data: bytes) -> bool:
    return path.stat().st_size == len(data) and path.read_bytes() == data
