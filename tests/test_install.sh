#!/usr/bin/env bash
# test_install.sh: `cmake --install` into a scratch prefix gives a library that other C projects
# use through pkg-config and through CMake's find_package(mixlm): a small program built both
# ways loads an oracle model and prints its architecture.
. "$(dirname "$0")/lib.sh"
: "${MIXLM:?}" "${MIXLM_SOURCE_DIR:?}" "${MIXLM_TEST_DATA:?}"
build=$(dirname "$MIXLM")
t_begin test_install
tmp=$T_DIR



cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1
check '[ $? -eq 0 ]' "cmake --install: $(tail -3 "$tmp/install.log")"
check '[ -f "$tmp/prefix/include/mixlm.h" ] && [ -f "$tmp/prefix/include/mixlm/contract.h" ]' "headers installed"
check '[ -x "$tmp/prefix/bin/mixlm" ]' "the command installed"
cat >"$tmp/use.c" <<'C'
#include <mixlm.h>
#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
    mixlm_model *m = NULL;
    if (argc < 2 || mixlm_model_load(argv[1], &m) != MIXLM_OK) {
        fprintf(stderr, "load: %s\n", mixlm_last_error());
        return 1;
    }
    char *j = mixlm_model_describe_json(m);
    int ok = j != NULL;
    if (j) puts(j);
    free(j);
    mixlm_model_free(m);
    return ok ? 0 : 1;
}
C
pc="$tmp/prefix/lib/pkgconfig"
[ -d "$pc" ] || pc=$(dirname "$(find "$tmp/prefix" -name mixlm.pc | head -1)")
flags=$(PKG_CONFIG_PATH="$pc" pkg-config --cflags --libs mixlm)
check '[ -n "$flags" ]' "pkg-config knows mixlm"
libdir=$(PKG_CONFIG_PATH="$pc" pkg-config --variable=libdir mixlm)
cc "$tmp/use.c" $flags -Wl,-rpath,"$libdir" -o "$tmp/use_pc" 2>"$tmp/cc.log"
check '[ $? -eq 0 ]' "build with pkg-config: $(head -3 "$tmp/cc.log")"
"$tmp/use_pc" "$MIXLM_TEST_DATA/oracle/tiny-gemma3-swa8.gguf" >"$tmp/out_pc" 2>&1
check 'grep -q "\"architecture\"" "$tmp/out_pc"' "the pkg-config program runs: $(head -c 300 "$tmp/out_pc")"

mkdir -p "$tmp/proj"
cat >"$tmp/proj/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.18)
project(use_mixlm C)
find_package(mixlm REQUIRED)
add_executable(use_cmake ../use.c)
target_link_libraries(use_cmake PRIVATE mixlm::mixlm)
CM
cmake -S "$tmp/proj" -B "$tmp/proj/build" -DCMAKE_PREFIX_PATH="$tmp/prefix" >"$tmp/cm.log" 2>&1 &&
  cmake --build "$tmp/proj/build" >>"$tmp/cm.log" 2>&1
check '[ $? -eq 0 ]' "build with find_package(mixlm): $(tail -5 "$tmp/cm.log")"
"$tmp/proj/build/use_cmake" "$MIXLM_TEST_DATA/oracle/tiny-llama.gguf" >"$tmp/out_cm" 2>&1
check 'grep -q "\"architecture\"" "$tmp/out_cm"' "the CMake program runs: $(head -c 300 "$tmp/out_cm")"
t_end
