/* cmd_grid.c - `symog grid FILE.lua...`: load experiment files (Lua, in a
 * sandbox), expand them for a profile, print the plan, and train the runs
 * that are not finished yet with N parallel jobs (engine/grid/runner.c).
 * Also the shared helpers of `symog grid` and `symog report`: splitting
 * file arguments from options, and loading + expanding experiment files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "grid/grid.h"
#include "opts.h"
#include "quant/quant.h"

#define STR(field) (field), sizeof(field)

int cli_parse_with_files(const void *table, int n, int argc, char **argv, const char *usage,
                         char **files, int *nfiles, int max_files)
{
    const opt *t = table;
    char *opts[256];
    int nopts = 0;
    *nfiles = 0;
    if (argc > 256 + 2) {
        fprintf(stderr, "symog: too many arguments (%d)\n", argc - 2);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) && strcmp(a, "-h")) {
            if (*nfiles == max_files) {
                fprintf(stderr, "symog: at most %d experiment files\n", max_files);
                return 2;
            }
            files[(*nfiles)++] = argv[i];
            continue;
        }
        opts[nopts++] = argv[i];
        if (!strncmp(a, "--", 2) && !strchr(a, '=')) {
            for (int j = 0; j < n; j++)
                if (!strcmp(t[j].name, a + 2) && t[j].type != OPT_FLAG && i + 1 < argc) {
                    opts[nopts++] = argv[++i];
                    break;
                }
        }
    }
    char *oargv[258] = {argv[0], argv[1]};
    memcpy(oargv + 2, opts, (size_t)nopts * sizeof *opts);
    return opts_parse(t, n, nopts + 2, oargv, 2, usage, NULL);
}

int cli_load_grids(char **files, int nfiles, int profile, const char *runs_root, sq_gexp **x,
                   sq_ggrid **g, int *ng, const char *who)
{
    int bad = 0;
    sq_err e = {{0}};
    *ng = 0;
    if (sq_quant_setup(NULL, 0, &e)) {
        fprintf(stderr, "%s: %s\n", who, e.msg);
        return -1;
    }
    for (int i = 0; i < nfiles; i++) {
        x[i] = NULL;
        if (sq_gexp_load(files[i], &x[i], &e)) {
            fprintf(stderr, "%s: %s\n", who, e.msg);
            bad = 1;
            continue;
        }
        for (int j = 0; j < i; j++)
            if (x[j] && !strcmp(x[j]->name, x[i]->name)) {
                fprintf(stderr, "%s: %s and %s both declare the experiment '%s'\n", who,
                        x[j]->path, x[i]->path, x[i]->name);
                bad = 1;
            }
        g[*ng] = sq_calloc(1, sizeof **g);
        if (!g[*ng]) {
            fprintf(stderr, "%s: out of memory\n", who);
            return -1;
        }
        if (sq_ggrid_expand(x[i], profile, runs_root, g[*ng], &e)) {
            fprintf(stderr, "%s: %s\n", who, e.msg);
            sq_free(g[*ng]);
            bad = 1;
            continue;
        }
        (*ng)++;
    }
    return bad ? -1 : 0;
}

void cli_free_grids(sq_gexp **x, int nx, sq_ggrid **g, int ng)
{
    for (int i = 0; i < ng; i++) {
        sq_ggrid_free(g[i]);
        sq_free(g[i]);
    }
    for (int i = 0; i < nx; i++)
        sq_gexp_free(x[i]);
}

int cmd_grid(int argc, char **argv)
{
    char profile[16] = "quick", only[256] = "", runs[512] = "results/runs", data_dir[512] = "";
    int jobs = 0, threads = 0, dry = 0, force = 0;
    double gflops = 25;
    const opt t[] = {
        {"profile", OPT_STR, STR(profile), 0, 0, "P", "smoke, quick (default) or paper"},
        {"jobs", OPT_INT, &jobs, 0, 1, 256, "N", "runs in parallel (default: one per core)"},
        {"threads", OPT_INT, &threads, 0, 1, 256, "T", "threads per run (default: the cores split among the jobs)"},
        {"dry-run", OPT_FLAG, &dry, 0, 0, 0, NULL, "print the plan and every run's status; train nothing"},
        {"only", OPT_STR, STR(only), 0, 0, "PATTERN", "only runs whose EXPERIMENT/RUN, RUN or EXPERIMENT matches this shell pattern"},
        {"force", OPT_FLAG, &force, 0, 0, 0, NULL, "train the selected runs again even if finished"},
        {"runs", OPT_STR, STR(runs), 0, 0, "DIR", "where run directories go (default results/runs)"},
        {"data-dir", OPT_STR, STR(data_dir), 0, 0, "DIR", "where mnist/cifar live (default $SYMOG_DATA or ./data)"},
        {"gflops", OPT_NUM, &gflops, 0, 0.01, 1e6, "X", "effective GFLOP/s of one core, for the cost estimate (default 25)"},
    };
    enum { MAXF = 64 };
    char *files[MAXF];
    int nfiles;
    int rc = cli_parse_with_files(t, SQ_COUNT(t), argc, argv,
                        "usage: symog grid FILE.lua... [OPTIONS]\n\n"
                        "Expands each experiment file for the profile, prints the plan, and trains "
                        "every run that is not\nfinished yet into RUNS/<experiment>/<profile>/<run>/ "
                        "(a killed grid resumes where it stopped).\nRuns whose dataset is missing "
                        "are listed as skipped. A run that diverges (NaN/Inf) is recorded as\n"
                        "diverged: its table cell says so and it is not retried (--force retrains "
                        "it).\nExit status: 0 all done (diverged runs included), 1 a run failed, "
                        "2 a bad experiment file\nor option, 130 interrupted.",
                        files, &nfiles, MAXF);
    if (rc)
        return rc == 1 ? 0 : 2;
    int p = sq_g_profile_index(profile);
    if (p < 0) {
        fprintf(stderr, "symog grid: unknown profile '%s' (smoke, quick, paper)\n", profile);
        return 2;
    }
    if (!nfiles) {
        fprintf(stderr, "symog grid: give one or more experiment files, e.g. "
                        "experiments/table1-fashion-mnist.lua (see --help)\n");
        return 2;
    }
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    if (!jobs)
        jobs = nc > 0 ? (int)nc : 1;
    char exe[1024];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        snprintf(exe, sizeof exe, "%s", argv[0]);
    else
        exe[n] = 0;
    sq_gexp *x[MAXF] = {0};
    sq_ggrid *g[MAXF] = {0};
    int ng = 0;
    if (cli_load_grids(files, nfiles, p, runs, x, g, &ng, "symog grid")) {
        cli_free_grids(x, nfiles, g, ng);
        return 2;
    }
    sq_gdatasets *ds = sq_calloc(1, sizeof *ds);
    if (!ds) {
        cli_free_grids(x, nfiles, g, ng);
        return 1;
    }
    snprintf(ds->data_dir, sizeof ds->data_dir, "%s", data_dir[0] ? data_dir : cli_data_dir());
    sq_grunner_opts o = {exe, data_dir, jobs, threads, dry, force, only, gflops};
    sq_err e = {{0}};
    rc = sq_grid_run(g, ng, ds, &o, &e);
    if (rc < 0)
        fprintf(stderr, "symog grid: %s\n", e.msg);
    sq_free(ds);
    cli_free_grids(x, nfiles, g, ng);
    return rc < 0 ? 1 : rc == 3 ? 130 : rc;
}
