"""The AWX data of awx/ (job templates, surveys, workflow) and what the tests derive from it."""
import functools
import json

import yaml

from tests.conftest import REPO

AWX = REPO / "awx"
DATA = yaml.safe_load((AWX / "job_templates.yml").read_text())
TEMPLATES = {t["id"]: t for t in DATA["meshops_awx_job_templates"]}
WORKFLOW = DATA["meshops_awx_workflow"]


@functools.cache
def survey(template_id):
    return json.loads((AWX / "surveys" / ("%s.json" % template_id)).read_text())


def answer(question, value=None):
    """An extra var as AWX passes a survey answer (or the question's default): integers and floats as numbers,
    everything else (multiple choice, text, textarea, password) as a string."""
    value = question["default"] if value is None else value
    if question["type"] == "integer":
        return int(value)
    if question["type"] == "float":
        return float(value)
    return str(value)


def extravars(template_id, **answers):
    """The extra vars of a job launched with the survey's defaults, and ``answers`` for some questions."""
    return {q["variable"]: answer(q, answers.get(q["variable"])) for q in survey(template_id)["spec"]}


def playbook_plays(template_id):
    return yaml.safe_load((REPO / TEMPLATES[template_id]["playbook"]).read_text())


def playbook_roles(template_id):
    """{role short name: the vars the playbook fixes for it} over every play of the template's playbook."""
    roles = {}
    for play in playbook_plays(template_id):
        for entry in play.get("roles", []):
            name = entry["role"].split(".")[-1]
            roles.setdefault(name, set()).update((entry.get("vars") or {}).keys())
    return roles


@functools.cache
def role_options(role):
    spec = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())
    return spec["argument_specs"]["main"]["options"]
