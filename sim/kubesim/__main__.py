"""Serve a simulated cluster until killed: python -m sim.kubesim --port 0 --kubeconfig PATH."""
import argparse
import signal
import sys
import threading

from .sim import KubeSim


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m sim.kubesim", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 picks a free one)")
    parser.add_argument("--kubeconfig", required=True, help="where to write a kubeconfig for the cluster")
    parser.add_argument("--name", default="kubesim", help="cluster (and kubeconfig context) name")
    parser.add_argument("--crds", nargs="*", action="extend", default=[], metavar="FILE",
                        help="YAML files of CustomResourceDefinitions to load at start")
    parser.add_argument("--available-delay", type=float, default=0.0, metavar="S",
                        help="seconds before pods turn Ready and LoadBalancers get an address")
    parser.add_argument("--openshift", action="store_true",
                        help="serve OpenShift's Route and SecurityContextConstraints APIs (and Multus' CRD)")
    args = parser.parse_args(argv)
    try:
        sim = KubeSim(name=args.name, crd_files=args.crds, available_delay=args.available_delay, port=args.port,
                      openshift=args.openshift)
        sim.start()
    except (OSError, ValueError, KeyError) as exc:
        print(f"kubesim: cannot start: {exc}", file=sys.stderr)
        return 1
    sim.write_kubeconfig(args.kubeconfig)
    print(f"kubesim {sim.name} serving {sim.url} (port {sim.port}); kubeconfig {args.kubeconfig}", flush=True)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
