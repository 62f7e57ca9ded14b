"""The fault matrix: kubesim's fault injection (and a fault proxy in front of the real Prometheus) against the
release, burst, traffic and install paths, driven through the modules' own code in this process.

Each transient fault must be absorbed by the retry (N failures then success: N+1 requests, the task succeeds);
each lasting fault must fail clearly after the bound without breaking anything. After every fault the routing
invariants hold, and running the same task again reaches the intended end state.
"""
import re
import signal

import pytest

from ansible_collections.meshops.istio.plugins.module_utils import burst_run, kube
from ansible_collections.meshops.istio.plugins.module_utils import namespace as namespace_run
from ansible_collections.meshops.istio.plugins.module_utils import prometheus as prom
from ansible_collections.meshops.istio.plugins.module_utils import traffic as tr
from ansible_collections.meshops.istio.plugins.module_utils.release import runner
from ansible_collections.meshops.istio.plugins.module_utils.release import state as rl
from ansible_collections.meshops.istio.plugins.module_utils import routing as rt
from ansible_collections.meshops.istio.plugins.module_utils.kube import Cluster, KubeError
from ansible_collections.meshops.istio.plugins.modules import istio_burst, istio_namespace, istio_release, istio_traffic
from tests.reliability.faults_support import (
    API,
    REPO,
    TIMEOUT,
    DirectModule,
    ModuleFailed,
    PrometheusFaults,
    Tally,
    faulted,
    lists,
    prometheus_params,
    request_kinds,
    violations,
    wait_served,
)
from sim.meshsim import bookinfo
from sim.prometheus_harness import PrometheusServer

TALLY = Tally("matrix")
PLAN = [50, 100]
STEPS = ("start", "step", "step")  # start at 50%, advance to 100%, promote
# The analysis only needs Prometheus to answer (its PromQL is evaluated by the real Prometheus): what is tested
# here is how a fault is met, not the judgement of a canary (tests/integration/test_release.py does that).
ANALYSIS = {"interval": 0, "window": "5s", "min_requests": 0, "threshold": 3,
            "checks": [{"name": "prometheus_up", "query": "vector(1)", "min": 1}]}

# name: (kubesim fault settings, expected outcome)
FAULTS = {
    "500 x2": (dict(status=500, times=2), "recovered"),
    "503 x2": (dict(status=503, times=2), "recovered"),
    "429 x2": (dict(status=429, times=2), "recovered"),
    "dropped connection": (dict(status=None, drop=True, times=1), "recovered"),
    "held past the timeout": (dict(status=None, latency=TIMEOUT * 2, times=1), "recovered"),
    "409": (dict(status=409, times=1), "failed"),
    "500 lasting": (dict(status=500, times=None), "failed"),
}


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch):
    # The policy is the product's (5 tries, doubling); only its waits are shortened here.
    monkeypatch.setattr(kube.Backoff, "BASE", 0.01)
    monkeypatch.setattr(kube.Backoff, "CAP", 0.05)
    # JobGuard catches SIGINT/SIGTERM in the process it runs in: pytest's own handlers come back after each test.
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


@pytest.fixture(scope="module")
def env(kubesim_istio_module):
    prometheus = PrometheusServer([]).start()
    proxy = PrometheusFaults(prometheus.url)
    yield dict(sim=kubesim_istio_module, prometheus=proxy)
    proxy.stop()
    prometheus.stop()
    totals = TALLY.totals()
    TALLY.save()
    assert totals["invariant_violations"] == 0 and totals["orphans"] == 0, totals


_namespaces = iter(range(1, 10 ** 6))


def new_namespace(sim, prefix):
    ns = "%s-%d" % (prefix, next(_namespaces))
    bookinfo.seed(sim, ns, destination_rules=True, virtual_services=["virtual-service-all-v1.yaml"])
    return ns


def requests_matching(sim, method, path_re, since):
    return [r for r in list(sim.request_log)[since:] if r.method == method and re.search(path_re, r.path)]


# -- release -------------------------------------------------------------------------------------

def defaults(module):
    """A module's options at their defaults, so that an option added later needs no change in these tests."""
    return dict((name, spec.get("default")) for name, spec in module.argspec().items())


def release(sim, ns, action, prometheus_url, check=False):
    params = defaults(istio_release)
    params.update(action=action, service="reviews", namespace=ns, canary="v2", steps=PLAN, max_weight=100,
                  analysis=ANALYSIS, prometheus=prometheus_params(prometheus_url, timeout=TIMEOUT), api_version=API)
    module = DirectModule(sim, check_mode=check, **params)
    worker = None
    try:
        worker = runner.Release(module, Cluster(module))
        worker.execute()
        return "ok", worker.output()
    except runner.Failed as e:
        return "failed", dict(worker.output(), msg=str(e))
    except (KubeError, rl.ReleaseError, rt.RoutingError, prom.PrometheusError) as e:
        return "failed", dict(msg=getattr(e, "message", None) or str(e))


def release_state(sim, ns):
    vs = sim.get_object(API, "VirtualService", "reviews", ns)
    split = rt.current_split(vs, "reviews", ns) or {}
    return rl.load(vs["metadata"].get("annotations")), dict((k, v) for k, v in split.items() if v)


KINDS = request_kinds(r"/virtualservices/reviews$")


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("kind", list(KINDS))
def test_release_meets_api_faults_at_every_step(env, fault, kind):
    sim, url = env["sim"], env["prometheus"].url
    settings, expected = FAULTS[fault]
    ns = new_namespace(sim, "frel")
    where = dict(KINDS[kind], path="/namespaces/%s%s" % (ns, KINDS[kind]["path"]))
    dry = where.get("dry_run_only", False)
    for index, action in enumerate(STEPS):
        before = release_state(sim, ns)
        since = len(sim.request_log)
        writes_before = len(sim.writes())
        injected, (outcome, result) = faulted(sim, where, settings,
                                              lambda action=action: release(sim, ns, action, url, check=dry))
        found = violations(sim, ns)
        TALLY.add("release", fault, kind, index, outcome, injected.hits, found)
        assert found == []
        assert injected.hits >= 1, "the fault was never met"
        tries = requests_matching(sim, where["method"], where["path"], since)
        if dry:
            # A dry run writes nothing, whatever happens to it.
            assert len(sim.writes()) == writes_before
            assert release_state(sim, ns) == before
        if expected == "recovered":
            assert outcome == "ok", result
            times = settings["times"]
            # N failures, then success: N+1 requests.
            assert len([r for r in tries if r.dry_run == dry]) == times + 1, tries
        else:
            assert outcome == "failed"
            assert result["msg"], result
            if fault == "500 lasting":
                assert "(tried 5 times)" in result["msg"] or "was tried 5 times" in result["msg"], result["msg"]
                assert len([r for r in tries if r.dry_run == dry]) >= 5
            if not dry:
                # Nothing half-written: the release is where it was, and running the step again moves it on.
                assert release_state(sim, ns) == before
        if dry or outcome != "ok":
            outcome, result = release(sim, ns, action, url)
            assert outcome == "ok", result
            assert violations(sim, ns) == []
    state, split = release_state(sim, ns)
    assert state["phase"] == "succeeded" and split == {"v2": 100}
    assert [h["event"] for h in state["history"]].count("start") == 1


PROMETHEUS_FAULTS = {
    "503 x2": (dict(mode="down", times=2), "recovered"),
    "503 lasting": (dict(mode="down"), "paused"),
    "slow past the timeout": (dict(mode="slow", latency=TIMEOUT * 2, times=1), "recovered"),
    "slow lasting": (dict(mode="slow", latency=TIMEOUT * 1.5), "paused"),
    "NaN": (dict(mode="nan"), "held"),
    "empty result": (dict(mode="empty"), "held"),
    "429 x2 with Retry-After": (dict(mode="throttled", times=2), "recovered"),
    "refused": (None, "paused"),
}


@pytest.mark.parametrize("fault", list(PROMETHEUS_FAULTS))
def test_release_meets_prometheus_faults(env, fault):
    sim, proxy = env["sim"], env["prometheus"]
    settings, expected = PROMETHEUS_FAULTS[fault]
    ns = new_namespace(sim, "fprom")
    assert release(sim, ns, "start", proxy.url)[0] == "ok"
    for index in (1, 2):
        before_state, before_split = release_state(sim, ns)
        url = "http://127.0.0.1:9" if settings is None else proxy.url
        if settings:
            proxy.inject(**settings)
        hits = proxy.hits
        outcome, result = release(sim, ns, "step", url)
        proxy.clear()
        state, split = release_state(sim, ns)
        found = violations(sim, ns)
        TALLY.add("release/prometheus", fault, "query", index, result.get("outcome", outcome),
                  proxy.hits - hits + (1 if settings is None else 0), found)
        assert found == []
        if expected == "recovered":
            assert outcome == "ok" and result["analysis"]["status"] == "passed", result
        elif expected == "held":
            # No number is never a pass: the step is held, weights unchanged - waiting for traffic when not even the
            # request count has a value, which is not counted as a failed analysis.
            assert outcome == "ok", result
            assert (result["outcome"], result["analysis"]["status"]) in (("held", "failed"), ("waiting", "no_traffic"))
            assert split == before_split
        else:
            # The analysis could not run: the release pauses, weights unchanged, and says why - never "passed".
            assert outcome == "failed" and result["outcome"] == "paused", result
            assert result["analysis"]["status"] == "error" and result["analysis"]["reason"] in ("unreachable", "http")
            assert result["analysis"]["passed"] is False and result["analysis"]["message"] in result["msg"]
            assert split == before_split and state["phase"] == "paused"
            assert release(sim, ns, "resume", proxy.url)[0] == "ok"
        if expected != "recovered":
            outcome, result = release(sim, ns, "step", proxy.url)
            assert outcome == "ok" and result["analysis"]["status"] == "passed", result
    state, split = release_state(sim, ns)
    assert state["phase"] == "succeeded" and split == {"v2": 100}


def test_a_run_whose_analysis_cannot_run_says_so_and_not_the_last_pass(env):
    """action=run: the first analysis passes, then Prometheus goes away. The result must say the analysis could not
    run, and why - not the "passed" of the analysis before."""
    sim, proxy = env["sim"], env["prometheus"]
    ns = new_namespace(sim, "frun")
    # start asks one query, each analysis two: the second analysis meets a Prometheus that answers 503.
    proxy.inject("down", skip=3)
    outcome, result = release(sim, ns, "run", proxy.url)
    hits = proxy.hits
    proxy.clear()
    state, split = release_state(sim, ns)
    TALLY.add("release/prometheus", "503 lasting after a passed step", "query", 1, result.get("outcome"), hits,
              violations(sim, ns))
    assert outcome == "failed" and result["outcomes"] == ["started", "advanced", "paused"], result
    assert result["analysis"]["status"] == "error" and result["analysis"]["passed"] is False
    assert "answered 503" in result["analysis"]["message"] and "(tried 5 times)" in result["analysis"]["message"]
    assert state["phase"] == "paused" and split == {"v2": 100}
    assert release(sim, ns, "resume", proxy.url)[0] == "ok"
    outcome, result = release(sim, ns, "run", proxy.url)
    assert outcome == "ok" and result["phase"] == "succeeded", result


def test_prometheus_retry_after_is_honoured(env):
    proxy = env["prometheus"]
    waits = []
    client = prom.Client(proxy.url, timeout=TIMEOUT, backoff=kube.Backoff(sleep=waits.append))
    proxy.inject("throttled", times=2)
    kind, result = client.query("vector(1)")
    proxy.clear()
    assert waits == [0.2, 0.2] and result[0]["value"] == 1.0


def test_a_write_the_server_made_after_the_client_gave_up_is_found_by_reading(env):
    """The PATCH is held past the timeout on every try, and the server makes it after the client gave up: the read
    afterwards finds the state written, and the step is reported as done (not failed, not written twice)."""
    sim, url = env["sim"], env["prometheus"].url
    ns = new_namespace(sim, "fheld")
    assert release(sim, ns, "start", url)[0] == "ok"
    since = len(sim.request_log)
    fault = sim.inject_fault(method="PATCH", path=r"/namespaces/%s/virtualservices/reviews$" % ns, status=None,
                             latency=TIMEOUT * 1.5, times=None)
    outcome, result = release(sim, ns, "step", url)
    sim.clear_faults()
    wait_served(sim, TIMEOUT * 1.5)
    state, split = release_state(sim, ns)
    TALLY.add("release", "every PATCH held past the timeout", "PATCH", 1, outcome, fault.hits, violations(sim, ns))
    assert outcome == "ok" and result["outcome"] == "advanced", result
    assert split == {"v2": 100} and state["step"] == 1
    patches = requests_matching(sim, "PATCH", "/virtualservices/reviews$", since)
    # Every try after the first carried a resourceVersion the first had already moved on: 409, then the read.
    assert [r.status for r in patches][1:] and all(r.status in (200, 409) for r in patches)
    assert sum(1 for h in state["history"] if h["event"] == "advance") == 1


def test_a_write_that_never_happened_is_reported_as_not_made(env):
    sim, url = env["sim"], env["prometheus"].url
    ns = new_namespace(sim, "fnot")
    assert release(sim, ns, "start", url)[0] == "ok"
    before = release_state(sim, ns)
    fault = sim.inject_fault(method="PATCH", path=r"/namespaces/%s/virtualservices/reviews$" % ns, drop=True,
                             status=None, times=None)
    outcome, result = release(sim, ns, "step", url)
    sim.clear_faults()
    TALLY.add("release", "every PATCH dropped", "PATCH", 1, outcome, fault.hits, violations(sim, ns))
    assert outcome == "failed"
    assert "a read afterwards shows it was not made, so nothing changed" in result["msg"], result["msg"]
    assert release_state(sim, ns) == before and fault.hits == 5


# -- traffic and burst (server-side apply) ----------------------------------------------------------

def traffic(sim, ns, subsets, check=False, backoff=None):
    params = dict(defaults(istio_traffic), service="reviews", namespace=ns, api_version=API, validate_service=False,
                  state="present", subsets=subsets, prune_subsets=True)
    module = DirectModule(sim, check_mode=check, **params)
    try:
        return "ok", tr.declare(module, Cluster(module, backoff=backoff), tr.validated(params))
    except (KubeError, rt.RoutingError) as e:
        return "failed", dict(msg=getattr(e, "message", None) or str(e))


TRAFFIC_KINDS = request_kinds(r"/virtualservices/reviews$", r"/virtualservices$",
                              kinds=("GET", "LIST", "PATCH", "dry-run PATCH"))


@pytest.mark.parametrize("kind,fault", [(k, f) for k in TRAFFIC_KINDS for f in FAULTS
                                        if f != "409" or k == "PATCH"])  # a 409 only answers a write
def test_traffic_meets_api_faults(env, fault, kind):
    sim = env["sim"]
    settings, expected = FAULTS[fault]
    ns = new_namespace(sim, "ftr")
    where = dict(TRAFFIC_KINDS[kind], path="/namespaces/%s%s" % (ns, TRAFFIC_KINDS[kind]["path"]))
    dry = where.get("dry_run_only", False)
    want = {"v1": 50, "v3": 50}
    writes_before = len(sim.writes())
    injected, (outcome, result) = faulted(sim, where, settings, lambda: traffic(sim, ns, want, check=dry))
    found = violations(sim, ns)
    TALLY.add("traffic", fault, kind, 0, outcome, injected.hits, found)
    assert found == [] and injected.hits >= 1
    if dry:
        assert len(sim.writes()) == writes_before
    assert outcome == ("ok" if expected == "recovered" else "failed"), result
    outcome, result = traffic(sim, ns, want)
    assert outcome == "ok" and result["split"] == want, result
    assert violations(sim, ns) == []


# name: (kubesim fault settings, requests sent, waits asked for)
RETRY_AFTER = {
    "429 x2 with Retry-After": (dict(status=429, times=2, retry_after=3), 3, [3.0, 3.0]),
    # A Retry-After longer than the bound is cut to it, and the tries stay bounded.
    "429 lasting with Retry-After: 3600": (dict(status=429, times=None, retry_after=3600), 5,
                                           [kube.RETRY_AFTER_LIMIT] * 4),
}


@pytest.mark.parametrize("fault", list(RETRY_AFTER))
def test_retry_after_from_the_api_server_is_honoured_and_bounded(env, fault):
    """kubesim answers 429 with a Retry-After header, as kube-apiserver's priority and fairness does: Backoff waits
    what it says (up to RETRY_AFTER_LIMIT) instead of its own doubling. Counted: requests sent, waits asked for
    (recorded, not slept)."""
    sim = env["sim"]
    settings, sent, asked = RETRY_AFTER[fault]
    ns = new_namespace(sim, "fretry")
    where = dict(method="GET", path=r"/namespaces/%s/virtualservices/reviews$" % ns)
    waits = []
    since = len(sim.request_log)
    injected, (outcome, result) = faulted(sim, where, settings, lambda: traffic(
        sim, ns, {"v1": 50, "v3": 50}, backoff=kube.Backoff(sleep=waits.append)))
    found = violations(sim, ns)
    TALLY.add("traffic", fault, "GET", 0, outcome, injected.hits, found)
    assert found == []
    assert len(requests_matching(sim, "GET", where["path"], since)) == sent and waits == asked, waits
    if settings["times"] is None:
        assert outcome == "failed" and "(tried 5 times)" in result["msg"], result
    else:
        assert outcome == "ok" and result["split"] == {"v1": 50, "v3": 50}, result
    outcome, result = traffic(sim, ns, {"v1": 50, "v3": 50})
    assert outcome == "ok" and violations(sim, ns) == []


def test_the_release_and_burst_paths_send_no_list(env):
    """The release and the burst read their VirtualService and DestinationRule by name: there is no LIST for a fault
    to meet (the traffic path lists VirtualServices, and its matrix has LIST rows). Should either start to list,
    this fails, and its matrix needs LIST rows."""
    sim, url = env["sim"], env["prometheus"].url
    ns = new_namespace(sim, "fnolist")
    since = len(sim.request_log)
    for action in ("start", "step", "step"):
        assert release(sim, ns, action, url)[0] == "ok"
    assert lists(list(sim.request_log)[since:]) == []
    # The same check sees the traffic path's LIST.
    since = len(sim.request_log)
    assert traffic(sim, ns, {"v1": 50, "v3": 50})[0] == "ok"
    assert [r.path for r in lists(list(sim.request_log)[since:])] == [
        "/apis/%s/namespaces/%s/virtualservices" % (API, ns)]
    ns = "fburst-%d" % next(_namespaces)
    seed_worker(sim, ns)
    since = len(sim.request_log)
    for rate in (20, 5):
        assert burst(sim, ns, url, rate)[0] == "ok"
    records = list(sim.request_log)[since:]
    assert lists(records) == [] and len(records) > 0


def seed_worker(sim, ns):
    sim.create_objects([
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
        {"apiVersion": API, "kind": "DestinationRule", "metadata": {"name": "worker-destination-rule", "namespace": ns},
         "spec": {"host": "worker-service", "subsets": [{"name": "primary", "labels": {"cluster": "primary"}},
                                                        {"name": "burst", "labels": {"cluster": "burst"}}]}},
        {"apiVersion": API, "kind": "VirtualService", "metadata": {"name": "worker-virtual-service", "namespace": ns},
         "spec": {"hosts": ["worker-service"], "http": [{"route": [
             {"destination": {"host": "worker-service", "subset": "primary"}, "weight": 100},
             {"destination": {"host": "worker-service", "subset": "burst"}, "weight": 0}]}]}},
    ])


def burst(sim, ns, url, rate, check=False):
    params = dict(defaults(istio_burst), service="worker-service", namespace=ns, virtual_service="worker-virtual-service",
                  destination_rule="worker-destination-rule", primary_subset="primary", burst_subset="burst",
                  prometheus=prometheus_params(url, timeout=TIMEOUT), query="vector(%d)" % rate,
                  source_workload="frontend-deployment", window="15s", high=15.0, low=10.0, proportional=False,
                  step=10, mode="once", interval=1.0, max_checks=1, duration=None, api_version=API)
    module = DirectModule(sim, check_mode=check, **params)
    try:
        return "ok", burst_run.BurstRun(module).execute()
    except (KubeError, ModuleFailed) as e:
        return "failed", dict(msg=str(e))


BURST_KINDS = request_kinds(r"/virtualservices/worker-virtual-service$")


@pytest.mark.parametrize("fault", ["503 x2", "429 x2", "dropped connection", "held past the timeout", "500 lasting"])
@pytest.mark.parametrize("kind", list(BURST_KINDS))
def test_burst_meets_api_faults(env, fault, kind):
    sim, url = env["sim"], env["prometheus"].url
    settings, expected = FAULTS[fault]
    ns = "fburst-%d" % next(_namespaces)
    seed_worker(sim, ns)
    where = dict(BURST_KINDS[kind], path="/namespaces/%s%s" % (ns, BURST_KINDS[kind]["path"]))
    dry = where.get("dry_run_only", False)
    injected, (outcome, result) = faulted(sim, where, settings, lambda: burst(sim, ns, url, 20, check=dry))
    found = violations(sim, ns)
    TALLY.add("burst", fault, kind, 0, outcome, injected.hits, found)
    assert found == [] and injected.hits >= 1
    assert outcome == ("ok" if expected == "recovered" else "failed"), result
    outcome, result = burst(sim, ns, url, 20)
    assert outcome == "ok" and result["in_burst"] and result["weights"]["burst"] > 0, result
    assert violations(sim, ns) == []


# -- install (namespaces with injection) ------------------------------------------------------------

def namespaces(sim, names, check=False):
    params = dict(defaults(istio_namespace), name=names, state="present", injection="enabled", labels={"team": "mesh"},
                  annotations={}, restart_workloads=False, report_workloads=False)
    module = DirectModule(sim, check_mode=check, **params)
    try:
        return "ok", namespace_run.NamespaceRun(module, Cluster(module)).execute()
    except KubeError as e:
        return "failed", dict(msg=e.message)


INSTALL_KINDS = request_kinds(r"^/api/v1/namespaces/fns-", r"^/api/v1/namespaces$", kinds=("LIST", "PATCH", "dry-run PATCH"))


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("kind", list(INSTALL_KINDS))
def test_namespace_install_meets_api_faults(env, fault, kind):
    sim = env["sim"]
    settings, expected = FAULTS[fault]
    n = next(_namespaces)
    names = ["fns-%d-a" % n, "fns-%d-b" % n]
    where = dict(INSTALL_KINDS[kind])
    dry = where.get("dry_run_only", False)
    writes_before = len(sim.writes())
    injected, (outcome, result) = faulted(sim, where, settings, lambda: namespaces(sim, names, check=dry))
    TALLY.add("install/namespaces", fault, kind, 0, outcome, injected.hits, [])
    assert injected.hits >= 1
    if dry:
        assert len(sim.writes()) == writes_before
    assert outcome == ("ok" if expected == "recovered" else "failed"), result
    outcome, result = namespaces(sim, names)
    assert outcome == "ok", result
    for name in names:
        labels = sim.get_object("v1", "Namespace", name)["metadata"]["labels"]
        assert labels["istio-injection"] == "enabled" and labels["team"] == "mesh"


def test_request_timeout_of_a_real_task_gives_up_on_a_held_write_and_tries_again(env, run_playbook):
    """Through ansible-playbook: the option reaches the client, the PATCH held past it is given up on and sent again
    (2 PATCHes), and the task reports the change it made."""
    sim = env["sim"]
    ns = new_namespace(sim, "ftimeout")
    playbook = str(REPO / "tests" / "reliability" / "playbooks" / "traffic_timeout.yml")
    since = len(sim.request_log)
    fault = sim.inject_fault(method="PATCH", path="/namespaces/%s/virtualservices/reviews$" % ns, status=None,
                             latency=4, times=1)
    run = run_playbook(playbook, sim, extra_vars={"traffic_namespace": ns, "traffic_subsets": {"v1": 80, "v2": 20},
                                                  "traffic_request_timeout": 1.5})
    sim.clear_faults()
    wait_served(sim, 4)
    TALLY.add("traffic (ansible-playbook)", "held past request_timeout", "PATCH", 0, "ok" if run.rc == 0 else "failed",
              fault.hits, violations(sim, ns))
    assert run.rc == 0 and run.changed == 1, run
    patches = requests_matching(sim, "PATCH", "/namespaces/%s/virtualservices/reviews$" % ns, since)
    assert len(patches) == 2 and fault.hits == 1
    assert release_state(sim, ns)[1] == {"v1": 80, "v2": 20}
    assert violations(sim, ns) == []
