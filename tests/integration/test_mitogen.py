"""Mitogen (README "Faster runs") as the collection's supported accelerator: representative playbooks
run with its strategy reach the same cluster state with the same changed counts as a plain run beside them,
and converge (re-run changed=0). The rest of the suite runs without it, as users do by default."""
import json

import pytest

from ansible_collections.meshops.istio.plugins.module_utils import routing as rt
from scripts.demo import build_charts, mitogen_env
from tests.integration.release_env import ReleaseEnv

VERSION = "1.28.0"
SEED_MANAGER = "kubesim-seed"


@pytest.fixture(scope="module")
def mitogen():
    env = mitogen_env()
    assert env, "mitogen is pinned in requirements-test.txt: `make setup` installs it into the venv"
    return env


def written(sim):
    """{(kind, namespace, name): what a client wrote} of every object a client other than kubesim's seeding wrote."""
    state = {}
    for key in sim.store.kinds():
        for obj in sim.store.list(key):
            managers = {entry.get("manager") for entry in obj["metadata"].get("managedFields") or []}
            if not managers - {SEED_MANAGER}:
                continue
            meta = obj["metadata"]
            ident = (obj["kind"], meta.get("namespace", ""), meta["name"])
            if obj["kind"] == "Secret" and obj.get("type") == "helm.sh/release.v1":
                state[ident] = "helm release (timestamps inside)"
                continue
            body = {k: v for k, v in obj.items() if k not in ("status", "metadata")}
            if obj["kind"] == "Service":   # allocated per cluster
                for field in ("clusterIP", "clusterIPs"):
                    body.get("spec", {}).pop(field, None)
            state[ident] = json.dumps(dict(body, labels=meta.get("labels"), annotations=meta.get("annotations")),
                                      sort_keys=True)
    return state


def test_install_namespaces_and_bookinfo_as_without_mitogen(kubesim_factory, run_playbook, mitogen, tmp_path):
    charts = str(build_charts(tmp_path, None))
    runs = {
        "install.yml": {"control_plane_version": VERSION, "control_plane_charts": charts},
        "namespaces.yml": {"mesh_namespace_list": [{"name": "team-a"}, {"name": "team-b", "injection": "disabled"}]},
        "bookinfo.yml": {},
    }
    changed, clusters = {}, {}
    for side, env in (("plain", {}), ("mitogen", mitogen)):
        sim = clusters[side] = kubesim_factory(side)
        for playbook, extra in runs.items():
            run = run_playbook(playbook, sim, extra_vars=extra, env=env)
            assert run.rc == 0, (side, run)
            changed[side, playbook] = run.changed
    assert {p: changed["mitogen", p] for p in runs} == {p: changed["plain", p] for p in runs}
    assert all(changed["plain", p] > 0 for p in runs), changed
    plain, accelerated = written(clusters["plain"]), written(clusters["mitogen"])
    assert sorted(accelerated) == sorted(plain)
    assert [k for k in plain if plain[k] != accelerated[k]] == []
    assert ("Deployment", "default", "productpage-v1") in plain and ("Namespace", "", "team-a") in plain

    for playbook, extra in runs.items():
        again = run_playbook(playbook, clusters["mitogen"], extra_vars=extra, env=mitogen)
        assert again.rc == 0 and again.changed == 0, (playbook, again)


@pytest.fixture
def release_env(kubesim_istio):
    env = ReleaseEnv(kubesim_istio)
    env.prometheus.wait_scraped(4)
    yield env
    env.stop()


def test_release_as_without_mitogen(release_env, run_playbook, mitogen):
    env = release_env
    outcome = {}
    for side, accelerator in (("plain", {}), ("mitogen", mitogen)):
        ns = env.namespace(rate=100)
        extra = {"release_namespace": ns, "release_prometheus_url": env.prometheus.url, "release_interval": 3,
                 "release_window": "3s", "release_steps": "25,100", "release_success_rate": 99,
                 "release_min_requests": 5, "release_threshold": 0}
        run = run_playbook("release.yml", env.sim, extra_vars=extra, env=accelerator)
        assert run.rc == 0, (side, run)
        (result,) = run.results("meshops.istio.release : Act on the release of the service")
        outcome[side] = (run.changed, result["outcomes"], rt.current_split(env.vs(ns), "reviews", ns))
        again = run_playbook("release.yml", env.sim, extra_vars=extra, env=accelerator)
        assert again.rc == 0 and again.changed == 0, (side, again)
        env.done(ns)
    assert outcome["mitogen"] == outcome["plain"]
    assert outcome["plain"][1:] == (["started", "advanced", "promoted"], {"v2": 100})
