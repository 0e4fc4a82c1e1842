/* expand.c - one experiment and one profile -> the list of runs: the
 * effective axes (the profile's lists replace or add axes), their order, the
 * cross product filtered by the variants' `only`, each run's full settings
 * (engine defaults < base < profile < variants < scalar axes; `q` merged per
 * option), its directory name from the axis values, and its config hash:
 * SHA-256 over a canonical text of every setting, the quantizer's resolved
 * options and the checksums of the dataset files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/sha256.h"
#include "grid.h"
#include "quant/quant.h"

#define MAX_RUNS 5000

const char *sq_grun_get(const sq_grun *r, const char *key)
{
    for (int i = 0; i < r->ns; i++)
        if (!strcmp(r->s[i].key, key))
            return r->s[i].val;
    return NULL;
}

int sq_ggrid_axis(const sq_ggrid *g, const char *name)
{
    for (int i = 0; i < g->naxes; i++)
        if (!strcmp(g->axes[i].name, name))
            return i;
    return -1;
}

const sq_gval *sq_grun_val(const sq_ggrid *g, const sq_grun *r, int axis)
{
    return &g->axes[axis].v[r->vi[axis]];
}

void sq_ggrid_free(sq_ggrid *g)
{
    if (!g)
        return;
    sq_free(g->r);
    memset(g, 0, sizeof *g);
}

static int xerr(const sq_gexp *x, int line, sq_err *e, const char *fmt, const char *a,
                const char *b)
{
    char msg[SQ_ERR_MSG];
    snprintf(msg, sizeof msg, fmt, a, b ? b : "");
    return sq_fail(e, "%s:%d: %s", x->path, line ? line : x->call_line, msg);
}

static int axis_cmp(const void *a, const void *b)
{
    return strcmp(((const sq_gaxis *)a)->name, ((const sq_gaxis *)b)->name);
}

/* Effective axes of the profile, in the run order. */
static int effective_axes(const sq_gexp *x, const sq_gprof *p, sq_ggrid *g, sq_err *e)
{
    const sq_gaxis *all[SQ_G_MAX_AXES * 2];
    int n = 0;
    for (int i = 0; i < x->naxes; i++) {
        const sq_gaxis *a = &x->axes[i];
        for (int j = 0; j < p->naxes; j++)
            if (!strcmp(p->axes[j].name, a->name))
                a = &p->axes[j];
        all[n++] = a;
    }
    for (int j = 0; j < p->naxes; j++) {
        int found = 0;
        for (int i = 0; i < x->naxes; i++)
            found |= !strcmp(p->axes[j].name, x->axes[i].name);
        if (!found)
            all[n++] = &p->axes[j];
    }
    if (n > SQ_G_MAX_AXES)
        return xerr(x, p->line, e, "more than 8 axes%s%s", "", NULL);
    g->naxes = 0;
    if (x->norder) {
        for (int k = 0; k < x->norder; k++) {
            int hit = -1;
            for (int i = 0; i < n; i++)
                if (!strcmp(all[i]->name, x->order[k]))
                    hit = i;
            if (hit < 0)
                return xerr(x, x->order_line, e, "order: '%s' is not an axis of profile %s",
                            x->order[k], sq_g_profiles[g->profile]);
            g->axes[g->naxes++] = *all[hit];
        }
        for (int i = 0; i < n; i++) {
            int listed = 0;
            for (int k = 0; k < x->norder; k++)
                listed |= !strcmp(all[i]->name, x->order[k]);
            if (!listed)
                return xerr(x, x->order_line, e, "order: axis '%s' is missing from the list%s",
                            all[i]->name, NULL);
        }
        return 0;
    }
    /* variants (by name), then scalar axes (by name), seed last */
    for (int pass = 0; pass < 3; pass++) {
        int first = g->naxes;
        for (int i = 0; i < n; i++) {
            int seed = !strcmp(all[i]->name, "seed");
            if (pass == 0 ? all[i]->variant : pass == 1 ? !all[i]->variant && !seed : seed)
                g->axes[g->naxes++] = *all[i];
        }
        qsort(&g->axes[first], (size_t)(g->naxes - first), sizeof g->axes[0], axis_cmp);
    }
    return 0;
}

static int check_outputs(const sq_gexp *x, const sq_ggrid *g, sq_err *e)
{
    for (int k = 0; k < x->nout; k++) {
        const sq_gout *o = &x->out[k];
        const char *names[] = {o->rows, o->cols, o->x, o->lines};
        for (size_t i = 0; i < SQ_COUNT(names); i++)
            if (names[i][0] && sq_ggrid_axis(g, names[i]) < 0)
                return xerr(x, o->line, e, "report: '%s' is not an axis (profile %s)", names[i],
                            sq_g_profiles[g->profile]);
        for (int i = 0; i < o->nwhere; i++) {
            int a = sq_ggrid_axis(g, o->where[i].key), hit = 0;
            if (a < 0)
                return xerr(x, o->line, e, "report: where: '%s' is not an axis (profile %s)",
                            o->where[i].key, sq_g_profiles[g->profile]);
            for (int j = 0; j < g->axes[a].n; j++)
                hit |= !strcmp(g->axes[a].v[j].label, o->where[i].val);
            if (!hit)
                return xerr(x, o->line, e, "report: where: axis '%s' has no value '%s'",
                            o->where[i].key, o->where[i].val);
        }
    }
    return 0;
}

static void merge(sq_grun *r, const sq_gset *s)
{
    for (int i = 0; i < s->ns; i++) {
        int k = sq_gset_key_index(s->s[i].key);
        r->s[k] = s->s[i];
    }
    for (int i = 0; i < s->nq; i++) {
        int j;
        for (j = 0; j < r->nq; j++)
            if (!strcmp(r->q[j].key, s->q[i].key))
                break;
        if (j == r->nq && r->nq < SQ_G_MAX_Q)
            r->nq++;
        if (j < SQ_G_MAX_Q)
            r->q[j] = s->q[i];
    }
}

static int qcmp(const void *a, const void *b)
{
    return strcmp(((const sq_gkv *)a)->key, ((const sq_gkv *)b)->key);
}

/* Settings of the combination r->vi; 0 if `only` drops it. */
static int settle(const sq_gexp *x, const sq_gprof *p, const sq_ggrid *g, sq_grun *r)
{
    r->ns = sq_gset_nkeys();
    for (int i = 0; i < r->ns; i++) {
        snprintf(r->s[i].key, sizeof r->s[i].key, "%s", sq_gset_key(i));
        sq_gset_default(i, r->s[i].val, sizeof r->s[i].val);
        r->s[i].line = 0;
    }
    r->nq = 0;
    merge(r, &x->base);
    merge(r, &p->set);
    for (int pass = 0; pass < 2; pass++)
        for (int a = 0; a < g->naxes; a++)
            if (g->axes[a].variant == !pass)
                merge(r, &sq_grun_val(g, r, a)->set);
    qsort(r->q, (size_t)r->nq, sizeof r->q[0], qcmp);
    for (int a = 0; a < g->naxes; a++) {
        const sq_gval *v = sq_grun_val(g, r, a);
        for (int k = 0; k < v->nonly; k++) {
            const char *have = sq_grun_get(r, v->only[k].key);
            int hit = 0;
            for (int j = 0; j < v->only[k].n; j++)
                hit |= have && !strcmp(have, v->only[k].val[j]);
            if (!hit)
                return 0;
        }
    }
    return 1;
}

/* The quantizer and its options must accept the run (a file error). */
static int check_qopts(const sq_gexp *x, const sq_grun *r, sq_err *e)
{
    const char *qn = sq_grun_get(r, "quantizer");
    sq_err e2 = {{0}};
    const sq_quantizer *q;
    double vals[SQ_QMAX_OPTS];
    char items[SQ_G_MAX_Q][SQ_G_KEY + SQ_G_VAL + 2];
    const char *kv[SQ_G_MAX_Q];
    if (sq_quant_setup(NULL, 0, &e2) || !(q = sq_quant_get(qn, &e2)))
        return sq_fail(e, "%s:%d: run %s: %s", x->path, x->call_line, r->name, e2.msg);
    for (int i = 0; i < r->nq; i++) {
        snprintf(items[i], sizeof items[i], "%s=%s", r->q[i].key, r->q[i].val);
        kv[i] = items[i];
        if (sq_qopts_parse(q, &kv[i], 1, vals, &e2))
            return sq_fail(e, "%s:%d: run %s: %s", x->path,
                           r->q[i].line ? r->q[i].line : x->call_line, r->name, e2.msg);
    }
    return 0;
}

int sq_ggrid_expand(const sq_gexp *x, int profile, const char *runs_root, sq_ggrid *g, sq_err *e)
{
    memset(g, 0, sizeof *g);
    g->x = x;
    g->profile = profile;
    snprintf(g->root, sizeof g->root, "%s", runs_root);
    const sq_gprof *p = &x->prof[profile];
    if (effective_axes(x, p, g, e) || check_outputs(x, g, e))
        return -1;
    long long total = 1;
    for (int a = 0; a < g->naxes; a++)
        total *= g->axes[a].n;
    if (total > MAX_RUNS)
        return xerr(x, 0, e, "the grid has more than 5000 runs in profile %s%s",
                    sq_g_profiles[profile], NULL);
    g->r = sq_calloc((size_t)total, sizeof *g->r);
    if (!g->r)
        return sq_fail(e, "out of memory for %lld runs", total);
    int vi[SQ_G_MAX_AXES] = {0};
    for (long long c = 0; c < total; c++) {
        sq_grun *r = &g->r[g->n];
        memset(r, 0, sizeof *r);
        memcpy(r->vi, vi, sizeof vi);
        if (settle(x, p, g, r)) {
            size_t len = 0;
            for (int a = 0; a < g->naxes; a++)
                len += (size_t)snprintf(r->name + len, len < sizeof r->name ? sizeof r->name - len : 0,
                                        "%s%s", a ? "_" : "", sq_grun_val(g, r, a)->slug);
            if (!g->naxes)
                snprintf(r->name, sizeof r->name, "run");
            if (len >= sizeof r->name) {
                xerr(x, 0, e, "run name '%.60s...' is too long%s", r->name, NULL);
                goto fail;
            }
            int n = snprintf(r->dir, sizeof r->dir, "%s/%s/%s/%s", runs_root, x->name,
                             sq_g_profiles[profile], r->name);
            if (n < 0 || n >= (int)sizeof r->dir) {
                xerr(x, 0, e, "run directory under '%s' is too long%s", runs_root, NULL);
                goto fail;
            }
            r->cost = -1;
            if (check_qopts(x, r, e))
                goto fail;
            g->n++;
        }
        for (int a = g->naxes - 1; a >= 0; a--) {
            if (++vi[a] < g->axes[a].n)
                break;
            vi[a] = 0;
        }
    }
    return 0;
fail:
    sq_ggrid_free(g);
    return -1;
}

/* ---- the config hash --------------------------------------------------- */
static void add(char *buf, size_t cap, size_t *len, const char *k, const char *v)
{
    int n = snprintf(buf + *len, *len < cap ? cap - *len : 0, "%s=%s\n", k, v);
    if (n > 0)
        *len += (size_t)n;
}

int sq_grun_hash(sq_grun *r, const sq_gdata *d, sq_err *e)
{
    char text[8192];
    size_t len = 0;
    const char *qn = sq_grun_get(r, "quantizer");
    int is_float = !strcmp(qn, "float");
    add(text, sizeof text, &len, "format", "symog-grid-1");
    for (int i = 0; i < r->ns; i++) {
        /* the float network ignores the bit width and the first/last switch */
        if (is_float && (!strcmp(r->s[i].key, "bits") || !strcmp(r->s[i].key, "first_last")))
            continue;
        add(text, sizeof text, &len, r->s[i].key, r->s[i].val);
    }
    const sq_quantizer *q = sq_quant_find(qn);
    if (!q)
        return sq_fail(e, "run %s: unknown quantizer '%s'", r->name, qn);
    char items[SQ_G_MAX_Q][SQ_G_KEY + SQ_G_VAL + 2];
    const char *kv[SQ_G_MAX_Q];
    double vals[SQ_QMAX_OPTS];
    for (int i = 0; i < r->nq; i++) {
        snprintf(items[i], sizeof items[i], "%s=%s", r->q[i].key, r->q[i].val);
        kv[i] = items[i];
    }
    if (sq_qopts_parse(q, kv, r->nq, vals, e))
        return sq_wrap(e, "run %s", r->name);
    for (int i = 0; i < q->n_options; i++) {
        char k[SQ_G_KEY + 4], v[64];
        snprintf(k, sizeof k, "q.%s", q->options[i].key);
        sq_qopt_format(q, i, vals[i], v, sizeof v);
        add(text, sizeof text, &len, k, v);
    }
    add(text, sizeof text, &len, "data_sha256_train", d->sha_train);
    add(text, sizeof text, &len, "data_sha256_test", d->sha_test);
    if (len >= sizeof text)
        return sq_fail(e, "run %s: configuration text too long", r->name);
    sq_sha256 h;
    uint8_t dg[32];
    sq_sha256_init(&h);
    sq_sha256_update(&h, text, len);
    sq_sha256_final(&h, dg);
    sq_sha256_hex(dg, r->hash);
    return 0;
}

int sq_grun_argv(const sq_grun *r, char (*buf)[SQ_G_VAL + SQ_G_KEY + 8], int cap)
{
    int n = 0;
    for (int i = 0; i < r->ns && n + 2 <= cap; i++) {
        int k = sq_gset_key_index(r->s[i].key);
        snprintf(buf[n++], sizeof buf[0], "%s", sq_gset_flag(k));
        snprintf(buf[n++], sizeof buf[0], "%s", r->s[i].val);
    }
    for (int i = 0; i < r->nq && n + 2 <= cap; i++) {
        snprintf(buf[n++], sizeof buf[0], "--q-opt");
        snprintf(buf[n++], sizeof buf[0], "%s=%s", r->q[i].key, r->q[i].val);
    }
    return n;
}
