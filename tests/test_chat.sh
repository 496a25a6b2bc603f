#!/usr/bin/env bash
# test_chat.sh: `mixlm chat` on the bundled model, greedy: the KV state persists across turns
# (the second turn feeds only the new tokens and answers exactly as a chat that feeds the whole
# conversation again), /save and /load continue a conversation, /reset starts again, and the
# REPL works on a terminal (tmux): prompt, answers, Ctrl-C stopping an answer, Ctrl-D exiting.
. "$(dirname "$0")/lib.sh"
: "${MIXLM:?}" "${MIXLM_SOURCE_DIR:?}"
t_begin test_chat
tmp=$T_DIR
T_CLEANUP='tmux kill-server -L mixlm-chat-$$ 2>/dev/null'
model="$MIXLM_SOURCE_DIR/models/kjv-mini"

turns=$'Who was Moses?\nAnd what did he say?\n'
printf '%s' "$turns" | "$MIXLM" chat -m "$model" --temp 0 -n 24 --stats >"$tmp/reuse.out" 2>"$tmp/reuse.err"
check '[ $? -eq 0 ]' "chat exits 0"
printf '%s' "$turns" | "$MIXLM" chat -m "$model" --temp 0 -n 24 --stats --no-reuse >"$tmp/full.out" 2>"$tmp/full.err"
check '[ -s "$tmp/reuse.out" ] && cmp -s "$tmp/reuse.out" "$tmp/full.out"' \
  "answers with a persistent state equal answers from the whole conversation: $(cat "$tmp/reuse.out") | $(cat "$tmp/full.out")"
check '[ "$(wc -l < "$tmp/reuse.out")" -eq 2 ]' "two answers"
# Turn 2 with reuse starts where turn 1 ended and feeds fewer tokens than the whole conversation.
fed_reuse=$(sed -n 's/.*turn: fed \([0-9]*\) tokens at position \([0-9]*\).*/\1 \2/p' "$tmp/reuse.err" | sed -n 2p)
fed_full=$(sed -n 's/.*turn: fed \([0-9]*\) tokens at position \([0-9]*\).*/\1 \2/p' "$tmp/full.err" | sed -n 2p)
set -- $fed_reuse; r_fed=${1:-0}; r_pos=${2:-0}
set -- $fed_full; f_fed=${1:-0}; f_pos=${2:-1}
check '[ "$r_pos" -gt 0 ] && [ "$f_pos" -eq 0 ] && [ "$r_fed" -gt 0 ] && [ "$r_fed" -lt "$f_fed" ]' \
  "turn 2 feeds only new tokens (reuse: $r_fed at $r_pos; whole: $f_fed at $f_pos)"

# /save after turn 1, /load in a new process, turn 2: the same second answer.
printf 'Who was Moses?\n/save %s\n' "$tmp/conv.state" | "$MIXLM" chat -m "$model" --temp 0 -n 24 >"$tmp/s1.out" 2>"$tmp/s1.err"
check '[ -s "$tmp/conv.state" ] && [ -s "$tmp/conv.state.json" ]' "/save writes the state and the conversation"
printf '/load %s\nAnd what did he say?\n' "$tmp/conv.state" | "$MIXLM" chat -m "$model" --temp 0 -n 24 --stats >"$tmp/s2.out" 2>"$tmp/s2.err"
check '[ "$(cat "$tmp/s1.out" "$tmp/s2.out")" = "$(cat "$tmp/reuse.out")" ]' "save, load, continue equals never stopping"
check 'grep -q "turn: fed [0-9]* tokens at position [1-9]" "$tmp/s2.err"' "the loaded state continues at its position"
# A state saved with another KV type is refused before it is read, naming the --kv to use.
printf '/load %s\n' "$tmp/conv.state" | "$MIXLM" chat -m "$model" --kv f32 --temp 0 -n 4 >/dev/null 2>"$tmp/kv.err"
check 'grep -q "saved with KV type f16; this chat uses f32 (start it with --kv f16)" "$tmp/kv.err"' "/load names the KV type it was saved with"
# /load of a missing or broken file keeps the conversation and says why.
printf '/load %s\n' "$tmp/none" | "$MIXLM" chat -m "$model" --temp 0 -n 4 >/dev/null 2>"$tmp/l.err"
check 'grep -q "none.json" "$tmp/l.err"' "/load of a missing file names it"

# /reset: the first question again gives the first answer again.
printf 'Who was Moses?\n/reset\nWho was Moses?\n' | "$MIXLM" chat -m "$model" --temp 0 -n 24 >"$tmp/reset.out" 2>/dev/null
check '[ "$(sed -n 1p "$tmp/reset.out")" = "$(sed -n 2p "$tmp/reset.out")" ] && [ -n "$(sed -n 1p "$tmp/reset.out")" ]' "/reset starts again"

# Errors: unknown flag (2), missing model (1), a model without a chat template (1).
expect_error 2 "unknown option --bogus" "$MIXLM" chat --bogus </dev/null
expect_error 1 "missing" "$MIXLM" chat -m "$tmp/missing" </dev/null
expect_error 1 "no chat template" "$MIXLM" chat -m "$MIXLM_TEST_DATA/oracle/hf-tiny-llama" </dev/null

# On a terminal, through tmux: prompt, answer, Ctrl-C stops a long answer, /reset, Ctrl-D exits.
if command -v tmux >/dev/null 2>&1; then
  sock="mixlm-chat-$$"
  tmux -L "$sock" new-session -d -x 200 -y 50 "$MIXLM chat -m $model --temp 0 -n 100000 --ctx 100000; echo EXITED \$?; sleep 30"
  wait_for() { # pattern, tries of 0.2 s
    for _ in $(seq 1 "${2:-150}"); do
      tmux -L "$sock" capture-pane -p -S -200 | grep -q -- "$1" && return 0; sleep 0.2
    done; return 1; }
  check 'wait_for "^>"' "the REPL shows its prompt (trailing blanks are trimmed by capture-pane)"
  tmux -L "$sock" send-keys "Who was Moses?" Enter
  sleep 1
  tmux -L "$sock" send-keys C-c
  check 'wait_for "\[stopped\]"' "Ctrl-C stops the answer"
  check 'wait_for "^\[stopped\]" 5 && tmux -L "$sock" capture-pane -p -S -200 | grep -A3 "\[stopped\]" | grep -q "^>"' "and the prompt returns"
  tmux -L "$sock" send-keys "/reset" Enter
  check 'wait_for "new conversation"' "/reset on a terminal"
  tmux -L "$sock" send-keys C-d
  check 'wait_for "EXITED 0"' "Ctrl-D exits with status 0"
  tmux -L "$sock" kill-server 2>/dev/null
else
  bad "tmux is missing (scripts/deps.sh --test installs it)"
fi
t_end
