"""Prometheus through the Kubernetes API server's service proxy, end to end: module -> kubesim's
/api/v1/namespaces/istio-system/services/prometheus:9090/proxy -> the real Prometheus scraping meshsim.

With a kubeconfig (its context), and with host + api_key + ca_cert of a ServiceAccount token as module
defaults (no kubeconfig anywhere); a 403 of the proxy explained, with nothing moved; check mode; bad
options refused before any request; the release role's default through the proxy is in
test_release_role.py, the burst role's in test_burst.py."""
import json
import uuid
from pathlib import Path

import pytest
import yaml

from tests.integration import auth_support as auth
from tests.integration.release_env import ReleaseEnv
from ansible_collections.meshops.istio.plugins.module_utils import routing as rt

PROXY_QUERY = "/api/v1/namespaces/istio-system/services/prometheus:9090/proxy/api/v1/query"
READER = "system:serviceaccount:ops:release-bot"


@pytest.fixture(scope="module")
def env(kubesim_istio_module):
    env = ReleaseEnv(kubesim_istio_module)
    env.prometheus.wait_scraped(4)
    yield env
    env.stop()


def play(tmp_path, tasks, defaults=None):
    """A playbook of ``tasks`` with the given module defaults for the collection's group (the inventory's
    kubeconfig and context when none are given)."""
    defaults = defaults or {"kubeconfig": "{{ kubeconfig | default(omit) }}", "context": "{{ context | default(omit) }}"}
    doc = [{"name": "Query Prometheus through the API server", "hosts": "all", "gather_facts": False,
            "module_defaults": {"group/meshops.istio.istio": defaults}, "tasks": tasks}]
    path = Path(tmp_path) / ("play-%s.yml" % uuid.uuid4().hex[:6])
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return str(path)


def token_run(env, run_playbook, tmp_path, tasks, token):
    """``tasks`` authenticated by host + api_key (a ServiceAccount's token) + ca_cert as module defaults,
    with no kubeconfig to be found anywhere."""
    inventory = Path(tmp_path) / "token-hosts.yml"
    inventory.write_text(json.dumps({"all": {"hosts": {"cluster": {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}}}}))
    home = Path(tmp_path) / "empty-home"
    home.mkdir(exist_ok=True)
    defaults = {"host": env.sim.url, "api_key": token, "ca_cert": auth.ca_file(env.sim, tmp_path)}
    return run_playbook(play(tmp_path, tasks, defaults), inventory=str(inventory),
                        env={"KUBECONFIG": str(Path(tmp_path) / "no-such-kubeconfig"), "HOME": str(home)})


def proxied(sim):
    return [r for r in sim.request_log if r.path == PROXY_QUERY]


def module_requests(sim):
    """The request log without meshsim's polling of the routing (it reads the cluster all along)."""
    return [r for r in sim.request_log
            if not (r.method == "GET" and r.path.endswith(("/virtualservices", "/destinationrules")))]


def rate_query(ns):
    return {"metric": "request_rate", "service": "reviews", "namespace": ns, "window": "4s"}


def test_query_with_the_kubeconfig_in_check_mode(env, run_playbook, tmp_path):
    ns = env.namespace(rate=50)
    env.prometheus.wait_for('sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="%s"}'
                            '[4s])) > 40' % ns, timeout=60)
    env.sim.clear_request_log()
    forwarded = len(env.sim.service_proxy.forwarded)
    tasks = [{"name": "Rate", "meshops.istio.prometheus_query": rate_query(ns), "register": "rate"},
             {"name": "Range", "meshops.istio.prometheus_query": {
                 "query": 'sum(rate(istio_requests_total{destination_workload_namespace="%s"}[4s]))' % ns,
                 "start": "now-6s", "step": "2s"}}]
    run = run_playbook(play(tmp_path, tasks), env.sim, check=True)
    assert run.rc == 0, run
    (rate,) = run.results("Rate")
    (matrix,) = run.results("Range")
    assert rate["value"] == pytest.approx(50, rel=0.3) and not rate["changed"]
    points = [v["timestamp"] for v in matrix["result"][0]["values"]]
    assert matrix["result_type"] == "matrix" and len(points) >= 2 and points[1] - points[0] == 2.0
    # Both through the proxy, as the kubeconfig's user, read-only: nothing written, even as a dry run.
    assert [(r.method, r.status, r.user) for r in proxied(env.sim)] == [("GET", 200, auth.ADMIN)]
    assert [(r.method, r.status) for r in env.sim.request_log if r.path == PROXY_QUERY + "_range"] == [("GET", 200)]
    assert [q["path"] for q in env.sim.service_proxy.forwarded[forwarded:]] == ["/api/v1/query", "/api/v1/query_range"]
    assert env.sim.writes() == [] and not any(r.dry_run for r in module_requests(env.sim))
    env.done(ns)


def test_release_and_query_with_a_service_account_token(env, run_playbook, tmp_path):
    ns = env.namespace(rate=120)
    env.prometheus.wait_for('sum(rate(istio_requests_total{reporter="destination",destination_workload_namespace="%s"}'
                            '[4s])) > 100' % ns, timeout=60)
    token = env.sim.issue_token(READER, 3600, str(uuid.uuid4()))
    analysis = {"interval": 4, "window": 4, "success_rate": 99, "min_requests": 10, "threshold": 0}
    tasks = [{"name": "Query", "meshops.istio.prometheus_query": rate_query(ns)},
             {"name": "Release", "meshops.istio.istio_release": {
                 "action": "run", "service": "reviews", "namespace": ns, "canary": "v2", "steps": [50, 100],
                 "analysis": analysis}}]
    env.sim.clear_request_log()
    run = token_run(env, run_playbook, tmp_path, tasks, token)
    assert run.rc == 0, run
    (query,) = run.results("Query")
    (release,) = run.results("Release")
    assert query["value"] == pytest.approx(120, rel=0.3)
    assert release["outcomes"] == ["started", "advanced", "promoted"]
    assert rt.current_split(env.vs(ns), "reviews", ns) == {"v2": 100}
    # Every query was the ServiceAccount's, through the proxy; its token went to the API server only.
    queries = proxied(env.sim)
    assert len(queries) >= 5 and {(r.status, r.user) for r in queries} == {(200, READER)}
    assert token not in run.stdout + run.stderr
    env.done(ns)


def test_403_from_the_proxy_is_explained_and_nothing_moves(env, run_playbook, tmp_path):
    ns = env.namespace(rate=50)
    token = env.sim.issue_token(READER, 3600, str(uuid.uuid4()))
    env.sim.service_proxy.forbid("istio-system", user=READER)
    try:
        tasks = [{"name": "Query", "meshops.istio.prometheus_query": rate_query(ns), "ignore_errors": True},
                 {"name": "Start", "meshops.istio.istio_release": {
                     "action": "start", "service": "reviews", "namespace": ns, "canary": "v2", "steps": [10, 100]},
                  "ignore_errors": True},
                 {"name": "Burst check in check mode", "meshops.istio.istio_burst": {
                     "service": "reviews", "namespace": ns, "virtual_service": "reviews", "destination_rule": "reviews",
                     "primary_subset": "v1", "burst_subset": "v2"}, "check_mode": True, "ignore_errors": True}]
        env.sim.clear_request_log()
        run = token_run(env, run_playbook, tmp_path, tasks, token)
    finally:
        env.sim.service_proxy.allow_all()
    (query,) = run.results("Query")
    (start,) = run.results("Start")
    (burst,) = run.results("Burst check in check mode")
    rbac = ('Not allowed to query Prometheus through the API server\'s service proxy (403 Forbidden: services '
            '"prometheus" is forbidden: User "%s" cannot get resource "services/proxy" in API group "" in the '
            'namespace "istio-system"). The identity of this kubeconfig (or api_key) needs the RBAC verb get on '
            'services/proxy in namespace istio-system, for example: kubectl create role prometheus-query -n '
            'istio-system --verb=get --resource=services/proxy --resource-name=prometheus' % READER)
    assert query["failed"] and query["msg"].startswith(rbac) and query["reason"] == "auth" and query["status"] == 403
    assert start["failed"] and start["msg"].startswith("Release reviews-v2 not started, no traffic moved: " + rbac)
    assert burst["failed"] and rbac in burst["msg"] and "The weights were left as they are" in burst["msg"]
    # Refused once each (a 403 is not retried), nothing forwarded, nothing written, and no secret shown.
    assert [(r.status, r.user) for r in proxied(env.sim)] == [(403, READER)] * 3
    assert env.sim.writes() == [] and rt.current_split(env.vs(ns), "reviews", ns) == {"v1": 100}
    assert token not in run.stdout + run.stderr
    env.done(ns)


@pytest.mark.parametrize("options, message", [
    ({"prometheus_service": {"port": "web:1"}}, "prometheus service port 'web:1' is neither a port number nor a port name"),
    ({"prometheus_service": {"namespace": "Istio_System"}}, "prometheus service namespace 'Istio_System' is not a "
                                                             "Kubernetes name"),
    ({"bearer_token": "tok-SECRET-7"}, "bearer_token only applies to a direct url: without one Prometheus is queried "
                                       "through the Kubernetes API server's service proxy"),
    ({"url_validate_certs": False}, "url_validate_certs=false only applies to a direct url"),
    ({"url": "http://127.0.0.1:9", "username": "admin", "password": "pw-SECRET-3"},
     "username and password are the Kubernetes API server's credentials (kubernetes.core's auth options); for basic "
     "authentication to Prometheus at url give url_username and url_password."),
])
def test_bad_options_are_refused_before_any_request(env, run_playbook, tmp_path, options, message):
    tasks = [{"name": "Query", "meshops.istio.prometheus_query": dict({"query": "up"}, **options)}]
    env.sim.clear_request_log()
    run = run_playbook(play(tmp_path, tasks), env.sim)
    assert run.rc != 0
    (msg,) = run.failed_msgs
    assert message in msg, msg
    assert module_requests(env.sim) == []
    assert "SECRET" not in run.stdout.replace("VALUE_SPECIFIED_IN_NO_LOG_PARAMETER", "")


def test_another_service_and_the_missing_one(env, run_playbook, tmp_path):
    """prometheus_service names where Prometheus runs; a Service that is not there says so (404, not retried)."""
    if env.sim.get_object("v1", "Namespace", "monitoring") is None:
        env.sim.create_objects({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "monitoring"}})
    env.sim.create_objects({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "kube-prometheus",
                                                                                 "namespace": "monitoring"},
                            "spec": {"ports": [{"name": "web", "port": 9091}]}})
    env.sim.service_proxy.register("monitoring", "kube-prometheus", 9091, env.prometheus.url)
    tasks = [{"name": "Named port", "meshops.istio.prometheus_query": {
                 "query": "vector(1)", "prometheus_service": {"namespace": "monitoring", "name": "kube-prometheus",
                                                              "port": "web"}}},
             {"name": "Missing", "meshops.istio.prometheus_query": {
                 "query": "vector(1)", "prometheus_service": {"name": "thanos"}}, "ignore_errors": True}]
    env.sim.clear_request_log()
    run = run_playbook(play(tmp_path, tasks), env.sim)
    (found,) = run.results("Named port")
    (missing,) = run.results("Missing")
    assert found["value"] == 1.0
    assert missing["msg"] == ('There is no Service istio-system/thanos to reach Prometheus through the API server\'s '
                              'service proxy (404: services "thanos" not found). Install the Prometheus addon '
                              '(playbooks/addons.yml), name the Service where it runs (prometheus_service: namespace, '
                              'name, port), or give url.')
    paths = [(r.path, r.status) for r in env.sim.request_log if "/proxy/" in r.path]
    assert paths == [("/api/v1/namespaces/monitoring/services/kube-prometheus:web/proxy/api/v1/query", 200),
                     ("/api/v1/namespaces/istio-system/services/thanos:9090/proxy/api/v1/query", 404)]
