"""The modules' EXAMPLES as runnable tasks: parsing the `# test ...:` comments, building the prerequisites
they name on simulated clusters, turning them into playbooks, and judging the results.

The comment syntax (docs/DEVELOPING.md, "Executable documentation") - lines at the start of a line,
right above the task they belong to:

    # test needs: <prerequisite>[, <prerequisite>...]     names from PREREQUISITES below
    # test runs with: <option.path>=<value>[, ...]         only to make waits short (reported)
    # test expects: result: <JMESPath> == <YAML value>     on the task's result
    # test expects: <Kind> [<namespace>/]<name> [in <context>]: <JMESPath> == <YAML value>
    # test expects: <Kind> [<namespace>/]<name> [in <context>] absent
    # test expects: file <path>                            a file the task wrote (~ is the test's HOME)
    # test cannot run: <reason>                            not run; the test reports the reason
"""
import ast
import base64
import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import jmespath
import yaml
from jmespath import functions

REPO = Path(__file__).resolve().parents[2]
MODULES = REPO / "plugins" / "modules"
COLLECTION = "meshops.istio."
TEST_LINE = re.compile(r"^# test (?P<key>[a-z ]+?): (?P<value>.+)$")
KEYS = ("needs", "runs with", "expects", "cannot run")
OBJECT_EXPECT = re.compile(r"^(?P<kind>[A-Z]\w+) (?:(?P<namespace>[\w.-]+)/)?(?P<name>[\w.-]+)"
                           r"(?: in (?P<context>[\w-]+))?(?:(?P<absent> absent)|: (?P<path>.+?) "
                           r"(?P<op>==|!=) (?P<value>.+))?$")
RESULT_EXPECT = re.compile(r"^result: (?P<path>.+?) (?P<op>==|!=) (?P<value>.+)$")
# The API version the expectations read each kind at.
API_VERSIONS = {
    "Namespace": "v1", "Secret": "v1", "ConfigMap": "v1", "Service": "v1", "ServiceAccount": "v1",
    "Deployment": "apps/v1", "VirtualService": "networking.istio.io/v1", "DestinationRule": "networking.istio.io/v1",
    "Gateway": "networking.istio.io/v1", "HTTPRoute": "gateway.networking.k8s.io/v1",
}
# The options that name a Prometheus, per module: the test points them at the simulated one.
PROMETHEUS_URL_OPTIONS = {"istio_release": "prometheus.url", "istio_burst": "prometheus.url",
                          "prometheus_query": "url"}
# Keys Ansible adds to every module result; RETURN documents the module's own.
ANSIBLE_RESULT_KEYS = {"changed", "failed", "msg", "invocation", "warnings", "deprecations", "skipped",
                       "skip_reason", "item", "ansible_loop_var", "_ansible_no_log", "diff", "exception"}
# How the test names the clusters (contexts of ~/.kube/config): "primary" is current.
CONTEXTS = ("primary", "burst")
# The meshops.istio.clusters inventory the "clusters inventory" prerequisite runs on (docs/multicluster.md's).
INVENTORY_CLUSTERS = [
    {"name": "onprem", "context": "primary", "role": "primary", "network": "network1",
     "api_server": "https://onprem.example.com:6443"},
    {"name": "burst", "context": "burst", "role": "primary", "network": "network1",
     "api_server": "https://burst.example.com:6443"},
]
# Prerequisites that describe the clusters rather than state in them: sharing one does not make runs depend
# on each other.
SHARED_SETTINGS = ("clusters primary and burst in ~/.kube/config", "clusters inventory")
PROMETHEUS_TOKEN = "token-the-simulated-prometheus-ignores"


class ExampleError(ValueError):
    """An EXAMPLES block the test cannot read: says which example and what to write instead."""


@dataclass
class Example:
    module: str
    index: int
    task: dict
    needs: list = field(default_factory=list)
    runs_with: dict = field(default_factory=dict)
    expects: list = field(default_factory=list)
    cannot_run: str = None

    @property
    def id(self):
        return "%s#%d" % (self.module, self.index)

    @property
    def name(self):
        return self.task.get("name", "")

    @property
    def action(self):
        keys = [k for k in self.task if "." in k]
        return keys[0] if keys else None

    @property
    def ours(self):
        return (self.action or "").startswith(COLLECTION)

    @property
    def on_inventory(self):
        return "clusters inventory" in self.needs


def examples_text(path):
    for node in ast.parse(Path(path).read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "EXAMPLES":
            return node.value.value
    raise ExampleError("%s has no EXAMPLES string" % path)


def parse(module, text):
    """[Example] of one EXAMPLES block, each with the `# test ...:` lines right above it."""
    chunks, pending, current = [], [], None
    for number, line in enumerate(text.splitlines(), 1):
        match = TEST_LINE.match(line)
        if match:
            if match["key"] not in KEYS:
                raise ExampleError("%s EXAMPLES line %d: unknown '# test %s:'; use one of %s."
                                   % (module, number, match["key"], ", ".join("'# test %s:'" % k for k in KEYS)))
            pending.append((match["key"], match["value"].strip()))
        elif line.startswith("- "):
            current = {"lines": [line], "tests": pending}
            chunks.append(current)
            pending = []
        elif line.startswith("#") or not line.strip() or current is None:
            continue
        else:
            current["lines"].append(line)
    if pending:
        raise ExampleError("%s EXAMPLES: '# test' lines after the last task" % module)
    out = []
    for index, chunk in enumerate(chunks, 1):
        (task,) = yaml.safe_load("\n".join(chunk["lines"]))
        example = Example(module, index, task)
        for key, value in chunk["tests"]:
            if key == "needs":
                example.needs += [n.strip() for n in value.split(",")]
            elif key == "runs with":
                for item in value.split(","):
                    option, _, raw = item.strip().partition("=")
                    example.runs_with[option] = yaml.safe_load(raw)
            elif key == "expects":
                example.expects.append(parse_expect(example, value))
            else:
                example.cannot_run = value
        unknown = [n for n in example.needs if n not in PREREQUISITES]
        if unknown:
            raise ExampleError("%s needs %s, which the test cannot build; known: %s."
                               % (example.id, ", ".join(unknown), "; ".join(PREREQUISITES)))
        out.append(example)
    return out


def parse_expect(example, text):
    if text.startswith("file "):
        return dict(type="file", path=text[5:].strip(), text=text)
    match = RESULT_EXPECT.match(text)
    if match:
        return dict(type="result", path=jmespath.compile(match["path"]), op=match["op"],
                    value=yaml.safe_load(match["value"]), text=text)
    match = OBJECT_EXPECT.match(text)
    if match and match["kind"] in API_VERSIONS:
        return dict(type="object", kind=match["kind"], api_version=API_VERSIONS[match["kind"]],
                    namespace=match["namespace"], name=match["name"], context=match["context"] or CONTEXTS[0],
                    absent=bool(match["absent"]), path=jmespath.compile(match["path"]) if match["path"] else None,
                    op=match["op"], value=yaml.safe_load(match["value"]) if match["value"] else None, text=text)
    raise ExampleError("%s: cannot read '# test expects: %s'; write 'result: <JMESPath> == <value>', "
                       "'<Kind> [<namespace>/]<name> [in <context>]: <JMESPath> == <value>' (kinds: %s), "
                       "'... absent' or 'file <path>'." % (example.id, text, ", ".join(API_VERSIONS)))


def all_examples():
    out = []
    for path in sorted(MODULES.glob("*.py")):
        if path.stem != "__init__":
            out += parse(path.stem, examples_text(path))
    return out


def module_doc(module, name):
    for node in ast.parse((MODULES / ("%s.py" % module)).read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == name:
            return yaml.safe_load(node.value.value) or {}
    return {}


# -- JMESPath with one function of ours: the kubeconfig inside a remote secret's data key --------------

class _Functions(functions.Functions):
    @functions.signature({"types": ["string"]})
    def _func_kubeconfig(self, data):
        return yaml.safe_load(base64.b64decode(data))


JMES = jmespath.Options(custom_functions=_Functions())


def holds(expect, document):
    value = expect["path"].search(document, options=JMES)
    ok = value == expect["value"] if expect["op"] == "==" else value != expect["value"]
    return ok, value


# -- prerequisites ---------------------------------------------------------------------------------
# Each builds state on the simulated clusters before the examples run; env is tests/docs/test_examples.py's
# ExampleEnv (clusters, meshsim, Prometheus, HOME).

def _bookinfo(env):
    from sim.meshsim import bookinfo
    bookinfo.seed(env.primary, "bookinfo", destination_rules=True, virtual_services=["virtual-service-all-v1.yaml"])


def _reviews_traffic(env):
    env.mesh().add_service("reviews", "bookinfo", rate=200, versions=["v1", "v2", "v3"],
                           source_workload="productpage-v1")
    env.wait_traffic('sum(rate(istio_requests_total{destination_service_name="reviews"}[5s])) > 100')


def _worker(env):
    from tests.integration.burst_support import worker_routing, worker_versions
    env.primary.create_objects([o for o in worker_routing("default") if o["kind"] != "Namespace"])
    env.mesh().add_service("worker-service", "default", rate=25, versions=worker_versions(),
                           source_workload="frontend-deployment")
    env.wait_traffic('sum(rate(istio_requests_total{reporter="destination",destination_service='
                     '"worker-service.default.svc.cluster.local",source_workload="frontend-deployment"}[15s])) > 16')


def _checkout(env):
    api = API_VERSIONS["VirtualService"]
    host = "checkout.shop.svc.cluster.local"
    env.primary.create_objects([
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "checkout", "namespace": "shop"},
         "spec": {"selector": {"app": "checkout"}, "ports": [{"name": "http", "port": 80}]}},
        {"apiVersion": api, "kind": "DestinationRule", "metadata": {"name": "checkout", "namespace": "shop"},
         "spec": {"host": "checkout", "subsets": [{"name": "onprem", "labels": {"site": "onprem"}},
                                                  {"name": "cloud", "labels": {"site": "cloud"}}]}},
        {"apiVersion": api, "kind": "VirtualService", "metadata": {"name": "checkout", "namespace": "shop"},
         "spec": {"hosts": ["checkout"], "http": [{"route": [
             {"destination": {"host": host, "subset": "onprem"}, "weight": 0},
             {"destination": {"host": host, "subset": "cloud"}, "weight": 100}]}]}},
    ])


def _gateway_api(env):
    from tests.conftest import REFERENCE
    from sim.meshsim import bookinfo
    folder = REFERENCE / "gateway-api" / "config" / "crd" / "standard"
    crds = [doc for kind in ("gatewayclasses", "gateways", "httproutes", "referencegrants")
            for doc in yaml.safe_load_all((folder / ("gateway.networking.k8s.io_%s.yaml" % kind)).read_text()) if doc]
    env.primary.create_objects(crds)
    bookinfo.seed(env.primary, "bookstore", destination_rules=False)


def _reviews_http_route(env):
    """Istio's Gateway API samples (per-version Services, HTTPRoute reviews all to v1) in namespace bookshop."""
    from tests.conftest import REFERENCE
    from sim.meshsim import bookinfo
    samples = REFERENCE / "istio" / "samples" / "bookinfo"
    bookinfo.seed(env.primary, "bookshop", destination_rules=False)
    docs = [doc for doc in yaml.safe_load_all((samples / "bookinfo-versions.yaml").read_text())
            if doc and doc["metadata"]["name"].startswith("reviews-")]
    docs += [doc for doc in yaml.safe_load_all((samples / "gateway-api" / "route-reviews-v1.yaml").read_text()) if doc]
    env.primary.create_objects([dict(doc, metadata=dict(doc["metadata"], namespace="bookshop")) for doc in docs])
    env.mesh().add_service("reviews", "bookshop", rate=100, versions=["v1", "v2", "v3"],
                           source_workload="productpage-v1")
    env.wait_traffic('sum(rate(istio_requests_total{destination_service_namespace="bookshop",'
                     'destination_service_name="reviews"}[5s])) > 50')


def _istiod(env):
    from sim.webhook_support import istiod
    istiod(env.primary, image="docker.io/istio/pilot:1.27.3")


def _workloads(env):
    objects = []
    for namespace, name in (("frontend", "web"), ("backend", "api")):
        labels = {"app": name}
        objects += [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}},
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
             "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
                 "metadata": {"labels": labels},
                 "spec": {"containers": [{"name": name, "image": "registry.example/%s:1" % name}]}}}},
        ]
    env.primary.create_objects(objects)


def _scratch(env):
    env.primary.create_objects([
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "scratch"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "notes", "namespace": "scratch"},
         "data": {"a": "b"}}])


def _mesh_root(env):
    from ansible_collections.meshops.istio.plugins.module_utils import multicluster as mc
    cert, key = mc.new_root_ca(organization="Example", common_name="Mesh Root CA", key_type="ec", key_size=256)
    folder = env.home / "mesh-ca"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "root-cert.pem").write_text(cert)
    (folder / "root-key.pem").write_text(key)
    (folder / "root-key.pem").chmod(0o600)


def _istio_system(env):
    for sim in env.clusters.values():
        if sim.get_object("v1", "Namespace", "istio-system") is None:
            sim.create_objects([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}}])


def _nothing(env):
    """Always there: ~/.kube/config holds both clusters, and the inventory lists them."""


PREREQUISITES = {
    "bookinfo": ("namespace bookinfo with Bookinfo's Services, the DestinationRules of destination-rule-all.yaml "
                 "and the VirtualServices of virtual-service-all-v1.yaml", _bookinfo),
    "reviews traffic": ("simulated traffic to reviews in bookinfo (200 req/s over v1/v2/v3 as routed, no errors), "
                        "scraped by a real Prometheus", _reviews_traffic),
    "worker": ("the hash app's worker routing in namespace default (primary 100 / burst 0) and 25 req/s from "
               "frontend-deployment to it, scraped by Prometheus", _worker),
    "checkout": ("namespace shop with Service checkout, DestinationRule checkout (subsets onprem, cloud) and "
                 "VirtualService checkout sending all to cloud; no traffic", _checkout),
    "gateway api": ("the Gateway API CRDs (v1.6.1 standard, from ../shared/reference) and namespace bookstore with "
                    "Bookinfo's Services, no routing", _gateway_api),
    "reviews on an HTTPRoute": ("namespace bookshop with Bookinfo's Services, reviews-v1/v2/v3 of "
                                "bookinfo-versions.yaml, HTTPRoute reviews of route-reviews-v1.yaml (needs gateway "
                                "api first) and 100 req/s to reviews as routed, scraped by Prometheus",
                                _reviews_http_route),
    "istiod 1.27.3": ("istiod of Istio 1.27.3 (default revision) in istio-system", _istiod),
    "workloads in frontend and backend": ("namespaces frontend and backend with a Deployment each (web, api)",
                                          _workloads),
    "namespace scratch with a ConfigMap": ("namespace scratch holding a ConfigMap", _scratch),
    "mesh root in ~/mesh-ca": ("a root CA made elsewhere (CN=Mesh Root CA, O=Example): root-cert.pem and "
                               "root-key.pem in ~/mesh-ca", _mesh_root),
    "istio-system on both clusters": ("namespace istio-system on both clusters, as before Istio is installed",
                                      _istio_system),
    "clusters primary and burst in ~/.kube/config": ("~/.kube/config with contexts primary (current) and burst, "
                                                     "two simulated clusters", _nothing),
    "clusters inventory": ("the task runs on every host of a meshops.istio.clusters inventory: onprem (context "
                           "primary) and burst (context burst), both primaries, with api_server set", _nothing),
}


# -- playbooks -------------------------------------------------------------------------------------

def _set(options, dotted, value):
    keys = dotted.split(".")
    for key in keys[:-1]:
        options = options.setdefault(key, {})
    options[keys[-1]] = value


def _get(options, dotted):
    for key in dotted.split("."):
        if not isinstance(options, dict) or key not in options:
            return None
        options = options[key]
    return options


def runnable_task(example, prometheus_url):
    """The example's task as the test runs it: its name tagged with its id, the Prometheus pointed at the
    simulated one, and the `runs with` options applied."""
    task = json.loads(json.dumps(example.task))
    task["name"] = "[%s] %s" % (example.id, example.name)
    args = task.get(example.action)
    if isinstance(args, dict):
        option = PROMETHEUS_URL_OPTIONS.get(example.module)
        if option and _get(args, option):
            _set(args, option, prometheus_url)
        for option, value in example.runs_with.items():
            if _get(args, option) is None:
                raise ExampleError("%s: 'test runs with: %s' names an option the example does not set"
                                   % (example.id, option))
            _set(args, option, value)
    return task


def snapshot_tasks(example, kubeconfig):
    """One task per object the example's expectations read, right after it: the object as the cluster then
    holds it (the kubernetes.core.k8s lookup runs in the controller, no module process)."""
    tasks, seen = [], set()
    for expect in example.expects:
        if expect["type"] != "object":
            continue
        key = (expect["kind"], expect["namespace"], expect["name"], expect["context"])
        if key in seen:
            continue
        seen.add(key)
        where = ", namespace=%r" % expect["namespace"] if expect["namespace"] else ""
        lookup = ("lookup('kubernetes.core.k8s', api_version=%r, kind=%r, resource_name=%r%s, kubeconfig=%r, "
                  "context=%r)" % (expect["api_version"], expect["kind"], expect["name"], where, str(kubeconfig),
                                   expect["context"]))
        tasks.append({"name": "[%s] snapshot %s" % (example.id, "/".join(k or "" for k in key)),
                      "ansible.builtin.set_fact": {"__snapshot": "{{ %s }}" % lookup},
                      "run_once": True})
    return tasks


def plays(examples, kubeconfig, prometheus_url):
    """Plays of consecutive examples that run on the same hosts, in the order of the EXAMPLES blocks."""
    out = []
    for example in examples:
        if example.cannot_run:
            continue
        hosts = "primary" if example.on_inventory else example.module
        if not out or out[-1]["hosts"] != hosts or out[-1]["_module"] != example.module:
            out.append({"_module": example.module, "name": "Examples of %s" % example.module, "hosts": hosts,
                        "gather_facts": False,
                        "vars": {"prometheus_token": PROMETHEUS_TOKEN},
                        # What the collection's playbooks pass to every module.
                        "module_defaults": {"group/meshops.istio.istio": {
                            "kubeconfig": "{{ kubeconfig | default(omit, true) }}",
                            "context": "{{ context | default(omit, true) }}"}},
                        "tasks": []})
        task = runnable_task(example, prometheus_url)
        out[-1]["tasks"].append(task)
        if example.ours:
            # The json callback writes the task's action over a result key of that name (istio_precheck
            # returns one), so the result is judged from a copy.
            task.setdefault("register", "__example_result")
            out[-1]["tasks"].append({"name": "[%s] result" % example.id,
                                     "ansible.builtin.set_fact": {"__result": "{{ %s }}" % task["register"]}})
        out[-1]["tasks"] += snapshot_tasks(example, kubeconfig)
    for play in out:
        del play["_module"]
    return out


def inventory(directory, kubeconfig, modules):
    """Static hosts, one per module (a failure ends only that module's examples), plus the clusters inventory."""
    hosts = dict((m, {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                      "kubeconfig": str(kubeconfig), "context": CONTEXTS[0]}) for m in modules)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "examples.yml").write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    (directory / "mesh.clusters.yml").write_text(yaml.safe_dump(
        {"plugin": "meshops.istio.clusters", "kubeconfig": str(kubeconfig), "mesh_id": "mesh1",
         "clusters": INVENTORY_CLUSTERS}, sort_keys=False))
    return directory


def run_playbook(path, inventory_dir, env):
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory_dir), str(path)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(path.parent), timeout=900,
                          check=False)


# -- judging ---------------------------------------------------------------------------------------

def task_results(callback_output):
    """{task name: {host: result}} from the ansible.posix.json callback's output."""
    data = json.loads(callback_output[callback_output.index("{"):])
    out = {}
    for play in data.get("plays", []):
        for task in play.get("tasks", []):
            out.setdefault(task["task"]["name"], {}).update(task.get("hosts", {}))
    return out


def return_problems(example, result):
    """Keys of a result that RETURN does not document, and `returned: always` keys it lacks."""
    if not example.ours or result.get("failed") or result.get("skipped"):
        return []
    documented = module_doc(example.module, "RETURN")
    # A looped task's result holds one result per item under `results`; a module may return `results` of its own.
    looped = any(key == "loop" or key.startswith("with_") for key in example.task)
    items = result["results"] if looped and isinstance(result.get("results"), list) else [result]
    problems = []
    for item in items:
        keys = set(k for k in item if not k.startswith("_ansible") and k not in ANSIBLE_RESULT_KEYS)
        undocumented = sorted(keys - set(documented))
        missing = sorted(k for k, d in documented.items() if d.get("returned") == "always" and k not in item)
        if undocumented:
            problems.append("result keys not in RETURN: %s" % ", ".join(undocumented))
        if missing:
            problems.append("RETURN says always, but the result lacks: %s" % ", ".join(missing))
    return problems


def judge(example, results, home):
    """Problems of one example after the run ([] = it ran as documented)."""
    name = "[%s] %s" % (example.id, example.name)
    by_host = results.get(name)
    if not by_host:
        return ["not reached: an earlier example of %s failed" % example.module]
    problems = []
    for host, result in by_host.items():
        if result.get("failed") or result.get("unreachable"):
            return ["failed on %s: %s" % (host, result.get("msg"))]
    copies = results.get("[%s] result" % example.id)
    if copies:
        by_host = dict((host, r["ansible_facts"]["__result"]) for host, r in copies.items())
    for result in by_host.values():
        problems += return_problems(example, result)
    for expect in example.expects:
        if expect["type"] == "result":
            for host, result in by_host.items():
                ok, value = holds(expect, result)
                if not ok:
                    problems.append("expected %s; it is %r (on %s)" % (expect["text"], value, host))
        elif expect["type"] == "file":
            path = Path(expect["path"].replace("~", str(home), 1))
            if not path.is_file():
                problems.append("expected %s; there is no %s" % (expect["text"], path))
        else:
            key = "/".join(k or "" for k in (expect["kind"], expect["namespace"], expect["name"], expect["context"]))
            snaps = results.get("[%s] snapshot %s" % (example.id, key)) or {}
            facts = [r.get("ansible_facts", {}).get("__snapshot") for r in snaps.values()]
            if not facts:
                problems.append("expected %s; the object was not read" % expect["text"])
                continue
            found = facts[0]
            found = found[0] if isinstance(found, list) and found else (found or None)
            if expect["absent"]:
                if found:
                    problems.append("expected %s; it exists" % expect["text"])
            elif not found:
                problems.append("expected %s; the object does not exist" % expect["text"])
            elif expect["path"] is not None:
                ok, value = holds(expect, found)
                if not ok:
                    problems.append("expected %s; it is %r, in %s" % (expect["text"], value,
                                                                      json.dumps(found.get("spec", found))[:1500]))
    return problems
