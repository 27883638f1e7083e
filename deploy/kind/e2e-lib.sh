# Functions of deploy/kind/e2e.sh, sourced by it and by tests/unit/deploy/test_e2e_lib.py (which runs
# them with stand-in kubectl/curl on PATH). Each check returns non-zero when it fails and says why on
# stderr: call them as plain commands (or in `if`), never inside `$(...)` within another command's
# arguments or after `!`, where `set -e` cannot see a failure. Bash 3.2 (macOS) compatible: no
# associative arrays, no `mapfile`, no `${x,,}`.
# Needs: NAMESPACE, REQUESTS (the folder of queries.tsv and the request bodies).

E2E_POLL_S="${E2E_POLL_S:-10}"

preflight() {  # preflight YARD: every tool the steps need, checked before an hour of training
  local missing="" tool
  for tool in kubectl helm curl python3; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
  done
  [[ -x "$1" ]] || missing="$missing $1 (run make install)"
  if [[ -n "$missing" ]]; then
    echo "missing:$missing" >&2
    return 1
  fi
}

wait_rayjob() {  # wait_rayjob NAME TIMEOUT_S: KubeRay's jobDeploymentStatus ends the wait, Failed too
  local name=$1 deadline=$((SECONDS + $2)) status="" job
  while ((SECONDS < deadline)); do
    status=$(kubectl -n "$NAMESPACE" get rayjob "$name" -o jsonpath='{.status.jobDeploymentStatus}') || return 1
    case "$status" in
      Complete)
        job=$(kubectl -n "$NAMESPACE" get rayjob "$name" -o jsonpath='{.status.jobStatus}') || return 1
        if [[ "$job" == SUCCEEDED ]]; then
          echo "-- rayjob $name: Complete, SUCCEEDED"
          return 0
        fi
        echo "rayjob $name completed with job status ${job:-none}" >&2
        return 1 ;;
      Failed | ValidationFailed)
        echo "rayjob $name $status: $(kubectl -n "$NAMESPACE" get rayjob "$name" \
          -o jsonpath='{.status.reason}: {.status.message}' 2>&1)" >&2
        return 1 ;;
    esac
    sleep "$E2E_POLL_S"
  done
  echo "rayjob $name not finished after $2 s (jobDeploymentStatus: ${status:-none})" >&2
  return 1
}

run_queries() {  # run_queries BASE_URL API_KEY: every query of queries.tsv; fails if any answer differs
  local failed=0 name path body key status expect rehearsal rehearsal_expect code out
  out=$(mktemp)
  while IFS=$'\t' read -r name path body key status expect rehearsal rehearsal_expect; do
    [[ -z "$name" || "$name" == \#* ]] && continue
    local auth=()
    case "$key" in
      chart) auth=(-H "X-API-Key: $2") ;;
      wrong) auth=(-H "X-API-Key: not-the-api-key") ;;
    esac
    code=$(curl -s -o "$out" -w '%{http_code}' ${auth[@]+"${auth[@]}"} -H 'Content-Type: application/json' \
      --data @"$REQUESTS/$body" "$1$path") || code=000
    if [[ "$code" == "$status" ]] && grep -qiF -- "$expect" "$out"; then
      echo "PASS $name: HTTP $code"
    else
      echo "FAIL $name: HTTP $code (expected $status, body with $expect): $(head -c 300 "$out")" >&2
      failed=$((failed + 1))
    fi
  done < "$REQUESTS/queries.tsv"
  rm -f "$out"
  if ((failed)); then
    echo "$failed queries failed" >&2
    return 1
  fi
}

expect_gone() {  # expect_gone KIND NAME: fails while the object still exists
  if kubectl -n "$NAMESPACE" get "$1" "$2" >/dev/null 2>&1; then
    echo "$1/$2 still exists" >&2
    return 1
  fi
}
