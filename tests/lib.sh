# lib.sh: what the tests/test_*.sh scripts share (sourced, never run as a test: CMake runs only
# test_*.sh): pass/fail counters, checks of exit statuses and one-line errors, a scratch
# folder removed at exit, JSON fields, and the summary line CTest prints.
#
#   . "$(dirname "$0")/lib.sh"
#   t_begin NAME          # $T_DIR = a fresh scratch folder; the summary names NAME
#   ...ok / bad MSG / check 'CONDITION' MSG / expect_rc / expect_error...
#   t_end                 # "NAME: N passed, N failed"; the script's status
set -u
pass=0
fail=0
T_DIR=""
t_name=${0##*/}
t_name=${t_name%.sh}
T_CLEANUP=""   # more shell to run at exit (a script's own servers or sessions)

t_cleanup() {
  [ -n "$T_CLEANUP" ] && eval "$T_CLEANUP"
  [ -n "$T_DIR" ] && rm -rf "$T_DIR"
  return 0
}

# t_begin [NAME]: the scratch folder $T_DIR under $MIXLM_TEST_TMP (or /tmp), removed at exit.
t_begin() {
  [ $# -gt 0 ] && t_name=$1
  T_DIR=$(mktemp -d "${MIXLM_TEST_TMP:-/tmp}/$t_name.XXXXXX") || { echo "$t_name: no scratch folder" >&2; exit 1; }
  trap t_cleanup EXIT
}

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAILED: $*" >&2; }
# check 'SHELL CONDITION' MESSAGE: one assertion (the condition is eval'd).
check() { if eval "$1"; then ok; else bad "$2"; fi; }

# expect_rc STATUS WHAT COMMAND...: run it (stdout in $T_DIR/out, stderr in $T_DIR/err) and
# check its exit status; a failure (STATUS not 0) must also say why in exactly one line.
expect_rc() {
  local want=$1 what=$2
  shift 2
  "$@" >"$T_DIR/out" 2>"$T_DIR/err"
  local rc=$?
  if [ "$rc" = "$want" ]; then ok; else bad "$what: exit $rc, wanted $want ($(head -c 300 "$T_DIR/err"))"; fi
  if [ "$want" != 0 ]; then
    if [ "$(wc -l <"$T_DIR/err")" = 1 ]; then ok; else bad "$what: wanted one error line, got: $(cat "$T_DIR/err")"; fi
  fi
  return 0
}

# expect_error STATUS PATTERN COMMAND...: the command fails with STATUS and exactly one line on
# stderr that holds PATTERN ("" = any).
expect_error() {
  local want=$1 pat=$2
  shift 2
  "$@" >"$T_DIR/out" 2>"$T_DIR/err"
  local rc=$?
  if [ "$rc" != "$want" ]; then bad "$*: exit $rc, wanted $want ($(head -c 300 "$T_DIR/err"))"; return 0; fi
  if [ "$(wc -l <"$T_DIR/err")" != 1 ]; then bad "$*: wanted one line on stderr, got: $(cat "$T_DIR/err")"; return 0; fi
  if [ -n "$pat" ] && ! grep -q -- "$pat" "$T_DIR/err"; then bad "$*: stderr '$(cat "$T_DIR/err")' lacks '$pat'"; return 0; fi
  ok
}

# json_field FILE KEY: a top-level field of a JSON file; lists print comma-separated.
json_field() {
  python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))[sys.argv[2]]; print(",".join(map(str,v)) if isinstance(v,list) else v)' "$1" "$2"
}

t_end() {
  echo "$t_name: $pass passed, $fail failed"
  [ "$fail" -eq 0 ]
}
