# Copyright: meshops.istio contributors
# Apache License 2.0 (see LICENSE)
"""Weight plans of releases, for roles that check or show a plan before they run it."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.meshops.istio.plugins.module_utils.release import state as rl


def _plan(steps, step_weight, max_weight):
    if isinstance(steps, str):
        steps = [s.strip() for s in steps.split(",") if s.strip()]
    try:
        step_weight = int(step_weight or 0)
    except (TypeError, ValueError):
        raise rl.ReleaseError("step_weight is %r, not a whole number (0 uses the steps)." % (step_weight,)) from None
    if step_weight:
        return rl.plan_weights(None, step_weight, max_weight)
    return rl.plan_weights(steps)


def release_plan(steps, step_weight=0, max_weight=100):
    """The canary weights of a release, from steps (a list or "10,25,50,100") or step_weight/max_weight."""
    try:
        return _plan(steps, step_weight, max_weight)
    except rl.ReleaseError as e:
        raise AnsibleFilterError(str(e)) from None


def release_plan_problem(steps, step_weight=0, max_weight=100):
    """An empty string for a usable plan, otherwise what is wrong with it."""
    try:
        _plan(steps, step_weight, max_weight)
    except rl.ReleaseError as e:
        return str(e)
    return ""


class FilterModule(object):
    def filters(self):
        return {"release_plan": release_plan, "release_plan_problem": release_plan_problem}
