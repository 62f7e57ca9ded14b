"""Every job template, run as AWX runs it (ansible-runner, the private data dir AWX builds, survey answers
as extra vars, the credential in the environment), against one kubesim over TLS with bearer tokens, in
the order a workflow runs them. Each job's events give its status, its changed count and the set_stats
artifacts the next workflow node receives.

Credentials: every template runs with the bearer-token credential and with the kubeconfig credential (the second
run of each, which must change nothing, proves both reach the same cluster), except the release playbooks:
release runs with the token, promote and rollback (the same role and module) with the kubeconfig.

Charts: the project's test charts (sim/charts) at three versions: install 1.25.0, upgrade in place to 1.25.1,
canary upgrade to 1.26.0 (revision 1-26-0). Addons: the manifests the addons tests use."""
import pytest

from tests.awx.awx_support import TEMPLATES
from tests.awx.runner_support import AWX
from sim.charts.build import build_chart_set
from tests.integration import burst_support as b
from tests.integration.istio_support import ADDONS_DIR
from tests.standins import istio_crds

V1, V2, V3 = "1.25.0", "1.25.1", "1.26.0"
NAMESPACES_TEXT = "- name: shop\n  injection: enabled\n- pay\n"


def ok(job, changed=None):
    assert job.status == "successful" and job.rc == 0 and job.failures == 0, job
    if changed == 0:
        assert job.changed == 0, job.changed_tasks()
    elif changed:
        assert job.changed > 0, job
    return job.artifacts


@pytest.fixture
def charts(tmp_path):
    return {v: str(build_chart_set(tmp_path / "charts" / v, v, istio_crds())) for v in (V1, V2, V3)}


def test_every_job_template_through_ansible_runner_with_both_credentials(kubesim_factory, installed_collections,
                                                                         charts, tmp_path):
    sim = kubesim_factory("awx")
    awx = AWX(tmp_path / "awx", installed_collections, sim)
    install = {"control_plane_version": V1, "control_plane_charts": charts[V1], "control_plane_wait_timeout": 120}

    # install: a first run that changes the cluster, then the same template with the kubeconfig credential.
    art = ok(awx.launch("install", "token", install), changed=True)
    plane = art["meshops_control_plane"]["local"]
    assert (plane["installed"], plane["version"], plane["default_revision"]) == (True, V1, "default")
    assert set(plane["gateways"]) == {"istio-ingressgateway"} and plane["gateways"]["istio-ingressgateway"]
    assert ok(awx.launch("install", "kubeconfig", install), changed=0) == art

    # addons
    addons = {"addons_source": ADDONS_DIR, "addons_wait_timeout": 120}
    art = ok(awx.launch("addons", "token", addons), changed=True)
    assert set(art["meshops_addons"]["local"]) == {"prometheus", "grafana", "jaeger", "kiali"}
    assert all(where["url"] for where in art["meshops_addons"]["local"].values())
    ok(awx.launch("addons", "kubeconfig", addons), changed=0)

    # namespaces: a list of dicts as the text of a survey textarea.
    art = ok(awx.launch("namespaces", "token", {"mesh_namespace_list": NAMESPACES_TEXT}), changed=True)
    assert art == {"meshops_namespaces": {"local": ["shop", "pay"]}}
    for name in ("shop", "pay"):
        assert sim.get_object("v1", "Namespace", name)["metadata"]["labels"]["istio-injection"] == "enabled"
    ok(awx.launch("namespaces", "kubeconfig", {"mesh_namespace_list": NAMESPACES_TEXT}), changed=0)

    # the apps
    art = ok(awx.launch("bookinfo", "token", {"bookinfo_wait_timeout": 120}), changed=True)
    assert art["meshops_bookinfo"]["local"]["namespace"] == "bookinfo"
    assert art["meshops_bookinfo"]["local"]["url"].endswith("/productpage")
    ok(awx.launch("bookinfo", "kubeconfig", {"bookinfo_wait_timeout": 120}), changed=0)
    art = ok(awx.launch("hashapp", "token", {"hashapp_wait_timeout": 120}), changed=True)
    assert art["meshops_hashapp"]["local"]["namespace"] == "default" and art["meshops_hashapp"]["local"]["url"]
    ok(awx.launch("hashapp", "kubeconfig", {"hashapp_wait_timeout": 120}), changed=0)

    # burst: the worker under load (simulated traffic, scraped by a real Prometheus) goes to the burst subset.
    env = b.BurstEnv(sim)
    try:
        env.add_worker("default", rate=25)
        b.wait_rate(env.prometheus, "default", 18, 32)
        art = ok(awx.launch("burst", "token", {"burst_prometheus_url": env.prometheus.url}), changed=True)
        assert art["meshops_burst"]["local"] == {"in_burst": True, "weights": {"primary": 0, "burst": 100}}
        assert b.weights(sim, "default") == {"primary": 0, "burst": 100}
        assert ok(awx.launch("burst", "kubeconfig", {"burst_prometheus_url": env.prometheus.url}), changed=0) == art

        # release (the workflow's node: its first step), then promote with what the release published.
        release = {"release_prometheus_url": env.prometheus.url}
        art = ok(awx.launch("release", "token", release, extra_vars={"release_action": "start"}), changed=True)
        assert art["meshops_release"]["local"]["phase"] == "progressing"
        assert art["meshops_release"]["local"]["weights"] == {"v1": 90, "v2": 10}
        assert (art["release_service"], art["release_namespace"]) == ("reviews", "bookinfo")
        assert art["release_phase"] == "progressing"
        # AWX gives the next node the artifacts as extra vars, over the node's own survey defaults.
        art = ok(awx.launch("promote", "kubeconfig", extra_vars=art), changed=True)
        assert art["meshops_release"]["local"] == {"phase": "succeeded", "weights": {"v2": 100}}

        # A second release, rolled back.
        art = ok(awx.launch("release", "token", dict(release, release_canary_version="v3", release_stable_version="v2"),
                            extra_vars={"release_action": "start"}), changed=True)
        assert art["meshops_release"]["local"]["weights"] == {"v2": 90, "v3": 10}
        art = ok(awx.launch("rollback", "kubeconfig", extra_vars=art), changed=True)
        assert art["meshops_release"]["local"]["weights"] == {"v2": 100}
        assert art["meshops_release"]["local"]["phase"] in ("aborted", "failed")
    finally:
        env.stop()

    # upgrade in place, then a canary upgrade to a new revision.
    upgrade = {"control_plane_version": V2, "control_plane_charts": charts[V2], "control_plane_wait_timeout": 120}
    art = ok(awx.launch("upgrade", "kubeconfig", upgrade), changed=True)
    assert art["meshops_control_plane"]["local"]["version"] == V2
    assert ok(awx.launch("upgrade", "token", upgrade), changed=0) == art
    canary = {"control_plane_version": V3, "control_plane_charts": charts[V3], "control_plane_revision": "1-26-0"}
    art = ok(awx.launch("canary_upgrade", "token", canary), changed=True)
    plane = art["meshops_control_plane"]["local"]
    assert plane["revisions"] == ["1-26-0"] and plane["version"] == V3
    assert ok(awx.launch("canary_upgrade", "kubeconfig", canary), changed=0) == art

    # multicluster: this one cluster as the mesh's primary (the control plane's values through the extra-vars prompt).
    # The clusters inventory gives the host its mesh ID (mesh1) and network; multicluster_mesh_id is for hosts
    # without them.
    mesh = {"control_plane_version": V3, "control_plane_charts": charts[V3], "control_plane_revision": "1-26-0",
            "multicluster_root_dir": str(tmp_path / "mesh-ca")}
    art = ok(awx.launch("multicluster", "token", extra_vars=mesh), changed=True)
    place = art["meshops_multicluster"]["local"]
    assert (place["role"], place["mesh_id"], place["network"], place["version"]) == ("primary", "mesh1", "network1", V3)
    assert ok(awx.launch("multicluster", "kubeconfig", extra_vars=mesh), changed=0) == art

    # uninstall
    art = ok(awx.launch("uninstall", "kubeconfig", {"control_plane_purge_crds": "true"}), changed=True)
    assert art["meshops_control_plane"]["local"]["installed"] is False
    assert ok(awx.launch("uninstall", "token", {"control_plane_purge_crds": "true"}), changed=0) == art

    # Every template ran, with both credential kinds (promote and rollback: kubeconfig; release: token - the same
    # role and module).
    ran = {}
    for template_id, credential, _seconds in awx.log:
        ran.setdefault(template_id, set()).add(credential)
    assert set(ran) == set(TEMPLATES)
    assert [t for t, kinds in ran.items() if kinds != {"token", "kubeconfig"}] == ["release", "promote", "rollback"]
    print("\n".join("%-15s %-10s %5.1fs" % entry for entry in awx.log))
