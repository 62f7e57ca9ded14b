import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.meshops.istio.plugins.filter.gateway import FilterModule, gateway_url


def service(type_="LoadBalancer", ingress=None, ports=None):
    return {"metadata": {"name": "istio-ingressgateway", "namespace": "istio-system"},
            "spec": {"type": type_, "ports": ports if ports is not None else [
                {"name": "status-port", "port": 15021, "targetPort": 15021, "nodePort": 31021},
                {"name": "http2", "port": 80, "targetPort": 8080, "nodePort": 31380},
                {"name": "https", "port": 443, "targetPort": 8443, "nodePort": 31390}]},
            "status": {"loadBalancer": {"ingress": ingress or []}}}


NODES = [{"status": {"addresses": [{"type": "Hostname", "address": "node-1"},
                                   {"type": "InternalIP", "address": "10.0.0.5"}]}},
         {"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.6"},
                                   {"type": "ExternalIP", "address": "203.0.113.9"}]}}]


def test_load_balancer_ip_on_the_port_that_targets_the_gateway_server():
    url = gateway_url([service(ingress=[{"ip": "35.199.158.10"}])], path="/productpage", gateway_port=8080)
    assert url["url"] == "http://35.199.158.10/productpage"
    assert url["via"] == "loadbalancer"


def test_load_balancer_hostname_and_a_non_default_port():
    svc = service(ingress=[{"hostname": "lb.example.com"}],
                  ports=[{"name": "http", "port": 8000, "targetPort": 8080}])
    assert gateway_url(svc, path="productpage", gateway_port=8080)["url"] == "http://lb.example.com:8000/productpage"


def test_gateway_port_equal_to_the_service_port_when_the_chart_maps_80_to_80():
    svc = service(ingress=[{"ip": "192.0.2.1"}], ports=[
        {"name": "status-port", "port": 15021, "targetPort": 15021},
        {"name": "http2", "port": 80, "targetPort": 80}])
    assert gateway_url(svc, path="/", gateway_port=80)["url"] == "http://192.0.2.1/"


def test_node_port_prefers_an_external_node_address():
    url = gateway_url(service(type_="NodePort"), path="/productpage", gateway_port=8080, nodes=NODES)
    assert url == {"url": "http://203.0.113.9:31380/productpage", "via": "nodeport", "address": "203.0.113.9",
                   "port": 31380, "note": url["note"]}
    assert "31380" in url["note"]


def test_pending_load_balancer_falls_back_to_its_node_port_and_internal_ip():
    url = gateway_url(service(), path="/", gateway_port=8080, nodes=NODES[:1])
    assert url["url"] == "http://10.0.0.5:31380/"


def test_node_port_without_nodes_leaves_a_placeholder():
    url = gateway_url(service(type_="NodePort"), path="/", gateway_port=8080, nodes=[])
    assert url["url"] == "http://<node-address>:31380/"


def test_cluster_ip_suggests_port_forward():
    svc = service(type_="ClusterIP", ports=[{"name": "http2", "port": 80, "targetPort": 8080}])
    url = gateway_url(svc, path="/productpage", gateway_port=8080)
    assert url["url"] == "http://localhost:8080/productpage"
    assert url["via"] == "port-forward"
    assert "kubectl -n istio-system port-forward svc/istio-ingressgateway 8080:80" in url["note"]


def test_without_a_gateway_port_the_http2_port_is_used():
    url = gateway_url(service(ingress=[{"ip": "192.0.2.1"}]), path="/")
    assert url["port"] == 80


def test_missing_service_and_bad_scheme():
    assert gateway_url([], path="/")["url"] is None
    assert "no ingress gateway Service" in gateway_url(None)["note"]
    assert gateway_url(service(ports=[]))["via"] == "none"
    with pytest.raises(AnsibleFilterError, match="scheme"):
        gateway_url(service(), scheme="ftp")
    assert FilterModule().filters()["gateway_url"] is gateway_url


def test_ipv6_addresses_are_bracketed():
    url = gateway_url(service(ingress=[{"ip": "2001:db8::1"}]), path="/", gateway_port=8080)
    assert url["url"] == "http://[2001:db8::1]/"
