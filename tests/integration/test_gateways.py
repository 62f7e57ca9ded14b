"""The gateways role by real ansible-playbook and helm against kubesim, on one cluster with Istio installed.

Chart: Istio's real gateway chart (../shared/reference/istio/manifests/charts/gateway), packaged as 1.27.0."""
import pytest

from tests.integration import istio_support as s
from tests.integration.istio_support import REAL_OLD

GATEWAYS = str(s.PLAYBOOKS / "gateways_only.yml")
API = "networking.istio.io/v1"


@pytest.fixture(scope="module")
def charts(tmp_path_factory):
    return s.package_real_charts(tmp_path_factory.mktemp("charts"), REAL_OLD, charts=("gateway",))


@pytest.fixture(scope="module")
def cluster(kubesim_istio_module):
    """A cluster with Istio's CRDs; the gateway version is given, so no istiod is needed to pick it."""
    return kubesim_istio_module


def gateway_vars(charts, **extra):
    return dict(dict(gateways_charts=charts, gateways_version=REAL_OLD), **extra)


def test_nodeport_gateway_https_gateway_and_nginx_front(cluster, run_playbook, charts, tmp_path):
    sim = cluster
    nginx = tmp_path / "mesh.conf"
    params = gateway_vars(
        charts,
        gateways_list=[{"name": "istio-ingressgateway", "namespace": "istio-ingress", "service_type": "NodePort",
                        "replicas": 2, "labels": {"team": "edge"},
                        "ports": [{"name": "status-port", "port": 15021},
                                  {"name": "http2", "port": 80, "target_port": 8080, "node_port": 30080},
                                  {"name": "https", "port": 443, "target_port": 8443, "node_port": 30443}]}],
        gateways_app_gateway_namespace="istio-ingress", gateways_app_gateway_hosts=["bookinfo.example.com"],
        gateways_app_gateway_https_credential="bookinfo-tls", gateways_app_gateway_https_redirect=True,
        gateways_nginx_config_path=str(nginx), gateways_nginx_server_name="bookinfo.example.com")

    start = len(sim.request_log)
    check = run_playbook(GATEWAYS, sim, params, check=True)
    assert check.rc == 0, check
    assert s.writes_since(sim, start) == []

    first = run_playbook(GATEWAYS, sim, params)
    assert first.rc == 0, first
    svc = sim.get_object("v1", "Service", "istio-ingressgateway", "istio-ingress")
    assert svc["spec"]["type"] == "NodePort"
    assert [(p["name"], p["port"], p["targetPort"], p.get("nodePort")) for p in svc["spec"]["ports"]][1:] == [
        ("http2", 80, 8080, 30080), ("https", 443, 8443, 30443)]
    deployment = sim.get_object("apps/v1", "Deployment", "istio-ingressgateway", "istio-ingress")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["template"]["metadata"]["labels"]["team"] == "edge"
    assert deployment["spec"]["selector"]["matchLabels"] == {"app": "istio-ingressgateway", "istio": "ingressgateway"}
    # The chart leaves the proxy image to istiod's injector (gateway template), which fills in its hub and tag.
    pod = deployment["spec"]["template"]
    assert pod["spec"]["containers"][0]["image"] == "auto"
    assert pod["metadata"]["annotations"]["inject.istio.io/templates"] == "gateway"
    assert deployment["metadata"]["labels"]["helm.sh/chart"] == "gateway-1.27.0"
    assert sim.get_object("autoscaling/v2", "HorizontalPodAutoscaler", "istio-ingressgateway", "istio-ingress") is None
    assert s.helm_releases(sim, "istio-ingress") == {"istio-ingressgateway": "1"}

    gateway = sim.get_object(API, "Gateway", "meshops-gateway", "istio-ingress")
    assert gateway["spec"] == {"selector": {"istio": "ingressgateway"}, "servers": [
        {"port": {"number": 8080, "name": "http", "protocol": "HTTP"}, "hosts": ["bookinfo.example.com"],
         "tls": {"httpsRedirect": True}},
        {"port": {"number": 8443, "name": "https", "protocol": "HTTPS"}, "hosts": ["bookinfo.example.com"],
         "tls": {"mode": "SIMPLE", "credentialName": "bookinfo-tls"}}]}
    report = s.debug_msg(first, "Report the gateways")
    assert "istio-ingress/istio-ingressgateway (NodePort): http://" in report and ":30080/." in report
    assert "HTTPS with Secret bookinfo-tls (MISSING: create it in istio-ingress)" in report

    conf = nginx.read_text()
    nodes = [a["address"] for n in sim.list_objects("v1", "Node") for a in n["status"]["addresses"]
             if a["type"] == "InternalIP"]
    assert nodes and all("    server %s:30080;" % address in conf for address in nodes)
    for line in ("listen 80;", "server_name bookinfo.example.com;", "proxy_http_version 1.1;",
                 "proxy_set_header Host $host;", "proxy_pass http://meshops_istio_ingressgateway;"):
        assert line in conf

    again = run_playbook(GATEWAYS, sim, params)
    assert again.rc == 0, again
    assert again.changed == 0, s.changed_tasks(again)


def test_several_gateways_service_types_and_removal(cluster, run_playbook, charts):
    sim = cluster
    both = [{"name": "istio-ingressgateway", "namespace": "istio-ingress", "service_type": "LoadBalancer"},
            {"name": "istio-egressgateway", "namespace": "istio-egress", "service_type": "ClusterIP", "replicas": 1,
             "ports": [{"name": "http2", "port": 80, "target_port": 8080}, {"name": "https", "port": 443}]}]
    params = gateway_vars(charts, gateways_list=both, gateways_app_gateway_enabled=False, gateways_method="template")
    first = run_playbook(GATEWAYS, sim, params)
    assert first.rc == 0, first
    ingress = sim.get_object("v1", "Service", "istio-ingressgateway", "istio-ingress")
    egress = sim.get_object("v1", "Service", "istio-egressgateway", "istio-egress")
    assert ingress["spec"]["type"] == "LoadBalancer" and egress["spec"]["type"] == "ClusterIP"
    assert all("nodePort" not in p for p in egress["spec"]["ports"])
    # Without a fixed replica count the chart's autoscaler is in charge.
    assert sim.get_object("autoscaling/v2", "HorizontalPodAutoscaler", "istio-ingressgateway", "istio-ingress")
    egress_pods = sim.get_object("apps/v1", "Deployment", "istio-egressgateway", "istio-egress")
    assert egress_pods["spec"]["template"]["metadata"]["labels"]["istio"] == "egressgateway"
    assert s.managers(egress_pods) == ["meshops-istio"]

    removed = run_playbook(GATEWAYS, sim, dict(params, gateways_list=[dict(both[1], state="absent")]))
    assert removed.rc == 0, removed
    assert sim.get_object("apps/v1", "Deployment", "istio-egressgateway", "istio-egress") is None
    assert sim.get_object("v1", "Service", "istio-egressgateway", "istio-egress") is None
    assert run_playbook(GATEWAYS, sim, dict(params, gateways_list=[dict(both[1], state="absent")])).changed == 0


def test_bad_gateway_input_is_refused_without_writes(cluster, run_playbook, charts):
    sim = cluster
    start = len(sim.request_log)
    run = run_playbook(GATEWAYS, sim, gateway_vars(charts, gateways_list=[
        {"name": "edge", "namespace": "istio-ingress", "service_type": "ClusterIP",
         "ports": [{"name": "http2", "port": 80, "node_port": 30081}]}]))
    assert run.rc != 0
    assert any("Gateway port http2 asks for node port 30081, but the Service type is ClusterIP, which has no node "
               "ports. Use service_type NodePort (or LoadBalancer), or drop node_port." in m for m in run.failed_msgs), \
        run.failed_msgs
    assert s.writes_since(sim, start) == []
