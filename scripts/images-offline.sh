#!/usr/bin/env bash
# Build our three images without any registry image: podman (runc, cgroupfs) from a Debian
# bookworm root made with debootstrap, then run each image's entrypoint once.
#   1. podman, runc, debootstrap from Debian (apt-get), when missing (needs root)
#   2. local/debian:bookworm: debootstrap --variant=minbase from the mirror apt uses, imported
#   3. local/python:3.11-bookworm and local/node:bookworm (docker/offline-bases.Dockerfile)
#   4. ghcr.io/modelyard/{serving,training}:<appVersion> and triton:<appVersion>-pytriton (the
#      CPU variant with nvidia-pytriton's tritonserver; the NGC-based one needs nvcr.io)
#   5. each entrypoint once: yard/ray/mlflow in training, tritonserver on an empty repository
#      with a probe, the serving image's gateway with a probe
# pip and npm in the builds use this machine's wheels and CA bundle (mounted, not copied).
# Times and sizes go to .modelyard/images-offline.tsv (quoted in docs/kubernetes.md).
set -euo pipefail
cd "$(dirname "$0")/.."
APP_VERSION="${APP_VERSION:-$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' charts/modelyard/Chart.yaml)}"
SUITE=bookworm
WORK=.modelyard/images-offline
RESULTS=.modelyard/images-offline.tsv
mkdir -p "$WORK"

# --- 1. tools --------------------------------------------------------------------------------
missing=()
for pkg in podman runc debootstrap; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
if ((${#missing[@]})); then
  [[ "$(id -u)" == 0 ]] || { echo "needs root to apt-get install ${missing[*]}" >&2; exit 1; }
  apt-get install -y -q "${missing[@]}" >/dev/null || { apt-get update -q && apt-get install -y -q "${missing[@]}"; }
fi
# podman as it runs here (NOTES.md): runc (crun fails on hybrid cgroups), cgroupfs, no default ulimits.
printf '[containers]\ndefault_ulimits = []\n' > "$WORK/containers.conf"
export CONTAINERS_CONF="$PWD/$WORK/containers.conf"
podman=(podman --runtime /usr/sbin/runc --cgroup-manager=cgroupfs)

# --- 2. a Debian root ---------------------------------------------------------------------------
mirror() {  # the first Debian main mirror apt uses (deb822 .sources or one-line .list files)
  local found
  found=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1)
  [[ -n "$found" ]] || found=$(grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    awk '{print $2}' | grep -v security | head -1)
  echo "${found:-http://deb.debian.org/debian}"
}
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$RESULTS"; }
size_of() { "${podman[@]}" image inspect --format '{{.Size}}' "$1" | awk '{printf "%.0f MiB", $1/1048576}'; }
timed_build() {  # timed_build IMAGE podman-build-args...
  local image=$1 start; shift
  start=$(date +%s)
  "${podman[@]}" build --network=host -t "$image" "$@"
  record "$image" "$(( $(date +%s) - start )) s" "$(size_of "$image")"
}
: > "$RESULTS"
if ! "${podman[@]}" image exists local/debian:$SUITE; then
  root="$WORK/rootfs"
  rm -rf "$root"
  start=$(date +%s)
  debootstrap --variant=minbase "$SUITE" "$root" "$(mirror)"
  tar -C "$root" -c . | "${podman[@]}" import - local/debian:$SUITE
  rm -rf "$root"
  record local/debian:$SUITE "$(( $(date +%s) - start )) s (debootstrap + import)" "$(size_of local/debian:$SUITE)"
fi

# --- 3./4. bases and images ---------------------------------------------------------------------
# What pip and npm need in the build containers: this machine's wheels (the CPU torch) and CA bundle.
printf '[global]\nfind-links = /wheels\ncert = /certs/ca.crt\n' > "$WORK/pip.conf"
printf 'cafile=/certs/ca.crt\n' > "$WORK/npmrc"
mounts=(-v "$PWD/$WORK/pip.conf:/etc/pip.conf:ro" -v "$PWD/$WORK/npmrc:/etc/npmrc:ro"
        -v /etc/ssl/certs/ca-certificates.crt:/certs/ca.crt:ro)
[[ -d /opt/wheels ]] && mounts+=(-v /opt/wheels:/wheels:ro)
offline_args=(--build-arg TORCH_INDEX_URL=https://pypi.org/simple)

timed_build local/python:3.11-$SUITE -f docker/offline-bases.Dockerfile --target python "${mounts[@]}" .
timed_build local/node:$SUITE -f docker/offline-bases.Dockerfile --target node "${mounts[@]}" .
timed_build "ghcr.io/modelyard/serving:$APP_VERSION" -f docker/serving.Dockerfile "${mounts[@]}" \
  "${offline_args[@]}" --build-arg PYTHON_IMAGE=local/python:3.11-$SUITE .
timed_build "ghcr.io/modelyard/triton:$APP_VERSION-pytriton" -f docker/triton-pytriton.Dockerfile "${mounts[@]}" \
  "${offline_args[@]}" --build-arg PYTHON_IMAGE=local/python:3.11-$SUITE .
timed_build "ghcr.io/modelyard/training:$APP_VERSION" -f docker/training.Dockerfile "${mounts[@]}" \
  "${offline_args[@]}" --build-arg RAY_IMAGE=local/python:3.11-$SUITE \
  --build-arg DEBIAN_IMAGE=local/debian:$SUITE --build-arg NODE_IMAGE=local/node:$SUITE .

# --- 5. each entrypoint once ---------------------------------------------------------------------
run=("${podman[@]}" run --rm --network=host --read-only --tmpfs /tmp)
echo "== training: yard, ray and mlflow"
"${run[@]}" "ghcr.io/modelyard/training:$APP_VERSION" yard --help >/dev/null
"${run[@]}" "ghcr.io/modelyard/training:$APP_VERSION" ray --version
"${run[@]}" "ghcr.io/modelyard/training:$APP_VERSION" mlflow --version
probe() {  # probe NAME URL: wait until URL answers 200 (60 s)
  for _ in $(seq 120); do curl -sf -o /dev/null "$2" && { echo "$1: $2 answered 200"; return 0; }; sleep 0.5; done
  echo "$1: $2 never answered" >&2; return 1
}
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
echo "== triton: the image's CMD (tritonserver) on an empty repository, probed"
http=$(port); grpc=$(port); metrics=$(port)
mkdir -p "$WORK/empty-models"
name="images-offline-triton-$$"
"${podman[@]}" run -d --rm --name "$name" --network=host --read-only --tmpfs /tmp \
  -v "$PWD/$WORK/empty-models:/mnt/models:ro" "ghcr.io/modelyard/triton:$APP_VERSION-pytriton" \
  tritonserver --model-store=/mnt/models --http-address=127.0.0.1 --http-port="$http" \
  --grpc-address=127.0.0.1 --grpc-port="$grpc" --metrics-address=127.0.0.1 --metrics-port="$metrics" >/dev/null
trap '"${podman[@]}" rm -f "$name" >/dev/null 2>&1 || true' EXIT
probe triton "http://127.0.0.1:$http/v2/health/ready" || { "${podman[@]}" logs "$name" | tail -20; exit 1; }
"${podman[@]}" rm -f "$name" >/dev/null
echo "== serving: the image's CMD (the gateway), probed; and the transformer's --help"
"${run[@]}" "ghcr.io/modelyard/serving:$APP_VERSION" python -m serving.transformer --help >/dev/null
gw=$(port)
name="images-offline-gateway-$$"
"${podman[@]}" run -d --rm --name "$name" --network=host --read-only --tmpfs /tmp \
  -e MODELYARD_GATEWAY_PORT="$gw" -e MODELYARD_HOST=127.0.0.1 -e MODELYARD_API_KEY=offline-check \
  "ghcr.io/modelyard/serving:$APP_VERSION" python -m serving.gateway --route moderation=http://127.0.0.1:9@1 >/dev/null
probe gateway "http://127.0.0.1:$gw/v2/health/live" || { "${podman[@]}" logs "$name" | tail -20; exit 1; }
"${podman[@]}" rm -f "$name" >/dev/null
echo "== built offline (image, build time, size):"
column -t -s $'\t' "$RESULTS"
