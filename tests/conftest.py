"""Shared pytest fixtures: simulated clusters and real ansible-playbook runs against them.

Upstream Istio files are read from ../shared/reference (REFERENCE), which CI always has and a user's
clone does not. A test that compares with them is marked ``needs_reference("what it compares")`` and
is reported as skipped, with that reason, where the reference is absent; everything else runs on the
project's stand-ins (sim/standins). Nothing turns a failure into a skip: a test that reads the reference
without that mark fails in a clone, which is how a missing mark shows up.
"""
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from kubernetes.client import rest as kubernetes_rest

from tests.standins import HAS_REFERENCE, REFERENCE  # noqa: F401  (tests import REFERENCE from here)

# Fixtures of the simulators: kubesim, kubesim_istio, kubesim_factory, kubesim_module,
# kubesim_istio_module (tests/kubesim_fixtures.py) and prometheus_factory (sim/prometheus_harness.py).
pytest_plugins = ["tests.kubesim_fixtures", "sim.prometheus_harness"]

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
    # pytest-xdist hands out its work units by their number of tests unless told not to, which undid the
    # heaviest-first order below (test_faults.py's 98 quick tests started first, the 1-test 250 s AWX file last).
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


# Where the suite's time goes. Nearly all of it is ansible-playbook runs (each pays Ansible's start-up, then
# a process per module task), so every run through run_playbook / run_cases / run_ansible_playbook is counted
# with the tasks it ran and the CPU its processes used. Each test report carries its share; the controller
# (also under xdist) writes the totals per file to tests/output/test_profile.json and prints the heaviest.
FILE_WEIGHTS = Path(__file__).with_name("file_weights.json")
PROFILE = OUTPUT / "test_profile.json"
_PLAYBOOKS = {"runs": 0, "cpu": 0.0, "tasks": 0}
_REPORTED = dict(_PLAYBOOKS)


def _task_runs(stdout):
    """Task executions (per host, skipped ones left out) in the json callback's output."""
    try:
        data = json.loads(stdout[stdout.index("{"):])
    except (TypeError, ValueError):
        return 0
    return sum(1 for play in data.get("plays", []) for task in play.get("tasks", [])
               for result in task.get("hosts", {}).values() if not result.get("skipped"))


def run_ansible_playbook(cmd, **kwargs):
    """subprocess.run of an ansible-playbook command line, counted in the suite's profile."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = None
    try:
        proc = subprocess.run(cmd, **kwargs)
        return proc
    finally:
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        _PLAYBOOKS["runs"] += 1
        _PLAYBOOKS["cpu"] += (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        _PLAYBOOKS["tasks"] += _task_runs(proc.stdout) if proc is not None and isinstance(proc.stdout, str) else 0


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    delta = [_PLAYBOOKS[key] - _REPORTED[key] for key in ("runs", "cpu", "tasks")]
    _REPORTED.update(_PLAYBOOKS)
    report.user_properties.append(("ansible_playbook", [delta[0], round(delta[1], 2), delta[2]]))


def _rounded(value):
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return round(value, 1) if isinstance(value, float) else value


class _Profile:
    def __init__(self):
        self.files = {}

    def pytest_runtest_logreport(self, report):
        entry = self.files.setdefault(report.nodeid.split("::")[0], {
            "tests": 0, "seconds": 0.0, "playbook_runs": 0, "playbook_cpu": 0.0, "playbook_tasks": 0})
        entry["seconds"] += report.duration
        entry["tests"] += report.when == "call"
        if report.nodeid.split("::")[0] in SPLIT_FILES:  # the weights of its tests as separate units
            name = report.nodeid.split("::", 1)[1]
            entry.setdefault("by_test", {}).setdefault(name, 0.0)
            entry["by_test"][name] += report.duration
        for key, value in report.user_properties:
            if key == "ansible_playbook":
                entry["playbook_runs"] += value[0]
                entry["playbook_cpu"] += value[1]
                entry["playbook_tasks"] += value[2]

    def pytest_terminal_summary(self, terminalreporter, config):
        if getattr(config, "workerinput", None) is not None or not self.files:
            return
        files = {name: _rounded(entry)
                 for name, entry in sorted(self.files.items(), key=lambda kv: -kv[1]["seconds"])}
        OUTPUT.mkdir(parents=True, exist_ok=True)
        PROFILE.write_text(json.dumps({"written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                       "load": os.getloadavg(), "cpus": os.cpu_count(), "files": files}, indent=1))
        terminalreporter.write_sep("=", "heaviest test files (seconds; ansible-playbook runs, their tasks and CPU)")
        for name, entry in list(files.items())[:15]:
            terminalreporter.write_line("%8.1fs %4d tests %4d playbook runs %5d tasks %7.1fs CPU  %s" % (
                entry["seconds"], entry["tests"], entry["playbook_runs"], entry["playbook_tasks"],
                entry["playbook_cpu"], name))
        terminalreporter.write_line("full table: %s" % PROFILE.relative_to(REPO))


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session):
    session.config.pluginmanager.register(_Profile(), "meshops-profile")


# Files whose tests are separate units of work under `--dist loadfile` (scripts/test.sh; the scheduler below):
# each is long enough to hold the whole run up on one worker (test_openshift.py's two installs 560 s,
# test_faults_install.py's three fault chains 550 s, with 3 workers on 2 cores) and its tests share no cluster.
# "rebuilt": the module fixtures that are only read (packaged charts), so each worker that runs a part of the
# file may build them again; "together": the tests that share another module fixture (a cluster), kept in one
# unit. Collection fails if a test uses another module fixture without being in "together".
SPLIT_FILES = {
    "tests/integration/test_openshift.py": dict(rebuilt={"real"}, together=()),
    "tests/reliability/test_faults_install.py": dict(rebuilt={"charts", "report"}, together=()),
    "tests/integration/test_control_plane.py": dict(rebuilt={"real"}, together=("test_precheck_refusals",)),
}


def work_unit(nodeid):
    """The unit of work a test belongs to: its file, or for SPLIT_FILES the test (or its "together" function).
    From the test id alone: xdist's controller has no items."""
    path, _sep, name = nodeid.partition("::")
    split = SPLIT_FILES.get(path)
    if split is None:
        return path
    function = name.split("[")[0]
    return "%s::%s" % (path, function if function in split["together"] else name)


def _check_split(item):
    split = SPLIT_FILES.get(item.nodeid.split("::")[0])
    if split is None or item.originalname in split["together"]:
        return
    definitions = item._fixtureinfo.name2fixturedefs
    shared = [name for name in item.fixturenames if name not in split["rebuilt"] and name in definitions
              and definitions[name][-1].scope in ("module", "class", "package")]
    if shared:
        raise pytest.UsageError("%s uses the module fixtures %s, so it cannot run apart from the file's other tests: "
                                "add it to SPLIT_FILES' together (or the fixtures to rebuilt) in tests/conftest.py"
                                % (item.nodeid, ", ".join(shared)))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadfile` by work_unit(): whole files, but the tests of SPLIT_FILES one by one. (`--dist loadgroup`
    would do it with xdist_group marks, but pytest-xdist 3.8 marks a test by assigning its node id, which pytest 9
    no longer reads.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class LoadUnitScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return work_unit(nodeid)

    return LoadUnitScheduling(config, log)


@pytest.hookimpl(trylast=True)  # after pytest's own grouping of tests by fixture
def pytest_collection_modifyitems(session, config, items):
    """Heaviest work units first, each kept together and in its order (module fixtures are built once). A unit
    is a test file, or one test of SPLIT_FILES (work_unit()). With `--dist loadfile` a worker takes
    a whole unit at a time, so the long ones start at once and the short ones fill in at the end instead of one
    long file running alone last. tests/file_weights.json is a copy of the tests/output/test_profile.json of a
    full run (copy it again when files grow or shrink; it holds each test's seconds for SPLIT_FILES); a file
    not in it yet is placed by its directory."""
    files = json.loads(FILE_WEIGHTS.read_text())["files"] if FILE_WEIGHTS.exists() else {}
    defaults = {"integration": 60.0, "reliability": 30.0, "awx": 30.0, "docs": 10.0}
    units = {}
    for item in items:
        _check_split(item)
        units.setdefault(work_unit(item.nodeid), []).append(item)

    def weight(unit, members):
        path = unit.split("::")[0]
        if path not in files:
            parts = path.split("/")
            return defaults.get(parts[1] if len(parts) > 2 else "", 1.0)
        entry = files[path]
        if unit == path:
            return entry["seconds"]
        by_test = entry.get("by_test", {})
        if all(item.name in by_test for item in members):
            return sum(by_test[item.name] for item in members)
        return entry["seconds"] * len(members) / max(entry["tests"], 1)

    order = sorted(units, key=lambda unit: -weight(unit, units[unit]))
    items[:] = [item for unit in order for item in units[unit]]


# Mitogen (README "Faster runs") in the suite: the playbooks of these files run with its strategy, so an
# incompatibility shows up in CI (tests/integration/test_mitogen.py compares it with the plain strategy);
# MESHOPS_TEST_MITOGEN=1 runs every file with it, =0 none. Chosen by measuring files both ways (2 cores, load
# about 10): 5 tests of test_control_plane.py (14 runs of install.yml/uninstall.yml, many module tasks each) took
# 720 s plain and 405 s with Mitogen; test_hashapp.py gained nothing (one module task per run: 31.9 / 30.8 s CPU).
# Measured again with `pytest -n 0 FILE` both ways side by side (load 10-20, so CPU is the figure to read; the
# CPU of the playbook runs, tests/output/test_profile.json): test_faults_install.py 290 s plain, 176 s with
# Mitogen (20 runs of install.yml/addons.yml; its fault invariants, orphan processes included, hold either way);
# test_multicluster_role.py 230 s plain, 157 s with Mitogen (16 runs on two clusters, 602 module tasks);
# test_openshift.py 359 s plain, 225 s with Mitogen (13 runs of install+addons+namespaces+bookinfo, 682 tasks);
# test_request_counts.py 160 s plain, 121 s with Mitogen (its request and module-run counts are the same);
# test_addons.py 128 s plain, 88 s; test_auth_forms.py 80 s plain, 37 s (every auth form, token never printed).
MITOGEN_FILES = {
    "tests/integration/test_control_plane.py",
    "tests/reliability/test_faults_install.py",
    "tests/integration/test_multicluster_role.py",
    "tests/integration/test_openshift.py",
    "tests/integration/test_request_counts.py",
    "tests/integration/test_addons.py",
    "tests/integration/test_auth_forms.py",
}


def mitogen_on():
    switch = os.environ.get("MESHOPS_TEST_MITOGEN", "")
    if switch in ("0", "1"):
        return switch == "1"
    # "tests/x/test_y.py::test_z (call)": module-scoped fixtures run in their first test's setup.
    current = os.environ.get("PYTEST_CURRENT_TEST", "")
    return current.split("::")[0] in MITOGEN_FILES


def ansible_env(**extra):
    """Environment for ansible-* commands run against this checkout (with Mitogen's strategy where
    mitogen_on(), unless the caller chooses a strategy)."""
    env = dict(os.environ)
    if mitogen_on() and "ANSIBLE_STRATEGY" not in extra:
        from scripts.demo import mitogen_env  # the settings `make demo` uses
        env.update(mitogen_env())
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
        return self.failed_msgs_of(None)

    def failed_msgs_of(self, host):
        """The failure messages of one host (all hosts: None)."""
        msgs = []
        for _task, name, result in self.tasks:
            if host is not None and name != host:
                continue
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


def playbook_command(playbook, inventory, extra_vars=None):
    playbook_path = Path(playbook)
    if not playbook_path.is_absolute():
        playbook_path = REPO / "playbooks" / playbook
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), str(playbook_path)]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    return cmd


def run_cases(directory, playbook, sim, cases, extra_vars=None, env=None):
    """Run ``playbook`` once for many cases: each case is an inventory host of its own (same cluster, same
    kubeconfig, the case's variables as host variables), so N cases pay Ansible's start-up once instead of N
    times and fail or pass independently. For cases that each end the play for their host (bad input).

    ``cases``: {case name (a valid host name): {variable: value}}. Returns a PlaybookResult; read a case's
    outcome with ``.stats[name]`` and ``.failed_msgs_of(name)``."""
    directory = Path(directory)
    (directory / "tmp").mkdir(parents=True, exist_ok=True)
    kubeconfig = directory / f"{sim.name}.kubeconfig"
    sim.write_kubeconfig(str(kubeconfig), context=sim.name)
    hosts = {name: dict(ansible_connection="local", ansible_python_interpreter=sys.executable,
                        kubeconfig=str(kubeconfig), context=sim.name, **variables)
             for name, variables in cases.items()}
    inventory = directory / "cases.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    run_env = dict({"TMPDIR": str(directory / "tmp")}, **(env or {}))
    proc = run_ansible_playbook(playbook_command(playbook, inventory, extra_vars), capture_output=True, text=True,
                                env=ansible_env(**run_env), cwd=REPO, timeout=900, check=False)
    return PlaybookResult(proc)


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
        if inventory is None:
            clusters = kubesim if isinstance(kubesim, (list, tuple)) else [kubesim]
            inventory = write_inventory(tmp_path / "inventory.yml", clusters, host_vars)
        cmd = playbook_command(playbook, inventory, extra_vars)
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
        proc = run_ansible_playbook(cmd, capture_output=True, text=True, env=ansible_env(**env),
                                    cwd=REPO, timeout=timeout, check=False)
        return PlaybookResult(proc)

    return run
