"""kubesim against the real kubectl 1.32: what a person or a script would run."""
import json
import subprocess
import threading
import time

import pytest
import yaml

from sim.webhook_support import istiod

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {ns}
  labels: {{app: web, tier: front}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web, version: v1}}}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports: [{{containerPort: 80, name: http}}]
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {ns}, labels: {{app: web}}}}
spec:
  selector: {{app: web}}
  ports: [{{port: 80, name: http, targetPort: http}}]
"""


def kubectl(sim, *args, input=None, timeout=60, check=True):
    proc = subprocess.run(["kubectl", "--kubeconfig", sim.kubeconfig_path, *args], input=input,
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc


@pytest.fixture
def ns(kubesim_module, request):
    """A namespace of its own for each test on the shared cluster."""
    name = request.node.name.replace("_", "-").lower()[:50]
    kubectl(kubesim_module, "apply", "-f", "-", input=f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}}}\n")
    return name


def configmap(sim, name, namespace, labels=None):
    doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}}
    if labels:
        doc["metadata"]["labels"] = labels
    return kubectl(sim, "apply", "-f", "-", input=json.dumps(doc))


def test_apply_creates_then_reports_unchanged(kubesim_module, ns, tmp_path):
    manifest = tmp_path / "web.yaml"
    manifest.write_text(DEPLOYMENT.format(ns=ns))
    first = kubectl(kubesim_module, "apply", "-f", str(manifest))
    assert first.stdout.split("\n")[:2] == ["deployment.apps/web created", "service/web created"]
    assert first.stderr == ""
    rv = kubesim_module.get_object("apps/v1", "Deployment", "web", ns)["metadata"]["resourceVersion"]
    kubesim_module.clear_request_log()
    second = kubectl(kubesim_module, "apply", "-f", str(manifest))
    assert second.stdout.split("\n")[:2] == ["deployment.apps/web unchanged", "service/web unchanged"]
    assert second.stderr == ""
    assert kubesim_module.writes() == []
    assert kubesim_module.get_object("apps/v1", "Deployment", "web", ns)["metadata"]["resourceVersion"] == rv


def test_apply_change_rolls_out_new_replicaset(kubesim_module, ns, tmp_path):
    manifest = tmp_path / "web.yaml"
    manifest.write_text(DEPLOYMENT.format(ns=ns))
    kubectl(kubesim_module, "apply", "-f", str(manifest))
    manifest.write_text(DEPLOYMENT.format(ns=ns).replace("nginx:1.27", "nginx:1.28"))
    out = kubectl(kubesim_module, "apply", "-f", str(manifest))
    assert "deployment.apps/web configured" in out.stdout
    dep = kubesim_module.get_object("apps/v1", "Deployment", "web", ns)
    assert dep["metadata"]["generation"] == 2
    assert dep["status"]["observedGeneration"] == 2
    rollout = kubectl(kubesim_module, "rollout", "status", "deployment/web", "-n", ns, "--timeout=20s")
    assert 'deployment "web" successfully rolled out' in rollout.stdout
    rs = json.loads(kubectl(kubesim_module, "get", "rs", "-n", ns, "-o", "json").stdout)["items"]
    replicas = sorted((r["spec"]["template"]["spec"]["containers"][0]["image"], r["spec"]["replicas"]) for r in rs)
    assert replicas == [("nginx:1.27", 0), ("nginx:1.28", 2)]
    pods = json.loads(kubectl(kubesim_module, "get", "pods", "-n", ns, "-l", "app=web", "-o", "json").stdout)
    assert [p["spec"]["containers"][0]["image"] for p in pods["items"]] == ["nginx:1.28"] * 2


def test_server_side_apply_and_field_manager(kubesim_module, ns, tmp_path):
    manifest = tmp_path / "cm.yaml"
    manifest.write_text(f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: ssa, namespace: {ns}}}\n"
                        "data: {a: '1'}\n")
    out = kubectl(kubesim_module, "apply", "--server-side", "-f", str(manifest))
    assert out.stdout.strip() == "configmap/ssa serverside-applied"
    cm = kubesim_module.get_object("v1", "ConfigMap", "ssa", ns)
    managers = [(m["manager"], m["operation"]) for m in cm["metadata"]["managedFields"]]
    assert managers == [("kubectl", "Apply")]
    rv = cm["metadata"]["resourceVersion"]
    kubectl(kubesim_module, "apply", "--server-side", "-f", str(manifest))
    assert kubesim_module.get_object("v1", "ConfigMap", "ssa", ns)["metadata"]["resourceVersion"] == rv


def test_get_output_formats_and_table(kubesim_module, ns, tmp_path):
    manifest = tmp_path / "web.yaml"
    manifest.write_text(DEPLOYMENT.format(ns=ns))
    kubectl(kubesim_module, "apply", "-f", str(manifest))
    as_json = json.loads(kubectl(kubesim_module, "get", "deployment", "web", "-n", ns, "-o", "json").stdout)
    assert as_json["kind"] == "Deployment" and as_json["spec"]["replicas"] == 2
    as_yaml = yaml.safe_load(kubectl(kubesim_module, "get", "svc", "web", "-n", ns, "-o", "yaml").stdout)
    assert as_yaml["spec"]["clusterIP"].startswith("10.96.")
    table = kubectl(kubesim_module, "get", "deploy,svc,pods", "-n", ns).stdout
    lines = table.splitlines()
    assert lines[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert lines[1].split()[:4] == ["deployment.apps/web", "2/2", "2", "2"]
    assert "service/web   ClusterIP" in table
    pod_lines = [line.split() for line in lines if line.startswith("pod/web-")]
    assert len(pod_lines) == 2 and all(p[1:4] == ["1/1", "Running", "0"] for p in pod_lines)
    wide = kubectl(kubesim_module, "get", "pods", "-n", ns, "-o", "wide").stdout.splitlines()
    assert wide[0].split()[:7] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    assert kubectl(kubesim_module, "get", "pods", "-n", ns, "-o", "name").stdout.count("pod/web-") == 2


def test_label_and_selectors(kubesim_module, ns):
    for name, tier in (("a", "front"), ("b", "back"), ("c", "front")):
        configmap(kubesim_module, name, ns)
        kubectl(kubesim_module, "label", "configmap", name, "-n", ns, f"tier={tier}")
    out = kubectl(kubesim_module, "label", "configmap", "b", "-n", ns, "tier=front", check=False)
    assert out.returncode == 1 and "error: 'tier' already has a value (back)" in out.stderr
    kubectl(kubesim_module, "label", "configmap", "b", "-n", ns, "tier=middle", "--overwrite")
    names = kubectl(kubesim_module, "get", "cm", "-n", ns, "-l", "tier=front", "-o", "name").stdout.split()
    assert names == ["configmap/a", "configmap/c"]
    names = kubectl(kubesim_module, "get", "cm", "-n", ns, "-l", "tier in (middle,back)", "-o", "name").stdout.split()
    assert names == ["configmap/b"]
    names = kubectl(kubesim_module, "get", "cm", "-n", ns, "-l", "tier,tier!=front", "-o", "name").stdout.split()
    assert names == ["configmap/b"]
    names = kubectl(kubesim_module, "get", "cm", "-n", ns, "--field-selector", "metadata.name=c",
                    "-o", "name").stdout.split()
    assert names == ["configmap/c"]
    kubectl(kubesim_module, "label", "configmap", "a", "-n", ns, "tier-")
    assert "tier" not in kubesim_module.get_object("v1", "ConfigMap", "a", ns)["metadata"].get("labels", {})


def test_delete_by_name_selector_and_namespace_cascade(kubesim_module, ns, tmp_path):
    manifest = tmp_path / "web.yaml"
    manifest.write_text(DEPLOYMENT.format(ns=ns))
    kubectl(kubesim_module, "apply", "-f", str(manifest))
    assert len(kubesim_module.list_objects("v1", "Pod", ns)) == 2
    out = kubectl(kubesim_module, "delete", "deployment", "web", "-n", ns)
    assert out.stdout.strip() == 'deployment.apps "web" deleted'
    assert kubesim_module.list_objects("apps/v1", "ReplicaSet", ns) == []
    assert kubesim_module.list_objects("v1", "Pod", ns) == []
    missing = kubectl(kubesim_module, "delete", "deployment", "web", "-n", ns, check=False)
    assert missing.returncode == 1
    assert 'Error from server (NotFound): deployments.apps "web" not found' in missing.stderr
    configmap(kubesim_module, "x", ns, {"drop": "yes"})
    out = kubectl(kubesim_module, "delete", "cm", "-n", ns, "-l", "drop=yes")
    assert out.stdout.strip() == 'configmap "x" deleted'
    kubectl(kubesim_module, "delete", "namespace", ns, "--timeout=20s")
    assert kubesim_module.get_object("v1", "Namespace", ns) is None
    assert kubesim_module.list_objects("v1", "Service", ns) == []
    assert kubesim_module.list_objects("v1", "ServiceAccount", ns) == []


def test_wait_for_available_waits_for_the_delay(kubesim_factory, tmp_path):
    sim = kubesim_factory("slow", available_delay=1.5)
    manifest = tmp_path / "web.yaml"
    manifest.write_text(DEPLOYMENT.format(ns="default"))
    kubectl(sim, "apply", "-f", str(manifest))
    dep = sim.get_object("apps/v1", "Deployment", "web", "default")
    available = {c["type"]: c["status"] for c in dep["status"]["conditions"]}["Available"]
    assert available == "False"
    started = time.monotonic()
    out = kubectl(sim, "wait", "--for=condition=Available", "deployment/web", "--timeout=20s")
    waited = time.monotonic() - started
    assert out.stdout.strip() == "deployment.apps/web condition met"
    assert 0.5 < waited < 10
    rollout = kubectl(sim, "rollout", "status", "deployment/web", "--timeout=20s")
    assert 'deployment "web" successfully rolled out' in rollout.stdout
    too_short = kubectl(sim, "wait", "--for=condition=Progressing=False", "deployment/web", "--timeout=1s",
                        check=False)
    assert too_short.returncode == 1 and "timed out waiting for the condition" in too_short.stderr


def test_rollout_status_follows_a_slow_rollout(kubesim_factory, tmp_path):
    sim = kubesim_factory("rollout", available_delay=1.0)
    manifest = tmp_path / "web.yaml"
    manifest.write_text(DEPLOYMENT.format(ns="default"))
    kubectl(sim, "apply", "-f", str(manifest))
    out = kubectl(sim, "rollout", "status", "deployment/web", "--timeout=20s")
    assert "Waiting for deployment \"web\" rollout to finish" in out.stdout
    assert out.stdout.strip().endswith('deployment "web" successfully rolled out')


def test_get_watch_streams_changes_until_request_timeout(kubesim_module, ns):
    configmap(kubesim_module, "watched", ns)

    def change():
        time.sleep(0.8)
        kubectl(kubesim_module, "label", "configmap", "watched", "-n", ns, "step=one")
        configmap(kubesim_module, "second", ns)
        kubectl(kubesim_module, "delete", "configmap", "second", "-n", ns)

    worker = threading.Thread(target=change)
    worker.start()
    started = time.monotonic()
    out = kubectl(kubesim_module, "get", "configmaps", "-n", ns, "-w", "--request-timeout=3s", "-o", "name",
                  check=False)
    worker.join()
    assert time.monotonic() - started < 10
    lines = out.stdout.split()
    assert lines[:2] == ["configmap/kube-root-ca.crt", "configmap/watched"]
    assert "configmap/second" in lines[2:]
    assert lines.count("configmap/watched") == 2
    events = kubectl(kubesim_module, "get", "configmaps", "-n", ns, "-w", "--request-timeout=1s",
                     "--output-watch-events", "-o", "json", "--watch-only", check=False)
    assert events.stdout == ""


def test_get_watch_table_output(kubesim_module, ns):
    kubectl(kubesim_module, "apply", "-f", "-", input=DEPLOYMENT.format(ns=ns).split("---")[0])
    out = kubectl(kubesim_module, "get", "deployments", "-n", ns, "-w", "--request-timeout=1s", check=False)
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert lines[1].split()[:4] == ["web", "2/2", "2", "2"]


def test_errors_are_reported_like_a_real_cluster(kubesim_module, ns):
    configmap(kubesim_module, "dup", ns)
    dup = kubectl(kubesim_module, "create", "-f", "-", check=False, input=json.dumps(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dup", "namespace": ns}}))
    assert dup.stderr.strip() == 'Error from server (AlreadyExists): error when creating "STDIN": configmaps "dup" already exists'
    missing_ns = kubectl(kubesim_module, "apply", "-f", "-", check=False, input=json.dumps(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "no-such-ns"}}))
    assert 'namespaces "no-such-ns" not found' in missing_ns.stderr
    bad = kubectl(kubesim_module, "apply", "-f", "-", check=False, input=(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: Bad_Name, namespace: {ns}}}\n"))
    assert bad.returncode == 1
    assert 'The ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name"' in bad.stderr
    unknown = kubectl(kubesim_module, "apply", "-f", "-", check=False, input=(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: strict, namespace: {ns}}}\nspec: {{x: 1}}\n"))
    assert unknown.returncode == 1
    assert 'unknown field "spec"' in unknown.stderr
    assert kubesim_module.get_object("v1", "ConfigMap", "strict", ns) is None
    nothing = kubectl(kubesim_module, "get", "frobnicators", check=False)
    assert 'the server doesn\'t have a resource type "frobnicators"' in nothing.stderr


def test_sidecar_injection_only_for_pods_created_after_labelling(kubesim_istio_module, tmp_path):
    sim = kubesim_istio_module
    istiod(sim)    # the injector is a webhook: it must have a Ready endpoint to be called
    kubectl(sim, "apply", "-f", "-", input="apiVersion: v1\nkind: Namespace\nmetadata: {name: mesh}\n")
    kubectl(sim, "apply", "-f", "-", input="""
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: istio-sidecar-injector
  labels: {app: sidecar-injector}
webhooks:
- name: namespace.sidecar-injector.istio.io
  admissionReviewVersions: [v1]
  sideEffects: None
  clientConfig:
    service: {name: istiod, namespace: istio-system, path: /inject, port: 443}
  rules:
  - operations: [CREATE]
    apiGroups: [""]
    apiVersions: [v1]
    resources: [pods]
  namespaceSelector:
    matchLabels: {istio-injection: enabled}
  objectSelector:
    matchExpressions:
    - {key: sidecar.istio.io/inject, operator: NotIn, values: ["false"]}
""")
    manifest = tmp_path / "web.yaml"
    manifest.write_text(DEPLOYMENT.format(ns="mesh"))
    kubectl(sim, "apply", "-f", str(manifest))

    def containers():
        return sorted(tuple(c["name"] for c in p["spec"]["containers"]) for p in sim.list_objects("v1", "Pod", "mesh"))

    assert containers() == [("web",), ("web",)]
    kubectl(sim, "label", "namespace", "mesh", "istio-injection=enabled")
    assert containers() == [("web",), ("web",)]
    kubectl(sim, "rollout", "restart", "deployment/web", "-n", "mesh")
    kubectl(sim, "rollout", "status", "deployment/web", "-n", "mesh", "--timeout=20s")
    assert containers() == [("web", "istio-proxy"), ("web", "istio-proxy")]
    pod = sim.list_objects("v1", "Pod", "mesh")[0]
    status = json.loads(pod["metadata"]["annotations"]["sidecar.istio.io/status"])
    assert status["containers"] == ["istio-proxy"] and status["revision"] == "default"
    table = kubectl(sim, "get", "pods", "-n", "mesh").stdout.splitlines()
    assert all(line.split()[1:3] == ["2/2", "Running"] for line in table[1:])


def test_typed_creates_sent_as_protobuf(kubesim_module):
    """kubectl's typed clients send protobuf bodies; kubesim decodes the kinds they create."""
    sim = kubesim_module
    assert kubectl(sim, "create", "namespace", "typed").stdout.strip() == "namespace/typed created"
    kubectl(sim, "create", "serviceaccount", "robot", "-n", "typed")
    kubectl(sim, "create", "secret", "generic", "creds", "--from-literal=user=admin", "-n", "typed")
    kubectl(sim, "create", "configmap", "conf", "--from-literal=mode=fast", "-n", "typed")
    assert sim.get_object("v1", "Secret", "creds", "typed")["data"] == {"user": "YWRtaW4="}
    assert sim.get_object("v1", "ConfigMap", "conf", "typed")["data"] == {"mode": "fast"}
    token = kubectl(sim, "create", "token", "robot", "-n", "typed", "--duration=10m").stdout.strip()
    assert sim.token_subject(token) == "system:serviceaccount:typed:robot"
    assert kubectl(sim, "auth", "can-i", "create", "pods", "-n", "typed").stdout.strip() == "yes"
    posts = [r.content_type for r in sim.request_log if r.method == "POST" and "/typed" in r.path]
    assert set(posts) == {"application/vnd.kubernetes.protobuf"}
    refused = kubectl(sim, "create", "deployment", "x", "--image=nginx", "-n", "typed", check=False)
    assert refused.returncode == 1 and "no protobuf decoding for Deployment apps/v1" in refused.stderr


def test_explain_reads_the_published_schemas(kubesim_istio_module):
    out = kubectl(kubesim_istio_module, "explain", "deployment.spec.replicas").stdout
    assert "FIELD: replicas <integer>" in out and "Number of desired pods." in out
    out = kubectl(kubesim_istio_module, "explain", "pods.spec.containers.ports").stdout
    assert "containerPort\t<integer> -required-" in out
    out = kubectl(kubesim_istio_module, "explain", "virtualservice.spec.http.route.weight").stdout
    assert "FIELD: weight <integer>" in out
