"""What the control plane, gateways and addons integration tests share: chart sets, playbooks, object views."""
import json
import shutil
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from sim.charts.build import build_chart_set
from tests.conftest import REPO, ansible_env, run_ansible_playbook, write_inventory
from tests.standins import ADDONS, HAS_REFERENCE, istio_crds

# Versions of the project's test charts (sim/charts) and of the packagings of Istio's real charts.
OLD, NEW = "1.25.0", "1.26.0"
REAL_OLD, REAL_NEW = "1.27.0", "1.28.0"
REFERENCE = REPO.parent / "shared" / "reference"
# Istio's charts, by chart name, where an unpacked Istio release keeps them (manifests/charts/...).
REAL_CHARTS = {"base": "base", "istiod": "istio-control/istio-discovery", "gateway": "gateway", "cni": "istio-cni",
               "ztunnel": "ztunnel"}
HELM = str(REPO / ".tools" / "bin" / "helm")
PLAYBOOKS = REPO / "tests" / "integration" / "playbooks"
MWC = ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration")
VWC = ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration")
CRD = ("apiextensions.k8s.io/v1", "CustomResourceDefinition")
HELM_RELEASE_TYPE = "helm.sh/release.v1"
# Istio's addon manifests where ../shared/reference is present (CI), else the project's stand-ins: the addons
# role's behaviour is tested on both; tests/unit/test_standins.py keeps the two alike.
ADDONS_DIR = str(REFERENCE / "istio" / "samples" / "addons" if HAS_REFERENCE else ADDONS)


def reference(*parts):
    """A path under ../shared/reference; the test is skipped (with the reason) when it is not there."""
    path = REFERENCE.joinpath(*parts)
    if not path.exists():
        pytest.skip("../shared/reference not found: %s is missing (tests that use Istio's upstream files need it; "
                    "CI always has it)" % path)
    return path


def real_chart_dir():
    """Istio's real charts, laid out as in an Istio release: manifests/charts."""
    return reference("istio", "manifests", "charts")


def package_real_charts(dest, version, charts=tuple(REAL_CHARTS)):
    """Istio's real charts packaged as <chart>-<version>.tgz in ``dest`` (their Chart.yaml says 1.0.0, as on
    Istio's main branch; a release says its own version, which is what --version/--app-version give)."""
    source = real_chart_dir()
    Path(dest).mkdir(parents=True, exist_ok=True)
    for chart in charts:
        subprocess.run([HELM, "package", str(source / REAL_CHARTS[chart]), "--version", version, "--app-version", version,
                        "-d", str(dest)], check=True, capture_output=True, text=True)
    return str(dest)


def real_release_charts(dest, version):
    """A copy of the real manifests/charts directory as an unpacked Istio ``version`` release has it."""
    dest = Path(dest)
    shutil.copytree(real_chart_dir(), dest)
    for chart_yaml in dest.rglob("Chart.yaml"):
        meta = yaml.safe_load(chart_yaml.read_text())
        meta["version"] = meta["appVersion"] = version
        chart_yaml.write_text(yaml.safe_dump(meta, sort_keys=False))
    return str(dest)


def build_charts(root, crds=None):
    """Test charts shaped like Istio's: {version: unpacked dir} for OLD and NEW, and "tgz": a directory
    holding <chart>-<version>.tgz of both versions (what `helm pull` leaves for air-gapped installs).
    ``crds``: the CRD file of the base chart (default: Istio's from the reference, else the stand-ins)."""
    root = Path(root)
    crds = crds or istio_crds()
    charts = {version: str(build_chart_set(root / version, version, crds)) for version in (OLD, NEW)}
    for version in (OLD, NEW):
        build_chart_set(root / "tgz", version, crds, package=True, helm=HELM)
    charts["tgz"] = str(root / "tgz")
    return charts


def writes_since(sim, start):
    """Writes (as kubesim counts them: access reviews excluded) after index ``start`` of the request log."""
    recent = set(id(r) for r in sim.request_log[start:])
    return [r for r in sim.writes() if id(r) in recent]


def names(sim, api_version, kind, namespace=None):
    return sorted(o["metadata"]["name"] for o in sim.list_objects(api_version, kind, namespace))


def istio_webhooks(sim):
    return names(sim, *MWC) + names(sim, *VWC)


def helm_releases(sim, namespace="istio-system"):
    """{release name: chart version label} from Helm's release Secrets (latest deployed revision)."""
    out = {}
    for secret in sim.list_objects("v1", "Secret", namespace):
        labels = secret["metadata"].get("labels") or {}
        if secret.get("type") == HELM_RELEASE_TYPE and labels.get("status") == "deployed":
            out[labels["name"]] = labels.get("version")
    return out


def image(sim, name, namespace="istio-system", kind="Deployment"):
    workload = sim.get_object("apps/v1", kind, name, namespace)
    return workload["spec"]["template"]["spec"]["containers"][0]["image"] if workload else None


def injector_values(sim, revision="", namespace="istio-system"):
    """The values istiod's injector renders sidecars and gateway proxies from (its ConfigMap); the gateway
    chart's Deployment says image: auto and the injector gives the pod the proxyv2 image of these values."""
    name = "istio-sidecar-injector" + ("-" + revision if revision else "")
    config = sim.get_object("v1", "ConfigMap", name, namespace)
    return json.loads(config["data"]["values"]) if config else None


def managers(obj):
    return sorted({entry["manager"] for entry in obj["metadata"].get("managedFields") or []})


def task_result(run, name):
    """The last result of the task called ``name`` (with or without its "role : " prefix)."""
    found = [r for task, _host, r in run.tasks if task == name or task.endswith(" : " + name)]
    assert found, "no task named %r ran; tasks: %s" % (name, sorted({task[0] for task in run.tasks}))
    return found[-1]


def changed_tasks(run):
    """Names of the tasks that reported a change (for assertion messages)."""
    return [task for task, _host, result in run.tasks if result.get("changed")]


def debug_msg(run, name):
    return task_result(run, name)["msg"]


class Timer:
    def __enter__(self):
        self.start = time.monotonic()
        return self

    def __exit__(self, *exc):
        self.seconds = round(time.monotonic() - self.start, 1)


def requests_of(sim, since=0):
    """Request counts after index ``since`` of the request log: total, writes (as kubesim counts them: access
    reviews store nothing), dry runs, access reviews, by method."""
    log = sim.request_log[since:]
    by_method = {}
    for record in log:
        by_method[record.method] = by_method.get(record.method, 0) + 1
    reviews = [r for r in log if r.path.endswith(("/selfsubjectaccessreviews", "/subjectaccessreviews", "/tokenreviews"))]
    writes = [r for r in log if r.method in ("POST", "PUT", "PATCH", "DELETE") and not r.dry_run and r not in reviews]
    return dict(total=len(log), writes=len(writes), dry_runs=sum(1 for r in log if r.dry_run),
                access_reviews=len(reviews), by_method=by_method)


def write_istioctl_stand_in(directory, version):
    """A stand-in istioctl that records its arguments (one JSON list per line) and answers `version`.

    It installs nothing: tests use it only to check the arguments and the IstioOperator file the role builds."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "istioctl-calls.jsonl"
    script = directory / "istioctl"
    script.write_text(textwrap.dedent("""\
        #!%s
        import json, sys
        with open(%r, "a") as log:
            log.write(json.dumps(sys.argv[1:]) + "\\n")
        if sys.argv[1:2] == ["version"]:
            print(%r)
        """ % (sys.executable, str(log), version)))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script), log


def istioctl_calls(log):
    return [json.loads(line) for line in Path(log).read_text().splitlines()] if Path(log).exists() else []


def wait_until(condition, timeout=15.0, what="condition"):
    """Poll ``condition`` (kubesim's controllers work in the background) until it holds."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(0.1)


def run_once(sim, tmp, playbook, extra_vars):
    """Run a playbook outside a test function (module fixtures that set a cluster up once)."""
    tmp = Path(tmp)
    (tmp / "tmp").mkdir(parents=True, exist_ok=True)
    inventory = write_inventory(tmp / "inventory.yml", [sim])
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", inventory, str(playbook),
           "-e", json.dumps(extra_vars)]
    proc = run_ansible_playbook(cmd, capture_output=True, text=True, env=ansible_env(TMPDIR=str(tmp / "tmp")),
                                cwd=REPO, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:]
    return proc


def seed_istio(sim, version=OLD):
    """What the addons need of an installed Istio, created directly: the istiod Deployment (istio_info finds
    the version from it) and the ingress gateway Service. The cluster must already serve Istio's CRDs."""
    sim.create_objects([
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "istiod", "namespace": "istio-system",
                      "labels": {"app": "istiod", "istio.io/rev": "default", "app.kubernetes.io/version": version}},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "istiod"}}, "template": {
             "metadata": {"labels": {"app": "istiod"}, "annotations": {"sidecar.istio.io/inject": "false"}},
             "spec": {"containers": [{"name": "discovery", "image": "docker.io/istio/pilot:%s" % version}]}}}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "istio-ingressgateway", "namespace": "istio-system",
                      "labels": {"app": "istio-ingressgateway", "istio": "ingressgateway"}},
         "spec": {"type": "LoadBalancer", "selector": {"istio": "ingressgateway"}, "ports": [
             {"name": "status-port", "port": 15021, "targetPort": 15021, "protocol": "TCP"},
             {"name": "http2", "port": 80, "targetPort": 8080, "protocol": "TCP"},
             {"name": "https", "port": 443, "targetPort": 8443, "protocol": "TCP"}]}},
    ])
    return sim
