#!/usr/bin/env bash
# End to end on a bootstrapped cluster (make kind-up images):
#   1. install the chart without serving; the three RayJobs train and publish each model's
#      Triton repository to s3://modelyard-models/<model>/1 (MODELYARD_MODEL_STORE_URI)
#   2. enable serving, wait for the InferenceServices, query each through its transformer
#      and once through the gateway
#   3. canary: patch a second ranking predictor taking 20% of traffic, query, roll back
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

echo "== 2. serving"
helm "${helm_args[@]}" --wait --timeout 15m
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

echo "== 3. canary: ranking v2 (same artifact) at 20%"
kubectl -n "$NAMESPACE" patch inferenceservice ranking --type merge -p "$(cat <<JSON
{"spec": {"canary": [{"trafficPercent": 20, "predictor": {"name": "v2", "model": {
  "name": "kserve-container", "modelFormat": {"name": "triton"},
  "runtime": "$full-triton", "storageUri": "s3://modelyard-models/ranking/1"}}}]}}
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
