"""The link handshake, sans-I/O: authenticated X25519 key exchange giving two session keys.

Theory of operation
-------------------
The pattern is Noise XX (``-> e; <- e, ee, s, es; -> s, se``) over X25519,
XChaCha20-Poly1305 and BLAKE3, with one addition: each side's static X25519 key
is vouched for by its long-term Ed25519 *identity*, which signs the transcript
hash of this very handshake. So a peer proves, in this session, that it holds
both the identity's signing key and the static key's secret.

Why each piece is there:

* Fresh ephemeral keys on both sides (``ee``) give forward secrecy, and make
  every transcript unique: a replayed message 1, 2 or 3 meets a different
  ephemeral key and fails to decrypt.
* The transcript hash ``h`` absorbs the prologue (``samizdat/link/v1`` plus an
  optional network label), every public key and every ciphertext; each
  encryption uses ``h`` as associated data and each signature covers it, so a
  single changed byte anywhere makes the rest of the handshake fail.
* The chaining key ``ck`` absorbs every DH result through an HKDF-like step
  (extract with keyed BLAKE3, expand with derive-key contexts).
* The responder's identity travels encrypted in message 2; the initiator checks
  it against the identity it *expected* (from the node reference) before it
  reveals its own identity in message 3 — so a wrong or impersonating responder
  never learns who was dialling.
* A man in the middle who swaps ephemeral or static keys cannot produce the
  identity signature over the transcript the honest side computed.

Message sizes are fixed (36, 192 and 160 bytes), so the runtime reads each one
with a single exact read and never buffers an attacker-chosen length.

This module only transforms bytes; timeouts and sockets belong to ``node.net``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from crypto.errors import DecryptionFailed, HandshakeFailed, InvalidKey
from crypto.primitives import (
    AEAD_NONCE_SIZE,
    AEAD_TAG_SIZE,
    DH_KEY_SIZE,
    SIGN_PUBLIC_SIZE,
    SIGN_SEED_SIZE,
    SIGNATURE_SIZE,
    aead_decrypt,
    aead_encrypt,
    dh,
    dh_keypair,
    hash_for,
    keyed_hash,
    sign,
    sign_public_key,
    verify_signature,
)

PROTOCOL = b"samizdat/link/v1"
# The first bytes on every link: lets a listener tell a Samizdat peer of another
# version (or a stray HTTP client) from a corrupted handshake, and say so.
MAGIC = b"SZL\x01"

_PAYLOAD_SIZE = SIGN_PUBLIC_SIZE + SIGNATURE_SIZE  # identity public key, signature
MSG1_SIZE = len(MAGIC) + DH_KEY_SIZE
MSG2_SIZE = DH_KEY_SIZE + (DH_KEY_SIZE + AEAD_TAG_SIZE) + (_PAYLOAD_SIZE + AEAD_TAG_SIZE)
MSG3_SIZE = (DH_KEY_SIZE + AEAD_TAG_SIZE) + (_PAYLOAD_SIZE + AEAD_TAG_SIZE)

MAX_PROLOGUE = 256  # a network label, not a document

_CTX_INIT = "samizdat/link/init/v1"
_CTX_HASH = "samizdat/link/transcript/v1"
_CTX_CK = "samizdat/link/chaining-key/v1"
_CTX_K = "samizdat/link/handshake-key/v1"
_CTX_I2R = "samizdat/link/initiator-to-responder/v1"
_CTX_R2I = "samizdat/link/responder-to-initiator/v1"
_CTX_STATIC = "samizdat/link/static-key/v1"
_SIG_RESPONDER = b"samizdat/link/responder-signature/v1\x00"
_SIG_INITIATOR = b"samizdat/link/initiator-signature/v1\x00"


@dataclass(frozen=True, slots=True)
class LocalKeys:
    """A node's long-term keys: Ed25519 identity and the X25519 static derived from it."""

    identity_seed: bytes = field(repr=False)
    identity_public: bytes
    static_secret: bytes = field(repr=False)
    static_public: bytes

    @classmethod
    def from_seed(cls, seed: bytes) -> LocalKeys:
        """Derive every key from the 32-byte identity seed (deterministic)."""
        if len(seed) != SIGN_SEED_SIZE:
            raise InvalidKey(f"an identity seed is {SIGN_SEED_SIZE} bytes, not {len(seed)}")
        static_secret, static_public = dh_keypair(seed=hash_for(_CTX_STATIC, seed))
        return cls(
            identity_seed=seed,
            identity_public=sign_public_key(seed),
            static_secret=static_secret,
            static_public=static_public,
        )


@dataclass(frozen=True, slots=True)
class HandshakeResult:
    """What a completed handshake yields: directional keys and who the peer is.

    ``handshake_hash`` is unique to this session and may serve as a channel
    binding (e.g. to sign "I am talking on link X").
    """

    peer_identity: bytes
    send_key: bytes = field(repr=False)
    receive_key: bytes = field(repr=False)
    handshake_hash: bytes


class _SymmetricState:
    """The running transcript hash ``h`` and chaining key ``ck`` (Noise's SymmetricState)."""

    __slots__ = ("ck", "h", "k", "n")

    def __init__(self, prologue: bytes) -> None:
        if len(prologue) > MAX_PROLOGUE:
            raise ValueError(f"a handshake prologue is at most {MAX_PROLOGUE} bytes")
        self.h = hash_for(_CTX_INIT, PROTOCOL)
        self.ck = self.h
        self.k: bytes | None = None
        self.n = 0
        # Length-prefixed so that PROTOCOL + label is unambiguous.
        self.mix_hash(PROTOCOL + len(prologue).to_bytes(2, "big") + prologue)

    def mix_hash(self, data: bytes) -> None:
        self.h = hash_for(_CTX_HASH, self.h, data)

    def mix_key(self, ikm: bytes) -> None:
        temp = keyed_hash(self.ck, ikm)  # extract
        self.ck = hash_for(_CTX_CK, temp)  # expand, one context per output
        self.k = hash_for(_CTX_K, temp)
        self.n = 0

    def _key_and_nonce(self) -> tuple[bytes, bytes]:
        # As in Noise: k changes at every DH, and within one k the nonce counts up.
        if self.k is None:
            raise RuntimeError("handshake encryption before any DH")
        nonce = self.n.to_bytes(AEAD_NONCE_SIZE, "big")
        self.n += 1
        return self.k, nonce

    def encrypt_and_hash(self, plaintext: bytes) -> bytes:
        key, nonce = self._key_and_nonce()
        ciphertext = aead_encrypt(key, nonce, plaintext, self.h)
        self.mix_hash(ciphertext)
        return ciphertext

    def decrypt_and_hash(self, ciphertext: bytes, what: str) -> bytes:
        key, nonce = self._key_and_nonce()
        try:
            plaintext = aead_decrypt(key, nonce, ciphertext, self.h)
        except DecryptionFailed:
            raise HandshakeFailed(
                f"the peer's {what} failed authentication: tampered, replayed, "
                "or a man in the middle"
            ) from None
        self.mix_hash(ciphertext)
        return plaintext

    def split(self) -> tuple[bytes, bytes]:
        return hash_for(_CTX_I2R, self.ck), hash_for(_CTX_R2I, self.ck)


def _dh(secret: bytes, public: bytes) -> bytes:
    try:
        return dh(secret, public)
    except InvalidKey:
        raise HandshakeFailed("the peer sent an invalid (low-order) X25519 key") from None


def _payload(keys: LocalKeys, label: bytes, h: bytes) -> bytes:
    signature = sign(keys.identity_seed, label + h + keys.identity_public)
    return keys.identity_public + signature


def _check_payload(payload: bytes, label: bytes, h: bytes) -> bytes:
    identity, signature = payload[:SIGN_PUBLIC_SIZE], payload[SIGN_PUBLIC_SIZE:]
    if not verify_signature(identity, label + h + identity, signature):
        raise HandshakeFailed("the peer's identity signature over the handshake is invalid")
    return identity


def _check_size(data: bytes, size: int, what: str) -> None:
    if len(data) != size:
        raise HandshakeFailed(f"{what} must be {size} bytes, got {len(data)} (truncated?)")


class Initiator:
    """The dialling side. It knows whom it expects to reach (from the node reference).

    Use: ``m1 = i.start()``; send it; ``m3 = i.read_message2(m2)``; send ``m3``;
    then ``i.result``. Any fault raises :class:`HandshakeFailed` and the object
    must be discarded.
    """

    def __init__(
        self,
        keys: LocalKeys,
        expected_peer: bytes,
        *,
        prologue: bytes = b"",
        ephemeral_seed: bytes | None = None,
    ) -> None:
        """``ephemeral_seed`` pins the ephemeral key for known-answer tests only."""
        if len(expected_peer) != SIGN_PUBLIC_SIZE:
            raise InvalidKey(f"an identity is {SIGN_PUBLIC_SIZE} bytes, not {len(expected_peer)}")
        self._keys = keys
        self._expected = expected_peer
        self._state = _SymmetricState(prologue)
        self._e_secret, self._e_public = dh_keypair(ephemeral_seed)
        self._step = 0
        self._result: HandshakeResult | None = None

    def start(self) -> bytes:
        """Message 1: ``MAGIC || e``."""
        if self._step != 0:
            raise RuntimeError("start() called twice")
        self._step = 1
        self._state.mix_hash(MAGIC)
        self._state.mix_hash(self._e_public)
        return MAGIC + self._e_public

    def read_message2(self, message: bytes) -> bytes:
        """Check the responder's message 2 and return message 3."""
        if self._step != 1:
            raise RuntimeError("read_message2() out of order")
        self._step = 2
        _check_size(message, MSG2_SIZE, "handshake message 2")
        st = self._state
        re_public = message[:DH_KEY_SIZE]
        c_static = message[DH_KEY_SIZE : 2 * DH_KEY_SIZE + AEAD_TAG_SIZE]
        c_payload = message[2 * DH_KEY_SIZE + AEAD_TAG_SIZE :]
        st.mix_hash(re_public)
        st.mix_key(_dh(self._e_secret, re_public))  # ee
        rs_public = st.decrypt_and_hash(c_static, "static key")
        st.mix_key(_dh(self._e_secret, rs_public))  # es
        h_before = st.h
        peer = _check_payload(st.decrypt_and_hash(c_payload, "identity"), _SIG_RESPONDER, h_before)
        if peer != self._expected:
            raise HandshakeFailed(
                "the peer is not the node its reference names (a different identity answered)"
            )
        c_static_i = st.encrypt_and_hash(self._keys.static_public)
        st.mix_key(_dh(self._keys.static_secret, re_public))  # se
        c_payload_i = st.encrypt_and_hash(_payload(self._keys, _SIG_INITIATOR, st.h))
        send, receive = st.split()
        self._result = HandshakeResult(
            peer_identity=peer, send_key=send, receive_key=receive, handshake_hash=st.h
        )
        return c_static_i + c_payload_i

    @property
    def result(self) -> HandshakeResult:
        if self._result is None:
            raise RuntimeError("the handshake is not complete")
        return self._result


class Responder:
    """The listening side. It learns the dialler's identity; the runtime decides on it.

    Use: ``m2 = r.read_message1(m1)``; send it; ``result = r.read_message3(m3)``.
    """

    def __init__(
        self, keys: LocalKeys, *, prologue: bytes = b"", ephemeral_seed: bytes | None = None
    ) -> None:
        self._keys = keys
        self._state = _SymmetricState(prologue)
        self._e_secret, self._e_public = dh_keypair(ephemeral_seed)
        self._ie_public = b""
        self._step = 0

    def read_message1(self, message: bytes) -> bytes:
        """Check the dialler's message 1 and return message 2."""
        if self._step != 0:
            raise RuntimeError("read_message1() out of order")
        self._step = 1
        if message[:3] == MAGIC[:3] and message[3:4] != MAGIC[3:4] and len(message) >= 4:
            raise HandshakeFailed(
                f"the peer speaks link protocol version {message[3]}, we speak {MAGIC[3]}"
            )
        if message[: len(MAGIC)] != MAGIC:
            raise HandshakeFailed("the peer is not a Samizdat node (bad handshake magic)")
        _check_size(message, MSG1_SIZE, "handshake message 1")
        st = self._state
        self._ie_public = message[len(MAGIC) :]
        st.mix_hash(MAGIC)
        st.mix_hash(self._ie_public)
        st.mix_hash(self._e_public)
        st.mix_key(_dh(self._e_secret, self._ie_public))  # ee
        c_static = st.encrypt_and_hash(self._keys.static_public)
        st.mix_key(_dh(self._keys.static_secret, self._ie_public))  # es
        c_payload = st.encrypt_and_hash(_payload(self._keys, _SIG_RESPONDER, st.h))
        return self._e_public + c_static + c_payload

    def read_message3(self, message: bytes) -> HandshakeResult:
        """Check the dialler's message 3; return the keys and the dialler's identity."""
        if self._step != 1:
            raise RuntimeError("read_message3() out of order")
        self._step = 2
        _check_size(message, MSG3_SIZE, "handshake message 3")
        st = self._state
        c_static = message[: DH_KEY_SIZE + AEAD_TAG_SIZE]
        c_payload = message[DH_KEY_SIZE + AEAD_TAG_SIZE :]
        is_public = st.decrypt_and_hash(c_static, "static key")
        st.mix_key(_dh(self._e_secret, is_public))  # se
        h_before = st.h
        peer = _check_payload(st.decrypt_and_hash(c_payload, "identity"), _SIG_INITIATOR, h_before)
        i2r, r2i = st.split()
        return HandshakeResult(
            peer_identity=peer, send_key=r2i, receive_key=i2r, handshake_hash=st.h
        )
