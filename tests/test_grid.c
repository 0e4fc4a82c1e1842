/* test_grid.c - experiment files and grids: expansion (precedence of base,
 * profile, variants and scalar axes; `only`; order; names), validation
 * (unknown keys and bad values name the key, file and line; Lua syntax
 * errors keep Lua's message and line; the sandbox), config hashing, and the
 * status that decides skip / resume / redo / reuse. No training here:
 * test_report.c runs real grids end to end. */
#include <math.h>
#include <sys/stat.h>

#include "testutil.h"

#include "grid/grid.h"
#include "io/atomic.h"
#include "io/yamlio.h"
#include "quant/quant.h"

#ifndef SQ_BUILD_DIR
#define SQ_BUILD_DIR "build"
#endif

static char dir[256];

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

/* Write name.lua in the test directory; returns its path. */
static const char *put(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s.lua", dir, name);
    tu_write(path, text, strlen(text));
    return path;
}

/* Load must fail with a message containing every one of the needles. */
static void load_fails(const char *name, const char *text, const char *const *needles)
{
    sq_gexp *x = NULL;
    sq_err e = {{0}};
    const char *path = put(name, text);
    int rc = sq_gexp_load(path, &x, &e);
    if (rc == 0) {
        sq_ggrid g;
        rc = sq_ggrid_expand(x, SQ_G_QUICK, dir, &g, &e);
        if (!rc)
            sq_ggrid_free(&g);
        sq_gexp_free(x);
    }
    if (rc == 0) {
        print_error("%s: loaded, but should fail\n", name);
        fail();
    }
    for (int i = 0; needles[i]; i++)
        if (!strstr(e.msg, needles[i])) {
            print_error("%s: message lacks '%s': %s\n", name, needles[i], e.msg);
            fail();
        }
}

#define NEEDLES(...) ((const char *const[]){__VA_ARGS__, NULL})

static const char *GOOD =
    "-- a comment\n"
    "local M = {\n"
    "  { label = \"float\", quantizer = \"float\", style = 1 },\n"
    "  { label = \"SYMOG x2\", quantizer = \"symog\", q = { shift = 1, lambdaT = 100 } },\n"
    "  { label = \"BC\", quantizer = \"binaryconnect\", bits = 1, only = { bits = 1 } },\n"
    "}\n"
    "experiment {\n"
    "  name = \"good\",\n"
    "  caption = \"test grid\",\n"
    "  base = { model = \"lenet5-bn\", epochs = 3, lr = 0.05 },\n"
    "  axes = { method = M, bits = { 1, 2 } },\n"
    "  profiles = {\n"
    "    smoke = { epochs = 1, seed = { 7 } },\n"
    "    quick = { train_subset = 100, seed = { 1, 2 }, method = { \"SYMOG x2\", \"BC\" } },\n"
    "    paper = { lr = 0.1 },\n"
    "  },\n"
    "  report = { { kind = \"table\", id = \"t\", rows = \"method\", cols = \"bits\" } },\n"
    "}\n";

static const sq_grun *find_run(const sq_ggrid *g, const char *name)
{
    for (int i = 0; i < g->n; i++)
        if (!strcmp(g->r[i].name, name))
            return &g->r[i];
    print_error("no run named %s\n", name);
    fail();
    return NULL;
}

static const char *q_of(const sq_grun *r, const char *key)
{
    for (int i = 0; i < r->nq; i++)
        if (!strcmp(r->q[i].key, key))
            return r->q[i].val;
    return NULL;
}

static void test_expand(void **state)
{
    sq_gexp *x = NULL;
    sq_err e = {{0}};
    if (sq_gexp_load(put("good", GOOD), &x, &e)) {
        print_error("%s\n", e.msg);
        fail();
    }
    assert_string_equal(x->name, "good");
    sq_ggrid g;
    /* smoke: 3 methods x 2 bits, BC only at 1 bit -> 5 runs, one seed */
    if (sq_ggrid_expand(x, SQ_G_SMOKE, "R", &g, &e)) {
        print_error("%s\n", e.msg);
        fail();
    }
    assert_int_equal(g.n, 5);
    assert_string_equal(g.axes[0].name, "method"); /* variants first, seed last */
    assert_string_equal(g.axes[1].name, "bits");
    assert_string_equal(g.axes[2].name, "seed");
    const sq_grun *r = find_run(&g, "SYMOG-x2_bits2_seed7");
    assert_string_equal(r->dir, "R/good/smoke/SYMOG-x2_bits2_seed7");
    assert_string_equal(sq_grun_get(r, "epochs"), "1");     /* profile over base  */
    assert_string_equal(sq_grun_get(r, "lr"), "0.05");      /* base over default  */
    assert_string_equal(sq_grun_get(r, "batch"), "64");     /* engine default     */
    assert_string_equal(sq_grun_get(r, "bits"), "2");       /* scalar axis        */
    assert_string_equal(sq_grun_get(r, "seed"), "7");
    assert_string_equal(q_of(r, "shift"), "1");
    assert_string_equal(q_of(r, "lambdaT"), "100");
    r = find_run(&g, "BC_bits1_seed7");
    assert_string_equal(sq_grun_get(r, "bits"), "1");
    for (int i = 0; i < g.n; i++)
        assert_null(strstr(g.r[i].name, "BC_bits2")); /* dropped by only */
    sq_ggrid_free(&g);
    /* quick: the profile selects two variants by label and two seeds */
    assert_int_equal(sq_ggrid_expand(x, SQ_G_QUICK, "R", &g, &e), 0);
    assert_int_equal(g.n, 2 * 2 + 1 * 2);
    assert_string_equal(sq_grun_get(find_run(&g, "SYMOG-x2_bits1_seed2"), "train_subset"), "100");
    sq_ggrid_free(&g);
    /* paper: no seed axis at all; the engine's default seed */
    assert_int_equal(sq_ggrid_expand(x, SQ_G_PAPER, "R", &g, &e), 0);
    assert_int_equal(g.n, 5);
    r = find_run(&g, "float_bits1");
    assert_string_equal(sq_grun_get(r, "lr"), "0.1");
    assert_string_equal(sq_grun_get(r, "seed"), "1");
    sq_ggrid_free(&g);
    sq_gexp_free(x);
}

/* q merges option by option: base < profile < variant */
static void test_q_merge(void **state)
{
    const char *text = "experiment { name = 'qm', caption = 'c',\n"
                       "  base = { quantizer = 'symog', q = { shift = 0, lambdaT = 10, clip = 'half' } },\n"
                       "  axes = { variant = { { label = 'a' }, { label = 'b', q = { shift = 2 } } } },\n"
                       "  profiles = { smoke = { q = { lambdaT = 20 } }, quick = {}, paper = {} } }\n";
    sq_gexp *x = NULL;
    sq_err e = {{0}};
    if (sq_gexp_load(put("qm", text), &x, &e)) {
        print_error("%s\n", e.msg);
        fail();
    }
    sq_ggrid g;
    assert_int_equal(sq_ggrid_expand(x, SQ_G_SMOKE, "R", &g, &e), 0);
    assert_int_equal(g.n, 2);
    assert_string_equal(q_of(&g.r[0], "shift"), "0");
    assert_string_equal(q_of(&g.r[1], "shift"), "2");
    assert_string_equal(q_of(&g.r[1], "lambdaT"), "20");
    assert_string_equal(q_of(&g.r[1], "clip"), "half");
    assert_string_equal(g.r[1].q[0].key, "clip"); /* sorted: a canonical argv */
    sq_ggrid_free(&g);
    /* an option the run's quantizer does not have is an error with its line */
    const char *bad = "experiment { name = 'qb', caption = 'c',\n"
                      "  axes = { method = { { label = 'f', quantizer = 'float' },\n"
                      "    { label = 's', quantizer = 'symog', q = {\n      lamda0 = 1 } } } },\n"
                      "  profiles = { smoke = {}, quick = {}, paper = {} } }\n";
    load_fails("qb", bad, NEEDLES("qb.lua:4:", "run s", "lamda0"));
    sq_gexp_free(x);
}

static void test_order_and_include(void **state)
{
    put("_shared", "return { base = { model = 'lenet5' }, seeds = { 3, 4 } }\n");
    const char *text = "local S = include '_shared.lua'\n"
                       "experiment { name = 'ordered', caption = 'c', base = S.base,\n"
                       "  order = { 'seed', 'lr' },\n"
                       "  axes = { lr = { 0.1, 0.01 }, seed = S.seeds },\n"
                       "  profiles = { smoke = {}, quick = {}, paper = {} } }\n";
    sq_gexp *x = NULL;
    sq_err e = {{0}};
    if (sq_gexp_load(put("ordered", text), &x, &e)) {
        print_error("%s\n", e.msg);
        fail();
    }
    sq_ggrid g;
    assert_int_equal(sq_ggrid_expand(x, SQ_G_QUICK, "R", &g, &e), 0);
    assert_int_equal(g.n, 4);
    assert_string_equal(g.r[0].name, "seed3_lr0.1");
    assert_string_equal(g.r[1].name, "seed3_lr0.01");
    assert_string_equal(sq_grun_get(&g.r[3], "model"), "lenet5");
    sq_ggrid_free(&g);
    sq_gexp_free(x);
}


static void test_unknown_keys(void **state)
{
    /* top level, profile, variant, base, report: key, file and line */
    load_fails("k1", "experiment {\n  name = 'k1', caption = 'c',\n  colour = 3,\n"
                     "  profiles = { smoke = {}, quick = {}, paper = {} } }\n",
               NEEDLES("k1.lua:3:", "unknown key 'colour'"));
    load_fails("k2", "experiment {\n  name = 'k2', caption = 'c',\n  profiles = {\n"
                     "    smoke = {},\n    quick = {\n      epoch = 3,\n    },\n"
                     "    paper = {} } }\n",
               NEEDLES("k2.lua:6:", "profiles.quick", "unknown key 'epoch'"));
    load_fails("k3", "experiment { name = 'k3', caption = 'c',\n  axes = { method = {\n"
                     "    { label = 'a' },\n    { label = 'b', quantiser = 'symog' },\n  } },\n"
                     "  profiles = { smoke = {}, quick = {}, paper = {} } }\n",
               NEEDLES("k3.lua:4:", "axes.method[2]", "unknown key 'quantiser'"));
    load_fails("k4", "experiment { name = 'k4', caption = 'c',\n  base = { model = 'lenet5',\n"
                     "    q = { shift = 1 },\n    learning_rate = 0.1 },\n"
                     "  profiles = { smoke = {}, quick = {}, paper = {} } }\n",
               NEEDLES("k4.lua:4:", "base", "unknown key 'learning_rate'"));
    load_fails("k5", "experiment { name = 'k5', caption = 'c',\n"
                     "  profiles = { smoke = {}, quick = {}, paper = {} },\n"
                     "  report = {\n    { kind = 'table', id = 't', rows = 'x', colums = 'y' } } }\n",
               NEEDLES("k5.lua:4:", "unknown key 'colums'"));
    load_fails("k6", "experiment { name = 'k6', caption = 'c',\n"
                     "  profiles = { smoke = {}, quick = {}, paper = {}, huge = {} } }\n",
               NEEDLES("k6.lua:2:", "unknown key 'huge'"));
}

static void test_bad_values(void **state)
{
    const char *P = "  profiles = { smoke = {}, quick = {}, paper = {} } }\n";
    char t[1024];
    snprintf(t, sizeof t, "experiment { name = 'v1', caption = 'c',\n  base = {\n    bits = 9 },\n%s", P);
    load_fails("v1", t, NEEDLES("v1.lua:3:", "base.bits", "out of range"));
    snprintf(t, sizeof t, "experiment { name = 'v2', caption = 'c',\n  base = { epochs = 2.5 },\n%s", P);
    load_fails("v2", t, NEEDLES("v2.lua:2:", "epochs", "whole number"));
    snprintf(t, sizeof t, "experiment { name = 'v3', caption = 'c',\n  base = { data = 'imagenet' },\n%s", P);
    load_fails("v3", t, NEEDLES("v3.lua:2:", "unknown dataset 'imagenet'"));
    snprintf(t, sizeof t, "experiment { name = 'v4', caption = 'c',\n  base = { schedule = 'cosinus' },\n%s", P);
    load_fails("v4", t, NEEDLES("v4.lua:2:", "schedule"));
    snprintf(t, sizeof t, "experiment { name = 'v5', caption = 'c',\n\n  base = { quantizer = 'symogg' },\n%s", P);
    load_fails("v5", t, NEEDLES("v5.lua:3:", "unknown quantizer 'symogg'"));
    snprintf(t, sizeof t, "experiment { name = 'v6', caption = 'c',\n  base = { quantizer = 'symog',\n"
                          "    q = { lambda = 'expo' } },\n%s", P);
    load_fails("v6", t, NEEDLES("v6.lua:3:", "lambda=expo", "exp|linear|const"));
    snprintf(t, sizeof t, "experiment { name = 'v7', caption = 'c',\n  axes = { method = {\n"
                          "    { quantizer = 'float' } } },\n%s", P);
    load_fails("v7", t, NEEDLES("v7.lua:3:", "'label' is required"));
    snprintf(t, sizeof t, "experiment { name = 'v8', caption = 'c',\n  axes = { seed = {} },\n%s", P);
    load_fails("v8", t, NEEDLES("v8.lua:2:", "non-empty list"));
    snprintf(t, sizeof t, "experiment { name = 'v9', caption = 'c',\n  axes = { method = {\n"
                          "    { label = 'a' }, { label = 'a' } } },\n%s", P);
    load_fails("v9", t, NEEDLES("v9.lua:3:", "both named"));
    load_fails("v10", "experiment { name = 'v10', caption = 'c',\n  profiles = { smoke = {}, quick = {} } }\n",
               NEEDLES("v10.lua:2:", "profile 'paper' is missing"));
    load_fails("v11", "experiment { name = 'other', caption = 'c',\n  profiles = { smoke = {}, quick = {}, paper = {} } }\n",
               NEEDLES("v11.lua:1:", "differs from the file name"));
    snprintf(t, sizeof t, "experiment { name = 'v12', caption = 'c',\n  axes = { method = { { label = 'a' } } },\n"
                          "  profiles = { smoke = {}, quick = { method = { 'a', 'zz' } }, paper = {} } }\n");
    load_fails("v12", t, NEEDLES("v12.lua:3:", "\"zz\" is not a label"));
    snprintf(t, sizeof t, "experiment { name = 'v13', caption = 'c',\n%s"
                          "  , report = { { kind = 'table', id = 't', rows = 'method' } } }\n", "  profiles = { smoke = {}, quick = {}, paper = {} }\n");
    load_fails("v13", t, NEEDLES("v13.lua", "'method' is not an axis"));
    snprintf(t, sizeof t, "experiment { name = 'v14', caption = 'c',\n  base = { lr = 'fast' },\n%s", P);
    load_fails("v14", t, NEEDLES("v14.lua:2:", "must be a number"));
}

static void test_lua_errors(void **state)
{
    load_fails("s1", "experiment {\n  name = 's1'\n  caption = 'c',\n}\n",
               NEEDLES("s1.lua:3:", "'}' expected"));
    load_fails("s2", "local x = nil\nlocal y = x.field\n", NEEDLES("s2.lua:2:", "attempt to index"));
    load_fails("s3", "local t = {}\n", NEEDLES("s3.lua", "no experiment{"));
    load_fails("s4", "experiment { name = 's4' }\nexperiment { name = 's4' }\n",
               NEEDLES("s4.lua:2:", "second time"));
}

static void test_sandbox(void **state)
{
    load_fails("x1", "os.execute('touch /tmp/sq_sandbox_escape')\n", NEEDLES("x1.lua:1:", "'os'"));
    load_fails("x2", "io.open('/tmp/sq_sandbox_escape', 'w')\n", NEEDLES("x2.lua:1:", "'io'"));
    load_fails("x3", "load('return 1')()\n", NEEDLES("x3.lua:1:", "'load'"));
    load_fails("x4", "dofile('/etc/passwd')\n", NEEDLES("x4.lua:1:", "'dofile'"));
    load_fails("x5", "require('os')\n", NEEDLES("x5.lua:1:", "'require'"));
    load_fails("x6", "include '../etc/passwd'\n", NEEDLES("x6.lua:1:", "no path"));
    load_fails("x7", "while true do end\n", NEEDLES("x7.lua:1:", "endless loop"));
    load_fails("x8", "local t = {}\nfor i = 1, 1e9 do t[i] = i end\n", NEEDLES("x8.lua", "MiB"));
    load_fails("x9", "local f = string.dump\nf(print)\n", NEEDLES("x9.lua:2:", "call a nil value"));
    struct stat st;
    assert_int_not_equal(stat("/tmp/sq_sandbox_escape", &st), 0);
}

/* The runs of GOOD, smoke profile, hashed with a fake dataset. */
static void hashed(sq_gexp **x, sq_ggrid *g, sq_gdatasets *ds, const char *root, const char *sha)
{
    sq_err e = {{0}};
    if (!*x && sq_gexp_load(put("good", GOOD), x, &e)) {
        print_error("%s\n", e.msg);
        fail();
    }
    assert_int_equal(sq_ggrid_expand(*x, SQ_G_SMOKE, root, g, &e), 0);
    memset(ds, 0, sizeof *ds);
    ds->n = 1;
    sq_gdata *d = &ds->d[0];
    snprintf(d->name, sizeof d->name, "fashion-mnist");
    d->ok = 1;
    snprintf(d->sha_train, sizeof d->sha_train, "%s", sha);
    snprintf(d->sha_test, sizeof d->sha_test, "%s", sha);
    d->n_train = 60000, d->n_test = 10000, d->c = 1, d->h = d->w = 28, d->classes = 10;
    for (int i = 0; i < g->n; i++)
        if (sq_grun_hash(&g->r[i], d, &e)) {
            print_error("%s\n", e.msg);
            fail();
        }
}

static void test_hash(void **state)
{
    sq_gexp *x = NULL;
    sq_ggrid g, h;
    sq_gdatasets ds;
    hashed(&x, &g, &ds, "R", "aa");
    sq_grun a = *find_run(&g, "SYMOG-x2_bits2_seed7"), b = a;
    sq_err e;
    /* explicit defaults do not change the config, other values do */
    assert_int_equal(strlen(a.hash), 64);
    snprintf(b.q[b.nq].key, SQ_G_KEY, "clip");
    snprintf(b.q[b.nq++].val, SQ_G_VAL, "outer");
    assert_int_equal(sq_grun_hash(&b, &ds.d[0], &e), 0);
    assert_string_equal(a.hash, b.hash);
    snprintf(b.q[b.nq - 1].val, SQ_G_VAL, "half");
    assert_int_equal(sq_grun_hash(&b, &ds.d[0], &e), 0);
    assert_string_not_equal(a.hash, b.hash);
    b = a;
    snprintf(b.s[sq_gset_key_index("lr")].val, SQ_G_VAL, "0.051");
    assert_int_equal(sq_grun_hash(&b, &ds.d[0], &e), 0);
    assert_string_not_equal(a.hash, b.hash);
    /* the float net ignores the bit width: one config for every bits value */
    assert_string_equal(find_run(&g, "float_bits1_seed7")->hash, find_run(&g, "float_bits2_seed7")->hash);
    assert_string_not_equal(find_run(&g, "SYMOG-x2_bits1_seed7")->hash, a.hash);
    /* other dataset bytes, other config; the directory is not part of it */
    hashed(&x, &h, &ds, "elsewhere", "bb");
    assert_string_not_equal(find_run(&h, "SYMOG-x2_bits2_seed7")->hash, a.hash);
    sq_ggrid_free(&h);
    hashed(&x, &h, &ds, "elsewhere", "aa");
    assert_string_equal(find_run(&h, "SYMOG-x2_bits2_seed7")->hash, a.hash);
    sq_ggrid_free(&h);
    sq_ggrid_free(&g);
    sq_gexp_free(x);
}

static void touch(const char *d, const char *file)
{
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", d, file);
    tu_write(p, "x: 1\n", 5);
}

static void test_status(void **state)
{
    char root[300];
    snprintf(root, sizeof root, "%s/runs", dir);
    sq_gexp *x = NULL;
    sq_ggrid g;
    sq_gdatasets ds;
    sq_err e = {{0}};
    hashed(&x, &g, &ds, root, "aa");
    sq_grun *done = (sq_grun *)find_run(&g, "SYMOG-x2_bits2_seed7");
    sq_grun *killed = (sq_grun *)find_run(&g, "SYMOG-x2_bits1_seed7");
    sq_grun *stale = (sq_grun *)find_run(&g, "BC_bits1_seed7");
    sq_grun *f1 = (sq_grun *)find_run(&g, "float_bits1_seed7");
    /* finished; interrupted (grid.yaml, no result); another config's dir */
    assert_int_equal(sq_mkdir_p(done->dir, &e), 0);
    assert_int_equal(sq_grun_write_meta(&g, done, NULL, &e), 0);
    touch(done->dir, "result.yaml");
    assert_int_equal(sq_mkdir_p(killed->dir, &e), 0);
    assert_int_equal(sq_grun_write_meta(&g, killed, NULL, &e), 0);
    touch(killed->dir, "metrics.csv");
    assert_int_equal(sq_mkdir_p(stale->dir, &e), 0);
    sq_grun other = *stale;
    snprintf(other.hash, sizeof other.hash, "%064d", 0);
    assert_int_equal(sq_grun_write_meta(&g, &other, NULL, &e), 0);
    touch(stale->dir, "result.yaml");
    /* float at 1 bit finished under another experiment's directory */
    char elsewhere[400];
    snprintf(elsewhere, sizeof elsewhere, "%s/other/smoke/f", root);
    sq_grun moved = *f1;
    snprintf(moved.dir, sizeof moved.dir, "%s", elsewhere);
    assert_int_equal(sq_mkdir_p(elsewhere, &e), 0);
    assert_int_equal(sq_grun_write_meta(&g, &moved, NULL, &e), 0);
    touch(elsewhere, "result.yaml");
    sq_gindex *ix = NULL;
    sq_ggrid *gp = &g;
    assert_int_equal(sq_gindex_build(root, &ix, &e), 0);
    assert_int_equal(sq_gplan_status(&gp, 1, &ds, ix, 0, &e), 0);
    assert_int_equal(done->status, SQ_GR_DONE);
    assert_string_equal(done->source, done->dir);
    assert_int_equal(killed->status, SQ_GR_RESUME);
    assert_int_equal(stale->status, SQ_GR_REDO);
    assert_int_equal(f1->status, SQ_GR_REUSED);
    assert_string_equal(f1->source, elsewhere);
    /* float at 2 bits: same config as float at 1 bit, which is reused */
    assert_int_equal(find_run(&g, "float_bits2_seed7")->status, SQ_GR_REUSED);
    assert_int_equal(find_run(&g, "SYMOG-x2_bits1_seed7")->status, SQ_GR_RESUME);
    sq_gindex_free(ix);
    /* without the reusable run: the second float is a twin of the first */
    assert_int_equal(sq_g_rmtree(elsewhere, &e), 0);
    assert_int_equal(sq_gindex_build(root, &ix, &e), 0);
    assert_int_equal(sq_gplan_status(&gp, 1, &ds, ix, 0, &e), 0);
    assert_int_equal(f1->status, SQ_GR_TODO);
    const sq_grun *f2 = find_run(&g, "float_bits2_seed7");
    assert_int_equal(f2->status, SQ_GR_DUP);
    assert_ptr_equal(&g.r[f2->primary_r], f1);
    sq_gindex_free(ix);
    /* a missing dataset skips the run with the loader's reason */
    ds.d[0].ok = 0;
    snprintf(ds.d[0].why, sizeof ds.d[0].why, "fashion-mnist (train split) not found");
    assert_int_equal(sq_gindex_build(root, &ix, &e), 0);
    assert_int_equal(sq_gplan_status(&gp, 1, &ds, ix, 0, &e), 0);
    assert_int_equal(done->status, SQ_GR_SKIPPED);
    assert_non_null(strstr(done->why, "not found"));
    sq_gindex_free(ix);
    sq_ggrid_free(&g);
    sq_gexp_free(x);
}

static void test_meta_atomic(void **state)
{
    /* grid.yaml is written through a temp file + rename: after a write only
     * the target exists, and a reader gets the hash back */
    char root[300];
    snprintf(root, sizeof root, "%s/meta", dir);
    sq_gexp *x = NULL;
    sq_ggrid g;
    sq_gdatasets ds;
    sq_err e = {{0}};
    hashed(&x, &g, &ds, root, "aa");
    const sq_grun *r = &g.r[0];
    assert_int_equal(sq_mkdir_p(r->dir, &e), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(sq_grun_write_meta(&g, r, i == 2 ? "x/y/z" : NULL, &e), 0);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "test $(ls -A '%s' | wc -l) -eq 1", r->dir);
    assert_int_equal(system(cmd), 0);
    char p[1200];
    snprintf(p, sizeof p, "%s/grid.yaml", r->dir);
    sq_ykv *kv;
    int n;
    assert_int_equal(sq_yaml_load(p, &kv, &n, &e), 0);
    assert_string_equal(sq_ykv_get(kv, n, "hash"), r->hash);
    assert_string_equal(sq_ykv_get(kv, n, "same_as"), "x/y/z");
    assert_string_equal(sq_ykv_get(kv, n, "axes.method"), "float");
    sq_ykv_free(kv, n);
    /* clearing a run directory keeps its lock file */
    touch(r->dir, ".lock");
    touch(r->dir, "state.safetensors");
    assert_int_equal(sq_g_clear_dir(r->dir, ".lock", &e), 0);
    snprintf(cmd, sizeof cmd, "test \"$(ls -A '%s')\" = .lock", r->dir);
    assert_int_equal(system(cmd), 0);
    sq_ggrid_free(&g);
    sq_gexp_free(x);
}

static void test_source_lines(void **state)
{
    const char *src = "-- experiment { fake = 1 }\n"
                      "local s = [[ experiment { ]]\n"
                      "experiment {\n"
                      "  name = 'a',   -- name = 'b'\n"
                      "  axes = { m = { { label = 'x' },\n"
                      "                 { label = 'y',\n"
                      "                   f = function() local a, b = 1, 2 return a end,\n"
                      "                   q = { k = 1 } } } },\n"
                      "  [\"profiles\"] = { quick = { epochs = 1 } },\n"
                      "}\n";
    const char *p1[] = {"name"}, *p2[] = {"axes", "m", "#2", "q", "k"}, *p3[] = {"profiles", "quick", "epochs"};
    const char *p4[] = {"axes", "m", "#1", "label"}, *p5[] = {"missing"};
    assert_int_equal(sq_gsrc_line(src, 3, p1, 1), 4);
    assert_int_equal(sq_gsrc_line(src, 3, p2, 5), 8);
    assert_int_equal(sq_gsrc_line(src, 3, p3, 3), 9);
    assert_int_equal(sq_gsrc_line(src, 3, p4, 4), 5);
    assert_int_equal(sq_gsrc_line(src, 3, p5, 1), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expand),
        cmocka_unit_test(test_q_merge),
        cmocka_unit_test(test_order_and_include),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_lua_errors),
        cmocka_unit_test(test_sandbox),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_status),
        cmocka_unit_test(test_meta_atomic),
        cmocka_unit_test(test_source_lines),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
