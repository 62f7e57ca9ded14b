"""control_plane_platform=openshift by real ansible-playbook and real helm against a kubesim that serves
OpenShift's Route and SecurityContextConstraints APIs (sim/kubesim/openshift.py).

What the charts get is checked against Istio's own files/profile-platform-openshift.yaml of the reference
charts, read here, never a copy: the rendered objects must carry what that profile says."""
import json
import subprocess

import pytest
import yaml

from tests.integration import istio_support as s
from tests.integration.istio_support import REAL_OLD

DAEMONSETS = ("apps/v1", "DaemonSet")
ROUTE = ("route.openshift.io/v1", "Route")
NAD = ("k8s.cni.cncf.io/v1", "NetworkAttachmentDefinition")
ADDON_ROUTES = ["grafana", "jaeger", "kiali", "prometheus"]
APPS = "apps.kubesim.example"


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """Istio's real base, istiod, istio-cni and gateway charts packaged as REAL_OLD."""
    return s.package_real_charts(tmp_path_factory.mktemp("real-charts"), REAL_OLD,
                                 charts=("base", "istiod", "cni", "gateway"))


@pytest.fixture
def openshift(kubesim_factory):
    return kubesim_factory("ocp", openshift=True)


def profile():
    """Istio's OpenShift platform profile, as the real istio-cni chart ships it."""
    return yaml.safe_load(s.reference("istio", "manifests", "charts", "istio-cni", "files",
                                      "profile-platform-openshift.yaml").read_text())


def leaves(tree, prefix=()):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from leaves(value, prefix + (key,))
        else:
            yield prefix + (key,), value


def dig(tree, path):
    for key in path:
        tree = (tree or {}).get(key)
    return tree


def helm_values(sim, release, namespace):
    out = subprocess.run([s.HELM, "--kubeconfig", str(sim.kubeconfig_path), "get", "values", release, "-n", namespace,
                          "-o", "json"], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def install_vars(charts, **extra):
    return dict(dict(control_plane_version=REAL_OLD, control_plane_charts=charts, control_plane_platform="openshift",
                     addons_source=s.ADDONS_DIR, addons_grafana={"exposure": "nodeport"},
                     addons_kiali={"exposure": "route", "host": "kiali.example.com", "tls": "edge"},
                     addons_prometheus={"exposure": "route"}, addons_jaeger={"exposure": "route"},
                     mesh_namespace_list=[{"name": "shop"}, {"name": "plain", "injection": "disabled"}]), **extra)


def assert_openshift_profile_applied(sim):
    """The objects carry what Istio's OpenShift profile says (its paths, provider, SCC use)."""
    want = profile()
    cni = sim.get_object(*DAEMONSETS, "istio-cni-node", "kube-system")
    assert cni is not None and s.names(sim, *DAEMONSETS, "istio-system") == []
    paths = {v["name"]: v["hostPath"]["path"] for v in cni["spec"]["template"]["spec"]["volumes"] if "hostPath" in v}
    assert paths["cni-bin-dir"] == want["cni"]["cniBinDir"]
    assert paths["cni-net-dir"] == want["cni"]["cniConfDir"]
    pod_context = cni["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    assert pod_context["seLinuxOptions"]["type"] == want["seLinuxOptions"]["type"]
    config = sim.get_object("v1", "ConfigMap", "istio-cni-config", "kube-system")["data"]
    assert config["CHAINED_CNI_PLUGIN"] == str(want["cni"]["chained"]).lower()
    assert config["CNI_CONF_NAME"] == want["cni"]["cniConfFileName"]
    # provider multus: the chart's own NetworkAttachmentDefinition, and the SCC the node agent runs under.
    assert s.names(sim, *NAD, "default") == ["istio-cni"]
    rules = sim.get_object("rbac.authorization.k8s.io/v1", "ClusterRole", "istio-cni")["rules"]
    assert {"apiGroups": ["security.openshift.io"], "resources": ["securitycontextconstraints"],
            "resourceNames": ["privileged"], "verbs": ["use"]} in rules
    # istiod's chart records the values it rendered with: every leaf of the profile is among them.
    merged = json.loads(sim.get_object("v1", "ConfigMap", "values", "istio-system")["data"]["merged-values"])
    for path, value in leaves(want):
        assert dig(merged, path) == value, path
    assert merged["global"]["platform"] == "openshift"
    env = sim.get_object("apps/v1", "Deployment", "istiod", "istio-system")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "PLATFORM", "value": "openshift"} in env


def assert_routes(sim):
    gateway = sim.get_object(*ROUTE, "istio-ingressgateway", "istio-system")
    assert gateway["spec"]["to"]["name"] == "istio-ingressgateway" and gateway["spec"]["port"]["targetPort"] == "http2"
    assert gateway["status"]["ingress"][0]["host"] == "istio-ingressgateway-istio-system." + APPS
    assert gateway["status"]["ingress"][0]["conditions"][0]["status"] == "True"
    service = sim.get_object("v1", "Service", "istio-ingressgateway", "istio-system")
    assert service["spec"]["type"] == "ClusterIP" and not any("nodePort" in p for p in service["spec"]["ports"])
    assert s.names(sim, *ROUTE, "istio-system") == ["grafana", "istio-ingressgateway", "jaeger", "kiali", "prometheus"]
    hosts = {r["metadata"]["name"]: r["status"]["ingress"][0]["host"] for r in sim.list_objects(*ROUTE, "istio-system")}
    assert hosts["kiali"] == "kiali.example.com" and hosts["grafana"] == "grafana-istio-system." + APPS
    assert sim.get_object(*ROUTE, "kiali", "istio-system")["spec"]["tls"]["termination"] == "edge"
    for service in ("grafana", "tracing", "kiali", "prometheus"):
        assert sim.get_object("v1", "Service", service, "istio-system")["spec"]["type"] == "ClusterIP"


@pytest.mark.parametrize("method", ["helm", "template"])
def test_openshift_install_routes_namespaces_rerun_and_uninstall(openshift, run_playbook, real, tmp_path, method):
    sim = openshift
    params = install_vars(real, control_plane_method=method, bookinfo_namespace="bookinfo")
    playbook = str(tmp_path / "openshift.yml")
    # install, addons, namespaces and an app as one AWX workflow would run them, in one play file.
    (tmp_path / "openshift.yml").write_text("\n".join(
        "- import_playbook: %s" % (s.REPO / "playbooks" / name)
        for name in ("install.yml", "addons.yml", "namespaces.yml", "bookinfo.yml")))

    check = run_playbook(playbook, sim, params, check=True)
    assert check.rc == 0, check
    assert sim.writes() == []

    first = run_playbook(playbook, sim, params)
    assert first.rc == 0, first
    assert_openshift_profile_applied(sim)
    if method == "helm":
        releases = dict(s.helm_releases(sim), **s.helm_releases(sim, "kube-system"))
        assert releases == {"istio-base": "1", "istiod": "1", "istio-ingressgateway": "1", "istio-cni": "1"}
        for release, namespace in (("istio-base", "istio-system"), ("istio-cni", "kube-system"),
                                   ("istiod", "istio-system"), ("istio-ingressgateway", "istio-system")):
            assert helm_values(sim, release, namespace)["global"]["platform"] == "openshift", release
        # install-OpenShift.md's order: base, then istio-cni, then istiod.
        written = {}
        for namespace in ("istio-system", "kube-system"):
            for secret in sim.list_objects("v1", "Secret", namespace):
                if secret.get("type") == s.HELM_RELEASE_TYPE:
                    written[secret["metadata"]["labels"]["name"]] = int(secret["metadata"]["resourceVersion"])
        assert sorted(written, key=written.get) == ["istio-base", "istio-cni", "istiod", "istio-ingressgateway"]
    else:
        assert s.helm_releases(sim) == {} and s.helm_releases(sim, "kube-system") == {}
    assert_routes(sim)
    # Multus calls istio-cni only where this attachment is: the injected namespace has it, the other not.
    assert s.names(sim, *NAD, "shop") == ["istio-cni"] and s.names(sim, *NAD, "plain") == []
    # The URLs users are given are the Routes' hosts.
    report = s.debug_msg(first, "Report the gateways")
    assert "istio-system/istio-ingressgateway (ClusterIP): http://istio-ingressgateway-istio-system.%s/." % APPS in report
    urls = s.debug_msg(first, "Report where to open the addons")
    assert "kiali: https://kiali.example.com/kiali (Route istio-system/kiali, admitted by the router)" in urls
    assert "grafana: http://grafana-istio-system.%s/" % APPS in urls
    assert "platform openshift;" in s.debug_msg(first, "Report the control plane")
    # An application role on OpenShift: its namespace gets the attachment, its URL is the gateway's Route.
    assert s.names(sim, *NAD, "bookinfo") == ["istio-cni"]
    assert s.debug_msg(first, "Show the application URL") == (
        "bookinfo: http://istio-ingressgateway-istio-system.%s/productpage (Route istio-system/istio-ingressgateway)"
        % APPS)

    again = run_playbook(playbook, sim, params)
    assert again.rc == 0, again
    assert again.changed == 0, s.changed_tasks(again)

    start = len(sim.request_log)
    preview = run_playbook("uninstall.yml", sim, params, check=True)
    assert preview.rc == 0, preview
    assert s.writes_since(sim, start) == []
    gone = run_playbook("uninstall.yml", sim, params)
    assert gone.rc == 0, gone
    assert s.names(sim, *DAEMONSETS, "kube-system") == []
    assert s.names(sim, "v1", "ConfigMap", "kube-system") == ["kube-root-ca.crt"]
    assert s.helm_releases(sim) == {} and s.helm_releases(sim, "kube-system") == {}
    assert s.names(sim, *ROUTE, "istio-system") == [r for r in ADDON_ROUTES]  # the addons are the addons role's
    assert s.names(sim, *NAD, "default") == []
    again = run_playbook("uninstall.yml", sim, params)
    assert again.rc == 0 and again.changed == 0, s.changed_tasks(again)


def test_openshift_platform_on_a_plain_kubernetes_cluster_fails_before_any_write(kubesim, run_playbook, real):
    sim = kubesim
    run = run_playbook("install.yml", sim, install_vars(real))
    assert run.rc != 0
    assert any("control_plane_platform is openshift, but this cluster does not serve security.openshift.io/v1 or "
               "route.openshift.io/v1: it is not OpenShift" in m for m in run.failed_msgs), run.failed_msgs
    assert sim.writes() == []
