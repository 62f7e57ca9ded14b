"""Gateway API routing (routing_api=gateway-api): istio_traffic and istio_release write HTTPRoutes on kubesim,
meshsim routes by them and a real Prometheus judges the release; the results equal Istio's samples."""
import time

import pytest
import yaml

from tests.conftest import REFERENCE, REPO, needs_reference, run_cases
from tests.integration.release_env import ReleaseEnv
from sim.kubesim import KubeSim
from sim.meshsim import bookinfo
from tests.standins import istio_crds

TRAFFIC = str(REPO / "tests" / "integration" / "playbooks" / "istio_traffic.yml")
RELEASE = str(REPO / "tests" / "integration" / "playbooks" / "istio_release.yml")
ROUTE_API = "gateway.networking.k8s.io/v1"
NS = "bookinfo"
LABELS = {"v1": {"version": "v1"}, "v2": {"version": "v2"}, "v3": {"version": "v3"}}
GATEWAY_API_CRDS = REFERENCE / "gateway-api" / "config" / "crd" / "standard"
SAMPLES = REFERENCE / "istio" / "samples" / "bookinfo"
pytestmark = needs_reference("the Gateway API CRDs and Istio's Bookinfo Gateway API samples")


def crd_files():
    return [GATEWAY_API_CRDS / ("gateway.networking.k8s.io_%s.yaml" % kind) for kind in
            ("gatewayclasses", "gateways", "httproutes", "referencegrants")]


def sample(relative, name="reviews", kind="HTTPRoute"):
    for doc in yaml.safe_load_all((SAMPLES / relative).read_text()):
        if doc and doc["kind"] == kind and doc["metadata"]["name"] == name:
            return doc
    raise AssertionError(relative)


def contains(big, small):
    """``small`` with only what the API server defaults added (weight 1, group/kind, the "/" path match)."""
    if isinstance(small, dict):
        return isinstance(big, dict) and all(k in big and contains(big[k], v) for k, v in small.items())
    if isinstance(small, list):
        return isinstance(big, list) and len(big) == len(small) and all(map(contains, big, small))
    return big == small


def items(run, task="Declare the routing"):
    (res,) = run.results(task)
    return res.get("results", [res])


@pytest.fixture
def cluster(kubesim_factory):
    sim = kubesim_factory(istio_crds=True, crd_files=crd_files())
    bookinfo.seed(sim, NS, destination_rules=False)
    return sim


def route(sim, name="reviews", ns=NS):
    return sim.get_object(ROUTE_API, "HTTPRoute", name, ns)


def test_canary_and_ab_routes_equal_istios_samples(cluster, run_playbook):
    gw = {"routing_api": "gateway-api"}
    steps = [dict(gw, subsets={"v1": 100}, subset_labels=LABELS),
             dict(gw, subsets={"v1": 90, "v2": 10}),
             dict(gw, subsets={"v1": 50, "v3": 50}),
             dict(gw, subsets={"v3": 100, "v1": 0}),
             dict(gw, subsets={"v1": 100}, match=[{"subset": "v2", "headers": {"end-user": "jason"}}]),
             dict(gw, subsets={"v1": 100}, mirror={"subset": "v2", "percent": 25})]
    run = run_playbook(TRAFFIC, cluster, extra_vars={"traffic_steps": steps})
    assert run.rc == 0, run
    results = items(run)
    assert [r["changed"] for r in results] == [True] * 6
    assert results[0]["subsets_added"] == ["v1", "v2", "v3"] and results[0]["previous"] is None
    assert [(o["kind"], o["action"]) for o in results[0]["objects"]] == [("Service", "created")] * 3 + [
        ("HTTPRoute", "created")]
    # The per-version Services are bookinfo-versions.yaml's.
    for subset in ("v1", "v2", "v3"):
        want = sample("bookinfo-versions.yaml", "reviews-" + subset, kind="Service")
        assert contains(cluster.get_object("v1", "Service", "reviews-" + subset, NS)["spec"], want["spec"])
    for res, file_name in zip(results, ["route-reviews-v1.yaml", "route-reviews-90-10.yaml",
                                        "route-reviews-50-v3.yaml", "route-reviews-v3.yaml"]):
        assert contains(res["http_route"]["spec"], sample("gateway-api/" + file_name)["spec"]), file_name
    assert [r["split"] for r in results] == [{"v1": 100}, {"v1": 90, "v2": 10}, {"v1": 50, "v3": 50}, {"v3": 100},
                                             {"v1": 100}, {"v1": 100}]
    assert results[4]["match"] == [{"subsets": {"v2": 100}, "name": None, "match": [
        {"headers": [{"name": "end-user", "type": "Exact", "value": "jason"}],
         "path": {"type": "PathPrefix", "value": "/"}}]}]
    assert results[5]["mirror"] == {"subset": "v2", "percent": 25.0} and results[5]["match"] == []
    live = route(cluster)
    assert live["spec"]["parentRefs"] == [{"group": "", "kind": "Service", "name": "reviews", "port": 9080}]
    assert live["spec"]["rules"][0]["filters"] == [{"type": "RequestMirror", "requestMirror": {
        "backendRef": {"group": "", "kind": "Service", "name": "reviews-v2", "port": 9080}, "percent": 25}}]
    assert cluster.get_object("networking.istio.io/v1", "VirtualService", "reviews", NS) is None


def test_check_apply_rerun_diff_absent(cluster, run_playbook):
    declare = {"traffic_steps": [{"routing_api": "gateway-api", "subsets": {"v1": 90, "v2": 10},
                                  "subset_labels": LABELS, "timeout": "5s",
                                  "match": [{"subset": "v3", "cookie": {"name": "user", "value": "ann"}}]}]}
    check = run_playbook(TRAFFIC, cluster, extra_vars=declare, check=True, diff=True)
    assert check.rc == 0, check
    assert items(check)[0]["changed"] and items(check)[0]["split"] == {"v1": 90, "v2": 10}
    assert cluster.writes() == [], "check mode writes nothing"
    assert route(cluster) is None

    first = run_playbook(TRAFFIC, cluster, extra_vars=declare, diff=True)
    assert first.rc == 0 and first.changed == 1, first
    res = items(first)[0]
    assert res["diff"]["before"] == {}
    assert sorted(res["diff"]["after"]) == ["HTTPRoute/bookinfo/reviews", "Service/bookinfo/reviews-v1",
                                            "Service/bookinfo/reviews-v2", "Service/bookinfo/reviews-v3"]
    rules = route(cluster)["spec"]["rules"]
    assert rules[0]["matches"][0]["headers"][0]["type"] == "RegularExpression"
    assert [r["timeouts"] for r in rules] == [{"request": "5s"}] * 2

    writes = len(cluster.writes())
    again = run_playbook(TRAFFIC, cluster, extra_vars=declare, diff=True)
    assert again.rc == 0 and again.changed == 0, again
    assert "diff" not in items(again)[0]
    assert len(cluster.writes()) == writes, "a second run writes nothing"

    absent = {"traffic_steps": [{"routing_api": "gateway-api", "state": "absent"}]}
    gone = run_playbook(TRAFFIC, cluster, extra_vars=absent)
    assert gone.rc == 0 and gone.changed == 1, gone
    assert route(cluster) is None and items(gone)[0]["split"] is None
    # The per-version Services stay (other routes may use them), as DestinationRules do with routing_api=istio.
    assert cluster.get_object("v1", "Service", "reviews-v2", NS) is not None
    twice = run_playbook(TRAFFIC, cluster, extra_vars=absent)
    assert twice.rc == 0 and twice.changed == 0, twice


def test_gateway_parent_and_rules_of_others_are_kept(cluster, run_playbook):
    other = {"matches": [{"path": {"type": "PathPrefix", "value": "/admin"}}],
             "backendRefs": [{"name": "reviews-v3", "port": 9080}]}
    cluster.create_objects([{"apiVersion": ROUTE_API, "kind": "HTTPRoute", "metadata": {"name": "edge", "namespace": NS},
                             "spec": {"parentRefs": [{"name": "bookinfo-gateway"}], "rules": [other]}}])
    steps = [{"routing_api": "gateway-api", "http_route": "edge", "parent_refs": [{"name": "bookinfo-gateway"}],
              "subsets": {"v1": 80, "v2": 20}, "subset_labels": LABELS}]
    run = run_playbook(TRAFFIC, cluster, extra_vars={"traffic_steps": steps})
    assert run.rc == 0, run
    live = route(cluster, "edge")
    assert live["spec"]["parentRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                           "name": "bookinfo-gateway"}]
    assert contains(live["spec"]["rules"][0], other)
    assert [b["weight"] for b in live["spec"]["rules"][1]["backendRefs"]] == [80, 20]


BAD_INPUT = [
    ({"subsets": {"v1": 100}, "match": [{"subset": "v2", "headers": {"end-user": {"prefix": "ja"}}}]},
     "HTTPRoute header matches do not have"),
    ({"subsets": {"v1": 100}, "retries": {"attempts": 2}}, "retries only apply with routing_api=istio"),
    ({"subsets": {"v1": 100}, "timeout": "1.5s"}, "Gateway API does not accept"),
    ({"subsets": {"v1": 90, "v2": 10}}, "Service reviews-v1, reviews-v2 does not exist in namespace bookinfo"),
]


@pytest.fixture(scope="module")
def bad_input_run(tmp_path_factory):
    """All of BAD_INPUT in one istio_traffic.yml run, each case a host of its own on one cluster (as the
    cluster fixture makes it); the writes of the whole run."""
    sim = KubeSim(crd_files=[istio_crds()] + crd_files()).start()
    try:
        bookinfo.seed(sim, NS, destination_rules=False)
        sim.clear_request_log()
        run = run_cases(tmp_path_factory.mktemp("bad-input"), TRAFFIC, sim, {
            "case%d" % i: {"traffic_steps": [dict(step, routing_api="gateway-api")]}
            for i, (step, _message) in enumerate(BAD_INPUT)})
        return run, sim.writes()
    finally:
        sim.stop()


@pytest.mark.parametrize("step, message", BAD_INPUT)
def test_bad_input_is_explained_and_changes_nothing(bad_input_run, step, message):
    run, written = bad_input_run
    case = "case%d" % BAD_INPUT.index((step, message))
    assert run.rc != 0 and run.stats[case]["failures"] == 1, run
    assert message in " ".join(run.failed_msgs_of(case)), run.failed_msgs_of(case)
    assert written == []


def test_without_the_crds_the_error_says_how_to_install_them(kubesim_istio, run_playbook):
    bookinfo.seed(kubesim_istio, NS, destination_rules=False)
    steps = [{"routing_api": "gateway-api", "subsets": {"v1": 100}, "subset_labels": LABELS}]
    run = run_playbook(TRAFFIC, kubesim_istio, extra_vars={"traffic_steps": steps})
    assert run.rc != 0
    msg = " ".join(run.failed_msgs)
    assert "Gateway API CRDs are not installed" in msg and "v1.6.1/standard-install.yaml" in msg, msg
    assert kubesim_istio.writes() == []


def test_release_start_to_promote_shifts_simulated_traffic(kubesim_factory, run_playbook):
    sim = kubesim_factory(istio_crds=True, crd_files=crd_files())
    env = ReleaseEnv(sim)
    try:
        env.prometheus.wait_scraped(4)
        ns = env.namespace(rate=120, vs=None)
        gw = {"routing_api": "gateway-api", "namespace": ns}
        run = run_playbook(TRAFFIC, sim, extra_vars={"traffic_steps": [dict(gw, subsets={"v1": 100},
                                                                           subset_labels=LABELS)]})
        assert run.rc == 0, run
        env.mesh.reload()
        svc = "%s/reviews" % ns
        fast = {"interval": 4, "window": 4, "success_rate": 99, "latency_p99": 500, "min_requests": 10,
                "threshold": 0}
        extra = {"rel_action": "start", "rel_namespace": ns, "rel_prometheus": env.prometheus_options,
                 "rel_routing_api": "gateway-api", "rel_canary": "v2", "rel_steps": [20, 100], "rel_analysis": fast}
        writes = len(sim.writes())
        dry = run_playbook(RELEASE, sim, extra_vars=extra, check=True, diff=True)
        res = items(dry, "Act on the release")[0]
        assert dry.rc == 0 and res["outcome"] == "started" and res["diff"]["after"]["weights"] == {"v1": 80, "v2": 20}
        assert len(sim.writes()) == writes, "check mode writes nothing"
        assert route(sim, ns=ns)["metadata"].get("annotations") is None
        started = run_playbook(RELEASE, sim, extra_vars=extra)
        res = items(started, "Act on the release")[0]
        assert started.rc == 0 and res["outcome"] == "started" and res["weights"] == {"v1": 80, "v2": 20}, started
        live = sim.get_object(ROUTE_API, "HTTPRoute", "reviews", ns)
        assert "meshops.istio/release" in live["metadata"]["annotations"]
        assert [(b["name"], b["weight"]) for b in live["spec"]["rules"][0]["backendRefs"]] == [
            ("reviews-v1", 80), ("reviews-v2", 20)]
        # meshsim routes by the HTTPRoute: v2 gets about a fifth of the requests.
        env.mesh.reload()
        v1, v2 = env.mesh.count(svc, "v1"), env.mesh.count(svc, "v2")
        time.sleep(2)
        d1, d2 = env.mesh.count(svc, "v1") - v1, env.mesh.count(svc, "v2") - v2
        assert d2 > 10 and 0.08 < d2 / (d1 + d2) < 0.4, (d1, d2)

        ran = run_playbook(RELEASE, sim, extra_vars=dict(extra, rel_action="run"))
        res = items(ran, "Act on the release")[0]
        assert ran.rc == 0, ran
        assert res["outcomes"] == ["advanced", "promoted"] and res["phase"] == "succeeded", res
        assert res["weights"] == {"v2": 100}
        assert res["analysis"]["checks"][0]["value"] >= 10  # Prometheus saw the canary's requests
        live = sim.get_object(ROUTE_API, "HTTPRoute", "reviews", ns)
        assert live["spec"]["rules"][0]["backendRefs"] == [{"group": "", "kind": "Service", "name": "reviews-v2",
                                                            "port": 9080, "weight": 1}]
        env.mesh.reload()
        v1, v2 = env.mesh.count(svc, "v1"), env.mesh.count(svc, "v2")
        time.sleep(1)
        assert env.mesh.count(svc, "v1") == v1 and env.mesh.count(svc, "v2") - v2 > 60
        again = run_playbook(RELEASE, sim, extra_vars=dict(extra, rel_action="run"))
        assert again.rc == 0 and again.changed == 0, again
        env.done(ns)
    finally:
        env.stop()


# ---------------------------------------------------------------- the bookinfo role

def bookinfo_routing(sim, ns="default"):
    """{(kind, name): object} of Bookinfo's Gateway API objects and per-version Services in ``ns``."""
    found = {}
    for api_version, kind in (("v1", "Service"), (ROUTE_API, "Gateway"), (ROUTE_API, "HTTPRoute"),
                              ("networking.istio.io/v1", "VirtualService"),
                              ("networking.istio.io/v1", "DestinationRule")):
        for obj in sim.list_objects(api_version, kind, ns):
            if (obj["metadata"].get("labels") or {}).get("app.kubernetes.io/part-of") == "bookinfo":
                found[(kind, obj["metadata"]["name"])] = obj
    return found


def test_bookinfo_role_without_the_crds_says_how_to_install_them(kubesim_istio, run_playbook):
    from tests.integration.apps_support import install_minimal_istio
    sim = install_minimal_istio(kubesim_istio)
    sim.clear_request_log()
    run = run_playbook("bookinfo.yml", sim, extra_vars={"bookinfo_routing_api": "gateway-api"})
    assert run.rc != 0
    msg = " ".join(run.failed_msgs)
    assert "gateways.gateway.networking.k8s.io, httproutes.gateway.networking.k8s.io" in msg, msg
    assert "v1.6.1/standard-install.yaml" in msg
    assert sim.writes() == []


def test_bookinfo_role_routes_with_the_gateway_api(kubesim_factory, run_playbook):
    from tests.integration.apps_support import install_minimal_istio
    sim = install_minimal_istio(kubesim_factory(istio_crds=True, crd_files=crd_files()))
    gw = {"bookinfo_routing_api": "gateway-api"}
    sim.clear_request_log()
    check = run_playbook("bookinfo.yml", sim, check=True, diff=True, extra_vars=gw)
    assert check.rc == 0 and check.changed > 0, check
    assert sim.writes() == []

    first = run_playbook("bookinfo.yml", sim, extra_vars=gw)
    assert first.rc == 0 and first.changed > 0, first
    found = bookinfo_routing(sim)
    versions = [("Service", "%s-%s" % (s, v)) for s, vs in (("details", ["v1"]), ("ratings", ["v1"]),
                                                            ("reviews", ["v1", "v2", "v3"]),
                                                            ("productpage", ["v1"])) for v in vs]
    assert set(found) == ({("Service", s) for s in ("details", "ratings", "reviews", "productpage")} | set(versions)
                          | {("Gateway", "bookinfo-gateway"), ("HTTPRoute", "bookinfo")}
                          | {("HTTPRoute", s) for s in ("details", "ratings", "reviews", "productpage")})
    # Equal to Istio's samples, but for the defaults the API server adds.
    for _kind, name in versions:
        want = sample("bookinfo-versions.yaml", name, kind="Service")
        assert contains(found[("Service", name)]["spec"], want["spec"]), name
    for kind, name in (("Gateway", "bookinfo-gateway"), ("HTTPRoute", "bookinfo")):
        assert contains(found[(kind, name)]["spec"], sample("gateway-api/bookinfo-gateway.yaml", name, kind)["spec"])
    for name in ("details", "ratings", "reviews", "productpage"):
        assert contains(found[("HTTPRoute", name)]["spec"], sample("gateway-api/route-all-v1.yaml", name)["spec"])

    # A release moves reviews to 50/50 on the HTTPRoute; the role's next run leaves the route alone.
    step = run_playbook(TRAFFIC, sim, extra_vars={"traffic_steps": [
        {"namespace": "default", "routing_api": "gateway-api", "subsets": {"v1": 50, "v3": 50}}]})
    assert step.rc == 0, step
    second = run_playbook("bookinfo.yml", sim, extra_vars=gw)
    assert second.rc == 0 and second.changed == 0, second
    assert [b["weight"] for b in route(sim, "reviews", "default")["spec"]["rules"][0]["backendRefs"]] == [50, 50]
    sim.clear_request_log()
    check_again = run_playbook("bookinfo.yml", sim, check=True, extra_vars=gw)
    assert check_again.rc == 0 and check_again.changed == 0 and sim.writes() == [], check_again

    gone = run_playbook("bookinfo.yml", sim, extra_vars=dict(gw, bookinfo_state="absent"))
    assert gone.rc == 0 and gone.changed > 0, gone
    assert bookinfo_routing(sim) == {}
    again = run_playbook("bookinfo.yml", sim, extra_vars=dict(gw, bookinfo_state="absent"))
    assert again.rc == 0 and again.changed == 0, again


# ---------------------------------------------------------------- the release role

def test_release_role_with_gateway_api_routing(kubesim_factory, run_playbook, tmp_path):
    """playbooks/release.yml with AWX-survey-style answers and release_routing_api=gateway-api: check mode writes
    nothing, the run promotes on the HTTPRoute (Prometheus through the API server), a rerun changes nothing."""
    sim = kubesim_factory(istio_crds=True, crd_files=crd_files())
    env = ReleaseEnv(sim)
    try:
        env.prometheus.wait_scraped(4)
        ns = env.namespace(rate=120, vs=None)
        run = run_playbook(TRAFFIC, sim, extra_vars={"traffic_steps": [
            {"routing_api": "gateway-api", "namespace": ns, "subsets": {"v1": 100}, "subset_labels": LABELS}]})
        assert run.rc == 0, run
        env.mesh.reload()
        survey = {"release_namespace": ns, "release_routing_api": "gateway-api", "release_canary_version": "v3",
                  "release_steps": "30,100", "release_interval": 3, "release_window": "3s",
                  "release_min_requests": 5, "release_threshold": 0, "release_report_dir": str(tmp_path / "out")}
        act = "meshops.istio.release : Act on the release of the service"
        sim.clear_request_log()
        check = run_playbook("release.yml", sim, extra_vars=survey, check=True)
        assert check.rc == 0, check
        (res,) = check.results(act)
        assert res["changed"] and res["outcomes"] == ["started"]
        assert sim.writes() == [] and not (tmp_path / "out").exists()
        assert route(sim, ns=ns)["metadata"].get("annotations") is None

        ran = run_playbook("release.yml", sim, extra_vars=survey, env={"ANSIBLE_SHOW_CUSTOM_STATS": "1"})
        assert ran.rc == 0, ran
        (res,) = ran.results(act)
        assert res["outcomes"] == ["started", "advanced", "promoted"] and res["phase"] == "succeeded", res
        assert res["weights"] == {"v3": 100}
        assert res["analysis"]["checks"][0]["value"] >= 5  # Prometheus saw the canary's requests
        live = route(sim, ns=ns)
        assert [b["name"] for b in live["spec"]["rules"][0]["backendRefs"]] == ["reviews-v3"]
        assert "meshops.istio/release" in live["metadata"]["annotations"]
        assert sim.get_object("networking.istio.io/v1", "VirtualService", "reviews", ns) is None
        assert (tmp_path / "out" / "reviews-v3.md").exists()
        # The workflow's promote/rollback node gets the routing API with the release.
        assert ran.data["global_custom_stats"]["release_routing_api"] == "gateway-api"

        writes = len(sim.writes())
        again = run_playbook("release.yml", sim, extra_vars=survey)
        assert again.rc == 0 and again.changed == 0, again
        assert len(sim.writes()) == writes
        # Without release_routing_api the role looks for a VirtualService and says where to deploy one.
        wrong = run_playbook("release.yml", sim, extra_vars=dict(survey, release_routing_api="istio"))
        assert wrong.rc != 0 and "There is no VirtualService reviews in namespace %s" % ns in wrong.failed_msgs[-1]
        assert len(sim.writes()) == writes
        env.done(ns)
    finally:
        env.stop()
