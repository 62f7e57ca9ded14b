"""A release wave over the clusters of a meshops.istio.clusters inventory: playbooks/release.yml with
serial 1, canary cluster first, the wave stopped by a failed analysis there.

Three kubesims with Bookinfo's reviews routing, a meshsim per cluster (each reports its own
destination_cluster) and one real Prometheus scraping all three."""
import json

import pytest
import yaml

from sim.meshsim import KubeReader, MeshSim, bookinfo
from sim.prometheus_harness import PrometheusServer

API = "networking.istio.io/v1"
CLUSTERS = ("canary", "west", "east")
ANNOTATION = "meshops.istio/release"


@pytest.fixture
def fleet(kubesim_factory, tmp_path):
    sims = [kubesim_factory(name, istio_crds=True) for name in CLUSTERS]
    meshes = []
    for sim in sims:
        bookinfo.seed(sim, "bookinfo", virtual_services=["virtual-service-all-v1.yaml"])
        mesh = MeshSim(KubeReader(sim.kubeconfig_path, sim.name), cluster=sim.name, refresh=0.5).start()
        mesh.add_service("reviews", "bookinfo", rate=60, versions=["v1", "v2", "v3"], source_workload="productpage-v1")
        meshes.append(mesh)
    prometheus = PrometheusServer([m.url for m in meshes]).start()
    prometheus.wait_scraped(2)
    inventory = tmp_path / "fleet.clusters.yml"
    inventory.write_text(yaml.safe_dump({"plugin": "meshops.istio.clusters", "clusters": [
        {"name": sim.name, "kubeconfig": sim.kubeconfig_path, "context": sim.name} for sim in sims]}))
    yield dict(zip(CLUSTERS, sims)), dict(zip(CLUSTERS, meshes)), prometheus, str(inventory)
    prometheus.stop()
    for mesh in meshes:
        mesh.stop()


def wave_vars(prometheus):
    return dict(release_namespace="bookinfo", release_canary_version="v2", release_steps=[50, 100],
                release_interval=4, release_window=4,
                release_success_rate=99, release_latency_p99=0, release_min_requests=10, release_threshold=0,
                release_prometheus_url=prometheus.url,
                # Each cluster's analysis judges that cluster's canary only.
                release_metrics_labels={"destination_version": "v2",
                                        "destination_cluster": "{{ istio_cluster_name }}"})


def state(sim):
    annotations = sim.get_object(API, "VirtualService", "reviews", "bookinfo")["metadata"].get("annotations") or {}
    return json.loads(annotations[ANNOTATION]) if ANNOTATION in annotations else None


def default_route(sim):
    return sim.get_object(API, "VirtualService", "reviews", "bookinfo")["spec"]["http"][-1]["route"]


def test_wave_stops_when_the_canary_cluster_fails(fleet, run_playbook):
    sims, meshes, prometheus, inventory = fleet
    meshes["canary"].set_version("reviews", "v2", error_rate=0.4)
    run = run_playbook("release.yml", inventory=inventory, extra_vars=wave_vars(prometheus))
    assert run.rc != 0
    hosts_run = sorted({host for _task, host, _result in run.tasks})
    assert hosts_run == ["canary"], hosts_run
    msg = [m for m in run.failed_msgs if m.startswith("Release reviews-v2")][0]
    assert msg.startswith("Release reviews-v2 rolled back to 100% v1: the analysis at 50% failed - success_rate ")
    assert state(sims["canary"])["phase"] == "failed"
    assert default_route(sims["canary"]) == [{"destination": {"host": "reviews", "subset": "v1"}}]
    # The rest of the fleet was never touched.
    for name in ("west", "east"):
        assert state(sims[name]) is None
        assert default_route(sims[name]) == [{"destination": {"host": "reviews", "subset": "v1"}}]
        assert sims[name].writes() == []


def test_healthy_wave_goes_cluster_by_cluster(fleet, run_playbook):
    sims, _meshes, prometheus, inventory = fleet
    run = run_playbook("release.yml", inventory=inventory, extra_vars=wave_vars(prometheus))
    assert run.rc == 0, run
    states = {name: state(sims[name]) for name in CLUSTERS}
    assert all(s["phase"] == "succeeded" for s in states.values()), states
    # serial 1: each cluster's release finished before the next one started.
    for earlier, later in zip(CLUSTERS, CLUSTERS[1:]):
        assert states[earlier]["history"][-1]["ts"] <= states[later]["history"][0]["ts"], (earlier, later)
    for name in CLUSTERS:
        assert default_route(sims[name]) == [{"destination": {"host": "reviews", "subset": "v2"}}]
