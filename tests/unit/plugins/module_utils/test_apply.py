import pytest

from ansible_collections.meshops.istio.plugins.module_utils import apply

SVC = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "a"}}
SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "a"}, "data": {"key": "c2VjcmV0"}}


def test_objects_from_lists_manifests_and_list_kinds_in_order():
    manifest = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: one, namespace: a}\n---\n---\n"
    listed = {"apiVersion": "v1", "kind": "List", "items": [dict(SVC, metadata={"name": "two", "namespace": "a"})]}
    objects = apply.load_objects([SVC, manifest, [listed], None])
    assert [o["metadata"]["name"] for o in objects] == ["web", "one", "two"]
    assert apply.load_objects(manifest)[0]["kind"] == "ConfigMap"


@pytest.mark.parametrize("value, words", [
    ([{"kind": "Service", "metadata": {"name": "web"}}], "objects[0] (Service web) has no apiVersion"),
    ([SVC, {"apiVersion": "v1", "kind": "Service", "metadata": {}}], "objects[1] (Service) has no metadata.name"),
    (["a: [b"], "objects[0] is not valid YAML"),
    ([42], "objects[0] is a int, not a Kubernetes object"),
    ([SVC, SVC], "Service a/web is given twice"),
])
def test_bad_objects_are_refused_saying_which(value, words):
    with pytest.raises(apply.ObjectsError) as e:
        apply.load_objects(value)
    assert words in str(e.value)


def test_secrets_appear_without_their_values():
    assert apply.hidden_objects([SECRET, SVC]) == [dict(SECRET, data={"key": "<hidden>"}), SVC]
