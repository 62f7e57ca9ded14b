"""What keeps kubesim fast, asserted as counts and states: the whole test suite leans on it.

The figures themselves (start-up with the Istio CRDs, GET/LIST/PATCH latency over keep-alive) are measured
by `make bench` (scripts/bench.py, the "kubesim itself" table of docs/bench.md); a test never asserts a time.
"""
import requests

from sim.kubesim import KubeSim
from sim.kubesim import sim as sim_module
from tests.standins import istio_crds

# Istio's CRDs where ../shared/reference is present, else the stand-ins (the same holds for both).
CRDS = istio_crds()
CRD = ("apiextensions.k8s.io/v1", "CustomResourceDefinition")


def _session(sim, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text(sim.ca_pem)
    session = requests.Session()
    session.trust_env = False          # REQUESTS_CA_BUNDLE would replace the cluster CA
    session.verify = str(ca)
    session.headers["Authorization"] = f"Bearer {sim.admin_token}"
    return session


def test_a_second_start_with_the_istio_crds_parses_no_yaml(monkeypatch):
    """Clusters of one process share the parsed CRD file: only the first start reads it."""
    KubeSim(crd_files=[CRDS]).start().stop()        # warm the per-process YAML cache, as a suite would
    parsed = []
    real = sim_module.load_yaml_documents
    monkeypatch.setattr(sim_module, "load_yaml_documents", lambda text: parsed.append(len(text)) or real(text))
    sim = KubeSim(crd_files=[CRDS]).start()
    try:
        crds = sim.list_objects(*CRD)
        assert parsed == []
        assert len(crds) >= 10 and all(
            any(cond["type"] == "Established" and cond["status"] == "True" for cond in c["status"]["conditions"])
            for c in crds)
    finally:
        sim.stop()


def test_requests_reuse_one_keep_alive_connection(kubesim, tmp_path):
    kubesim.create_objects([{"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": f"cm-{i}", "namespace": "default", "labels": {"n": str(i % 5)}},
                             "data": {"k": "v" * 100}} for i in range(50)])
    session = _session(kubesim, tmp_path)
    url = kubesim.url + "/api/v1/namespaces/default/configmaps"
    for i in range(200):
        response = session.get(f"{url}/cm-{i % 50}")
        assert response.status_code == 200 and response.json()["metadata"]["name"] == f"cm-{i % 50}"
    for _ in range(20):
        assert len(session.get(url, params={"labelSelector": "n=1"}).json()["items"]) == 10
    for i in range(20):
        assert session.patch(f"{url}/cm-{i % 50}", json={"data": {"k": str(i)}},
                             headers={"Content-Type": "application/merge-patch+json"}).status_code == 200
    # One TLS connection carried all 240 requests: the client opened one, the server holds one.
    pools = session.get_adapter(url).poolmanager.pools
    assert len(pools) == 1
    pool = pools[next(iter(pools.keys()))]
    assert (pool.num_connections, pool.num_requests) == (1, 240)
    assert len(kubesim._server.connections) == 1
    assert len(kubesim.request_log) == 240
    session.close()
