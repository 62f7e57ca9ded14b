"""OpenShift pieces: Routes, their URLs, the platform in chart values, gateway and addon plans."""
import pytest

from ansible_collections.meshops.istio.plugins.module_utils import addons
from ansible_collections.meshops.istio.plugins.module_utils import control_plane as cp
from ansible_collections.meshops.istio.plugins.module_utils import openshift

ADMITTED = {"ingress": [{"host": "web-shop.apps.example.com", "conditions": [{"type": "Admitted", "status": "True"}]}]}


def test_route_objects_per_tls_mode():
    plain = openshift.route("web", "shop", "web", "http2")
    assert plain == {"apiVersion": "route.openshift.io/v1", "kind": "Route",
                     "metadata": {"name": "web", "namespace": "shop"},
                     "spec": {"to": {"kind": "Service", "name": "web", "weight": 100},
                              "port": {"targetPort": "http2"}, "wildcardPolicy": "None"}}
    edge = openshift.route("web", "shop", "web", 8080, host="web.example.com", tls="edge")
    assert edge["spec"]["host"] == "web.example.com" and edge["spec"]["port"]["targetPort"] == 8080
    assert edge["spec"]["tls"] == {"termination": "edge", "insecureEdgeTerminationPolicy": "Redirect"}
    assert openshift.route("web", "shop", "web", "https", tls="passthrough")["spec"]["tls"]["termination"] == "passthrough"
    with pytest.raises(openshift.OpenShiftError, match="tls must be one of none, edge, passthrough, not 'reencrypt'"):
        openshift.route("web", "shop", "web", "http2", tls="reencrypt")


def test_route_url_is_the_admitted_host_and_https_with_tls():
    route = dict(openshift.route("web", "shop", "web", "http2"), status=ADMITTED)
    assert openshift.route_url(route, "/productpage") == dict(
        url="http://web-shop.apps.example.com/productpage", host="web-shop.apps.example.com", admitted=True)
    pending = openshift.route("web", "shop", "web", "http2", host="web.example.com", tls="edge")
    assert openshift.route_url(pending) == dict(url="https://web.example.com/", host="web.example.com", admitted=False)
    refused = dict(route, status={"ingress": [{"host": "x", "conditions": [{"type": "Admitted", "status": "False"}]}]})
    assert openshift.admitted_host(refused) is None
    assert openshift.route_url({}) == dict(url=None, host=None, admitted=False)
    assert openshift.route_for_service([route], "shop", "web") is route
    assert openshift.route_for_service([route], "other", "web") is None


@pytest.mark.parametrize("chart,path", [("base", ("global", "platform")), ("istiod", ("global", "platform")),
                                        ("cni", ("global", "platform")), ("gateway", ("global", "platform")),
                                        ("ztunnel", ("platform",))])
def test_every_chart_gets_the_openshift_platform(chart, path):
    values = cp.chart_values(chart, dict(platform="openshift"))
    node = values
    for key in path:
        node = node[key]
    assert node == "openshift"
    assert "platform" not in str(cp.chart_values(chart, dict(platform="kubernetes")))


def test_openshift_cni_is_not_ambient_unless_asked():
    assert "profile" not in cp.chart_values("cni", dict(platform="openshift"))
    assert cp.chart_values("cni", dict(platform="openshift", profile="ambient"))["profile"] == "ambient"
    with pytest.raises(cp.ControlPlaneError, match="Platform 'gke' is not one of kubernetes, openshift"):
        cp.chart_values("istiod", dict(platform="gke"))


def test_istio_operator_on_openshift_enables_cni_in_kube_system():
    spec = cp.istio_operator(dict(platform="openshift"))["spec"]
    assert spec["values"]["global"]["platform"] == "openshift"
    assert spec["components"]["cni"] == {"enabled": True, "namespace": "kube-system"}


def test_gateway_plan_on_openshift_uses_clusterip_and_a_route():
    plan = cp.gateway_plan([{"name": "istio-ingressgateway", "namespace": "istio-system", "service_type": "LoadBalancer",
                             "route_host": "shop.example.com", "route_tls": "passthrough"}], platform="openshift")
    gateway = plan["present"][0]
    assert gateway["service_type"] == "ClusterIP" and gateway["chart_values"]["global"]["platform"] == "openshift"
    assert all("nodePort" not in p for p in gateway["chart_values"]["service"]["ports"])
    assert gateway["route"]["spec"]["host"] == "shop.example.com"
    assert gateway["route"]["spec"]["port"]["targetPort"] == "https"
    assert cp.gateway_plan([{"name": "gw", "namespace": "ns"}])["present"][0]["route"] is None
    with pytest.raises(cp.ControlPlaneError, match="route_host and route_tls are for OpenShift Routes"):
        cp.gateway_plan([{"name": "gw", "namespace": "ns", "route_tls": "edge"}])
    with pytest.raises(cp.ControlPlaneError, match="asks for a node port, but on OpenShift"):
        cp.gateway_plan([{"name": "gw", "namespace": "ns", "ports": [{"name": "http2", "port": 80, "node_port": 30080}]}],
                        platform="openshift")
    with pytest.raises(cp.ControlPlaneError, match="goes to the Service port named https, which the gateway does not have"):
        cp.gateway_plan([{"name": "gw", "namespace": "ns", "route_tls": "passthrough",
                          "ports": [{"name": "http2", "port": 80}]}], platform="openshift")


def test_addon_settings_on_openshift():
    assert addons.settings("kiali", {"exposure": "nodeport"}, "openshift")["exposure"] == "route"
    assert addons.settings("kiali", {"exposure": "nodeport"}, "kubernetes")["exposure"] == "nodeport"
    with pytest.raises(addons.AddonError, match="exposure route makes an OpenShift Route"):
        addons.settings("kiali", {"exposure": "route"})
    with pytest.raises(addons.AddonError, match="tls is for exposure route"):
        addons.settings("kiali", {"exposure": "clusterip", "tls": "edge"}, "openshift")
    with pytest.raises(addons.AddonError, match="node_port is only used with exposure nodeport"):
        addons.settings("kiali", {"exposure": "nodeport", "node_port": 30001}, "openshift")
    assert addons.external_base("kiali", addons.settings("kiali", {"exposure": "route", "host": "k.example.com",
                                                                   "tls": "edge"}, "openshift")) == "https://k.example.com"


def test_addon_urls_read_the_route_hosts():
    route = dict(openshift.route("grafana", "istio-system", "grafana", "service"),
                 status={"ingress": [{"host": "grafana-istio-system.apps.example.com",
                                      "conditions": [{"type": "Admitted", "status": "True"}]}]})
    urls = addons.urls({"grafana": {"exposure": "route"}, "kiali": {"state": "absent"}, "jaeger": {"state": "absent"},
                        "prometheus": {"state": "absent"}}, [], "istio-system", routes=[route], platform="openshift")
    assert urls["grafana"]["url"] == "http://grafana-istio-system.apps.example.com/"
    assert urls["grafana"]["note"] == "Route istio-system/grafana, admitted by the router"
