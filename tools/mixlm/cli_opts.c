/* cli_opts.c: the one option parser of the mixlm commands: each command describes its options
 * in a table and gets the same behaviour and the same one-line errors (see cli.h). */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const cli_opt *find(const cli_args *spec, const char *a) {
    for (const cli_opt *o = spec->opts; o->name; o++)
        if (!strcmp(a, o->name) || (o->alias && !strcmp(a, o->alias))) return o;
    return NULL;
}

static int parse_long(const char *cmd, const char *opt, const char *v, double lo, double hi,
                      long *out) {
    char *end;
    errno = 0;
    long n = *v ? strtol(v, &end, 10) : 0;
    if (!*v || errno || *end || (double)n < lo || (double)n > hi) {
        cli_error(cmd, "%s: '%s' is not a whole number in %.0f..%.0f", opt, v, lo, hi);
        return 0;
    }
    *out = n;
    return 1;
}

/* One option with its value v (NULL for a flag). 1 ok, 0 error (printed). */
static int apply(const cli_args *spec, const cli_opt *o, const char *a, const char *v) {
    switch (o->kind) {
    case CLI_FLAG: *(bool *)o->dst = true; return 1;
    case CLI_FLAG_OFF: *(bool *)o->dst = false; return 1;
    case CLI_STR: *(const char **)o->dst = v; return 1;
    case CLI_LONG: return parse_long(spec->cmd, a, v, o->lo, o->hi, (long *)o->dst);
    case CLI_FLOAT: return cli_parse_float(spec->cmd, a, v, o->lo, o->hi, (float *)o->dst);
    case CLI_U64: {
        char *end;
        errno = 0;
        unsigned long long n = *v ? strtoull(v, &end, 10) : 0;
        if (!*v || errno || *end || v[0] == '-') {
            cli_error(spec->cmd, "%s: '%s' is not a whole number >= 0", a, v);
            return 0;
        }
        *(uint64_t *)o->dst = n;
        return 1;
    }
    case CLI_STRS:
    case CLI_LONGS:
        if (*o->count >= o->cap) {
            cli_error(spec->cmd, "at most %d %s values", o->cap, o->name);
            return 0;
        }
        if (o->kind == CLI_STRS) {
            ((const char **)o->dst)[(*o->count)++] = v;
            return 1;
        }
        if (!parse_long(spec->cmd, a, v, o->lo, o->hi, (long *)o->dst + *o->count)) return 0;
        (*o->count)++;
        return 1;
    }
    return 0;
}

int cli_parse_args(const cli_args *spec, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            spec->usage(stdout);
            return 0;
        }
        const cli_opt *o = find(spec, a);
        if (!o && a[0] == '-' && a[1]) {
            cli_error(spec->cmd, "unknown option %s (see mixlm %s --help)", a, spec->cmd);
            return 2;
        }
        if (!o) { /* a positional argument ("-" alone is one: stdin or stdout) */
            if (!spec->positional) {
                if (spec->stray_hint) cli_error(spec->cmd, "unexpected argument '%s' (%s)", a, spec->stray_hint);
                else cli_error(spec->cmd, "unexpected argument '%s' (see mixlm %s --help)", a, spec->cmd);
                return 2;
            }
            if (*spec->positional) {
                cli_error(spec->cmd, "more than one %s given ('%s' and '%s')", spec->positional_name,
                          *spec->positional, a);
                return 2;
            }
            *spec->positional = a;
            continue;
        }
        const char *v = NULL;
        if (o->kind != CLI_FLAG && o->kind != CLI_FLAG_OFF) {
            if (i + 1 >= argc) {
                cli_error(spec->cmd, "%s needs a value", a);
                return 2;
            }
            v = argv[++i];
        }
        if (!apply(spec, o, a, v)) return 2;
        if (o->seen) *o->seen = true;
    }
    return -1;
}
