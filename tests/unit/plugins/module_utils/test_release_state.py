"""release/state.py's TRANSITIONS: what each action does in each phase, run against a recording runner."""

import pytest

from ansible_collections.meshops.istio.plugins.module_utils.release import state as rl
from ansible_collections.meshops.istio.plugins.module_utils.release.state import Outcome


class Recorder:
    """Stands in for runner.Release: records which of its calls a transition makes."""

    name, where = "reviews-v2", "VirtualService bookinfo/reviews"

    def __init__(self, action):
        self.action = action
        self.calls = []

    def start(self):
        self.calls.append("start")

    def run_all(self):
        self.calls.append("run_all")

    def check_same(self, mine):
        self.calls.append("check_same")

    def analyse_and_decide(self):
        self.calls.append("analyse")

    def change(self, new_state, mine, outcome):
        after = new_state(mine, 1767261600.0)
        self.calls.append((outcome, after["phase"], after["weights"]))

    def record(self, outcome):
        self.calls.append(outcome)


def release(phase):
    state = rl.new_release("reviews-v2", "reviews", "bookinfo", "v1", "v2", [10, 50, 100],
                           dict(threshold=1, interval=60.0), 1767261000.0)
    state["phase"] = phase
    return state


def calls(phase, action):
    run = Recorder(action)
    rl.transition(phase, action)(run, None if phase is rl.NO_RELEASE else release(phase))
    return run.calls


def test_every_action_has_a_transition_in_every_phase():
    assert set(rl.TRANSITIONS) == set((p, a) for p in rl.PHASES for a in rl.ACTIONS)
    assert len(rl.TRANSITIONS) == 7 * 8


@pytest.mark.parametrize("phase", [rl.NO_RELEASE, rl.FAILED, rl.ABORTED])
def test_start_and_run_begin_a_new_release_where_none_is_active(phase):
    assert calls(phase, "start") == ["start"]
    assert calls(phase, "run") == ["start", "run_all"]


@pytest.mark.parametrize("phase", rl.ACTIVE)
def test_start_and_run_continue_an_active_release_with_the_same_settings(phase):
    assert calls(phase, "start") == ["check_same"]
    assert calls(phase, "run") == ["check_same", "run_all"]


def test_a_succeeded_release_is_left_as_it_is():
    for action in ("start", "run", "step", "pause", "resume", "promote"):
        assert calls(rl.SUCCEEDED, action) == [], action


@pytest.mark.parametrize("phase", rl.ANALYSING)
def test_step_analyses_and_pause_pauses_an_analysing_release(phase):
    assert calls(phase, "step") == ["analyse"]
    assert calls(phase, "pause") == [(Outcome.PAUSED, rl.PAUSED, {"v1": 90, "v2": 10})]
    assert calls(phase, "resume") == []


def test_a_paused_release_resumes_and_refuses_to_step():
    assert calls(rl.PAUSED, "resume") == [(Outcome.RESUMED, rl.PROGRESSING, {"v1": 90, "v2": 10})]
    assert calls(rl.PAUSED, "pause") == []
    with pytest.raises(rl.ReleaseError, match="is paused .*run action=resume first"):
        calls(rl.PAUSED, "step")


@pytest.mark.parametrize("phase", rl.ACTIVE)
def test_promote_and_abort_move_all_traffic_at_once(phase):
    assert calls(phase, "promote") == [(Outcome.PROMOTED, rl.SUCCEEDED, {"v1": 0, "v2": 100})]
    assert calls(phase, "abort") == [(Outcome.ABORTED, rl.ABORTED, {"v1": 100, "v2": 0})]


@pytest.mark.parametrize("phase", [rl.FAILED, rl.ABORTED])
def test_a_failed_or_aborted_release_cannot_be_promoted(phase):
    with pytest.raises(rl.ReleaseError, match="was %s; it cannot be promoted" % phase):
        calls(phase, "promote")
    assert calls(phase, "abort") == []


def test_a_succeeded_release_cannot_be_aborted():
    with pytest.raises(rl.ReleaseError, match="already finished: it succeeded.*canary=v1"):
        calls(rl.SUCCEEDED, "abort")


@pytest.mark.parametrize("action", ["step", "pause", "resume", "promote", "abort"])
def test_without_a_release_only_start_and_run_act(action):
    with pytest.raises(rl.ReleaseError) as e:
        calls(rl.NO_RELEASE, action)
    assert str(e.value) == ("There is no release 'reviews-v2' on VirtualService bookinfo/reviews to %s; start it "
                            "first (action=start or run)." % action)


@pytest.mark.parametrize("phase", rl.PHASES)
def test_status_reports_in_every_phase(phase):
    assert calls(phase, "status") == [Outcome.STATUS]


def test_an_unknown_phase_is_a_clear_error():
    with pytest.raises(rl.ReleaseError, match="phase 'rolling', which this version of meshops.istio does not know"):
        rl.transition("rolling", "step")


def test_outcomes_are_typed_and_written_as_their_values():
    state, outcome = rl.after_analysis(release(rl.PROGRESSING), dict(passed=True, status="passed", checks=[]), {},
                                       1767261100.0)
    assert outcome is Outcome.ADVANCED and outcome == "advanced" and str(outcome) == "advanced"
    assert state["weights"] == {"v1": 50, "v2": 50}
    check = dict(name="success_rate", value=60.0, passed=False, text="success_rate 60%")
    failed = dict(passed=False, status="failed", checks=[check])
    outcomes = set()
    state = release(rl.PROGRESSING)
    for now in (1767261100.0, 1767261200.0, 1767261300.0):
        state, outcome = rl.after_analysis(state, failed, {}, now)
        outcomes.add(type(outcome))
    assert outcome is Outcome.ROLLED_BACK and outcomes == {Outcome}
