"""GNUnet's side: 3 peers meshed on 127.0.0.1; publish on peer 0, download on peers 1 and 2.

Run by ``bench.peers`` inside a network namespace. Each peer has its own
configuration (TCP transport on its own port bound to 127.0.0.1, short UNIX
socket paths; the TCP transport announces no loopback address here, so the
peers reach each other over GNUnet's UNIX-socket transport) with the hostlist
bootstrap, the shipped HELLOs, UPnP, STUN and NAT probing switched off and a
finite bandwidth quota. Each peer's key and network-size proof of work
(``gnunet-scrypt``, minutes of CPU) are made once and cached under
``--cache``. The peers learn each other by exchanged HELLOs.

For each file the peers are started afresh (long-lived small GNUnet networks
eventually hang a download): peer 0 publishes it (``gnunet-publish -n``, full
insertion, anonymity 0), peer 1 downloads it at anonymity 0; then the peers
are restarted and peer 2 downloads it at anonymity 1. Datastores persist
across restarts; every repetition is a fresh file.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench.peers.common import (
    MIB,
    CPUMeter,
    Results,
    Stall,
    kill_matching,
    load_files,
    run,
    runner_args,
    same_bytes,
    timed,
)

PEERS = 3
BASE_PORT = 42086
QUOTA = "200 MiB"
WORKBITS = 15  # the shipped [nse] WORKBITS; the cached proofs are for this many bits

CONFIG = """\
[PATHS]
GNUNET_HOME = {home}
GNUNET_DATA_HOME = {home}/data/
GNUNET_CONFIG_HOME = {home}/config/
GNUNET_CACHE_HOME = {home}/cache/
GNUNET_TMP = {home}/tmp/
GNUNET_RUNTIME_DIR = {runtime}/
GNUNET_USER_RUNTIME_DIR = {runtime}/u/

[PEER]
PRIVATE_KEY = {home}/private_key.ecc

[TESTING]
USE_ABSTRACT_SOCKETS = NO

[arm]
GLOBAL_POSTFIX = -l {home}/logs/{{}}.log

[hostlist]
IMMEDIATE_START = NO
START_ON_DEMAND = NO
OPTIONS =
SERVERS =

[peerinfo]
USE_INCLUDED_HELLOS = NO

[nat]
ENABLE_UPNP = NO
USE_STUN = NO
STUN_SERVERS =
ENABLE_IPSCAN = NO
DISABLEV6 = YES
BEHIND_NAT = NO
USE_LOCALADDR = YES
RETURN_LOCAL_ADDRESSES = YES
HOSTNAME_DNS_FREQUENCY = 1000 h
DYNDNS_FREQUENCY = 1000 h

[nat-auto]
START_ON_DEMAND = NO
IMMEDIATE_START = NO

[transport]
PLUGINS = tcp unix

[transport-tcp]
PORT = {port}
ADVERTISED_PORT = {port}
BINDTO = 127.0.0.1

[ats]
UNSPECIFIED_QUOTA_IN = {quota}
UNSPECIFIED_QUOTA_OUT = {quota}
LOOPBACK_QUOTA_IN = {quota}
LOOPBACK_QUOTA_OUT = {quota}
LAN_QUOTA_IN = {quota}
LAN_QUOTA_OUT = {quota}
WAN_QUOTA_IN = {quota}
WAN_QUOTA_OUT = {quota}

[nse]
PROOFFILE = {home}/proof.dat
WORKBITS = {workbits}

[datastore]
QUOTA = 4 GB

[gns]
IMMEDIATE_START = NO
START_ON_DEMAND = NO

[zonemaster]
IMMEDIATE_START = NO
START_ON_DEMAND = NO

[revocation]
IMMEDIATE_START = NO

[rest]
IMMEDIATE_START = NO
START_ON_DEMAND = NO
"""


class Peer:
    def __init__(self, index: int, work: Path, runtime: Path) -> None:
        self.index = index
        self.home = work / f"peer{index}"
        self.runtime = runtime / f"p{index}"
        self.config = work / f"peer{index}.conf"
        self.port = BASE_PORT + index

    def write_config(self) -> None:
        for sub in ("data", "config", "cache", "tmp", "logs"):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
        self.runtime.mkdir(parents=True, exist_ok=True)
        self.config.write_text(
            CONFIG.format(
                home=self.home,
                runtime=self.runtime,
                port=self.port,
                quota=QUOTA,
                workbits=WORKBITS,
            )
        )

    def cmd(self, tool: str, *args: str) -> list[str]:
        return [tool, "-c", str(self.config), *args]

    def ensure_identity(self, cache: Path) -> str:
        """Copy the cached key and proof of work in, making them first if need be."""
        store = cache / f"peer{self.index}-bits{WORKBITS}"
        key, proof = store / "private_key.ecc", store / "proof.dat"
        if key.exists() and proof.exists():
            shutil.copy2(key, self.home / "private_key.ecc")
            shutil.copy2(proof, self.home / "proof.dat")
            return "cached"
        store.mkdir(parents=True, exist_ok=True)
        t0 = time.monotonic()
        # gnunet-scrypt makes the key if there is none and writes the proof when found.
        subprocess.run(
            self.cmd("gnunet-scrypt", "-b", str(WORKBITS), "-t", "0 ms", "-o", str(proof)),
            check=True,
            capture_output=True,
            timeout=3600,
        )
        shutil.copy2(self.home / "private_key.ecc", key)
        shutil.copy2(proof, self.home / "proof.dat")
        return f"computed in {time.monotonic() - t0:.0f} s"

    def start(self) -> None:
        run(self.cmd("gnunet-arm", "-s"), 60)

    def stop(self) -> None:
        with contextlib.suppress(Stall, RuntimeError):
            run(self.cmd("gnunet-arm", "-e"), 60)

    def hello(self) -> str:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            out = run(self.cmd("gnunet-peerinfo", "-g"), 30).stdout.strip()
            if out.startswith("gnunet://hello/") and "+" in out:
                return out
            time.sleep(0.5)
        raise RuntimeError(f"peer {self.index} has no HELLO with an address")

    def connections(self) -> int:
        """Peers this one has a core connection with (``gnunet-core`` lists them)."""
        try:
            out = run(self.cmd("gnunet-core"), 10).stdout
        except (Stall, RuntimeError):
            return 0
        return out.count("connection established")


def _stat(text: str, name: str) -> int:
    for line in text.splitlines():
        if name in line:
            found = re.findall(r"(\d+)\s*$", line)
            if found:
                return int(found[0])
    return 0


class Network:
    def __init__(self, peers: list[Peer], work: Path) -> None:
        self.peers = peers
        self.work = work

    def up(self, timeout: float = 90.0) -> float:
        """Start every peer, exchange HELLOs, wait until each has the others as neighbours."""
        t0 = time.monotonic()
        for peer in self.peers:
            peer.start()
        hellos = [peer.hello() for peer in self.peers]
        for peer in self.peers:
            for other, hello in zip(self.peers, hellos, strict=True):
                if other is not peer:
                    run(peer.cmd("gnunet-peerinfo", "-p", hello), 30)
        want = len(self.peers) - 1
        deadline = time.monotonic() + timeout
        while any(peer.connections() < want for peer in self.peers):
            if time.monotonic() > deadline:
                counts = [peer.connections() for peer in self.peers]
                raise RuntimeError(f"GNUnet peers did not connect (neighbours {counts})")
            time.sleep(0.5)
        return time.monotonic() - t0

    def down(self) -> None:
        for peer in self.peers:
            peer.stop()
        kill_matching(str(self.work))


def publish(peer: Peer, path: Path, timeout: float) -> str:
    """Insert the file fully (not indexed) at anonymity 0; the URI gnunet-publish prints."""
    out = run(peer.cmd("gnunet-publish", "-n", "-D", "-a", "0", str(path)), timeout).stdout
    found = re.search(r"gnunet://fs/(chk|loc)/[A-Za-z0-9.]+", out)
    if not found:
        raise RuntimeError(f"gnunet-publish printed no URI: {out[-300:]}")
    return found.group(0)


def content_uri(uri: str) -> str:
    """The CHK URI inside a location URI (key.query.size.peer.sig.expiry)."""
    if uri.startswith("gnunet://fs/loc/"):
        return "gnunet://fs/chk/" + ".".join(uri.removeprefix("gnunet://fs/loc/").split(".")[:3])
    return uri


def download(peer: Peer, uri: str, anonymity: int, out: Path, timeout: float) -> None:
    out.unlink(missing_ok=True)
    run(peer.cmd("gnunet-download", "-a", str(anonymity), "-o", str(out), uri), timeout)


def main() -> None:
    parser = runner_args(__doc__.split("\n")[0])
    parser.add_argument("--cache", type=Path, required=True)
    args = parser.parse_args()
    results = Results("GNUnet", args.out)
    work = args.work / "net"
    work.mkdir(parents=True, exist_ok=True)
    runtime = Path(tempfile.mkdtemp(prefix="gnpb", dir="/tmp"))  # UNIX socket paths ≤ 108 B
    peers = [Peer(i, work, runtime) for i in range(PEERS)]
    net = Network(peers, work)
    meter = CPUMeter(str(work))
    version = run(["gnunet-arm", "-v"], 30).stdout.strip()
    try:
        made = []
        for peer in peers:
            peer.write_config()
            made.append(peer.ensure_identity(args.cache))
        results.notes.append(
            f"GNUnet ({version}): {PEERS} peers meshed by HELLO exchange (transports tcp bound to "
            "127.0.0.1 and unix; the NAT service announced no loopback TCP address, so the "
            "HELLOs carry UNIX-socket addresses and the peers talk over those), "
            f"quota {QUOTA}, no hostlist/shipped HELLOs/UPnP/STUN; keys and proofs of work "
            f"{', '.join(made)}; peers restarted for every measurement; publish = gnunet-publish "
            "-n (full insertion) at anonymity 0 on peer 0, download a0 on peer 1 of the URI it "
            "prints, a1 on peer 2 of the CHK URI"
        )
        starts = []
        for size, rep, path in load_files(args.files):
            try:
                starts.append(net.up())
                uri = timed(
                    meter, results.get("publish", size), publish, peers[0], path, args.timeout
                )
            except Exception as exc:
                results.notes.append(f"GNUnet {size // MIB} MiB #{rep}: publish failed: {exc}")
                net.down()
                results.save()
                continue
            for peer, anonymity in ((peers[1], 0), (peers[2], 1)):
                measure = results.get(f"download a{anonymity}", size)
                out = work / "download.bin"
                try:
                    if anonymity:
                        net.down()
                        starts.append(net.up())
                    target = uri if anonymity == 0 else content_uri(uri)
                    timed(meter, measure, download, peer, target, anonymity, out, args.timeout)
                    if not same_bytes(out, path.read_bytes()):
                        measure.errors.append(f"repetition {rep}: the bytes differ")
                        measure.seconds.pop()
                        measure.cpu.pop()
                except Exception as exc:
                    if not isinstance(exc, Stall) and not measure.errors:
                        measure.errors.append(str(exc)[:300])
                out.unlink(missing_ok=True)
            net.down()
            results.save()
        if starts:
            results.notes.append(
                f"GNUnet: {len(starts)} network starts, "
                f"median {sorted(starts)[len(starts) // 2]:.1f} s"
            )
    finally:
        net.down()
        shutil.rmtree(runtime, ignore_errors=True)
        results.save()


if __name__ == "__main__":
    main()
