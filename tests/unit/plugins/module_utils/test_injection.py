import pytest

from ansible_collections.meshops.istio.plugins.module_utils import injection as inj


@pytest.mark.parametrize("mode,revision,expected", [
    ("enabled", None, {"istio-injection": "enabled", "istio.io/rev": None}),
    ("disabled", None, {"istio-injection": "disabled", "istio.io/rev": None}),
    ("revision", "1-24-0", {"istio-injection": None, "istio.io/rev": "1-24-0"}),
    ("absent", None, {"istio-injection": None, "istio.io/rev": None}),
])
def test_label_changes_never_leave_both_labels(mode, revision, expected):
    changes = inj.label_changes(mode, revision)
    assert changes == expected
    assert sum(v is not None for v in changes.values()) <= 1


@pytest.mark.parametrize("mode,revision,message", [
    ("sometimes", None, "injection='sometimes' is not one of enabled, disabled, revision, absent"),
    ("revision", None, "injection=revision needs revision="),
    ("revision", "Canary_1", "revision 'Canary_1' is not valid: it must be a DNS-1123 label"),
    ("enabled", "canary", "revision='canary' is only used with injection=revision"),
])
def test_validate_refuses_inconsistent_options(mode, revision, message):
    with pytest.raises(inj.InjectionError) as err:
        inj.validate(mode, revision)
    assert message in str(err.value)


def test_metadata_patch_sets_and_removes_only_what_differs():
    live = {"labels": {"istio-injection": "enabled", "team": "a"}, "annotations": {"x": "1"}}
    patch = inj.metadata_patch(live, {"istio-injection": None, "istio.io/rev": "canary", "team": "a"}, {"x": "1"})
    assert patch == {"metadata": {"labels": {"istio-injection": None, "istio.io/rev": "canary"}}}
    assert inj.metadata_patch(live, {"istio-injection": "enabled", "istio.io/rev": None}, {}) == {}


def _deployment(name, app, opt_out=False):
    template = {"metadata": {"labels": {"app": app}}}
    if opt_out:
        template["metadata"]["annotations"] = {"sidecar.istio.io/inject": "false"}
    return {"metadata": {"name": name}, "spec": {"selector": {"matchLabels": {"app": app}}, "template": template}}


def _pod(name, app, sidecar=False, revision=None, init_sidecar=False):
    containers = [{"name": "app"}]
    spec = {"containers": containers}
    if sidecar:
        containers.append({"name": "istio-proxy"})
    if init_sidecar:
        spec["initContainers"] = [{"name": "istio-proxy", "restartPolicy": "Always"}]
    labels = {"app": app}
    if revision:
        labels["istio.io/rev"] = revision
    return {"metadata": {"name": name, "labels": labels}, "spec": spec}


def test_workloads_out_of_date_by_mode():
    deployments = [_deployment("web", "web"), _deployment("db", "db"), _deployment("batch", "batch", opt_out=True)]
    pods = [_pod("web-1", "web"), _pod("db-1", "db", sidecar=True, revision="old"), _pod("batch-1", "batch")]
    enabled = inj.workloads_out_of_date(deployments, pods, "enabled", None)
    assert enabled == [{"name": "web", "reason": "no istio-proxy sidecar", "pods": ["web-1"]}]
    revision = inj.workloads_out_of_date(deployments, pods, "revision", "new")
    assert [w["name"] for w in revision] == ["web", "db"]
    assert revision[1]["reason"] == "sidecar from revision old, namespace wants new"
    disabled = inj.workloads_out_of_date(deployments, pods, "disabled", None)
    assert [w["name"] for w in disabled] == ["db"]


def test_native_sidecar_in_init_containers_counts():
    assert inj.has_sidecar(_pod("p", "a", init_sidecar=True))


def test_restart_patch_is_what_kubectl_rollout_restart_sends():
    assert inj.restart_patch("2026-01-01T00:00:00Z") == {
        "spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"}}}}}


def test_sidecar_revision_is_read_from_the_injector_annotations():
    # Istio's injector (and kubesim) record the revision as an annotation, not a label.
    pod = {"metadata": {"name": "p", "annotations": {
        "istio.io/rev": "1-25-0",
        "sidecar.istio.io/status": '{"containers":["istio-proxy"],"revision":"1-25-0"}'}},
        "spec": {"containers": [{"name": "app"}, {"name": "istio-proxy"}]}}
    assert inj.sidecar_revision(pod) == "1-25-0"
    assert inj.pod_out_of_date(pod, "revision", "1-26-0") == "sidecar from revision 1-25-0, namespace wants 1-26-0"
    del pod["metadata"]["annotations"]["istio.io/rev"]
    assert inj.sidecar_revision(pod) == "1-25-0"
    assert inj.pod_out_of_date(pod, "revision", "1-25-0") is None
