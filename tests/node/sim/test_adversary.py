"""The adversary analysis runs, and the HTL randomisation makes a neighbour's guess worse."""

from bench.resilience.adversary import collusion, inference, simulate


def test_htl_randomisation_lowers_originator_inference_precision() -> None:
    off = simulate(nodes=200, requests=600, seed=3, rule="off")
    on = simulate(nodes=200, requests=600, seed=3, rule="on")
    a, b = inference(off), inference(on)
    # Without randomisation "my peer held max HTL" is exact; with it, relays hold max too.
    assert a["held_max"]["precision"] == 1.0
    assert b["held_max"]["precision"] < a["held_max"]["precision"]
    assert b["htl_max"]["precision"] < 1.0
    for r in (a, b):
        assert r["sightings"] > 0
        assert 0.0 < r["base_rate"] < 1.0
    c = collusion(on, 10, seed=3)
    assert 0.0 <= c["held_max"]["singled_out"] <= c["seen"] <= 1.0
