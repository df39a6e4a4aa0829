"""Crypto throughput: CHK encode/decode/verify and SSK sign/verify beside raw primitives.

Run: ``python -m bench.crypto_bench [--seconds S]``. Prints MB/s (of 32 KiB
plaintext) and operations per second, single-threaded, with the raw libsodium
XChaCha20-Poly1305 and BLAKE3 rates measured in the same run, and the ratio the
foundation issue targets: CHK encode+verify against the raw primitives' combined
speed. Encode+verify is made of one AEAD pass and three BLAKE3 passes over 32 KiB
(the convergent key from the content, the routing key from the block, and the
verification a node runs); the target ratio compares it with exactly those raw
calls, so it measures what our framing, padding and copies cost. A stricter
figure against one AEAD and one BLAKE3 pass is printed too: it cannot reach 1
by construction, since the scheme needs the two extra hashes.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import blake3
import nacl.bindings as sodium

from crypto.blocks import Block, KeyKind
from crypto.chk import CHK_DATA_SIZE, decode_chk, encode_chk, verify_chk
from crypto.keys import generate_ssk, insert_ssk
from crypto.ssk import verify_ssk

MB = 1e6


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls per second of ``fn`` over about ``seconds`` of wall clock (best of 3)."""
    best = 0.0
    for _ in range(3):
        n, start = 0, time.perf_counter()
        deadline = start + seconds / 3
        while True:
            for _ in range(16):
                fn()
            n += 16
            now = time.perf_counter()
            if now >= deadline:
                break
        best = max(best, n / (now - start))
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.5, help="time per measurement")
    args = parser.parse_args(argv)
    t = args.seconds
    data = os.urandom(CHK_DATA_SIZE)
    key, nonce = os.urandom(32), bytes(24)
    block, dkey = encode_chk(data)
    ciphertext = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(data, b"", nonce, key)

    raw_aead = rate(
        lambda: sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(data, b"", nonce, key), t
    )
    raw_aead_dec = rate(
        lambda: sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(ciphertext, b"", nonce, key), t
    )
    raw_blake3 = rate(lambda: blake3.blake3(data).digest(), t)
    chk_encode = rate(lambda: encode_chk(data), t)
    chk_verify = rate(lambda: verify_chk(block.routing_key, block.data), t)
    chk_decode = rate(lambda: decode_chk(block, dkey), t)

    def encode_and_verify() -> None:
        b, _ = encode_chk(data)
        verify_chk(b.routing_key, b.data)

    chk_both = rate(encode_and_verify, t)
    raw_combined = 1 / (1 / raw_aead + 3 / raw_blake3)
    raw_one_each = 1 / (1 / raw_aead + 1 / raw_blake3)

    _, insert = generate_ssk(bytes(64))
    doc = insert.with_docname("bench")
    ssk_block = insert_ssk(doc, os.urandom(1024))
    ssk_sign = rate(lambda: insert_ssk(doc, b"x" * 1024), t)
    ssk_verify = rate(lambda: verify_ssk(ssk_block.routing_key, ssk_block.data), t)
    seed = os.urandom(32)
    _pk, sk = sodium.crypto_sign_seed_keypair(seed)
    signed = sodium.crypto_sign(b"y" * 1134, sk)
    raw_sign = rate(lambda: sodium.crypto_sign(b"y" * 1134, sk), t)
    raw_open = rate(lambda: sodium.crypto_sign_open(signed, _pk), t)
    assert Block(KeyKind.SSK, ssk_block.routing_key, ssk_block.data)

    mbps = lambda per_s: per_s * CHK_DATA_SIZE / MB  # noqa: E731
    print("32 KiB blocks, one core")
    print(f"  raw XChaCha20-Poly1305 encrypt   {mbps(raw_aead):9.1f} MB/s")
    print(f"  raw XChaCha20-Poly1305 decrypt   {mbps(raw_aead_dec):9.1f} MB/s")
    print(f"  raw BLAKE3                       {mbps(raw_blake3):9.1f} MB/s")
    print(f"  raw AEAD + 3 x BLAKE3 combined   {mbps(raw_combined):9.1f} MB/s")
    print(f"  raw AEAD + 1 x BLAKE3 combined   {mbps(raw_one_each):9.1f} MB/s")
    print(f"  CHK encode                       {mbps(chk_encode):9.1f} MB/s")
    print(f"  CHK verify                       {mbps(chk_verify):9.1f} MB/s")
    print(f"  CHK decode (verify+decrypt+check){mbps(chk_decode):9.1f} MB/s")
    print(f"  CHK encode+verify                {mbps(chk_both):9.1f} MB/s")
    print(f"  ratio encode+verify / raw combined   {chk_both / raw_combined:6.2f} (target >= 0.70)")
    print(f"  ratio encode+verify / raw AEAD + 1 x BLAKE3   {chk_both / raw_one_each:6.2f}")
    print("SSK (1 KiB documents)")
    print(f"  raw Ed25519 sign                 {raw_sign:9.0f} /s")
    print(f"  raw Ed25519 verify               {raw_open:9.0f} /s")
    print(
        f"  SSK encode (sign)                {ssk_sign:9.0f} /s   ratio {ssk_sign / raw_sign:.2f}"
    )
    print(
        f"  SSK verify                       {ssk_verify:9.0f} /s"
        f"   ratio {ssk_verify / raw_open:.2f}"
    )


if __name__ == "__main__":
    main()
