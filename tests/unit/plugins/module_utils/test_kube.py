import json

from ansible_collections.meshops.istio.plugins.module_utils import kube


def _live(obj, fields):
    live = json.loads(json.dumps(obj))
    live["metadata"]["resourceVersion"] = "7"
    live["metadata"]["managedFields"] = [
        {"manager": "meshops-istio", "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": fields}]
    return live


SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "a", "labels": {"app": "web"}},
           "spec": {"ports": [{"name": "http", "port": 80}], "selector": {"app": "web"}}}
SERVICE_FIELDS = {"f:metadata": {"f:labels": {"f:app": {}}},
                  "f:spec": {"f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:name": {}, "f:port": {}}},
                             "f:selector": {}}}


def test_already_applied_when_live_holds_everything_we_own():
    live = _live(SERVICE, SERVICE_FIELDS)
    live["spec"]["clusterIP"] = "10.0.0.1"
    live["spec"]["ports"][0]["protocol"] = "TCP"
    assert kube.already_applied(SERVICE, live)


def test_not_applied_when_a_value_differs_or_object_is_missing():
    live = _live(SERVICE, SERVICE_FIELDS)
    live["spec"]["selector"]["app"] = "other"
    assert not kube.already_applied(SERVICE, live)
    assert not kube.already_applied(SERVICE, None)


def test_not_applied_when_we_own_a_field_no_longer_wanted():
    # The label "tier" was applied before; dropping it from the desired object must reach the server.
    fields = json.loads(json.dumps(SERVICE_FIELDS))
    fields["f:metadata"]["f:labels"]["f:tier"] = {}
    live = _live(SERVICE, fields)
    live["metadata"]["labels"]["tier"] = "front"
    assert not kube.already_applied(SERVICE, live)


def test_not_applied_when_another_manager_applied_it():
    live = _live(SERVICE, SERVICE_FIELDS)
    live["metadata"]["managedFields"][0]["manager"] = "kubectl"
    assert not kube.already_applied(SERVICE, live)


def test_report_hides_secret_values_and_server_fields():
    report = kube.ApplyReport()
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "a"},
              "data": {"token": "c2VjcmV0"}}
    after = dict(secret, metadata=dict(secret["metadata"], resourceVersion="1", uid="u"))
    report.add(secret, "created", None, after)
    assert report.changed
    assert report.diff["after"]["Secret/a/s"] == {"apiVersion": "v1", "kind": "Secret",
                                                  "metadata": {"name": "s", "namespace": "a"},
                                                  "data": {"token": "<hidden>"}}
    assert "c2VjcmV0" not in json.dumps(report.diff)


def test_unchanged_objects_do_not_count_as_changes():
    report = kube.ApplyReport()
    report.add(SERVICE, "unchanged", SERVICE, SERVICE)
    assert not report.changed
    assert report.diff == {"before": {}, "after": {}}


def test_api_server_must_be_a_url_so_no_token_goes_to_a_service_name():
    for good in (None, "", "https://127.0.0.1:6443", "http://localhost:8080", "https://api.example.com"):
        assert kube.api_server_problem(good) is None, good
    for bad in ("reviews", "worker-service", "127.0.0.1:8080", "reviews.bookinfo.svc.cluster.local",
                "ftp://x", "https://"):
        problem = kube.api_server_problem(bad)
        assert problem.startswith("host (the API server's URL, also K8S_AUTH_HOST) is %r, which is not a URL" % bad)
        assert "option 'service'" in problem


def test_a_null_we_apply_matches_an_absent_field():
    # Server-side apply drops nulls (Istio's prometheus addon says strategy.rollingUpdate: null).
    desired = json.loads(json.dumps(SERVICE))
    desired["spec"]["externalName"] = None
    live = _live(SERVICE, SERVICE_FIELDS)
    assert kube.already_applied(desired, live)
    live["spec"]["externalName"] = "elsewhere.example.com"
    assert not kube.already_applied(desired, live)


class _Cluster:
    """Counts the reads LiveObjects makes."""

    def __init__(self, objects):
        self.objects = objects
        self.calls = []

    def get(self, api_version, kind, name, namespace=None):
        self.calls.append(("get", kind, namespace, name))
        return next((o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name
                     and o["metadata"].get("namespace") == namespace), None)

    def resource(self, api_version, kind):
        return type("Resource", (), {"namespaced": kind != "Namespace"})

    def list(self, api_version, kind, namespace=None):
        self.calls.append(("list", kind, namespace))
        return [o for o in self.objects if o["kind"] == kind and o["metadata"].get("namespace") == namespace]


def _svc(name, namespace="a"):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": namespace}}


def test_live_objects_reads_a_group_once_with_a_list_and_a_single_object_with_a_get():
    wanted = [_svc("web"), _svc("db"), _svc("cache"), _svc("web", "b")]
    cluster = _Cluster([_svc("web"), _svc("db")])
    live = kube.LiveObjects(cluster, wanted)
    assert [live.of(o) is not None for o in wanted] == [True, True, False, False]
    assert [live.of(o) is not None for o in wanted] == [True, True, False, False]
    assert cluster.calls == [("list", "Service", "a"), ("get", "Service", "b", "web")]


def test_readiness_rules_of_the_waited_kinds():
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "generation": 2},
                  "spec": {"replicas": 1},
                  "status": {"replicas": 1, "availableReplicas": 1, "observedGeneration": 2}}
    assert kube.is_ready(deployment, deployment)
    assert not kube.is_ready(deployment, dict(deployment, status={"replicas": 1, "observedGeneration": 2}))
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "x"}}
    assert not kube.is_ready(crd, crd)
    assert kube.is_ready(crd, dict(crd, status={"conditions": [{"type": "Established", "status": "True"}]}))
    assert kube.is_ready(_svc("web"), _svc("web")) and not kube.is_ready(_svc("web"), None)


def test_an_object_given_by_its_name_alone_is_applied_once_it_exists():
    # The API server keeps no managedFields entry for a manager that owns no field.
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa", "namespace": "a"}}
    live = dict(account, metadata=dict(account["metadata"], resourceVersion="3"), secrets=[])
    assert kube.already_applied(account, live)
    assert not kube.already_applied(account, None)
    labelled = dict(account, metadata=dict(account["metadata"], labels={"app": "web"}))
    assert not kube.already_applied(labelled, dict(live, metadata=dict(live["metadata"], labels={"app": "web"})))
