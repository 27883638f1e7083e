#!/usr/bin/env bash
# End to end on a bootstrapped cluster (make kind-up images):
#   1. install the chart without serving; the three RayJobs train, register and publish each
#      new version's Triton repository to <store>/<model>/<version> (MODELYARD_MODEL_STORE_URI,
#      default s3://modelyard-models) and tag the version with that URI
#   2. read each champion's published URI from MLflow, enable serving with those storageUris,
#      wait for the InferenceServices, query each through its transformer and the gateway
#   3. canary: patch a second ranking predictor (the same published folder) taking 20% of
#      traffic, query, roll back
set -euo pipefail

NAMESPACE="${NAMESPACE:-modelyard}"
RELEASE=modelyard
full="$RELEASE"  # the chart shortens "<release>-modelyard" to the release name when it contains it
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
chart="$here/../../charts/modelyard"
models=(visual-search moderation ranking)
helm_args=(upgrade --install "$RELEASE" "$chart" --namespace "$NAMESPACE" --create-namespace
           -f "$chart/values-kind.yaml")
pf_pids=()
trap 'for p in "${pf_pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

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

infer() {  # infer LOCAL_PORT MODEL: one KServe v2 request from requests/MODEL.json
  curl -sf -H 'Content-Type: application/json' --data @"$here/requests/$2.json" \
    "http://127.0.0.1:$1/v2/models/$2/infer"
}

echo "== 1. storage, tracking, vector store and training"
helm "${helm_args[@]}" --set serving.enabled=false --set gateway.enabled=false --wait --timeout 15m
for m in "${models[@]}"; do
  kubectl -n "$NAMESPACE" wait "rayjob/$full-train-$m" \
    --for=jsonpath='{.status.jobStatus}'=SUCCEEDED --timeout=60m
done

echo "== 2. serving the champions training published"
port_forward "$full-mlflow" 15000:5000
declare -A published
serving_args=()
for m in "${models[@]}"; do
  published[$m]="$(published_uri "$m")"
  echo "-- $m: ${published[$m]}"
  serving_args+=(--set "models.$m.storageUri=${published[$m]}")
done
helm "${helm_args[@]}" "${serving_args[@]}" --wait --timeout 15m
kubectl -n "$NAMESPACE" wait inferenceservice --all --for=condition=Ready --timeout=15m
port=18080
for m in "${models[@]}"; do
  port=$((port + 1))
  port_forward "$m-transformer" "$port:80"
  echo "-- $m: $(infer "$port" "$m")"
done
api_key="$(kubectl -n "$NAMESPACE" get secret "$full-gateway" -o jsonpath='{.data.api-key}' | base64 -d)"
port_forward "$full-gateway" 18180:8080
curl -sf -H "X-API-Key: $api_key" http://127.0.0.1:18180/v2/health/ready
echo

echo "== 3. canary: ranking v2 (the same published folder) at 20%"
kubectl -n "$NAMESPACE" patch inferenceservice ranking --type merge -p "$(cat <<JSON
{"spec": {"canary": [{"trafficPercent": 20, "predictor": {"name": "v2", "model": {
  "name": "kserve-container", "modelFormat": {"name": "triton"},
  "runtime": "$full-triton", "storageUri": "${published[ranking]}"}}}]}}
JSON
)"
kubectl -n "$NAMESPACE" wait inferenceservice ranking --for=condition=Ready --timeout=10m
ok=0
for _ in $(seq 20); do infer 18083 ranking >/dev/null && ok=$((ok + 1)); done
echo "-- ranking answered $ok/20 during the canary"
[[ "$ok" == 20 ]]
kubectl -n "$NAMESPACE" get inferenceservice ranking -o jsonpath='{.status.components.predictor.traffic}'; echo
echo "-- roll back: drop the canary"
kubectl -n "$NAMESPACE" patch inferenceservice ranking --type merge -p '{"spec": {"canary": null}}'
kubectl -n "$NAMESPACE" wait inferenceservice ranking --for=condition=Ready --timeout=10m
echo "e2e passed"
