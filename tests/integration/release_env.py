"""Shared setup of the release tests: one kubesim, one meshsim and one real Prometheus per test module.

Each test gets its own namespace (a copy of Bookinfo's reviews routing), so the metrics of one test
never fall into the analysis window of another.
"""
import itertools

from sim.meshsim import KubeReader, MeshSim
from sim.meshsim import bookinfo
from sim.prometheus_harness import PrometheusServer, expose_in

API = "networking.istio.io/v1"
_counter = itertools.count(1)


class ReleaseEnv:
    def __init__(self, sim):
        self.sim = sim
        self.mesh = MeshSim(KubeReader(sim.kubeconfig_path, sim.name), cluster=sim.name, refresh=0.5,
                            follow_jobs=True).start()
        self.prometheus = PrometheusServer([self.mesh.url]).start()
        # Service istio-system/prometheus:9090 of the cluster: the default, through the API server's proxy.
        expose_in(sim, self.prometheus)
        self.namespaces = []

    def namespace(self, rate=100, versions=None, headers=None, vs="virtual-service-all-v1.yaml"):
        """A fresh Bookinfo namespace with reviews routed by ``vs``, and simulated traffic to reviews.

        ``vs=None``: only the Services, no DestinationRules or VirtualServices yet."""
        ns = "rel-%d" % next(_counter)
        bookinfo.seed(self.sim, ns, destination_rules=vs is not None, virtual_services=[vs] if vs else ())
        self.mesh.add_service("reviews", ns, rate=rate, versions=versions or ["v1", "v2", "v3"],
                              source_workload="productpage-v1", headers=headers)
        self.namespaces.append(ns)
        return ns

    def done(self, ns):
        self.mesh.remove_service("%s/reviews" % ns)

    def vs(self, ns):
        return self.sim.get_object(API, "VirtualService", "reviews", ns)

    @property
    def prometheus_options(self):
        """The module's prometheus option: none, so that Prometheus is reached through the API server."""
        return {}

    @property
    def prometheus_direct(self):
        """The module's prometheus option with the URL of the real Prometheus (no API server between)."""
        return {"url": self.prometheus.url}

    def stop(self):
        self.prometheus.stop()
        self.mesh.stop()
