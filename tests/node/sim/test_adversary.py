"""The adversary analysis runs, and the HTL randomisation makes a neighbour's guess worse."""

import math

from bench.resilience.adversary import (
    CLASSIFIERS,
    collusion,
    inference,
    inference_seeds,
    simulate,
    wilson,
)
from node.core import routing


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
        for name in CLASSIFIERS:
            p = r[name]["precision"]
            if not r[name]["flagged"]:  # "off": nothing arrives at max HTL
                assert math.isnan(p)
                continue
            for lo, hi in (r[name]["ci_wilson"], r[name]["ci_bootstrap"]):
                assert lo <= p <= hi
    c = collusion(on, 10, seed=3)
    assert 0.0 <= c["held_max"]["singled_out"] <= c["seen"] <= 1.0


def test_wilson_interval() -> None:
    lo, hi = wilson(50, 100)
    assert math.isclose(lo, 0.4038, abs_tol=1e-4) and math.isclose(hi, 0.5962, abs_tol=1e-4)
    assert math.isclose(wilson(0, 10)[0], 0.0, abs_tol=1e-12)
    assert math.isclose(wilson(10, 10)[1], 1.0)


def test_relays_at_max_that_do_not_answer_leave_the_chain_uncut() -> None:
    """In the core no relay holding max answers from its store; with relays that do
    (the core before), some answer for popular keys; tables from another network apply."""
    old = inference(simulate(200, 600, 3, "on", answer_at_max=True))
    assert old["chain_cut"]["answered_at_max"] > 0
    variant = inference_seeds(200, 600, [3, 4], "on")
    assert all(s["chain_cut"]["answered_at_max"] == 0 for s in variant["per_seed"])
    assert variant["pooled"]["bayes_cross"]["flagged"] > 0


def test_hold_by_degree_runs_and_restores_the_core() -> None:
    """The bench-only 'keep max HTL by the receiver's degree' variant patches
    routing.route only while it runs."""
    route, looked_up = routing.route, routing.looked_up
    r = inference_seeds(200, 600, [3], "on", degree_hold=True)
    assert r["pooled"]["held_max"]["flagged"] > 0
    assert routing.route is route and routing.looked_up is looked_up
