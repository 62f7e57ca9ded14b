"""`make demo`: run the main job (playbooks/site.yml) against a simulated cluster and show the result.

    python -m scripts.demo            start kubesim, run site.yml, print what is in the cluster, stop
    python -m scripts.demo --keep     the same, but leave kubesim serving (kubectl works against it)
    python -m scripts.demo up DIR     only start the simulators and write DIR/{kubeconfig,hosts.yml,host_vars.yml}
                                      (molecule create)
    python -m scripts.demo down DIR   stop the simulators started by `up DIR` (molecule destroy)
    --istio-dir DIR                   take Istio's charts and addon manifests from an unpacked Istio release
                                      (DIR/manifests/charts, DIR/samples/addons); env ISTIO_DIR does the same

The simulated cluster stands in for a real one: the playbooks are the same, only the inventory
(inventories/sim/ plus the hosts file written here: local charts, local addon manifests) differs.
Without an Istio release the charts are the project's Istio-shaped test charts carrying its stand-in
CRDs, and the addons its stand-in manifests (sim/standins/): nothing outside the clone is read.
Every directory made here is built under a temporary name and renamed into place when complete, so an
interrupted run leaves nothing that a later run would take for finished. Beside kubesim run
meshsim (simulated traffic to Bookinfo's reviews, following the cluster's routing, exporting Istio's
metrics) and a real Prometheus scraping it, so that site.yml's closing canary is judged on metrics.
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from sim.daemon import free_port

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


def mitogen_env():
    """The settings that make ansible-playbook run with Mitogen's strategy (README "Faster runs"), or {} when
    mitogen is not installed in this Python. Mitogen keeps one Python per host and sends modules over it,
    instead of starting a process for every task."""
    try:
        import ansible_mitogen
    except ImportError:
        return {}
    return {"ANSIBLE_STRATEGY_PLUGINS": str(Path(ansible_mitogen.__file__).parent / "plugins" / "strategy"),
            "ANSIBLE_STRATEGY": "mitogen_linear"}


# Where each chart the control_plane and gateways roles install lives in an Istio release.
RELEASE_CHARTS = {"base": "base", "istiod": "istio-control/istio-discovery", "gateway": "gateway"}
ADDON_FILES = ("prometheus.yaml", "grafana.yaml", "jaeger.yaml", "kiali.yaml")


def replace_dir(target, build):
    """Make directory ``target`` by calling ``build(tmp)`` on a temporary sibling, then renaming it into
    place: a run interrupted half-way leaves only a stray temporary directory, never a half-built target."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{target.name}.*"):
        shutil.rmtree(stale, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        build(work / "new")
        if target.exists():
            target.rename(work / "old")
        (work / "new").rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def check_istio_dir(istio_dir):
    """The unpacked Istio release at ``istio_dir``, checked for what the demo takes from it."""
    root = Path(istio_dir).expanduser().resolve()
    if not root.is_dir():
        raise SystemExit(f"ISTIO_DIR={istio_dir} is not a directory. Name the top directory of an unpacked Istio "
                         "release (e.g. ~/istio-1.28.0), or leave ISTIO_DIR unset to use the project's stand-ins.")
    wanted = [root / "manifests" / "charts" / path / "Chart.yaml" for path in RELEASE_CHARTS.values()]
    wanted += [root / "samples" / "addons" / name for name in ADDON_FILES]
    missing = [str(path.relative_to(root)) for path in wanted if not path.is_file()]
    if missing:
        raise SystemExit(f"ISTIO_DIR={istio_dir} is not an unpacked Istio release: it lacks {', '.join(missing)}. "
                         "Download and unpack one (https://github.com/istio/istio/releases, istio-<version>-linux-amd64"
                         ".tar.gz) and name its top directory, or leave ISTIO_DIR unset to use the project's stand-ins.")
    return root


def build_charts(directory, istio_dir=None):
    """The charts for the version inventories/sim asks for, in DIR/charts (no chart download is possible):
    with an Istio release, its real charts packaged at that version as <chart>-<version>.tgz; without,
    the project's Istio-shaped test charts carrying the stand-in CRDs."""
    version = yaml.safe_load((SIM_INVENTORY / "group_vars" / "all.yml").read_text())["control_plane_version"]

    def from_release(dest):
        dest.mkdir()
        for path in RELEASE_CHARTS.values():
            subprocess.run([str(REPO / ".tools" / "bin" / "helm"), "package", str(istio_dir / "manifests" / "charts" / path),
                            "--version", version, "--app-version", version, "-d", str(dest)],
                           check=True, capture_output=True, text=True)

    def from_standins(dest):
        from sim.charts.build import build_chart_set
        from sim.standins import CRDS

        build_chart_set(dest, version, crds=CRDS)

    return replace_dir(Path(directory) / "charts", from_release if istio_dir else from_standins)


def addons_source(istio_dir=None):
    from sim.standins import ADDONS

    return str(istio_dir / "samples" / "addons") if istio_dir else str(ADDONS)


def serve(directory, name, *args):
    """Start ``python -m <args>`` in its own session, logging to DIR/<name>.log; remember its pid."""
    log = open(Path(directory) / f"{name}.log", "w")  # noqa: SIM115 - the server keeps writing after we return
    server = subprocess.Popen([sys.executable, "-m", *args], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    remember(directory, server.pid)
    return server


def remember(directory, pid):
    """Note a process group started here in DIR/servers.pid, for `down` to stop."""
    with open(Path(directory) / "servers.pid", "a") as pids:
        pids.write(f"{pid}\n")


def wait_until(ready, server, what, log, timeout=30):
    deadline = time.time() + timeout
    while not ready():
        if server.poll() is not None or time.time() > deadline:
            raise SystemExit(f"{what} did not start; see {log}")
        time.sleep(0.1)


def listening(port):
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def start_kubesim(directory, name, kubeconfig, log_name="kubesim"):
    """Start a simulated cluster called ``name`` (also its kubeconfig context); return once ``kubeconfig`` is written."""
    kubeconfig = Path(kubeconfig)
    kubeconfig.unlink(missing_ok=True)
    kubesim = serve(directory, log_name, "sim.kubesim", "--name", name, "--port", "0",
                    "--kubeconfig", str(kubeconfig), "--available-delay", "0.5")
    wait_until(kubeconfig.is_file, kubesim, log_name, Path(directory) / f"{log_name}.log")
    return kubeconfig


def start_meshsim(directory, kubeconfig, context, *args):
    """Start meshsim following the routing of ``context`` (``args``: its other options); return its port."""
    port = free_port()
    meshsim = serve(directory, "meshsim", "sim.meshsim", "--kubeconfig", str(kubeconfig), "--context", context,
                    "--port", str(port), *args)
    wait_until(lambda: listening(port), meshsim, "meshsim", Path(directory) / "meshsim.log")
    return port


def start_prometheus(directory, target_port):
    """Start a real Prometheus scraping 127.0.0.1:``target_port`` every second; return its port."""
    port = free_port()
    prometheus = serve(directory, "prometheus", "sim.prometheus_harness", "--target",
                       f"127.0.0.1:{target_port}", "--port", str(port))
    wait_until(lambda: listening(port), prometheus, "prometheus", Path(directory) / "prometheus.log")
    return port


def up(directory, istio_dir=None):
    """Start kubesim, meshsim and Prometheus in the background; write a kubeconfig and a hosts file."""
    istio_dir = check_istio_dir(istio_dir) if istio_dir else None  # before anything is stopped or written
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    down(directory)
    charts = build_charts(directory, istio_dir)
    kubeconfig = start_kubesim(directory, CLUSTER, directory / "kubeconfig")
    namespace = yaml.safe_load((REPO / "roles" / "bookinfo" / "defaults" / "main.yml").read_text())["bookinfo_namespace"]
    mesh_port = start_meshsim(directory, kubeconfig, CLUSTER, "--service", f"reviews:{namespace}:v1,v2,v3",
                              "--rate", "50", "--source-workload", "productpage-v1", "--cluster", CLUSTER,
                              # release.yml -e release_load_rate=20: the load Jobs are traffic too.
                              "--follow-jobs")
    prometheus_port = start_prometheus(directory, mesh_port)
    host_vars = {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "kubeconfig": str(kubeconfig),
        "context": CLUSTER,
        "control_plane_charts": str(charts),
        "addons_source": addons_source(istio_dir),
        "release_prometheus_url": f"http://127.0.0.1:{prometheus_port}",
    }
    # The same variables twice: as an inventory (make demo) and flat (molecule's include_vars).
    write_file(directory / "hosts.yml", yaml.safe_dump({"all": {"hosts": {CLUSTER: host_vars}}}, sort_keys=False))
    write_file(directory / "host_vars.yml", yaml.safe_dump(host_vars, sort_keys=False))
    return kubeconfig


def write_file(path, text, mode=0o644):
    """Write whole or not at all (renamed into place), readable as ``mode`` says from the start."""
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    with os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "w") as out:
        out.write(text)
    partial.replace(path)


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


def demo_accelerator():
    """Mitogen for the demo's playbook run when it is installed (it is in the project's venv); a user's own
    environment can turn it off with ANSIBLE_STRATEGY=linear."""
    if os.environ.get("ANSIBLE_STRATEGY"):
        return {}
    accelerator = mitogen_env()
    if accelerator:
        print("Running the playbooks with Mitogen (strategy mitogen_linear); ANSIBLE_STRATEGY=linear turns it off.")
    return accelerator


def playbook_command(playbook, *inventories):
    """ansible-playbook of the venv running playbooks/``playbook`` on ``inventories``."""
    command = [str(BIN / "ansible-playbook")]
    for inventory in inventories:
        command += ["-i", str(inventory)]
    return [*command, str(REPO / "playbooks" / playbook)]


def run(keep, istio_dir=None):
    kubeconfig = up(DEMO_DIR, istio_dir)
    try:
        play = subprocess.run(playbook_command("site.yml", SIM_INVENTORY, DEMO_DIR / "hosts.yml"), cwd=REPO,
                              env=dict(tool_env(), **demo_accelerator()), check=False)
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
    parser.add_argument("--istio-dir", default=os.environ.get("ISTIO_DIR") or None,
                        help="an unpacked Istio release to take the charts and addon manifests from (env ISTIO_DIR)")
    args = parser.parse_args()
    if args.action == "up":
        print(up(args.directory, args.istio_dir))
        return 0
    if args.action == "down":
        down(args.directory)
        return 0
    return run(args.keep, args.istio_dir)


if __name__ == "__main__":
    sys.exit(main())
