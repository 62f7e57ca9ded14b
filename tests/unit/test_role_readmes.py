"""Every role has a README.md (galaxy-importer refuses a role without one), and what it says about variables
is true: every role variable it names is an option of that role's argument spec (or a fact the role sets for
its playbook), and its example play is a valid play whose role variables pass the role's argument spec."""
import re

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from tests.conftest import REPO

ROLES = sorted(p.name for p in (REPO / "roles").iterdir() if (p / "meta" / "argument_specs.yml").is_file())
SECTIONS = ("## Requirements", "## Role variables", "## Example playbook", "## License")


def argument_specs(role):
    return yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]


def options(role):
    return {name for spec in argument_specs(role).values() for name in spec.get("options", {})}


def facts_set(role):
    """The names the role's tasks give with ansible.builtin.set_fact: what it hands to its playbook."""
    names = set()
    for path in (REPO / "roles" / role / "tasks").glob("*.yml"):
        for task in yaml.safe_load(path.read_text()) or []:
            names.update((task.get("ansible.builtin.set_fact") or {}).keys())
    return names


def without_defaults(spec):
    """The spec without defaults: some are templates ("{{ control_plane_version | default('') }}") that only
    Ansible renders, and the example's own values are what is checked here."""
    spec = {key: value for key, value in spec.items() if key != "default"}
    if "options" in spec:
        spec["options"] = {name: without_defaults(sub) for name, sub in spec["options"].items()}
    return spec


def example_play(role):
    text = (REPO / "roles" / role / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.S)
    assert len(blocks) == 1, f"roles/{role}/README.md: one ```yaml example play expected, found {len(blocks)}"
    return yaml.safe_load(blocks[0])


def test_every_role_directory_is_covered():
    assert len(ROLES) == len([p for p in (REPO / "roles").iterdir() if p.is_dir()]) >= 10


@pytest.mark.parametrize("role", ROLES)
def test_readme_sections_and_license(role):
    text = (REPO / "roles" / role / "README.md").read_text()
    assert text.startswith(f"# meshops.istio.{role}\n")
    for section in SECTIONS:
        assert section in text, f"roles/{role}/README.md has no '{section}'"
    assert "Apache-2.0" in text
    assert "meta/argument_specs.yml" in text


@pytest.mark.parametrize("role", ROLES)
def test_named_variables_exist(role):
    """Any `<role>_*` name of any role, mentioned in this README, is an option of that role or a fact it sets."""
    text = (REPO / "roles" / role / "README.md").read_text()
    known = {r: options(r) | facts_set(r) for r in ROLES}
    # Longest role names first, so mesh_namespace_list is read as mesh_namespace's, not a mesh_* role's.
    prefixes = "|".join(sorted(ROLES, key=len, reverse=True))
    named = set(re.findall(rf"\b((?:{prefixes})_[a-z0-9_]+)", text))
    own = {name for name in named if name.startswith(role + "_")}
    assert own, f"roles/{role}/README.md names none of its variables"
    unknown = sorted(name for name in named if not any(name in known[r] for r in ROLES if name.startswith(r + "_")))
    assert not unknown, f"roles/{role}/README.md names variables its argument spec does not have: {unknown}"


@pytest.mark.parametrize("role", ROLES)
def test_example_play_passes_the_argument_spec(role):
    plays = example_play(role)
    assert isinstance(plays, list) and len(plays) == 1
    play = plays[0]
    assert {"name", "hosts", "roles"} <= set(play)
    (entry,) = play["roles"]
    assert entry["role"] == f"meshops.istio.{role}"
    given = entry.get("vars", {})
    assert given, f"roles/{role}/README.md: the example sets no variable"
    spec = {name: without_defaults(opt) for name, opt in argument_specs(role)["main"]["options"].items()}
    result = ArgumentSpecValidator(spec).validate(given)
    assert not result.error_messages, (role, result.error_messages)
    assert not result.unsupported_parameters, (role, result.unsupported_parameters)
