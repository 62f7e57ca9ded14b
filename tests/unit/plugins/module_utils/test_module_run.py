"""run_module: the main() the modules share turns bad input and API failures into fail_json, never a traceback,
and a module file is its docs, its argspec and that one call."""
import ast
import json
from pathlib import Path

import pytest
from ansible.module_utils import basic

from ansible_collections.meshops.istio.plugins.module_utils.kube import KubeError
from ansible_collections.meshops.istio.plugins.module_utils.module_run import run_module
from ansible_collections.meshops.istio.plugins.module_utils.validation import InputError

REPO = Path(__file__).resolve().parents[4]
SPEC = dict(name=dict(type="str", required=True), count=dict(type="int", default=1))
# The modules whose work lives in module_utils (issue 14); istio_release and istio_traffic have a module_utils
# package of their own.
THIN = ("istio_apply", "istio_burst", "istio_cacerts", "istio_info", "istio_namespace", "istio_precheck",
        "istio_remote_secret", "prometheus_query")


@pytest.fixture
def module_args(monkeypatch):
    def set_args(**args):
        monkeypatch.setattr(basic, "_ANSIBLE_ARGS", json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode())
        monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy", raising=False)
    return set_args


def outcome(capsys, work, **rules):
    with pytest.raises(SystemExit) as exited:
        run_module(SPEC, work, **rules)
    return exited.value.code, json.loads(capsys.readouterr().out)


def test_the_work_gets_the_module_and_its_result_is_the_output(module_args, capsys):
    module_args(name="bookinfo", kubeconfig="/nonexistent")
    seen = []

    def work(module):
        seen.append((module.params["name"], module.params["count"], module.params["kubeconfig"], module.check_mode))
        return dict(changed=True, names=[module.params["name"]])

    code, result = outcome(capsys, work)
    assert code == 0 and seen == [("bookinfo", 1, "/nonexistent", False)]
    assert result["changed"] is True and result["names"] == ["bookinfo"] and "failed" not in result


def test_input_error_fails_with_its_message_only(module_args, capsys):
    module_args(name="Bad_Name")

    def work(module):
        raise InputError("namespace 'Bad_Name' is not valid.")

    code, result = outcome(capsys, work)
    assert code == 1 and result["failed"] is True
    assert result["msg"] == "namespace 'Bad_Name' is not valid." and "error" not in result


def test_kube_error_fails_with_where_it_happened(module_args, capsys):
    module_args(name="bookinfo")

    def work(module):
        raise KubeError("Not allowed to get Namespace bookinfo (403 Forbidden).", "Namespace", "bookinfo",
                        status=403, reason="Forbidden")

    code, result = outcome(capsys, work)
    assert code == 1 and result["msg"] == "Not allowed to get Namespace bookinfo (403 Forbidden)."
    assert result["error"] == dict(kind="Namespace", name="bookinfo", namespace=None, status=403, reason="Forbidden")


def test_rules_reach_the_module(module_args, capsys):
    module_args(name="bookinfo", count=2)
    code, result = outcome(capsys, lambda module: dict(changed=False), required_if=[("count", 2, ("kubeconfig",))])
    assert code == 1 and "kubeconfig" in result["msg"]


def test_other_errors_are_not_swallowed(module_args):
    # A bug is a traceback for its author, not a message for the user.
    module_args(name="bookinfo")

    def work(module):
        raise KeyError("missing")

    with pytest.raises(KeyError):
        run_module(SPEC, work)


def test_an_option_named_like_an_auth_option_is_refused_naming_the_calling_module():
    with pytest.raises(ValueError) as raised:
        run_module(dict(host=dict(type="str")), lambda module: {})
    assert str(raised.value).startswith("module test_module_run: option 'host' has the name of kubernetes.core's")


@pytest.mark.parametrize("name", THIN)
def test_a_thin_module_is_docs_argspec_and_a_short_main(name):
    tree = ast.parse((REPO / "plugins" / "modules" / (name + ".py")).read_text())
    functions = dict((node.name, node) for node in tree.body if isinstance(node, ast.FunctionDef))
    classes = [node.name for node in tree.body if isinstance(node, ast.ClassDef)]
    assert sorted(functions) == ["argspec", "main"] and classes == [], name
    main = functions["main"]
    assert main.end_lineno - main.lineno + 1 <= 25, name
    calls = [node.func.id for node in ast.walk(main) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)]
    assert "run_module" in calls, name
