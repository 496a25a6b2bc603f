#!/usr/bin/env bash
# test_contract_inspect.sh: `mixlm inspect` shows the native contract of every oracle model:
# in --json under "contract" (each input with name, role and, for masks, attention {kind,
# window}), the same for the GGUF and the HF copy, and as a text section; a contract file
# printed back by the library reads back unchanged.
. "$(dirname "$0")/lib.sh"
: "${MIXLM:?}" "${MIXLM_TEST_DATA:?}"
t_begin test_contract_inspect
tmp=$T_DIR

for name in tiny-gemma3-swa8 tiny-gemma2-swa8 tiny-llama; do
  for f in "$MIXLM_TEST_DATA/oracle/$name.gguf" "$MIXLM_TEST_DATA/oracle/hf-$name"; do
    b=$(basename "$f")
    "$MIXLM" inspect --json "$f" >"$tmp/$b.json" 2>"$tmp/err" && ok || bad "inspect --json $f: $(cat "$tmp/err")"
    "$MIXLM" inspect "$f" >"$tmp/$b.txt" 2>"$tmp/err" && ok || bad "inspect $f: $(cat "$tmp/err")"
    grep -q '^contract: context' "$tmp/$b.txt" && ok || bad "$f: no contract section in text output"
    grep -q 'mask_full .*causal' "$tmp/$b.txt" && ok || bad "$f: text contract lacks the causal mask"
    if python3 - "$tmp/$b.json" "$name" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); name = sys.argv[2]
c = d["contract"]
assert c is not None, d.get("contract_error")
for i in c["inputs"]:
    assert "name" in i and "role" in i, i
masks = sorted((i["attention"]["kind"], i["attention"].get("window", 0))
               for i in c["inputs"] if i["role"] == "attention_mask")
want = {"tiny-gemma3-swa8": [("causal", 0), ("sliding", 8)],
        "tiny-gemma2-swa8": [("causal", 0), ("sliding", 8)],
        "tiny-llama": [("causal", 0)]}[sys.argv[2]]
assert masks == want, (masks, want)
# every layer's keys and values are held by exactly one state, of the layer's kind
layers = {l["index"]: l for l in d["layers"]}
for holds in ("keys", "values"):
    seen = []
    for s in c["states"]:
        if s["holds"] != holds: continue
        for j, l in enumerate(s["layers"]):
            seen.append(l)
            kind = layers[l]["attention"]
            assert s["layout"] == ("ring" if kind == "sliding" else "full"), (s, kind)
            if kind == "sliding":
                assert s["window"] == layers[l]["window"] and "W" in s["shape"], s
            else:
                assert "ctx" in s["shape"], s
        assert s["shape"][0] == len(s["layers"]), s
    assert sorted(seen) == sorted(layers), (holds, seen)
PY
    then ok; else bad "$f: contract JSON wrong"; fi
  done
  python3 -c "
import json,sys
a=json.load(open('$tmp/$name.gguf.json'))['contract']; b=json.load(open('$tmp/hf-$name.json'))['contract']
sys.exit(0 if a==b else 1)" && ok || bad "$name: GGUF and HF contracts differ"
done

# inspect --contract FILE: a good file prints back (its JSON reads back to the same text); a
# broken file is one error line and exit 1; a model and a contract together are a usage error.
for f in "$MIXLM_TEST_DATA"/contracts/good_*.json; do
  "$MIXLM" inspect --contract "$f" >"$tmp/c.txt" 2>"$tmp/err" && ok || bad "inspect --contract $f: $(cat "$tmp/err")"
  "$MIXLM" inspect --contract "$f" --json >"$tmp/c.json" 2>>"$tmp/err" && ok || bad "inspect --contract --json $f"
  "$MIXLM" inspect --contract "$tmp/c.json" >"$tmp/c2.txt" 2>>"$tmp/err" && ok || bad "reread $f: $(cat "$tmp/err")"
  cmp -s "$tmp/c.txt" "$tmp/c2.txt" && ok || bad "$f: printed JSON reads back differently"
  grep -q '^contract: context' "$tmp/c.txt" && ok || bad "$f: no text contract"
done
"$MIXLM" inspect --contract "$MIXLM_TEST_DATA/contracts/bad_sliding_no_window.json" >"$tmp/out" 2>"$tmp/err"; rc=$?
[ $rc -eq 1 ] && ok || bad "bad contract: exit $rc, expected 1"
[ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q 'input "sliding_mask" (attention_mask): sliding mask without a window' "$tmp/err" && ok || bad "bad contract: stderr: $(cat "$tmp/err")"
[ -s "$tmp/out" ] && bad "bad contract: wrote to stdout" || ok
"$MIXLM" inspect --contract "$MIXLM_TEST_DATA/contracts/good_minimal.json" "$MIXLM_TEST_DATA/oracle/tiny-llama.gguf" >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] && ok || bad "model and contract: exit $rc, expected 2"
"$MIXLM" inspect --contract >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] && ok || bad "--contract without FILE: exit $rc, expected 2"

t_end
