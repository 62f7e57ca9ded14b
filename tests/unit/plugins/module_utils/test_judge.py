"""judge.py: the Mann-Whitney U test against scipy, comparative and statistical checks, their settings,
how release.decide uses them, and the per-step report chart."""
import math
import random
import xml.etree.ElementTree as ET

import pytest
from scipy.stats import mannwhitneyu

from ansible_collections.meshops.istio.plugins.module_utils import judge as jd
from ansible_collections.meshops.istio.plugins.module_utils import prometheus as prom
from ansible_collections.meshops.istio.plugins.module_utils.release import analysis as ra
from ansible_collections.meshops.istio.plugins.module_utils.release import state as rl
from ansible_collections.meshops.istio.plugins.module_utils import release_report as report

T0 = 1_800_000_000.0
SVG = {"s": "http://www.w3.org/2000/svg"}


def analysis(**kw):
    base = dict(interval="60s", success_rate=90, latency_p99=500, min_requests=20, threshold=1)
    base.update(kw)
    return ra.validate_analysis(base, prom.seconds)


JUDGE = dict(test="mann-whitney", confidence=0.95, sample_interval="5s", min_samples=5)


# -- the U test, against scipy ----------------------------------------------------------------------

def _samples(rng, n, tied, shift):
    if tied:
        return [rng.randint(0, 4) + shift for _ in range(n)]
    return [rng.random() + shift for _ in range(n)]


@pytest.mark.parametrize("tied", [False, True], ids=["untied", "tied"])
@pytest.mark.parametrize("alternative", ["less", "greater", "two-sided"])
def test_u_and_p_value_equal_scipy(tied, alternative):
    rng = random.Random(13 + tied)
    compared = 0
    for _ in range(300):
        n1, n2 = rng.randint(1, 14), rng.randint(1, 14)
        x = _samples(rng, n1, tied, rng.choice([0, 0.3, 1]))
        y = _samples(rng, n2, tied, 0)
        methods = ["auto", "asymptotic"] + (["exact"] if len(set(x + y)) == n1 + n2 else [])
        for method in methods:
            expected = mannwhitneyu(x, y, alternative=alternative, method=method)
            got = jd.mann_whitney_u(x, y, alternative, method)
            assert got["u"] == pytest.approx(float(expected.statistic), abs=1e-9)
            assert got["p_value"] == pytest.approx(float(expected.pvalue), rel=1e-9, abs=1e-15), (x, y, method)
            compared += 1
    assert compared > 600


def test_auto_chooses_as_scipy_does():
    small = [1.0, 2.0, 3.0]
    assert jd.mann_whitney_u(small, [4.0, 5.0, 6.0], "less")["method"] == "exact"
    assert jd.mann_whitney_u(small, [3.0, 5.0, 6.0], "less")["method"] == "asymptotic", "a tie"
    big = [float(i) for i in range(9)]
    assert jd.mann_whitney_u(big, [i + 0.5 for i in range(9)], "less")["method"] == "asymptotic"
    assert jd.mann_whitney_u(big[:8], [i + 0.5 for i in range(30)], "less")["method"] == "exact"


def test_exact_distribution_counts_every_ordering():
    for n1, n2 in ((1, 1), (2, 3), (4, 4), (8, 20), (5, 12)):
        counts = jd.u_counts(n1, n2)
        assert len(counts) == n1 * n2 + 1
        assert sum(counts) == math.comb(n1 + n2, n1)
        assert counts == counts[::-1], "U is symmetric around n1*n2/2"
    # 2 against 2: orderings by U = 0..4 are 1, 1, 2, 1, 1.
    assert jd.u_counts(2, 2) == [1, 1, 2, 1, 1]
    # Completely separated samples give the smallest p-value there is.
    res = jd.mann_whitney_u([1, 2, 3, 4, 5], [6, 7, 8, 9, 10], "less")
    assert res["u"] == 0 and res["p_value"] == pytest.approx(1 / 252) == pytest.approx(jd.smallest_p(5, 5))


def test_all_values_tied_is_no_evidence():
    res = jd.mann_whitney_u([100.0] * 8, [100.0] * 8, "less")
    assert res["p_value"] == 1.0 and float(mannwhitneyu([100.0] * 8, [100.0] * 8, alternative="less").pvalue) == 1.0


def test_bad_test_input():
    with pytest.raises(ValueError, match="at least one value"):
        jd.mann_whitney_u([], [1.0])
    with pytest.raises(ValueError, match="only without ties"):
        jd.mann_whitney_u([1.0, 2.0], [2.0, 3.0], "less", "exact")
    with pytest.raises(ValueError, match="alternative is 'worse'"):
        jd.mann_whitney_u([1.0], [2.0], "worse")


# -- settings ---------------------------------------------------------------------------------------

def test_settings_are_normalised_and_kept_through_the_state():
    cfg = analysis(compare=dict(success_rate_drop=1, latency_p99_ratio=None), judge=dict(JUDGE, metrics=None))
    assert cfg["compare"] == {"success_rate_drop": 1.0}
    assert cfg["judge"] == dict(test="mann-whitney", confidence=0.95, sample_interval=5.0, min_samples=5,
                                metrics=["success_rate", "latency_p99"])
    # The state keeps the normalised settings; reading them back gives the same.
    assert ra.validate_analysis(cfg, prom.seconds) == cfg
    assert analysis()["compare"] is None and analysis()["judge"] is None
    # A judge alone is an analysis.
    only = ra.validate_analysis(dict(min_requests=0, judge="mann-whitney", window="5m"), prom.seconds)
    assert only["judge"]["test"] == "mann-whitney" and only["judge"]["sample_interval"] == 30.0


@pytest.mark.parametrize("settings,message", [
    (dict(compare=dict(error_rate=1)), "Unknown analysis.compare settings error_rate; use latency_p99_ratio, "
                                       "success_rate_drop"),
    (dict(compare=dict(success_rate_drop=None)), "analysis.compare compares nothing"),
    (dict(compare=dict(success_rate_drop=-1)), "analysis.compare.success_rate_drop (percentage points below the "
                                               "stable's success rate) is -1; it must be at least 0"),
    (dict(compare=dict(latency_p99_ratio=0)), "latency_p99_ratio (canary P99 / stable P99) is 0; it must be more "
                                              "than 0"),
    (dict(judge=dict(JUDGE, test="t-test")), "analysis.judge.test is 't-test'; the judge knows mann-whitney"),
    (dict(judge=dict(JUDGE, confidence=1)), "analysis.judge.confidence is 1; it must be more than 0.5 and less than 1"),
    (dict(judge=dict(JUDGE, sample_interval="soon")), "analysis.judge.sample_interval is 'soon', not a duration"),
    (dict(judge=dict(JUDGE, min_samples=2)), "analysis.judge.min_samples is 2; it must be a whole number from 3"),
    (dict(judge=dict(JUDGE, metrics=["errors"])), "analysis.judge.metrics is ['errors']; list one or both of "
                                                  "success_rate, latency_p99"),
    (dict(judge=dict(JUDGE, sample_interval="30s")),
     "analysis.window (60s) holds 2 samples of 30s, and the judge needs min_samples 5 per version: make the window at "
     "least 150s"),
    (dict(judge=dict(JUDGE, min_samples=3, sample_interval="20s", confidence=0.99)),
     "With 3 samples per version the test can never reach confidence 0.99 (its smallest p-value is 0.05)"),
])
def test_bad_settings_say_what_to_write(settings, message):
    with pytest.raises(rl.ReleaseError) as err:
        analysis(**settings)
    assert message in str(err.value)


# -- checks -----------------------------------------------------------------------------------------

def measured(canary_rate=99.0, stable_rate=99.5, canary_p99=40.0, stable_p99=38.0, samples=None, requests=500.0):
    out = dict(requests=requests, success_rate=canary_rate, latency_p99=canary_p99,
               versions=dict(canary=dict(success_rate=canary_rate, latency_p99=canary_p99),
                             stable=dict(success_rate=stable_rate, latency_p99=stable_p99)))
    if samples is not None:
        out["samples"] = samples
    return out


def by_name(result):
    return dict((c["name"], c) for c in result["checks"])


def test_compare_catches_a_canary_worse_than_stable_inside_the_fixed_bounds():
    cfg = analysis(compare=dict(success_rate_drop=1, latency_p99_ratio=1.2))
    result = ra.decide(cfg, measured(canary_rate=95.0, stable_rate=99.8, canary_p99=60.0, stable_p99=40.0))
    checks = by_name(result)
    assert checks["success_rate"]["passed"] and checks["latency_p99"]["passed"], "inside the fixed bounds"
    assert result["status"] == "failed" and result["failed"] == ["compare_success_rate", "compare_latency_p99"]
    sr = checks["compare_success_rate"]
    assert (sr["value"], sr["stable"], sr["threshold"]) == (95.0, 99.8, pytest.approx(98.8))
    assert sr["text"] == "success_rate canary 95% vs stable 99.8% (at most 1 points below stable: min 98.8%)"
    assert checks["compare_latency_p99"]["text"] == "latency_p99 canary 60ms vs stable 40ms (at most 1.2x stable: " \
                                                    "max 48ms)"
    assert result["compared"] == dict(canary=dict(success_rate=95.0, latency_p99=60.0),
                                      stable=dict(success_rate=99.8, latency_p99=40.0))


def test_compare_does_not_blame_a_canary_as_bad_as_a_bad_stable():
    cfg = analysis(compare=dict(success_rate_drop=1, latency_p99_ratio=1.2))
    result = ra.decide(cfg, measured(canary_rate=92.1, stable_rate=92.4, canary_p99=300.0, stable_p99=290.0))
    assert result["passed"] and result["status"] == "passed", ra.failure_text(result)


def test_compare_without_a_stable_value_fails_naming_it():
    cfg = analysis(compare=dict(success_rate_drop=1))
    result = ra.decide(cfg, measured(stable_rate=None))
    check = by_name(result)["compare_success_rate"]
    assert not check["passed"] and check["reason"] == "no_data" and result["status"] == "failed"
    assert check["text"] == "success_rate canary 99% vs stable no data (at most 1 points below stable: min no data)"


def test_judge_catches_a_worse_canary_and_names_the_test():
    rng = random.Random(5)
    samples = dict(success_rate=dict(canary=[97 + rng.random() for _ in range(8)], stable=[100.0] * 8),
                   latency_p99=dict(canary=[40 + rng.random() for _ in range(8)],
                                    stable=[40 + rng.random() for _ in range(8)]))
    cfg = analysis(window="40s", judge=dict(JUDGE, confidence=0.99))
    result = ra.decide(cfg, measured(samples=samples))
    checks = by_name(result)
    sr = checks["judge_success_rate"]
    assert not sr["passed"] and result["failed"] == ["judge_success_rate"] and result["status"] == "failed"
    expected = mannwhitneyu(samples["success_rate"]["canary"], samples["success_rate"]["stable"], alternative="less")
    assert sr["u"] == 0 and sr["p_value"] == pytest.approx(float(expected.pvalue))
    assert (sr["test"], sr["samples"], sr["verdict"]) == ("mann-whitney", {"canary": 8, "stable": 8}, "canary worse")
    assert sr["stable"] == 100.0 and 97 < sr["value"] < 98
    assert sr["text"].startswith("judge success_rate: canary median 97.")
    assert "vs stable median 100% over 8+8 samples, one-sided Mann-Whitney U=0 p=" in sr["text"]
    assert sr["text"].endswith("< 0.01 (confidence 99%): canary worse")
    assert checks["judge_latency_p99"]["passed"] and checks["judge_latency_p99"]["verdict"] == "canary not worse"
    assert result["compared"]["judge"] == dict(test="mann-whitney", confidence=0.99, verdict="canary worse",
                                               p_values=dict(success_rate=sr["p_value"],
                                                             latency_p99=checks["judge_latency_p99"]["p_value"]))
    # Slower is worse for latency: the same samples the other way round fail the P99 judge.
    slow = dict(success_rate=dict(canary=[100.0] * 8, stable=[100.0] * 8),
                latency_p99=dict(canary=[60 + i for i in range(8)], stable=[40 + i for i in range(8)]))
    assert ra.decide(cfg, measured(samples=slow))["failed"] == ["judge_latency_p99"]


def test_judge_with_too_few_samples_is_silence_not_a_verdict():
    samples = dict(success_rate=dict(canary=[90.0, 91.0], stable=[100.0] * 8),
                   latency_p99=dict(canary=[40.0, 41.0], stable=[40.0] * 8))
    cfg = analysis(window="40s", judge=JUDGE)
    result = ra.decide(cfg, measured(samples=samples))
    assert result["status"] == "no_traffic" and not result["passed"]
    check = by_name(result)["judge_success_rate"]
    assert check["reason"] == "not_enough_samples" and check["p_value"] is None
    assert check["text"] == ("judge success_rate: not enough samples (canary median 90.5% vs stable median 100% over "
                             "2+8 samples; need 5 of each)")
    assert result["compared"]["judge"]["verdict"] == "not enough samples"
    # A real failure beside it is a failure.
    worse = ra.decide(cfg, measured(canary_rate=50.0, samples=samples))
    assert worse["status"] == "failed"


def test_nothing_is_compared_when_the_stable_serves_nothing():
    cfg = analysis(compare=dict(success_rate_drop=1), window="40s", judge=JUDGE)
    values = dict(requests=500.0, success_rate=99.0, latency_p99=40.0, comparison_skipped=jd.STABLE_IDLE)
    result = ra.decide(cfg, values)
    assert result["passed"] and [c["name"] for c in result["checks"]] == ["requests", "success_rate", "latency_p99"]
    assert result["compared"] == {"skipped": "the stable version serves no traffic at this step"}


class FakeClient:
    """Records the queries; answers from a table (the integration tests use the real Prometheus)."""

    def __init__(self):
        self.queries = []

    def value(self, promql):
        self.queries.append(("value", promql))
        return 99.0 if 'destination_version="v2"' in promql else 100.0

    def query_range(self, promql, start, end, step):
        self.queries.append(("range", promql, start, end, step))
        values = [dict(timestamp=start + i * step, value=(None if i == 0 else 100.0 - i), raw="x")
                  for i in range(int(round((end - start) / step)) + 1)]
        return "matrix", [dict(metric={}, values=values)]


def test_measure_asks_both_versions_with_the_same_queries():
    cfg = analysis(compare=dict(success_rate_drop=1), window="40s", judge=dict(JUDGE, metrics=["success_rate"]))
    canary = prom.destination_labels("reviews", "ns", version="v2")
    stable = prom.destination_labels("reviews", "ns", version="v1")
    client = FakeClient()
    out = jd.measure(client, cfg, canary, stable, dict(requests=10.0, success_rate=98.0), T0)
    assert out["versions"] == dict(canary=dict(success_rate=98.0), stable=dict(success_rate=100.0)), \
        "the canary's value measured already is not asked again"
    (value,) = [q for q in client.queries if q[0] == "value"]
    assert value[1] == prom.success_rate_query(stable, 40)
    ranges = [q for q in client.queries if q[0] == "range"]
    assert [q[1] for q in ranges] == [prom.success_rate_query(canary, 5), prom.success_rate_query(stable, 5)]
    assert all((q[2], q[3], q[4]) == (T0 - 35, T0, 5) for q in ranges), "8 points, one every 5s, ending now"
    assert out["samples"]["success_rate"]["canary"] == [99.0, 98.0, 97.0, 96.0, 95.0, 94.0, 93.0], "NaN dropped"
    skipped = jd.measure(client, cfg, canary, None, dict(requests=10.0), T0)
    assert skipped["comparison_skipped"] == jd.STABLE_IDLE and "versions" not in skipped


# -- the report -------------------------------------------------------------------------------------

def test_report_shows_both_versions_the_verdict_and_p_values_per_step():
    cfg = analysis(window="40s", compare=dict(success_rate_drop=1), judge=JUDGE, threshold=2)
    state = rl.new_release("reviews-v2", "reviews", "bookinfo", "v1", "v2", [10, 50, 100], cfg, T0)
    good = dict(success_rate=dict(canary=[99.0 + i / 10 for i in range(8)], stable=[99.0 + i / 10 for i in range(8)]),
                latency_p99=dict(canary=[40.0 + i for i in range(8)], stable=[40.5 + i for i in range(8)]))
    bad = dict(success_rate=dict(canary=[90.0 + i / 10 for i in range(8)], stable=[99.5] * 8),
               latency_p99=good["latency_p99"])
    now = T0
    for values in (measured(99.4, 99.5, 44.0, 44.5, samples=good), measured(90.3, 99.5, 44.0, 44.5, samples=bad)):
        now += 40
        state, _outcome = rl.after_analysis(state, ra.decide(cfg, values), values, now)
    rows = report.steps(state)
    assert [(r["weight"], r["canary_success_rate"], r["stable_success_rate"], r["status"], r["verdict"])
            for r in rows] == [(10, 99.4, 99.5, "passed", "canary not worse"), (50, 90.3, 99.5, "failed", "canary worse")]
    chart = report.steps_svg(state)
    root = ET.fromstring(chart)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    titles = [c.find("s:title", SVG).text for c in root.findall("s:circle[@class='canary-success-rate']", SVG)]
    assert titles == ["canary success_rate 99.4%", "canary success_rate 90.3%"]
    titles = [c.find("s:title", SVG).text for c in root.findall("s:circle[@class='stable-latency-p99']", SVG)]
    assert titles == ["stable latency_p99 44.5 ms", "stable latency_p99 44.5 ms"]
    texts = [t.text for t in root.findall("s:text", SVG)]
    assert "#1 v2 10%" in texts and "#2 v2 50%" in texts
    assert [t.text for t in root.findall("s:text[@class='verdict']", SVG)] == ["canary not worse", "canary worse"]
    p_texts = [t.text for t in root.findall("s:text[@class='p-value']", SVG)]
    p_bad = state["history"][-1]["compared"]["judge"]["p_values"]["success_rate"]
    assert p_texts[1].startswith("p=") and ("p=%.2g" % p_bad) in p_texts[1]
    page = report.markdown(state, now, "reviews-v2.svg", "reviews-v2-steps.svg")
    assert "![Both versions per analysed step](reviews-v2-steps.svg)" in page
    assert "| Step | Time | Weights | Success rate v2 / v1 | P99 v2 / v1 | Analysis | Judge | p-values |" in page
    (row,) = [line for line in page.splitlines() if "| v1 50% / v2 50% | 90.3% / 99.5% |" in line]
    assert "| 44 ms / 44.5 ms | failed | canary worse | latency_p99 " in row and "success_rate %.2g |" % p_bad in row
    # A release judged by fixed bounds only still gets its steps, with the canary's values alone.
    plain = rl.new_release("reviews-v2", "reviews", "bookinfo", "v1", "v2", [10, 100], analysis(), T0)
    plain, _outcome = rl.after_analysis(plain, ra.decide(analysis(), measured()), measured(), T0 + 60)
    ET.fromstring(report.steps_svg(plain))
    assert "| 99% / - | 40 ms / - | passed | - | - |" in report.markdown(plain, T0 + 60, "c.svg", "s.svg")
