"""module_utils/validation: the one name rule, RE2 regexes and URLs every module and role checks."""
import pytest

from ansible_collections.meshops.istio.plugins.filter.validation import name_problems
from ansible_collections.meshops.istio.plugins.module_utils import validation as val


@pytest.mark.parametrize("name", ["a", "v1", "istio-system", "1-24-0", "x" * 63])
def test_labels_kubernetes_accepts(name):
    assert val.label_problem(name, "namespace") is None


@pytest.mark.parametrize("name, words", [
    ("Bad_NS", "'Bad_NS' is not valid"), ("-a", "'-a'"), ("a-", "'a-'"), ("a.b", "'a.b'"), ("", "is empty"),
    ("x" * 64, "64 characters long"), (None, "None is not a name"), (True, "True is not a name"), (7, "7 is not a name"),
])
def test_labels_kubernetes_refuses_name_the_rule(name, words):
    problem = val.label_problem(name, "namespace")
    assert words in problem and "DNS-1123 label" in problem and "lower-case letters, digits and '-'" in problem


@pytest.mark.parametrize("name, ok", [("reviews.bookinfo.svc.cluster.local", True), ("a..b", False), ("A.b", False),
                                      (".a", False), ("a" * 254, False)])
def test_subdomains(name, ok):
    assert (val.subdomain_problem(name, "service") is None) is ok


def test_every_problem_at_once_and_unset_options_skipped():
    problems = val.name_problems(val.list_checks(["ok", "Bad", "also_bad"], "namespace") + [(None, "revision", "label")])
    assert [p.split(" is ")[0] for p in problems] == ["namespace[1] 'Bad'", "namespace[2] 'also_bad'"]
    with pytest.raises(val.InputError, match="namespace 'X'"):
        val.require_names([("X", "namespace", "label")])


def test_list_paths_take_the_index():
    assert val.list_checks(["a", "b"], "mesh_namespace_list[].name")[1][1] == "mesh_namespace_list[1].name"


@pytest.mark.parametrize("pattern, words", [
    ("([a-", "missing ]"), ("(?=x)", "invalid perl operator"), (r"(a)\1", "invalid escape sequence"),
    ("a{1001}", "invalid repetition size"), ("(?<!x)y", "invalid"), (5, "not a string"),
])
def test_re2_refuses_what_envoy_refuses(pattern, words):
    problem = val.re2_problem(pattern, "the regex")
    assert words in problem


@pytest.mark.parametrize("pattern", [r"\pL+", r"\C", "(?P<n>a)", "(?<n>a)", "[[:alpha:]]+", "^(.*?;\\s*)?(user=jason)(;.*)?$"])
def test_re2_accepts_its_own_syntax_even_where_python_re_does_not(pattern):
    assert val.re2_problem(pattern, "the regex") is None


def test_without_re2_the_message_says_what_to_install(monkeypatch):
    monkeypatch.setattr(val, "HAS_RE2", False)
    assert "pip install google-re2" in val.re2_problem("a", "the regex")


@pytest.mark.parametrize("url, words", [
    ("ftp://p:9090", "not an http:// or https:// URL"), ("prometheus:9090", "not an http"), ("http://", "with a host"),
    ("", "is empty"), (None, "is empty"), ("http://p:99999", "port"), ("http://p q", "not an http"),
])
def test_urls(url, words):
    assert words in val.url_problem(url, "prometheus.url")


def test_good_url():
    assert val.url_problem("https://prometheus.istio-system:9090/prefix", "url") is None


def test_filter_for_roles():
    assert name_problems("", "bookinfo_revision") == []
    assert name_problems(None, "x") == []
    assert name_problems("Book", "bookinfo_namespace")[0].startswith("bookinfo_namespace 'Book' is not valid")
    assert len(name_problems(["a", "B", "C"], "list[].name")) == 2
    assert "DNS-1123 subdomain" in name_problems("a..b", "svc", "subdomain")[0]
