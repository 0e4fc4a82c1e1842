/* test_faults.c - fault injection: every fault ends in a clear error, no
 * crash, no leak and no partial result.
 *
 *   allocation  the n-th engine allocation fails (sq_set_allocator), for
 *               every n a parser, writer, model build or a whole training
 *               run (fresh and resumed) makes: each returns an error saying
 *               "out of memory", frees everything, leaves no result.yaml
 *               and no temp file;
 *   I/O         short writes (RLIMIT_FSIZE: write() stops part-way with
 *               EFBIG), a full disk (a tiny tmpfs, where the test may mount
 *               one), an unwritable output directory (dropping root), a
 *               truncated or corrupt state file: a message naming the file,
 *               the previous version of every file intact;
 *   numbers     NaN/Inf put into the quantized weights, the gradients or
 *               the weights at a chosen step by a test quantizer, a huge
 *               learning rate, a checkpoint holding NaN: the run stops with
 *               the epoch, step and tensor, writes diverged.yaml and never
 *               result.yaml.
 * docs/faults.md lists each fault and what the user sees. */
#define _GNU_SOURCE /* unshare */
#include <math.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include "reliability.h"

#include "data/data.h"
#include "io/atomic.h"
#include "io/yamlio.h"
#include "models/models.h"
#include "quant/quant.h"
#include "train/checkpoint.h"
#include "train/train.h"

static char tmp[256], data[300];

static int setup(void **state)
{
    /* in memory where possible: the sweeps write thousands of files and
       fsync each, which a tmpfs makes free */
    snprintf(tmp, sizeof tmp, "/dev/shm/sqfaults.XXXXXX");
    if (access("/dev/shm", W_OK) != 0 || !mkdtemp(tmp))
        snprintf(tmp, sizeof tmp, "%s", tu_tmpdir());
    chmod(tmp, 0755); /* the unprivileged child must reach the data */
    snprintf(data, sizeof data, "%s/data", tmp);
    rl_tiny_data(data, 256, 100); /* 4 batches of 64 per epoch */
    sq_log_level = SQ_LOG_QUIET;
    return 0;
}

static int teardown(void **state)
{
    tu_rmdir(tmp);
    return 0;
}

/* ---- a failing allocator -------------------------------------------------- */
static long fa_count, fa_fail_at, fa_live;

static void *fa_alloc(void *ud, size_t n)
{
    (void)ud;
    if (++fa_count == fa_fail_at)
        return NULL;
    void *p = malloc(n);
    fa_live += p != NULL;
    return p;
}

static void fa_release(void *ud, void *p)
{
    (void)ud;
    fa_live -= p != NULL;
    free(p);
}

static void fa_install(long fail_at)
{
    static const sq_allocator a = {fa_alloc, fa_release, NULL};
    fa_count = 0, fa_fail_at = fail_at, fa_live = 0;
    sq_set_allocator(&a);
}

/* One operation under test: does its work and frees what it made. */
typedef int (*op_fn)(void *ctx, sq_err *e);
/* Checks after a failed attempt (files left behind, ...); may be NULL. */
typedef void (*check_fn)(void *ctx);
/* Count the allocations of a successful op, then fail each in turn: every
 * attempt must fail with "out of memory" and leak nothing. stride > 1
 * tries every stride-th after the first 50 (long runs). */
static void sweep(const char *what, op_fn op, void *ctx, check_fn check, long stride)
{
    sq_err e = {{0}};
    fa_install(0);
    int rc = op(ctx, &e);
    sq_set_allocator(NULL);
    if (rc) {
        print_error("%s: fails without faults: %s\n", what, e.msg);
        fail();
    }
    long total = fa_count, tried = 0;
    assert_int_equal(fa_live, 0);
    assert_true(total > 0);
    for (long n = 1; n <= total; n += n < 50 ? 1 : stride) {
        memset(&e, 0, sizeof e);
        if (getenv("SQ_FAULTS_VERBOSE"))
            fprintf(stderr, "%s: failing allocation %ld\n", what, n);
        fa_install(n);
        rc = op(ctx, &e);
        sq_set_allocator(NULL);
        tried++;
        if (rc == 0 || !strstr(e.msg, "out of memory") || fa_live != 0) {
            print_error("%s, allocation %ld of %ld failing: rc %d, %ld blocks leaked, "
                        "message: %s\n", what, n, total, rc, fa_live, e.msg);
            fail();
        }
        if (check)
            check(ctx);
    }
    print_message("%s: %ld allocations, %ld failure points: each a clean error\n", what, total,
                  tried);
}

/* ---- allocation faults in parsers, writers, models ------------------------- */
typedef struct blob {
    void *data;
    size_t n;
    char path[512], path2[512];
} blob;

static int op_st_parse(void *ctx, sq_err *e)
{
    blob *b = ctx;
    sq_st_file f;
    if (sq_st_parse(b->data, b->n, &f, e))
        return -1;
    sq_st_free(&f);
    return 0;
}

static int op_st_write(void *ctx, sq_err *e)
{
    blob *b = ctx;
    sq_st_file f;
    tu_write(b->path, "old", 4);
    if (sq_st_parse(b->data, b->n, &f, e))
        return -1;
    const char *meta[] = {"k", "v", NULL};
    int rc = sq_st_write(b->path, f.t, f.n, meta, e);
    sq_st_free(&f);
    return rc;
}

/* the target of a failed write keeps its old content, no temp file stays */
static void check_untouched(void *ctx)
{
    blob *b = ctx;
    size_t n;
    char *d = rl_slurp(b->path, &n);
    assert_non_null(d);
    assert_string_equal(d, "old");
    free(d);
    char dir[512];
    snprintf(dir, sizeof dir, "%s", b->path);
    *strrchr(dir, '/') = '\0';
    assert_int_equal(rl_temp_files(dir), 0);
}

static void make_checkpoint(const char *path, const char *model, int poison)
{
    sq_net net;
    sq_err e = {{0}};
    sq_rng rng;
    sq_rng_seed(&rng, 3);
    assert_int_equal(sq_model_build(model, &net, (sq_shape){1, 28, 28}, 10, &e), 0);
    sq_net_init(&net, &rng);
    if (poison)
        net.par[poison].w[7] = NAN;
    assert_int_equal(sq_ckpt_save(path, &net, 5, NULL, NULL, &e), 0);
    sq_net_free(&net);
}

static void test_alloc_safetensors(void **state)
{
    blob b;
    snprintf(b.path, sizeof b.path, "%s/ck.safetensors", tmp);
    make_checkpoint(b.path, "lenet5-bn", 0);
    b.data = rl_slurp(b.path, &b.n);
    sweep("sq_st_parse", op_st_parse, &b, NULL, 1);
    snprintf(b.path, sizeof b.path, "%s/target.safetensors", tmp);
    tu_write(b.path, "old", 4);
    sweep("sq_st_write", op_st_write, &b, check_untouched, 1);
    free(b.data);
}

static int op_yaml_parse(void *ctx, sq_err *e)
{
    blob *b = ctx;
    sq_ykv *kv;
    int n;
    if (sq_yaml_parse("config.yaml", b->data, b->n, &kv, &n, e))
        return -1;
    sq_ykv_free(kv, n);
    return 0;
}

static int op_yaml_write(void *ctx, sq_err *e)
{
    blob *b = ctx;
    tu_write(b->path, "old", 4);
    sq_yw *w = sq_yw_open(b->path, e);
    if (!w)
        return -1;
    sq_yw_str(w, "model", "lenet5");
    sq_yw_map_begin(w, "data");
    sq_yw_str(w, "name", "fashion-mnist");
    sq_yw_seq_begin(w, "norm_mean");
    sq_yw_float(w, NULL, 0.286f);
    sq_yw_seq_end(w);
    sq_yw_map_end(w);
    sq_yw_num(w, "lr", 0.01);
    return sq_yw_close(w, e);
}

static void test_alloc_yaml(void **state)
{
    static const char text[] = "model: lenet5\ndata:\n  name: fashion-mnist\n  norm_mean: [0.286]\n"
                               "epochs: 3\nquantizer:\n  options: {lambda0: 1e-6, clip: outer}\n";
    blob b = {(void *)text, sizeof text - 1, "", ""};
    sweep("sq_yaml_parse", op_yaml_parse, &b, NULL, 1);
    snprintf(b.path, sizeof b.path, "%s/target.yaml", tmp);
    tu_write(b.path, "old", 4);
    sweep("YAML writer", op_yaml_write, &b, check_untouched, 1);
}

static int op_idx(void *ctx, sq_err *e)
{
    blob *b = ctx;
    sq_dataset d;
    memset(&d, 0, sizeof d);
    if (sq_idx_load(b->path, b->path2, 10, &d, e))
        return -1;
    sq_dataset_free(&d);
    return 0;
}

static int op_data_open(void *ctx, sq_err *e)
{
    sq_dataset d;
    memset(&d, 0, sizeof d);
    if (sq_data_open("fashion-mnist", data, 1, &d, e))
        return -1;
    sq_dataset_free(&d);
    return 0;
}

static int op_cifar(void *ctx, sq_err *e)
{
    blob *b = ctx;
    sq_dataset d;
    const char *paths[2] = {b->path, b->path};
    memset(&d, 0, sizeof d);
    if (sq_cifar_load(paths, 2, 1, 10, &d, e))
        return -1;
    sq_dataset_free(&d);
    return 0;
}

static void test_alloc_data(void **state)
{
    blob b;
    snprintf(b.path, sizeof b.path, "%s/fashion-mnist/t10k-images-idx3-ubyte", data);
    snprintf(b.path2, sizeof b.path2, "%s/fashion-mnist/t10k-labels-idx1-ubyte", data);
    sweep("sq_idx_load", op_idx, &b, NULL, 1);
    sweep("sq_data_open", op_data_open, &b, NULL, 1);
    unsigned char rec[2 * 3073];
    for (size_t i = 0; i < sizeof rec; i++)
        rec[i] = (unsigned char)(i % 3073 ? i : 3);
    snprintf(b.path, sizeof b.path, "%s/c.bin", tmp);
    tu_write(b.path, rec, sizeof rec);
    sweep("sq_cifar_load", op_cifar, &b, NULL, 1);
}

static int op_model(void *ctx, sq_err *e)
{
    const sq_model_info *m = ctx;
    sq_net net;
    memset(&net, 0, sizeof net);
    int big = strncmp(m->name, "lenet", 5) != 0;
    sq_shape in = big ? (sq_shape){3, 32, 32} : (sq_shape){1, 28, 28};
    if (sq_model_build(m->name, &net, in, 10, e))
        return -1;
    int rc = sq_net_reserve(&net, 2, 1, e);
    sq_net_free(&net);
    return rc;
}

static int op_ckpt_load(void *ctx, sq_err *e)
{
    blob *b = ctx;
    sq_net net;
    memset(&net, 0, sizeof net);
    if (sq_model_build("lenet5-bn", &net, (sq_shape){1, 28, 28}, 10, e))
        return -1;
    long long nb;
    int rc = sq_ckpt_load_net(b->path, &net, &nb, NULL, e);
    sq_net_free(&net);
    return rc;
}

static int op_ckpt_save(void *ctx, sq_err *e)
{
    blob *b = ctx;
    sq_net net;
    memset(&net, 0, sizeof net);
    if (sq_model_build("lenet5-bn", &net, (sq_shape){1, 28, 28}, 10, e))
        return -1;
    int rc = sq_ckpt_save(b->path2, &net, 1, NULL, NULL, e);
    sq_net_free(&net);
    return rc;
}

static void test_alloc_models(void **state)
{
    for (int i = 0; sq_model_at(i); i++) {
        char what[64];
        snprintf(what, sizeof what, "build %s", sq_model_at(i)->name);
        sweep(what, op_model, (void *)sq_model_at(i), NULL, 1);
    }
    blob b;
    snprintf(b.path, sizeof b.path, "%s/bn.safetensors", tmp);
    snprintf(b.path2, sizeof b.path2, "%s/bn2.safetensors", tmp);
    make_checkpoint(b.path, "lenet5-bn", 0);
    sweep("sq_ckpt_load_net", op_ckpt_load, &b, NULL, 1);
    sweep("sq_ckpt_save", op_ckpt_save, &b, NULL, 1);
}

/* ---- allocation faults in whole training runs ------------------------------ */
static void cfg_tiny(sq_train_cfg *c, const char *out)
{
    sq_train_defaults(c);
    snprintf(c->out, sizeof c->out, "%s", out);
    snprintf(c->data_dir, sizeof c->data_dir, "%s", data);
    snprintf(c->model, sizeof c->model, "lenet5-classic");
    snprintf(c->quantizer, sizeof c->quantizer, "symog");
    c->epochs = 2;
    c->threads = 1;
    c->progress = 0;
    c->save_minutes = 0;
}

/* The sweeps' runs: one batch per epoch, so each attempt is cheap. */
static void cfg_sweep(sq_train_cfg *c, const char *out)
{
    cfg_tiny(c, out);
    c->train_subset = 64;
    c->test_subset = 50;
}

typedef struct trun {
    char dir[512];
    int resume;     /* resume a run stopped after epoch 1 */
    char stopped[512];
} trun;

static int op_train(void *ctx, sq_err *e)
{
    trun *t = ctx;
    char cmd[1600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && %s%s%s '%s'", t->dir, t->resume ? "cp -r '" : "mkdir",
             t->resume ? t->stopped : "", t->resume ? "'" : "", t->dir);
    assert_int_equal(system(cmd), 0);
    sq_train_cfg c;
    sq_train_result r;
    cfg_sweep(&c, t->dir);
    c.resume = t->resume;
    int rc = sq_train(&c, &r, e);
    assert_int_equal(r.status, rc ? SQ_TRAIN_FAILED : SQ_TRAIN_DONE);
    return rc;
}

static void check_no_result(void *ctx)
{
    trun *t = ctx;
    assert_false(rl_exists(t->dir, "result.yaml"));
    assert_int_equal(rl_temp_files(t->dir), 0);
}

static void test_alloc_train(void **state)
{
    trun t = {.resume = 0};
    snprintf(t.dir, sizeof t.dir, "%s/alloc-run", tmp);
    sweep("sq_train", op_train, &t, check_no_result, 1);
    /* a run stopped after epoch 1, resumed with each allocation failing */
    sq_train_cfg c;
    sq_train_result r;
    sq_err e = {{0}};
    snprintf(t.stopped, sizeof t.stopped, "%s/alloc-stopped", tmp);
    cfg_sweep(&c, t.stopped);
    c.stop_after = 1;
    assert_int_equal(sq_train(&c, &r, &e), 0);
    assert_int_equal(r.status, SQ_TRAIN_STOPPED);
    t.resume = 1;
    sweep("sq_train --resume", op_train, &t, check_no_result, 1);
}

/* ---- I/O faults ------------------------------------------------------------ */
/* Run fn in a child process (so rlimits, mounts and uid changes stay
 * there); the child's message comes back through a pipe. Returns the
 * child's exit code. */
static int in_child(void (*fn)(void *ctx, int fd), void *ctx, char *msg, size_t cap)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        fn(ctx, p[1]);
        _exit(0);
    }
    close(p[1]);
    size_t n = 0;
    ssize_t got;
    while (n + 1 < cap && (got = read(p[0], msg + n, cap - 1 - n)) > 0)
        n += (size_t)got;
    msg[n] = '\0';
    close(p[0]);
    return rl_wait(pid);
}

static void say(int fd, const char *s)
{
    ssize_t w = write(fd, s, strlen(s));
    (void)w;
}

/* In the child: a training run into ctx's directory; exit 0 when it
 * finished, 1 when it failed (the message goes to fd). */
static void child_train(void *ctx, int fd)
{
    const char *dir = ctx;
    sq_train_cfg c;
    sq_train_result r;
    sq_err e = {{0}};
    cfg_tiny(&c, dir);
    c.resume = 1;
    c.save_steps = 1;
    signal(SIGXFSZ, SIG_IGN); /* a write past RLIMIT_FSIZE fails with EFBIG instead */
    if (sq_train(&c, &r, &e)) {
        say(fd, e.msg);
        _exit(1);
    }
    _exit(0);
}

typedef struct limited {
    char dir[512];
    rlim_t bytes;
} limited;

static void child_fsize(void *ctx, int fd)
{
    limited *l = ctx;
    struct rlimit rl = {l->bytes, l->bytes};
    if (setrlimit(RLIMIT_FSIZE, &rl)) {
        say(fd, "setrlimit failed");
        _exit(2);
    }
    child_train(l->dir, fd);
}

/* After a failed run: no result, no temp files, and whatever state is
 * there is a complete, readable file. */
static void check_intact(const char *dir)
{
    assert_false(rl_exists(dir, "result.yaml"));
    assert_int_equal(rl_temp_files(dir), 0);
    char p[600];
    snprintf(p, sizeof p, "%s/state.safetensors", dir);
    if (access(p, F_OK) == 0) {
        sq_st_file f;
        sq_err e = {{0}};
        if (sq_st_read(p, &f, &e)) {
            print_error("state left unreadable: %s\n", e.msg);
            fail();
        }
        sq_st_free(&f);
    }
}

/* Short writes: every write past the limit stops part-way (EFBIG). Each
 * limit makes a different file the first to fail; the same directory is
 * resumed with ever larger limits until the run finishes. */
static void test_short_writes(void **state)
{
    static const rlim_t limits[] = {0, 200, 1000, 5000, 60000, 200000, 400000, 1u << 30};
    limited l;
    snprintf(l.dir, sizeof l.dir, "%s/fsize", tmp);
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        char msg[SQ_ERR_MSG + 1];
        l.bytes = limits[i];
        int rc = in_child(child_fsize, &l, msg, sizeof msg);
        print_message("files limited to %lu bytes: exit %d: %s\n", (unsigned long)limits[i], rc,
                      msg);
        if (i + 1 < sizeof limits / sizeof limits[0]) {
            assert_int_equal(rc, 1);
            assert_non_null(strstr(msg, "File too large"));
            assert_non_null(strstr(msg, l.dir)); /* names the file */
            check_intact(l.dir);
        } else {
            assert_int_equal(rc, 0); /* and the run resumes to the end */
            assert_true(rl_exists(l.dir, "result.yaml"));
        }
    }
}

/* A full disk: a tmpfs of a few hundred KB mounted in a private mount
 * namespace (needs CAP_SYS_ADMIN; skipped with a note without it). */
typedef struct tiny_fs {
    char dir[512];
    const char *size;
} tiny_fs;

static void child_fullfs(void *ctx, int fd)
{
    tiny_fs *t = ctx;
    char opts[64];
    snprintf(opts, sizeof opts, "size=%s", t->size);
    if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
        mount("tmpfs", t->dir, "tmpfs", 0, opts)) {
        say(fd, strerror(errno));
        _exit(77);
    }
    child_train(t->dir, fd);
}

static void test_full_disk(void **state)
{
    static const char *sizes[] = {"8k", "100k", "300k", "700k"};
    tiny_fs t;
    snprintf(t.dir, sizeof t.dir, "%s/fullfs", tmp);
    assert_int_equal(mkdir(t.dir, 0755), 0);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char msg[SQ_ERR_MSG + 1];
        t.size = sizes[i];
        int rc = in_child(child_fullfs, &t, msg, sizeof msg);
        if (rc == 77) {
            print_message("full disk: skipped, cannot mount a tmpfs here (%s); the short-write "
                          "test covers the same write paths\n", msg);
            return;
        }
        print_message("tmpfs of %s: exit %d: %s\n", sizes[i], rc, msg);
        assert_int_equal(rc, 1);
        assert_non_null(strstr(msg, "No space left on device"));
        /* the tmpfs is gone with the child: nothing of it can be left */
    }
}

/* An output directory this process may not write: as root, drop to
 * nobody first (root writes anywhere). */
static void drop_root(int fd)
{
    if (getuid() == 0 && (setgid(65534) || setuid(65534))) {
        say(fd, "cannot drop root");
        _exit(2);
    }
}

static void child_unwritable(void *ctx, int fd)
{
    drop_root(fd);
    child_train(ctx, fd);
}

static void test_unwritable_dir(void **state)
{
    char ro[512], sub[600], msg[SQ_ERR_MSG + 1];
    snprintf(ro, sizeof ro, "%s/readonly", tmp);
    assert_int_equal(mkdir(ro, 0555), 0);
    chmod(ro, 0555);
    int rc = in_child(child_unwritable, ro, msg, sizeof msg);
    print_message("unwritable --out: exit %d: %s\n", rc, msg);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(msg, "Permission denied"));
    assert_non_null(strstr(msg, ro));
    snprintf(sub, sizeof sub, "%s/run", ro);
    rc = in_child(child_unwritable, sub, msg, sizeof msg);
    print_message("--out below it: exit %d: %s\n", rc, msg);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(msg, "Permission denied"));
    assert_int_equal(access(sub, F_OK), -1);

    /* a run that becomes unwritable between epochs: the resume fails
       cleanly and its state stays exactly as it was */
    char run[512], st[600];
    snprintf(run, sizeof run, "%s/was-writable", tmp);
    sq_train_cfg c;
    sq_train_result r;
    sq_err e = {{0}};
    cfg_tiny(&c, run);
    c.stop_after = 1;
    assert_int_equal(sq_train(&c, &r, &e), 0);
    snprintf(st, sizeof st, "%s/state.safetensors", run);
    size_t n0, n1;
    void *before = rl_slurp(st, &n0);
    chmod(run, 0555);
    rc = in_child(child_unwritable, run, msg, sizeof msg);
    print_message("resume into a read-only run: exit %d: %s\n", rc, msg);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(msg, "Permission denied"));
    void *after = rl_slurp(st, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    free(before), free(after);
    chmod(run, 0755);
    chmod(ro, 0755);
}

/* A damaged state file is refused with a message, never trusted. */
static void test_corrupt_state(void **state)
{
    char run[512], st[600];
    snprintf(run, sizeof run, "%s/corrupt", tmp);
    sq_train_cfg c;
    sq_train_result r;
    sq_err e = {{0}};
    cfg_tiny(&c, run);
    c.stop_after = 1;
    assert_int_equal(sq_train(&c, &r, &e), 0);
    snprintf(st, sizeof st, "%s/state.safetensors", run);
    size_t n;
    unsigned char *good = rl_slurp(st, &n);
    static const char *cases[] = {"truncated to half", "emptied", "a header byte flipped",
                                  "NaN in conv1.weight"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char *bad = malloc(n);
        memcpy(bad, good, n);
        size_t len = i == 0 ? n / 2 : i == 1 ? 0 : n;
        if (i == 2)
            bad[20] ^= 0x55;
        tu_write(st, bad, len);
        free(bad);
        if (i == 3) { /* a well-formed file whose weights hold NaN */
            sq_st_file f;
            assert_int_equal(sq_st_parse(good, n, &f, &e), 0);
            ((float *)f.t[0].data)[3] = NAN;
            const char *meta[2 * 16 + 1];
            for (int k = 0; k < f.n_meta; k++)
                meta[2 * k] = f.meta_k[k], meta[2 * k + 1] = f.meta_v[k];
            meta[2 * f.n_meta] = NULL;
            assert_string_equal(f.t[0].name, "conv1.weight");
            assert_int_equal(sq_st_write(st, f.t, f.n, meta, &e), 0);
            sq_st_free(&f);
        }
        cfg_tiny(&c, run);
        c.resume = 1;
        memset(&e, 0, sizeof e);
        int rc = sq_train(&c, &r, &e);
        print_message("state %s: %s\n", cases[i], rc ? e.msg : "(accepted)");
        assert_int_equal(rc, -1);
        assert_non_null(strstr(e.msg, st));
        assert_false(rl_exists(run, "result.yaml"));
    }
    free(good);
}

/* ---- numerical faults -------------------------------------------------------- */
/* A test quantizer that copies weights and, at global step `at`, puts a
 * NaN (or Inf) into one tensor through one hook. */
enum { HOOK_FORWARD, HOOK_BACKWARD, HOOK_AFTER };
static const sq_qoption nanq_options[] = {
    {"at", SQ_QOPT_INT, "0", 0, 1e9, NULL, "global step"},
    {"slot", SQ_QOPT_INT, "0", 0, 100, NULL, "quantized tensor index"},
    {"hook", SQ_QOPT_ENUM, "forward", 0, 0, "forward|backward|after", "where"},
};
static int nanq_init(sq_qtensor *t, char *err, size_t n) { return 0; }
static int nanq_hit(const sq_qtensor *t, int hook)
{
    return (int)t->opt[2] == hook && t->step == (long long)t->opt[0] && t->index == (int)t->opt[1];
}
static void nanq_forward(sq_qtensor *t)
{
    memcpy(t->wq, t->w, t->n * sizeof(float));
    if (nanq_hit(t, HOOK_FORWARD))
        t->wq[0] = NAN;
}
static void nanq_backward(sq_qtensor *t)
{
    if (nanq_hit(t, HOOK_BACKWARD))
        t->g[0] = NAN;
}
static void nanq_after(sq_qtensor *t)
{
    if (nanq_hit(t, HOOK_AFTER))
        t->w[0] = INFINITY;
}
static void nanq_quantize(const sq_qtensor *t, float *out) { memcpy(out, t->w, t->n * sizeof(float)); }
static int nanq_export(const sq_qtensor *t, int32_t *codes, float *scale, int *pc, int *ex,
                       char *err, size_t n)
{
    memset(codes, 0, t->n * sizeof *codes);
    scale[0] = 1;
    return 0;
}
static const sq_quantizer nanq = {
    .abi_version = SQ_QUANT_ABI_VERSION, .struct_size = sizeof(sq_quantizer),
    .name = "nanq", .summary = "test: NaN/Inf at a chosen step",
    .options = nanq_options, .n_options = 3, .init = nanq_init, .forward = nanq_forward,
    .backward = nanq_backward, .after_step = nanq_after, .quantize = nanq_quantize,
    .export_codes = nanq_export,
};

/* Train with nanq poisoning `slot` through `hook` at step `at`; the run
 * must diverge at (epoch, step) naming `tensor` and `kind`. */
static void poison_case(const char *hook, int at, int slot, int epoch, int step,
                        const char *kind, const char *tensor)
{
    char dir[512], opt[3][32];
    sq_train_cfg c;
    sq_train_result r;
    sq_err e = {{0}};
    if (!sq_quant_find("nanq")) {
        assert_int_equal(sq_quant_setup(NULL, 0, &e), 0);
        assert_int_equal(sq_quant_register(&nanq, "test", &e), 0);
    }
    snprintf(dir, sizeof dir, "%s/nan-%s-%d", tmp, hook, at);
    cfg_tiny(&c, dir);
    snprintf(c.quantizer, sizeof c.quantizer, "nanq");
    snprintf(opt[0], sizeof opt[0], "at=%d", at);
    snprintf(opt[1], sizeof opt[1], "slot=%d", slot);
    snprintf(opt[2], sizeof opt[2], "hook=%s", hook);
    for (int i = 0; i < 3; i++)
        snprintf(c.qopts[c.n_qopts++], sizeof c.qopts[0], "%s", opt[i]);
    assert_int_equal(sq_train(&c, &r, &e), -1);
    print_message("%s NaN at step %d: %s\n", hook, at, e.msg);
    assert_int_equal(r.status, SQ_TRAIN_DIVERGED);
    assert_int_equal(r.stop_epoch, epoch);
    assert_int_equal(r.stop_step, step);
    char want[128];
    snprintf(want, sizeof want, "epoch %d, step %d of 4", epoch, step);
    assert_non_null(strstr(e.msg, want));
    snprintf(want, sizeof want, "%s of %s", kind, tensor);
    assert_non_null(strstr(e.msg, want));
    assert_non_null(strstr(e.msg, "diverged.yaml"));
    assert_false(rl_exists(dir, "result.yaml"));
    assert_false(rl_exists(dir, "model.safetensors"));
    char p[600];
    sq_ykv *kv;
    int n;
    snprintf(p, sizeof p, "%s/diverged.yaml", dir);
    assert_int_equal(sq_yaml_load(p, &kv, &n, &e), 0);
    assert_string_equal(sq_ykv_get(kv, n, "status"), "diverged");
    assert_int_equal(atoi(sq_ykv_get(kv, n, "epoch")), epoch);
    assert_int_equal(atoi(sq_ykv_get(kv, n, "step")), step);
    assert_string_equal(sq_ykv_get(kv, n, "tensor"), tensor);
    sq_ykv_free(kv, n);
}

/* lenet5-classic: slots 0..4 = conv1, conv2, fc1, fc2, fc3 weights; 4
 * batches per epoch, so global step 5 is epoch 2, batch 2. */
static void test_nan_forward(void **state)
{
    poison_case("forward", 5, 4, 2, 2, "quantized weights", "fc3.weight");
}

static void test_nan_gradient(void **state)
{
    /* NaN in step 5's gradient -> NaN weights -> the loss of step 6 */
    poison_case("backward", 5, 4, 2, 3, "gradient", "fc3.weight");
}

static void test_inf_weights(void **state)
{
    /* Inf written into fc2's weights after step 1 -> NaN loss in step 2 */
    poison_case("after", 1, 3, 1, 3, "weights", "fc2.weight");
    /* after the epoch's last step: found by the end-of-epoch scan */
    poison_case("after", 3, 3, 1, 4, "weights", "fc2.weight");
}

/* A learning rate far too large: the CLI exits 3, diverged.yaml, no result. */
static void test_huge_lr(void **state)
{
    char dir[512], log[600];
    snprintf(dir, sizeof dir, "%s/huge-lr", tmp);
    snprintf(log, sizeof log, "%s.log", dir);
    const char *a[] = {"train", "--model", "lenet5", "--data-dir", data, "--epochs", "2",
                       "--lr", "100", "--threads", "1", "--progress", "0", "--out", dir, NULL};
    int rc = rl_run(log, a);
    size_t n;
    char *text = rl_slurp(log, &n);
    assert_non_null(text);
    print_message("--lr 100: exit %d\n%s", rc, text ? text : "");
    assert_int_equal(rc, 3);
    assert_non_null(strstr(text, "training diverged in epoch"));
    assert_non_null(strstr(text, "diverged.yaml"));
    assert_true(rl_exists(dir, "diverged.yaml"));
    assert_false(rl_exists(dir, "result.yaml"));
    free(text);
    /* diverged: a fresh start in the same directory is allowed and clears it */
    const char *b[] = {"train", "--model", "lenet5-classic", "--data-dir", data, "--epochs", "1",
                       "--threads", "1", "--progress", "0", "--quiet", "--out", dir, NULL};
    assert_int_equal(rl_run(log, b), 0);
    assert_false(rl_exists(dir, "diverged.yaml"));
    assert_true(rl_exists(dir, "result.yaml"));
}

/* Checkpoints holding NaN are refused before training (--init), and a
 * resumed state is checked the same way. */
static void test_nan_checkpoint(void **state)
{
    char ck[512], dir[512];
    snprintf(ck, sizeof ck, "%s/nan.safetensors", tmp);
    make_checkpoint(ck, "lenet5-classic", 2); /* par 2 = conv2.weight */
    snprintf(dir, sizeof dir, "%s/nan-init", tmp);
    sq_train_cfg c;
    sq_train_result r;
    sq_err e = {{0}};
    cfg_tiny(&c, dir);
    snprintf(c.init, sizeof c.init, "%s", ck);
    assert_int_equal(sq_train(&c, &r, &e), -1);
    print_message("--init with NaN: %s\n", e.msg);
    assert_non_null(strstr(e.msg, "--init"));
    assert_non_null(strstr(e.msg, "conv2.weight"));
    assert_non_null(strstr(e.msg, "nan"));
    assert_false(rl_exists(dir, "result.yaml"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_safetensors),
        cmocka_unit_test(test_alloc_yaml),
        cmocka_unit_test(test_alloc_data),
        cmocka_unit_test(test_alloc_models),
        cmocka_unit_test(test_alloc_train),
        cmocka_unit_test(test_short_writes),
        cmocka_unit_test(test_full_disk),
        cmocka_unit_test(test_unwritable_dir),
        cmocka_unit_test(test_corrupt_state),
        cmocka_unit_test(test_nan_forward),
        cmocka_unit_test(test_nan_gradient),
        cmocka_unit_test(test_inf_weights),
        cmocka_unit_test(test_huge_lr),
        cmocka_unit_test(test_nan_checkpoint),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
