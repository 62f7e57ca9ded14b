#!/usr/bin/env bash
# galaxy-importer on the collection tarball, as Galaxy checks an upload (scripts/galaxy-importer.cfg): the
# import must succeed and report nothing, not even a warning (its ansible-lint findings are warnings).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export PATH="$root/.venv/bin:$PATH"
mkdir -p "$root/.tools" && rm -rf "$root"/.tools/.importer.*
work=$(mktemp -d "$root/.tools/.importer.XXXXXX")
trap 'rm -rf "$work"' EXIT
"$root/.venv/bin/ansible-galaxy" collection build --force --output-path "$work" "$root" >/dev/null
tarball=$(ls "$work"/meshops-istio-*.tar.gz)
# The importer writes importer_result.json into its working directory.
cd "$work"
status=0
GALAXY_IMPORTER_CONFIG="$root/scripts/galaxy-importer.cfg" ANSIBLE_LOCAL_TEMP="$work/ansible-tmp" \
  "$root/.venv/bin/python" -m galaxy_importer.main "$tarball" >"$work/importer.log" 2>&1 || status=$?
cat "$work/importer.log"
if [ "$status" -ne 0 ]; then echo "galaxy-importer failed (exit $status)"; exit 1; fi
if grep -qE '^(WARNING|ERROR|CRITICAL):' "$work/importer.log"; then
  echo "galaxy-importer reported $(grep -cE '^(WARNING|ERROR|CRITICAL):' "$work/importer.log") warnings or errors"; exit 1
fi
echo "galaxy-importer: $(basename "$tarball") imports cleanly"
