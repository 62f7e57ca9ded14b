"""playbooks/hashapp.yml against two kubesim clusters: the codelab's primary and burst roles."""
import subprocess

import pytest
import yaml

from tests.conftest import run_cases
from tests.integration.apps_support import (
    ISTIO_API,
    has_sidecar,
    install_minimal_istio,
    messages,
    objects_in,
    pods,
    resource_versions,
    writes,
)

PRIMARY_OBJECTS = {
    ("Deployment", "redis-cache"), ("Service", "redis-cache-service"),
    ("Deployment", "frontend-deployment"), ("Service", "frontend-service"),
    ("Deployment", "worker-deployment"), ("Service", "worker-service"),
    ("Gateway", "frontend-gateway"), ("VirtualService", "frontend-ingress-virtual-service"),
    ("VirtualService", "redis-virtual-service"), ("DestinationRule", "worker-destination-rule"),
    ("VirtualService", "worker-virtual-service"),
}
BURST_OBJECTS = {("Deployment", "worker-deployment"), ("Service", "worker-service"), ("Service", "redis-cache-service")}
ROLES = {"primary": {"hashapp_cluster_role": "primary"}, "burst": {"hashapp_cluster_role": "burst"}}


def weights(sim):
    vs = sim.get_object(ISTIO_API, "VirtualService", "worker-virtual-service", "default")
    return {d["destination"]["subset"]: d["weight"] for d in vs["spec"]["http"][0]["route"]}


def worker_pod(sim):
    (pod,) = [p for p in pods(sim, "default", "worker") if not p["metadata"].get("deletionTimestamp")]
    return pod


def test_primary_and_burst_clusters_from_one_inventory(kubesim_factory, run_playbook):
    primary = install_minimal_istio(kubesim_factory("primary", istio_crds=True))
    burst = install_minimal_istio(kubesim_factory("burst", istio_crds=True))
    clusters = [primary, burst]
    untouched = {sim.name: set(objects_in(sim, "default")) for sim in clusters}

    for sim in clusters:
        sim.clear_request_log()
    check = run_playbook("hashapp.yml", clusters, host_vars=ROLES, check=True, diff=True)
    assert check.rc == 0, check
    for sim in clusters:
        assert writes(sim) == [], sim.name
        assert set(objects_in(sim, "default")) == untouched[sim.name]

    first = run_playbook("hashapp.yml", clusters, host_vars=ROLES)
    assert first.rc == 0, first
    # Exactly these objects on each cluster, and nothing of the app anywhere else.
    assert set(objects_in(primary, "default", "hashapp")) == PRIMARY_OBJECTS
    assert set(objects_in(burst, "default", "hashapp")) == BURST_OBJECTS
    assert set(objects_in(burst, "default")) - untouched["burst"] == BURST_OBJECTS
    assert weights(primary) == {"primary": 100, "burst": 0}

    primary_worker, burst_worker = worker_pod(primary), worker_pod(burst)
    assert primary_worker["metadata"]["labels"]["cluster-type"] == "primary-cluster"
    assert burst_worker["metadata"]["labels"]["cluster-type"] == "burst-cluster"
    env = {c["name"]: {e["name"]: e["value"] for e in c.get("env", [])} for c in burst_worker["spec"]["containers"]}
    assert env["worker"] == {"PORT": "8081", "REDIS_URL": "redis-cache-service:6379", "PREFIX": "bursty-"}
    assert "PREFIX" not in {e["name"] for e in primary_worker["spec"]["containers"][0]["env"]}
    for sim in clusters:
        assert all(has_sidecar(p) for p in pods(sim, "default")), sim.name
    # The frontend URL is shown for the primary only (the burst cluster serves no frontend).
    shown = [(host, r["msg"]) for name, host, r in first.tasks
             if name.endswith("Show the application URL") and not r.get("skipped")]
    assert shown == [("primary", "hashapp: http://127.0.0.1/ (load balancer address of istio-system/istio-ingressgateway)")]

    versions = {sim.name: resource_versions(sim, "default", "hashapp") for sim in clusters}
    second = run_playbook("hashapp.yml", clusters, host_vars=ROLES)
    assert second.rc == 0 and second.changed == 0, [t for t, _host, r in second.tasks if r.get("changed")]
    assert {sim.name: resource_versions(sim, "default", "hashapp") for sim in clusters} == versions

    # The burst job takes the worker route to the burst cluster, applying the route and the subsets the
    # way istio_traffic does (field manager meshops-istio, no labels, no traffic policy). Running the
    # app role again keeps its weights, and the worker DestinationRule keeps RANDOM and our label.
    host = "worker-service.default.svc.cluster.local"
    burst_mode = [
        {"apiVersion": ISTIO_API, "kind": "DestinationRule",
         "metadata": {"name": "worker-destination-rule", "namespace": "default"},
         "spec": {"host": "worker-service", "subsets": [
             {"name": "primary", "labels": {"cluster-type": "primary-cluster"}},
             {"name": "burst", "labels": {"cluster-type": "burst-cluster"}}]}},
        {"apiVersion": ISTIO_API, "kind": "VirtualService",
         "metadata": {"name": "worker-virtual-service", "namespace": "default"},
         "spec": {"hosts": ["worker-service"], "gateways": ["mesh"], "http": [{"route": [
             {"destination": {"host": host, "subset": s, "port": {"number": 80}}, "weight": w}
             for s, w in (("primary", 0), ("burst", 100))]}]}},
    ]
    subprocess.run(["kubectl", "--kubeconfig", primary.kubeconfig_path, "apply", "--server-side", "--force-conflicts",
                    "--field-manager", "meshops-istio", "-f", "-"], input=yaml.safe_dump_all(burst_mode), text=True,
                   check=True, capture_output=True)
    kept = run_playbook("hashapp.yml", clusters, host_vars=ROLES)
    assert kept.rc == 0 and kept.changed == 0, kept
    assert weights(primary) == {"primary": 0, "burst": 100}
    rule = primary.get_object(ISTIO_API, "DestinationRule", "worker-destination-rule", "default")
    assert rule["spec"]["trafficPolicy"] == {"loadBalancer": {"simple": "RANDOM"}}
    assert rule["metadata"]["labels"] == {"app.kubernetes.io/part-of": "hashapp"}

    gone = run_playbook("hashapp.yml", clusters, host_vars=ROLES, extra_vars={"hashapp_state": "absent"})
    assert gone.rc == 0, gone
    for sim in clusters:
        assert objects_in(sim, "default", "hashapp") == {}, sim.name
        assert set(objects_in(sim, "default")) == untouched[sim.name]
    again = run_playbook("hashapp.yml", clusters, host_vars=ROLES, extra_vars={"hashapp_state": "absent"})
    assert again.rc == 0 and again.changed == 0, again


BAD_INPUT = [
    ({"hashapp_worker_weights": {"primary": 60, "burst": 30}}, "must be whole numbers from 0 to 100 that add up to 100"),
    ({"hashapp_worker_weights": {"primary": 100, "canary": 0}},
     "hashapp_worker_weights names canary, but the worker has only the subsets primary and burst"),
    ({"hashapp_worker_weights": {"primary": "most", "burst": 0}}, "must be whole numbers"),
    ({"hashapp_redis_image": "Redis:alpine"},
     "hashapp_redis_image=\"Redis:alpine\" cannot be used: repository paths must be lower case"),
    ({"hashapp_image_registry": "gcr.io/istio-burst-workshop/"}, "cannot be used: it ends with '/'"),
    ({"hashapp_cluster_role": "edge"}, "value of hashapp_cluster_role must be one of: primary, burst"),
]


@pytest.fixture(scope="module")
def bad_input_run(kubesim_istio_module, tmp_path_factory):
    """All of BAD_INPUT in one hashapp.yml run, each case a host of its own on the same cluster; the writes
    of the whole run."""
    sim = kubesim_istio_module
    sim.clear_request_log()
    run = run_cases(tmp_path_factory.mktemp("bad-input"), "hashapp.yml", sim,
                    {"case%d" % i: extra for i, (extra, _words) in enumerate(BAD_INPUT)})
    return run, writes(sim)


@pytest.mark.parametrize("extra, words", BAD_INPUT)
def test_bad_input_fails_clearly_before_any_change(kubesim_istio_module, bad_input_run, extra, words):
    run, written = bad_input_run
    case = "case%d" % BAD_INPUT.index((extra, words))
    assert run.rc != 0 and run.stats[case]["failures"] == 1, run
    assert any(words in msg for msg in run.failed_msgs_of(case)), run.failed_msgs_of(case)
    assert written == []
    assert objects_in(kubesim_istio_module, "default", "hashapp") == {}


def test_burst_cluster_without_istio_is_refused(kubesim, run_playbook):
    run = run_playbook("hashapp.yml", kubesim, extra_vars={"hashapp_cluster_role": "burst"})
    assert run.rc != 0
    (msg,) = run.failed_msgs
    assert msg.startswith("Istio is not installed in this cluster") and "run playbooks/install.yml" in msg
    assert writes(kubesim) == []
    assert messages(run, "Show the application URL") == []
