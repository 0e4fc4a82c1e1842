/* guard.c - finding NaN/Inf in a training run and recording a divergence;
 * see guard.h. The scans are plain loops over the net's contiguous blocks:
 * train.c runs them once per epoch and when the loss is not finite, so
 * their cost never shows in a step. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "guard.h"
#include "io/yamlio.h"

/* Index of the first NaN/Inf of x[0..n), or -1. */
static long first_bad(const sq_real *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return (long)i;
    return -1;
}

static int found(sq_fault *f, const char *kind, const char *name, double v)
{
    f->kind = kind;
    snprintf(f->tensor, sizeof f->tensor, "%s", name);
    f->value = v;
    return 1;
}

const char *sq_gnum(double v, char buf[32])
{
    if (isnan(v))
        return "nan";
    snprintf(buf, 32, "%g", v);
    return buf;
}

int sq_scan_params(const sq_net *net, int which, sq_fault *f)
{
    static const char *kinds[] = {"weights", "gradient", "quantized weights"};
    for (int i = 0; i < net->n_par; i++) {
        const sq_param *p = &net->par[i];
        const sq_real *x = which == SQ_SCAN_WEIGHTS ? p->w : which == SQ_SCAN_GRADIENTS ? p->g : p->wq;
        if (!x || (which == SQ_SCAN_QUANTIZED && p->wq == p->w))
            continue;
        long k = first_bad(x, p->n);
        if (k >= 0)
            return found(f, kinds[which], p->name, x[k]);
    }
    return 0;
}

int sq_scan_state(const sq_net *net, const sq_qrun *q, sq_fault *f)
{
    if (sq_scan_params(net, SQ_SCAN_WEIGHTS, f))
        return 1;
    for (size_t i = 0; q && i < q->n_qparams; i++)
        if (!isfinite(q->qparams[i])) {
            const char *name = "?";
            for (int k = 0; k < q->n; k++) /* the slot whose block holds i */
                if (q->s[k].t.qparam && q->s[k].t.qparam <= q->qparams + i)
                    name = q->s[k].t.name;
            return found(f, "learned quantizer parameters", name, q->qparams[i]);
        }
    for (int i = 0; i < net->n_buf; i++) {
        const sq_buffer *b = &net->buf[i];
        long k = first_bad(net->buffers + b->off, b->n);
        if (k >= 0)
            return found(f, "running statistics", b->name, net->buffers[b->off + k]);
    }
    return 0;
}

int sq_scan_outputs(const sq_net *net, int nb, sq_fault *f)
{
    for (int i = 1; i < net->n_nodes; i++) {
        const sq_node *nd = &net->nodes[i];
        long k = nd->y ? first_bad(nd->y, (size_t)nb * sq_numel(nd->osh)) : -1;
        if (k >= 0)
            return found(f, "output of layer", nd->name, nd->y[k]);
    }
    return 0;
}

void sq_fault_explain_loss(const sq_net *net, const sq_qrun *q, int nb, double loss, sq_fault *f,
                           char *detail, size_t n)
{
    char l[32], v[32];
    const char *ls = sq_gnum(loss, l);
    memset(f, 0, sizeof *f);
    if (sq_scan_params(net, SQ_SCAN_GRADIENTS, f)) /* still the previous step's */
        snprintf(detail, n, "the loss is %s; NaN/Inf first appeared in the gradient of %s (%s), "
                 "computed in the previous step", ls, f->tensor, sq_gnum(f->value, v));
    else if (sq_scan_state(net, q, f))
        snprintf(detail, n, "the loss is %s; NaN/Inf first appeared in the %s of %s (%s), after "
                 "the previous step's update", ls, f->kind, f->tensor, sq_gnum(f->value, v));
    else if (sq_scan_params(net, SQ_SCAN_QUANTIZED, f))
        snprintf(detail, n, "the loss is %s; NaN/Inf first appeared in the quantized weights of "
                 "%s (%s) the quantizer computed from finite weights", ls, f->tensor,
                 sq_gnum(f->value, v));
    else if (sq_scan_outputs(net, nb, f))
        snprintf(detail, n, "the loss is %s; the weights are finite, NaN/Inf first appeared in "
                 "the output of layer %s (%s): the forward pass overflowed", ls, f->tensor,
                 sq_gnum(f->value, v));
    else
        snprintf(detail, n, "the loss is %s with finite weights and outputs (the logits are too "
                 "far apart)", ls);
}

int sq_write_diverged(const char *dir, const sq_divergence *d, const sq_fault *f, sq_err *e)
{
    char path[1100], where[SQ_NAME + 96];
    snprintf(path, sizeof path, "%s/diverged.yaml", dir);
    if (f->kind)
        snprintf(where, sizeof where, "%s %s", f->kind, f->tensor);
    else
        snprintf(where, sizeof where, "loss");
    sq_yw *w = sq_yw_open(path, e);
    if (!w)
        return -1;
    sq_yw_str(w, "status", "diverged");
    sq_yw_int(w, "epoch", d->epoch);
    sq_yw_int(w, "step", d->step);
    sq_yw_int(w, "steps_per_epoch", d->steps_per_epoch);
    sq_yw_int(w, "global_step", (long long)(d->epoch - 1) * d->steps_per_epoch + d->step);
    sq_yw_str(w, "where", where);
    sq_yw_str(w, "kind", f->kind ? f->kind : "loss");
    sq_yw_str(w, "tensor", f->kind ? f->tensor : "");
    sq_yw_num(w, "value", f->kind ? f->value : d->loss);
    sq_yw_num(w, "loss", d->loss);
    sq_yw_str(w, "detail", d->detail);
    sq_yw_num(w, "lr", d->lr);
    sq_yw_int(w, "seed", (long long)d->seed);
    sq_yw_str(w, "model", d->model);
    sq_yw_str(w, "quantizer", d->quantizer);
    sq_yw_int(w, "last_checkpoint_epoch", d->last_checkpoint_epoch);
    return sq_yw_close(w, e);
}
