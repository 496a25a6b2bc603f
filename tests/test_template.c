/* test_template.c: chat templates against the reference: every case of
 * tests/data/templates/golden.json (rendered by @huggingface/jinja via
 * tools/reference/jinja/render.mjs) must render byte for byte the same, or fail where the
 * reference failed; plus loading, error messages with line numbers, limits and hostile input. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include "common/util.h"
#include "mixlm.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <locale.h>
#include <time.h>

static char *read_all(const char *path, size_t *len) {
    char *s = NULL;
    size_t n = 0;
    if (mx_read_file(path, 1u << 30, &s, &n) != MIXLM_OK) return NULL;
    if (len) *len = n;
    return s;
}

static void show_diff(const char *name, const char *got, size_t got_n, const char *want, size_t want_n) {
    size_t i = 0;
    while (i < got_n && i < want_n && got[i] == want[i]) i++;
    size_t from = i > 40 ? i - 40 : 0;
    fprintf(stderr, "  %s: first difference at byte %zu\n    got:  \"", name, i);
    for (size_t k = from; k < got_n && k < i + 40; k++) fputc(got[k] == '\n' ? '|' : got[k], stderr);
    fprintf(stderr, "\"\n    want: \"");
    for (size_t k = from; k < want_n && k < i + 40; k++) fputc(want[k] == '\n' ? '|' : want[k], stderr);
    fprintf(stderr, "\"\n");
}

/* Every golden case: renders equal, errors stay errors. Returns per-template counts. */
static void test_golden(void) {
    char *text = read_all(test_data("templates/golden.json"), NULL);
    CHECK_MSG(text != NULL, "templates/golden.json missing");
    if (!text) return;
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(root, "cases");
    CHECK(cJSON_IsArray(cases));
    int total = 0, equal = 0;
    cJSON *batch = NULL;
    char *batch_name = NULL;
    struct { char name[64]; int ok; } per[64];
    int nper = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const char *tpl = cJSON_GetObjectItemCaseSensitive(c, "template")->valuestring;
        const char *reqf = cJSON_GetObjectItemCaseSensitive(c, "request")->valuestring;
        bool agp = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "add_generation_prompt"));
        int64_t now = (int64_t)cJSON_GetObjectItemCaseSensitive(c, "now")->valuedouble;
        const cJSON *want = cJSON_GetObjectItemCaseSensitive(c, "output");
        const cJSON *want_err = cJSON_GetObjectItemCaseSensitive(c, "error");
        char path[512];
        snprintf(path, sizeof path, "templates/%s", tpl);
        mixlm_chat_template *t = NULL;
        mixlm_status st;
        const char *hash = strchr(tpl, '#');
        if (!strncmp(tpl, "models/", 7) || !strncmp(tpl, "extra/", 6)) {
            st = mixlm_chat_template_load(test_data(path), &t);
        } else if (hash) {
            /* entry N of a JSON array of template sources: "features/x.templates.json#N" */
            char file[512];
            snprintf(file, sizeof file, "templates/%.*s", (int)(hash - tpl), tpl);
            const char *src = NULL;
            if (!batch_name || strcmp(batch_name, file)) {
                cJSON_Delete(batch);
                free(batch_name);
                char *btext = read_all(test_data(file), NULL);
                batch = btext ? cJSON_Parse(btext) : NULL;
                batch_name = mx_strdup(file);
                free(btext);
            }
            const cJSON *item = cJSON_GetArrayItem(batch, atoi(hash + 1));
            if (cJSON_IsString(item)) src = item->valuestring;
            st = src ? mixlm_chat_template_from_string(src, strlen(src), &t) : MIXLM_ERR_IO;
            if (st == MIXLM_OK) {
                mixlm_chat_template_set_token(t, "bos_token", "<s>");
                mixlm_chat_template_set_token(t, "eos_token", "</s>");
            }
        } else {
            st = mixlm_chat_template_load_with_file(NULL, test_data(path), &t);
            if (st == MIXLM_OK) {
                mixlm_chat_template_set_token(t, "bos_token", "<s>");
                mixlm_chat_template_set_token(t, "eos_token", "</s>");
            }
        }
        if (st != MIXLM_OK) {
            /* a template the reference cannot parse must not parse here either */
            int ok = !cJSON_IsString(want) && st == MIXLM_ERR_TEMPLATE;
            CHECK_MSG(ok, "%s: load: %s", tpl, mixlm_last_error());
            total++;
            equal += ok;
            continue;
        }
        mixlm_chat_template_set_time(t, now);
        snprintf(path, sizeof path, "templates/%s", reqf);
        char *req = read_all(test_data(path), NULL);
        CHECK_MSG(req != NULL, "%s missing", path);
        char *out = NULL;
        size_t len = 0;
        st = req ? mixlm_chat_template_render(t, req, agp, &out, &len) : MIXLM_ERR_IO;
        total++;
        int ok;
        if (cJSON_IsString(want)) {
            size_t wn = strlen(want->valuestring);
            ok = st == MIXLM_OK && len == wn && !memcmp(out, want->valuestring, wn);
            CHECK_MSG(ok, "%s + %s (agp=%d): %s", tpl, reqf, agp,
                      st == MIXLM_OK ? "output differs" : mixlm_last_error());
            if (!ok && st == MIXLM_OK) show_diff(tpl, out, len, want->valuestring, wn);
        } else {
            ok = st == MIXLM_ERR_TEMPLATE && strstr(mixlm_last_error(), "template") != NULL;
            CHECK_MSG(ok, "%s + %s (agp=%d): expected a template error like the reference's \"%s\", got %s",
                      tpl, reqf, agp, want_err ? want_err->valuestring : "?",
                      st == MIXLM_OK ? "success" : mixlm_last_error());
        }
        equal += ok;
        char group[64];
        snprintf(group, sizeof group, "%.*s", hash ? (int)(hash - tpl) : (int)strlen(tpl), tpl);
        int k = 0;
        while (k < nper && strcmp(per[k].name, group)) k++;
        if (k == nper && nper < 64) {
            snprintf(per[nper].name, sizeof per[nper].name, "%s", group);
            per[nper++].ok = 0;
        }
        if (k < nper && ok && cJSON_IsString(want)) per[k].ok++;
        free(out);
        free(req);
        mixlm_chat_template_free(t);
    }
    printf("golden: %d/%d cases equal the reference\n", equal, total);
    for (int k = 0; k < nper; k++) {
        printf("  %-28s %d rendered outputs equal\n", per[k].name, per[k].ok);
        /* each model template must have at least 15 conversations rendered (x2 for agp on/off) */
        if (!strncmp(per[k].name, "models/", 7)) CHECK_MSG(per[k].ok >= 30, "%s: only %d outputs", per[k].name, per[k].ok);
    }
    CHECK(total >= 200);
    cJSON_Delete(batch);
    free(batch_name);
    cJSON_Delete(root);
}

static mixlm_status render_str(const char *src, const char *req, char **out) {
    mixlm_chat_template *t = NULL;
    mixlm_status st = mixlm_chat_template_from_string(src, strlen(src), &t);
    *out = NULL;
    if (st != MIXLM_OK) return st;
    st = mixlm_chat_template_render(t, req, false, out, NULL);
    mixlm_chat_template_free(t);
    return st;
}

/* Errors name the line of the original template (before whitespace preprocessing). */
static void test_errors(void) {
    char *out = NULL;
    mixlm_status st = render_str("a\nb\n{% if x %}\nno end", "[]", &out);
    CHECK_EQ_INT(st, MIXLM_ERR_TEMPLATE);
    CHECK_MSG(strstr(mixlm_last_error(), "endif") != NULL, "%s", mixlm_last_error());

    st = render_str("line1\n{%- if true -%}\n\n   {{ 1 +* 2 }}{% endif %}", "[]", &out);
    CHECK_EQ_INT(st, MIXLM_ERR_TEMPLATE);
    CHECK_MSG(strstr(mixlm_last_error(), "template line 4:") != NULL, "%s", mixlm_last_error());

    st = render_str("one\n{% for m in messages %}\n{% if m.role == 'x' %}\n{{ raise_exception('bad role ' ~ m.role) }}\n{% endif %}{% endfor %}",
                    "[{\"role\":\"x\"}]", &out);
    CHECK_EQ_INT(st, MIXLM_ERR_TEMPLATE);
    CHECK_EQ_STR(mixlm_last_error(), "template line 4: bad role x");

    st = render_str("{{ 'unterminated }}", "[]", &out);
    CHECK_EQ_INT(st, MIXLM_ERR_TEMPLATE);
    CHECK_MSG(strstr(mixlm_last_error(), "template line 1:") != NULL, "%s", mixlm_last_error());

    st = render_str("{% frobnicate %}", "[]", &out);
    CHECK_EQ_INT(st, MIXLM_ERR_TEMPLATE);
    CHECK_MSG(strstr(mixlm_last_error(), "frobnicate") != NULL, "%s", mixlm_last_error());

    st = render_str("\n\n{{ messages | nosuch }}", "[]", &out);
    CHECK_EQ_INT(st, MIXLM_ERR_TEMPLATE);
    CHECK_EQ_STR(mixlm_last_error(), "template line 3: unknown filter 'nosuch' for a list");

    /* bad requests are format errors, not template errors */
    st = render_str("x", "{\"messages\": 3}", &out);
    CHECK_EQ_INT(st, MIXLM_ERR_FORMAT);
    st = render_str("x", "not json", &out);
    CHECK_EQ_INT(st, MIXLM_ERR_FORMAT);
    st = render_str("x", "{\"messages\": [], \"chat_template_kwargs\": {\"range\": 1}}", &out);
    CHECK_EQ_INT(st, MIXLM_ERR_TEMPLATE);
    free(out);
}

/* Runaway templates stop at a limit with a clear error instead of hanging or crashing. */
static void test_limits(void) {
    char *out = NULL;
    mixlm_status st = render_str("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "[]", &out);
    CHECK_EQ_INT(st, MIXLM_ERR_TEMPLATE);
    CHECK_MSG(strstr(mixlm_last_error(), "deeper") != NULL, "%s", mixlm_last_error());
    st = render_str("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "[]", &out);
    CHECK_EQ_INT(st, MIXLM_ERR_TEMPLATE);
    CHECK_MSG(strstr(mixlm_last_error(), "steps") || strstr(mixlm_last_error(), "memory"), "%s", mixlm_last_error());
    st = render_str("{% set ns = namespace(s='xxxxxxxxxxxxxxxx') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
                    "[]", &out);
    CHECK_EQ_INT(st, MIXLM_ERR_TEMPLATE);
    st = render_str("{{ range(1000000000) }}", "[]", &out);
    CHECK_EQ_INT(st, MIXLM_ERR_TEMPLATE);
    st = render_str("{% set ns = namespace() %}{% set ns.self = ns %}{{ ns | tojson }}", "[]", &out);
    CHECK_EQ_INT(st, MIXLM_ERR_TEMPLATE);
    /* deeply nested expressions are refused by the parser, not by a stack overflow */
    char deep[5000];
    size_t k = 0;
    k += (size_t)snprintf(deep + k, sizeof deep - k, "{{ ");
    for (int i = 0; i < 2000; i++) deep[k++] = '(';
    deep[k++] = '1';
    for (int i = 0; i < 2000; i++) deep[k++] = ')';
    snprintf(deep + k, sizeof deep - k, " }}");
    st = render_str(deep, "[]", &out);
    CHECK_EQ_INT(st, MIXLM_ERR_TEMPLATE);
    free(out);
}

/* Loading: a folder with tokenizer_config.json, a named-template list, chat_template.jinja. */
static void test_loading(void) {
    mixlm_chat_template *t = NULL;
    CHECK_EQ_INT(mixlm_chat_template_load(test_data("templates/models/gemma3"), &t), MIXLM_OK);
    CHECK_EQ_STR(mixlm_chat_template_token(t, "bos_token"), "<bos>");
    CHECK_EQ_STR(mixlm_chat_template_token(t, "eos_token"), "<end_of_turn>");
    CHECK(mixlm_chat_template_source(t) && strstr(mixlm_chat_template_source(t), "start_of_turn"));
    mixlm_chat_template_free(t);

    CHECK_EQ_INT(mixlm_chat_template_load(test_data("templates/models/qwen3/tokenizer_config.json"), &t), MIXLM_OK);
    CHECK(mixlm_chat_template_token(t, "bos_token") == NULL); /* null in the config */
    CHECK_EQ_STR(mixlm_chat_template_token(t, "pad_token"), "<|endoftext|>");
    mixlm_chat_template_free(t);

    /* a folder without a template */
    mixlm_status st = mixlm_chat_template_load(test_data("oracle/hf-tiny-llama"), &t);
    CHECK(st != MIXLM_OK && t == NULL);

    /* named templates: "default", and "tool_use" when the request has tools; tokens as objects */
    const char *dir = test_tmp("tmpl-named");
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir);
    CHECK(system(cmd) == 0);
    char *cfg = mx_path_join(dir, "tokenizer_config.json");
    FILE *f = fopen(cfg, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("{\"bos_token\": {\"content\": \"<B>\", \"lstrip\": false}, \"chat_template\": ["
              "{\"name\": \"tool_use\", \"template\": \"T{{ bos_token }}{{ tools | length }}\"},"
              "{\"name\": \"default\", \"template\": \"D{{ bos_token }}{{ messages | length }}\"}]}",
              f);
        fclose(f);
    }
    CHECK_EQ_INT(mixlm_chat_template_load(dir, &t), MIXLM_OK);
    char *out = NULL;
    CHECK_EQ_INT(mixlm_chat_template_render(t, "[{\"role\":\"user\",\"content\":\"x\"}]", false, &out, NULL), MIXLM_OK);
    CHECK_EQ_STR(out, "D<B>1");
    free(out);
    CHECK_EQ_INT(mixlm_chat_template_render(t, "{\"messages\":[],\"tools\":[{},{}]}", false, &out, NULL), MIXLM_OK);
    CHECK_EQ_STR(out, "T<B>2");
    free(out);
    mixlm_chat_template_free(t);

    /* chat_template.jinja wins over the config's template */
    char *jf = mx_path_join(dir, "chat_template.jinja");
    f = fopen(jf, "w");
    if (f) {
        fputs("J{{ bos_token }}\n", f);
        fclose(f);
    }
    CHECK_EQ_INT(mixlm_chat_template_load(dir, &t), MIXLM_OK);
    CHECK_EQ_INT(mixlm_chat_template_render(t, "[]", false, &out, NULL), MIXLM_OK);
    CHECK_EQ_STR(out, "J<B>");
    free(out);
    mixlm_chat_template_free(t);
    free(cfg);
    free(jf);

    /* a processor-style chat_template.json; a tokenizer.json path means its folder */
    const char *dir2 = test_tmp("tmpl-processor");
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir2, dir2);
    CHECK(system(cmd) == 0);
    char *pj = mx_path_join(dir2, "chat_template.json");
    char *tj = mx_path_join(dir2, "tokenizer.json");
    f = fopen(pj, "w");
    if (f) {
        fputs("{\"chat_template\": \"P{{ messages | length }}\"}", f);
        fclose(f);
    }
    f = fopen(tj, "w");
    if (f) {
        fputs("{}", f);
        fclose(f);
    }
    CHECK_EQ_INT(mixlm_chat_template_load(tj, &t), MIXLM_OK);
    CHECK_EQ_INT(mixlm_chat_template_render(t, "[{}, {}]", false, &out, NULL), MIXLM_OK);
    CHECK_EQ_STR(out, "P2");
    free(out);
    mixlm_chat_template_free(t);
    free(pj);
    free(tj);
}

/* strftime_now follows the time set by the caller, in the TZ time zone. */
static void test_time(void) {
    mixlm_chat_template *t = NULL;
    const char *src = "{{ strftime_now('%d %B %Y, %H:%M') }}";
    CHECK_EQ_INT(mixlm_chat_template_from_string(src, strlen(src), &t), MIXLM_OK);
    mixlm_chat_template_set_time(t, 951782400); /* 2000-02-29 00:00:00 UTC */
    char *out = NULL;
    CHECK_EQ_INT(mixlm_chat_template_render(t, "[]", false, &out, NULL), MIXLM_OK);
    CHECK_EQ_STR(out, "29 February 2000, 00:00");
    free(out);
    mixlm_chat_template_free(t);
}

/* Hostile templates and inputs: never crash (run under ASan in CI); errors are clean. */
static void test_hostile(void) {
    static const char *const srcs[] = {
        "{{", "{%", "{#", "}}", "{% for %}", "{% for x in %}{% endfor %}", "{{ x[ }}", "{{ x. }}",
        "{{ {'a': }}", "{{ f( }}", "{% set %}", "{% macro %}", "{% if %}{% elif %}{% endif %}",
        "{{ '\\u12 }}", "{{ \"\\q\" }}", "{% endfor %}", "{% break %}", "{{ -}}", "{{ 1 if }}",
        "{{ x | }}", "{{ x is }}", "{{ [1,2][::0] }}", "{{ 'abc'[::-1] }}", "{{ (1,) }}",
        "{% call %}{% endcall %}", "{% filter %}{% endfilter %}", "{{ x ** ** }}",
        "{% for a, b in [1] %}{% endfor %}", "{{ 'x' * 3 }}", "{{ range(1, 2, 0) }}",
        "{{ messages[0].content.split('') }}", "{{ namespace(1, 2) }}", "{{ raise_exception() }}",
        "{{ {}.get() }}", "{{ [] | first }}{{ [] | last }}", "{% generation %}{% endgeneration %}",
        "\xff\xfe{{ '\xc3' }}", "{{ 1e999 }}", "{{ 99999999999999999999999 }}",
        "{{ '\\ud83d\\ude00\\ud800' }}", "{% set x = caller() %}",
    };
    for (size_t i = 0; i < MX_ARRAY_LEN(srcs); i++) {
        char *out = NULL;
        mixlm_status st = render_str(srcs[i], "[{\"role\":\"user\",\"content\":\"x\"}]", &out);
        CHECK_MSG(st == MIXLM_OK || st == MIXLM_ERR_TEMPLATE, "%s: status %d", srcs[i], st);
        CHECK_MSG(st == MIXLM_OK || strncmp(mixlm_last_error(), "template", 8) == 0, "%s: %s", srcs[i],
                  mixlm_last_error());
        free(out);
    }
}

/* Numbers print the same whatever LC_NUMERIC the host application chose (only checked when a
 * comma-decimal locale is installed; otherwise nothing is counted). */
static void test_locale(void) {
    const char *locs[] = {"de_DE.UTF-8", "fr_FR.UTF-8", "de_DE.utf8", "fr_FR.utf8"};
    const char *got = NULL;
    for (size_t i = 0; i < MX_ARRAY_LEN(locs) && !got; i++) got = setlocale(LC_NUMERIC, locs[i]);
    if (!got) return;
    char *out = NULL;
    CHECK_EQ_INT(render_str("{{ 1.5 }} {{ 2.0 }} {{ '3.25' | float }} {{ [0.1] | tojson }}", "[]", &out), MIXLM_OK);
    CHECK_EQ_STR(out, "1.5 2.0 3.25 [0.1]");
    free(out);
    setlocale(LC_NUMERIC, "C");
}

int main(void) {
    setenv("TZ", "UTC", 1);
    tzset();
    test_golden();
    test_errors();
    test_limits();
    test_loading();
    test_time();
    test_hostile();
    test_locale();
    return check_summary("test_template");
}
