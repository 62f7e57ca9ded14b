"""playbooks/bookinfo.yml against kubesim: the lifecycle a user goes through, bad input, injection."""
import re

import pytest

from tests.conftest import REPO, run_cases

from tests.integration.apps_support import (
    INJECTOR,
    ISTIO_API,
    has_sidecar,
    install_minimal_istio,
    messages,
    objects_in,
    pods,
    resource_versions,
    results,
    writes,
)
from tests.integration.istio_support import OLD, build_charts

DEPLOYMENTS = ["details-v1", "ratings-v1", "reviews-v1", "reviews-v2", "reviews-v3", "productpage-v1"]
SERVICES = ["details", "ratings", "reviews", "productpage"]
EXPECTED = (
    {("Service", s) for s in SERVICES}
    | {("ServiceAccount", "bookinfo-" + s) for s in SERVICES}
    | {("Deployment", d) for d in DEPLOYMENTS}
    | {("Gateway", "bookinfo-gateway"), ("VirtualService", "bookinfo")}
    | {("DestinationRule", s) for s in SERVICES}
    | {("VirtualService", s) for s in SERVICES}
)
URL_TASK = "Show the application URL"
SIDECAR_TASK = "Report pods without the istio-proxy sidecar"
TRAFFIC_PLAYBOOK = str(REPO / "tests" / "integration" / "playbooks" / "istio_traffic.yml")
APPLY_TASK = "Apply the Services, ServiceAccounts, Deployments, Gateway, DestinationRules and VirtualServices"


def unrelated(namespace):
    """Objects a user already had in the namespace; removal must leave them alone."""
    return [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "shop", "namespace": namespace},
         "spec": {"selector": {"app": "shop"}, "ports": [{"name": "http", "port": 80}]}},
        {"apiVersion": ISTIO_API, "kind": "VirtualService", "metadata": {"name": "shop", "namespace": namespace},
         "spec": {"hosts": ["shop"], "http": [{"route": [{"destination": {"host": "shop"}}]}]}},
    ]


def release_split(run_playbook, sim):
    """What a release step does: reviews 50/50 v1/v3, declared with istio_traffic (its own field manager)."""
    step = run_playbook(TRAFFIC_PLAYBOOK, sim, extra_vars={"traffic_steps": [
        {"service": "reviews", "namespace": "default", "subsets": {"v1": 50, "v3": 50}}]})
    assert step.rc == 0, step


def reviews_route(sim):
    return sim.get_object(ISTIO_API, "VirtualService", "reviews", "default")["spec"]["http"][0]["route"]


def test_check_apply_rerun_diff_absent(kubesim_istio, run_playbook):
    sim = install_minimal_istio(kubesim_istio)
    sim.create_objects(unrelated("default"))
    before = set(objects_in(sim, "default"))

    # Check mode on a cluster without Bookinfo: server-side dry runs only, nothing stored.
    sim.clear_request_log()
    check = run_playbook("bookinfo.yml", sim, check=True, diff=True)
    assert check.rc == 0, check
    assert check.changed > 0
    assert writes(sim) == []
    assert any(r.dry_run for r in sim.request_log)
    assert set(objects_in(sim, "default")) == before

    # First run: every object, injected pods, the URL through the load balancer.
    first = run_playbook("bookinfo.yml", sim)
    assert first.rc == 0, first
    assert first.changed > 0
    assert set(objects_in(sim, "default", "bookinfo")) == EXPECTED
    assert sim.get_object("v1", "Namespace", "default")["metadata"]["labels"]["istio-injection"] == "enabled"
    for name in DEPLOYMENTS:
        status = sim.get_object("apps/v1", "Deployment", name, "default")["status"]
        assert status["availableReplicas"] == 1, name
    bookinfo_pods = [p for p in pods(sim, "default") if p["metadata"]["labels"].get("app") in SERVICES]
    assert len(bookinfo_pods) == 6 and all(has_sidecar(p) for p in bookinfo_pods)
    assert messages(first, SIDECAR_TASK) == ["Every bookinfo pod in default runs the istio-proxy sidecar."]
    (url,) = messages(first, URL_TASK)
    assert url.startswith("bookinfo: http://127.0.0.1/productpage (load balancer address of istio-system/istio-ingressgateway")
    applied = sim.get_object(ISTIO_API, "VirtualService", "reviews", "default")
    assert [f["manager"] for f in applied["metadata"]["managedFields"]] == ["meshops-istio-bookinfo"]

    # A release moves reviews to 50/50 (istio_traffic, field manager meshops-istio). The second run
    # changes nothing: not Bookinfo's objects, and not the routing the release owns now; the fields
    # the release does not send (our label) stay.
    release_split(run_playbook, sim)
    versions = resource_versions(sim, "default", "bookinfo")
    sim.clear_request_log()
    second = run_playbook("bookinfo.yml", sim)
    assert second.rc == 0, second
    assert second.changed == 0, [t for t, _host, r in second.tasks if r.get("changed")]
    # The converged run sends no write at all, not even a dry run, and at most one request per object beyond
    # discovery: istio_apply reads the objects one LIST per kind, plus the preflight VirtualService list, the
    # namespace list, the Deployment and Pod lists of the injection check and the ingress gateway Service.
    # (Its cost next to `kubectl apply --server-side` of the same objects is `make bench`'s bookinfo row.)
    converged = _summary(list(sim.request_log))
    assert converged["patch"] == 0 and converged["other_writes"] == 0, converged
    assert converged["requests"] - converged["discovery"] <= len(EXPECTED), converged
    assert resource_versions(sim, "default", "bookinfo") == versions
    assert [(d["destination"]["subset"], d["weight"]) for d in reviews_route(sim)] == [("v1", 50), ("v3", 50)]
    assert set(objects_in(sim, "default", "bookinfo")) == EXPECTED
    (kept,) = messages(second, "Report the routing left to its current owner")
    assert kept == ("Left as they are (they exist, and a release or the burst job may be moving them): "
                    + ", ".join([f"DestinationRule/{s}" for s in sorted(SERVICES)]
                                + [f"VirtualService/{s}" for s in sorted(SERVICES)])
                    + ". Set bookinfo_routes_overwrite=true to reset them.")

    # Asked to, the role takes the routes back to bookinfo_routes.
    reset = run_playbook("bookinfo.yml", sim, extra_vars={"bookinfo_routes_overwrite": True})
    assert reset.rc == 0 and reset.changed > 0, reset
    assert reviews_route(sim) == [{"destination": {"host": "reviews", "subset": "v1"}}]

    # Check mode with --diff on the converged cluster: not changed, no write.
    sim.clear_request_log()
    check_again = run_playbook("bookinfo.yml", sim, check=True, diff=True)
    assert check_again.rc == 0 and check_again.changed == 0, check_again
    assert writes(sim) == []

    # A new image tag in check mode: the diff shows it, nothing is written.
    sim.clear_request_log()
    preview = run_playbook("bookinfo.yml", sim, check=True, diff=True, extra_vars={"bookinfo_image_tag": "1.21.0"})
    assert preview.rc == 0, preview
    assert writes(sim) == []
    (apply_result,) = results(preview, APPLY_TASK)
    assert apply_result["changed"]
    changed = [r for r in apply_result["results"] if r["action"] not in ("unchanged", "kept")]
    assert sorted(r["name"] for r in changed) == sorted(DEPLOYMENTS)
    assert {r["action"] for r in changed} == {"updated"}
    diff = apply_result["diff"]
    assert sorted(diff["after"]) == sorted(f"Deployment/default/{name}" for name in DEPLOYMENTS)
    assert all("1.21.0" in str(diff["after"][key]) and "1.20.3" in str(diff["before"][key]) for key in diff["after"])
    assert sim.get_object("apps/v1", "Deployment", "reviews-v2", "default")["spec"]["template"]["spec"][
        "containers"][0]["image"].endswith(":1.20.3")

    # Removal: exactly Bookinfo's objects go; the user's objects and the namespace stay.
    gone = run_playbook("bookinfo.yml", sim, extra_vars={"bookinfo_state": "absent"})
    assert gone.rc == 0, gone
    assert gone.changed > 0
    assert objects_in(sim, "default", "bookinfo") == {}
    assert set(objects_in(sim, "default")) == before
    assert sim.get_object("v1", "Namespace", "default") is not None
    again = run_playbook("bookinfo.yml", sim, extra_vars={"bookinfo_state": "absent"})
    assert again.rc == 0 and again.changed == 0, again


BAD_INPUT = [
    ({"bookinfo_routes": {"productpage": "v1", "reviews": "v4", "ratings": "v1", "details": "v1"}},
     "bookinfo_routes.reviews is \"v4\", but Bookinfo deploys reviews only as v1, v2, v3"),
    ({"bookinfo_routes": {"productpage": "v1", "reviewz": "v2"}},
     "bookinfo_routes names \"reviewz\", which is not a Bookinfo service"),
    ({"bookinfo_image_registry": "mirror.example.com/istio:1.20"},
     "bookinfo_image_registry=\"mirror.example.com/istio:1.20\" cannot be used: it ends in a tag or digest"),
    ({"bookinfo_image_registry": "https://mirror.example.com/istio"}, "it contains a URL scheme"),
    ({"bookinfo_image_tag": "1.20.3@sha256"}, "bookinfo_image_tag=\"1.20.3@sha256\" cannot be used"),
    ({"bookinfo_injection": "revision"}, "bookinfo_injection=revision needs bookinfo_revision"),
    ({"bookinfo_istio_api_version": "v2"}, "value of bookinfo_istio_api_version must be one of"),
]


@pytest.fixture(scope="module")
def bad_input_run(kubesim_istio_module, tmp_path_factory):
    """All of BAD_INPUT in one bookinfo.yml run, each case a host of its own on the same cluster; the writes
    of the whole run."""
    sim = kubesim_istio_module
    sim.clear_request_log()
    run = run_cases(tmp_path_factory.mktemp("bad-input"), "bookinfo.yml", sim,
                    {"case%d" % i: extra for i, (extra, _words) in enumerate(BAD_INPUT)})
    return run, writes(sim)


@pytest.mark.parametrize("extra, words", BAD_INPUT)
def test_bad_input_fails_clearly_before_any_change(kubesim_istio_module, bad_input_run, extra, words):
    run, written = bad_input_run
    case = "case%d" % BAD_INPUT.index((extra, words))
    assert run.rc != 0 and run.stats[case]["failures"] == 1, run
    assert any(words in msg for msg in run.failed_msgs_of(case)), run.failed_msgs_of(case)
    assert written == []
    assert objects_in(kubesim_istio_module, "default", "bookinfo") == {}


def test_istio_absent_is_refused_with_the_way_out(kubesim, run_playbook):
    run = run_playbook("bookinfo.yml", kubesim)
    assert run.rc != 0
    (msg,) = run.failed_msgs
    assert msg.startswith("Istio is not installed in this cluster")
    assert "run playbooks/install.yml" in msg
    assert writes(kubesim) == []


def test_removal_without_istio_removes_the_kubernetes_objects(kubesim, run_playbook):
    """A cluster whose Istio was uninstalled first: the Services and Deployments still go."""
    kubesim.create_objects([{"apiVersion": "v1", "kind": "Service",
                             "metadata": {"name": "details", "namespace": "default",
                                          "labels": {"app": "details", "app.kubernetes.io/part-of": "bookinfo"}},
                             "spec": {"ports": [{"name": "http", "port": 9080}], "selector": {"app": "details"}}}])
    run = run_playbook("bookinfo.yml", kubesim, extra_vars={"bookinfo_state": "absent"})
    assert run.rc == 0, run
    assert kubesim.get_object("v1", "Service", "details", "default") is None


def test_pods_without_sidecar_are_reported_then_restarted(kubesim_istio, run_playbook):
    sim = install_minimal_istio(kubesim_istio, service_type="NodePort", injector=False)
    # No injector yet: Bookinfo comes up without sidecars; the role reports them, and fails when asked to.
    first = run_playbook("bookinfo.yml", sim, extra_vars={"bookinfo_require_sidecar": True})
    assert first.rc != 0
    (report,) = messages(first, SIDECAR_TASK)
    assert report.startswith("bookinfo pods without the istio-proxy sidecar: details-v1 (details-v1-")
    for name in DEPLOYMENTS:
        assert name + " (" in report
    expected = "pods without the istio-proxy sidecar: details-v1, productpage-v1, ratings-v1, reviews-v1"
    assert any(expected in m for m in first.failed_msgs), first.failed_msgs

    # istiod's injector arrives; a restart gives every pod its sidecar.
    sim.create_objects([INJECTOR])
    fixed = run_playbook("bookinfo.yml", sim,
                         extra_vars={"bookinfo_restart_workloads": True, "bookinfo_require_sidecar": True})
    assert fixed.rc == 0, fixed
    (restart,) = results(fixed, APPLY_TASK)
    assert sorted(restart["restarted"]) == sorted(DEPLOYMENTS)
    assert restart["without_sidecar"] == []
    assert messages(fixed, SIDECAR_TASK) == ["Every bookinfo pod in default runs the istio-proxy sidecar."]
    live = [p for p in pods(sim, "default") if p["metadata"]["labels"].get("app") in SERVICES
            and not p["metadata"].get("deletionTimestamp")]
    assert live and all(has_sidecar(p) for p in live)
    # The ingress gateway has no load balancer here: the URL uses its node port on the node's address.
    (url,) = messages(fixed, URL_TASK)
    node_port = next(p["nodePort"] for p in sim.get_object("v1", "Service", "istio-ingressgateway", "istio-system")[
        "spec"]["ports"] if p["name"] == "http2")
    assert url.startswith(f"bookinfo: http://10.0.0.10:{node_port}/productpage (node port {node_port}")


def test_check_mode_in_a_namespace_that_does_not_exist_yet(kubesim_istio, run_playbook):
    sim = install_minimal_istio(kubesim_istio)
    sim.clear_request_log()
    run = run_playbook("bookinfo.yml", sim, check=True, extra_vars={"bookinfo_namespace": "shop"})
    assert run.rc == 0, run
    assert writes(sim) == []
    assert sim.get_object("v1", "Namespace", "shop") is None
    (msg,) = messages(run, "Report the objects check mode cannot dry-run in a namespace that does not exist yet")
    assert msg.startswith("Namespace shop would be created")
    assert "Deployment/reviews-v3" in msg and "DestinationRule/ratings" in msg


def _summary(records):
    discovery = [r for r in records if r.method == "GET" and DISCOVERY.match(r.path)]
    return {"requests": len(records), "discovery": len(discovery),
            "get": sum(r.method == "GET" for r in records) - len(discovery),
            "patch": sum(r.method == "PATCH" for r in records),
            "other_writes": sum(r.method in ("POST", "PUT", "DELETE") for r in records)}


DISCOVERY = re.compile(r"^/(api|apis)(/[^/]+){0,2}$|^/openapi/")


def test_both_apps_after_the_collections_own_install(kubesim, run_playbook, tmp_path):
    """install.yml (test charts shaped like Istio's, real helm), then the apps in site.yml's order: they
    land on the ingress gateway and sidecar injector that the control_plane and gateways roles made."""
    charts = build_charts(tmp_path / "charts")
    install = run_playbook("install.yml", kubesim, {"control_plane_version": OLD, "control_plane_charts": charts[OLD]})
    assert install.rc == 0, install
    bookinfo = run_playbook("bookinfo.yml", kubesim)
    assert bookinfo.rc == 0, bookinfo
    hashapp = run_playbook("hashapp.yml", kubesim)
    assert hashapp.rc == 0, hashapp
    assert set(objects_in(kubesim, "default", "bookinfo")) == EXPECTED
    assert len(objects_in(kubesim, "default", "hashapp")) == 11
    app_pods = [p for p in pods(kubesim, "default") if p["metadata"]["labels"].get("app") in SERVICES + ["worker"]]
    assert len(app_pods) == 7 and all(has_sidecar(p) for p in app_pods)
    gateway = kubesim.get_object("v1", "Service", "istio-ingressgateway", "istio-system")
    address = gateway["status"]["loadBalancer"]["ingress"][0]["ip"]
    assert messages(bookinfo, URL_TASK) == [
        f"bookinfo: http://{address}/productpage (load balancer address of istio-system/istio-ingressgateway)"]
    assert messages(hashapp, URL_TASK) == [
        f"hashapp: http://{address}/ (load balancer address of istio-system/istio-ingressgateway)"]


def _v1beta1_only_crd(kind, plural):
    """An Istio CRD as Istio before 1.22 ships it: networking.istio.io served at v1beta1, not v1."""
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.networking.istio.io"},
            "spec": {"group": "networking.istio.io", "scope": "Namespaced",
                     "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": kind + "List"},
                     "versions": [{"name": "v1beta1", "served": True, "storage": True,
                                   "schema": {"openAPIV3Schema": {"type": "object",
                                                                  "x-kubernetes-preserve-unknown-fields": True}}}]}}


def test_istio_serving_only_v1beta1_gets_its_routing_at_v1beta1(kubesim, run_playbook):
    """The apply task picks the networking.istio.io version the cluster serves (bookinfo_istio_api_version auto)."""
    sim = install_minimal_istio(kubesim)
    sim.create_objects([_v1beta1_only_crd(kind, plural) for kind, plural in (
        ("Gateway", "gateways"), ("DestinationRule", "destinationrules"), ("VirtualService", "virtualservices"))])
    first = run_playbook("bookinfo.yml", sim)
    assert first.rc == 0, first
    (applied,) = results(first, APPLY_TASK)
    istio = [r for r in applied["results"] if r["kind"] in ("Gateway", "DestinationRule", "VirtualService")]
    assert len(istio) == 10 and {r["apiVersion"] for r in istio} == {"networking.istio.io/v1beta1"}
    assert {r["action"] for r in istio} == {"created"}
    route = sim.get_object("networking.istio.io/v1beta1", "VirtualService", "reviews", "default")
    assert route["spec"]["http"][0]["route"] == [{"destination": {"host": "reviews", "subset": "v1"}}]
    sim.clear_request_log()
    again = run_playbook("bookinfo.yml", sim)
    assert again.rc == 0 and again.changed == 0, again
    assert writes(sim) == []
