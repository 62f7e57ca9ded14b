"""istio_namespace and the mesh_namespace role, run by real ansible-playbook against kubesim."""
import json
import time

import pytest

from tests.conftest import OUTPUT, REPO, run_cases
from tests.integration.apps_support import INJECTOR, wait_for
from sim.webhook_support import istiod

PLAYBOOK = str(REPO / "tests" / "integration" / "playbooks" / "istio_namespace.yml")
TASK = "Ensure the namespaces"
NAMES = ["alpha", "beta", "gamma", "delta", "epsilon"]


def deployment(name, namespace):
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": name, "image": "nginx:1.27"}]}}},
    }


def labels(sim, name):
    ns = sim.get_object("v1", "Namespace", name)
    return ns["metadata"].get("labels", {}) if ns else None


def result(run):
    (res,) = run.results(TASK)
    return res


def test_five_namespaces_first_run_rerun_and_check_mode(kubesim, run_playbook):
    extra = {"ns_name": NAMES}
    check = run_playbook(PLAYBOOK, kubesim, extra_vars=extra, check=True)
    assert check.rc == 0, check
    assert check.changed == 1
    assert [n["action"] for n in result(check)["namespaces"]] == ["created"] * 5
    assert kubesim.writes() == []
    assert all(labels(kubesim, n) is None for n in NAMES)

    kubesim.clear_request_log()
    started = time.monotonic()
    first = run_playbook(PLAYBOOK, kubesim, extra_vars=extra)
    first_time = time.monotonic() - started
    first_requests = list(kubesim.request_log)
    assert first.rc == 0, first
    assert first.changed == 1
    for name in NAMES:
        assert labels(kubesim, name)["istio-injection"] == "enabled"

    kubesim.clear_request_log()
    started = time.monotonic()
    second = run_playbook(PLAYBOOK, kubesim, extra_vars=extra)
    second_time = time.monotonic() - started
    second_requests = list(kubesim.request_log)
    assert second.rc == 0, second
    assert second.changed == 0
    assert [n["action"] for n in result(second)["namespaces"]] == ["unchanged"] * 5
    assert kubesim.writes() == []

    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "istio_namespace_requests.json").write_text(json.dumps({
        "namespaces": len(NAMES),
        "first_run": {"requests": len(first_requests), "writes": sum(r.method != "GET" for r in first_requests),
                      "seconds": round(first_time, 2),
                      "paths": [f"{r.method} {r.path}" for r in first_requests]},
        "second_run": {"requests": len(second_requests), "seconds": round(second_time, 2),
                       "paths": [f"{r.method} {r.path}" for r in second_requests]},
    }, indent=2))
    # One namespace list plus one write per namespace, and discovery; a re-run only reads.
    assert sum(r.method in ("POST", "PATCH", "PUT") for r in first_requests) == 5
    assert all(r.method == "GET" for r in second_requests)


def test_switching_modes_never_leaves_both_labels(kubesim, run_playbook):
    kubesim.create_objects([{"apiVersion": "v1", "kind": "Namespace",
                             "metadata": {"name": "shop", "labels": {"team": "web", "istio-injection": "enabled"}}}])
    revision = run_playbook(PLAYBOOK, kubesim, extra_vars={"ns_name": "shop", "ns_injection": "revision",
                                                           "ns_revision": "1-24-0"}, diff=True)
    assert revision.rc == 0, revision
    assert labels(kubesim, "shop") == {"team": "web", "istio.io/rev": "1-24-0",
                                       "kubernetes.io/metadata.name": "shop"}
    ns = result(revision)["namespaces"][0]
    assert ns["labels_set"] == {"istio.io/rev": "1-24-0"}
    assert ns["labels_removed"] == ["istio-injection"]
    diff = result(revision)["diff"]
    assert diff["before"]["shop"]["labels"]["istio-injection"] == "enabled"
    assert "istio-injection" not in diff["after"]["shop"]["labels"]
    assert diff["after"]["shop"]["labels"]["istio.io/rev"] == "1-24-0"

    disabled = run_playbook(PLAYBOOK, kubesim, extra_vars={"ns_name": "shop", "ns_injection": "disabled",
                                                           "ns_labels": {"owner": "ops"}})
    assert disabled.rc == 0, disabled
    assert labels(kubesim, "shop") == {"team": "web", "owner": "ops", "istio-injection": "disabled",
                                       "kubernetes.io/metadata.name": "shop"}

    enabled = run_playbook(PLAYBOOK, kubesim, extra_vars={"ns_name": "shop", "ns_injection": "enabled"})
    assert labels(kubesim, "shop")["istio-injection"] == "enabled"
    assert enabled.changed == 1

    absent = run_playbook(PLAYBOOK, kubesim, extra_vars={"ns_name": "shop", "ns_injection": "absent"})
    assert absent.rc == 0, absent
    assert "istio-injection" not in labels(kubesim, "shop")
    assert "istio.io/rev" not in labels(kubesim, "shop")


def test_restart_sidecarless_workloads(kubesim, run_playbook):
    kubesim.create_objects([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
                            deployment("web", "shop"), deployment("api", "shop")])
    assert wait_for(lambda: len(kubesim.list_objects("v1", "Pod", "shop")) == 2)
    istiod(kubesim)
    kubesim.create_objects([INJECTOR])

    check = run_playbook(PLAYBOOK, kubesim, extra_vars={"ns_name": "shop", "ns_restart": True}, check=True)
    assert check.rc == 0, check
    ns = result(check)["namespaces"][0]
    assert sorted(w["name"] for w in ns["workloads_out_of_date"]) == ["api", "web"]
    assert sorted(ns["restarted"]) == ["api", "web"]
    assert kubesim.writes() == []

    run = run_playbook(PLAYBOOK, kubesim, extra_vars={"ns_name": "shop", "ns_restart": True})
    assert run.rc == 0, run
    assert sorted(result(run)["namespaces"][0]["restarted"]) == ["api", "web"]
    web = kubesim.get_object("apps/v1", "Deployment", "web", "shop")
    assert "kubectl.kubernetes.io/restartedAt" in web["spec"]["template"]["metadata"]["annotations"]

    def all_injected():
        pods = [p for p in kubesim.list_objects("v1", "Pod", "shop") if not p["metadata"].get("deletionTimestamp")]
        return len(pods) == 2 and all(
            any(c["name"] == "istio-proxy" for c in p["spec"]["containers"]) for p in pods)
    assert wait_for(all_injected)

    again = run_playbook(PLAYBOOK, kubesim, extra_vars={"ns_name": "shop", "ns_restart": True})
    assert again.rc == 0, again
    assert again.changed == 0
    assert result(again)["namespaces"][0]["restarted"] == []


def test_remove_namespaces(kubesim, run_playbook):
    kubesim.create_objects([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "scratch"}},
                            deployment("web", "scratch")])
    check = run_playbook(PLAYBOOK, kubesim, extra_vars={"ns_name": ["scratch", "never"], "ns_state": "absent"},
                         check=True)
    assert [n["action"] for n in result(check)["namespaces"]] == ["deleted", "absent"]
    assert kubesim.writes() == []
    gone = run_playbook(PLAYBOOK, kubesim, extra_vars={"ns_name": ["scratch", "never"], "ns_state": "absent"})
    assert gone.rc == 0, gone
    assert wait_for(lambda: kubesim.get_object("v1", "Namespace", "scratch") is None)
    assert kubesim.list_objects("apps/v1", "Deployment", "scratch") == []
    again = run_playbook(PLAYBOOK, kubesim, extra_vars={"ns_name": ["scratch", "never"], "ns_state": "absent"})
    assert again.changed == 0


BAD_INPUT = [
    ({"ns_name": "x", "ns_injection": "sometimes"},
     "value of injection must be one of: enabled, disabled, revision, absent, got: sometimes"),
    ({"ns_name": "x", "ns_injection": "revision"}, "injection is revision but all of the following are missing: revision"),
    ({"ns_name": "x", "ns_injection": "revision", "ns_revision": "Bad_Rev"},
     "revision 'Bad_Rev' is not valid: it must be a DNS-1123 label"),
    ({"ns_name": "x", "ns_revision": "canary"}, "revision='canary' is only used with injection=revision"),
]


@pytest.fixture(scope="module")
def bad_input_run(kubesim_module, tmp_path_factory):
    """All of BAD_INPUT in one run, each case a host of its own on the same cluster; the requests of the
    whole run."""
    kubesim_module.clear_request_log()
    run = run_cases(tmp_path_factory.mktemp("bad-input"), PLAYBOOK, kubesim_module,
                    {"case%d" % i: extra for i, (extra, _message) in enumerate(BAD_INPUT)})
    return run, list(kubesim_module.request_log)


@pytest.mark.parametrize("extra,message", BAD_INPUT)
def test_bad_input_is_refused_before_any_request(bad_input_run, extra, message):
    run, requests = bad_input_run
    case = "case%d" % BAD_INPUT.index((extra, message))
    assert run.rc != 0 and run.stats[case]["failures"] == 1, run
    assert any(message in m for m in run.failed_msgs_of(case)), run.failed_msgs_of(case)
    assert requests == []


def test_unreachable_cluster(kubesim, run_playbook, tmp_path):
    url = kubesim.url
    kubesim.stop()
    run = run_playbook(PLAYBOOK, kubesim, extra_vars={"ns_name": "x"})
    assert run.rc != 0
    (msg,) = run.failed_msgs
    assert f"Cannot reach the Kubernetes API server at {url}" in msg
    assert "Check that the cluster is running" in msg


def test_expired_token(kubesim, run_playbook):
    kubesim.revoke_token(kubesim.admin_token)
    run = run_playbook(PLAYBOOK, kubesim, extra_vars={"ns_name": "x"})
    assert run.rc != 0
    (msg,) = run.failed_msgs
    assert "rejected the credentials (401 Unauthorized)" in msg
    assert "Refresh the kubeconfig" in msg


def test_role_prepares_namespaces_from_inventory_variables(kubesim, run_playbook):
    host_vars = {kubesim.name: {"mesh_namespace_list": [
        {"name": "bookinfo"},
        {"name": "canary", "injection": "revision", "revision": "canary"},
        {"name": "legacy", "injection": "disabled", "labels": {"team": "core"}},
    ]}}
    first = run_playbook("namespaces.yml", kubesim, host_vars=host_vars)
    assert first.rc == 0, first
    assert labels(kubesim, "bookinfo")["istio-injection"] == "enabled"
    assert labels(kubesim, "canary")["istio.io/rev"] == "canary"
    assert labels(kubesim, "legacy")["team"] == "core"
    second = run_playbook("namespaces.yml", kubesim, host_vars=host_vars)
    assert second.rc == 0 and second.changed == 0, second
