/* fuzz_jinja.c: libFuzzer harness for the Jinja interpreter: input = template text, optionally
 * followed by a NUL byte and the JSON variables (an object) to render it with. Any template and
 * any input must end in output or a clean error, within the small limits set here. */
#include "text/jinja.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char DEFAULT_VARS[] =
    "{\"messages\": [{\"role\": \"system\", \"content\": \"sys\"}, {\"role\": \"user\", \"content\": "
    "\"hi {{ x }}\"}, {\"role\": \"assistant\", \"content\": \"\", \"tool_calls\": [{\"function\": "
    "{\"name\": \"f\", \"arguments\": {\"a\": 1.5, \"10\": [true, null]}}}]}, {\"role\": \"tool\", "
    "\"content\": \"42\"}], \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}], "
    "\"add_generation_prompt\": true, \"bos_token\": \"<s>\", \"eos_token\": \"</s>\"}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *src = (const char *)data;
    const uint8_t *nul = memchr(data, 0, size);
    size_t tlen = nul ? (size_t)(nul - data) : size;
    cJSON *vars = NULL;
    if (nul) {
        size_t vlen = size - tlen - 1;
        vars = cJSON_ParseWithLength((const char *)nul + 1, vlen);
        if (vars && !cJSON_IsObject(vars)) {
            cJSON_Delete(vars);
            vars = NULL;
        }
    } else {
        vars = cJSON_Parse(DEFAULT_VARS);
    }
    mx_jinja *j = NULL;
    if (mx_jinja_parse(src, tlen, &j) == MIXLM_OK) {
        mx_jinja_opts o = {0};
        o.now = 1721995200;
        o.max_output = 1 << 20;
        o.max_steps = 200000;
        o.max_memory = 64u << 20;
        o.max_depth = 128;
        char *out = NULL;
        size_t len = 0;
        if (mx_jinja_render(j, vars, &o, &out, &len) == MIXLM_OK && out && strlen(out) > len) abort();
        free(out);
        mx_jinja_free(j);
    }
    cJSON_Delete(vars);
    return 0;
}
