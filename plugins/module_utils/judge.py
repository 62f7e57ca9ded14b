# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE)
"""Judging a canary against its stable version: comparisons over one window, and a statistical judge.

Fixed bounds (success rate >= 99%) cannot tell a canary that is bad from a day that is bad for every
version. Two ways to ask "is the canary worse than what runs today?" instead:

- ``compare``: the canary's success rate / P99 over the window against the stable version's over the
  same window, from the same queries with the stable version's labels, with an allowance (at most
  1 percentage point lower, at most 1.2 times the P99).
- ``judge``: per-interval samples of both versions over the window and a one-sided Mann-Whitney U
  test, as Kayenta judges a canary; the check fails only when the canary is worse with the
  configured confidence.

The U test is implemented here (modules must not need scipy): the exact null distribution when one
sample is small and nothing is tied, the normal approximation with tie and continuity correction
otherwise - the same choice and the same numbers as scipy.stats.mannwhitneyu (the unit tests compare).
Pure functions, except ``measure``, which only reads through a prometheus.Client.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math

from ansible_collections.meshops.istio.plugins.module_utils import prometheus as prom

MANN_WHITNEY = "mann-whitney"
TESTS = (MANN_WHITNEY,)
# The metrics both versions are compared on; a worse success rate is lower, a worse P99 higher.
METRICS = ("success_rate", "latency_p99")
WORSE = dict(success_rate="less", latency_p99="greater")
UNITS = dict(success_rate="%", latency_p99="ms")
COMPARE_KEYS = dict(success_rate_drop="success_rate", latency_p99_ratio="latency_p99")
JUDGE_DEFAULTS = dict(test=MANN_WHITNEY, confidence=0.95, sample_interval=30.0, min_samples=5,
                      metrics=list(METRICS))
# The exact distribution is used while one sample has at most this many values (and nothing is tied).
EXACT_LIMIT = 8
NOT_ENOUGH_SAMPLES = "not_enough_samples"
STABLE_IDLE = "the stable version serves no traffic at this step"


class JudgeError(ValueError):
    """Settings that cannot work; the message says what to write instead."""


# -- the Mann-Whitney U test ---------------------------------------------------------------------

def _ranks(values):
    """Average ranks (1-based) of ``values`` and the sizes of the groups of tied values."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    ties = []
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2.0 + 1
        ties.append(j - i + 1)
        i = j + 1
    return ranks, ties


def u_counts(n1, n2):
    """How many of the C(n1+n2, n1) orderings of two untied samples give U = 0, 1, ..., n1*n2.

    These are the coefficients of the Gaussian binomial [n1+n2 choose k]_q (k = min(n1, n2)), built
    as the product of (1 - q^(n-k+i)) / (1 - q^i) for i = 1..k, in exact integers."""
    n, k = n1 + n2, min(n1, n2)
    top = n1 * n2
    counts = [1] + [0] * top
    for i in range(1, k + 1):
        a = n - k + i
        for u in range(top, a - 1, -1):
            counts[u] -= counts[u - a]
        for u in range(i, top + 1):
            counts[u] += counts[u - i]
    return counts


def _normal_sf(z):
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def mann_whitney_u(x, y, alternative="two-sided", method="auto", continuity=True):
    """U of ``x`` and its p-value; dict(u, p_value, method).

    ``alternative``: "less" tests that x tends to be smaller than y, "greater" larger, "two-sided"
    either. ``method``: exact, asymptotic or auto (exact when a sample has at most 8 values and no
    value is tied, as scipy chooses)."""
    x, y = [float(v) for v in x], [float(v) for v in y]
    n1, n2 = len(x), len(y)
    if not n1 or not n2:
        raise ValueError("Both samples need at least one value (got %d and %d)." % (n1, n2))
    if alternative not in ("less", "greater", "two-sided"):
        raise ValueError("alternative is %r; use less, greater or two-sided." % (alternative,))
    ranks, ties = _ranks(x + y)
    u1 = sum(ranks[:n1]) - n1 * (n1 + 1) / 2.0
    u2 = n1 * n2 - u1
    # The p-value is always an upper tail: P(U >= u) of the statistic that is large under the alternative.
    if alternative == "greater":
        u, factor = u1, 1
    elif alternative == "less":
        u, factor = u2, 1
    else:
        u, factor = max(u1, u2), 2
    tied = any(t > 1 for t in ties)
    if method == "auto":
        method = "asymptotic" if (n1 > EXACT_LIMIT and n2 > EXACT_LIMIT) or tied else "exact"
    if method == "exact":
        if tied:
            raise ValueError("The exact distribution of U holds only without ties; use method=asymptotic.")
        counts = u_counts(n1, n2)
        p = sum(counts[int(round(u)):]) / float(sum(counts))
    elif method == "asymptotic":
        n = n1 + n2
        spread = math.sqrt(n1 * n2 / 12.0 * ((n + 1) - sum(t ** 3 - t for t in ties) / float(n * (n - 1)))) \
            if n > 1 else 0.0
        # The continuity correction moves U half a step towards the mean: the tail includes U itself.
        numerator = u - n1 * n2 / 2.0 - (0.5 if continuity else 0.0)
        if spread == 0:
            # Every value tied: no evidence either way.
            p = 1.0 if numerator <= 0 else 0.0
        else:
            p = _normal_sf(numerator / spread)
    else:
        raise ValueError("method is %r; use exact, asymptotic or auto." % (method,))
    return dict(u=u1, p_value=min(1.0, max(0.0, p * factor)), method=method)


def smallest_p(n1, n2):
    """The smallest one-sided p-value two untied samples of these sizes can give."""
    return 1.0 / math.comb(n1 + n2, n1)


# -- settings ------------------------------------------------------------------------------------

def _positive(value, what, low, high=None, low_open=True):
    if isinstance(value, bool) or value is None:
        raise JudgeError("%s is %r; it must be a number." % (what, value))
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise JudgeError("%s is %r, not a number." % (what, value)) from None
    if value < low or (low_open and value == low) or (high is not None and value >= high):
        raise JudgeError("%s is %g; it must be %s %g%s." % (
            what, value, "more than" if low_open else "at least", low, "" if high is None else " and less than %g" % high))
    return value


def validate(analysis, window, seconds):
    """dict(compare=..., judge=...) from the analysis settings (each None when not asked for)."""
    return dict(compare=validate_compare(analysis.get("compare")),
                judge=validate_judge(analysis.get("judge"), window, seconds))


def validate_compare(compare):
    if not compare:
        return None
    if not isinstance(compare, dict):
        raise JudgeError("analysis.compare is %r; give a dict such as {success_rate_drop: 1, latency_p99_ratio: 1.2}."
                         % (compare,))
    given = dict((k, v) for k, v in compare.items() if v is not None)
    unknown = set(given) - set(COMPARE_KEYS)
    if unknown:
        raise JudgeError("Unknown analysis.compare settings %s; use %s." % (
            ", ".join(sorted(unknown)), ", ".join(sorted(COMPARE_KEYS))))
    if not given:
        raise JudgeError("analysis.compare compares nothing: set success_rate_drop (percentage points the canary's "
                         "success rate may be below the stable's, e.g. 1) and/or latency_p99_ratio (how many times "
                         "the stable's P99 the canary's may be, e.g. 1.2).")
    out = {}
    if "success_rate_drop" in given:
        out["success_rate_drop"] = _positive(given["success_rate_drop"], "analysis.compare.success_rate_drop "
                                             "(percentage points below the stable's success rate)", 0, 100,
                                             low_open=False)
    if "latency_p99_ratio" in given:
        out["latency_p99_ratio"] = _positive(given["latency_p99_ratio"], "analysis.compare.latency_p99_ratio "
                                             "(canary P99 / stable P99)", 0)
    return out


def validate_judge(judge, window, seconds):
    if not judge:
        return None
    if isinstance(judge, str):
        judge = dict(test=judge)
    if not isinstance(judge, dict):
        raise JudgeError("analysis.judge is %r; give a dict such as {test: mann-whitney, confidence: 0.95}." % (judge,))
    given = dict((k, v) for k, v in judge.items() if v is not None)
    unknown = set(given) - set(JUDGE_DEFAULTS)
    if unknown:
        raise JudgeError("Unknown analysis.judge settings %s; use %s." % (
            ", ".join(sorted(unknown)), ", ".join(sorted(JUDGE_DEFAULTS))))
    out = dict(JUDGE_DEFAULTS, **given)
    if out["test"] not in TESTS:
        raise JudgeError("analysis.judge.test is %r; the judge knows %s." % (out["test"], ", ".join(TESTS)))
    out["confidence"] = _positive(out["confidence"], "analysis.judge.confidence", 0.5, 1)
    try:
        out["sample_interval"] = seconds(out["sample_interval"], "analysis.judge.sample_interval")
    except ValueError as e:
        raise JudgeError(str(e)) from None
    if out["sample_interval"] < 1:
        raise JudgeError("analysis.judge.sample_interval is %gs; a sample needs at least 1s (and at least twice the "
                         "Prometheus scrape interval)." % out["sample_interval"])
    if isinstance(out["min_samples"], bool) or not isinstance(out["min_samples"], int) or not \
            3 <= out["min_samples"] <= 1000:
        raise JudgeError("analysis.judge.min_samples is %r; it must be a whole number from 3 to 1000."
                         % (out["min_samples"],))
    metrics = out["metrics"]
    if isinstance(metrics, str):
        metrics = [metrics]
    if not metrics or not isinstance(metrics, (list, tuple)) or set(metrics) - set(METRICS):
        raise JudgeError("analysis.judge.metrics is %r; list one or both of %s." % (metrics, ", ".join(METRICS)))
    out["metrics"] = [m for m in METRICS if m in metrics]
    samples = int(window // out["sample_interval"])
    if samples < out["min_samples"]:
        raise JudgeError(
            "analysis.window (%gs) holds %d samples of %gs, and the judge needs min_samples %d per version: make "
            "the window at least %gs, or the sample_interval shorter (but at least twice the Prometheus scrape "
            "interval, or samples come back empty)."
            % (window, samples, out["sample_interval"], out["min_samples"], out["min_samples"] * out["sample_interval"]))
    if smallest_p(samples, samples) >= 1 - out["confidence"]:
        raise JudgeError(
            "With %d samples per version the test can never reach confidence %g (its smallest p-value is %.3g): "
            "use a longer window or a shorter sample_interval, or a lower confidence."
            % (samples, out["confidence"], smallest_p(samples, samples)))
    return out


# -- measuring -----------------------------------------------------------------------------------

QUERIES = dict(success_rate=prom.success_rate_query, latency_p99=prom.latency_query)


def metrics_needed(analysis):
    compare = analysis.get("compare") or {}
    judge = analysis.get("judge") or {}
    wanted = set(COMPARE_KEYS[k] for k in compare) | set(judge.get("metrics") or ())
    return [m for m in METRICS if m in wanted]


def matrix_values(kind, result):
    """The usable numbers of a one-series query_range answer, in time order (NaN intervals dropped)."""
    if kind != "matrix" or len(result) != 1:
        return []
    return [point["value"] for point in result[0]["values"] if point["value"] is not None]


def measure(client, analysis, canary_labels, stable_labels, measured, end):
    """Both versions' values over the window, and per-interval samples for the judge.

    Adds ``versions`` ({canary: {metric: value}, stable: {...}}) and ``samples`` ({metric: {canary: [...],
    stable: [...]}}) to a copy of ``measured``; canary values already measured are not asked again.
    ``stable_labels`` None: the stable version serves nothing at this step, so nothing is compared."""
    measured = dict(measured)
    if stable_labels is None:
        measured["comparison_skipped"] = STABLE_IDLE
        return measured
    window = analysis["window"]
    versions = dict(canary={}, stable={})
    for metric in metrics_needed(analysis):
        query = QUERIES[metric]
        versions["canary"][metric] = (measured[metric] if measured.get(metric) is not None
                                      else client.value(query(canary_labels, window)))
        versions["stable"][metric] = client.value(query(stable_labels, window))
    measured["versions"] = versions
    judge = analysis.get("judge")
    if judge:
        step = judge["sample_interval"]
        count = int(window // step)
        # Non-overlapping intervals: each point is the rate over the step before it.
        start = end - (count - 1) * step
        samples = {}
        for metric in judge["metrics"]:
            samples[metric] = dict(
                (who, matrix_values(*client.query_range(QUERIES[metric](labels, step), start, end, step)))
                for who, labels in (("canary", canary_labels), ("stable", stable_labels)))
        measured["samples"] = samples
    return measured


# -- checks --------------------------------------------------------------------------------------

def _fmt(value, unit=""):
    if value is None:
        return "no data"
    return ("%.2f" % value).rstrip("0").rstrip(".") + unit


def _p_text(p):
    return "%.2g" % p if p < 0.001 else ("%.4f" % p).rstrip("0").rstrip(".")


def median(values):
    ordered = sorted(values)
    if not ordered:
        return None
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


def compare_checks(compare, versions):
    checks = []
    canary, stable = versions.get("canary") or {}, versions.get("stable") or {}
    for key, metric in sorted(COMPARE_KEYS.items(), key=lambda kv: METRICS.index(kv[1])):
        if key not in (compare or {}):
            continue
        allowance, unit = compare[key], UNITS[metric]
        value, base = canary.get(metric), stable.get(metric)
        if metric == "success_rate":
            bound = None if base is None else base - allowance
            rule = "at most %s points below stable" % _fmt(allowance)
            passed = value is not None and bound is not None and value >= bound
        else:
            bound = None if base is None else base * allowance
            rule = "at most %sx stable" % _fmt(allowance)
            passed = value is not None and bound is not None and value <= bound
        check = dict(name="compare_" + metric, kind="compare", value=value, stable=base, threshold=bound,
                     bound="min" if metric == "success_rate" else "max", allowance=allowance, passed=passed,
                     text="%s canary %s vs stable %s (%s: %s %s)" % (
                         metric, _fmt(value, unit), _fmt(base, unit), rule,
                         "min" if metric == "success_rate" else "max", _fmt(bound, unit)))
        if value is None or base is None:
            check["reason"] = "no_data"
        checks.append(check)
    return checks


def judge_checks(judge, samples):
    checks = []
    alpha = 1 - judge["confidence"]
    for metric in judge["metrics"]:
        canary = (samples.get(metric) or {}).get("canary") or []
        stable = (samples.get(metric) or {}).get("stable") or []
        unit = UNITS[metric]
        check = dict(name="judge_" + metric, kind="judge", test=judge["test"], value=median(canary),
                     stable=median(stable), samples=dict(canary=len(canary), stable=len(stable)),
                     confidence=judge["confidence"], threshold=alpha, bound="p_value", u=None, p_value=None)
        values = "canary median %s vs stable median %s over %d+%d samples" % (
            _fmt(check["value"], unit), _fmt(check["stable"], unit), len(canary), len(stable))
        if min(len(canary), len(stable)) < judge["min_samples"]:
            check.update(passed=False, reason=NOT_ENOUGH_SAMPLES, verdict="not enough samples",
                         text="judge %s: not enough samples (%s; need %d of each)" % (
                             metric, values, judge["min_samples"]))
        else:
            test = mann_whitney_u(canary, stable, alternative=WORSE[metric])
            worse = test["p_value"] < alpha
            check.update(u=test["u"], p_value=test["p_value"], method=test["method"], passed=not worse,
                         verdict="canary worse" if worse else "canary not worse",
                         text="judge %s: %s, one-sided Mann-Whitney U=%s p=%s %s %s (confidence %s%%): %s" % (
                             metric, values, _fmt(test["u"]), _p_text(test["p_value"]), "<" if worse else ">=",
                             _p_text(alpha), _fmt(judge["confidence"] * 100),
                             "canary worse" if worse else "canary not worse"))
        checks.append(check)
    return checks


def checks(analysis, measured):
    """The comparative and statistical checks of one analysis (none when neither is configured)."""
    out = []
    if measured.get("comparison_skipped"):
        return out
    if analysis.get("compare"):
        out += compare_checks(analysis["compare"], measured.get("versions") or {})
    if analysis.get("judge"):
        out += judge_checks(analysis["judge"], measured.get("samples") or {})
    return out


def short_of_samples(failed):
    """True when every failed check failed only for lack of samples: silence, not a verdict on the canary."""
    return bool(failed) and all(c.get("reason") == NOT_ENOUGH_SAMPLES for c in failed)


def compared(analysis, measured, checks):
    """What the release history keeps of a comparison: both versions' values and the judge's verdict."""
    if not analysis.get("compare") and not analysis.get("judge"):
        return None
    if measured.get("comparison_skipped"):
        return dict(skipped=measured["comparison_skipped"])
    out = dict((who, dict(values)) for who, values in (measured.get("versions") or {}).items())
    judged = [c for c in checks if c.get("kind") == "judge"]
    if judged:
        out["judge"] = dict(test=analysis["judge"]["test"], confidence=analysis["judge"]["confidence"],
                            verdict=("canary worse" if any(c["p_value"] is not None and not c["passed"] for c in judged)
                                     else "not enough samples" if any(c.get("reason") == NOT_ENOUGH_SAMPLES
                                                                      for c in judged)
                                     else "canary not worse"),
                            p_values=dict((c["name"][len("judge_"):], c["p_value"]) for c in judged))
    return out
