"""The fault matrix on the install path as a user runs it: playbooks/install.yml (control_plane and gateways, helm
method and template method) and playbooks/addons.yml by real ansible-playbook, real helm and kubernetes.core
against kubesim, with kubesim's fault injection on the requests each step sends.

What is asserted is the outcome, not which module or tool sent the request: after each fault the run either
succeeds (a transient fault absorbed by a retry) or fails with a message that names what failed and why (not
Ansible's bare "One or more items failed", never a traceback); it leaves nothing half-owned (no Helm release left
pending, which would block the next run); no process it started is left running; and a run without the fault
converges, the run after it changing nothing.

Each playbook run costs half a minute on a busy 2-core machine, so the faults are not a cross product: each chain
below runs on one cluster and puts one fault per run on a different request kind (LIST, GET, POST, PATCH, PUT, dry
run) and step (chart install, upgrade, release bookkeeping, apply, check mode), transient and lasting, so that every
kind of request the path sends and every kind of fault is met at least once; the last two runs of a chain are the
re-run without a fault and the run that must change nothing.
"""
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.integration import istio_support as s
from tests.integration.istio_support import REAL_OLD
from tests.reliability.faults_support import Tally

TALLY = Tally("install")
NS = "istio-system"
# The words a clear message must hold for each fault (what the API server or the client says about it).
WHY = {
    500: r"Internal error|500",
    503: r"unable to handle the request|503|Service Unavailable",
    429: r"too many requests|429",
    "drop": r"EOF|connection reset|closed|Connection aborted|RemoteDisconnected|dropped",
}


@pytest.fixture(scope="module")
def charts(tmp_path_factory):
    return s.package_real_charts(tmp_path_factory.mktemp("charts"), REAL_OLD, charts=("base", "istiod", "gateway"))


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    totals = TALLY.totals()
    TALLY.save()
    assert totals["invariant_violations"] == 0 and totals["orphans"] == 0, totals


def left_running(marker):
    """Processes of a finished run still alive: each run has a TMPDIR of its own, which its processes inherit."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            environ = Path("/proc/%s/environ" % entry).read_bytes()
            state = Path("/proc/%s/stat" % entry).read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and ("TMPDIR=%s" % marker).encode() in environ.split(b"\0"):
            found.append(int(entry))
    return found


def helm_states(sim):
    """{release: [status of each revision]} from Helm's release Secrets."""
    out = {}
    for secret in sorted(sim.list_objects("v1", "Secret", NS), key=lambda x: int(
            (x["metadata"].get("labels") or {}).get("version", 0))):
        labels = secret["metadata"].get("labels") or {}
        if secret.get("type") == s.HELM_RELEASE_TYPE:
            out.setdefault(labels["name"], []).append(labels.get("status"))
    return out


def half_owned(sim):
    """What a later run would trip over: a Helm release whose last revision is not deployed (pending-*: helm
    refuses to touch it, "another operation is in progress")."""
    return ["%s is %s" % (name, states[-1]) for name, states in helm_states(sim).items() if states[-1] != "deployed"]


def failures(run):
    """What a user reads about each failure: the task's name (printed above it) and the message, its items' too."""
    out = []
    for task, _host, result in run.tasks:
        if result.get("failed") or result.get("unreachable"):
            items = [i for i in result.get("results") or [] if isinstance(i, dict) and i.get("failed")]
            out.append("%s: %s" % (task, "; ".join([str(result.get("msg", ""))] + [str(i.get("msg", "")) for i in items])))
    return out


def clear_message(run, why, what):
    """Problems with the failure messages of ``run``: none names ``what`` and ``why``, or one is a traceback or
    Ansible's bare "One or more items failed" with no item that says more."""
    msgs = run.failed_msgs
    problems = []
    text = "\n".join(failures(run))
    if not msgs:
        problems.append("no failure message")
    if "Traceback" in text or "Traceback" in run.stdout:
        problems.append("a traceback")
    if msgs and all(m.strip() in ("", "One or more items failed") for m in msgs):
        problems.append("only 'One or more items failed'")
    if not re.search(why, text, re.I | re.S):
        problems.append("the reason (%s) is not in %r" % (why, text[-1500:]))
    if not re.search(what, text, re.I | re.S):
        problems.append("what failed (%s) is not in %r" % (what, text[-1500:]))
    return problems


class Chain:
    """Runs of one playbook on one cluster, each with at most one fault, tallied as they go."""

    def __init__(self, sim, run_playbook, tmp_path, path, playbook, params):
        self.sim, self.run_playbook, self.path, self.playbook, self.params = sim, run_playbook, path, playbook, params
        self.marker = str(tmp_path / "tmp")

    def run(self, fault=None, kind=None, step=None, inject=None, expect="ok", why=None, what=None, check=False,
            pending_left=(), **extra):
        """``expect``: ok, failed (with a message matching ``why`` and ``what``), or either of them.
        ``pending_left``: the Helm releases the fault is known to leave pending (see the helm test)."""
        sim = self.sim
        start = len(sim.request_log)
        injected = sim.inject_fault(**inject) if inject else None
        run = self.run_playbook(self.playbook, sim, dict(self.params, **extra), check=check)
        sim.clear_faults()
        problems = []
        if injected is not None and injected.hits == 0:
            problems.append("the fault was never met")
        orphans = left_running(self.marker)
        if expect == "ok" and run.rc != 0:
            problems.append("failed: %s" % run.failed_msgs[-3:])
        if expect == "failed" and run.rc == 0:
            problems.append("succeeded under a lasting fault")
        if expect in ("failed", "either") and run.rc != 0:
            problems += clear_message(run, why, what)
        if check and s.writes_since(sim, start):
            problems.append("check mode wrote: %s" % s.writes_since(sim, start)[:3])
        left = half_owned(sim)
        problems += ["left half-owned: %s" % x for x in left if x not in pending_left]
        problems += ["expected to be left pending: %s" % x for x in pending_left if x not in left]
        outcome = "ok" if run.rc == 0 else "failed"
        if left:
            outcome += ", left pending (helm rollback)"
        if fault is not None:
            TALLY.add(self.path, fault, kind, step, outcome, injected.hits if injected else 0, problems, len(orphans))
        assert not problems and not orphans, (problems, orphans, run)
        return run

    def converge(self, **extra):
        """The run without a fault that must reach the end state, then the one that must change nothing."""
        first = self.run(**extra)
        again = self.run(**extra)
        assert again.changed == 0, s.changed_tasks(again)
        return first


def deployment(sim, name):
    return sim.get_object("apps/v1", "Deployment", name, NS)


# -- control_plane and gateways, helm method ---------------------------------------------------------------

def test_helm_install_meets_faults_on_every_kind_of_request(kubesim, run_playbook, tmp_path, charts):
    """One cluster, one fault per run (helm's requests: LIST of its release Secrets, GET and POST/PATCH of the
    chart's objects, PUT of the release record)."""
    sim = kubesim
    chain = Chain(sim, run_playbook, tmp_path, "install/control_plane+gateways (helm)", "install.yml",
                  dict(control_plane_version=REAL_OLD, control_plane_charts=charts))
    # A fresh install whose istiod Deployment create meets 503 twice. The first 503 leaves the release failed; the
    # retry finds it with the wanted chart and values (kubernetes.core.helm sees nothing to do), so the next task
    # upgrades it again, forced, and meets the second 503 before its own retry installs it.
    run = chain.run("503 x2", "POST", "install istiod", inject=dict(
        method="POST", path=r"^/apis/apps/v1/namespaces/%s/deployments$" % NS, status=503, times=2))
    assert s.task_result(run, "Install the istio/istiod chart as istiod")["attempts"] == 2
    repair = s.task_result(run, "Install again, over its failed release, the istio/istiod chart as istiod")
    assert repair["changed"] and repair["attempts"] == 2, repair
    assert s.helm_releases(sim).keys() == {"istio-base", "istiod", "istio-ingressgateway"}
    # Helm's own GET of an object it is about to create, dropped once: client-go tries a GET again by itself.
    gateway = r"^/apis/apps/v1/namespaces/%s/deployments/istio-ingressgateway$" % NS
    run = chain.run("dropped connection", "GET", "upgrade gateway", inject=dict(
        method="GET", path=gateway, status=None, drop=True, times=1),
        gateways_list=[dict(name="istio-ingressgateway", namespace=NS, service_type="LoadBalancer", replicas=2)])
    assert deployment(sim, "istio-ingressgateway")["spec"]["replicas"] == 2
    # The upgrade's PATCH of the gateway Deployment dropped once: the write is retried by the task.
    run = chain.run("dropped connection", "PATCH", "upgrade gateway", inject=dict(
        method="PATCH", path=gateway, status=None, drop=True, times=1),
        gateways_list=[dict(name="istio-ingressgateway", namespace=NS, service_type="LoadBalancer", replicas=3)])
    assert deployment(sim, "istio-ingressgateway")["spec"]["replicas"] == 3
    # 429 with Retry-After on the PUT that records the upgrade: client-go honours it without the task's retry.
    record = r"^/api/v1/namespaces/%s/secrets/sh\.helm\.release\.v1\.istiod\." % NS
    run = chain.run("429 x2 with Retry-After", "PUT", "record istiod upgrade", inject=dict(
        method="PUT", path=record, status=429, times=2, retry_after=1),
        control_plane_pilot_env={"PILOT_TRACE_SAMPLING": "2"})
    assert s.task_result(run, "Install the istio/istiod chart as istiod")["attempts"] == 1
    # helm's LIST of its release Secrets answers 500 for good: the run stops, naming the release, before any write.
    start = len(sim.request_log)
    chain.run("500 lasting", "LIST", "find istio-base", inject=dict(
        method="GET", path=r"^/api/v1/namespaces/%s/secrets$" % NS, status=500, times=None),
        expect="failed", why=WHY[500], what=r"istio-base|istio/base", control_plane_pilot_env={"PILOT_TRACE_SAMPLING": "2"})
    assert s.writes_since(sim, start) == []
    # The PUT that records the upgrade answers 500 for good: helm cannot record the outcome, not even a failure, and
    # leaves the revision pending-upgrade; the task's retry meets helm's refusal to touch a pending release (another
    # helm run may be at work on it: nothing tells a crashed run from a running one). The run, and the next one,
    # stop saying so and how to settle it; the operator does, and the run after converges (docs/reliability.md).
    settle = r"another operation \(install/upgrade/rollback\) is in progress.* left pending.*helm rollback istiod -n %s" % NS
    chain.run("500 lasting", "PUT", "record istiod upgrade", inject=dict(
        method="PUT", path=record, status=500, times=None), pending_left=["istiod is pending-upgrade"],
        expect="failed", why=settle, what=r"Helm release %s/istiod" % NS,
        control_plane_pilot_env={"PILOT_TRACE_SAMPLING": "3"})
    blocked = run_playbook("install.yml", sim, dict(chain.params, control_plane_pilot_env={"PILOT_TRACE_SAMPLING": "3"}))
    assert blocked.rc != 0 and not clear_message(blocked, settle, r"Helm release %s/istiod" % NS), blocked
    rollback = subprocess.run([s.HELM, "--kubeconfig", str(sim.kubeconfig_path), "rollback", "istiod", "-n", NS],
                              capture_output=True, text=True, check=False)
    assert rollback.returncode == 0, rollback.stderr
    chain.converge(control_plane_pilot_env={"PILOT_TRACE_SAMPLING": "3"},
                   gateways_list=[dict(name="istio-ingressgateway", namespace=NS, service_type="LoadBalancer",
                                       replicas=3)])
    env = deployment(sim, "istiod")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "PILOT_TRACE_SAMPLING", "value": "3"} in env
    assert set(s.helm_releases(sim)) == {"istio-base", "istiod", "istio-ingressgateway"}


# -- control_plane and gateways, template method; addons (server-side apply) -------------------------------
# Which module sends these requests may change (kubernetes.core.k8s, or a module of ours that retries): the rows
# hold a transient fault to its outcome - absorbed, or a clear failure - and to the re-run that converges.

def test_template_install_meets_faults_on_every_kind_of_request(kubesim, run_playbook, tmp_path):
    sim = kubesim
    release = s.real_release_charts(tmp_path / "istio-1.27.0" / "manifests" / "charts", REAL_OLD)
    chain = Chain(sim, run_playbook, tmp_path, "install/control_plane+gateways (template)", "install.yml",
                  dict(control_plane_method="template", control_plane_version=REAL_OLD, control_plane_charts=release,
                       control_plane_webhook_delay=0))
    # A fresh install whose apply of istiod's Deployment meets 503 twice.
    chain.run("503 x2", "PATCH", "apply istiod", expect="either", why=WHY[503], what=r"istiod", inject=dict(
        method="PATCH", path=r"^/apis/apps/v1/namespaces/%s/deployments/istiod$" % NS, status=503, times=2))
    # The LIST of Deployments that finds the installed revisions, throttled twice.
    chain.run("429 x2", "LIST", "find revisions", expect="either", why=WHY[429], what=r"Deployment", inject=dict(
        method="GET", path=r"^/apis/apps/v1/deployments$", status=429, times=2))
    # Check mode with a changed setting: the dry run of the gateway's Deployment is dropped once; nothing is written.
    chain.run("dropped connection", "dry-run PATCH", "preview gateway", expect="either", why=WHY["drop"],
              what=r"istio-ingressgateway|the gateway objects", check=True, inject=dict(
                  method="PATCH", path=r"^/apis/apps/v1/namespaces/%s/deployments/istio-ingressgateway$" % NS,
                  status=None, drop=True, times=1, dry_run_only=True),
              gateways_list=[dict(name="istio-ingressgateway", namespace=NS, service_type="LoadBalancer", replicas=2)])
    # The apply of the gateway's Deployment answers 500 for good.
    chain.run("500 lasting", "PATCH", "apply gateway", expect="failed", why=WHY[500],
              what=r"istio-ingressgateway|the gateway objects",
              inject=dict(method="PATCH", path=r"^/apis/apps/v1/namespaces/%s/deployments/istio-ingressgateway$" % NS,
                          status=500, times=None),
              gateways_list=[dict(name="istio-ingressgateway", namespace=NS, service_type="LoadBalancer", replicas=2)])
    chain.converge(gateways_list=[dict(name="istio-ingressgateway", namespace=NS, service_type="LoadBalancer",
                                       replicas=2)])
    assert deployment(sim, "istio-ingressgateway")["spec"]["replicas"] == 2
    assert s.managers(deployment(sim, "istiod")) == ["meshops-istio"]


def test_addons_meet_faults_on_every_kind_of_request(kubesim_istio, run_playbook, tmp_path):
    sim = s.seed_istio(kubesim_istio)
    chain = Chain(sim, run_playbook, tmp_path, "install/addons", "addons.yml", dict(addons_source=s.ADDONS_DIR))
    kiali = r"^/api/v1/namespaces/%s/configmaps/kiali$" % NS
    # Check mode first (the namespace exists): a dry run of Kiali's ConfigMap meets 503 twice; nothing is written.
    chain.run("503 x2", "dry-run PATCH", "preview addons", expect="either", why=WHY[503], what=r"kiali|the addons", check=True,
              inject=dict(method="PATCH", path=kiali, status=503, times=2, dry_run_only=True))
    # The apply of Kiali's ConfigMap answers 500 for good. First, while Kiali is not yet applied: istio_apply
    # sends nothing for an object already in place, so after a successful run the PATCH would never come.
    chain.run("500 lasting", "PATCH", "apply kiali", expect="failed", why=WHY[500], what=r"kiali|the addons", inject=dict(
        method="PATCH", path=kiali, status=500, times=None))
    # The LIST of Deployments that finds the installed Istio (its version picks the addon files) dropped once.
    chain.run("dropped connection", "LIST", "find istio", expect="either", why=WHY["drop"], what=r"Deployment",
              inject=dict(method="GET", path=r"^/apis/apps/v1/deployments$", status=None, drop=True, times=1))
    chain.converge()
    for name in ("grafana", "jaeger", "kiali", "prometheus"):
        assert deployment(sim, name)["status"].get("readyReplicas") == 1, name
