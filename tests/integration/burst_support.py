"""What the burst tests share: the codelab's worker routing, simulated worker traffic, waiting for a rate."""
import math

from sim.meshsim import KubeReader, MeshSim
# The codelab's worker objects and query live with meshsim (scripts/demo_burst.py uses them too).
from sim.meshsim.codelab import API, DR, VS, codelab_query, worker_routing, worker_versions  # noqa: F401
from sim.prometheus_harness import PrometheusServer, expose_in

ANNOTATION = "meshops.istio/burst"


def wait_rate(prometheus, namespace, low, high, timeout=60, window="15s"):
    """Wait until Prometheus's rate of the frontend's requests to the worker is within [low, high]."""
    def check(result):
        if not result:
            return False
        value = float(result[0]["value"][1])
        return not math.isnan(value) and low <= value <= high
    return float(prometheus.wait_for(codelab_query(namespace, window), timeout=timeout, check=check)[0]["value"][1])


def task_results(run, name, host=None):
    """Results of the task called ``name``, with or without its "role : " prefix."""
    return [r for task, h, r in run.tasks
            if (task == name or task.endswith(" : " + name)) and (host is None or h == host)]


def weights(sim, namespace):
    """{primary, burst} weights of the worker route (a lone destination takes everything, as in Istio)."""
    route = sim.get_object(API, "VirtualService", VS, namespace)["spec"]["http"][0]["route"]
    out = {"primary": 0, "burst": 0}
    for d in route:
        out[d["destination"]["subset"]] = 100 if len(route) == 1 else d.get("weight", 0)
    return out


class BurstEnv:
    """A meshsim following one cluster's routing, and a real Prometheus scraping it."""

    def __init__(self, sim, primary_cluster="primary", burst_cluster="burst"):
        self.sim = sim
        self.clusters = (primary_cluster, burst_cluster)
        self.mesh = MeshSim(KubeReader(sim.kubeconfig_path, sim.name), cluster=sim.name, refresh=0.5).start()
        self.prometheus = PrometheusServer([self.mesh.url]).start()
        # Service istio-system/prometheus:9090 of the cluster: the default, through the API server's proxy.
        expose_in(sim, self.prometheus)

    def add_worker(self, namespace, rate):
        self.mesh.add_service("worker-service", namespace, rate=rate, versions=worker_versions(*self.clusters),
                              source_workload="frontend-deployment")

    def set_rate(self, namespace, rate):
        self.mesh.set_rate("%s/worker-service" % namespace, rate)

    def served(self, namespace):
        """Requests each worker subset received so far (destination reporter)."""
        svc = self.mesh.service("%s/worker-service" % namespace)
        return {v: self.mesh.metrics.totals(destination_service=svc.fqdn, reporter="destination",
                                            destination_version=v) for v in ("primary", "burst")}

    def stop(self):
        self.prometheus.stop()
        self.mesh.stop()
