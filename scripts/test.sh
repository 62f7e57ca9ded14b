#!/usr/bin/env bash
# Every check the project has, in one run: lints, ansible-test sanity, molecule, then pytest
# (unit, kubesim, integration). Runs them all and fails at the end if any failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
root=$PWD
export PATH="$root/.tools/bin:$root/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$root/.tools/collections"
mkdir -p tests/output
failed=()
step() {
  local name=$1; shift
  echo "==> $name"
  local start=$SECONDS
  if "$@"; then echo "<== $name: ok ($((SECONDS - start))s)"; else echo "<== $name: FAILED ($((SECONDS - start))s)"; failed+=("$name"); fi
}
step ruff ruff check plugins tests scripts
step yamllint yamllint -s .
step ansible-lint ansible-lint --profile production
step sanity scripts/sanity.sh
# Galaxy quality: the import Galaxy runs on an upload, the docs linter of the Ansible docsite, the changelog.
step galaxy-importer scripts/galaxy-importer.sh
step antsibull-docs scripts/docs-lint.sh
step antsibull-changelog antsibull-changelog lint
step molecule molecule test --all
step pytest pytest -n 2 -p no:cacheprovider -rs --durations=20 tests
if [ ${#failed[@]} -gt 0 ]; then echo "FAILED: ${failed[*]}"; exit 1; fi
echo "all checks passed"
