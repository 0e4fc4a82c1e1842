/* exp.c - validates the table an experiment file gave experiment{} and turns
 * it into an sq_gexp: every key is checked against what its place allows
 * (unknown keys are errors that name the key, the file and the line), every
 * setting against the `symog train` schema (type, range, and for data,
 * optim, schedule and quantizer the engine's own parsers), and the report
 * outputs against their kinds. experiments/README.md is the user's guide to
 * the same rules. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data.h"
#include "grid.h"
#include "optim/optim.h"
#include "quant/quant.h"
#include "train/train.h"

const char *const sq_g_profiles[SQ_G_NPROFILES] = {"smoke", "quick", "paper"};
const char *const sq_go_kinds[SQ_GO_NKINDS] = {"table", "bits", "curves", "switch", "hist"};

int sq_g_profile_index(const char *name)
{
    for (int i = 0; i < SQ_G_NPROFILES; i++)
        if (name && !strcmp(name, sq_g_profiles[i]))
            return i;
    return -1;
}

/* ---- the train schema -------------------------------------------------- */
enum { K_INT, K_NUM, K_STR };
enum { C_NONE, C_NAME, C_DATA, C_OPTIM, C_SCHED, C_QUANT };

typedef struct skey {
    const char *key, *flag;
    int type, check;
    double min, max;
} skey;

static const skey SKEYS[] = {
    {"model", "--model", K_STR, C_NAME, 0, 0},
    {"data", "--data", K_STR, C_DATA, 0, 0},
    {"epochs", "--epochs", K_INT, C_NONE, 1, 1000},
    {"batch", "--batch", K_INT, C_NONE, 1, 65536},
    {"eval_batch", "--eval-batch", K_INT, C_NONE, 1, 65536},
    {"lr", "--lr", K_NUM, C_NONE, 1e-12, 100},
    {"optim", "--optim", K_STR, C_OPTIM, 0, 0},
    {"momentum", "--momentum", K_NUM, C_NONE, 0, 0.9999},
    {"wd", "--wd", K_NUM, C_NONE, 0, 1},
    {"schedule", "--schedule", K_STR, C_SCHED, 0, 0},
    {"seed", "--seed", K_INT, C_NONE, 0, 9007199254740992.0},
    {"augment", "--augment", K_INT, C_NONE, -1, 1},
    {"train_subset", "--train-subset", K_INT, C_NONE, 0, 1e9},
    {"test_subset", "--test-subset", K_INT, C_NONE, 0, 1e9},
    {"quantizer", "--quantizer", K_STR, C_QUANT, 0, 0},
    {"bits", "--bits", K_INT, C_NONE, 1, 8},
    {"first_last", "--first-last", K_INT, C_NONE, 0, 1},
};
_Static_assert(SQ_COUNT(SKEYS) <= SQ_G_MAX_SET, "a run's settings must fit an sq_gset");

int sq_gset_nkeys(void) { return (int)SQ_COUNT(SKEYS); }
const char *sq_gset_key(int i) { return SKEYS[i].key; }
const char *sq_gset_flag(int i) { return SKEYS[i].flag; }

int sq_gset_key_index(const char *key)
{
    for (size_t i = 0; i < SQ_COUNT(SKEYS); i++)
        if (!strcmp(key, SKEYS[i].key))
            return (int)i;
    return -1;
}

void sq_g_fmtnum(char *buf, size_t n, double v)
{
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, n, "%.0f", v);
        return;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, n, "%.*g", p, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

void sq_gset_default(int i, char *buf, size_t n)
{
    sq_train_cfg c;
    sq_train_defaults(&c);
    const char *k = SKEYS[i].key;
    double v = 0;
    if (!strcmp(k, "model"))
        snprintf(buf, n, "%s", c.model);
    else if (!strcmp(k, "data"))
        snprintf(buf, n, "%s", c.data);
    else if (!strcmp(k, "optim"))
        snprintf(buf, n, "%s", c.optim);
    else if (!strcmp(k, "schedule"))
        snprintf(buf, n, "%s", c.schedule);
    else if (!strcmp(k, "quantizer"))
        snprintf(buf, n, "%s", c.quantizer);
    else {
        v = !strcmp(k, "epochs") ? c.epochs : !strcmp(k, "batch") ? c.batch
          : !strcmp(k, "eval_batch") ? c.eval_batch : !strcmp(k, "lr") ? c.lr
          : !strcmp(k, "momentum") ? c.momentum : !strcmp(k, "wd") ? c.weight_decay
          : !strcmp(k, "seed") ? (double)c.seed : !strcmp(k, "augment") ? c.augment
          : !strcmp(k, "train_subset") ? c.train_subset : !strcmp(k, "test_subset") ? c.test_subset
          : !strcmp(k, "bits") ? c.bits : c.first_last;
        sq_g_fmtnum(buf, n, v);
    }
}

const char *sq_gset_find(const sq_gset *s, const char *key)
{
    for (int i = 0; i < s->ns; i++)
        if (!strcmp(s->s[i].key, key))
            return s->s[i].val;
    return NULL;
}

int sq_gset_put(sq_gset *s, int q, const char *key, const char *val, int line)
{
    sq_gkv *kv = q ? s->q : s->s;
    int *n = q ? &s->nq : &s->ns, cap = q ? SQ_G_MAX_Q : SQ_G_MAX_SET, i;
    for (i = 0; i < *n; i++)
        if (!strcmp(kv[i].key, key))
            break;
    if (i == *n) {
        if (*n == cap)
            return -1;
        (*n)++;
    }
    snprintf(kv[i].key, sizeof kv[i].key, "%s", key);
    snprintf(kv[i].val, sizeof kv[i].val, "%s", val);
    kv[i].line = line;
    return 0;
}

/* ---- validation context: the value path, for messages with lines ------- */
typedef struct vx {
    const char *file, *src;
    int call_line, depth;
    const char *path[16];
    char pbuf[16][24];
    sq_err *e;
} vx;

static void push(vx *v, const char *k)
{
    if (v->depth < 16)
        v->path[v->depth] = k;
    v->depth++;
}

static void pushi(vx *v, int i)
{
    if (v->depth < 16) {
        snprintf(v->pbuf[v->depth], sizeof v->pbuf[0], "#%d", i);
        v->path[v->depth] = v->pbuf[v->depth];
    }
    v->depth++;
}

static void pop(vx *v) { v->depth--; }

/* "profiles.quick.epochs", "axes.method[3].label" */
static void path_str(const vx *v, const char *key, char *buf, size_t n)
{
    buf[0] = 0;
    int d = v->depth < 16 ? v->depth : 16;
    for (int i = 0; i <= d; i++) {
        const char *c = i < d ? v->path[i] : key;
        if (!c)
            break;
        size_t len = strlen(buf);
        if (c[0] == '#')
            snprintf(buf + len, n - len, "[%s]", c + 1);
        else
            snprintf(buf + len, n - len, "%s%s", len ? "." : "", c);
    }
}

static int vline(vx *v, const char *key);

/* An error at line: "file:line: path[.key]: msg". */
static int vfail(vx *v, int line, const char *key, const char *fmt, va_list ap)
{
    char msg[SQ_ERR_MSG], where[200];
    vsnprintf(msg, sizeof msg, fmt, ap);
    path_str(v, key, where, sizeof where);
    return sq_fail(v->e, "%s:%d: %s%s%s", v->file, line, where, where[0] ? ": " : "", msg);
}

/* An error at the current path (+ key, may be NULL), at the key's line. */
static int verr(vx *v, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int verr(vx *v, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail(v, vline(v, key), key, fmt, ap);
    va_end(ap);
    return rc;
}

/* The same at a given line, without the key in the path. */
static int verr_at(vx *v, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int verr_at(vx *v, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vfail(v, line, NULL, fmt, ap);
    va_end(ap);
    return rc;
}

static int vline(vx *v, const char *key)
{
    if (key)
        push(v, key);
    int d = v->depth < 16 ? v->depth : 16;
    int line = sq_gsrc_line(v->src, v->call_line, v->path, d);
    if (key)
        pop(v);
    return line;
}

static const char *type_name(const sq_gv *g)
{
    static const char *const n[] = {"nil", "boolean", "number", "string", "table"};
    return g ? n[g->t] : "nil";
}

static int is_list(const sq_gv *g)
{
    if (!g || g->t != SQ_GV_TAB)
        return 0;
    for (int i = 0; i < g->n; i++)
        if (g->e[i].key)
            return 0;
    return 1;
}

static int name_ok(const char *s, const char *first, const char *rest, size_t max)
{
    size_t n = strlen(s);
    return n > 0 && n < max && strchr(first, s[0]) && strspn(s, rest) == n;
}

#define LOWER "abcdefghijklmnopqrstuvwxyz"
#define DIGIT "0123456789"

/* Every string key of t must be in allowed (NULL-ended), or accepted by
 * extra (may be NULL). List entries are refused unless lists_ok. */
static int check_keys(vx *v, const sq_gv *t, const char *const *allowed,
                      int (*extra)(const char *key), int lists_ok)
{
    for (int i = 0; i < t->n; i++) {
        const char *k = t->e[i].key;
        if (!k) {
            if (lists_ok)
                continue;
            return verr(v, NULL, "expected named keys (key = value), found a list entry");
        }
        int ok = extra && extra(k);
        for (int j = 0; !ok && allowed[j]; j++)
            ok = !strcmp(k, allowed[j]);
        if (!ok) {
            char valid[400] = "";
            for (int j = 0; allowed[j]; j++)
                snprintf(valid + strlen(valid), sizeof valid - strlen(valid), "%s%s", j ? ", " : "",
                         allowed[j]);
            if (extra)
                snprintf(valid + strlen(valid), sizeof valid - strlen(valid),
                         "%sany setting (model, data, epochs, lr, quantizer, bits, ...)",
                         valid[0] ? ", " : "");
            return verr_at(v, vline(v, k), "unknown key '%s' (valid here: %s)", k, valid);
        }
    }
    return 0;
}

static int is_setting(const char *k) { return sq_gset_key_index(k) >= 0; }

static int get_str(vx *v, const sq_gv *t, const char *key, char *out, size_t n, int required)
{
    const sq_gv *g = sq_gv_get(t, key);
    if (!g) {
        if (required)
            return verr(v, NULL, "'%s' is required", key);
        return 0;
    }
    if (g->t != SQ_GV_STR)
        return verr(v, key, "must be a string, not a %s", type_name(g));
    if (strlen(g->s) >= n)
        return verr(v, key, "longer than %zu characters", n - 1);
    snprintf(out, n, "%s", g->s);
    return 0;
}

/* A setting's value as canonical text, checked against the schema. */
static int parse_setting(vx *v, const char *key, const sq_gv *g, char out[SQ_G_VAL])
{
    int ki = sq_gset_key_index(key);
    const skey *k = &SKEYS[ki];
    sq_err e2 = {{0}};
    if (k->type != K_STR) {
        double x;
        if (g->t == SQ_GV_BOOL && k->type == K_INT && k->min <= 0 && k->max >= 1)
            x = g->b;
        else if (g->t == SQ_GV_NUM)
            x = g->num;
        else
            return verr(v, key, "must be a number, not a %s", type_name(g));
        if (k->type == K_INT && x != floor(x))
            return verr(v, key, "must be a whole number (got %g)", x);
        if (!(x >= k->min && x <= k->max))
            return verr(v, key, "%g is out of range [%g, %g]", x, k->min, k->max);
        sq_g_fmtnum(out, SQ_G_VAL, x);
        return 0;
    }
    if (g->t != SQ_GV_STR)
        return verr(v, key, "must be a string, not a %s", type_name(g));
    size_t n = strlen(g->s);
    if (n == 0 || n >= SQ_G_VAL || g->s[0] == '-')
        return verr(v, key, "'%s' is not a valid value (empty, too long or starting with '-')",
                    g->s);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)g->s[i] < 32)
            return verr(v, key, "control characters are not allowed");
    snprintf(out, SQ_G_VAL, "%s", g->s);
    float mean[3], std[3];
    sq_optim_cfg oc;
    sq_sched sc;
    switch (k->check) {
    case C_NAME:
        if (!name_ok(g->s, LOWER DIGIT, LOWER DIGIT "._-", 32))
            return verr(v, key, "'%s' is not a name (lower-case letters, digits, . _ -)", g->s);
        break;
    case C_DATA:
        if (sq_data_norm(g->s, mean, std, &e2))
            return verr(v, key, "%s", e2.msg);
        break;
    case C_OPTIM:
        if (sq_optim_parse(g->s, &oc, &e2))
            return verr(v, key, "%s", e2.msg);
        break;
    case C_SCHED:
        if (sq_sched_parse(g->s, &sc, &e2))
            return verr(v, key, "%s", e2.msg);
        break;
    case C_QUANT:
        if (sq_quant_setup(NULL, 0, &e2) || !sq_quant_get(g->s, &e2))
            return verr(v, key, "%s", e2.msg);
        break;
    }
    return 0;
}

static int parse_q(vx *v, const sq_gv *t, sq_gset *s)
{
    if (t->t != SQ_GV_TAB)
        return verr(v, "q", "quantizer options must be a table such as { shift = 1 }, not a %s",
                    type_name(t));
    push(v, "q");
    for (int i = 0; i < t->n; i++) {
        const char *k = t->e[i].key;
        const sq_gv *g = t->e[i].val;
        char val[SQ_G_VAL];
        if (!k || !name_ok(k, LOWER "ABCDEFGHIJKLMNOPQRSTUVWXYZ", LOWER "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  DIGIT "_", SQ_G_KEY)) {
            pop(v);
            return verr(v, "q", "option keys are names such as shift or lambdaT");
        }
        if (g->t == SQ_GV_NUM)
            sq_g_fmtnum(val, sizeof val, g->num);
        else if (g->t == SQ_GV_BOOL)
            snprintf(val, sizeof val, "%d", g->b);
        else if (g->t == SQ_GV_STR && g->s[0] && strlen(g->s) < SQ_G_VAL && !strchr(g->s, '='))
            snprintf(val, sizeof val, "%s", g->s);
        else {
            int rc = verr(v, k, "an option value is a number, boolean or short string");
            pop(v);
            return rc;
        }
        if (sq_gset_put(s, 1, k, val, vline(v, k))) {
            pop(v);
            return verr(v, NULL, "more than %d options", SQ_G_MAX_Q);
        }
    }
    pop(v);
    return 0;
}

/* The settings keys (and q) of t into s; other keys are the caller's. */
static int parse_set(vx *v, const sq_gv *t, sq_gset *s)
{
    for (int i = 0; i < t->n; i++) {
        const char *k = t->e[i].key;
        if (!k)
            continue;
        if (!strcmp(k, "q")) {
            if (parse_q(v, t->e[i].val, s))
                return -1;
        } else if (is_setting(k)) {
            char val[SQ_G_VAL];
            if (is_list(t->e[i].val))
                continue; /* a profile's axis; the caller handles it */
            if (parse_setting(v, k, t->e[i].val, val))
                return -1;
            sq_gset_put(s, 0, k, val, vline(v, k));
        }
    }
    return 0;
}

static void slugify(const char *in, char *out, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; in[i] && j + 1 < n; i++) {
        char c = in[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '.' || c == '+' || c == '-';
        if (!ok)
            c = '-';
        if (c == '-' && (j == 0 || out[j - 1] == '-'))
            continue;
        out[j++] = c;
    }
    while (j > 0 && out[j - 1] == '-')
        j--;
    out[j] = 0;
}

static const char *const VARIANT_KEYS[] = {"label", "style", "only", "q", NULL};

static int parse_variant(vx *v, const sq_gv *t, sq_gval *out)
{
    memset(out, 0, sizeof *out);
    out->line = vline(v, NULL);
    if (check_keys(v, t, VARIANT_KEYS, is_setting, 0) ||
        get_str(v, t, "label", out->label, sizeof out->label, 1) || parse_set(v, t, &out->set))
        return -1;
    slugify(out->label, out->slug, sizeof out->slug);
    if (!out->slug[0])
        return verr(v, "label", "'%s' needs at least one letter or digit", out->label);
    for (int i = 0; i < out->set.ns; i++)
        if (is_list(sq_gv_get(t, out->set.s[i].key)))
            return verr(v, out->set.s[i].key, "a variant's setting is one value, not a list");
    const sq_gv *st = sq_gv_get(t, "style");
    if (st) {
        if (st->t != SQ_GV_NUM || st->num != floor(st->num) || st->num < 1 || st->num > 12)
            return verr(v, "style", "a figure style is a whole number 1..12 (plots/style.gp)");
        out->style = (int)st->num;
    }
    const sq_gv *only = sq_gv_get(t, "only");
    if (!only)
        return 0;
    if (only->t != SQ_GV_TAB)
        return verr(v, "only", "must be a table such as { bits = {2, 3, 4} }");
    push(v, "only");
    int rc = 0;
    for (int i = 0; i < only->n && !rc; i++) {
        const char *k = only->e[i].key;
        const sq_gv *g = only->e[i].val;
        if (!k || !is_setting(k)) {
            rc = verr(v, k, "keys of 'only' are settings such as bits or data");
            break;
        }
        if (out->nonly == SQ_G_MAX_ONLY) {
            rc = verr(v, k, "at most %d keys", SQ_G_MAX_ONLY);
            break;
        }
        sq_gonly *o = &out->only[out->nonly++];
        snprintf(o->key, sizeof o->key, "%s", k);
        if (is_list(g) && g->n > 0) {
            push(v, k);
            for (int j = 0; j < g->n && !rc; j++) {
                if (o->n == 16) {
                    rc = verr(v, NULL, "at most 16 values");
                    break;
                }
                pushi(v, j + 1);
                rc = parse_setting(v, k, g->e[j].val, o->val[o->n++]);
                pop(v);
            }
            pop(v);
        } else if (g->t != SQ_GV_TAB) {
            rc = parse_setting(v, k, g, o->val[o->n++]);
        } else {
            rc = verr(v, k, "give a value or a non-empty list of values");
        }
    }
    pop(v);
    return rc;
}

static void axis_free(sq_gaxis *a)
{
    sq_free(a->v);
    a->v = NULL;
    a->n = 0;
}

/* Axis `name` from list g. sel: the base axis a profile list may select
 * labels from (NULL outside profiles). */
static int parse_axis(vx *v, const char *name, const sq_gv *g, const sq_gaxis *sel, sq_gaxis *a)
{
    memset(a, 0, sizeof *a);
    if (!name_ok(name, LOWER, LOWER DIGIT "_", SQ_G_KEY))
        return verr(v, name, "an axis name is lower-case letters, digits and _");
    snprintf(a->name, sizeof a->name, "%s", name);
    a->line = vline(v, name);
    if (!is_list(g) || g->n == 0)
        return verr(v, name, "an axis is a non-empty list of values, not a %s",
                    g->t == SQ_GV_TAB ? "table with named keys" : type_name(g));
    if (g->n > 64)
        return verr(v, name, "more than 64 values");
    int tables = 0;
    for (int i = 0; i < g->n; i++)
        tables += g->e[i].val->t == SQ_GV_TAB;
    int select = sel && sel->variant && tables == 0;
    if (tables && tables != g->n)
        return verr(v, name, "mixes tables (variants) and plain values");
    a->variant = tables > 0 || select;
    if (a->variant && !select && is_setting(name))
        return verr(v, name, "'%s' is a setting, so its values must be plain values; give a "
                             "variant axis another name (e.g. method, variant, net)", name);
    if (!a->variant && !is_setting(name))
        return verr(v, name, "plain values need an axis named after a setting (bits, seed, lr, "
                             "data, ...); variants are tables with a label");
    a->v = sq_calloc((size_t)g->n, sizeof *a->v);
    if (!a->v)
        return sq_fail(v->e, "out of memory");
    a->n = g->n;
    push(v, name);
    int rc = 0;
    for (int i = 0; i < g->n && !rc; i++) {
        const sq_gv *gi = g->e[i].val;
        sq_gval *o = &a->v[i];
        pushi(v, i + 1);
        if (select) {
            int found = -1;
            if (gi->t == SQ_GV_STR)
                for (int j = 0; j < sel->n; j++)
                    if (!strcmp(sel->v[j].label, gi->s))
                        found = j;
            if (found < 0) {
                char valid[300] = "";
                for (int j = 0; j < sel->n; j++)
                    snprintf(valid + strlen(valid), sizeof valid - strlen(valid), "%s\"%s\"",
                             j ? ", " : "", sel->v[j].label);
                rc = verr(v, NULL, "%s%s%s is not a label of axis '%s' (labels: %s)",
                          gi->t == SQ_GV_STR ? "\"" : "a ", gi->t == SQ_GV_STR ? gi->s : type_name(gi),
                          gi->t == SQ_GV_STR ? "\"" : "", name, valid);
            } else {
                *o = sel->v[found];
            }
        } else if (a->variant) {
            rc = parse_variant(v, gi, o);
        } else {
            char val[SQ_G_VAL];
            o->line = vline(v, NULL);
            rc = parse_setting(v, name, gi, val);
            if (!rc && strlen(val) >= sizeof o->label)
                rc = verr(v, NULL, "value longer than %zu characters", sizeof o->label - 1);
            if (!rc) {
                memcpy(o->label, val, strlen(val) + 1); /* fits: checked above */
                const skey *k = &SKEYS[sq_gset_key_index(name)];
                char raw[SQ_G_VAL + SQ_G_KEY];
                snprintf(raw, sizeof raw, "%s%s", k->type == K_STR ? "" : name, o->label);
                slugify(raw, o->slug, sizeof o->slug);
                sq_gset_put(&o->set, 0, name, o->label, o->line);
            }
        }
        pop(v);
        for (int j = 0; j < i && !rc; j++)
            if (!strcmp(a->v[j].label, o->label) || !strcmp(a->v[j].slug, o->slug))
                rc = verr_at(v, o->line, "two values of axis '%s' are both named '%s'", name,
                             o->slug);
    }
    pop(v);
    if (rc)
        axis_free(a);
    return rc;
}

static const sq_gaxis *find_axis(const sq_gexp *x, const char *name)
{
    for (int i = 0; i < x->naxes; i++)
        if (!strcmp(x->axes[i].name, name))
            return &x->axes[i];
    return NULL;
}

static int parse_profile(vx *v, const sq_gv *t, sq_gexp *x, sq_gprof *p)
{
    const char *allowed[SQ_G_MAX_AXES + 3] = {"note", "q"};
    for (int i = 0; i < x->naxes; i++)
        allowed[2 + i] = x->axes[i].name;
    p->line = vline(v, NULL);
    if (t->t != SQ_GV_TAB)
        return verr(v, NULL, "a profile is a table of settings, not a %s", type_name(t));
    if (check_keys(v, t, allowed, is_setting, 0))
        return -1;
    if (get_str(v, t, "note", p->note, sizeof p->note, 0) || parse_set(v, t, &p->set))
        return -1;
    for (int i = 0; i < t->n; i++) {
        const char *k = t->e[i].key;
        const sq_gv *g = t->e[i].val;
        if (!k || !strcmp(k, "note") || !strcmp(k, "q"))
            continue;
        const sq_gaxis *base = find_axis(x, k);
        if (!base && g->t != SQ_GV_TAB)
            continue; /* a plain setting, done by parse_set */
        if (base && !base->variant && !is_list(g))
            return verr(v, k, "'%s' is an axis of this experiment: give a list of values", k);
        if (p->naxes == SQ_G_MAX_AXES)
            return verr(v, k, "too many axes");
        if (parse_axis(v, k, g, base, &p->axes[p->naxes]))
            return -1;
        p->naxes++;
    }
    return 0;
}

static const char *const METRICS[] = {"test_error", "test_error_soft", "best_test_error",
                                      "train_error", "train_loss", NULL};

static int parse_names(vx *v, const sq_gv *t, const char *key, char *out, size_t elem, int cap,
                       int *n, const char *const *valid)
{
    const sq_gv *g = sq_gv_get(t, key);
    if (!g)
        return 0;
    if (g->t == SQ_GV_STR && strlen(g->s) < elem) {
        snprintf(out, elem, "%s", g->s);
        *n = 1;
    } else if (is_list(g) && g->n <= cap) {
        for (int i = 0; i < g->n; i++) {
            if (g->e[i].val->t != SQ_GV_STR || strlen(g->e[i].val->s) >= elem)
                return verr(v, key, "a list of names of at most %zu characters", elem - 1);
            snprintf(out + (size_t)i * elem, elem, "%s", g->e[i].val->s);
        }
        *n = g->n;
    } else
        return verr(v, key, "a name or a list of at most %d names", cap);
    for (int i = 0; valid && i < *n; i++) {
        const char *o = out + (size_t)i * elem;
        int ok = 0;
        for (int j = 0; valid[j]; j++)
            ok |= !strcmp(o, valid[j]);
        if (!ok)
            return verr(v, key, "'%s' is not one of test_error, test_error_soft, best_test_error, "
                                "train_error, train_loss", o);
    }
    return 0;
}

static int parse_published(vx *v, const sq_gv *g, sq_gout *o)
{
    static const char *const keys[] = {"row", "col", "value", "source", NULL};
    if (!is_list(g) || g->n > 8)
        return verr(v, "published", "a list of at most 8 { row = ..., value = ..., source = ... }");
    push(v, "published");
    for (int i = 0; i < g->n; i++) {
        const sq_gv *t = g->e[i].val;
        sq_gpub *p = &o->pub[o->npub++];
        pushi(v, i + 1);
        int rc = t->t != SQ_GV_TAB ? verr(v, NULL, "a table { row, col, value, source }")
                 : check_keys(v, t, keys, NULL, 0) || get_str(v, t, "row", p->row, sizeof p->row, 1) ||
                           get_str(v, t, "col", p->col, sizeof p->col, 0) ||
                           get_str(v, t, "source", p->source, sizeof p->source, 1);
        const sq_gv *val = rc ? NULL : sq_gv_get(t, "value");
        if (!rc && (!val || val->t != SQ_GV_NUM))
            rc = verr(v, "value", "the published number (a percentage), required");
        if (!rc)
            p->value = val->num;
        pop(v);
        if (rc) {
            pop(v);
            return -1;
        }
    }
    pop(v);
    return 0;
}

static int parse_output(vx *v, const sq_gv *t, sq_gout *o)
{
    static const char *const per_kind[SQ_GO_NKINDS][10] = {
        {"kind", "id", "title", "where", "rows", "cols", "metrics", "published", "reference", NULL},
        {"kind", "id", "title", "where", "x", "lines", "reference", "metric", NULL},
        {"kind", "id", "title", "where", "lines", "metric", "reference", NULL},
        {"kind", "id", "title", "where", NULL},
        {"kind", "id", "title", "where", "layers", "epochs", NULL},
    };
    char kind[16] = "";
    memset(o, 0, sizeof *o);
    o->line = vline(v, NULL);
    if (t->t != SQ_GV_TAB)
        return verr(v, NULL, "an output is a table { kind = \"table\", id = ..., ... }");
    if (get_str(v, t, "kind", kind, sizeof kind, 1))
        return -1;
    o->kind = -1;
    for (int k = 0; k < SQ_GO_NKINDS; k++)
        if (!strcmp(kind, sq_go_kinds[k]))
            o->kind = k;
    if (o->kind < 0)
        return verr(v, "kind", "'%s' is not one of table, bits, curves, switch, hist", kind);
    if (check_keys(v, t, per_kind[o->kind], NULL, 0) ||
        get_str(v, t, "id", o->id, sizeof o->id, 1) || get_str(v, t, "title", o->title, sizeof o->title, 0) ||
        get_str(v, t, "rows", o->rows, sizeof o->rows, o->kind == SQ_GO_TABLE) ||
        get_str(v, t, "cols", o->cols, sizeof o->cols, 0) ||
        get_str(v, t, "x", o->x, sizeof o->x, 0) ||
        get_str(v, t, "lines", o->lines, sizeof o->lines,
                o->kind == SQ_GO_BITS || o->kind == SQ_GO_CURVES) ||
        get_str(v, t, "reference", o->reference, sizeof o->reference, 0) ||
        parse_names(v, t, "metrics", o->metrics[0], SQ_G_KEY, 4, &o->nmetrics, METRICS) ||
        parse_names(v, t, "metric", o->metrics[0], SQ_G_KEY, 1, &o->nmetrics, METRICS) ||
        parse_names(v, t, "layers", o->layers[0], sizeof o->layers[0], 8, &o->nlayers, NULL))
        return -1;
    if (!name_ok(o->id, LOWER DIGIT, LOWER DIGIT "_-", sizeof o->id))
        return verr(v, "id", "'%s': an id is lower-case letters, digits, _ and - (it names files)",
                    o->id);
    if (o->kind == SQ_GO_BITS && !o->x[0])
        snprintf(o->x, sizeof o->x, "bits");
    if (!o->nmetrics)
        snprintf(o->metrics[o->nmetrics++], SQ_G_KEY, "test_error");
    const sq_gv *pub = sq_gv_get(t, "published");
    if (pub && parse_published(v, pub, o))
        return -1;
    const sq_gv *w = sq_gv_get(t, "where");
    if (w) {
        if (w->t != SQ_GV_TAB || is_list(w) || w->n > 4)
            return verr(v, "where", "a table of at most 4 axis = value pairs");
        for (int i = 0; i < w->n; i++) {
            const sq_gv *g = w->e[i].val;
            char val[SQ_G_VAL];
            if (g->t == SQ_GV_STR)
                snprintf(val, sizeof val, "%s", g->s);
            else if (g->t == SQ_GV_NUM)
                sq_g_fmtnum(val, sizeof val, g->num);
            else
                return verr(v, "where", "values are labels or numbers");
            snprintf(o->where[o->nwhere].key, SQ_G_KEY, "%s", w->e[i].key);
            snprintf(o->where[o->nwhere++].val, SQ_G_VAL, "%s", val);
        }
    }
    const sq_gv *ep = sq_gv_get(t, "epochs");
    if (ep) {
        if (!is_list(ep) || ep->n > 8)
            return verr(v, "epochs", "a list of at most 8 epoch numbers (0 = before training)");
        for (int i = 0; i < ep->n; i++) {
            const sq_gv *g = ep->e[i].val;
            if (g->t != SQ_GV_NUM || g->num != floor(g->num) || g->num < 0)
                return verr(v, "epochs", "epoch numbers are whole numbers >= 0");
            o->epochs[o->nepochs++] = (int)g->num;
        }
    }
    return 0;
}

static int build(vx *v, const sq_gv *root, sq_gexp *x)
{
    static const char *const top[] = {"name", "caption", "notes", "base", "axes", "order",
                                      "profiles", "report", NULL};
    if (check_keys(v, root, top, NULL, 0) ||
        get_str(v, root, "name", x->name, sizeof x->name, 1) ||
        get_str(v, root, "caption", x->caption, sizeof x->caption, 1) ||
        get_str(v, root, "notes", x->notes, sizeof x->notes, 0))
        return -1;
    const char *base = strrchr(x->path, '/');
    base = base ? base + 1 : x->path;
    size_t bl = strlen(base);
    if (bl > 4 && !strcmp(base + bl - 4, ".lua"))
        bl -= 4;
    if (!name_ok(x->name, LOWER DIGIT, LOWER DIGIT "._-", sizeof x->name))
        return verr(v, "name", "'%s': lower-case letters, digits, . _ - (it names the run "
                               "directory)", x->name);
    if (strlen(x->name) != bl || strncmp(x->name, base, bl))
        return verr(v, "name", "'%s' differs from the file name '%.*s'; name the file after the "
                               "experiment", x->name, (int)bl, base);
    const sq_gv *b = sq_gv_get(root, "base");
    if (b) {
        push(v, "base");
        int rc = b->t != SQ_GV_TAB ? verr(v, NULL, "a table of settings")
                 : check_keys(v, b, (const char *const[]){"q", NULL}, is_setting, 0) ||
                           parse_set(v, b, &x->base);
        for (int i = 0; !rc && i < x->base.ns; i++)
            if (is_list(sq_gv_get(b, x->base.s[i].key)))
                rc = verr(v, x->base.s[i].key, "base settings are single values; lists go in axes");
        for (int i = 0; !rc && i < b->n; i++)
            if (is_list(b->e[i].val) && b->e[i].key && strcmp(b->e[i].key, "q"))
                rc = verr(v, b->e[i].key, "base settings are single values; lists go in axes");
        pop(v);
        if (rc)
            return -1;
    }
    const sq_gv *ax = sq_gv_get(root, "axes");
    if (ax) {
        if (ax->t != SQ_GV_TAB || (ax->n && is_list(ax)))
            return verr(v, "axes", "a table of named axes: { method = {...}, seed = {1, 2} }");
        push(v, "axes");
        for (int i = 0; i < ax->n; i++) {
            if (x->naxes == SQ_G_MAX_AXES || !ax->e[i].key) {
                pop(v);
                return verr(v, "axes", "at most %d named axes", SQ_G_MAX_AXES);
            }
            if (parse_axis(v, ax->e[i].key, ax->e[i].val, NULL, &x->axes[x->naxes])) {
                pop(v);
                return -1;
            }
            x->naxes++;
        }
        pop(v);
    }
    const sq_gv *pr = sq_gv_get(root, "profiles");
    if (!pr || pr->t != SQ_GV_TAB)
        return verr(v, "profiles", "required: { smoke = {...}, quick = {...}, paper = {...} }");
    push(v, "profiles");
    static const char *const profile_keys[] = {"smoke", "quick", "paper", NULL}; /* NULL-ended */
    int rc = check_keys(v, pr, profile_keys, NULL, 0);
    for (int i = 0; i < SQ_G_NPROFILES && !rc; i++) {
        const sq_gv *p = sq_gv_get(pr, sq_g_profiles[i]);
        if (!p) {
            rc = verr(v, NULL, "profile '%s' is missing; every experiment has smoke, quick and "
                               "paper", sq_g_profiles[i]);
            break;
        }
        push(v, sq_g_profiles[i]);
        rc = parse_profile(v, p, x, &x->prof[i]);
        pop(v);
    }
    pop(v);
    if (rc)
        return -1;
    if (parse_names(v, root, "order", x->order[0], SQ_G_KEY, SQ_G_MAX_AXES, &x->norder, NULL))
        return -1;
    x->order_line = x->norder ? vline(v, "order") : 0;
    const sq_gv *rep = sq_gv_get(root, "report");
    if (rep) {
        if (!is_list(rep) || rep->n > SQ_G_MAX_OUT)
            return verr(v, "report", "a list of at most %d outputs", SQ_G_MAX_OUT);
        push(v, "report");
        for (int i = 0; i < rep->n && !rc; i++) {
            pushi(v, i + 1);
            rc = parse_output(v, rep->e[i].val, &x->out[x->nout]);
            pop(v);
            for (int j = 0; j < x->nout && !rc; j++)
                if (!strcmp(x->out[j].id, x->out[x->nout].id))
                    rc = verr(v, NULL, "two outputs have the id '%s'", x->out[j].id);
            x->nout++;
        }
        pop(v);
    }
    return rc;
}

void sq_gexp_free(sq_gexp *x)
{
    if (!x)
        return;
    for (int i = 0; i < x->naxes; i++)
        axis_free(&x->axes[i]);
    for (int p = 0; p < SQ_G_NPROFILES; p++)
        for (int i = 0; i < x->prof[p].naxes; i++)
            axis_free(&x->prof[p].axes[i]);
    sq_free(x->src);
    sq_free(x);
}

int sq_gexp_load(const char *path, sq_gexp **out, sq_err *e)
{
    *out = NULL;
    sq_gv *root = NULL;
    char *src = NULL;
    int call_line = 0;
    if (sq_glua_run(path, NULL, &root, &src, &call_line, e))
        return -1;
    sq_gexp *x = sq_calloc(1, sizeof *x);
    if (!x) {
        sq_gv_free(root);
        sq_free(src);
        return sq_fail(e, "out of memory");
    }
    snprintf(x->path, sizeof x->path, "%s", path);
    x->src = src;
    x->call_line = call_line;
    vx v = {path, src, call_line, 0, {0}, {{0}}, e};
    int rc = build(&v, root, x);
    sq_gv_free(root);
    if (rc) {
        sq_gexp_free(x);
        return -1;
    }
    *out = x;
    return 0;
}
