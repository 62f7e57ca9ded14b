"""The release role and playbooks (release.yml, promote.yml, rollback.yml) with AWX-survey-style variables,
against kubesim + meshsim + a real Prometheus."""
import pytest

from ansible_collections.meshops.istio.plugins.module_utils.release import state as rl
from ansible_collections.meshops.istio.plugins.module_utils import routing as rt
from tests.conftest import run_cases
from tests.integration.apps_support import install_minimal_istio
from tests.integration.release_env import ReleaseEnv

ROLE = "meshops.istio.release : "
ACT = ROLE + "Act on the release of the service"


@pytest.fixture(scope="module")
def env(kubesim_istio_module):
    env = ReleaseEnv(kubesim_istio_module)
    env.prometheus.wait_scraped(4)
    yield env
    env.stop()


def survey(env, ns, **answers):
    """Extra vars as an AWX survey sends them: strings and integers."""
    # No release_prometheus_url: the role's default, Prometheus through the API server's service proxy.
    extra = {"release_namespace": ns, "release_interval": 3,
             "release_window": "3s", "release_steps": "25,100", "release_success_rate": 99,
             "release_latency_p99": 500, "release_min_requests": 5, "release_threshold": 0}
    extra.update(answers)
    return extra


def split(env, ns):
    return rt.current_split(env.vs(ns), "reviews", ns)


def test_release_playbook_check_run_rerun(env, run_playbook, tmp_path):
    ns = env.namespace(rate=100)
    extra = survey(env, ns, release_report_dir=str(tmp_path / "artifacts"))
    env.sim.clear_request_log()
    check = run_playbook("release.yml", env.sim, extra_vars=extra, check=True)
    assert check.rc == 0, check
    (res,) = check.results(ACT)
    assert res["changed"] and res["outcomes"] == ["started"]
    assert env.sim.writes() == [] and split(env, ns) == {"v1": 100}
    assert not (tmp_path / "artifacts").exists(), "check mode writes no report"

    run = run_playbook("release.yml", env.sim, extra_vars=extra)
    assert run.rc == 0, run
    (res,) = run.results(ACT)
    assert res["outcomes"] == ["started", "advanced", "promoted"]
    assert split(env, ns) == {"v2": 100}
    (shown,) = run.results(ROLE + "Show the release summary")
    assert shown["msg"][0] == "Release reviews-v2 of reviews.%s: succeeded, step 2/2 - v2 100%%." % ns
    assert (tmp_path / "artifacts" / "reviews-v2.md").exists() and (tmp_path / "artifacts" / "reviews-v2.svg").exists()

    again = run_playbook("release.yml", env.sim, extra_vars=extra)
    assert again.rc == 0 and again.changed == 0, again
    env.done(ns)


def test_rollback_and_promote_playbooks(env, run_playbook):
    ns = env.namespace(rate=50)
    start = run_playbook("release.yml", env.sim,
                         extra_vars=survey(env, ns, release_action="start", release_canary_version="v3"))
    assert start.rc == 0, start
    assert split(env, ns) == {"v1": 75, "v3": 25}
    back = run_playbook("rollback.yml", env.sim, extra_vars={"release_namespace": ns})
    assert back.rc == 0, back
    assert split(env, ns) == {"v1": 100}
    assert rl.load(env.vs(ns)["metadata"]["annotations"])["phase"] == "aborted"

    start = run_playbook("release.yml", env.sim, extra_vars=survey(env, ns, release_action="start"))
    assert start.rc == 0, start
    forward = run_playbook("promote.yml", env.sim, extra_vars={"release_namespace": ns})
    assert forward.rc == 0, forward
    assert split(env, ns) == {"v2": 100}
    state = rl.load(env.vs(ns)["metadata"]["annotations"])
    assert (state["name"], state["phase"]) == ("reviews-v2", "succeeded")
    again = run_playbook("promote.yml", env.sim, extra_vars={"release_namespace": ns})
    assert again.rc == 0 and again.changed == 0, again
    env.done(ns)


def test_failed_release_fails_the_job_and_publishes_the_summary(env, run_playbook):
    ns = env.namespace(rate=100, versions={"v1": {}, "v2": {"error_rate": 0.5}, "v3": {}})
    token = "tok-SECRET-5f3a9"
    # A token only applies to a Prometheus URL (through the API server, the play's credentials are used).
    run = run_playbook("release.yml", env.sim, extra_vars=survey(env, ns, release_prometheus_token=token,
                                                                 release_prometheus_url=env.prometheus.url),
                       env={"ANSIBLE_SHOW_CUSTOM_STATS": "1"}, verbosity=2)
    assert token not in run.stdout and token not in run.stderr, "the Prometheus token is never shown"
    assert run.rc != 0
    assert run.failed_msgs[-1].startswith("Release reviews-v2 rolled back to 100% v1: the analysis at 25% failed")
    assert run.results(ROLE + "Publish the failed release for AWX")
    # What AWX shows as the job's artifacts (set_stats, per_host: false).
    published = run.data["global_custom_stats"]
    assert published["release_phase"] == "failed" and published["release_weights"] == {"v1": 100}
    assert published["release_summary"].startswith("Release reviews-v2 of reviews.%s: failed" % ns)
    assert split(env, ns) == {"v1": 100}
    env.done(ns)


BAD_SURVEY = [
    ({"release_steps": "50,10"}, "release_steps=50,10, release_step_weight=0, release_max_weight=100: "
                                 "The step plan must increase: step 2 (10%) is not more than step 1 (50%)"),
    ({"release_step_weight": 30, "release_max_weight": 20}, "max_weight (20) is less than step_weight (30)"),
    ({"release_threshold": 500}, "release_threshold=500 (failed analyses tolerated, 0-100)"),
    ({"release_prometheus_url": "prometheus:9090"}, "set release_prometheus_url to the Prometheus"),
    ({"release_action": "launch"}, "release_action"),
    ({"release_compare_latency_p99_ratio": "fast"}, "release_compare_latency_p99_ratio=fast: give each as a number"),
]


@pytest.fixture(scope="module")
def bad_survey_run(env, tmp_path_factory):
    """All of BAD_SURVEY in one release.yml run, each case a host of its own on the same cluster (all in one
    batch: release_serial), its answers as the host's variables; the writes of the whole run."""
    ns = env.namespaces[0] if env.namespaces else env.namespace(rate=0)
    env.sim.clear_request_log()
    run = run_cases(tmp_path_factory.mktemp("bad-survey"), "release.yml", env.sim,
                    {"case%d" % i: survey(env, ns, **answers) for i, (answers, _message) in enumerate(BAD_SURVEY)},
                    extra_vars={"release_serial": len(BAD_SURVEY)})
    return run, env.sim.writes()


@pytest.mark.parametrize("answers,message", BAD_SURVEY)
def test_bad_survey_answers_stop_before_anything_changes(bad_survey_run, answers, message):
    run, written = bad_survey_run
    case = "case%d" % BAD_SURVEY.index((answers, message))
    assert run.rc != 0 and run.stats[case]["failures"] == 1, run
    assert any(message in m for m in run.failed_msgs_of(case)), run.failed_msgs_of(case)
    assert written == []


def test_canary_after_the_bookinfo_role(env, run_playbook):
    """What site.yml ends with: Bookinfo deployed by its role, then a short canary of reviews v2."""
    install_minimal_istio(env.sim)
    deployed = run_playbook("bookinfo.yml", env.sim, extra_vars={"bookinfo_namespace": "shop"})
    assert deployed.rc == 0, deployed
    assert split(env, "shop") == {"v1": 100}
    env.mesh.add_service("reviews", "shop", rate=100, versions=["v1", "v2", "v3"], source_workload="productpage-v1")
    run = run_playbook("release.yml", env.sim, extra_vars=survey(env, "shop", release_steps="50,100"))
    assert run.rc == 0, run
    (res,) = run.results(ACT)
    assert res["outcomes"] == ["started", "advanced", "promoted"] and split(env, "shop") == {"v2": 100}
    # Bookinfo's role run again leaves the released route alone, and so does the release.
    again = run_playbook("bookinfo.yml", env.sim, extra_vars={"bookinfo_namespace": "shop"})
    assert again.rc == 0 and split(env, "shop") == {"v2": 100}, again
    env.mesh.remove_service("shop/reviews")


def test_bookinfo_then_release_with_the_default_namespace(env, run_playbook):
    """The documented path with the defaults: bookinfo.yml deploys where release.yml looks (issue 15, item 1)."""
    install_minimal_istio(env.sim)    # the module's cluster may have it already
    deployed = run_playbook("bookinfo.yml", env.sim)
    assert deployed.rc == 0, deployed
    assert split(env, "default") == {"v1": 100}
    env.mesh.add_service("reviews", "default", rate=100, versions=["v1", "v2", "v3"], source_workload="productpage-v1")
    # Only what has no usable default here: a short interval for the test, and a direct Prometheus URL (the
    # other tests take the default, through the API server).
    run = run_playbook("release.yml", env.sim, extra_vars={
        "release_prometheus_url": env.prometheus.url, "release_interval": 3, "release_window": "3s",
        "release_steps": "50,100", "release_min_requests": 5})
    assert run.rc == 0, run
    (res,) = run.results(ACT)
    assert res["outcomes"] == ["started", "advanced", "promoted"] and split(env, "default") == {"v2": 100}
    env.mesh.remove_service("default/reviews")

    # A namespace without the application: the message names it, the variable that chose it, and where it is.
    env.sim.clear_request_log()
    missing = run_playbook("release.yml", env.sim, extra_vars=survey(env, "bookinfo"))
    assert missing.rc != 0
    msg = missing.failed_msgs[-1]
    assert msg.startswith("There is no VirtualService reviews in namespace bookinfo, the namespace release_namespace "
                          "chose (it does not exist). VirtualService reviews is in namespace "), msg
    assert "default" in msg.split(" is in namespace ")[1].split(".")[0].split(", ")
    assert ("Deploy the application into bookinfo first (Bookinfo: playbooks/bookinfo.yml -e bookinfo_namespace="
            "bookinfo), or point release_namespace at the namespace where it runs") in msg
    assert "istio_traffic" not in msg
    assert env.sim.writes() == []


def test_rollback_after_a_finished_release_says_what_to_do(env, run_playbook):
    """rollback.yml once the release succeeded: nothing to abort, and the advice given works (issue 15, item 2)."""
    ns = env.namespace(rate=100)
    done = run_playbook("release.yml", env.sim, extra_vars=survey(env, ns))
    assert done.rc == 0 and split(env, ns) == {"v2": 100}, done
    promoted = rl.load(env.vs(ns)["metadata"]["annotations"])["promoted"]

    env.sim.clear_request_log()
    back = run_playbook("rollback.yml", env.sim, extra_vars={"release_namespace": ns})
    assert back.rc != 0
    assert back.failed_msgs[-1] == (
        "Release reviews-v2 already finished: it succeeded at %s, and v2 is now the stable version with 100%% of the "
        "traffic, so there is nothing to abort. To send the traffic back to v1, release v1 as a new release: "
        "action=run with canary=v1 (with the release role: playbooks/release.yml -e release_canary_version=v1; "
        "release_steps=100 moves it in one analysed step)." % promoted)
    assert env.sim.writes() == [] and split(env, ns) == {"v2": 100}

    # The advice, followed.
    again = run_playbook("release.yml", env.sim, extra_vars=survey(env, ns, release_canary_version="v1",
                                                                  release_steps="100"))
    assert again.rc == 0, again
    assert split(env, ns) == {"v1": 100}
    state = rl.load(env.vs(ns)["metadata"]["annotations"])
    assert (state["name"], state["stable"], state["phase"]) == ("reviews-v1", "v2", "succeeded")
    env.done(ns)


def test_release_role_brings_its_own_load_to_a_quiet_service(env, run_playbook):
    """release_load_* and release_traffic_wait reach the module: a quiet service gets its requests from fortio Jobs,
    which are gone at the end; without load the same release waits for traffic, then fails on the limit."""
    ns = env.namespace(rate=0)
    extra = survey(env, ns, release_load_rate="30", release_load_connections=3, release_load_duration="40s",
                   release_traffic_wait="20s")
    run = run_playbook("release.yml", env.sim, extra_vars=extra)
    assert run.rc == 0, run
    (res,) = run.results(ACT)
    assert res["outcomes"] == ["started", "advanced", "promoted"] and split(env, ns) == {"v2": 100}
    assert [a["action"] for a in res["load_jobs"]] == ["created", "deleted", "created", "deleted"]
    assert res["release"]["load"]["connections"] == 3 and res["release"]["load"]["duration"] == 40
    assert res["release"]["analysis"]["traffic_wait"] == 20
    assert env.sim.list_objects("batch/v1", "Job", ns) == []
    env.done(ns)

    quiet = env.namespace(rate=0)
    failed = run_playbook("release.yml", env.sim, extra_vars=survey(env, quiet, release_traffic_wait=0))
    assert failed.rc != 0
    assert any("the canary had too few requests to be judged for 0s, and analysis.traffic_wait is 0s" in m
               for m in failed.failed_msgs), failed.failed_msgs
    assert split(env, quiet) == {"v1": 100}
    env.done(quiet)


def test_release_role_compares_with_stable_from_survey_numbers(env, run_playbook):
    """The comparison and the judge's confidence as an AWX survey gives them (text and a float), merged into
    release_compare/release_judge: the module judges the canary against the stable version with them."""
    ns = env.namespace(rate=100)
    extra = survey(env, ns, release_interval=10, release_window="10s", release_steps="50,100",
                   release_compare_success_rate_drop="1", release_compare_latency_p99_ratio=" 1.5 ",
                   release_judge_confidence=0.9, release_judge={"sample_interval": "2s"})
    run = run_playbook("release.yml", env.sim, extra_vars=extra)
    assert run.rc == 0, run
    (res,) = run.results(ACT)
    assert res["outcomes"] == ["started", "advanced", "promoted"] and split(env, ns) == {"v2": 100}
    analysis = res["release"]["analysis"]
    assert analysis["compare"] == {"success_rate_drop": 1.0, "latency_p99_ratio": 1.5}, analysis
    assert (analysis["judge"]["test"], analysis["judge"]["confidence"], analysis["judge"]["sample_interval"]) == (
        "mann-whitney", 0.9, 2.0), analysis
    judged = [h["compared"] for h in res["release"]["history"] if h.get("compared")]
    assert judged and judged[0]["judge"]["verdict"] == "canary not worse", judged
    env.done(ns)
