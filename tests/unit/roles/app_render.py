"""Rendering the app roles' objects with real Ansible, without a cluster."""
import json
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import REFERENCE, REPO, ansible_env

ISTIO_API = "networking.istio.io/v1"

# name -> (role, its variables)
VARIANTS = {
    "bookinfo": ("bookinfo", {}),
    "bookinfo_mirror": ("bookinfo", {
        "bookinfo_namespace": "shop",
        "bookinfo_image_registry": "mirror.example.com:5000/istio",
        "bookinfo_image_tag": "1.21.0",
        "bookinfo_routes": {"productpage": "v1", "reviews": "v3", "ratings": "v1", "details": "v1"},
    }),
    "hashapp_primary": ("hashapp", {}),
    "hashapp_burst": ("hashapp", {"hashapp_cluster_role": "burst"}),
    "hashapp_mirror": ("hashapp", {
        "hashapp_image_registry": "registry.example.com/burst", "hashapp_image_tag": "2.1",
        "hashapp_redis_image": "registry.example.com/library/redis:7-alpine",
        "hashapp_namespace": "hash", "hashapp_cluster_domain": "corp.local",
        "hashapp_worker_weights": {"primary": 70, "burst": 30}}),
}


def _render_playbook(out_dir, variants):
    """The objects as mesh_app renders them in its apply task: the role's own list of templates
    (_<role>_templates), with the role's defaults and vars loaded by its (read-only) preflight."""
    tasks = []
    for name, (role, extra) in variants.items():
        role_vars = dict(extra, mesh_app_istio_api=ISTIO_API)
        tasks.append({
            "name": f"Load the variables of {name}",
            "ansible.builtin.include_role": {"name": f"meshops.istio.{role}", "tasks_from": "preflight.yml",
                                             "public": True},
            "vars": role_vars,
        })
        templates = str(REPO / "roles" / role / "templates") + "/"
        tasks.append({
            "name": f"Save {name}",
            "ansible.builtin.copy": {
                "content": "{{ query('ansible.builtin.template', *(_%s_templates | map('regex_replace', '^', %r)))"
                           " | map('ansible.builtin.from_yaml_all') | map('list') | flatten(levels=1)"
                           " | select | list | to_nice_json }}" % (role, templates),
                "dest": str(out_dir / f"{name}.json"),
                "mode": "0644",
            },
            "vars": role_vars,
        })
    return [{"name": "Render", "hosts": "localhost", "gather_facts": False, "tasks": tasks}]


def render(out_dir, variants=None):
    """Render the roles' templates once for every variant; {variant: [objects in apply order]}."""
    variants = variants or VARIANTS
    playbook = out_dir / "render.yml"
    playbook.write_text(yaml.safe_dump(_render_playbook(out_dir, variants), sort_keys=False))
    env = ansible_env(ANSIBLE_STDOUT_CALLBACK="default")
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", f"ansible_python_interpreter={sys.executable}", str(playbook)],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {name: json.loads((out_dir / f"{name}.json").read_text()) for name in variants}


def load_reference(*parts):
    """Documents of a reference YAML file, without empty ones."""
    return [doc for doc in yaml.safe_load_all((REFERENCE.joinpath(*parts)).read_text()) if doc]
