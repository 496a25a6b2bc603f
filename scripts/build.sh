#!/usr/bin/env bash
# build.sh: install missing build dependencies and build mixlm into build/ (Release).
# Extra arguments go to cmake's configure step, e.g. -DMIXLM_FORCE_SCALAR=ON.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j "$(nproc)"
