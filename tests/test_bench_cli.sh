#!/usr/bin/env bash
# test_bench_cli.sh: `mixlm bench` end to end on the tiny oracle model: the JSON has one object
# per test with the right names, depths and threads, positive speeds and KV bytes, and the
# roofline object; bad flags exit 2 and a missing model exits 1, each with one error line.
. "$(dirname "$0")/lib.sh"
M="${MIXLM:?}"
D="${MIXLM_TEST_DATA:?}/oracle"
t_begin test_bench_cli
T=$T_DIR
MODEL="$D/tiny-gemma3-swa8.gguf"

mkdir -p "$T/tmp"
TMPDIR="$T/tmp" expect_rc 0 "bench json" "$M" bench "$MODEL" -p 16 -n 8 --reps 2 --depth 0 --depth 20 --json -t 2
# the saved state of a depth (loaded before each run at that depth) is removed at the end
if [ -z "$(ls -A "$T/tmp")" ]; then ok; else bad "bench left files in TMPDIR: $(ls "$T/tmp")"; fi
cp "$T/out" "$T/bench.json"
# Repetitions go round the tests: every test's first run comes before any second run, so each
# depth meets the same stretch of the machine's time, and each depth keeps its own saved state
# (all removed at the end). The stages come from the progress line, which needs a terminal:
# `script` gives the command one.
TERM=xterm TMPDIR="$T/tmp" script -qec "'$M' bench '$MODEL' -p 4 -n 2 --reps 2 --depth 0 --depth 12 --depth 20 -t 1 --no-roofline" \
  /dev/null >"$T/tty.out" 2>&1 </dev/null && ok || bad "bench on a terminal failed: $(tail -c 300 "$T/tty.out")"
order=$(tr '\r' '\n' <"$T/tty.out" | grep -ao '[pt][pg][0-9]* at depth [0-9]*: run [0-9] of 2' | uniq | tr '\n' ';')
want=""
for rep in 1 2; do for d in 0 12 20; do for t in pp4 tg2; do want="$want$t at depth $d: run $rep of 2;"; done; done; done
[ "$order" = "$want" ] && ok || bad "bench ran its repetitions in the order: $order"
if [ -z "$(ls -A "$T/tmp")" ]; then ok; else bad "bench left files in TMPDIR: $(ls "$T/tmp")"; fi
if python3 - "$T/bench.json" <<'PY'; then ok; else bad "bench JSON content"; fi
import json, sys
arr = json.load(open(sys.argv[1]))
assert isinstance(arr, list), "not an array"
tests = [o for o in arr if o.get("test") != "roofline"]
roof = [o for o in arr if o.get("test") == "roofline"]
want = [("pp16", 0), ("tg8", 0), ("pp16", 20), ("tg8", 20)]
got = [(o["test"], o["depth"]) for o in tests]
assert got == want, f"tests {got}, wanted {want}"
for o in tests:
    assert o["threads"] == 2, o
    assert o["reps"] == 2, o
    assert o["n_tokens"] == (16 if o["test"] == "pp16" else 8), o
    assert o["tokens_per_second"] > 0, o
    assert o["stddev"] >= 0, o
    assert o["kv_bytes"] > 0, o
    assert o["peak_rss_bytes"] > 0, o
    assert o["isa"] in ("reference", "avx2", "avx512"), o
assert len(roof) == 1 and arr[-1] is roof[0], "one final roofline object"
r = roof[0]
assert r["threads"] == 2 and r["bandwidth_gb_per_second"] > 0, r
assert r["weight_bytes_per_token"] > 0 and r["tg_bound_tokens_per_second"] > 0, r
assert r["sustained_bandwidth_gb_per_second"] > 0 and r["tg_sustained_bound_tokens_per_second"] > 0, r
assert abs(r["tg_sustained_bound_tokens_per_second"] - r["sustained_bandwidth_gb_per_second"] * 1e9 / r["weight_bytes_per_token"]) <= 1e-3 * r["tg_sustained_bound_tokens_per_second"], r
for o in tests:
    if o["test"].startswith("tg"):
        assert abs(o["roofline_fraction"] - o["tokens_per_second"] / r["tg_bound_tokens_per_second"]) <= 1e-3 * o["roofline_fraction"], o
        # the sustained figure is measured beside each tg test and its fraction uses it
        assert o["sustained_bandwidth_gb_per_second"] > 0, o
        want = o["tokens_per_second"] * r["weight_bytes_per_token"] / (o["sustained_bandwidth_gb_per_second"] * 1e9)
        assert abs(o["sustained_roofline_fraction"] - want) <= 1e-3 * want, o
    else:
        assert "sustained_bandwidth_gb_per_second" not in o, o
# each test at depth 20 gives its speed against the same test at depth 0, raw and (tg: the
# bandwidth read beside each divided out)
by = {(o["test"], o["depth"]): o for o in tests}
for o in tests:
    if o["depth"] == 0:
        assert "depth_ratio" not in o and "depth_ratio_sustained" not in o, o
        continue
    b = by[(o["test"], 0)]
    want = o["tokens_per_second"] / b["tokens_per_second"]
    assert abs(o["depth_ratio"] - want) <= 1e-3 * want, o
    if o["test"].startswith("tg"):
        want = (o["tokens_per_second"] / o["sustained_bandwidth_gb_per_second"]) / (
            b["tokens_per_second"] / b["sustained_bandwidth_gb_per_second"])
        assert abs(o["depth_ratio_sustained"] - want) <= 1e-3 * want, o
    else:
        assert "depth_ratio_sustained" not in o, o
PY

# Text output: a table row per test.
expect_rc 0 "bench text" "$M" bench "$MODEL" -p 4 -n 0 --reps 1 --no-roofline -t 1
grep -q "^| pp4 " "$T/out" && ok || bad "text output lacks the pp4 row: $(cat "$T/out")"
grep -q "^| tg" "$T/out" && bad "-n 0 still ran a tg test" || ok
grep -q "roofline" "$T/out" && bad "--no-roofline still printed a roofline" || ok
# with the roofline, one line per tg test gives both fractions
expect_rc 0 "bench text roofline" "$M" bench "$MODEL" -p 0 -n 4 --reps 1 -t 1
grep -q "^roofline: tg4@0 reaches [0-9.]*% of the peak bound, [0-9.]*% of the sustained bound" "$T/out" && ok ||
    bad "no roofline line for tg4: $(cat "$T/out")"
grep -q "^depth:" "$T/out" && bad "a depth line without a second depth: $(cat "$T/out")" || ok
# with two depths, a line per test compares it with the same test at depth 0
expect_rc 0 "bench text depths" "$M" bench "$MODEL" -p 0 -n 4 --reps 1 -t 1 --depth 0 --depth 12
grep -q "^depth: tg4@12 runs at [0-9.]*% of tg4@0 ([0-9.]*% with each against the bandwidth read beside it)" "$T/out" && ok ||
    bad "no depth line for tg4@12: $(cat "$T/out")"
expect_rc 0 "bench text depths, no roofline" "$M" bench "$MODEL" -p 0 -n 4 --reps 1 -t 1 --depth 0 --depth 12 --no-roofline
grep -q "^depth: tg4@12 runs at [0-9.]*% of tg4@0$" "$T/out" && ok ||
    bad "no plain depth line for tg4@12: $(cat "$T/out")"

# --isa caps the kernels' instruction set: the text and JSON name the set in use
expect_rc 0 "bench --isa reference" "$M" bench "$MODEL" -p 4 -n 0 --reps 1 --no-roofline --isa reference
grep -q "kernels reference," "$T/out" && ok || bad "text output does not name the reference kernels: $(cat "$T/out")"
expect_rc 0 "bench --isa reference json" "$M" bench "$MODEL" -p 4 -n 0 --reps 1 --no-roofline --isa reference --json
python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); assert a[0]["isa"] == "reference", a' "$T/out" && ok ||
    bad "JSON isa is not reference: $(cat "$T/out")"
expect_rc 0 "bench --isa avx2" "$M" bench "$MODEL" -p 4 -n 0 --reps 1 --no-roofline --isa avx2 --json
python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); assert a[0]["isa"] in ("reference", "avx2"), a' "$T/out" && ok ||
    bad "JSON isa above avx2 with --isa avx2: $(cat "$T/out")"
expect_rc 2 "bad --isa" "$M" bench "$MODEL" --isa avx1024
grep -q "isa must be" "$T/err" && ok || bad "bad --isa message: $(cat "$T/err")"

# --ctx sizes the state: more positions, more KV bytes (the full layers grow; rings do not)
kvb() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["kv_bytes"])' "$1"; }
expect_rc 0 "bench default ctx" "$M" bench "$MODEL" -p 4 -n 0 --reps 1 --no-roofline --json
kv_small=$(kvb "$T/out")
expect_rc 0 "bench --ctx 256" "$M" bench "$MODEL" -p 4 -n 0 --reps 1 --no-roofline --json --ctx 256
kv_big=$(kvb "$T/out")
if [ "$kv_big" -gt "$kv_small" ]; then ok; else bad "--ctx 256 gave $kv_big KV bytes, default $kv_small"; fi
expect_rc 2 "bad --ctx" "$M" bench "$MODEL" --ctx -5

# --batch B: tg tests step B sequences together; KV bytes are those of all B states; no
# roofline fraction (the bound is per single-sequence step)
expect_rc 0 "bench --batch 1" "$M" bench "$MODEL" -p 0 -n 6 --reps 1 --no-roofline --json --depth 20
cp "$T/out" "$T/b1.json"
expect_rc 0 "bench --batch 3" "$M" bench "$MODEL" -p 0 -n 6 --reps 1 --json -b 3 --depth 0 --depth 20
cp "$T/out" "$T/b3.json"
if python3 - "$T/b1.json" "$T/b3.json" <<'PY'; then ok; else bad "bench --batch JSON content"; fi
import json, sys
b1 = json.load(open(sys.argv[1]))[0]
arr = json.load(open(sys.argv[2]))
tests = [o for o in arr if o["test"] != "roofline"]
assert [(o["test"], o["depth"], o["batch"]) for o in tests] == [("tg6x3", 0, 3), ("tg6x3", 20, 3)], tests
assert b1["batch"] == 1 and b1["test"] == "tg6", b1
assert tests[1]["kv_bytes"] == 3 * b1["kv_bytes"], (tests[1]["kv_bytes"], b1["kv_bytes"])
for o in tests:
    assert o["tokens_per_second"] > 0 and "roofline_fraction" not in o, o
PY
expect_rc 2 "batch 0" "$M" bench "$MODEL" -b 0
expect_rc 2 "batch too large" "$M" bench "$MODEL" --batch 65

expect_rc 0 "bench --help" "$M" bench --help
expect_rc 1 "missing model file" "$M" bench "$T/nope.gguf" -p 4 -n 4 --no-roofline
expect_rc 2 "no model" "$M" bench
expect_rc 2 "unknown flag" "$M" bench "$MODEL" --bogus
expect_rc 2 "reps 0" "$M" bench "$MODEL" --reps 0
expect_rc 2 "bad -p" "$M" bench "$MODEL" -p x
expect_rc 2 "negative depth" "$M" bench "$MODEL" --depth -1
expect_rc 2 "threads 0" "$M" bench "$MODEL" -t 0
expect_rc 2 "bad kv" "$M" bench "$MODEL" --kv q4
expect_rc 2 "missing value" "$M" bench "$MODEL" --depth
expect_rc 2 "nothing to do" "$M" bench "$MODEL" -p 0 -n 0

t_end
