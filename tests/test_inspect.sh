#!/usr/bin/env bash
# test_inspect.sh: `mixlm inspect` prints the same hyper-parameters and layer table for the GGUF
# and the HF version of each oracle model, valid JSON with the promised keys, and one clear
# error line with exit status 1 for a bad model (2 for bad usage).
. "$(dirname "$0")/lib.sh"
: "${MIXLM:?}" "${MIXLM_TEST_DATA:?}"
t_begin test_inspect
tmp=$T_DIR

for name in tiny-gemma3-swa8 tiny-gemma2-swa8 tiny-llama; do
  g=$MIXLM_TEST_DATA/oracle/$name.gguf
  h=$MIXLM_TEST_DATA/oracle/hf-$name
  for f in "$g" "$h"; do
    if "$MIXLM" inspect "$f" >"$tmp/text" 2>"$tmp/err" && "$MIXLM" inspect --json "$f" >"$tmp/$(basename "$f").json" 2>>"$tmp/err"; then ok; else bad "inspect $f: $(cat "$tmp/err")"; fi
    [ -s "$tmp/err" ] && bad "inspect $f wrote to stderr: $(cat "$tmp/err")" || ok
    sed -n '/^layer table:/,/^$/p' "$tmp/text" >"$tmp/$(basename "$f").layers"
    grep -q "sliding\|full" "$tmp/$(basename "$f").layers" && ok || bad "$f: no layer table in text output"
  done
  cmp -s "$tmp/$name.gguf.layers" "$tmp/hf-$name.layers" && ok || bad "$name: text layer tables differ: $(diff "$tmp/$name.gguf.layers" "$tmp/hf-$name.layers")"
  if python3 - "$tmp/$name.gguf.json" "$tmp/hf-$name.json" "$name" <<'PY'
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2])); name = sys.argv[3]
for k in ("architecture", "n_layers", "layers", "tensors"):
    assert k in a and k in b, "missing key " + k
# Only the file format and the conventions tied to it may differ.
skip = {"format", "path", "architecture", "gguf_version", "name", "norm_add_one", "rope_neox"}
for k in set(a) | set(b):
    if k in skip: continue
    if k == "tensors":
        assert a[k]["count"] == b[k]["count"], (k, a[k], b[k])
        continue
    assert a.get(k) == b.get(k), "%s: %r vs %r" % (k, a.get(k), b.get(k))
assert a["n_layers"] == len(a["layers"]) == 8
facts = {"tiny-gemma3-swa8": ([0, 1, 2, 3, 4, 6, 7], 1e4, 1e6),
         "tiny-gemma2-swa8": ([0, 2, 4, 6], 1e4, 1e4),
         "tiny-llama": ([], 1e4, 1e4)}[name]
for l in a["layers"]:
    sl = l["index"] in facts[0]
    assert l["attention"] == ("sliding" if sl else "full"), l
    assert l["window"] == (8 if sl else 0), l
    assert l["rope_base"] == (facts[1] if sl else facts[2]), l
assert a["format"] == "gguf" and b["format"] == "hf"
PY
  then ok; else bad "$name: JSON descriptions differ"; fi
done

# Errors: exit 1 with exactly one line naming the problem.
"$MIXLM" inspect "$MIXLM_TEST_DATA/no-such-model.gguf" >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && ok || bad "missing file: exit $rc, expected 1"
[ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "no such file" "$tmp/err" && ok || bad "missing file: stderr: $(cat "$tmp/err")"
[ -s "$tmp/out" ] && bad "missing file: wrote to stdout" || ok
printf 'GGUF\003\000\000\000\377\377\377\377\377\377\377\377' >"$tmp/broken.gguf"
"$MIXLM" inspect "$tmp/broken.gguf" >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && ok || bad "broken file: exit $rc, expected 1"
[ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "truncated\|limit" "$tmp/err" && ok || bad "broken file: stderr: $(cat "$tmp/err")"
"$MIXLM" inspect >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 2 ] && ok || bad "no MODEL: exit $rc, expected 2"
expect_error 2 "unknown option --bogus" "$MIXLM" inspect --bogus x
expect_rc 0 "--help" "$MIXLM" inspect --help
check 'grep -q "usage: mixlm inspect" "$tmp/out"' "--help prints the usage"

t_end
