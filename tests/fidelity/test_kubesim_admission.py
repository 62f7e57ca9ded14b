"""kubesim's admission and workload controllers, driven by real kubectl, the kubernetes client and
kubernetes.core: Secret stringData, ServiceAccount admission, the scheduler, DaemonSet node selection,
Job pods, EndpointSlices, and admission webhooks (reachability and Istio's validation)."""
import base64
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from kubernetes import config, dynamic
from kubernetes.dynamic.exceptions import ApiException

from tests.conftest import REFERENCE as REFERENCE_ROOT
from tests.conftest import needs_reference
from tests.standins import istio_crds
from sim.webhook_support import injector, istiod, istiod_objects, validator

REFERENCE = REFERENCE_ROOT / "istio"
UNREACHABLE = ('Internal error occurred: failed calling webhook "validation.istio.io": failed to call webhook: '
               'Post "https://istiod.istio-system.svc:443/validate?timeout=10s": ')


def kubectl(sim, *args, input=None, check=True):
    proc = subprocess.run(["kubectl", "--kubeconfig", sim.kubeconfig_path, *args], input=input,
                          capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc


def apply(sim, obj, *flags, check=True):
    return kubectl(sim, "apply", *flags, "-f", "-", input=yaml.safe_dump(obj), check=check)


def rv(sim, api_version, kind, name, namespace="default"):
    return sim.get_object(api_version, kind, name, namespace)["metadata"]["resourceVersion"]


def b64(text):
    return base64.b64encode(text.encode()).decode()


def namespace(sim, name, **labels):
    sim.create_objects([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}])


def deployment(name, namespace, service_account=None, labels=None):
    labels = labels or {"app": name}
    spec = {"containers": [{"name": name, "image": "nginx:1.27"}]}
    if service_account:
        spec["serviceAccountName"] = service_account
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
            "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": spec}}}


def virtual_service(name, routes, hosts=("reviews",)):
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"hosts": list(hosts), "http": [{"route": routes}]}}


def route(subset, weight):
    return {"destination": {"host": "reviews", "subset": subset}, "weight": weight}


# Secrets -------------------------------------------------------------------------------------------
SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": "default"},
          "type": "Opaque", "data": {"user": b64("admin"), "mode": b64("from-data")},
          "stringData": {"password": "s3cret", "mode": "from-stringData"}}


def test_secret_string_data_is_merged_into_data(kubesim):
    out = apply(kubesim, SECRET)
    assert "secret/creds created" in out.stdout
    stored = kubesim.get_object("v1", "Secret", "creds", "default")
    assert "stringData" not in stored
    assert stored["data"] == {"user": b64("admin"), "password": b64("s3cret"), "mode": b64("from-stringData")}
    before = rv(kubesim, "v1", "Secret", "creds")
    apply(kubesim, SECRET)
    assert rv(kubesim, "v1", "Secret", "creds") == before

    # patch and update (replace) go through the same conversion
    kubectl(kubesim, "patch", "secret", "creds", "--type=merge", "-p", '{"stringData": {"token": "t0k"}}')
    patched = kubesim.get_object("v1", "Secret", "creds", "default")
    assert patched["data"]["token"] == b64("t0k") and "stringData" not in patched
    replaced = dict(SECRET, stringData={"only": "this"}, data={})
    kubectl(kubesim, "replace", "-f", "-", input=yaml.safe_dump(replaced))
    assert kubesim.get_object("v1", "Secret", "creds", "default")["data"] == {"only": b64("this")}


def test_secret_string_data_with_server_side_apply_and_the_python_client(kubesim):
    ssa = dict(SECRET, metadata={"name": "ssa", "namespace": "default"})
    apply(kubesim, ssa, "--server-side")
    stored = kubesim.get_object("v1", "Secret", "ssa", "default")
    assert "stringData" not in stored and stored["data"]["password"] == b64("s3cret")
    before = rv(kubesim, "v1", "Secret", "ssa")
    time.sleep(1.1)    # into the next second of managedFields times: the re-apply must still write nothing
    apply(kubesim, ssa, "--server-side")
    assert rv(kubesim, "v1", "Secret", "ssa") == before

    dc = dynamic.DynamicClient(config.new_client_from_config(kubesim.kubeconfig_path))
    secrets = dc.resources.get(api_version="v1", kind="Secret")
    created = secrets.create(namespace="default", body={"metadata": {"name": "py"}, "stringData": {"k": "v"}})
    assert created.data.k == b64("v") and created.stringData is None
    dry = secrets.create(namespace="default", body={"metadata": {"name": "dry"}, "stringData": {"k": "v"}},
                         query_params=[("dryRun", "All")])
    assert dry.data.k == b64("v") and kubesim.get_object("v1", "Secret", "dry", "default") is None


def test_kubernetes_core_reapplies_a_string_data_secret_without_change(kubesim, run_playbook, tmp_path):
    task = {"kubernetes.core.k8s": {"kubeconfig": "{{ kubeconfig }}", "context": "{{ context }}", "apply": True,
                                    "definition": SECRET}, "name": "Apply a Secret with stringData"}
    path = tmp_path / "secret.yml"
    path.write_text(yaml.safe_dump([{"name": "Secret", "hosts": "all", "gather_facts": False, "tasks": [task]}]))
    first = run_playbook(path, kubesim=kubesim)
    assert first.rc == 0 and first.changed == 1, first
    second = run_playbook(path, kubesim=kubesim)
    assert second.rc == 0 and second.changed == 0, second
    assert kubesim.get_object("v1", "Secret", "creds", "default")["data"]["password"] == b64("s3cret")


# ServiceAccount admission ----------------------------------------------------------------------------
def test_pod_naming_a_missing_service_account_is_forbidden(kubesim):
    namespace(kubesim, "apps")
    assert kubesim.get_object("v1", "ServiceAccount", "default", "apps") is not None
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "lonely", "namespace": "apps"},
           "spec": {"serviceAccountName": "ghost", "containers": [{"name": "c", "image": "busybox:1.36"}]}}
    out = apply(kubesim, pod, check=False)
    assert out.returncode == 1
    assert ('Error from server (Forbidden): error when creating "STDIN": pods "lonely" is forbidden: error looking '
            'up service account apps/ghost: serviceaccount "ghost" not found') in out.stderr
    assert apply(kubesim, pod, "--dry-run=server", check=False).returncode == 1
    assert kubesim.list_objects("v1", "Pod", "apps") == []

    kubectl(kubesim, "create", "serviceaccount", "ghost", "-n", "apps")
    apply(kubesim, pod)
    assert kubesim.get_object("v1", "Pod", "lonely", "apps")["spec"]["serviceAccountName"] == "ghost"


def test_deployment_waits_for_its_service_account(kubesim):
    namespace(kubesim, "apps")
    apply(kubesim, deployment("details", "apps", service_account="bookinfo-details"))
    assert kubesim.list_objects("v1", "Pod", "apps") == []
    rs = kubesim.list_objects("apps/v1", "ReplicaSet", "apps")[0]
    failure = next(c for c in rs["status"]["conditions"] if c["type"] == "ReplicaFailure")
    assert failure["reason"] == "FailedCreate"
    assert 'error looking up service account apps/bookinfo-details' in failure["message"]
    dep = kubesim.get_object("apps/v1", "Deployment", "details", "apps")
    assert any(c["type"] == "ReplicaFailure" for c in dep["status"]["conditions"])

    kubectl(kubesim, "create", "serviceaccount", "bookinfo-details", "-n", "apps")
    kubectl(kubesim, "rollout", "status", "deployment/details", "-n", "apps", "--timeout=20s")
    assert len(kubesim.list_objects("v1", "Pod", "apps")) == 2
    rs = kubesim.list_objects("apps/v1", "ReplicaSet", "apps")[0]
    assert not any(c["type"] == "ReplicaFailure" for c in rs["status"].get("conditions") or [])
    dep = kubesim.get_object("apps/v1", "Deployment", "details", "apps")
    assert [c["type"] for c in dep["status"]["conditions"]] == ["Available", "Progressing"]


# scheduling ------------------------------------------------------------------------------------------
def node(name, **labels):
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}}


def test_pods_are_scheduled_to_nodes_that_match(kubesim):
    assert [n["metadata"]["name"] for n in kubesim.list_objects("v1", "Node")] == ["kubesim-node"]
    bare = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bare", "namespace": "default"},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}
    apply(kubesim, bare)
    got = kubesim.get_object("v1", "Pod", "bare", "default")
    assert got["spec"]["nodeName"] == "kubesim-node" and got["status"]["hostIP"] == "10.0.0.10"
    listed = kubectl(kubesim, "get", "pods", "--field-selector", "spec.nodeName=kubesim-node", "-o", "name")
    assert listed.stdout.split() == ["pod/bare"]

    picky = dict(bare, metadata={"name": "picky", "namespace": "default"},
                 spec={"nodeSelector": {"disk": "ssd"}, "containers": [{"name": "c", "image": "busybox:1.36"}]})
    apply(kubesim, picky)
    pending = kubesim.get_object("v1", "Pod", "picky", "default")
    assert "nodeName" not in pending["spec"] and pending["status"]["phase"] == "Pending"
    cond = pending["status"]["conditions"][0]
    assert (cond["type"], cond["status"], cond["reason"]) == ("PodScheduled", "False", "Unschedulable")
    assert cond["message"].startswith("0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector")

    apply(kubesim, node("fast", disk="ssd"))
    assert "nodeName" not in kubesim.get_object("v1", "Pod", "picky", "default")["spec"]   # NotReady: no kubelet
    kubectl(kubesim, "patch", "node", "fast", "--subresource=status", "--type=merge", "-p", json.dumps(
        {"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                    "addresses": [{"type": "InternalIP", "address": "10.0.0.99"}]}}))
    kubectl(kubesim, "wait", "pod/picky", "--for=condition=Ready", "--timeout=10s")
    scheduled = kubesim.get_object("v1", "Pod", "picky", "default")
    assert scheduled["spec"]["nodeName"] == "fast" and scheduled["status"]["hostIP"] == "10.0.0.99"


def test_daemonset_runs_one_pod_per_selected_node(kubesim):
    for name, labels in (("edge-a", {"role": "edge"}), ("edge-b", {}), ("core", {})):
        apply(kubesim, node(name, **labels))
    ds = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "default"},
          "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": {
              "metadata": {"labels": {"app": "agent"}},
              "spec": {"nodeSelector": {"role": "edge"}, "containers": [{"name": "a", "image": "busybox:1.36"}]}}}}
    apply(kubesim, ds)

    def placed():
        return sorted(p["spec"]["nodeName"] for p in kubesim.list_objects("v1", "Pod", "default"))

    def status():
        return kubesim.get_object("apps/v1", "DaemonSet", "agent", "default")["status"]

    assert placed() == ["edge-a"]
    assert (status()["desiredNumberScheduled"], status()["numberReady"]) == (1, 1)
    kubectl(kubesim, "label", "node", "edge-b", "role=edge")
    assert placed() == ["edge-a", "edge-b"]
    assert (status()["desiredNumberScheduled"], status()["numberReady"]) == (2, 2)
    kubectl(kubesim, "rollout", "status", "daemonset/agent", "--timeout=10s")
    kubectl(kubesim, "label", "node", "edge-a", "role-")
    assert placed() == ["edge-b"]
    assert status()["desiredNumberScheduled"] == 1
    kubectl(kubesim, "delete", "node", "edge-b")
    assert placed() == [] and status()["desiredNumberScheduled"] == 0


# Jobs ------------------------------------------------------------------------------------------------
JOB = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate", "namespace": "default"},
       "spec": {"completions": 3, "parallelism": 2, "template": {"spec": {
           "restartPolicy": "Never", "containers": [{"name": "m", "image": "busybox:1.36"}]}}}}


def test_job_runs_pods_to_completion(kubesim):
    apply(kubesim, JOB)
    kubectl(kubesim, "wait", "job/migrate", "--for=condition=Complete", "--timeout=10s")
    job = kubesim.get_object("batch/v1", "Job", "migrate", "default")
    assert job["status"]["succeeded"] == 3 and "active" not in job["status"]
    pods = kubesim.list_objects("v1", "Pod", "default")
    assert len(pods) == 3
    assert {p["status"]["phase"] for p in pods} == {"Succeeded"}
    assert {p["metadata"]["labels"]["job-name"] for p in pods} == {"migrate"}
    assert all(p["metadata"]["ownerReferences"][0]["kind"] == "Job" for p in pods)
    assert all(p["spec"]["nodeName"] == "kubesim-node" for p in pods)
    listed = kubectl(kubesim, "get", "pods", "-l", "job-name=migrate", "-o", "name").stdout.split()
    assert len(listed) == 3
    logs = kubectl(kubesim, "logs", "job/migrate")
    assert logs.returncode == 0


def test_job_pods_run_for_the_delay(kubesim_factory):
    sim = kubesim_factory(available_delay=1.0)
    apply(sim, JOB)
    job = sim.get_object("batch/v1", "Job", "migrate", "default")
    assert job["status"]["active"] == 2 and "succeeded" not in job["status"]
    assert len(sim.list_objects("v1", "Pod", "default")) == 2
    kubectl(sim, "wait", "job/migrate", "--for=condition=Complete", "--timeout=20s")
    assert sim.get_object("batch/v1", "Job", "migrate", "default")["status"]["succeeded"] == 3
    assert len(sim.list_objects("v1", "Pod", "default")) == 3


# endpoints -------------------------------------------------------------------------------------------
def test_endpoints_and_endpoint_slices_follow_ready_pods(kubesim_factory):
    sim = kubesim_factory(available_delay=1.0)
    name = istiod(sim)
    slices = kubectl(sim, "get", "endpointslices", "-n", "istio-system", "-l",
                     f"kubernetes.io/service-name={name}", "-o", "json")
    items = json.loads(slices.stdout)["items"]
    assert len(items) == 1
    assert [e["conditions"]["ready"] for e in items[0].get("endpoints") or []] in ([], [False])
    kubectl(sim, "rollout", "status", "deployment/istiod", "-n", "istio-system", "--timeout=20s")
    pod = sim.list_objects("v1", "Pod", "istio-system")[0]
    eps = sim.get_object("v1", "Endpoints", "istiod", "istio-system")
    assert [a["ip"] for a in eps["subsets"][0]["addresses"]] == [pod["status"]["podIP"]]
    assert {p["port"] for p in eps["subsets"][0]["ports"]} == {15010, 15012, 15017, 15014}
    items = sim.list_objects("discovery.k8s.io/v1", "EndpointSlice", "istio-system")
    assert len(items) == 1 and items[0]["addressType"] == "IPv4"
    assert items[0]["endpoints"] == [{"addresses": [pod["status"]["podIP"]],
                                      "conditions": {"ready": True, "serving": True, "terminating": False},
                                      "nodeName": "kubesim-node",
                                      "targetRef": {"kind": "Pod", "namespace": "istio-system",
                                                    "name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"]}}]
    assert items[0]["metadata"]["ownerReferences"][0]["kind"] == "Service"
    table = kubectl(sim, "get", "endpointslices", "-n", "istio-system").stdout.splitlines()
    assert table[0].split() == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    assert table[1].split()[1:4] == ["IPv4", "15010,15012,15017,15014", pod["status"]["podIP"]]
    kubectl(sim, "delete", "service", "istiod", "-n", "istio-system")
    assert sim.list_objects("discovery.k8s.io/v1", "EndpointSlice", "istio-system") == []


# admission webhooks ----------------------------------------------------------------------------------
def test_validating_webhook_fails_until_its_service_has_ready_endpoints(kubesim_factory):
    sim = kubesim_factory(istio_crds=True, available_delay=1.5)
    sim.create_objects([validator("Fail")])
    vs = virtual_service("reviews", [route("v1", 90), route("v2", 10)])
    missing = apply(sim, vs, check=False)
    assert missing.returncode == 1
    assert ('Error from server (InternalError): error when creating "STDIN": ' + UNREACHABLE
            + 'service "istiod" not found') in missing.stderr

    istiod(sim)
    starting = apply(sim, vs, check=False)
    assert UNREACHABLE + 'no endpoints available for service "istiod"' in starting.stderr
    dry = apply(sim, vs, "--dry-run=server", check=False)     # dry runs are sent to the webhook too
    assert dry.returncode == 1 and 'no endpoints available for service "istiod"' in dry.stderr
    assert sim.get_object("networking.istio.io/v1", "VirtualService", "reviews", "default") is None

    kubectl(sim, "rollout", "status", "deployment/istiod", "-n", "istio-system", "--timeout=20s")
    assert "virtualservice.networking.istio.io/reviews created" in apply(sim, vs).stdout
    # Other groups are not in the webhook's rules.
    kubectl(sim, "scale", "deployment/istiod", "-n", "istio-system", "--replicas=0")
    assert apply(sim, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}})
    again = apply(sim, dict(vs, metadata={"name": "other", "namespace": "default"}), check=False)
    assert 'no endpoints available for service "istiod"' in again.stderr


def test_ignore_policy_lets_requests_through_while_unreachable(kubesim_istio):
    kubesim_istio.create_objects([validator("Ignore")])
    out = apply(kubesim_istio, virtual_service("reviews", [route("v1.0", 100)]))
    assert "created" in out.stdout    # not validated: the webhook was never reached


@needs_reference("the webhook configurations Istio's real base and istiod charts render")
def test_the_real_charts_webhook_configurations(kubesim_factory, tmp_path):
    """The base chart's validator as helm renders it: Ignore on install, Fail when set (or on upgrade)."""
    charts = REFERENCE / "manifests" / "charts"
    rendered = subprocess.run(
        ["helm", "template", "istio-base", str(charts / "base"), "-n", "istio-system",
         "--set", "base.validationFailurePolicy=Fail", "--show-only",
         "templates/defaultrevision-validatingwebhookconfiguration.yaml"],
        capture_output=True, text=True, check=True, timeout=60).stdout
    sim = kubesim_factory(istio_crds=True, available_delay=1.0)
    sim.create_objects(rendered)
    vs = virtual_service("reviews", [route("v1", 100)])
    assert UNREACHABLE + 'service "istiod" not found' in apply(sim, vs, check=False).stderr
    istiod(sim)
    kubectl(sim, "rollout", "status", "deployment/istiod", "-n", "istio-system", "--timeout=20s")
    apply(sim, vs)
    bad = apply(sim, virtual_service("bad", [route("v1.0", 100)]), check=False)
    assert ('admission webhook "validation.istio.io" denied the request: configuration is invalid: '
            'subset name is invalid: v1.0') in bad.stderr


@pytest.fixture
def istio_sim(kubesim_factory):
    sim = kubesim_factory(istio_crds=True)
    istiod(sim)
    sim.create_objects([validator("Fail")])
    return sim


def denied(sim, obj):
    out = apply(sim, obj, check=False)
    assert out.returncode == 1, out.stdout
    prefix = ('Error from server: error when creating "STDIN": admission webhook "validation.istio.io" denied the '
              'request: configuration is invalid: ')
    assert prefix in out.stderr, out.stderr
    name = obj["metadata"]["name"]
    assert sim.get_object(obj["apiVersion"], obj["kind"], name, "default") is None
    return out.stderr.split(prefix, 1)[1].strip()


def test_istio_validation_rules(istio_sim):
    sim = istio_sim
    assert denied(sim, virtual_service("a", [route("v1.0", 100)])) == "subset name is invalid: v1.0"
    assert denied(sim, virtual_service("b", [route("v1", -10), route("v2", 110)])) == "weight -10 < 0"
    assert denied(sim, virtual_service("c", [route("v1", 0), route("v2", 0)])) == "total destination weight = 0"
    assert denied(sim, virtual_service("d", [route("v1", 100)], hosts=["bad_host"])) == (
        'domain name "bad_host" invalid (label "bad_host" invalid)')
    assert denied(sim, virtual_service("e", [route("v1", 100)], hosts=["*"])) == (
        "wildcard host * is not allowed for virtual services bound to the mesh gateway")
    no_routes = virtual_service("f", [])
    no_routes["spec"].pop("http")
    assert denied(sim, no_routes) == "http, tcp or tls must be provided in virtual service"
    two = denied(sim, virtual_service("g", [route("V_1", 50), route("v2", -1)]))
    assert two == "2 errors occurred:\n\t* subset name is invalid: V_1\n\t* weight -1 < 0"
    dr = {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
          "metadata": {"name": "reviews", "namespace": "default"},
          "spec": {"host": "reviews", "subsets": [{"name": "v1", "labels": {"version": "v1"}},
                                                  {"name": "v2.1", "labels": {"version": "v2.1"}}]}}
    assert denied(sim, dr) == "subset name is invalid: v2.1"
    gw = {"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
          "metadata": {"name": "ingress", "namespace": "default"}, "spec": {"selector": {"istio": "ingressgateway"}}}
    assert denied(sim, gw) == "gateway must have at least one server"
    # Weights are relative in Istio: any non-negative split is valid, and a delegate VS has no hosts.
    apply(sim, virtual_service("ok", [route("v1", 3), route("v2", 1)]))
    apply(sim, virtual_service("delegate", [route("v1", 100)], hosts=[]))


def test_istio_validation_through_the_python_client_and_on_update(istio_sim):
    dc = dynamic.DynamicClient(config.new_client_from_config(istio_sim.kubeconfig_path))
    vs_api = dc.resources.get(api_version="networking.istio.io/v1", kind="VirtualService")
    vs_api.create(body=virtual_service("reviews", [route("v1", 100)]), namespace="default")
    with pytest.raises(ApiException) as err:
        vs_api.patch(name="reviews", namespace="default", content_type="application/merge-patch+json",
                     body={"spec": {"http": [{"route": [route("v1", 0), route("v2", 0)]}]}})
    status = json.loads(err.value.body)
    assert err.value.status == 400 and status["code"] == 400 and "reason" not in status
    assert status["message"] == ('admission webhook "validation.istio.io" denied the request: configuration is '
                                 'invalid: total destination weight = 0')
    stored = istio_sim.get_object("networking.istio.io/v1", "VirtualService", "reviews", "default")
    assert stored["spec"]["http"][0]["route"] == [route("v1", 100)]
    with pytest.raises(ApiException) as err:
        vs_api.create(body=virtual_service("dry", [route("x.y", 100)]), namespace="default",
                      query_params=[("dryRun", "All")])
    assert err.value.status == 400 and "subset name is invalid: x.y" in json.loads(err.value.body)["message"]


def test_side_effects_webhook_refuses_dry_runs(istio_sim):
    hook = validator("Fail")
    hook["metadata"]["name"] = "with-side-effects"
    hook["webhooks"][0].update(name="audit.example.com", sideEffects="Some")
    istio_sim.create_objects([hook])
    out = apply(istio_sim, virtual_service("reviews", [route("v1", 100)]), "--dry-run=server", check=False)
    assert 'admission webhook "audit.example.com" does not support dry run' in out.stderr


def test_sidecar_injector_is_a_webhook_too(kubesim_factory):
    sim = kubesim_factory(istio_crds=True, available_delay=1.0)
    sim.create_objects([injector("Fail")])
    namespace(sim, "mesh", **{"istio-injection": "enabled"})
    namespace(sim, "plain")
    apply(sim, deployment("web", "mesh"))
    apply(sim, deployment("web", "plain"))
    assert sim.list_objects("v1", "Pod", "mesh") == []
    assert len(sim.list_objects("v1", "Pod", "plain")) == 2
    rs = sim.list_objects("apps/v1", "ReplicaSet", "mesh")[0]
    message = next(c for c in rs["status"]["conditions"] if c["type"] == "ReplicaFailure")["message"]
    assert message.startswith('Internal error occurred: failed calling webhook "namespace.sidecar-injector.istio.io"'
                              ': failed to call webhook: Post "https://istiod.istio-system.svc:443/inject?timeout=10s"')
    bare = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bare", "namespace": "mesh"},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}
    assert "failed calling webhook" in apply(sim, bare, check=False).stderr

    istiod(sim)     # the injector's pod turns Ready after the delay; the ReplicaSet then creates its pods
    kubectl(sim, "rollout", "status", "deployment/web", "-n", "mesh", "--timeout=20s")
    pods = sim.list_objects("v1", "Pod", "mesh")
    assert [[c["name"] for c in p["spec"]["containers"]] for p in pods] == [["web", "istio-proxy"]] * 2


def test_other_reachable_webhooks_admit_unchanged_and_selectors_apply(istio_sim):
    sim = istio_sim
    # A webhook served by an unknown service (reachable): kubesim cannot run it; the object passes unchanged.
    other = validator("Fail", service="istiod")
    other["metadata"]["name"] = "policy"
    other["webhooks"][0].update(name="policy.example.com", clientConfig={
        "service": {"name": "istiod", "namespace": "istio-system", "path": "/policy"}})
    # And one whose namespaceSelector excludes the namespace: never called although unreachable.
    skipped = validator("Fail", service="nowhere")
    skipped["metadata"]["name"] = "selective"
    skipped["webhooks"][0].update(name="selective.example.com",
                                  namespaceSelector={"matchLabels": {"team": "payments"}})
    sim.create_objects([other, skipped])
    apply(sim, virtual_service("reviews", [route("v1", 100)]))
    kubectl(sim, "label", "namespace", "default", "team=payments")
    out = apply(sim, virtual_service("more", [route("v1", 100)]), check=False)
    assert 'failed calling webhook "selective.example.com"' in out.stderr
    assert 'service "nowhere" not found' in out.stderr


def test_cli_available_delay_shows_the_webhook_error_first(tmp_path):
    """`python -m sim.kubesim --available-delay S`: a user sees the error, then success."""
    kubeconfig = tmp_path / "kc"
    proc = subprocess.Popen([sys.executable, "-m", "sim.kubesim", "--kubeconfig", str(kubeconfig),
                             "--available-delay", "2", "--crds", str(istio_crds())],
                            stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    try:
        proc.stdout.readline()

        class Cli:
            kubeconfig_path = str(kubeconfig)
        kubectl(Cli, "apply", "-f", "-", input=yaml.safe_dump_all([validator("Fail")] + istiod_objects()))
        vs = yaml.safe_dump(virtual_service("reviews", [route("v1", 100)]))
        first = kubectl(Cli, "apply", "-f", "-", input=vs, check=False)
        assert 'no endpoints available for service "istiod"' in first.stderr
        deadline = time.monotonic() + 30
        while True:
            attempt = kubectl(Cli, "apply", "-f", "-", input=vs, check=False)
            if attempt.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert attempt.returncode == 0, attempt.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=10)
