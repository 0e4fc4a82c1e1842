/* state.c - the resume state of a training run, DIR/state.safetensors:
 * writing it (sq_tr_save_state; sq_tr_checkpoint unless this very point is
 * saved already) and continuing a run from it (sq_tr_resume, --resume).
 * train.c saves it after each epoch (every cfg->save_every epochs and the
 * last), inside an epoch every --save-steps batches and every
 * --save-minutes, and when a run is interrupted or stopped (stop_after).
 *
 * Besides the net's tensors (the latent weights and batch-norm statistics,
 * checkpoint.c) it holds everything the remaining steps depend on: the
 * optimizer's moments and step count, the quantizer's state block, learned
 * parameters, diagnostics and random stream, the batch-norm counter, the
 * metrics so far, and inside an epoch the position, the epoch's random
 * stream, its running loss and error count and the diagnostics' mode-switch
 * reference. So --resume from any checkpoint ends with exactly the bytes of
 * an uninterrupted run (with one thread; see docs/faults.md for what varies
 * with threads). The file is written atomically (io/atomic.h): a run killed
 * while saving keeps the previous complete state.
 *
 * Its metadata hold the format, epochs done, the step inside the epoch, the
 * optimizer's step count, seed, model, threads and "config": the settings
 * a resumed run must share, one "key=value" per line (config_text). Resume
 * refuses a state of another model or one whose config differs in a line,
 * naming the first (threads, paths and progress may differ; other threads
 * only give a note that the result will not be bit-identical), checks the
 * epoch and step against this run's --epochs and batches per epoch, and
 * that the loaded weights are finite (sq_tr_check_loaded, train.c). */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "run.h"

/* Inside an epoch the mode-switch reference of the diagnostics (Q(w) at the
 * last epoch end) is no longer Q(w); keep it, all slots in one tensor. */
static int save_prev(run *r, sq_ckpt_extra *x, sq_err *e)
{
    sq_qrun *q = &r->q;
    size_t n = 0;
    for (int k = 0; k < q->n; k++) {
        if (!q->s[k].prev)
            return 0; /* none yet: a resumed run recomputes it */
        n += q->s[k].t.n;
    }
    float *all = n ? sq_malloc(n * sizeof(float)) : NULL;
    if (n && !all)
        return sq_fail(e, "out of memory saving the diagnostics reference");
    size_t at = 0;
    for (int k = 0; k < q->n; k++) {
        memcpy(all + at, q->s[k].prev, q->s[k].t.n * sizeof(float));
        at += q->s[k].t.n;
    }
    int64_t shape = (int64_t)n;
    int rc = n ? sq_ckpt_extra_add(x, "quant.prev", "F32", 1, &shape, all, e) : 0;
    sq_free(all);
    return rc;
}

static void restore_prev(run *r, const sq_st_file *f)
{
    sq_qrun *q = &r->q;
    const sq_st_tensor *t = sq_st_find(f, "quant.prev");
    size_t n = 0;
    for (int k = 0; k < q->n; k++)
        n += q->s[k].prev ? q->s[k].t.n : 0;
    if (!t || strcmp(t->dtype, "F32") || t->nbytes != n * sizeof(float))
        return;
    const float *src = t->data;
    for (int k = 0; k < q->n; k++) {
        memcpy(q->s[k].prev, src, q->s[k].t.n * sizeof(float));
        src += q->s[k].t.n;
    }
}

/* The quantizer's state block, learned parameters and diagnostics. */
static int save_quant_state(run *r, sq_ckpt_extra *x, sq_err *e)
{
    sq_qrun *q = &r->q;
    int64_t sb = (int64_t)q->state_bytes, nq = (int64_t)q->n_qparams;
    int64_t dn[3] = {q->diag_n, q->n, SQ_QDIAG_COLS}, hn[3] = {q->diag_n, q->n, SQ_QHIST_BINS};
    if (sb && sq_ckpt_extra_add(x, "quant.state", "U8", 1, &sb, q->state, e))
        return -1;
    if (nq && sq_ckpt_extra_add(x, "quant.qparams", "F32", 1, &nq, q->qparams, e))
        return -1;
    if (q->diag_n && (sq_ckpt_extra_add(x, "quant.diag", "F64", 3, dn, q->diag, e) ||
                      sq_ckpt_extra_add(x, "quant.hist", "F64", 3, hn, q->hist, e)))
        return -1;
    return 0;
}

/* The settings a resumed run must share with the one that wrote the state,
 * one "key=value" per line (threads, paths and progress may differ). */
static void config_text(const run *r, char *buf, size_t n)
{
    const sq_train_cfg *c = r->cfg;
    size_t at = (size_t)snprintf(buf, n,
        "model=%s\ndata=%s\ndata_sha256=%s\nepochs=%d\nbatch=%d\nlr=%.17g\noptim=%s\n"
        "momentum=%.17g\nwd=%.17g\nschedule=%s\nseed=%llu\naugment=%d\ntrain-subset=%d\n"
        "init=%s\nquantizer=%s\nbits=%d\nfirst-last=%d\n",
        c->model, c->data, r->train.sha256, c->epochs, c->batch, c->lr, c->optim, c->momentum,
        c->weight_decay, c->schedule, (unsigned long long)c->seed, c->augment, c->train_subset,
        c->init, c->quantizer, c->bits, c->first_last);
    for (int i = 0; r->q.q && i < r->q.q->n_options && at < n; i++) {
        char v[64];
        sq_qopt_format(r->q.q, i, r->q.opt[i], v, sizeof v);
        at += (size_t)snprintf(buf + at, n - at, "q-opt %s=%s\n", r->q.q->options[i].key, v);
    }
}

/* Refuse to resume a state written with other settings; names the first
 * that differs. */
static int same_config(const char *saved, const char *now, const char *path, sq_err *e)
{
    for (const char *l = saved; *l;) {
        const char *nl = strchr(l, '\n'), *eq = strchr(l, '=');
        size_t len = nl ? (size_t)(nl - l) : strlen(l);
        if (eq && eq < l + len) {
            size_t klen = (size_t)(eq - l) + 1;
            const char *m = now;
            while (*m && !(strncmp(m, l, klen) == 0 && (m == now || m[-1] == '\n')))
                m = strchr(m, '\n') ? strchr(m, '\n') + 1 : m + strlen(m);
            size_t mlen = *m ? (strchr(m, '\n') ? (size_t)(strchr(m, '\n') - m) : strlen(m)) : 0;
            if (mlen != len || strncmp(m, l, len))
                return sq_fail(e, "--resume: %s was written by a run with %.*s, this run has "
                                  "%.*s; continue it with the same settings, or start over with "
                                  "another --out (or delete the directory)", path, (int)len, l,
                               (int)mlen, mlen ? m : "(no such setting)");
        }
        l += len + (nl != NULL);
    }
    return 0;
}

int sq_tr_save_state(run *r, sq_err *e)
{
    char path[1100], ep[32], t[32], seed[32], step[32], threads[32], config[4096];
    path_in(path, sizeof path, r->cfg->out, "state.safetensors");
    sq_ckpt_extra x = {0};
    int rc = -1;
    int64_t n_rng = (int64_t)sizeof r->qrng.s;
    int64_t shape[1] = {(int64_t)r->opt.n};
    const char *rt = sizeof(sq_real) == 4 ? "F32" : "F64";
    /* the latent weights are the net's own tensors; the moments go beside them */
    if (r->opt.m && sq_ckpt_extra_add(&x, "optim.m", rt, 1, shape, r->opt.m, e))
        goto done;
    if (r->opt.v && sq_ckpt_extra_add(&x, "optim.v", rt, 1, shape, r->opt.v, e))
        goto done;
    if (r->epochs_done) {
        int64_t ms[2] = {r->epochs_done, M_COLS};
        if (sq_ckpt_extra_add(&x, "metrics", "F64", 2, ms, r->metrics, e))
            goto done;
    }
    if (save_quant_state(r, &x, e) ||
        sq_ckpt_extra_add(&x, "quant.rng", "U8", 1, &n_rng, r->qrng.s, e))
        goto done;
    if (r->ep_step > 0) { /* inside an epoch: where, and what the epoch has drawn and summed */
        double acc[2] = {r->ep_loss, (double)r->ep_wrong};
        int64_t two = 2;
        if (sq_ckpt_extra_add(&x, "train.epoch_rng", "U8", 1, &n_rng, r->ep_rng.s, e) ||
            sq_ckpt_extra_add(&x, "train.epoch_acc", "F64", 1, &two, acc, e) ||
            save_prev(r, &x, e))
            goto done;
    }
    snprintf(ep, sizeof ep, "%d", r->epochs_done);
    snprintf(step, sizeof step, "%d", r->ep_step);
    snprintf(t, sizeof t, "%lld", r->opt.t);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)r->cfg->seed);
    snprintf(threads, sizeof threads, "%d", r->cfg->threads);
    config_text(r, config, sizeof config);
    const char *meta[] = {"format", "symog-train-state-1", "epochs_done", ep, "epoch_step", step,
                          "optim_t", t, "seed", seed, "model", r->cfg->model, "config", config,
                          "threads", threads, NULL};
    rc = sq_ckpt_save(path, &r->net, r->bn_batches, &x, meta, e);
    if (rc == 0) {
        r->last_save = sq_now();
        r->saved_at = (long long)r->epochs_done * (r->nbatches + 1) + r->ep_step;
    }
done:
    sq_ckpt_extra_free(&x);
    return rc;
}

/* Save the state unless this very point was saved already. */
int sq_tr_checkpoint(run *r, sq_err *e)
{
    if (r->saved_at == (long long)r->epochs_done * (r->nbatches + 1) + r->ep_step)
        return 0;
    return sq_tr_save_state(r, e);
}

static int copy_state(const sq_st_file *f, const char *name, sq_real *dst, size_t n,
                      const char *path, sq_err *e)
{
    const sq_st_tensor *t = sq_st_find(f, name);
    if (!t || t->nbytes != n * sizeof(sq_real))
        return sq_fail(e, "%s: tensor %s missing or of the wrong size; delete the run "
                          "directory to start over", path, name);
    memcpy(dst, t->data, t->nbytes);
    return 0;
}

static int restore_quant(run *r, const sq_st_file *f, const char *path, sq_err *e)
{
    sq_qrun *q = &r->q;
    const sq_st_tensor *st = sq_st_find(f, "quant.state"), *qp = sq_st_find(f, "quant.qparams");
    const sq_st_tensor *dg = sq_st_find(f, "quant.diag"), *hs = sq_st_find(f, "quant.hist");
    int diag_n = dg ? (int)dg->shape[0] : 0;
    if ((q->state_bytes && !st) || (q->n_qparams && !qp) ||
        (dg && (!hs || dg->ndim != 3 || dg->shape[1] != q->n || dg->shape[2] != SQ_QDIAG_COLS ||
                hs->nbytes != (size_t)diag_n * q->n * SQ_QHIST_BINS * sizeof(double))))
        return sq_fail(e, "%s: quantizer state missing or shaped for another run; delete the "
                          "run directory to start over", path);
    if (sq_qrun_restore(q, st ? st->data : NULL, st ? st->nbytes : 0, qp ? qp->data : NULL,
                        qp ? qp->nbytes / sizeof(float) : 0, dg ? dg->data : NULL,
                        hs ? hs->data : NULL, diag_n, e))
        return sq_wrap(e, "%s", path);
    return 0;
}

/* A whole decimal integer (state metadata are outside input too). */
static int meta_int(const char *s, long long *v)
{
    char *end;
    errno = 0;
    *v = strtoll(s, &end, 10);
    return errno || end == s || *end ? -1 : 0;
}

/* Restore a run from its state file; returns 1 if there was none. */
int sq_tr_resume(run *r, sq_err *e)
{
    char path[1100];
    path_in(path, sizeof path, r->cfg->out, "state.safetensors");
    if (access(path, F_OK) != 0)
        return 1;
    sq_st_file f = {0};
    if (sq_ckpt_load_net(path, &r->net, &r->bn_batches, &f, e))
        return sq_wrap(e, "--resume");
    int rc = -1;
    const char *ep = sq_st_meta(&f, "epochs_done"), *t = sq_st_meta(&f, "optim_t");
    const char *model = sq_st_meta(&f, "model"), *step = sq_st_meta(&f, "epoch_step");
    const char *config = sq_st_meta(&f, "config");
    long long v_ep, v_t, v_step = 0;
    char now[4096];
    if (!ep || !t || !model || strcmp(model, r->cfg->model) || meta_int(ep, &v_ep) ||
        meta_int(t, &v_t) || (step && meta_int(step, &v_step))) {
        sq_fail(e, "%s was not written by a %s run of this tool", path, r->cfg->model);
        goto done;
    }
    config_text(r, now, sizeof now);
    if (config && same_config(config, now, path, e))
        goto done;
    const char *th = sq_st_meta(&f, "threads");
    if (th && atoi(th) != r->cfg->threads)
        sq_log(SQ_LOG_INFO, "note: resuming with --threads %d, the state was written with %s: "
                            "the result will not be bit-identical to an uninterrupted run\n",
               r->cfg->threads, th);
    if (v_ep < 0 || v_ep > r->cfg->epochs || v_ep > 1000 || v_t < 0) {
        sq_fail(e, "%s: %lld epochs done, but the run has %d", path, v_ep, r->cfg->epochs);
        goto done;
    }
    if (v_step < 0 || v_step >= r->nbatches || (v_step > 0 && v_ep == r->cfg->epochs)) {
        sq_fail(e, "%s: %lld batches into epoch %lld, but an epoch has %d; was it written with "
                   "another --batch or --train-subset?", path, v_step, v_ep + 1, r->nbatches);
        goto done;
    }
    r->epochs_done = (int)v_ep;
    r->opt.t = v_t;
    r->ep_step = (int)v_step;
    if (r->ep_step > 0) {
        const sq_st_tensor *rng = sq_st_find(&f, "train.epoch_rng");
        const sq_st_tensor *acc = sq_st_find(&f, "train.epoch_acc");
        if (!rng || rng->nbytes != sizeof r->ep_rng.s || !acc || strcmp(acc->dtype, "F64") ||
            acc->nbytes != 2 * sizeof(double)) {
            sq_fail(e, "%s: the position inside epoch %d is incomplete; delete the run directory "
                       "to start over", path, r->epochs_done + 1);
            goto done;
        }
        memcpy(r->ep_rng.s, rng->data, sizeof r->ep_rng.s);
        const double *a = acc->data;
        r->ep_loss = a[0];
        r->ep_wrong = (long)a[1];
    }
    if ((r->opt.m && copy_state(&f, "optim.m", r->opt.m, r->opt.n, path, e)) ||
        (r->opt.v && copy_state(&f, "optim.v", r->opt.v, r->opt.n, path, e)))
        goto done;
    if (r->epochs_done) {
        const sq_st_tensor *m = sq_st_find(&f, "metrics");
        if (!m || m->nbytes != sizeof(double) * M_COLS * (size_t)r->epochs_done) {
            sq_fail(e, "%s: metrics missing or inconsistent", path);
            goto done;
        }
        memcpy(r->metrics, m->data, m->nbytes);
    }
    if (restore_quant(r, &f, path, e))
        goto done;
    const sq_st_tensor *qr = sq_st_find(&f, "quant.rng");
    if (qr && qr->nbytes == sizeof r->qrng.s) /* after restore_quant: its forward may draw */
        memcpy(r->qrng.s, qr->data, sizeof r->qrng.s);
    if (r->ep_step > 0)
        restore_prev(r, &f);
    if (sq_tr_check_loaded(r, path, e))
        goto done;
    r->from_state = 1;
    r->saved_at = (long long)r->epochs_done * (r->nbatches + 1) + r->ep_step;
    if (r->ep_step)
        sq_log(SQ_LOG_INFO, "resuming %s in epoch %d after batch %d of %d\n", r->cfg->out,
               r->epochs_done + 1, r->ep_step, r->nbatches);
    else
        sq_log(SQ_LOG_INFO, "resuming %s after epoch %d\n", r->cfg->out, r->epochs_done);
    rc = 0;
done:
    sq_st_free(&f);
    return rc;
}
