"""release/state.py, release/analysis.py: plans, analysis decisions, the state machine and its annotation;
release_report rendering."""
import json
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.meshops.istio.plugins.module_utils import prometheus as prom
from ansible_collections.meshops.istio.plugins.module_utils.release import analysis as ra
from ansible_collections.meshops.istio.plugins.module_utils.release import state as rl
from ansible_collections.meshops.istio.plugins.module_utils import release_report as report

T0 = 1_800_000_000.0


def analysis(**kw):
    base = dict(interval="30s", success_rate=99, latency_p99=500, min_requests=20, threshold=1)
    base.update(kw)
    return ra.validate_analysis(base, prom.seconds)


def started(plan=(10, 25, 50, 100), **kw):
    return rl.new_release("reviews-v2", "reviews", "bookinfo", "v1", "v2", list(plan), analysis(**kw), T0)


HEALTHY = dict(requests=300.0, success_rate=99.8, latency_p99=120.0)


# -- plans ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,plan", [
    (dict(steps=[10, 25, 50, 100]), [10, 25, 50, 100]),
    (dict(steps=["10", 50]), [10, 50]),
    (dict(step_weight=20), [20, 40, 60, 80, 100]),
    (dict(step_weight=10, max_weight=50), [10, 20, 30, 40, 50]),
    (dict(step_weight=30), [30, 60, 90, 100]),
    (dict(step_weight=100), [100]),
])
def test_plans(kwargs, plan):
    assert rl.plan_weights(**kwargs) == plan


@pytest.mark.parametrize("kwargs,message", [
    (dict(steps=[10, 50, 25]), "The step plan must increase: step 3 (25%) is not more than step 2 (50%)"),
    (dict(steps=[10, 10]), "must increase"),
    (dict(steps=[0, 50]), "Step 1 of the plan is 0; it must be from 1 to 100"),
    (dict(steps=[50, 120]), "Step 2 of the plan is 120"),
    (dict(steps=[10.5, 50]), "Step 1 of the plan is 10.5, not a whole number"),
    (dict(steps=[10], step_weight=10), "not both"),
    (dict(), "A release needs a plan"),
    (dict(step_weight=30, max_weight=20), "max_weight (20) is less than step_weight (30)"),
    (dict(step_weight=-5), "step_weight is -5"),
])
def test_bad_plans(kwargs, message):
    with pytest.raises(rl.ReleaseError) as err:
        rl.plan_weights(**kwargs)
    assert message in str(err.value)


# -- analysis settings ------------------------------------------------------------------------------

def test_analysis_defaults_and_durations():
    a = ra.validate_analysis({"interval": "1m", "success_rate": "99.5"}, prom.seconds)
    assert (a["interval"], a["window"], a["success_rate"], a["min_requests"], a["threshold"]) == (60, 60, 99.5, 10, 1)
    zero = ra.validate_analysis({"interval": 0, "window": "10s", "success_rate": 99}, prom.seconds)
    assert (zero["interval"], zero["window"]) == (0, 10)
    assert ra.validate_analysis({"interval": 0, "success_rate": 99}, prom.seconds)["window"] == 60


@pytest.mark.parametrize("settings,message", [
    (dict(threshold=-1), "analysis.threshold (failed analyses tolerated) is -1; it must be from 0 to 100"),
    (dict(threshold=101), "analysis.threshold (failed analyses tolerated) is 101"),
    (dict(success_rate=120), "analysis.success_rate (minimum success rate in %) is 120; it must be from 0 to 100"),
    (dict(latency_p99=0), "analysis.latency_p99 (maximum P99 in ms) is 0; it must be more than 0"),
    (dict(interval="soon"), "analysis.interval is 'soon', not a duration"),
    (dict(window="0s"), "the metrics window must be at least 1s"),
    (dict(checks=[{"name": "x"}]), "analysis.checks[0] needs a name and a query"),
    (dict(checks=[{"name": "x", "query": "up"}]), "needs min and/or max"),
    (dict(checks=[{"name": "success_rate", "query": "up", "min": 1}]), "the name 'success_rate' is already used"),
    (dict(checks=[{"name": "x", "query": "up", "min": 5, "max": 1}]), "min 5 is more than max 1"),
    (dict(speed=3), "Unknown analysis settings speed"),
])
def test_bad_analysis(settings, message):
    with pytest.raises(rl.ReleaseError) as err:
        ra.validate_analysis(settings, prom.seconds)
    assert message in str(err.value)


def test_an_analysis_that_checks_nothing_is_refused():
    with pytest.raises(rl.ReleaseError, match="checks nothing"):
        ra.validate_analysis({"min_requests": 0}, prom.seconds)


# -- decisions --------------------------------------------------------------------------------------

def test_healthy_canary_passes():
    result = ra.decide(analysis(), HEALTHY)
    assert result["passed"] and result["status"] == "passed" and result["failed"] == []


@pytest.mark.parametrize("measured,failed,status", [
    (dict(HEALTHY, success_rate=98.9), ["success_rate"], "failed"),
    (dict(HEALTHY, latency_p99=800.0), ["latency_p99"], "failed"),
    (dict(HEALTHY, requests=5.0), ["requests"], "no_traffic"),
    (dict(requests=None, success_rate=None, latency_p99=None), ["requests", "success_rate", "latency_p99"], "no_traffic"),
    (dict(HEALTHY, success_rate=None), ["success_rate"], "failed"),
])
def test_failed_and_empty_checks(measured, failed, status):
    result = ra.decide(analysis(), measured)
    assert not result["passed"] and result["failed"] == failed and result["status"] == status


def test_no_traffic_never_passes_even_without_min_requests():
    result = ra.decide(analysis(min_requests=0), dict(requests=None, success_rate=None, latency_p99=None))
    assert not result["passed"]
    assert ra.failure_text(result) == "success_rate no data (min 99%), latency_p99 no data (max 500ms)"


def test_custom_checks():
    a = analysis(checks=[{"name": "error_budget", "query": "x", "max": 2}, {"name": "rps", "query": "y", "min": 1}])
    ok = ra.decide(a, dict(HEALTHY, error_budget=1.5, rps=3))
    bad = ra.decide(a, dict(HEALTHY, error_budget=2.5, rps=None))
    assert ok["passed"] and bad["failed"] == ["error_budget", "rps"]
    assert ra.failure_text(bad) == "error_budget 2.5 (max 2), rps no data (min 1)"


# -- the state machine ------------------------------------------------------------------------------

def test_healthy_release_walks_the_plan_and_promotes():
    state = started()
    assert state["weights"] == {"v1": 90, "v2": 10} and state["phase"] == "progressing"
    outcomes = []
    now = T0
    for _attempt in range(4):
        now += 30
        state, outcome = rl.after_analysis(state, ra.decide(analysis(), HEALTHY), HEALTHY, now)
        outcomes.append((outcome, state["weights"]))
    assert outcomes == [("advanced", {"v1": 75, "v2": 25}), ("advanced", {"v1": 50, "v2": 50}),
                        ("advanced", {"v1": 0, "v2": 100}), ("promoted", {"v2": 100, "v1": 0})]
    assert state["phase"] == "succeeded" and state["passed_checks"] == 4
    assert [h["event"] for h in state["history"]] == ["start"] + ["analysis", "advance"] * 3 + ["analysis", "promote"]


def test_failures_are_tolerated_up_to_the_threshold_then_roll_back():
    state = started(threshold=1)
    bad = dict(HEALTHY, success_rate=70.0)
    state, outcome = rl.after_analysis(state, ra.decide(analysis(), bad), bad, T0 + 30)
    assert outcome == "held" and state["weights"] == {"v1": 90, "v2": 10} and state["failed_checks"] == 1
    assert state["since"] == T0 + 30, "the next analysis waits for a fresh window"
    state, outcome = rl.after_analysis(state, ra.decide(analysis(), bad), bad, T0 + 60)
    assert outcome == "rolled_back" and state["phase"] == "failed" and state["weights"] == {"v1": 100, "v2": 0}
    assert state["message"] == ("Rolled back to 100% v1: success_rate 70% (min 99%), failed analyses 2 > threshold 1.")


def test_threshold_zero_rolls_back_at_the_first_failure():
    state = started(threshold=0)
    slow = dict(HEALTHY, latency_p99=900.0)
    state, outcome = rl.after_analysis(state, ra.decide(analysis(threshold=0), slow), slow, T0 + 30)
    assert outcome == "rolled_back" and "latency_p99 900ms (max 500ms)" in state["message"]


def test_pause_resume_abort_promote():
    state = rl.pause(started(), T0 + 5, "Prometheus unreachable")
    assert state["phase"] == "paused" and state["weights"] == {"v1": 90, "v2": 10}
    assert "Prometheus unreachable; weights unchanged (v1 90% / v2 10%)" in state["message"]
    state = rl.resume(state, T0 + 100)
    assert state["phase"] == "progressing" and rl.analysis_due(state, T0 + 110) == 20
    assert rl.abort(state, T0 + 120)["weights"] == {"v1": 100, "v2": 0}
    promoted = rl.promote(state, T0 + 120)
    assert promoted["phase"] == "succeeded" and promoted["weights"] == {"v2": 100, "v1": 0}


def test_annotation_round_trip_and_history_limit():
    state = started()
    for i in range(rl.HISTORY_LIMIT + 50):
        state = rl.pause(state, T0 + i) if i % 2 == 0 else rl.resume(state, T0 + i)
    text = rl.dump(state)
    loaded = rl.load({rl.ANNOTATION: text})
    assert len(loaded["history"]) == rl.HISTORY_LIMIT
    assert loaded["weights"] == state["weights"] and loaded["name"] == "reviews-v2"
    assert rl.load({}) is None
    with pytest.raises(rl.ReleaseError, match="not valid JSON"):
        rl.load({rl.ANNOTATION: "{oops"})
    with pytest.raises(rl.ReleaseError, match="cannot read"):
        rl.load({rl.ANNOTATION: json.dumps({"version": 99})})


def test_ownership_and_same_settings():
    state = started()
    rl.check_owner(state, "reviews-v2")
    rl.check_owner(rl.abort(state, T0), "reviews-v3"), "a finished release owns nothing"
    with pytest.raises(rl.ReleaseError) as err:
        rl.check_owner(state, "reviews-v3")
    assert str(err.value).startswith("The VirtualService of reviews is owned by another release, 'reviews-v2' "
                                     "(progressing, canary v2 at 10%")
    with pytest.raises(rl.ReleaseError, match="already progressing with canary v2, not v3"):
        rl.check_same(state, "v1", "v3", [10, 25, 50, 100])
    with pytest.raises(rl.ReleaseError, match=r"plan \[10, 25, 50, 100\], not \[50, 100\]"):
        rl.check_same(state, "v1", "v2", [50, 100])


def test_summary_reads_like_a_status_line():
    state = started()
    state, _event = rl.after_analysis(state, ra.decide(analysis(), HEALTHY), HEALTHY, T0 + 30)
    text = rl.summary(state, T0 + 40)
    assert text.splitlines()[0] == "Release reviews-v2 of reviews.bookinfo: progressing, step 2/4 - v1 75% / v2 25%."
    assert "Last analysis (" in text and "success_rate 99.8% (min 99%)" in text
    assert text.splitlines()[-1].startswith("Next: analysis in 20s (at ") and text.endswith("if it passes, 50% to v2.")
    assert rl.summary(None, T0) == "No release on this VirtualService."


# -- the report -------------------------------------------------------------------------------------

def test_report_chart_and_markdown():
    state = started()
    now = T0
    for measured in (HEALTHY, dict(requests=0.0, success_rate=None, latency_p99=None), HEALTHY, HEALTHY):
        now += 30
        state, _event = rl.after_analysis(state, ra.decide(analysis(threshold=2), measured), measured, now)
    chart = report.svg(state)
    root = ET.fromstring(chart)
    ns = {"s": "http://www.w3.org/2000/svg"}
    weight = root.find("s:polyline[@id='weight']", ns).get("points").split()
    ys = [float(p.split(",")[1]) for p in weight]
    assert ys[0] > ys[-1], "the canary weight line rises"
    assert len(root.findall("s:circle[@class='rate']", ns)) == 3
    assert len(root.findall("s:text[@class='no-data']", ns)) == 1, "no traffic is marked, not plotted as a rate"
    page = report.markdown(state, now, "reviews-v2.svg")
    assert "![Canary weight and success rate over time](reviews-v2.svg)" in page
    assert "| Plan (canary %) | 10, 25, 50, 100 |" in page
    rows = [line for line in page.splitlines() if line.startswith("| 20")]
    assert len(rows) == len(state["history"])
    assert any("| analysis | v1 90% / v2 10% | 300 | 99.8% | 120 ms |" in r for r in rows)
