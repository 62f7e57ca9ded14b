"""kubernetes.core's auth forms, for real: kubesim serves HTTPS with its own CA and checks bearer tokens.

- host + api_key + ca_cert as module defaults, and a kubeconfig file alone (KUBECONFIG, its current
  context): the roles of namespaces.yml, bookinfo.yml, hashapp.yml, release.yml and burst.yml, then
  every module called directly (one ansible-playbook run each);
- the K8S_AUTH_* variables alone (no kubeconfig anywhere): the same playbooks themselves, through the
  clusters inventory plugin of inventories/local, then every module (one run);
- a bearer token reaches the API server and nothing else: service names that look like addresses,
  and the old option name ``host``, never make a module connect to a listener;
- an API server that is down is named by its URL.
The kubeconfig + context form is what every other integration test uses.
"""
import base64
import json
import math

import pytest

from tests.conftest import REPO
from tests.integration import auth_support as auth
from tests.integration import burst_support as b
from tests.integration.apps_support import install_minimal_istio, pods, results
from tests.integration.release_env import ReleaseEnv
from ansible_collections.meshops.istio.plugins.module_utils.release import state as rl
from ansible_collections.meshops.istio.plugins.module_utils import routing as rt

PLAYBOOKS = REPO / "tests" / "integration" / "playbooks"
API = "networking.istio.io/v1"
BOOKINFO_DEPLOYMENTS = {"details-v1", "ratings-v1", "reviews-v1", "reviews-v2", "reviews-v3", "productpage-v1"}
HASHAPP_DEPLOYMENTS = {"redis-cache", "frontend-deployment", "worker-deployment"}


class Mesh:
    """A cluster with Istio's CRDs, injector and ingress gateway; reviews split 50/50 between v1 and v3
    and the codelab's worker, both with simulated traffic that a real Prometheus scrapes; and a second
    cluster that the remote secret goes to."""

    def __init__(self, kubesim_factory, form):
        self.form = form
        self.sim = install_minimal_istio(kubesim_factory("source", istio_crds=True))
        self.target = kubesim_factory("target")
        self.target.create_objects([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}}])
        self.env = ReleaseEnv(self.sim)
        self.release_ns = self.env.namespace(rate=40, versions=["v1", "v3"], vs="virtual-service-reviews-50-v3.yaml")
        self.burst_ns = "burst-%s" % form
        self.sim.create_objects(b.worker_routing(self.burst_ns))
        self.env.mesh.add_service("worker-service", self.burst_ns, rate=20, versions=b.worker_versions(),
                                  source_workload="frontend-deployment")
        self.env.mesh.reload()

    def wait_for_traffic(self):
        canary = ('sum(increase(istio_requests_total{reporter="destination",destination_service_name="reviews",'
                  'destination_workload_namespace="%s",destination_version="v3"}[15s]))' % self.release_ns)
        self.env.prometheus.wait_for(canary, timeout=60, check=lambda r: bool(r) and not math.isnan(
            float(r[0]["value"][1])) and float(r[0]["value"][1]) >= 20)
        b.wait_rate(self.env.prometheus, self.burst_ns, 17, 23)

    def extra_vars(self, tmp_path, targets):
        return {
            "meshops_target": "all",
            "mesh_namespace_list": [{"name": "mesh-%s" % self.form}],
            "bookinfo_namespace": "shop-%s" % self.form,
            "hashapp_namespace": "hash-%s" % self.form,
            "release_service": "reviews", "release_namespace": self.release_ns, "release_canary_version": "v3",
            "release_stable_version": "v1", "release_steps": "50,100", "release_interval": 0,
            "release_window": "15s", "release_min_requests": 5, "release_threshold": 0,
            "release_prometheus_url": self.env.prometheus.url,
            "burst_namespace": self.burst_ns, "burst_prometheus_url": self.env.prometheus.url,
            "auth_cluster": "cluster-%s" % self.form, "auth_root_dir": str(tmp_path / "mesh-ca"),
            # The minimal Istio's istiod runs 1.24.0 (sim/webhook_support.py); the precheck allows one
            # minor version up.
            "auth_istio_version": "1.25.0", "auth_namespace": "labelled-%s" % self.form,
            "auth_targets": targets, "auth_prometheus_url": self.env.prometheus.url,
        }

    def stop(self):
        self.env.stop()


@pytest.fixture
def mesh_factory(kubesim_factory):
    made = []

    def make(form):
        made.append(Mesh(kubesim_factory, form))
        return made[-1]
    yield make
    for mesh in made:
        mesh.stop()


def deployments(sim, namespace):
    return {d["metadata"]["name"] for d in sim.list_objects("apps/v1", "Deployment", namespace)
            if (d.get("status") or {}).get("availableReplicas") == 1}


def assert_cluster_state(mesh, run):
    """What each playbook and module leaves on the clusters, read back from kubesim."""
    sim, form = mesh.sim, mesh.form
    labels = sim.get_object("v1", "Namespace", "mesh-%s" % form)["metadata"]["labels"]
    assert labels["istio-injection"] == "enabled"
    assert deployments(sim, "shop-%s" % form) == BOOKINFO_DEPLOYMENTS
    assert deployments(sim, "hash-%s" % form) == HASHAPP_DEPLOYMENTS
    assert all(any(c["name"] == "istio-proxy" for c in p["spec"]["containers"]) for p in pods(sim, "shop-%s" % form))

    state = rl.load(mesh.env.vs(mesh.release_ns)["metadata"]["annotations"])
    assert (state["name"], state["phase"], state["canary"]) == ("reviews-v3", "succeeded", "v3")
    assert rt.current_split(mesh.env.vs(mesh.release_ns), "reviews", mesh.release_ns) == {"v3": 100}
    assert b.weights(sim, mesh.burst_ns) == {"primary": 0, "burst": 100}

    # Direct module calls.
    split = rt.current_split(sim.get_object(API, "VirtualService", "reviews", "shop-%s" % form), "reviews",
                             "shop-%s" % form)
    assert split == {"v1": 50, "v2": 50}
    labelled = sim.get_object("v1", "Namespace", "labelled-%s" % form)["metadata"]["labels"]
    assert labelled["auth-form"] == "cluster-%s" % form and labelled["istio-injection"] == "enabled"
    cacerts = sim.get_object("v1", "Secret", "cacerts", "istio-system")
    assert set(cacerts["data"]) >= {"ca-cert.pem", "ca-key.pem", "root-cert.pem", "cert-chain.pem"}
    secret_name = "istio-remote-secret-cluster-%s" % form
    remote = mesh.target.get_object("v1", "Secret", secret_name, "istio-system")
    assert remote["metadata"]["annotations"]["networking.istio.io/cluster"] == "cluster-%s" % form
    kubeconfig = base64.b64decode(remote["data"]["cluster-%s" % form]).decode()
    assert "https://cluster-%s.example.com:6443" % form in kubeconfig
    assert sim.get_object("v1", "Secret", secret_name, "istio-system") is None, "the target is another cluster"
    (info,) = results(run, "Report the Istio control planes")
    # The minimal Istio's istiod (1.24.0), read through the same auth.
    assert (info["installed"], info["version"]) == (True, "1.24.0") and info["kubernetes_version"]
    (precheck,) = results(run, "Check that Istio can be installed")
    assert precheck["problems"] == [] and precheck["installed"]["installed"] is True
    (status,) = results(run, "Read the release")
    assert status["changed"] is False and status["phase"] == "succeeded"
    (burst,) = results(run, "Check the worker load in check mode")
    assert burst["decisions"][0]["action"] == "stay" and burst["changed"] is False
    (query,) = results(run, "Ask Prometheus")
    assert query["value"] == 1


def assert_token_reached_only_the_api_server(mesh, run):
    assert run.failed == 0 and run.rc == 0, run
    accepted = auth.authenticated(mesh.sim)
    assert len(accepted) > 50, "every module and role call was authenticated with the token"
    assert [r for r in mesh.sim.request_log if r.status == 401] == []
    assert auth.authenticated(mesh.target), "the remote secret reached the target with its own auth"
    assert mesh.sim.admin_token not in run.stdout + run.stderr
    assert mesh.target.admin_token not in run.stdout + run.stderr


@pytest.mark.parametrize("form", ["token", "kubeconfig"])
def test_every_playbook_and_module_with_module_defaults_or_a_kubeconfig_file(mesh_factory, run_playbook, tmp_path,
                                                                             form):
    """token: host + api_key + ca_cert as module defaults, no kubeconfig anywhere. kubeconfig: only the
    file that KUBECONFIG names, with its current context (no context given anywhere)."""
    mesh = mesh_factory(form)
    mesh.wait_for_traffic()
    home = tmp_path / "empty-home"
    home.mkdir()
    env = {"KUBECONFIG": str(tmp_path / "no-such-kubeconfig"), "HOME": str(home)}
    if form == "token":
        extra = mesh.extra_vars(tmp_path, [dict(name="target", **auth.token_auth(mesh.target, tmp_path))])
        extra.update({"auth_%s" % k: v for k, v in auth.token_auth(mesh.sim, tmp_path).items()})
    else:
        extra = mesh.extra_vars(tmp_path, [{"name": "target", "kubeconfig": str(mesh.target.kubeconfig_path)}])
        env["KUBECONFIG"] = str(mesh.sim.kubeconfig_path)
    inventory = tmp_path / "hosts.yml"
    # No kubeconfig or context in the inventory: the play's module defaults (or KUBECONFIG) are the auth.
    inventory.write_text(json.dumps({"all": {"hosts": {"cluster": {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}}}}))
    mesh.sim.clear_request_log()
    run = run_playbook(str(PLAYBOOKS / "auth_defaults.yml"), extra_vars=extra, inventory=inventory, env=env)
    assert_token_reached_only_the_api_server(mesh, run)
    assert_cluster_state(mesh, run)


def test_every_playbook_and_module_with_k8s_auth_environment_only(mesh_factory, run_playbook, tmp_path):
    mesh = mesh_factory("env")
    mesh.wait_for_traffic()
    # The target by a kubeconfig held in a variable (no file): kubernetes.core would connect it to
    # K8S_AUTH_HOST with K8S_AUTH_API_KEY if those were not kept for the module's own cluster.
    extra = mesh.extra_vars(tmp_path, [{"name": "target", "kubeconfig": mesh.target.kubeconfig("target")}])
    mesh.sim.clear_request_log()
    run = run_playbook(str(PLAYBOOKS / "auth_env.yml"), extra_vars=extra,
                       inventory=str(REPO / "inventories" / "local"), env=auth.env_only(mesh.sim, tmp_path))
    assert_token_reached_only_the_api_server(mesh, run)
    assert_cluster_state(mesh, run)
    assert {h for _t, h, _r in run.tasks} == {"local"}, "one host, made by the inventory from K8S_AUTH_*"


def test_the_token_goes_to_the_api_server_and_nowhere_else(kubesim_istio, run_playbook, tmp_path):
    sim = kubesim_istio
    decoy, control = auth.Listener().start(), auth.Listener().start()
    closed = auth.closed_port()
    try:
        sim.clear_request_log()
        run = run_playbook(str(PLAYBOOKS / "auth_listener.yml"), extra_vars={
            "auth_decoy": decoy.address, "auth_control": control.address, "auth_closed_port": closed,
            "auth_namespace": "default", "auth_prometheus_url": "http://127.0.0.1:%d" % closed},
            inventory=_local_inventory(tmp_path), env=auth.env_only(sim, tmp_path))
    finally:
        decoy.stop()
        control.stop()
    msgs = {name: r.get("msg", "") for name, _h, r in run.tasks}
    assert all(r.get("failed") for _n, _h, r in run.tasks), msgs

    # Service names that look like an address are not DNS names: refused before any request (issue 10).
    not_a_name = "service '%s' is not valid: it must be a DNS-1123 subdomain" % decoy.address
    assert msgs["Release status of a service named like the listener"].startswith(not_a_name)
    assert msgs["Traffic of a service named like the listener"].startswith(not_a_name)
    assert msgs["Burst with the listener as the service"].startswith(not_a_name)
    # The old option name: without service a required option is missing; beside it, or where service has
    # a default, host is the API server's URL and an address without a scheme is refused unsent.
    assert msgs["Release status with the old option name"] == "missing required arguments: service"
    refused = ("host (the API server's URL, also K8S_AUTH_HOST) is '%s', which is not a URL such as "
               "https://api.example.com:6443, so nothing was sent there." % decoy.address)
    assert msgs["Release status with the old option name beside the new one"].startswith(refused)
    assert msgs["Burst with the old option name (service keeps its default)"].startswith(refused)
    # An API server that is down is named by its URL, whatever the auth.
    assert msgs["Report the control planes of an API server that is down"].startswith(
        "Cannot reach the Kubernetes API server at https://127.0.0.1:%d (" % closed)

    assert decoy.connections == 0 and decoy.received == b""
    # The control: an API server URL given on purpose does get the token, so the decoy would have seen it.
    assert control.connections >= 1
    assert b"authorization: bearer " + sim.admin_token.encode() in control.received.lower()
    assert not [r for r in sim.request_log if r.path.endswith("/127")], "a refused name is never looked up"
    assert [r for r in sim.request_log if r.status == 401] == []
    assert sim.admin_token not in run.stdout + run.stderr


def _local_inventory(tmp_path):
    path = tmp_path / "hosts.yml"
    path.write_text(json.dumps({"all": {"hosts": {"cluster": {
        "ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}}}}))
    return path
