"""Locations and circular distance."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.errors import InvalidKey
from crypto.location import distance, location_of, normalize
from tests import strategies as s

unit = st.floats(min_value=0, max_value=1, exclude_max=True)


@given(s.key32)
def test_location_is_on_the_circle(rk: bytes) -> None:
    assert 0 <= location_of(rk) < 1


def test_location_reads_the_first_eight_bytes() -> None:
    assert location_of(bytes(32)) == 0.0
    assert location_of(b"\x80" + bytes(31)) == 0.5
    assert location_of(b"\x40" + bytes(7) + b"\xff" * 24) == 0.25


@given(unit, unit, unit)
def test_distance_is_a_metric_on_the_circle(a: float, b: float, c: float) -> None:
    assert 0 <= distance(a, b) <= 0.5
    assert distance(a, b) == pytest.approx(distance(b, a))
    assert distance(a, a) == 0
    assert distance(a, c) <= distance(a, b) + distance(b, c) + 1e-12


def test_distance_wraps() -> None:
    assert distance(0.05, 0.95) == pytest.approx(0.1)
    assert normalize(1.25) == 0.25
    assert normalize(-0.25) == 0.75


def test_wrong_length() -> None:
    with pytest.raises(InvalidKey):
        location_of(b"\x00" * 8)
