"""Burst decisions: hysteresis, proportional weights with a dead band, state on the VirtualService."""
import json

import pytest

from ansible_collections.meshops.istio.plugins.module_utils import burst as bu

T0 = 1767225600.0  # 2026-01-01T00:00:00Z


def run(rates, proportional=False, high=15, low=10, step=10, start=0, service="worker-service"):
    """Feed ``rates`` through decide() the way the module does; returns the decisions."""
    state = bu.initial_state(start)
    out = []
    for i, rate in enumerate(rates):
        d = bu.decide(rate, state, high, low, proportional, step, now=T0 + 60 * i, service=service)
        state = {"in_burst": d["in_burst"], "burst_weight": d["burst_weight"], "since": d["since"]}
        out.append(d)
    return out


def test_default_query_is_the_codelabs():
    assert bu.default_query() == (
        'sum(rate(istio_requests_total{reporter="destination",'
        'destination_service="worker-service.default.svc.cluster.local",'
        'source_workload="frontend-deployment"}[15s]))')
    assert 'destination_service="worker.shop.svc.cluster.local"' in bu.default_query("worker", "shop")
    assert "[1m]" in bu.default_query(window="60s")


def test_ramp_5_20_5_enters_then_leaves():
    decisions = run([5, 20, 20, 5])
    assert [d["action"] for d in decisions] == ["stay", "enter", "stay", "leave"]
    assert [d["burst_weight"] for d in decisions] == [0, 100, 100, 0]
    assert decisions[1]["reason"] == "20.00 req/s is above high (15)"
    assert decisions[3]["reason"] == "5.00 req/s is below low (10)"
    assert decisions[1]["since"] == "2026-01-01T00:01:00Z" == decisions[2]["since"]
    assert decisions[3]["since"] == "2026-01-01T00:03:00Z"


@pytest.mark.parametrize("rates, weights", [
    ([14, 16, 14, 16, 14, 16], [0, 100, 100, 100, 100, 100]),   # around high: one entry, no flapping
    ([20, 9, 11, 9, 11], [100, 0, 0, 0, 0]),                     # around low: one exit
    ([15, 15, 10, 10], [0, 0, 0, 0]),                            # the thresholds themselves do not trigger
    ([12, 13, 14, 12, 11], [0, 0, 0, 0, 0]),                     # between the thresholds nothing moves
])
def test_hysteresis(rates, weights):
    assert [d["burst_weight"] for d in run(rates)] == weights


def test_no_sample_counts_as_no_traffic():
    decisions = run([20, None])
    assert decisions[1]["action"] == "leave" and decisions[1]["rate"] is None
    assert decisions[1]["reason"].startswith("no sample (no traffic to worker-service): 0.00 req/s is below low")


def test_no_sample_names_the_service_it_watched():
    decisions = run([20, None], service="checkout.shop.svc.cluster.local")
    assert decisions[1]["reason"].startswith("no sample (no traffic to checkout.shop.svc.cluster.local): ")
    assert "worker" not in decisions[1]["reason"]


def test_proportional_follows_the_load_in_steps():
    decisions = run([5, 11, 12.5, 14, 16, 12.5, 9], proportional=True)
    assert [d["burst_weight"] for d in decisions] == [0, 20, 50, 80, 100, 50, 0]
    assert [d["action"] for d in decisions] == ["stay", "enter", "adjust", "adjust", "adjust", "adjust", "leave"]
    assert decisions[2]["reason"] == "12.50 req/s puts the burst share at 50% (low 10 = 0%, high 15 = 100%)"


def test_proportional_dead_band_stops_flapping_between_steps():
    # 12.75 req/s is the rounding point between 50% and 60%: hovering around it changes nothing.
    decisions = run([12.5, 12.7, 12.8, 12.7, 12.8, 12.9], proportional=True)
    assert [d["burst_weight"] for d in decisions] == [50] * 6
    # A move needs more than one step of change.
    assert [d["burst_weight"] for d in run([12.5, 13.1], proportional=True)] == [50, 60]


@pytest.mark.parametrize("high, low, step, message", [
    (10, 10, 10, "high (10) must be above low (10)"),
    (10, 15, 10, "high (10) must be above low (15)"),
    (15, -1, 10, "low (-1) must be 0 or more"),
    (15, 10, 0, "step (0) must be between 1 and 100"),
])
def test_bad_settings(high, low, step, message):
    with pytest.raises(bu.BurstError, match=message.replace("(", r"\(").replace(")", r"\)")):
        bu.decide(1, bu.initial_state(), high, low, step=step)


def vs_with(annotation):
    return {"metadata": {"annotations": {bu.STATE_ANNOTATION: annotation}}} if annotation is not None else {}


def test_state_round_trip_and_stale_annotation():
    state = {"in_burst": True, "burst_weight": 100, "since": "2026-01-01T00:01:00Z"}
    text = bu.state_annotation(state)
    assert json.loads(text) == state
    assert bu.read_state(vs_with(text), 100) == state
    # Someone put the weights back by hand: the weights win.
    fresh = bu.read_state(vs_with(text), 0)
    assert fresh["in_burst"] is False and fresh["burst_weight"] == 0 and "changed outside" in fresh["note"]
    # No annotation yet: the state comes from the weights.
    assert bu.read_state(vs_with(None), 30) == {"in_burst": True, "burst_weight": 30, "since": None}
    with pytest.raises(bu.BurstError, match="is not the JSON this module writes"):
        bu.read_state(vs_with("{not json"), 0)


def test_weights_and_summary():
    assert bu.weights("primary", "burst", 30) == {"primary": 70, "burst": 30}
    lines = bu.summary(run([20]), "primary", "burst")
    assert lines == ["2026-01-01T00:00:00Z enter: 20.00 req/s is above high (15) -> primary 0% / burst 100%"]
