/* test_report.c - the report and the runner end to end:
 *   - mean and standard deviation, on hand-made result.yaml files: the
 *     table's numbers, the published column, n/a for a missing dataset, the
 *     dagger for unfinished seeds, the caption, LaTeX and CSV;
 *   - every table file is written atomically (allocation faults at every
 *     point leave each file either as it was or complete, and no temp file);
 *   - a real smoke grid: `symog train` children, the table holding exactly
 *     the runs' result.yaml numbers, every figure file (PDF, SVG, PNG)
 *     present and non-empty, labels with backquotes never run by gnuplot, a
 *     finished run never redone, a grid killed in the middle of a run
 *     resuming that run where it stopped, and a failing run reported while
 *     the others go on.
 * Needs Debian's dataset-fashion-mnist and gnuplot (`make deps`). */
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "testutil.h"

#include "grid/grid.h"
#include "io/atomic.h"
#include "io/yamlio.h"
#include "quant/quant.h"

#ifndef SQ_BUILD_DIR
#define SQ_BUILD_DIR "build"
#endif

static char dir[256];

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "%s", tu_tmpdir());
    setenv("SYMOG_PLUGIN_PATH", SQ_BUILD_DIR "/plugins", 1);
    sq_err e;
    return sq_quant_setup(NULL, 0, &e);
}

static int teardown(void **state)
{
    tu_rmdir(dir);
    return 0;
}

static char *slurp(const char *path)
{
    void *d = NULL;
    size_t n;
    sq_err e;
    if (sq_read_file(path, 1 << 24, &d, &n, &e)) {
        print_error("%s\n", e.msg);
        fail();
    }
    return d;
}

static void must_contain(const char *text, const char *needle, const char *what)
{
    if (!strstr(text, needle)) {
        print_error("%s lacks '%s':\n%s\n", what, needle, text);
        fail();
    }
}

static void test_meanstd(void **state)
{
    double m, s;
    sq_g_meanstd((double[]){10, 11, 12}, 3, &m, &s);
    tu_close(m, 11, 1e-12, 0, "mean");
    tu_close(s, 1, 1e-12, 0, "sample std");
    sq_g_meanstd((double[]){5.5}, 1, &m, &s);
    tu_close(m, 5.5, 0, 0, "mean of one");
    tu_close(s, 0, 0, 0, "std of one");
    sq_g_meanstd((double[]){1, 2, 3, 4}, 4, &m, &s);
    tu_close(s, sqrt(5.0 / 3), 1e-12, 0, "std of 1..4");
    sq_g_meanstd(NULL, 0, &m, &s);
    assert_true(isnan(m));
}

/* ---- hand-made runs ------------------------------------------------------ */
static const char *HAND =
    "experiment { name = 'hand', caption = 'hand-made results',\n"
    "  notes = 'a note',\n"
    "  base = { model = 'lenet5', epochs = 3, train_subset = 1000 },\n"
    "  axes = { method = { { label = 'float', quantizer = 'float' },\n"
    "                      { label = 'SYMOG', quantizer = 'symog' } },\n"
    "           data = { 'fashion-mnist', 'mnist' } },\n"
    "  profiles = { smoke = {}, quick = { seed = { 1, 2, 3 } }, paper = {} },\n"
    "  report = { { kind = 'table', id = 'hand', title = 'Table X', rows = 'method',\n"
    "               cols = 'data', reference = 'float',\n"
    "               published = { { row = 'SYMOG', value = 5.71, source = 'the paper' } } },\n"
    "             { kind = 'table', id = 'hand-soft', rows = 'method', cols = 'data',\n"
    "               metrics = { 'test_error', 'test_error_soft' } } } }\n";

typedef struct hand {
    sq_gexp *x;
    sq_ggrid g, *gp;
    sq_gdatasets ds;
    char root[300], tables[300], figures[300];
} hand;

static void write_result(const char *d, double err, double soft, int bits)
{
    char p[1200], text[512];
    snprintf(p, sizeof p, "%s/result.yaml", d);
    int n = snprintf(text, sizeof text, "test_error: %.10g\ntest_error_soft: %.10g\n"
                                        "best_test_error: %.10g\ntrain_error: 1.0\nepochs: 3\n"
                                        "train_size: 1000\ntest_size: 10000\nbits: %d\nseconds: 2.0\n",
                     err, soft, err, bits);
    tu_write(p, text, (size_t)n);
}

static void hand_setup(hand *h)
{
    memset(h, 0, sizeof *h);
    sq_err e = {{0}};
    char path[400];
    snprintf(path, sizeof path, "%s/hand.lua", dir);
    tu_write(path, HAND, strlen(HAND));
    snprintf(h->root, sizeof h->root, "%s/hand-runs", dir);
    snprintf(h->tables, sizeof h->tables, "%s/hand-tables", dir);
    snprintf(h->figures, sizeof h->figures, "%s/hand-figures", dir);
    if (sq_gexp_load(path, &h->x, &e) || sq_ggrid_expand(h->x, SQ_G_QUICK, h->root, &h->g, &e)) {
        print_error("%s\n", e.msg);
        fail();
    }
    h->gp = &h->g;
    h->ds.n = 2;
    sq_gdata *d = &h->ds.d[0];
    snprintf(d->name, sizeof d->name, "fashion-mnist");
    d->ok = 1, d->n_train = 60000, d->n_test = 10000;
    snprintf(d->sha_train, sizeof d->sha_train, "aa");
    snprintf(d->sha_test, sizeof d->sha_test, "bb");
    snprintf(h->ds.d[1].name, sizeof h->ds.d[1].name, "mnist");
    snprintf(h->ds.d[1].why, sizeof h->ds.d[1].why, "mnist (train split) not found");
    /* float: 10, 11, 12 (all seeds); SYMOG: 20, 21 (seed 3 unfinished) */
    static const double errs[2][3] = {{10, 11, 12}, {20, 21, NAN}};
    for (int i = 0; i < h->g.n; i++) {
        sq_grun *r = &h->g.r[i];
        if (strcmp(sq_grun_get(r, "data"), "fashion-mnist"))
            continue;
        int m = strcmp(sq_grun_get(r, "quantizer"), "float") != 0, s = atoi(sq_grun_get(r, "seed")) - 1;
        assert_int_equal(sq_grun_hash(r, d, &e), 0);
        assert_int_equal(sq_mkdir_p(r->dir, &e), 0);
        assert_int_equal(sq_grun_write_meta(&h->g, r, NULL, &e), 0);
        if (!isnan(errs[m][s]))
            write_result(r->dir, errs[m][s], errs[m][s] - 1, m ? 2 : 32);
    }
}

static void hand_free(hand *h)
{
    sq_ggrid_free(&h->g);
    sq_gexp_free(h->x);
}

static void test_report_handmade(void **state)
{
    hand h;
    hand_setup(&h);
    sq_greport_opts o = {h.tables, h.figures, "plots", 0, "gnuplot"};
    sq_err e = {{0}};
    if (sq_greport(&h.gp, 1, &h.ds, &o, &e)) {
        print_error("%s\n", e.msg);
        fail();
    }
    char p[600];
    snprintf(p, sizeof p, "%s/hand.csv", h.tables);
    char *csv = slurp(p);
    must_contain(csv, "hand,\"float\",\"fashion-mnist\",test_error,11.0000,1.0000,3,3,32,,ok", "csv");
    must_contain(csv, "hand,\"SYMOG\",\"fashion-mnist\",test_error,20.5000,0.7071,2,3,2,5.71,partial", "csv");
    must_contain(csv, "hand,\"SYMOG\",\"mnist\",test_error,,,0,0,2,5.71,data-missing", "csv");
    sq_free(csv);
    snprintf(p, sizeof p, "%s/hand.md", h.tables);
    char *md = slurp(p);
    must_contain(md, "| Method | Bits | Fashion-MNIST | MNIST | Published |", "md");
    must_contain(md, "| float | 32 | 11.00 ± 1.00 | n/a |  |", "md");
    must_contain(md, "| SYMOG | 2 | 20.50 ± 0.71 † | n/a | 5.71 |", "md");
    must_contain(md, "Table X: hand-made results.", "caption");
    must_contain(md, "over 3 seeds (1, 2, 3)", "caption: seeds");
    must_contain(md, "Fashion-MNIST, the first 1,000 of 60,000 training", "caption: data");
    must_contain(md, "MNIST (not present", "caption: missing data");
    must_contain(md, "Profile quick, 3 epochs.", "caption: profile, epochs");
    must_contain(md, "n/a: MNIST is not present", "note: missing data");
    must_contain(md, "Published: the paper", "note: source");
    must_contain(md, "a note", "notes");
    sq_free(md);
    snprintf(p, sizeof p, "%s/hand.tex", h.tables);
    char *tex = slurp(p);
    must_contain(tex, "\\toprule", "tex");
    must_contain(tex, "\\midrule", "tex");
    must_contain(tex, "\\bottomrule", "tex");
    must_contain(tex, "float & 32 & $11.00 \\pm 1.00$ & n/a &  \\\\", "tex");
    must_contain(tex, "\\label{tab:hand}", "tex");
    sq_free(tex);
    /* two metrics: soft errors are one below */
    snprintf(p, sizeof p, "%s/hand-soft.csv", h.tables);
    csv = slurp(p);
    must_contain(csv, "hand-soft,\"float\",\"fashion-mnist\",test_error_soft,10.0000,1.0000,3,3", "csv soft");
    must_contain(csv, "hand-soft,\"SYMOG\",\"fashion-mnist\",test_error_soft,19.5000,0.7071,2,3", "csv soft");
    sq_free(csv);
    snprintf(p, sizeof p, "%s/hand-soft.md", h.tables);
    md = slurp(p);
    /* the lowest error of a column is bold (no reference excluded here) */
    must_contain(md, "**11.00 ± 1.00**", "bold");
    sq_free(md);
    snprintf(p, sizeof p, "%s/index.md", h.tables);
    md = slurp(p);
    must_contain(md, "## Table X", "index");
    must_contain(md, "## hand-soft", "index");
    sq_free(md);
    hand_free(&h);
}

/* ---- atomic writes under allocation faults -------------------------------- */
static long fail_at, calls;
static void *failing_alloc(void *ud, size_t n)
{
    return ++calls == fail_at ? NULL : malloc(n);
}
static void plain_free(void *ud, void *p) { free(p); }

static void test_report_atomic(void **state)
{
    hand h;
    hand_setup(&h);
    sq_greport_opts o = {h.tables, h.figures, "plots", 0, "gnuplot"};
    sq_err e = {{0}};
    static const char *const files[] = {"hand.md", "hand.tex", "hand.csv", "hand-soft.md",
                                        "hand-soft.tex", "hand-soft.csv", "index.md"};
    char *good[7], *old = "old contents\n", p[600];
    assert_int_equal(sq_greport(&h.gp, 1, &h.ds, &o, &e), 0);
    for (int i = 0; i < 7; i++) {
        snprintf(p, sizeof p, "%s/%s", h.tables, files[i]);
        good[i] = slurp(p);
    }
    /* count the allocations of a clean report, then fail each in turn (a
     * sample of them when there are many) */
    sq_allocator a = {failing_alloc, plain_free, NULL};
    fail_at = -1, calls = 0;
    sq_set_allocator(&a);
    assert_int_equal(sq_greport(&h.gp, 1, &h.ds, &o, &e), 0);
    sq_set_allocator(NULL);
    long total = calls, step = total > 300 ? total / 300 : 1;
    int failures = 0, tries = 0;
    for (fail_at = 1; fail_at <= total; fail_at += step, tries++) {
        for (int i = 0; i < 7; i++) {
            snprintf(p, sizeof p, "%s/%s", h.tables, files[i]);
            tu_write(p, old, strlen(old));
        }
        calls = 0;
        sq_set_allocator(&a);
        int rc = sq_greport(&h.gp, 1, &h.ds, &o, &e);
        sq_set_allocator(NULL);
        failures += rc != 0;
        for (int i = 0; i < 7 && rc; i++) {
            /* a failed report leaves every file as it was or complete */
            snprintf(p, sizeof p, "%s/%s", h.tables, files[i]);
            char *now = slurp(p);
            if (strcmp(now, old) && strcmp(now, good[i])) {
                print_error("fault at allocation %ld left %s half-written\n", fail_at, files[i]);
                fail();
            }
            sq_free(now);
        }
        char cmd[700];
        snprintf(cmd, sizeof cmd, "ls -A '%s' | grep -q '\\.tmp\\.'", h.tables);
        assert_int_not_equal(system(cmd), 0); /* no temp file left behind */
    }
    print_message("%d of %d injected allocation faults failed the report\n", failures, tries);
    assert_true(failures > 10);
    for (int i = 0; i < 7; i++)
        sq_free(good[i]);
    hand_free(&h);
}

/* ---- a real smoke grid ------------------------------------------------------ */
static const char *SMOKE =
    "experiment { name = 'e2e', caption = 'end-to-end smoke grid `touch /tmp/sq_gp_injected`',\n"
    "  base = { model = 'lenet5-bn', epochs = 2, train_subset = 300, test_subset = 200 },\n"
    "  axes = { method = { { label = 'float `touch /tmp/sq_gp_injected`', quantizer = 'float',\n"
    "                        style = 1 },\n"
    "                      { label = 'SYMOG', quantizer = 'symog', style = 10 } },\n"
    "           bits = { 2, 3 }, data = { 'fashion-mnist', 'mnist' } },\n"
    "  profiles = { smoke = { seed = { 1 } }, quick = {}, paper = {} },\n"
    "  report = {\n"
    "    { kind = 'table', id = 'e2e-table', rows = 'method', cols = 'data', where = { bits = 2 } },\n"
    "    { kind = 'bits', id = 'e2e-bits', lines = 'method',\n"
    "      reference = 'float `touch /tmp/sq_gp_injected`',\n"
    "      where = { data = 'fashion-mnist' } },\n"
    "    { kind = 'curves', id = 'e2e-curves', lines = 'method',\n"
    "      where = { bits = 2, data = 'fashion-mnist' } },\n"
    "    { kind = 'switch', id = 'e2e-switch',\n"
    "      where = { method = 'SYMOG', bits = 2, data = 'fashion-mnist' } },\n"
    "    { kind = 'hist', id = 'e2e-hist',\n"
    "      where = { method = 'SYMOG', bits = 2, data = 'fashion-mnist' } } } }\n";

static const char *KILL =
    "experiment { name = 'kill', caption = 'a run killed in the middle',\n"
    "  base = { model = 'lenet5-bn', epochs = 6, train_subset = 200, test_subset = 100,\n"
    "           quantizer = 'symog' },\n"
    "  profiles = { smoke = {}, quick = {}, paper = {} } }\n";

typedef struct grid {
    sq_gexp *x;
    sq_ggrid g, *gp;
    sq_gdatasets ds;
} grid;

static void grid_load(grid *t, const char *name, const char *text, const char *root,
                      const char *data_dir)
{
    char path[400];
    sq_err e = {{0}};
    memset(t, 0, sizeof *t);
    snprintf(path, sizeof path, "%s/%s.lua", dir, name);
    tu_write(path, text, strlen(text));
    if (sq_gexp_load(path, &t->x, &e) || sq_ggrid_expand(t->x, SQ_G_SMOKE, root, &t->g, &e)) {
        print_error("%s\n", e.msg);
        fail();
    }
    t->gp = &t->g;
    snprintf(t->ds.data_dir, sizeof t->ds.data_dir, "%s", data_dir);
}

static void grid_free(grid *t)
{
    sq_ggrid_free(&t->g);
    sq_gexp_free(t->x);
}

static int run_grid(grid *t, const char *data_dir)
{
    sq_grunner_opts o = {SQ_BUILD_DIR "/symog", data_dir, 2, 0, 0, 0, NULL, 25};
    sq_err e = {{0}};
    int rc = sq_grid_run(&t->gp, 1, &t->ds, &o, &e);
    if (rc < 0)
        print_error("%s\n", e.msg);
    return rc;
}

static double yaml_num(const char *d, const char *key)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/result.yaml", d);
    sq_ykv *kv;
    int n;
    sq_err e;
    if (sq_yaml_load(p, &kv, &n, &e)) {
        print_error("%s\n", e.msg);
        fail();
    }
    const char *v = sq_ykv_get(kv, n, key);
    assert_non_null(v);
    double x = atof(v);
    sq_ykv_free(kv, n);
    return x;
}

static void stat_of(const char *d, const char *file, struct stat *st)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", d, file);
    assert_int_equal(stat(p, st), 0);
}

static void test_smoke_grid(void **state)
{
    char root[300], data_dir[300], tables[300], figures[300];
    snprintf(root, sizeof root, "%s/runs", dir);
    snprintf(data_dir, sizeof data_dir, "%s/no-data", dir); /* MNIST surely missing */
    snprintf(tables, sizeof tables, "%s/tables", dir);
    snprintf(figures, sizeof figures, "%s/figures", dir);
    sq_err e = {{0}};
    assert_int_equal(sq_mkdir_p(data_dir, &e), 0);
    grid t;
    grid_load(&t, "e2e", SMOKE, root, data_dir);
    assert_int_equal(run_grid(&t, data_dir), 0);
    /* float ran once for both bit widths; MNIST was skipped, not replaced */
    int trained = 0, skipped = 0;
    for (int i = 0; i < t.g.n; i++) {
        const sq_grun *r = &t.g.r[i];
        trained += r->status == SQ_GR_OK;
        skipped += r->status == SQ_GR_SKIPPED;
        if (r->status == SQ_GR_SKIPPED)
            must_contain(r->why, "mnist", "skip reason");
    }
    assert_int_equal(trained, 3);
    assert_int_equal(skipped, 4);
    sq_greport_opts o = {tables, figures, "plots", 1, "gnuplot"};
    unlink("/tmp/sq_gp_injected");
    if (sq_greport(&t.gp, 1, &t.ds, &o, &e)) {
        print_error("%s\n", e.msg);
        fail();
    }
    /* labels reach gnuplot as data, never as commands (`...` runs a shell) */
    struct stat inj;
    assert_int_not_equal(stat("/tmp/sq_gp_injected", &inj), 0);
    /* the table holds each run's own result */
    char p[600];
    snprintf(p, sizeof p, "%s/e2e-table.csv", tables);
    char *csv = slurp(p);
    for (int i = 0; i < t.g.n; i++) {
        const sq_grun *r = &t.g.r[i];
        if (strcmp(sq_grun_get(r, "bits"), "2") || r->status == SQ_GR_SKIPPED)
            continue;
        char want[200];
        snprintf(want, sizeof want, "e2e-table,\"%s\",\"fashion-mnist\",test_error,%.4f,0.0000,1,1,",
                 sq_grun_val(&t.g, r, sq_ggrid_axis(&t.g, "method"))->label,
                 yaml_num(r->source, "test_error"));
        must_contain(csv, want, "table of the smoke grid");
    }
    must_contain(csv, "\"mnist\",test_error,,,0,0", "the missing dataset's cell");
    sq_free(csv);
    static const char *const figs[] = {"e2e-bits", "e2e-curves", "e2e-switch", "e2e-hist"};
    static const char *const ext[] = {"pdf", "svg", "png"};
    for (size_t i = 0; i < 4; i++)
        for (size_t k = 0; k < 3; k++) {
            struct stat st;
            snprintf(p, sizeof p, "%s/%s.%s", figures, figs[i], ext[k]);
            if (stat(p, &st) || st.st_size < 500) {
                print_error("figure %s missing or empty\n", p);
                fail();
            }
        }
    /* again: everything is finished, nothing is trained or touched */
    struct stat before[16], after;
    int nb = 0;
    for (int i = 0; i < t.g.n; i++) /* the report re-read the status: done */
        if (t.g.r[i].status == SQ_GR_DONE)
            stat_of(t.g.r[i].dir, "result.yaml", &before[nb++]);
    assert_int_equal(nb, 3);
    assert_int_equal(run_grid(&t, data_dir), 0);
    nb = 0;
    for (int i = 0; i < t.g.n; i++) {
        const sq_grun *r = &t.g.r[i];
        assert_true(r->status == SQ_GR_DONE || r->status == SQ_GR_REUSED ||
                    r->status == SQ_GR_SKIPPED);
        if (r->status == SQ_GR_DONE) {
            stat_of(r->dir, "result.yaml", &after);
            assert_int_equal(after.st_ino, before[nb].st_ino);
            assert_int_equal(after.st_mtime, before[nb++].st_mtime);
        }
    }
    grid_free(&t);
}

/* A run that diverges (NaN/Inf, exit 3) is a finding, not a failure: the
 * grid succeeds, the table cell says "diverged", and the next grid leaves
 * the run alone instead of retrying it. */
static const char *DIVERGE =
    "experiment { name = 'div', caption = 'one run diverges',\n"
    "  base = { model = 'lenet5', epochs = 1, train_subset = 256, test_subset = 100 },\n"
    "  axes = { lr = { 0.01, 100 } },\n"
    "  profiles = { smoke = {}, quick = {}, paper = {} },\n"
    "  report = { { kind = 'table', id = 'div-table', rows = 'lr' } } }\n";

static void test_diverged_run(void **state)
{
    char root[300], tables[300], figures[300], p[1200];
    snprintf(root, sizeof root, "%s/div-runs", dir);
    snprintf(tables, sizeof tables, "%s/div-tables", dir);
    snprintf(figures, sizeof figures, "%s/div-figures", dir);
    grid t;
    grid_load(&t, "div", DIVERGE, root, "");
    assert_int_equal(t.g.n, 2);
    assert_int_equal(run_grid(&t, ""), 0);
    const sq_grun *ok = &t.g.r[0], *bad = &t.g.r[1];
    assert_int_equal(ok->status, SQ_GR_OK);
    assert_int_equal(bad->status, SQ_GR_DIVERGED);
    struct stat before, after;
    stat_of(bad->dir, "diverged.yaml", &before);
    snprintf(p, sizeof p, "%s/result.yaml", bad->dir);
    assert_int_not_equal(access(p, F_OK), 0); /* never recorded as a result */
    assert_int_equal(run_grid(&t, ""), 0);
    assert_int_equal(t.g.r[1].status, SQ_GR_DIVERGED);
    stat_of(bad->dir, "diverged.yaml", &after);
    assert_int_equal(after.st_mtime, before.st_mtime);
    assert_int_equal(after.st_ino, before.st_ino);
    sq_greport_opts o = {tables, figures, "plots", 1, "gnuplot"};
    sq_err e = {{0}};
    if (sq_greport(&t.gp, 1, &t.ds, &o, &e)) {
        print_error("%s\n", e.msg);
        fail();
    }
    snprintf(p, sizeof p, "%s/div-table.md", tables);
    char *md = slurp(p);
    must_contain(md, "diverged", "the diverged cell");
    sq_free(md);
    snprintf(p, sizeof p, "%s/div-table.csv", tables);
    char *csv = slurp(p);
    must_contain(csv, ",diverged", "the diverged cell's status");
    sq_free(csv);
    grid_free(&t);
}

/* Kill a grid (and its child) while the run trains; the next grid resumes
 * the run from its last finished epoch. */
static void test_kill_resume(void **state)
{
    char root[300], logp[1100], state_file[1100];
    snprintf(root, sizeof root, "%s/kill-runs", dir);
    grid t;
    grid_load(&t, "kill", KILL, root, "");
    const sq_grun *r = &t.g.r[0];
    snprintf(state_file, sizeof state_file, "%s/state.safetensors", r->dir);
    snprintf(logp, sizeof logp, "%s/log.txt", r->dir);
    char path[400];
    snprintf(path, sizeof path, "%s/kill.lua", dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        execl(SQ_BUILD_DIR "/symog", "symog", "grid", path, "--profile", "smoke", "--runs", root,
              "--jobs", "1", (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid);
    /* wait until an epoch is saved, then kill the whole process group */
    struct stat st;
    for (int i = 0; i < 6000 && stat(state_file, &st); i++)
        sleep_ms(10);
    assert_int_equal(stat(state_file, &st), 0);
    kill(-pid, SIGKILL);
    int ws;
    waitpid(pid, &ws, 0);
    sleep_ms(200); /* the child's lock goes with it */
    char res[1100];
    snprintf(res, sizeof res, "%s/result.yaml", r->dir);
    int finished_before_kill = stat(res, &st) == 0;
    if (finished_before_kill) /* too fast a machine: make it look interrupted */
        unlink(res);
    assert_int_equal(run_grid(&t, ""), 0);
    assert_int_equal(t.g.r[0].status, SQ_GR_OK);
    assert_int_equal(stat(res, &st), 0);
    char *log = slurp(logp);
    must_contain(log, "resuming", "log of the resumed run");
    sq_free(log);
    assert_int_equal((int)yaml_num(r->dir, "epochs"), 6);
    grid_free(&t);
}

/* A run that fails (here: `symog train` exits 1, as it does for a full
 * disk or a broken file; a wrapper makes the run with lr 0.5 fail) is
 * reported with its reason and log, the others go on, and the grid exits 1
 * at the end. */
static void test_failed_run(void **state)
{
    static const char *text =
        "experiment { name = 'failing', caption = 'one run fails',\n"
        "  base = { model = 'lenet5', epochs = 1, train_subset = 300, test_subset = 100 },\n"
        "  axes = { variant = { { label = 'fails', lr = 0.5 }, { label = 'fine', lr = 0.01 } } },\n"
        "  profiles = { smoke = {}, quick = {}, paper = {} } }\n";
    char root[300], wrapper[300], cwd[600];
    snprintf(root, sizeof root, "%s/fail-runs", dir);
    snprintf(wrapper, sizeof wrapper, "%s/symog-wrapper", dir);
    assert_non_null(getcwd(cwd, sizeof cwd));
    char script[2000];
    snprintf(script, sizeof script,
             "#!/bin/sh\ncase \" $* \" in *' --lr 0.5 '*) echo 'symog train: disk on fire' >&2; "
             "exit 1;; esac\nexec '%s/%s/symog' \"$@\"\n", cwd, SQ_BUILD_DIR);
    tu_write(wrapper, script, strlen(script));
    assert_int_equal(chmod(wrapper, 0755), 0);
    grid t;
    grid_load(&t, "failing", text, root, "");
    sq_grunner_opts o = {wrapper, "", 2, 0, 0, 0, NULL, 25};
    sq_err e = {{0}};
    assert_int_equal(sq_grid_run(&t.gp, 1, &t.ds, &o, &e), 1);
    assert_int_equal(t.g.r[0].status, SQ_GR_FAILED);
    must_contain(t.g.r[0].why, "exit status 1", "the failure's reason");
    must_contain(t.g.r[0].why, "disk on fire", "the failure's reason");
    assert_int_equal(t.g.r[1].status, SQ_GR_OK);
    char p[1200];
    snprintf(p, sizeof p, "%s/log.txt", t.g.r[0].dir);
    char *log = slurp(p);
    must_contain(log, "disk on fire", "the failed run's log");
    sq_free(log);
    grid_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_meanstd),
        cmocka_unit_test(test_report_handmade),
        cmocka_unit_test(test_report_atomic),
        cmocka_unit_test(test_smoke_grid),
        cmocka_unit_test(test_diverged_run),
        cmocka_unit_test(test_kill_resume),
        cmocka_unit_test(test_failed_run),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
