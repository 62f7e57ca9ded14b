"""What the burst tests share: the codelab's worker routing, simulated worker traffic, waiting for a rate."""
import math

from sim.meshsim import KubeReader, MeshSim
from sim.prometheus_harness import PrometheusServer, expose_in

API = "networking.istio.io/v1"
VS, DR = "worker-virtual-service", "worker-destination-rule"
ANNOTATION = "meshops.istio/burst"


def worker_versions(primary_cluster="primary", burst_cluster="burst"):
    """The codelab's two worker Deployments as meshsim versions: one workload name, told apart by cluster-type."""
    return {
        "primary": {"workload": "worker-deployment", "labels": {"cluster-type": "primary-cluster"},
                    "cluster": primary_cluster},
        "burst": {"workload": "worker-deployment", "labels": {"cluster-type": "burst-cluster"},
                  "cluster": burst_cluster},
    }


def worker_routing(namespace, primary=100, burst=0):
    """Service, DestinationRule and VirtualService of the codelab's worker (section 17, on apps/v1 and
    networking.istio.io/v1), as the hashapp role deploys them."""
    host = "worker-service.%s.svc.cluster.local" % namespace
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "worker-service", "namespace": namespace},
         "spec": {"type": "ClusterIP", "selector": {"app": "worker"},
                  "ports": [{"name": "http", "port": 80, "targetPort": 8081}]}},
        {"apiVersion": API, "kind": "DestinationRule", "metadata": {"name": DR, "namespace": namespace},
         "spec": {"host": "worker-service", "trafficPolicy": {"loadBalancer": {"simple": "RANDOM"}},
                  "subsets": [{"name": "primary", "labels": {"cluster-type": "primary-cluster"}},
                              {"name": "burst", "labels": {"cluster-type": "burst-cluster"}}]}},
        {"apiVersion": API, "kind": "VirtualService", "metadata": {"name": VS, "namespace": namespace},
         "spec": {"hosts": ["worker-service"], "gateways": ["mesh"], "http": [{"route": [
             {"destination": {"host": host, "subset": "primary", "port": {"number": 80}}, "weight": primary},
             {"destination": {"host": host, "subset": "burst", "port": {"number": 80}}, "weight": burst}]}]}},
    ]


def codelab_query(namespace, window="15s"):
    return ('sum(rate(istio_requests_total{reporter="destination",destination_service="worker-service.%s.svc.'
            'cluster.local",source_workload="frontend-deployment"}[%s]))' % (namespace, window))


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
