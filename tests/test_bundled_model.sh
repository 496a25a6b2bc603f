#!/usr/bin/env bash
# test_bundled_model.sh: the bundled kjv-mini model (models/kjv-mini and models/kjv-mini.gguf)
# against the numbers its training script computed (tests/data/kjv-mini, made by
# tools/train/export.py from exactly the shipped weights): held-out perplexity for the HF folder
# and the GGUF, a copy whose sliding layers see everything (must give the other, wrong value), the
# committed greedy continuation of a fixed prompt (argmax of `mixlm logits`, and `mixlm run`), and
# the tokenizer of both files.
. "$(dirname "$0")/lib.sh"
M="${MIXLM:?}"
D="${MIXLM_TEST_DATA:?}/kjv-mini"
S="${MIXLM_SOURCE_DIR:?}"
t_begin test_bundled_model
T=$T_DIR

# shellcheck source=/dev/null
. "$D/expected.env" # PPL, PPL_FORCED_FULL, CTX, GREEDY_PROMPT_IDS, GREEDY_NEW_IDS
HF="$S/models/kjv-mini"
GGUF="$S/models/kjv-mini.gguf"
TOL=1e-4

# rel_close A B: |A/B - 1| <= TOL
rel_close() { awk -v a="$1" -v b="$2" -v t="$TOL" 'BEGIN { d = a / b - 1; if (d < 0) d = -d; exit !(d <= t) }'; }

ppl() { # model -> prints the perplexity
    "$M" perplexity "$1" --tokens "$D/heldout.tokens.txt" --ctx "$CTX" --json 2>"$T/err" |
        sed -n 's/.*"perplexity": *\([0-9.eE+-]*\).*/\1/p'
}

# The two references must be far apart, or the mask check below proves nothing.
rel_close "$PPL" "$PPL_FORCED_FULL" && bad "expected perplexities $PPL and $PPL_FORCED_FULL are within $TOL" || ok

for model in "$HF" "$GGUF"; do
    p="$(ppl "$model")"
    if [ -z "$p" ]; then
        bad "$model: mixlm perplexity failed: $(head -c 300 "$T/err")"
        continue
    fi
    rel_close "$p" "$PPL" && ok || bad "$model: perplexity $p, training script says $PPL (tolerance $TOL relative)"
done

# Sliding layers forced to full attention: the same folder with a window as long as the context.
mkdir -p "$T/full"
for f in "$HF"/*; do ln -s "$f" "$T/full/$(basename "$f")"; done
rm "$T/full/config.json"
sed 's/"sliding_window": *[0-9]*/"sliding_window": '"$CTX"'/' "$HF/config.json" >"$T/full/config.json"
grep -q "\"sliding_window\": $CTX" "$T/full/config.json" && ok || bad "could not rewrite sliding_window"
p="$(ppl "$T/full")"
if [ -z "$p" ]; then
    bad "forced-full copy: mixlm perplexity failed: $(head -c 300 "$T/err")"
else
    rel_close "$p" "$PPL_FORCED_FULL" && ok || bad "forced-full perplexity $p, expected $PPL_FORCED_FULL"
    rel_close "$p" "$PPL" && bad "forced-full perplexity $p is indistinguishable from the real $PPL" || ok
fi

# Greedy continuation: with the prompt and the committed continuation fed at once, the argmax of
# each row from the prompt's last token on must be the next committed token. That is exactly
# "greedy decoding reproduces the continuation".
n_prompt=$(echo "$GREEDY_PROMPT_IDS" | tr ',' '\n' | wc -l)
for model in "$HF" "$GGUF"; do
    if ! "$M" logits "$model" --tokens "$GREEDY_PROMPT_IDS,$GREEDY_NEW_IDS" --out "$T/g.f32" 2>"$T/err"; then
        bad "$model: mixlm logits failed: $(head -c 300 "$T/err")"
        continue
    fi
    n_vocab=4096
    got=$(od -An -v -f -w$((n_vocab * 4)) "$T/g.f32" | awk -v np="$n_prompt" '
        NR >= np { best = 1; for (i = 2; i <= NF; i++) if ($i > $best) best = i; out = out (out == "" ? "" : ",") (best - 1) }
        END { print out }')
    # The last row predicts past the continuation; drop it.
    got="${got%,*}"
    [ "$got" = "$GREEDY_NEW_IDS" ] && ok || bad "$model: greedy argmax ids $got, expected $GREEDY_NEW_IDS"
done

# `mixlm run`, greedy: from the prompt ids with each file, and from the prompt text with the
# default model (no -m: the bundled one), the 40 generated ids equal the committed ones.
run_ids() { # args... -> the "tokens" array of --json, comma-separated
    "$M" run "$@" --temp 0 -n "$n_new" --json 2>"$T/err" | sed -n 's/.*"tokens": *\[\([0-9,]*\)\].*/\1/p'
}
n_new=$(echo "$GREEDY_NEW_IDS" | tr ',' '\n' | wc -l)
for model in "$HF" "$GGUF"; do
    got="$(run_ids -m "$model" --tokens "$GREEDY_PROMPT_IDS")"
    [ "$got" = "$GREEDY_NEW_IDS" ] && ok || bad "$model: mixlm run greedy ids '$got' ($(head -c 200 "$T/err"))"
done
got="$(env -u MIXLM_MODEL "$M" run -p "$GREEDY_PROMPT" --temp 0 -n "$n_new" --json 2>"$T/err" |
    sed -n 's/.*"tokens": *\[\([0-9,]*\)\].*/\1/p')"
[ "$got" = "$GREEDY_NEW_IDS" ] && ok || bad "default model, text prompt: mixlm run greedy ids '$got' ($(head -c 200 "$T/err"))"

# The tokenizer: every held-out verse and a few odd strings give the ids the model was trained
# with (tools/train/check_tokenizer.py shows transformers.js gives the same), and decode back.
norm() { tr -d ' ' <"$1"; }
"$M" tokenize "$HF" --jsonl <"$D/tokenize.in.jsonl" >"$T/ids.jsonl" 2>"$T/err" &&
    [ "$(norm "$T/ids.jsonl")" = "$(norm "$D/tokenize.ids.jsonl")" ] && ok ||
    bad "HF folder: tokenize differs from tokenize.ids.jsonl: $(head -c 300 "$T/err")"
"$M" tokenize "$HF" --jsonl --decode --skip-special <"$D/tokenize.ids.jsonl" >"$T/text.jsonl" 2>"$T/err" &&
    cmp -s "$T/text.jsonl" "$D/tokenize.in.jsonl" && ok ||
    bad "HF folder: decoding tokenize.ids.jsonl does not give the input back: $(head -c 300 "$T/err")"
# The GGUF names its pre-tokenizer "gpt-2" (llama.cpp's name for the GPT-2 split). Until mixlm's
# GGUF vocabulary reader knows that name, this part is reported and not counted either way.
if "$M" tokenize "$GGUF" --jsonl <"$D/tokenize.in.jsonl" >"$T/ids.jsonl" 2>"$T/err"; then
    [ "$(norm "$T/ids.jsonl")" = "$(norm "$D/tokenize.ids.jsonl")" ] && ok ||
        bad "GGUF: tokenize differs from tokenize.ids.jsonl"
elif grep -q 'pre-tokenizer "gpt-2" is not supported' "$T/err"; then
    echo "NOTE (not counted): GGUF tokenizer: $(head -c 200 "$T/err")" >&2
else
    bad "GGUF: tokenize failed: $(head -c 300 "$T/err")"
fi

t_end
