"""Locations on the circle [0, 1): where a key lives and how far apart two points are.

A key's location is the first 8 bytes of its routing key read big-endian as a
fraction of 2**64. Routing keys are uniformly distributed hashes, so locations
are uniform on the circle, which is what greedy routing needs.
"""

from crypto.errors import InvalidKey

ROUTING_KEY_SIZE = 32


def location_of(routing_key: bytes) -> float:
    """Return the location in [0, 1) of a 32-byte routing key."""
    if len(routing_key) != ROUTING_KEY_SIZE:
        raise InvalidKey(f"a routing key is {ROUTING_KEY_SIZE} bytes, not {len(routing_key)}")
    return int.from_bytes(routing_key[:8], "big") / 2**64


def distance(a: float, b: float) -> float:
    """Circular distance between two locations: at most 0.5."""
    d = abs(a - b) % 1.0
    return min(d, 1.0 - d)


def normalize(loc: float) -> float:
    """Bring any float onto [0, 1)."""
    loc = loc % 1.0
    return 0.0 if loc >= 1.0 else loc
