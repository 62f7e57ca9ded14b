# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE)
"""Weighted releases: plans, the release state and the state machine. Pure functions and one table.

A release moves traffic of one host from a stable subset to a canary subset in steps. Between
steps an analysis judges the canary from Istio's metrics; a failed analysis is tolerated
``threshold`` times, then the release rolls back to 100% stable. The whole state lives in one
annotation on the VirtualService, so any later job - or a re-run after a crash - continues it.

Phases: progressing -> (paused <-> progressing) -> succeeded | failed | aborted. A step whose canary
gets too few requests to be judged holds in waiting-for-traffic (weights unchanged, no failed
analysis counted) until traffic comes or ``traffic_wait`` runs out.

TRANSITIONS (at the end) says what each action does in each phase; runner.Release carries it out.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime
import enum
import json

from ansible_collections.meshops.istio.plugins.module_utils import validation as val
from ansible_collections.meshops.istio.plugins.module_utils.release.analysis import (  # noqa: F401 (ReleaseError, DEFAULT_TRAFFIC_WAIT: also for callers)
    DEFAULT_TRAFFIC_WAIT,
    ReleaseError,
    failure_text,
    fmt,
    whole,
)

ANNOTATION = "meshops.istio/release"
STATE_VERSION = 1
PROGRESSING, PAUSED, SUCCEEDED, FAILED, ABORTED = "progressing", "paused", "succeeded", "failed", "aborted"
WAITING = "waiting-for-traffic"
ACTIVE = (PROGRESSING, PAUSED, WAITING)
# Phases in which the next analysis is due (a release waiting for traffic keeps analysing).
ANALYSING = (PROGRESSING, WAITING)
DONE = (SUCCEEDED, FAILED, ABORTED)
ACTIONS = ("start", "step", "run", "pause", "resume", "promote", "abort", "status")
HISTORY_LIMIT = 200
# While waiting, traffic is looked for at least this often apart (an interval of 0 would spin on Prometheus).
TRAFFIC_RECHECK = 2.0


class Outcome(str, enum.Enum):
    """What an action did to the release (the module's ``outcome``). A str, so it compares equal to its value."""

    STARTED = "started"
    ADVANCED = "advanced"
    HELD = "held"
    WAITING = "waiting"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    PAUSED = "paused"
    RESUMED = "resumed"
    ABORTED = "aborted"
    UNCHANGED = "unchanged"
    STATUS = "status"
    PENDING = "pending"

    def __str__(self):
        return self.value


# -- time ---------------------------------------------------------------------------------------

def iso(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def clock(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%H:%M:%S")


# -- input --------------------------------------------------------------------------------------

def plan_weights(steps=None, step_weight=None, max_weight=None):
    """The canary weights of a release, e.g. [10, 25, 50, 100].

    ``steps`` as given (strictly increasing, 1-100), or ``step_weight`` repeated up to
    ``max_weight`` (default 100), the last step being ``max_weight`` itself. After the last
    step passes its analysis the canary is promoted to 100%."""
    if steps and step_weight:
        raise ReleaseError("Give either steps (for example [10, 25, 50, 100]) or step_weight with max_weight, "
                           "not both.")
    if steps:
        if not isinstance(steps, (list, tuple)):
            raise ReleaseError("steps must be a list of canary weights, for example [10, 25, 50, 100]; got %r."
                               % (steps,))
        plan = [whole(w, "Step %d of the plan" % (i + 1), 1, 100) for i, w in enumerate(steps)]
        for i in range(1, len(plan)):
            if plan[i] <= plan[i - 1]:
                raise ReleaseError("The step plan must increase: step %d (%d%%) is not more than step %d (%d%%). "
                                   "Write the canary weights in increasing order, for example [10, 25, 50, 100]."
                                   % (i + 1, plan[i], i, plan[i - 1]))
        return plan
    if step_weight:
        step = whole(step_weight, "step_weight", 1, 100)
        top = whole(100 if max_weight is None else max_weight, "max_weight", 1, 100)
        if top < step:
            raise ReleaseError("max_weight (%d) is less than step_weight (%d): the canary would never get a step."
                               % (top, step))
        plan = list(range(step, top + 1, step))
        if plan[-1] != top:
            plan.append(top)
        return plan
    raise ReleaseError("A release needs a plan: steps (for example [10, 25, 50, 100]) or step_weight "
                       "(for example 20, with max_weight).")


def validate_name(name, what="release name"):
    # The name is a label value and part of object names, so it follows the DNS-1123 label rule.
    problem = val.label_problem(name, what)
    if problem:
        raise ReleaseError(problem)
    return name


# -- state --------------------------------------------------------------------------------------

def load(annotations):
    """The release state from the VirtualService's annotations, or None."""
    raw = (annotations or {}).get(ANNOTATION)
    if not raw:
        return None
    try:
        state = json.loads(raw)
    except ValueError:
        raise ReleaseError("The %s annotation on the VirtualService is not valid JSON (edited by hand?). Remove it "
                           "to forget the release: kubectl annotate virtualservice <name> %s-"
                           % (ANNOTATION, ANNOTATION)) from None
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        raise ReleaseError("The %s annotation holds a release state this version of meshops.istio cannot read; "
                           "finish that release with the version that started it, or remove the annotation."
                           % ANNOTATION)
    return state


def dump(state):
    state = copy.deepcopy(state)
    state["history"] = state["history"][-HISTORY_LIMIT:]
    return json.dumps(state, sort_keys=True, separators=(",", ":"))


def weights_at(state, canary_weight):
    return {state["stable"]: 100 - canary_weight, state["canary"]: canary_weight}


def canary_weight(state):
    return state["weights"].get(state["canary"], 0)


def _event(state, now, event, message, **extra):
    entry = dict(time=iso(now), ts=round(now, 3), event=event, weights=dict(state["weights"]), phase=state["phase"],
                 message=message)
    entry.update(extra)
    state["history"].append(entry)
    state["updated"] = iso(now)
    state["message"] = message


def new_release(name, host, namespace, stable, canary, plan, analysis, now):
    state = dict(version=STATE_VERSION, name=name, host=host, namespace=namespace, stable=stable, canary=canary,
                 plan=list(plan), step=0, phase=PROGRESSING, weights=weights_at(dict(stable=stable, canary=canary), plan[0]),
                 failed_checks=0, passed_checks=0, threshold=analysis["threshold"],
                 interval=analysis["interval"], analysis=copy.deepcopy(analysis), started=iso(now),
                 since=round(now, 3), last_analysis=None, history=[])
    _event(state, now, "start", "Started: %d%% of traffic to %s." % (plan[0], canary))
    return state


def check_owner(state, name):
    """ReleaseError when an active release other than ``name`` holds the VirtualService."""
    if state and state["phase"] in ACTIVE and state["name"] != name:
        raise ReleaseError(
            "The VirtualService of %s is owned by another release, %r (%s, canary %s at %d%%, started %s). "
            "Finish it first (action=promote or action=abort with name=%s), or use that name."
            % (state["host"], state["name"], state["phase"], state["canary"], canary_weight(state), state["started"],
               state["name"]))


def check_same(state, stable, canary, plan):
    """ReleaseError when an active release is asked to continue with different subsets or plan."""
    differences = []
    if state["stable"] != stable:
        differences.append("stable %s, not %s" % (state["stable"], stable))
    if state["canary"] != canary:
        differences.append("canary %s, not %s" % (state["canary"], canary))
    if plan is not None and list(state["plan"]) != list(plan):
        differences.append("plan %s, not %s" % (state["plan"], list(plan)))
    if differences:
        raise ReleaseError("Release %r is already %s with %s. Abort it first to change the release, or run it "
                           "with the settings it started with." % (state["name"], state["phase"], "; ".join(differences)))


def analysis_due(state, now):
    """Seconds to wait before the canary's current weight has been observed for a full interval."""
    wait = max(state["interval"], TRAFFIC_RECHECK) if state["phase"] == WAITING else state["interval"]
    return max(0.0, state["since"] + wait - now)


def after_analysis(state, result, measured, now):
    """Apply an analysis result. Returns (state, outcome) with outcome advanced|promoted|held|rolled_back."""
    state = copy.deepcopy(state)
    state["last_analysis"] = dict(time=iso(now), passed=result["passed"], status=result["status"],
                                  values=dict((c["name"], c["value"]) for c in result["checks"]),
                                  text="; ".join(c["text"] + ("" if c["passed"] else " FAILED") for c in result["checks"]))
    record = dict(passed=result["passed"], status=result["status"], values=state["last_analysis"]["values"])
    if result.get("compared"):
        record["compared"] = result["compared"]
    if result["status"] == "no_traffic":
        return _silence(state, result, measured, record, now)
    _traffic_came(state, now)
    if result["passed"]:
        state["passed_checks"] += 1
        _event(state, now, "analysis", "Analysis passed at %d%%: %s." % (canary_weight(state), state["last_analysis"]["text"]),
               **record)
        if state["step"] + 1 < len(state["plan"]):
            state["step"] += 1
            weight = state["plan"][state["step"]]
            state["weights"] = weights_at(state, weight)
            state["since"] = round(now, 3)
            _event(state, now, "advance", "Step %d/%d: %d%% of traffic to %s." % (state["step"] + 1, len(state["plan"]),
                                                                                  weight, state["canary"]))
            return state, Outcome.ADVANCED
        return promote(state, now, "The last step passed its analysis"), Outcome.PROMOTED
    state["failed_checks"] += 1
    _event(state, now, "analysis", "Analysis %s at %d%%: %s (%d of %d tolerated)." % (
        "found no traffic" if result["status"] == "no_traffic" else "failed", canary_weight(state),
        failure_text(result), state["failed_checks"], state["threshold"]), **record)
    if state["failed_checks"] > state["threshold"]:
        return rollback(state, now, result), Outcome.ROLLED_BACK
    # The next analysis looks at a fresh window of the same weights.
    state["since"] = round(now, 3)
    return state, Outcome.HELD


def span(secs):
    """'45s', '10m', '1h30m' for a number of seconds."""
    secs = int(round(secs))
    if secs < 60:
        return "%ds" % secs
    text = "".join("%d%s" % (n, unit) for n, unit in ((secs // 3600, "h"), (secs // 60 % 60, "m"), (secs % 60, "s")) if n)
    return text


def _silence(state, result, measured, record, now):
    """Too few requests to judge the canary. Silence says nothing about its health, so the step holds - weights
    unchanged, no failed analysis counted - until traffic comes; after analysis.traffic_wait the release fails
    (rolled back: a canary that cannot be judged must not keep a share of the traffic unwatched)."""
    limit = state["analysis"].get("traffic_wait", DEFAULT_TRAFFIC_WAIT)
    if state["phase"] != WAITING:
        state["phase"] = WAITING
        state["waiting_since"] = round(now, 3)
    # The stored start is rounded to the millisecond: never let that make the first look "before" it.
    waited = max(0.0, now - state["waiting_since"])
    requests = measured.get("requests")
    seen = "%s requests" % fmt(requests) if requests is not None else "no requests"
    need = (" (min %d)" % state["analysis"]["min_requests"]) if state["analysis"]["min_requests"] else ""
    window = span(state["analysis"]["window"])
    if waited >= limit:
        at = canary_weight(state)
        state.pop("waiting_since", None)
        state["phase"] = FAILED
        state["weights"] = weights_at(state, 0)
        state["since"] = round(now, 3)
        _event(state, now, "rollback", "Rolled back to 100%% %s: at %d%% the canary had too few requests to be judged "
               "for %s, and analysis.traffic_wait is %s (the last analysis saw %s%s in its %s window)." % (
                   state["stable"], at, span(waited), span(limit), seen, need, window), reason="no_traffic", **record)
        return state, Outcome.ROLLED_BACK
    text = ("Waiting for traffic at %d%%: %s%s in the last %s, too few to judge %s; weights unchanged, no failed "
            "analysis counted; the release fails if none comes within %s (analysis.traffic_wait)." % (
                canary_weight(state), seen, need, window, state["canary"], span(limit)))
    last = state["history"][-1] if state["history"] else {}
    if last.get("phase") == WAITING and last.get("status") == "no_traffic":
        # One entry per quiet spell, not per look: the history keeps its room for what changed.
        last.update(looks=last.get("looks", 1) + 1, values=record["values"])
        state["updated"], state["message"] = iso(now), text
    else:
        # An analysis entry (phase waiting-for-traffic): the report marks it as "no traffic".
        _event(state, now, "analysis", text, **record)
    # The next look judges the traffic seen from now on.
    state["since"] = round(now, 3)
    return state, Outcome.WAITING


def _traffic_came(state, now):
    """The canary has enough requests again: a waiting step goes on being judged as usual."""
    if state["phase"] != WAITING:
        return
    waited = now - state.pop("waiting_since", now)
    state["phase"] = PROGRESSING
    _event(state, now, "traffic", "Traffic came after %s of waiting at %d%%." % (span(waited), canary_weight(state)))


def rollback(state, now, result):
    state = copy.deepcopy(state)
    state["phase"] = FAILED
    state["weights"] = weights_at(state, 0)
    state["since"] = round(now, 3)
    _event(state, now, "rollback", "Rolled back to 100%% %s: %s, failed analyses %d > threshold %d." % (
        state["stable"], failure_text(result), state["failed_checks"], state["threshold"]))
    return state


def promote(state, now, why="Promoted by request"):
    state = copy.deepcopy(state)
    state["phase"] = SUCCEEDED
    state["weights"] = {state["canary"]: 100, state["stable"]: 0}
    state["since"] = round(now, 3)
    state["promoted"] = iso(now)
    _event(state, now, "promote", "%s: 100%% of traffic to %s, which is now the stable version." % (why, state["canary"]))
    return state


def abort(state, now, why="Aborted by request"):
    state = copy.deepcopy(state)
    state["phase"] = ABORTED
    state["weights"] = weights_at(state, 0)
    state["since"] = round(now, 3)
    _event(state, now, "abort", "%s: 100%% of traffic back to %s." % (why, state["stable"]))
    return state


def pause(state, now, why="Paused by request"):
    state = copy.deepcopy(state)
    state["phase"] = PAUSED
    state["paused_reason"] = why
    _event(state, now, "pause", "%s; weights unchanged (%s)." % (why, split_text(state["weights"])))
    return state


def resume(state, now):
    state = copy.deepcopy(state)
    state["phase"] = PROGRESSING
    state.pop("paused_reason", None)
    state.pop("waiting_since", None)
    # Judge the canary on traffic seen after the pause, not on the window that made us pause.
    state["since"] = round(now, 3)
    _event(state, now, "resume", "Resumed at %d%% to %s." % (canary_weight(state), state["canary"]))
    return state


# -- words --------------------------------------------------------------------------------------

def split_text(weights):
    return " / ".join("%s %d%%" % (s, w) for s, w in sorted(weights.items(), key=lambda kv: -kv[1]) if w) or "nothing"


def next_text(state, now):
    phase = state["phase"]
    if phase == PROGRESSING:
        due = analysis_due(state, now)
        at = "now" if due <= 0 else "in %ds (at %s)" % (round(due), clock(now + due))
        if state["step"] + 1 < len(state["plan"]):
            return "analysis %s; if it passes, %d%% to %s." % (at, state["plan"][state["step"] + 1], state["canary"])
        return "analysis %s; if it passes, promote %s to 100%%." % (at, state["canary"])
    if phase == WAITING:
        due = analysis_due(state, now)
        limit = state["analysis"].get("traffic_wait", DEFAULT_TRAFFIC_WAIT)
        again = "now" if due <= 0 else "in %ds" % round(due)
        return ("waiting for traffic since %s: looking again %s; the release fails at %s (analysis.traffic_wait %s) "
                "if too few requests come." % (clock(state["waiting_since"]), again, clock(state["waiting_since"] + limit),
                                               span(limit)))
    if phase == PAUSED:
        return "paused (%s): action=resume to continue, promote or abort." % state.get("paused_reason", "")
    return "nothing: the release is %s." % phase


def summary(state, now):
    """What an operator wants to read after any action: where the release stands and what comes next."""
    if state is None:
        return "No release on this VirtualService."
    lines = ["Release %s of %s.%s: %s, step %d/%d - %s." % (
        state["name"], state["host"], state["namespace"], state["phase"], state["step"] + 1, len(state["plan"]),
        split_text(state["weights"]))]
    last = state.get("last_analysis")
    if last:
        lines.append("Last analysis (%s): %s." % (last["time"], last["text"]))
    lines.append("Failed analyses: %d of %d tolerated; passed: %d."
                 % (state["failed_checks"], state["threshold"], state["passed_checks"]))
    lines.append("Next: %s" % next_text(state, now))
    return "\n".join(lines)


# -- the machine --------------------------------------------------------------------------------
# Each transition gets the runner (``run``: reads, writes and analyses against the cluster, see runner.Release)
# and the state of the task's release (None when no release of that name holds the routing). It records its
# outcome through the runner; one that records none leaves the release as it is (outcome unchanged).

def _start(run, mine):
    run.start()


def _start_and_run(run, mine):
    run.start()
    run.run_all()


def _same(run, mine):
    run.check_same(mine)


def _same_and_run(run, mine):
    run.check_same(mine)
    run.run_all()


def _analyse(run, mine):
    run.analyse_and_decide()


def _pause(run, mine):
    run.change(pause, mine, Outcome.PAUSED)


def _resume(run, mine):
    run.change(resume, mine, Outcome.RESUMED)


def _promote(run, mine):
    run.change(promote, mine, Outcome.PROMOTED)


def _abort(run, mine):
    run.change(abort, mine, Outcome.ABORTED)


def _status(run, mine):
    run.record(Outcome.STATUS)


def _unchanged(run, mine):
    pass


def _no_release(run, mine):
    raise ReleaseError("There is no release %r on %s to %s; start it first (action=start or run)."
                       % (run.name, run.where, run.action))


def _refuse_step(run, mine):
    raise ReleaseError("Release %s is paused (%s); run action=resume first." % (mine["name"], mine.get("paused_reason")))


def _refuse_promote(run, mine):
    raise ReleaseError("Release %s was %s; it cannot be promoted. Start a new release instead."
                       % (mine["name"], mine["phase"]))


def _refuse_abort(run, mine):
    # Nothing is left to abort: going back is a release of its own, gated like any other.
    raise ReleaseError(
        "Release %s already finished: it succeeded%s, and %s is now the stable version with 100%% of the "
        "traffic, so there is nothing to abort. To send the traffic back to %s, release %s as a new "
        "release: action=run with canary=%s (with the release role: playbooks/release.yml -e "
        "release_canary_version=%s; release_steps=100 moves it in one analysed step)."
        % (mine["name"], " at %s" % mine["promoted"] if mine.get("promoted") else "", mine["canary"],
           mine["stable"], mine["stable"], mine["stable"], mine["stable"]))


NO_RELEASE = None
PHASES = (NO_RELEASE, PROGRESSING, WAITING, PAUSED, SUCCEEDED, FAILED, ABORTED)
# One row per action, one column per phase of PHASES; "-" leaves the release as it is.
_TABLE = """
action   no-release     progressing    waiting        paused         succeeded      failed          aborted
start    start          same           same           same           -              start           start
run      start+run      same+run       same+run       same+run       -              start+run       start+run
step     no-release     analyse        analyse        refuse-step    -              -               -
pause    no-release     pause          pause          -              -              -               -
resume   no-release     -              -              resume         -              -               -
promote  no-release     promote        promote        promote        -              refuse-promote  refuse-promote
abort    no-release     abort          abort          abort          refuse-abort   -               -
status   status         status         status         status         status         status          status
"""
_CELLS = {"start": _start, "start+run": _start_and_run, "same": _same, "same+run": _same_and_run,
          "analyse": _analyse, "pause": _pause, "resume": _resume, "promote": _promote, "abort": _abort,
          "status": _status, "-": _unchanged, "no-release": _no_release, "refuse-step": _refuse_step,
          "refuse-promote": _refuse_promote, "refuse-abort": _refuse_abort}
# TRANSITIONS[(phase, action)] -> transition(run, mine)
TRANSITIONS = dict(((phase, row.split()[0]), _CELLS[cell])
                   for row in _TABLE.strip().splitlines()[1:] for phase, cell in zip(PHASES, row.split()[1:]))


def transition(phase, action):
    """The transition for ``action`` on a release in ``phase`` (NO_RELEASE: none of the task's name)."""
    try:
        return TRANSITIONS[(phase, action)]
    except KeyError:
        raise ReleaseError("The release state has phase %r, which this version of meshops.istio does not know; "
                           "finish the release with the version that started it, or remove the %s annotation."
                           % (phase, ANNOTATION)) from None
