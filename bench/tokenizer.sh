#!/usr/bin/env bash
# tokenizer.sh: mixlm's tokenizer and the reference (transformers.js via @lenml/tokenizers),
# side by side in one run: load time of each real tokenizer and encode throughput on 1 MB of
# English and 1 MB of mixed-script text (bench/tokenizer_texts.py). Prints a Markdown table.
# Needs: build/mixlm, python3, node + npm (the reference is installed with `npm ci` in
# tools/reference/tokenizer), the test tokenizers (scripts/fetch-test-data.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
mixlm=${MIXLM:-build/mixlm}
repeat=${REPEAT:-3}
cache=${MIXLM_CACHE:-$HOME/.cache/mixlm}
scripts/fetch-test-data.sh
(cd tools/reference/tokenizer && [ -d node_modules/@lenml/tokenizers ] || npm ci --silent)
texts=$(mktemp -d)
trap 'rm -rf "$texts"' EXIT
python3 bench/tokenizer_texts.py "$texts"
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
echo "| tokenizer | text | load ms: mixlm / reference (CPU ms) | encode MB/s: mixlm / reference (per CPU s) | speed-up (wall, CPU) |"
echo "| --- | --- | ---: | ---: | ---: |"
for t in gemma3 llama3_1 qwen3 gptoss; do
  for f in english mixed; do
    m=$("$mixlm" tokenize "$cache/npm/_lenml_tokenizer-$t/models" --bench "$texts/$f.txt" --repeat "$repeat")
    r=$(cd tools/reference/tokenizer && node bench-reference.mjs "$t" "$texts/$f.txt" "$repeat")
    if [ "$(field "$m" tokens)" != "$(field "$r" tokens)" ]; then
      echo "tokenizer.sh: $t $f: token counts differ: mixlm $(field "$m" tokens), reference $(field "$r" tokens)" >&2
    fi
    python3 - "$t" "$f" "$m" "$r" <<'PY'
import json, sys
t, f, m, r = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
print(f"| {t} | {f} | {m['load_ms']:.0f} ({m['load_cpu_ms']:.0f}) / {r['load_ms']:.0f} ({r['load_cpu_ms']:.0f}) "
      f"| {m['mb_per_s']:.2f} ({m['mb_per_cpu_s']:.2f}) / {r['mb_per_s']:.2f} ({r['mb_per_cpu_s']:.2f}) "
      f"| {m['mb_per_s'] / r['mb_per_s']:.0f}x, {m['mb_per_cpu_s'] / r['mb_per_cpu_s']:.0f}x |")
PY
  done
done
