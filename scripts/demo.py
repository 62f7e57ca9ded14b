"""`make demo`: run the main job (playbooks/site.yml) against a simulated cluster and show the result.

    python -m scripts.demo            start kubesim, run site.yml, print what is in the cluster, stop
    python -m scripts.demo --keep     the same, but leave kubesim serving (kubectl works against it)
    python -m scripts.demo up DIR     only start the simulators and write DIR/{kubeconfig,hosts.yml,host_vars.yml}
                                      (molecule create)
    python -m scripts.demo down DIR   stop the simulators started by `up DIR` (molecule destroy)

The simulated cluster stands in for a real one: the playbooks are the same, only the inventory
(inventories/sim/: local chart copies, the reference addon manifests) differs. Beside kubesim run
meshsim (simulated traffic to Bookinfo's reviews, following the cluster's routing, exporting Istio's
metrics) and a real Prometheus scraping it, so that site.yml's closing canary is judged on metrics.
"""

import argparse
import os
import socket
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DEMO_DIR = REPO / ".tools" / "demo"
SIM_INVENTORY = REPO / "inventories" / "sim"
BIN = Path(sys.executable).parent
CLUSTER = "sim"


def tool_env():
    env = dict(os.environ)
    env["PATH"] = f"{REPO / '.tools' / 'bin'}:{BIN}:{env.get('PATH', '')}"
    env["ANSIBLE_COLLECTIONS_PATH"] = str(REPO / ".tools" / "collections")
    return env


def build_charts(directory):
    """Istio-shaped charts for the version inventories/sim asks for (no chart download is possible)."""
    from tests.charts.build import build_chart_set

    version = yaml.safe_load((SIM_INVENTORY / "group_vars" / "all.yml").read_text())["control_plane_version"]
    charts = Path(directory) / "charts"
    if not (charts / "base" / "Chart.yaml").is_file():
        build_chart_set(charts, version)
    return charts


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(directory, name, *args):
    """Start ``python -m <args>`` in its own session, logging to DIR/<name>.log; remember its pid."""
    log = open(Path(directory) / f"{name}.log", "w")  # noqa: SIM115 - the server keeps writing after we return
    server = subprocess.Popen([sys.executable, "-m", *args], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    with open(Path(directory) / "servers.pid", "a") as pids:
        pids.write(f"{server.pid}\n")
    return server


def wait_until(ready, server, what, log, timeout=30):
    deadline = time.time() + timeout
    while not ready():
        if server.poll() is not None or time.time() > deadline:
            raise SystemExit(f"{what} did not start; see {log}")
        time.sleep(0.1)


def listening(port):
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def up(directory):
    """Start kubesim, meshsim and Prometheus in the background; write a kubeconfig and a hosts file."""
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    down(directory)
    charts = build_charts(directory)
    kubeconfig = directory / "kubeconfig"
    kubeconfig.unlink(missing_ok=True)
    kubesim = serve(directory, "kubesim", "tests.sim.kubesim", "--name", CLUSTER, "--port", "0",
                    "--kubeconfig", str(kubeconfig), "--available-delay", "0.5")
    wait_until(kubeconfig.is_file, kubesim, "kubesim", directory / "kubesim.log")
    namespace = yaml.safe_load((REPO / "roles" / "bookinfo" / "defaults" / "main.yml").read_text())["bookinfo_namespace"]
    mesh_port, prometheus_port = free_port(), free_port()
    meshsim = serve(directory, "meshsim", "tests.sim.meshsim", "--kubeconfig", str(kubeconfig), "--context", CLUSTER,
                    "--port", str(mesh_port), "--service", f"reviews:{namespace}:v1,v2,v3", "--rate", "50",
                    "--source-workload", "productpage-v1", "--cluster", CLUSTER)
    wait_until(lambda: listening(mesh_port), meshsim, "meshsim", directory / "meshsim.log")
    prometheus = serve(directory, "prometheus", "tests.sim.prometheus_harness", "--target",
                       f"127.0.0.1:{mesh_port}", "--port", str(prometheus_port))
    wait_until(lambda: listening(prometheus_port), prometheus, "prometheus", directory / "prometheus.log")
    host_vars = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "kubeconfig": str(kubeconfig),
        "context": CLUSTER,
        "control_plane_charts": str(charts),
        "release_prometheus_url": f"http://127.0.0.1:{prometheus_port}",
    }
    # The same variables twice: as an inventory (make demo) and flat (molecule's include_vars).
    (directory / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {CLUSTER: host_vars}}}, sort_keys=False))
    (directory / "host_vars.yml").write_text(yaml.safe_dump(host_vars, sort_keys=False))
    return kubeconfig


def down(directory):
    pid_file = Path(directory) / "servers.pid"
    if pid_file.is_file():
        for pid in pid_file.read_text().split():
            try:
                os.killpg(int(pid), signal.SIGTERM)
            except (ProcessLookupError, ValueError):
                pass
        pid_file.unlink()


def kubectl(kubeconfig, *args):
    return subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), *args], capture_output=True, text=True,
                          env=tool_env(), check=False).stdout


def show(kubeconfig):
    print("\n=== What the simulated cluster now holds (kubectl) ===")
    print(kubectl(kubeconfig, "get", "namespaces", "-L", "istio-injection,istio.io/rev"))
    print(kubectl(kubeconfig, "get", "deployments", "-A"))
    print(kubectl(kubeconfig, "get", "virtualservices,destinationrules,gateways", "-A"))


def run(keep):
    kubeconfig = up(DEMO_DIR)
    try:
        play = subprocess.run(
            [str(BIN / "ansible-playbook"), "-i", str(SIM_INVENTORY), "-i", str(DEMO_DIR / "hosts.yml"),
             str(REPO / "playbooks" / "site.yml")], cwd=REPO, env=tool_env(), check=False)
        show(kubeconfig)
        if keep:
            print(f"kubesim keeps serving: export KUBECONFIG={kubeconfig}; stop it with "
                  f"`.venv/bin/python -m scripts.demo down {DEMO_DIR}`")
        return play.returncode
    finally:
        if not keep:
            down(DEMO_DIR)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", nargs="?", choices=["run", "up", "down"], default="run")
    parser.add_argument("directory", nargs="?", default=str(DEMO_DIR))
    parser.add_argument("--keep", action="store_true", help="leave the simulated cluster running")
    args = parser.parse_args()
    if args.action == "up":
        print(up(args.directory))
        return 0
    if args.action == "down":
        down(args.directory)
        return 0
    return run(args.keep)


if __name__ == "__main__":
    sys.exit(main())
