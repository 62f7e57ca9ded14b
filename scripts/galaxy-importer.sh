#!/usr/bin/env bash
# galaxy-importer on the collection tarball, as Galaxy checks an upload (scripts/galaxy-importer.cfg): the
# import must succeed and report nothing, not even a warning. Then the ansible-lint run the importer makes
# (galaxy_importer/loaders/collection.py of the pinned 0.4.44: same arguments, environment and directory), with
# no time limit; its findings, which the importer reports as warnings, fail the step too.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH="$root/.venv/bin:$PATH"
mkdir -p "$root/.tools" && rm -rf "$root"/.tools/.importer.*
work=$(mktemp -d "$root/.tools/.importer.XXXXXX")
trap 'rm -rf "$work"' EXIT
ansible-galaxy collection build --force --output-path "$work" "$root" >/dev/null
tarball=$(ls "$work"/meshops-istio-*.tar.gz)
# The importer writes importer_result.json into its working directory.
cd "$work"
status=0
GALAXY_IMPORTER_CONFIG="$root/scripts/galaxy-importer.cfg" ANSIBLE_LOCAL_TEMP="$work/ansible-tmp" \
  python -m galaxy_importer.main "$tarball" >"$work/importer.log" 2>&1 || status=$?
cat "$work/importer.log"
if [ "$status" -ne 0 ]; then echo "galaxy-importer failed (exit $status)"; exit 1; fi
if grep -qE '^(WARNING|ERROR|CRITICAL):' "$work/importer.log"; then
  echo "galaxy-importer reported $(grep -cE '^(WARNING|ERROR|CRITICAL):' "$work/importer.log") warnings or errors"; exit 1
fi

collections=$work/collections
mkdir -p "$collections/ansible_collections/meshops/istio"
tar -xzf "$tarball" -C "$collections/ansible_collections/meshops/istio"
cd "$collections/ansible_collections/meshops/istio"
lint_status=0
env ANSIBLE_COLLECTIONS_PATH="$collections" ANSIBLE_LOCAL_TEMP="$work/ansible-tmp" XDG_CACHE_HOME="$work/ansible-tmp" \
  ansible-lint --profile production --exclude tests/integration/ --exclude tests/unit/ --format=pep8 --nocolor \
  -x yaml,var-naming,avoid-dot-notation,import-task-no-when,single-entry-point,use-loop --offline \
  >"$work/lint.out" 2>"$work/lint.err" || lint_status=$?
cat "$work/lint.out"
if [ "$lint_status" -ne 0 ] || [ -s "$work/lint.out" ]; then
  cat "$work/lint.err"; echo "ansible-lint as galaxy-importer runs it: $(wc -l <"$work/lint.out") findings (exit $lint_status)"; exit 1
fi
echo "galaxy-importer: $(basename "$tarball") imports cleanly, and its ansible-lint run finds nothing"
