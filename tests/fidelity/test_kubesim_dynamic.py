"""kubesim against the kubernetes Python client's DynamicClient (what kubernetes.core is built on)."""
import base64
import json
import threading
import time

import pytest
from kubernetes import client, config, dynamic, watch
from kubernetes.dynamic.exceptions import (ApiException, BadRequestError, ConflictError, NotFoundError,
                                           ResourceNotFoundError, UnprocessibleEntityError)


def dynamic_client(sim):
    """A DynamicClient that does not trust the on-disk discovery cache (keyed by host:port only,
    so it can hold another simulated cluster's resources from an earlier test)."""
    dc = dynamic.DynamicClient(config.new_client_from_config(sim.kubeconfig_path))
    dc.resources.invalidate_cache()
    return dc


@pytest.fixture(scope="module")
def dc(kubesim_module):
    return dynamic_client(kubesim_module)


@pytest.fixture
def ns(dc, request):
    name = request.node.name.replace("_", "-").lower()[:60]
    dc.resources.get(api_version="v1", kind="Namespace").create(body={"metadata": {"name": name}})
    return name


def deployment(name, ns, image="nginx:1.27", replicas=1, labels=None):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns, "labels": labels or {"app": name}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "main", "image": image,
                                                           "env": [{"name": "A", "value": "1"}]}]}}}}


def status_body(exc):
    return json.loads(exc.body)


def test_discovery_grows_and_shrinks_with_a_crd(kubesim_factory):
    sim = kubesim_factory("crd-discovery")
    dc = dynamic_client(sim)
    with pytest.raises(ResourceNotFoundError):
        dc.resources.get(api_version="example.com/v1", kind="Widget")
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "widgets.example.com"},
           "spec": {"group": "example.com", "scope": "Namespaced",
                    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wg"]},
                    "versions": [{"name": "v1", "served": True, "storage": True,
                                  "subresources": {"status": {}},
                                  "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                      "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
                                      "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}]}}
    created = dc.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition").create(body=crd)
    conditions = {c["type"]: c["status"] for c in
                  dc.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
                  .get(name="widgets.example.com").status.conditions}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    assert created.metadata.generation == 1
    fresh = dynamic_client(sim)
    widgets = fresh.resources.get(api_version="example.com/v1", kind="Widget")
    assert widgets.namespaced and widgets.short_names == ["wg"]
    w = widgets.create(namespace="default", body={"apiVersion": "example.com/v1", "kind": "Widget",
                                                  "metadata": {"name": "w1"}, "spec": {"size": 3, "extra": "x"}})
    assert w.spec.to_dict() == {"size": 3}   # pruned like a structural schema prunes
    with pytest.raises(UnprocessibleEntityError) as err:
        widgets.create(namespace="default", body={"apiVersion": "example.com/v1", "kind": "Widget",
                                                  "metadata": {"name": "w2"}, "spec": {"size": "big"}})
    assert status_body(err.value)["details"]["causes"][0]["field"] == "spec.size"
    fresh.resources.get(api_version="apiextensions.k8s.io/v1",
                        kind="CustomResourceDefinition").delete(name="widgets.example.com")
    assert sim.list_objects("v1", "Namespace") and sim.registry.by_path("example.com", "v1", "widgets") is None
    with pytest.raises(ResourceNotFoundError):
        dynamic_client(sim).resources.get(api_version="example.com/v1", kind="Widget")


def test_create_get_list_replace_delete(dc, ns):
    cms = dc.resources.get(api_version="v1", kind="ConfigMap")
    created = cms.create(namespace=ns, body={"metadata": {"name": "one", "labels": {"a": "1"}}, "data": {"k": "v"}})
    assert created.metadata.uid and created.metadata.creationTimestamp and created.metadata.resourceVersion
    assert cms.get(name="one", namespace=ns).data.k == "v"
    listed = cms.get(namespace=ns)
    assert listed.kind == "ConfigMapList"
    assert sorted(i.metadata.name for i in listed.items) == ["kube-root-ca.crt", "one"]
    assert int(listed.metadata.resourceVersion) >= int(created.metadata.resourceVersion)
    body = created.to_dict()
    body["data"] = {"k": "w"}
    replaced = cms.replace(namespace=ns, body=body)
    assert replaced.data.k == "w"
    assert int(replaced.metadata.resourceVersion) > int(created.metadata.resourceVersion)
    with pytest.raises(ConflictError) as err:
        cms.replace(namespace=ns, body=body)   # still carries the old resourceVersion
    status = status_body(err.value)
    assert status["reason"] == "Conflict" and status["code"] == 409
    assert status["message"] == ('Operation cannot be fulfilled on configmaps "one": the object has been '
                                 'modified; please apply your changes to the latest version and try again')
    same = replaced.to_dict()
    again = cms.replace(namespace=ns, body=same)
    assert again.metadata.resourceVersion == replaced.metadata.resourceVersion   # no-op keeps the version
    deleted = cms.delete(name="one", namespace=ns)
    assert deleted.status == "Success" and deleted.details.name == "one"
    with pytest.raises(NotFoundError) as err:
        cms.get(name="one", namespace=ns)
    assert status_body(err.value) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'configmaps "one" not found', "reason": "NotFound",
        "details": {"name": "one", "kind": "configmaps"}, "code": 404}


def test_already_exists_and_invalid(dc, ns):
    deps = dc.resources.get(api_version="apps/v1", kind="Deployment")
    deps.create(body=deployment("web", ns))
    with pytest.raises(ConflictError) as err:
        deps.create(body=deployment("web", ns))
    assert status_body(err.value)["reason"] == "AlreadyExists"
    assert status_body(err.value)["message"] == 'deployments.apps "web" already exists'
    with pytest.raises(UnprocessibleEntityError) as err:
        deps.create(body=deployment("Web_2", ns))
    body = status_body(err.value)
    assert body["reason"] == "Invalid" and body["code"] == 422
    assert body["details"]["causes"][0]["field"] == "metadata.name"
    bad = deployment("web3", ns)
    bad["spec"]["replicas"] = "three"
    with pytest.raises(BadRequestError) as err:
        deps.create(body=bad)
    assert "spec.replicas" in status_body(err.value)["message"]


def test_generation_bumps_only_on_spec_change(dc, ns):
    deps = dc.resources.get(api_version="apps/v1", kind="Deployment")
    deps.create(body=deployment("gen", ns))
    labelled = deps.patch(name="gen", namespace=ns, body={"metadata": {"labels": {"extra": "yes"}}},
                          content_type="application/merge-patch+json")
    assert labelled.metadata.generation == 1
    scaled = deps.patch(name="gen", namespace=ns, body={"spec": {"replicas": 3}},
                        content_type="application/merge-patch+json")
    assert scaled.metadata.generation == 2
    assert deps.get(name="gen", namespace=ns).status.observedGeneration == 2
    assert len(dc.resources.get(api_version="v1", kind="Pod").get(namespace=ns, label_selector="app=gen").items) == 3


def test_json_merge_and_strategic_patches(dc, ns):
    deps = dc.resources.get(api_version="apps/v1", kind="Deployment")
    deps.create(body=deployment("patched", ns))
    container_patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "image": "busybox:1.36"}]}}}}
    smp = deps.patch(name="patched", namespace=ns, body=container_patch,
                     content_type="application/strategic-merge-patch+json")
    assert [c.name for c in smp.spec.template.spec.containers] == ["sidecar", "main"]
    merge = deps.patch(name="patched", namespace=ns, body=container_patch,
                       content_type="application/merge-patch+json")
    assert [c.name for c in merge.spec.template.spec.containers] == ["sidecar"]
    jp = deps.patch(name="patched", namespace=ns, content_type="application/json-patch+json", body=[
        {"op": "replace", "path": "/spec/replicas", "value": 2},
        {"op": "add", "path": "/metadata/labels/tier", "value": "back"}])
    assert jp.spec.replicas == 2 and jp.metadata.labels.tier == "back"
    with pytest.raises(UnprocessibleEntityError):
        deps.patch(name="patched", namespace=ns, content_type="application/json-patch+json",
                   body=[{"op": "test", "path": "/spec/replicas", "value": 5}])
    with pytest.raises(NotFoundError):
        deps.patch(name="missing", namespace=ns, body={"spec": {"replicas": 1}},
                   content_type="application/merge-patch+json")


def test_server_side_apply_ownership_and_conflicts(dc, ns):
    cms = dc.resources.get(api_version="v1", kind="ConfigMap")
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owned", "namespace": ns},
            "data": {"a": "1", "b": "2"}}
    first = cms.server_side_apply(body=body, name="owned", namespace=ns, field_manager="team-a")
    assert [(m.manager, m.operation) for m in first.metadata.managedFields] == [("team-a", "Apply")]
    again = cms.server_side_apply(body=body, name="owned", namespace=ns, field_manager="team-a")
    assert again.metadata.resourceVersion == first.metadata.resourceVersion
    other = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owned", "namespace": ns},
             "data": {"a": "changed"}}
    with pytest.raises(ConflictError) as err:
        cms.server_side_apply(body=other, name="owned", namespace=ns, field_manager="team-b")
    status = status_body(err.value)
    assert status["message"] == 'Apply failed with 1 conflict: conflict with "team-a": .data.a'
    assert status["details"]["causes"] == [{"reason": "FieldManagerConflict", "message": 'conflict with "team-a"',
                                            "field": ".data.a"}]
    forced = cms.server_side_apply(body=other, name="owned", namespace=ns, field_manager="team-b", force_conflicts=True)
    assert forced.data.to_dict() == {"a": "changed", "b": "2"}
    dropped = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owned", "namespace": ns},
               "data": {}}
    after = cms.server_side_apply(body=dropped, name="owned", namespace=ns, field_manager="team-a")
    assert after.data.to_dict() == {"a": "changed"}      # team-a gave up b; a belongs to team-b
    with pytest.raises(BadRequestError):
        cms.patch(name="owned", namespace=ns, body=dropped, content_type="application/apply-patch+yaml")


def test_selectors(dc, ns):
    cms = dc.resources.get(api_version="v1", kind="ConfigMap")
    for name, labels in (("a", {"env": "prod", "tier": "web"}), ("b", {"env": "dev", "tier": "web"}),
                         ("c", {"env": "prod"}), ("d", {})):
        cms.create(namespace=ns, body={"metadata": {"name": name, "labels": labels}})

    def names(**kw):
        return sorted(i.metadata.name for i in cms.get(namespace=ns, **kw).items if i.metadata.name != "kube-root-ca.crt")

    assert names(label_selector="env=prod") == ["a", "c"]
    assert names(label_selector="env in (prod, dev),tier") == ["a", "b"]
    assert names(label_selector="env notin (prod)") == ["b", "d"]
    assert names(label_selector="!tier") == ["c", "d"]
    assert names(label_selector="env!=prod,tier==web") == ["b"]
    assert names(field_selector="metadata.name=c") == ["c"]
    assert names(field_selector="metadata.name!=c,metadata.namespace=" + ns) == ["a", "b", "d"]
    with pytest.raises(BadRequestError) as err:
        cms.get(namespace=ns, field_selector="data.x=1")
    assert "field label not supported: data.x" in status_body(err.value)["message"]
    everywhere = dc.resources.get(api_version="v1", kind="ConfigMap").get(label_selector="env=prod")
    assert sorted(i.metadata.namespace for i in everywhere.items) == [ns, ns]


def test_list_pagination(dc, ns):
    cms = dc.resources.get(api_version="v1", kind="ConfigMap")
    for i in range(5):
        cms.create(namespace=ns, body={"metadata": {"name": f"page-{i}", "labels": {"p": "y"}}})
    page = cms.get(namespace=ns, label_selector="p=y", limit=2)
    seen = [i.metadata.name for i in page.items]
    assert page.metadata.remainingItemCount == 3
    while page.metadata["continue"]:
        page = cms.get(namespace=ns, label_selector="p=y", limit=2, _continue=page.metadata["continue"])
        seen += [i.metadata.name for i in page.items]
    assert seen == [f"page-{i}" for i in range(5)]


def test_dry_run_validates_but_stores_nothing(kubesim_module, dc, ns):
    cms = dc.resources.get(api_version="v1", kind="ConfigMap")
    cms.create(namespace=ns, body={"metadata": {"name": "real"}, "data": {"a": "1"}})
    before = kubesim_module.store.resource_version
    kubesim_module.clear_request_log()
    made = cms.create(namespace=ns, body={"metadata": {"name": "dry"}}, dry_run="All")
    assert made.metadata.name == "dry" and made.metadata.uid
    patched = cms.patch(name="real", namespace=ns, body={"data": {"a": "2"}},
                        content_type="application/merge-patch+json", dry_run="All")
    assert patched.data.a == "2"
    cms.delete(name="real", namespace=ns, dry_run="All")
    with pytest.raises(UnprocessibleEntityError):
        cms.create(namespace=ns, body={"metadata": {"name": "Not_Valid"}}, dry_run="All")
    assert kubesim_module.store.resource_version == before
    assert kubesim_module.get_object("v1", "ConfigMap", "dry", ns) is None
    assert kubesim_module.get_object("v1", "ConfigMap", "real", ns)["data"] == {"a": "1"}
    assert kubesim_module.writes() == []
    assert [r.dry_run for r in kubesim_module.request_log if r.method != "GET"] == [True] * 4


def test_status_and_scale_subresources(dc, ns):
    deps = dc.resources.get(api_version="apps/v1", kind="Deployment")
    deps.create(body=deployment("sub", ns))
    body = deps.get(name="sub", namespace=ns).to_dict()
    body["status"]["replicas"] = 42
    body["spec"]["replicas"] = 1
    kept = deps.replace(body=body)
    assert kept.status.replicas == 1        # the main resource ignores status
    status = deps.subresources["status"]
    changed = status.patch(name="sub", namespace=ns, body={"status": {"replicas": 7}, "spec": {"replicas": 9}},
                           content_type="application/merge-patch+json")
    assert changed.status.replicas == 7 and changed.spec.replicas == 1
    scale = deps.subresources["scale"]
    current = scale.get(name="sub", namespace=ns)
    assert current.kind == "Scale" and current.spec.replicas == 1 and current.status.selector == "app=sub"
    scale.patch(name="sub", namespace=ns, body={"spec": {"replicas": 2}}, content_type="application/merge-patch+json")
    assert deps.get(name="sub", namespace=ns).spec.replicas == 2


def test_watch_streams_events_with_selectors(kubesim_module, dc, ns):
    cms = dc.resources.get(api_version="v1", kind="ConfigMap")
    cms.create(namespace=ns, body={"metadata": {"name": "w0", "labels": {"watch": "me"}}})
    start_rv = cms.get(namespace=ns).metadata.resourceVersion

    def writer():
        time.sleep(0.3)
        cms.create(namespace=ns, body={"metadata": {"name": "w1", "labels": {"watch": "me"}}})
        cms.create(namespace=ns, body={"metadata": {"name": "ignored"}})
        cms.patch(name="w1", namespace=ns, body={"data": {"x": "1"}}, content_type="application/merge-patch+json")
        cms.patch(name="w0", namespace=ns, body={"metadata": {"labels": {"watch": None}}},
                  content_type="application/merge-patch+json")
        cms.delete(name="w1", namespace=ns)

    thread = threading.Thread(target=writer)
    thread.start()
    events = []
    for event in dc.watch(cms, namespace=ns, label_selector="watch=me", resource_version=start_rv, timeout=2):
        events.append((event["type"], event["object"].metadata.name))
    thread.join()
    assert events == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w0"), ("DELETED", "w1")]
    core = client.CoreV1Api(config.new_client_from_config(kubesim_module.kubeconfig_path))
    initial = [(e["type"], e["object"].metadata.name) for e in
               watch.Watch().stream(core.list_namespaced_config_map, ns, timeout_seconds=1)]
    assert initial == [("ADDED", "ignored"), ("ADDED", "kube-root-ca.crt"), ("ADDED", "w0")]


def test_watch_from_expired_version_is_gone(kubesim_factory):
    sim = kubesim_factory("history")
    sim.store.set_history_limit(20)
    cms = dynamic_client(sim).resources.get(api_version="v1", kind="ConfigMap")
    first = cms.create(namespace="default", body={"metadata": {"name": "c0"}}).metadata.resourceVersion
    for i in range(1, 30):
        cms.create(namespace="default", body={"metadata": {"name": f"c{i}"}})
    with pytest.raises(ApiException) as err:
        list(dynamic_client(sim).watch(cms, namespace="default", resource_version=first, timeout=1))
    assert err.value.status == 410
    assert status_body(err.value)["reason"] == "Expired"


def test_namespace_deletion_and_garbage_collection(kubesim_module, dc, ns):
    deps = dc.resources.get(api_version="apps/v1", kind="Deployment")
    pods = dc.resources.get(api_version="v1", kind="Pod")
    deps.create(body=deployment("gc", ns, replicas=2))
    assert len(pods.get(namespace=ns, label_selector="app=gc").items) == 2
    deps.delete(name="gc", namespace=ns, body={"propagationPolicy": "Orphan"})
    orphans = dc.resources.get(api_version="apps/v1", kind="ReplicaSet").get(namespace=ns).items
    assert len(orphans) == 1 and not orphans[0].metadata.ownerReferences
    assert len(pods.get(namespace=ns, label_selector="app=gc").items) == 2
    dc.resources.get(api_version="apps/v1", kind="ReplicaSet").delete(name=orphans[0].metadata.name, namespace=ns)
    assert pods.get(namespace=ns, label_selector="app=gc").items == []
    cms = dc.resources.get(api_version="v1", kind="ConfigMap")
    cms.create(namespace=ns, body={"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})
    pending = cms.delete(name="held", namespace=ns)
    assert pending.metadata.deletionTimestamp
    assert cms.get(name="held", namespace=ns).metadata.deletionTimestamp
    cms.patch(name="held", namespace=ns, body={"metadata": {"finalizers": None}},
              content_type="application/merge-patch+json")
    assert kubesim_module.get_object("v1", "ConfigMap", "held", ns) is None
    deps.create(body=deployment("doomed", ns))
    gone = dc.resources.get(api_version="v1", kind="Namespace").delete(name=ns)
    assert gone.status.phase == "Terminating"
    assert kubesim_module.get_object("v1", "Namespace", ns) is None
    assert kubesim_module.list_objects("apps/v1", "Deployment", ns) == []
    assert kubesim_module.list_objects("v1", "Pod", ns) == []
    with pytest.raises(NotFoundError) as err:
        cms.create(namespace=ns, body={"metadata": {"name": "late"}})
    assert status_body(err.value)["message"] == f'namespaces "{ns}" not found'


def test_terminating_namespace_refuses_new_content(kubesim_module, dc, ns):
    namespaces = dc.resources.get(api_version="v1", kind="Namespace")
    namespaces.patch(name=ns, body={"metadata": {"finalizers": ["example.com/slow"]}},
                     content_type="application/merge-patch+json")
    namespaces.delete(name=ns)
    assert namespaces.get(name=ns).status.phase == "Terminating"
    with pytest.raises(ApiException) as err:
        dc.resources.get(api_version="v1", kind="ConfigMap").create(namespace=ns, body={"metadata": {"name": "x"}})
    assert err.value.status == 403
    assert "because it is being terminated" in status_body(err.value)["message"]
    namespaces.patch(name=ns, body={"metadata": {"finalizers": None}}, content_type="application/merge-patch+json")
    assert kubesim_module.get_object("v1", "Namespace", ns) is None


def test_services_get_cluster_ip_node_ports_and_load_balancer(kubesim_factory):
    sim = kubesim_factory("svc", available_delay=0.3)
    svcs = dynamic_client(sim).resources.get(api_version="v1", kind="Service")
    ports = [{"name": "http", "port": 80}, {"name": "https", "port": 443, "nodePort": 31443}]
    lb = svcs.create(namespace="default", body={"metadata": {"name": "gw"},
                                                "spec": {"type": "LoadBalancer", "selector": {"app": "gw"},
                                                         "ports": ports}})
    assert lb.spec.clusterIP.startswith("10.96.")
    node_ports = {p.name: p.nodePort for p in lb.spec.ports}
    assert node_ports["https"] == 31443 and 30000 <= node_ports["http"] <= 32767
    assert not lb.status.loadBalancer.get("ingress")
    with pytest.raises(UnprocessibleEntityError) as err:
        svcs.create(namespace="default", body={"metadata": {"name": "clash"},
                                               "spec": {"type": "NodePort", "ports": [{"port": 1, "nodePort": 31443}]}})
    assert "provided port is already allocated" in status_body(err.value)["message"]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not svcs.get(name="gw", namespace="default").status.loadBalancer.get("ingress"):
        time.sleep(0.05)
    assert svcs.get(name="gw", namespace="default").status.loadBalancer.ingress[0].ip == "127.0.0.1"
    body = svcs.get(name="gw", namespace="default").to_dict()
    del body["spec"]["clusterIP"], body["spec"]["clusterIPs"]
    assert svcs.replace(body=body).spec.clusterIP == lb.spec.clusterIP


def test_service_account_token_secret_and_token_request(kubesim_module, dc, ns):
    dc.resources.get(api_version="v1", kind="ServiceAccount").create(namespace=ns, body={"metadata": {"name": "reader"}})
    secrets = dc.resources.get(api_version="v1", kind="Secret")
    secrets.create(namespace=ns, body={"metadata": {"name": "reader-token", "annotations": {
        "kubernetes.io/service-account.name": "reader"}}, "type": "kubernetes.io/service-account-token"})
    data = secrets.get(name="reader-token", namespace=ns).data
    assert base64.b64decode(data["ca.crt"]).decode() == kubesim_module.ca_pem
    assert base64.b64decode(data["namespace"]).decode() == ns
    token = base64.b64decode(data["token"]).decode()
    assert kubesim_module.token_subject(token) == f"system:serviceaccount:{ns}:reader"
    core = client.CoreV1Api(config.new_client_from_config(kubesim_module.kubeconfig_path))
    request = core.create_namespaced_service_account_token("reader", ns, client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=["istio-ca"], expiration_seconds=600)))
    assert kubesim_module.token_subject(request.status.token) == f"system:serviceaccount:{ns}:reader"
    secrets.delete(name="reader-token", namespace=ns)
    assert kubesim_module.token_subject(token) is None


def test_workload_kinds_get_pods_and_status(dc, ns):
    apps = {kind: dc.resources.get(api_version="apps/v1", kind=kind) for kind in ("StatefulSet", "DaemonSet")}
    template = {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "redis:7"}]}}
    apps["StatefulSet"].create(namespace=ns, body={"metadata": {"name": "db"}, "spec": {
        "replicas": 2, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}}, "template": template}})
    apps["DaemonSet"].create(namespace=ns, body={"metadata": {"name": "agent"}, "spec": {
        "selector": {"matchLabels": {"app": "db"}}, "template": template}})
    pods = sorted(p.metadata.name for p in dc.resources.get(api_version="v1", kind="Pod").get(namespace=ns).items)
    assert pods[:2] == ["agent-" + pods[0].split("-", 1)[1], "db-0"] and pods[2] == "db-1"
    sts = apps["StatefulSet"].get(name="db", namespace=ns).status
    assert (sts.readyReplicas, sts.currentRevision == sts.updateRevision) == (2, True)
    assert apps["DaemonSet"].get(name="agent", namespace=ns).status.numberReady == 1
    jobs = dc.resources.get(api_version="batch/v1", kind="Job")
    jobs.create(namespace=ns, body={"metadata": {"name": "once"}, "spec": {"template": {
        "spec": {"restartPolicy": "Never", "containers": [{"name": "x", "image": "busybox:1.36"}]}}}})
    assert [c.type for c in jobs.get(name="once", namespace=ns).status.conditions] == ["SuccessCriteriaMet", "Complete"]
    pvcs = dc.resources.get(api_version="v1", kind="PersistentVolumeClaim")
    pvcs.create(namespace=ns, body={"metadata": {"name": "data"}, "spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}}})
    claim = pvcs.get(name="data", namespace=ns).status
    assert (claim.phase, claim.capacity.storage) == ("Bound", "2Gi")


def test_method_not_allowed_and_unsupported_patch_type(kubesim_istio_module):
    sim = kubesim_istio_module
    dc = dynamic_client(sim)
    with pytest.raises(ApiException) as err:
        dc.request("POST", "/api/v1/namespaces/default/configmaps/x", body={"metadata": {"name": "x"}})
    assert err.value.status == 405
    assert status_body(err.value)["reason"] == "MethodNotAllowed"
    vs = dc.resources.get(api_version="networking.istio.io/v1", kind="VirtualService")
    vs.create(namespace="default", body={"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                                         "metadata": {"name": "smp"}, "spec": {"hosts": ["a"]}})
    with pytest.raises(ApiException) as err:
        vs.patch(name="smp", namespace="default", body={"spec": {"hosts": ["b"]}},
                 content_type="application/strategic-merge-patch+json")
    assert err.value.status == 415 and status_body(err.value)["reason"] == "UnsupportedMediaType"
    merged = vs.patch(name="smp", namespace="default", body={"spec": {"hosts": ["b"]}},
                      content_type="application/merge-patch+json")
    assert merged.spec.hosts == ["b"]
