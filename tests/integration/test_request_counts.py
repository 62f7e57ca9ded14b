"""What the roles cost the API server and the controller, counted: requests and writes from kubesim's request
log, module runs (each a new Python process) from the playbook's results. Converged re-runs write nothing and
read at most one request per object beyond discovery; the figures go to tests/output/request-counts.json."""
import json
import re

from tests.conftest import OUTPUT
from tests.integration.apps_support import install_minimal_istio
from tests.integration.istio_support import ADDONS_DIR, OLD, build_charts

DISCOVERY = re.compile(r"^/(api|apis)(/[^/]+){0,2}$|^/openapi/|^/version$")
# Objects the apps apply (tests/integration/test_bookinfo.py EXPECTED, test_hashapp.py).
BOOKINFO_OBJECTS, HASHAPP_OBJECTS = 24, 11
# Module processes of a converged install.yml re-run (one gateway; the counts are spelled out where asserted).
HELM_INSTALL_RUNS, TEMPLATE_INSTALL_RUNS = 11, 13


def module_runs(run):
    """Tasks that started a module process (an item of a loop counts once)."""
    count = 0
    for _task, _host, result in run.tasks:
        if result.get("skipped"):
            continue
        items = result.get("results")
        if isinstance(items, list) and items and isinstance(items[0], dict) and "ansible_loop_var" in items[0]:
            count += sum(1 for item in items if "invocation" in item)
        elif "invocation" in result:
            count += 1
    return count


def cost(sim, run):
    log = list(sim.request_log)
    discovery = sum(1 for r in log if r.method == "GET" and DISCOVERY.match(r.path))
    return dict(rc=run.rc, changed=run.changed, requests=len(log), discovery=discovery,
                beyond_discovery=len(log) - discovery, writes=len(sim.writes()), module_runs=module_runs(run))


def measure(run_playbook, sim, playbook, extra_vars=None, **kwargs):
    sim.clear_request_log()
    run = run_playbook(playbook, sim, extra_vars=extra_vars, **kwargs)
    assert run.rc == 0, run
    return run, cost(sim, run)


def record(name, figures):
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = OUTPUT / "request-counts.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    known[name] = figures
    path.write_text(json.dumps(known, indent=2, sort_keys=True))


def test_converged_apps_write_nothing_and_read_once_per_object(kubesim_istio, run_playbook):
    sim = install_minimal_istio(kubesim_istio)
    figures = {}
    for playbook, objects in (("bookinfo.yml", BOOKINFO_OBJECTS), ("hashapp.yml", HASHAPP_OBJECTS)):
        _first, first = measure(run_playbook, sim, playbook)
        again, rerun = measure(run_playbook, sim, playbook)
        figures[playbook] = dict(first=first, rerun=rerun)
        assert again.changed == 0, again
        assert first["writes"] >= objects  # every object created (plus the namespace label)
        assert rerun["writes"] == 0, rerun
        # The objects one LIST per kind (a GET for a kind of one), the namespace, the sidecar check's
        # Deployments and Pods, the ingress Service: fewer than one request per object.
        assert rerun["beyond_discovery"] <= objects, rerun
        # One process for the whole role: istio_apply checks Istio, labels the namespace, applies, waits,
        # checks the sidecars and reads the ingress address in one run (the rest are controller-side actions).
        assert first["module_runs"] == 1 and rerun["module_runs"] == 1, (first, rerun)
    record("apps", figures)


def test_template_install_and_addons_reruns_are_read_only(kubesim, run_playbook, tmp_path):
    charts = build_charts(tmp_path / "charts")
    install_vars = {"control_plane_version": OLD, "control_plane_charts": charts[OLD], "control_plane_method": "template"}
    addons_vars = {"addons_source": ADDONS_DIR}
    _run, install_first = measure(run_playbook, kubesim, "install.yml", install_vars)
    _run, addons_first = measure(run_playbook, kubesim, "addons.yml", addons_vars)
    install_again, install_rerun = measure(run_playbook, kubesim, "install.yml", install_vars)
    addons_again, addons_rerun = measure(run_playbook, kubesim, "addons.yml", addons_vars)
    record("install_template_and_addons", dict(install=dict(first=install_first, rerun=install_rerun),
                                               addons=dict(first=addons_first, rerun=addons_rerun)))
    assert install_again.changed == 0 and addons_again.changed == 0, (install_again, addons_again)
    assert install_rerun["writes"] == 0, install_rerun
    assert addons_rerun["writes"] == 0, addons_rerun
    # install.yml, template method: precheck; helm_template of istio/base with its CRDs; CRDs applied and waited
    # for; helm_template of base and istiod; their objects applied and waited for; webhook probe; control plane
    # read (the gateways role takes it); helm_template of the gateway; its objects applied; shared Gateway; gateway
    # Services and Nodes read; the playbook's workflow read. The first run also creates istio-system.
    assert (install_first["module_runs"], install_rerun["module_runs"]) == (TEMPLATE_INSTALL_RUNS + 1,
                                                                            TEMPLATE_INSTALL_RUNS), (install_first,
                                                                                                     install_rerun)


def test_site_converged_rerun_writes_nothing(kubesim, run_playbook, tmp_path):
    """site.yml up to the apps (its closing canary needs a Prometheus with traffic: tests/integration/
    test_release_role.py runs it after the Bookinfo role)."""
    charts = build_charts(tmp_path / "charts")
    extra = {"control_plane_version": OLD, "control_plane_charts": charts[OLD], "addons_source": ADDONS_DIR}
    env = {"ANSIBLE_SKIP_TAGS": "release"}
    _run, first = measure(run_playbook, kubesim, "site.yml", extra, env=env)
    again, rerun = measure(run_playbook, kubesim, "site.yml", extra, env=env)
    record("site", dict(first=first, rerun=rerun))
    assert again.changed == 0, again
    assert rerun["writes"] == 0, [(r.method, r.path) for r in kubesim.writes()]
    # install.yml with the helm method: precheck; helm_template of istio/base (its CRD names); helm per chart
    # (base, istiod, the gateway); the CRD wait; istiod waited for and the control plane read in one istio_info
    # (the gateways role takes that read); webhook probe; shared Gateway; the gateways waited for and their
    # Services and Nodes read in one istio_info; the playbook's workflow read. The first run also creates
    # istio-system. Then addons.yml (4) and the two apps (1 each).
    assert (first["module_runs"], rerun["module_runs"]) == (HELM_INSTALL_RUNS + 1 + 4 + 2, HELM_INSTALL_RUNS + 4 + 2), (
        first, rerun)
