"""Every AWX survey question maps to a variable of the argument spec of a role its playbook runs, with a
compatible type, choices the role accepts and a default the role's argument check accepts as AWX would pass it."""
import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from tests.awx.awx_support import AWX, TEMPLATES, WORKFLOW, answer, playbook_roles, role_options, survey
from tests.conftest import REPO
from ansible_collections.meshops.istio.plugins.filter.survey import survey_list

AWX_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}
# The survey question types that can carry each argument spec type (AWX answers are strings or numbers).
COMPATIBLE = {
    "str": {"text", "textarea", "password", "multiplechoice"},
    "int": {"integer"},
    "float": {"float", "integer"},
    "bool": {"multiplechoice"},
    "list": {"text", "textarea"},   # comma-separated, as Ansible's argument check splits text
    "raw": {"text", "textarea"},
}
BOOL_WORDS = {"true", "false", "yes", "no"}


def questions():
    return [pytest.param(template_id, q, id="%s-%s" % (template_id, q["variable"]))
            for template_id in TEMPLATES for q in survey(template_id)["spec"]]


def test_every_playbook_a_user_launches_has_a_template_and_a_survey():
    launched = {p.stem for p in (REPO / "playbooks").glob("*.yml")} - {"site"}
    assert {t["playbook"] for t in TEMPLATES.values()} == {"playbooks/%s.yml" % p for p in launched}
    assert {p.stem for p in (AWX / "surveys").glob("*.json")} == set(TEMPLATES)
    for template_id in TEMPLATES:
        spec = survey(template_id)
        assert set(spec) == {"name", "description", "spec"} and spec["name"] and spec["spec"], template_id
        variables = [q["variable"] for q in spec["spec"]]
        assert len(variables) == len(set(variables)), template_id


@pytest.mark.parametrize("template_id, question", questions())
def test_question_maps_to_a_role_variable_with_a_compatible_type_and_a_valid_default(template_id, question):
    assert {"question_name", "question_description", "variable", "type", "required", "default"} <= set(question)
    assert question["type"] in AWX_TYPES
    roles = playbook_roles(template_id)
    owners = [r for r in roles if question["variable"] in role_options(r)]
    assert owners, "%s is in no argument spec of %s" % (question["variable"], sorted(roles))
    for role in owners:
        # A variable the playbook sets for the role itself: an extra var would override it.
        assert question["variable"] not in roles[role], "%s fixes %s" % (template_id, question["variable"])
        option = role_options(role)[question["variable"]]
        kind = option.get("type", "str")
        assert question["type"] in COMPATIBLE[kind], (kind, question["type"])
        if question["type"] == "multiplechoice":
            assert isinstance(question["choices"], list) and question["default"] in question["choices"]
            allowed = BOOL_WORDS if kind == "bool" else set(option.get("choices") or question["choices"])
            assert set(question["choices"]) <= allowed, (question["choices"], allowed)
        elif kind == "str" and option.get("choices"):
            pytest.fail("%s has choices %s: ask it as multiplechoice" % (question["variable"], option["choices"]))
        if question["type"] in ("text", "textarea", "password"):
            assert question["min"] <= len(question["default"]) <= question["max"]
        if question["type"] in ("integer", "float"):
            assert question["min"] <= question["default"] <= question["max"]
        if question["required"] and question["type"] not in ("integer", "float"):
            assert question["default"] != "", "a required question needs a default that works"

        # The default, as AWX passes it, through the role's own argument check.
        value = answer(question)
        result = ArgumentSpecValidator({question["variable"]: option}).validate({question["variable"]: value})
        assert result.error_messages == [], result.error_messages
        if kind == "raw" and option.get("options"):
            # Text for a list of dicts: what the role reads from it passes the item check.
            items = survey_list(value, question["variable"])
            item_spec = dict(option, type="list", elements="dict")
            assert items and ArgumentSpecValidator({"v": item_spec}).validate({"v": items}).error_messages == []


def test_no_dict_or_list_of_dicts_is_asked_as_text_without_a_parser():
    for template_id in TEMPLATES:
        for q in survey(template_id)["spec"]:
            for role in playbook_roles(template_id):
                option = role_options(role).get(q["variable"])
                if option is None:
                    continue
                assert option.get("type") != "dict"
                assert not (option.get("type") == "list" and option.get("elements") == "dict"), q["variable"]


def test_the_workflow_runs_install_addons_apps_release_then_an_approval_before_promote():
    nodes = {n["identifier"]: n for n in WORKFLOW["nodes"]}
    assert all(n.get("template") in TEMPLATES or "approval" in n for n in nodes.values())
    for node in nodes.values():
        for target in node.get("success_nodes", []) + node.get("failure_nodes", []):
            assert target in nodes, target

    def after(identifier, kind="success_nodes"):
        return set(nodes[identifier].get(kind, []))

    assert after("install") == {"addons"} and after("addons") == {"bookinfo", "hashapp"}
    assert after("bookinfo") == {"release"} and after("release") == {"approve"}
    assert nodes["approve"]["approval"]["timeout"] > 0
    assert after("approve") == {"promote"} and after("approve", "failure_nodes") == {"rollback"}
    # The only way to promote is through the approval.
    assert [i for i, n in nodes.items() if "promote" in after(i) | after(i, "failure_nodes")] == ["approve"]
    # What a node sets must be a question of its template's survey (AWX refuses other prompts).
    for node in nodes.values():
        asked = {q["variable"] for q in survey(node["template"])["spec"]} if "template" in node else set()
        assert set(node.get("extra_data", {})) <= asked
