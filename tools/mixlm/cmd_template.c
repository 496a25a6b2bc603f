/* cmd_template.c: `mixlm template`: render a model's chat template for a conversation and print
 * the prompt exactly (no newline added). */
#include "cli.h"

#include "common/util.h"

#include <stdlib.h>
#include <string.h>

static void usage(FILE *out) {
    fprintf(out,
            "usage: mixlm template MODEL [--template FILE.jinja] --messages FILE.json\n"
            "                      [--add-generation-prompt] [--now UNIX_SECONDS]\n"
            "\n"
            "Render the chat template of MODEL (a model folder, a .gguf file, or a folder holding\n"
            "tokenizer_config.json) and print the prompt exactly as the model sees it.\n"
            "\n"
            "  --messages FILE.json     an array of messages, or an object like an OpenAI chat\n"
            "                           request: {\"messages\": [...], \"tools\": [...],\n"
            "                           \"chat_template_kwargs\": {...}} ('-' reads stdin)\n"
            "  --template FILE.jinja    use this template instead of the model's (the model still\n"
            "                           provides bos_token, eos_token, ...; MODEL may be omitted)\n"
            "  --add-generation-prompt  end with the header of the assistant's turn\n"
            "  --now UNIX_SECONDS       the time strftime_now() sees (local time zone, TZ)\n");
}

static char *read_stdin(size_t *len) {
    mx_buf b = {0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, stdin)) > 0) mx_buf_append(&b, chunk, n);
    if (ferror(stdin)) {
        mx_buf_free(&b);
        return NULL;
    }
    *len = b.len;
    char *s = mx_buf_take(&b);
    if (!s) s = calloc(1, 1);
    return s;
}

int cmd_template(int argc, char **argv) {
    const char *model = NULL, *tmpl_file = NULL, *messages = NULL;
    bool add_gen = false;
    long now = 0;
    const cli_opt opts[] = {
        CLI_OPT_STR("--template", NULL, &tmpl_file),
        CLI_OPT_STR("--messages", NULL, &messages),
        CLI_OPT_LONG("--now", NULL, &now, 1, 1e15), /* seconds since 1970, for strftime_now */
        CLI_OPT_STR("--model", "-m", &model),
        CLI_OPT_FLAG("--add-generation-prompt", NULL, &add_gen),
        CLI_OPT_END};
    const cli_args spec = {"template", opts, usage, &model, "model", NULL};
    int parsed = cli_parse_args(&spec, argc, argv);
    if (parsed >= 0) return parsed;
    if (!model && !tmpl_file) {
        cli_error("template", "no model given (see mixlm template --help)");
        return 2;
    }
    if (!messages) {
        cli_error("template", "--messages FILE.json is required");
        return 2;
    }
    char *req = NULL;
    size_t req_len = 0;
    if (!strcmp(messages, "-")) {
        req = read_stdin(&req_len);
        if (!req) {
            cli_error("template", "cannot read the messages from stdin");
            return 1;
        }
    } else {
        mixlm_status st = mx_read_file(messages, 1ull << 30, &req, &req_len);
        if (st != MIXLM_OK) {
            cli_lib_error("template", "reading messages", st);
            return 1;
        }
    }
    if (strlen(req) != req_len) {
        cli_error("template", "%s: contains a NUL byte", messages);
        free(req);
        return 1;
    }
    mixlm_chat_template *t = NULL;
    mixlm_status st = mixlm_chat_template_load_with_file(model, tmpl_file, &t);
    if (st != MIXLM_OK) {
        cli_lib_error("template", "loading the chat template", st);
        free(req);
        return 1;
    }
    if (now) mixlm_chat_template_set_time(t, (int64_t)now);
    char *out = NULL;
    size_t len = 0;
    st = mixlm_chat_template_render(t, req, add_gen, &out, &len);
    free(req);
    mixlm_chat_template_free(t);
    if (st != MIXLM_OK) {
        cli_lib_error("template", "rendering", st);
        return 1;
    }
    int rc = 0;
    if (fwrite(out, 1, len, stdout) != len || fflush(stdout) != 0) {
        cli_error("template", "writing the prompt failed");
        rc = 1;
    }
    free(out);
    return rc;
}
