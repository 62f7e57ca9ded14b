# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE)
"""Release analysis: the settings of an analysis, the metrics of one (Istio's standard metrics in Prometheus,
custom checks, and the judge's samples of both versions) and its verdict - passed, failed, or no_traffic when
the canary had too few requests to be judged (silence, never health). Pure functions, except measure(), which
only asks Prometheus through the client it is given.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time

from ansible_collections.meshops.istio.plugins.module_utils import judge as jd
from ansible_collections.meshops.istio.plugins.module_utils import prometheus as prom

BUILT_IN_CHECKS = ("success_rate", "latency_p99")
MAX_THRESHOLD = 100
# How long a quiet step waits for traffic when analysis.traffic_wait is not given.
DEFAULT_TRAFFIC_WAIT = 600.0


class ReleaseError(ValueError):
    """Input or state that makes the requested action impossible; the message says what to do."""


# -- input --------------------------------------------------------------------------------------

def whole(value, what, low, high):
    if isinstance(value, bool) or value is None:
        raise ReleaseError("%s is %r; it must be a whole number from %d to %d." % (what, value, low, high))
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and re.match(r"^\s*-?\d+\s*$", value):
        value = int(value)
    if not isinstance(value, int):
        raise ReleaseError("%s is %r, not a whole number from %d to %d." % (what, value, low, high))
    if not low <= value <= high:
        raise ReleaseError("%s is %d; it must be from %d to %d." % (what, value, low, high))
    return value


def _number(value, what, low=None, high=None, low_open=False):
    if isinstance(value, bool) or value is None:
        raise ReleaseError("%s is %r; it must be a number." % (what, value))
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ReleaseError("%s is %r, not a number." % (what, value)) from None
    too_low = low is not None and (value < low or (low_open and value == low))
    too_high = high is not None and value > high
    if too_low or too_high:
        if low is not None and high is not None:
            rule = "from %g to %g" % (low, high)
        elif low is not None:
            rule = "%s %g" % ("more than" if low_open else "at least", low)
        else:
            rule = "at most %g" % high
        raise ReleaseError("%s is %g; it must be %s." % (what, value, rule))
    return value


def validate_analysis(analysis, seconds):
    """Normalised analysis settings; ``seconds`` turns durations ('30s', 60) into seconds.

    A setting that is None is not given (its default applies)."""
    analysis = dict((k, v) for k, v in (analysis or {}).items() if v is not None)
    known = set(("interval", "window", "success_rate", "latency_p99", "min_requests", "threshold", "checks",
                 "traffic_wait", "compare", "judge"))
    unknown = set(analysis) - known
    if unknown:
        raise ReleaseError("Unknown analysis settings %s; use %s." % (", ".join(sorted(unknown)),
                                                                      ", ".join(sorted(known))))

    def duration(key, default):
        value = analysis.get(key)
        if value is None:
            return default
        try:
            return seconds(value, "analysis.%s" % key)
        except ValueError as e:
            raise ReleaseError(str(e)) from None

    interval = duration("interval", 60.0)
    window = duration("window", interval if interval >= 1 else 60.0)
    if window < 1:
        raise ReleaseError("analysis.window is %gs; the metrics window must be at least 1s (for example 30s)." % window)
    out = dict(interval=interval, window=window)
    out["success_rate"] = (None if analysis.get("success_rate") is None else
                           _number(analysis["success_rate"], "analysis.success_rate (minimum success rate in %)", 0, 100))
    out["latency_p99"] = (None if analysis.get("latency_p99") is None else
                          _number(analysis["latency_p99"], "analysis.latency_p99 (maximum P99 in ms)", 0, low_open=True))
    out["min_requests"] = whole(analysis.get("min_requests", 10), "analysis.min_requests", 0, 10 ** 9)
    out["threshold"] = whole(analysis.get("threshold", 1), "analysis.threshold (failed analyses tolerated)",
                             0, MAX_THRESHOLD)
    out["traffic_wait"] = duration("traffic_wait", DEFAULT_TRAFFIC_WAIT)
    checks = []
    names = set(BUILT_IN_CHECKS) | set(("requests",))
    for i, check in enumerate(analysis.get("checks") or []):
        where = "analysis.checks[%d]" % i
        if not isinstance(check, dict) or not check.get("name") or not check.get("query"):
            raise ReleaseError("%s needs a name and a query (PromQL answering one number), plus min and/or max."
                               % where)
        if check["name"] in names:
            raise ReleaseError("%s: the name %r is already used; give each check its own name." % (where, check["name"]))
        names.add(check["name"])
        unknown = set(check) - set(("name", "query", "min", "max"))
        if unknown:
            raise ReleaseError("%s has unknown keys %s; use name, query, min, max." % (where, ", ".join(sorted(unknown))))
        low = None if check.get("min") is None else _number(check["min"], where + ".min")
        high = None if check.get("max") is None else _number(check["max"], where + ".max")
        if low is None and high is None:
            raise ReleaseError("%s (%s) needs min and/or max: the bounds its value must stay within." % (where, check["name"]))
        if low is not None and high is not None and low > high:
            raise ReleaseError("%s (%s): min %g is more than max %g." % (where, check["name"], low, high))
        checks.append(dict(name=check["name"], query=check["query"], min=low, max=high))
    out["checks"] = checks
    try:
        out.update(jd.validate(analysis, window, seconds))
    except jd.JudgeError as e:
        raise ReleaseError(str(e)) from None
    if out["success_rate"] is None and out["latency_p99"] is None and not checks and not out["min_requests"] and not (
            out["compare"] or out["judge"]):
        raise ReleaseError("The analysis checks nothing: set success_rate, latency_p99, min_requests, checks, compare "
                           "or judge.")
    return out


# -- verdict ------------------------------------------------------------------------------------

def fmt(value, unit=""):
    if value is None:
        return "no data"
    text = ("%.2f" % value).rstrip("0").rstrip(".")
    return text + unit


def decide(analysis, measured):
    """Judge one analysis from measured values ({requests, success_rate, latency_p99, <check>: value}).

    A missing value (no series, or NaN because nothing was counted) fails its check: no
    traffic is never a reason to let a canary through."""
    checks = []
    requests = measured.get("requests")
    if analysis["min_requests"]:
        ok = requests is not None and requests >= analysis["min_requests"]
        checks.append(dict(name="requests", value=requests, threshold=analysis["min_requests"], bound="min",
                           passed=ok, text="requests %s (min %d)" % (fmt(requests), analysis["min_requests"])))
    if analysis["success_rate"] is not None:
        value = measured.get("success_rate")
        ok = value is not None and value >= analysis["success_rate"]
        checks.append(dict(name="success_rate", value=value, threshold=analysis["success_rate"], bound="min",
                           passed=ok, text="success_rate %s (min %s%%)" % (fmt(value, "%"), fmt(analysis["success_rate"]))))
    if analysis["latency_p99"] is not None:
        value = measured.get("latency_p99")
        ok = value is not None and value <= analysis["latency_p99"]
        checks.append(dict(name="latency_p99", value=value, threshold=analysis["latency_p99"], bound="max",
                           passed=ok, text="latency_p99 %s (max %sms)" % (fmt(value, "ms"), fmt(analysis["latency_p99"]))))
    for check in analysis["checks"]:
        value = measured.get(check["name"])
        ok = value is not None and (check["min"] is None or value >= check["min"]) and (
            check["max"] is None or value <= check["max"])
        bounds = " ".join(b for b in ("min %s" % fmt(check["min"]) if check["min"] is not None else "",
                                      "max %s" % fmt(check["max"]) if check["max"] is not None else "") if b)
        checks.append(dict(name=check["name"], value=value, threshold=check["min"] if check["min"] is not None
                           else check["max"], bound="min" if check["min"] is not None else "max", passed=ok,
                           text="%s %s (%s)" % (check["name"], fmt(value), bounds)))
    checks += jd.checks(analysis, measured)
    failed = [c for c in checks if not c["passed"]]
    # Too few samples for the judge is silence too: nothing is known against the canary.
    no_data = requests is None or (analysis["min_requests"] and requests < analysis["min_requests"]) or \
        jd.short_of_samples(failed)
    result = dict(passed=not failed, checks=checks, failed=[c["name"] for c in failed],
                  status="passed" if not failed else ("no_traffic" if no_data else "failed"))
    compared = jd.compared(analysis, measured, checks)
    if compared:
        result["compared"] = compared
    return result


def failure_text(result):
    """'success_rate 62.5% (min 99%), latency_p99 no data (max 500ms)' for the failed checks."""
    return ", ".join(c["text"] for c in result["checks"] if not c["passed"])


# -- metrics ------------------------------------------------------------------------------------

def measure(client, cfg, labels, variables, stable_labels):
    """The values decide() judges, asked of Prometheus through ``client``: requests, the built-in and custom
    checks over the window and, with compare or judge, both versions' (``stable_labels()`` gives the stable
    version's matchers, or None when it serves nothing; called only then, after the canary's queries)."""
    window = cfg["window"]
    measured = dict(requests=client.value(prom.request_count_query(labels, window)))
    if cfg["success_rate"] is not None:
        measured["success_rate"] = client.value(prom.success_rate_query(labels, window))
    if cfg["latency_p99"] is not None:
        measured["latency_p99"] = client.value(prom.latency_query(labels, window))
    for check in cfg["checks"]:
        measured[check["name"]] = client.value(prom.render_query(check["query"], variables))
    if cfg.get("compare") or cfg.get("judge"):
        measured = jd.measure(client, cfg, labels, stable_labels(), measured, time.time())
    return measured
