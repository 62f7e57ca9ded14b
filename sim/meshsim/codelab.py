"""The codelab's hash app (its section 17) as meshsim and Prometheus see it: the worker's two versions (one
workload name, told apart by cluster-type), its routing objects and the query the burst decision reads."""

API = "networking.istio.io/v1"
VS, DR = "worker-virtual-service", "worker-destination-rule"


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
