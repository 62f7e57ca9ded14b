"""The control_plane role and its playbooks by real ansible-playbook and real helm against kubesim.

Charts: Istio's real charts (../shared/reference/istio/manifests/charts), packaged as 1.27.0 and 1.28.0 or
copied as an unpacked 1.27.0 release (kubesim reports Kubernetes 1.32, which both support). The project's
test charts (sim/charts) only where two versions must differ in their CRDs."""
import json
import subprocess

import pytest
import yaml

from tests.conftest import run_cases
from tests.integration import istio_support as s
from tests.integration.istio_support import CRD, MWC, NEW, OLD, REAL_NEW, REAL_OLD, VWC, build_chart_set
from tests.standins import istio_crds as istio_crd_file

ONLY = str(s.PLAYBOOKS / "control_plane_only.yml")
ISTIO_CRD_COUNT = 15
ANY_OBJECT = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """A directory of Istio's real charts packaged as REAL_OLD and REAL_NEW (what `helm pull` leaves)."""
    dest = tmp_path_factory.mktemp("real-charts")
    for version in (REAL_OLD, REAL_NEW):
        s.package_real_charts(dest, version)
    return str(dest)


def install_vars(charts, version=REAL_OLD, **extra):
    return dict(control_plane_version=version, control_plane_charts=charts, **extra)


def istio_crds(sim):
    return [c for c in sim.list_objects(*CRD) if c["spec"]["group"].endswith("istio.io")]


def kubectl(sim, *args):
    return subprocess.run(["kubectl", "--kubeconfig", str(sim.kubeconfig_path), *args],
                          capture_output=True, text=True, check=True).stdout


def test_helm_install_rerun_upgrade_uninstall_and_purge_with_the_real_charts(kubesim, run_playbook, real):
    sim = kubesim
    # Check mode on an empty cluster: a full run that writes nothing.
    check = run_playbook("install.yml", sim, install_vars(real), check=True)
    assert check.rc == 0, check
    assert sim.writes() == []

    first = run_playbook("install.yml", sim, install_vars(real))
    assert first.rc == 0, first
    assert first.changed > 0
    assert s.helm_releases(sim) == {"istio-base": "1", "istiod": "1", "istio-ingressgateway": "1"}
    # The snapshot's default hub and tag (Istio's main branch), since none was asked for.
    assert s.image(sim, "istiod") == "registry.istio.io/testing/pilot:latest"
    assert s.image(sim, "istio-ingressgateway") == "auto"  # the injector gives it the proxy image:
    injector = s.injector_values(sim)
    assert (injector["global"]["hub"], injector["global"]["tag"]) == ("registry.istio.io/testing", "latest")
    assert s.istio_webhooks(sim) == ["istio-sidecar-injector", "istio-validator-istio-system", "istiod-default-validator"]
    crds = istio_crds(sim)
    # Helm installs the CRDs with the istio-base release (templates/crds.yaml); the role does not apply them.
    assert len(crds) == ISTIO_CRD_COUNT and all(s.managers(c) == ["helm"] for c in crds)
    assert {c["metadata"]["labels"]["helm.sh/chart"] for c in crds} == {"base-1.27.0"}
    assert s.task_result(first, "Apply the Istio CRDs")["skipped"] is True
    report = s.debug_msg(first, "Report the control plane")
    assert "Istio 1.27.0, revision default, 1/1 ready, available" in report
    assert "15 of 15 Istio CRDs established (the chart defines 15)" in report and "0/0" not in report
    assert "this run: install." in report

    again = run_playbook("install.yml", sim, install_vars(real))
    assert again.rc == 0, again
    assert again.changed == 0, s.changed_tasks(again)
    assert "this run: unchanged from 1.27.0" in s.debug_msg(again, "Report the control plane")

    # In-place upgrade one minor up: helm upgrades the CRDs with the base release, then istiod and the gateway.
    upgrade = run_playbook("upgrade.yml", sim, install_vars(real, REAL_NEW))
    assert upgrade.rc == 0, upgrade
    assert s.helm_releases(sim) == {"istio-base": "2", "istiod": "2", "istio-ingressgateway": "2"}
    istiod = sim.get_object("apps/v1", "Deployment", "istiod", "istio-system")
    assert istiod["metadata"]["labels"]["app.kubernetes.io/version"] == "1.28.0"
    crds = istio_crds(sim)
    assert len(crds) == ISTIO_CRD_COUNT and all(s.managers(c) == ["helm"] for c in crds)
    assert {c["metadata"]["labels"]["helm.sh/chart"] for c in crds} == {"base-1.28.0"}
    gateway = sim.get_object("apps/v1", "Deployment", "istio-ingressgateway", "istio-system")
    assert gateway["metadata"]["labels"]["helm.sh/chart"] == "gateway-1.28.0"
    assert "this run: upgrade from 1.27.0." in s.debug_msg(upgrade, "Report the control plane")

    # Uninstall: releases and every webhook configuration go, the CRDs stay (helm keeps them).
    gone = run_playbook("uninstall.yml", sim, install_vars(real, REAL_NEW))
    assert gone.rc == 0, gone
    assert s.helm_releases(sim) == {}
    assert s.istio_webhooks(sim) == []
    assert s.names(sim, "apps/v1", "Deployment", "istio-system") == []
    assert len(istio_crds(sim)) == ISTIO_CRD_COUNT
    assert run_playbook("uninstall.yml", sim, install_vars(real, REAL_NEW)).changed == 0

    # Purge: every CRD of an Istio group goes, whoever installed it and whatever its labels; others stay.
    sim.create_objects([
        {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
         "metadata": {"name": "istiooperators.install.istio.io"},
         "spec": {"group": "install.istio.io", "scope": "Namespaced",
                  "names": {"plural": "istiooperators", "singular": "istiooperator", "kind": "IstioOperator"},
                  "versions": [{"name": "v1alpha1", "served": True, "storage": True,
                                "schema": {"openAPIV3Schema": ANY_OBJECT}}]}},
        {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
         "metadata": {"name": "widgets.example.com", "labels": {"app": "istio-pilot"}},
         "spec": {"group": "example.com", "scope": "Namespaced",
                  "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
                  "versions": [{"name": "v1", "served": True, "storage": True,
                                "schema": {"openAPIV3Schema": ANY_OBJECT}}]}},
    ])
    start = len(sim.request_log)
    preview = run_playbook("uninstall.yml", sim, install_vars(real, REAL_NEW, control_plane_purge_crds=True), check=True)
    assert preview.rc == 0, preview
    assert s.writes_since(sim, start) == []
    purge = run_playbook("uninstall.yml", sim, install_vars(real, REAL_NEW, control_plane_purge_crds=True))
    assert purge.rc == 0, purge
    assert istio_crds(sim) == []
    assert s.names(sim, *CRD) == ["widgets.example.com"]
    again = run_playbook("uninstall.yml", sim, install_vars(real, REAL_NEW, control_plane_purge_crds=True))
    assert again.rc == 0 and again.changed == 0, s.changed_tasks(again)


def test_template_method_from_a_release_directory_hub_override_webhook_retry_diff_and_purge(
        kubesim, run_playbook, tmp_path):
    sim = kubesim
    # The manifests/charts directory of an unpacked Istio release, as it is (istio-control/istio-discovery, ...).
    release = s.real_release_charts(tmp_path / "istio-1.27.0" / "manifests" / "charts", REAL_OLD)
    params = dict(control_plane_method="template", control_plane_version=REAL_OLD, control_plane_charts=release,
                  control_plane_webhook_delay=0, control_plane_hub="mirror.example/istio", control_plane_tag=REAL_OLD)
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
    # The mirror replaces the chart's hub and tag: for istiod, and for the proxies the injector adds.
    assert s.image(sim, "istiod") == "mirror.example/istio/pilot:1.27.0"
    injector = s.injector_values(sim)
    assert (injector["global"]["hub"], injector["global"]["tag"]) == ("mirror.example/istio", "1.27.0")
    crds = istio_crds(sim)
    assert len(crds) == ISTIO_CRD_COUNT and all(s.managers(c) == ["meshops-istio"] for c in crds)
    assert s.istio_webhooks(sim) == ["istio-sidecar-injector", "istio-validator-istio-system", "istiod-default-validator"]
    assert "15 of 15 Istio CRDs established" in s.debug_msg(first, "Report the control plane")

    again = run_playbook(ONLY, sim, params)
    assert again.changed == 0, s.changed_tasks(again)

    # A changed setting in check mode with --diff: the difference is shown, nothing is written.
    start = len(sim.request_log)
    changed = dict(params, control_plane_pilot_env={"PILOT_ENABLE_ALPHA_GATEWAY_API": "true"})
    preview = run_playbook(ONLY, sim, changed, check=True, diff=True)
    assert preview.rc == 0, preview
    assert s.writes_since(sim, start) == []
    apply = s.task_result(preview, "Apply the objects of istio/base and istio/istiod")
    diffs = dict(("%s/%s" % (key.split("/")[0], key.split("/")[-1]), json.dumps([apply["diff"]["before"][key], after]))
                 for key, after in apply["diff"]["after"].items())
    # istiod's Deployment, and the ConfigMaps where the real chart records the values it was rendered with.
    assert sorted(diffs) == ["ConfigMap/istio-sidecar-injector", "ConfigMap/values", "Deployment/istiod"], sorted(diffs)
    assert all("PILOT_ENABLE_ALPHA_GATEWAY_API" in diff for diff in diffs.values())
    env = sim.get_object("apps/v1", "Deployment", "istiod", "istio-system")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert "PILOT_ENABLE_ALPHA_GATEWAY_API" not in [e["name"] for e in env]

    purge = run_playbook(ONLY, sim, dict(params, control_plane_state="absent", control_plane_purge_crds=True,
                                         control_plane_purge_namespace=True))
    assert purge.rc == 0, purge
    assert s.istio_webhooks(sim) == []
    assert istio_crds(sim) == []
    assert sim.get_object("v1", "Namespace", "istio-system") is None
    assert [n for n in s.names(sim, "rbac.authorization.k8s.io/v1", "ClusterRole") if n.startswith("istiod")] == []


def test_a_crd_wait_that_matches_nothing_fails_and_changes_nothing(kubesim, run_playbook, real):
    sim = kubesim
    # A base chart told to render no cluster-wide objects has no CRDs: there is nothing to wait for.
    params = install_vars(real, control_plane_base_values={"global": {"resourceScope": "namespace"}})
    run = run_playbook(ONLY, sim, params)
    assert run.rc != 0
    assert any("renders no CustomResourceDefinition of an istio.io API group, so there is nothing to install or "
               "wait for. Point control_plane_charts at Istio's charts" in m for m in run.failed_msgs), run.failed_msgs
    assert s.helm_releases(sim) == {} and istio_crds(sim) == []
    assert s.names(sim, "apps/v1", "Deployment", "istio-system") == []


def test_a_crd_wait_that_times_out_fails_and_names_the_missing_crds(kubesim, run_playbook, real):
    sim = kubesim
    first = run_playbook(ONLY, sim, install_vars(real))
    assert first.rc == 0, first
    # Someone deletes a CRD; the base release is unchanged, so helm does not bring it back.
    kubectl(sim, "delete", "crd", "wasmplugins.extensions.istio.io")
    run = run_playbook(ONLY, sim, install_vars(real, control_plane_wait_timeout=2))
    assert run.rc != 0
    assert any("14 of the 15 Istio CRDs of the istio/base chart are established after 2 s in the cluster of kubesim; "
               "missing: wasmplugins.extensions.istio.io. Helm installs them with the istio-base release" in m
               for m in run.failed_msgs), run.failed_msgs
    assert s.task_result(run, "Read the CRDs until the Istio ones are established")["attempts"] == 1


def test_ambient_profile_installs_cni_and_ztunnel_with_helm(kubesim, run_playbook, real):
    sim = kubesim
    params = install_vars(real, control_plane_profile="ambient", control_plane_hub="mirror.example/istio",
                          control_plane_tag=REAL_OLD)
    check = run_playbook(ONLY, sim, params, check=True)
    assert check.rc == 0, check
    assert sim.writes() == []

    first = run_playbook(ONLY, sim, params)
    assert first.rc == 0, first
    assert s.helm_releases(sim) == {"istio-base": "1", "istiod": "1", "istio-cni": "1", "ztunnel": "1"}
    assert s.names(sim, "apps/v1", "DaemonSet", "istio-system") == ["istio-cni-node", "ztunnel"]
    assert s.image(sim, "istio-cni-node", kind="DaemonSet") == "mirror.example/istio/install-cni:1.27.0-distroless"
    assert s.image(sim, "ztunnel", kind="DaemonSet") == "mirror.example/istio/ztunnel:1.27.0-distroless"
    env = sim.get_object("apps/v1", "Deployment", "istiod", "istio-system")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "PILOT_ENABLE_AMBIENT", "value": "true"} in env
    assert "ambient node agents: istio-cni-node, ztunnel in istio-system;" in s.debug_msg(first, "Report the control plane")

    again = run_playbook(ONLY, sim, params)
    assert again.rc == 0, again
    assert again.changed == 0, s.changed_tasks(again)

    gone = run_playbook(ONLY, sim, dict(params, control_plane_state="absent"))
    assert gone.rc == 0, gone
    assert s.helm_releases(sim) == {}
    assert s.names(sim, "apps/v1", "DaemonSet", "istio-system") == []


def _crds_folder_layout(chart_set):
    """The base chart as Istio shipped it before 1.24: the CRD file in crds/, no templates/crds.yaml."""
    base = chart_set / "base"
    (base / "crds").mkdir()
    (base / "files" / "crd-all.gen.yaml").rename(base / "crds" / "crd-all.gen.yaml")
    (base / "templates" / "crds.yaml").unlink()
    return chart_set


@pytest.mark.parametrize("layout,manager", [("templates", "helm"), ("crds-folder", "meshops-istio")])
def test_an_upgrade_that_adds_a_crd_waits_for_it(kubesim, run_playbook, tmp_path, layout, manager):
    """Two versions whose CRDs differ: only the project's test charts can give that. CRDs in templates are the
    base release's (helm installs and upgrades them); a crds/ folder is never upgraded by helm, so the role
    applies it."""
    sim = kubesim
    full = istio_crd_file()    # Istio's CRDs where the reference is present, else the stand-ins (15 either way)
    docs = [d for d in full.read_text().split("\n---\n") if "name: wasmplugins.extensions.istio.io" not in d]
    fewer = tmp_path / "crds-without-wasmplugins.yaml"
    fewer.write_text("\n---\n".join(docs))
    charts = {OLD: build_chart_set(tmp_path / OLD, OLD, fewer), NEW: build_chart_set(tmp_path / NEW, NEW, full)}
    if layout == "crds-folder":
        charts = dict((version, _crds_folder_layout(path)) for version, path in charts.items())
    first = run_playbook(ONLY, sim, dict(control_plane_version=OLD, control_plane_charts=str(charts[OLD])))
    assert first.rc == 0, first
    assert len(istio_crds(sim)) == ISTIO_CRD_COUNT - 1
    assert "14 of 14 Istio CRDs established (the chart defines 14)" in s.debug_msg(first, "Report the control plane")

    upgrade = run_playbook(ONLY, sim, dict(control_plane_version=NEW, control_plane_charts=str(charts[NEW])))
    assert upgrade.rc == 0, upgrade
    assert "wasmplugins.extensions.istio.io" in s.names(sim, *CRD)
    assert all(s.managers(c) == [manager] for c in istio_crds(sim))
    assert "15 of 15 Istio CRDs established (the chart defines 15)" in s.debug_msg(upgrade, "Report the control plane")
    again = run_playbook(ONLY, sim, dict(control_plane_version=NEW, control_plane_charts=str(charts[NEW])))
    assert again.rc == 0 and again.changed == 0, s.changed_tasks(again)


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


def test_canary_upgrade_by_revision_phase_by_phase(kubesim, run_playbook, real):
    sim = kubesim
    first = run_playbook("install.yml", sim, install_vars(real))
    assert first.rc == 0, first
    _app(sim, "shop", {"istio-injection": "enabled"})
    _app(sim, "pay", {"istio.io/rev": "default"})
    s.wait_until(lambda: _sidecar_revisions(sim, "shop") == ["default"] and _sidecar_revisions(sim, "pay") == ["default"])

    canary = dict(control_plane_version=REAL_NEW, control_plane_revision="1-28-0", control_plane_charts=real,
                  control_plane_migrate_delay=1)
    # Phase 1 only: the new revision runs beside the old one; nothing moves yet.
    phase1 = run_playbook("canary_upgrade.yml", sim, dict(canary, canary_upgrade_phases=["install"]))
    assert phase1.rc == 0, phase1
    assert s.names(sim, "apps/v1", "Deployment", "istio-system") == ["istio-ingressgateway", "istiod", "istiod-1-28-0"]
    versions = dict((d["metadata"]["name"], d["metadata"]["labels"]["app.kubernetes.io/version"])
                    for d in sim.list_objects("apps/v1", "Deployment", "istio-system"))
    assert versions == {"istio-ingressgateway": "1.27.0", "istiod": "1.27.0", "istiod-1-28-0": "1.28.0"}
    # The base release (and with it the CRDs) is at the new version first, as Istio's canary procedure has it,
    # but its default validator stays with the running default revision until the prune phase.
    assert s.helm_releases(sim)["istio-base"] == "2"
    assert {c["metadata"]["labels"]["helm.sh/chart"] for c in istio_crds(sim)} == {"base-1.28.0"}
    validator = sim.get_object(*VWC, "istiod-default-validator")
    assert validator["webhooks"][0]["clientConfig"]["service"]["name"] == "istiod"
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
        assert labels.get("istio.io/rev") == "1-28-0" and "istio-injection" not in labels
        assert _sidecar_revisions(sim, namespace) == ["1-28-0"]
    assert s.names(sim, "apps/v1", "Deployment", "istio-system") == ["istio-ingressgateway", "istiod-1-28-0"]
    assert s.istio_webhooks(sim) == ["istio-sidecar-injector-1-28-0", "istio-validator-1-28-0-istio-system",
                                     "istiod-default-validator"]
    validator = sim.get_object(*VWC, "istiod-default-validator")
    assert validator["webhooks"][0]["clientConfig"]["service"]["name"] == "istiod-1-28-0"
    assert s.helm_releases(sim) == {"istio-base": "3", "istiod-1-28-0": "1", "istio-ingressgateway": "2"}
    assert all(s.managers(c) == ["helm"] for c in istio_crds(sim))
    # The gateway moved too (its pods carry the revision that injects them; kubesim does not inject gateways).
    gateway_pods = [p for p in sim.list_objects("v1", "Pod", "istio-system")
                    if p["metadata"]["labels"].get("app") == "istio-ingressgateway"
                    and not p["metadata"].get("deletionTimestamp")]
    assert [p["metadata"]["labels"].get("istio.io/rev") for p in gateway_pods] == ["1-28-0"]
    moved = s.debug_msg(rest, "Report the moved namespaces")
    assert "pay: updated, restarted web." in moved and "shop: updated, restarted web." in moved

    again = run_playbook("canary_upgrade.yml", sim, canary)
    assert again.rc == 0, again
    assert again.changed == 0, s.changed_tasks(again)


PRECHECKS = [
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
    ("install.yml", dict(control_plane_version=OLD, control_plane_profile="ambient", control_plane_method="template"),
     "control_plane_profile=ambient needs Istio's cni and ztunnel charts, which the template method does not install."),
    ("upgrade.yml", dict(control_plane_version=NEW, control_plane_revision="canary"),
     "There is no Istio control plane of revision canary to upgrade in this cluster (installed revisions: stable)."),
    ("upgrade.yml", dict(control_plane_version="1.27.0", control_plane_revision="stable"),
     "Istio 1.25.0 is installed (revision stable) and 1.27.0 is 2 minor versions away; an in-place upgrade may only "
     "move one minor version at a time. Upgrade to 1.26.x first, or use playbooks/canary_upgrade.yml with a new "
     "revision."),
]


@pytest.fixture(scope="module")
def precheck_runs(kubesim_module, real, tmp_path_factory):
    """PRECHECKS with one run per playbook, each case a host of its own on the same cluster, where a
    revisioned control plane of 1.25.0 is already running (seeded: only its Deployment matters here).
    Returns {playbook: run} and the writes of all the runs."""
    sim = kubesim_module
    sim.create_objects([
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}},
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "istiod-stable", "namespace": "istio-system",
                      "labels": {"app": "istiod", "istio.io/rev": "stable", "app.kubernetes.io/version": OLD}},
         "spec": {"selector": {"matchLabels": {"app": "istiod"}}, "template": {
             "metadata": {"labels": {"app": "istiod"}},
             "spec": {"containers": [{"name": "discovery", "image": "docker.io/istio/pilot:1.25.0"}]}}}}])
    start = len(sim.request_log)
    runs = {}
    for playbook in dict.fromkeys(playbook for playbook, _params, _message in PRECHECKS):
        cases = {"case%d" % i: dict(params, control_plane_charts=real)
                 for i, (book, params, _message) in enumerate(PRECHECKS) if book == playbook}
        runs[playbook] = run_cases(tmp_path_factory.mktemp("precheck"), playbook, sim, cases)
    return runs, s.writes_since(sim, start)


@pytest.mark.parametrize("playbook,params,message", PRECHECKS)
def test_precheck_refusals(precheck_runs, playbook, params, message):
    runs, written = precheck_runs
    run, case = runs[playbook], "case%d" % PRECHECKS.index((playbook, params, message))
    assert run.rc != 0 and run.stats[case]["failures"] == 1, run
    assert any(message in m for m in run.failed_msgs_of(case)), run.failed_msgs_of(case)
    assert written == []


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
