"""meshsim follows the routing stored in kubesim, and a real Prometheus evaluates its metrics."""
import json
import time
import urllib.request

import pytest

from ansible_collections.meshops.istio.plugins.module_utils import prometheus as prom
from sim.meshsim import KubeReader, MeshSim
from sim.meshsim import bookinfo
from sim.prometheus_harness import PrometheusServer, wait_until

NS = "bookinfo"
VS_API = "networking.istio.io/v1"


@pytest.fixture(scope="module")
def cluster(kubesim_istio_module):
    bookinfo.seed(kubesim_istio_module, NS)
    return kubesim_istio_module


@pytest.fixture
def mesh(cluster):
    mesh = MeshSim(KubeReader(cluster.kubeconfig_path, cluster.name), cluster="primary", seed=7)
    yield mesh
    mesh.stop()


def set_vs(cluster, file_name=None, spec=None, name="reviews"):
    """Replace the reviews VirtualService with a reference file's (or a given spec)."""
    existing = cluster.get_object(VS_API, "VirtualService", name, NS)
    if existing:
        _delete(cluster, name)
    if file_name:
        cluster.create_objects([o for o in bookinfo.reference_objects("networking/" + file_name, namespace=NS)
                                if o["metadata"]["name"] == name])
    elif spec:
        cluster.create_objects([{"apiVersion": VS_API, "kind": "VirtualService",
                                 "metadata": {"name": name, "namespace": NS}, "spec": spec}])


def _delete(cluster, name):
    from kubernetes import client, config
    api = client.CustomObjectsApi(config.new_client_from_config(config_file=cluster.kubeconfig_path))
    api.delete_namespaced_custom_object("networking.istio.io", "v1", NS, "virtualservices", name)


def send(mesh, n, headers=None):
    svc = mesh.service("reviews")
    with mesh._lock:
        return [mesh.send(svc, headers) for _ in range(n)]


def shares(results):
    total = len(results)
    out = {}
    for version, _code, _ms in results:
        out[version] = out.get(version, 0) + 1
    return dict((v, c / total) for v, c in out.items())


def test_weights_are_followed_within_tolerance(cluster, mesh):
    set_vs(cluster, "virtual-service-reviews-90-10.yaml")
    mesh.add_service("reviews", NS, rate=0, versions=["v1", "v2", "v3"])
    got = shares(send(mesh, 4000))
    assert set(got) == {"v1", "v2"}
    assert got["v2"] == pytest.approx(0.10, abs=0.02)
    set_vs(cluster, "virtual-service-reviews-v2-v3.yaml")
    mesh.reload()
    got = shares(send(mesh, 4000))
    assert set(got) == {"v2", "v3"} and got["v3"] == pytest.approx(0.5, abs=0.03)


def test_header_match_takes_the_configured_share(cluster, mesh):
    set_vs(cluster, "virtual-service-reviews-jason-v2-v3.yaml")
    mesh.add_service("reviews", NS, rate=0, versions=["v1", "v2", "v3"], headers=[({"end-user": "jason"}, 0.2)])
    got = shares(send(mesh, 4000))
    assert got["v2"] == pytest.approx(0.2, abs=0.03) and set(got) == {"v2", "v3"}
    assert {r[0] for r in send(mesh, 50, headers={"end-user": "jason"})} == {"v2"}
    assert {r[0] for r in send(mesh, 50, headers={"end-user": "jasonx"})} == {"v3"}


def test_mirror_is_counted_at_the_mirror_destination_only(cluster, mesh):
    set_vs(cluster, spec={"hosts": ["reviews"], "http": [{
        "route": [{"destination": {"host": "reviews", "subset": "v1"}}],
        "mirror": {"host": "reviews", "subset": "v2"}, "mirrorPercentage": {"value": 50.0}}]})
    mesh.add_service("reviews", NS, rate=0, versions=["v1", "v2"])
    results = send(mesh, 2000)
    assert {r[0] for r in results} == {"v1"}, "clients only ever get v1's answers"
    assert mesh.count("reviews", "v1") == 2000 and mesh.count("reviews", "v1", reporter="source") == 2000
    assert mesh.count("reviews", "v2") == pytest.approx(1000, abs=80)
    assert mesh.count("reviews", "v2", reporter="source") == 0


def test_missing_subset_fails_with_503_like_envoy(cluster, mesh):
    set_vs(cluster, spec={"hosts": ["reviews"], "http": [{"route": [{"destination": {"host": "reviews",
                                                                                       "subset": "v9"}}]}]})
    mesh.add_service("reviews", NS, rate=0, versions=["v1"])
    assert {r[1] for r in send(mesh, 20)} == {503}
    assert mesh.metrics.totals(reporter="source", destination_workload="unknown", response_flags="NR") == 20


def test_errors_latency_timeouts_and_retries(cluster, mesh):
    set_vs(cluster, "virtual-service-reviews-v3.yaml")
    mesh.add_service("reviews", NS, rate=0, versions={"v3": {"error_rate": 0.3, "latency_ms": 40}})
    results = send(mesh, 3000)
    errors = sum(1 for r in results if r[1] == 503) / len(results)
    assert errors == pytest.approx(0.3, abs=0.03)
    durations = sorted(r[2] for r in results)
    assert durations[len(durations) // 2] == pytest.approx(40, rel=0.1)
    assert durations[int(len(durations) * 0.99)] > 60, "a realistic tail above the median"
    set_vs(cluster, spec={"hosts": ["reviews"], "http": [{
        "route": [{"destination": {"host": "reviews", "subset": "v3"}}],
        "retries": {"attempts": 2}, "timeout": "30ms"}]})
    mesh.reload()
    mesh.set_version("reviews", "v3", error_rate=0.5, latency_ms=10, latency_spread=0)
    before = mesh.count("reviews", "v3")
    results = send(mesh, 1000)
    # Two retries: a request fails only when three attempts fail (1/8), and takes 10ms per attempt.
    assert sum(1 for r in results if r[1] >= 500) / 1000 == pytest.approx(0.125, abs=0.03)
    assert mesh.count("reviews", "v3") - before == pytest.approx(1000 * 1.75, rel=0.06)
    mesh.set_version("reviews", "v3", error_rate=0.0, latency_ms=50)
    assert {r[1] for r in send(mesh, 10)} == {504}, "the 30ms route timeout cuts 50ms requests"


def test_routing_changes_in_the_cluster_are_picked_up(cluster, tmp_path):
    set_vs(cluster, "virtual-service-all-v1.yaml")
    mesh = MeshSim(KubeReader(cluster.kubeconfig_path, cluster.name), refresh=0.2, seed=1)
    mesh.add_service("reviews", NS, rate=0, versions=["v1", "v3"])
    mesh.start()
    try:
        assert {r[0] for r in send(mesh, 20)} == {"v1"}
        set_vs(cluster, "virtual-service-reviews-v3.yaml")
        wait_until(lambda: {r[0] for r in send(mesh, 5)} == {"v3"}, timeout=5, message="meshsim to see v3")
    finally:
        mesh.stop()


def test_real_time_traffic_control_endpoint_and_prometheus(cluster, mesh):
    set_vs(cluster, "virtual-service-reviews-50-v3.yaml")
    mesh.add_service("reviews", NS, rate=200, versions=["v1", "v3"], source_workload="productpage-v1")
    mesh.start()
    server = PrometheusServer([mesh.url]).start()
    try:
        first, start = mesh.count("reviews", reporter="source"), time.monotonic()
        time.sleep(2.0)
        counted = mesh.count("reviews", reporter="source") - first
        assert counted == pytest.approx(200 * (time.monotonic() - start), rel=0.25)
        request = urllib.request.Request(mesh.url + "/control", method="POST", data=json.dumps(
            {"service": "reviews", "version": "v3", "error_rate": 0.4, "latency_ms": 300}).encode())
        with urllib.request.urlopen(request) as r:
            assert json.loads(r.read())["services"]["bookinfo/reviews"]["versions"]["v3"]["error_rate"] == 0.4
        with urllib.request.urlopen(mesh.url + "/metrics") as r:
            text = r.read().decode()
        assert 'istio_requests_total{reporter="destination",source_workload="productpage-v1"' in text
        assert 'destination_service="reviews.bookinfo.svc.cluster.local"' in text
        assert "istio_request_duration_milliseconds_bucket{" in text and 'le="+Inf"' in text
        # Prometheus computes the collection's own queries over a short window.
        server.wait_scraped(5)
        client = prom.Client(server.url)
        v3 = prom.destination_labels("reviews", NS, version="v3")
        v1 = prom.destination_labels("reviews", NS, version="v1")
        wait_until(lambda: (client.value(prom.success_rate_query(v3, 5)) or 100) < 70, timeout=15,
                   message="v3 success rate to reflect 40% errors")
        assert client.value(prom.success_rate_query(v3, 5)) == pytest.approx(60, abs=12)
        assert client.value(prom.success_rate_query(v1, 5)) == pytest.approx(100)
        assert client.value(prom.latency_query(v3, 5)) > 250
        assert client.value(prom.latency_query(v1, 5)) < 100
        assert client.value(prom.request_rate_query(v1, 5)) == pytest.approx(100, rel=0.3)
        nobody = prom.destination_labels("reviews", NS, version="v7")
        assert client.value(prom.success_rate_query(nobody, 5)) is None, "no traffic is not 0% nor 100%"
        mesh.set_rate("reviews", 0)
        wait_until(lambda: client.value(prom.request_rate_query(v1, 3)) == 0, timeout=15, message="rate 0")
        assert client.value(prom.success_rate_query(v1, 3)) is None, "0/0 is NaN: reported as no value"
    finally:
        server.stop()
