"""release_plan / release_plan_problem filters: the module's plan rules, for role preflights."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.meshops.istio.plugins.filter.release import release_plan, release_plan_problem


@pytest.mark.parametrize("steps,step_weight,max_weight,plan", [
    ([10, 25, 50, 100], 0, 100, [10, 25, 50, 100]),
    ("10, 25,50,100", 0, 100, [10, 25, 50, 100]),
    ([], 30, 100, [30, 60, 90, 100]),
    ("ignored", "20", "60", [20, 40, 60]),
])
def test_release_plan(steps, step_weight, max_weight, plan):
    assert release_plan(steps, step_weight, max_weight) == plan
    assert release_plan_problem(steps, step_weight, max_weight) == ""


@pytest.mark.parametrize("steps,step_weight,message", [
    ("50,10", 0, "The step plan must increase: step 2 (10%) is not more than step 1 (50%)"),
    ("10,abc", 0, "Step 2 of the plan is 'abc', not a whole number"),
    ([], 0, "A release needs a plan"),
    ([], "lots", "step_weight is 'lots', not a whole number"),
    ([], -5, "step_weight is -5"),
])
def test_bad_plans(steps, step_weight, message):
    assert message in release_plan_problem(steps, step_weight)
    with pytest.raises(AnsibleFilterError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        release_plan(steps, step_weight)
