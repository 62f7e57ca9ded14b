#!/usr/bin/env bash
# Every check the project has, in one run: lints, ansible-test sanity, molecule, then pytest
# (unit, kubesim, integration). Runs them all and fails at the end if any failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
root=$PWD
export PATH="$root/.tools/bin:$root/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$root/.tools/collections"
# Nothing written outside the checkout: Ansible's home (collections, roles, tmp) under .tools/.
# shellcheck source=scripts/isolate.sh
source "$root/scripts/isolate.sh"
mkdir -p tests/output
failed=()
step() {
  local name=$1; shift
  echo "==> $name"
  local start=$SECONDS
  if "$@"; then echo "<== $name: ok ($((SECONDS - start))s)"; else echo "<== $name: FAILED ($((SECONDS - start))s)"; failed+=("$name"); fi
}
# A step started with `beside` runs in the background (its output kept in tests/output/step-<name>.log and
# shown when it is collected with `collect`) while the next steps run: only for a step that shares no files
# or caches with them.
declare -A beside_pid
beside() {
  local name=$1; shift
  echo "==> $name (in the background)"
  ( start=$SECONDS; if "$@"; then echo "<== $name: ok ($((SECONDS - start))s)"; else echo "<== $name: FAILED ($((SECONDS - start))s)"; exit 1; fi ) \
    >"tests/output/step-$name.log" 2>&1 &
  beside_pid[$name]=$!
}
collect() {
  local name=$1
  wait "${beside_pid[$name]}" || failed+=("$name")
  cat "tests/output/step-$name.log"
}
step ruff ruff check plugins sim tests scripts
step yamllint yamllint -s .
# ansible-test works on its own copy of the tree (.tools/sanity, copied at its start) and its own caches, so it
# runs on the second core while ansible-lint and molecule (one busy process each, most of the time) run.
beside sanity scripts/sanity.sh
step ansible-lint ansible-lint --profile production
step molecule molecule test --all
collect sanity
# Galaxy quality: the import Galaxy runs on an upload, the docs linter of the Ansible docsite, the changelog.
step galaxy-importer scripts/galaxy-importer.sh
step antsibull-docs scripts/docs-lint.sh
step antsibull-changelog antsibull-changelog lint
# Whole files per worker (module-scoped clusters and installs are built once), heaviest files first
# (tests/conftest.py orders them by tests/file_weights.json, and gives xdist a loadfile scheduler that runs the
# tests of a few long files, SPLIT_FILES, as units of their own); the per-file profile is printed at the end
# and kept in tests/output/test_profile.json. One worker more than there are cores: the release, burst and
# multicluster tests spend a third and more of their time waiting on Prometheus scrapes and release
# intervals with no process of theirs runnable (sampled: test_release_wave.py 32% idle, test_istio_traffic.py 2%),
# and the extra worker fills those gaps.
step pytest pytest -n "$(($(nproc) + 1))" --dist loadfile -p no:cacheprovider -rs --durations=20 tests
if [ ${#failed[@]} -gt 0 ]; then echo "FAILED: ${failed[*]}"; exit 1; fi
echo "all checks passed"
