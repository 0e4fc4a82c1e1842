/* checkpoint.c - save and load a net's tensors by PyTorch name. */
#include <stdio.h>
#include <string.h>

#include "checkpoint.h"

int sq_ckpt_extra_add(sq_ckpt_extra *x, const char *name, const char *dtype, int ndim,
                      const int64_t *shape, const void *data, sq_err *e)
{
    if (x->n == x->cap) {
        int nc = x->cap ? 2 * x->cap : 16;
        sq_st_tensor *t = sq_calloc((size_t)nc, sizeof *t);
        if (!t)
            return sq_fail(e, "out of memory for checkpoint tensors");
        if (x->t)
            memcpy(t, x->t, (size_t)x->n * sizeof *t), sq_free(x->t);
        x->t = t, x->cap = nc;
    }
    sq_st_tensor *t = &x->t[x->n];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    snprintf(t->dtype, sizeof t->dtype, "%s", dtype);
    t->ndim = ndim;
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i], n *= (size_t)shape[i];
    t->nbytes = n * sq_st_dtype_size(dtype);
    t->data = sq_malloc(t->nbytes);
    if (!t->data)
        return sq_fail(e, "out of memory for checkpoint tensor %s", name);
    memcpy(t->data, data, t->nbytes);
    x->n++;
    return 0;
}

void sq_ckpt_extra_free(sq_ckpt_extra *x)
{
    for (int i = 0; i < x->n; i++)
        sq_free(x->t[i].data);
    sq_free(x->t);
    memset(x, 0, sizeof *x);
}

/* Append a net tensor (sq_real) as F32. */
static int add_real(sq_ckpt_extra *x, const char *name, int ndim, const int *dims,
                    const sq_real *v, size_t n, sq_err *e)
{
    int64_t shape[4];
    for (int i = 0; i < ndim; i++)
        shape[i] = dims[i];
    float *tmp = sq_malloc(n * sizeof(float));
    if (!tmp)
        return sq_fail(e, "out of memory saving %s", name);
    for (size_t i = 0; i < n; i++)
        tmp[i] = (float)v[i];
    int rc = sq_ckpt_extra_add(x, name, "F32", ndim, shape, tmp, e);
    sq_free(tmp);
    return rc;
}

int sq_ckpt_save(const char *path, const sq_net *net, long long bn_batches,
                 const sq_ckpt_extra *extra, const char *const *meta, sq_err *e)
{
    sq_ckpt_extra all = {0};
    int rc = -1;
    for (int i = 0; i < net->n_par; i++) {
        const sq_param *p = &net->par[i];
        if (add_real(&all, p->name, p->ndim, p->dims, p->w, p->n, e))
            goto done;
    }
    for (int i = 0; i < net->n_buf; i++) {
        const sq_buffer *b = &net->buf[i];
        if (add_real(&all, b->name, b->ndim, b->dims, net->buffers + b->off, b->n, e))
            goto done;
        /* batch norm's third buffer in torch: after running_var */
        const char *suffix = strrchr(b->name, '.');
        if (suffix && !strcmp(suffix, ".running_var")) {
            char name[SQ_NAME + 32];
            snprintf(name, sizeof name, "%.*s.num_batches_tracked", (int)(suffix - b->name),
                     b->name);
            int64_t v = bn_batches;
            if (sq_ckpt_extra_add(&all, name, "I64", 0, NULL, &v, e))
                goto done;
        }
    }
    for (int i = 0; extra && i < extra->n; i++) {
        const sq_st_tensor *t = &extra->t[i];
        if (sq_ckpt_extra_add(&all, t->name, t->dtype, t->ndim, t->shape, t->data, e))
            goto done;
    }
    rc = sq_st_write(path, all.t, all.n, meta, e);
done:
    sq_ckpt_extra_free(&all);
    return rc;
}

static int load_into(const sq_st_file *f, const char *path, const char *name, int ndim,
                     const int *dims, sq_real *dst, size_t n, sq_err *e)
{
    const sq_st_tensor *t = sq_st_find(f, name);
    if (!t)
        return sq_fail(e, "%s has no tensor '%s': was it written for another model?", path, name);
    int ok = t->ndim == ndim && !strcmp(t->dtype, "F32");
    for (int i = 0; ok && i < ndim; i++)
        ok = t->shape[i] == dims[i];
    if (!ok)
        return sq_fail(e, "%s: tensor '%s' has dtype %s and %d dims, the model needs F32 with %d",
                       path, name, t->dtype, t->ndim, ndim);
    const float *src = t->data;
    for (size_t i = 0; i < n; i++)
        dst[i] = src[i];
    return 0;
}

int sq_ckpt_load_net(const char *path, sq_net *net, long long *bn_batches, sq_st_file *keep,
                     sq_err *e)
{
    sq_st_file f = {0};
    if (sq_st_read(path, &f, e))
        return -1;
    int rc = -1;
    for (int i = 0; i < net->n_par; i++) {
        sq_param *p = &net->par[i];
        if (load_into(&f, path, p->name, p->ndim, p->dims, p->w, p->n, e))
            goto done;
    }
    for (int i = 0; i < net->n_buf; i++) {
        sq_buffer *b = &net->buf[i];
        if (load_into(&f, path, b->name, b->ndim, b->dims, net->buffers + b->off, b->n, e))
            goto done;
    }
    if (bn_batches) {
        *bn_batches = 0;
        for (int i = 0; i < f.n; i++)
            if (strstr(f.t[i].name, ".num_batches_tracked") && !strcmp(f.t[i].dtype, "I64")) {
                *bn_batches = *(const int64_t *)f.t[i].data;
                break;
            }
    }
    rc = 0;
done:
    if (keep && rc == 0)
        *keep = f;
    else
        sq_st_free(&f);
    return rc;
}
