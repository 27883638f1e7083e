#!/usr/bin/env bash
# Regenerates the hashes of requirements/lock.txt for the pins it already holds.
#
# To change a pin: edit its `name==version` line in requirements/lock.txt (or add one), run this,
# then `make install` (which checks the lock is complete) and commit. Every file the indexes
# serve for a pinned version gets its sha256 (pip-compile --generate-hashes), so the lock
# installs on any platform those files cover; torch's CPU wheel (`+cpu`) is the file in pip's
# find-links folder (`pip config list`), no index serves it. recbole is hashed apart: it is
# installed without its dependencies (it pins a Ray from 2023), so they are not resolved.
# Slow: pip-compile reads every pinned version's file list (about an hour on 2 busy cores).
set -euo pipefail
cd "$(dirname "$0")/.."
LOCK=requirements/lock.txt
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q --disable-pip-version-check pip-tools==7.6.2
pins() { sed -n 's/^\([A-Za-z0-9][A-Za-z0-9._-]*==[^ \\]*\).*/\1/p' "$LOCK"; }
pins | grep -v '^recbole==' > "$work/pins.in"
"$work/venv/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --strip-extras --no-header \
  --no-emit-index-url --no-emit-find-links \
  --no-annotate --output-file "$work/resolved.txt" "$work/pins.in"

hash_one() {  # name==version -> "name==version --hash=sha256:..." from the file pip picks here
  "$work/venv/bin/pip" download --quiet --disable-pip-version-check --no-deps --dest "$work/dl" "$1"
  local file
  file=$(ls -t "$work"/dl/* | head -1)
  echo "$1 --hash=sha256:$(sha256sum "$file" | cut -d' ' -f1)"
  rm -f "$file"
}
{
  echo "# Every package make install installs, each with the sha256 of its files (pip --require-hashes)."
  echo "# Regenerate the hashes with scripts/lock.sh after changing a pin; see that script."
  cat "$work/resolved.txt"
  for pin in $(pins | grep '^recbole=='); do hash_one "$pin"; done
} > "$work/lock.txt"
mv "$work/lock.txt" "$LOCK"
echo "wrote $LOCK ($(grep -c '==' "$LOCK") pins)"
