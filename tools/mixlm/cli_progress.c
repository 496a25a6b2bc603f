/* cli_progress.c: the one self-overwriting progress line the commands show on stderr while a
 * model loads or a long prompt is fed, only when stderr is a terminal (see cli.h). */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The line on screen, if any: an error message clears it first (cli_error), so the message
 * starts on a clean line whichever command's progress was showing. */
static cli_progress *g_active;

void cli_progress_init(cli_progress *p, const char *cmd) {
    memset(p, 0, sizeof *p);
    p->cmd = cmd;
    /* A terminal that cannot move the cursor back (TERM=dumb, an Emacs shell buffer) would
     * show every update as a new line: no progress there either. */
    const char *term = getenv("TERM");
    p->on = isatty(STDERR_FILENO) && !(term && !strcmp(term, "dumb"));
}

/* Redraw only when the text changes, so a fast loop costs a compare, not a write. */
static void show(cli_progress *p, const char *text) {
    if (!p->on || (p->shown && !strcmp(text, p->last))) return;
    snprintf(p->last, sizeof p->last, "%s", text);
    /* \r to the line's start, the text, then erase what an older, longer text left. */
    fprintf(stderr, "\rmixlm %s: %s\033[K", p->cmd, p->last);
    fflush(stderr);
    p->shown = true;
    g_active = p;
}

void cli_progress_stage(cli_progress *p, const char *fmt, ...) {
    if (!p->on) return;
    char text[sizeof p->last];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    show(p, text);
}

void cli_progress_count(cli_progress *p, const char *what, int64_t done, int64_t total) {
    if (!p->on || total <= 0) return;
    char text[sizeof p->last];
    snprintf(text, sizeof text, "%s %lld/%lld (%d%%)", what, (long long)done, (long long)total,
             (int)(100 * done / total));
    show(p, text);
}

void cli_progress_prefill(void *user, int32_t done, int32_t total) {
    cli_progress *p = user;
    if (done >= total) cli_progress_clear(p); /* the answer's text comes next on the terminal */
    else cli_progress_count(p, "prompt tokens", done, total);
}

void cli_progress_clear(cli_progress *p) {
    if (!p->on || !p->shown) return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
    p->shown = false;
    if (g_active == p) g_active = NULL;
}

void cli_progress_clear_active(void) {
    if (g_active) cli_progress_clear(g_active);
}
