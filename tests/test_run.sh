#!/usr/bin/env bash
# test_run.sh: `mixlm run` on the oracle models: greedy generation equals the argmax of
# `mixlm logits` step by step; whole, 1-token and 3-token prefill give the same continuation;
# a seeded sampled run repeats exactly; stop strings are not printed; errors are one line with a
# non-zero status. On the bundled model: --chat renders the prompt through the chat template
# and stops at the end of the turn; Ctrl-C (SIGINT) ends a long generation cleanly with status
# 130; a progress line appears on a terminal (a pseudo-terminal made by script(1)) and never
# when stderr is a file.
. "$(dirname "$0")/lib.sh"
MIXLM=${MIXLM:?}
DATA=${MIXLM_TEST_DATA:?}/oracle
t_begin test_run
TMP=$T_DIR
PY=python3
field() { json_field "$@"; }

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
expect_error 1 "context" "$MIXLM" run -m "$M" --tokens 1,2,3,4,5,6,7,8,9,10,11,12 --ctx 8 --temp 0
expect_error 2 "unknown option --bogus" "$MIXLM" run -m "$M" -p hi --bogus
expect_error 1 "no-such-model.gguf" "$MIXLM" run -m "$TMP/no-such-model.gguf" -p hi
expect_error 1 "no chat template" "$MIXLM" run -m "$M" -p hi --chat
expect_error 2 "needs a value" "$MIXLM" run -m "$M" -p
expect_error 2 "prompt" "$MIXLM" run -m "$M"
expect_error 2 "--temp" "$MIXLM" run -m "$M" -p hi --temp abc
expect_error 1 "no chat template" "$MIXLM" run -m "$DATA/hf-tiny-llama" -p hi --chat

# ---- The bundled model: --chat, Ctrl-C, progress on a terminal ------------------------------
B=${MIXLM_SOURCE_DIR:?}/models/kjv-mini

# --chat: the prompt is the chat template's rendering (as `mixlm template` prints it) encoded
# without added specials (as `mixlm tokenize --no-special`), and the answer stops at the end of
# the turn. This question is one the bundled model answers in a few tokens (greedy).
Q="Tell me of Abraham."
$PY -c 'import json,sys; json.dump([{"role":"user","content":sys.argv[1]}], open(sys.argv[2],"w"))' "$Q" "$TMP/msgs.json"
"$MIXLM" template "$B" --messages "$TMP/msgs.json" --add-generation-prompt >"$TMP/rendered.txt" 2>"$TMP/err" \
  || bad "template: $(cat "$TMP/err")"
$PY -c 'import json,sys; print(json.dumps({"text": open(sys.argv[1],encoding="utf-8").read()}))' "$TMP/rendered.txt" \
  | "$MIXLM" tokenize "$B" --jsonl --no-special >"$TMP/ids.jsonl" 2>"$TMP/err" || bad "tokenize: $(cat "$TMP/err")"
chat_ids=$($PY -c 'import json,sys; print(",".join(map(str, json.loads(open(sys.argv[1]).readline())["ids"])))' "$TMP/ids.jsonl")
eot=$(echo '{"text": "<end_of_turn>"}' | "$MIXLM" tokenize "$B" --jsonl --no-special | $PY -c 'import json,sys; print(json.load(sys.stdin)["ids"][0])')
"$MIXLM" run -m "$B" --chat -p "$Q" --temp 0 -n 60 --json >"$TMP/chat.json" 2>"$TMP/err" || bad "run --chat: $(cat "$TMP/err")"
# The same ids given as --tokens, without --chat (so nothing stops at the end of the turn).
"$MIXLM" run -m "$B" --tokens "$chat_ids" --temp 0 -n 60 --ignore-eos --json >"$TMP/plain.json" 2>/dev/null
"$MIXLM" run -m "$B" -p "$Q" --temp 0 -n 60 --ignore-eos --json >"$TMP/nochat.json" 2>/dev/null
n_chat_ids=$(echo "$chat_ids" | tr ',' '\n' | wc -l)
check '[ "$(field "$TMP/chat.json" prompt_tokens)" = "$n_chat_ids" ]' \
  "--chat fed $(field "$TMP/chat.json" prompt_tokens) prompt tokens; the rendered template has $n_chat_ids"
check '[ "$(field "$TMP/chat.json" finish_reason)" = eos ]' "--chat stops at the end of the turn (finish $(field "$TMP/chat.json" finish_reason))"
ctoks=$(field "$TMP/chat.json" tokens)
check '[ "${ctoks##*,}" = "$eot" ]' "--chat's last token is <end_of_turn> ($eot): $ctoks"
ptoks=$(field "$TMP/plain.json" tokens)
check '[ -n "$ctoks" ] && [ "${ptoks#"$ctoks",}" != "$ptoks" ]' \
  "--chat's answer continues the rendered ids exactly (chat: $ctoks; --tokens: $ptoks)"
# ... and that comparison can fail: the same question without the template goes elsewhere.
ntoks=$(field "$TMP/nochat.json" tokens)
check '[ "${ntoks#"$ctoks"}" = "$ntoks" ]' "without --chat the answer differs"
check '[ "$(field "$TMP/chat.json" text)" != "" ] && ! grep -q "end_of_turn" "$TMP/chat.json"' \
  "--chat text is the answer without the end-of-turn marker"

# Ctrl-C: the first SIGINT stops the generation (a context far longer than it can fill in the
# test's time), what was generated is printed with the statistics, and the status is 130.
# run_and_interrupt OUT ERR ARGS...: start run, wait until it has installed its SIGINT handler
# (bit 2 of SigCgt in /proc/PID/status: it does so just before generating) and then until it
# has written something or a second has passed, send SIGINT, and print the exit status.
# Waiting for the handler matters on a loaded machine: a SIGINT before it is ignored (a
# background job of a script starts with SIGINT ignored).
run_and_interrupt() {
  local out=$1 err=$2; shift 2
  "$MIXLM" run "$@" >"$out" 2>"$err" &
  local pid=$! i
  for i in $(seq 1 600); do
    [ $(( 0x$(sed -n 's/^SigCgt:\s*//p' "/proc/$pid/status" 2>/dev/null || echo 0) & 2 )) -ne 0 ] && break
    sleep 0.05
  done
  for i in $(seq 1 20); do [ -s "$out" ] && break; sleep 0.05; done
  sleep 0.3
  kill -INT "$pid" 2>/dev/null
  for i in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid"
  echo $?
}
long=(-m "$B" -p "And God said" -n -1 --ctx 200000 --ignore-eos --temp 0)
rc=$(run_and_interrupt "$TMP/int.out" "$TMP/int.err" "${long[@]}")
check '[ "$rc" = 130 ]' "Ctrl-C: status $rc, wanted 130 ($(cat "$TMP/int.err"))"
check '[ "$(wc -c <"$TMP/int.out")" -gt 10 ]' "Ctrl-C: the text generated so far is on stdout"
check 'grep -q "finish: cancelled" "$TMP/int.err" && grep -q "tok/s" "$TMP/int.err"' \
  "Ctrl-C: the statistics line says cancelled: $(cat "$TMP/int.err")"
rc=$(run_and_interrupt "$TMP/int.json" "$TMP/intj.err" "${long[@]}" --json)
check '[ "$rc" = 130 ]' "Ctrl-C with --json: status $rc, wanted 130"
check '$PY -c "import json,sys; d=json.load(open(sys.argv[1])); assert d[\"finish_reason\"]==\"cancelled\" and d[\"generated_tokens\"]>0 and d[\"text\"] and len(d[\"tokens\"])==d[\"generated_tokens\"]" "$TMP/int.json"' \
  "Ctrl-C with --json: stdout is one valid JSON object with finish_reason cancelled: $(head -c 200 "$TMP/int.json")"

# Progress: on a terminal (script(1) gives the command a pseudo-terminal and copies what it
# writes) a line shows the loading and the prompt's tokens as they are fed, then is erased; with
# stderr in a file nothing of it appears, not even a carriage return or an escape sequence.
P="And God said unto Moses, I AM THAT I AM: and he said, Thus shalt thou say unto the children of Israel"
if command -v script >/dev/null 2>&1; then
  TERM=xterm script -qec "$(printf '%q ' "$MIXLM" run -m "$B" -p "$P" -n 4 --temp 0 --chunk 4)" /dev/null >"$TMP/tty.out" 2>&1 </dev/null
  check 'grep -q "mixlm run: loading" "$TMP/tty.out" && grep -q "prompt tokens 8/" "$TMP/tty.out"' \
    "a terminal shows the progress line: $(head -c 300 "$TMP/tty.out" | cat -v)"
  check 'grep -q "$(printf "\r\033\\[K")" "$TMP/tty.out"' "the progress line is erased"
  # stdout a terminal, stderr a file: still nothing on stderr but the statistics.
  TERM=xterm script -qec "$(printf '%q ' "$MIXLM" run -m "$B" -p "$P" -n 4 --temp 0 --chunk 4) 2>$(printf %q "$TMP/tty.err")" /dev/null >/dev/null 2>&1 </dev/null
  check '[ -s "$TMP/tty.err" ] && ! grep -q "prompt tokens\|loading" "$TMP/tty.err" && ! grep -q "$(printf "[\r\033]")" "$TMP/tty.err"' \
    "stderr in a file under a terminal: no progress: $(cat -v "$TMP/tty.err")"
else
  bad "script(1) (bsdutils) is missing"
fi
"$MIXLM" run -m "$B" -p "$P" -n 4 --temp 0 --chunk 4 >/dev/null 2>"$TMP/file.err"
check '[ "$(grep -c . "$TMP/file.err")" = 1 ] && grep -q "tok/s" "$TMP/file.err" && ! grep -q "$(printf "[\r\033]")" "$TMP/file.err"' \
  "stderr in a file: only the statistics line: $(cat -v "$TMP/file.err")"
"$MIXLM" run --help >"$TMP/out" 2>&1 && grep -q "usage: mixlm run" "$TMP/out" && ok || bad "run --help"

t_end
