"""Shared pytest fixtures: simulated clusters and real ansible-playbook runs against them.

Upstream Istio files are read from ../shared/reference (REFERENCE), which CI always has and a user's
clone does not. A test that compares with them is marked ``needs_reference("what it compares")`` and
is reported as skipped, with that reason, where the reference is absent; everything else runs on the
project's stand-ins (tests/standins). Nothing turns a failure into a skip: a test that reads the reference
without that mark fails in a clone, which is how a missing mark shows up.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kubernetes.client import rest as kubernetes_rest

from tests.standins import HAS_REFERENCE, REFERENCE  # noqa: F401  (tests import REFERENCE from here)

# Fixtures of the simulators: kubesim, kubesim_istio, kubesim_factory, kubesim_module,
# kubesim_istio_module (tests/sim/fixtures.py) and prometheus_factory (tests/sim/prometheus_harness.py).
pytest_plugins = ["tests.sim.fixtures", "tests.sim.prometheus_harness"]

REPO = Path(__file__).resolve().parents[1]
COLLECTIONS = REPO / ".tools" / "collections"
OUTPUT = REPO / "tests" / "output"

# Unit tests import the collection as ansible_collections.meshops.istio (through the symlinked root);
# kubernetes.core comes from the ansible package in the venv.
sys.path.insert(0, str(COLLECTIONS))
NO_REFERENCE = "../shared/reference not found: "


def needs_reference(what):
    """Mark a test that compares with upstream Istio files: skipped, saying ``what``, without them."""
    return pytest.mark.skipif(not HAS_REFERENCE, reason=NO_REFERENCE + what)


def reference_docs(*parts):
    """The YAML documents of ../shared/reference/<parts>, or [] where the reference is absent: for module-level
    reads, so that collection works in a clone (the tests using them are marked ``needs_reference``)."""
    path = REFERENCE.joinpath(*parts)
    if not HAS_REFERENCE:
        return []
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def pytest_configure(config):
    # Say why a test was not run in the summary, also for a plain `pytest FILE`.
    if "s" not in config.option.reportchars and "a" not in config.option.reportchars.lower():
        config.option.reportchars += "s"


def ansible_env(**extra):
    """Environment for ansible-* commands run against this checkout."""
    env = dict(os.environ)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_LOCALHOST_WARNING="False",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
        ANSIBLE_HOST_KEY_CHECKING="False",
        ANSIBLE_RETRY_FILES_ENABLED="False",
        ANSIBLE_NOCOLOR="1",
        PATH=f"{REPO / '.tools' / 'bin'}:{Path(sys.executable).parent}:{env.get('PATH', '')}",
    )
    env.update(extra)
    return env


class PlaybookResult:
    """The outcome of one ansible-playbook run, parsed from the json callback."""

    def __init__(self, proc):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        try:
            start = proc.stdout.index("{")
            self.data = json.loads(proc.stdout[start:])
        except ValueError:
            self.data = {"plays": [], "stats": {}}
        self.stats = self.data.get("stats", {})

    @property
    def changed(self):
        return sum(host.get("changed", 0) for host in self.stats.values())

    @property
    def failed(self):
        return sum(host.get("failures", 0) + host.get("unreachable", 0) for host in self.stats.values())

    @property
    def tasks(self):
        """[(task name, host, result)] in run order."""
        out = []
        for play in self.data.get("plays", []):
            for task in play.get("tasks", []):
                for host, result in task.get("hosts", {}).items():
                    out.append((task["task"]["name"], host, result))
        return out

    def results(self, task_name, host=None):
        return [r for name, h, r in self.tasks if name == task_name and (host is None or h == host)]

    @property
    def failed_msgs(self):
        msgs = []
        for _task, _host, result in self.tasks:
            if result.get("failed") or result.get("unreachable"):
                msgs.append(str(result.get("msg", "")))
            for item in result.get("results", []) if isinstance(result.get("results"), list) else []:
                if isinstance(item, dict) and item.get("failed"):
                    msgs.append(str(item.get("msg", "")))
        return msgs

    def __repr__(self):
        return f"PlaybookResult(rc={self.rc}, changed={self.changed}, failed={self.failed_msgs}, stderr={self.stderr[-2000:]!r})"


def write_inventory(path, clusters, host_vars=None):
    """An inventory with one host per simulated cluster (named after it)."""
    hosts = {}
    for sim in clusters:
        kubeconfig = Path(path).parent / f"{sim.name}.kubeconfig"
        sim.write_kubeconfig(str(kubeconfig), context=sim.name)
        hosts[sim.name] = dict(
            ansible_connection="local",
            ansible_python_interpreter=sys.executable,
            kubeconfig=str(kubeconfig),
            context=sim.name,
            **((host_vars or {}).get(sim.name, {})),
        )
    Path(path).write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    return str(path)


@pytest.fixture(autouse=True)
def request_timeout_stays_in_its_test():
    """Module code driven in-process (tests/reliability) installs its request timeout on the kubernetes
    client's REST layer for the whole process, as a module process should; a test must not pass a
    one-second timeout on to the next test of the same worker (a two-second watch would time out)."""
    request = kubernetes_rest.RESTClientObject.request
    yield
    kubernetes_rest.RESTClientObject.request = request


@pytest.fixture
def run_playbook(tmp_path):
    """Run a playbook of this collection with real ansible-playbook.

    run_playbook("site.yml", kubesim=sim | [sims], extra_vars={...}, check=False, diff=False,
                 inventory=None, limit=None, verbosity=0, host_vars=None, env=None)
    """

    def run(playbook, kubesim=None, extra_vars=None, check=False, diff=False, inventory=None,
            limit=None, verbosity=0, host_vars=None, env=None, timeout=900):
        playbook_path = Path(playbook)
        if not playbook_path.is_absolute():
            playbook_path = REPO / "playbooks" / playbook
        if inventory is None:
            clusters = kubesim if isinstance(kubesim, (list, tuple)) else [kubesim]
            inventory = write_inventory(tmp_path / "inventory.yml", clusters, host_vars)
        cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), str(playbook_path)]
        if extra_vars:
            cmd += ["-e", json.dumps(extra_vars)]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        if limit:
            cmd += ["--limit", limit]
        if verbosity:
            cmd.append("-" + "v" * verbosity)
        # kubernetes.core caches API discovery in $TMPDIR keyed by server URL; simulated clusters reuse
        # loopback ports, so a shared cache would describe another test's cluster.
        tmpdir = tmp_path / "tmp"
        tmpdir.mkdir(exist_ok=True)
        env = dict({"TMPDIR": str(tmpdir)}, **(env or {}))
        proc = subprocess.run(cmd, capture_output=True, text=True, env=ansible_env(**env),
                              cwd=REPO, timeout=timeout, check=False)
        return PlaybookResult(proc)

    return run
