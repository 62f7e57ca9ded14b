import pytest
import yaml

from ansible_collections.meshops.istio.plugins.module_utils import addons
from tests.standins import ADDONS, HAS_REFERENCE
from tests.standins import REFERENCE as REFERENCE_ROOT

# Istio's addon manifests where ../shared/reference is present, else the project's stand-ins (same objects,
# images and ports: tests/unit/test_standins.py).
REFERENCE = REFERENCE_ROOT / "istio" / "samples" / "addons" if HAS_REFERENCE else ADDONS


@pytest.fixture(scope="module")
def manifests():
    return dict((name, [d for d in yaml.safe_load_all((REFERENCE / spec["file"]).read_text()) if d])
                for name, spec in addons.ADDONS)


def _find(objects, kind, name):
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, (kind, name, [(o["kind"], o["metadata"]["name"]) for o in objects])
    return found[0]


def test_source_defaults_to_the_release_raw_url():
    assert addons.source("", "1.25.2", "kiali") == (
        "https://raw.githubusercontent.com/istio/istio/release-1.25/samples/addons/kiali.yaml")
    assert addons.source("/srv/addons/", "", "grafana") == "/srv/addons/grafana.yaml"
    with pytest.raises(addons.AddonError, match="its version .* is unknown"):
        addons.source("", None, "kiali")


@pytest.mark.parametrize("name,given,message", [
    ("kiali", {"exposure": "ingress"}, "needs a host name"),
    ("grafana", {"exposure": "clusterip", "node_port": 30300}, "only used with exposure nodeport"),
    ("grafana", {"exposure": "nodeport", "node_port": 3000}, "outside Kubernetes' default node port range"),
    ("jaeger", {"exposure": "loadbalancer"}, "must be one of clusterip, nodeport, ingress, route"),
    ("jaeger", {"state": "gone"}, "must be present or absent"),
])
def test_settings_refuse_bad_input(name, given, message):
    with pytest.raises(addons.AddonError, match=message):
        addons.settings(name, given)


def test_plan_all_present_clusterip(manifests):
    plan = addons.plan(manifests, {})
    assert all(o["metadata"]["namespace"] == "istio-system" for o in plan["apply"]
               if o["kind"] not in ("ClusterRole", "ClusterRoleBinding"))
    for _name, spec in addons.ADDONS:
        svc = _find(plan["apply"], "Service", spec["service"])
        assert svc["spec"]["type"] == "ClusterIP"
        _find(plan["apply"], "Deployment", spec["deployment"])
    # Nothing is exposed through the gateway, so any earlier ingress objects are removed.
    assert sorted((o["kind"], o["metadata"]["name"]) for o in plan["remove"]) == sorted(
        [("Gateway", "%s-gateway" % n) for n in addons.ADDON_NAMES] + [("VirtualService", "%s-ui" % n)
                                                                       for n in addons.ADDON_NAMES])
    # Install order: Kiali comes after what it points at.
    order = [o["metadata"]["name"] for o in plan["apply"] if o["kind"] == "Deployment"]
    assert order == ["prometheus", "grafana", "jaeger", "kiali"]


def test_plan_wires_kiali_to_the_other_addons(manifests):
    plan = addons.plan(manifests, {"grafana": {"exposure": "ingress", "host": "grafana.example.com"},
                                   "jaeger": {"exposure": "nodeport", "node_port": 31686}},
                       node_address="10.0.0.10", gateway_external_port=30080)
    config = yaml.safe_load(_find(plan["apply"], "ConfigMap", "kiali")["data"]["config.yaml"])
    services = config["external_services"]
    assert services["prometheus"] == {"enabled": True, "url": "http://prometheus.istio-system:9090"}
    assert services["grafana"] == {"enabled": True, "internal_url": "http://grafana.istio-system:3000",
                                   "external_url": "http://grafana.example.com:30080"}
    assert services["tracing"]["internal_url"] == "http://tracing.istio-system:80/jaeger"
    assert services["tracing"]["external_url"] == "http://10.0.0.10:31686"
    # Everything Kiali's chart set stays (only our keys change).
    assert config["server"]["web_root"] == "/kiali"
    annotations = _find(plan["apply"], "Deployment", "kiali")["spec"]["template"]["metadata"]["annotations"]
    assert len(annotations[addons.CONFIG_CHECKSUM]) == 16


def test_kiali_restarts_only_when_its_config_changes(manifests):
    def checksum(plan):
        return _find(plan["apply"], "Deployment", "kiali")["spec"]["template"]["metadata"]["annotations"][
            addons.CONFIG_CHECKSUM]
    first = checksum(addons.plan(manifests, {}))
    assert checksum(addons.plan(manifests, {})) == first
    assert checksum(addons.plan(manifests, {"grafana": {"state": "absent"}})) != first


def test_plan_exposures(manifests):
    plan = addons.plan(manifests, {"grafana": {"exposure": "nodeport", "node_port": 30300},
                                   "kiali": {"exposure": "ingress", "host": "kiali.example.com"}},
                       api_version="networking.istio.io/v1beta1", gateway_selector={"istio": "edge"}, gateway_port=8080)
    grafana = _find(plan["apply"], "Service", "grafana")["spec"]
    assert grafana["type"] == "NodePort" and grafana["ports"][0]["nodePort"] == 30300
    gateway = _find(plan["apply"], "Gateway", "kiali-gateway")
    assert gateway["apiVersion"] == "networking.istio.io/v1beta1"
    assert gateway["spec"] == {"selector": {"istio": "edge"}, "servers": [
        {"port": {"number": 8080, "name": "http-kiali", "protocol": "HTTP"}, "hosts": ["kiali.example.com"]}]}
    vs = _find(plan["apply"], "VirtualService", "kiali-ui")["spec"]
    assert vs["gateways"] == ["kiali-gateway"]
    assert vs["http"][0]["route"][0]["destination"] == {"host": "kiali.istio-system.svc.cluster.local",
                                                        "port": {"number": 20001}}
    assert ("Gateway", "kiali-gateway") not in [(o["kind"], o["metadata"]["name"]) for o in plan["remove"]]


def test_plan_absent_addon_is_removed_and_kiali_told(manifests):
    plan = addons.plan(manifests, {"jaeger": {"state": "absent"}}, namespace="observability")
    removed = [(o["kind"], o["metadata"]["name"]) for o in plan["remove"]]
    assert ("Deployment", "jaeger") in removed and ("Service", "tracing") in removed
    assert all(o["metadata"]["name"] != "jaeger" for o in plan["apply"] if o["kind"] == "Deployment")
    config = yaml.safe_load(_find(plan["apply"], "ConfigMap", "kiali")["data"]["config.yaml"])
    assert config["external_services"]["tracing"]["enabled"] is False
    assert config["external_services"]["istio"]["root_namespace"] == "observability"
    binding = _find(plan["apply"], "ClusterRoleBinding", "kiali")
    assert binding["subjects"][0]["namespace"] == "observability"
    assert "namespace" not in binding["metadata"]


def test_plan_without_istio(manifests):
    with pytest.raises(addons.AddonError, match="needs Istio's Gateway and VirtualService"):
        addons.plan(manifests, {"kiali": {"exposure": "ingress", "host": "k.example.com"}}, istio_installed=False)
    plan = addons.plan(manifests, {}, istio_installed=False)
    assert not [o for o in plan["remove"] if o["kind"] in ("Gateway", "VirtualService")]


def test_plan_refuses_a_manifest_that_is_not_the_addon(manifests):
    wrong = dict(manifests, kiali=manifests["grafana"])
    with pytest.raises(addons.AddonError, match="The kiali manifest has no Deployment kiali"):
        addons.plan(wrong, {})


def test_urls():
    services = [{"metadata": {"name": "grafana"}, "spec": {"ports": [{"port": 3000, "nodePort": 31234}]}}]
    urls = addons.urls({"grafana": {"exposure": "nodeport"}, "kiali": {"exposure": "ingress", "host": "k.example.com"},
                        "prometheus": {"state": "absent"}}, services, "istio-system", node_address="10.0.0.10",
                       gateway_address="192.0.2.1", gateway_port=80)
    assert sorted(urls) == ["grafana", "jaeger", "kiali"]
    assert urls["grafana"]["url"] == "http://10.0.0.10:31234/"
    assert urls["kiali"] == {"internal_url": "http://kiali.istio-system:20001/kiali", "via": "ingress",
                             "url": "http://k.example.com/kiali",
                             "note": "through the ingress gateway; k.example.com must resolve to 192.0.2.1"}
    assert urls["jaeger"]["url"] == "http://localhost:16686/jaeger"
    assert urls["jaeger"]["note"] == "run first: kubectl -n istio-system port-forward svc/tracing 16686:80"
