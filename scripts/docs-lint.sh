#!/usr/bin/env bash
# antsibull-docs lint-collection-docs on the docs of what ships (semantic markup, references to other plugins,
# roles and options, RST generation), run on the unpacked tarball: on a checkout it would copy the whole tree,
# .venv and .tools included. It loads every collection ansible-doc can see, and the `ansible` package brings
# ~100, so it is shown only this one and kubernetes.core, the one it depends on.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH="$root/.venv/bin:$PATH"
mkdir -p "$root/.tools" && rm -rf "$root"/.tools/.docs-lint.*
work=$(mktemp -d "$root/.tools/.docs-lint.XXXXXX")
trap 'rm -rf "$work"' EXIT
collection=$work/ansible_collections/meshops/istio
mkdir -p "$collection" "$work/ansible_collections/kubernetes"
"$root/.venv/bin/ansible-galaxy" collection build --force --output-path "$work" "$root" >/dev/null
tar -xzf "$work"/meshops-istio-*.tar.gz -C "$collection"
k8s_core=$("$root/.venv/bin/python" -c 'import ansible_collections.kubernetes.core as m; print(list(m.__path__)[0])')
cp -r "$k8s_core" "$work/ansible_collections/kubernetes/core"
ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=False ANSIBLE_COLLECTIONS_PATH="$work" \
  "$root/.venv/bin/antsibull-docs" lint-collection-docs --plugin-docs "$collection"
