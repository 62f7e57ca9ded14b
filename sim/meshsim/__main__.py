"""Run meshsim on its own: python -m sim.meshsim --kubeconfig K --service reviews:bookinfo:v1,v2,v3 ..."""
import argparse
import signal
import threading

from .sim import KubeReader, MeshSim


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--context")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cluster", default="Kubernetes")
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--source-workload", default="client")
    parser.add_argument("--service", action="append", default=[],
                        help="name:namespace:version,version (repeatable)")
    parser.add_argument("--follow-jobs", action="store_true",
                        help="count fortio load Jobs in the services' namespaces as clients (istio_release's load)")
    args = parser.parse_args()
    mesh = MeshSim(KubeReader(args.kubeconfig, args.context), cluster=args.cluster, follow_jobs=args.follow_jobs)
    for spec in args.service:
        name, namespace, versions = spec.split(":")
        mesh.add_service(name, namespace, rate=args.rate, versions=versions.split(","),
                         source_workload=args.source_workload)
    mesh.start(args.port)
    print("meshsim on %s (GET /metrics, GET /state, POST /control)" % mesh.url, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    signal.signal(signal.SIGINT, lambda *a: done.set())
    done.wait()
    mesh.stop()


if __name__ == "__main__":
    main()
