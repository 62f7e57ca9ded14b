"""`make bench`: what a meshops.istio run costs next to doing the same with kubectl, measured side by side.

    python -m scripts.bench                      the full table (every row, 0 and 30 ms, with and without Mitogen,
                                                 3 repetitions; no run starts after --budget seconds, default 540)
    python -m scripts.bench --quick              one repetition, 0 ms only: a first look
    python -m scripts.bench --rows bookinfo,ns10 only the rows whose name contains one of these words
    python -m scripts.bench --rows floor         only the floor rows (what no module of ours can beat)
    python -m scripts.bench --reps 5 --latency 0,30,100 --mitogen off

Every row compares two sides (A: the collection, B: what a person would do by hand) on simulated clusters
(kubesim, in this process; a fresh cluster for every repetition where the row needs one), repeated
A/B/A/B so that a change in the machine's load hits both sides alike. Wall time is that of the whole
command (ansible-playbook start-up included); requests come from kubesim's request log. The machine is
usually shared: read the ratios (min and median over the repetitions), not the seconds.

The objects of the kubectl side are the ones the playbook made: after the collection's first run of a
repetition, every object in the cluster that a client other than kubesim's seeding wrote (a manager in
its managedFields) is recorded, stripped of what the server fills in, and applied with
`kubectl apply --server-side` (CRDs and Namespaces first, then the rest, as kubectl needs the kinds mapped).
Only the project's stand-ins (sim/standins, the chart builder sim/charts) are used, as `make demo` does.

The floor rows put Ansible and kubernetes.core beside each other and kubectl (a module that does nothing, an empty
play, one k8s_info task, forks): what no collection of modules can beat, measured in the same run. The goals table
reads issue 11's goals, and the floor that bounds each, from the rows (goal_specs()).
Writes docs/bench.md and docs/bench.json (the full table; a partial run writes tests/output/bench/, or --out DIR).
"""

import abc
import argparse
import contextlib
import copy
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from scripts.demo import BIN, REPO, build_charts, mitogen_env, tool_env
from sim.kubesim import KubeSim
from sim.minimal_istio import INJECTOR, ingress_gateway, install_minimal_istio
from sim.standins import ADDONS, CRDS
from sim.webhook_support import istiod_objects

CONTROL_PLANE_VERSION = yaml.safe_load((REPO / "inventories" / "sim" / "group_vars" / "all.yml").read_text())[
    "control_plane_version"]
SEED_MANAGER = "kubesim-seed"
# Filled in by the server: never part of what a client applies.
SERVER_METADATA = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink",
                   "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences")
WRITES = ("POST", "PUT", "PATCH", "DELETE")
NAMESPACES_FOR_SCALE = [f"team-{i}" for i in range(5)]
RELEASE_STEPS = [20, 40, 60, 80, 100]
MESHSIM_AGENT = "meshsim-bench"


# --- measuring --------------------------------------------------------------------------------------------
class Clusters:
    """Fresh simulated clusters in one work directory; every one made is stopped by close()."""

    def __init__(self, work):
        self.work = Path(work)
        self.started = []

    def new(self, name, istio_crds=False, latency=0.0):
        sim = KubeSim(name=name, crd_files=[CRDS] if istio_crds else []).start()
        directory = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.work))
        sim.kubeconfig_path = sim.write_kubeconfig(directory / "kubeconfig", context=name)
        sim.tmpdir = directory / "tmp"   # kubernetes.core's discovery cache: per cluster, kept across its runs
        sim.tmpdir.mkdir()
        if latency:
            # Every request waits this long before it is served: a round trip to a real API server.
            sim.inject_fault(status=None, latency=latency / 1000.0, times=None)
        self.started.append(sim)
        return sim

    def close(self):
        for sim in self.started:
            sim.stop()
        self.started.clear()


def requests_in(sims, marks):
    """(requests, writes) of every cluster since its mark (an index into its request log), meshsim's reads aside."""
    total = writes = 0
    for sim in sims:
        log = [r for r in sim.request_log[marks[sim.name]:] if r.user_agent != MESHSIM_AGENT]
        total += len(log)
        writes += sum(1 for r in log if r.method in WRITES and not r.dry_run
                      and not r.path.endswith(("/selfsubjectaccessreviews", "/subjectaccessreviews", "/tokenreviews")))
    return total, writes


@contextlib.contextmanager
def measured(sims, into):
    """Time the block and count the requests it sent to ``sims``; store {seconds, requests, writes} in ``into``."""
    marks = {sim.name: len(sim.request_log) for sim in sims}
    started = time.monotonic()
    yield
    into["seconds"] = time.monotonic() - started
    into["requests"], into["writes"] = requests_in(sims, marks)


def run(cmd, env, what):
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"bench: {what} failed (rc {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return proc


def write_inventory(path, sims):
    hosts = {sim.name: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                        "kubeconfig": str(sim.kubeconfig_path), "context": sim.name}
             for sim in sims}
    Path(path).write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    return str(path)


def ansible_env(sims, accelerated):
    env = tool_env()
    env.update(ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOCALHOST_WARNING="False",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="False", ANSIBLE_RETRY_FILES_ENABLED="False", ANSIBLE_NOCOLOR="1",
               TMPDIR=str(sims[0].tmpdir))
    env.pop("ANSIBLE_STRATEGY", None)
    env.pop("ANSIBLE_STRATEGY_PLUGINS", None)
    if accelerated:
        env.update(mitogen_env())
    return env


def playbook(path, sims, accelerated, extra_vars=None, forks=None, skip_tags=None):
    """Run ansible-playbook on ``sims``; the number of changed tasks."""
    inventory = write_inventory(Path(sims[0].tmpdir).parent / "inventory.yml", sims)
    cmd = [str(BIN / "ansible-playbook"), "-i", inventory, str(path)]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    if forks:
        cmd += ["--forks", str(forks)]
    if skip_tags:
        cmd += ["--skip-tags", skip_tags]
    proc = run(cmd, ansible_env(sims, accelerated), f"ansible-playbook {Path(path).name}")
    stats = json.loads(proc.stdout[proc.stdout.index("{"):]).get("stats", {})
    return sum(host.get("changed", 0) for host in stats.values())


def kubectl(sim, *args):
    return run(["kubectl", "--kubeconfig", str(sim.kubeconfig_path), *args], tool_env(), "kubectl " + args[0])


# --- the objects a playbook made --------------------------------------------------------------------------
def written_objects(sim):
    """Every object a client other than kubesim's seeding wrote, as a client would apply it."""
    api_versions = {}
    for rtype in sim.registry.all():   # the stored object may carry another served version
        api_versions.setdefault(rtype.key, rtype.api_version)
    found, namespaces = [], {}
    with sim.store.lock:
        for key in sim.store.kinds():
            for obj in sim.store.scan(key):
                managers = {entry.get("manager") for entry in obj["metadata"].get("managedFields") or []}
                if obj["kind"] == "Namespace" and SEED_MANAGER not in managers:
                    namespaces[obj["metadata"]["name"]] = dict(applicable(obj), apiVersion="v1")
                if managers - {SEED_MANAGER}:
                    found.append(dict(applicable(obj), apiVersion=api_versions[key]))
    # A namespace that a client made without a field manager (helm's --create-namespace sends protobuf) is
    # still one of the objects: kubectl must create it before what it holds.
    named = {o["metadata"]["name"] for o in found if o["kind"] == "Namespace"}
    used = {o["metadata"].get("namespace") for o in found}
    found += [ns for name, ns in namespaces.items() if name in used and name not in named]
    return found


def applicable(obj):
    clean = {k: v for k, v in json.loads(json.dumps(obj)).items() if k != "status"}
    clean["metadata"] = {k: v for k, v in clean["metadata"].items() if k not in SERVER_METADATA}
    if obj.get("kind") == "Service":   # allocated by the server, not asked for
        spec = clean.get("spec") or {}
        spec.pop("clusterIP", None)
        spec.pop("clusterIPs", None)
        for port in spec.get("ports") or []:
            port.pop("nodePort", None)
    annotations = clean["metadata"].get("annotations") or {}
    annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
    if not annotations:
        clean["metadata"].pop("annotations", None)
    return clean


class Recorded:
    """The objects of each playbook, recorded from the collection's first run (once per bench run)."""

    def __init__(self):
        self.objects = {}

    def record(self, name, sim):
        if name not in self.objects:
            self.objects[name] = written_objects(sim)
        return self.objects[name]


def kubectl_apply(sim, objects, directory):
    """`kubectl apply --server-side` of ``objects``: CRDs and Namespaces first (kubectl maps every kind before
    it applies), then the rest. --validate=false: kubesim validates on the server, as a real API server does."""
    first = [o for o in objects if o["kind"] in ("CustomResourceDefinition", "Namespace")]
    rest = [o for o in objects if o not in first]
    for part, docs in (("first", first), ("rest", rest)):
        if not docs:
            continue
        manifest = Path(directory) / f"{part}.yaml"
        manifest.write_text(yaml.safe_dump_all(docs))
        kubectl(sim, "apply", "--server-side", "--force-conflicts", "--validate=false",
                "--field-manager", "kubectl-bench", "-f", str(manifest))


# --- rows -------------------------------------------------------------------------------------------------
class Row:
    """One comparison: a(latency, accelerated) and b(latency) each return {phase: {seconds, requests, writes}};
    a B side that is itself a playbook runs with the accelerator of the A side just measured."""

    name = ""
    a_label = "meshops.istio"
    b_label = ""
    phases = ("first run", "converged re-run")
    # A floor row measures what bounds the rows above it (Ansible, kubernetes.core): its own table in docs/bench.md.
    floor = False

    def __init__(self, bench):
        self.bench = bench

    @property
    def key(self):
        """What goal_specs() calls the row by: its name and what it is compared with."""
        return f"{self.name} vs {self.b_label}"

    def objects(self):
        return None

    def b_objects(self):
        return self.objects()


class PlaybookRow(Row):
    b_label = "`kubectl apply --server-side` of the same objects"

    def __init__(self, bench, name, path, prepare, extra_vars=None, skip_tags=None, note=""):
        super().__init__(bench)
        self.name, self.path, self.prepare = name, path, prepare
        self.extra_vars, self.skip_tags, self.note = extra_vars or {}, skip_tags, note

    def cluster(self, latency):
        sim = self.bench.clusters.new(self.name.split(".")[0], istio_crds=self.prepare != "bare", latency=0)
        if self.prepare == "apps":
            install_minimal_istio(sim)
        elif self.prepare == "istio":
            seed_istio(sim)
        if latency:
            sim.inject_fault(status=None, latency=latency / 1000.0, times=None)
        return sim

    def a(self, latency, accelerated):
        # The naive row compares the same playbook: its A side is the run just measured for this repetition.
        key = (self.name, self.bench.rep, latency, accelerated)
        if key in self.bench.a_runs:
            return self.bench.a_runs[key]
        sim = self.cluster(latency)
        out = {}
        for phase in self.phases:
            out[phase] = {}
            with measured([sim], out[phase]):
                out[phase]["changed"] = playbook(self.path, [sim], accelerated, self.extra_vars, skip_tags=self.skip_tags)
            if phase == "first run":
                self.bench.recorded.record(self.name, sim)
        if out["converged re-run"]["changed"]:
            print(f"  note: {self.name} re-run reported changed={out['converged re-run']['changed']}", flush=True)
        self.bench.a_runs[key] = out
        return out

    def b(self, latency):
        sim = self.cluster(latency)
        objects = self.bench.recorded.objects[self.name]
        out = {}
        for phase in self.phases:
            out[phase] = {}
            with measured([sim], out[phase]):
                kubectl_apply(sim, objects, sim.tmpdir)
        return out

    def objects(self):
        return len(self.bench.recorded.objects.get(self.name, ()))


class NaiveRow(PlaybookRow):
    """bookinfo.yml against what people write today: one kubernetes.core.k8s task per object."""

    b_label = "naive playbook: one `kubernetes.core.k8s` task per object"

    def b(self, latency):
        sim = self.cluster(latency)
        path = self.bench.work / "naive-bookinfo.yml"
        if not path.exists():
            tasks = [{"name": f"Apply {o['kind']} {o['metadata']['name']}",
                      "kubernetes.core.k8s": {"kubeconfig": "{{ kubeconfig }}", "context": "{{ context }}",
                                              "state": "present", "definition": o}}
                     for o in self.bench.recorded.objects[self.name]]
            path.write_text(yaml.safe_dump([{"name": "Apply Bookinfo object by object", "hosts": "all",
                                              "gather_facts": False, "tasks": tasks}], sort_keys=False))
        out = {}
        for phase in self.phases:
            out[phase] = {}
            with measured([sim], out[phase]):
                playbook(path, [sim], self.bench.b_accelerated)
        return out


# --- sides measured once and shared: the debug row and the floors ---------------------------------------
class Side(abc.ABC):
    """One side of a row that is a single command on fresh clusters. Measured once per repetition and setting
    and shared by every row it is in (its figures are then the same in each, so their ratios compose)."""

    def __init__(self, key, label, objects=1, seed=()):
        self.key, self.label, self.n_objects, self.seed = key, label, objects, list(seed)

    def measure(self, bench, latency, accelerated):
        slot = (self.key, bench.rep, latency, accelerated)
        if slot not in bench.side_runs:
            bench.side_runs[slot] = self.run(bench, latency, accelerated)
        return {"first run": bench.side_runs[slot]}

    @abc.abstractmethod
    def run(self, bench, latency, accelerated):
        """The side's figures ({seconds, requests, writes, ...}) on fresh clusters."""

    def fresh(self, bench, name, latency):
        """A new cluster at ``latency`` ms holding the side's ``seed`` objects."""
        sim = bench.clusters.new(name, latency=latency)
        if self.seed:
            sim.create_objects(copy.deepcopy(self.seed))
        return sim


class PlaybookSide(Side):
    """A play of ``tasks`` on ``clusters`` fresh clusters (forks = clusters); ``seed`` objects are created in each
    cluster before the clock starts."""

    def __init__(self, key, label, tasks, objects=1, clusters=1, seed=()):
        super().__init__(key, label, objects, seed)
        self.tasks, self.clusters = tasks, clusters

    def path(self, bench):
        path = bench.work / f"{self.key}.yml"
        if not path.exists():
            path.write_text(yaml.safe_dump([{"name": self.label.replace("`", ""), "hosts": "all",
                                             "gather_facts": False, "tasks": self.tasks}], sort_keys=False))
        return path

    def run(self, bench, latency, accelerated):
        sims = [self.fresh(bench, f"{self.key}-{i}", latency) for i in range(self.clusters)]
        out = {}
        with measured(sims, out):
            playbook(self.path(bench), sims, accelerated, forks=self.clusters if self.clusters > 1 else None)
        return out


class KubectlSide(Side):
    """One kubectl command on a fresh cluster holding ``seed``."""

    def __init__(self, key, label, args, objects=1, seed=()):
        super().__init__(key, label, objects, seed)
        self.args = args

    def run(self, bench, latency, accelerated):
        sim = self.fresh(bench, self.key, latency)
        out = {}
        with measured([sim], out):
            kubectl(sim, *self.args)
        return out


AUTH = {"kubeconfig": "{{ kubeconfig }}", "context": "{{ context }}"}
FLOOR_NAMESPACE = "floor"
# A namespace already as istio_namespace would leave it: the one-task sides only read.
FLOOR_SEED = [{"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": FLOOR_NAMESPACE, "labels": {"istio-injection": "enabled"}}}]


def sides():
    """Every shared side, by key."""
    found = [
        PlaybookSide("ns10", "10 istio_namespace tasks", objects=10, tasks=[
            {"name": f"Label namespace ns-{i}", "meshops.istio.istio_namespace": dict(
                AUTH, name=f"ns-{i}", state="present", injection="enabled")} for i in range(10)]),
        PlaybookSide("debug10", "10 `ansible.builtin.debug` tasks", objects=10, tasks=[
            {"name": f"Say {i}", "ansible.builtin.debug": {"msg": f"task {i}"}} for i in range(10)]),
        # A module that does nothing: what one module process costs in Ansible itself (AnsiballZ, a new Python).
        PlaybookSide("ping10", "10 `ansible.builtin.ping` tasks", objects=10, tasks=[
            {"name": f"Ping {i}", "ansible.builtin.ping": {}} for i in range(10)]),
        PlaybookSide("empty", "ansible-playbook of a play with 0 tasks", objects=0, tasks=[]),
        KubectlSide("version", "`kubectl version --client`", ["version", "--client"], objects=0),
        # One GET of a namespace through kubernetes.core: its client, discovery and one module process.
        PlaybookSide("k8s_info1", "1 `kubernetes.core.k8s_info` task", seed=FLOOR_SEED, tasks=[
            {"name": "Read the namespace", "kubernetes.core.k8s_info": dict(
                AUTH, api_version="v1", kind="Namespace", name=FLOOR_NAMESPACE)}]),
        KubectlSide("get1", "`kubectl get namespace`", ["get", "namespace", FLOOR_NAMESPACE, "-o", "name"],
                    seed=FLOOR_SEED),
        PlaybookSide("ns1", "1 istio_namespace task (converged)", seed=FLOOR_SEED, tasks=[
            {"name": "Label the namespace", "meshops.istio.istio_namespace": dict(
                AUTH, name=FLOOR_NAMESPACE, state="present", injection="enabled")}]),
    ]
    # What forks cost: as many module processes per cluster as namespaces.yml starts (one per namespace), none
    # of which does any work, on 10 clusters with forks 10 and on one.
    for n in (10, 1):
        found.append(PlaybookSide(
            f"ping{len(NAMESPACES_FOR_SCALE)}x{n}",
            f"{len(NAMESPACES_FOR_SCALE)} `ansible.builtin.ping` tasks on {n} cluster{'s' if n > 1 else ''}"
            + (f", forks {n}" if n > 1 else ""),
            objects=n * len(NAMESPACES_FOR_SCALE), clusters=n,
            tasks=[{"name": f"Ping {i}", "ansible.builtin.ping": {}} for i in range(len(NAMESPACES_FOR_SCALE))]))
    return {side.key: side for side in found}


class SideRow(Row):
    """Side ``a`` against side ``b``, both from sides(). A floor row measures what no module of ours can beat."""

    phases = ("first run",)

    def __init__(self, bench, a, b, floor=True):
        super().__init__(bench)
        self.a_side, self.b_side, self.floor = bench.sides[a], bench.sides[b], floor
        self.name, self.b_label = self.a_side.label, self.b_side.label

    def a(self, latency, accelerated):
        return self.a_side.measure(self.bench, latency, accelerated)

    def b(self, latency):
        return self.b_side.measure(self.bench, latency, self.bench.b_accelerated)

    def objects(self):
        return self.a_side.n_objects

    def b_objects(self):
        return self.b_side.n_objects


class ScaleRow(Row):
    """namespaces.yml (five mesh namespaces) on N clusters with forks N, against the same on one cluster."""

    phases = ("first run",)

    def __init__(self, bench, clusters):
        super().__init__(bench)
        self.n = clusters
        self.name = f"namespaces.yml on {clusters} clusters, forks {clusters}"
        self.b_label = "namespaces.yml on 1 cluster"

    def run(self, n, latency, accelerated):
        sims = [self.bench.clusters.new(f"c{i}", latency=latency) for i in range(n)]
        out = {"first run": {}}
        with measured(sims, out["first run"]):
            playbook(REPO / "playbooks" / "namespaces.yml", sims, accelerated, forks=n,
                     extra_vars={"mesh_namespace_list": [{"name": ns} for ns in NAMESPACES_FOR_SCALE]})
        return out

    def a(self, latency, accelerated):
        return self.run(self.n, latency, accelerated)

    def b(self, latency):
        return self.run(1, latency, self.bench.b_accelerated)

    def objects(self):
        return self.n * len(NAMESPACES_FOR_SCALE)

    def b_objects(self):
        return len(NAMESPACES_FOR_SCALE)


class ReleaseRow(Row):
    """A 5-step zero-wait release (istio_release, analysis on Prometheus) against 5 `kubectl patch` of the
    VirtualService's weights. One kubesim + meshsim + Prometheus for the row; a fresh namespace per repetition."""

    name = "5-step zero-wait release"
    b_label = "5 `kubectl patch` of the VirtualService"
    phases = ("first run",)

    def env(self, latency):
        from sim.meshsim import KubeReader, MeshSim
        from sim.prometheus_harness import PrometheusServer

        if getattr(self, "sim", None) is None:
            self.sim = self.bench.clusters.new("release", istio_crds=True)
            self.bench.clusters.started.remove(self.sim)   # kept for the whole bench, not one repetition
            reader = KubeReader(self.sim.kubeconfig_path, self.sim.name)
            reader.api.api_client.user_agent = MESHSIM_AGENT   # its reads are not the release's requests
            self.mesh = MeshSim(reader, cluster=self.sim.name, refresh=0.5).start()
            self.prometheus = PrometheusServer([self.mesh.url]).start()
            self.bench.on_close += [self.prometheus.stop, self.mesh.stop, self.sim.stop]
            self.counter = 0
        self.sim.clear_faults()
        if latency:
            self.sim.inject_fault(status=None, latency=latency / 1000.0, times=None)
        return self.sim

    def namespace(self, traffic):
        from sim.meshsim import bookinfo

        self.counter += 1
        ns = f"rel-{self.counter}"
        self.sim.clear_faults()   # seeding is not measured
        bookinfo.seed(self.sim, ns, virtual_services=["virtual-service-reviews-80-20.yaml"])
        if traffic:
            self.mesh.add_service("reviews", ns, rate=50, versions=["v1", "v2", "v3"], source_workload="productpage-v1")
        return ns

    def a(self, latency, accelerated):
        self.env(0)
        ns = self.namespace(traffic=True)
        time.sleep(6)   # v2 (20% of the 80/20 split) has requests in Prometheus before the release starts
        self.env(latency)
        path = self.bench.work / "release5.yml"
        path.write_text(yaml.safe_dump([{
            "name": "Release reviews v2 in five steps", "hosts": "all", "gather_facts": False,
            "tasks": [{"name": "Run the release", "meshops.istio.istio_release": {
                "kubeconfig": "{{ kubeconfig }}", "context": "{{ context }}", "action": "run",
                "service": "reviews", "namespace": ns, "stable": "v1", "canary": "v2", "steps": RELEASE_STEPS,
                "analysis": {"interval": 0, "window": "10s", "success_rate": 90, "min_requests": 1},
                "prometheus": {"url": self.prometheus.url}}}]}], sort_keys=False))
        out = {"first run": {}}
        with measured([self.sim], out["first run"]):
            playbook(path, [self.sim], accelerated)
        self.mesh.remove_service(f"{ns}/reviews")
        return out

    def b(self, latency):
        self.env(0)
        ns = self.namespace(traffic=False)
        self.env(latency)
        out = {"first run": {}}
        with measured([self.sim], out["first run"]):
            for weight in RELEASE_STEPS:
                route = [{"destination": {"host": "reviews", "subset": "v1"}, "weight": 100 - weight},
                         {"destination": {"host": "reviews", "subset": "v2"}, "weight": weight}]
                kubectl(self.sim, "-n", ns, "patch", "virtualservice", "reviews", "--type", "merge",
                        "-p", json.dumps({"spec": {"http": [{"route": route}]}}))
        return out

    def objects(self):
        return 1


def seed_istio(sim):
    """What the addons need of an installed Istio: istiod at the inventory's version (istio_info reads it from
    the image), the injector and the ingress gateway."""
    sim.create_objects(ingress_gateway() + istiod_objects(image=f"docker.io/istio/pilot:{CONTROL_PLANE_VERSION}")[1:]
                       + [INJECTOR])


def kubesim_figures(work):
    """kubesim's own speed (formerly asserted by tests/fidelity/test_kubesim_perf.py): start-up with the Istio CRDs
    (per-process YAML cache warm), and GET / LIST with a selector / PATCH over one keep-alive connection."""
    import requests

    KubeSim(crd_files=[CRDS]).start().stop()
    started = time.perf_counter()
    sim = KubeSim(crd_files=[CRDS]).start()
    figures = {"start with the Istio CRDs (ms)": (time.perf_counter() - started) * 1000}
    try:
        sim.create_objects([{"apiVersion": "v1", "kind": "ConfigMap",
                             "metadata": {"name": f"cm-{i}", "namespace": "default", "labels": {"n": str(i % 5)}},
                             "data": {"k": "v" * 100}} for i in range(50)])
        ca = Path(work) / "kubesim-ca.pem"
        ca.write_text(sim.ca_pem)
        session = requests.Session()
        session.trust_env, session.verify = False, str(ca)
        session.headers["Authorization"] = f"Bearer {sim.admin_token}"
        url = sim.url + "/api/v1/namespaces/default/configmaps"
        timings = []
        for i in range(500):
            started = time.perf_counter()
            session.get(f"{url}/cm-{i % 50}").raise_for_status()
            timings.append((time.perf_counter() - started) * 1000)
        figures["GET, mean of 500 (ms)"] = statistics.mean(timings)
        figures["GET, p95 of 500 (ms)"] = sorted(timings)[int(len(timings) * 0.95)]
        started = time.perf_counter()
        for _ in range(100):
            session.get(url, params={"labelSelector": "n=1"}).raise_for_status()
        figures["LIST of 10 of 50 by label selector, mean of 100 (ms)"] = (time.perf_counter() - started) * 10
        started = time.perf_counter()
        for i in range(100):
            session.patch(f"{url}/cm-{i % 50}", json={"data": {"k": str(i)}},
                          headers={"Content-Type": "application/merge-patch+json"}).raise_for_status()
        figures["merge PATCH, mean of 100 (ms)"] = (time.perf_counter() - started) * 10
        session.close()
    finally:
        sim.stop()
    return {k: round(v, 2) for k, v in figures.items()}


# --- the bench --------------------------------------------------------------------------------------------
class Bench:
    def __init__(self, work, reps, latencies, accelerators):
        self.work = Path(work)
        self.reps, self.latencies, self.accelerators = reps, latencies, accelerators
        self.clusters = Clusters(self.work)
        self.recorded = Recorded()
        self.rep, self.a_runs, self.errors = 0, {}, []
        self.sides, self.side_runs = sides(), {}
        self.on_close = []
        # The non-collection side of a row that is itself a playbook (naive, debug, one cluster) runs with the
        # same accelerator as the collection's side it is compared with.
        self.b_accelerated = False
        self.charts = str(build_charts(self.work))

    def rows(self):
        site_vars = {"control_plane_charts": self.charts, "addons_source": str(ADDONS)}
        install_vars = {"control_plane_version": CONTROL_PLANE_VERSION, "control_plane_charts": self.charts}
        play = REPO / "playbooks"
        return [
            SideRow(self, "ns10", "debug10", floor=False),
            # The floors of the row above: cheap (seconds), so every setting gets them before the long rows.
            SideRow(self, "ping10", "debug10"),
            SideRow(self, "ns10", "ping10"),
            SideRow(self, "empty", "version"),
            SideRow(self, "k8s_info1", "get1"),
            SideRow(self, "ns1", "k8s_info1"),
            PlaybookRow(self, "bookinfo.yml", play / "bookinfo.yml", "apps"),
            NaiveRow(self, "bookinfo.yml", play / "bookinfo.yml", "apps"),
            PlaybookRow(self, "hashapp.yml", play / "hashapp.yml", "apps"),
            PlaybookRow(self, "addons.yml", play / "addons.yml", "istio", {"addons_source": str(ADDONS)}),
            PlaybookRow(self, "install.yml", play / "install.yml", "bare", install_vars),
            ReleaseRow(self),
            ScaleRow(self, 4),
            ScaleRow(self, 10),
            SideRow(self, f"ping{len(NAMESPACES_FOR_SCALE)}x10", f"ping{len(NAMESPACES_FOR_SCALE)}x1"),
            # Last: the costliest, and the sum of the playbook rows above.
            PlaybookRow(self, "site.yml", play / "site.yml", "bare", dict(site_vars, **install_vars), skip_tags="release",
                        note="without its closing canary (--skip-tags release: that waits for metrics); "
                             "the release row measures releases"),
        ]

    def close(self):
        for stop in self.on_close:
            stop()
        self.clusters.close()


def summary(values):
    return {"min": min(values), "median": statistics.median(values)}


def measure(bench, rows, deadline):
    """{(row index, phase, latency, accelerated): {"a": [...], "b": [...]}} over interleaved repetitions.

    Order: repetition, then setting (0 ms first, without Mitogen first), then row; each row's B right after its A.
    No run starts past the deadline, nor one that would end past it by its row's last duration: what is cut is
    the last settings of the last repetition."""
    results, took = {}, {}
    settings = [(latency, accelerated) for latency in bench.latencies for accelerated in bench.accelerators]
    for rep in range(bench.reps):
        bench.rep = rep
        for latency, accelerated in settings:
            for index, row in enumerate(rows):
                if time.monotonic() > deadline:
                    print(f"bench: time budget spent; stopped in repetition {rep + 1}", flush=True)
                    return results
                if time.monotonic() + took.get(index, 0) > deadline:
                    continue   # this row's last run says it would end past the budget; a cheaper one may fit
                started = time.monotonic()
                print(f"[{rep + 1}/{bench.reps}] {row.name} vs {row.b_label}, {latency} ms"
                      + (", mitogen" if accelerated else ""), flush=True)
                try:
                    a = row.a(latency, accelerated)
                    bench.b_accelerated = accelerated   # a playbook on the B side runs as the A side does
                    b = row.b(latency)
                except (SystemExit, Exception) as failed:   # one failed run costs its line, not the table
                    print(failed, flush=True)
                    bench.errors.append(f"{row.name}, {latency} ms{', Mitogen' if accelerated else ''}, repetition "
                                        f"{rep + 1}: {str(failed).splitlines()[0]}")
                    bench.clusters.close()
                    continue
                took[index] = time.monotonic() - started
                for phase in row.phases:
                    slot = results.setdefault((index, phase, latency, accelerated), {"a": [], "b": []})
                    slot["a"].append(a[phase])
                    slot["b"].append(b[phase])
                bench.clusters.close()
    return results


def table(rows, results):
    lines = []
    def order(item):
        index, phase, latency, accelerated = item[0]
        return index, latency, accelerated, rows[index].phases.index(phase)

    for (index, phase, latency, accelerated), sides in sorted(results.items(), key=order):
        row = rows[index]
        a, b = sides["a"], sides["b"]
        wall_a = summary([m["seconds"] for m in a])
        wall_b = summary([m["seconds"] for m in b])
        objects = row.objects() or 1
        line = {
            "row": row.name, "against": row.b_label, "key": row.key, "floor": row.floor, "phase": phase,
            "latency_ms": latency,
            "mitogen": accelerated, "repetitions": len(a), "objects": row.objects(),
            "a": {"seconds": wall_a, "requests": statistics.median(m["requests"] for m in a),
                  "writes": statistics.median(m["writes"] for m in a),
                  "requests_per_object": round(statistics.median(m["requests"] for m in a) / objects, 2),
                  "changed": [m.get("changed") for m in a if "changed" in m]},
            "b": {"seconds": wall_b, "requests": statistics.median(m["requests"] for m in b),
                  "writes": statistics.median(m["writes"] for m in b),
                  "requests_per_object": round(statistics.median(m["requests"] for m in b) / (row.b_objects() or 1), 2)},
            "ratio": {"min": wall_a["min"] / wall_b["min"], "median": wall_a["median"] / wall_b["median"]},
        }
        if getattr(row, "note", ""):
            line["note"] = row.note
        lines.append(line)
    return lines


def goal_specs():
    """Issue 11's goals that `make bench` measures, each with the row it is read from and the floor row that bounds
    it. floor "ratio": the floor row's own ratio; "a_over_b": the floor row's A time over the goal row's B time
    (what one module task costs next to the row's kubectl side)."""
    side = sides()
    kubectl_b, naive_b = PlaybookRow.b_label, NaiveRow.b_label
    one_task = f"{side['k8s_info1'].label} vs {side['get1'].label}"
    n = len(NAMESPACES_FOR_SCALE)
    return [
        {"goal": "bookinfo.yml first run ≤ 3× kubectl (ansible-playbook start-up included)",
         "row": f"bookinfo.yml vs {kubectl_b}", "phase": "first run", "ratio_at_most": 3,
         "floor": one_task, "floor_is": "a_over_b"},
        {"goal": "bookinfo.yml converged re-run ≤ 2× kubectl", "row": f"bookinfo.yml vs {kubectl_b}",
         "phase": "converged re-run", "ratio_at_most": 2, "floor": one_task, "floor_is": "a_over_b"},
        {"goal": "bookinfo.yml converged re-run: 0 writes, ≤ 1 request per object (discovery included)",
         "row": f"bookinfo.yml vs {kubectl_b}", "phase": "converged re-run", "writes": 0, "per_object_at_most": 1},
        {"goal": "site.yml converged re-run: 0 writes", "row": f"site.yml vs {kubectl_b}", "phase": "converged re-run",
         "writes": 0},
        {"goal": "install.yml converged re-run: 0 writes", "row": f"install.yml vs {kubectl_b}",
         "phase": "converged re-run", "writes": 0},
        {"goal": "addons.yml converged re-run: 0 writes", "row": f"addons.yml vs {kubectl_b}",
         "phase": "converged re-run", "writes": 0},
        {"goal": "10 istio_namespace tasks ≤ 2× 10 debug tasks", "row": f"{side['ns10'].label} vs {side['debug10'].label}",
         "phase": "first run", "ratio_at_most": 2, "floor": f"{side['ping10'].label} vs {side['debug10'].label}",
         "floor_is": "ratio"},
        {"goal": "bookinfo.yml ≥ 5× faster than the naive playbook (ratio ≤ 0.2×)", "row": f"bookinfo.yml vs {naive_b}",
         "phase": "first run", "ratio_at_most": 0.2},
        {"goal": "10 clusters with forks 10 ≤ 2× one cluster",
         "row": "namespaces.yml on 10 clusters, forks 10 vs namespaces.yml on 1 cluster", "phase": "first run",
         "ratio_at_most": 2, "floor": f"{side[f'ping{n}x10'].label} vs {side[f'ping{n}x1'].label}", "floor_is": "ratio"},
    ]


def goals(lines):
    """Every goal of goal_specs() with, per setting that measured its row, the median figure, met or not, and the
    floor (left out where the floor row was not measured in that setting)."""
    found = {(line["key"], line["phase"], line["latency_ms"], line["mitogen"]): line for line in lines}
    settings = sorted({(line["latency_ms"], line["mitogen"]) for line in lines})
    out = []
    for spec in goal_specs():
        cells = {}
        for latency, mitogen in settings:
            line = found.get((spec["row"], spec["phase"], latency, mitogen))
            if line is None:
                continue
            cell = {}
            if "ratio_at_most" in spec:
                cell["value"] = line["ratio"]["median"]
                cell["met"] = cell["value"] <= spec["ratio_at_most"]
            else:
                cell["value"] = line["a"]["writes"]
                cell["requests_per_object"] = line["a"]["requests_per_object"]
                cell["met"] = cell["value"] <= spec["writes"] and (
                    cell["requests_per_object"] <= spec.get("per_object_at_most", float("inf")))
            floor = found.get((spec.get("floor"), "first run", latency, mitogen))
            if floor is not None:
                cell["floor"] = (floor["ratio"]["median"] if spec["floor_is"] == "ratio"
                                 else floor["a"]["seconds"]["median"] / line["b"]["seconds"]["median"])
            cells[f"{latency} ms" + (", Mitogen" if mitogen else "")] = cell
        out.append(dict(spec, measured=cells))
    return out


def goal_cell(spec, cell):
    if cell is None:
        return "—"
    verdict = "met" if cell["met"] else "not met"
    if "ratio_at_most" not in spec:
        return f"{cell['value']:g} writes, {cell['requests_per_object']:g} req/obj: {verdict}"
    text = f"{ratio(cell['value'])}: {verdict}"
    if "floor" in cell:
        above = cell["floor"] > spec["ratio_at_most"]
        text += f" (floor {ratio(cell['floor'])}{', above the goal' if above else ''})"
    return text


def ratio(value):
    # Two decimals below 1: the naive-playbook goal is 0.2×, and 0.24× must not read as 0.2×.
    return f"{value:.1f}×" if value >= 1 else f"{value:.2f}×"


def markdown_table(lines):
    out = ["| row | phase | latency | Mitogen | reps | A wall (min / med) | A requests (writes) | A req/obj | B | "
           "B wall (min / med) | B requests (writes) | ratio A/B (min / med) |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for line in lines:
        a, b = line["a"], line["b"]
        out.append(
            f"| {line['row']} | {line['phase']} | {line['latency_ms']} ms | {'yes' if line['mitogen'] else 'no'} | "
            f"{line['repetitions']} | "
            f"{a['seconds']['min']:.2f} / {a['seconds']['median']:.2f} s | {a['requests']:g} ({a['writes']:g}) | "
            f"{a['requests_per_object']:g} | {line['against']} | "
            f"{b['seconds']['min']:.2f} / {b['seconds']['median']:.2f} s | {b['requests']:g} ({b['writes']:g}) | "
            f"{line['ratio']['min']:.1f}× / {line['ratio']['median']:.1f}× |")
    return out


def markdown(lines, machine, elapsed, argv, kubesim=None, missing=(), errors=()):
    out = ["# Benchmark: meshops.istio next to kubectl", "",
           "Written by `make bench` (`python -m scripts.bench" + (" " + " ".join(argv) if argv else "") + "`); "
           "see scripts/bench.py for what each row runs and how the kubectl side gets its objects.", "",
           f"Machine: {machine['cores']} cores, load average {machine['load_before']} before and "
           f"{machine['load_after']} after the run, {machine['date']}, {machine['python']}, "
           f"{machine['ansible']}; the run took {elapsed:.0f} s. "
           "Other work shared the machine: read the ratios, not the seconds.", "",
           "A = meshops.istio (ansible-playbook, start-up included); B = the row's comparison. Wall time min / median "
           "over the repetitions, requests and writes (non-dry-run POST/PUT/PATCH/DELETE) are medians from kubesim's "
           "request log, req/obj = requests per object the row makes.", ""]
    if any(not line["floor"] for line in lines):
        out += markdown_table([line for line in lines if not line["floor"]])
    notes = sorted({f"{line['row']}: {line['note']}" for line in lines if line.get("note")})
    changed = sorted({line["row"] for line in lines if line["phase"] == "converged re-run" and any(line["a"]["changed"])})
    out.append("")
    out += [f"- {note}" for note in notes]
    if changed:
        out.append(f"- Re-runs that reported changes: {', '.join(changed)}.")
    out.append("- Repetitions: the reps column (A/B interleaved; no run starts after the time budget, so the last "
               "settings may have fewer; a fresh kubesim for every run except the release row, which takes a fresh "
               "namespace).")
    if missing:
        out.append("- Not measured (time budget spent): " + "; ".join(missing) + ".")
    out += [f"- Failed: {error}" for error in errors]
    floors = [line for line in lines if line["floor"]]
    if floors:
        out += ["", "## Floors", "",
                "What no module of ours can beat, measured in the same run: A is the row's first side, B the one it is "
                "compared with. A side is run once per repetition and setting and its figures shared by every row it "
                "is in, so the ratios compose (10 istio_namespace vs 10 ping × 10 ping vs 10 debug = the debug row "
                "above). `ansible.builtin.ping` is a module that does nothing: the cost of a module process in "
                "Ansible itself (AnsiballZ payload, a new Python). The one-namespace sides read a namespace that is "
                "already labelled.", ""]
        out += markdown_table(floors)
    measured_goals = [goal for goal in goals(lines) if goal["measured"]]
    if measured_goals:
        settings = sorted({name for goal in measured_goals for name in goal["measured"]},
                          key=lambda name: (int(name.split(" ")[0]), "Mitogen" in name))
        out += ["", "## Goals and floors", "",
                "Issue 11's goals that this run measured, from the medians above; a floor is what the floor row "
                "measured in the same setting: a ratio goal below its floor cannot be met by any playbook of module "
                "tasks. Floor of the bookinfo rows: the one-task floor row's A time (ansible-playbook, start-up "
                "included, running one `kubernetes.core.k8s_info` task) over the row's kubectl time. Not a bench row: "
                "`make test` under 10 minutes (tests/file_weights.json holds the suite's times).", "",
                "| goal | floor row | " + " | ".join(settings) + " |",
                "|---|---|" + "---|" * len(settings)]
        for goal in measured_goals:
            out.append(f"| {goal['goal']} | {goal.get('floor') or '—'} | "
                       + " | ".join(goal_cell(goal, goal["measured"].get(name)) for name in settings) + " |")
    if kubesim:
        out += ["", "## kubesim itself", "", "What the API server's share of the rows above costs (one client, one "
                "keep-alive connection, in the bench's process).", "", "| figure | value |", "|---|---|"]
        out += [f"| {name} | {value:.2f} |" for name, value in kubesim.items()]
    return "\n".join(out) + "\n"


# What follows this line in a bench.md (before / after tables of a change, measured by hand) is kept when the
# table above it is written again.
NOTES_MARK = "<!-- make bench keeps what follows: notes written by hand -->"


def kept_notes(path):
    text = Path(path).read_text() if Path(path).exists() else ""
    return "\n" + text[text.index(NOTES_MARK):] if NOTES_MARK in text else ""


def machine_facts():
    from ansible.release import __version__ as ansible_version

    return {"cores": os.cpu_count(), "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "python": f"Python {platform.python_version()}", "ansible": f"ansible-core {ansible_version}"}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 repetition, 0 ms only (unless given)")
    parser.add_argument("--reps", type=int, help="repetitions (default 3; 1 with --quick)")
    parser.add_argument("--rows", help="comma-separated words; only rows whose name contains one")
    parser.add_argument("--latency", help="injected API latencies in ms, comma-separated (default 0,30)")
    parser.add_argument("--mitogen", choices=["both", "on", "off"], default="both",
                        help="run the Ansible sides with and/or without Mitogen (default both, when installed)")
    parser.add_argument("--budget", type=float, default=540,
                        help="seconds after which no further run starts (default 540, 0 = no limit); the table says "
                             "how many repetitions each line got and which were not measured")
    parser.add_argument("--out", help="where bench.md and bench.json go (default: docs/ for the full table, "
                                      "tests/output/bench/ for a partial one, so the committed table stays whole)")
    args = parser.parse_args(argv)
    reps = args.reps or (1 if args.quick else 3)
    latencies = [int(x) for x in args.latency.split(",")] if args.latency else ([0] if args.quick else [0, 30])
    accelerators = {"both": [False, True], "on": [True], "off": [False]}[args.mitogen]
    if True in accelerators and not mitogen_env():
        if args.mitogen == "on":
            raise SystemExit("bench: --mitogen on, but mitogen is not installed in this Python (pip install mitogen)")
        print("bench: mitogen is not installed; measuring without it", flush=True)
        accelerators = [False]
    machine = machine_facts()
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="meshops-bench-"))
    bench = Bench(work, reps, latencies, accelerators)
    kubesim = None
    try:
        rows = bench.rows()
        if args.rows:
            words = [w.strip().lower() for w in args.rows.split(",") if w.strip()]
            rows = [r for r in rows if any(w in r.name.lower() or (w == "floor" and r.floor) for w in words)]
        if not rows and "kubesim" not in args.rows:
            raise SystemExit(f"bench: no row matches {args.rows!r}")
        deadline = started + args.budget if args.budget else float("inf")
        results = measure(bench, rows, deadline)
        if not args.rows or "kubesim" in args.rows:
            kubesim = kubesim_figures(work)
    finally:
        bench.close()
        shutil.rmtree(work, ignore_errors=True)
    elapsed = time.monotonic() - started
    machine["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = table(rows, results)
    missing = [f"{row.name}, {latency} ms" + (", Mitogen" if accelerated else "")
               for latency in latencies for accelerated in accelerators for index, row in enumerate(rows)
               if (index, row.phases[0], latency, accelerated) not in results]
    text = markdown(lines, machine, elapsed, argv, kubesim, missing, bench.errors)
    partial = args.quick or args.rows or args.reps or args.latency or args.mitogen != "both"
    out = Path(args.out or (REPO / "tests" / "output" / "bench" if partial else REPO / "docs"))
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.md").write_text(text + kept_notes(out / "bench.md"))
    (out / "bench.json").write_text(json.dumps({"machine": machine, "seconds": elapsed, "argv": argv, "rows": lines,
                                                "goals": goals(lines), "not_measured": missing, "failed": bench.errors,
                                                "kubesim": kubesim}, indent=2) + "\n")
    print("\n" + text)
    print(f"bench: wrote {out / 'bench.md'} and {out / 'bench.json'}")
    return 1 if bench.errors else 0


if __name__ == "__main__":
    sys.exit(main())
