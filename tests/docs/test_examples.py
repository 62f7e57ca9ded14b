"""Every module's EXAMPLES run against simulated clusters, as a user would run them.

The examples are read from the modules (their EXAMPLES strings), with the `# test ...:` comments above each
task (tests/docs/examples.py, docs/DEVELOPING.md): the prerequisites are built on two kubesims (contexts
primary and burst of ~/.kube/config, HOME being a temporary directory), meshsim and a real Prometheus;
the tasks run with real ansible-playbook, a few playbook runs for all of them, with the auth passed the
way the collection's playbooks pass it (module_defaults of group/meshops.istio.istio from the host's
kubeconfig and context). Only two things differ from the text: every Prometheus URL points at the
simulated Prometheus, and `# test runs with:` shortens waits. Each example then must have succeeded,
left what its `# test expects:` lines say, and returned only keys its RETURN documents (with every
`returned: always` key there). An example that cannot run on simulated clusters says why, and is
reported as skipped with that reason.
"""
import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from tests.conftest import OUTPUT, ansible_env
from tests.docs import examples as ex
from sim.kubesim import KubeSim
from tests.standins import istio_crds

EXAMPLES = ex.all_examples()
# Playbook runs side by side: most of a module task's time is its process starting, and the release
# examples wait for their analysis intervals.
PARALLEL_RUNS = 3


class ExampleEnv:
    """Two simulated clusters in ~/.kube/config of a temporary HOME, and traffic when an example needs it."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self.home = self.dir / "home"
        self.clusters = dict((name, KubeSim(name=name, crd_files=[istio_crds()]).start()) for name in ex.CONTEXTS)
        self.primary = self.clusters["primary"]
        config = {"apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": "primary",
                  "clusters": [], "users": [], "contexts": []}
        for name, sim in self.clusters.items():
            one = sim.kubeconfig(name)
            for key in ("clusters", "users", "contexts"):
                config[key] += one[key]
        self.kubeconfig = self.home / ".kube" / "config"
        self.kubeconfig.parent.mkdir(parents=True)
        self.kubeconfig.write_text(yaml.safe_dump(config))
        self.kubeconfig.chmod(0o600)
        self._mesh = self.prometheus = None

    def mesh(self):
        if self._mesh is None:
            from sim.meshsim import KubeReader, MeshSim
            from sim.prometheus_harness import PrometheusServer
            self._mesh = MeshSim(KubeReader(str(self.kubeconfig), "primary"), cluster="primary", refresh=0.5).start()
            self.prometheus = PrometheusServer([self._mesh.url]).start()
            # The Services the examples without a URL reach through the API server's service proxy.
            from sim.prometheus_harness import expose_in
            expose_in(self.primary, self.prometheus)
            expose_in(self.primary, self.prometheus, "monitoring", "prometheus-operated", 9090, "web")
        return self._mesh

    @property
    def prometheus_url(self):
        # Examples that read no metrics still get a URL; nothing listens there.
        return self.prometheus.url if self.prometheus else "http://127.0.0.1:9"

    def wait_traffic(self, promql):
        self.prometheus.wait_for(promql, timeout=90)

    def stop(self):
        if self._mesh:
            self.prometheus.stop()
            self._mesh.stop()
        for sim in self.clusters.values():
            sim.stop()


def runs(examples):
    """The playbook runs, each a group of modules whose examples change what another's read (they share a
    prerequisite: release, traffic and prometheus_query all use Bookinfo's reviews), in module order. Groups
    share nothing, so they run side by side; in a run every module has a host of its own (a failure ends
    only that module's examples), and the clusters inventory's hosts serve one run only."""
    runnable = [e for e in examples if not e.cannot_run]
    group = dict((m, {m}) for m in sorted(set(e.module for e in runnable)))
    for name in ex.PREREQUISITES:
        if name in ex.SHARED_SETTINGS:
            continue
        users = sorted(set(e.module for e in runnable if name in e.needs))
        merged = set().union(*(group[m] for m in users)) if users else set()
        for module in merged:
            group[module] = merged
    out, seen = [], []
    for modules in group.values():
        if modules not in seen:
            seen.append(modules)
            out.append(("-".join(sorted(modules)), [e for e in runnable if e.module in modules]))
    return out


def run_all(directory, env, batches):
    def one(label, batch):
        playbook = directory / "playbooks" / ("%s.yml" % label)
        playbook.parent.mkdir(exist_ok=True)
        playbook.write_text(yaml.safe_dump(ex.plays(batch, env.kubeconfig, env.prometheus_url), sort_keys=False))
        inventory = ex.inventory(directory / ("inventory-%s" % label), env.kubeconfig,
                                 sorted(set(e.module for e in batch)))
        tmp = directory / ("tmp-%s" % label)
        tmp.mkdir(exist_ok=True)
        return ex.run_playbook(playbook, inventory, ansible_env(HOME=str(env.home), TMPDIR=str(tmp)))

    with ThreadPoolExecutor(max_workers=PARALLEL_RUNS) as pool:
        futures = [(label, pool.submit(one, label, batch)) for label, batch in batches]
        return dict((label, future.result()) for label, future in futures)


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    directory = tmp_path_factory.mktemp("examples")
    env = ExampleEnv(directory)
    try:
        needed = set(n for e in EXAMPLES if not e.cannot_run for n in e.needs)
        for name, (_what, build) in ex.PREREQUISITES.items():
            if name in needed:
                build(env)
        logs = run_all(directory, env, runs(EXAMPLES))
        results = {}
        for label, proc in logs.items():
            try:
                results.update(ex.task_results(proc.stdout))
            except ValueError:
                pytest.fail("ansible-playbook %s gave no json output (rc %d): %s" % (label, proc.returncode,
                                                                                  proc.stderr[-3000:]))
        report = {}
        for example in EXAMPLES:
            if example.cannot_run:
                report[example.id] = dict(name=example.name, status="cannot run", reason=example.cannot_run)
                continue
            problems = ex.judge(example, results, env.home)
            report[example.id] = dict(name=example.name, status="failed" if problems else "ran", problems=problems,
                                      needs=example.needs, runs_with=example.runs_with,
                                      expectations=len(example.expects))
        OUTPUT.mkdir(parents=True, exist_ok=True)
        (OUTPUT / "docs_examples.json").write_text(json.dumps(report, indent=1))
        yield report, logs
    finally:
        env.stop()
        shutil.rmtree(directory / "home", ignore_errors=True)


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_example_runs_as_documented(example, outcome):
    report, logs = outcome
    entry = report[example.id]
    if example.cannot_run:
        pytest.skip("%s (%s) cannot run on simulated clusters: %s" % (example.id, example.name, example.cannot_run))
    assert entry["problems"] == [], "\n".join(
        ["%s %s:" % (example.id, example.name)] + entry["problems"]
        + ["ansible-playbook stderr: %s" % "".join(p.stderr[-1500:] for p in logs.values())])


def test_every_example_runs_or_says_why():
    ours = [e for e in EXAMPLES if e.ours]
    modules = sorted(p.stem for p in ex.MODULES.glob("*.py") if p.stem != "__init__")
    assert sorted(set(e.module for e in EXAMPLES)) == modules
    # Tasks of other collections in an example (a debug, a fail) run too, unannotated.
    # The line-by-line split finds every task a YAML parser finds (a count per module, not a number to keep
    # up to date by hand: branches adding examples collided on it).
    for module in modules:
        tasks = yaml.safe_load(ex.examples_text(ex.MODULES / ("%s.py" % module)))
        assert len([e for e in EXAMPLES if e.module == module]) == len(tasks), module
    assert len(ours) >= len(modules)
    not_run = [e for e in EXAMPLES if e.cannot_run]
    assert [e.id for e in not_run] == ["prometheus_query#3"]
    assert all(len(e.cannot_run) > 20 for e in not_run)
    # Every example of ours that runs checks something beyond "it did not fail".
    unchecked = [e.id for e in ours if not e.cannot_run and not e.expects]
    assert unchecked == []


def test_comment_syntax_refuses_what_it_cannot_read():
    text = "# test needs: a unicorn\n- name: x\n  meshops.istio.istio_info:\n"
    with pytest.raises(ex.ExampleError, match="needs a unicorn, which the test cannot build; known: bookinfo"):
        ex.parse("istio_info", text)
    with pytest.raises(ex.ExampleError, match="unknown '# test wants:'"):
        ex.parse("istio_info", "# test wants: x\n- name: x\n  meshops.istio.istio_info:\n")
    with pytest.raises(ex.ExampleError, match="cannot read '# test expects: Pod a/b'"):
        ex.parse("istio_info", "# test expects: Pod a/b\n- name: x\n  meshops.istio.istio_info:\n")
    (parsed,) = ex.parse("istio_info", "# test expects: Namespace x absent\n# test runs with: a.b=3s\n"
                                       "- name: x\n  meshops.istio.istio_info: {a: {b: 1m}}\n")
    assert parsed.expects[0]["absent"] and parsed.runs_with == {"a.b": "3s"}
    assert ex.runnable_task(parsed, "http://p")["meshops.istio.istio_info"] == {"a": {"b": "3s"}}


def test_precheck_examples_use_the_collections_default_version():
    default = yaml.safe_load((ex.REPO / "roles" / "control_plane" / "defaults" / "main.yml").read_text())[
        "control_plane_version"]
    versions = [e.task["meshops.istio.istio_precheck"]["version"] for e in EXAMPLES if e.module == "istio_precheck"]
    assert versions and set(str(v) for v in versions) == {default}


def test_analysis_checks_suboptions_are_declared_and_validated():
    doc = ex.module_doc("istio_release", "DOCUMENTATION")
    checks = doc["options"]["analysis"]["suboptions"]["checks"]
    assert sorted(checks["suboptions"]) == ["max", "min", "name", "query"]
    from ansible_collections.meshops.istio.plugins.modules import istio_release
    spec = istio_release.argspec()["analysis"]["options"]["checks"]
    assert sorted(spec["options"]) == ["max", "min", "name", "query"]
    assert spec["options"]["min"]["type"] == spec["options"]["max"]["type"] == "float"


def test_the_release_analysis_docs_say_how_no_data_is_judged():
    text = (ex.REPO / "docs" / "releases.md").read_text()
    assert "or vector(0)" in text and '"no data"' in text
    assert "NaN" in text
