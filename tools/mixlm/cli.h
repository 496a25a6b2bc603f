/* cli.h: the subcommands of the mixlm command and the helpers they share. */
#ifndef MIXLM_CLI_H
#define MIXLM_CLI_H

#include "mixlm.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Each subcommand gets argv with argv[0] = its own name and returns the process exit status:
 * 0 success, 1 runtime failure (bad file, model error), 2 usage error. */
int cmd_inspect(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_template(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_serve(int argc, char **argv);

/* Print "mixlm CMD: " + message + "\n" to stderr. */
void cli_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Print the library's last error for a failed call: "mixlm CMD: <what>: <last error>". */
void cli_lib_error(const char *cmd, const char *what, mixlm_status st);

/* The model a command runs: arg when given, else $MIXLM_MODEL, else the bundled model (in the
 * source tree for a build that was not installed, else in the installed data folder).
 * malloc'd path, or NULL when there is none. */
char *cli_resolve_model(const char *arg);

/* Parse option opt's value v as a number in [lo, hi] into *out; on failure print
 * "mixlm CMD: OPT: 'V' is not a number in LO..HI" and return 0. */
int cli_parse_float(const char *cmd, const char *opt, const char *v, double lo, double hi,
                    float *out);

/* The sampling settings before any flag: mixlm's defaults for interactive use (temperature
 * 0.8, top-k 40, top-p 0.95, min-p 0.05), replaced by those of the model folder's
 * generation_config.json (do_sample false means greedy). */
mixlm_sampler_params cli_sampler_defaults(const char *model);
/* The sampling flags run and chat share, over those settings: a NAN float or a negative top-k
 * means the flag was not given. */
void cli_sampler_flags(mixlm_sampler_params *sp, float temp, long top_k, float top_p, float min_p);

/* ---- Progress (cli_progress.c) ----------------------------------------------------------
 * One line on stderr that overwrites itself ("\rmixlm CMD: TEXT", erased to the end of the
 * line) while something long runs: loading a model or tokenizer, feeding a prompt, scoring a
 * file. Only when stderr is a terminal (and TERM is not "dumb"); otherwise every call does
 * nothing, so logs and pipes never see it. Clear it before printing anything else there. */
typedef struct cli_progress {
    const char *cmd;
    bool on;      /* stderr is a terminal */
    bool shown;   /* a line is on screen */
    char last[128];
} cli_progress;

void cli_progress_init(cli_progress *p, const char *cmd);
void cli_progress_stage(cli_progress *p, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* "WHAT DONE/TOTAL (P%)". */
void cli_progress_count(cli_progress *p, const char *what, int64_t done, int64_t total);
/* A mixlm_gen_params.prefill_progress callback; user is the cli_progress. It clears the line
 * when the whole prompt is in, before the first generated text. */
void cli_progress_prefill(void *user, int32_t done, int32_t total);
void cli_progress_clear(cli_progress *p);
/* Clear whichever progress line is showing (cli_error and cli_lib_error call this). */
void cli_progress_clear_active(void);

/* ---- Options (cli_opts.c) ----------------------------------------------------------------
 * Each command lists its options in a table ending with {NULL}; cli_parse_args() walks argv
 * (argv[0] = the command) and stores each value where its entry points. The same rules and
 * one-line errors everywhere: --help / -h print the usage to stdout; an unknown option, a
 * missing value, a number that does not parse or is out of range, or a stray argument is one
 * line on stderr and exit status 2. A value is the next argument, even when it starts with '-'.
 * A string given twice keeps the last. */
typedef enum cli_opt_kind {
    CLI_FLAG,      /* bool *: set true */
    CLI_FLAG_OFF,  /* bool *: set false (--no-...) */
    CLI_STR,       /* const char **: the argument itself */
    CLI_LONG,      /* long *: a whole number in [lo, hi] */
    CLI_FLOAT,     /* float *: a number in [lo, hi] */
    CLI_U64,       /* uint64_t *: a whole number >= 0 (seeds) */
    CLI_STRS,      /* const char *[cap]: repeatable; *count of them */
    CLI_LONGS      /* long [cap]: repeatable whole numbers in [lo, hi]; *count of them */
} cli_opt_kind;

typedef struct cli_opt {
    const char *name;  /* "--temp"; NULL ends the table */
    const char *alias; /* "-t", or NULL */
    cli_opt_kind kind;
    void *dst;
    double lo, hi;     /* CLI_LONG, CLI_FLOAT, CLI_LONGS */
    int *count;        /* CLI_STRS, CLI_LONGS */
    int cap;           /* CLI_STRS, CLI_LONGS */
    bool *seen;        /* optional: set when the option is given */
} cli_opt;

typedef struct cli_args {
    const char *cmd;                 /* "run" */
    const cli_opt *opts;
    void (*usage)(FILE *out);
    const char **positional;         /* the one positional argument (MODEL), or NULL: none */
    const char *positional_name;     /* "MODEL", for "more than one MODEL given" */
    const char *stray_hint;          /* without positional: said after "unexpected argument" */
} cli_args;

/* Table entries. The conditional checks at compile time that dst has the kind's type. */
#define CLI_DST_(T, p) ((void *)(1 ? (p) : (T)0))
#define CLI_OPT_FLAG(n, a, p) {.name = n, .alias = a, .kind = CLI_FLAG, .dst = CLI_DST_(bool *, p)}
#define CLI_OPT_OFF(n, a, p) {.name = n, .alias = a, .kind = CLI_FLAG_OFF, .dst = CLI_DST_(bool *, p)}
#define CLI_OPT_STR(n, a, p) {.name = n, .alias = a, .kind = CLI_STR, .dst = CLI_DST_(const char **, p)}
#define CLI_OPT_LONG(n, a, p, l, h) \
    {.name = n, .alias = a, .kind = CLI_LONG, .dst = CLI_DST_(long *, p), .lo = l, .hi = h}
#define CLI_OPT_FLOAT(n, a, p, l, h) \
    {.name = n, .alias = a, .kind = CLI_FLOAT, .dst = CLI_DST_(float *, p), .lo = l, .hi = h}
#define CLI_OPT_U64(n, a, p, s) \
    {.name = n, .alias = a, .kind = CLI_U64, .dst = CLI_DST_(uint64_t *, p), .seen = s}
#define CLI_OPT_STRS(n, a, arr, cnt, c) \
    {.name = n, .alias = a, .kind = CLI_STRS, .dst = CLI_DST_(const char **, arr), .count = cnt, .cap = c}
#define CLI_OPT_LONGS(n, a, arr, cnt, c, l, h)                                                  \
    {.name = n, .alias = a, .kind = CLI_LONGS, .dst = CLI_DST_(long *, arr), .count = cnt, .cap = c, \
     .lo = l, .hi = h}
#define CLI_OPT_END {.name = NULL}

/* -1 when the command goes on; otherwise the exit status to return now (0 after --help, 2 after
 * an error, which is printed). */
int cli_parse_args(const cli_args *spec, int argc, char **argv);

#endif
