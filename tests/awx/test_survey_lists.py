"""mesh_namespace_list as an AWX survey textarea gives it: text that the role reads into the same items a list
gives, and text that is wrong fails before any write with a message that says what is wrong and which forms work."""
import pytest

from tests.integration.apps_support import writes

PLAYBOOK = "namespaces.yml"


def labels(sim, name):
    obj = sim.get_object("v1", "Namespace", name)
    return obj and obj["metadata"].get("labels", {})


def test_comma_separated_names_and_a_yaml_list_prepare_the_namespaces(kubesim, run_playbook):
    first = run_playbook(PLAYBOOK, kubesim, {"mesh_namespace_list": "text-a, text-b"})
    assert first.rc == 0 and first.changed > 0, first
    assert labels(kubesim, "text-a")["istio-injection"] == "enabled" == labels(kubesim, "text-b")["istio-injection"]

    yaml_text = ("- name: text-a\n- name: text-c\n  injection: revision\n  revision: 1-28-0\n"
                 "  labels: {team: shop}\n")
    second = run_playbook(PLAYBOOK, kubesim, {"mesh_namespace_list": yaml_text})
    assert second.rc == 0, second
    text_c = labels(kubesim, "text-c")
    assert (text_c["istio.io/rev"], text_c["team"]) == ("1-28-0", "shop") and "istio-injection" not in text_c
    again = run_playbook(PLAYBOOK, kubesim, {"mesh_namespace_list": yaml_text})
    assert again.rc == 0 and again.changed == 0, again


@pytest.mark.parametrize("text, words", [
    ("- name: ok-ns\n  injection: [", ["mesh_namespace_list is not valid YAML at line 2", "separated by commas"]),
    ("name: ok-ns", ["mesh_namespace_list is YAML for dict, not a list"]),
    ("- name: ok-ns\n  injection: on-please", ["Validation of arguments failed", "injection", "on-please"]),
    ("- name: ok-ns\n  colour: blue", ["Validation of arguments failed", "colour"]),
    ("ok-ns, Bad_NS", ["mesh_namespace_list[1].name 'Bad_NS'"]),
    ("- name: ok-ns\n  injection: revision", ["ok-ns: injection revision needs the istiod revision"]),
])
def test_wrong_text_fails_naming_the_problem_and_writes_nothing(kubesim, run_playbook, text, words):
    run = run_playbook(PLAYBOOK, kubesim, {"mesh_namespace_list": text})
    assert run.rc != 0 and run.failed == 1, run
    message = " ".join(run.failed_msgs)
    for word in words:
        assert word in message, message
    assert writes(kubesim) == []
