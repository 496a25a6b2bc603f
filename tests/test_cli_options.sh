#!/usr/bin/env bash
# test_cli_options.sh: every mixlm command parses its options the same way (tools/mixlm/
# cli_opts.c): --help prints the usage on stdout with status 0; an unknown option, an option
# without its value, a bad or out-of-range number and a second MODEL are each one line on
# stderr with status 2, and nothing runs.
. "$(dirname "$0")/lib.sh"
: "${MIXLM:?}" "${MIXLM_TEST_DATA:?}"
t_begin test_cli_options
M=$MIXLM_TEST_DATA/oracle/tiny-llama.gguf

# help CMD: usage on stdout, nothing on stderr, status 0.
for cmd in run chat serve inspect tokenize template logits perplexity bench; do
  expect_rc 0 "$cmd --help" "$MIXLM" "$cmd" --help
  check 'grep -q "usage: mixlm $cmd" "$T_DIR/out" && [ ! -s "$T_DIR/err" ]' "$cmd --help: usage on stdout only"
  expect_error 2 "unknown option --bogus" "$MIXLM" "$cmd" --bogus
done

# --version: the version and the instruction set of the kernels in use.
expect_rc 0 "--version" "$MIXLM" --version
check 'grep -Eq "^mixlm [0-9]+\.[0-9]+\.[0-9]+ \(kernels: (reference|avx2|avx512)\)$" "$T_DIR/out"' "--version names the kernels"

# A value-taking option last: "needs a value"; a bad number: what, the value, and the range.
expect_error 2 "^mixlm run: -n needs a value$" "$MIXLM" run -m "$M" -p hi -n
expect_error 2 "^mixlm chat: --ctx needs a value$" "$MIXLM" chat -m "$M" --ctx
expect_error 2 "^mixlm serve: --port needs a value$" "$MIXLM" serve --port
expect_error 2 "^mixlm inspect: --contract needs a value$" "$MIXLM" inspect --contract
expect_error 2 "^mixlm tokenize: --text needs a value$" "$MIXLM" tokenize "$M" --text
expect_error 2 "^mixlm template: --messages needs a value$" "$MIXLM" template "$M" --messages
expect_error 2 "^mixlm logits: --out needs a value$" "$MIXLM" logits "$M" --tokens 1,2 --out
expect_error 2 "^mixlm perplexity: --ctx needs a value$" "$MIXLM" perplexity "$M" --ctx
expect_error 2 "^mixlm bench: --depth needs a value$" "$MIXLM" bench "$M" --depth

expect_error 2 "^mixlm run: -n: '1.5' is not a whole number in -1\.\." "$MIXLM" run -m "$M" -p hi -n 1.5
expect_error 2 "^mixlm run: --top-p: '2' is not a number in 0\.\.1$" "$MIXLM" run -m "$M" -p hi --top-p 2
expect_error 2 "^mixlm run: --seed: '-3' is not a whole number >= 0$" "$MIXLM" run -m "$M" -p hi --seed -3
expect_error 2 "^mixlm chat: --temp: 'hot' is not a number in 0\.\.100$" "$MIXLM" chat -m "$M" --temp hot
expect_error 2 "^mixlm serve: --port: '70000' is not a whole number in 0\.\.65535$" "$MIXLM" serve --port 70000
expect_error 2 "^mixlm tokenize: --repeat: '0' is not a whole number in 1\.\.1000$" "$MIXLM" tokenize "$M" --bench x --repeat 0
expect_error 2 "^mixlm template: --now: 'soon' is not a whole number" "$MIXLM" template "$M" --messages x --now soon
expect_error 2 "^mixlm logits: --chunk: '0' is not a whole number in 1\.\." "$MIXLM" logits "$M" --tokens 1 --out x --chunk 0
expect_error 2 "^mixlm perplexity: --threads: 'x' is not a whole number in 1\.\.256$" "$MIXLM" perplexity "$M" --threads x
expect_error 2 "^mixlm serve: --kv must be f32, f16 or bf16, not 'q4'$" "$MIXLM" serve --kv q4
expect_error 2 "^mixlm bench: --reps: '' is not a whole number in 1\.\.1000$" "$MIXLM" bench "$M" --reps ""

# Repeatable options stop at their cap; a second MODEL and stray arguments are refused.
depths=(); for i in $(seq 1 33); do depths+=(--depth 1); done
expect_error 2 "^mixlm bench: at most 32 --depth values$" "$MIXLM" bench "$M" "${depths[@]}"
stops=(); for i in $(seq 1 17); do stops+=(--stop x); done
expect_error 2 "^mixlm run: at most 16 --stop values$" "$MIXLM" run -m "$M" -p hi "${stops[@]}"
expect_error 2 "more than one model given ('$M' and 'other')" "$MIXLM" bench "$M" other
expect_error 2 "more than one MODEL given" "$MIXLM" inspect "$M" other
expect_error 2 "unexpected argument 'hello' (the prompt goes after -p)" "$MIXLM" run hello
expect_error 2 "unexpected argument 'x'" "$MIXLM" serve x
# A value may start with '-' (a prompt, a stop string).
expect_rc 0 "a value starting with -" "$MIXLM" run -m "$M" -p "-hi" -n 1 --temp 0 --stop "-"
t_end
