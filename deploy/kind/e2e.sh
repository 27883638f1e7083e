#!/usr/bin/env bash
# End to end on a bootstrapped cluster (make kind-up images):
#   1. install the chart without serving; the three RayJobs train, register and publish each
#      new version's Triton repository to <store>/<model>/<version> (MODELYARD_MODEL_STORE_URI,
#      default s3://modelyard-models) and tag the version with that URI
#   2. read each champion's published URI from MLflow, enable serving with those storageUris,
#      wait for the InferenceServices, query each through its transformer and the gateway
#   3. canary: train a second ranking version (a copy of its RayJob), `yard rollout start
#      --target k8s` (a candidate InferenceService ranking-v<N>, the split in the gateways'
#      rollouts ConfigMap), query through the gateway until both versions answered, roll back
# Step 3 runs the repo's `yard` on this host (make install), against port-forwards.
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

echo "== 3. canary: a second ranking version through the gateway, then a rollback"
yard="$here/../../.venv/bin/yard"
[[ -x "$yard" ]] || { echo "no $yard: run make install first (step 3 drives yard rollout)" >&2; exit 1; }
kubectl -n "$NAMESPACE" get rayjob "$full-train-ranking" -o json | python3 -c 'import json, sys
job = json.load(sys.stdin)
meta = job["metadata"]
meta["name"] += "-2"
for key in ("resourceVersion", "uid", "generation", "creationTimestamp", "managedFields"):
    meta.pop(key, None)
meta.pop("annotations", None)
job.pop("status", None)
print(json.dumps(job))' | kubectl -n "$NAMESPACE" apply -f -
kubectl -n "$NAMESPACE" wait "rayjob/$full-train-ranking-2" \
  --for=jsonpath='{.status.jobStatus}'=SUCCEEDED --timeout=60m
v1="${published[ranking]##*/}"
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
  --percent 50 --model-store "${published[ranking]%/ranking/*}" --ready-timeout 900
declare -A answered=()
for user in $(seq 40); do
  version="$(curl -sf -o /dev/null -D - -H "X-API-Key: $api_key" -H "x-user-id: $user" \
    -H 'Content-Type: application/json' --data @"$here/requests/ranking.json" \
    http://127.0.0.1:18180/v2/models/ranking/infer | tr -d '\r' | sed -n 's/^x-modelyard-version: //Ip')"
  answered[$version]=$(( ${answered[$version]:-0} + 1 ))
done
for v in "${!answered[@]}"; do echo "-- version $v answered ${answered[$v]}/40"; done
[[ -n "${answered[$v1]:-}" && -n "${answered[$v2]:-}" ]]
"$yard" rollout status ranking --target k8s -n "$NAMESPACE" --release "$RELEASE"
echo "-- roll back: all traffic to v$v1, the candidate InferenceService deleted"
"$yard" rollout rollback ranking --target k8s -n "$NAMESPACE" --release "$RELEASE" \
  --model-store "${published[ranking]%/ranking/*}"
! kubectl -n "$NAMESPACE" get inferenceservice "ranking-v$v2" 2>/dev/null
echo "e2e passed"
