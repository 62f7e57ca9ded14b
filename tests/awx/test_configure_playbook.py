"""awx/configure.py's tasks, checked as far as can be without an AWX server: syntax, ansible-lint, and every
awx.awx module call rendered with the play's variables (and each loop item) and validated against that module's
own argument spec (read from the module, as it builds it), with workflow nodes against the keys awx.awx
documents for them."""
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.template import Templar
from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

from tests.awx.awx_support import AWX, TEMPLATES, WORKFLOW, survey
from tests.conftest import COLLECTIONS, ansible_env

BIN = Path(sys.executable).parent
PLAYBOOK = AWX / "configure.yml"
CHECKED_ARGS = ("mutually_exclusive", "required_together", "required_one_of", "required_if", "required_by")


class Captured(Exception):
    def __init__(self, argument_spec, kwargs):
        super().__init__("captured")
        self.argument_spec = argument_spec
        self.kwargs = kwargs


def awx_module(name):
    """(argument spec, checks, DOCUMENTATION) of awx.awx.<name>, as its main() gives them to ControllerAPIModule."""
    module = importlib.import_module("ansible_collections.awx.awx.plugins.modules.%s" % name)
    from ansible_collections.awx.awx.plugins.module_utils.controller_api import ControllerModule

    def capture(argument_spec=None, **kwargs):
        raise Captured(dict(ControllerModule.AUTH_ARGSPEC, **argument_spec), kwargs)

    original = module.ControllerAPIModule
    module.ControllerAPIModule = capture
    try:
        with pytest.raises(Captured) as got:
            module.main()
    finally:
        module.ControllerAPIModule = original
    checks = {k: v for k, v in got.value.kwargs.items() if k in CHECKED_ARGS}
    return got.value.argument_spec, checks, yaml.safe_load(module.DOCUMENTATION)


def rendered_calls():
    """[(module name, rendered arguments)] for every awx.awx task, once per loop item."""
    init_plugin_loader([str(COLLECTIONS)])  # lookups and filters, as ansible-playbook finds them
    try:
        return _rendered_calls()
    finally:
        # Ansible's collection finder must not outlive this: a later test in this process that imports a
        # plugin of a collection already imported without it would fail ("collection metadata was not loaded").
        _AnsibleCollectionFinder._remove()


def _rendered_calls():
    loader = DataLoader()
    loader.set_basedir(str(AWX))
    (play,) = loader.load_from_file(str(PLAYBOOK), trusted_as_template=True)
    variables = dict(loader.load_from_file(str(AWX / "job_templates.yml"), trusted_as_template=True))
    variables.update(play["vars"])
    # What a user passes on the command line for the token credential (the CA file is read by a lookup).
    variables.update(meshops_awx_kube_host="https://api.example.com:6443", meshops_awx_kube_token="token",
                     meshops_awx_kube_ca_file=str(AWX / "job_templates.yml"))
    calls = []
    for task in play["tasks"]:
        (module,) = [k for k in task if k.startswith("awx.awx.")] or [None]
        if module is None:
            continue
        task_vars = dict(variables, **(task.get("vars") or {}))
        items = Templar(loader=loader, variables=task_vars).template(task["loop"]) if "loop" in task else [None]
        for item in items:
            templar = Templar(loader=loader, variables=dict(task_vars, item=item))
            calls.append((module.split(".")[-1], templar.template(task[module])))
    return calls


def plain(value):
    """Rendered values as plain Python (2.19 tags template results)."""
    return json.loads(json.dumps(value))


def test_syntax_check_and_ansible_lint():
    env = ansible_env()
    syntax = subprocess.run([str(BIN / "ansible-playbook"), "--syntax-check", str(PLAYBOOK)], capture_output=True,
                            text=True, env=env, check=False)
    assert syntax.returncode == 0, syntax.stdout + syntax.stderr
    lint = subprocess.run([str(BIN / "ansible-lint"), "--profile", "production", "--offline", str(PLAYBOOK)],
                          capture_output=True, text=True, env=env, cwd=AWX.parent, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_every_awx_module_call_passes_its_argument_spec():
    calls = rendered_calls()
    used = sorted({name for name, _args in calls})
    assert used == ["credential", "credential_type", "execution_environment", "inventory", "inventory_source",
                    "job_template", "project", "workflow_job_template"]
    specs = {name: awx_module(name) for name in used}
    for name, args in calls:
        spec, checks, _doc = specs[name]
        result = ArgumentSpecValidator(spec, **checks).validate(plain(args))
        assert result.error_messages == [], (name, result.error_messages)
        assert not result._unsupported_parameters, (name, result._unsupported_parameters)


def test_each_template_gets_its_survey_and_the_workflow_its_nodes():
    calls = rendered_calls()
    templates = {args["name"]: plain(args) for name, args in calls if name == "job_template"}
    assert set(templates) == {t["name"] for t in TEMPLATES.values()}
    for template_id, template in TEMPLATES.items():
        made = templates[template["name"]]
        assert made["playbook"] == template["playbook"] and made["survey_enabled"] is True
        assert made["survey_spec"] == survey(template_id)

    (workflow,) = [plain(args) for name, args in calls if name == "workflow_job_template"]
    _spec, _checks, doc = awx_module("workflow_job_template")
    node_doc = doc["options"]["workflow_nodes"]["suboptions"]
    ujt_doc = node_doc["unified_job_template"]["suboptions"]
    related_doc = node_doc["related"]["suboptions"]
    nodes = {n["identifier"]: n for n in workflow["workflow_nodes"]}
    assert set(nodes) == {n["identifier"] for n in WORKFLOW["nodes"]}
    for node in nodes.values():
        assert set(node) <= set(node_doc), set(node) - set(node_doc)
        assert set(node["unified_job_template"]) <= set(ujt_doc)
        assert node["unified_job_template"]["type"] in ujt_doc["type"].get("choices", ["job_template", "workflow_approval"])
        assert set(node["related"]) <= set(related_doc)
    assert nodes["approve"]["unified_job_template"]["type"] == "workflow_approval"
    assert nodes["approve"]["related"] == {"success_nodes": [{"identifier": "promote"}],
                                           "failure_nodes": [{"identifier": "rollback"}]}
    assert nodes["release"]["extra_data"] == {"release_action": "start"}
    assert nodes["release"]["unified_job_template"] == {
        "name": TEMPLATES["release"]["name"], "type": "job_template", "organization": {"name": "Default"}}
