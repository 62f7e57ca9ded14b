#!/usr/bin/env bash
# antsibull-docs lint-collection-docs on the collection's plugin and role docs (semantic markup, references to
# other plugins, roles and options, RST generation). It loads every collection ansible-doc can see; the `ansible`
# package brings ~100, so it is shown only this one and kubernetes.core, the one it depends on.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
k8s_core=$("$root/.venv/bin/python" -c 'import ansible_collections.kubernetes.core as m, os; print(list(m.__path__)[0])')
deps=$root/.tools/docs-lint-collections
mkdir -p "$deps/ansible_collections/kubernetes" && ln -sfn "$k8s_core" "$deps/ansible_collections/kubernetes/core"
ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=False ANSIBLE_COLLECTIONS_PATH="$root/.tools/collections:$deps" \
  "$root/.venv/bin/antsibull-docs" lint-collection-docs --plugin-docs "$root"
