/* cmd_inspect.c: `mixlm inspect MODEL [--json]`: a model's format, architecture,
 * hyper-parameters, layer table and tensor totals, as text or as one JSON object. */
#include "cli.h"

#include "model/gguf.h"
#include "model/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out) {
    fprintf(out,
            "usage: mixlm inspect MODEL [--json]\n"
            "       mixlm inspect --contract FILE [--json]\n"
            "\n"
            "Show a model's file format, architecture, hyper-parameters, per-layer attention\n"
            "table (kind, window, RoPE base and scale, soft-cap) and tensor totals by type.\n"
            "MODEL is a .gguf file or a Hugging Face model folder (config.json + safetensors).\n"
            "\n"
            "  --json    print one JSON object instead of text\n"
            "  --contract FILE\n"
            "            check a contract file (JSON, see docs/contract.md) instead of a model and\n"
            "            print it back, or the first input mixlm cannot fill and why\n"
            "  --help    show this help\n");
}

static void print_bytes(uint64_t n) {
    if (n >= (1ull << 30)) printf("%.2f GiB", (double)n / (1ull << 30));
    else if (n >= (1ull << 20)) printf("%.2f MiB", (double)n / (1ull << 20));
    else if (n >= 1024) printf("%.1f KiB", (double)n / 1024);
    else printf("%llu B", (unsigned long long)n);
}

static void print_text(const mixlm_model *m) {
    const mx_hparams *hp = &m->hp;
    printf("model:         %s\n", m->path);
    if (m->format == MX_FORMAT_GGUF) {
        printf("format:        GGUF v%u\n", mx_gguf_version(m->gguf));
        const char *s;
        size_t len;
        if (mx_gguf_get_str(m->gguf, "general.name", &s, &len) == 1)
            printf("name:          %.*s\n", (int)MX_MIN(len, 200), s);
    } else {
        printf("format:        Hugging Face folder (%d safetensors file%s)\n", m->n_shards,
               m->n_shards == 1 ? "" : "s");
    }
    printf("architecture:  %s (family %s)\n", hp->arch, mx_family_name(hp->family));
    printf("layers:        %d\n", hp->n_layer);
    printf("embedding:     %d\n", hp->n_embd);
    printf("feed-forward:  %d (%s)\n", hp->n_ff, hp->act == MX_ACT_GELU_TANH ? "gelu_tanh" : "silu");
    printf("heads:         %d query, %d key/value, head_dim %d\n", hp->n_head, hp->n_head_kv,
           hp->head_dim);
    printf("vocabulary:    %d\n", hp->n_vocab);
    printf("context:       %d (trained)\n", hp->n_ctx_train);
    printf("rms_eps:       %g\n", (double)hp->rms_eps);
    printf("attn scale:    %.9g\n", (double)hp->attn_scale);
    printf("embd scale:    %.9g\n", (double)hp->embd_scale);
    printf("final softcap: %g\n", (double)hp->final_softcap);
    printf("flags:        %s%s%s%s%s%s\n", hp->rope_neox ? " rope_neox" : " rope_interleaved",
           hp->norm_add_one ? " norm_add_one" : "", hp->qk_norm ? " qk_norm" : "",
           hp->sandwich_norm ? " sandwich_norm" : "", hp->qkv_bias ? " qkv_bias" : "",
           hp->tied_embeddings ? " tied_embeddings" : "");
    printf("tokens:        bos %d, pad %d, eos", hp->bos_id, hp->pad_id);
    for (int i = 0; i < hp->n_eos; i++) printf("%s%d", i ? "," : " ", hp->eos_ids[i]);
    printf("%s\n", hp->n_eos ? "" : " none");

    printf("\nlayer table:\n");
    printf("  %5s  %-8s  %8s  %4s  %12s  %10s  %8s\n", "index", "kind", "window", "rope",
           "rope_base", "rope_scale", "softcap");
    for (int i = 0; i < hp->n_layer; i++) {
        const mx_layer_spec *l = &m->layers[i];
        printf("  %5d  %-8s  %8d  %4s  %12g  %10g  %8g\n", i, mx_attn_kind_name(l->attn), l->window,
               l->use_rope ? "yes" : "no", (double)l->rope_base, (double)l->rope_scale,
               (double)l->attn_softcap);
    }

    uint64_t total = 0, bytes_by[MX_TYPE_COUNT] = {0};
    int32_t count_by[MX_TYPE_COUNT] = {0};
    for (int32_t i = 0; i < m->n_tensors; i++) {
        total += m->tensors[i].nbytes;
        if ((unsigned)m->tensors[i].type < MX_TYPE_COUNT) {
            bytes_by[m->tensors[i].type] += m->tensors[i].nbytes;
            count_by[m->tensors[i].type]++;
        }
    }
    printf("\ntensors:       %d, ", m->n_tensors);
    print_bytes(total);
    printf("\n");
    for (int t = 0; t < MX_TYPE_COUNT; t++) {
        if (!count_by[t]) continue;
        printf("  %-8s %6d  ", mx_type_get((uint32_t)t)->name, count_by[t]);
        print_bytes(bytes_by[t]);
        printf("\n");
    }

    /* The native contract (src/contract/native.c) with default parameters. */
    mixlm_contract *contract = NULL;
    if (mixlm_model_contract(m, mixlm_contract_default_params(), &contract) == MIXLM_OK) {
        char *text = mixlm_contract_describe(contract);
        printf("\n%s", text ? text : "contract: (out of memory)\n");
        free(text);
        mixlm_contract_free(contract);
    } else {
        printf("\ncontract: none: %s\n", mixlm_last_error());
    }
}

/* `inspect --contract FILE`: validate a contract file an application ships beside an external
 * model and print it back (text, or the JSON file format with --json). */
static int inspect_contract_file(const char *file, int json) {
    mixlm_contract *c = NULL;
    mixlm_status st = mixlm_contract_load(file, &c);
    if (st) {
        cli_lib_error("inspect", "invalid contract", st);
        return 1;
    }
    char *s = json ? mixlm_contract_to_json(c) : mixlm_contract_describe(c);
    mixlm_contract_free(c);
    if (!s) {
        cli_error("inspect", "out of memory");
        return 1;
    }
    fputs(s, stdout);
    free(s);
    return 0;
}

int cmd_inspect(int argc, char **argv) {
    const char *path = NULL, *contract_file = NULL;
    bool json = false;
    const cli_opt opts[] = {
        CLI_OPT_FLAG("--json", NULL, &json),
        CLI_OPT_STR("--contract", NULL, &contract_file),
        CLI_OPT_END};
    const cli_args spec = {"inspect", opts, usage, &path, "MODEL", NULL};
    int parsed = cli_parse_args(&spec, argc, argv);
    if (parsed >= 0) return parsed;
    if (contract_file) {
        if (path) {
            cli_error("inspect", "give a MODEL or --contract FILE, not both");
            return 2;
        }
        return inspect_contract_file(contract_file, json);
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    mixlm_model *m = NULL;
    mixlm_status st = mixlm_model_load(path, &m);
    if (st) {
        cli_lib_error("inspect", "cannot load model", st);
        return 1;
    }
    int rc = 0;
    if (json) {
        char *s = mixlm_model_describe_json(m);
        if (!s) {
            cli_error("inspect", "out of memory");
            rc = 1;
        } else {
            printf("%s\n", s);
            free(s);
        }
    } else {
        print_text(m);
    }
    mixlm_model_free(m);
    return rc;
}
