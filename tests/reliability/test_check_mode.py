"""site.yml --check on a fresh cluster: the whole run finishes, says per component what it would create, and
writes nothing (kubesim's request log: no POST/PUT/PATCH/DELETE without dryRun=All; the dry runs are the
check)."""
from tests.integration.istio_support import ADDONS_DIR, OLD, build_charts


def messages(run, task):
    out = []
    for result in run.results(task):
        msg = result.get("msg")
        out.extend(msg if isinstance(msg, list) else [msg])
    return out


def test_site_check_on_a_fresh_cluster_finishes_and_writes_nothing(kubesim, run_playbook, tmp_path):
    charts = build_charts(tmp_path / "charts")
    kubesim.clear_request_log()
    run = run_playbook("site.yml", kubesim, check=True, extra_vars={
        "control_plane_version": OLD, "control_plane_charts": charts[OLD], "addons_source": ADDONS_DIR})
    assert run.rc == 0 and run.failed == 0, run
    writes = kubesim.writes()
    assert writes == [], writes
    dry_runs = [r for r in kubesim.request_log if r.dry_run]
    assert dry_runs, "check mode dry-ran the objects it could"
    # The addons go to istio-system, which the control plane step would create: listed, not dry-run.
    addons = messages(run, "meshops.istio.addons : List the addon objects that would be created in namespaces that do "
                           "not exist yet")
    assert "would create Deployment/istio-system/prometheus" in addons and "would create Service/istio-system/kiali" \
        in addons, addons
    # The apps' Istio objects cannot be dry-run before Istio's CRDs exist: listed.
    istio_objects = messages(run, "meshops.istio.mesh_app : Report the Istio objects check mode cannot dry-run before "
                                  "Istio is installed")
    assert any("VirtualService/reviews" in m for m in istio_objects), istio_objects
    assert any("VirtualService/worker-virtual-service" in m for m in istio_objects), istio_objects
    # The release says it would start once its routing exists.
    release = run.results("meshops.istio.release : Act on the release of the service")
    assert release and release[0]["outcome"] == "pending", release
    assert "would start then" in release[0]["summary"]
    # Nothing Istio's exists after the check run.
    assert kubesim.list_objects("v1", "Namespace") and "istio-system" not in [
        ns["metadata"]["name"] for ns in kubesim.list_objects("v1", "Namespace")]
