#!/usr/bin/env bash
# ansible-test sanity on exactly what ships: build the collection tarball (galaxy.yml's build_ignore decides
# its content), unpack it at ansible_collections/meshops/istio (a real directory, as ansible-test needs) with
# kubernetes.core beside it, and run sanity there. SANITY_VENV picks the venv whose ansible-test and Python run
# it (default .venv; `make matrix` passes its own), SANITY_DIR where the tree is built; arguments go to
# ansible-test sanity.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venv=${SANITY_VENV:-$root/.venv}
dest=${SANITY_DIR:-$root/.tools/sanity}
python=$venv/bin/python
py_version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
# Built under a temporary name and renamed into place, so an interrupted run leaves no half-built tree.
mkdir -p "$(dirname "$dest")" && rm -rf "$dest".tmp.*
build=$(mktemp -d "$dest.tmp.XXXXXX")
work=$build/ansible_collections
mkdir -p "$work/meshops/istio" "$work/kubernetes"
"$venv/bin/ansible-galaxy" collection build --force --output-path "$build/dist" "$root" >/dev/null
tarball=$(basename "$(ls "$build"/dist/meshops-istio-*.tar.gz)")
tar -xzf "$build/dist/$tarball" -C "$work/meshops/istio"
k8s_core=$("$python" -c 'import ansible_collections.kubernetes.core as m, os; print(list(m.__path__)[0])' 2>/dev/null \
  || echo "$root/.venv/lib/python3.11/site-packages/ansible_collections/kubernetes/core")
cp -r "$k8s_core" "$work/kubernetes/core"
# ansible-test bootstraps pip in the venvs it creates from a host we cannot reach; hand it our offline stand-in
# under the name of the pip version this ansible-test asks for.
pip_version=$("$python" - <<'PY'
import inspect, re
from ansible_test._internal import python_requirements
print(re.search(r"pip='([0-9.]+)'", inspect.getsource(python_requirements.get_venv_packages)).group(1))
PY
)
mkdir -p ~/.ansible/test/cache
cp "$root/scripts/get_pip_offline.py" ~/.ansible/test/cache/get_pip_"${pip_version//./_}".py
# ansible-test lists a collection's files through git when it is a repository: make the unpacked tarball one.
git -C "$work/meshops/istio" init -q . && git -C "$work/meshops/istio" add -A >/dev/null 2>&1
rm -rf "$dest" && mv "$build" "$dest"
cd "$dest/ansible_collections/meshops/istio"
echo "sanity with $("$venv/bin/ansible" --version | sed -n 1p) on Python $py_version, on the content of $tarball ($(git ls-files | wc -l) files)"
PATH="$venv/bin:$PATH" ansible-test sanity --python "$py_version" --local --color no "$@"
