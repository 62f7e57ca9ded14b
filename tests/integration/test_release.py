"""istio_release end to end: kubesim + meshsim + a real Prometheus, driven by real ansible-playbook."""
import datetime
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ansible_collections.meshops.istio.plugins.module_utils import prometheus as prom
from ansible_collections.meshops.istio.plugins.module_utils.release import analysis as ra
from ansible_collections.meshops.istio.plugins.module_utils.release import state as rl
from ansible_collections.meshops.istio.plugins.module_utils import routing as rt
from tests.conftest import OUTPUT, REPO, ansible_env, write_inventory
from tests.integration.release_env import ReleaseEnv
from sim.prometheus_harness import wait_until

PLAYBOOK = str(REPO / "tests" / "integration" / "playbooks" / "istio_release.yml")
TASK = "Act on the release"
FAST = {"interval": 4, "window": 4, "success_rate": 99, "latency_p99": 500, "min_requests": 10, "threshold": 0}


@pytest.fixture(scope="module")
def env(kubesim_istio_module):
    env = ReleaseEnv(kubesim_istio_module)
    env.prometheus.wait_scraped(4)
    yield env
    env.stop()


def release(run_playbook, env, ns, action, **kw):
    extra = {"rel_action": action, "rel_namespace": ns, "rel_prometheus": env.prometheus_options}
    extra.update(("rel_" + k, v) for k, v in kw.items())
    run = run_playbook(PLAYBOOK, env.sim, extra_vars=extra)
    results = run.results(TASK)
    items = results[0].get("results", []) if results else []
    return run, (items[0] if items else {})


def descendants(pid):
    """Every process below ``pid`` (the module process runs in a session of its own)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path("/proc/%s/stat" % entry).read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def failure(run):
    """The message of the first failed module run (a looped task also reports "One or more items failed")."""
    return [m for m in run.failed_msgs if m != "One or more items failed"][0]


def custom_objects(sim):
    from kubernetes import client, config
    return client.CustomObjectsApi(config.new_client_from_config(config_file=sim.kubeconfig_path))


def state_of(env, ns):
    return rl.load(env.vs(ns)["metadata"].get("annotations"))


def split(env, ns):
    return rt.current_split(env.vs(ns), "reviews", ns)


def test_healthy_canary_promotes_itself(env, run_playbook, tmp_path):
    ns = env.namespace(rate=120)
    report = tmp_path / "reports" / "reviews-v2.md"
    forwarded = len(env.sim.service_proxy.forwarded)
    run, res = release(run_playbook, env, ns, "run", canary="v2", steps=[10, 50, 100], analysis=FAST,
                       report=str(report))
    assert run.rc == 0, run
    # Judged without a URL: every query went through the API server's service proxy to the real Prometheus.
    queries = env.sim.service_proxy.forwarded[forwarded:]
    assert len(queries) >= 6 and {(q["method"], q["service"], q["path"]) for q in queries} == {
        ("GET", "prometheus", "/api/v1/query")}
    assert res["outcomes"] == ["started", "advanced", "advanced", "promoted"]
    assert res["phase"] == "succeeded" and res["weights"] == {"v2": 100}
    assert res["previous_weights"] == {"v1": 100}
    assert env.vs(ns)["spec"]["http"] == [{"route": [{"destination": {"host": "reviews", "subset": "v2"}}]}]
    state = state_of(env, ns)
    assert [h["event"] for h in state["history"]] == ["start"] + ["analysis", "advance"] * 2 + ["analysis", "promote"]
    assert all(h["passed"] for h in state["history"] if h["event"] == "analysis")
    assert res["analysis"]["checks"][1]["name"] == "success_rate" and res["analysis"]["checks"][1]["value"] > 99
    assert res["summary"].startswith("Release reviews-v2 of reviews.%s: succeeded, step 3/3 - v2 100%%." % ns)
    # The report an AWX user downloads.
    page = report.read_text()
    assert "| Phase | succeeded |" in page and "![Canary weight and success rate over time](reviews-v2.svg)" in page
    assert (tmp_path / "reports" / "reviews-v2.svg").read_text().startswith("<svg")
    # The traffic really moved: v2 gets everything now.
    svc = "%s/reviews" % ns
    time.sleep(1)
    v1, v2 = env.mesh.count(svc, "v1"), env.mesh.count(svc, "v2")
    time.sleep(1)
    assert env.mesh.count(svc, "v1") == v1 and env.mesh.count(svc, "v2") - v2 > 60
    # Running the finished release again changes nothing.
    again, res = release(run_playbook, env, ns, "run", canary="v2", steps=[10, 50, 100], analysis=FAST)
    assert again.rc == 0 and again.changed == 0 and res["outcome"] == "unchanged", again
    env.done(ns)


def test_erroring_canary_rolls_back_at_the_first_failed_check(env, run_playbook):
    ns = env.namespace(rate=120, versions={"v1": {}, "v2": {"error_rate": 0.3}, "v3": {}})
    run, res = release(run_playbook, env, ns, "run", canary="v2", steps=[20, 50, 100],
                       analysis=dict(FAST, latency_p99=None))
    assert run.rc != 0
    msg = failure(run)
    assert msg.startswith("Release reviews-v2 rolled back to 100% v1: the analysis at 20% failed - success_rate ")
    assert "(min 99%); failed analyses 1 > threshold 0." in msg
    assert res["outcomes"] == ["started", "rolled_back"] and res["phase"] == "failed"
    assert split(env, ns) == {"v1": 100}
    value = res["analysis"]["checks"][1]["value"]
    assert 50 < value < 85, "about 70% of v2's requests succeed"
    env.done(ns)


def test_failures_within_the_threshold_hold_the_step(env, run_playbook):
    ns = env.namespace(rate=120, versions={"v1": {}, "v2": {"error_rate": 0.3}, "v3": {}})
    analysis = dict(FAST, latency_p99=None, threshold=1, interval=0, window=4)
    run, res = release(run_playbook, env, ns, "start", canary="v2", steps=[20, 100], analysis=analysis)
    assert run.rc == 0 and res["outcome"] == "started", run
    time.sleep(4.5)
    held, res = release(run_playbook, env, ns, "step", canary="v2", analysis=analysis)
    assert held.rc == 0 and res["outcome"] == "held", held
    assert res["changed"] and split(env, ns) == {"v1": 80, "v2": 20}
    assert "Failed analyses: 1 of 1 tolerated" in res["summary"]
    # Without analysis options, the step is judged with the settings the release kept at start.
    failed, res = release(run_playbook, env, ns, "step", canary="v2")
    assert failed.rc != 0 and res.get("outcome") == "rolled_back", failed.failed_msgs
    assert [c["name"] for c in res["analysis"]["checks"]] == ["requests", "success_rate"]
    assert "failed analyses 2 > threshold 1" in failure(failed)
    env.done(ns)


def test_latency_regression_is_caught_by_latency_p99(env, run_playbook):
    ns = env.namespace(rate=120, versions={"v1": {"latency_ms": 20}, "v2": {"latency_ms": 900}, "v3": {}})
    forwarded = len(env.sim.service_proxy.forwarded)
    # A direct prometheus.url still queries Prometheus itself, with no API server between.
    run, res = release(run_playbook, env, ns, "run", canary="v2", steps=[25, 100], analysis=FAST,
                       prometheus=env.prometheus_direct)
    assert len(env.sim.service_proxy.forwarded) == forwarded
    assert run.rc != 0
    assert res["outcomes"] == ["started", "rolled_back"]
    failed = [c for c in res["analysis"]["checks"] if not c["passed"]]
    assert [c["name"] for c in failed] == ["latency_p99"] and failed[0]["value"] > 500
    assert "latency_p99 " in failure(run) and "(max 500ms)" in failure(run)
    assert split(env, ns) == {"v1": 100}
    env.done(ns)


def test_no_traffic_does_not_pass(env, run_playbook):
    ns = env.namespace(rate=0)
    # traffic_wait 0: silence fails the release at once (tests/integration/test_release_silence.py waits).
    run, res = release(run_playbook, env, ns, "run", canary="v2", steps=[50, 100], analysis=dict(FAST, traffic_wait=0))
    assert run.rc != 0
    assert res["analysis"]["status"] == "no_traffic" and not res["analysis"]["passed"]
    assert {c["name"]: c["value"] for c in res["analysis"]["checks"]}["success_rate"] is None
    assert "saw 0 requests (min 10)" in failure(run) or "saw no requests (min 10)" in failure(run)
    assert split(env, ns) == {"v1": 100}
    env.done(ns)


def test_prometheus_unreachable_pauses_with_weights_unchanged(env, run_playbook):
    ns = env.namespace(rate=50)
    run, res = release(run_playbook, env, ns, "start", canary="v2", steps=[10, 100], analysis=FAST)
    assert run.rc == 0, run
    gone = {"url": "http://127.0.0.1:9", "timeout": 2}
    extra = {"rel_action": "step", "rel_namespace": ns, "rel_canary": "v2", "rel_analysis": FAST,
             "rel_prometheus": gone}
    env.sim.clear_request_log()
    step = run_playbook(PLAYBOOK, env.sim, extra_vars=extra)
    assert step.rc != 0
    msg = failure(step)
    assert msg.startswith("Cannot reach Prometheus at http://127.0.0.1:9 (")
    assert "Release reviews-v2 is paused with its weights unchanged (v1 90% / v2 10%)" in msg
    assert "run action=resume" in msg
    assert split(env, ns) == {"v1": 90, "v2": 10}
    assert state_of(env, ns)["phase"] == "paused"
    # A paused release does not step; resume continues it.
    blocked, _result = release(run_playbook, env, ns, "step", canary="v2", analysis=FAST)
    assert blocked.rc != 0 and "is paused (Prometheus unavailable (unreachable)); run action=resume first" in \
        failure(blocked)
    resumed, res = release(run_playbook, env, ns, "resume", canary="v2")
    assert resumed.rc == 0 and res["outcome"] == "resumed" and res["phase"] == "progressing"
    # Starting against an unreachable Prometheus moves nothing.
    other = env.namespace(rate=0)
    extra.update(rel_action="start", rel_namespace=other, rel_steps=[10, 100])
    refused = run_playbook(PLAYBOOK, env.sim, extra_vars=extra)
    assert refused.rc != 0
    assert failure(refused).startswith("Release reviews-v2 not started, no traffic moved: Cannot reach Prometheus")
    assert split(env, other) == {"v1": 100} and state_of(env, other) is None
    env.done(ns)
    env.done(other)


def test_resumed_after_the_process_is_killed_mid_run(env, tmp_path):
    ns = env.namespace(rate=120)
    inventory = write_inventory(tmp_path / "inventory.yml", [env.sim])
    analysis = dict(FAST, interval=3, window=3)
    extra = {"rel_action": "run", "rel_namespace": ns, "rel_canary": "v2", "rel_steps": [10, 30, 60, 100],
             "rel_analysis": analysis, "rel_prometheus": env.prometheus_options}
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", inventory, PLAYBOOK, "-e", json.dumps(extra)]
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO,
                            env=ansible_env(TMPDIR=str(tmpdir)))
    try:
        wait_until(lambda: (state_of(env, ns) or {}).get("step", 0) >= 1, timeout=60, message="the second step")
    finally:
        # Like a crashed AWX job: ansible-playbook, its workers and the module process all die at once.
        for pid in [proc.pid] + descendants(proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()
    killed_at = state_of(env, ns)
    assert killed_at["phase"] == "progressing" and 1 <= killed_at["step"] < 3
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=ansible_env(TMPDIR=str(tmpdir)),
                         timeout=120, check=False)
    assert run.returncode == 0, run.stdout[-3000:]
    state = state_of(env, ns)
    assert state["phase"] == "succeeded"
    events = [h["event"] for h in state["history"]]
    assert events.count("start") == 1, "the second run continued, it did not start over"
    assert events.count("advance") == 3 and events[-1] == "promote"
    weights = [h["weights"]["v2"] for h in state["history"] if h["event"] in ("start", "advance")]
    assert weights == [10, 30, 60, 100]
    env.done(ns)


def test_bad_input_is_refused_and_nothing_changes(env, run_playbook):
    ns = env.namespace(rate=0)
    # ratings is in the middle of another release.
    other = rl.new_release("ratings-v2", "ratings", ns, "v1", "v2", [10, 100],
                           ra.validate_analysis({"success_rate": 99}, prom.seconds), time.time())
    custom_objects(env.sim).patch_namespaced_custom_object(
        "networking.istio.io", "v1", ns, "virtualservices", "ratings",
        {"metadata": {"annotations": {rl.ANNOTATION: rl.dump(other)}}})
    env.sim.clear_request_log()
    cases = [
        (dict(canary="v2", steps=[10, 50, 25]), "The step plan must increase: step 3 (25%) is not more than step 2"),
        (dict(canary="v2", steps=[-10, 50]), "Step 1 of the plan is -10; it must be from 1 to 100"),
        (dict(canary="v2", steps=[10.5, 50]), "Step 1 of the plan is 10.5, not a whole number"),
        (dict(canary="v2", steps=[10, 100], analysis=dict(FAST, threshold=-1)),
         "analysis.threshold (failed analyses tolerated) is -1"),
        (dict(canary="v2", steps=[10, 100], analysis=dict(FAST, success_rate=101)),
         "analysis.success_rate (minimum success rate in %) is 101; it must be from 0 to 100"),
        (dict(canary="v9", steps=[10, 100]), "Subset v9 is not defined in DestinationRule %s/reviews" % ns),
        (dict(canary="v2", stable="v2", steps=[10, 100]), "stable and canary are both v2"),
        (dict(service="ratings", canary="v3", steps=[10, 100]),
         "The VirtualService of ratings is owned by another release, 'ratings-v2' (progressing, canary v2 at 10%"),
        (dict(service="nothere", canary="v2", steps=[10, 100]),
         "There is no VirtualService nothere in namespace %s. Deploy the application and its routing into namespace "
         "%s first" % (ns, ns)),
    ]
    runs = []
    for kwargs, _message in cases:
        runs.append(dict(kwargs, analysis=kwargs.get("analysis", FAST)))
    run, _result = release(run_playbook, env, ns, "start", runs=runs)
    assert run.rc != 0
    (task,) = run.results(TASK)
    for item, (_kwargs, message) in zip(task["results"], cases):
        assert item.get("failed"), item
        assert message in item["msg"], (message, item["msg"])
    assert "Traceback" not in run.stdout
    assert env.sim.writes() == []
    env.done(ns)


def test_check_mode_diff_and_manual_actions(env, run_playbook):
    ns = env.namespace(rate=50)
    extra = {"rel_action": "start", "rel_namespace": ns, "rel_canary": "v2", "rel_steps": [10, 50, 100],
             "rel_analysis": FAST, "rel_prometheus": env.prometheus_options}
    env.sim.clear_request_log()
    check = run_playbook(PLAYBOOK, env.sim, extra_vars=extra, check=True, diff=True)
    assert check.rc == 0, check
    (task,) = check.results(TASK)
    res = task["results"][0]
    assert res["changed"] and res["outcome"] == "started" and res["weights"] == {"v1": 90, "v2": 10}
    assert res["diff"] == {"before": {"weights": {"v1": 100}, "phase": None},
                           "after": {"weights": {"v1": 90, "v2": 10}, "phase": "progressing"}}
    assert env.sim.writes() == [] and any(r.dry_run for r in env.sim.request_log)
    assert state_of(env, ns) is None and split(env, ns) == {"v1": 100}

    steps = [{"action": "start"}, {"action": "start"}, {"action": "pause"}, {"action": "pause"},
             {"action": "status"}, {"action": "resume"}, {"action": "promote"}, {"action": "status"}]
    run = run_playbook(PLAYBOOK, env.sim, extra_vars=dict(extra, rel_runs=steps), diff=True)
    assert run.rc == 0, run
    (task,) = run.results(TASK)
    got = [(r["outcome"], r["changed"], r["phase"]) for r in task["results"]]
    assert got == [("started", True, "progressing"), ("unchanged", False, "progressing"),
                   ("paused", True, "paused"), ("unchanged", False, "paused"), ("status", False, "paused"),
                   ("resumed", True, "progressing"), ("promoted", True, "succeeded"), ("status", False, "succeeded")]
    assert task["results"][6]["weights"] == {"v2": 100}
    assert "Next: paused (Paused by request): action=resume to continue" in task["results"][4]["summary"]
    events = [h["event"] for h in state_of(env, ns)["history"]]
    assert events == ["start", "pause", "resume", "promote"]

    # An abort after the promotion has nothing to abort: refused with the way back, and nothing written.
    env.sim.clear_request_log()
    late = run_playbook(PLAYBOOK, env.sim, extra_vars=dict(extra, rel_runs=[{"action": "abort"}]))
    assert late.rc != 0
    assert any(m.startswith("Release reviews-v2 already finished: it succeeded") and "release v1 as a new release" in m
               for m in late.failed_msgs), late
    assert env.sim.writes() == [] and split(env, ns) == {"v2": 100}
    env.done(ns)


def test_a_conflicting_write_is_refused_without_changes(env, run_playbook):
    ns = env.namespace(rate=0)
    env.sim.inject_fault(method="PATCH", path=r"/namespaces/%s/virtualservices/reviews$" % ns, status=409,
                         message="the object has been modified; please apply your changes to the latest version")
    run, _result = release(run_playbook, env, ns, "start", canary="v2", steps=[10, 100], analysis=FAST)
    assert run.rc != 0
    assert failure(run).startswith("Conflict while trying to patch VirtualService %s/reviews (409)" % ns)
    assert state_of(env, ns) is None and split(env, ns) == {"v1": 100}
    env.sim.clear_faults()
    env.done(ns)


def test_five_step_release_with_zero_waits_is_measured(env, run_playbook):
    """Testers (end-user: jason) already reach v2, so the canary has metrics before it gets weight."""
    ns = env.namespace(rate=200, vs="virtual-service-reviews-test-v2.yaml", headers=[({"end-user": "jason"}, 0.2)])
    env.prometheus.wait_for('sum(increase(istio_requests_total{reporter="destination",destination_version="v2",'
                            'destination_workload_namespace="%s"}[10s])) > 150' % ns, timeout=30)
    analysis = {"interval": 0, "window": "10s", "success_rate": 99, "latency_p99": 500, "min_requests": 20,
                "threshold": 0}
    env.sim.clear_request_log()
    started = time.monotonic()
    run, res = release(run_playbook, env, ns, "run", canary="v2", steps=[20, 40, 60, 80, 100], analysis=analysis)
    wall = time.monotonic() - started
    assert run.rc == 0, run
    assert res["outcomes"] == ["started", "advanced", "advanced", "advanced", "advanced", "promoted"]
    # The header route to v2 is left alone; only the default route's weights moved.
    http = env.vs(ns)["spec"]["http"]
    assert http[0]["match"] == [{"headers": {"end-user": {"exact": "jason"}}}]
    assert http[1]["route"] == [{"destination": {"host": "reviews", "subset": "v2"}}]
    # Requests the module made to the API server (meshsim's polling lists are not the module's; this release has
    # no load generator, so the Job lists are meshsim's too); the Prometheus queries also go through the API
    # server (its service proxy) and are counted apart.
    queries = [r for r in env.sim.request_log if "/services/prometheus:9090/proxy/" in r.path]
    module_requests = [r for r in env.sim.request_log
                       if not (r.method == "GET" and r.path.endswith(("/virtualservices", "/destinationrules", "/jobs")))
                       and r not in queries]
    writes = [r for r in module_requests if r.method == "PATCH"]
    (task,) = run.results(TASK)
    duration = task.get("results", [task])[0]
    measurements = {
        "playbook_wall_seconds": round(wall, 2),
        "module_seconds": _task_seconds(run),
        "weight_changes": len(res["timings"]),
        "decided_to_written_ms": [t["decided_to_written_ms"] for t in res["timings"]],
        "analysis_ms": [t["analysis_ms"] for t in res["timings"] if "analysis_ms" in t],
        "api_requests_total": len(module_requests),
        "api_requests_per_weight_change": round(len(module_requests) / len(writes), 2),
        "api_requests": sorted(set("%s %s" % (r.method, r.path) for r in module_requests)),
        "prometheus_queries_through_api_server": len(queries),
    }
    assert duration["phase"] == "succeeded"
    assert len(writes) == 6, "one write per weight change"
    assert measurements["api_requests_per_weight_change"] <= 2
    assert len(queries) >= 5 and {r.status for r in queries} == {200}
    assert max(measurements["decided_to_written_ms"]) < 2000
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / "release_measurements.json").write_text(json.dumps(measurements, indent=2) + "\n")
    print("release measurements:", json.dumps(measurements))
    env.done(ns)


def _parse_time(stamp):
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _task_seconds(run):
    """Duration of the release task as ansible recorded it (module time, without playbook start-up)."""
    for play in run.data.get("plays", []):
        for task in play.get("tasks", []):
            if task["task"]["name"] == TASK:
                span = task["task"]["duration"]
                return round((_parse_time(span["end"]) - _parse_time(span["start"])).total_seconds(), 2)
    return None


TRAFFIC = str(REPO / "tests" / "integration" / "playbooks" / "istio_traffic.yml")


def test_seed_scenarios_move_the_simulated_traffic(env, run_playbook):
    """Seed 000 on Bookinfo, declared with istio_traffic, observed as traffic in meshsim."""
    ns = env.namespace(rate=0, vs=None)
    svc = env.mesh.service("%s/reviews" % ns)

    def declare(**step):
        run = run_playbook(TRAFFIC, env.sim, extra_vars={"traffic_steps": [dict(step, namespace=ns)]})
        assert run.rc == 0, run
        env.mesh.reload()
        with env.mesh._lock:
            served = [env.mesh.send(svc, headers={"end-user": "jason"} if i % 5 == 0 else {}) for i in range(2000)]
        shares = {}
        for version, _code, _ms in served:
            shares[version] = shares.get(version, 0) + 1 / len(served)
        return shares

    labels = {"v1": {"version": "v1"}, "v2": {"version": "v2"}, "v3": {"version": "v3"}}
    assert declare(subsets={"v1": 100}, subset_labels=labels) == {"v1": pytest.approx(1)}
    shares = declare(subsets={"v1": 90, "v2": 10})
    assert set(shares) == {"v1", "v2"} and shares["v2"] == pytest.approx(0.1, abs=0.025)
    assert declare(subsets={"v1": 0, "v2": 100}) == {"v2": pytest.approx(1)}
    shares = declare(subsets={"v2": 50, "v3": 50})
    assert shares["v3"] == pytest.approx(0.5, abs=0.04)
    # One request in five comes from jason: exactly those reach v2.
    shares = declare(subsets={"v3": 100}, match=[{"subset": "v2", "headers": {"end-user": {"exact": "jason"}}}])
    assert shares == {"v2": pytest.approx(0.2), "v3": pytest.approx(0.8)}
    v2_before = env.mesh.count("%s/reviews" % ns, "v2")
    shares = declare(subsets={"v1": 100}, mirror={"subset": "v2", "percent": 100})
    assert shares == {"v1": pytest.approx(1)}, "clients are answered by v1 only"
    assert env.mesh.count("%s/reviews" % ns, "v2") - v2_before == 2000, "v2 received a copy of every request"
    env.done(ns)


def test_prometheus_query_module(env, run_playbook):
    ns = env.namespace(rate=100, versions={"v1": {"error_rate": 0.25}, "v2": {}, "v3": {}})
    # rate() reads low until Prometheus holds samples over the whole 6s window, and the range query below
    # looks 10s back: wait until the rate has been near its true value for 10 of the last 12 seconds.
    env.prometheus.wait_for('count_over_time((sum(rate(istio_requests_total{reporter="destination",'
                            'destination_workload_namespace="%s"}[6s])) > 85)[12s:1s]) >= 10' % ns, timeout=60)
    token = "pq-token-8c1d"
    queries = [
        {"metric": "success_rate", "service": "reviews", "namespace": ns, "version": "v1", "window": "6s"},
        {"metric": "request_count", "service": "reviews", "namespace": ns, "version": "v2", "window": "6s"},
        {"query": 'sum by (destination_version) (rate(istio_requests_total{reporter="destination",'
                  'destination_workload_namespace="%s"}[6s]))' % ns},
        {"query": 'sum(rate(istio_requests_total{destination_workload_namespace="%s"}[6s]))' % ns,
         "start": "now-10s", "step": "2s"},
        {"metric": "latency_p99", "service": "reviews", "namespace": ns, "version": "v9", "window": "6s"},
        {"query": "sum(rate(istio_requests_total[6s]"},
        {"query": "up", "url": "http://127.0.0.1:9"},
    ]
    run = run_playbook(str(REPO / "tests" / "integration" / "playbooks" / "prometheus_query.yml"), env.sim,
                       extra_vars={"pq_url": env.prometheus.url, "pq_queries": queries, "pq_token": token},
                       check=True, verbosity=2)
    assert run.rc != 0
    (task,) = run.results("Query Prometheus")
    rate, count, by_version, matrix, empty, bad, down = task["results"]
    assert rate["result_type"] == "vector" and rate["value"] == pytest.approx(75, abs=8) and not rate["changed"]
    assert count["value"] == 0 and not count["empty"], "v2 has series but no requests: a count of 0, not empty"
    assert {r["metric"]["destination_version"]: r["value"] for r in by_version["result"]} == {
        "v1": pytest.approx(100, rel=0.35), "v2": 0, "v3": 0}
    assert by_version["value"] is None, "several series are not one value"
    assert matrix["result_type"] == "matrix" and len(matrix["result"][0]["values"]) >= 4
    assert empty["empty"] and empty["value"] is None and empty["result"] == []
    assert bad["failed"] and bad["msg"].startswith("Prometheus refused the query sum(rate(istio_requests_total[6s] (400)")
    assert down["failed"] and down["msg"].startswith("Cannot reach Prometheus at http://127.0.0.1:9")
    assert token not in run.stdout, "the bearer token is no_log"
    assert rate["invocation"]["module_args"]["bearer_token"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
    env.done(ns)
