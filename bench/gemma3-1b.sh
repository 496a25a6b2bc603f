#!/usr/bin/env bash
# gemma3-1b.sh: the engine figures of bench/RESULTS.md: `mixlm bench` on random-weight Gemma 3
# 1B-shaped models (tools/dev/gen-random-model) in F16, Q8_0 and a Q4_K_M-style mix; decode at
# depth (f16 KV, the default, and F32); four sequences decoded together; one thread against two on prefill
# (Q8_0 and F16); KV bytes of a 32k f16 context. Run on a quiet machine: every figure is a
# wall-clock speed.
#   bench/gemma3-1b.sh [OUT_DIR]    (models are cached in $MODELS, default /tmp/mixlm-g3-1b)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/out}
models=${MODELS:-/tmp/mixlm-g3-1b}
reps=${REPS:-3}
mkdir -p "$out" "$models"
run() { # name, then the bench arguments
  local name=$1
  shift
  echo "+ mixlm bench $*" | tee "$out/$name.txt"
  build/mixlm bench "$@" | tee -a "$out/$name.txt"
}
for t in q8_0 f16 q4_k_m; do
  [ -f "$models/g3-1b-$t.gguf" ] || build/gen-random-model --type "$t" --out "$models/g3-1b-$t.gguf"
done
uptime | tee "$out/uptime-start.txt"
for t in q8_0 f16 q4_k_m; do
  run "$t" "$models/g3-1b-$t.gguf" -p 512 -n 128 -t 2 --reps "$reps"
done
run q8_0-batch4 "$models/g3-1b-q8_0.gguf" -p 0 -n 128 -t 2 --reps "$reps" -b 4 --no-roofline
run q8_0-1thread "$models/g3-1b-q8_0.gguf" -p 512 -n 0 -t 1 --reps "$reps" --no-roofline
run f16-1thread "$models/g3-1b-f16.gguf" -p 512 -n 0 -t 1 --reps "$reps" --no-roofline
run q8_0-depth "$models/g3-1b-q8_0.gguf" -p 0 -n 128 -t 2 --reps "$reps" --depth 0 --depth 4096 --depth 16384
run q8_0-depth-f32kv "$models/g3-1b-q8_0.gguf" -p 0 -n 128 -t 2 --reps "$reps" --depth 0 --depth 4096 --depth 16384 --kv f32
run q8_0-kv32k "$models/g3-1b-q8_0.gguf" -p 8 -n 0 -t 2 --reps 1 --ctx 32768 --no-roofline
uptime | tee "$out/uptime-end.txt"
