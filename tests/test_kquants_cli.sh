#!/usr/bin/env bash
# test_kquants_cli.sh: gen-random-model's Q4_0/Q5_0/K-quant types and its Q4_K_M-style mix end to
# end: the mix has the documented per-tensor types (mixlm inspect), every type loads and runs
# through `mixlm logits`, and the logits are the same bytes whatever the prompt split or thread
# count (the integer path's tile product equals its dot product).
. "$(dirname "$0")/lib.sh"
M="${MIXLM:?}"
t_begin test_kquants_cli
T=$T_DIR
GEN="$(dirname "$M")/gen-random-model"
TOK=2,17,33,4,99,150,7,8,250,11,12,13,200,5,64
SHAPE=(--layers 8 --vocab 256 --ff 512 --heads 4 --kv-heads 2 --head-dim 64 --window 8 --seed 5)

# The mix with hidden 320 (not whole superblocks, so the fallbacks show) and 8 layers:
# more_bits(i) holds for layers 0, 3, 6, 7. Expected: q/k/gate/up (32) and attn_v of the
# other 4 layers are Q5_0 (36); attn_v of layers 0,3,6,7 and token_embd are Q8_0 (5); ffn_down
# (rows of 512) is Q6_K in those 4 layers and Q4_K in the other 4, attn_output (rows of 256)
# Q4_K in all 8 (12); norms F32 (8 * 6 + 1 = 49).
expect_rc 0 "gen q4_k_m 320" "$GEN" "${SHAPE[@]}" --embd 320 --type q4_k_m --out "$T/mix320.gguf"
expect_rc 0 "inspect mix" "$M" inspect "$T/mix320.gguf"
for want in "F32 49" "Q5_0 36" "Q8_0 5" "Q4_K 12" "Q6_K 4"; do
    set -- $want
    grep -Eq "^ +$1 +$2 " "$T/out" && ok || bad "mix 320: wanted $2 tensors of $1: $(grep -E '^ +(F32|Q)' "$T/out" | tr -s ' ' | tr '\n' ';')"
done
# With hidden 256 every matrix is whole superblocks: Q4_K and Q6_K only.
expect_rc 0 "gen q4_k_m 256" "$GEN" "${SHAPE[@]}" --embd 256 --type q4_k_m --out "$T/mix256.gguf"
expect_rc 0 "inspect mix 256" "$M" inspect "$T/mix256.gguf"
# Q6_K: token_embd + attn_v and ffn_down of 4 layers = 9; Q4_K: the other 56 - 8 = 48
grep -Eq "^ +Q6_K +9 " "$T/out" && grep -Eq "^ +Q4_K +48 " "$T/out" && ok ||
    bad "mix 256: $(grep -E '^ +(F32|Q)' "$T/out" | tr -s ' ' | tr '\n' ';')"

for ty in q4_0 q5_0 q4_k q5_k q6_k q4_k_m; do
    expect_rc 0 "gen $ty" "$GEN" "${SHAPE[@]}" --embd 256 --type "$ty" --out "$T/$ty.gguf"
    expect_rc 0 "logits $ty whole" "$M" logits "$T/$ty.gguf" --tokens "$TOK" --out "$T/$ty.whole" --threads 2
    expect_rc 0 "logits $ty chunk 1" "$M" logits "$T/$ty.gguf" --tokens "$TOK" --out "$T/$ty.c1" --chunk 1 --threads 1
    expect_rc 0 "logits $ty chunk 4" "$M" logits "$T/$ty.gguf" --tokens "$TOK" --out "$T/$ty.c4" --chunk 4 --threads 2
    size=$(stat -c %s "$T/$ty.whole" 2>/dev/null || echo 0)
    [ "$size" = $((15 * 256 * 4)) ] && ok || bad "$ty: logits file is $size bytes"
    cmp -s "$T/$ty.whole" "$T/$ty.c1" && ok || bad "$ty: chunk 1 differs from whole"
    cmp -s "$T/$ty.whole" "$T/$ty.c4" && ok || bad "$ty: chunk 4 differs from whole"
done
expect_rc 0 "logits mix 320" "$M" logits "$T/mix320.gguf" --tokens "$TOK" --out "$T/m320.whole"
expect_rc 0 "logits mix 320 chunk 3" "$M" logits "$T/mix320.gguf" --tokens "$TOK" --out "$T/m320.c3" --chunk 3
cmp -s "$T/m320.whole" "$T/m320.c3" && ok || bad "mix 320: chunk 3 differs from whole"

# K-quants need rows of whole superblocks: a clear one-line usage error, not a broken file.
expect_error 2 "multiple of the Q4_K block size 256" "$GEN" "${SHAPE[@]}" --embd 320 --type q4_k --out "$T/bad.gguf"
[ ! -e "$T/bad.gguf" ] && ok || bad "q4_k 320 left a file behind"

t_end
