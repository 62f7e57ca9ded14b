# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE). At run time this code is combined with ansible-core and
# kubernetes.core, which are under the GNU General Public License v3.0+.
"""istio_burst's work: ask Prometheus for the worker's request rate, decide (burst's pure logic)
and move the VirtualService's weights, once or in a watch that stops with its job."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.meshops.istio.plugins.module_utils import burst as bu
from ansible_collections.meshops.istio.plugins.module_utils import prometheus as prom
from ansible_collections.meshops.istio.plugins.module_utils import routing as rt
from ansible_collections.meshops.istio.plugins.module_utils import validation as val
from ansible_collections.meshops.istio.plugins.module_utils.job import JobGuard
from ansible_collections.meshops.istio.plugins.module_utils.kube import Cluster, KubeError
from ansible_collections.meshops.istio.plugins.module_utils.traffic import HostRouting


class BurstRun:
    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.decisions = []
        self.changed = False
        self.first_vs = None

    def _validate(self):
        """InputError for bad input, before the first request."""
        p = self.p
        try:
            bu.validate(p["high"], p["low"], p["step"])
            rt.validate_subset_name(p["primary_subset"], "primary_subset")
            rt.validate_subset_name(p["burst_subset"], "burst_subset")
        except (bu.BurstError, rt.RoutingError) as e:
            raise val.InputError(str(e)) from None
        val.require_names(val.host_checks(p) + [(p["source_workload"], "source_workload", "subdomain")])
        problem = prom.options_problem(p["prometheus"])
        if problem:
            raise val.InputError(problem)
        if p["primary_subset"] == p["burst_subset"]:
            raise val.InputError("primary_subset and burst_subset are both %r; they must name the two subsets "
                                 "traffic moves between." % p["primary_subset"])
        if p["mode"] == "watch" and (p["interval"] <= 0 or p["max_checks"] < 1):
            raise val.InputError("watch mode needs interval > 0 and max_checks >= 1 (got interval=%s, "
                                 "max_checks=%s)." % (p["interval"], p["max_checks"]))
        if p["rate"] is not None and (p["mode"] != "once" or p["rate"] < 0):
            raise val.InputError("rate=%s with mode=%s: a rate given by the caller is one measurement, so it needs "
                                 "mode=once and 0 or more requests per second." % (p["rate"], p["mode"]))
        if p["duration"] is not None and p["duration"] <= 0:
            raise val.InputError("duration must be more than 0 seconds, got %s." % p["duration"])
        try:
            self.query = p["query"] or bu.default_query(p["service"], p["namespace"], p["source_workload"], p["window"])
        except ValueError as e:
            raise val.InputError("window: %s" % e) from None

    def _burst_weight(self, routing):
        split = routing.split() or {}
        known = set(split) - {self.p["primary_subset"], self.p["burst_subset"]}
        if not split or known:
            raise KubeError("The default route of VirtualService %s/%s should send %s to subsets %s and %s only; it "
                            "sends to %s. Declare the split first (meshops.istio.istio_traffic or the hashapp role)."
                            % (self.p["namespace"], self.p["virtual_service"], self.p["service"], self.p["primary_subset"],
                               self.p["burst_subset"], split or "no weighted subsets"),
                            "VirtualService", self.p["virtual_service"], self.p["namespace"], reason="NotBurstable")
        return int(split.get(self.p["burst_subset"], 0))

    def check(self, routing, client):
        try:
            rate = client.value(self.query) if self.p["rate"] is None else self.p["rate"]
        except prom.PrometheusError as e:
            raise KubeError("%s The weights were left as they are (%s)." % (e, self._weights_text(routing)),
                            reason="PrometheusError") from None
        state = bu.read_state(routing.live_vs, self._burst_weight(routing))
        decision = bu.decide(rate, state, self.p["high"], self.p["low"], self.p["proportional"], self.p["step"],
                             time.time(), self.p["service"])
        if state.get("note"):
            decision["reason"] += " (%s)" % state["note"]
        if self.p["rate"] is not None:
            decision["reason"] += " (rate given by the caller; Prometheus not asked)"
        new_state = dict(in_burst=decision["in_burst"], burst_weight=decision["burst_weight"],
                         since=decision["since"])
        decision["applied"] = False
        stored = self._annotation(routing.live_vs)
        # The state is written with a change of weights, or when it moves on from a stored one; a
        # first check that changes nothing has nothing to record beyond the weights themselves.
        if decision["burst_weight"] != state["burst_weight"] or (
                stored is not None and bu.state_annotation(new_state) != stored):
            weights = bu.weights(self.p["primary_subset"], self.p["burst_subset"], decision["burst_weight"])
            try:
                report = routing.set_weights(weights, annotations={bu.STATE_ANNOTATION: bu.state_annotation(new_state)})
            except rt.RoutingError as e:
                raise KubeError(str(e), "VirtualService", self.p["virtual_service"], self.p["namespace"]) from None
            decision["applied"] = report.changed
            self.changed = self.changed or report.changed
            if self.module.check_mode:
                # A dry run stores nothing: later checks must start from what the cluster really holds.
                routing.read()
        self.decisions.append(decision)
        return decision

    @staticmethod
    def _annotation(vs):
        return (((vs or {}).get("metadata") or {}).get("annotations") or {}).get(bu.STATE_ANNOTATION)

    def _weights_text(self, routing):
        split = routing.split() or {}
        return ", ".join("%s %s%%" % (k, v) for k, v in sorted(split.items())) or "no split"

    def execute(self):
        self._validate()
        p = self.p
        cluster = Cluster(self.module)
        routing = HostRouting(cluster, p["service"], p["namespace"], p["virtual_service"], p["destination_rule"],
                              p["api_version"]).read()
        if routing.live_vs is None:
            raise KubeError("VirtualService %s/%s does not exist. Deploy the worker routing first (the hashapp role, "
                            "or meshops.istio.istio_traffic with subsets %s and %s)."
                            % (p["namespace"], p["virtual_service"], p["primary_subset"], p["burst_subset"]),
                            "VirtualService", p["virtual_service"], p["namespace"], reason="NotFound")
        self.first_vs = routing.live_vs
        try:
            # Without prometheus.url, through the API server's service proxy with this cluster's client.
            client = prom.client_from(p["prometheus"], cluster.dynamic)
        except prom.PrometheusError as e:
            self.module.fail_json(msg=str(e))
        checks = 1 if p["mode"] == "once" else p["max_checks"]
        deadline = time.monotonic() + p["duration"] if p["duration"] else None
        guard = JobGuard() if p["mode"] == "watch" else None
        stopped = None
        for index in range(checks):
            started = time.monotonic()
            self.check(routing, client)
            if index == checks - 1:
                break
            pause = p["interval"] - (time.monotonic() - started)
            if deadline is not None and time.monotonic() + max(pause, 0) >= deadline:
                break
            # Between two checks: a watch whose job is gone stops here, its last write complete.
            stopped = guard.sleep(pause)
            if stopped:
                break
        last = self.decisions[-1]
        if stopped:
            self.module.fail_json(msg="The burst watch stopped after %d checks because %s; the weights are as the last "
                                      "check left them (%s)." % (len(self.decisions), stopped, self._weights_text(routing)),
                                  changed=self.changed, decisions=self.decisions)
        result = dict(changed=self.changed, in_burst=last["in_burst"], rate=last["rate"], since=last["since"],
                      weights=bu.weights(p["primary_subset"], p["burst_subset"], last["burst_weight"]),
                      decisions=self.decisions, log=bu.summary(self.decisions, p["primary_subset"], p["burst_subset"]),
                      query=self.query)
        if self.module._diff and self.changed:
            before_weight = int((rt.current_split(self.first_vs, p["service"], p["namespace"]) or {}).get(
                p["burst_subset"], 0))
            result["diff"] = dict(
                before=dict(weights=bu.weights(p["primary_subset"], p["burst_subset"], before_weight),
                            state=self._annotation(self.first_vs)),
                after=dict(weights=result["weights"], state=bu.state_annotation(
                    dict(in_burst=last["in_burst"], burst_weight=last["burst_weight"], since=last["since"]))))
        return result


def run(module):
    """istio_burst's result."""
    return BurstRun(module).execute()
