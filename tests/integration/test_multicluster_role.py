"""playbooks/multicluster.yml on simulated clusters listed by the meshops.istio.clusters inventory:
Istio per topology (real helm, test charts shaped like Istio's), shared root CA, east-west gateway,
exposure and remote secrets."""
import base64
import json
import subprocess

import kubernetes
import pytest
import yaml
from cryptography import x509

from sim.charts.build import build_chart_set
from tests.conftest import OUTPUT, REFERENCE, REPO, needs_reference
from tests.integration import burst_support as b
from tests.integration import istio_support as s
from sim.prometheus_harness import wait_until
from tests.standins import istio_crds

VERSION = s.OLD
HELM = str(REPO / ".tools" / "bin" / "helm")
TOKEN_SECRET = "istio-reader-service-account-istio-remote-secret-token"
WINDOW = "6s"
# The cross-network Gateway of Istio's samples/multicluster/expose-services.yaml (checked against it below).
CROSS_NETWORK_GATEWAY = {"selector": {"istio": "eastwestgateway"}, "servers": [
    {"port": {"number": 15443, "name": "tls", "protocol": "TLS"}, "tls": {"mode": "AUTO_PASSTHROUGH"},
     "hosts": ["*.local"]}]}


@needs_reference("the cross-network Gateway against Istio's samples/multicluster/expose-services.yaml")
def test_cross_network_gateway_is_the_one_istios_sample_applies():
    sample = yaml.safe_load((REFERENCE / "istio" / "samples" / "multicluster" / "expose-services.yaml").read_text())
    assert sample["spec"] == CROSS_NETWORK_GATEWAY


@pytest.fixture(scope="module")
def charts(tmp_path_factory):
    return str(build_chart_set(tmp_path_factory.mktemp("charts") / VERSION, VERSION, istio_crds()))


def write_mesh_inventory(path, clusters):
    """A meshops.istio.clusters inventory file for simulated clusters: [(sim, role, network[, vars])]."""
    entries = []
    for sim, role, network, *host_vars in clusters:
        entry = dict(name=sim.name, kubeconfig=sim.kubeconfig_path, context=sim.name, role=role, network=network)
        if host_vars:
            entry["vars"] = host_vars[0]
        entries.append(entry)
    path.write_text(yaml.safe_dump({"plugin": "meshops.istio.clusters", "mesh_id": "mesh1", "clusters": entries}))
    return str(path)


def mesh_vars(charts, tmp_path, **extra):
    return dict(control_plane_version=VERSION, control_plane_charts=charts,
                multicluster_root_dir=str(tmp_path / "mesh-ca"), multicluster_ca_key_type="ec",
                multicluster_wait_timeout=30, **extra)


def helm_values(sim, release):
    out = subprocess.run([HELM, "get", "values", release, "-n", "istio-system", "-o", "json", "--kubeconfig",
                          sim.kubeconfig_path], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def namespace_meta(sim):
    meta = sim.get_object("v1", "Namespace", "istio-system")["metadata"]
    return meta.get("labels") or {}, meta.get("annotations") or {}


def spec_of(sim, kind, name):
    obj = sim.get_object("networking.istio.io/v1", kind, name, "istio-system")
    return obj and obj["spec"]


def remote_secret_clusters(sim):
    return sorted(o["metadata"]["annotations"]["networking.istio.io/cluster"]
                  for o in sim.list_objects("v1", "Secret", "istio-system")
                  if (o["metadata"].get("labels") or {}).get("istio/multiCluster") == "true")


def test_codelab_flow_primary_remote_on_two_networks(kubesim_factory, run_playbook, charts, tmp_path):
    """The codelab on today's Istio: the mesh from the inventory, the hash app on both clusters, then the load
    ramped 5 -> 20 -> 14/16 (around the high threshold) -> 5 moves the worker traffic to the burst cluster once
    and back once."""
    onprem = kubesim_factory("onprem")
    burst = kubesim_factory("burst")
    inventory = write_mesh_inventory(tmp_path / "mesh.clusters.yml",
                                     [(onprem, "primary", "network1", {"hashapp_cluster_role": "primary"}),
                                      (burst, "remote", "network2", {"hashapp_cluster_role": "burst"})])
    extra = mesh_vars(charts, tmp_path)

    check = run_playbook("multicluster.yml", inventory=inventory, extra_vars=extra, check=True, diff=True)
    assert check.rc == 0, check
    assert onprem.writes() == [] and burst.writes() == []
    assert not (tmp_path / "mesh-ca").exists()
    # The diff shows what would be created, Secrets by their keys only.
    cacerts_diff = b.task_results(check, "Give the cluster an intermediate CA under the mesh's root", "onprem")[0]["diff"]
    assert cacerts_diff["after"]["Secret/istio-system/cacerts"]["data"] == {
        "ca-cert.pem": "<hidden>", "ca-key.pem": "<hidden>", "root-cert.pem": "<hidden>", "cert-chain.pem": "<hidden>"}
    assert "PRIVATE KEY" not in check.stdout

    onprem.clear_request_log()
    burst.clear_request_log()
    with s.Timer() as first_time:
        first = run_playbook("multicluster.yml", inventory=inventory, extra_vars=extra)
    assert first.rc == 0, first
    measured = {"first_run": dict(seconds=first_time.seconds, onprem=s.requests_of(onprem), burst=s.requests_of(burst))}
    report = s.debug_msg(first, "Report the mesh")
    assert "(primary-remote, multi-network)" in report
    assert_primary_remote_mesh(onprem, burst, tmp_path)

    # Second run, with -vvv: nothing to do on either cluster, and the reader token never printed.
    # (kubernetes.core.k8s sends its server-side applies again; the objects stay as they are.)
    onprem.clear_request_log()
    burst.clear_request_log()
    versions = (onprem.store.resource_version, burst.store.resource_version)
    with s.Timer() as again_time:
        again = run_playbook("multicluster.yml", inventory=inventory, extra_vars=extra, verbosity=3)
    assert again.rc == 0, again
    measured["second_run"] = dict(seconds=again_time.seconds, onprem=s.requests_of(onprem), burst=s.requests_of(burst))
    assert again.changed == 0, [(t, h) for t, h, r in again.tasks if r.get("changed")]
    assert (onprem.store.resource_version, burst.store.resource_version) == versions
    assert all(r.method == "PATCH" and "fieldManager" in r.query for r in onprem.writes() + burst.writes())
    token = base64.b64decode(burst.get_object("v1", "Secret", TOKEN_SECRET, "istio-system")["data"]["token"]).decode()
    assert token not in again.stdout and token not in again.stderr

    # The hash app: everything on the primary, only the worker (bursty-) on the burst cluster.
    app = run_playbook("hashapp.yml", inventory=inventory)
    assert app.rc == 0, app
    assert s.names(onprem, "apps/v1", "Deployment", "default") == [
        "frontend-deployment", "redis-cache", "worker-deployment"]
    assert s.names(burst, "apps/v1", "Deployment", "default") == ["worker-deployment"]
    worker = burst.get_object("apps/v1", "Deployment", "worker-deployment", "default")["spec"]["template"]
    assert worker["metadata"]["labels"]["cluster-type"] == "burst-cluster"
    assert {"name": "PREFIX", "value": "bursty-"} in worker["spec"]["containers"][0]["env"]
    assert s.names(burst, b.API, "VirtualService", "default") == []
    assert b.weights(onprem, "default") == {"primary": 100, "burst": 0}

    # Load from the frontend to the worker, as the worker sidecars report it, in a real Prometheus.
    env = b.BurstEnv(onprem, primary_cluster="onprem", burst_cluster="burst")
    try:
        env.add_worker("default", 5)
        measured["burst"] = burst_flow(env, run_playbook, inventory)
    finally:
        env.stop()

    # The burst cluster leaves the mesh: its secret goes from the primary, its gateway and exposure go.
    gone = run_playbook("multicluster.yml", inventory=inventory, limit="burst",
                        extra_vars=dict(extra, multicluster_state="absent"))
    assert gone.rc == 0, gone
    assert remote_secret_clusters(onprem) == []
    assert spec_of(burst, "Gateway", "cross-network-gateway") is None
    assert "istio-eastwestgateway" not in s.helm_releases(burst)
    for run in measured["first_run"], measured["second_run"]:
        for cluster in ("onprem", "burst"):
            run[cluster].pop("by_method")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "multicluster_measurements.json").write_text(json.dumps(measured, indent=2))


def burst_flow(env, run_playbook, inventory):
    """The load goes 5 -> 20 -> 14/16/14 -> 5 req/s. A 6s rate window (the codelab's is 15s, which
    tests/integration/test_burst.py uses) lets the rate settle faster after each change."""
    prometheus = env.prometheus.url

    def wait(low, high):
        return b.wait_rate(env.prometheus, "default", low, high, window=WINDOW)

    def once(**extra):
        run = run_playbook("burst.yml", inventory=inventory, extra_vars=dict(
            burst_prometheus_url=prometheus, burst_window=WINDOW, **extra))
        assert run.rc == 0, run
        (res,) = b.task_results(run, "Check the worker load and set the weights")
        return res

    wait(4, 6)
    quiet = once()
    assert [d["action"] for d in quiet["decisions"]] == ["stay"] and not quiet["changed"]

    env.set_rate("default", 20)
    wait(18, 22)
    env.sim.clear_request_log()
    with s.Timer() as enter_time:
        entered = once()
    # meshsim lists the namespace's VirtualServices and DestinationRules every half second; the rest is the job's.
    job = [r for r in env.sim.request_log
           if not (r.method == "GET" and r.path.endswith(("/virtualservices", "/destinationrules")))]
    enter_cost = dict(seconds=enter_time.seconds, requests=len(job),
                      writes=[f"{r.method} {r.path}" for r in job if r.method != "GET" and not r.dry_run])
    (decision,) = entered["decisions"]
    assert decision["action"] == "enter" and decision["reason"] == "%.2f req/s is above high (15.0)" % decision["rate"]
    assert b.weights(env.sim, "default") == {"primary": 0, "burst": 100}
    # The simulated sidecars follow the new route: the burst workers take every request.
    env.mesh.reload()
    before = env.served("default")
    wait_until(lambda: env.served("default")["burst"] >= before["burst"] + 40, timeout=15,
               message="requests reaching the burst workers")
    assert env.served("default")["primary"] == before["primary"]

    # The load flaps around the high threshold: traffic stays on the burst cluster.
    log = []
    for rate, low, high in ((14, 13.5, 14.5), (16, 15.5, 16.5), (14, 13.5, 14.5)):
        env.set_rate("default", rate)
        wait(low, high)
        res = once(burst_mode="watch", burst_interval=1, burst_max_checks=2)
        log += res["decisions"]
        assert not res["changed"]
    assert [d["action"] for d in log] == ["stay"] * 6
    assert min(d["rate"] for d in log) < 15 < max(d["rate"] for d in log)
    assert b.weights(env.sim, "default") == {"primary": 0, "burst": 100}

    env.set_rate("default", 5)
    wait(4, 6)
    left = once()
    assert [d["action"] for d in left["decisions"]] == ["leave"]
    assert b.weights(env.sim, "default") == {"primary": 100, "burst": 0}
    state = json.loads(env.sim.get_object(b.API, "VirtualService", b.VS, "default")["metadata"]["annotations"][
        b.ANNOTATION])
    assert state == {"in_burst": False, "burst_weight": 0, "since": left["decisions"][0]["since"]}
    return {"burst.yml that enters burst": enter_cost}


def assert_primary_remote_mesh(onprem, burst, tmp_path):
    """What playbooks/multicluster.yml leaves on a primary (onprem, network1) and a remote (burst, network2)."""
    # Network identity on both, and the remote names its control plane cluster.
    assert namespace_meta(onprem)[0]["topology.istio.io/network"] == "network1"
    labels, annotations = namespace_meta(burst)
    assert labels["topology.istio.io/network"] == "network2"
    assert annotations["topology.istio.io/controlPlaneClusters"] == "onprem"

    # One root, two intermediates.
    root = x509.load_pem_x509_certificate((tmp_path / "mesh-ca" / "root-cert.pem").read_bytes())
    for sim in (onprem, burst):
        data = sim.get_object("v1", "Secret", "cacerts", "istio-system")["data"]
        x509.load_pem_x509_certificate(base64.b64decode(data["ca-cert.pem"])).verify_directly_issued_by(root)

    # Istio per role: the primary runs istiod for both (external istiod), the remote only its config.
    assert s.helm_releases(onprem) == {"istio-base": "1", "istiod": "1", "istio-eastwestgateway": "1",
                                       "istio-ingressgateway": "1"}
    assert s.helm_releases(burst) == {"istio-base": "1", "istiod": "1", "istio-eastwestgateway": "1"}
    primary_values = helm_values(onprem, "istiod")
    assert primary_values["global"]["meshID"] == "mesh1"
    assert primary_values["global"]["multiCluster"] == {"clusterName": "onprem"}
    assert primary_values["global"]["network"] == "network1"
    assert primary_values["global"]["externalIstiod"] is True
    remote_values = helm_values(burst, "istiod")
    assert remote_values["profile"] == "remote"
    assert remote_values["global"]["multiCluster"] == {"clusterName": "burst"}
    assert remote_values["global"]["network"] == "network2"
    # kubesim gives LoadBalancer Services the address 127.0.0.1.
    assert remote_values["global"]["remotePilotAddress"] == "127.0.0.1"
    assert remote_values["istiodRemote"]["injectionPath"] == "/inject/cluster/burst/net/network2"
    assert helm_values(burst, "istio-base")["profile"] == "remote"
    assert s.names(burst, "apps/v1", "Deployment", "istio-system") == ["istio-eastwestgateway"]

    # East-west gateway: selected by istio=eastwestgateway, 15443 open, on its network.
    for sim, network in ((onprem, "network1"), (burst, "network2")):
        service = sim.get_object("v1", "Service", "istio-eastwestgateway", "istio-system")
        assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {
            "status-port": 15021, "tls": 15443, "tls-istiod": 15012, "tls-webhook": 15017}
        assert service["spec"]["selector"]["istio"] == "eastwestgateway"
        pod_labels = sim.get_object("apps/v1", "Deployment", "istio-eastwestgateway", "istio-system")[
            "spec"]["template"]["metadata"]["labels"]
        assert pod_labels["istio"] == "eastwestgateway"
        assert pod_labels["topology.istio.io/network"] == network
        # The cross-network Gateway is the one Istio's sample applies.
        assert spec_of(sim, "Gateway", "cross-network-gateway") == CROSS_NETWORK_GATEWAY
    # istiod is exposed on the primary only.
    istiod_gateway = spec_of(onprem, "Gateway", "istiod-gateway")
    assert [(sv["port"]["number"], sv["tls"]["mode"]) for sv in istiod_gateway["servers"]] == [
        (15012, "PASSTHROUGH"), (15017, "PASSTHROUGH")]
    routes = spec_of(onprem, "VirtualService", "istiod-vs")["tls"]
    assert [(r["match"][0]["port"], r["route"][0]["destination"]["port"]["number"]) for r in routes] == [
        (15012, 15012), (15017, 443)]
    assert spec_of(burst, "Gateway", "istiod-gateway") is None

    # The primary reads the remote through its remote secret; nothing goes the other way.
    assert remote_secret_clusters(onprem) == ["burst"]
    assert remote_secret_clusters(burst) == []
    secret = onprem.get_object("v1", "Secret", "istio-remote-secret-burst", "istio-system")
    config = yaml.safe_load(base64.b64decode(secret["data"]["burst"]))
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config_from_dict(config, client_configuration=configuration)
    api = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(configuration))
    assert "istio-system" in [n.metadata.name for n in api.list_namespace().items]


def test_multi_primary_on_one_network(kubesim_factory, run_playbook, tmp_path):
    """Two primaries on one network, Istio already installed by the user: only the mesh wiring runs."""
    east = kubesim_factory("east", istio_crds=True)
    west = kubesim_factory("west", istio_crds=True)
    inventory = write_mesh_inventory(tmp_path / "mesh.clusters.yml",
                                     [(east, "primary", "net1"), (west, "primary", "net1")])
    extra = dict(multicluster_install_control_plane=False, multicluster_root_dir=str(tmp_path / "ca"),
                 multicluster_ca_key_type="ec")
    first = run_playbook("multicluster.yml", inventory=inventory, extra_vars=extra)
    assert first.rc == 0, first
    assert "(multi-primary, one network)" in s.debug_msg(first, "Report the mesh")
    # Each primary reads the other; one network needs no east-west gateway.
    assert remote_secret_clusters(east) == ["west"]
    assert remote_secret_clusters(west) == ["east"]
    for sim in (east, west):
        assert sim.get_object("v1", "Service", "istio-eastwestgateway", "istio-system") is None
        assert s.names(sim, b.API, "Gateway", "istio-system") == []
        assert namespace_meta(sim) == ({"kubernetes.io/metadata.name": "istio-system",
                                        "topology.istio.io/network": "net1"}, {})
    # Both intermediates under one root.
    roots = {base64.b64decode(sim.get_object("v1", "Secret", "cacerts", "istio-system")["data"]["root-cert.pem"])
             for sim in (east, west)}
    assert len(roots) == 1
    east.clear_request_log()
    west.clear_request_log()
    again = run_playbook("multicluster.yml", inventory=inventory, extra_vars=extra)
    assert again.rc == 0 and again.changed == 0, again
    assert east.writes() == [] and west.writes() == []


@pytest.mark.parametrize("roles, extra, message", [
    (("remote", "remote"), {}, "The mesh is not consistent"),
    (("primary", "remote"), {"multicluster_eastwest_service_type": "NodePort"},
     "Remote clusters reach their primary's istiod at the external address of its east-west gateway"),
    # An AWX bearer token credential beside per-cluster kubeconfigs: every module would reach one server.
    (("primary", "primary"), {"env": "token"},
     "and its credentials are set, so every module reaches that one API server whatever kubeconfig and context say, "
     "but the mesh has 2 clusters"),
])
def test_broken_mesh_is_refused_before_any_change(kubesim_factory, run_playbook, charts, tmp_path, roles, extra,
                                                  message):
    a = kubesim_factory("a")
    b_sim = kubesim_factory("b")
    inventory = tmp_path / "hosts.yml"
    # A hand-written inventory (no inventory plugin): groups and istio_* variables by hand.
    groups = {"primary": {"hosts": {}}, "remote": {"hosts": {}}}
    for sim, role in zip((a, b_sim), roles):
        groups[role]["hosts"][sim.name] = dict(
            ansible_connection="local", ansible_python_interpreter="{{ ansible_playbook_python }}",
            kubeconfig=sim.kubeconfig_path, context=sim.name, istio_cluster_role=role)
    inventory.write_text(yaml.safe_dump({"all": {"children": groups}}))
    env = {"K8S_AUTH_HOST": a.url, "K8S_AUTH_API_KEY": a.admin_token} if extra.get("env") else {}
    extra = dict((k, v) for k, v in extra.items() if k != "env")
    result = run_playbook("multicluster.yml", inventory=str(inventory),
                          extra_vars=dict(mesh_vars(charts, tmp_path), **extra), env=env)
    assert result.rc != 0
    assert any(message in m for m in result.failed_msgs), result.failed_msgs
    if roles == ("remote", "remote"):
        assert any("at least one cluster a primary" in m for m in result.failed_msgs)
    assert a.writes() == [] and b_sim.writes() == []
