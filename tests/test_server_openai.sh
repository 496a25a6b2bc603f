#!/usr/bin/env bash
# test_server_openai.sh: `mixlm serve` end to end with the official openai npm package (Node):
# models, completions and chat (non-streamed and streamed), seeds, stop strings, logprobs,
# errors as the SDK's error types, 8 clients x 25 requests each equal to the request served
# alone, an aborted stream freeing its slot, then a clean SIGTERM shutdown (exit status 0; in
# an ASan build, MIXLM_SANITIZED=1, a leak fails that exit status).
# Runs against the fake backend, the tiny oracle model (tests/data/server tokenizer), and the
# bundled model when models/ holds one.
# The openai package is installed once with `npm ci` into ${MIXLM_CACHE:-~/.cache/mixlm}.
. "$(dirname "$0")/lib.sh"
set -euo pipefail
: "${MIXLM:?path of the mixlm binary}" "${MIXLM_SOURCE_DIR:?repo root}"
t_begin test_server_openai
tmp=$T_DIR
pid=""
T_CLEANUP='if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi'

command -v node >/dev/null || { echo "test_server_openai: node is not installed (scripts/deps.sh --test)"; exit 1; }
MIXLM_SOURCE_DIR=$(cd "$MIXLM_SOURCE_DIR" && pwd)
src="$MIXLM_SOURCE_DIR/tools/reference/openai-client"
cache=${MIXLM_CACHE:-$HOME/.cache/mixlm}
lockhash=$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -c1-16)
dir="$cache/openai-client-$lockhash"
if [ ! -f "$dir/node_modules/openai/package.json" ]; then
  mkdir -p "$dir"
  cp "$src/package.json" "$src/package-lock.json" "$dir/"
  (cd "$dir" && timeout 300 npm ci --no-audit --no-fund --prefer-offline --loglevel=error >/dev/null) || {
    echo "test_server_openai: npm ci failed (no registry and no cache?)"; exit 1; }
fi
cp "$src/client-test.mjs" "$dir/"

# run_server NAME ARGS...: start mixlm serve on a free loopback port, wait (bounded) for it.
run_server() {
  local name=$1; shift
  rm -f "$tmp/port"
  "$MIXLM" serve --host 127.0.0.1 --port 0 --port-file "$tmp/port" --api-key test-key "$@" \
    2>"$tmp/$name.log" &
  pid=$!
  for _ in $(seq 1 600); do
    [ -s "$tmp/port" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$tmp/$name.log"; echo "test_server_openai: $name: server died"; exit 1; }
    sleep 0.1
  done
  [ -s "$tmp/port" ] || { echo "test_server_openai: $name: server did not start in 60 s"; exit 1; }
  port=$(cat "$tmp/port")
}

# stop_server NAME: SIGTERM, wait (bounded), require exit status 0.
stop_server() {
  local name=$1 rc=0
  kill -TERM "$pid"
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then echo "test_server_openai: $name: no exit 30 s after SIGTERM"; exit 1; fi
  wait "$pid" || rc=$?
  pid=""
  if [ "$rc" -ne 0 ]; then
    cat "$tmp/$name.log"; echo "test_server_openai: $name: server exited with $rc"; exit 1
  fi
  ok
}

run_client() {
  local name=$1 chat=$2 conc=$3
  if (cd "$dir" && MIXLM_URL="http://127.0.0.1:$port/v1" MIXLM_KEY=test-key MIXLM_CHAT=$chat \
        MIXLM_CONC=$conc timeout 600 node client-test.mjs); then ok
  else bad "$name: client checks failed"
  fi
}

run_server fake --fake-backend --fake-delay-us 200 --parallel 4
run_client fake 1 8x25
stop_server fake

# A real model through the native engine: the tiny random-weight Gemma 3 oracle model with the
# byte-level test tokenizer and its chat template (tests/data/server).
tiny="$tmp/tiny-model"
mkdir -p "$tiny"
for f in config.json generation_config.json model.safetensors; do
  ln -s "$MIXLM_SOURCE_DIR/tests/data/oracle/hf-tiny-gemma3-swa8/$f" "$tiny/$f"
done
for f in tokenizer.json tokenizer_config.json; do ln -s "$MIXLM_SOURCE_DIR/tests/data/server/$f" "$tiny/$f"; done
run_server tiny -m "$tiny" --parallel 4 --ctx 512 --threads 1
run_client tiny 1 8x25
stop_server tiny

# The bundled model, when the tree has one (its own chat template decides the chat checks).
model=""
for f in "$MIXLM_SOURCE_DIR"/models/*.gguf "$MIXLM_SOURCE_DIR"/models/*/config.json; do
  [ -e "$f" ] || continue
  case "$f" in *config.json) model=$(dirname "$f") ;; *) model=$f ;; esac
  break
done
if [ -n "$model" ]; then
  run_server model -m "$model" --parallel 4 --ctx 1024
  conc=8x25
  [ "${MIXLM_SANITIZED:-0}" = 1 ] && conc=8x4   # the same checks, fewer requests under ASan
  run_client model 1 "$conc"
  stop_server model
else
  echo "test_server_openai: no bundled model under models/ (ran the fake backend and the tiny oracle model)"
fi
t_end
