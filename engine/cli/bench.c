/* bench.c - `symog bench`: training and inference throughput on synthetic
 * batches (no dataset needed), per model and thread count, the peak
 * resident memory of each, and a per-layer table that puts every
 * convolution's GFLOP/s beside OpenBLAS sgemm's on the same shapes.
 *
 * A benchmark, not a test: numbers depend on the machine and its load, so
 * compare ratios taken in one run. The layer table is built for that: each
 * convolution and the GEMMs of its shapes are timed alternately, and the
 * best of the repetitions is kept for both, so a busy neighbour slows both
 * sides alike. Writes OUT/bench.csv, OUT/layers.csv and OUT/bench.md.
 *
 * Peak memory: the kernel's high-water mark of this process (VmHWM), reset
 * before each model through /proc/self/clear_refs; where that is not
 * possible, getrusage's ru_maxrss (the peak since the process started). */
#define _DEFAULT_SOURCE /* getloadavg */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cli.h"
#include "core/gemm.h"
#include "io/atomic.h"
#include "layers/layers.h"
#include "models/models.h"
#include "opts.h"
#include "optim/optim.h"

#define MAX_ROWS 64
#define MAX_LAYERS 160

typedef struct bench_row {
    char model[32];
    int threads, batch;
    double train_ips, train_best_ips, train_gflops, infer_ips, infer_gflops, peak_mib;
    double cpu_share; /* CPU time / (wall time * threads) while training */
} bench_row;

/* One convolution: the shape, its time forward and backward, and sgemm's
 * on the GEMMs the layer performs for the whole batch:
 *   forward  Y[O, B*P] = W[O, K] col[K, B*P]
 *   dW       dW[O, K] = dY[O, B*P] col[K, B*P]^T
 *   dX       dcol[K, B*P] = W[O, K]^T dY[O, B*P] */
typedef struct layer_row {
    char model[32], name[SQ_NAME];
    int threads, batch, C, H, W, O, k, s, Ho, Wo, M, N, K;
    double fwd_conv, fwd_gemm, bwd_conv, bwd_gemm; /* GFLOP/s */
} layer_row;

/* ---- timing ------------------------------------------------------------ */

static double cpu_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static double g_cpu, g_wall; /* of the last time_calls, warm-up excluded */

/* Call fn repeatedly for about `seconds` (at least `min_reps` times) after
 * a warm-up; *mean and *best get seconds per call. */
static void time_calls(void (*fn)(void *), void *ctx, double seconds, int min_reps,
                       double *mean, double *best)
{
    fn(ctx);
    int n = 0;
    double c0 = cpu_seconds(), t0 = sq_now(), t = 0, b = 1e30;
    do {
        double s = sq_now();
        fn(ctx);
        b = SQ_MIN(b, sq_now() - s);
        n++;
        t = sq_now() - t0;
    } while (t < seconds || n < min_reps);
    g_cpu = cpu_seconds() - c0;
    g_wall = t;
    *mean = t / n;
    *best = b;
}

/* ---- memory -------------------------------------------------------------- */

static int reset_peak(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f)
        return -1;
    int ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* Peak resident MiB since the last reset_peak (or since the start). */
static double peak_mib(int was_reset)
{
    FILE *f = was_reset ? fopen("/proc/self/status", "r") : NULL;
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6))
            kb = atol(line + 6);
    if (f)
        fclose(f);
    if (kb < 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        kb = ru.ru_maxrss;
    }
    return kb / 1024.0;
}

/* ---- one model --------------------------------------------------------- */

typedef struct bctx {
    sq_net *net;
    sq_optim *opt;
    sq_real *x, *dl;
    int *y, B;
    sq_rng rng;
    sq_node *nd;                   /* layer timing: the node               */
    const layer_row *row;          /* layer timing: its GEMM shapes        */
    const sq_real *ga, *gb;        /* layer timing: GEMM operands          */
    sq_real *gc, *gd;
} bctx;

static void train_step(void *p)
{
    bctx *c = p;
    const sq_real *z = sq_net_forward(c->net, c->x, c->B, 1, &c->rng);
    sq_softmax_xent(z, c->y, c->B, c->net->classes, c->dl, NULL);
    sq_net_backward(c->net, c->dl);
    sq_optim_step(c->opt, c->net, 0.001);
}

static void infer_step(void *p)
{
    bctx *c = p;
    sq_net_forward(c->net, c->x, c->B, 0, NULL);
}

static int setup_model(bctx *c, sq_net *net, sq_optim *opt, const char *model, sq_shape in,
                       int B, int threads, sq_err *e)
{
    sq_optim_cfg oc;
    memset(c, 0, sizeof *c);
    if (sq_model_build(model, net, in, 10, e) || sq_net_reserve(net, B, 1, e))
        return -1;
    net->threads = threads;
    sq_rng_seed(&c->rng, 1);
    sq_net_init(net, &c->rng);
    sq_optim_defaults(&oc, SQ_SGD);
    if (sq_optim_init(opt, &oc, net, e))
        return -1;
    size_t nx = (size_t)B * sq_numel(in);
    c->x = sq_alloc_real(nx);
    c->dl = sq_alloc_real((size_t)B * 10);
    c->y = sq_calloc((size_t)B, sizeof(int));
    if (!c->x || !c->dl || !c->y)
        return sq_fail(e, "out of memory");
    for (size_t i = 0; i < nx; i++)
        c->x[i] = (sq_real)sq_rng_normal(&c->rng);
    for (int i = 0; i < B; i++)
        c->y[i] = (int)sq_rng_below(&c->rng, 10);
    c->net = net, c->opt = opt, c->B = B;
    return 0;
}

static void free_model(bctx *c, sq_net *net, sq_optim *opt)
{
    sq_free(c->x);
    sq_free(c->dl);
    sq_free(c->y);
    sq_optim_free(opt);
    sq_net_free(net);
}

static int bench_one(const char *model, sq_shape in, int B, int threads, double secs,
                     bench_row *row, sq_err *e)
{
    sq_net net = {0};
    sq_optim opt = {0};
    bctx c;
    int reset = reset_peak() == 0, rc = -1;
    openblas_set_num_threads(threads);
    if (setup_model(&c, &net, &opt, model, in, B, threads, e))
        goto done;
    double fl = sq_net_flops(&net), tt, tb, ti, tib;
    time_calls(train_step, &c, secs, 2, &tt, &tb);
    row->cpu_share = g_cpu / (g_wall * threads);
    time_calls(infer_step, &c, secs / 2, 3, &ti, &tib);
    snprintf(row->model, sizeof row->model, "%s", model);
    row->threads = threads, row->batch = B;
    row->train_ips = B / tt;
    row->train_best_ips = B / tb;
    row->train_gflops = 3 * fl * B / tt / 1e9; /* forward + two backward GEMMs */
    row->infer_ips = B / ti;
    row->infer_gflops = fl * B / ti / 1e9;
    row->peak_mib = peak_mib(reset);
    rc = 0;
done:
    free_model(&c, &net, &opt);
    return rc;
}

/* ---- the convolutions of one model ------------------------------------- */

static void node_fwd(void *p)
{
    bctx *c = p;
    c->nd->ops->forward(c->nd);
}

static void node_bwd(void *p)
{
    bctx *c = p;
    c->nd->ops->backward(c->nd);
}

static void gemm_fwd(void *p)
{
    bctx *c = p;
    const layer_row *r = c->row;
    sq_gemm(0, 0, r->M, r->N, r->K, 1, c->ga, r->K, c->gb, r->N, 0, c->gc, r->N);
}

static void gemm_bwd(void *p)
{
    bctx *c = p;
    const layer_row *r = c->row;
    /* dW = dY col^T, then dcol = W^T dY */
    sq_gemm(0, 1, r->M, r->K, r->N, 1, c->gc, r->N, c->gb, r->N, 1, c->gd, r->K);
    sq_gemm(1, 0, r->K, r->N, r->M, 1, c->ga, r->K, c->gc, r->N, 0, (sq_real *)c->gb, r->N);
}

/* Best-of-reps GFLOP/s of a and b, timed alternately (one warm-up each,
 * then rounds of a, b, a, b, ... for about `secs` in all). */
static void alternate(void (*a)(void *), void (*b)(void *), bctx *c, double flops, double secs,
                      double *ga, double *gb)
{
    double ta = 1e30, tb = 1e30, t0 = sq_now();
    a(c);
    b(c);
    for (int round = 0; round < 3 || (round < 12 && sq_now() - t0 < secs); round++) {
        double s = sq_now();
        a(c);
        ta = SQ_MIN(ta, sq_now() - s);
        s = sq_now();
        b(c);
        tb = SQ_MIN(tb, sq_now() - s);
    }
    *ga = flops / ta / 1e9;
    *gb = flops / tb / 1e9;
}

static int bench_layers(const char *model, sq_shape in, int B, int threads, double secs,
                        layer_row *rows, int *n, sq_err *e)
{
    sq_net net = {0};
    sq_optim opt = {0};
    bctx c;
    sq_real *ga = NULL, *gb = NULL, *gc = NULL, *gd = NULL;
    int rc = -1;
    openblas_set_num_threads(threads);
    if (setup_model(&c, &net, &opt, model, in, B, threads, e))
        goto done;
    train_step(&c); /* every y and dy now holds a realistic value */
    for (int i = 1; i < net.n_nodes && *n < MAX_LAYERS; i++) {
        sq_node *nd = &net.nodes[i];
        if (nd->ops != &sq_conv2d_ops)
            continue;
        layer_row *r = &rows[(*n)++];
        memset(r, 0, sizeof *r);
        snprintf(r->model, sizeof r->model, "%s", model);
        snprintf(r->name, sizeof r->name, "%s", nd->name);
        r->threads = threads, r->batch = B;
        r->C = nd->ish[0].c, r->H = nd->ish[0].h, r->W = nd->ish[0].w;
        r->O = nd->osh.c, r->Ho = nd->osh.h, r->Wo = nd->osh.w, r->k = nd->k, r->s = nd->stride;
        r->M = r->O, r->N = B * r->Ho * r->Wo, r->K = r->C * r->k * r->k;
        size_t na = (size_t)r->M * r->K, nb = (size_t)r->K * r->N, nc = (size_t)r->M * r->N;
        ga = sq_alloc_real(na), gb = sq_alloc_real(nb), gc = sq_alloc_real(nc);
        gd = sq_alloc_real(na);
        if (!ga || !gb || !gc || !gd) {
            sq_fail(e, "out of memory for the GEMM of %s", nd->name);
            goto done;
        }
        for (size_t j = 0; j < na; j++)
            ga[j] = (sq_real)(sq_rng_uniform(&c.rng) - 0.5);
        for (size_t j = 0; j < nb; j++)
            gb[j] = (sq_real)(sq_rng_uniform(&c.rng) - 0.5);
        c.nd = nd, c.row = r, c.ga = ga, c.gb = gb, c.gc = gc, c.gd = gd;
        double fl = 2.0 * r->M * r->N * r->K;
        alternate(node_fwd, gemm_fwd, &c, fl, secs, &r->fwd_conv, &r->fwd_gemm);
        alternate(node_bwd, gemm_bwd, &c, 2 * fl, secs, &r->bwd_conv, &r->bwd_gemm);
        sq_free(ga), sq_free(gb), sq_free(gc), sq_free(gd);
        ga = gb = gc = gd = NULL;
    }
    rc = 0;
done:
    sq_free(ga), sq_free(gb), sq_free(gc), sq_free(gd);
    free_model(&c, &net, &opt);
    return rc;
}

/* ---- output ------------------------------------------------------------ */

static int write_csv(const char *dir, const bench_row *r, int n, const layer_row *l, int nl,
                     sq_err *e)
{
    char path[600];
    snprintf(path, sizeof path, "%s/bench.csv", dir);
    sq_afile *a = sq_afile_open(path, e);
    if (!a)
        return -1;
    FILE *f = sq_afile_fp(a);
    fprintf(f, "model,threads,batch,train_img_s,train_best_img_s,train_gflops,infer_img_s,"
               "infer_gflops,peak_mib,cpu_share\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "%s,%d,%d,%.1f,%.1f,%.2f,%.1f,%.2f,%.0f,%.2f\n", r[i].model, r[i].threads,
                r[i].batch, r[i].train_ips, r[i].train_best_ips, r[i].train_gflops, r[i].infer_ips,
                r[i].infer_gflops, r[i].peak_mib, r[i].cpu_share);
    if (sq_afile_commit(a, e))
        return -1;
    snprintf(path, sizeof path, "%s/layers.csv", dir);
    if (!(a = sq_afile_open(path, e)))
        return -1;
    f = sq_afile_fp(a);
    fprintf(f, "model,layer,threads,batch,C,H,W,O,k,stride,M,N,K,fwd_gflops,fwd_sgemm_gflops,"
               "bwd_gflops,bwd_sgemm_gflops\n");
    for (int i = 0; i < nl; i++)
        fprintf(f, "%s,%s,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%.2f,%.2f,%.2f,%.2f\n", l[i].model,
                l[i].name, l[i].threads, l[i].batch, l[i].C, l[i].H, l[i].W, l[i].O, l[i].k,
                l[i].s, l[i].M, l[i].N, l[i].K, l[i].fwd_conv, l[i].fwd_gemm, l[i].bwd_conv,
                l[i].bwd_gemm);
    return sq_afile_commit(a, e);
}

static void print_layer(FILE *f, const layer_row *l, int md)
{
    char shape[64];
    snprintf(shape, sizeof shape, "%dx%dx%d k%d/%d -> %d", l->C, l->H, l->W, l->k, l->s, l->O);
    if (md)
        fprintf(f, "| %s | %s | %s | %d,%d,%d | %.1f | %.1f | %.0f%% | %.1f | %.1f | %.0f%% |\n",
                l->model, l->name, shape, l->M, l->N, l->K, l->fwd_conv, l->fwd_gemm,
                100 * l->fwd_conv / l->fwd_gemm, l->bwd_conv, l->bwd_gemm,
                100 * l->bwd_conv / l->bwd_gemm);
    else
        fprintf(f, "  %-30s %-24s %8.1f %8.1f %4.0f%% %8.1f %8.1f %4.0f%%\n", l->name, shape,
                l->fwd_conv, l->fwd_gemm, 100 * l->fwd_conv / l->fwd_gemm, l->bwd_conv,
                l->bwd_gemm, 100 * l->bwd_conv / l->bwd_gemm);
}

static int write_md(const char *dir, const bench_row *r, int n, const layer_row *l, int nl,
                    const double load[2], sq_err *e)
{
    char path[600];
    snprintf(path, sizeof path, "%s/bench.md", dir);
    sq_afile *a = sq_afile_open(path, e);
    if (!a)
        return -1;
    FILE *f = sq_afile_fp(a);
    fprintf(f, "Synthetic batches; %s; load average %.2f at the start, %.2f at the end.\n\n",
            openblas_get_config(), load[0], load[1]);
    fprintf(f, "| model | threads | batch | train img/s | best step img/s | train GFLOP/s | "
               "infer img/s | infer GFLOP/s | peak MiB | CPU share |\n"
               "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "| %s | %d | %d | %.1f | %.1f | %.1f | %.0f | %.1f | %.0f | %.0f%% |\n",
                r[i].model, r[i].threads, r[i].batch, r[i].train_ips, r[i].train_best_ips,
                r[i].train_gflops, r[i].infer_ips, r[i].infer_gflops, r[i].peak_mib,
                100 * r[i].cpu_share);
    fprintf(f, "\nCPU share: CPU time over wall time x threads while training; well below "
               "100%% means other processes held the cores and the absolute rates are low.\n");
    if (nl) {
        fprintf(f, "\nConvolutions (best of alternating repetitions, GFLOP/s): the layer "
                   "beside OpenBLAS sgemm on the layer's GEMM shapes for the whole batch "
                   "(forward M,N,K = O, B*P, C*k*k; backward = dW and dX GEMMs).\n\n"
                   "| model | layer | shape | M,N,K | fwd | sgemm | fwd/sgemm | bwd | sgemm | "
                   "bwd/sgemm |\n|---|---|---|---|---:|---:|---:|---:|---:|---:|\n");
        for (int i = 0; i < nl; i++)
            print_layer(f, &l[i], 1);
    }
    return sq_afile_commit(a, e);
}

/* ---- the command --------------------------------------------------------- */

/* Inputs and default batch by model family: LeNets see 28x28x1 at 128,
 * the CIFAR networks 32x32x3 at 64. */
static void model_defaults(const char *m, sq_shape *in, int *batch)
{
    int lenet = !strncmp(m, "lenet", 5);
    *in = lenet ? (sq_shape){1, 28, 28} : (sq_shape){3, 32, 32};
    *batch = lenet ? 128 : 64;
}

int cmd_bench(int argc, char **argv)
{
    char out[512] = "results/bench", models[256] = "lenet5,lenet5-classic,vgg7,densenet40";
    double secs = 2, layer_secs = 0.4;
    int batch = 0, maxthreads = 2, layers = 1;
    const opt t[] = {
        {"out", OPT_STR, out, sizeof out, 0, 0, "DIR", "where bench.csv, layers.csv and bench.md go (default results/bench)"},
        {"models", OPT_STR, models, sizeof models, 0, 0, "LIST", "comma-separated models (default lenet5,lenet5-classic,vgg7,densenet40)"},
        {"batch", OPT_INT, &batch, 0, 0, 4096, "N", "batch size (default: 128 for LeNets, 64 for the CIFAR networks)"},
        {"threads", OPT_INT, &maxthreads, 0, 1, 256, "N", "measure 1..N threads (default 2)"},
        {"seconds", OPT_NUM, &secs, 0, 0.1, 600, "S", "time per throughput measurement (default 2, at least 2 steps)"},
        {"layers", OPT_INT, &layers, 0, 0, 1, "0|1", "time every convolution against sgemm at N threads (default 1)"},
        {"layer-seconds", OPT_NUM, &layer_secs, 0, 0.01, 60, "S", "time per layer and direction, 3 to 12 alternations (default 0.4)"},
    };
    int rc = opts_parse(t, sizeof t / sizeof t[0], argc, argv, 2,
                        "usage: symog bench [OPTIONS]\n\nThroughput on synthetic data; "
                        "FLOPs count multiply-adds as 2, training as 3x the forward.",
                        NULL);
    if (rc)
        return rc == 1 ? 0 : 2;
    static bench_row rows[MAX_ROWS];
    static layer_row lrows[MAX_LAYERS];
    int n = 0, nl = 0;
    double load[2] = {0, 0};
    sq_err e = {{0}};
    getloadavg(load, 1);
    char *names[32];
    int nm = 0;
    for (char *tok = strtok(models, ","); tok && nm < 32; tok = strtok(NULL, ","))
        names[nm++] = tok;
    for (int m = 0; m < nm; m++) /* every name checked before anything runs */
        if (sq_model_check(names[m], &e)) {
            fprintf(stderr, "symog bench: --models: %s\n", e.msg);
            return 2;
        }
    if (!nm) {
        fprintf(stderr, "symog bench: --models: no model named (e.g. --models vgg7,densenet40)\n");
        return 2;
    }
    printf("%-16s %7s %6s %12s %10s %13s %12s %13s %9s %5s\n", "model", "threads", "batch",
           "train img/s", "best img/s", "train GFLOP/s", "infer img/s", "infer GFLOP/s",
           "peak MiB", "CPU");
    for (int m = 0; m < nm; m++) {
        sq_shape in;
        int B;
        model_defaults(names[m], &in, &B);
        B = batch ? batch : B;
        for (int th = 1; th <= maxthreads && n < MAX_ROWS; th++) {
            if (bench_one(names[m], in, B, th, secs, &rows[n], &e)) {
                fprintf(stderr, "symog bench: %s\n", e.msg);
                return 1;
            }
            bench_row *r = &rows[n++];
            printf("%-16s %7d %6d %12.1f %10.1f %13.2f %12.1f %13.2f %9.0f %4.0f%%\n", r->model,
                   r->threads, r->batch, r->train_ips, r->train_best_ips, r->train_gflops,
                   r->infer_ips, r->infer_gflops, r->peak_mib, 100 * r->cpu_share);
            fflush(stdout);
        }
    }
    for (int m = 0; m < nm && layers; m++) {
        sq_shape in;
        int B, n0 = nl;
        model_defaults(names[m], &in, &B);
        B = batch ? batch : B;
        printf("\n%s, batch %d, %d threads: GFLOP/s of each convolution beside sgemm's\n"
               "  %-30s %-24s %8s %8s %5s %8s %8s %5s\n",
               names[m], B, maxthreads, "layer", "shape", "fwd", "sgemm", "", "bwd", "sgemm", "");
        if (bench_layers(names[m], in, B, maxthreads, layer_secs, lrows, &nl, &e)) {
            fprintf(stderr, "symog bench: %s\n", e.msg);
            return 1;
        }
        for (int i = n0; i < nl; i++)
            print_layer(stdout, &lrows[i], 0);
        fflush(stdout);
    }
    getloadavg(load + 1, 1);
    if (sq_mkdir_p(out, &e) || write_csv(out, rows, n, lrows, nl, &e) ||
        write_md(out, rows, n, lrows, nl, load, &e)) {
        fprintf(stderr, "symog bench: %s\n", e.msg);
        return 1;
    }
    printf("written: %s/bench.csv, %s/layers.csv, %s/bench.md\n", out, out, out);
    return 0;
}
