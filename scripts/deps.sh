#!/usr/bin/env bash
# deps.sh: install the Debian packages mixlm needs, only those missing.
#   scripts/deps.sh          build and run dependencies
#   scripts/deps.sh --test   also what the test suite uses (clang for the fuzzers, Node.js and
#                            npm for the reference tokenizers, templates and the OpenAI client)
set -euo pipefail
pkgs=(build-essential cmake pkg-config libcjson-dev libpcre2-dev libutf8proc-dev libmicrohttpd-dev)
if [ "${1:-}" = "--test" ]; then
  pkgs+=(clang libclang-rt-dev tmux python3 ca-certificates)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm may come from another source than Debian (whose nodejs package then
# conflicts with Debian's npm): ask for the commands, not the packages.
if [ "${1:-}" = "--test" ]; then
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
