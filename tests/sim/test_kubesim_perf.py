"""Speed budget of kubesim: the whole test suite leans on it, so regressions must show up here.

Bounds are several times the measured values on the 2-core CI machine (see the numbers printed
with `pytest -s`), loose enough not to flake under load, tight enough to catch an O(n²) slip.
"""
import statistics
import time

import requests

from tests.sim.kubesim import KubeSim
from tests.standins import istio_crds

# Istio's CRDs where ../shared/reference is present, else the stand-ins (the budget holds for both).
CRDS = istio_crds()


def _session(sim, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text(sim.ca_pem)
    session = requests.Session()
    session.trust_env = False          # REQUESTS_CA_BUNDLE would replace the cluster CA
    session.verify = str(ca)
    session.headers["Authorization"] = f"Bearer {sim.admin_token}"
    return session


def test_start_with_istio_crds_is_fast():
    KubeSim(crd_files=[CRDS]).start().stop()        # warm the per-process YAML cache, as a suite would
    started = time.monotonic()
    sim = KubeSim(crd_files=[CRDS]).start()
    elapsed = time.monotonic() - started
    sim.stop()
    print(f"\nstart with the Istio CRDs: {elapsed * 1000:.0f} ms")
    assert elapsed < 2.0


def test_request_latency_over_keep_alive(kubesim, tmp_path):
    kubesim.create_objects([{"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": f"cm-{i}", "namespace": "default", "labels": {"n": str(i % 5)}},
                             "data": {"k": "v" * 100}} for i in range(50)])
    session = _session(kubesim, tmp_path)
    url = kubesim.url + "/api/v1/namespaces/default/configmaps"
    timings = []
    for i in range(500):
        started = time.perf_counter()
        response = session.get(f"{url}/cm-{i % 50}")
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200
    list_started = time.perf_counter()
    for _ in range(100):
        assert len(session.get(url, params={"labelSelector": "n=1"}).json()["items"]) == 10
    list_ms = (time.perf_counter() - list_started) * 10
    write_started = time.perf_counter()
    for i in range(100):
        assert session.patch(f"{url}/cm-{i % 50}", json={"data": {"k": str(i)}},
                             headers={"Content-Type": "application/merge-patch+json"}).status_code == 200
    patch_ms = (time.perf_counter() - write_started) * 10
    mean = statistics.mean(timings) * 1000
    p95 = sorted(timings)[int(len(timings) * 0.95)] * 1000
    print(f"\n500 GETs: mean {mean:.2f} ms, p95 {p95:.2f} ms, total {sum(timings):.2f} s; "
          f"LIST with selector {list_ms:.2f} ms; PATCH {patch_ms:.2f} ms")
    assert mean < 10 and list_ms < 30 and patch_ms < 40
