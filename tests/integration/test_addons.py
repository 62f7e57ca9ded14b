"""The addons role (Istio's samples/addons where ../shared/reference is present, else the project's
stand-ins) by real ansible-playbook against kubesim, and the measured cost of install + addons next to
`kubectl apply --server-side` of the same objects."""
import json
import subprocess

import pytest
import yaml

from tests.conftest import OUTPUT, REPO
from tests.integration import istio_support as s
from tests.integration.istio_support import REAL_OLD

from ansible_collections.meshops.istio.plugins.module_utils import addons as addons_utils
from ansible_collections.meshops.istio.plugins.module_utils import control_plane as cp

API = "networking.istio.io/v1"
DEPLOYMENTS = ["grafana", "jaeger", "kiali", "prometheus"]


@pytest.fixture(scope="module")
def charts(tmp_path_factory):
    """Istio's real base, istiod and gateway charts packaged as REAL_OLD (what the measurement installs)."""
    return s.package_real_charts(tmp_path_factory.mktemp("charts"), REAL_OLD, charts=("base", "istiod", "gateway"))


@pytest.fixture(scope="module")
def cluster(kubesim_istio_module):
    """Istio's CRDs, an istiod and the ingress gateway Service (seeded; the measurement test below installs
    for real)."""
    return s.seed_istio(kubesim_istio_module)


def addon_vars(**extra):
    return dict(dict(addons_source=s.ADDONS_DIR), **extra)


def kiali_services(sim):
    config = yaml.safe_load(sim.get_object("v1", "ConfigMap", "kiali", "istio-system")["data"]["config.yaml"])
    return config["external_services"]


def test_all_four_addons_from_the_reference_files(cluster, run_playbook):
    sim = cluster
    start = len(sim.request_log)
    check = run_playbook("addons.yml", sim, addon_vars(), check=True)
    assert check.rc == 0, check
    assert s.writes_since(sim, start) == []

    first = run_playbook("addons.yml", sim, addon_vars())
    assert first.rc == 0, first
    for name in DEPLOYMENTS:
        deployment = sim.get_object("apps/v1", "Deployment", name, "istio-system")
        assert deployment["status"].get("readyReplicas") == 1, name  # waited for
    # Exactly what the addon files hold (plus nothing of ours but Kiali's wiring).
    for name, spec in addons_utils.ADDONS:
        for doc in yaml.safe_load_all((s.Path(s.ADDONS_DIR) / spec["file"]).read_text()):
            if doc:
                namespace = doc["metadata"].get("namespace")
                assert sim.get_object(doc["apiVersion"], doc["kind"], doc["metadata"]["name"], namespace), (name, doc["kind"])
    services = kiali_services(sim)
    assert services["prometheus"] == {"enabled": True, "url": "http://prometheus.istio-system:9090"}
    assert services["grafana"] == {"enabled": True, "internal_url": "http://grafana.istio-system:3000"}
    assert services["tracing"]["internal_url"] == "http://tracing.istio-system:80/jaeger"
    report = s.debug_msg(first, "Report where to open the addons")
    assert "kiali: http://localhost:20001/kiali (run first: kubectl -n istio-system port-forward svc/kiali 20001:20001)" in report

    again = run_playbook("addons.yml", sim, addon_vars())
    assert again.rc == 0, again
    assert again.changed == 0, s.changed_tasks(again)


def test_exposure_modes_and_switching_an_addon_off(cluster, run_playbook):
    sim = cluster
    params = addon_vars(addons_grafana={"exposure": "nodeport", "node_port": 30300},
                        addons_kiali={"exposure": "ingress", "host": "kiali.example.com"},
                        addons_jaeger={"state": "absent"})
    first = run_playbook("addons.yml", sim, params)
    assert first.rc == 0, first
    grafana = sim.get_object("v1", "Service", "grafana", "istio-system")["spec"]
    assert grafana["type"] == "NodePort" and grafana["ports"][0]["nodePort"] == 30300
    assert sim.get_object("v1", "Service", "kiali", "istio-system")["spec"]["type"] == "ClusterIP"
    gateway = sim.get_object(API, "Gateway", "kiali-gateway", "istio-system")
    assert gateway["spec"]["servers"][0]["hosts"] == ["kiali.example.com"]
    assert gateway["spec"]["selector"] == {"istio": "ingressgateway"}
    route = sim.get_object(API, "VirtualService", "kiali-ui", "istio-system")["spec"]["http"][0]["route"][0]
    assert route["destination"] == {"host": "kiali.istio-system.svc.cluster.local", "port": {"number": 20001}}
    assert sim.get_object("apps/v1", "Deployment", "jaeger", "istio-system") is None
    assert sim.get_object("v1", "Service", "tracing", "istio-system") is None
    services = kiali_services(sim)
    assert services["tracing"]["enabled"] is False
    node = next(a["address"] for n in sim.list_objects("v1", "Node") for a in n["status"]["addresses"]
                if a["type"] == "InternalIP")
    assert services["grafana"]["external_url"] == "http://%s:30300" % node
    report = s.debug_msg(first, "Report where to open the addons")
    assert "grafana: http://%s:30300/ (node port 30300 on any node)" % node in report
    assert "kiali: http://kiali.example.com/kiali (through the ingress gateway; kiali.example.com must resolve to" in report
    assert "jaeger" not in report

    again = run_playbook("addons.yml", sim, params)
    assert again.changed == 0, s.changed_tasks(again)

    # Back to the defaults: the ingress objects go, Grafana is a ClusterIP Service again, Jaeger returns.
    back = run_playbook("addons.yml", sim, addon_vars())
    assert back.rc == 0, back
    assert sim.get_object(API, "Gateway", "kiali-gateway", "istio-system") is None
    assert sim.get_object("v1", "Service", "grafana", "istio-system")["spec"]["type"] == "ClusterIP"
    assert sim.get_object("apps/v1", "Deployment", "jaeger", "istio-system")


def test_bad_addon_settings_are_refused_without_writes(cluster, run_playbook):
    sim = cluster
    start = len(sim.request_log)
    run = run_playbook("addons.yml", sim, addon_vars(addons_kiali={"exposure": "ingress"}))
    assert run.rc != 0
    assert any("addons_kiali.exposure is ingress, which needs a host name the ingress gateway answers for: set "
               "addons_kiali.host" in m for m in run.failed_msgs), run.failed_msgs
    assert s.writes_since(sim, start) == []


def _rendered_objects(charts, tmp_path):
    """What install.yml + addons.yml apply, rendered the same way for kubectl (same charts, same values)."""
    helm = str(REPO / ".tools" / "bin" / "helm")
    settings = dict(namespace="istio-system")
    gateway = cp.gateway_plan([{"name": "istio-ingressgateway", "namespace": "istio-system",
                                "service_type": "LoadBalancer", "replicas": 1}])["present"][0]
    docs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}}]
    for release, chart, values, extra in (
            ("istio-base", "base", cp.chart_values("base", settings), ["--include-crds"]),
            ("istiod", "istiod", cp.chart_values("istiod", settings), []),
            ("istio-ingressgateway", "gateway", gateway["chart_values"], [])):
        values_file = tmp_path / ("%s-values.yaml" % chart)
        values_file.write_text(yaml.safe_dump(values))
        out = subprocess.run([helm, "template", release, "%s/%s-%s.tgz" % (charts, chart, REAL_OLD), "-n", "istio-system",
                              "-f", str(values_file)] + extra, capture_output=True, text=True, check=True).stdout
        docs += [d for d in yaml.safe_load_all(out) if d]
    docs.append(yaml.safe_load((REPO / "roles" / "gateways" / "templates" / "app-gateway.yml.j2").read_text()
                               .replace("{{ _gateways_version | meshops.istio.istio_networking_api }}", API)
                               .replace("{{ gateways_app_gateway_name }}", "meshops-gateway")
                               .replace("{{ gateways_app_gateway_namespace }}", "istio-system")
                               .replace("{{ gateways_app_gateway_selector | to_json }}", '{"istio": "ingressgateway"}')
                               .replace("{{ gateways_app_gateway_http_port }}", "8080")
                               .replace("{{ gateways_app_gateway_hosts | to_json }}", '["*"]')
                               .split("{% if")[0]))
    manifests = dict((name, [d for d in yaml.safe_load_all((s.Path(s.ADDONS_DIR) / spec["file"]).read_text()) if d])
                     for name, spec in addons_utils.ADDONS)
    docs += addons_utils.plan(manifests, {})["apply"]
    return docs


def test_measure_install_and_addons_against_kubectl_server_side(kubesim_factory, run_playbook, charts, tmp_path):
    """API requests and wall time of install.yml + addons.yml (first run, re-run) next to
    `kubectl apply --server-side` of the same rendered objects on a fresh cluster."""
    sim = kubesim_factory("measured")
    measured = {}
    for label in ("first_run", "re_run"):
        for playbook, params in (("install.yml", {"control_plane_version": REAL_OLD, "control_plane_charts": charts}),
                                 ("addons.yml", addon_vars())):
            start = len(sim.request_log)
            with s.Timer() as timer:
                run = run_playbook(playbook, sim, params)
            assert run.rc == 0, run
            if label == "re_run":
                assert run.changed == 0, s.changed_tasks(run)
            measured.setdefault(label, {})[playbook] = dict(s.requests_of(sim, start), seconds=timer.seconds,
                                                            changed_tasks=run.changed)

    reference = kubesim_factory("kubectl")
    docs = _rendered_objects(charts, tmp_path)
    # kubectl maps every kind before applying, so the CRDs go first (as Istio's docs do it), then the rest.
    files = [tmp_path / "crds.yaml", tmp_path / "rest.yaml"]
    files[0].write_text(yaml.safe_dump_all([d for d in docs if d["kind"] == "CustomResourceDefinition"]))
    files[1].write_text(yaml.safe_dump_all([d for d in docs if d["kind"] != "CustomResourceDefinition"]))
    kubectl = {}
    for label in ("first_run", "re_run"):
        start = len(reference.request_log)
        with s.Timer() as timer:
            for manifest in files:
                # --validate=false: kubesim cannot serve the OpenAPI v3 document of apiextensions.k8s.io/v1 that
                # kubectl's client-side validation downloads (reported); the API server validates the objects anyway.
                proc = subprocess.run(["kubectl", "--kubeconfig", reference.kubeconfig_path, "apply", "--server-side",
                                       "--force-conflicts", "--validate=false", "--field-manager", "kubectl-measure",
                                       "-f", str(manifest)], capture_output=True, text=True, check=False)
                assert proc.returncode == 0, proc.stderr
        kubectl[label] = dict(s.requests_of(reference, start), seconds=timer.seconds)
    # The same objects ended up in both clusters.
    for doc in docs:
        meta = doc["metadata"]
        assert sim.get_object(doc["apiVersion"], doc["kind"], meta["name"], meta.get("namespace")), (doc["kind"], meta)

    report = dict(objects=len(docs), ansible=measured, kubectl_apply_server_side=kubectl,
                  note="ansible: install.yml (control plane via helm + ingress gateway + shared Gateway, with precheck, "
                       "waits, webhook probe and reports) then addons.yml (four addons, waited for); kubectl: one "
                       "`kubectl apply --server-side --validate=false` of the CRDs, then one of every other rendered object; no "
                       "waiting, no Helm releases.")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "control_plane_measurements.json").write_text(json.dumps(report, indent=2))
    print("\ncontrol plane + addons measurements:\n" + json.dumps(report, indent=2))
    total = dict((label, sum(m["total"] for m in measured[label].values())) for label in measured)
    assert total["re_run"] > 0 and kubectl["first_run"]["total"] > 0
