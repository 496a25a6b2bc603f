#!/usr/bin/env bash
# test_cli_progress.sh: the progress line of chat, perplexity, bench, logits and serve on the
# bundled model: on a terminal (a pseudo-terminal made by script(1), which copies what the
# command writes; TERM=xterm, since a "dumb" terminal gets no progress line) the line appears
# and is erased; with stderr in a file there is no trace of it
# (no carriage return, no escape sequence, none of its words). `mixlm run` is in test_run.sh.
. "$(dirname "$0")/lib.sh"
: "${MIXLM:?}" "${MIXLM_SOURCE_DIR:?}"
t_begin test_cli_progress
B=$MIXLM_SOURCE_DIR/models/kjv-mini
if ! command -v script >/dev/null 2>&1; then
  bad "script(1) (bsdutils) is missing"
  t_end
  exit
fi
head -c 4000 "$B/MODEL_CARD.md" >"$T_DIR/text.txt"
CR=$(printf '\r')
ESC=$(printf '\033')

# on_tty NAME PATTERN CMD...: run CMD on a pseudo-terminal (stdin from $T_DIR/NAME.in if it
# exists); its output must hold PATTERN and an erase ("\r" ESC "[K").
on_tty() {
  local name=$1 pat=$2; shift 2
  local in=/dev/null
  [ -f "$T_DIR/$name.in" ] && in=$T_DIR/$name.in
  TERM=xterm script -qec "$(printf '%q ' "$@")" /dev/null <"$in" >"$T_DIR/$name.tty" 2>&1
  check 'grep -q -- "$pat" "$T_DIR/$name.tty" && grep -q "$CR$ESC\[K" "$T_DIR/$name.tty"' \
    "$name on a terminal: no progress '$pat' or no erase: $(head -c 300 "$T_DIR/$name.tty" | cat -v)"
}
# in_file NAME CMD...: with stderr in a file (stdin from $T_DIR/NAME.in if it exists) there is
# no trace of a progress line.
in_file() {
  local name=$1; shift
  local in=/dev/null
  [ -f "$T_DIR/$name.in" ] && in=$T_DIR/$name.in
  "$@" >/dev/null 2>"$T_DIR/$name.err" <"$in"
  check '! grep -q "[$CR$ESC]" "$T_DIR/$name.err" && ! grep -q "loading\|tokens [0-9]*/\|run [0-9] of" "$T_DIR/$name.err"' \
    "$name with stderr in a file: $(cat -v "$T_DIR/$name.err")"
}

on_tty perplexity "mixlm perplexity: tokens 32/" "$MIXLM" perplexity "$B" --file "$T_DIR/text.txt" --ctx 128
in_file perplexity "$MIXLM" perplexity "$B" --file "$T_DIR/text.txt" --ctx 128
on_tty bench "mixlm bench: pp16 at depth 0: run 2 of 2" "$MIXLM" bench "$B" -p 16 -n 4 --reps 2 --no-roofline
in_file bench "$MIXLM" bench "$B" -p 16 -n 4 --reps 2 --no-roofline
on_tty logits "mixlm logits: loading" "$MIXLM" logits "$B" --tokens 2,10,11 --out "$T_DIR/l.f32"
in_file logits "$MIXLM" logits "$B" --tokens 2,10,11 --out "$T_DIR/l.f32"
# A terminal that cannot move the cursor back (TERM=dumb) gets no progress line either.
TERM=dumb script -qec "$(printf '%q ' "$MIXLM" logits "$B" --tokens 2,10,11 --out "$T_DIR/l.f32")" /dev/null \
  </dev/null >"$T_DIR/dumb.tty" 2>&1
check '! grep -q "loading\|$ESC" "$T_DIR/dumb.tty"' "TERM=dumb: $(cat -v "$T_DIR/dumb.tty")"
# chat: each turn's prompt shows "prompt tokens 0/N" until it is fed (one chunk here).
printf 'Who was Moses?\n' >"$T_DIR/chat.in"
on_tty chat "mixlm chat: prompt tokens 0/" "$MIXLM" chat -m "$B" --temp 0 -n 4
in_file chat "$MIXLM" chat -m "$B" --temp 0 -n 4

# serve: the loading line on a terminal; in a log the plain line "mixlm serve: loading MODEL".
# The script starts the server, waits (bounded) until it listens, and stops it with SIGTERM.
serve_script="$(printf '%q ' "$MIXLM" serve -m "$B" --port 0 --port-file "$T_DIR/port" --grace 0) & p=\$!
for i in \$(seq 1 200); do [ -s $(printf %q "$T_DIR/port") ] && break; sleep 0.05; done
kill -TERM \$p; wait \$p"
rm -f "$T_DIR/port"
TERM=xterm script -qec "$serve_script" /dev/null </dev/null >"$T_DIR/serve.tty" 2>&1
check 'grep -q "mixlm serve: loading" "$T_DIR/serve.tty" && grep -q "$CR$ESC\[K" "$T_DIR/serve.tty" && grep -q "listening" "$T_DIR/serve.tty"' \
  "serve on a terminal: $(head -c 400 "$T_DIR/serve.tty" | cat -v)"
rm -f "$T_DIR/port"
bash -c "$serve_script" </dev/null >/dev/null 2>"$T_DIR/serve.err"
check 'grep -q "^mixlm serve: loading" "$T_DIR/serve.err" && grep -q "listening" "$T_DIR/serve.err" && ! grep -q "[$CR$ESC]" "$T_DIR/serve.err"' \
  "serve with stderr in a file: a plain loading line only: $(cat -v "$T_DIR/serve.err")"
t_end
