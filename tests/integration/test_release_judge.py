"""istio_release judging the canary against the stable version: analysis.compare and the Mann-Whitney judge,
end to end - kubesim + meshsim (per-version error rates and latencies) + a real Prometheus, real ansible-playbook.

Windows of 16s sampled every 2s give each version 8 samples per analysis, so the judge can reach the 0.999
confidence the tests use (an equal canary is then wrongly blamed about once in a thousand runs per metric).
"""
import time
import xml.etree.ElementTree as ET

import pytest

from tests.integration.release_env import ReleaseEnv
from tests.integration.test_release import failure, release, split, state_of

SVG = {"s": "http://www.w3.org/2000/svg"}
JUDGE = {"test": "mann-whitney", "confidence": 0.999, "sample_interval": 2, "min_samples": 5}
COMPARE = {"success_rate_drop": 5, "latency_p99_ratio": 1.5}
# Fixed bounds a canary with 10% errors and a 60ms median stays inside.
ANALYSIS = {"interval": 16, "window": 16, "success_rate": 80, "latency_p99": 500, "min_requests": 10,
            "threshold": 0, "compare": COMPARE, "judge": JUDGE}
BAD = {"error_rate": 0.1, "latency_ms": 60}


@pytest.fixture(scope="module")
def env(kubesim_istio_module):
    env = ReleaseEnv(kubesim_istio_module)
    env.prometheus.wait_scraped(4)
    yield env
    env.stop()


def checks(res):
    return dict((c["name"], c) for c in res["analysis"]["checks"])


def test_a_canary_worse_than_stable_inside_the_fixed_bounds_is_caught(env, run_playbook, tmp_path):
    ns = env.namespace(rate=300, versions={"v1": {"latency_ms": 20}, "v2": BAD, "v3": {}})
    report = tmp_path / "reviews-v2.md"
    run, res = release(run_playbook, env, ns, "run", canary="v2", steps=[50, 100], analysis=ANALYSIS,
                       report=str(report))
    assert run.rc != 0
    assert res["outcomes"] == ["started", "rolled_back"] and split(env, ns) == {"v1": 100}
    found = checks(res)
    # The fixed bounds alone would have let it through.
    assert all(found[name]["passed"] for name in ("requests", "success_rate", "latency_p99")), found
    assert res["analysis"]["failed"] == ["compare_success_rate", "compare_latency_p99", "judge_success_rate",
                                         "judge_latency_p99"]
    sr = found["compare_success_rate"]
    assert 85 < sr["value"] < 95 and sr["stable"] == 100, "about 90% of v2's requests succeed, all of v1's"
    p99 = found["compare_latency_p99"]
    assert p99["value"] > 1.5 * p99["stable"]
    for name in ("judge_success_rate", "judge_latency_p99"):
        judged = found[name]
        assert judged["test"] == "mann-whitney" and judged["verdict"] == "canary worse"
        assert judged["p_value"] < 0.001 and judged["samples"]["canary"] >= 5 and judged["samples"]["stable"] >= 5
        assert "one-sided Mann-Whitney U=" in judged["text"]
    assert found["judge_success_rate"]["u"] == 0, "every canary sample is below every stable one (all 100%)"
    msg = failure(run)
    assert msg.startswith("Release reviews-v2 rolled back to 100% v1: the analysis at 50% failed - success_rate canary ")
    assert "judge success_rate: canary median " in msg and "< 0.001 (confidence 99.9%): canary worse" in msg
    # The report shows both versions, the verdict and the p-values of the step.
    analysed = [h for h in state_of(env, ns)["history"] if h["event"] == "analysis"]
    compared = analysed[0]["compared"]
    assert compared["judge"]["verdict"] == "canary worse"
    chart = ET.fromstring((tmp_path / "reviews-v2-steps.svg").read_text())
    (canary_sr,) = chart.findall("s:circle[@class='canary-success-rate']", SVG)
    assert canary_sr.find("s:title", SVG).text == "canary success_rate %s%%" % (
        ("%.2f" % compared["canary"]["success_rate"]).rstrip("0").rstrip("."))
    (stable_p99,) = chart.findall("s:circle[@class='stable-latency-p99']", SVG)
    assert stable_p99.find("s:title", SVG).text.startswith("stable latency_p99 ")
    assert [t.text for t in chart.findall("s:text[@class='verdict']", SVG)] == ["canary worse"]
    page = report.read_text()
    assert "![Both versions per analysed step](reviews-v2-steps.svg)" in page
    (row,) = [line for line in page.splitlines() if line.startswith("| #1 |")]
    assert "| v1 50% / v2 50% |" in row and "/ 100% |" in row and "| failed | canary worse | latency_p99 " in row
    env.done(ns)


def test_a_canary_as_bad_as_a_bad_stable_is_not_blamed(env, run_playbook):
    # The same 10% errors and 60ms in both versions: a bad day, not a bad canary. The versions are told apart by
    # workload here (metrics_labels), so the stable's matchers are given too.
    ns = env.namespace(rate=300, versions={"v1": BAD, "v2": BAD, "v3": {}})
    run, res = release(run_playbook, env, ns, "run", canary="v2", steps=[50, 100], analysis=ANALYSIS,
                       metrics_labels={"destination_workload": "reviews-v2"},
                       stable_metrics_labels={"destination_workload": "reviews-v1"})
    assert run.rc == 0, run
    assert res["outcomes"] == ["started", "advanced", "promoted"] and split(env, ns) == {"v2": 100}
    first, last = [h for h in state_of(env, ns)["history"] if h["event"] == "analysis"]
    assert first["passed"] and first["compared"]["judge"]["verdict"] == "canary not worse"
    assert abs(first["compared"]["canary"]["success_rate"] - first["compared"]["stable"]["success_rate"]) < 5
    assert all(p >= 0.001 for p in first["compared"]["judge"]["p_values"].values())
    assert 80 < first["values"]["success_rate"] < 95, "the fixed bound passes it, as it would any 90% version"
    # At 100% the stable version serves nothing: the last step is judged by the fixed bounds alone.
    assert last["passed"] and last["compared"] == {"skipped": "the stable version serves no traffic at this step"}
    assert [c["name"] for c in res["analysis"]["checks"]] == ["requests", "success_rate", "latency_p99"]
    env.done(ns)


def test_too_few_samples_is_not_enough_samples_not_a_verdict(env, run_playbook):
    ns = env.namespace(rate=300)
    # 20 samples of 2s in the window, 15 needed; the canary gets traffic from the start only, a few seconds
    # (and two ansible-playbook runs) before the step.
    analysis = dict(ANALYSIS, interval=0, window=40, threshold=1, judge=dict(JUDGE, min_samples=15))
    run, res = release(run_playbook, env, ns, "start", canary="v2", steps=[50, 100], analysis=analysis)
    assert run.rc == 0 and res["outcome"] == "started", run
    started = time.time()
    time.sleep(4)
    step, res = release(run_playbook, env, ns, "step", canary="v2", analysis=analysis)
    assert res["analysis"]["status"] == "no_traffic" and not res["analysis"]["passed"], step
    found = checks(res)
    assert found["requests"]["passed"], "the canary had requests; what it lacks is samples over the window"
    assert found["compare_success_rate"]["passed"]
    for name in ("judge_success_rate", "judge_latency_p99"):
        assert found[name]["reason"] == "not_enough_samples" and found[name]["p_value"] is None
        assert found[name]["samples"]["canary"] < 15 and found[name]["samples"]["stable"] >= 1
        assert found[name]["samples"]["canary"] <= (time.time() - started) / 2 + 2
        assert "not enough samples (" in found[name]["text"] and "need 15 of each)" in found[name]["text"]
    assert split(env, ns) == {"v1": 50, "v2": 50}, "no verdict, no move"
    env.done(ns)


def test_bad_comparison_settings_are_refused_and_nothing_changes(env, run_playbook):
    ns = env.namespace(rate=0)
    env.sim.clear_request_log()
    cases = [
        (dict(analysis=dict(ANALYSIS, judge=dict(JUDGE, sample_interval=8))),
         "analysis.window (16s) holds 2 samples of 8s, and the judge needs min_samples 5 per version"),
        (dict(analysis=dict(ANALYSIS, compare={"success_rate_drop": -1})),
         "analysis.compare.success_rate_drop (percentage points below the stable's success rate) is -1"),
        (dict(analysis=dict(ANALYSIS, judge=dict(JUDGE, confidence=1.5))), "analysis.judge.confidence is 1.5"),
        (dict(analysis=ANALYSIS, metrics_labels={"destination_workload": "reviews-v2"}),
         "metrics_labels selects the canary's metrics, so analysis.compare and analysis.judge need "
         "stable_metrics_labels"),
    ]
    runs = [dict(kwargs, canary="v2", steps=[50, 100]) for kwargs, _message in cases]
    run, _result = release(run_playbook, env, ns, "start", runs=runs)
    assert run.rc != 0
    (task,) = run.results("Act on the release")
    for item, (_kwargs, message) in zip(task["results"], cases):
        assert item.get("failed") and message in item["msg"], (message, item.get("msg"))
    assert "Traceback" not in run.stdout
    assert env.sim.writes() == [] and split(env, ns) == {"v1": 100}
    env.done(ns)


def test_release_role_passes_compare_and_judge(env, run_playbook):
    ns = env.namespace(rate=300, versions={"v1": {}, "v2": BAD, "v3": {}})
    extra = {"release_namespace": ns, "release_prometheus_url": env.prometheus.url, "release_interval": 16,
             "release_steps": "50,100", "release_success_rate": 80, "release_latency_p99": 500,
             "release_min_requests": 5, "release_threshold": 0, "release_compare": {"success_rate_drop": 5},
             "release_judge": {"confidence": 0.999, "sample_interval": "2s", "metrics": ["success_rate"]}}
    run = run_playbook("release.yml", env.sim, extra_vars=extra)
    assert run.rc != 0
    (res,) = run.results("meshops.istio.release : Act on the release of the service")
    assert res["outcomes"] == ["started", "rolled_back"] and split(env, ns) == {"v1": 100}
    assert res["analysis"]["failed"] == ["compare_success_rate", "judge_success_rate"]
    assert checks(res)["judge_success_rate"]["test"] == "mann-whitney", "the module's default test"
    env.done(ns)
