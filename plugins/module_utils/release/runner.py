# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE)
"""The release against the cluster: reads the routing and its release state, asks Prometheus, writes weights
and state in one guarded patch, keeps the load Jobs, writes the report. What an action does in which phase is
state.TRANSITIONS; this carries it out for istio_release.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time

from ansible_collections.meshops.istio.plugins.module_utils import loadgen
from ansible_collections.meshops.istio.plugins.module_utils import prometheus as prom
from ansible_collections.meshops.istio.plugins.module_utils import release_report
from ansible_collections.meshops.istio.plugins.module_utils import routing as rt
from ansible_collections.meshops.istio.plugins.module_utils import validation as val
from ansible_collections.meshops.istio.plugins.module_utils.job import JobGuard
from ansible_collections.meshops.istio.plugins.module_utils.kube import KubeError
from ansible_collections.meshops.istio.plugins.module_utils.release import analysis as ra
from ansible_collections.meshops.istio.plugins.module_utils.release import state as rl
from ansible_collections.meshops.istio.plugins.module_utils.release.state import Outcome
from ansible_collections.meshops.istio.plugins.module_utils.traffic import HostRouting, RouteRouting

STABLE_LABELS_NEEDED = ("metrics_labels selects the canary's metrics, so analysis.compare and analysis.judge need "
                        "stable_metrics_labels to select the stable version's (for example "
                        "{destination_workload: reviews-v1}).")


class Failed(Exception):
    """The release ended the task in failure after its state was written (rollback, paused)."""


class Stopped(Failed):
    """The job that started the task is gone (or asked it to stop): stopped between two steps."""


class MissingRouting(KubeError):
    """The VirtualService of the service is not where it was looked for; ``found_in`` says where it is."""

    def __init__(self, message, found_in=(), namespace_exists=None, **where):
        super(MissingRouting, self).__init__(message, **where)
        self.found_in = list(found_in)
        self.namespace_exists = namespace_exists


class Release:
    """One task of istio_release: execute() applies state.TRANSITIONS to the release on the routing, output() is
    the module's result."""

    def __init__(self, module, cluster):
        self.module = module
        self.p = module.params
        self.check = module.check_mode
        if self.p["routing_api"] == "gateway-api":
            self.routing = RouteRouting(cluster, self.p["service"], self.p["namespace"], self.p["http_route"])
        else:
            self.routing = HostRouting(cluster, self.p["service"], self.p["namespace"], self.p["virtual_service"],
                                       self.p["destination_rule"], self.p["api_version"])
        # Settings given now; the rest come from the release state (or the defaults at start).
        self.analysis_given = dict((k, v) for k, v in (self.p["analysis"] or {}).items() if v is not None)
        self.analysis_cfg = ra.validate_analysis(self.analysis_given, prom.seconds)
        self.load_given = loadgen.validate(self.p["load"], prom.seconds)
        self.load_jobs = None
        self.plan = None
        if self.p["steps"] or self.p["step_weight"]:
            self.plan = rl.plan_weights(self.p["steps"], self.p["step_weight"], self.p["max_weight"])
        # Without prometheus.url, through the API server's service proxy with this cluster's client.
        self.client = prom.client_from(self.p["prometheus"], cluster.dynamic)
        self.action = self.p["action"]
        self.name = None
        self.where = "%s %s/%s" % (self.routing.kind, self.p["namespace"], self.routing.name)
        self.outcomes = []
        self.timings = []
        self.last_result = None
        self.changed = False
        self.pending = None
        # Only the actions that wait between steps can outlive the job that started them.
        self.guard = JobGuard() if self.p["action"] in ("run", "step") and not self.check else None

    # -- reading ----------------------------------------------------------------------------
    def load(self):
        self.routing.read()
        vs = self.routing.live
        if vs is None:
            raise self.missing_routing()
        self.state = rl.load((vs.get("metadata") or {}).get("annotations"))
        self.before = dict(weights=self.split(), phase=self.state["phase"] if self.state else None)
        return self.state

    def missing_routing(self):
        """The error for a VirtualService that is not there: where it was looked for, and where it is."""
        namespace, name, cluster, kind = self.p["namespace"], self.routing.name, self.routing.cluster, self.routing.kind
        try:
            found_in = sorted(vs["metadata"]["namespace"] for vs in cluster.list(self.routing.api_version, kind)
                              if vs["metadata"]["name"] == name and vs["metadata"]["namespace"] != namespace)
            namespace_exists = cluster.get("v1", "Namespace", namespace) is not None
        except KubeError:
            # Reading other namespaces may be forbidden; the message then goes without the hint.
            found_in, namespace_exists = [], None
        where = "namespace %s%s" % (namespace, " (which does not exist)" if namespace_exists is False else "")
        hint = (" %s %s is in namespace %s." % (kind, name, ", ".join(found_in))) if found_in else ""
        return MissingRouting(
            "There is no %s %s in %s.%s Deploy the application and its routing into namespace %s first "
            "(Bookinfo: the meshops.istio.bookinfo role), or set namespace to where it runs; for a service of your "
            "own, declare its routing first (meshops.istio.istio_traffic)." % (kind, name, where, hint, namespace),
            kind=kind, name=name, namespace=namespace, reason="NotFound",
            found_in=found_in, namespace_exists=namespace_exists)

    def split(self):
        return self.routing.split()

    def release_name(self):
        if self.p["name"]:
            return rl.validate_name(self.p["name"])
        service = (rt.service_of(self.p["service"], self.p["namespace"]) or (self.p["service"],))[0]
        if self.p["canary"]:
            return rl.validate_name("%s-%s" % (service, self.p["canary"]))
        if self.state or self.p["action"] == "status":
            return self.state["name"] if self.state else None
        raise rl.ReleaseError("There is no release on %s %s/%s; give canary (and steps) to start one."
                              % (self.routing.kind, self.p["namespace"], self.routing.name))

    # -- writing ----------------------------------------------------------------------------
    def write(self, state, outcome, decided, analysis_ms=None):
        """Weights and state in one merge patch, guarded by the resourceVersion we decided on."""
        vs = self.routing.live
        patch = {"metadata": {"resourceVersion": vs["metadata"]["resourceVersion"],
                              "annotations": {rl.ANNOTATION: rl.dump(state)}},
                 "spec": self.routing.weights_spec(state["weights"])}
        self.routing.live = self.routing.cluster.patch(self.routing.api_version, self.routing.kind, self.routing.name,
                                                       self.p["namespace"], patch)
        timing = dict(outcome=Outcome(outcome).value, weights=dict(state["weights"]),
                      decided_to_written_ms=round((time.monotonic() - decided) * 1000, 1))
        if analysis_ms is not None:
            timing["analysis_ms"] = analysis_ms
        self.timings.append(timing)
        self.state = state
        self.record(outcome)
        self.changed = True
        self.sync_load()

    def sync_load(self):
        """The load Job of the period being analysed, and no other (nothing without load settings)."""
        load = self.state.get("load") if self.state else None
        if not load:
            return
        if self.load_jobs is None:
            self.load_jobs = loadgen.LoadGenerator(self.routing.cluster, self.p["namespace"], self.state["name"])
        desired = None
        if self.state["phase"] in rl.ANALYSING:
            cfg = self.state["analysis"]
            desired = loadgen.manifest(self.state["name"], self.p["namespace"], self.state["since"], load, load["url"],
                                       loadgen.duration_of(load, cfg["interval"], cfg["window"]))
        if self.load_jobs.sync(desired):
            self.changed = True

    # -- analysis ---------------------------------------------------------------------------
    def canary_labels(self, canary=None):
        canary = canary or self.state["canary"]
        labels = prom.destination_labels((rt.service_of(self.p["service"], self.p["namespace"]) or (self.p["service"],))[0],
                                         self.p["namespace"])
        if self.p["metrics_labels"]:
            labels.update(dict((k, str(v)) for k, v in self.p["metrics_labels"].items()))
            return labels
        subset_labels = self.routing.labels_of(canary)
        version = subset_labels.get("version")
        if not version:
            raise rl.ReleaseError("The labels of subset %s (%s) have no version label, so its metrics cannot be told "
                                  "apart: set metrics_labels, for example {destination_workload: <deployment>}."
                                  % (canary, subset_labels or None))
        labels["destination_version"] = version
        return labels

    def measure(self):
        cfg = self.analysis_cfg
        labels = self.canary_labels()
        variables = dict(namespace=self.p["namespace"], service=labels["destination_service_name"],
                         host=self.p["service"], canary=self.state["canary"], stable=self.state["stable"],
                         canary_version=labels.get("destination_version", self.state["canary"]),
                         window=prom.promql_duration(cfg["window"]),
                         interval=prom.promql_duration(max(cfg["interval"], 1)))
        # With the canary at 100% the stable version has nothing to be compared on.
        serving = self.state["weights"].get(self.state["stable"], 0) > 0
        return ra.measure(self.client, cfg, labels, variables, lambda: self.stable_labels() if serving else None)

    def stable_labels(self):
        """The canary's matchers with the stable version's label (or stable_metrics_labels)."""
        given = self.p["stable_metrics_labels"]
        if not given:
            if self.p["metrics_labels"]:
                raise rl.ReleaseError(STABLE_LABELS_NEEDED)
            return self.canary_labels(self.state["stable"])
        labels = prom.destination_labels((rt.service_of(self.p["service"], self.p["namespace"]) or (self.p["service"],))[0],
                                         self.p["namespace"])
        labels.update(dict((k, str(v)) for k, v in given.items()))
        return labels

    def analyse_and_decide(self):
        """One step of the release: wait for the interval, analyse, write the outcome."""
        # After a crash between the state write and the Job, or a load removed by hand.
        self.sync_load()
        due = rl.analysis_due(self.state, time.time())
        if due > 0 and not self.check:
            self.stop_if_gone(self.guard.sleep(due) if self.guard else time.sleep(due))
        asked = time.monotonic()
        try:
            measured = self.measure()
        except prom.PrometheusError as e:
            decided = time.monotonic()
            why = "Prometheus unavailable (%s)" % e.reason
            # The analysis could not run: say so, never report the last analysis that did.
            self.last_result = dict(status="error", passed=False, reason=e.reason, message=e.message, checks=[],
                                    failed=[])
            self.write(rl.pause(self.state, time.time(), why), Outcome.PAUSED, decided)
            raise Failed("%s Release %s is paused with its weights unchanged (%s). Fix Prometheus (or the "
                         "prometheus options), then run action=resume."
                         % (e.message, self.state["name"], rl.split_text(self.state["weights"]))) from None
        result = ra.decide(self.analysis_cfg, measured)
        self.last_result = result
        decided = time.monotonic()
        state, outcome = rl.after_analysis(self.state, result, measured, time.time())
        self.write(state, outcome, decided, analysis_ms=round((decided - asked) * 1000, 1))
        if outcome == Outcome.ROLLED_BACK and result["status"] == "no_traffic":
            raise Failed("Release %s %s" % (state["name"], state["message"][0].lower() + state["message"][1:]))
        if outcome == Outcome.ROLLED_BACK:
            raise Failed("Release %s rolled back to 100%% %s: the analysis at %d%% failed - %s; failed analyses %d "
                         "> threshold %d." % (state["name"], state["stable"], state["history"][-2]["weights"].get(
                             state["canary"], 0), ra.failure_text(result), state["failed_checks"], state["threshold"]))
        return outcome

    # -- actions ----------------------------------------------------------------------------
    def pending_in_check_mode(self):
        """In check mode, a release whose routing does not exist yet (Istio or the application is only being
        dry-run by earlier steps of the same run, as in site.yml --check) is reported, not refused."""
        if not self.check or self.p["action"] not in ("start", "run"):
            return None
        try:
            self.routing.read()
        except KubeError as e:
            if e.reason != "IstioNotInstalled":
                raise
            return "Istio is not installed yet"
        if self.routing.live is None:
            return "%s %s/%s does not exist yet" % (self.routing.kind, self.p["namespace"], self.routing.name)
        return None

    def execute(self):
        why = self.pending_in_check_mode()
        if why:
            self.state, self.before = None, dict(weights=None, phase=None)
            self.pending = ("Check mode: %s (an earlier step of this run would create it), so the release of %s to "
                            "canary %s would start then; nothing was asked of Prometheus."
                            % (why, self.p["service"], self.p["canary"]))
            self.record(Outcome.PENDING)
            self.changed = True
            return
        self.load()
        self.name = self.release_name()
        if self.action != "status":
            rl.check_owner(self.state, self.name)
        mine = self.state if self.state and self.state["name"] == self.name else None
        if mine and mine["phase"] in rl.ACTIVE:
            self.adopt_analysis(mine)
        rl.transition(mine["phase"] if mine else rl.NO_RELEASE, self.action)(self, mine)
        if not self.outcomes:
            self.record(Outcome.UNCHANGED)

    # -- what the transitions call (state.TRANSITIONS) --------------------------------------------
    def record(self, outcome):
        # The output carries plain strings, as before the outcomes had a type.
        self.outcomes.append(Outcome(outcome).value)

    def change(self, new_state, mine, outcome):
        """A write decided now: ``new_state(mine, now)`` (pause, resume, promote, abort) with its weights."""
        now, decided = time.time(), time.monotonic()
        self.write(new_state(mine, now), outcome, decided)

    def check_same(self, mine):
        rl.check_same(mine, self.p["stable"] or mine["stable"], self.p["canary"], self.plan)

    def adopt_analysis(self, state):
        """Judge with the settings the release keeps, overridden by the ones given to this task."""
        settings = dict(state.get("analysis") or {})
        settings.update(self.analysis_given)
        self.analysis_cfg = ra.validate_analysis(settings, prom.seconds)
        state["analysis"] = self.analysis_cfg
        state["threshold"], state["interval"] = self.analysis_cfg["threshold"], self.analysis_cfg["interval"]
        if self.load_given:
            state["load"] = self.load_for(state["host"])

    def load_for(self, host):
        """The load settings with the URL resolved (the Service's first port when no URL or port is given)."""
        load = dict(self.load_given)
        service, namespace = rt.service_of(host, self.p["namespace"]) or (host, self.p["namespace"])
        ports = []
        if not load["url"] and load["port"] is None:
            svc = self.routing.cluster.get("v1", "Service", service, namespace) or {}
            ports = [p["port"] for p in (svc.get("spec") or {}).get("ports") or [] if p.get("port")]
        try:
            load["url"] = loadgen.target_url(load, service, namespace, ports)
        except loadgen.LoadError as e:
            raise rl.ReleaseError(str(e)) from None
        return load

    def start(self):
        name = self.name
        canary, split = self.p["canary"], self.split()
        if not canary:
            raise rl.ReleaseError("action=%s needs canary: the subset to release." % self.p["action"])
        if self.plan is None:
            raise rl.ReleaseError("A release needs a plan: steps (for example [10, 25, 50, 100]) or step_weight.")
        if split is None:
            raise rl.ReleaseError("%s %s/%s has no default route to %s: declare it with "
                                  "meshops.istio.istio_traffic first."
                                  % (self.routing.kind, self.p["namespace"], self.routing.name, self.p["service"]))
        serving = [s for s, w in split.items() if w > 0]
        stable = self.p["stable"]
        if not stable:
            if len(serving) != 1:
                raise rl.ReleaseError("Traffic of %s is split (%s), so the stable subset is not clear: give stable."
                                      % (self.p["service"], rl.split_text(split)))
            stable = serving[0]
        if stable == canary:
            raise rl.ReleaseError("stable and canary are both %s; the canary must be another subset." % canary)
        others = [s for s in serving if s not in (stable, canary)]
        if others:
            raise rl.ReleaseError("The default route of %s also sends traffic to %s (%s); a release moves traffic "
                                  "between %s and %s only. Route it to %s first (meshops.istio.istio_traffic)."
                                  % (self.p["service"], ", ".join(others), rl.split_text(split), stable, canary, stable))
        self.routing.check_subsets([stable, canary])
        self.canary_labels(canary)
        # A release that cannot be judged must not move traffic.
        try:
            self.client.query("vector(1)")
        except prom.PrometheusError as e:
            raise rl.ReleaseError("Release %s not started, no traffic moved: %s" % (name, e.message)) from None
        load = self.load_for(self.p["service"]) if self.load_given else None
        decided = time.monotonic()
        state = rl.new_release(name, self.p["service"], self.p["namespace"], stable, canary, self.plan,
                               self.analysis_cfg, time.time())
        if load:
            state["load"] = load
        self.write(state, Outcome.STARTED, decided)

    def stop_if_gone(self, why=None):
        """Stop between two steps when the job is gone; the state written last stays as it is."""
        why = why or (self.guard.gone() if self.guard else None)
        if why:
            raise Stopped("Release %s stopped between two steps because %s; its state is as the last step wrote "
                          "it (%s), and running the task again continues it." % (
                              self.state["name"], why, rl.split_text(self.state["weights"])))

    def run_all(self):
        while self.state["phase"] in rl.ANALYSING:
            if self.check and self.outcomes:
                # Check mode shows the next decision only: later ones depend on writes it does not make.
                break
            self.stop_if_gone()
            self.analyse_and_decide()
        if not self.outcomes:
            self.record(Outcome.UNCHANGED)
        if self.state["phase"] == rl.PAUSED and not self.check:
            raise Failed("Release %s is paused (%s); run action=resume to continue."
                         % (self.state["name"], self.state.get("paused_reason")))

    # -- output -----------------------------------------------------------------------------
    def output(self):
        now = time.time()
        out = dict(changed=self.changed, outcome=self.outcomes[-1] if self.outcomes else "unchanged",
                   outcomes=self.outcomes, phase=self.state["phase"] if self.state else None, weights=self.split(),
                   previous_weights=self.before["weights"], release=self.state,
                   summary=self.pending or rl.summary(self.state, now), timings=self.timings)
        if self.last_result:
            out["analysis"] = self.last_result
        if self.p["report"] and self.state and not self.check:
            out["report"] = self.write_report(now)
        actions = self.load_jobs.actions if self.load_jobs else []
        if actions:
            out["load_jobs"] = actions
        if self.module._diff and self.changed:
            out["diff"] = dict(before=self.before, after=dict(weights=self.split(), phase=out["phase"]))
            if actions:
                # The load Jobs this task removed (before) and created (after).
                out["diff"]["before"] = dict(self.before, load_jobs=[a["name"] for a in actions if a["action"] == "deleted"])
                out["diff"]["after"]["load_jobs"] = [a["name"] for a in actions if a["action"] == "created"]
        return out

    def write_report(self, now):
        path = self.p["report"]
        folder = os.path.dirname(path)
        if folder and not os.path.isdir(folder):
            os.makedirs(folder)
        chart = os.path.splitext(path)[0] + ".svg"
        with open(chart, "w") as f:
            f.write(release_report.svg(self.state))
        steps_chart = os.path.splitext(path)[0] + "-steps.svg"
        with open(steps_chart, "w") as f:
            f.write(release_report.steps_svg(self.state))
        with open(path, "w") as f:
            f.write(release_report.markdown(self.state, now, os.path.basename(chart), os.path.basename(steps_chart)))
        return dict(markdown=path, chart=chart, steps_chart=steps_chart)


# What validate() raises: the message alone is the error (nothing was read or written).
INPUT_ERRORS = (rl.ReleaseError, rt.RoutingError, val.InputError, loadgen.LoadError)


def validate(params):
    """Check the options of istio_release before anything is read or written."""
    ra.validate_analysis(params["analysis"], prom.seconds)
    loadgen.validate(params["load"], prom.seconds)
    if params["steps"] or params["step_weight"]:
        rl.plan_weights(params["steps"], params["step_weight"], params["max_weight"])
    for key in ("stable", "canary"):
        if params[key]:
            rt.validate_subset_name(params[key], key)
    if params["name"]:
        rl.validate_name(params["name"])
    analysis = params["analysis"] or {}
    if (analysis.get("compare") or analysis.get("judge")) and params["metrics_labels"] and not \
            params["stable_metrics_labels"]:
        raise rl.ReleaseError(STABLE_LABELS_NEEDED)
    val.require_names(val.host_checks(params))
    problem = prom.options_problem(params["prometheus"])
    if problem:
        raise val.InputError(problem)
