"""`make demo`: run the main job (playbooks/site.yml) against a simulated cluster and show the result.

    python -m scripts.demo            start kubesim, run site.yml, print what is in the cluster, stop
    python -m scripts.demo --keep     the same, but leave kubesim serving (kubectl works against it)
    python -m scripts.demo up DIR     only start kubesim and write DIR/{kubeconfig,hosts.yml} (molecule create)
    python -m scripts.demo down DIR   stop the kubesim started by `up DIR` (molecule destroy)

The simulated cluster stands in for a real one: the playbooks are the same, only the inventory
(inventories/sim/: local chart copies, the reference addon manifests) differs.
"""

import argparse
import os
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


def up(directory):
    """Start kubesim in the background; write its kubeconfig and a hosts file for it."""
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    down(directory)
    charts = build_charts(directory)
    kubeconfig = directory / "kubeconfig"
    kubeconfig.unlink(missing_ok=True)
    log = open(directory / "kubesim.log", "w")  # noqa: SIM115 - the server keeps writing after we return
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.sim.kubesim", "--name", CLUSTER, "--port", "0",
         "--kubeconfig", str(kubeconfig), "--available-delay", "0.5"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    (directory / "kubesim.pid").write_text(str(server.pid))
    deadline = time.time() + 30
    while not kubeconfig.is_file():
        if server.poll() is not None or time.time() > deadline:
            raise SystemExit(f"kubesim did not start; see {directory / 'kubesim.log'}")
        time.sleep(0.1)
    hosts = {"all": {"hosts": {CLUSTER: {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "kubeconfig": str(kubeconfig),
        "context": CLUSTER,
        "control_plane_charts": str(charts),
    }}}}
    (directory / "hosts.yml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    return kubeconfig


def down(directory):
    pid_file = Path(directory) / "kubesim.pid"
    if pid_file.is_file():
        try:
            os.killpg(int(pid_file.read_text()), signal.SIGTERM)
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
