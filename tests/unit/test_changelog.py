"""The changelog: antsibull-changelog accepts it, CHANGELOG.rst is what it generates from changelogs/, and every
module, plugin, filter and role is either in a release of changelogs/changelog.yaml or documented as added in a
version after the last release (where `antsibull-changelog release` finds it)."""
import ast
import shutil
import subprocess

import yaml
from ansible.module_utils.compat.version import LooseVersion

from tests.conftest import REPO

# The project's changelog tool, also when `make matrix` runs the unit tests under another venv's Python.
BIN = REPO / ".venv" / "bin"
CHANGELOG = yaml.safe_load((REPO / "changelogs" / "changelog.yaml").read_text())
LAST_RELEASE = max(CHANGELOG["releases"], key=LooseVersion)


def released(kind, group):
    """Names listed under releases.*.<group>.<kind> (group: modules, plugins or objects)."""
    names = set()
    for release in CHANGELOG["releases"].values():
        entries = release.get(group, {})
        entries = entries if group == "modules" else entries.get(kind, [])
        names.update(entry["name"] for entry in entries)
    return names


def run(*args, cwd=REPO):
    return subprocess.run([str(BIN / "antsibull-changelog"), *args], cwd=cwd, capture_output=True, text=True, check=False)


def test_lint_passes():
    result = run("lint")
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_fragments_exist_and_lint_catches_a_bad_one(tmp_path):
    assert sorted(p.name for p in (REPO / "changelogs" / "fragments").glob("*.yml"))
    shutil.copytree(REPO / "changelogs", tmp_path / "changelogs")
    shutil.copy(REPO / "galaxy.yml", tmp_path)
    (tmp_path / "changelogs" / "fragments" / "99-bad.yml").write_text("no_such_section:\n  - text\n")
    result = run("lint", cwd=tmp_path)
    assert "99-bad.yml" in result.stdout and "no_such_section" in result.stdout, result.stdout + result.stderr


def test_changelog_rst_is_generated_from_changelog_yaml(tmp_path):
    shutil.copytree(REPO / "changelogs", tmp_path / "changelogs")
    shutil.copy(REPO / "galaxy.yml", tmp_path)
    result = run("generate", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "CHANGELOG.rst").read_text() == (REPO / "CHANGELOG.rst").read_text(), \
        "CHANGELOG.rst is stale: run `antsibull-changelog generate`"


def module_doc(path):
    """A module's DOCUMENTATION, read without importing the module."""
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "DOCUMENTATION" for t in node.targets):
            return yaml.safe_load(node.value.value)
    return {}


def added_later(doc):
    added = doc.get("version_added")
    return added is not None and LooseVersion(str(added)) > LooseVersion(LAST_RELEASE)


def test_every_module_plugin_filter_and_role_is_in_the_changelog():
    missing = []
    modules = released("module", "modules")
    for path in sorted((REPO / "plugins" / "modules").glob("*.py")):
        if path.stem != "__init__" and path.stem not in modules and not added_later(module_doc(path)):
            missing.append(f"module {path.stem}")
    inventories = released("inventory", "plugins")
    for path in sorted((REPO / "plugins" / "inventory").glob("*.py")):
        if path.stem != "__init__" and path.stem not in inventories:
            missing.append(f"inventory {path.stem}")
    filters = released("filter", "plugins")
    sidecars = sorted((REPO / "plugins" / "filter").glob("*.yml"))
    assert len(sidecars) >= 17
    for path in sidecars:
        doc = yaml.safe_load(path.read_text())["DOCUMENTATION"]
        if doc["name"] not in filters and not added_later(doc):
            missing.append(f"filter {doc['name']}")
    roles = released("role", "objects")
    for spec in sorted((REPO / "roles").glob("*/meta/argument_specs.yml")):
        main = yaml.safe_load(spec.read_text())["argument_specs"]["main"]
        if spec.parts[-3] not in roles and not added_later(main):
            missing.append(f"role {spec.parts[-3]}")
    assert not missing, f"neither in changelogs/changelog.yaml nor added after {LAST_RELEASE}: {missing}"


def test_galaxy_version_is_not_behind_the_changelog():
    version = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
    assert LooseVersion(version) >= LooseVersion(LAST_RELEASE)
