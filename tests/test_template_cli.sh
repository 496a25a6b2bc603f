#!/usr/bin/env bash
# test_template_cli.sh: `mixlm template` prints exactly the reference rendering (from
# tests/data/templates/golden.json, no newline added) for a model folder, a tokenizer_config.json,
# a GGUF file carrying the template, --template FILE and messages on stdin; and fails with one
# clear line and the right exit status on usage errors, missing files, models without a template
# and template errors.
. "$(dirname "$0")/lib.sh"
: "${MIXLM:?}" "${MIXLM_TEST_DATA:?}"
t_begin test_template_cli
tmp=$T_DIR
T=$MIXLM_TEST_DATA/templates

# golden TEMPLATE REQUEST AGP -> writes the reference output to $tmp/want
golden() {
  python3 - "$T/golden.json" "$1" "$2" "$3" "$tmp/want" <<'PY'
import json, sys
g = json.load(open(sys.argv[1]))
agp = sys.argv[4] == "1"
for c in g["cases"]:
    if c["template"] == sys.argv[2] and c["request"] == sys.argv[3] and c["add_generation_prompt"] == agp:
        open(sys.argv[5], "wb").write(c["output"].encode("utf-8"))
        sys.exit(0)
sys.exit("no such golden case")
PY
}

# same_bytes NAME: $tmp/got equals $tmp/want byte for byte
same_bytes() {
  if cmp -s "$tmp/got" "$tmp/want"; then ok; else bad "$1: output differs from the reference"; fi
}

# 1. Model folder, with and without the generation prompt.
for agp in 0 1; do
  flag=""; [ "$agp" = 1 ] && flag="--add-generation-prompt"
  golden models/gemma3 conversations/04-system-multi-turn.json $agp
  "$MIXLM" template "$T/models/gemma3" --messages "$T/conversations/04-system-multi-turn.json" $flag \
    >"$tmp/got" 2>"$tmp/err" && ok || bad "gemma3 folder: $(cat "$tmp/err")"
  same_bytes "gemma3 folder agp=$agp"
done

# 2. A tokenizer_config.json path, an OpenAI-style request with tools and kwargs.
golden models/qwen3 conversations/18-tool-call-roundtrip.json 1
"$MIXLM" template "$T/models/qwen3/tokenizer_config.json" --add-generation-prompt \
  --messages "$T/conversations/18-tool-call-roundtrip.json" >"$tmp/got" 2>"$tmp/err" && ok || bad "qwen3 config: $(cat "$tmp/err")"
same_bytes "qwen3 tools"
golden models/qwen3 conversations/15-enable-thinking-false.json 1
"$MIXLM" template "$T/models/qwen3" --add-generation-prompt \
  --messages "$T/conversations/15-enable-thinking-false.json" >"$tmp/got" 2>"$tmp/err" && ok || bad "qwen3 kwargs: $(cat "$tmp/err")"
same_bytes "qwen3 enable_thinking=false"

# 3. --template FILE overrides the model's template; the model still gives the special tokens.
golden models/llama3_1_tools conversations/17-tools-offered.json 1
"$MIXLM" template "$T/models/llama3_1" --template "$T/jinja/llama3_1_tools.jinja" --add-generation-prompt \
  --messages "$T/conversations/17-tools-offered.json" >"$tmp/got" 2>"$tmp/err" && ok || bad "--template: $(cat "$tmp/err")"
same_bytes "--template llama3_1_tools"

# 4. Messages on stdin.
golden models/llama3_1 conversations/05-unicode.json 0
"$MIXLM" template "$T/models/llama3_1" --messages - <"$T/conversations/05-unicode.json" \
  >"$tmp/got" 2>"$tmp/err" && ok || bad "stdin: $(cat "$tmp/err")"
same_bytes "stdin"

# 5. A GGUF file with tokenizer.chat_template and the token list for bos/eos.
python3 - "$T/models/gemma3/tokenizer_config.json" "$tmp/model.gguf" <<'PY'
import json, struct, sys
cfg = json.load(open(sys.argv[1]))
def s(x): b = x.encode("utf-8"); return struct.pack("<Q", len(b)) + b
kv = []
kv.append(s("general.architecture") + struct.pack("<I", 8) + s("gemma3"))
kv.append(s("tokenizer.chat_template") + struct.pack("<I", 8) + s(cfg["chat_template"]))
toks = ["<pad>", "<end_of_turn>", "<bos>", "<unk>"]
kv.append(s("tokenizer.ggml.tokens") + struct.pack("<I", 9) + struct.pack("<IQ", 8, len(toks)) + b"".join(s(t) for t in toks))
kv.append(s("tokenizer.ggml.bos_token_id") + struct.pack("<I", 4) + struct.pack("<I", 2))
kv.append(s("tokenizer.ggml.eos_token_id") + struct.pack("<I", 4) + struct.pack("<I", 1))
data = b"GGUF" + struct.pack("<IQQ", 3, 0, len(kv)) + b"".join(kv)
data += b"\0" * ((32 - len(data) % 32) % 32)
open(sys.argv[2], "wb").write(data)
PY
golden models/gemma3 conversations/03-multi-turn.json 1
"$MIXLM" template "$tmp/model.gguf" --messages "$T/conversations/03-multi-turn.json" --add-generation-prompt \
  >"$tmp/got" 2>"$tmp/err" && ok || bad "gguf: $(cat "$tmp/err")"
same_bytes "gguf"

# 6. Errors: one line on stderr, exit 1 for runtime failures, 2 for usage errors.
expect_fail() { # CODE PATTERN ARGS...
  local code=$1 pat=$2; shift 2
  expect_error "$code" "$pat" "$MIXLM" template "$@"
  [ ! -s "$tmp/out" ] && ok || bad "template $*: printed something on stdout"
}
msgs=$T/conversations/01-single-user.json
expect_fail 2 "messages" "$T/models/gemma3"
expect_fail 2 "unknown option" "$T/models/gemma3" --messages "$msgs" --bogus
expect_fail 2 "no model" --messages "$msgs"
expect_fail 1 "no such file" "$tmp/nope" --messages "$msgs"
expect_fail 1 "no chat template" "$MIXLM_TEST_DATA/oracle/hf-tiny-llama" --messages "$msgs"
expect_fail 1 "no chat template" "$MIXLM_TEST_DATA/oracle/tiny-llama.gguf" --messages "$msgs"
expect_fail 1 "template line 19: Conversation roles must alternate" "$T/models/gemma3" \
  --messages "$T/conversations/28-consecutive-users.json"
printf '{"messages": 1}' >"$tmp/badreq.json"
expect_fail 1 "messages" "$T/models/gemma3" --messages "$tmp/badreq.json"
printf 'ok\n{%% if x %%}\n{{ 1 + }}\n{%% endif %%}' >"$tmp/broken.jinja"
expect_fail 1 "template line 3" --template "$tmp/broken.jinja" --messages "$msgs"

"$MIXLM" template --help >"$tmp/out" 2>&1 && grep -q "usage: mixlm template" "$tmp/out" && ok || bad "--help"

t_end
