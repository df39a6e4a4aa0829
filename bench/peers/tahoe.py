"""Tahoe-LAFS's side: an introducer, 4 storage nodes and a client node (2-of-4 shares).

Run by ``bench.peers`` inside a network namespace, with ``--tahoe`` naming the
``tahoe`` command of the virtualenv the orchestrator made. Each file is put and
got through the client's web API (HTTP PUT /uri, GET /uri/CAP) and through the
``tahoe put`` / ``tahoe get`` command lines (which include their start-up).
"""

from __future__ import annotations

import http.client
import json
import time
from pathlib import Path

from bench.peers.common import (
    CPUMeter,
    Processes,
    Results,
    Stall,
    load_files,
    run,
    runner_args,
    same_bytes,
    timed,
)

STORAGE = 4
NEEDED, HAPPY, TOTAL = 2, 4, 4
INTRODUCER_PORT = 41000
WEB_PORT = 3456


def wait_for(condition: object, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.3)


def connected_servers() -> int:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", WEB_PORT, timeout=5)
        conn.request("GET", "/?t=json")
        body = json.loads(conn.getresponse().read())
    except (OSError, ValueError):
        return 0
    return sum(
        1
        for s in body.get("servers", [])
        if str(s.get("connection_status", "")).lower().startswith("connected")
    )


def web_put(path: Path, timeout: float) -> str:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", WEB_PORT, timeout=timeout)
        with path.open("rb") as body:
            conn.request(
                "PUT", "/uri", body=body, headers={"Content-Length": str(path.stat().st_size)}
            )
            resp = conn.getresponse()
            cap = resp.read().decode().strip()
    except TimeoutError:
        raise Stall("tahoe web put") from None
    if resp.status not in (200, 201):
        raise RuntimeError(f"PUT /uri: {resp.status} {cap[:300]}")
    return cap


def web_get(cap: str, timeout: float) -> bytes:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", WEB_PORT, timeout=timeout)
        conn.request("GET", f"/uri/{cap}")
        resp = conn.getresponse()
        data = resp.read()
    except TimeoutError:
        raise Stall("tahoe web get") from None
    if resp.status != 200:
        raise RuntimeError(f"GET /uri: {resp.status} {data[:300]!r}")
    return data


def main() -> None:
    parser = runner_args(__doc__.split("\n")[0])
    parser.add_argument("--tahoe", required=True)
    args = parser.parse_args()
    tahoe = args.tahoe
    results = Results("Tahoe-LAFS", args.out)
    grid = args.work / "grid"
    grid.mkdir(parents=True, exist_ok=True)
    meter = CPUMeter(str(grid))
    procs = Processes()
    t0 = time.perf_counter()
    try:
        intro = grid / "introducer"
        port = f"tcp:{INTRODUCER_PORT}:interface=127.0.0.1"
        run(
            [
                tahoe,
                "create-introducer",
                "--listen=tcp",
                f"--port={port}",
                f"--location=tcp:127.0.0.1:{INTRODUCER_PORT}",
                str(intro),
            ],
            60,
        )
        procs.start([tahoe, "run", "--allow-stdin-close", str(intro)], grid / "introducer.log")
        furl_file = intro / "private" / "introducer.furl"
        wait_for(furl_file.exists, "the introducer's fURL")
        furl = furl_file.read_text().strip()
        shares = [f"--shares-needed={NEEDED}", f"--shares-happy={HAPPY}", f"--shares-total={TOTAL}"]
        for i in range(STORAGE):
            node = grid / f"storage{i}"
            p = INTRODUCER_PORT + 1 + i
            run(
                [
                    tahoe,
                    "create-node",
                    "--listen=tcp",
                    f"--port=tcp:{p}:interface=127.0.0.1",
                    f"--location=tcp:127.0.0.1:{p}",
                    f"--introducer={furl}",
                    f"--nickname=s{i}",
                    "--webport=none",
                    *shares,
                    str(node),
                ],
                60,
            )
            procs.start([tahoe, "run", "--allow-stdin-close", str(node)], grid / f"storage{i}.log")
        client = grid / "client"
        run(
            [
                tahoe,
                "create-client",
                f"--introducer={furl}",
                "--nickname=client",
                f"--webport=tcp:{WEB_PORT}:interface=127.0.0.1",
                *shares,
                str(client),
            ],
            60,
        )
        procs.start([tahoe, "run", "--allow-stdin-close", str(client)], grid / "client.log")
        wait_for(lambda: connected_servers() >= STORAGE, f"{STORAGE} storage servers", 180)
        results.notes.append(
            f"Tahoe-LAFS: introducer + {STORAGE} storage nodes + a client node, "
            f"{NEEDED}-of-{TOTAL} shares (happy {HAPPY}), up in {time.perf_counter() - t0:.1f} s; "
            "web = the client's HTTP API, cli = `tahoe put`/`tahoe get` (with their start-up)"
        )
        for size, rep, path in load_files(args.files):
            try:
                cap = timed(meter, results.get("put (web)", size), web_put, path, args.timeout)
                measure = results.get("get (web)", size)
                data = timed(meter, measure, web_get, cap, args.timeout)
                if data != path.read_bytes():
                    measure.errors.append(f"repetition {rep}: the bytes differ")
                    measure.seconds.pop()
                    measure.cpu.pop()
                del data
            except Exception:
                pass
            try:
                put = timed(
                    meter,
                    results.get("put (cli)", size),
                    run,
                    [tahoe, "-d", str(client), "put", str(path)],
                    args.timeout,
                )
                cap = put.stdout.strip().splitlines()[-1]
                out = grid / "got.bin"
                measure = results.get("get (cli)", size)
                timed(
                    meter,
                    measure,
                    run,
                    [tahoe, "-d", str(client), "get", cap, str(out)],
                    args.timeout,
                )
                if not same_bytes(out, path.read_bytes()):
                    measure.errors.append(f"repetition {rep}: the bytes differ")
                    measure.seconds.pop()
                    measure.cpu.pop()
                out.unlink()
            except Exception:
                pass
            results.save()
    finally:
        procs.stop_all()
        results.save()


if __name__ == "__main__":
    main()
