"""The TUI's node state: rates from byte counters, and the warnings it raises."""

from tui.state import NodeState


def info(**fields: str) -> dict[str, str]:
    base = {"volatile.numberOfConnected": "3", "volatile.storeSize": "0"}
    base.update({f"volatile.{k}": v for k, v in fields.items()})
    return base


def test_rates_come_from_byte_counters() -> None:
    state = NodeState()
    state.update(info(totalInputBytes="1000", totalOutputBytes="0"), [], now=10.0)
    state.update(info(totalInputBytes="3048", totalOutputBytes="512"), [], now=12.0)
    assert list(state.rate_in) == [1024.0]
    assert list(state.rate_out) == [256.0]


def test_clock_skew_warns_only_past_ten_minutes() -> None:
    state = NodeState()
    state.update(info(clockSkewSeconds="120"), [], now=0.0)
    assert not any("clock" in w for w in state.warnings())
    state.update(info(clockSkewSeconds="-3600"), [], now=1.0)
    (warning,) = [w for w in state.warnings() if "clock" in w]
    assert "ahead of" in warning and "NTP" in warning
