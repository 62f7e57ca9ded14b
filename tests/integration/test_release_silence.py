"""istio_release on a quiet service: waiting-for-traffic, its limit, and load generation (fortio Jobs that meshsim
honours as traffic), against kubesim + meshsim + a real Prometheus, driven by real ansible-playbook."""
import pytest

from tests.integration.release_env import ReleaseEnv
from tests.integration.test_release import PLAYBOOK, TASK, failure, release, split, state_of
from sim.prometheus_harness import wait_until

QUIET = {"interval": 3, "window": 3, "success_rate": 99, "min_requests": 10, "threshold": 0}


@pytest.fixture(scope="module")
def env(kubesim_istio_module):
    env = ReleaseEnv(kubesim_istio_module)
    env.prometheus.wait_scraped(4)
    yield env
    env.stop()


def load_jobs(env, ns):
    return [job["metadata"]["name"] for job in env.sim.list_objects("batch/v1", "Job", ns)]


def test_a_quiet_canary_waits_for_traffic_then_proceeds(env, run_playbook):
    ns = env.namespace(rate=0)
    analysis = dict(QUIET, traffic_wait="5m")
    run, res = release(run_playbook, env, ns, "start", canary="v2", steps=[50, 100], analysis=analysis)
    assert run.rc == 0 and res["outcome"] == "started", run
    # The first look finds no requests: the step holds, nothing counted as failed.
    held, res = release(run_playbook, env, ns, "step", canary="v2")
    assert held.rc == 0 and res["outcome"] == "waiting" and res["changed"], held
    assert res["phase"] == "waiting-for-traffic" and res["analysis"]["status"] == "no_traffic"
    assert split(env, ns) == {"v1": 50, "v2": 50}
    state = state_of(env, ns)
    assert state["failed_checks"] == 0 and state["phase"] == "waiting-for-traffic"
    assert state["history"][-1]["event"] == "analysis" and state["history"][-1]["phase"] == "waiting-for-traffic"
    assert "Failed analyses: 0 of 0 tolerated" in res["summary"]
    assert "Next: waiting for traffic since " in res["summary"] and "(analysis.traffic_wait 5m)" in res["summary"]
    # A second quiet look: still waiting, one history entry for the spell.
    again, res = release(run_playbook, env, ns, "step", canary="v2")
    assert again.rc == 0 and res["outcome"] == "waiting"
    assert len(state_of(env, ns)["history"]) == len(state["history"])
    # Waiting is not paused: resume changes nothing.
    resumed, res = release(run_playbook, env, ns, "resume")
    assert resumed.rc == 0 and res["outcome"] == "unchanged" and not res["changed"], resumed
    # Traffic comes: the step is judged on it and the release goes on to the end.
    env.mesh.set_rate("%s/reviews" % ns, 120)
    env.prometheus.wait_for('sum(increase(istio_requests_total{reporter="destination",destination_version="v2",'
                            'destination_workload_namespace="%s"}[3s])) > 30' % ns, timeout=30)
    done, res = release(run_playbook, env, ns, "run", canary="v2", steps=[50, 100])
    assert done.rc == 0 and res["outcomes"] == ["advanced", "promoted"], done
    state = state_of(env, ns)
    events = [(h["event"], h["phase"]) for h in state["history"]]
    assert events[:3] == [("start", "progressing"), ("analysis", "waiting-for-traffic"), ("traffic", "progressing")]
    assert state["phase"] == "succeeded" and state["failed_checks"] == 0
    env.done(ns)


def test_silence_beyond_the_limit_fails_and_rolls_back(env, run_playbook):
    ns = env.namespace(rate=0)
    analysis = dict(QUIET, interval=2, window=2, traffic_wait="5s", threshold=3)
    run, res = release(run_playbook, env, ns, "run", canary="v2", steps=[20, 100], analysis=analysis)
    assert run.rc != 0
    msg = failure(run)
    assert msg.startswith("Release reviews-v2 rolled back to 100% v1: at 20% the canary had too few requests to be "
                          "judged for ")
    assert "and analysis.traffic_wait is 5s (the last analysis saw " in msg and " (min 10) in its 2s window)." in msg
    assert res["outcomes"][0] == "started" and res["outcomes"][-1] == "rolled_back"
    assert set(res["outcomes"][1:-1]) == {"waiting"} and len(res["outcomes"]) >= 4
    assert res["phase"] == "failed" and split(env, ns) == {"v1": 100}
    state = state_of(env, ns)
    assert state["failed_checks"] == 0, "silence never counts as a failed analysis"
    assert state["history"][-1]["event"] == "rollback" and state["history"][-1]["reason"] == "no_traffic"
    env.done(ns)


def test_load_generation_gives_a_quiet_service_its_requests(env, run_playbook):
    ns = env.namespace(rate=0)
    analysis = dict(QUIET, interval=4, window=4, min_requests=20, traffic_wait="20s")
    # The Job outlives the playbook runs between the start and the first analysis (the default, the interval plus
    # one window, suits action=run, which analyses as soon as the interval has passed).
    load = {"rate": 40, "connections": 2, "duration": "60s"}
    # Check mode: the Job is in the diff, nothing is written.
    env.sim.clear_request_log()
    extra = {"rel_action": "start", "rel_namespace": ns, "rel_canary": "v2", "rel_steps": [50, 100],
             "rel_analysis": analysis, "rel_load": load, "rel_prometheus": env.prometheus_options}
    check = run_playbook(PLAYBOOK, env.sim, extra_vars=extra, check=True, diff=True)
    assert check.rc == 0, check
    (task,) = check.results(TASK)
    res = task["results"][0]
    (created,) = res["diff"]["after"]["load_jobs"]
    assert created.startswith("reviews-v2-load-") and res["load_jobs"] == [{"name": created, "action": "created"}]
    assert env.sim.writes() == [] and load_jobs(env, ns) == []
    # Start: one Job; starting again while it runs makes no second one.
    run = run_playbook(PLAYBOOK, env.sim, extra_vars=dict(extra, rel_runs=[{}, {}]))
    assert run.rc == 0, run
    (task,) = run.results(TASK)
    first, second = task["results"]
    assert first["outcome"] == "started" and [a["action"] for a in first["load_jobs"]] == ["created"]
    assert second["outcome"] == "unchanged" and not second["changed"] and "load_jobs" not in second
    (job,) = load_jobs(env, ns)
    spec = env.sim.get_object("batch/v1", "Job", job, ns)["spec"]["template"]["spec"]["containers"][0]
    assert spec["image"] == "fortio/fortio:latest_release"
    assert spec["args"] == ["load", "-qps", "40", "-t", "60s", "-c", "2", "-allow-initial-errors",
                            "http://reviews.%s:9080/" % ns]
    wait_until(lambda: "%s/%s" % (ns, job) in env.mesh.state()["loads"], timeout=10, message="meshsim sees the Job")
    # The release runs on the load's requests alone, and promotes.
    done, res = release(run_playbook, env, ns, "run", canary="v2", steps=[50, 100], analysis=analysis, load=load)
    assert done.rc == 0 and res["outcomes"] == ["advanced", "promoted"], done
    assert all(c["passed"] for c in res["analysis"]["checks"])
    assert res["analysis"]["checks"][0]["name"] == "requests" and res["analysis"]["checks"][0]["value"] >= 20
    actions = [a["action"] for a in res["load_jobs"]]
    assert actions == ["deleted", "created", "deleted"], "the 50% Job replaced by the 100% one, then removed"
    assert load_jobs(env, ns) == []
    # The requests came from the load Jobs' workloads, through the mesh.
    sources = env.prometheus.query('sum by (source_workload) (istio_requests_total{reporter="destination",'
                                   'destination_workload_namespace="%s"}) > 0' % ns)
    assert sources and all(s["metric"]["source_workload"].startswith("reviews-v2-load-") for s in sources)
    assert len(sources) == 2
    # Finished: a re-run changes nothing.
    again, res = release(run_playbook, env, ns, "run", canary="v2", steps=[50, 100], analysis=analysis, load=load)
    assert again.rc == 0 and again.changed == 0 and res["outcome"] == "unchanged", again
    env.done(ns)


def test_abort_removes_the_load(env, run_playbook):
    ns = env.namespace(rate=0)
    run, res = release(run_playbook, env, ns, "start", canary="v2", steps=[10, 100], analysis=QUIET,
                       load={"rate": 5, "url": "http://reviews.%s:9080/health" % ns, "duration": "30s"})
    assert run.rc == 0 and len(load_jobs(env, ns)) == 1, run
    job = env.sim.get_object("batch/v1", "Job", load_jobs(env, ns)[0], ns)
    assert job["spec"]["template"]["spec"]["containers"][0]["args"][4] == "30s"
    # Another job, without the load options, aborts: the Job goes with the release.
    aborted, res = release(run_playbook, env, ns, "abort")
    assert aborted.rc == 0 and res["outcome"] == "aborted"
    assert [a["action"] for a in res["load_jobs"]] == ["deleted"] and load_jobs(env, ns) == []
    env.done(ns)


def test_bad_load_settings_are_refused_and_nothing_changes(env, run_playbook):
    ns = env.namespace(rate=0)
    env.sim.clear_request_log()
    cases = [({"rate": 0, "duration": "1m"}, "load needs rate"),
             ({"rate": 10, "connections": 0}, "load.connections is 0"),
             ({"rate": 10, "url": "reviews:9080"}, "load.url"),
             ({"rate": 10, "port": 9080, "url": "http://reviews:9080/"}, "Give load.url or load.port")]
    run, _res = release(run_playbook, env, ns, "start", runs=[
        {"canary": "v2", "steps": [10, 100], "analysis": QUIET, "load": load} for load, _m in cases])
    assert run.rc != 0
    (task,) = run.results(TASK)
    for item, (_load, message) in zip(task["results"], cases):
        assert item.get("failed") and message in item["msg"], item
    assert env.sim.writes() == [] and load_jobs(env, ns) == [] and state_of(env, ns) is None
    env.done(ns)

