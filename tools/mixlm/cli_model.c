/* cli_model.c: what the commands that run a model share: finding the model to use (-m, then
 * $MIXLM_MODEL, then the bundled model) and the sampling defaults of its
 * generation_config.json. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include "common/util.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- The default model ------------------------------------------------------------------ */

static int is_model_path(const char *path) {
    if (mx_is_dir(path)) {
        char *cfg = mx_path_join(path, "config.json");
        int ok = cfg && mx_file_exists(cfg);
        free(cfg);
        return ok;
    }
    size_t n = strlen(path);
    return n > 5 && !strcmp(path + n - 5, ".gguf") && mx_file_exists(path);
}

/* A models directory: the directory itself when it is a model, else its first entry (by name)
 * that is a model. malloc'd path or NULL. */
static char *model_in_dir(const char *dir) {
    if (!mx_is_dir(dir)) return NULL;
    if (is_model_path(dir)) return mx_strdup(dir);
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, alphasort);
    char *found = NULL;
    for (int i = 0; i < n; i++) {
        if (!found && names[i]->d_name[0] != '.') {
            char *p = mx_path_join(dir, names[i]->d_name);
            if (p && is_model_path(p)) found = p;
            else free(p);
        }
        free(names[i]);
    }
    free(names);
    return found;
}

/* -m, else $MIXLM_MODEL, else the bundled model (in the source tree for a build that was not
 * installed, else in the installed data directory). */
char *cli_resolve_model(const char *arg) {
    if (arg) return mx_strdup(arg);
    const char *env = getenv("MIXLM_MODEL");
    if (env && *env) return mx_strdup(env);
    const char *dirs[] = {
#ifdef MIXLM_SOURCE_MODEL_DIR
        MIXLM_SOURCE_MODEL_DIR,
#endif
#ifdef MIXLM_DEFAULT_MODEL_DIR
        MIXLM_DEFAULT_MODEL_DIR,
#endif
        NULL};
    for (size_t i = 0; dirs[i]; i++) {
        char *p = model_in_dir(dirs[i]);
        if (p) return p;
    }
    return NULL;
}

/* ---- Sampling defaults from generation_config.json ----------------------------------------- */

/* A Hugging Face folder's generation_config.json may set do_sample, temperature, top_k, top_p,
 * min_p, typical_p and repetition_penalty; they replace the built-in defaults (flags given on
 * the command line win over both). do_sample false means greedy, as in transformers. */
static void generation_config_defaults(const char *model, mixlm_sampler_params *sp) {
    if (!mx_is_dir(model)) return;
    char *path = mx_path_join(model, "generation_config.json");
    char *text = NULL;
    size_t len = 0;
    if (path && mx_file_exists(path) && mx_read_file(path, 1u << 20, &text, &len) == MIXLM_OK) {
        cJSON *root = cJSON_ParseWithLength(text, len);
        if (root) {
            const cJSON *v;
            int sampled = 0;
            if ((v = cJSON_GetObjectItemCaseSensitive(root, "do_sample")) && cJSON_IsBool(v))
                sampled = cJSON_IsTrue(v) ? 1 : -1;
            if (sampled >= 0) {
                if ((v = cJSON_GetObjectItemCaseSensitive(root, "temperature")) && cJSON_IsNumber(v) &&
                    v->valuedouble > 0 && v->valuedouble < 100)
                    sp->temperature = (float)v->valuedouble;
                if ((v = cJSON_GetObjectItemCaseSensitive(root, "top_k")) && cJSON_IsNumber(v) &&
                    v->valuedouble >= 0 && v->valuedouble < 1e7)
                    sp->top_k = (int32_t)v->valuedouble;
                if ((v = cJSON_GetObjectItemCaseSensitive(root, "top_p")) && cJSON_IsNumber(v) &&
                    v->valuedouble > 0 && v->valuedouble <= 1)
                    sp->top_p = (float)v->valuedouble;
                if ((v = cJSON_GetObjectItemCaseSensitive(root, "min_p")) && cJSON_IsNumber(v) &&
                    v->valuedouble >= 0 && v->valuedouble <= 1)
                    sp->min_p = (float)v->valuedouble;
                if ((v = cJSON_GetObjectItemCaseSensitive(root, "typical_p")) && cJSON_IsNumber(v) &&
                    v->valuedouble > 0 && v->valuedouble <= 1)
                    sp->typical_p = (float)v->valuedouble;
            } else {
                sp->temperature = 0.0f;
            }
            if ((v = cJSON_GetObjectItemCaseSensitive(root, "repetition_penalty")) && cJSON_IsNumber(v) &&
                v->valuedouble > 0 && v->valuedouble < 100)
                sp->repetition_penalty = (float)v->valuedouble;
            cJSON_Delete(root);
        }
    }
    free(text);
    free(path);
    mx_err_clear();
}

mixlm_sampler_params cli_sampler_defaults(const char *model) {
    mixlm_sampler_params sp = mixlm_sampler_default_params();
    sp.temperature = 0.8f;
    sp.top_k = 40;
    sp.top_p = 0.95f;
    sp.min_p = 0.05f;
    generation_config_defaults(model, &sp);
    return sp;
}

void cli_sampler_flags(mixlm_sampler_params *sp, float temp, long top_k, float top_p, float min_p) {
    if (!isnan(temp)) sp->temperature = temp;
    if (top_k >= 0) sp->top_k = (int32_t)top_k;
    if (!isnan(top_p)) sp->top_p = top_p;
    if (!isnan(min_p)) sp->min_p = min_p;
}

int cli_parse_float(const char *cmd, const char *opt, const char *v, double lo, double hi,
                    float *out) {
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || *end || !*v || !(d >= lo && d <= hi)) {
        cli_error(cmd, "%s: '%s' is not a number in %g..%g", opt, v, lo, hi);
        return 0;
    }
    *out = (float)d;
    return 1;
}
