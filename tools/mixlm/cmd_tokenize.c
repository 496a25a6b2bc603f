/* cmd_tokenize.c: `mixlm tokenize`: text to token ids and back with a model's tokenizer, as JSON
 * lines on stdin/stdout, and a throughput benchmark (--bench). */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include "common/util.h"
#include "text/tok_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *out) {
    fprintf(out,
            "usage: mixlm tokenize TOKENIZER --jsonl [--no-special] [--decode [--skip-special]]\n"
            "       mixlm tokenize TOKENIZER [--no-special] --text TEXT\n"
            "       mixlm tokenize TOKENIZER --bench FILE [--repeat N]\n"
            "\n"
            "TOKENIZER is a tokenizer.json file, a Hugging Face model folder (tokenizer.json and\n"
            "tokenizer_config.json) or a .gguf file (its tokenizer.ggml.* vocabulary).\n"
            "\n"
            "  --jsonl         read JSON lines {\"text\": \"...\"} on stdin, write {\"ids\": [...]}\n"
            "  --decode        with --jsonl: read {\"ids\": [...]}, write {\"text\": \"...\"}\n"
            "  --no-special    encode without the special tokens the post-processor adds (BOS...)\n"
            "  --skip-special  decode without special tokens\n"
            "  --text TEXT     encode TEXT and print {\"ids\": [...], \"pieces\": [...]}\n"
            "  --bench FILE    time loading and encoding FILE; print one JSON object\n"
            "  --repeat N      encode the file N times for --bench (default 3, best time kept)\n"
            "  --help          show this help\n");
}

/* Process CPU time: on a shared machine wall time mostly measures the neighbours. */
static double cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* One line of stdin (without the newline) into *buf; 0 at end of input. */
static int read_line(char **buf, size_t *cap, size_t *len) {
    *len = 0;
    int c, any = 0;
    while ((c = getchar()) != EOF) {
        any = 1;
        if (c == '\n') break;
        if (*len + 2 > *cap) {
            size_t nc = *cap ? *cap * 2 : 4096;
            char *p = realloc(*buf, nc);
            if (!p) return -1;
            *buf = p;
            *cap = nc;
        }
        (*buf)[(*len)++] = (char)c;
    }
    if (*buf) (*buf)[*len] = 0;
    return any;
}

static void print_ids(mx_buf *o, const int32_t *ids, size_t n) {
    mx_buf_puts(o, "[");
    for (size_t i = 0; i < n; i++) mx_buf_printf(o, i ? ",%d" : "%d", (int)ids[i]);
    mx_buf_puts(o, "]");
}

static int run_jsonl(const mixlm_tokenizer *tok, bool decode, bool add_special, bool skip_special) {
    char *line = NULL;
    size_t cap = 0, len = 0;
    long lineno = 0;
    int rc = 0, r;
    mx_buf o = {0};
    while ((r = read_line(&line, &cap, &len)) > 0) {
        lineno++;
        if (len == 0 || (len == 1 && line[0] == '\r')) continue;
        tj_doc d;
        if (tj_parse(&d, line, len, "stdin")) {
            cli_error("tokenize", "line %ld: %s", lineno, mixlm_last_error());
            rc = 1;
            break;
        }
        const tj_node *root = tj_root(&d);
        o.len = 0;
        if (!decode) {
            const tj_node *text = tj_get(&d, root, "text");
            if (!tj_is_str(text)) {
                cli_error("tokenize", "line %ld: expected {\"text\": \"...\"}", lineno);
                tj_free(&d);
                rc = 1;
                break;
            }
            int32_t *ids = NULL;
            size_t n = 0;
            mixlm_status st = mixlm_tokenizer_encode(tok, text->v.str, text->len, add_special, &ids, &n);
            if (st) {
                cli_lib_error("tokenize", "encode", st);
                tj_free(&d);
                rc = 1;
                break;
            }
            mx_buf_puts(&o, "{\"ids\": ");
            print_ids(&o, ids, n);
            mx_buf_puts(&o, "}\n");
            free(ids);
        } else {
            const tj_node *arr = tj_get(&d, root, "ids");
            if (!arr || arr->type != TJ_ARRAY) {
                cli_error("tokenize", "line %ld: expected {\"ids\": [...]}", lineno);
                tj_free(&d);
                rc = 1;
                break;
            }
            int32_t *ids = malloc((arr->len ? arr->len : 1) * sizeof *ids);
            size_t n = 0;
            int ok = ids != NULL;
            for (const tj_node *e = tj_first(&d, arr); e && ok; e = tj_next(&d, e)) {
                int64_t v;
                if (!tj_int(e, 0, INT32_MAX, &v)) ok = 0;
                else ids[n++] = (int32_t)v;
            }
            char *text = NULL;
            size_t tl = 0;
            mixlm_status st = ok ? mixlm_tokenizer_decode(tok, ids, n, skip_special, &text, &tl) : MIXLM_ERR_FORMAT;
            free(ids);
            if (!ok) {
                cli_error("tokenize", "line %ld: ids must be non-negative integers", lineno);
                tj_free(&d);
                rc = 1;
                break;
            }
            if (st) {
                cli_lib_error("tokenize", "decode", st);
                tj_free(&d);
                rc = 1;
                break;
            }
            mx_buf_puts(&o, "{\"text\": ");
            mx_buf_json_str(&o, text, tl);
            mx_buf_puts(&o, "}\n");
            free(text);
        }
        tj_free(&d);
        if (o.failed) { cli_error("tokenize", "out of memory"); rc = 1; break; }
        fwrite(o.data, 1, o.len, stdout);
        fflush(stdout);
    }
    if (r < 0) { cli_error("tokenize", "out of memory"); rc = 1; }
    free(line);
    mx_buf_free(&o);
    return rc;
}

static int run_bench(const char *tok_path, const char *file, int repeat) {
    double t0 = now_ms(), c0 = cpu_ms();
    mixlm_tokenizer *tok = NULL;
    mixlm_status st = mixlm_tokenizer_load(tok_path, &tok);
    double load_ms = now_ms() - t0, load_cpu = cpu_ms() - c0;
    if (st) { cli_lib_error("tokenize", tok_path, st); return 1; }
    char *text = NULL;
    size_t len = 0;
    st = mx_read_file(file, (uint64_t)1 << 30, &text, &len);
    if (st) { cli_lib_error("tokenize", file, st); mixlm_tokenizer_free(tok); return 1; }
    double best = 1e30, best_cpu = 1e30;
    size_t n = 0;
    for (int r = 0; r < repeat; r++) {
        int32_t *ids = NULL;
        double a = now_ms(), ac = cpu_ms();
        st = mixlm_tokenizer_encode(tok, text, len, false, &ids, &n);
        double b = now_ms() - a, bc = cpu_ms() - ac;
        if (bc < best_cpu) best_cpu = bc;
        free(ids);
        if (st) { cli_lib_error("tokenize", "encode", st); free(text); mixlm_tokenizer_free(tok); return 1; }
        if (b < best) best = b;
    }
    printf("{\"load_ms\": %.1f, \"load_cpu_ms\": %.1f, \"bytes\": %zu, \"tokens\": %zu, \"encode_ms\": %.1f, "
           "\"encode_cpu_ms\": %.1f, \"mb_per_s\": %.2f, \"mb_per_cpu_s\": %.2f}\n",
           load_ms, load_cpu, len, n, best, best_cpu, best > 0 ? (double)len / 1e6 / (best / 1e3) : 0.0,
           best_cpu > 0 ? (double)len / 1e6 / (best_cpu / 1e3) : 0.0);
    free(text);
    mixlm_tokenizer_free(tok);
    return 0;
}

int cmd_tokenize(int argc, char **argv) {
    const char *path = NULL, *text = NULL, *bench = NULL;
    bool jsonl = false, decode = false, add_special = true, skip_special = false;
    long repeat = 3;
    const cli_opt opts[] = {
        CLI_OPT_FLAG("--jsonl", NULL, &jsonl),
        CLI_OPT_FLAG("--decode", NULL, &decode),
        CLI_OPT_OFF("--no-special", NULL, &add_special),
        CLI_OPT_FLAG("--skip-special", NULL, &skip_special),
        CLI_OPT_STR("--text", NULL, &text),
        CLI_OPT_STR("--bench", NULL, &bench),
        CLI_OPT_LONG("--repeat", NULL, &repeat, 1, 1000),
        CLI_OPT_END};
    const cli_args spec = {"tokenize", opts, usage, &path, "tokenizer", NULL};
    int parsed = cli_parse_args(&spec, argc, argv);
    if (parsed >= 0) return parsed;
    if (!path) { usage(stderr); return 2; }
    if (bench) return run_bench(path, bench, (int)repeat);
    if (!jsonl && !text) { cli_error("tokenize", "give --jsonl or --text TEXT (see --help)"); return 2; }
    if (decode && !jsonl) { cli_error("tokenize", "--decode needs --jsonl"); return 2; }
    mixlm_tokenizer *tok = NULL;
    mixlm_status st = mixlm_tokenizer_load(path, &tok);
    if (st) { cli_lib_error("tokenize", "loading tokenizer", st); return 1; }
    int rc;
    if (jsonl) {
        rc = run_jsonl(tok, decode, add_special, skip_special);
    } else {
        int32_t *ids = NULL;
        size_t n = 0;
        st = mixlm_tokenizer_encode(tok, text, strlen(text), add_special, &ids, &n);
        if (st) {
            cli_lib_error("tokenize", "encode", st);
            rc = 1;
        } else {
            mx_buf o = {0};
            mx_buf_puts(&o, "{\"ids\": ");
            print_ids(&o, ids, n);
            mx_buf_puts(&o, ", \"pieces\": [");
            for (size_t i = 0; i < n; i++) {
                size_t pl;
                const char *p = mixlm_tokenizer_piece(tok, ids[i], &pl);
                if (i) mx_buf_puts(&o, ", ");
                mx_buf_json_str(&o, p ? p : "", p ? pl : 0);
            }
            mx_buf_puts(&o, "]}\n");
            if (o.data) fwrite(o.data, 1, o.len, stdout);
            mx_buf_free(&o);
            rc = 0;
        }
        free(ids);
    }
    mixlm_tokenizer_free(tok);
    return rc;
}
