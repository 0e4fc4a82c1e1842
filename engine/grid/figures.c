/* figures.c - the figure outputs of the report and the report's driver.
 *
 * Each figure kind writes plain data files under FIGURES/data/ and a small
 * gnuplot file of its labels and styles (<id>.meta.gp), then runs
 * plots/<kind>.gp, which writes FIGURES/<id>.{pdf,svg,png}:
 *   bits    test error vs bit width: blocks per method "bits mean std n",
 *           the reference method (float) as one horizontal value
 *   curves  test error per epoch: blocks per method "epoch mean std n"
 *           (means over seeds of metrics.csv)
 *   switch  one run's share of weights that changed their mode per epoch:
 *           blocks per tensor "epoch percent", and lambda(t) per epoch
 *   hist    one run's weight histograms: per layer a file of blocks per
 *           chosen epoch "x base top" (x in units of the step, the curve
 *           scaled to its maximum and stacked as a ridgeline), and the
 *           fixed-point modes
 * sq_greport, at the end, drives tables and figures for every experiment. */
#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "grid.h"
#include "io/atomic.h"
#include "io/yamlio.h"

extern char **environ;

/* A data file written atomically through a memory stream. */
typedef struct outf {
    char *buf;
    size_t n;
    FILE *f;
    char path[SQ_G_PATH + 128];
} outf;

static int out_open(outf *o, const char *dir, const char *id, const char *suffix, sq_err *e)
{
    memset(o, 0, sizeof *o);
    snprintf(o->path, sizeof o->path, "%s/data/%s%s", dir, id, suffix);
    o->f = open_memstream(&o->buf, &o->n);
    return o->f ? 0 : sq_fail(e, "out of memory");
}

static int out_close(outf *o, sq_err *e)
{
    int bad = ferror(o->f);
    bad |= fclose(o->f) != 0;
    int rc = bad ? sq_fail(e, "formatting %s failed", o->path)
                 : sq_write_file_atomic(o->path, o->buf, o->n, e);
    free(o->buf);
    return rc;
}

/* A string for a file gnuplot loads as commands. gnuplot replaces
 * `backquoted` text inside double-quoted strings with a shell command's
 * output, so strings go in single quotes (no substitution, no escapes; a
 * quote is doubled), and backquotes and control characters are replaced
 * as well in case a script ever copies a title into double quotes. */
static void gp_str(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        char ch = *s == '`' ? '\'' : (unsigned char)*s < 32 ? ' ' : *s;
        if (ch == '\'')
            fputc('\'', f);
        fputc(ch, f);
    }
    fputc('\'', f);
}

static int style_of(const sq_gval *v, int order) { return v->style ? v->style : 2 + order % 11; }

/* Common meta lines: titles and styles (the caption goes to <id>.caption.txt,
 * a plain text file gnuplot never reads). */
static void meta_lines(FILE *m, int n, const char *const *titles, const int *styles)
{
    fprintf(m, "# written by symog report; loaded by plots/*.gp\nnlines = %d\n"
               "array title[%d] = [", n, n ? n : 1);
    for (int i = 0; i < n; i++) {
        if (i)
            fputs(", ", m);
        gp_str(m, titles[i]);
    }
    fprintf(m, "%s]\narray style[%d] = [", n ? "" : "\"\"", n ? n : 1);
    for (int i = 0; i < n; i++)
        fprintf(m, "%s%d", i ? ", " : "", styles[i]);
    fprintf(m, "%s]\n", n ? "" : "0");
}

/* ---- bits and curves ------------------------------------------------------ */
/* The y axis of the bits figure stops at ytop = float + max(8, 0.6 float)
 * points when a method lies above it (a baseline that failed would squash
 * every other line into a few pixels); such points are drawn at the top
 * edge with their value, and the caption names them (note). */
static int fig_bits(sq_grctx *c, const char *dir, int *points, char *note, size_t nnote,
                    sq_err *e)
{
    const sq_ggrid *g = c->g;
    const sq_gout *o = c->o;
    int X = sq_ggrid_axis(g, o->x), L = sq_ggrid_axis(g, o->lines), fix[SQ_G_MAX_AXES];
    const char *titles[64];
    int styles[64], n = 0;
    double ref_mean = NAN, ref_std = 0;
    struct { const char *line, *x; double mean; int li; } pt[256];
    int npt = 0;
    outf d, m;
    note[0] = 0;
    if (out_open(&d, dir, o->id, ".dat", e))
        return -1;
    fprintf(d.f, "# %s: %s vs %s; one block per line: %s mean std n\n", o->id, o->metrics[0],
            o->x, o->x);
    for (int l = 0; l < g->axes[L].n && n < 64; l++) {
        const sq_gval *lv = &g->axes[L].v[l];
        sq_gcell cell;
        for (int a = 0; a < SQ_G_MAX_AXES; a++)
            fix[a] = -1;
        fix[L] = l;
        if (!strcmp(lv->label, o->reference)) {
            sq_gcell_get(c, fix, o->metrics[0], &cell);
            ref_mean = cell.mean, ref_std = cell.std;
            continue;
        }
        int any = 0;
        for (int xv = 0; xv < g->axes[X].n; xv++) {
            fix[X] = xv;
            sq_gcell_get(c, fix, o->metrics[0], &cell);
            if (!cell.n)
                continue;
            if (!any)
                fprintf(d.f, "%s# %s\n", n ? "\n\n" : "", lv->label);
            any = 1;
            fprintf(d.f, "%s %.4f %.4f %d\n", g->axes[X].v[xv].label, cell.mean, cell.std, cell.n);
            (*points)++;
            if (npt < 256)
                pt[npt].line = lv->label, pt[npt].x = g->axes[X].v[xv].label, pt[npt].li = n,
                pt[npt++].mean = cell.mean;
        }
        if (any) {
            titles[n] = lv->label;
            styles[n++] = style_of(lv, l);
        }
    }
    if (out_close(&d, e) || out_open(&m, dir, o->id, ".meta.gp", e))
        return -1;
    meta_lines(m.f, n, titles, styles);
    fprintf(m.f, "has_ref = %d\nref_mean = %.4f\nref_std = %.4f\nref_title = ", !isnan(ref_mean),
            isnan(ref_mean) ? 0 : ref_mean, ref_std);
    gp_str(m.f, o->reference);
    fprintf(m.f, "\nxmin = %s\nxmax = %s\n", g->axes[X].v[0].label, g->axes[X].v[g->axes[X].n - 1].label);
    double ytop = isnan(ref_mean) ? 0 : ref_mean + fmax(8, 0.6 * ref_mean);
    int above = 0, row[64] = {0}, rows = 0;
    for (int i = 0; i < npt; i++)
        if (ytop > 0 && pt[i].mean > ytop) {
            if (!row[pt[i].li])
                row[pt[i].li] = ++rows; /* each such line's values on a row of their own */
            size_t len = strlen(note);
            snprintf(note + len, nnote - len, "%s%s %.1f %% (%s %s)",
                     above++ ? ", " : "Points above the axis are drawn at its top edge with their value: ",
                     pt[i].line, pt[i].mean, pt[i].x, o->x);
        }
    if (above) {
        size_t len = strlen(note);
        snprintf(note + len, nnote - len, ".");
    }
    fprintf(m.f, "ytop = %.4f\narray clip_row[%d] = [", above ? ytop : 0.0, n > 0 ? n : 1);
    for (int i = 0; i < (n > 0 ? n : 1); i++)
        fprintf(m.f, "%s%d", i ? ", " : "", row[i]);
    fprintf(m.f, "]\n");
    return out_close(&m, e);
}

/* metrics.csv of dir: column `metric` per epoch into v[epoch-1]; epochs read. */
static int read_metrics(const char *dir, const char *metric, double *v, int cap)
{
    char p[SQ_G_PATH + 32], line[512];
    snprintf(p, sizeof p, "%s/metrics.csv", dir);
    FILE *f = fopen(p, "r");
    if (!f)
        return 0;
    int col = -1, n = 0;
    if (fgets(line, sizeof line, f)) {
        int k = 0;
        for (char *t = strtok(line, ",\n"); t; t = strtok(NULL, ",\n"), k++)
            if (!strcmp(t, metric))
                col = k;
    }
    while (col >= 0 && fgets(line, sizeof line, f)) {
        int k = 0, ep = 0;
        double val = NAN;
        for (char *t = strtok(line, ",\n"); t; t = strtok(NULL, ",\n"), k++) {
            if (k == 0)
                ep = atoi(t);
            if (k == col)
                val = atof(t);
        }
        if (ep >= 1 && ep <= cap) {
            v[ep - 1] = val;
            n = SQ_MAX(n, ep);
        }
    }
    fclose(f);
    return n;
}

static int fig_curves(sq_grctx *c, const char *dir, int *points, sq_err *e)
{
    const sq_ggrid *g = c->g;
    const sq_gout *o = c->o;
    int L = sq_ggrid_axis(g, o->lines), fix[SQ_G_MAX_AXES], n = 0, styles[64];
    const char *titles[64];
    static double per[64][1000];
    outf d, m;
    if (out_open(&d, dir, o->id, ".dat", e))
        return -1;
    fprintf(d.f, "# %s: %s per epoch; one block per line: epoch mean std n\n", o->id, o->metrics[0]);
    for (int l = 0; l < g->axes[L].n && n < 64; l++) {
        const sq_gval *lv = &g->axes[L].v[l];
        sq_gcell cell;
        for (int a = 0; a < SQ_G_MAX_AXES; a++)
            fix[a] = -1;
        fix[L] = l;
        sq_gcell_get(c, fix, "test_error", &cell); /* the finished runs of this line */
        int ne = 0;
        for (int s = 0; s < cell.n; s++) {
            for (int k = 0; k < 1000; k++)
                per[s][k] = NAN;
            ne = SQ_MAX(ne, read_metrics(cell.src[s], o->metrics[0], per[s], 1000));
        }
        if (!ne)
            continue;
        fprintf(d.f, "%s# %s\n", n ? "\n\n" : "", lv->label);
        for (int ep = 0; ep < ne; ep++) {
            double v[64], mean, std;
            int k = 0;
            for (int s = 0; s < cell.n; s++)
                if (!isnan(per[s][ep]))
                    v[k++] = per[s][ep];
            sq_g_meanstd(v, k, &mean, &std);
            if (k)
                fprintf(d.f, "%d %.4f %.4f %d\n", ep + 1, mean, std, k);
            (*points)++;
        }
        titles[n] = lv->label;
        styles[n++] = style_of(lv, l);
    }
    if (out_close(&d, e) || out_open(&m, dir, o->id, ".meta.gp", e))
        return -1;
    meta_lines(m.f, n, titles, styles);
    fputs("reference = ", m.f);
    gp_str(m.f, o->reference);
    fprintf(m.f, "\nylabel = \"%s\"\n",
            !strcmp(o->metrics[0], "test_error_soft") ? "Test error before snapping (%)"
            : !strcmp(o->metrics[0], "train_error") ? "Training error (%)"
            : !strcmp(o->metrics[0], "train_loss") ? "Training loss" : "Test error (%)");
    return out_close(&m, e);
}

/* ---- one run: mode switches and histograms --------------------------------- */
/* The first finished run the output selects (lowest seed). */
static const char *one_run(sq_grctx *c, const sq_grun **run)
{
    sq_gcell cell;
    int fix[SQ_G_MAX_AXES];
    for (int a = 0; a < SQ_G_MAX_AXES; a++)
        fix[a] = -1;
    sq_gcell_get(c, fix, "test_error", &cell);
    *run = NULL;
    for (int i = 0; cell.n && i < c->g->n; i++)
        if (!strcmp(c->g->r[i].source, cell.src[0]))
            *run = &c->g->r[i];
    return cell.n ? cell.src[0] : NULL;
}

typedef struct diag {
    char tensor[16][48];
    int nt, ne;
    double lambda[1001], sw[16][1001];
} diag;

static int read_diag(const char *dir, diag *d)
{
    char p[SQ_G_PATH + 32], line[512];
    snprintf(p, sizeof p, "%s/diag.csv", dir);
    memset(d, 0, sizeof *d);
    FILE *f = fopen(p, "r");
    if (!f)
        return -1;
    if (!fgets(line, sizeof line, f)) {
        fclose(f);
        return -1;
    }
    while (fgets(line, sizeof line, f)) {
        char *fld[10];
        int k = 0;
        for (char *t = strtok(line, ",\n"); t && k < 10; t = strtok(NULL, ",\n"))
            fld[k++] = t;
        if (k < 6)
            continue;
        int ep = atoi(fld[0]), ti;
        if (ep < 0 || ep > 1000)
            continue;
        for (ti = 0; ti < d->nt; ti++)
            if (!strcmp(d->tensor[ti], fld[1]))
                break;
        if (ti == d->nt) {
            if (d->nt == 16)
                continue;
            snprintf(d->tensor[d->nt++], sizeof d->tensor[0], "%s", fld[1]);
        }
        if (ti == 0)
            d->lambda[ep] = atof(fld[2]);
        d->sw[ti][ep] = 100 * atof(fld[5]);
        d->ne = SQ_MAX(d->ne, ep + 1);
    }
    fclose(f);
    return d->nt ? 0 : -1;
}

static int fig_switch(sq_grctx *c, const char *dir, int *points, sq_err *e)
{
    const sq_gout *o = c->o;
    const sq_grun *run;
    const char *src = one_run(c, &run);
    static diag d;
    outf f, l, m;
    if (!src || read_diag(src, &d))
        d.nt = d.ne = 0;
    if (out_open(&f, dir, o->id, ".dat", e))
        return -1;
    fprintf(f.f, "# %s: share of weights whose nearest mode changed in an epoch (%%), per tensor; "
                 "run %s\n", o->id, src ? src : "(none finished)");
    for (int t = 0; t < d.nt; t++) {
        fprintf(f.f, "%s# %s\n", t ? "\n\n" : "", d.tensor[t]);
        for (int ep = 1; ep < d.ne; ep++, (*points)++)
            fprintf(f.f, "%d %.6g\n", ep, d.sw[t][ep]);
    }
    if (out_close(&f, e) || out_open(&l, dir, o->id, "-lambda.dat", e))
        return -1;
    fprintf(l.f, "# %s: lambda(t) at the end of each epoch (0 = start)\n", o->id);
    for (int ep = 0; ep < d.ne; ep++)
        fprintf(l.f, "%d %.6g\n", ep, d.lambda[ep]);
    if (out_close(&l, e) || out_open(&m, dir, o->id, ".meta.gp", e))
        return -1;
    const char *titles[16];
    int styles[16];
    char short_names[16][48];
    for (int t = 0; t < d.nt; t++) {
        snprintf(short_names[t], sizeof short_names[t], "%.47s", d.tensor[t]);
        char *dot = strstr(short_names[t], ".weight");
        if (dot && !dot[7])
            *dot = 0;
        titles[t] = short_names[t], styles[t] = 2 + t;
    }
    meta_lines(m.f, d.nt, titles, styles);
    fprintf(m.f, "epochs = %d\n", d.ne ? d.ne - 1 : 0);
    (void)run;
    return out_close(&m, e);
}

static int read_yaml_int(const char *dir, const char *key, int def)
{
    char p[SQ_G_PATH + 32];
    snprintf(p, sizeof p, "%s/result.yaml", dir);
    sq_ykv *kv = NULL;
    int n = 0, v = def;
    sq_err e;
    if (sq_yaml_load(p, &kv, &n, &e))
        return def;
    const char *s = sq_ykv_get(kv, n, key);
    if (s)
        v = !strcmp(s, "nozero") ? -1 : !strcmp(s, "zero") ? 1 : atoi(s);
    sq_ykv_free(kv, n);
    return v;
}

/* Histogram blocks of one tensor: hx/hy[epoch][bin], bins per block. */
static int read_hist(const char *dir, const char *tensor, double (*hx)[128], double (*hy)[128],
                     int max_ep, int *bins)
{
    char p[SQ_G_PATH + 96], line[256];
    snprintf(p, sizeof p, "%s/hist/%s.dat", dir, tensor);
    FILE *f = fopen(p, "r");
    if (!f)
        return 0;
    int ep = -1, b = 0;
    *bins = 0;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "# epoch", 7)) {
            ep = atoi(line + 7);
            b = 0;
            continue;
        }
        double x, y;
        if (line[0] == '#' || sscanf(line, "%lf %lf", &x, &y) != 2 || ep < 0 || ep >= max_ep || b >= 128)
            continue;
        hx[ep][b] = x, hy[ep][b++] = y;
        *bins = SQ_MAX(*bins, b);
    }
    fclose(f);
    return ep + 1;
}

static int fig_hist(sq_grctx *c, const char *dir, int *points, sq_err *e)
{
    const sq_gout *o = c->o;
    const sq_grun *run;
    const char *src = one_run(c, &run);
    static diag d;
    static double hx[1001][128], hy[1001][128];
    char layers[8][48];
    int nl = 0, ep_list[8], nep = 0;
    if (!src || read_diag(src, &d))
        d.nt = d.ne = 0;
    for (int i = 0; i < o->nlayers; i++)
        snprintf(layers[nl++], sizeof layers[0], "%s", o->layers[i]);
    for (int t = 0; !o->nlayers && t < d.nt && nl < 4; t++)
        snprintf(layers[nl++], sizeof layers[0], "%s", d.tensor[t]);
    int last = d.ne ? d.ne - 1 : 0;
    if (o->nepochs)
        for (int i = 0; i < o->nepochs; i++)
            ep_list[nep++] = o->epochs[i] > last ? last : o->epochs[i];
    else
        for (int q = 0; q <= 4; q++) {
            int ep = (int)lround(q * last / 4.0);
            if (!nep || ep_list[nep - 1] != ep)
                ep_list[nep++] = ep;
        }
    int bits = src ? read_yaml_int(src, "bits", 2) : 2;
    int zero = src ? read_yaml_int(src, "quantizer_options.modes", 1) : 1;
    outf m;
    double xmax = 0;
    for (int li = 0; li < nl; li++) {
        outf f;
        char suffix[64];
        int bins = 0, have = src ? read_hist(src, layers[li], hx, hy, 1001, &bins) : 0;
        snprintf(suffix, sizeof suffix, "-%d.dat", li + 1);
        if (out_open(&f, dir, o->id, suffix, e))
            return -1;
        fprintf(f.f, "# %s: weight histogram of %s (x in units of the step), one block per "
                     "epoch, top to bottom: x base top\n", o->id, layers[li]);
        for (int k = 0; k < nep && have; k++) {
            int ep = ep_list[k];
            double peak = 0, base = nep - 1 - k;
            if (ep >= have)
                continue;
            for (int b = 0; b < bins; b++)
                peak = fmax(peak, hy[ep][b]);
            fprintf(f.f, "%s# epoch %d\n", k ? "\n\n" : "", ep);
            for (int b = 0; b < bins; b++, (*points)++) {
                fprintf(f.f, "%.5f %.3f %.5f\n", hx[ep][b], base,
                        base + (peak > 0 ? 0.92 * hy[ep][b] / peak : 0));
                xmax = fmax(xmax, fabs(hx[ep][b]));
            }
        }
        if (out_close(&f, e))
            return -1;
    }
    if (out_open(&m, dir, o->id, ".meta.gp", e))
        return -1;
    const char *titles[8];
    int styles[8];
    char short_names[8][48];
    for (int i = 0; i < nl; i++) {
        snprintf(short_names[i], sizeof short_names[i], "%.47s", layers[i]);
        char *dot = strstr(short_names[i], ".weight");
        if (dot && !dot[7])
            *dot = 0;
        titles[i] = short_names[i], styles[i] = 10;
    }
    meta_lines(m.f, nl, titles, styles);
    fprintf(m.f, "nepochs = %d\narray epoch[%d] = [", nep, nep ? nep : 1);
    for (int k = 0; k < nep; k++)
        fprintf(m.f, "%s%d", k ? ", " : "", ep_list[k]);
    int K = zero > 0 ? (1 << (bits - 1)) - 1 : 1 << (bits - 1), nm = zero > 0 ? 2 * K + 1 : 2 * K;
    fprintf(m.f, "%s]\nlast_epoch = %d\nnmodes = %d\narray mode[%d] = [", nep ? "" : "0", last, nm, nm);
    for (int k = 0; k < nm; k++)
        fprintf(m.f, "%s%g", k ? ", " : "", zero > 0 ? (double)(k - K) : k - K + 0.5);
    fprintf(m.f, "]\nxmax = %g\n", xmax > 0 ? xmax : K + 1.0);
    return out_close(&m, e);
}

/* ---- gnuplot --------------------------------------------------------------- */
static int file_ok(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && st.st_size > 0;
}

static int run_gnuplot(const sq_greport_opts *o, const char *kind, const char *id, sq_err *e)
{
    char script[SQ_G_PATH], expr[3 * SQ_G_PATH + 64], out[SQ_G_PATH + 64];
    snprintf(script, sizeof script, "%s/%s.gp", o->plots_dir, kind);
    snprintf(out, sizeof out, "%s/%s", o->figures_dir, id);
    snprintf(expr, sizeof expr, "plots='%s'; data='%s/data/%s'; out='%s'", o->plots_dir,
             o->figures_dir, id, out);
    /* gnuplot evaluates -e as commands: only plain path characters */
    if (strpbrk(o->plots_dir, "`'\"$@\\;\n") || strpbrk(o->figures_dir, "`'\"$@\\;\n"))
        return sq_fail(e, "the directories %s and %s contain characters gnuplot would interpret "
                          "(` ' \" $ @ \\ ;); use plain directory names", o->plots_dir,
                       o->figures_dir);
    char *argv[] = {(char *)o->gnuplot, "-e", expr, script, NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, o->gnuplot, NULL, NULL, argv, environ);
    if (rc)
        return sq_fail(e, "cannot run %s (%s); install Debian's gnuplot-nox, or use --no-plots "
                          "(the data files are in %s/data/)", o->gnuplot, strerror(rc),
                       o->figures_dir);
    int ws;
    while (waitpid(pid, &ws, 0) < 0)
        if (errno != EINTR)
            return sq_fail(e, "waitpid: %s", strerror(errno));
    if (!WIFEXITED(ws) || WEXITSTATUS(ws))
        return sq_fail(e, "%s %s failed for figure %s (exit %d); its messages are above",
                       o->gnuplot, script, id, WIFEXITED(ws) ? WEXITSTATUS(ws) : -1);
    static const char *const ext[] = {"pdf", "svg", "png"};
    for (int i = 0; i < 3; i++) {
        char p[SQ_G_PATH + 80];
        snprintf(p, sizeof p, "%s.%s", out, ext[i]);
        if (!file_ok(p))
            return sq_fail(e, "%s did not write %s", script, p);
    }
    return 0;
}

int sq_greport_figure(sq_grctx *c, const sq_greport_opts *o, FILE *index, int *plotted, sq_err *e)
{
    char dd[SQ_G_PATH + 16];
    snprintf(dd, sizeof dd, "%s/data", o->figures_dir);
    if (sq_mkdir_p(dd, e))
        return -1;
    int points = 0, rc;
    char note[1000] = "";
    switch (c->o->kind) {
    case SQ_GO_BITS:
        rc = fig_bits(c, o->figures_dir, &points, note, sizeof note, e);
        break;
    case SQ_GO_CURVES:
        rc = fig_curves(c, o->figures_dir, &points, e);
        break;
    case SQ_GO_SWITCH:
        rc = fig_switch(c, o->figures_dir, &points, e);
        break;
    default:
        rc = fig_hist(c, o->figures_dir, &points, e);
    }
    *plotted = 0;
    char caption[2000];
    sq_greport_caption(c, caption, sizeof caption);
    if (!rc) { /* the caption as plain text, beside the data */
        outf cf;
        rc = out_open(&cf, o->figures_dir, c->o->id, ".caption.txt", e);
        if (!rc) {
            fprintf(cf.f, "%s%s%s\n", caption, note[0] ? " " : "", note);
            rc = out_close(&cf, e);
        }
    }
    if (!rc && c->load_errors)
        rc = sq_fail(e, "%s: %d result file%s could not be read (see above)", c->o->id,
                     c->load_errors, c->load_errors > 1 ? "s" : "");
    if (rc || !o->plots || !points)
        return rc;
    if (run_gnuplot(o, sq_go_kinds[c->o->kind], c->o->id, e))
        return -1;
    *plotted = 1;
    if (index) {
        const char *id = c->o->id, *title = c->o->title[0] ? c->o->title : id;
        fprintf(index, "## %s\n\n![%s](%s.png)\n\n%s%s%s\n\n[PDF](%s.pdf) · [SVG](%s.svg) · "
                       "data: `data/%s*`\n\n", title, title, id, caption, note[0] ? " " : "", note,
                id, id, id);
    }
    return 0;
}

/* ---- the report ------------------------------------------------------------ */
int sq_greport(sq_ggrid **g, int ng, sq_gdatasets *ds, const sq_greport_opts *o, sq_err *e)
{
    sq_gindex *ix = NULL;
    if (sq_gindex_build(g[0]->root, &ix, e) || sq_gplan_status(g, ng, ds, ix, 0, e)) {
        sq_gindex_free(ix);
        return -1;
    }
    sq_gindex_free(ix);
    for (int k = 0; k < ng; k++)
        for (int i = 0; i < g[k]->x->nout; i++)
            for (int kk = 0; kk <= k; kk++)
                for (int j = 0; j < (kk == k ? i : g[kk]->x->nout); j++)
                    if (!strcmp(g[k]->x->out[i].id, g[kk]->x->out[j].id))
                        return sq_fail(e, "%s and %s both write the output '%s'; ids must be unique",
                                       g[kk]->x->path, g[k]->x->path, g[k]->x->out[i].id);
    if (sq_mkdir_p(o->tables_dir, e) || sq_mkdir_p(o->figures_dir, e))
        return -1;
    char *ibuf = NULL, *fbuf = NULL;
    size_t in = 0, fn = 0;
    FILE *index = open_memstream(&ibuf, &in), *findex = open_memstream(&fbuf, &fn);
    if (!index || !findex) {
        if (index)
            fclose(index);
        if (findex)
            fclose(findex);
        free(ibuf);
        free(fbuf);
        return sq_fail(e, "out of memory");
    }
    fprintf(findex, "<!-- generated by `symog report` (profile %s); do not edit -->\n# Figures "
                    "(profile %s)\n\n", sq_g_profiles[g[0]->profile], sq_g_profiles[g[0]->profile]);
    fprintf(index, "<!-- generated by `symog report` (profile %s); do not edit -->\n# Tables "
                   "(profile %s)\n\n", sq_g_profiles[g[0]->profile], sq_g_profiles[g[0]->profile]);
    int rc = 0, ntab = 0, nfig = 0;
    for (int k = 0; k < ng && !rc; k++)
        for (int i = 0; i < g[k]->x->nout && !rc; i++) {
            const sq_gout *out = &g[k]->x->out[i];
            int fr[4], nf = 0;
            const char *names[] = {out->rows, out->cols, out->x, out->lines};
            for (int j = 0; j < 4; j++)
                if (names[j][0])
                    fr[nf++] = sq_ggrid_axis(g[k], names[j]);
            sq_grctx c;
            if (sq_grctx_init(&c, g[k], out, ds, fr, nf, e)) {
                rc = -1;
                break;
            }
            if (out->kind == SQ_GO_TABLE) {
                rc = sq_greport_table(&c, o->tables_dir, index, e);
                ntab += !rc;
                if (!rc)
                    printf("table   %s/%s.{md,tex,csv}\n", o->tables_dir, out->id);
            } else {
                int plotted = 0;
                rc = sq_greport_figure(&c, o, findex, &plotted, e);
                nfig += plotted;
                if (!rc)
                    printf("figure  %s/%s.%s%s\n", o->figures_dir, out->id,
                           plotted ? "{pdf,svg,png}" : "* ",
                           plotted ? "" : o->plots ? "(no finished runs yet: data files only)"
                                                   : "(data files only: --no-plots)");
            }
            sq_grctx_free(&c);
        }
    int bad = fclose(index) != 0;
    bad |= fclose(findex) != 0;
    if (!rc && !bad) {
        char p[SQ_G_PATH + 16];
        snprintf(p, sizeof p, "%s/index.md", o->tables_dir);
        rc = sq_write_file_atomic(p, ibuf, in, e);
        snprintf(p, sizeof p, "%s/index.md", o->figures_dir);
        if (!rc && nfig)
            rc = sq_write_file_atomic(p, fbuf, fn, e);
    } else if (bad && !rc)
        rc = sq_fail(e, "formatting the indexes failed");
    free(ibuf);
    free(fbuf);
    if (rc)
        return -1;
    printf("symog report: %d table%s in %s (all of them in index.md), %d figure%s in %s\n", ntab,
           ntab == 1 ? "" : "s", o->tables_dir, nfig, nfig == 1 ? "" : "s", o->figures_dir);
    int missing = 0;
    for (int d = 0; d < ds->n; d++)
        if (!ds->d[d].ok) {
            if (!missing++)
                printf("missing datasets (their runs are skipped and their cells say n/a):\n");
            printf("  %s: %s\n", ds->d[d].name, ds->d[d].why);
        }
    return 0;
}
