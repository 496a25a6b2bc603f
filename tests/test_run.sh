#!/usr/bin/env bash
# test_run.sh: `mixlm run` on the oracle models: greedy generation equals the argmax of
# `mixlm logits` step by step; whole, 1-token and 3-token prefill give the same continuation;
# a seeded sampled run repeats exactly; stop strings are not printed; errors are one line with a
# non-zero status.
set -u
MIXLM=${MIXLM:?}
DATA=${MIXLM_TEST_DATA:?}/oracle
TMP=${MIXLM_TEST_TMP:-/tmp}/test_run.$$
mkdir -p "$TMP"
trap 'rm -rf "$TMP"' EXIT
fails=0
passes=0
ok() { passes=$((passes + 1)); }
bad() { echo "FAILED: $*" >&2; fails=$((fails + 1)); }
PY=python3

PROMPT=2,17,99,301,45,7,250
N=6

# A JSON field of a `run --json` output file.
field() { $PY -c 'import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print(",".join(map(str,v)) if isinstance(v,list) else v)' "$1" "$2"; }

for model in tiny-gemma3-swa8.gguf tiny-gemma2-swa8.gguf tiny-llama.gguf hf-tiny-gemma3-swa8; do
  M=$DATA/$model
  if ! "$MIXLM" run -m "$M" --tokens $PROMPT -n $N --temp 0 --ignore-eos --json >"$TMP/g.json" 2>"$TMP/err"; then
    bad "$model: run failed: $(cat "$TMP/err")"; continue
  fi
  gen=$(field "$TMP/g.json" tokens)
  [ "$(field "$TMP/g.json" generated_tokens)" = "$N" ] && ok || bad "$model: expected $N tokens, got '$gen'"
  # Step by step: the argmax of the last logits row of prompt + generated[:i] is generated[i].
  seq=$PROMPT
  i=0
  for t in ${gen//,/ }; do
    if ! "$MIXLM" logits "$M" --tokens "$seq" --out "$TMP/l.f32" 2>"$TMP/err"; then
      bad "$model: logits failed: $(cat "$TMP/err")"; break
    fi
    am=$($PY -c 'import struct,sys
d=open(sys.argv[1],"rb").read(); n=int(sys.argv[2]); v=512
row=struct.unpack("<%df"%v, d[(n-1)*v*4:n*v*4]); print(max(range(v), key=lambda j:(row[j],-j)))' "$TMP/l.f32" $(( $(echo "$seq" | tr ',' '\n' | wc -l) )))
    [ "$am" = "$t" ] && ok || bad "$model: step $i: run chose $t, argmax of mixlm logits is $am"
    seq="$seq,$t"
    i=$((i + 1))
  done
  # Chunked prefill: same continuation, greedy and sampled.
  for chunk in 1 3; do
    "$MIXLM" run -m "$M" --tokens $PROMPT -n $N --temp 0 --ignore-eos --chunk $chunk --json >"$TMP/c.json" 2>/dev/null
    [ "$(field "$TMP/c.json" tokens)" = "$gen" ] && ok || bad "$model: --chunk $chunk greedy differs"
  done
  "$MIXLM" run -m "$M" --tokens $PROMPT -n 12 --temp 1 --top-k 0 --top-p 1 --min-p 0 --seed 9 --ignore-eos --json --chunk 0 >"$TMP/s0.json" 2>/dev/null
  "$MIXLM" run -m "$M" --tokens $PROMPT -n 12 --temp 1 --top-k 0 --top-p 1 --min-p 0 --seed 9 --ignore-eos --json --chunk 1 >"$TMP/s1.json" 2>/dev/null
  "$MIXLM" run -m "$M" --tokens $PROMPT -n 12 --temp 1 --top-k 0 --top-p 1 --min-p 0 --seed 9 --ignore-eos --json --chunk 0 >"$TMP/s2.json" 2>/dev/null
  "$MIXLM" run -m "$M" --tokens $PROMPT -n 12 --temp 1 --top-k 0 --top-p 1 --min-p 0 --seed 10 --ignore-eos --json --chunk 0 >"$TMP/s3.json" 2>/dev/null
  a=$(field "$TMP/s0.json" tokens)
  [ -n "$a" ] && [ "$(field "$TMP/s1.json" tokens)" = "$a" ] && ok || bad "$model: seeded run with --chunk 1 differs"
  [ "$(field "$TMP/s2.json" tokens)" = "$a" ] && ok || bad "$model: seeded run does not repeat"
  [ "$(field "$TMP/s3.json" tokens)" != "$a" ] && ok || bad "$model: seeds 9 and 10 gave the same 12 tokens"
done

M=$DATA/tiny-gemma3-swa8.gguf

# Text prompt, streamed text equals the --json text; a stop string cuts the output before it.
"$MIXLM" run -m "$M" -p "hello there" -n 16 --temp 0 --ignore-eos >"$TMP/t.txt" 2>/dev/null
"$MIXLM" run -m "$M" -p "hello there" -n 16 --temp 0 --ignore-eos --json >"$TMP/t.json" 2>/dev/null
$PY -c 'import json,sys; t=json.load(open(sys.argv[1]))["text"]; s=open(sys.argv[2],encoding="utf-8").read(); sys.exit(0 if t==s and len(t)>4 else 1)' "$TMP/t.json" "$TMP/t.txt" && ok || bad "streamed text differs from the JSON text"
stop=$($PY -c 'import json,sys; t=json.load(open(sys.argv[1]))["text"]; print(t[len(t)//2:len(t)//2+2])' "$TMP/t.json")
expect=$($PY -c 'import json,sys; t=json.load(open(sys.argv[1]))["text"]; print(t[:t.index(sys.argv[2])], end="")' "$TMP/t.json" "$stop")
got=$("$MIXLM" run -m "$M" -p "hello there" -n 16 --temp 0 --ignore-eos --stop "$stop" 2>/dev/null)
[ "$got" = "$expect" ] && ok || bad "stop string '$stop': got '$got', expected '$expect'"
"$MIXLM" run -m "$M" -p "hello there" -n 16 --temp 0 --ignore-eos --stop "$stop" --json >"$TMP/st.json" 2>/dev/null
[ "$(field "$TMP/st.json" finish_reason)" = "stop" ] && ok || bad "finish reason with a stop string is not 'stop'"

# Statistics go to stderr.
"$MIXLM" run -m "$M" -p "hi" -n 4 --temp 0 >/dev/null 2>"$TMP/err"
grep -q "tok/s" "$TMP/err" && grep -q "KV" "$TMP/err" && ok || bad "no statistics on stderr: $(cat "$TMP/err")"

# The model from MIXLM_MODEL when -m is absent.
MIXLM_MODEL=$M "$MIXLM" run --tokens $PROMPT -n 3 --temp 0 --ignore-eos --json >"$TMP/e.json" 2>/dev/null \
  && [ "$(field "$TMP/e.json" generated_tokens)" = 3 ] && ok || bad "MIXLM_MODEL not used"

# The bundled model (models/ in the source tree) when neither -m nor MIXLM_MODEL is given.
if [ -n "${MIXLM_SOURCE_DIR:-}" ] && ls "$MIXLM_SOURCE_DIR"/models/*/config.json "$MIXLM_SOURCE_DIR"/models/*.gguf >/dev/null 2>&1; then
  env -u MIXLM_MODEL "$MIXLM" run -p "In the beginning" -n 3 --temp 0 --ignore-eos --json >"$TMP/b.json" 2>"$TMP/err" \
    && [ "$(field "$TMP/b.json" generated_tokens)" = 3 ] && ok || bad "bundled model: $(cat "$TMP/err")"
fi

# Errors: one line on stderr and a non-zero status.
expect_error() { # status pattern args...
  local want=$1 pat=$2; shift 2
  "$MIXLM" run "$@" >"$TMP/out" 2>"$TMP/err"
  local rc=$?
  if [ $rc -ne "$want" ]; then bad "run $*: status $rc, expected $want"; return; fi
  if [ "$(wc -l <"$TMP/err")" -ne 1 ]; then bad "run $*: expected one line on stderr, got: $(cat "$TMP/err")"; return; fi
  grep -q -- "$pat" "$TMP/err" && ok || bad "run $*: stderr '$(cat "$TMP/err")' lacks '$pat'"
}
expect_error 1 "context" -m "$M" --tokens 1,2,3,4,5,6,7,8,9,10,11,12 --ctx 8 --temp 0
expect_error 2 "unknown option --bogus" -m "$M" -p hi --bogus
expect_error 1 "no-such-model.gguf" -m "$TMP/no-such-model.gguf" -p hi
expect_error 1 "no chat template" -m "$M" -p hi --chat
expect_error 2 "needs a value" -m "$M" -p
expect_error 2 "prompt" -m "$M"
expect_error 2 "--temp" -m "$M" -p hi --temp abc
"$MIXLM" run --help >"$TMP/out" 2>&1 && grep -q "usage: mixlm run" "$TMP/out" && ok || bad "run --help"

echo "test_run: $passes passed, $fails failed"
[ $fails -eq 0 ]
