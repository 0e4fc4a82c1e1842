/* bench.c - `symog bench`: training and inference throughput on synthetic
 * batches (no dataset needed), per model and thread count. A benchmark, not
 * a test: numbers depend on the machine and its load; compare ratios taken
 * in one run. Writes OUT/bench.csv and OUT/bench.md. */
#include <cblas.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "io/atomic.h"
#include "models/models.h"
#include "opts.h"
#include "optim/optim.h"

typedef struct bench_row {
    char model[32];
    int threads, batch;
    double train_ips, train_gflops, infer_ips, infer_gflops;
} bench_row;

/* Time `fn` repeatedly for about `seconds`; returns seconds per call. */
static double time_calls(void (*fn)(void *), void *ctx, double seconds)
{
    fn(ctx); /* warm-up */
    int n = 0;
    double t0 = sq_now(), t;
    do {
        fn(ctx);
        n++;
        t = sq_now() - t0;
    } while (t < seconds || n < 3);
    return t / n;
}

typedef struct bctx {
    sq_net *net;
    sq_optim *opt;
    sq_real *x, *dl;
    int *y, B;
    sq_rng rng;
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

static int bench_one(const char *model, sq_shape in, int B, int threads, double secs,
                     bench_row *row, sq_err *e)
{
    sq_net net = {0};
    sq_optim opt = {0};
    sq_optim_cfg oc;
    bctx c = {0};
    int rc = -1;
    openblas_set_num_threads(threads);
    if (sq_model_build(model, &net, in, 10, e) || sq_net_reserve(&net, B, 1, e))
        goto done;
    net.threads = threads;
    sq_rng_seed(&c.rng, 1);
    sq_net_init(&net, &c.rng);
    sq_optim_defaults(&oc, SQ_SGD);
    if (sq_optim_init(&opt, &oc, &net, e))
        goto done;
    size_t nx = (size_t)B * sq_numel(in);
    c.x = sq_alloc_real(nx);
    c.dl = sq_alloc_real((size_t)B * 10);
    c.y = sq_calloc((size_t)B, sizeof(int));
    if (!c.x || !c.dl || !c.y) {
        sq_fail(e, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < nx; i++)
        c.x[i] = (sq_real)sq_rng_normal(&c.rng);
    for (int i = 0; i < B; i++)
        c.y[i] = (int)sq_rng_below(&c.rng, 10);
    c.net = &net, c.opt = &opt, c.B = B;
    double fl = sq_net_flops(&net);
    double tt = time_calls(train_step, &c, secs), ti = time_calls(infer_step, &c, secs / 2);
    snprintf(row->model, sizeof row->model, "%s", model);
    row->threads = threads, row->batch = B;
    row->train_ips = B / tt;
    row->train_gflops = 3 * fl * B / tt / 1e9; /* forward + two backward GEMMs */
    row->infer_ips = B / ti;
    row->infer_gflops = fl * B / ti / 1e9;
    rc = 0;
done:
    sq_free(c.x);
    sq_free(c.dl);
    sq_free(c.y);
    sq_optim_free(&opt);
    sq_net_free(&net);
    return rc;
}

static int write_tables(const char *dir, const bench_row *r, int n, sq_err *e)
{
    char path[600];
    if (sq_mkdir_p(dir, e))
        return -1;
    snprintf(path, sizeof path, "%s/bench.csv", dir);
    sq_afile *a = sq_afile_open(path, e);
    if (!a)
        return -1;
    fprintf(sq_afile_fp(a), "model,threads,batch,train_img_s,train_gflops,infer_img_s,infer_gflops\n");
    for (int i = 0; i < n; i++)
        fprintf(sq_afile_fp(a), "%s,%d,%d,%.1f,%.2f,%.1f,%.2f\n", r[i].model, r[i].threads,
                r[i].batch, r[i].train_ips, r[i].train_gflops, r[i].infer_ips, r[i].infer_gflops);
    if (sq_afile_commit(a, e))
        return -1;
    snprintf(path, sizeof path, "%s/bench.md", dir);
    if (!(a = sq_afile_open(path, e)))
        return -1;
    FILE *f = sq_afile_fp(a);
    fprintf(f, "| model | threads | batch | train img/s | train GFLOP/s | infer img/s | infer GFLOP/s |\n"
               "|---|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "| %s | %d | %d | %.0f | %.1f | %.0f | %.1f |\n", r[i].model, r[i].threads,
                r[i].batch, r[i].train_ips, r[i].train_gflops, r[i].infer_ips, r[i].infer_gflops);
    return sq_afile_commit(a, e);
}

int cmd_bench(int argc, char **argv)
{
    char out[512] = "results/bench", models[256] = "lenet5,lenet5-classic";
    double secs = 3;
    int batch = 128, maxthreads = 2;
    const opt t[] = {
        {"out", OPT_STR, out, sizeof out, 0, 0, "DIR", "where bench.csv and bench.md go (default results/bench)"},
        {"models", OPT_STR, models, sizeof models, 0, 0, "LIST", "comma-separated models (default lenet5,lenet5-classic)"},
        {"batch", OPT_INT, &batch, 0, 1, 4096, "N", "batch size (default 128)"},
        {"threads", OPT_INT, &maxthreads, 0, 1, 256, "N", "measure 1..N threads (default 2)"},
        {"seconds", OPT_NUM, &secs, 0, 0.1, 600, "S", "time per measurement (default 3)"},
    };
    int rc = opts_parse(t, sizeof t / sizeof t[0], argc, argv, 2,
                        "usage: symog bench [OPTIONS]\n\nThroughput on synthetic data; "
                        "FLOPs count multiply-adds as 2, training as 3x the forward.",
                        NULL);
    if (rc)
        return rc == 1 ? 0 : 2;
    bench_row rows[64];
    int n = 0;
    sq_err e = {{0}};
    printf("%-16s %7s %6s %12s %13s %12s %13s\n", "model", "threads", "batch", "train img/s",
           "train GFLOP/s", "infer img/s", "infer GFLOP/s");
    for (char *tok = strtok(models, ","); tok; tok = strtok(NULL, ",")) {
        sq_shape in = strncmp(tok, "lenet", 5) ? (sq_shape){3, 32, 32} : (sq_shape){1, 28, 28};
        for (int th = 1; th <= maxthreads && n < 64; th++) {
            if (bench_one(tok, in, batch, th, secs, &rows[n], &e)) {
                fprintf(stderr, "symog bench: %s\n", e.msg);
                return 1;
            }
            bench_row *r = &rows[n++];
            printf("%-16s %7d %6d %12.1f %13.2f %12.1f %13.2f\n", r->model, r->threads, r->batch,
                   r->train_ips, r->train_gflops, r->infer_ips, r->infer_gflops);
            fflush(stdout);
        }
    }
    if (write_tables(out, rows, n, &e)) {
        fprintf(stderr, "symog bench: %s\n", e.msg);
        return 1;
    }
    printf("written: %s/bench.csv, %s/bench.md\n", out, out);
    return 0;
}
