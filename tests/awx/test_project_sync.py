"""This repository as an AWX project: a project sync installs collections/requirements.yml, and the playbooks
run from the project root with only what the sync installed.

Galaxy and GitHub are unreachable here, so the sync installs the same git requirement from a local clone of this
repository (git+file://, at the commit checked out), with kubernetes.core already in the target as the ansible
package has it; everything else is the real `ansible-galaxy collection install -r`."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.awx.conftest import add_kubernetes_core
from tests.conftest import REPO, ansible_env, write_inventory

BIN = Path(sys.executable).parent
REQUIREMENTS = REPO / "collections" / "requirements.yml"


def git(*args, cwd=REPO):
    return subprocess.run(["git", *args], capture_output=True, text=True, cwd=cwd, check=True).stdout.strip()


def test_requirements_name_kubernetes_core_and_this_collection_from_git():
    reqs = yaml.safe_load(REQUIREMENTS.read_text())["collections"]
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())
    by_name = {r["name"]: r for r in reqs}
    assert set(by_name) == {"kubernetes.core", galaxy["repository"] + ".git"}
    assert by_name[galaxy["repository"] + ".git"]["type"] == "git"
    # The range galaxy.yml depends on, capped below the next major version.
    assert by_name["kubernetes.core"]["version"].startswith(galaxy["dependencies"]["kubernetes.core"])


def test_a_project_sync_installs_the_collection_and_the_playbooks_run_from_the_project_root(tmp_path, kubesim):
    # The project checkout AWX makes, and the git remote it syncs the collection from.
    remote = tmp_path / "istio.git"
    git("clone", "--quiet", "--bare", str(REPO), str(remote))
    head = git("rev-parse", "HEAD")
    project = tmp_path / "project"
    git("clone", "--quiet", str(remote), str(project), cwd=tmp_path)

    reqs = yaml.safe_load((project / "collections" / "requirements.yml").read_text())
    for req in reqs["collections"]:
        if req.get("type") == "git":
            req.update(name="git+file://%s" % remote, version=head)
    offline = tmp_path / "requirements.yml"
    offline.write_text(yaml.safe_dump(reqs))
    collections = tmp_path / "requirements_collections"
    add_kubernetes_core(collections)
    env = ansible_env(ANSIBLE_COLLECTIONS_PATH=str(collections))
    sync = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "-r", str(offline), "-p",
                           str(collections)], capture_output=True, text=True, cwd=project, env=env, check=False)
    assert sync.returncode == 0, sync.stdout + sync.stderr
    version = yaml.safe_load((project / "galaxy.yml").read_text())["version"]
    assert "meshops.istio:%s was installed successfully" % version in sync.stdout
    assert "'kubernetes.core:" in sync.stdout and "is already installed" in sync.stdout
    installed = collections / "ansible_collections" / "meshops" / "istio"
    manifest = json.loads((installed / "MANIFEST.json").read_text())["collection_info"]
    assert (manifest["namespace"], manifest["name"]) == ("meshops", "istio")
    assert (installed / "roles" / "mesh_namespace" / "tasks" / "main.yml").is_file()

    # Every playbook resolves its roles and modules (FQCN) from the synced collections alone.
    for playbook in sorted((project / "playbooks").glob("*.yml")):
        check = subprocess.run([str(BIN / "ansible-playbook"), "--syntax-check", "-i", "localhost,",
                                str(playbook.relative_to(project))], capture_output=True, text=True, cwd=project,
                               env=env, check=False)
        assert check.returncode == 0, (playbook.name, check.stderr)

    # And one runs, from the project root, against a cluster.
    inventory = write_inventory(tmp_path / "inventory.yml", [kubesim])
    shutil.rmtree(project / "roles")     # nothing from the checkout's own roles/ or plugins/ is used
    shutil.rmtree(project / "plugins")
    run = subprocess.run([str(BIN / "ansible-playbook"), "-i", inventory, "playbooks/namespaces.yml", "-e",
                          json.dumps({"mesh_namespace_list": "synced-a, synced-b"})],
                         capture_output=True, text=True, cwd=project, env=env, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    for name in ("synced-a", "synced-b"):
        assert kubesim.get_object("v1", "Namespace", name)["metadata"]["labels"]["istio-injection"] == "enabled"
