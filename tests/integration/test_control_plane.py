"""The control_plane role and its playbooks by real ansible-playbook and real helm against kubesim.

Charts: tests/charts (shaped like Istio's base/istiod/gateway, CRDs copied from the reference at build
time) in versions 1.25.0 and 1.26.0 (kubesim reports Kubernetes 1.32, which both support)."""
import json

import pytest
import yaml

from tests.integration import istio_support as s
from tests.integration.istio_support import CRD, MWC, NEW, OLD, VWC

ONLY = str(s.PLAYBOOKS / "control_plane_only.yml")


@pytest.fixture(scope="module")
def charts(tmp_path_factory):
    return s.build_charts(tmp_path_factory.mktemp("charts"))


def install_vars(charts, version=OLD, **extra):
    return dict(control_plane_version=version, control_plane_charts=charts[version], **extra)


def test_helm_install_check_mode_idempotence_upgrade_and_uninstall(kubesim, run_playbook, charts):
    sim = kubesim
    # Check mode on an empty cluster: a full run that writes nothing.
    check = run_playbook("install.yml", sim, install_vars(charts), check=True)
    assert check.rc == 0, check
    assert sim.writes() == []
    assert s.names(sim, "apps/v1", "Deployment", "istio-system") == []

    first = run_playbook("install.yml", sim, install_vars(charts))
    assert first.rc == 0, first
    assert first.changed > 0
    assert s.helm_releases(sim) == {"istio-base": "1", "istiod": "1", "istio-ingressgateway": "1"}
    assert s.image(sim, "istiod") == "docker.io/istio/pilot:1.25.0"
    assert s.istio_webhooks(sim) == ["istio-sidecar-injector", "istio-validator-istio-system", "istiod-default-validator"]
    crds = sim.list_objects(*CRD)
    assert len(crds) == 15 and all(s.managers(c) == ["meshops-istio"] for c in crds)
    assert "Istio 1.25.0, revision default, 1/1 ready, available" in s.debug_msg(first, "Report the control plane")
    assert "this run: install." in s.debug_msg(first, "Report the control plane")

    again = run_playbook("install.yml", sim, install_vars(charts))
    assert again.rc == 0, again
    assert again.changed == 0, s.changed_tasks(again)
    assert "this run: unchanged from 1.25.0" in s.debug_msg(again, "Report the control plane")

    # In-place upgrade one minor up: CRDs of the new version first, then base, istiod and the gateway.
    upgrade = run_playbook("upgrade.yml", sim, install_vars(charts, NEW))
    assert upgrade.rc == 0, upgrade
    assert s.image(sim, "istiod") == "docker.io/istio/pilot:1.26.0"
    assert s.helm_releases(sim) == {"istio-base": "2", "istiod": "2", "istio-ingressgateway": "2"}
    gateway = sim.get_object("apps/v1", "Deployment", "istio-ingressgateway", "istio-system")
    assert gateway["metadata"]["labels"]["helm.sh/chart"] == "gateway-1.26.0"
    assert "this run: upgrade from 1.25.0." in s.debug_msg(upgrade, "Report the control plane")
    assert s.task_result(upgrade, "Apply the Istio CRDs")["changed"] is False  # same CRDs in both chart versions

    # Uninstall: releases and every webhook configuration go, the CRDs stay.
    gone = run_playbook("uninstall.yml", sim, install_vars(charts, NEW))
    assert gone.rc == 0, gone
    assert s.helm_releases(sim) == {}
    assert s.istio_webhooks(sim) == []
    assert s.names(sim, "apps/v1", "Deployment", "istio-system") == []
    assert len(sim.list_objects(*CRD)) == 15
    assert run_playbook("uninstall.yml", sim, install_vars(charts, NEW)).changed == 0


def test_template_method_from_tarballs_webhook_retry_diff_and_purge(kubesim, run_playbook, charts):
    sim = kubesim
    params = dict(control_plane_method="template", control_plane_version=OLD, control_plane_charts=charts["tgz"],
                  control_plane_webhook_delay=0)
    check = run_playbook(ONLY, sim, params, check=True)
    assert check.rc == 0, check
    assert sim.writes() == []

    # The validation webhook refuses the first three dry runs, as a real one does until istiod serves it.
    fault = sim.inject_fault(method="POST", path=r"/virtualservices$", status=500, times=3, dry_run_only=True,
                             message='Internal error occurred: failed calling webhook "rev.validation.istio.io": '
                                     'no endpoints available for service "istiod"')
    first = run_playbook(ONLY, sim, params)
    assert first.rc == 0, first
    probe = s.task_result(first, "Wait until the validation webhook accepts Istio resources")
    assert probe["attempts"] == 4 and fault.hits == 3
    assert s.helm_releases(sim) == {}  # no Helm release with this method
    istiod = sim.get_object("apps/v1", "Deployment", "istiod", "istio-system")
    assert s.managers(istiod) == ["meshops-istio"]
    assert s.istio_webhooks(sim) == ["istio-sidecar-injector", "istio-validator-istio-system", "istiod-default-validator"]

    again = run_playbook(ONLY, sim, params)
    assert again.changed == 0, s.changed_tasks(again)

    # A changed setting in check mode with --diff: the difference is shown, nothing is written.
    start = len(sim.request_log)
    changed = dict(params, control_plane_pilot_env={"PILOT_TRACE_SAMPLING": "100"})
    preview = run_playbook(ONLY, sim, changed, check=True, diff=True)
    assert preview.rc == 0, preview
    assert s.writes_since(sim, start) == []
    apply = s.task_result(preview, "Apply the istio/istiod objects")
    diffs = [r.get("diff") for r in apply["result"]["results"] if r.get("changed")]
    assert len(diffs) == 1 and "PILOT_TRACE_SAMPLING" in json.dumps(diffs[0])
    env = sim.get_object("apps/v1", "Deployment", "istiod", "istio-system")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert "PILOT_TRACE_SAMPLING" not in [e["name"] for e in env]

    purge = run_playbook(ONLY, sim, dict(params, control_plane_state="absent", control_plane_purge_crds=True,
                                         control_plane_purge_namespace=True))
    assert purge.rc == 0, purge
    assert s.istio_webhooks(sim) == []
    assert sim.list_objects(*CRD) == []
    assert sim.get_object("v1", "Namespace", "istio-system") is None
    assert s.names(sim, "rbac.authorization.k8s.io/v1", "ClusterRole") == [
        n for n in s.names(sim, "rbac.authorization.k8s.io/v1", "ClusterRole") if not n.startswith("istiod-")]


def _app(sim, namespace, labels):
    sim.create_objects([
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": labels}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": namespace},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                  "template": {"metadata": {"labels": {"app": "web"}},
                               "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}}}},
    ])


def _sidecar_revisions(sim, namespace):
    revisions = []
    for pod in sim.list_objects("v1", "Pod", namespace):
        if pod["metadata"].get("deletionTimestamp"):
            continue
        status = (pod["metadata"].get("annotations") or {}).get("sidecar.istio.io/status")
        revisions.append(json.loads(status)["revision"] if status else None)
    return sorted(revisions, key=str)


def test_canary_upgrade_by_revision_phase_by_phase(kubesim, run_playbook, charts):
    sim = kubesim
    first = run_playbook("install.yml", sim, install_vars(charts))
    assert first.rc == 0, first
    _app(sim, "shop", {"istio-injection": "enabled"})
    _app(sim, "pay", {"istio.io/rev": "default"})
    s.wait_until(lambda: _sidecar_revisions(sim, "shop") == ["default"] and _sidecar_revisions(sim, "pay") == ["default"])

    canary = dict(control_plane_version=NEW, control_plane_revision="1-26-0", control_plane_charts=charts[NEW],
                  control_plane_migrate_delay=1)
    # Phase 1 only: the new revision runs beside the old one; nothing moves yet.
    phase1 = run_playbook("canary_upgrade.yml", sim, dict(canary, canary_upgrade_phases=["install"]))
    assert phase1.rc == 0, phase1
    assert s.names(sim, "apps/v1", "Deployment", "istio-system") == ["istio-ingressgateway", "istiod", "istiod-1-26-0"]
    assert s.image(sim, "istiod") == "docker.io/istio/pilot:1.25.0"
    assert s.helm_releases(sim)["istio-base"] == "1"  # base stays with the running revision until prune
    assert _sidecar_revisions(sim, "shop") == ["default"]

    # Pruning before migrating is refused: the old revision still serves namespaces and sidecars.
    start = len(sim.request_log)
    early = run_playbook("canary_upgrade.yml", sim, dict(canary, canary_upgrade_phases=["install", "prune"]))
    assert early.rc != 0
    assert any("Revision(s) default still serve namespaces pay, shop pods " in m and "shop/web-" in m
               for m in early.failed_msgs), early.failed_msgs
    assert s.writes_since(sim, start) == []
    assert "istio-sidecar-injector" in s.names(sim, *MWC)

    # The rest: namespaces move, workloads and gateways restart onto the new sidecars, the old revision goes.
    rest = run_playbook("canary_upgrade.yml", sim, canary)
    assert rest.rc == 0, rest
    for namespace in ("shop", "pay"):
        labels = sim.get_object("v1", "Namespace", namespace)["metadata"]["labels"]
        assert labels.get("istio.io/rev") == "1-26-0" and "istio-injection" not in labels
        assert _sidecar_revisions(sim, namespace) == ["1-26-0"]
    assert s.names(sim, "apps/v1", "Deployment", "istio-system") == ["istio-ingressgateway", "istiod-1-26-0"]
    assert s.istio_webhooks(sim) == ["istio-sidecar-injector-1-26-0", "istio-validator-1-26-0-istio-system",
                                     "istiod-default-validator"]
    validator = sim.get_object(*VWC, "istiod-default-validator")
    assert validator["webhooks"][0]["clientConfig"]["service"]["name"] == "istiod-1-26-0"
    assert s.helm_releases(sim) == {"istio-base": "2", "istiod-1-26-0": "1", "istio-ingressgateway": "2"}
    # The gateway moved too (its pods carry the revision that injects them; kubesim does not inject gateways).
    gateway_pods = [p for p in sim.list_objects("v1", "Pod", "istio-system")
                    if p["metadata"]["labels"].get("app") == "istio-ingressgateway"
                    and not p["metadata"].get("deletionTimestamp")]
    assert [p["metadata"]["labels"].get("istio.io/rev") for p in gateway_pods] == ["1-26-0"]
    moved = s.debug_msg(rest, "Report the moved namespaces")
    assert "pay: updated, restarted web." in moved and "shop: updated, restarted web." in moved

    again = run_playbook("canary_upgrade.yml", sim, canary)
    assert again.rc == 0, again
    assert again.changed == 0, s.changed_tasks(again)


@pytest.mark.parametrize("playbook,params,message", [
    ("install.yml", dict(control_plane_version="1.23.0"),
     "Istio 1.23.0 cannot be installed here: Istio 1.23 supports Kubernetes 1.27 to 1.30, but this cluster runs "
     "Kubernetes 1.32, which that release was not tested on. Choose a newer Istio version, or set "
     "control_plane_allow_untested_kubernetes=true"),
    ("install.yml", dict(control_plane_version=OLD, control_plane_revision="default"),
     "revision 'default' is the name Istio gives a control plane without a revision"),
    ("canary_upgrade.yml", dict(control_plane_version=NEW, control_plane_revision="stable"),
     "Revision stable already runs Istio 1.25.0. A canary upgrade installs the new version under a new revision name"),
    ("canary_upgrade.yml", dict(control_plane_version=NEW),
     "A canary upgrade (control_plane_canary, control_plane_migrate_namespaces or control_plane_prune_revisions) "
     "installs the new version under its own revision: set control_plane_revision, for example 1-26-0."),
    ("install.yml", dict(control_plane_version=OLD, control_plane_profile="ambient"),
     "control_plane_profile=ambient needs Istio's cni and ztunnel charts, which the helm method does not install."),
    ("upgrade.yml", dict(control_plane_version=NEW, control_plane_revision="canary"),
     "There is no Istio control plane of revision canary to upgrade in this cluster (installed revisions: stable)."),
    ("upgrade.yml", dict(control_plane_version="1.27.0", control_plane_revision="stable"),
     "Istio 1.25.0 is installed (revision stable) and 1.27.0 is 2 minor versions away; an in-place upgrade may only "
     "move one minor version at a time. Upgrade to 1.26.x first, or use playbooks/canary_upgrade.yml with a new "
     "revision."),
])
def test_precheck_refusals(kubesim_module, run_playbook, charts, playbook, params, message):
    sim = kubesim_module
    # A revisioned control plane of 1.25.0 is already running (seeded: only its Deployment matters here).
    if sim.get_object("apps/v1", "Deployment", "istiod-stable", "istio-system") is None:
        sim.create_objects([
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}},
            {"apiVersion": "apps/v1", "kind": "Deployment",
             "metadata": {"name": "istiod-stable", "namespace": "istio-system",
                          "labels": {"app": "istiod", "istio.io/rev": "stable", "app.kubernetes.io/version": OLD}},
             "spec": {"selector": {"matchLabels": {"app": "istiod"}}, "template": {
                 "metadata": {"labels": {"app": "istiod"}},
                 "spec": {"containers": [{"name": "discovery", "image": "docker.io/istio/pilot:1.25.0"}]}}}}])
    start = len(sim.request_log)
    run = run_playbook(playbook, sim, dict(params, control_plane_charts=charts[NEW]))
    assert run.rc != 0
    assert any(message in m for m in run.failed_msgs), run.failed_msgs
    assert s.writes_since(sim, start) == []


def test_istioctl_method_builds_the_operator_file_and_arguments(kubesim, run_playbook, tmp_path):
    """Argument building only: the stand-in istioctl records its arguments and installs nothing."""
    sim = kubesim
    istioctl, log = s.write_istioctl_stand_in(tmp_path / "bin", OLD)
    work = tmp_path / "work"
    params = dict(control_plane_method="istioctl", control_plane_version=OLD, control_plane_istioctl_binary=istioctl,
                  control_plane_work_dir=str(work), control_plane_revision="1-25-0", control_plane_profile="minimal",
                  control_plane_hub="mirror.example/istio", control_plane_mesh_id="mesh1",
                  control_plane_mesh_config={"accessLogFile": "/dev/stdout"}, control_plane_verify=False)
    run = run_playbook(ONLY, sim, params)
    assert run.rc == 0, run
    kubeconfig = str(tmp_path / "kubesim.kubeconfig")
    operator_file = str(work / "istio-operator-1-25-0.yaml")
    assert s.istioctl_calls(log) == [
        ["version", "--remote=false", "--short"],
        ["install", "-f", operator_file, "-y", "--kubeconfig", kubeconfig, "--context", "kubesim"]]
    operator = yaml.safe_load((work / "istio-operator-1-25-0.yaml").read_text())
    assert operator["kind"] == "IstioOperator" and operator["metadata"]["name"] == "meshops-1-25-0"
    assert operator["spec"] == {
        "profile": "minimal", "revision": "1-25-0", "hub": "mirror.example/istio",
        "meshConfig": {"accessLogFile": "/dev/stdout"}, "values": {"global": {"meshID": "mesh1"}},
        "components": {"ingressGateways": [{"name": "istio-ingressgateway", "enabled": False}],
                       "egressGateways": [{"name": "istio-egressgateway", "enabled": False}]}}

    # istioctl installs its own release: a mismatch is refused before anything runs.
    other = s.write_istioctl_stand_in(tmp_path / "bin-new", NEW)[0]
    refused = run_playbook(ONLY, sim, dict(params, control_plane_istioctl_binary=other))
    assert refused.rc != 0
    assert any("is istioctl 1.26.0, and istioctl installs its own release, but control_plane_version is 1.25.0"
               in m for m in refused.failed_msgs), refused.failed_msgs
