#!/usr/bin/env bash
# ansible-test needs the collection at ansible_collections/<ns>/<name> (a real directory, not a
# symlink) with its dependencies beside it: build a copy of the tracked files plus kubernetes.core.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
# Built under a temporary name and renamed into place, so an interrupted run leaves no half-copied tree.
mkdir -p "$root/.tools" && rm -rf "$root"/.tools/.sanity.*
build=$(mktemp -d "$root/.tools/.sanity.XXXXXX")
work=$build/ansible_collections
mkdir -p "$work/meshops/istio" "$work/kubernetes"
# The simulators under tests/sim, the test charts and the stand-ins are test infrastructure, not
# collection content: ruff checks them.
git ls-files -z --cached --others --exclude-standard -- . ':!tests/sim' ':!tests/charts' ':!tests/standins' \
  | xargs -0 -I{} cp --parents {} "$work/meshops/istio/" 2>/dev/null || true
k8s_core=$("$root/.venv/bin/python" -c 'import ansible_collections.kubernetes.core as m, os; print(os.path.dirname(m.__file__))' 2>/dev/null \
  || echo "$root/.venv/lib/python3.11/site-packages/ansible_collections/kubernetes/core")
cp -r "$k8s_core" "$work/kubernetes/core"
# ansible-test bootstraps pip from a host we cannot reach; hand it our offline stand-in.
pip_version=$("$root/.venv/bin/python" -c 'from ansible_test._internal.python_requirements import PIP_VERSION as v; print(v)' 2>/dev/null || echo 24.2)
mkdir -p ~/.ansible/test/cache
cp "$root/scripts/get_pip_offline.py" ~/.ansible/test/cache/get_pip_"${pip_version//./_}".py
git -C "$work/meshops/istio" init -q . && git -C "$work/meshops/istio" add -A >/dev/null 2>&1
rm -rf "$root/.tools/sanity" && mv "$build" "$root/.tools/sanity"
cd "$root/.tools/sanity/ansible_collections/meshops/istio"
ansible-test sanity --python 3.11 --local --color no "$@"
