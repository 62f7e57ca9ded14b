"""Real helm 3 (release Secrets sent as protobuf) and kubernetes.core.helm against kubesim."""
import base64
import gzip
import json
import subprocess
from pathlib import Path

import yaml

CHART = Path(__file__).resolve().parent / "charts" / "tiny"


def helm(sim, *args, check=True):
    proc = subprocess.run(["helm", "--kubeconfig", sim.kubeconfig_path, *args], capture_output=True, text=True,
                          timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)}: {proc.stderr}")
    return proc


def release(sim, name, revision):
    """The release record helm stored, decoded the way helm decodes it."""
    secret = sim.get_object("v1", "Secret", f"sh.helm.release.v1.{name}.v{revision}", "default")
    payload = base64.b64decode(base64.b64decode(secret["data"]["release"]))
    return secret, json.loads(gzip.decompress(payload))


def test_install_upgrade_rollback_uninstall(kubesim):
    out = helm(kubesim, "install", "demo", str(CHART), "--wait", "--timeout", "30s")
    assert "STATUS: deployed" in out.stdout
    secret, record = release(kubesim, "demo", 1)
    assert secret["type"] == "helm.sh/release.v1"
    assert secret["metadata"]["labels"]["owner"] == "helm" and secret["metadata"]["labels"]["status"] == "deployed"
    assert record["chart"]["metadata"]["name"] == "tiny" and record["info"]["status"] == "deployed"
    assert [r.content_type for r in kubesim.request_log
            if r.method == "POST" and r.path.endswith("/secrets")] == ["application/vnd.kubernetes.protobuf"]
    dep = kubesim.get_object("apps/v1", "Deployment", "demo", "default")
    assert dep["status"]["availableReplicas"] == 1

    out = helm(kubesim, "upgrade", "demo", str(CHART), "--set", "greeting=hi", "--set", "replicas=2", "--wait",
               "--timeout", "30s")
    assert "REVISION: 2" in out.stdout
    assert kubesim.get_object("v1", "ConfigMap", "demo-config", "default")["data"] == {"greeting": "hi"}
    assert kubesim.get_object("apps/v1", "Deployment", "demo", "default")["status"]["availableReplicas"] == 2
    assert release(kubesim, "demo", 1)[0]["metadata"]["labels"]["status"] == "superseded"
    history = helm(kubesim, "history", "demo", "-o", "json").stdout
    assert [(r["revision"], r["status"]) for r in json.loads(history)] == [(1, "superseded"), (2, "deployed")]

    helm(kubesim, "rollback", "demo", "1", "--wait", "--timeout", "30s")
    assert kubesim.get_object("v1", "ConfigMap", "demo-config", "default")["data"] == {"greeting": "hello"}
    assert kubesim.get_object("apps/v1", "Deployment", "demo", "default")["spec"]["replicas"] == 1

    listed = json.loads(helm(kubesim, "list", "-o", "json").stdout)
    assert [(r["name"], r["revision"], r["status"]) for r in listed] == [("demo", "3", "deployed")]
    out = helm(kubesim, "uninstall", "demo", "--wait")
    assert out.stdout.strip() == 'release "demo" uninstalled'
    assert kubesim.list_objects("v1", "Secret", "default") == []
    assert kubesim.get_object("apps/v1", "Deployment", "demo", "default") is None
    assert kubesim.list_objects("v1", "Pod", "default") == []


def test_kubernetes_core_helm_module_is_idempotent(kubesim, run_playbook, tmp_path):
    def play(values):
        path = tmp_path / "helm.yml"
        path.write_text(yaml.safe_dump([{
            "name": "Install the tiny chart", "hosts": "all", "gather_facts": False,
            "tasks": [{"name": "Deploy the tiny release", "kubernetes.core.helm": {
                "kubeconfig": "{{ kubeconfig }}", "context": "{{ context }}", "name": "tiny",
                "chart_ref": str(CHART), "release_namespace": "tiny", "create_namespace": True,
                "wait": True, "wait_timeout": "60s", "values": values}}]}]))
        return path

    first = run_playbook(play({"greeting": "one"}), kubesim=kubesim)
    assert first.rc == 0 and first.changed == 1, first
    second = run_playbook(play({"greeting": "one"}), kubesim=kubesim)
    assert second.rc == 0 and second.changed == 0, second
    third = run_playbook(play({"greeting": "two"}), kubesim=kubesim)
    assert third.rc == 0 and third.changed == 1, third
    assert kubesim.get_object("v1", "ConfigMap", "tiny-config", "tiny")["data"] == {"greeting": "two"}
    assert kubesim.get_object("v1", "Secret", "sh.helm.release.v1.tiny.v2", "tiny") is not None
