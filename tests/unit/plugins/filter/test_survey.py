"""survey_list: a list of dicts from a list or from the text of an AWX survey answer."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.meshops.istio.plugins.filter.survey import survey_list

WHAT = "mesh_namespace_list"


@pytest.mark.parametrize("value, expected", [
    ([{"name": "shop", "injection": "disabled"}], [{"name": "shop", "injection": "disabled"}]),
    (["shop", {"name": "hash"}], [{"name": "shop"}, {"name": "hash"}]),
    (None, []),
    ("", []),
    ("  \n", []),
    ("shop", [{"name": "shop"}]),
    ("shop, hash,mesh-a", [{"name": "shop"}, {"name": "hash"}, {"name": "mesh-a"}]),
    ("shop\nhash\n", [{"name": "shop"}, {"name": "hash"}]),
    ("- name: shop\n  injection: revision\n  revision: 1-28-0\n- hash\n",
     [{"name": "shop", "injection": "revision", "revision": "1-28-0"}, {"name": "hash"}]),
    ('[{"name": "shop", "labels": {"team": "a"}}]', [{"name": "shop", "labels": {"team": "a"}}]),
])
def test_lists_and_survey_text_give_the_same_items(value, expected):
    assert survey_list(value, WHAT) == expected


def test_the_key_a_word_stands_for_can_be_named():
    assert survey_list("a,b", "gateways_list", key="id") == [{"id": "a"}, {"id": "b"}]


@pytest.mark.parametrize("value, words", [
    ("- name: shop\n injection: [", ["mesh_namespace_list is not valid YAML at line", "- name: first"]),
    ("name: shop\ninjection: enabled", ["mesh_namespace_list is YAML for dict, not a list", "separated by commas"]),
    ("42", ["YAML for int, not a list"]),
    ("- name: shop\n- 7\n", ["mesh_namespace_list[1] is 7, neither a mapping nor a name"]),
    (42, ["mesh_namespace_list is int (42)"]),
    ({"name": "shop"}, ["mesh_namespace_list is dict"]),
])
def test_text_that_gives_no_list_fails_saying_what_and_the_forms(value, words):
    with pytest.raises(AnsibleFilterError) as e:
        survey_list(value, WHAT)
    for word in words:
        assert word in str(e.value)
