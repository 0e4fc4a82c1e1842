/* net.c - building a network, its memory, forward/backward over the DAG,
 * and the softmax cross-entropy loss. */
#include "net.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int grow(void **arr, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return 0;
    int nc = *cap ? *cap * 2 : 16;
    while (nc < need)
        nc *= 2;
    void *p = sq_calloc((size_t)nc, elem);
    if (!p)
        return -1;
    if (*arr) {
        memcpy(p, *arr, (size_t)*cap * elem);
        sq_free(*arr);
    }
    *arr = p;
    *cap = nc;
    return 0;
}

static int input_setup(sq_net *net, sq_node *nd, sq_err *e) { return 0; }
static void input_noop(sq_node *nd) {}
static const sq_layer_ops input_ops = {"input", input_setup, NULL, input_noop, input_noop};

int sq_net_begin(sq_net *net, sq_shape input)
{
    memset(net, 0, sizeof *net);
    net->threads = 1;
    if (grow((void **)&net->nodes, &net->cap_nodes, 1, sizeof(sq_node)))
        return net->failed = 1, sq_fail(&net->err, "out of memory building the network");
    sq_node *nd = &net->nodes[0];
    memset(nd, 0, sizeof *nd);
    nd->ops = &input_ops;
    snprintf(nd->name, sizeof nd->name, "input");
    nd->osh = input;
    net->n_nodes = 1;
    return 0;
}

int sq_net_add(sq_net *net, const sq_layer_ops *ops, const char *name, const int *in,
               int n_in, const sq_node *hyper)
{
    if (net->failed)
        return -1;
    if (n_in < 1 || n_in > SQ_MAX_IN) {
        net->failed = 1;
        return sq_fail(&net->err, "layer %s: %d inputs (1..%d allowed)", name, n_in, SQ_MAX_IN);
    }
    if (grow((void **)&net->nodes, &net->cap_nodes, net->n_nodes + 1, sizeof(sq_node))) {
        net->failed = 1;
        return sq_fail(&net->err, "out of memory building the network");
    }
    sq_node *nd = &net->nodes[net->n_nodes];
    if (hyper)
        *nd = *hyper;
    else
        memset(nd, 0, sizeof *nd);
    nd->ops = ops;
    snprintf(nd->name, sizeof nd->name, "%s", name);
    nd->n_in = n_in;
    for (int i = 0; i < n_in; i++) {
        if (in[i] < 0 || in[i] >= net->n_nodes) {
            net->failed = 1;
            return sq_fail(&net->err, "layer %s: input %d refers to no earlier node", name, in[i]);
        }
        nd->in[i] = in[i];
        nd->ish[i] = net->nodes[in[i]].osh;
    }
    nd->param0 = net->n_par;
    nd->buf0 = net->n_buf;
    nd->n_params = nd->n_bufs = 0;
    if (ops->setup(net, nd, &net->err)) {
        net->failed = 1;
        return sq_wrap(&net->err, "layer %s (%s)", name, ops->kind);
    }
    return net->n_nodes++;
}

static int declare(sq_net *net, sq_node *nd, const char *suffix, int ndim, const int *dims,
                   char *name_out, int *ndim_out, int *dims_out, size_t *n_out, sq_err *e)
{
    size_t n = 1;
    if (ndim < 1 || ndim > 4)
        return sq_fail(e, "tensor %s.%s: %d dimensions", nd->name, suffix, ndim);
    for (int i = 0; i < ndim; i++) {
        if (dims[i] <= 0)
            return sq_fail(e, "tensor %s.%s: dimension %d is %d", nd->name, suffix, i, dims[i]);
        n *= (size_t)dims[i];
        dims_out[i] = dims[i];
    }
    snprintf(name_out, SQ_NAME, "%.*s.%.*s", SQ_NAME / 2 - 1, nd->name, SQ_NAME / 2 - 2, suffix);
    *ndim_out = ndim;
    *n_out = n;
    return 0;
}

int sq_net_param(sq_net *net, sq_node *nd, const char *suffix, int role, int ndim,
                 const int *dims, int fan_in, int fan_out, sq_err *e)
{
    if (grow((void **)&net->par, &net->cap_par, net->n_par + 1, sizeof(sq_param)))
        return sq_fail(e, "out of memory declaring parameters");
    sq_param *p = &net->par[net->n_par];
    memset(p, 0, sizeof *p);
    if (declare(net, nd, suffix, ndim, dims, p->name, &p->ndim, p->dims, &p->n, e))
        return -1;
    p->role = role;
    p->off = net->n_weights;
    p->fan_in = fan_in;
    p->fan_out = fan_out;
    p->node = net->n_nodes;
    p->quantizable = role == SQ_WEIGHT;
    p->no_decay = role != SQ_WEIGHT;
    net->n_weights += p->n;
    net->n_par++;
    nd->n_params++;
    return 0;
}

int sq_net_buffer(sq_net *net, sq_node *nd, const char *suffix, int ndim, const int *dims, sq_err *e)
{
    if (grow((void **)&net->buf, &net->cap_buf, net->n_buf + 1, sizeof(sq_buffer)))
        return sq_fail(e, "out of memory declaring buffers");
    sq_buffer *b = &net->buf[net->n_buf];
    memset(b, 0, sizeof *b);
    if (declare(net, nd, suffix, ndim, dims, b->name, &b->ndim, b->dims, &b->n, e))
        return -1;
    b->off = net->n_buffer_reals;
    net->n_buffer_reals += b->n;
    net->n_buf++;
    nd->n_bufs++;
    return 0;
}

int sq_net_finish(sq_net *net, int output, sq_err *e)
{
    if (net->failed) {
        if (e)
            *e = net->err;
        return -1;
    }
    if (output <= 0 || output >= net->n_nodes)
        return sq_fail(e, "network output %d is not a layer", output);
    net->output = output;
    net->classes = (int)sq_numel(net->nodes[output].osh);
    net->params = sq_alloc_real(net->n_weights);
    net->grads = sq_alloc_real(net->n_weights);
    net->buffers = sq_alloc_real(net->n_buffer_reals);
    net->act_off = sq_calloc((size_t)net->n_nodes + 1, sizeof(size_t));
    if (!net->params || !net->grads || !net->buffers || !net->act_off)
        return sq_fail(e, "out of memory allocating %zu parameters", net->n_weights);
    for (int i = 0; i < net->n_par; i++) {
        sq_param *p = &net->par[i];
        p->w = p->wq = net->params + p->off;
        p->g = net->grads + p->off;
    }
    for (int i = 0; i < net->n_nodes; i++) {
        sq_node *nd = &net->nodes[i];
        nd->p = net->par + nd->param0;
        nd->buf = nd->n_bufs ? net->buffers + net->buf[nd->buf0].off : NULL;
    }
    return 0;
}

void sq_net_free(sq_net *net)
{
    sq_free(net->nodes);
    sq_free(net->par);
    sq_free(net->buf);
    sq_free(net->params);
    sq_free(net->grads);
    sq_free(net->buffers);
    sq_free(net->acts);
    sq_free(net->dacts);
    sq_free(net->aux);
    sq_free(net->ws);
    sq_free(net->act_off);
    memset(net, 0, sizeof *net);
}

void sq_net_init(sq_net *net, sq_rng *rng)
{
    for (int i = 1; i < net->n_nodes; i++)
        if (net->nodes[i].ops->init)
            net->nodes[i].ops->init(&net->nodes[i], rng);
}

int sq_net_reserve(sq_net *net, int B, int train, sq_err *e)
{
    if (B <= net->B_cap && (!train || net->train_cap))
        return 0;
    size_t acts = 0, aux = 0, ws = 0;
    for (int i = 0; i < net->n_nodes; i++) {
        sq_node *nd = &net->nodes[i];
        net->act_off[i] = acts;
        acts += (size_t)B * sq_numel(nd->osh);
        aux += (size_t)B * nd->aux_per_sample;
        ws = SQ_MAX(ws, (size_t)B * nd->ws_per_sample + nd->ws_fixed);
    }
    net->act_off[net->n_nodes] = acts;
    sq_free(net->acts);
    sq_free(net->dacts);
    sq_free(net->aux);
    sq_free(net->ws);
    net->dacts = NULL;
    net->acts = sq_alloc_real(acts);
    net->aux = sq_alloc_real(aux);
    net->ws = sq_alloc_real(ws);
    if (train)
        net->dacts = sq_alloc_real(acts);
    if (!net->acts || !net->aux || !net->ws || (train && !net->dacts)) {
        net->B_cap = 0;
        return sq_fail(e, "out of memory for activations of a batch of %d (%.1f MiB)", B,
                       (double)(acts * (train ? 2 : 1) + aux + ws) * sizeof(sq_real) / 1048576.0);
    }
    net->B_cap = B;
    net->train_cap = train;
    return 0;
}

sq_real *sq_net_y(sq_net *net, int i) { return net->acts + net->act_off[i]; }
sq_real *sq_net_dy(sq_net *net, int i) { return net->dacts ? net->dacts + net->act_off[i] : NULL; }

/* Point every node at its slices of the activation arena for batch B. */
static void bind(sq_net *net, int B, int train, sq_rng *rng)
{
    size_t aux = 0;
    for (int i = 0; i < net->n_nodes; i++) {
        sq_node *nd = &net->nodes[i];
        nd->B = B;
        nd->train = train;
        nd->rng = rng;
        nd->threads = net->threads;
        nd->y = sq_net_y(net, i);
        nd->dy = train ? sq_net_dy(net, i) : NULL;
        nd->aux = net->aux + aux;
        aux += (size_t)B * nd->aux_per_sample;
        nd->ws = net->ws;
        for (int j = 0; j < nd->n_in; j++) {
            nd->x[j] = sq_net_y(net, nd->in[j]);
            nd->dx[j] = train ? sq_net_dy(net, nd->in[j]) : NULL;
        }
    }
}

const sq_real *sq_net_forward(sq_net *net, const sq_real *x, int B, int train, sq_rng *rng)
{
    if (B < 1 || B > net->B_cap || (train && !net->train_cap))
        return NULL; /* caller forgot sq_net_reserve */
    bind(net, B, train, rng);
    memcpy(net->nodes[0].y, x, (size_t)B * sq_numel(net->nodes[0].osh) * sizeof(sq_real));
    for (int i = 1; i < net->n_nodes; i++)
        net->nodes[i].ops->forward(&net->nodes[i]);
    return net->nodes[net->output].y;
}

void sq_net_backward(sq_net *net, const sq_real *dlogits)
{
    int B = net->nodes[0].B;
    if (!net->dacts)
        return; /* reserved without training buffers */
    memset(net->grads, 0, net->n_weights * sizeof(sq_real));
    /* dy slices are laid out for B_cap samples; zero the whole arena */
    memset(net->dacts, 0, net->act_off[net->n_nodes] * sizeof(sq_real));
    sq_node *out = &net->nodes[net->output];
    memcpy(out->dy, dlogits, (size_t)B * sq_numel(out->osh) * sizeof(sq_real));
    for (int i = net->output; i >= 1; i--)
        net->nodes[i].ops->backward(&net->nodes[i]);
}

size_t sq_net_param_count(const sq_net *net) { return net->n_weights; }

double sq_net_flops(const sq_net *net)
{
    double f = 0;
    for (int i = 0; i < net->n_nodes; i++)
        f += net->nodes[i].flops_per_sample;
    return f;
}

sq_param *sq_net_find_param(sq_net *net, const char *name)
{
    for (int i = 0; i < net->n_par; i++)
        if (!strcmp(net->par[i].name, name))
            return &net->par[i];
    return NULL;
}

double sq_softmax_xent(const sq_real *logits, const int *labels, int B, int C, sq_real *dlogits,
                       int *wrong)
{
    double loss = 0;
    int nw = 0;
    for (int b = 0; b < B; b++) {
        const sq_real *z = logits + (size_t)b * C;
        int arg = 0;
        double mx = z[0];
        for (int c = 1; c < C; c++)
            if (z[c] > mx)
                mx = z[c], arg = c;
        double s = 0;
        for (int c = 0; c < C; c++)
            s += exp((double)z[c] - mx);
        double lse = mx + log(s);
        int y = labels[b];
        if (y < 0 || y >= C) { /* readers validate labels; never index out of range */
            nw++;
            continue;
        }
        loss += lse - (double)z[y];
        nw += arg != y;
        if (dlogits)
            for (int c = 0; c < C; c++)
                dlogits[(size_t)b * C + c] =
                    (sq_real)((exp((double)z[c] - lse) - (c == y)) / B);
    }
    if (wrong)
        *wrong = nw;
    return loss / B;
}
