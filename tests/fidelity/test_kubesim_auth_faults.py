"""Bearer-token authentication, the request log and fault injection."""
import base64
import json
import ssl
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from kubernetes import client, config


def call(sim, path, token=None, method="GET", body=None, headers=None):
    """A raw HTTPS request that trusts only the cluster's CA; returns (status, parsed body)."""
    ctx = ssl.create_default_context(cadata=sim.ca_pem)
    req = urllib.request.Request(sim.url + path, method=method, data=json.dumps(body).encode() if body else None)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Content-Type", "application/json")
    for key, value in (headers or {}).items():
        req.add_header(key, value)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def kubectl(kubeconfig, *args, check=False):
    return subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), *args], capture_output=True, text=True,
                          timeout=60, check=check)


def test_certificate_is_trusted_through_the_kubeconfig_ca(kubesim):
    status, version = call(kubesim, "/version")
    assert status == 200 and version["gitVersion"].startswith("v1.32.")
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(kubesim.url + "/version", context=ssl.create_default_context(), timeout=5)


def test_bad_or_missing_token_is_unauthorized(kubesim, tmp_path):
    for token in (None, "not-a-token"):
        status, body = call(kubesim, "/api/v1/namespaces", token)
        assert status == 401
        assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
    bad = kubesim.kubeconfig(context="bad")
    bad["users"][0]["user"]["token"] = "wrong"
    path = tmp_path / "bad.kubeconfig"
    path.write_text(json.dumps(bad))
    out = kubectl(path, "get", "namespaces")
    assert out.returncode == 1
    assert "error: You must be logged in to the server (the server has asked for the client to provide " \
           "credentials)" in out.stderr


def test_service_account_token_is_accepted_and_can_be_revoked(kubesim):
    kubesim.create_objects("""
apiVersion: v1
kind: ServiceAccount
metadata: {name: reader, namespace: default}
---
apiVersion: v1
kind: Secret
metadata:
  name: reader-token
  namespace: default
  annotations: {kubernetes.io/service-account.name: reader}
type: kubernetes.io/service-account-token
""")
    secret = kubesim.get_object("v1", "Secret", "reader-token", "default")
    token = base64.b64decode(secret["data"]["token"]).decode()
    status, body = call(kubesim, "/api/v1/namespaces/default/configmaps", token)
    assert status == 200 and body["kind"] == "ConfigMapList"
    status, review = call(kubesim, "/apis/authentication.k8s.io/v1/tokenreviews", kubesim.admin_token, "POST",
                          {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}})
    assert status == 201 and review["status"]["user"]["username"] == "system:serviceaccount:default:reader"
    kubesim.revoke_token(token)
    assert call(kubesim, "/api/v1/namespaces/default/configmaps", token)[0] == 401
    kubesim.revoke_token(kubesim.admin_token)
    assert call(kubesim, "/api/v1/namespaces", kubesim.admin_token)[0] == 401


def test_request_log_and_writes(kubesim):
    kubesim.clear_request_log()
    core = client.CoreV1Api(config.new_client_from_config(kubesim.kubeconfig_path))
    core.create_namespaced_config_map("default", {"metadata": {"name": "logged"}})
    core.read_namespaced_config_map("logged", "default")
    core.create_namespaced_config_map("default", {"metadata": {"name": "dry"}}, dry_run="All")
    core.delete_namespaced_config_map("logged", "default")
    log = [(r.method, r.path, r.status, r.dry_run) for r in kubesim.request_log]
    assert log == [("POST", "/api/v1/namespaces/default/configmaps", 201, False),
                   ("GET", "/api/v1/namespaces/default/configmaps/logged", 200, False),
                   ("POST", "/api/v1/namespaces/default/configmaps", 201, True),
                   ("DELETE", "/api/v1/namespaces/default/configmaps/logged", 200, False)]
    assert [r.method for r in kubesim.writes()] == ["POST", "DELETE"]
    record = kubesim.request_log[2]
    assert record.query == {"dryRun": "All"} and record.user_agent.startswith("OpenAPI-Generator/")
    assert record.time <= time.time() and record.duration >= 0


def test_fault_status_times_and_method(kubesim):
    fault = kubesim.inject_fault(method="POST", path=r"/configmaps$", status=503, times=2)
    body = {"metadata": {"name": "f"}}
    assert call(kubesim, "/api/v1/namespaces/default/configmaps", kubesim.admin_token, "POST", body)[0] == 503
    assert call(kubesim, "/api/v1/namespaces/default/configmaps", kubesim.admin_token)[0] == 200   # GET unaffected
    status, answer = call(kubesim, "/api/v1/namespaces/default/configmaps", kubesim.admin_token, "POST", body)
    assert status == 503 and answer["reason"] == "ServiceUnavailable"
    assert call(kubesim, "/api/v1/namespaces/default/configmaps", kubesim.admin_token, "POST", body)[0] == 201
    assert fault.hits == 2
    assert [r.status for r in kubesim.request_log if r.method == "POST"] == [503, 503, 201]
    assert kubesim.get_object("v1", "ConfigMap", "f", "default") is not None


def test_fault_latency_and_dropped_connection(kubesim):
    kubesim.inject_fault(path=r"^/api/v1/namespaces$", status=None, latency=0.4)
    started = time.monotonic()
    assert call(kubesim, "/api/v1/namespaces", kubesim.admin_token)[0] == 200
    assert time.monotonic() - started >= 0.4
    kubesim.inject_fault(path=r"^/api/v1/nodes$", drop=True, times=1)
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        call(kubesim, "/api/v1/nodes", kubesim.admin_token)
    assert call(kubesim, "/api/v1/nodes", kubesim.admin_token)[0] == 200
    kubesim.inject_fault(path=r"/namespaces", status=500, times=None)
    out = kubectl(kubesim.kubeconfig_path, "get", "namespaces")
    assert out.returncode == 1 and "Internal error occurred" in out.stderr
    kubesim.clear_faults()
    assert kubectl(kubesim.kubeconfig_path, "get", "namespaces").returncode == 0


def test_fault_only_for_dry_runs(kubesim):
    """How the control-plane tests simulate the validation webhook refusing the first dry-runs."""
    kubesim.inject_fault(method="POST", path=r"/configmaps", status=500, times=2, dry_run_only=True,
                         message='Internal error occurred: failed calling webhook "validation.istio.io": no endpoints')
    url = "/api/v1/namespaces/default/configmaps"
    dry = url + "?dryRun=All"
    body = {"metadata": {"name": "w"}}
    status, answer = call(kubesim, dry, kubesim.admin_token, "POST", body)
    assert status == 500 and "validation.istio.io" in answer["message"]
    assert call(kubesim, url, kubesim.admin_token, "POST", body)[0] == 201    # real write passes
    assert call(kubesim, dry, kubesim.admin_token, "POST", {"metadata": {"name": "w2"}})[0] == 500
    assert call(kubesim, dry, kubesim.admin_token, "POST", {"metadata": {"name": "w2"}})[0] == 201
