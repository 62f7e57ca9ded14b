"""The execution environment definition, checked without a container engine.

`ansible-builder create` writes the build context; `ansible-builder introspect` reads the dependencies of
the collections an EE build installs, here this collection (from its built tarball) and kubernetes.core.
What they must hold is derived from the code: the third-party imports of plugins/ and the binaries the
roles run."""
import ast
import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from tests.conftest import REPO, ansible_env

BIN = Path(sys.executable).parent
# Imports the collection's own code makes that Ansible itself provides.
ANSIBLE_PROVIDED = {"ansible", "ansible_collections"}


def plugin_imports():
    """Top-level names of the third-party modules plugins/ imports, with a file importing each."""
    found = {}
    for path in sorted((REPO / "plugins").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ANSIBLE_PROVIDED and top != "__future__":
                    found.setdefault(top, path.relative_to(REPO))
    return found


def distribution(module):
    (dist, *_more) = importlib.metadata.packages_distributions()[module]
    return canonical(dist)


def canonical(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def declared(path):
    reqs = [line.split("#")[0].strip() for line in Path(path).read_text().splitlines()]
    return {canonical(Requirement(r).name) for r in reqs if r}


def tasks_of(tasks):
    for task in tasks or []:
        yield task
        for key in ("block", "rescue", "always"):
            yield from tasks_of(task.get(key))


def binaries_called():
    """Executables the roles run: helm through kubernetes.core.helm*, and argv[0] of commands."""
    called = set()
    for path in (REPO / "roles").rglob("tasks/*.yml"):
        for task in tasks_of(yaml.safe_load(path.read_text())):
            for key, args in task.items():
                if key.startswith("kubernetes.core.helm"):
                    called.add("helm")
                if key in ("ansible.builtin.command", "ansible.builtin.shell"):
                    argv = args["argv"] if isinstance(args, dict) and "argv" in args else args
                    called.add(re.search(r"[A-Za-z_][\w./-]*", argv[0] if isinstance(argv, list) else argv).group(0))
    return called


def test_every_third_party_import_is_declared_and_nothing_else():
    imports = plugin_imports()
    # The sanity of the derivation itself: the modules' known dependencies are among the imports.
    assert {"kubernetes", "yaml", "re2", "cryptography"} <= set(imports), imports
    needed = {distribution(m) for m in imports}
    listed = declared(REPO / "requirements.txt")
    assert needed - listed == set(), "imported by %s but not in requirements.txt" % {
        m: str(p) for m, p in imports.items() if distribution(m) in needed - listed}
    assert listed - needed == set(), "in requirements.txt but imported nowhere in plugins/"


def test_the_collection_meta_points_at_its_requirement_files():
    meta = yaml.safe_load((REPO / "meta" / "execution-environment.yml").read_text())
    assert meta["version"] == 1
    assert meta["dependencies"] == {"python": "requirements.txt", "system": "bindep.txt"}
    assert (REPO / "bindep.txt").is_file()


def test_roles_call_helm_and_optionally_istioctl_and_never_kubectl():
    called = binaries_called()
    assert "helm" in called
    assert {c for c in called if c != "helm"} == {"control_plane_istioctl_binary"}, called


def test_ansible_builder_create_writes_a_context_with_every_dependency(tmp_path):
    context = tmp_path / "context"
    proc = subprocess.run([str(BIN / "ansible-builder"), "create", "-f", str(REPO / "execution-environment.yml"),
                           "-c", str(context)], capture_output=True, text=True, env=ansible_env(), check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ee = yaml.safe_load((REPO / "execution-environment.yml").read_text())
    assert ee["version"] == 3

    build = context / "_build"
    needed = {distribution(m) for m in plugin_imports()}
    assert needed <= declared(build / "requirements.txt")
    assert (build / "bindep.txt").read_text() == (REPO / "bindep.txt").read_text()
    galaxy = yaml.safe_load((build / "requirements.yml").read_text())
    assert {c["name"] for c in galaxy["collections"]} == {"kubernetes.core", "meshops.istio"}
    version = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
    assert {c["name"]: c["version"] for c in galaxy["collections"]}["meshops.istio"] == version

    containerfile = (context / "Dockerfile").read_text()
    # ansible-core and ansible-runner as pinned for the tests, on the Python the tests run.
    pins = dict(line.split("==") for line in (REPO / "requirements-test.txt").read_text().splitlines()
                if re.match(r"^(ansible-core|ansible-runner)==", line))
    assert 'ARG ANSIBLE_INSTALL_REFS="ansible-core==%s ansible-runner==%s"' % (
        pins["ansible-core"], pins["ansible-runner"]) in containerfile
    assert 'ARG PYCMD="/usr/bin/python3.%d"' % sys.version_info[1] in containerfile
    # helm comes in with the build, at the version the tests run, checked against its published checksum.
    helm = subprocess.run([str(REPO / ".tools" / "bin" / "helm"), "version", "--short"], capture_output=True,
                          text=True, check=True).stdout.split("+")[0].strip()
    assert "ARG HELM_VERSION=%s\n" % helm in containerfile
    install = next(line for line in containerfile.splitlines() if "get.helm.sh" in line)
    assert "sha256sum -c -" in install and "install -m 0755 \"linux-${arch}/helm\" /usr/local/bin/helm" in install
    assert "ARG ISTIOCTL_VERSION=\n" in containerfile and "/usr/local/bin/istioctl" in install
    # The final check of the build imports every module the plugins import, and runs helm.
    check = next(line for line in containerfile.splitlines() if line.startswith("RUN helm version"))
    assert set(re.search(r'-c "import ([^"]+)"', check).group(1).replace(" ", "").split(",")) == set(plugin_imports())
    assert containerfile.index("install-from-bindep") < containerfile.index("get.helm.sh")


@pytest.mark.parametrize("extra", [False, True], ids=["collections", "collections+ee-lists"])
def test_introspection_of_the_installed_collections_finds_every_dependency(installed_collections, tmp_path, extra):
    """What the EE build's introspection step computes, from the collections as installed from the tarball."""
    args = [str(BIN / "ansible-builder"), "introspect", str(installed_collections),
            "--write-pip", str(tmp_path / "pip.txt"), "--write-bindep", str(tmp_path / "bindep.txt")]
    if extra:
        args += ["--user-pip", str(REPO / "requirements.txt"), "--user-bindep", str(REPO / "bindep.txt")]
    proc = subprocess.run(args, capture_output=True, text=True, env=ansible_env(), check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pip = (tmp_path / "pip.txt").read_text()
    # Introspection drops what ansible-core itself depends on (PyYAML): the EE has it through ansible-core.
    with_core = {canonical(Requirement(r).name) for r in importlib.metadata.requires("ansible-core")}
    needed = {distribution(m) for m in plugin_imports()}
    assert "pyyaml" in needed & with_core
    assert needed - with_core <= declared(tmp_path / "pip.txt"), pip
    # kubernetes.core's own Python dependencies come along for its modules the roles use.
    assert {"requests-oauthlib", "jsonpatch"} <= declared(tmp_path / "pip.txt"), pip
    assert re.search(r"^kubernetes>=24.2.0\s+# from collection (meshops.istio|kubernetes.core)", pip, re.M), pip
    bindep = (tmp_path / "bindep.txt").read_text()
    for package in ("ca-certificates", "tar", "gzip"):
        assert re.search(r"^%s \[platform:rpm platform:dpkg\]\s+# from collection meshops.istio" % package, bindep,
                         re.M), bindep
