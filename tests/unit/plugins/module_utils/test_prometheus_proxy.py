"""prometheus.py, the service proxy transport: path building, option checks and the mapping of the
API server's answers to errors a person can act on. End to end (module -> kubesim proxy -> real
Prometheus) in tests/integration/test_prometheus_proxy.py."""
import json

import pytest

from ansible_collections.meshops.istio.plugins.module_utils import prometheus as prom
from ansible_collections.meshops.istio.plugins.module_utils.kube import Backoff


def test_default_target_is_istio_addon_prometheus():
    target = prom.proxy_target(None)
    assert target == dict(namespace="istio-system", name="prometheus", port="9090", scheme="http")
    assert prom.service_proxy_path(target) == "/api/v1/namespaces/istio-system/services/prometheus:9090/proxy"


@pytest.mark.parametrize("service, path", [
    (dict(namespace="monitoring", name="kube-prometheus", port=9091),
     "/api/v1/namespaces/monitoring/services/kube-prometheus:9091/proxy"),
    (dict(port="http-web"), "/api/v1/namespaces/istio-system/services/prometheus:http-web/proxy"),
    (dict(scheme="https", port="9443", namespace=None), "/api/v1/namespaces/istio-system/services/https:prometheus:9443/proxy"),
])
def test_path_of_other_services(service, path):
    assert prom.service_proxy_path(prom.proxy_target(service)) == path


@pytest.mark.parametrize("service, words", [
    (dict(namespace="Monitoring"), ["namespace 'Monitoring'", "not a Kubernetes name"]),
    (dict(name="prometheus/../secrets"), ["name 'prometheus/../secrets'"]),
    (dict(port="70000"), ["port 70000 is not a port number"]),
    (dict(port="web:9090"), ["'web:9090' is neither a port number nor a port name"]),
    (dict(scheme="ftp"), ["scheme 'ftp' must be http or https"]),
])
def test_bad_service_options_are_refused_before_any_request(service, words):
    problem = prom.options_problem(dict(service=service))
    assert problem and all(w in problem for w in words), problem


def test_direct_only_options_are_refused_through_the_proxy():
    problem = prom.options_problem(dict(bearer_token="s3cr3t", validate_certs=False))
    assert problem.startswith("prometheus.bearer_token, prometheus.validate_certs=false only apply to a direct "
                              "prometheus.url")
    assert "s3cr3t" not in problem
    # With a URL they are Prometheus's, as before; an empty URL means the proxy.
    assert prom.options_problem(dict(url="https://prom.example.com", bearer_token="s3cr3t")) is None
    assert prom.uses_proxy(dict(url="")) and prom.uses_proxy(None) and not prom.uses_proxy(dict(url="http://p:9090"))
    assert prom.options_problem(dict(url="prometheus:9090")).startswith("prometheus.url 'prometheus:9090' is not")


def test_module_names_are_used_in_the_message():
    problem = prom.options_problem(dict(username="u", validate_certs=False), "",
                                   dict(username="url_username", validate_certs="url_validate_certs"))
    assert problem.startswith("url_username, url_validate_certs=false only apply to a direct url")


class Refused(Exception):
    """What the kubernetes client raises for an error answer: status, reason, body, headers."""

    def __init__(self, status, body, headers=None):
        super().__init__(status)
        self.status, self.reason, self.body, self.headers = status, "x", body, headers or {}


class Dynamic:
    """A DynamicClient that answers every request with one error, counting the requests."""

    class client:  # noqa: N801 - the attribute name of DynamicClient
        class configuration:  # noqa: N801
            host = "https://api.example.com:6443"

    def __init__(self, error):
        self.error = error
        self.calls = []

    def request(self, method, path, **kwargs):
        self.calls.append((method, path, kwargs.get("query_params")))
        raise self.error


def status(code, reason, message):
    return json.dumps(dict(kind="Status", apiVersion="v1", status="Failure", code=code, reason=reason,
                           message=message))


def proxy_error(error):
    dynamic = Dynamic(error)
    client = prom.ProxyClient(dynamic, timeout=3, backoff=Backoff(attempts=2, base=0, cap=0))
    with pytest.raises(prom.PrometheusError) as raised:
        client.query("up")
    return raised.value, dynamic.calls


def test_a_query_is_a_get_on_the_proxy_path():
    _, calls = proxy_error(Refused(400, json.dumps(dict(status="error", errorType="bad_data", error="parse error"))))
    assert calls == [("GET", "/api/v1/namespaces/istio-system/services/prometheus:9090/proxy/api/v1/query",
                      [("query", "up")])]


def test_403_names_the_rbac_permission_and_how_to_grant_it():
    error, calls = proxy_error(Refused(403, status(403, "Forbidden", 'services "prometheus" is forbidden: User '
                                                  '"alice" cannot get resource "services/proxy" in API group "" in '
                                                  'the namespace "istio-system"')))
    assert (error.reason, error.status, len(calls)) == ("auth", 403, 1)
    assert "needs the RBAC verb get on services/proxy in namespace istio-system" in error.message
    assert "kubectl create role prometheus-query -n istio-system --verb=get --resource=services/proxy " \
           "--resource-name=prometheus" in error.message
    assert 'User "alice" cannot get resource "services/proxy"' in error.message


def test_401_is_the_api_servers_credentials():
    error, _ = proxy_error(Refused(401, status(401, "Unauthorized", "Unauthorized")))
    assert error.reason == "auth" and error.message.startswith(
        "The Kubernetes API server at https://api.example.com:6443 rejected the credentials (401)")


def test_404_of_the_api_server_is_a_missing_service_but_prometheus_404_is_a_wrong_path():
    error, _ = proxy_error(Refused(404, status(404, "NotFound", 'services "prometheus" not found')))
    assert error.message.startswith("There is no Service istio-system/prometheus to reach Prometheus")
    assert "prometheus.service" in error.message
    error, _ = proxy_error(Refused(404, "404 page not found"))
    assert error.message.startswith("https://api.example.com:6443/api/v1/namespaces/istio-system/services/"
                                    "prometheus:9090/proxy has no Prometheus API (404)")


def test_503_no_endpoints_is_retried_then_explained():
    error, calls = proxy_error(Refused(503, status(503, "ServiceUnavailable",
                                                   'no endpoints available for service "prometheus:9090"')))
    assert len(calls) == 2 and error.status == 503
    assert error.message.startswith("The API server cannot reach Prometheus behind Service istio-system/prometheus "
                                    "port 9090 (503: no endpoints available")
    assert error.message.endswith("(tried 2 times)")


def test_prometheus_errors_behind_the_proxy_are_unchanged():
    error, _ = proxy_error(Refused(400, json.dumps(dict(status="error", errorType="bad_data", error="parse error"))))
    assert (error.reason, error.message) == ("bad_query", "Prometheus refused the query up (400): parse error. "
                                                          "Fix the PromQL.")


def test_unreachable_api_server():
    error, calls = proxy_error(ConnectionRefusedError(111, "Connection refused"))
    assert (error.reason, error.status, len(calls)) == ("unreachable", "refused", 1)
    assert error.message.startswith("Cannot reach the Kubernetes API server at https://api.example.com:6443 to "
                                    "query Prometheus through its service proxy (Service istio-system/prometheus "
                                    "port 9090)")
