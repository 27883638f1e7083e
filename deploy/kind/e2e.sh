#!/usr/bin/env bash
# End to end on a bootstrapped cluster (make kind-up images):
#   0. preflight: kubectl, helm, curl, python3 and the repo's .venv/bin/yard, before anything runs
#   1. install the chart (values-kind: storage, tracking, search; no serving yet), then train the
#      three models ONE AT A TIME (one RayJob fits the 8 GiB node): each registers a version and
#      publishes its Triton repository to <store>/<model>/<version>; the wait ends on KubeRay's
#      jobDeploymentStatus (Complete, or Failed once its backoffLimit retries are spent)
#   2. read each champion's published URI from MLflow, enable serving with those storageUris, wait
#      for the InferenceServices and run the queries of requests/queries.tsv through the gateway:
#      the same queries, bodies and expected answers as the offline rehearsal (make k8s-rehearsal);
#      then `helm test` (the chart's hook, files/gateway_smoke.py, from inside the cluster)
#   3. canary: train a second ranking version, `yard rollout start --target k8s` (a candidate
#      InferenceService ranking-v<N>, the split in the gateways' rollouts ConfigMap), query through
#      the gateway until both versions answered, roll back
# Step 3 runs the repo's `yard` on this host, against port-forwards. Every check is a plain command
# of deploy/kind/e2e-lib.sh, so `set -e` stops at the first failure (tests/unit/deploy tests them).
set -euo pipefail

NAMESPACE="${NAMESPACE:-modelyard}"
RELEASE=modelyard
full="$RELEASE"  # the chart shortens "<release>-modelyard" to the release name when it contains it
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
chart="$here/../../charts/modelyard"
yard="$here/../../.venv/bin/yard"
REQUESTS="$here/requests"
TRAIN_TIMEOUT_S="${TRAIN_TIMEOUT_S:-3600}"
models=(visual-search moderation ranking)
helm_args=(upgrade --install "$RELEASE" "$chart" --namespace "$NAMESPACE" --create-namespace
           -f "$chart/values-kind.yaml")
# shellcheck source=deploy/kind/e2e-lib.sh
source "$here/e2e-lib.sh"
pf_pids=()
trap 'for p in ${pf_pids[@]+"${pf_pids[@]}"}; do kill "$p" 2>/dev/null || true; done' EXIT

port_forward() {  # port_forward SERVICE LOCAL:REMOTE; waits until the local port answers
  kubectl -n "$NAMESPACE" port-forward "svc/$1" "$2" >/dev/null &
  pf_pids+=($!)
  for _ in $(seq 30); do curl -s -o /dev/null "http://127.0.0.1:${2%%:*}/" && return 0; sleep 1; done
  echo "port-forward to $1 did not come up" >&2; return 1
}

published_uri() {  # published_uri MODEL: the storageUri training recorded on MODEL's champion
  local champion
  champion="$(curl -sf "http://127.0.0.1:15000/api/2.0/mlflow/registered-models/alias?name=$1&alias=champion")" ||
    { echo "$1 has no champion in MLflow: did its RayJob register a version?" >&2; return 1; }
  python3 -c 'import json, sys
tags = {t["key"]: t["value"] for t in json.load(sys.stdin)["model_version"].get("tags", [])}
if "modelyard.storage_uri" not in tags:
    sys.exit(f"{sys.argv[1]}: its champion was never published (yard registry publish {sys.argv[1]})")
print(tags["modelyard.storage_uri"])' "$1" <<<"$champion"
}

echo "== 0. preflight"
preflight "$yard"

echo "== 1. storage, tracking, vector store; then training, one RayJob at a time"
helm "${helm_args[@]}" --wait --timeout 15m
for m in "${models[@]}"; do
  helm "${helm_args[@]}" --set "training.models.$m.enabled=true" --wait --timeout 15m
  wait_rayjob "$full-train-$m" "$TRAIN_TIMEOUT_S"
done

echo "== 2. serving the champions training published"
port_forward "$full-mlflow" 15000:5000
serving_args=(--set serving.enabled=true --set gateway.enabled=true)
for m in "${models[@]}"; do
  uri="$(published_uri "$m")"
  echo "-- $m: $uri"
  serving_args+=(--set "models.$m.storageUri=$uri")
done
helm "${helm_args[@]}" "${serving_args[@]}" --wait --timeout 15m
kubectl -n "$NAMESPACE" wait inferenceservice --all --for=condition=Ready --timeout=15m
api_key="$(kubectl -n "$NAMESPACE" get secret "$full-gateway" -o jsonpath='{.data.api-key}' | base64 -d)"
port_forward "$full-gateway" 18180:8080
run_queries http://127.0.0.1:18180 "$api_key"
echo "-- helm test: the chart's own hook queries each model through the gateway Service"
helm test "$RELEASE" --namespace "$NAMESPACE" --logs --timeout 5m

echo "== 3. canary: a second ranking version through the gateway, then a rollback"
ranking_uri="$(published_uri ranking)"
v1="${ranking_uri##*/}"
# A RayJob runs once: delete the finished one and let helm create it again for a second run.
kubectl -n "$NAMESPACE" delete rayjob "$full-train-ranking" --ignore-not-found --wait
helm "${helm_args[@]}" "${serving_args[@]}" --set training.models.ranking.enabled=true --wait --timeout 15m
wait_rayjob "$full-train-ranking" "$TRAIN_TIMEOUT_S"
v2="$(curl -sf "http://127.0.0.1:15000/api/2.0/mlflow/registered-models/get?name=ranking" | python3 -c 'import json, sys
print(max(int(v["version"]) for v in json.load(sys.stdin)["registered_model"]["latest_versions"]))')"
echo "-- stable v$v1, candidate v$v2"
port_forward "$full-qdrant" 16333:6333
export MODELYARD_MLFLOW_TRACKING_URI=http://127.0.0.1:15000 MODELYARD_QDRANT_URL=http://127.0.0.1:16333
MODELYARD_QDRANT_API_KEY="$(kubectl -n "$NAMESPACE" get secret "$full-qdrant" -o jsonpath='{.data.api-key}' | base64 -d)"
export MODELYARD_QDRANT_API_KEY
# start creates ranking-v$v2, waits for Ready, writes 50% into the ConfigMap and waits until
# every gateway pod applied it (the kubelet refreshes mounted ConfigMaps within about a minute)
"$yard" rollout start ranking --target k8s -n "$NAMESPACE" --release "$RELEASE" --version "$v2" \
  --percent 50 --model-store "${ranking_uri%/ranking/*}" --ready-timeout 900
from_v1=0 from_v2=0
for user in $(seq 40); do
  version="$(curl -sf -o /dev/null -D - -H "X-API-Key: $api_key" -H "x-user-id: $user" \
    -H 'Content-Type: application/json' --data @"$REQUESTS/ranking.json" \
    http://127.0.0.1:18180/v2/models/ranking/infer | tr -d '\r' | sed -n 's/^x-modelyard-version: //Ip')"
  case "$version" in
    "$v1") from_v1=$((from_v1 + 1)) ;;
    "$v2") from_v2=$((from_v2 + 1)) ;;
    *) echo "a ranking request answered from version '${version:-none}'" >&2; exit 1 ;;
  esac
done
echo "-- v$v1 answered $from_v1/40, v$v2 answered $from_v2/40"
if ((from_v1 == 0 || from_v2 == 0)); then echo "the split did not reach both versions" >&2; exit 1; fi
"$yard" rollout status ranking --target k8s -n "$NAMESPACE" --release "$RELEASE"
echo "-- roll back: all traffic to v$v1, the candidate InferenceService deleted"
"$yard" rollout rollback ranking --target k8s -n "$NAMESPACE" --release "$RELEASE" \
  --model-store "${ranking_uri%/ranking/*}"
expect_gone inferenceservice "ranking-v$v2"
echo "e2e passed"
