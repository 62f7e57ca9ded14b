"""Fixtures of the AWX tests: the collection as a project sync or an execution environment gets it.

- collection_tarball: `ansible-galaxy collection build` of this working tree (once per session);
- installed_collections: a collections directory holding only that tarball's meshops.istio and the
  kubernetes.core of the ansible package (what a project sync or an EE build leaves), once per session.
"""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, ansible_env

BIN = Path(sys.executable).parent
# The collections of the ansible package (kubernetes.core, awx.awx, ...), beside ansible-core in site-packages.
SITE_COLLECTIONS = Path(__import__("ansible").__file__).parents[1] / "ansible_collections"


def galaxy(*args, cwd=None):
    proc = subprocess.run([str(BIN / "ansible-galaxy"), *args], capture_output=True, text=True, env=ansible_env(),
                          cwd=cwd, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def add_kubernetes_core(collections):
    """kubernetes.core as installed from Galaxy (Galaxy itself is unreachable here)."""
    dest = Path(collections) / "ansible_collections" / "kubernetes" / "core"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(SITE_COLLECTIONS / "kubernetes" / "core", dest, ignore=shutil.ignore_patterns("__pycache__"))


@pytest.fixture(scope="session")
def collection_tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    galaxy("collection", "build", str(REPO), "--output-path", str(out))
    (tarball,) = out.glob("meshops-istio-*.tar.gz")
    return tarball


@pytest.fixture(scope="session")
def installed_collections(tmp_path_factory, collection_tarball):
    root = tmp_path_factory.mktemp("collections")
    add_kubernetes_core(root)
    galaxy("collection", "install", "--force", "--no-deps", "-p", str(root), str(collection_tarball))
    return root
