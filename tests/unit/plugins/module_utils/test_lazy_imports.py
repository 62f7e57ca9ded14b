"""Loading a module's file imports no third-party package, nor ansible's urls: every module process would pay for
them (AnsiballZ runs a new Python per task), also on the paths that never use them. The kubernetes client is
imported when a Cluster is built (kube.py), ansible's urls when Prometheus is queried (prometheus.py), cryptography
when a CA is made or read (multicluster.py), RE2 when a header regex is checked (validation.py). The figures are
in docs/bench.md ("Issue 11, lazy imports")."""
import json
import subprocess
import sys

from tests.conftest import COLLECTIONS, REPO

PROBE = r"""
import importlib, json, pkgutil, sys
import ansible.module_utils.basic  # what every module process has already loaded

package = importlib.import_module(sys.argv[1])
only = sys.argv[2:]


def third_party(names):
    return sorted({n.split(".")[0] for n in names if n.split(".")[0] not in sys.stdlib_module_names
                   and n.split(".")[0] not in ("ansible", "ansible_collections")}
                  | {n for n in names if n.startswith("ansible.module_utils.urls")})


found = {}
for info in pkgutil.iter_modules(package.__path__):
    if only and info.name not in only:
        continue
    before = set(sys.modules)
    importlib.import_module(package.__name__ + "." + info.name)
    found[info.name] = third_party(set(sys.modules) - before)
print(json.dumps(found))
"""


def loaded_by_each_module(package, *only):
    """{module: [third-party packages its loading imported]} for every module of ``package`` (or those named),
    loaded in turn in one fresh Python (what an earlier one imported is not counted again)."""
    proc = subprocess.run([sys.executable, "-c", PROBE, package, *only], capture_output=True, text=True, cwd=REPO,
                          check=True, env={"PYTHONPATH": str(COLLECTIONS) + ":" + str(REPO), "PATH": "/usr/bin:/bin"})
    return json.loads(proc.stdout)


def test_loading_a_module_imports_no_third_party_package():
    found = loaded_by_each_module("ansible_collections.meshops.istio.plugins.modules")
    assert len(found) == len(list((REPO / "plugins" / "modules").glob("*.py")))
    assert {name: packages for name, packages in found.items() if packages} == {}


def test_the_probe_sees_what_a_module_imports_at_load_time():
    # The check above is worth something only if such an import shows: kubernetes.core's modules import the
    # kubernetes client (and more) when they are loaded.
    found = loaded_by_each_module("ansible_collections.kubernetes.core.plugins.modules", "k8s_info")
    assert "kubernetes" in found["k8s_info"], found
