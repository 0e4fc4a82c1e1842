/* net.h - a network is a DAG of nodes kept in topological order.
 *
 * Node 0 is the input. Every node owns an output y and (when training) its
 * gradient dy, each [B, c, h, w] NCHW. Forward runs the nodes in order;
 * backward runs them in reverse and every layer *accumulates* (+=) into the
 * gradients of its inputs and parameters, so a node that feeds several
 * consumers (DenseNet) just receives the sum.
 *
 * Parameters of all layers live in one contiguous block (net->params), their
 * gradients in a second (net->grads): the optimizer, checkpoints and "quantize
 * every weight" are flat loops. Each sq_param names its slice. Layers compute
 * with p->wq, which is p->w unless a quantizer substitutes effective weights.
 * Non-trained state (batch-norm running statistics) lives in net->buffers. */
#ifndef SQ_NET_H
#define SQ_NET_H

#include "sq.h"

#define SQ_MAX_IN 4
#define SQ_NAME 64

typedef struct sq_shape {
    int c, h, w; /* per sample; a vector is {n, 1, 1} */
} sq_shape;

static inline size_t sq_numel(sq_shape s) { return (size_t)s.c * s.h * s.w; }

enum sq_param_role { SQ_WEIGHT = 0, SQ_BIAS, SQ_BN_WEIGHT, SQ_BN_BIAS };

typedef struct sq_param {
    char name[SQ_NAME]; /* PyTorch's name, e.g. "conv1.weight"            */
    int role;           /* enum sq_param_role                            */
    int ndim, dims[4];  /* PyTorch's layout: conv [out,in,kh,kw], dense [out,in] */
    size_t off, n;      /* slice of net->params / net->grads             */
    int fan_in, fan_out;
    int node;           /* owning node                                   */
    int quantizable;    /* conv and dense weights                        */
    int no_decay;       /* biases and batch-norm parameters              */
    sq_real *w, *g;     /* latent value and gradient (set by finalize)   */
    sq_real *wq;        /* what the layer computes with; == w by default */
} sq_param;

typedef struct sq_buffer {
    char name[SQ_NAME]; /* e.g. "bn1.running_mean"                       */
    int ndim, dims[4];
    size_t off, n;      /* slice of net->buffers                         */
} sq_buffer;

typedef struct sq_net sq_net;
typedef struct sq_node sq_node;

/* One layer kind. setup() runs when the node is added: it reads the input
 * shapes and hyper-parameters, sets the output shape, declares parameters
 * and buffers (sq_net_param / sq_net_buffer) and the per-sample sizes of
 * its aux (kept from forward to backward) and scratch storage. */
typedef struct sq_layer_ops {
    const char *kind;
    int (*setup)(sq_net *net, sq_node *nd, sq_err *e);
    void (*init)(sq_node *nd, sq_rng *rng);  /* params and buffers; may be NULL */
    void (*forward)(sq_node *nd);
    void (*backward)(sq_node *nd);           /* += into dx[] and p[].g   */
} sq_layer_ops;

struct sq_node {
    const sq_layer_ops *ops;
    char name[SQ_NAME];
    int in[SQ_MAX_IN], n_in;     /* producer nodes                       */
    sq_shape ish[SQ_MAX_IN];     /* their output shapes                  */
    sq_shape osh;                /* this node's output shape             */

    /* hyper-parameters; which ones matter depends on the kind */
    int out_c, k, stride, pad, bias;
    double rate;                 /* dropout probability                  */
    double eps, momentum;        /* batch norm                           */

    int param0, n_params;        /* net->par[param0 .. +n_params)        */
    int buf0, n_bufs;            /* net->buf[buf0 .. +n_bufs)            */
    size_t aux_per_sample;       /* sq_reals kept from forward to backward */
    size_t ws_per_sample, ws_fixed; /* scratch sq_reals (shared by all nodes) */
    double flops_per_sample;     /* forward multiply-adds x2, for reports */

    /* bound by the net before forward/backward */
    int B, train;
    const sq_real *x[SQ_MAX_IN];
    sq_real *dx[SQ_MAX_IN];      /* NULL: no gradient wanted for that input */
    sq_real *y, *dy;
    sq_real *aux, *ws;
    sq_param *p;                 /* this node's parameters               */
    sq_real *buf;                /* this node's buffers, contiguous      */
    sq_rng *rng;                 /* for dropout                          */
    int threads;
};

struct sq_net {
    sq_node *nodes;
    int n_nodes, cap_nodes;
    sq_param *par;
    int n_par, cap_par;
    sq_buffer *buf;
    int n_buf, cap_buf;
    size_t n_weights, n_buffer_reals;
    sq_real *params, *grads, *buffers;
    int output;                  /* logits node                          */
    int classes;

    /* activations for the batch size last reserved */
    int B_cap, train_cap;
    sq_real *acts, *dacts, *aux, *ws;
    size_t *act_off;

    int threads;
    int failed;                  /* sticky: set by the first failing add */
    sq_err err;
};

/* Building. sq_net_begin makes node 0 (the input). Adding a node returns its
 * index, or -1 with net->err set; after a failure every later add fails too,
 * so a model builder can check once at the end. */
int sq_net_begin(sq_net *net, sq_shape input);
int sq_net_add(sq_net *net, const sq_layer_ops *ops, const char *name,
               const int *in, int n_in, const sq_node *hyper);
/* Allocate the parameter/gradient/buffer blocks; call after the last add. */
int sq_net_finish(sq_net *net, int output, sq_err *e);
void sq_net_free(sq_net *net);

/* For setup(): declare a parameter or buffer of node nd. */
int sq_net_param(sq_net *net, sq_node *nd, const char *suffix, int role,
                 int ndim, const int *dims, int fan_in, int fan_out, sq_err *e);
int sq_net_buffer(sq_net *net, sq_node *nd, const char *suffix, int ndim,
                  const int *dims, sq_err *e);

/* Initialise every parameter and buffer with the layers' own init. */
void sq_net_init(sq_net *net, sq_rng *rng);

/* Make room for batches of up to B (train: also gradients and aux). */
int sq_net_reserve(sq_net *net, int B, int train, sq_err *e);

/* x: [B, input]. Returns the logits [B, classes] (owned by the net). */
const sq_real *sq_net_forward(sq_net *net, const sq_real *x, int B, int train, sq_rng *rng);
/* dlogits: [B, classes]. Zeroes and fills net->grads and every dy. */
void sq_net_backward(sq_net *net, const sq_real *dlogits);
/* Output/gradient of node i for the current batch. */
sq_real *sq_net_y(sq_net *net, int i);
sq_real *sq_net_dy(sq_net *net, int i);

size_t sq_net_param_count(const sq_net *net);
double sq_net_flops(const sq_net *net); /* forward FLOPs per sample */
sq_param *sq_net_find_param(sq_net *net, const char *name);

/* Mean softmax cross-entropy over the batch. If dlogits is non-NULL it gets
 * (softmax - onehot) / B. *wrong (optional) counts argmax != label. */
double sq_softmax_xent(const sq_real *logits, const int *labels, int B, int C,
                       sq_real *dlogits, int *wrong);

#endif
