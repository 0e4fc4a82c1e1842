/* grid.h - experiment grids: Lua experiment files evaluated in a sandbox
 * (lua.c, exp.c), their expansion into runs with a config hash per run
 * (expand.c), the resumable parallel runner (runner.c), the index of finished
 * runs (runs.c) and the report: tables (report.c) and figure data plus
 * gnuplot (figures.c).
 *
 * An experiment file (experiments/NAME.lua) calls experiment{...} once:
 *
 *   experiment {
 *     name = "table1", caption = "...", notes = "...",
 *     base = { model = "lenet5-bn", bits = 2, q = { shift = 1 } },
 *     axes = { method = { {label = "SYMOG", quantizer = "symog"}, ... },
 *              data = { "fashion-mnist", "mnist" } },
 *     profiles = { smoke = {...}, quick = {...}, paper = {...} },
 *     report = { { kind = "table", id = "table1", rows = "method", cols = "data" } },
 *   }
 *
 * The settings of one run are, later wins: the engine's defaults, base, the
 * profile, variant axis values (tables with a label), scalar axis values;
 * `q` (quantizer options) merges key by key. A profile key holding a list
 * replaces (or adds) the axis of that name; for a variant axis a list of
 * labels selects variants. A variant's `only = { KEY = {...} }` keeps it only
 * in runs whose final setting KEY is one of the values. experiments/README.md
 * documents every key. */
#ifndef SQ_GRID_H
#define SQ_GRID_H

#include <stddef.h>
#include <stdio.h>

#include "core/sq.h"

#define SQ_G_KEY 24      /* setting / option / axis names        */
#define SQ_G_VAL 96      /* a setting's value as text             */
#define SQ_G_LABEL 64
#define SQ_G_MAX_AXES 8
#define SQ_G_MAX_SET 24  /* settings one layer may set            */
#define SQ_G_MAX_Q 16    /* quantizer options (--q-opt)           */
#define SQ_G_MAX_ONLY 4
#define SQ_G_MAX_OUT 8
#define SQ_G_PATH 1024

enum { SQ_G_SMOKE, SQ_G_QUICK, SQ_G_PAPER, SQ_G_NPROFILES };
extern const char *const sq_g_profiles[SQ_G_NPROFILES];
int sq_g_profile_index(const char *name); /* -1 if unknown */

typedef struct sq_gkv {
    char key[SQ_G_KEY];
    char val[SQ_G_VAL];
    int line;               /* where the file set it (0: a default)   */
} sq_gkv;

/* One layer of settings: keys of the train schema, and quantizer options. */
typedef struct sq_gset {
    sq_gkv s[SQ_G_MAX_SET];
    int ns;
    sq_gkv q[SQ_G_MAX_Q];
    int nq;
} sq_gset;

typedef struct sq_gonly {
    char key[SQ_G_KEY];
    int n;
    char val[16][SQ_G_VAL];
} sq_gonly;

/* One value of an axis: a variant (settings + label) or a scalar. */
typedef struct sq_gval {
    char label[SQ_G_LABEL]; /* shown in tables and legends       */
    char slug[SQ_G_LABEL];  /* its part of the run's directory    */
    int style;              /* figure style 1..12, 0 = by order   */
    int line;               /* source line, for messages          */
    sq_gset set;
    sq_gonly only[SQ_G_MAX_ONLY];
    int nonly;
} sq_gval;

typedef struct sq_gaxis {
    char name[SQ_G_KEY];
    int variant;            /* values are tables with a label     */
    int n, line;
    sq_gval *v;             /* n values (sq_malloc)               */
} sq_gaxis;

typedef struct sq_gprof {
    int line;
    char note[256];
    sq_gset set;
    sq_gaxis axes[SQ_G_MAX_AXES]; /* replacements / additions      */
    int naxes;
} sq_gprof;

enum { SQ_GO_TABLE, SQ_GO_BITS, SQ_GO_CURVES, SQ_GO_SWITCH, SQ_GO_HIST, SQ_GO_NKINDS };
extern const char *const sq_go_kinds[SQ_GO_NKINDS];

typedef struct sq_gpub {
    char row[SQ_G_LABEL], col[SQ_G_LABEL]; /* col "" = any column   */
    double value;
    char source[200];
} sq_gpub;

/* One table or figure an experiment feeds. */
typedef struct sq_gout {
    int kind, line;
    char id[48], title[64];
    char rows[SQ_G_KEY], cols[SQ_G_KEY], x[SQ_G_KEY], lines[SQ_G_KEY];
    char metrics[4][SQ_G_KEY];
    int nmetrics;
    char reference[SQ_G_LABEL];
    sq_gpub pub[8];
    int npub;
    sq_gkv where[4];
    int nwhere;
    char layers[8][48];
    int nlayers;
    int epochs[8];
    int nepochs;
} sq_gout;

typedef struct sq_gexp {
    char path[SQ_G_PATH];
    char name[64];
    char caption[600];
    char notes[1200];
    sq_gset base;
    sq_gaxis axes[SQ_G_MAX_AXES];
    int naxes;
    sq_gprof prof[SQ_G_NPROFILES];
    sq_gout out[SQ_G_MAX_OUT];
    int nout;
    char order[SQ_G_MAX_AXES][SQ_G_KEY]; /* `order`, if given             */
    int norder, order_line;
    char *src;              /* the file's text, for line numbers later    */
    int call_line;          /* line of the experiment{} call              */
} sq_gexp;

/* ---- lua.c: run a file in the sandbox, get the experiment{} table ----- */
typedef enum { SQ_GV_NIL, SQ_GV_BOOL, SQ_GV_NUM, SQ_GV_STR, SQ_GV_TAB } sq_gvtype;
typedef struct sq_gv sq_gv;
typedef struct sq_gvent {
    char *key;          /* string key, or NULL for list position idx      */
    long long idx;      /* 1-based                                        */
    sq_gv *val;
} sq_gvent;
struct sq_gv {
    sq_gvtype t;
    int b, isint;
    double num;
    long long i;
    char *s;
    int n;              /* table entries: list part first, then names sorted */
    sq_gvent *e;
};

typedef struct sq_glua_limits {
    size_t mem_bytes;            /* Lua heap cap                          */
    long long instructions;      /* VM instructions before "ran too long" */
} sq_glua_limits;

/* Run path in the sandbox; *root gets a copy of the table given to
 * experiment{}, *src the file's text (for sq_gsrc_line), *call_line the line
 * of the experiment call. */
int sq_glua_run(const char *path, const sq_glua_limits *lim, sq_gv **root, char **src,
                int *call_line, sq_err *e);
void sq_gv_free(sq_gv *v);
const sq_gv *sq_gv_get(const sq_gv *t, const char *key);
/* Best source line of a value path such as {"profiles","quick","epochs"}
 * (numbers as "#3" for list position 3) inside the constructor of the
 * experiment call; the call line when it cannot be followed. */
int sq_gsrc_line(const char *src, int call_line, const char *const *path, int depth);

/* ---- exp.c: validate into an sq_gexp --------------------------------- */
int sq_gexp_load(const char *path, sq_gexp **out, sq_err *e);
void sq_gexp_free(sq_gexp *x);
/* The train schema: settings keys in canonical order. */
int sq_gset_nkeys(void);
const char *sq_gset_key(int i);
int sq_gset_key_index(const char *key); /* -1 if not a setting */
const char *sq_gset_flag(int i);        /* "--lr" etc.          */
/* The engine's default value of setting i, as canonical text. */
void sq_gset_default(int i, char *buf, size_t n);
const char *sq_gset_find(const sq_gset *s, const char *key);
/* Set key=val in s (replacing); -1 when full. q: quantizer option. */
int sq_gset_put(sq_gset *s, int q, const char *key, const char *val, int line);
/* Canonical text of a number: integers without a point, others shortest
 * round-trip. */
void sq_g_fmtnum(char *buf, size_t n, double v);

/* ---- expand.c: runs of one experiment for one profile ----------------- */
enum {
    SQ_GR_TODO,    /* never started here                                */
    SQ_GR_RESUME,  /* same config, interrupted: continue (--resume)     */
    SQ_GR_REDO,    /* other config or no grid.yaml: wipe, start again   */
    SQ_GR_DONE,    /* finished, same config                             */
    SQ_GR_REUSED,  /* finished under another name (same config hash)    */
    SQ_GR_DUP,     /* same config as an earlier run of this plan        */
    SQ_GR_SKIPPED, /* dataset missing                                   */
    SQ_GR_INVALID, /* model / quantizer refuse this combination         */
    SQ_GR_BUSY,    /* locked by another running grid                    */
    SQ_GR_FAILED,  /* ran and failed                                    */
    SQ_GR_OK,      /* ran and finished now                              */
    SQ_GR_DIVERGED,/* same config, stopped on NaN/Inf (diverged.yaml):
                      final, not retried, shown as "diverged"           */
    SQ_GR_NSTATES
};

typedef struct sq_grun {
    int vi[SQ_G_MAX_AXES];  /* value index per effective axis            */
    char name[200];         /* directory name                            */
    char dir[SQ_G_PATH];    /* runs_root/<experiment>/<profile>/<name>   */
    sq_gkv s[SQ_G_MAX_SET]; /* every setting, schema order               */
    int ns;
    sq_gkv q[SQ_G_MAX_Q];   /* quantizer options given (sorted by key)   */
    int nq;
    char hash[65];
    int status;
    char why[SQ_ERR_MSG];   /* skip / invalid / failure reason           */
    char source[SQ_G_PATH]; /* the finished directory that holds results */
    int primary_g, primary_r; /* SQ_GR_DUP: grid and run it duplicates */
    double cost;            /* estimated core-seconds (<0 unknown)       */
} sq_grun;

typedef struct sq_ggrid {
    const sq_gexp *x;
    int profile;
    char root[SQ_G_PATH];         /* the runs root (results/runs)         */
    sq_gaxis axes[SQ_G_MAX_AXES]; /* effective axes (profile applied)     */
    int naxes;
    sq_grun *r;
    int n;
} sq_ggrid;

int sq_ggrid_expand(const sq_gexp *x, int profile, const char *runs_root, sq_ggrid *g,
                    sq_err *e);
void sq_ggrid_free(sq_ggrid *g);
const char *sq_grun_get(const sq_grun *r, const char *key); /* a setting's value */
int sq_ggrid_axis(const sq_ggrid *g, const char *name);     /* index or -1 */
const sq_gval *sq_grun_val(const sq_ggrid *g, const sq_grun *r, int axis);

/* Datasets: checked once per name with sq_data_open (both splits); the
 * SHA-256 of their files joins the config hash. */
typedef struct sq_gdata {
    char name[32];
    int ok;
    char why[SQ_ERR_MSG];
    char sha_train[65], sha_test[65];
    int n_train, n_test, c, h, w, classes;
} sq_gdata;

typedef struct sq_gmodel {
    char model[32];
    int c, h, w, classes;
    int ok;
    double flops;           /* forward FLOPs per image                    */
    char why[SQ_ERR_MSG];
} sq_gmodel;

typedef struct sq_gdatasets {
    sq_gdata d[8];
    int n;
    char data_dir[SQ_G_PATH];
    sq_gmodel m[16];        /* models built once for their FLOPs          */
    int nm;
} sq_gdatasets;

const sq_gdata *sq_gdata_check(sq_gdatasets *ds, const char *name);

/* Canonical config text and its SHA-256 (hex). The text lists every setting
 * (engine defaults filled in; not threads, paths or progress), the
 * quantizer's resolved options and the dataset checksums. */
int sq_grun_hash(sq_grun *r, const sq_gdata *d, sq_err *e);

/* Status of every run: data present, valid, finished / to resume / to redo,
 * dup within the plan, reuse of a finished run with the same hash. */
typedef struct sq_gindex sq_gindex;
int sq_gindex_build(const char *runs_root, sq_gindex **ix, sq_err *e);
void sq_gindex_free(sq_gindex *ix);
/* A finished run directory whose grid.yaml has this hash (prefer `dir`). */
const char *sq_gindex_find(const sq_gindex *ix, const char *hash, const char *prefer);
int sq_gindex_add(sq_gindex *ix, const char *hash, const char *dir);

int sq_gplan_status(sq_ggrid **g, int ng, sq_gdatasets *ds, const sq_gindex *ix, int check_valid,
                    sq_err *e);

/* ---- runner.c --------------------------------------------------------- */
typedef struct sq_grunner_opts {
    const char *exe;        /* the symog executable for `symog train`    */
    const char *data_dir;   /* passed as --data-dir ("" = its default)    */
    int jobs, threads;      /* threads 0 = split the cores among jobs     */
    int dry_run, force;
    const char *only;       /* fnmatch pattern on "exp/run" or run name   */
    double gflops;          /* effective GFLOP/s per core for estimates   */
} sq_grunner_opts;

/* Print the plan, run what is to do; 0 when nothing failed, 1 otherwise
 * (e for setup errors: -1). */
int sq_grid_run(sq_ggrid **g, int ng, sq_gdatasets *ds, const sq_grunner_opts *o, sq_err *e);

/* Write grid.yaml of a run (atomic). */
int sq_grun_write_meta(const sq_ggrid *g, const sq_grun *r, const char *same_as, sq_err *e);
/* Remove a directory tree (no symlinks followed); empty a directory but
 * for the entry named keep (may be NULL). */
int sq_g_rmtree(const char *path, sq_err *e);
int sq_g_clear_dir(const char *dir, const char *keep, sq_err *e);
/* Estimated core-seconds of a run; <0 when the model is unknown. */
double sq_grun_cost(const sq_grun *r, sq_gdatasets *ds, double gflops);
/* The argument vector of `symog train` for r (without --threads/--out):
 * n strings into argv (each from a static-per-call buffer pool in buf). */
int sq_grun_argv(const sq_grun *r, char (*buf)[SQ_G_VAL + SQ_G_KEY + 8], int cap);

/* ---- report ------------------------------------------------------------ */
typedef struct sq_greport_opts {
    const char *tables_dir, *figures_dir, *plots_dir;
    int plots;              /* run gnuplot                                */
    const char *gnuplot;    /* executable name or path                    */
} sq_greport_opts;

/* Results of one run (result.yaml, metrics.csv) as the report reads them. */
typedef struct sq_gresult {
    double test_error, test_error_soft, best_test_error, train_error, train_loss;
    int epochs, train_size, test_size, bits;
    double seconds;
} sq_gresult;
int sq_gresult_load(const char *dir, sq_gresult *r, sq_err *e);
/* Named numeric field of a result (test_error, ...); -1 unknown name. */
int sq_gresult_field(const sq_gresult *r, const char *name, double *v);

/* Mean and sample standard deviation (n-1; 0 for n < 2). */
void sq_g_meanstd(const double *v, int n, double *mean, double *std);

int sq_greport(sq_ggrid **g, int ng, sq_gdatasets *ds, const sq_greport_opts *o, sq_err *e);

/* What the tables and figures of one output aggregate (report.c): runs are
 * grouped by their axis values; `fix[a]` >= 0 keeps value fix[a] of axis a
 * (where-pins are applied on top), -1 takes every value (seeds). */
typedef struct sq_grctx {
    const sq_ggrid *g;
    const sq_gout *o;
    const sq_gdatasets *ds;
    int pin[SQ_G_MAX_AXES];   /* from `where`; -1 free                     */
    sq_gresult *res;          /* per run, loaded lazily                    */
    int load_errors;          /* result.yaml files that could not be read  */
    signed char *state;       /* 0 not loaded, 1 loaded, -1 unavailable    */
} sq_grctx;

typedef struct sq_gcell {
    double v[64];             /* metric of each distinct finished run      */
    const char *src[64];      /* their directories                         */
    int n, runs, skipped, pending, diverged;
    const char *missing_data; /* a skipped run's dataset                   */
    double mean, std;
    int bits;                 /* bit width of the runs (32 = float)        */
} sq_gcell;

int sq_grctx_init(sq_grctx *c, const sq_ggrid *g, const sq_gout *o, const sq_gdatasets *ds,
                  const int *free_axes, int nfree, sq_err *e);
void sq_grctx_free(sq_grctx *c);
/* Aggregate `metric` (a result.yaml field) over the runs matching fix. */
void sq_gcell_get(sq_grctx *c, const int *fix, const char *metric, sq_gcell *cell);
/* Whether any run (finished or not, not dropped by `only`) matches fix. */
int sq_gcell_exists(const sq_grctx *c, const int *fix);

/* The caption of an output: title, what, metric, seeds, data, profile. */
void sq_greport_caption(const sq_grctx *c, char *buf, size_t n);
/* The tables of one output (report.c); files written atomically; the
 * Markdown also goes to index (may be NULL). */
int sq_greport_table(sq_grctx *c, const char *dir, FILE *index, sq_err *e);
/* The data files of one figure and its gnuplot call (figures.c); a plotted
 * figure's entry goes to index (may be NULL). */
int sq_greport_figure(sq_grctx *c, const sq_greport_opts *o, FILE *index, int *plotted,
                      sq_err *e);

/* Pretty names for datasets and models ("CIFAR-10", "VGG7"); else v. */
const char *sq_g_pretty(const char *v);

#endif
