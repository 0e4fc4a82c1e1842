/* registry.c - every quantizer the engine knows, built-in or from a plugin,
 * registered through sq_quant_register; and option parsing. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "quant.h"

#define MAX_QUANT 64
#define MAX_HANDLES 64
#define MAX_REFUSED 32

extern const sq_quantizer sq_float_quantizer, sq_symog_quantizer;

static struct {
    int ready;
    int n;
    const sq_quantizer *q[MAX_QUANT];
    char origin[MAX_QUANT][256];
    void *handles[MAX_HANDLES];
    int n_handles;
    char refused[MAX_REFUSED][SQ_ERR_MSG];
    int n_refused;
} reg;

int sq_quant_register(const sq_quantizer *q, const char *origin, sq_err *e)
{
    if (!q)
        return sq_fail(e, "%s: NULL quantizer", origin);
    if (q->abi_version != SQ_QUANT_ABI_VERSION)
        return sq_fail(e, "%s: quantizer ABI version %d, this symog speaks version %d; rebuild the "
                          "plugin against this symog's engine/include/symog/quant.h",
                       origin, q->abi_version, SQ_QUANT_ABI_VERSION);
    if (q->struct_size < (int)sizeof(sq_quantizer))
        return sq_fail(e, "%s: quantizer struct of %d bytes, version %d needs %zu; rebuild it",
                       origin, q->struct_size, SQ_QUANT_ABI_VERSION, sizeof(sq_quantizer));
    if (!q->name || !q->name[0] || !q->summary || !q->init || !q->forward || !q->backward ||
        !q->quantize || !q->export_codes)
        return sq_fail(e, "%s: quantizer '%s' lacks a name, summary or a required hook (init, "
                          "forward, backward, quantize, export_codes)",
                       origin, q->name ? q->name : "?");
    if (q->n_options < 0 || q->n_options > SQ_QMAX_OPTS || (q->n_options && !q->options))
        return sq_fail(e, "%s: quantizer '%s' declares %d options (at most %d)", origin, q->name,
                       q->n_options, SQ_QMAX_OPTS);
    for (int i = 0; i < reg.n; i++)
        if (!strcmp(reg.q[i]->name, q->name))
            return sq_fail(e, "%s: a quantizer named '%s' is already registered from %s", origin,
                           q->name, reg.origin[i]);
    if (reg.n == MAX_QUANT)
        return sq_fail(e, "%s: too many quantizers (%d)", origin, MAX_QUANT);
    reg.q[reg.n] = q;
    snprintf(reg.origin[reg.n], sizeof reg.origin[0], "%s", origin);
    reg.n++;
    return 0;
}

int sq_quant_load_plugin(const char *path, sq_err *e)
{
    if (reg.n_handles == MAX_HANDLES)
        return sq_fail(e, "%s: too many plugins", path);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return sq_fail(e, "cannot load plugin %s: %s", path, dlerror());
    sq_quantizer_entry_fn entry;
    *(void **)&entry = dlsym(h, SQ_QUANTIZER_ENTRY);
    if (!entry) {
        dlclose(h);
        return sq_fail(e, "%s is not a symog quantizer plugin: it exports no %s()", path,
                       SQ_QUANTIZER_ENTRY);
    }
    int before = reg.n;
    for (int i = 0; i < MAX_QUANT; i++) {
        const sq_quantizer *q = entry(i);
        if (!q)
            break;
        if (sq_quant_register(q, path, e)) {
            reg.n = before; /* all or nothing */
            dlclose(h);
            return -1;
        }
    }
    reg.handles[reg.n_handles++] = h;
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* Load every *.so of dir, in name order; refusals are remembered. */
static void load_dir(const char *dir)
{
    struct dirent **list;
    int n = scandir(dir, &list, NULL, alphasort);
    if (n < 0)
        return;
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX];
        sq_err e;
        if (ends_with(list[i]->d_name, ".so") &&
            snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name) < (int)sizeof path &&
            sq_quant_load_plugin(path, &e) && reg.n_refused < MAX_REFUSED)
            snprintf(reg.refused[reg.n_refused++], SQ_ERR_MSG, "%s", e.msg);
        free(list[i]);
    }
    free(list);
}

static void exe_plugin_dir(char *buf, size_t n)
{
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    buf[0] = 0;
    if (len <= 0)
        return;
    exe[len] = 0;
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = 0;
    snprintf(buf, n, "%.*s/plugins", (int)(n - 9), exe);
}

int sq_quant_setup(const char *const *plugins, int n_plugins, sq_err *e)
{
    if (!reg.ready) {
        if (sq_quant_register(&sq_float_quantizer, "built-in", e) ||
            sq_quant_register(&sq_symog_quantizer, "built-in", e))
            return -1;
        char dir[PATH_MAX];
        exe_plugin_dir(dir, sizeof dir);
        if (dir[0])
            load_dir(dir);
        const char *env = getenv("SYMOG_PLUGIN_PATH");
        if (env) {
            char *copy = sq_strdup(env), *save = NULL;
            for (char *d = copy ? strtok_r(copy, ":", &save) : NULL; d; d = strtok_r(NULL, ":", &save))
                load_dir(d);
            sq_free(copy);
        }
        reg.ready = 1;
    }
    for (int i = 0; i < n_plugins; i++)
        if (sq_quant_load_plugin(plugins[i], e))
            return sq_wrap(e, "--plugin");
    return 0;
}

const sq_quantizer *sq_quant_find(const char *name)
{
    for (int i = 0; i < reg.n; i++)
        if (!strcmp(reg.q[i]->name, name))
            return reg.q[i];
    return NULL;
}

const sq_quantizer *sq_quant_get(const char *name, sq_err *e)
{
    const sq_quantizer *q = sq_quant_find(name);
    if (q)
        return q;
    char list[SQ_ERR_MSG / 2] = "";
    for (int i = 0; i < reg.n; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                 reg.q[i]->name);
    sq_fail(e, "unknown quantizer '%s' (registered: %s)%s%s", name, list,
            reg.n_refused ? "; refused plugin: " : "", reg.n_refused ? reg.refused[0] : "");
    return NULL;
}

int sq_quant_count(void) { return reg.n; }

const sq_quantizer *sq_quant_at(int i, const char **origin)
{
    if (i < 0 || i >= reg.n)
        return NULL;
    if (origin)
        *origin = reg.origin[i];
    return reg.q[i];
}

const char *sq_quant_refusal(int i) { return i >= 0 && i < reg.n_refused ? reg.refused[i] : NULL; }

void sq_quant_reset(void)
{
    for (int i = 0; i < reg.n_handles; i++)
        dlclose(reg.handles[i]);
    memset(&reg, 0, sizeof reg);
}

/* ---- options ----------------------------------------------------------- */
static int choice_index(const char *choices, const char *v, size_t vlen)
{
    int idx = 0;
    for (const char *c = choices; c && *c; idx++) {
        const char *bar = strchr(c, '|');
        size_t len = bar ? (size_t)(bar - c) : strlen(c);
        if (len == vlen && !strncmp(c, v, len))
            return idx;
        if (!bar)
            break;
        c = bar + 1;
    }
    return -1;
}

static int parse_value(const sq_qoption *o, const char *v, double *out, sq_err *e)
{
    char *end;
    errno = 0;
    switch (o->type) {
    case SQ_QOPT_ENUM: {
        int i = choice_index(o->choices, v, strlen(v));
        if (i < 0)
            return sq_fail(e, "option %s=%s: choose one of %s", o->key, v, o->choices);
        *out = i;
        return 0;
    }
    case SQ_QOPT_BOOL:
        if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "on"))
            return *out = 1, 0;
        if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "off"))
            return *out = 0, 0;
        return sq_fail(e, "option %s=%s: expected 0/1, true/false or on/off", o->key, v);
    default: {
        double x = strtod(v, &end);
        /* ERANGE also flags a tiny value that underflowed to a subnormal: keep it */
        if ((errno && !(errno == ERANGE && fabs(x) < 1)) || end == v || *end || !isfinite(x))
            return sq_fail(e, "option %s=%s: not a number", o->key, v);
        if (o->type == SQ_QOPT_INT && x != floor(x))
            return sq_fail(e, "option %s=%s: expected an integer", o->key, v);
        if (x < o->min || x > o->max)
            return sq_fail(e, "option %s=%s: must lie in [%g, %g]", o->key, v, o->min, o->max);
        *out = x;
        return 0;
    }
    }
}

int sq_qopts_parse(const sq_quantizer *q, const char *const *kv, int n, double *vals, sq_err *e)
{
    for (int i = 0; i < q->n_options; i++)
        if (parse_value(&q->options[i], q->options[i].def, &vals[i], e))
            return sq_wrap(e, "quantizer %s: bad default", q->name);
    for (int j = 0; j < n; j++) {
        const char *eq = strchr(kv[j], '=');
        if (!eq)
            return sq_fail(e, "--q-opt '%s': expected key=value", kv[j]);
        int found = -1;
        for (int i = 0; i < q->n_options && found < 0; i++)
            if (strlen(q->options[i].key) == (size_t)(eq - kv[j]) &&
                !strncmp(q->options[i].key, kv[j], (size_t)(eq - kv[j])))
                found = i;
        if (found < 0) {
            char list[256] = "";
            for (int i = 0; i < q->n_options; i++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                         q->options[i].key);
            return sq_fail(e, "quantizer %s has no option '%.*s' (valid: %s)", q->name,
                           (int)(eq - kv[j]), kv[j], q->n_options ? list : "none");
        }
        if (parse_value(&q->options[found], eq + 1, &vals[found], e))
            return sq_wrap(e, "quantizer %s", q->name);
    }
    return 0;
}

void sq_qopt_format(const sq_quantizer *q, int i, double v, char *buf, size_t n)
{
    const sq_qoption *o = &q->options[i];
    if (o->type == SQ_QOPT_ENUM) {
        const char *c = o->choices;
        for (int k = 0; k < (int)v && c; k++)
            c = strchr(c, '|') ? strchr(c, '|') + 1 : NULL;
        const char *bar = c ? strchr(c, '|') : NULL;
        snprintf(buf, n, "%.*s", c ? (int)(bar ? (size_t)(bar - c) : strlen(c)) : 1, c ? c : "?");
    } else if (o->type == SQ_QOPT_NUM) {
        snprintf(buf, n, "%.9g", v);
    } else {
        snprintf(buf, n, "%d", (int)v);
    }
}
