#!/usr/bin/env bash
# Cluster prerequisites of the modelyard chart, on kind (or any current context with
# SKIP_KIND=1, e.g. minikube): cert-manager, KServe v0.20 in Standard mode, KubeRay v1.7.
# Object storage (MinIO) comes with the chart itself (minio.enabled, on by default).
# Idempotent: every step is "create if missing" or `helm upgrade --install`.
set -euo pipefail

KIND_CLUSTER="${KIND_CLUSTER:-modelyard}"
CERT_MANAGER_VERSION="${CERT_MANAGER_VERSION:-v1.17.2}"
KSERVE_VERSION="${KSERVE_VERSION:-v0.20.0}"
KUBERAY_VERSION="${KUBERAY_VERSION:-1.7.0}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [[ "${SKIP_KIND:-0}" != 1 ]]; then
  if ! kind get clusters 2>/dev/null | grep -qx "$KIND_CLUSTER"; then
    kind create cluster --name "$KIND_CLUSTER" --config "$here/kind-config.yaml" --wait 120s
  fi
  kubectl config use-context "kind-$KIND_CLUSTER"
fi

echo "== cert-manager $CERT_MANAGER_VERSION (KServe's webhooks need its certificates)"
helm upgrade --install cert-manager cert-manager \
  --repo https://charts.jetstack.io --version "$CERT_MANAGER_VERSION" \
  --namespace cert-manager --create-namespace --set crds.enabled=true --wait --timeout 10m

echo "== KServe $KSERVE_VERSION, Standard (raw Deployment) mode: no Knative or Istio needed"
helm upgrade --install kserve-crd oci://ghcr.io/kserve/charts/kserve-crd \
  --version "$KSERVE_VERSION" --namespace kserve --create-namespace --wait
helm upgrade --install kserve oci://ghcr.io/kserve/charts/kserve-resources \
  --version "$KSERVE_VERSION" --namespace kserve \
  --set kserve.controller.deploymentMode=Standard --wait --timeout 10m

echo "== KubeRay operator $KUBERAY_VERSION"
helm upgrade --install kuberay-operator kuberay-operator \
  --repo https://ray-project.github.io/kuberay-helm/ --version "$KUBERAY_VERSION" \
  --namespace kuberay-system --create-namespace --wait --timeout 10m

echo "bootstrap done: $(kubectl config current-context)"
