"""release/state.py: a quiet canary holds in waiting-for-traffic up to analysis.traffic_wait; loadgen.py: the load Job."""
import pytest

from ansible_collections.meshops.istio.plugins.module_utils import loadgen
from ansible_collections.meshops.istio.plugins.module_utils import prometheus as prom
from ansible_collections.meshops.istio.plugins.module_utils.release import analysis as ra
from ansible_collections.meshops.istio.plugins.module_utils.release import state as rl
from ansible_collections.meshops.istio.plugins.module_utils import release_report as report

T0 = 1_800_000_000.0
HEALTHY = dict(requests=300.0, success_rate=99.8, latency_p99=120.0)
QUIET = dict(requests=3.0, success_rate=100.0, latency_p99=20.0)
SILENT = dict(requests=None, success_rate=None, latency_p99=None)


def analysis(**kw):
    base = dict(interval="30s", success_rate=99, latency_p99=500, min_requests=20, threshold=0, traffic_wait="5m")
    base.update(kw)
    return ra.validate_analysis(base, prom.seconds)


def started(**kw):
    return rl.new_release("reviews-v2", "reviews", "bookinfo", "v1", "v2", [10, 50, 100], analysis(**kw), T0)


def look(state, measured, now):
    return rl.after_analysis(state, ra.decide(state["analysis"], measured), measured, now)


def test_traffic_wait_setting():
    assert analysis()["traffic_wait"] == 300
    assert ra.validate_analysis({"success_rate": 99}, prom.seconds)["traffic_wait"] == rl.DEFAULT_TRAFFIC_WAIT == 600
    assert analysis(traffic_wait=0)["traffic_wait"] == 0
    with pytest.raises(rl.ReleaseError) as err:
        analysis(traffic_wait="soon")
    assert "analysis.traffic_wait is 'soon', not a duration" in str(err.value)
    with pytest.raises(rl.ReleaseError) as err:
        analysis(traffic_wait=-1)
    assert "analysis.traffic_wait is -1; it cannot be negative" in str(err.value)


@pytest.mark.parametrize("measured", [QUIET, SILENT, dict(requests=0.0, success_rate=None, latency_p99=None)])
def test_a_quiet_canary_holds_without_a_failed_analysis(measured):
    state = started()
    held, outcome = look(state, measured, T0 + 30)
    assert outcome == "waiting" and held["phase"] == rl.WAITING
    assert held["weights"] == state["weights"] == {"v1": 90, "v2": 10}
    assert held["failed_checks"] == 0 and held["passed_checks"] == 0 and held["step"] == 0
    assert held["waiting_since"] == T0 + 30 and held["since"] == T0 + 30
    entry = held["history"][-1]
    assert entry["event"] == "analysis" and entry["phase"] == rl.WAITING and entry["status"] == "no_traffic"
    assert entry["message"].startswith("Waiting for traffic at 10%: ")
    assert "weights unchanged, no failed analysis counted; the release fails if none comes within 5m" in entry["message"]
    assert "too few to judge v2" in entry["message"]
    # The next look comes one interval later, and the summary says when the release gives up.
    assert rl.analysis_due(held, T0 + 30) == 30
    text = rl.summary(held, T0 + 40)
    assert "waiting-for-traffic, step 1/3 - v1 90% / v2 10%" in text
    assert "Failed analyses: 0 of 0 tolerated" in text
    assert "Next: waiting for traffic since " in text and "(analysis.traffic_wait 5m)" in text


def test_more_quiet_looks_extend_one_history_entry():
    state = started()
    state, _ = look(state, QUIET, T0 + 30)
    size = len(state["history"])
    state, outcome = look(state, QUIET, T0 + 60)
    state, outcome = look(state, SILENT, T0 + 90)
    assert outcome == "waiting" and len(state["history"]) == size
    assert state["history"][-1]["looks"] == 3 and state["waiting_since"] == T0 + 30
    assert state["failed_checks"] == 0


def test_traffic_that_comes_lets_the_step_go_on():
    state = started()
    state, _ = look(state, QUIET, T0 + 30)
    state, outcome = look(state, HEALTHY, T0 + 90)
    assert outcome == "advanced" and state["phase"] == rl.PROGRESSING and state["weights"] == {"v1": 50, "v2": 50}
    assert "waiting_since" not in state
    events = [(h["event"], h["phase"]) for h in state["history"]]
    assert events == [("start", "progressing"), ("analysis", rl.WAITING), ("traffic", "progressing"),
                      ("analysis", "progressing"), ("advance", "progressing")]
    assert state["history"][2]["message"] == "Traffic came after 1m of waiting at 10%."


def test_traffic_that_comes_is_still_judged():
    """Enough requests, and they are bad: a failed analysis as usual (threshold 0: rolled back)."""
    state = started()
    state, _ = look(state, QUIET, T0 + 30)
    bad = dict(HEALTHY, success_rate=80.0)
    state, outcome = look(state, bad, T0 + 60)
    assert outcome == "rolled_back" and state["failed_checks"] == 1 and state["weights"] == {"v1": 100, "v2": 0}


def test_a_custom_check_without_data_still_fails_when_traffic_is_there():
    state = started(checks=[{"name": "errors", "query": "x", "max": 1}])
    measured = dict(HEALTHY, errors=None)
    result = ra.decide(state["analysis"], measured)
    assert result["status"] == "failed"
    state, outcome = rl.after_analysis(state, result, measured, T0 + 30)
    assert outcome == "rolled_back" and state["failed_checks"] == 1


def test_silence_longer_than_the_limit_fails_the_release():
    state = started(traffic_wait="1m")
    state, _ = look(state, QUIET, T0 + 30)
    state, outcome = look(state, QUIET, T0 + 60)
    assert outcome == "waiting"
    state, outcome = look(state, dict(requests=4.0, success_rate=100.0, latency_p99=20.0), T0 + 90)
    assert outcome == "rolled_back" and state["phase"] == rl.FAILED
    assert state["weights"] == {"v1": 100, "v2": 0} and state["failed_checks"] == 0
    last = state["history"][-1]
    assert last["event"] == "rollback" and last["reason"] == "no_traffic" and last["values"]["requests"] == 4.0
    assert state["message"] == ("Rolled back to 100% v1: at 10% the canary had too few requests to be judged for 1m, "
                                "and analysis.traffic_wait is 1m (the last analysis saw 4 requests (min 20) in its "
                                "30s window).")
    assert "waiting_since" not in state


@pytest.mark.parametrize("now", [T0 + 30, T0 + 30.0006, T0 + 30.0004])
def test_traffic_wait_zero_fails_at_the_first_quiet_look(now):
    """Also when the time stored for the start of the wait (rounded to the millisecond) is later than the look."""
    state, outcome = look(started(traffic_wait=0), SILENT, now)
    assert outcome == "rolled_back" and state["failed_checks"] == 0
    assert "for 0s, and analysis.traffic_wait is 0s (the last analysis saw no requests (min 20)" in state["message"]


def test_pause_and_resume_start_a_new_quiet_spell():
    state, _ = look(started(traffic_wait="1m"), QUIET, T0 + 30)
    state = rl.resume(rl.pause(state, T0 + 40), T0 + 200)
    assert state["phase"] == rl.PROGRESSING and "waiting_since" not in state
    state, outcome = look(state, QUIET, T0 + 230)
    assert outcome == "waiting" and state["waiting_since"] == T0 + 230


def test_waiting_is_rechecked_no_faster_than_the_floor():
    state, _ = look(started(interval=0), QUIET, T0 + 30)
    assert rl.analysis_due(state, T0 + 30) == rl.TRAFFIC_RECHECK


def test_the_report_marks_the_quiet_look():
    state, _ = look(started(), SILENT, T0 + 30)
    state, _ = look(state, HEALTHY, T0 + 60)
    _weights, rates = report.series(state)
    assert [rate for _t, rate in rates] == [None, 99.8]


def test_span():
    assert [rl.span(s) for s in (0, 45, 60, 90, 3600, 5400, 86400)] == ["0s", "45s", "1m", "1m30s", "1h", "1h30m", "24h"]


# -- loadgen ------------------------------------------------------------------------------------

def test_load_settings():
    assert loadgen.validate(None, prom.seconds) is None
    assert loadgen.validate({"connections": 2, "path": "/", "image": loadgen.IMAGE}, prom.seconds) is None
    load = loadgen.validate({"rate": 20, "duration": "2m"}, prom.seconds)
    assert load == dict(rate=20.0, duration=120.0, connections=2, url=None, port=None, path="/", image=loadgen.IMAGE)


@pytest.mark.parametrize("load,message", [
    ({"duration": "1m"}, "load needs rate: requests per second"),
    ({"rate": -5}, "load.rate is -5; it must be requests per second, more than 0"),
    ({"rate": 10, "connections": 0}, "load.connections is 0; it must be from 1 to 1000"),
    ({"rate": 10, "duration": "0.5"}, "load.duration is 0.5s; it must be at least 1s"),
    ({"rate": 10, "duration": "soon"}, "load.duration is 'soon', not a duration"),
    ({"rate": 10, "url": "reviews:9080"}, "load.url"),
    ({"rate": 10, "url": "http://reviews:9080/", "port": 9080}, "Give load.url or load.port"),
    ({"rate": 10, "port": 70000}, "load.port is 70000"),
    ({"rate": 10, "path": "health"}, "load.path is 'health'; it must start with /"),
])
def test_bad_load_settings(load, message):
    with pytest.raises(loadgen.LoadError) as err:
        loadgen.validate(load, prom.seconds)
    assert message in str(err.value)


def test_target_url():
    load = loadgen.validate({"rate": 5}, prom.seconds)
    assert loadgen.target_url(load, "reviews", "bookinfo", [9080, 9090]) == "http://reviews.bookinfo:9080/"
    assert loadgen.target_url(dict(load, port=8000, path="/get"), "httpbin", "x", []) == "http://httpbin.x:8000/get"
    assert loadgen.target_url(dict(load, url="http://a.b:1/c"), "reviews", "bookinfo", []) == "http://a.b:1/c"
    with pytest.raises(loadgen.LoadError) as err:
        loadgen.target_url(load, "reviews", "bookinfo", [])
    assert "Service bookinfo/reviews has no port to send load to (or does not exist); give load.url" in str(err.value)


def test_job_manifest():
    load = loadgen.validate({"rate": 12.5, "connections": 3}, prom.seconds)
    assert loadgen.duration_of(load, 60, 30) == 90
    assert loadgen.duration_of(dict(load, duration=45.0), 60, 30) == 45
    job = loadgen.manifest("reviews-v2", "bookinfo", T0 + 0.25, load, "http://reviews.bookinfo:9080/", 90)
    assert job["metadata"]["name"] == "reviews-v2-load-1800000000"
    assert job["metadata"]["labels"][loadgen.RELEASE_LABEL] == "reviews-v2"
    pod = job["spec"]["template"]
    assert pod["metadata"]["labels"]["sidecar.istio.io/inject"] == "true"
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "fortio/fortio:latest_release"
    assert container["args"] == ["load", "-qps", "12.5", "-t", "90s", "-c", "3", "-allow-initial-errors",
                                 "http://reviews.bookinfo:9080/"]
    assert job["spec"]["activeDeadlineSeconds"] == 90 + loadgen.DEADLINE_SLACK and job["spec"]["backoffLimit"] == 0
    long = loadgen.job_name("a" * 63, T0)
    assert len(long) <= 63 and long.endswith("-load-1800000000")
