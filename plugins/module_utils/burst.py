# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE). At run time this code is combined with ansible-core and
# kubernetes.core, which are under the GNU General Public License v3.0+.
"""Deciding when worker traffic bursts to another cluster (the codelab's istiowatcher, done properly).

Pure logic: the rate query, the decision with hysteresis (enter above ``high``, leave below
``low``, nothing in between) or proportional weights with a dead band, and the state kept in an
annotation on the VirtualService so that the next run - an AWX schedule, a re-run after a crash -
knows whether the mesh is in burst and since when.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json

from ansible_collections.meshops.istio.plugins.module_utils import prometheus as prom

STATE_ANNOTATION = "meshops.istio/burst"
ACTIONS = ("enter", "leave", "adjust", "stay")


class BurstError(ValueError):
    """Bad settings or state; the message says what to fix."""


def default_query(service="worker-service", namespace="default", source_workload="frontend-deployment",
                  window="15s", domain="cluster.local"):
    """The codelab's query: requests per second the frontend sends to the worker, as the worker's
    sidecar counts them."""
    fqdn = service if "." in service else "%s.%s.svc.%s" % (service, namespace, domain)
    labels = {"reporter": "destination", "destination_service": fqdn, "source_workload": source_workload}
    return "sum(rate(%s%s[%s]))" % (prom.REQUESTS_TOTAL, prom.selector(labels), prom.promql_duration(window))


def validate(high, low, step):
    """Refuse settings under which the decision would flap or never move."""
    if low < 0:
        raise BurstError("low (%s) must be 0 or more requests per second." % low)
    if not high > low:
        raise BurstError("high (%s) must be above low (%s): the gap between them is what keeps traffic from "
                         "flapping between the clusters when the load hovers around one value." % (high, low))
    if not 1 <= step <= 100:
        raise BurstError("step (%s) must be between 1 and 100 percent." % step)


def iso(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def initial_state(burst_weight=0):
    return {"in_burst": burst_weight > 0, "burst_weight": int(burst_weight), "since": None}


def read_state(vs, burst_weight):
    """The state stored on the VirtualService, or one inferred from its current weights.

    ``burst_weight``: what the VirtualService sends to the burst subset now. The weights win over
    a stale annotation (someone may have edited the route by hand since)."""
    raw = (((vs or {}).get("metadata") or {}).get("annotations") or {}).get(STATE_ANNOTATION)
    if not raw:
        return initial_state(burst_weight)
    try:
        state = json.loads(raw)
        if not isinstance(state, dict):
            raise ValueError("not an object")
    except ValueError as e:
        raise BurstError("The %s annotation on the VirtualService is not the JSON this module writes (%s). Remove "
                         "it and run again; the current weights then give the state." % (STATE_ANNOTATION, e)) from None
    if int(state.get("burst_weight", -1)) != int(burst_weight):
        fresh = initial_state(burst_weight)
        fresh["note"] = "weights were changed outside istio_burst; state taken from them"
        return fresh
    return {"in_burst": bool(state.get("in_burst")), "burst_weight": int(burst_weight), "since": state.get("since")}


def state_annotation(state):
    """The annotation value: only what changes with a decision, so that checks that change
    nothing write nothing."""
    return json.dumps({"in_burst": state["in_burst"], "burst_weight": state["burst_weight"], "since": state["since"]},
                      sort_keys=True)


def _quantize(weight, step):
    return int(max(0, min(100, round(weight / float(step)) * step)))


def decide(rate, state, high, low, proportional=False, step=10, now=0.0, service=None):
    """One decision: a dict with the rate that caused it, the action, the new state and why.

    ``rate`` None means Prometheus had no sample: no traffic reached ``service``, which counts as
    0 requests per second (back to primary), never as "keep bursting". ``service`` is named in the reason."""
    validate(high, low, step)
    seen = 0.0 if rate is None else float(rate)
    was = int(state["burst_weight"])
    in_burst = bool(state["in_burst"])
    if not proportional:
        if not in_burst and seen > high:
            action, weight, why = "enter", 100, "%.2f req/s is above high (%s)" % (seen, high)
        elif in_burst and seen < low:
            action, weight, why = "leave", 0, "%.2f req/s is below low (%s)" % (seen, low)
        else:
            action, weight = "stay", was
            why = ("%.2f req/s: in burst until it drops below %s" % (seen, low) if in_burst
                   else "%.2f req/s: not in burst until it rises above %s" % (seen, high))
    else:
        raw = (seen - low) / float(high - low) * 100.0
        if seen > high:
            target = 100
        elif seen < low:
            target = 0
        elif abs(raw - was) > step:
            target = _quantize(raw, step)
        else:
            # Within a full step of the current weight: a rate hovering around one value cannot
            # flip the weight between two neighbouring steps.
            target = was
        if target != was:
            weight = target
            action = "enter" if was == 0 else ("leave" if target == 0 else "adjust")
            why = "%.2f req/s puts the burst share at %d%% (low %s = 0%%, high %s = 100%%)" % (seen, target, low, high)
        else:
            action, weight = "stay", was
            why = "%.2f req/s keeps the burst share at %d%%" % (seen, was)
    if rate is None:
        why = "no sample (no traffic to %s): %s" % (service or "the service", why)
    new_in_burst = weight > 0
    since = state.get("since") if new_in_burst == in_burst else iso(now)
    return {"at": iso(now), "rate": None if rate is None else round(float(rate), 3), "action": action,
            "burst_weight": weight, "in_burst": new_in_burst, "since": since, "reason": why}


def weights(primary_subset, burst_subset, burst_weight):
    return {primary_subset: 100 - int(burst_weight), burst_subset: int(burst_weight)}


def summary(decisions, primary_subset, burst_subset):
    """One line per decision, for people reading the job output."""
    lines = []
    for d in decisions:
        lines.append("%s %s: %s -> %s %d%% / %s %d%%" % (
            d["at"], d["action"], d["reason"], primary_subset, 100 - d["burst_weight"], burst_subset, d["burst_weight"]))
    return lines
