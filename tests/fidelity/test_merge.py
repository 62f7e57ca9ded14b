"""kubesim patch semantics: JSON merge patch, JSON patch, strategic merge patch, server-side apply."""
import copy

import pytest
import yaml

from tests.conftest import needs_reference, reference_docs
from sim.kubesim import merge, schema
from sim.meshsim import bookinfo as meshsim_bookinfo
from tests.standins import istio_crds

# Istio's Bookinfo sample: real Deployments and Services to patch (empty without the reference; the tests
# that use it are marked). The VirtualService schema comes from Istio's CRDs or else the stand-ins.
BOOKINFO = reference_docs("istio", "samples", "bookinfo", "bookinfo.yaml")
CRDS = [d for d in yaml.safe_load_all(istio_crds().read_text()) if d]
ON_BOOKINFO = needs_reference("kubesim's strategic merge and apply on the Deployments of Istio's Bookinfo sample")
DEPLOYMENT = schema.node_for("apps/v1", "Deployment")
SERVICE = schema.node_for("v1", "Service")
CONFIGMAP = schema.node_for("v1", "ConfigMap")


def y(text):
    return yaml.safe_load(text)


def bookinfo(kind, name):
    # Services as meshsim builds them (the sample's, see test_standins); Deployments from the sample itself.
    services = [dict(d, metadata={k: v for k, v in d["metadata"].items() if k != "namespace"})
                for d in meshsim_bookinfo.objects("bookinfo.yaml")]
    for doc in services if kind == "Service" else BOOKINFO:
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            return copy.deepcopy(doc)
    raise LookupError(name)


def vs_node():
    for crd in CRDS:
        if crd["spec"]["names"]["kind"] == "VirtualService":
            version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
            return schema.node_for("networking.istio.io/v1", "VirtualService", version["schema"]["openAPIV3Schema"])
    raise LookupError("VirtualService")


# ============================================================ RFC 7386 (its appendix A, every case)

@pytest.mark.parametrize("target, patch, result", [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
])
def test_merge_patch_rfc7386_examples(target, patch, result):
    before = copy.deepcopy(target)
    assert merge.merge_patch(target, patch) == result
    assert target == before


# ============================================================ RFC 6902

def test_json_patch_operations_in_order():
    doc = {"metadata": {"labels": {"app": "reviews"}}, "spec": {"hosts": ["reviews"], "weights": [90, 10]}}
    ops = [
        {"op": "add", "path": "/metadata/labels/version", "value": "v2"},
        {"op": "replace", "path": "/spec/weights/0", "value": 50},
        {"op": "replace", "path": "/spec/weights/1", "value": 50},
        {"op": "add", "path": "/spec/hosts/-", "value": "reviews.default.svc"},
        {"op": "add", "path": "/spec/hosts/0", "value": "first"},
        {"op": "copy", "from": "/metadata/labels/app", "path": "/metadata/labels/copied"},
        {"op": "move", "from": "/metadata/labels/version", "path": "/spec/version"},
        {"op": "remove", "path": "/spec/hosts/1"},
        {"op": "test", "path": "/spec/weights", "value": [50, 50.0]},
        {"op": "add", "path": "/metadata/annotations", "value": {"a~b/c": "1"}},
        {"op": "replace", "path": "/metadata/annotations/a~0b~1c", "value": "2"},
    ]
    assert merge.json_patch(doc, ops) == {
        "metadata": {"labels": {"app": "reviews", "copied": "reviews"}, "annotations": {"a~b/c": "2"}},
        "spec": {"hosts": ["first", "reviews.default.svc"], "weights": [50, 50], "version": "v2"},
    }
    assert doc["spec"]["weights"] == [90, 10]


@pytest.mark.parametrize("ops, code, message", [
    ([{"op": "test", "path": "/a", "value": 2}], 422, "testing value /a failed: test failed"),
    ([{"op": "test", "path": "/flag", "value": 1}], 422, "testing value /flag failed: test failed"),
    ([{"op": "test", "path": "/missing", "value": None}], 422, "testing value /missing failed: test failed"),
    ([{"op": "remove", "path": "/missing"}], 422, 'remove operation does not apply: doc is missing key: "/missing"'),
    ([{"op": "replace", "path": "/missing", "value": 1}], 422,
     'replace operation does not apply: doc is missing key: "/missing"'),
    ([{"op": "add", "path": "/no/such/parent", "value": 1}], 422,
     'add operation does not apply: doc is missing path: "/no/such/parent"'),
    ([{"op": "add", "path": "/list/5", "value": 1}], 422,
     'add operation does not apply: index 5 is out of bounds in "/list/5"'),
    ([{"op": "add", "path": "/list/01", "value": 1}], 422,
     'add operation does not apply: "01" is not a valid array index in "/list/01"'),
    ([{"op": "move", "from": "/obj", "path": "/obj/inner"}], 422,
     'move operation does not apply: "/obj/inner" is a child of "/obj"'),
    ([{"op": "frobnicate", "path": "/a"}], 422, "Unexpected kind: frobnicate"),
    ([{"op": "add", "path": "/a"}], 400, 'add operation is missing the "value" field for path "/a"'),
    ([{"path": "/a"}], 400, 'invalid JSON patch operation 0: it needs an "op" string'),
    ({"op": "add"}, 400, "json: cannot unmarshal object into Go value of type jsonpatch.Patch"),
])
def test_json_patch_errors_carry_the_status_code(ops, code, message):
    doc = {"a": 1, "flag": True, "list": [1, 2], "obj": {"x": 1}}
    with pytest.raises(merge.PatchError) as caught:
        merge.json_patch(doc, ops)
    assert caught.value.code == code
    assert str(caught.value) == message


def test_json_patch_failed_test_leaves_document_untouched():
    doc = {"a": 1}
    with pytest.raises(merge.PatchError):
        merge.json_patch(doc, [{"op": "add", "path": "/b", "value": 2}, {"op": "test", "path": "/a", "value": 3}])
    assert doc == {"a": 1}


def test_json_patch_whole_document_and_nulls():
    assert merge.json_patch({"a": 1}, [{"op": "replace", "path": "", "value": {"b": 2}}]) == {"b": 2}
    assert merge.json_patch({"a": 1}, [{"op": "add", "path": "/a", "value": None}]) == {"a": None}
    assert merge.json_patch({"a": None}, [{"op": "test", "path": "/a", "value": None}]) == {"a": None}


# ============================================================ strategic merge patch

# A schema shaped like the apiserver's test type: a list merged on `name`, a merged int list,
# and a retainKeys map.
TEST_SCHEMA = schema.SchemaNode({
    "type": "object",
    "properties": {
        "mergingList": {"type": "array", "x-kubernetes-patch-strategy": "merge",
                        "x-kubernetes-patch-merge-key": "name",
                        "items": {"type": "object", "properties": {
                            "name": {"type": "string"}, "value": {"type": "string"}, "other": {"type": "string"},
                            "mergingIntList": {"type": "array", "items": {"type": "integer"},
                                               "x-kubernetes-patch-strategy": "merge"}}}},
        "mergingIntList": {"type": "array", "items": {"type": "integer"}, "x-kubernetes-patch-strategy": "merge"},
        "nonMergingList": {"type": "array", "items": {"type": "object"}},
        "retainKeysMap": {"type": "object", "x-kubernetes-patch-strategy": "retainKeys",
                          "properties": {"name": {"type": "string"}, "value": {"type": "string"},
                                         "other": {"type": "string"}}},
        "replacingMap": {"type": "object", "x-kubernetes-patch-strategy": "replace"},
    },
}, builtin=False)


# (current, patch, result) — the apiserver's server-side results for these inputs.
SMP_CASES = {
    "add items and keep order from setElementOrder": (
        """
mergingList:
  - {name: "1", other: a}
  - {name: "2", value: "2", other: b}
""", """
$setElementOrder/mergingList: [{name: "1"}, {name: "4"}, {name: "2"}, {name: "3"}]
mergingList:
  - {name: "4", value: "4"}
  - {name: "3", value: "3"}
""", """
mergingList:
  - {name: "1", other: a}
  - {name: "4", value: "4"}
  - {name: "2", value: "2", other: b}
  - {name: "3", value: "3"}
"""),
    "delete an item and reorder": (
        """
mergingList:
  - {name: "1", other: a}
  - {name: "2", value: "2", other: b}
  - {name: "3", value: "3"}
""", """
$setElementOrder/mergingList: [{name: "2"}, {name: "1"}]
mergingList:
  - {name: "3", $patch: delete}
""", """
mergingList:
  - {name: "2", value: "2", other: b}
  - {name: "1", other: a}
"""),
    "server-only items keep their place": (
        """
mergingList:
  - {name: "1", other: a}
  - {name: "2", value: "2"}
  - {name: "7"}
  - {name: "9"}
  - {name: "8"}
  - {name: "3", value: "3"}
  - {name: "4", value: "4"}
""", """
$setElementOrder/mergingList: [{name: "2"}, {name: "1"}, {name: "4"}, {name: "3"}]
""", """
mergingList:
  - {name: "2", value: "2"}
  - {name: "1", other: a}
  - {name: "7"}
  - {name: "9"}
  - {name: "8"}
  - {name: "4", value: "4"}
  - {name: "3", value: "3"}
"""),
    "int list: add, delete and order": (
        """
mergingIntList: [1, 2, 3]
""", """
$setElementOrder/mergingIntList: [4, 2, 1]
mergingIntList: [4]
$deleteFromPrimitiveList/mergingIntList: [3]
""", """
mergingIntList: [4, 2, 1]
"""),
    "int list with server-only items": (
        """
mergingIntList: [1, 2, 9, 3, 4]
""", """
$setElementOrder/mergingIntList: [2, 1, 4, 3]
""", """
mergingIntList: [2, 1, 9, 4, 3]
"""),
    "retainKeys clears fields not listed": (
        """
retainKeysMap: {name: type1, value: foo}
""", """
retainKeysMap:
  $retainKeys: [name, other]
  name: type2
  other: bar
""", """
retainKeysMap: {name: type2, other: bar}
"""),
    "merge without directives: new patch items go before server-only ones": (
        """
mergingList:
  - {name: a}
  - {name: b, value: x}
""", """
mergingList:
  - {name: c}
  - {name: b, value: y}
""", """
mergingList:
  - {name: c}
  - {name: a}
  - {name: b, value: y}
"""),
    "$patch: replace on a list": (
        """
mergingList: [{name: a}, {name: b}]
""", """
mergingList:
  - {name: z}
  - {$patch: replace}
""", """
mergingList: [{name: z}]
"""),
    "$patch: replace and delete on maps, null deletes": (
        """
replacingMap: {a: 1, b: 2}
retainKeysMap: {name: x, value: y}
nonMergingList: [{a: 1}]
other: keep
""", """
replacingMap: {c: 3}
retainKeysMap: {$patch: delete}
nonMergingList: [{b: 2}]
other: null
""", """
replacingMap: {c: 3}
retainKeysMap: {}
nonMergingList: [{b: 2}]
"""),
    "nested merge inside a merged item": (
        """
mergingList:
  - {name: a, mergingIntList: [1, 2]}
""", """
mergingList:
  - {name: a, mergingIntList: [3], value: v}
""", """
mergingList:
  - {name: a, mergingIntList: [3, 1, 2], value: v}
"""),
}


@pytest.mark.parametrize("current, patch, result", SMP_CASES.values(), ids=list(SMP_CASES))
def test_strategic_merge_patch_matches_apiserver(current, patch, result):
    current_doc, patch_doc = y(current), y(patch)
    before = copy.deepcopy(patch_doc)
    assert merge.strategic_merge_patch(current_doc, patch_doc, TEST_SCHEMA) == y(result)
    assert patch_doc == before


@ON_BOOKINFO
def test_strategic_merge_patch_on_a_real_deployment():
    dep = bookinfo("Deployment", "reviews-v1")
    patch = {"spec": {"template": {
        "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2024-01-01T00:00:00Z"}},
        "spec": {"containers": [
            {"name": "reviews", "image": "docker.io/istio/examples-bookinfo-reviews-v1:1.21.0",
             "env": [{"name": "LOG_LEVEL", "value": "debug"}]},
            {"name": "sidecar", "image": "istio/proxyv2"},
        ]}}}}
    out = merge.strategic_merge_patch(dep, patch, DEPLOYMENT)
    containers = out["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["reviews", "sidecar"]
    original = bookinfo("Deployment", "reviews-v1")["spec"]["template"]["spec"]["containers"][0]
    # Without $setElementOrder the apiserver puts items new to the list before the live ones.
    assert containers[0] == {**original, "image": "docker.io/istio/examples-bookinfo-reviews-v1:1.21.0",
                             "env": [{"name": "LOG_LEVEL", "value": "debug"}] + original["env"]}
    assert out["spec"]["template"]["metadata"] == {
        "labels": {"app": "reviews", "version": "v1"},
        "annotations": {"kubectl.kubernetes.io/restartedAt": "2024-01-01T00:00:00Z"}}
    # volumes merge on name, keeping the live ones
    patch = {"spec": {"template": {"spec": {"volumes": [{"name": "extra", "emptyDir": {}}]}}}}
    volumes = merge.strategic_merge_patch(dep, patch, DEPLOYMENT)["spec"]["template"]["spec"]["volumes"]
    assert [v["name"] for v in volumes] == ["extra", "wlp-output", "tmp"]


@ON_BOOKINFO
def test_strategic_merge_patch_retain_keys_on_deployment_strategy():
    dep = bookinfo("Deployment", "reviews-v1")
    dep["spec"]["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}
    assert merge.strategic_merge_patch(dep, patch, DEPLOYMENT)["spec"]["strategy"] == {"type": "Recreate"}
    bad = {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate", "rollingUpdate": {}}}}
    with pytest.raises(merge.PatchError) as caught:
        merge.strategic_merge_patch(dep, bad, DEPLOYMENT)
    assert (caught.value.code, str(caught.value)) == (400, "invalid patch format of retainKeys")


def test_strategic_merge_patch_finalizers_and_ports():
    svc = bookinfo("Service", "reviews")
    svc["metadata"]["finalizers"] = ["a", "b"]
    patch = {"metadata": {"finalizers": ["c", "a"], "$deleteFromPrimitiveList/finalizers": ["b"]},
             "spec": {"ports": [{"port": 9080, "name": "http-renamed"}, {"port": 9443, "name": "https"}]}}
    out = merge.strategic_merge_patch(svc, patch, SERVICE)
    assert out["metadata"]["finalizers"] == ["c", "a"]
    assert out["spec"]["ports"] == [{"port": 9080, "name": "http-renamed"}, {"port": 9443, "name": "https"}]


def test_strategic_merge_patch_labels_and_null():
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"a": "1", "b": "2"}},
          "data": {"k": "v"}}
    out = merge.strategic_merge_patch(cm, {"metadata": {"labels": {"a": None, "c": "3"}}, "data": None}, CONFIGMAP)
    assert out == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "labels": {"b": "2", "c": "3"}}}


@ON_BOOKINFO
def test_strategic_merge_patch_errors():
    dep = bookinfo("Deployment", "reviews-v1")
    with pytest.raises(merge.PatchError) as caught:
        merge.strategic_merge_patch(dep, {"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}},
                                    DEPLOYMENT)
    assert caught.value.code == 500
    assert str(caught.value) == "map: {'image': 'x'} does not contain declared merge key: name"
    with pytest.raises(merge.PatchError) as caught:
        merge.strategic_merge_patch(dep, {"spec": {"$patch": "explode"}}, DEPLOYMENT)
    assert caught.value.code == 500 and str(caught.value).startswith("unknown patch type: explode")
    with pytest.raises(merge.PatchError) as caught:
        merge.strategic_merge_patch(dep, ["not", "an", "object"], DEPLOYMENT)
    assert caught.value.code == 400


@ON_BOOKINFO
def test_strategic_merge_patch_never_stores_directives():
    dep = bookinfo("Deployment", "reviews-v1")
    patch = {"spec": {"newThing": {"$patch": "replace", "a": 1, "$retainKeys": ["a"]},
                      "template": {"spec": {"newList": [{"name": "x", "$patch": "delete"}, {"name": "y"}]}}}}
    out = merge.strategic_merge_patch(dep, patch, DEPLOYMENT)
    assert out["spec"]["newThing"] == {"a": 1}
    assert out["spec"]["template"]["spec"]["newList"] == [{"name": "y"}]


# ============================================================ server-side apply

T0, T1, T2, T3 = "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z", "2024-01-04T00:00:00Z"


def apply_config(replicas=1, image="docker.io/istio/examples-bookinfo-reviews-v1:1.20.3", labels=None, extra=None):
    config = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "reviews-v1", "namespace": "default", "labels": labels or {"app": "reviews"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "reviews"}},
            "template": {"metadata": {"labels": {"app": "reviews"}},
                         "spec": {"containers": [{"name": "reviews", "image": image,
                                                  "ports": [{"containerPort": 9080}]}]}},
        },
    }
    if extra:
        config["spec"]["template"]["spec"]["containers"].append(extra)
    return config


def entries(obj):
    return {(e["manager"], e["operation"]): e for e in obj["metadata"]["managedFields"]}


def test_apply_creates_object_with_apply_entry():
    out = merge.server_side_apply(None, apply_config(), "kubectl", DEPLOYMENT, now=T0)
    assert out["spec"] == apply_config()["spec"]
    assert out["metadata"]["managedFields"] == [{
        "manager": "kubectl", "operation": "Apply", "apiVersion": "apps/v1", "time": T0, "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:metadata": {"f:labels": {"f:app": {}}},
            "f:spec": {
                "f:replicas": {},
                "f:selector": {},
                "f:template": {
                    "f:metadata": {"f:labels": {"f:app": {}}},
                    "f:spec": {"f:containers": {'k:{"name":"reviews"}': {
                        ".": {}, "f:image": {}, "f:name": {},
                        "f:ports": {'k:{"containerPort":9080,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}},
                    }}},
                },
            },
        },
    }]


def test_reapply_same_configuration_changes_nothing():
    first = merge.server_side_apply(None, apply_config(), "kubectl", DEPLOYMENT, now=T0)
    first["metadata"]["resourceVersion"] = "7"
    again = merge.server_side_apply(first, apply_config(), "kubectl", DEPLOYMENT, now=T1)
    assert again == first
    assert merge.unchanged(first, again)
    changed = merge.server_side_apply(first, apply_config(replicas=2), "kubectl", DEPLOYMENT, now=T1)
    assert not merge.unchanged(first, changed)
    assert entries(changed)[("kubectl", "Apply")]["time"] == T1
    assert changed["spec"]["replicas"] == 2


def test_apply_conflicts_with_another_manager_and_force_takes_ownership():
    created = merge.record_update(None, apply_config(), "kubectl-create", DEPLOYMENT, now=T0)
    with pytest.raises(merge.ApplyConflict) as caught:
        merge.server_side_apply(created, apply_config(replicas=3, image="nginx"), "ansible", DEPLOYMENT, now=T1)
    assert str(caught.value) == (
        'Apply failed with 2 conflicts: conflicts with "kubectl-create" using apps/v1:\n'
        '- .spec.replicas\n'
        '- .spec.template.spec.containers[name="reviews"].image')
    assert caught.value.causes == [
        {"reason": "FieldManagerConflict", "message": 'conflict with "kubectl-create" using apps/v1',
         "field": ".spec.replicas"},
        {"reason": "FieldManagerConflict", "message": 'conflict with "kubectl-create" using apps/v1',
         "field": '.spec.template.spec.containers[name="reviews"].image'},
    ]
    with pytest.raises(merge.ApplyConflict) as caught:
        merge.server_side_apply(created, apply_config(replicas=3), "ansible", DEPLOYMENT, now=T1)
    assert str(caught.value) == ('Apply failed with 1 conflict: conflict with "kubectl-create" using apps/v1: '
                                 '.spec.replicas')

    forced = merge.server_side_apply(created, apply_config(replicas=3), "ansible", DEPLOYMENT, force=True, now=T1)
    assert forced["spec"]["replicas"] == 3
    owners = entries(forced)
    assert "f:replicas" not in owners[("kubectl-create", "Update")]["fieldsV1"]["f:spec"]
    assert "f:replicas" in owners[("ansible", "Apply")]["fieldsV1"]["f:spec"]
    # shared fields (same value) stay with both managers
    assert "f:selector" in owners[("kubectl-create", "Update")]["fieldsV1"]["f:spec"]
    assert "f:selector" in owners[("ansible", "Apply")]["fieldsV1"]["f:spec"]


def test_apply_same_values_as_another_manager_is_shared_not_a_conflict():
    created = merge.record_update(None, apply_config(), "kubectl-create", DEPLOYMENT, now=T0)
    shared = merge.server_side_apply(created, apply_config(), "ansible", DEPLOYMENT, now=T1)
    assert shared["spec"] == created["spec"]
    assert set(entries(shared)) == {("kubectl-create", "Update"), ("ansible", "Apply")}
    assert entries(shared)[("kubectl-create", "Update")] == created["metadata"]["managedFields"][0]


def test_apply_removes_fields_it_no_longer_applies_unless_someone_else_owns_them():
    first = merge.server_side_apply(None, apply_config(labels={"app": "reviews", "tier": "backend"}), "ansible",
                                    DEPLOYMENT, now=T0)
    second = merge.server_side_apply(first, apply_config(), "ansible", DEPLOYMENT, now=T1)
    assert second["metadata"]["labels"] == {"app": "reviews"}

    # another applier co-owns `tier`: it stays when the first stops applying it
    other = {"apiVersion": "apps/v1", "kind": "Deployment",
             "metadata": {"name": "reviews-v1", "namespace": "default", "labels": {"tier": "backend"}}}
    co_owned = merge.server_side_apply(first, other, "team-b", DEPLOYMENT, now=T1)
    third = merge.server_side_apply(co_owned, apply_config(), "ansible", DEPLOYMENT, now=T2)
    assert third["metadata"]["labels"] == {"app": "reviews", "tier": "backend"}
    assert entries(third)[("team-b", "Apply")]["fieldsV1"] == {"f:metadata": {"f:labels": {"f:tier": {}}}}


def test_apply_merges_list_map_items_per_manager():
    sidecar = {"name": "proxy", "image": "istio/proxyv2:1.22"}
    base = merge.server_side_apply(None, apply_config(), "ansible", DEPLOYMENT, now=T0)
    injector = {"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "reviews-v1", "namespace": "default"},
                "spec": {"template": {"spec": {"containers": [sidecar]}}}}
    both = merge.server_side_apply(base, injector, "injector", DEPLOYMENT, now=T1)
    assert [c["name"] for c in both["spec"]["template"]["spec"]["containers"]] == ["reviews", "proxy"]
    # the first manager re-applies its own container only: the injected one stays
    again = merge.server_side_apply(both, apply_config(image="reviews:v2"), "ansible", DEPLOYMENT, now=T2)
    assert [(c["name"], c["image"]) for c in again["spec"]["template"]["spec"]["containers"]] == [
        ("reviews", "reviews:v2"), ("proxy", "istio/proxyv2:1.22")]
    # the injector stops applying its container: it goes
    injector["spec"]["template"]["spec"]["containers"] = []
    removed = merge.server_side_apply(again, injector, "injector", DEPLOYMENT, now=T3)
    assert [c["name"] for c in removed["spec"]["template"]["spec"]["containers"]] == ["reviews"]


def test_apply_keys_ports_by_port_and_defaulted_protocol():
    svc = bookinfo("Service", "reviews")
    out = merge.server_side_apply(None, svc, "ansible", SERVICE, now=T0)
    fields = out["metadata"]["managedFields"][0]["fieldsV1"]
    assert fields["f:spec"]["f:ports"] == {'k:{"port":9080,"protocol":"TCP"}': {".": {}, "f:name": {}, "f:port": {}}}
    svc["spec"]["ports"].append({"port": 9090, "protocol": "UDP", "name": "metrics"})
    more = merge.server_side_apply(out, svc, "ansible", SERVICE, now=T1)
    assert [p["port"] for p in more["spec"]["ports"]] == [9080, 9090]


def test_apply_custom_resource_lists_are_atomic():
    node = vs_node()
    vs = meshsim_bookinfo.objects("networking/virtual-service-reviews-90-10.yaml", namespace="default")[0]
    created = merge.server_side_apply(None, vs, "ansible", node, now=T0)
    assert created["metadata"]["managedFields"][0]["fieldsV1"] == {"f:spec": {"f:hosts": {}, "f:http": {}}}
    updated = copy.deepcopy(vs)
    updated["spec"]["http"][0]["route"] = [updated["spec"]["http"][0]["route"][1]]
    updated["spec"]["http"][0]["route"][0]["weight"] = 100
    out = merge.server_side_apply(created, updated, "ansible", node, now=T1)
    assert out["spec"]["http"] == updated["spec"]["http"]
    with pytest.raises(merge.ApplyConflict) as caught:
        merge.server_side_apply(out, vs, "someone-else", node, now=T2)
    assert caught.value.causes == [{"reason": "FieldManagerConflict", "message": 'conflict with "ansible"',
                                    "field": ".spec.http"}]


@ON_BOOKINFO
def test_apply_on_object_without_managed_fields_credits_before_first_apply():
    live = bookinfo("Deployment", "reviews-v1")
    with pytest.raises(merge.ApplyConflict) as caught:
        merge.server_side_apply(live, apply_config(replicas=5), "ansible", DEPLOYMENT, now=T0)
    assert str(caught.value) == (
        'Apply failed with 3 conflicts: conflicts with "before-first-apply" using apps/v1:\n'
        '- .spec.replicas\n'
        '- .spec.selector\n'
        '- .spec.template.spec.containers[name="reviews"].image')


def test_apply_ignores_reset_fields():
    config = apply_config()
    config["status"] = {"replicas": 9}
    live = merge.server_side_apply(None, apply_config(), "ansible", DEPLOYMENT, now=T0)
    live["status"] = {"replicas": 1}
    out = merge.server_side_apply(live, config, "ansible", DEPLOYMENT, now=T1, ignored_fields=("status",))
    assert out["status"] == {"replicas": 1}
    assert "f:status" not in out["metadata"]["managedFields"][0]["fieldsV1"]
    assert merge.unchanged(live, out)


def test_apply_errors():
    with_fields = apply_config()
    with_fields["metadata"]["managedFields"] = [{"manager": "me", "operation": "Apply"}]
    with pytest.raises(merge.PatchError) as caught:
        merge.server_side_apply(None, with_fields, "ansible", DEPLOYMENT)
    assert (caught.value.code, str(caught.value)) == (400, "metadata.managedFields must be nil")
    bad = apply_config()
    bad["spec"]["template"]["spec"]["containers"][0].pop("name")
    with pytest.raises(merge.PatchError) as caught:
        merge.server_side_apply(None, bad, "ansible", DEPLOYMENT)
    assert caught.value.code == 400
    assert str(caught.value) == ('element 0: associative list with keys has an element that omits key field "name" '
                                 "(and doesn't have default value)")


# ============================================================ update operations

def test_create_records_update_entry_like_kubectl_create():
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "c", "namespace": "default", "labels": {"a": "1"}}, "data": {"k": "v"}}
    out = merge.record_update(None, cm, "kubectl-create", CONFIGMAP, now=T0)
    assert out["metadata"]["managedFields"] == [{
        "manager": "kubectl-create", "operation": "Update", "apiVersion": "v1", "time": T0, "fieldsType": "FieldsV1",
        "fieldsV1": {"f:data": {".": {}, "f:k": {}}, "f:metadata": {"f:labels": {".": {}, "f:a": {}}}},
    }]


def test_create_of_custom_resource_owns_every_new_node():
    vs = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
          "metadata": {"name": "r", "namespace": "default"},
          "spec": {"hosts": ["reviews"], "gateways": ["mesh"], "tcp": [{"route": [{"destination": {"host": "x"}}]}]}}
    out = merge.record_update(None, vs, "kubectl-create", vs_node(), now=T0)
    assert out["metadata"]["managedFields"][0]["fieldsV1"] == {
        "f:spec": {".": {}, "f:gateways": {}, "f:hosts": {}, "f:tcp": {}}}


def test_update_takes_changed_fields_from_the_applier():
    applied = merge.server_side_apply(None, apply_config(), "ansible", DEPLOYMENT, now=T0)
    new = copy.deepcopy(applied)
    new["spec"]["replicas"] = 4
    new["metadata"]["labels"]["touched"] = "yes"
    updated = merge.record_update(applied, new, "kubectl-edit", DEPLOYMENT, now=T1)
    owners = entries(updated)
    assert owners[("kubectl-edit", "Update")]["fieldsV1"] == {
        "f:metadata": {"f:labels": {"f:touched": {}}}, "f:spec": {"f:replicas": {}}}
    assert owners[("kubectl-edit", "Update")]["time"] == T1
    assert "f:replicas" not in owners[("ansible", "Apply")]["fieldsV1"]["f:spec"]
    assert owners[("ansible", "Apply")]["time"] == T0
    # a later update by the same manager adds to its set and bumps its time
    newer = copy.deepcopy(updated)
    newer["spec"]["minReadySeconds"] = 5
    again = merge.record_update(updated, newer, "kubectl-edit", DEPLOYMENT, now=T2)
    assert entries(again)[("kubectl-edit", "Update")]["fieldsV1"]["f:spec"] == {"f:minReadySeconds": {},
                                                                                  "f:replicas": {}}
    assert entries(again)[("kubectl-edit", "Update")]["time"] == T2


def test_noop_update_keeps_managed_fields_and_is_unchanged():
    applied = merge.server_side_apply(None, apply_config(), "ansible", DEPLOYMENT, now=T0)
    same = merge.record_update(applied, copy.deepcopy(applied), "kubectl-replace", DEPLOYMENT, now=T1)
    assert same == applied
    assert merge.unchanged(applied, same)
    body_without_fields = copy.deepcopy(applied)
    del body_without_fields["metadata"]["managedFields"]
    assert merge.record_update(applied, body_without_fields, "x", DEPLOYMENT, now=T1) == applied


def test_removing_a_field_by_update_drops_it_from_every_manager():
    applied = merge.server_side_apply(None, apply_config(labels={"app": "reviews", "tier": "b"}), "ansible",
                                      DEPLOYMENT, now=T0)
    new = copy.deepcopy(applied)
    del new["metadata"]["labels"]["tier"]
    updated = merge.record_update(applied, new, "kubectl-edit", DEPLOYMENT, now=T1)
    assert entries(updated)[("ansible", "Apply")]["fieldsV1"]["f:metadata"] == {"f:labels": {"f:app": {}}}
    assert ("kubectl-edit", "Update") not in entries(updated)


def test_fields_v1_round_trip_and_path_strings():
    paths = {("f:spec", "f:replicas"), ("f:spec", "f:containers", 'k:{"name":"a"}'),
             ("f:spec", "f:containers", 'k:{"name":"a"}', "f:image"), ("f:metadata", "f:finalizers", 'v:"x"')}
    encoded = merge.fields_to_v1(paths)
    assert encoded == {"f:metadata": {"f:finalizers": {'v:"x"': {}}},
                       "f:spec": {"f:containers": {'k:{"name":"a"}': {".": {}, "f:image": {}}}, "f:replicas": {}}}
    assert merge.fields_from_v1(encoded) == paths
    assert merge.path_string(("f:spec", "f:containers", 'k:{"name":"a"}', "f:image")) == \
        '.spec.containers[name="a"].image'
    assert merge.path_string(("f:ports", 'k:{"containerPort":80,"protocol":"TCP"}')) == \
        '.ports[containerPort=80,protocol="TCP"]'
    assert merge.path_string(("f:metadata", "f:finalizers", 'v:"x"')) == '.metadata.finalizers[="x"]'
