#!/usr/bin/env bash
# fuzz.sh RUNS: build the libFuzzer harnesses with clang and run each one RUNS times from its
# seed corpus (fuzz/corpus/NAME). A crash, leak or sanitizer report fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20000}
# The harnesses parse files and text and never run the kernels, so the build takes the scalar
# ones only: clang with the sanitizers and fuzzer coverage spends minutes on the unrolled AVX2
# kernel files (the sanitizer build of the tests covers those).
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMIXLM_FUZZ=ON \
  -DMIXLM_SANITIZE=ON -DMIXLM_BUILD_TESTS=OFF -DMIXLM_FORCE_SCALAR=ON >/dev/null
cmake --build build-fuzz -j "$(nproc)"
n=0
for bin in build-fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  corpus="fuzz/corpus/${name#fuzz_}"
  work=$(mktemp -d)
  [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/ 2>/dev/null || true
  echo "fuzz: $name ($runs runs)"
  "$bin" -runs="$runs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 "$work" >"$work.log" 2>&1 || {
    tail -50 "$work.log"; echo "fuzz: $name FAILED"; exit 1; }
  rm -rf "$work" "$work.log"
  n=$((n+1))
done
echo "fuzz: $n passed, 0 failed"
