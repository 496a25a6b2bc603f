#!/usr/bin/env bash
# test_tokenize_cli.sh: `mixlm tokenize` on the committed test tokenizers: JSON lines in and out
# (ids from the reference goldens), --no-special, --decode, --text, and exit codes for errors.
. "$(dirname "$0")/lib.sh"
T=$MIXLM_TEST_DATA/tokenizer/small
t_begin test_tokenize_cli
tmp=$T_DIR

# encode the first 20 corpus lines and compare with the reference's ids (golden files)
head -20 "$MIXLM_TEST_DATA/tokenizer/corpus.jsonl" > "$tmp/in.jsonl"
for name in unigram wordpiece charbpe; do
  "$MIXLM" tokenize "$T/$name.json" --jsonl < "$tmp/in.jsonl" > "$tmp/out.jsonl" || bad "$name: encode failed"
  head -20 "$MIXLM_TEST_DATA/tokenizer/golden-small-$name.jsonl" \
    | python3 -c 'import json,sys; [print(json.dumps({"ids": json.loads(l)["ids_special"]})) for l in sys.stdin]' > "$tmp/want.jsonl"
  python3 - "$tmp/out.jsonl" "$tmp/want.jsonl" <<'PY' && ok || bad "$name: ids differ from the reference"
import json, sys
a = [json.loads(l)["ids"] for l in open(sys.argv[1])]
b = [json.loads(l)["ids"] for l in open(sys.argv[2])]
sys.exit(0 if a == b else 1)
PY
  "$MIXLM" tokenize "$T/$name.json" --jsonl --no-special < "$tmp/in.jsonl" > "$tmp/out2.jsonl" || bad "$name: --no-special failed"
  head -20 "$MIXLM_TEST_DATA/tokenizer/golden-small-$name.jsonl" \
    | python3 -c 'import json,sys; [print(json.dumps({"ids": json.loads(l)["ids"]})) for l in sys.stdin]' > "$tmp/want2.jsonl"
  python3 -c 'import json,sys; a=[json.loads(l)["ids"] for l in open(sys.argv[1])]; b=[json.loads(l)["ids"] for l in open(sys.argv[2])]; sys.exit(a!=b)' \
    "$tmp/out2.jsonl" "$tmp/want2.jsonl" && ok || bad "$name: --no-special ids differ"
  # decode the ids back: the reference's decoded text
  "$MIXLM" tokenize "$T/$name.json" --jsonl --decode < "$tmp/out.jsonl" > "$tmp/dec.jsonl" || bad "$name: decode failed"
  python3 - "$tmp/dec.jsonl" "$MIXLM_TEST_DATA/tokenizer/golden-small-$name.jsonl" <<'PY' && ok || bad "$name: decoded text differs"
import json, sys
a = [json.loads(l)["text"] for l in open(sys.argv[1])]
b = [json.loads(l)["decoded"] for l in open(sys.argv[2])][:len(a)]
sys.exit(0 if a == b else 1)
PY
done

out=$("$MIXLM" tokenize "$T/charbpe.json" --text "the quick fox") && ok || bad "--text failed"
echo "$out" | grep -q '"pieces"' && ok || bad "--text prints no pieces"
"$MIXLM" tokenize --help | grep -q "usage: mixlm tokenize" && ok || bad "--help"

# errors: one line on stderr, exit 1 for runtime failures, 2 for usage
expect_error 1 "" "$MIXLM" tokenize "$T/nonexistent.json" --jsonl </dev/null
echo '{"text": 5}' | "$MIXLM" tokenize "$T/charbpe.json" --jsonl 2>/dev/null; rc=$?
[ $rc -eq 1 ] && ok || bad "bad line: exit $rc"
echo 'not json' | "$MIXLM" tokenize "$T/charbpe.json" --jsonl 2>/dev/null; rc=$?
[ $rc -eq 1 ] && ok || bad "not JSON: exit $rc"
echo '{"ids": [999999]}' | "$MIXLM" tokenize "$T/charbpe.json" --jsonl --decode 2>/dev/null; rc=$?
[ $rc -eq 1 ] && ok || bad "id out of range: exit $rc"
expect_error 2 "unknown option --frobnicate" "$MIXLM" tokenize "$T/charbpe.json" --frobnicate
"$MIXLM" tokenize 2>/dev/null; rc=$?
[ $rc -eq 2 ] && ok || bad "no arguments: exit $rc"
"$MIXLM" tokenize "$T/charbpe.json" 2>/dev/null; rc=$?
[ $rc -eq 2 ] && ok || bad "no mode: exit $rc"
# a GGUF file's vocabulary
"$MIXLM" tokenize "$MIXLM_TEST_DATA/oracle/tiny-llama.gguf" --text "Hello" | grep -q '"ids": \[2,' && ok || bad "GGUF vocabulary"

t_end
