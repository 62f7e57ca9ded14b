"""The collection builds, installs from its tarball, and documents every module and plugin."""
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import REPO, ansible_env

BIN = Path(sys.executable).parent


def test_build_install_and_document_every_plugin(tmp_path):
    build = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", str(REPO), "--output-path",
                            str(tmp_path)], capture_output=True, text=True, env=ansible_env(), check=False)
    assert build.returncode == 0, build.stderr
    (tarball,) = tmp_path.glob("meshops-istio-*.tar.gz")
    version = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
    assert tarball.name == f"meshops-istio-{version}.tar.gz"

    installed = tmp_path / "collections"
    install = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "--force", "--no-deps", "-p", str(installed),
                              str(tarball)], capture_output=True, text=True, env=ansible_env(), check=False)
    assert install.returncode == 0, install.stderr
    root = installed / "ansible_collections" / "meshops" / "istio"
    assert (root / "plugins" / "modules" / "istio_namespace.py").is_file()
    assert not (root / ".venv").exists() and not (root / ".tools").exists()

    env = ansible_env(ANSIBLE_COLLECTIONS_PATH=f"{installed}:{Path(sys.executable).parents[1]}")
    modules = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
    assert "istio_namespace" in modules
    for module in modules:
        doc = subprocess.run([str(BIN / "ansible-doc"), f"meshops.istio.{module}"], capture_output=True, text=True,
                             env=env, check=False)
        assert doc.returncode == 0, (module, doc.stderr)
        assert "EXAMPLES" in doc.stdout and "RETURN VALUES" in doc.stdout, module
        assert "[WARNING]" not in doc.stderr, (module, doc.stderr)
    for plugin_type, folder in (("inventory", "inventory"), ("filter", "filter")):
        for path in (REPO / "plugins" / folder).glob("*.py"):
            if path.stem == "__init__":
                continue
            doc = subprocess.run([str(BIN / "ansible-doc"), "-t", plugin_type, f"meshops.istio.{path.stem}"],
                                 capture_output=True, text=True, env=env, check=False)
            if plugin_type == "filter" and doc.returncode != 0:
                # A filter file may hold several filters, each documented in its own sidecar file.
                continue
            assert doc.returncode == 0, (path.stem, doc.stderr)
