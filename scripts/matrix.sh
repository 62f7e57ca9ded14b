#!/usr/bin/env bash
# The support matrix (`make matrix`): the oldest ansible-core that meta/runtime.yml allows, the pinned one and
# the newest, each in its own venv under .tools/matrix built from tests/matrix/requirements-core<X.Y>.txt
# (rebuilt when that file changes). Each gets ansible-test sanity of the tarball's modules and plugins
# (compile, import, validate-modules, ansible-doc, runtime-metadata), the unit tests and one playbook
# (namespaces.yml: first run, then changed=0) against kubesim. Runs them all, fails at the end if any failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
root=$PWD
pyenv_root=${PYENV_ROOT:-/root/.pyenv}
# ansible-core X.Y on Python A.B.C (a pyenv version).
matrix=("2.16 3.12.1" "2.19 3.11.7" "2.21 3.13.0")
# The collections a user gets with the pinned `ansible` package of requirements-test.txt: kubernetes.core 6.x
# (meta/runtime.yml: requires_ansible >=2.16.0) and ansible.posix (the tests' json callback, >=2.15.0).
collections=(kubernetes/core ansible/posix)
sys_collections=$("$root/.venv/bin/python" -c 'import ansible_collections.kubernetes.core as m, os; print(os.path.dirname(os.path.dirname(list(m.__path__)[0])))')
export ANSIBLE_COLLECTIONS_PATH="$root/.tools/collections"
failed=()

step() {
  local name=$1; shift
  echo "==> $name"
  local start=$SECONDS
  if "$@"; then echo "<== $name: ok ($((SECONDS - start))s)"; else echo "<== $name: FAILED ($((SECONDS - start))s)"; failed+=("$name"); fi
}

# The venv of one matrix entry; the stamp is written last, so an interrupted build is redone next time.
venv_for() {
  local core=$1 python_version=$2
  local venv=$root/.tools/matrix/core$core req=$root/tests/matrix/requirements-core$core.txt
  local python=$pyenv_root/versions/$python_version/bin/python
  if [ -f "$venv/.installed" ] && [ "$venv/.installed" -nt "$req" ]; then return 0; fi
  if [ ! -x "$python" ]; then echo "Python $python_version not found at $python (install it with pyenv)"; return 1; fi
  rm -rf "$venv" && "$python" -m venv "$venv" || return 1
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" 2>&1 | grep -v "^WARNING: Location"
  "$venv/bin/python" -c 'import ansible, kubernetes, pytest' || return 1
  local site c
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  for c in "${collections[@]}"; do
    rm -rf "${site:?}/ansible_collections/$c" && mkdir -p "$site/ansible_collections/${c%/*}" \
      && cp -r "$sys_collections/$c" "$site/ansible_collections/$c" || return 1
  done
  touch "$venv/.installed"
}

for entry in "${matrix[@]}"; do
  read -r core python_version <<<"$entry"
  venv=$root/.tools/matrix/core$core
  label="core $core/py ${python_version%.*}"
  step "$label: venv" venv_for "$core" "$python_version" || true
  if [ ! -f "$venv/.installed" ]; then continue; fi
  "$venv/bin/ansible" --version | sed -n 1p
  step "$label: sanity" env SANITY_VENV="$venv" SANITY_DIR="$venv/sanity" scripts/sanity.sh \
    --test compile --test import --test validate-modules --test ansible-doc --test runtime-metadata
  step "$label: unit" "$venv/bin/python" -m pytest -p no:cacheprovider -q -n 2 tests/unit
  step "$label: namespaces.yml on kubesim" "$venv/bin/python" -m pytest -p no:cacheprovider -q -n 0 \
    "tests/integration/test_istio_namespace.py::test_role_prepares_namespaces_from_inventory_variables"
done
if [ ${#failed[@]} -gt 0 ]; then echo "FAILED: ${failed[*]}"; exit 1; fi
echo "matrix passed"
