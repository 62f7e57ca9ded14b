"""The README's and docs' shell blocks that target a cluster run against simulated clusters, in order, as
a user would run them (tests/docs/blocks.py has the markers; docs/DEVELOPING.md documents them).

One user: a HOME of their own, a copy of the checkout as their clone (commands run in it, so what they
write stays there), no ANSIBLE_COLLECTIONS_PATH (the README's own install puts the collection in
~/.ansible/collections). Their KUBECONFIG names the simulated cluster ("sim", the current context) or,
for `<!-- run: kubesim, clusters primary and burst -->`, two clusters with contexts primary and burst
(the README's first block runs first, then the two kinds side by side, each in page order).
What differs from a real cluster is given in one more inventory source the test adds after every
`-i inventories/...` of a command: charts from a local directory (the project's stand-ins, packaged for
every version a block names), the stand-in addon manifests, and the simulated Prometheus - on a real
cluster those are Istio's Helm repository, the release's samples/addons and the Prometheus addon.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from tests.conftest import OUTPUT, REPO
from tests.docs import blocks as bl
from sim.kubesim import KubeSim

BLOCKS = bl.all_blocks()
RUN = [b for b in BLOCKS if b.kind == "run"]
DEFAULT_VERSION = yaml.safe_load((REPO / "roles" / "control_plane" / "defaults" / "main.yml").read_text())[
    "control_plane_version"]


def versions():
    """The Istio versions the run blocks install: the default and every control_plane_version=X given."""
    named = set(re.findall(r"control_plane_version=([\d.]+)", "".join(b.text for b in RUN)))
    return sorted(named | {DEFAULT_VERSION})


class User:
    def __init__(self, directory):
        self.dir = Path(directory)
        self.home = self.dir / "home"
        (self.home / ".kube").mkdir(parents=True)
        self.clone = self.dir / "clone"
        files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                               text=True, check=True).stdout.split()
        for name in files:
            if (REPO / name).is_file():
                (self.clone / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / name, self.clone / name)
        self.simulated = {}
        self.sims, self.servers = [], []
        self.charts = None

    def env(self, kubeconfig):
        env = dict((k, v) for k, v in os.environ.items()
                   if not k.startswith(("ANSIBLE_", "K8S_AUTH_")) and k not in ("KUBECONFIG",))
        tmp = self.dir / "tmp"
        tmp.mkdir(exist_ok=True)
        # KUBECONFIG as a user exports it: the two environments run side by side, so not ~/.kube/config.
        env.update(HOME=str(self.home), TMPDIR=str(tmp), ANSIBLE_NOCOLOR="1", KUBECONFIG=str(kubeconfig),
                   PATH="%s:%s:%s" % (REPO / ".tools" / "bin", Path(sys.executable).parent, env.get("PATH", "")))
        return env

    def chart_dir(self):
        if self.charts is None:
            from sim.charts.build import build_chart_set
            from sim.standins import CRDS
            self.charts = self.dir / "charts"
            for version in versions():
                build_chart_set(self.charts, version, crds=CRDS, package=True,
                                helm=str(REPO / ".tools" / "bin" / "helm"))
        return self.charts

    def use(self, environment):
        """(kubeconfig, extra inventory file) of the simulated cluster(s) of ``environment``."""
        if environment not in self.simulated:
            self.simulated[environment] = self.start_one() if environment == "one" else self.start_two()
        return self.simulated[environment]

    def _vars(self, name, **more):
        from sim.standins import ADDONS
        path = self.dir / ("%s.simulated.yml" % name)
        path.write_text(yaml.safe_dump({"all": {"vars": dict(control_plane_charts=str(self.chart_dir()),
                                                               addons_source=str(ADDONS), **more)}}))
        return path

    def start_one(self):
        from sim.meshsim import KubeReader, MeshSim
        from sim.prometheus_harness import PrometheusServer
        sim = KubeSim(name="sim", available_delay=0.5).start()
        self.sims.append(sim)
        kubeconfig = sim.write_kubeconfig(self.dir / "sim.kubeconfig", context="sim")
        namespace = yaml.safe_load((REPO / "roles" / "bookinfo" / "defaults" / "main.yml").read_text())[
            "bookinfo_namespace"]
        mesh = MeshSim(KubeReader(str(kubeconfig), "sim"), cluster="sim", refresh=0.5).start()
        mesh.add_service("reviews", namespace, rate=50, versions=["v1", "v2", "v3"], source_workload="productpage-v1")
        prometheus = PrometheusServer([mesh.url]).start()
        self.servers += [prometheus, mesh]
        return kubeconfig, self._vars("one", release_prometheus_url=prometheus.url)

    def start_two(self):
        config = {"apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": "primary",
                  "clusters": [], "users": [], "contexts": []}
        for name in ("primary", "burst"):
            sim = KubeSim(name=name, available_delay=0.5).start()
            self.sims.append(sim)
            one = sim.kubeconfig(name)
            for key in ("clusters", "users", "contexts"):
                config[key] += one[key]
        path = self.dir / "two.kubeconfig"
        path.write_text(yaml.safe_dump(config))
        return path, self._vars("two")

    def run(self, block, kubeconfig, extra_inventory):
        results = []
        for command, expected in block.commands():
            command = bl.with_simulated_inventory(command, extra_inventory)
            proc = subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=self.clone, env=self.env(kubeconfig),
                                  capture_output=True, text=True, timeout=1800, check=False)
            problem = None
            if proc.returncode != 0:
                problem = "exit %d" % proc.returncode
            elif expected is not None and proc.stdout.rstrip() + "\n" != expected:
                problem = "output differs from the page:\n%s" % proc.stdout
            results.append(dict(command=command, rc=proc.returncode, problem=problem,
                                output=(proc.stdout[-3000:] + proc.stderr[-2000:])))
            if problem:
                break
        return results

    def stop(self):
        for server in self.servers:
            server.stop()
        for sim in self.sims:
            sim.stop()


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """Every run block, in page order within its environment; the environments (one cluster, two clusters)
    run side by side. A failed block ends its environment's sequence: what follows builds on it."""
    user = User(tmp_path_factory.mktemp("docs-user"))
    report = {}

    def sequence(environment, blocks):
        failed = None
        for block in blocks:
            if failed:
                report[block.id] = dict(status="not reached", why="%s failed before it" % failed)
                continue
            with lock:
                kubeconfig, extra = user.use(environment)
            results = user.run(block, kubeconfig, extra)
            problems = [r for r in results if r["problem"]]
            report[block.id] = dict(status="failed" if problems else "ran", commands=results)
            if problems:
                failed = block.id
        return failed

    lock = threading.Lock()
    try:
        # The README's first block installs the collection that every later block uses.
        first = sequence(RUN[0].environment, RUN[:1])
        environments = sorted(set(b.environment for b in RUN))
        with ThreadPoolExecutor(max_workers=len(environments)) as pool:
            futures = [pool.submit(sequence, e, [b for b in RUN[1:] if b.environment == e] if not first else [])
                       for e in environments]
            for future in futures:
                future.result()
        for block in RUN:
            report.setdefault(block.id, dict(status="not reached", why="%s failed before it" % first))
        OUTPUT.mkdir(parents=True, exist_ok=True)
        summary = dict(ran=[b.id for b in RUN if report[b.id]["status"] == "ran"],
                       not_run={b.id: b.note for b in BLOCKS if b.kind == "norun"}, blocks=report)
        (OUTPUT / "docs_blocks.json").write_text(json.dumps(summary, indent=1))
        yield report
    finally:
        user.stop()


@pytest.mark.parametrize("block", RUN, ids=[b.id for b in RUN])
def test_marked_block_runs_against_kubesim(block, ran):
    entry = ran[block.id]
    assert entry["status"] == "ran", "%s %s: %s" % (block.id, entry["status"], json.dumps(entry, indent=1)[-6000:])


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.kind == "norun"],
                         ids=[b.id for b in BLOCKS if b.kind == "norun"])
def test_block_that_cannot_run_says_why(block):
    pytest.skip("%s cannot run against simulated clusters: %s" % (block.id, block.note))


def test_every_shell_block_is_marked():
    shell = [b for b in BLOCKS if b.lang in bl.SHELL]
    unmarked = [b.id for b in shell if b.kind is None]
    assert unmarked == [], "mark these with <!-- run: kubesim --> or <!-- norun: why -->"
    assert all(b.lang in bl.SHELL for b in BLOCKS if b.kind)
    counts = dict(run=len(RUN), norun=len([b for b in shell if b.kind == "norun"]))
    print("doc blocks: %(run)d run against kubesim, %(norun)d cannot run" % counts)
    assert counts["run"] >= 10


def test_the_readme_builds_the_tarball_it_installs():
    (block,) = [b for b in RUN if "ansible-galaxy collection install" in b.text]
    version = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
    build = block.text.index("ansible-galaxy collection build")
    install = block.text.index("ansible-galaxy collection install meshops-istio-%s.tar.gz" % version)
    assert build < install


def test_the_docs_run_the_demo_with_the_venv():
    assert "make demo-keep" in (REPO / "README.md").read_text()
    # Every python the docs tell a user to run is the venv's: the system one lacks the packages.
    for page in bl.PAGES:
        assert re.findall(r"(?<![\w/.])python3? -m", (REPO / page).read_text()) == [], page


def test_inventories_local_runs_modules(kubesim, tmp_path):
    """The README's `-i inventories/local` (contexts: current): its host's interpreter is the plugin's
    template, rendered, not kept as text like the names read from the kubeconfig."""
    home = tmp_path / "home"
    (home / ".kube").mkdir(parents=True)
    kubesim.write_kubeconfig(home / ".kube" / "config", context="sim")
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith("K8S_AUTH_") and k != "KUBECONFIG")
    env.update(HOME=str(home), ANSIBLE_COLLECTIONS_PATH=str(REPO / ".tools" / "collections"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible"), "-i", "inventories/local", "local", "-m",
                           "meshops.istio.istio_info", "-a", "crds=false"], cwd=REPO, env=env, capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '"installed": false' in proc.stdout
