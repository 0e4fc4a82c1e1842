/* runs.c - what the runner and the report know about runs on disk and the
 * data they need: dataset presence (checked once per dataset through the
 * engine's loader, whose message says what is missing and how to get it),
 * model FLOPs for cost estimates, a check that model and quantizer accept a
 * run before it is started, the index of finished runs by config hash, each
 * run's status (finished / to resume / to redo / reused / ...), grid.yaml,
 * result.yaml, and removing a run directory. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/data.h"
#include "grid.h"
#include "io/atomic.h"
#include "io/yamlio.h"
#include "models/models.h"
#include "quant/quant.h"

/* ---- datasets and models ---------------------------------------------- */
const sq_gdata *sq_gdata_check(sq_gdatasets *ds, const char *name)
{
    for (int i = 0; i < ds->n; i++)
        if (!strcmp(ds->d[i].name, name))
            return &ds->d[i];
    if (ds->n == (int)SQ_COUNT(ds->d))
        return NULL;
    sq_gdata *g = &ds->d[ds->n++];
    memset(g, 0, sizeof *g);
    snprintf(g->name, sizeof g->name, "%s", name);
    sq_dataset d;
    sq_err e = {{0}};
    for (int split = 1; split >= 0; split--) {
        if (sq_data_open(name, ds->data_dir, split, &d, &e)) {
            snprintf(g->why, sizeof g->why, "%s", e.msg);
            return g;
        }
        snprintf(split ? g->sha_train : g->sha_test, 65, "%s", d.sha256);
        *(split ? &g->n_train : &g->n_test) = d.n;
        g->c = d.c, g->h = d.h, g->w = d.w, g->classes = d.classes;
        sq_dataset_free(&d);
    }
    g->ok = 1;
    return g;
}

static const sq_gmodel *model_info(sq_gdatasets *ds, const char *model, const sq_gdata *d)
{
    for (int i = 0; i < ds->nm; i++) {
        const sq_gmodel *m = &ds->m[i];
        if (!strcmp(m->model, model) && m->c == d->c && m->h == d->h && m->w == d->w &&
            m->classes == d->classes)
            return m;
    }
    if (ds->nm == (int)SQ_COUNT(ds->m))
        return NULL;
    sq_gmodel *m = &ds->m[ds->nm++];
    memset(m, 0, sizeof *m);
    snprintf(m->model, sizeof m->model, "%s", model);
    m->c = d->c, m->h = d->h, m->w = d->w, m->classes = d->classes;
    sq_net net = {0};
    sq_err e = {{0}};
    if (sq_model_build(model, &net, (sq_shape){d->c, d->h, d->w}, d->classes, &e)) {
        snprintf(m->why, sizeof m->why, "%s", e.msg);
        return m;
    }
    m->flops = sq_net_flops(&net);
    m->ok = 1;
    sq_net_free(&net);
    return m;
}

static int num(const sq_grun *r, const char *key) { return atoi(sq_grun_get(r, key)); }

double sq_grun_cost(const sq_grun *r, sq_gdatasets *ds, double gflops)
{
    const sq_gdata *d = sq_gdata_check(ds, sq_grun_get(r, "data"));
    if (!d || !d->ok)
        return -1;
    const sq_gmodel *m = model_info(ds, sq_grun_get(r, "model"), d);
    if (!m || !m->ok)
        return -1;
    double ntr = d->n_train, nte = d->n_test;
    int sub = num(r, "train_subset"), tsub = num(r, "test_subset");
    if (sub > 0 && sub < ntr)
        ntr = sub;
    if (tsub > 0 && tsub < nte)
        nte = tsub;
    int evals = strcmp(sq_grun_get(r, "quantizer"), "float") ? 2 : 1;
    double flops = num(r, "epochs") * (3 * m->flops * ntr + evals * m->flops * nte) +
                   2 * m->flops * nte;
    return 3.0 + flops / ((gflops > 0 ? gflops : 25) * 1e9);
}

/* Model and quantizer accept the run: build the net for the dataset's shape
 * and initialise the quantizer on it. */
static int validate(const sq_grun *r, const sq_gdata *d, char *why, size_t n)
{
    sq_err e = {{0}};
    sq_net net = {0};
    sq_qrun qr;
    memset(&qr, 0, sizeof qr);
    sq_rng rng;
    sq_rng_seed(&rng, 1);
    double vals[SQ_QMAX_OPTS];
    char items[SQ_G_MAX_Q][SQ_G_KEY + SQ_G_VAL + 2];
    const char *kv[SQ_G_MAX_Q];
    for (int i = 0; i < r->nq; i++) {
        snprintf(items[i], sizeof items[i], "%s=%s", r->q[i].key, r->q[i].val);
        kv[i] = items[i];
    }
    const sq_quantizer *q = sq_quant_get(sq_grun_get(r, "quantizer"), &e);
    int rc = -1;
    if (!q || sq_qopts_parse(q, kv, r->nq, vals, &e) ||
        sq_model_build(sq_grun_get(r, "model"), &net, (sq_shape){d->c, d->h, d->w}, d->classes, &e))
        goto done;
    sq_net_init(&net, &rng);
    if (sq_qrun_init(&qr, q, num(r, "bits"), vals, num(r, "first_last"), &net, NULL, &rng, &e))
        goto done;
    rc = 0;
done:
    if (rc)
        snprintf(why, n, "%s", e.msg);
    sq_qrun_free(&qr);
    sq_net_free(&net);
    return rc;
}

/* ---- files of a run ---------------------------------------------------- */
static int exists(const char *dir, const char *file)
{
    char p[SQ_G_PATH + 32];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    return access(p, F_OK) == 0;
}

/* The hash recorded in dir/grid.yaml: 0 with out = "" if there is none, -1
 * (e set) if it exists but cannot be read. */
static int read_hash(const char *dir, char out[65], char *same_as, size_t n, sq_err *e)
{
    char p[SQ_G_PATH + 32];
    snprintf(p, sizeof p, "%s/grid.yaml", dir);
    out[0] = 0;
    if (same_as)
        same_as[0] = 0;
    sq_ykv *kv = NULL;
    int nk = 0;
    if (access(p, F_OK))
        return 0;
    if (sq_yaml_load(p, &kv, &nk, e))
        return sq_wrap(e, "cannot read the run's grid.yaml (delete %s to train it again)", dir);
    const char *h = sq_ykv_get(kv, nk, "hash"), *s = sq_ykv_get(kv, nk, "same_as");
    if (h && strlen(h) == 64)
        snprintf(out, 65, "%s", h);
    if (same_as && s)
        snprintf(same_as, n, "%s", s);
    sq_ykv_free(kv, nk);
    return 0;
}

int sq_grun_write_meta(const sq_ggrid *g, const sq_grun *r, const char *same_as, sq_err *e)
{
    char p[SQ_G_PATH + 32], args[64][SQ_G_VAL + SQ_G_KEY + 8];
    snprintf(p, sizeof p, "%s/grid.yaml", r->dir);
    sq_yw *w = sq_yw_open(p, e);
    if (!w)
        return -1;
    sq_yw_str(w, "format", "symog-grid-1");
    sq_yw_str(w, "experiment", g->x->name);
    sq_yw_str(w, "file", g->x->path);
    sq_yw_str(w, "profile", sq_g_profiles[g->profile]);
    sq_yw_str(w, "run", r->name);
    sq_yw_str(w, "hash", r->hash);
    if (same_as)
        sq_yw_str(w, "same_as", same_as);
    sq_yw_map_begin(w, "axes");
    for (int a = 0; a < g->naxes; a++)
        sq_yw_str(w, g->axes[a].name, sq_grun_val(g, r, a)->label);
    sq_yw_map_end(w);
    sq_yw_seq_begin(w, "argv");
    sq_yw_str(w, NULL, "train");
    int n = sq_grun_argv(r, args, 64);
    for (int i = 0; i < n; i++)
        sq_yw_str(w, NULL, args[i]);
    sq_yw_seq_end(w);
    return sq_yw_close(w, e);
}

int sq_g_rmtree(const char *path, sq_err *e)
{
    struct stat st;
    if (lstat(path, &st))
        return errno == ENOENT ? 0 : sq_fail(e, "cannot remove %s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d)
            return sq_fail(e, "cannot open %s: %s", path, strerror(errno));
        struct dirent *de;
        int rc = 0;
        while (!rc && (de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            char sub[SQ_G_PATH + 256];
            snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
            rc = sq_g_rmtree(sub, e);
        }
        closedir(d);
        if (rc)
            return -1;
        if (rmdir(path))
            return sq_fail(e, "cannot remove %s: %s", path, strerror(errno));
        return 0;
    }
    if (unlink(path))
        return sq_fail(e, "cannot remove %s: %s", path, strerror(errno));
    return 0;
}

int sq_g_clear_dir(const char *dir, const char *keep, sq_err *e)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : sq_fail(e, "cannot open %s: %s", dir, strerror(errno));
    struct dirent *de;
    int rc = 0;
    while (!rc && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
            (keep && !strcmp(de->d_name, keep)))
            continue;
        char sub[SQ_G_PATH + 256];
        snprintf(sub, sizeof sub, "%s/%s", dir, de->d_name);
        rc = sq_g_rmtree(sub, e);
    }
    closedir(d);
    return rc;
}

/* ---- the index of finished runs ----------------------------------------- */
struct sq_gindex {
    struct ent {
        char hash[65];
        char *dir;
    } *e;
    int n, cap;
};

int sq_gindex_add(sq_gindex *ix, const char *hash, const char *dir)
{
    if (ix->n == ix->cap) {
        int cap = ix->cap ? ix->cap * 2 : 64;
        struct ent *ne = sq_calloc((size_t)cap, sizeof *ne);
        if (!ne)
            return -1;
        if (ix->e)
            memcpy(ne, ix->e, (size_t)ix->n * sizeof *ne);
        sq_free(ix->e);
        ix->e = ne;
        ix->cap = cap;
    }
    ix->e[ix->n].dir = sq_strdup(dir);
    if (!ix->e[ix->n].dir)
        return -1;
    snprintf(ix->e[ix->n].hash, 65, "%s", hash);
    ix->n++;
    return 0;
}

void sq_gindex_free(sq_gindex *ix)
{
    if (!ix)
        return;
    for (int i = 0; i < ix->n; i++)
        sq_free(ix->e[i].dir);
    sq_free(ix->e);
    sq_free(ix);
}

const char *sq_gindex_find(const sq_gindex *ix, const char *hash, const char *prefer)
{
    const char *any = NULL;
    for (int i = 0; ix && i < ix->n; i++)
        if (!strcmp(ix->e[i].hash, hash)) {
            if (prefer && !strcmp(ix->e[i].dir, prefer))
                return ix->e[i].dir;
            if (!any)
                any = ix->e[i].dir;
        }
    return any;
}

/* Visit root/<a>/<b>/<c>: finished runs (grid.yaml + result.yaml). */
static int scan(sq_gindex *ix, const char *dir, int level, sq_err *e)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *de;
    int rc = 0;
    while (!rc && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char sub[SQ_G_PATH];
        if (snprintf(sub, sizeof sub, "%s/%s", dir, de->d_name) >= (int)sizeof sub)
            continue;
        struct stat st;
        if (stat(sub, &st) || !S_ISDIR(st.st_mode))
            continue;
        if (level < 2) {
            rc = scan(ix, sub, level + 1, e);
            continue;
        }
        char h[65];
        if (!exists(sub, "result.yaml"))
            continue;
        if (read_hash(sub, h, NULL, 0, e))
            rc = -1;
        else if (h[0] && sq_gindex_add(ix, h, sub))
            rc = sq_fail(e, "out of memory indexing %s", dir);
    }
    closedir(d);
    return rc;
}

int sq_gindex_build(const char *runs_root, sq_gindex **out, sq_err *e)
{
    sq_gindex *ix = sq_calloc(1, sizeof *ix);
    if (!ix)
        return sq_fail(e, "out of memory");
    if (scan(ix, runs_root, 0, e)) {
        sq_gindex_free(ix);
        return -1;
    }
    *out = ix;
    return 0;
}

/* ---- status of every run of a plan ------------------------------------- */
typedef struct vcache {
    char key[1200];
    int ok;
    char why[SQ_ERR_MSG];
} vcache;

static void vkey(const sq_grun *r, const sq_gdata *d, char *k, size_t n)
{
    size_t len = (size_t)snprintf(k, n, "%s|%dx%dx%d/%d|%s|%s|%s", sq_grun_get(r, "model"), d->c,
                                  d->h, d->w, d->classes, sq_grun_get(r, "quantizer"),
                                  sq_grun_get(r, "bits"), sq_grun_get(r, "first_last"));
    for (int i = 0; i < r->nq && len < n; i++)
        len += (size_t)snprintf(k + len, n - len, "|%s=%s", r->q[i].key, r->q[i].val);
}

int sq_gplan_status(sq_ggrid **g, int ng, sq_gdatasets *ds, const sq_gindex *ix, int check_valid,
                    sq_err *e)
{
    int cap = 0, nv = 0;
    for (int k = 0; k < ng; k++)
        cap += g[k]->n;
    vcache *vc = check_valid ? sq_calloc((size_t)(cap ? cap : 1), sizeof *vc) : NULL;
    if (check_valid && !vc)
        return sq_fail(e, "out of memory");
    for (int k = 0; k < ng; k++)
        for (int i = 0; i < g[k]->n; i++) {
            sq_grun *r = &g[k]->r[i];
            const sq_gdata *d = sq_gdata_check(ds, sq_grun_get(r, "data"));
            r->source[0] = 0;
            r->why[0] = 0;
            if (!d || !d->ok) {
                r->status = SQ_GR_SKIPPED;
                snprintf(r->why, sizeof r->why, "%s", d ? d->why : "too many datasets");
                continue;
            }
            if (check_valid) {
                char key[1200];
                vkey(r, d, key, sizeof key);
                int j;
                for (j = 0; j < nv; j++)
                    if (!strcmp(vc[j].key, key))
                        break;
                if (j == nv) {
                    snprintf(vc[j].key, sizeof vc[j].key, "%s", key);
                    vc[j].ok = !validate(r, d, vc[j].why, sizeof vc[j].why);
                    nv++;
                }
                if (!vc[j].ok) {
                    r->status = SQ_GR_INVALID;
                    snprintf(r->why, sizeof r->why, "%s", vc[j].why);
                    continue;
                }
            }
            if (sq_grun_hash(r, d, e)) {
                sq_free(vc);
                return -1;
            }
            char own[65];
            if (read_hash(r->dir, own, NULL, 0, e)) {
                sq_free(vc);
                return -1;
            }
            const char *fin = sq_gindex_find(ix, r->hash, r->dir);
            if (!strcmp(own, r->hash) && exists(r->dir, "result.yaml")) {
                r->status = SQ_GR_DONE;
                snprintf(r->source, sizeof r->source, "%s", r->dir);
                continue;
            }
            if (!strcmp(own, r->hash) && exists(r->dir, "diverged.yaml")) {
                r->status = SQ_GR_DIVERGED; /* a finding, not a failure: not retried */
                snprintf(r->source, sizeof r->source, "%s", r->dir);
                continue;
            }
            if (fin) {
                r->status = SQ_GR_REUSED;
                snprintf(r->source, sizeof r->source, "%s", fin);
                continue;
            }
            int dup = -1;
            for (int kk = 0; kk <= k && dup < 0; kk++)
                for (int ii = 0; ii < (kk == k ? i : g[kk]->n) && dup < 0; ii++) {
                    const sq_grun *o = &g[kk]->r[ii];
                    if (o->status <= SQ_GR_REDO && !strcmp(o->hash, r->hash))
                        dup = ii, r->primary_g = kk;
                }
            if (dup >= 0) {
                r->status = SQ_GR_DUP;
                r->primary_r = dup;
                continue;
            }
            struct stat st;
            if (own[0] && !strcmp(own, r->hash))
                r->status = SQ_GR_RESUME;
            else if (stat(r->dir, &st) == 0)
                r->status = SQ_GR_REDO;
            else
                r->status = SQ_GR_TODO;
        }
    sq_free(vc);
    return 0;
}

/* ---- result.yaml -------------------------------------------------------- */
int sq_gresult_load(const char *dir, sq_gresult *res, sq_err *e)
{
    char p[SQ_G_PATH + 32];
    snprintf(p, sizeof p, "%s/result.yaml", dir);
    sq_ykv *kv = NULL;
    int n = 0;
    if (sq_yaml_load(p, &kv, &n, e))
        return -1;
    static const char *const need[] = {"test_error", "test_error_soft", "best_test_error",
                                       "train_error", "epochs", "train_size", "test_size",
                                       "bits", "seconds"};
    const char *v[SQ_COUNT(need)];
    for (size_t i = 0; i < SQ_COUNT(need); i++)
        if (!(v[i] = sq_ykv_get(kv, n, need[i]))) {
            sq_ykv_free(kv, n);
            return sq_fail(e, "%s: '%s' is missing", p, need[i]);
        }
    memset(res, 0, sizeof *res);
    res->test_error = atof(v[0]);
    res->test_error_soft = atof(v[1]);
    res->best_test_error = atof(v[2]);
    res->train_error = atof(v[3]);
    res->epochs = atoi(v[4]);
    res->train_size = atoi(v[5]);
    res->test_size = atoi(v[6]);
    res->bits = atoi(v[7]);
    res->seconds = atof(v[8]);
    const char *tl = sq_ykv_get(kv, n, "train_loss");
    res->train_loss = tl ? atof(tl) : 0;
    sq_ykv_free(kv, n);
    return 0;
}

int sq_gresult_field(const sq_gresult *r, const char *name, double *v)
{
    if (!strcmp(name, "test_error"))
        *v = r->test_error;
    else if (!strcmp(name, "test_error_soft"))
        *v = r->test_error_soft;
    else if (!strcmp(name, "best_test_error"))
        *v = r->best_test_error;
    else if (!strcmp(name, "train_error"))
        *v = r->train_error;
    else if (!strcmp(name, "train_loss"))
        *v = r->train_loss;
    else
        return -1;
    return 0;
}
