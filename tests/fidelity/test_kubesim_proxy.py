"""kubesim's service proxy (/api/v1/namespaces/<ns>/services/<name>:<port>/proxy/...), driven by kubectl and the
Python client, forwarding to a real Prometheus."""
import json
import subprocess
import urllib.parse

import pytest
from kubernetes import config, dynamic
from kubernetes.dynamic.exceptions import BadRequestError, ForbiddenError, NotFoundError, ServiceUnavailableError

from sim.prometheus_harness import expose_in

PROXY = "/api/v1/namespaces/istio-system/services/prometheus:9090/proxy"


@pytest.fixture
def prometheus(kubesim, prometheus_factory):
    return expose_in(kubesim, prometheus_factory())


def kubectl(sim, *args):
    return subprocess.run(["kubectl", "--kubeconfig", sim.kubeconfig_path, *args], capture_output=True, text=True,
                          timeout=60)


def client(sim):
    return dynamic.DynamicClient(config.new_client_from_config(sim.kubeconfig_path))


def test_kubectl_get_raw_reaches_prometheus_and_the_token_stays_behind(kubesim, prometheus):
    run = kubectl(kubesim, "get", "--raw", PROXY + "/api/v1/query?" + urllib.parse.urlencode({"query": "vector(7)"}))
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout)
    assert answer["status"] == "success" and answer["data"]["result"][0]["value"][1] == "7"
    (forwarded,) = kubesim.service_proxy.forwarded
    assert forwarded["method"] == "GET" and forwarded["path"] == "/api/v1/query" and forwarded["user"] == "kubernetes-admin"
    # kubectl sent its bearer token to the API server; the proxy did not pass it on to Prometheus.
    assert forwarded["authorization"] is True and "query=vector%287%29" in forwarded["query"]
    assert [r.status for r in kubesim.request_log if "/proxy/" in r.path] == [200]


def test_python_client_post_with_a_form_body_and_port_by_name(kubesim, prometheus):
    dc = client(kubesim)
    path = "/api/v1/namespaces/istio-system/services/prometheus:http/proxy/api/v1/query"
    answer = dc.request("POST", path, post_params=None, body=None, query_params=[("query", "vector(3)")],
                        serialize=False)
    assert json.loads(answer.data)["data"]["result"][0]["value"][1] == "3"
    assert kubesim.service_proxy.forwarded[-1]["method"] == "POST"


def test_prometheus_errors_pass_through_unchanged(kubesim, prometheus):
    with pytest.raises(BadRequestError) as err:
        client(kubesim).request("GET", PROXY + "/api/v1/query", query_params=[("query", "sum(")])
    # Prometheus's own error body, not a Status of the API server.
    assert json.loads(err.value.body)["errorType"] == "bad_data"
    assert len(kubesim.service_proxy.forwarded) == 1


def test_forbidden_answers_403_with_the_rbac_message(kubesim, prometheus):
    kubesim.service_proxy.forbid("istio-system")
    with pytest.raises(ForbiddenError) as err:
        client(kubesim).request("GET", PROXY + "/api/v1/query", query_params=[("query", "up")])
    body = json.loads(err.value.body)
    assert err.value.status == 403 and body["reason"] == "Forbidden"
    assert body["message"] == ('services "prometheus" is forbidden: User "kubernetes-admin" cannot get resource '
                               '"services/proxy" in API group "" in the namespace "istio-system"')
    assert kubesim.service_proxy.forwarded == []
    # Only that namespace, and only until allowed again.
    kubesim.service_proxy.allow_all()
    assert kubectl(kubesim, "get", "--raw", PROXY + "/api/v1/query?query=up").returncode == 0


def test_forbidden_for_one_user_only(kubesim, prometheus):
    kubesim.service_proxy.forbid(user="system:serviceaccount:default:reader")
    assert kubectl(kubesim, "get", "--raw", PROXY + "/api/v1/query?query=up").returncode == 0


def test_missing_service_404_unregistered_503_wrong_port_503(kubesim, prometheus):
    dc = client(kubesim)
    with pytest.raises(NotFoundError) as missing:
        dc.request("GET", "/api/v1/namespaces/istio-system/services/thanos:9090/proxy/api/v1/query")
    assert json.loads(missing.value.body)["message"] == 'services "thanos" not found'
    kubesim.service_proxy.unregister("istio-system", "prometheus", 9090)
    with pytest.raises(ServiceUnavailableError) as nothing:
        dc.request("GET", PROXY + "/api/v1/query")
    assert json.loads(nothing.value.body)["message"] == 'no endpoints available for service "prometheus:9090"'
    with pytest.raises(ServiceUnavailableError) as port:
        dc.request("GET", "/api/v1/namespaces/istio-system/services/prometheus:9091/proxy/api/v1/query")
    assert "no service port \"9091\"" in json.loads(port.value.body)["message"]
    assert kubesim.service_proxy.forwarded == []


def test_without_a_token_401(kubesim, prometheus):
    run = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", "/dev/stdin",
                          kubesim.url + PROXY + "/api/v1/query?query=up"], input=kubesim.ca_pem if isinstance(
                              kubesim.ca_pem, str) else kubesim.ca_pem.decode(), capture_output=True, text=True,
                         timeout=30)
    assert run.stdout == "401"
