/* main.c: the mixlm command: dispatches to one subcommand per model task. */
#include "cli.h"

#include <stdarg.h>
#include <string.h>

/* Subcommands are defined in cmd_*.c. A subcommand whose file is not part of this build
 * (for example `serve` without libmicrohttpd) is a weak symbol left NULL. */
#if defined(__GNUC__)
#define WEAK __attribute__((weak))
#else
#define WEAK
#endif
WEAK int cmd_inspect(int argc, char **argv);
WEAK int cmd_logits(int argc, char **argv);
WEAK int cmd_perplexity(int argc, char **argv);
WEAK int cmd_tokenize(int argc, char **argv);
WEAK int cmd_template(int argc, char **argv);
WEAK int cmd_run(int argc, char **argv);
WEAK int cmd_chat(int argc, char **argv);
WEAK int cmd_bench(int argc, char **argv);
WEAK int cmd_serve(int argc, char **argv);

typedef struct command {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} command;

static int usage(FILE *out) {
    const command cmds[] = {
        {"run", cmd_run, "generate text from a prompt (streams to stdout)"},
        {"chat", cmd_chat, "interactive chat that keeps its KV state across turns"},
        {"serve", cmd_serve, "OpenAI-compatible HTTP server"},
        {"inspect", cmd_inspect, "show a model's format, layers, tensors and contract"},
        {"tokenize", cmd_tokenize, "text to token ids and back (JSON lines)"},
        {"template", cmd_template, "render a chat template for a conversation"},
        {"logits", cmd_logits, "write raw logits for a token sequence"},
        {"perplexity", cmd_perplexity, "perplexity of a text or token file"},
        {"bench", cmd_bench, "prompt and generation speed"},
    };
    fprintf(out, "usage: mixlm COMMAND [options]   (mixlm COMMAND --help for its options)\n\n");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (cmds[i].fn) fprintf(out, "  %-11s %s\n", cmds[i].name, cmds[i].summary);
    fprintf(out, "\nmixlm %s\n", MIXLM_VERSION_STRING);
    return out == stdout ? 0 : 2;
}

void cli_error(const char *cmd, const char *fmt, ...) {
    cli_progress_clear_active();
    fprintf(stderr, "mixlm %s: ", cmd);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void cli_lib_error(const char *cmd, const char *what, mixlm_status st) {
    cli_progress_clear_active();
    const char *msg = mixlm_last_error();
    if (msg && *msg) fprintf(stderr, "mixlm %s: %s: %s\n", cmd, what, msg);
    else fprintf(stderr, "mixlm %s: %s: %s\n", cmd, what, mixlm_status_str(st));
}

int main(int argc, char **argv) {
    const command cmds[] = {
        {"run", cmd_run, NULL},         {"chat", cmd_chat, NULL},
        {"serve", cmd_serve, NULL},     {"inspect", cmd_inspect, NULL},
        {"tokenize", cmd_tokenize, NULL}, {"template", cmd_template, NULL},
        {"logits", cmd_logits, NULL},   {"perplexity", cmd_perplexity, NULL},
        {"bench", cmd_bench, NULL},
    };
    if (argc < 2) return usage(stderr);
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))
        return usage(stdout);
    if (!strcmp(argv[1], "--version")) {
        printf("mixlm %s (kernels: %s)\n", MIXLM_VERSION_STRING, mixlm_kernels_isa());
        return 0;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (strcmp(argv[1], cmds[i].name) != 0) continue;
        if (!cmds[i].fn) {
            fprintf(stderr, "mixlm: '%s' is not available in this build\n", argv[1]);
            return 2;
        }
        return cmds[i].fn(argc - 1, argv + 1);
    }
    fprintf(stderr, "mixlm: unknown command '%s'\n", argv[1]);
    return usage(stderr);
}
