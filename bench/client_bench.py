"""Client-layer throughput: insert and fetch MB/s of a large file through a MemoryNetwork.

Prints figures (never passes or fails on time). The network is a dict, so this
measures the client alone: compression probe, keystream, FEC, CHK encryption,
metadata, and fetch-side decode with and without missing blocks. First, one
core's FEC encode and decode rate per codec (zfec vs ISA-L Cauchy).

    .venv/bin/python -m bench.client_bench [--mib 64] [--k 64]
"""

from __future__ import annotations

import argparse
import os
import random
import time

import anyio

from crypto.uri import CHKURI, parse_uri
from node.client import fec
from node.client.client import Client
from node.client.network import MemoryNetwork


def fec_rate(codec: fec.FecCodec, k: int, seconds: float = 1.0) -> tuple[float, float]:
    """MB/s of data one core encodes and decodes (half of the n blocks lost) for k+k."""
    rng = random.Random(k)
    data = [rng.randbytes(fec.BLOCK_SIZE) for _ in range(k)]
    n = k + fec.check_blocks_for(k)
    everything = data + fec.encode_checks(data, n, codec)  # warm up (ISA-L tables)
    rates = []
    for step in ("encode", "decode"):
        done, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            if step == "encode":
                fec.encode_checks(data, n, codec)
            else:
                keep = rng.sample(range(n), k)
                fec.decode_segment({i: everything[i] for i in keep}, k, n, codec)
            done += 1
        rates.append(done * k * fec.BLOCK_SIZE / (time.perf_counter() - t0) / 1e6)
    return rates[0], rates[1]


async def run(mib: int, k: int, workers: int, processes: bool, lose: float) -> tuple[float, float]:
    data = random.Random(1).randbytes(mib * 1024 * 1024)
    net = MemoryNetwork(verify=False)
    async with Client(
        net, processes=processes, workers=workers, heal=False, window=64, max_k=k
    ) as client:
        await client.put(b"warm up the pool", get_chk_only=True)
        t0 = time.perf_counter()
        uri = await client.put(data)
        t1 = time.perf_counter()
        if lose:
            top = parse_uri(uri)
            assert isinstance(top, CHKURI)
            rng = random.Random(2)
            for _, rk in list(net.blocks):
                if rk != top.routing_key and rng.random() < lose:
                    net.drop(rk)
        t2 = time.perf_counter()
        _, back = await client.get_bytes(uri)
        t3 = time.perf_counter()
    assert back == data
    return mib * 1.048576 / (t1 - t0), mib * 1.048576 / (t3 - t2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--k", type=int, default=fec.MAX_SEGMENT_DATA)
    args = parser.parse_args()
    print(f"{args.mib} MiB random data, segments of {args.k}+{args.k}, {os.cpu_count()} cores")
    for codec in fec.FecCodec:
        enc, dec = fec_rate(codec, args.k)
        print(
            f"  FEC {codec:<11} {args.k}+{args.k}, one core: encode {enc:6.1f} MB/s"
            f"   decode {dec:6.1f} MB/s"
        )
    print(f"  inserts use {fec.DEFAULT_FEC}")
    cores = os.cpu_count() or 1
    for processes, workers in ((False, 1), (False, cores), (True, cores)):
        for lose in (0.0, 0.3):
            put, get = anyio.run(run, args.mib, args.k, workers, processes, lose)
            pool = f"{workers} {'processes' if processes else 'threads  '}"
            print(f"  {pool} loss {lose:.0%}: insert {put:6.1f} MB/s   fetch {get:6.1f} MB/s")


if __name__ == "__main__":
    main()
