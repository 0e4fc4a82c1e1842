/* cmd_report.c - `symog report [FILE.lua...]`: the tables (Markdown, LaTeX,
 * CSV) and figures (PDF, SVG, PNG via gnuplot) of the experiments, from the
 * result files of their finished runs (engine/grid/report.c, figures.c). */
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "grid/grid.h"
#include "opts.h"

#define STR(field) (field), sizeof(field)

/* Tables first, then figures, then the rest (ablations), each by name: the
 * order of results/tables/index.md and of `make reproduce`. */
static int rank(const char *path)
{
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    return !strncmp(b, "table", 5) ? 0 : !strncmp(b, "fig", 3) ? 1 : 2;
}

static int file_cmp(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    int d = rank(x) - rank(y);
    return d ? d : strcmp(x, y);
}

int cmd_report(int argc, char **argv)
{
    char profile[16] = "quick", runs[512] = "results/runs", tables[512] = "results/tables",
         figures[512] = "results/figures", plots[512] = "plots", data_dir[512] = "",
         experiments[512] = "experiments", gnuplot[256] = "gnuplot";
    int no_plots = 0;
    const opt t[] = {
        {"profile", OPT_STR, STR(profile), 0, 0, "P", "smoke, quick (default) or paper"},
        {"runs", OPT_STR, STR(runs), 0, 0, "DIR", "where the run directories are (default results/runs)"},
        {"tables", OPT_STR, STR(tables), 0, 0, "DIR", "where tables go (default results/tables)"},
        {"figures", OPT_STR, STR(figures), 0, 0, "DIR", "where figures go (default results/figures)"},
        {"plots", OPT_STR, STR(plots), 0, 0, "DIR", "the gnuplot scripts (default plots)"},
        {"experiments", OPT_STR, STR(experiments), 0, 0, "DIR", "without FILE arguments: every DIR/[!_]*.lua (default experiments)"},
        {"data-dir", OPT_STR, STR(data_dir), 0, 0, "DIR", "where mnist/cifar live (default $SYMOG_DATA or ./data)"},
        {"gnuplot", OPT_STR, STR(gnuplot), 0, 0, "PROG", "the gnuplot to run (default gnuplot)"},
        {"no-plots", OPT_FLAG, &no_plots, 0, 0, 0, NULL, "write the figures' data files but do not run gnuplot"},
    };
    enum { MAXF = 64 };
    char *files[MAXF];
    int nfiles;
    int rc = cli_parse_with_files(t, SQ_COUNT(t), argc, argv,
                        "usage: symog report [FILE.lua...] [OPTIONS]\n\n"
                        "Tables (TABLES/<id>.{md,tex,csv}, all in TABLES/index.md) and figures "
                        "(FIGURES/<id>.{pdf,svg,png},\ntheir data in FIGURES/data/) of the "
                        "experiments, from the result.yaml of their finished runs:\nmean and "
                        "standard deviation over seeds; cells of a missing dataset say n/a.",
                        files, &nfiles, MAXF);
    if (rc)
        return rc == 1 ? 0 : 2;
    int p = sq_g_profile_index(profile);
    if (p < 0) {
        fprintf(stderr, "symog report: unknown profile '%s' (smoke, quick, paper)\n", profile);
        return 2;
    }
    glob_t gl;
    memset(&gl, 0, sizeof gl);
    if (!nfiles) {
        char pat[600];
        snprintf(pat, sizeof pat, "%s/[!_]*.lua", experiments);
        if (glob(pat, 0, NULL, &gl) || gl.gl_pathc == 0) {
            fprintf(stderr, "symog report: no experiment files match %s\n", pat);
            globfree(&gl);
            return 2;
        }
        for (size_t i = 0; i < gl.gl_pathc && nfiles < MAXF; i++)
            files[nfiles++] = gl.gl_pathv[i];
        qsort(files, (size_t)nfiles, sizeof files[0], file_cmp);
    }
    sq_gexp *x[MAXF] = {0};
    sq_ggrid *g[MAXF] = {0};
    int ng = 0;
    rc = 2;
    sq_gdatasets *ds = NULL;
    if (cli_load_grids(files, nfiles, p, runs, x, g, &ng, "symog report"))
        goto done;
    ds = sq_calloc(1, sizeof *ds);
    if (!ds) {
        rc = 1;
        goto done;
    }
    snprintf(ds->data_dir, sizeof ds->data_dir, "%s", data_dir[0] ? data_dir : cli_data_dir());
    sq_greport_opts o = {tables, figures, plots, !no_plots, gnuplot};
    sq_err e = {{0}};
    rc = 0;
    if (sq_greport(g, ng, ds, &o, &e)) {
        fprintf(stderr, "symog report: %s\n", e.msg);
        rc = 1;
    }
done:
    sq_free(ds);
    cli_free_grids(x, nfiles, g, ng);
    globfree(&gl);
    return rc;
}
