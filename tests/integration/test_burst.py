"""playbooks/burst.yml (role burst, module istio_burst) against kubesim + meshsim + a real Prometheus.

One cluster, simulated traffic and Prometheus per test module; each test has its own namespace, so
the rates of one never reach the query of another."""
import itertools
import json

import pytest

from tests.conftest import run_cases
from tests.integration import burst_support as b

_names = itertools.count(1)


@pytest.fixture(scope="module")
def env(kubesim_istio_module):
    env = b.BurstEnv(kubesim_istio_module)
    env.prometheus.wait_scraped(2)
    yield env
    env.stop()


def namespace(env, rate, primary=100, burst=0):
    ns = "burst-%d" % next(_names)
    env.sim.create_objects(b.worker_routing(ns, primary, burst))
    env.add_worker(ns, rate)
    env.mesh.reload()
    return ns


def burst_vars(env, ns, **extra):
    # No burst_prometheus_url: the role's default, Prometheus through the API server's service proxy.
    return dict(meshops_target="all", burst_namespace=ns, **extra)


def result(run):
    (res,) = b.task_results(run, "Check the worker load and set the weights")
    return res


def writes_to(sim, ns):
    return [r for r in sim.writes() if "/namespaces/%s/" % ns in r.path]


def test_enter_check_mode_diff_idempotence_and_leave(env, run_playbook):
    sim = env.sim
    ns = namespace(env, rate=20)
    b.wait_rate(env.prometheus, ns, 17, 23)

    check = run_playbook("burst.yml", sim, burst_vars(env, ns), check=True)
    assert check.rc == 0, check
    res = result(check)
    assert res["changed"] and res["decisions"][0]["action"] == "enter" and res["decisions"][0]["applied"]
    assert writes_to(sim, ns) == []
    assert b.weights(sim, ns) == {"primary": 100, "burst": 0}

    forwarded = len(sim.service_proxy.forwarded)
    first = run_playbook("burst.yml", sim, burst_vars(env, ns), diff=True)
    assert first.rc == 0, first
    # The one query went through the API server's service proxy to the real Prometheus.
    assert [(q["method"], q["namespace"], q["service"], q["path"]) for q in sim.service_proxy.forwarded[forwarded:]] \
        == [("GET", "istio-system", "prometheus", "/api/v1/query")]
    res = result(first)
    (decision,) = res["decisions"]
    assert decision["action"] == "enter" and 17 <= decision["rate"] <= 23
    assert decision["reason"] == "%.2f req/s is above high (15.0)" % decision["rate"]
    assert res["weights"] == {"primary": 0, "burst": 100} == b.weights(sim, ns)
    assert res["diff"]["before"]["weights"] == {"primary": 100, "burst": 0}
    assert res["diff"]["after"]["weights"] == {"primary": 0, "burst": 100}
    state = json.loads(sim.get_object(b.API, "VirtualService", b.VS, ns)["metadata"]["annotations"][b.ANNOTATION])
    assert state == {"in_burst": True, "burst_weight": 100, "since": decision["since"]}
    report = b.task_results(first, "Report what the load did to the worker traffic")[0]["msg"]
    assert report[-1] == "Now in burst since %s: primary 0%% / burst 100%%." % decision["since"]

    # Same load, same state: nothing written.
    before = len(sim.writes())
    again = run_playbook("burst.yml", sim, burst_vars(env, ns))
    assert again.rc == 0 and again.changed == 0, again
    assert result(again)["decisions"][0]["action"] == "stay"
    assert len(sim.writes()) == before

    env.set_rate(ns, 5)
    b.wait_rate(env.prometheus, ns, 3, 7)
    back = run_playbook("burst.yml", sim, burst_vars(env, ns))
    assert back.rc == 0, back
    assert result(back)["decisions"][0]["action"] == "leave"
    assert b.weights(sim, ns) == {"primary": 100, "burst": 0}
    # Traffic really follows: meshsim routes by the VirtualService it reads from the cluster.
    env.mesh.reload()
    served = env.served(ns)
    assert served["burst"] > 0 and served["primary"] > 0
    env.mesh.remove_service("%s/worker-service" % ns)


def test_proportional_watch_is_bounded(env, run_playbook):
    sim = env.sim
    ns = namespace(env, rate=12.5)
    b.wait_rate(env.prometheus, ns, 12, 13)
    # A direct URL (no API server between) keeps working.
    watch = run_playbook("burst.yml", sim, burst_vars(env, ns, burst_proportional=True, burst_mode="watch",
                                                      burst_interval=1, burst_max_checks=10, burst_duration=2.5,
                                                      burst_prometheus_url=env.prometheus.url))
    assert watch.rc == 0, watch
    decisions = result(watch)["decisions"]
    # The duration bound (2.5 s at one check a second) stops it before max_checks.
    assert len(decisions) == 3
    assert [d["action"] for d in decisions] == ["enter", "stay", "stay"]
    assert decisions[0]["burst_weight"] == 50 and decisions[0]["reason"].endswith(
        "puts the burst share at 50% (low 10.0 = 0%, high 15.0 = 100%)")
    assert b.weights(sim, ns) == {"primary": 50, "burst": 50}

    env.set_rate(ns, 20)
    b.wait_rate(env.prometheus, ns, 15.5, 25)
    full = run_playbook("burst.yml", sim, burst_vars(env, ns, burst_proportional=True))
    assert result(full)["decisions"][0]["action"] == "adjust"
    assert b.weights(sim, ns) == {"primary": 0, "burst": 100}
    env.mesh.remove_service("%s/worker-service" % ns)


BAD_INPUT = [
    ("prometheus_down", "Cannot reach Prometheus at http://127.0.0.1:1"),
    ("no_vs", "VirtualService {ns}/missing does not exist. Deploy the worker routing first"),
    ("wrong_subset", "should send worker-service to subsets primary and cloud only; it sends to"),
    ("thresholds", "burst_high (10) must be above burst_low (12)"),
    ("bad_query", "Prometheus refused the query sum(rate(istio_requests_total[15s]"),
    ("rate_watch", "rate=18.0 with mode=watch: a rate given by the caller is one measurement"),
    ("no_prometheus_service", "There is no Service istio-system/thanos to reach Prometheus through the API server's "
                              "service proxy (404: services \"thanos\" not found)"),
]


def bad_input_vars(env, case):
    """The case's variables, in a namespace of its own with the worker routing created."""
    ns = "burst-bad-%s" % case.replace("_", "-")
    env.sim.create_objects(b.worker_routing(ns))
    extra = burst_vars(env, ns)
    if case == "prometheus_down":
        extra["burst_prometheus_url"] = "http://127.0.0.1:1"
    if case == "no_vs":
        extra["burst_virtual_service"] = "missing"
    if case == "wrong_subset":
        extra["burst_burst_subset"] = "cloud"
    if case == "thresholds":
        extra.update(burst_high=10, burst_low=12)
    if case == "bad_query":
        extra["burst_query"] = "sum(rate(istio_requests_total[15s]"
    if case == "rate_watch":
        extra.update(burst_rate=18, burst_mode="watch")
    if case == "no_prometheus_service":
        extra["burst_prometheus_service"] = "thanos"
    return extra


@pytest.fixture(scope="module")
def bad_input_run(env, tmp_path_factory):
    """All of BAD_INPUT in one burst.yml run, each case a host of its own (same cluster, own namespace)."""
    cases = {}
    for case, _message in BAD_INPUT:
        cases[case] = {k: v for k, v in bad_input_vars(env, case).items() if k != "meshops_target"}
    return run_cases(tmp_path_factory.mktemp("bad-input"), "burst.yml", env.sim, cases,
                     extra_vars={"meshops_target": "all"})


@pytest.mark.parametrize("case, message", BAD_INPUT)
def test_bad_input_changes_nothing(env, bad_input_run, case, message):
    sim, failed = env.sim, bad_input_run
    ns = "burst-bad-%s" % case.replace("_", "-")
    assert failed.rc != 0 and failed.stats[case]["failures"] == 1, failed
    msgs = failed.failed_msgs_of(case)
    message = message.format(ns=ns)
    assert any(message in m for m in msgs), msgs
    assert "Traceback" not in failed.stdout
    if case in ("prometheus_down", "no_prometheus_service"):
        assert any("The weights were left as they are (burst 0%, primary 100%)" in m for m in msgs)
    assert writes_to(sim, ns) == []
    assert b.weights(sim, ns) == {"primary": 100, "burst": 0}
