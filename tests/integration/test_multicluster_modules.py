"""istio_remote_secret and istio_cacerts, run by real ansible-playbook against two or three kubesims."""
import base64
import os
import stat

import kubernetes
import pytest
import yaml
from cryptography import x509

from tests.conftest import REPO

PLAYBOOK = str(REPO / "tests" / "integration" / "playbooks" / "multicluster_modules.yml")
RS_TASK = "Ensure the remote secret"
CA_TASK = "Ensure the cacerts"
ISTIO_SYSTEM = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}}
TOKEN_SECRET = "istio-reader-service-account-istio-remote-secret-token"


@pytest.fixture
def mesh(kubesim_factory):
    """Two clusters with istio-system: 'onprem' (a primary) and 'burst' (whose secret it gets)."""
    onprem = kubesim_factory("onprem")
    burst = kubesim_factory("burst")
    for sim in (onprem, burst):
        sim.create_objects([ISTIO_SYSTEM])
    return onprem, burst


def only(run, task, host):
    (res,) = run.results(task, host)
    return res


def reader_token(sim):
    secret = sim.get_object("v1", "Secret", TOKEN_SECRET, "istio-system")
    return base64.b64decode(secret["data"]["token"]).decode()


def client_for(kubeconfig_text):
    """A kubernetes client built from a kubeconfig the way a remote istiod builds one."""
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config_from_dict(yaml.safe_load(kubeconfig_text),
                                                 client_configuration=configuration)
    return kubernetes.client.ApiClient(configuration)


def test_remote_secret_lifecycle(mesh, run_playbook):
    onprem, burst = mesh
    extra = {"mc_action": "remote_secret", "rs_targets": ["onprem"]}

    def run(**kw):
        return run_playbook(PLAYBOOK, [onprem, burst], limit="burst", extra_vars=dict(extra, **kw.pop("vars", {})),
                            **kw)

    # Check mode: nothing written anywhere, the result says what would be.
    check = run(check=True, diff=True)
    assert check.rc == 0, check
    res = only(check, RS_TASK, "burst")
    assert res["changed"] and res["targets"] == [{"name": "onprem", "action": "created"}]
    assert onprem.writes() == [] and burst.writes() == []
    assert burst.get_object("v1", "ServiceAccount", "istio-reader-service-account", "istio-system") is None

    first = run(diff=True)
    assert first.rc == 0, first
    res = only(first, RS_TASK, "burst")
    assert res["changed"] and res["targets"] == [{"name": "onprem", "action": "created"}]
    assert [(o["kind"], o["action"]) for o in res["source"]] == [
        ("ServiceAccount", "created"), ("ClusterRole", "created"), ("ClusterRoleBinding", "created"),
        ("Secret", "created")]
    assert res["secret_name"] == "istio-remote-secret-burst"
    assert res["server"] == burst.url
    # kubesim listens on 127.0.0.1: other clusters could not use that address.
    assert any("127.0.0.1 is a loopback address" in w for w in res.get("warnings", [])), res.get("warnings")

    secret = onprem.get_object("v1", "Secret", "istio-remote-secret-burst", "istio-system")
    assert secret["metadata"]["labels"] == {"istio/multiCluster": "true"}
    assert secret["metadata"]["annotations"] == {"networking.istio.io/cluster": "burst"}
    assert list(secret["data"]) == ["burst"]
    kubeconfig = base64.b64decode(secret["data"]["burst"]).decode()
    token = reader_token(burst)
    assert token in kubeconfig
    # The kubeconfig inside authenticates against the burst cluster with the reader token.
    api = kubernetes.client.CoreV1Api(client_for(kubeconfig))
    names = [ns.metadata.name for ns in api.list_namespace().items]
    assert "istio-system" in names
    review = kubernetes.client.AuthenticationV1Api(client_for(kubeconfig)).create_token_review(
        {"spec": {"token": token}})
    assert review.status.user.username == "system:serviceaccount:istio-system:istio-reader-service-account"
    # ... and the token is nowhere in what Ansible printed, diff included.
    assert token not in first.stdout and token not in first.stderr
    assert base64.b64encode(kubeconfig.encode()).decode() not in first.stdout
    diff_after = res["diff"]["after"]["onprem:Secret/istio-system/istio-remote-secret-burst"]
    assert diff_after["data"] == {"burst": "<hidden>"}

    # Second run: nothing changes, nothing is written.
    onprem.clear_request_log()
    burst.clear_request_log()
    second = run(verbosity=3, diff=True)
    assert second.rc == 0, second
    assert second.changed == 0
    assert onprem.writes() == [] and burst.writes() == []
    assert token not in second.stdout and token not in second.stderr
    requests = {"onprem": len(onprem.request_log), "burst": len(burst.request_log)}
    assert requests["onprem"] <= 6 and requests["burst"] <= 12, requests

    # Rotation: a new token, the old one stops working, the primary gets the new kubeconfig.
    rotated = run(vars={"rs_rotate": True})
    assert rotated.rc == 0, rotated
    res = only(rotated, RS_TASK, "burst")
    assert res["rotated"] and res["targets"] == [{"name": "onprem", "action": "updated"}]
    new_token = reader_token(burst)
    assert new_token != token
    new_kubeconfig = base64.b64decode(
        onprem.get_object("v1", "Secret", "istio-remote-secret-burst", "istio-system")["data"]["burst"]).decode()
    assert new_token in new_kubeconfig
    with pytest.raises(kubernetes.client.ApiException) as denied:
        kubernetes.client.CoreV1Api(client_for(kubeconfig)).list_namespace()
    assert denied.value.status == 401
    kubernetes.client.CoreV1Api(client_for(new_kubeconfig)).list_namespace()
    assert new_token not in rotated.stdout

    # The cluster leaves the mesh: its secret goes, even when the cluster itself is unreachable.
    burst.stop()
    gone = run(vars={"rs_state": "absent"}, diff=True)
    assert gone.rc == 0, gone
    res = only(gone, RS_TASK, "burst")
    assert res["targets"] == [{"name": "onprem", "action": "deleted"}]
    assert onprem.get_object("v1", "Secret", "istio-remote-secret-burst", "istio-system") is None
    again = run(vars={"rs_state": "absent"})
    assert again.rc == 0 and again.changed == 0, again
    assert only(again, RS_TASK, "burst")["targets"] == [{"name": "onprem", "action": "absent"}]


def test_remote_secret_server_override_multi_primary_and_reader_removal(kubesim_factory, run_playbook):
    sims = [kubesim_factory(name) for name in ("east", "west", "north")]
    for sim in sims:
        sim.create_objects([ISTIO_SYSTEM])
    # Every cluster's secret to both others (multi-primary), in one play over three hosts.
    extra = {"mc_action": "remote_secret", "rs_server": "https://api.{{ inventory_hostname }}.example.com:6443"}
    host_vars = {s.name: {"rs_targets": [o.name for o in sims if o is not s]} for s in sims}
    first = run_playbook(PLAYBOOK, sims, extra_vars=extra, host_vars=host_vars)
    assert first.rc == 0, first
    for sim in sims:
        res = only(first, RS_TASK, sim.name)
        assert not res.get("warnings"), res.get("warnings")
        holders = [o for o in sims if o is not sim]
        for holder in holders:
            secret = holder.get_object("v1", "Secret", "istio-remote-secret-" + sim.name, "istio-system")
            config = yaml.safe_load(base64.b64decode(secret["data"][sim.name]))
            assert config["clusters"][0]["cluster"]["server"] == "https://api.%s.example.com:6443" % sim.name
            assert config["current-context"] == sim.name
    assert run_playbook(PLAYBOOK, sims, extra_vars=extra, host_vars=host_vars).changed == 0

    east = sims[0]
    removed = run_playbook(PLAYBOOK, sims, limit="east", host_vars=host_vars,
                           extra_vars=dict(extra, rs_state="absent", rs_remove_reader=True))
    assert removed.rc == 0, removed
    assert [o["action"] for o in only(removed, RS_TASK, "east")["source"]] == ["deleted"] * 4
    assert east.get_object("v1", "ServiceAccount", "istio-reader-service-account", "istio-system") is None
    assert east.get_object("rbac.authorization.k8s.io/v1", "ClusterRole", "meshops-istio-reader-istio-system") is None
    # The other clusters' secrets stay.
    assert east.get_object("v1", "Secret", "istio-remote-secret-west", "istio-system") is not None


@pytest.mark.parametrize("case, message", [
    ("no_namespace", "Target onprem: namespace istio-system does not exist there. Install Istio on it first"),
    ("unreachable", "Target gone: Cannot reach the Kubernetes API server at https://127.0.0.1:1"),
    ("bad_name", "cluster 'Burst_1' is not valid: it must be a DNS-1123 label"),
    ("bad_server", "server: 'burst.example.com' is not a URL"),
    ("no_auth", "targets[0] (targets[0]) gives no kubeconfig, context or host: say how to reach that cluster"),
    ("host_not_url", "Target onprem: host (the API server's URL, also K8S_AUTH_HOST) is 'onprem', which is not a URL"),
])
def test_remote_secret_errors_change_nothing(kubesim_factory, run_playbook, case, message):
    onprem = kubesim_factory("onprem")
    burst = kubesim_factory("burst")
    burst.create_objects([ISTIO_SYSTEM])
    extra = {"mc_action": "remote_secret", "rs_targets": ["onprem"]}
    if case != "no_namespace":
        onprem.create_objects([ISTIO_SYSTEM])
    if case == "unreachable":
        extra = dict(extra, rs_targets=[], rs_extra_targets=[{"name": "gone", "host": "https://127.0.0.1:1",
                                                              "api_key": "x", "validate_certs": False}])
    if case == "no_auth":
        extra = dict(extra, rs_targets=[], rs_extra_targets=[{"api_key": "not-a-real-token"}])
    if case == "host_not_url":
        extra = dict(extra, rs_targets=[], rs_extra_targets=[{"name": "onprem", "host": "onprem", "api_key": "not-a-real-token"}])
    if case == "bad_name":
        extra["rs_cluster"] = "Burst_1"
    if case == "bad_server":
        extra["rs_server"] = "burst.example.com"
    burst.clear_request_log()
    result = run_playbook(PLAYBOOK, [onprem, burst], limit="burst", extra_vars=extra)
    assert result.rc != 0
    assert any(message in m for m in result.failed_msgs), result.failed_msgs
    assert "Traceback" not in result.stdout
    assert onprem.writes() == []
    if case in ("bad_name", "bad_server", "no_auth"):
        assert burst.writes() == []


def test_token_wait_times_out_with_advice(kubesim_factory, run_playbook):
    onprem = kubesim_factory("onprem")
    burst = kubesim_factory("burst")
    for sim in (onprem, burst):
        sim.create_objects([ISTIO_SYSTEM])
    # A token Secret for an account that does not exist never gets a token.
    extra = {"mc_action": "remote_secret", "rs_targets": ["onprem"], "rs_manage_reader": False,
             "rs_wait_timeout": 1}
    result = run_playbook(PLAYBOOK, [onprem, burst], limit="burst", extra_vars=extra)
    assert result.rc != 0
    assert any("still has no token and ca.crt after 1s" in m and "ServiceAccount istio-reader-service-account" in m
               for m in result.failed_msgs), result.failed_msgs
    assert onprem.writes() == []


# -- cacerts ---------------------------------------------------------------------------------

def cacerts(sim):
    secret = sim.get_object("v1", "Secret", "cacerts", "istio-system")
    return {k: base64.b64decode(v).decode() for k, v in (secret or {}).get("data", {}).items()}


def test_cacerts_share_one_root(mesh, run_playbook, tmp_path):
    onprem, burst = mesh
    root_dir = tmp_path / "mesh-ca"
    extra = {"mc_action": "cacerts", "ca_root_dir": str(root_dir)}

    check = run_playbook(PLAYBOOK, [onprem, burst], extra_vars=extra, check=True)
    assert check.rc == 0, check
    assert only(check, CA_TASK, "onprem")["root_created"] is True
    assert not root_dir.exists()
    assert onprem.writes() == [] and burst.writes() == []

    first = run_playbook(PLAYBOOK, [onprem, burst], extra_vars=extra, diff=True, verbosity=3)
    assert first.rc == 0, first
    assert sorted(p.name for p in root_dir.iterdir()) == [".root.lock", "root-cert.pem", "root-key.pem"]
    assert stat.S_IMODE(os.stat(root_dir / "root-key.pem").st_mode) == 0o600
    # Both hosts ran at once (forks); exactly one made the root, both use it.
    assert sorted(only(first, CA_TASK, h)["root_created"] for h in ("onprem", "burst")) == [False, True]
    root_pem = (root_dir / "root-cert.pem").read_text()
    root = x509.load_pem_x509_certificate(root_pem.encode())
    for sim in (onprem, burst):
        files = cacerts(sim)
        assert sorted(files) == ["ca-cert.pem", "ca-key.pem", "cert-chain.pem", "root-cert.pem"]
        assert files["root-cert.pem"] == root_pem
        intermediate = x509.load_pem_x509_certificate(files["ca-cert.pem"].encode())
        intermediate.verify_directly_issued_by(root)
        assert intermediate.subject.rfc4514_string() == "CN=Intermediate CA,L=%s,O=Istio" % sim.name
        res = only(first, CA_TASK, sim.name)
        assert res["secret_action"] == "created" and res["intermediate"]["subject"] == intermediate.subject.rfc4514_string()
        assert set(res["diff"]["after"]["Secret/istio-system/cacerts"]["data"].values()) == {"<hidden>"}
        # No key, in PEM or base64, in anything Ansible printed.
        for secret_text in (files["ca-key.pem"], base64.b64encode(files["ca-key.pem"].encode()).decode()):
            assert secret_text not in first.stdout and secret_text not in first.stderr
    assert (root_dir / "root-key.pem").read_text() not in first.stdout
    assert "PRIVATE KEY" not in first.stdout
    assert cacerts(onprem)["ca-cert.pem"] != cacerts(burst)["ca-cert.pem"]

    onprem.clear_request_log()
    burst.clear_request_log()
    second = run_playbook(PLAYBOOK, [onprem, burst], extra_vars=extra)
    assert second.rc == 0 and second.changed == 0, second
    assert onprem.writes() == [] and burst.writes() == []

    # Rotation keeps the root and replaces the intermediate, with a reminder to restart istiod.
    before = cacerts(burst)["ca-cert.pem"]
    rotated = run_playbook(PLAYBOOK, [onprem, burst], limit="burst", extra_vars=dict(extra, ca_rotate=True))
    assert rotated.rc == 0, rotated
    assert cacerts(burst)["ca-cert.pem"] != before and cacerts(burst)["root-cert.pem"] == root_pem
    assert any("restart istiod" in w for w in only(rotated, CA_TASK, "burst")["warnings"])

    removed = run_playbook(PLAYBOOK, [onprem, burst], limit="burst", extra_vars=dict(extra, ca_state="absent"))
    assert removed.rc == 0 and only(removed, CA_TASK, "burst")["secret_action"] == "deleted"
    assert cacerts(burst) == {}


def test_cacerts_from_another_root_are_kept_unless_forced(mesh, run_playbook, tmp_path):
    onprem, burst = mesh
    first_root = {"mc_action": "cacerts", "ca_root_dir": str(tmp_path / "old")}
    assert run_playbook(PLAYBOOK, [onprem, burst], limit="burst", extra_vars=first_root).rc == 0
    old = cacerts(burst)

    other_root = {"mc_action": "cacerts", "ca_root_dir": str(tmp_path / "new")}
    burst.clear_request_log()
    refused = run_playbook(PLAYBOOK, [onprem, burst], limit="burst", extra_vars=other_root)
    assert refused.rc != 0
    (msg,) = refused.failed_msgs
    assert "The cacerts Secret in istio-system/cacerts on cluster burst was not issued by the root CA in %s" % (
        tmp_path / "new") in msg
    assert "its root-cert.pem is another root CA" in msg and "force: true" in msg
    assert burst.writes() == [] and cacerts(burst) == old

    forced = run_playbook(PLAYBOOK, [onprem, burst], limit="burst", extra_vars=dict(other_root, ca_force=True))
    assert forced.rc == 0, forced
    assert cacerts(burst)["root-cert.pem"] == (tmp_path / "new" / "root-cert.pem").read_text()


def test_cacerts_bad_input(mesh, run_playbook, tmp_path):
    onprem, burst = mesh
    half = tmp_path / "half"
    half.mkdir()
    (half / "root-cert.pem").write_text("x")
    cases = [
        ({"ca_root_dir": str(half)}, "root-key.pem is missing beside the other root CA file"),
        ({"ca_root_dir": str(tmp_path / "r"), "ca_days": 20}, "renew_within_days (30) must be 0 or more and less than days (20)"),
        ({}, "state is present but all of the following are missing: root_dir"),
    ]
    for extra, message in cases:
        result = run_playbook(PLAYBOOK, [onprem, burst], limit="burst", extra_vars=dict(extra, mc_action="cacerts"))
        assert result.rc != 0
        assert any(message in m for m in result.failed_msgs), (message, result.failed_msgs)
    assert burst.writes() == []
