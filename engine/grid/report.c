/* report.c - `symog report`: reads the result.yaml of every finished run an
 * experiment declares (found by config hash, so reused runs count), groups
 * runs by their axis values, and writes each table output as Markdown,
 * LaTeX (booktabs) and CSV: mean and sample standard deviation over seeds,
 * the published number in its own column where the experiment gives one,
 * and a caption stating dataset, profile, epochs and seeds. Cells of a
 * missing dataset say so; nothing is filled in from another dataset.
 * Figures are figures.c; both share the aggregation here. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grid.h"
#include "io/atomic.h"

void sq_g_meanstd(const double *v, int n, double *mean, double *std)
{
    double s = 0, ss = 0;
    for (int i = 0; i < n; i++)
        s += v[i];
    *mean = n ? s / n : NAN;
    for (int i = 0; i < n; i++)
        ss += (v[i] - *mean) * (v[i] - *mean);
    *std = n > 1 ? sqrt(ss / (n - 1)) : 0;
}

const char *sq_g_pretty(const char *v)
{
    static const char *const map[][2] = {
        {"fashion-mnist", "Fashion-MNIST"}, {"mnist", "MNIST"}, {"cifar10", "CIFAR-10"},
        {"cifar100", "CIFAR-100"}, {"lenet5", "LeNet5"}, {"lenet5-bn", "LeNet5-BN"},
        {"lenet5-classic", "LeNet5 (classic)"}, {"vgg7", "VGG7"}, {"vgg11", "VGG11"},
        {"densenet40", "DenseNet-40"}, {"densenet-bc100", "DenseNet-BC-100"}};
    for (size_t i = 0; i < SQ_COUNT(map); i++)
        if (!strcmp(v, map[i][0]))
            return map[i][1];
    return v;
}

/* ---- aggregation --------------------------------------------------------- */
int sq_grctx_init(sq_grctx *c, const sq_ggrid *g, const sq_gout *o, const sq_gdatasets *ds,
                  const int *free_axes, int nfree, sq_err *e)
{
    memset(c, 0, sizeof *c);
    c->g = g, c->o = o, c->ds = ds;
    for (int a = 0; a < SQ_G_MAX_AXES; a++)
        c->pin[a] = -1;
    for (int i = 0; i < o->nwhere; i++) {
        int a = sq_ggrid_axis(g, o->where[i].key);
        for (int j = 0; a >= 0 && j < g->axes[a].n; j++)
            if (!strcmp(g->axes[a].v[j].label, o->where[i].val))
                c->pin[a] = j;
    }
    for (int a = 0; a < g->naxes; a++) {
        int fr = !strcmp(g->axes[a].name, "seed");
        for (int i = 0; i < nfree; i++)
            fr |= free_axes[i] == a;
        if (!fr && c->pin[a] < 0 && g->axes[a].n > 1)
            return sq_fail(e, "%s:%d: report %s: axis '%s' has %d values in profile %s; make it "
                              "the rows/cols/lines or pick one with where = { %s = ... }",
                           g->x->path, o->line, o->id, g->axes[a].name, g->axes[a].n,
                           sq_g_profiles[g->profile], g->axes[a].name);
    }
    c->res = sq_calloc((size_t)g->n + 1, sizeof *c->res);
    c->state = sq_calloc((size_t)g->n + 1, 1);
    if (!c->res || !c->state) {
        sq_grctx_free(c);
        return sq_fail(e, "out of memory");
    }
    return 0;
}

void sq_grctx_free(sq_grctx *c)
{
    sq_free(c->res);
    sq_free(c->state);
    c->res = NULL;
    c->state = NULL;
}

static int matches(const sq_grctx *c, const sq_grun *r, const int *fix)
{
    for (int a = 0; a < c->g->naxes; a++) {
        if (c->pin[a] >= 0 && r->vi[a] != c->pin[a])
            return 0;
        if (fix && fix[a] >= 0 && r->vi[a] != fix[a])
            return 0;
    }
    return 1;
}

int sq_gcell_exists(const sq_grctx *c, const int *fix)
{
    for (int i = 0; i < c->g->n; i++)
        if (matches(c, &c->g->r[i], fix))
            return 1;
    return 0;
}

static const sq_gresult *result(sq_grctx *c, int i)
{
    const sq_grun *r = &c->g->r[i];
    if (!c->state[i]) {
        sq_err e;
        c->state[i] = -1;
        if ((r->status == SQ_GR_DONE || r->status == SQ_GR_REUSED || r->status == SQ_GR_OK) &&
            r->source[0]) {
            if (!sq_gresult_load(r->source, &c->res[i], &e))
                c->state[i] = 1;
            else {
                fprintf(stderr, "symog report: %s\n", e.msg);
                c->load_errors++;
            }
        }
    }
    return c->state[i] > 0 ? &c->res[i] : NULL;
}

void sq_gcell_get(sq_grctx *c, const int *fix, const char *metric, sq_gcell *cell)
{
    memset(cell, 0, sizeof *cell);
    cell->bits = -1;
    for (int i = 0; i < c->g->n; i++) {
        const sq_grun *r = &c->g->r[i];
        if (!matches(c, r, fix))
            continue;
        cell->runs++;
        if (cell->bits < 0)
            cell->bits = strcmp(sq_grun_get(r, "quantizer"), "float") ? atoi(sq_grun_get(r, "bits"))
                                                                        : 32;
        if (r->status == SQ_GR_SKIPPED) {
            cell->skipped++;
            cell->missing_data = sq_grun_get(r, "data");
            continue;
        }
        if (r->status == SQ_GR_DIVERGED) {
            cell->diverged++;
            continue;
        }
        const sq_gresult *res = result(c, i);
        double v;
        if (!res || sq_gresult_field(res, metric, &v)) {
            cell->pending++;
            continue;
        }
        int dup = 0;
        for (int k = 0; k < cell->n; k++)
            dup |= !strcmp(cell->src[k], r->source);
        if (dup || cell->n == 64)
            continue;
        cell->bits = res->bits;
        cell->src[cell->n] = r->source;
        cell->v[cell->n++] = v;
    }
    sq_g_meanstd(cell->v, cell->n, &cell->mean, &cell->std);
}

/* ---- tables ---------------------------------------------------------------- */
typedef struct col {
    int cv;            /* value index of the cols axis, -1 none */
    int metric;
} col;

static const char *metric_name(const char *m)
{
    if (!strcmp(m, "test_error"))
        return "Error (%)";
    if (!strcmp(m, "test_error_soft"))
        return "Error before snapping (%)";
    if (!strcmp(m, "best_test_error"))
        return "Best epoch's error (%)";
    if (!strcmp(m, "train_error"))
        return "Training error (%)";
    return "Training loss";
}

/* A Markdown table cell: '|' would end the cell. */
static void md_cell(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputc('\\', f);
        fputc(*s, f);
    }
}

/* The rows' header: "Method" for a method axis, else the axis name. */
static void row_header(const sq_gaxis *a, char *b, size_t n)
{
    snprintf(b, n, "%s", a->name);
    if (b[0] >= 'a' && b[0] <= 'z')
        b[0] = (char)(b[0] - 'a' + 'A');
    for (char *p = b; *p; p++)
        if (*p == '_')
            *p = ' ';
}

static void tex_escape(FILE *f, const char *s)
{
    static const char *const utf8[][2] = {{"±", "$\\pm$"}, {"–", "--"}, {"—", "---"},
                                          {"†", "$^\\dagger$"}, {"×", "$\\times$"},
                                          {"λ", "$\\lambda$"}, {"→", "$\\to$"}};
    int tt = 0;
    for (; *s; s++) {
        size_t k;
        for (k = 0; k < SQ_COUNT(utf8); k++)
            if (!strncmp(s, utf8[k][0], strlen(utf8[k][0])))
                break;
        if (k < SQ_COUNT(utf8)) {
            fputs(utf8[k][1], f);
            s += strlen(utf8[k][0]) - 1;
        } else if (*s == '`') {
            fputs(tt ? "}" : "\\texttt{", f);
            tt = !tt;
        } else if (strchr("&%$#_{}", *s))
            fprintf(f, "\\%c", *s);
        else if (*s == '~')
            fputs("\\textasciitilde{}", f);
        else if (*s == '^')
            fputs("\\textasciicircum{}", f);
        else if (*s == '\\')
            fputs("\\textbackslash{}", f);
        else if (*s == '|')
            fputs("\\textbar{}", f);
        else if (*s == '<' || *s == '>')
            fprintf(f, "$%c$", *s);
        else
            fputc(*s, f);
    }
    if (tt)
        fputc('}', f);
}

/* Comma list of a run setting's distinct values over the matching runs. */
static void distinct(const sq_grctx *c, const char *key, char *buf, size_t n, int pretty)
{
    buf[0] = 0;
    for (int i = 0; i < c->g->n; i++) {
        const sq_grun *r = &c->g->r[i];
        if (!matches(c, r, NULL))
            continue;
        const char *v = sq_grun_get(r, key);
        char item[128];
        snprintf(item, sizeof item, "%s", pretty ? sq_g_pretty(v) : v);
        int seen = 0;
        for (const char *p = buf; (p = strstr(p, item)); p++)
            seen |= (p == buf || p[-2] == ',') && (p[strlen(item)] == ',' || !p[strlen(item)]);
        if (!seen)
            snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", buf[0] ? ", " : "", item);
    }
}

static void fmt_count(char *b, size_t n, int v)
{
    if (v >= 1000)
        snprintf(b, n, "%d,%03d", v / 1000, v % 1000);
    else
        snprintf(b, n, "%d", v);
}

/* "Fashion-MNIST: 8,000 of 60,000 training and 5,000 of 10,000 test images" */
static void data_desc(const sq_grctx *c, char *buf, size_t n)
{
    char names[256];
    distinct(c, "data", names, sizeof names, 0);
    buf[0] = 0;
    for (char *tok = strtok(names, ", "); tok; tok = strtok(NULL, ", ")) {
        const sq_gdata *d = NULL;
        for (int i = 0; i < c->ds->n; i++)
            if (!strcmp(c->ds->d[i].name, tok))
                d = &c->ds->d[i];
        size_t len = strlen(buf);
        if (!d || !d->ok) {
            snprintf(buf + len, n - len, "%s%s (not present: its runs are skipped)", len ? "; " : "",
                     sq_g_pretty(tok));
            continue;
        }
        int tr = 0, te = 0;
        for (int i = 0; i < c->g->n; i++) {
            const sq_grun *r = &c->g->r[i];
            if (matches(c, r, NULL) && !strcmp(sq_grun_get(r, "data"), tok)) {
                tr = atoi(sq_grun_get(r, "train_subset"));
                te = atoi(sq_grun_get(r, "test_subset"));
                break;
            }
        }
        char a[16], b[16], A[16], B[16];
        fmt_count(a, sizeof a, tr > 0 && tr < d->n_train ? tr : d->n_train);
        fmt_count(b, sizeof b, te > 0 && te < d->n_test ? te : d->n_test);
        fmt_count(A, sizeof A, d->n_train);
        fmt_count(B, sizeof B, d->n_test);
        if (tr > 0 && tr < d->n_train)
            snprintf(buf + len, n - len, "%s%s, the first %s of %s training and %s of %s test images",
                     len ? "; " : "", sq_g_pretty(tok), a, A, b, B);
        else if (te > 0 && te < d->n_test)
            snprintf(buf + len, n - len, "%s%s, all %s training and the first %s of %s test images",
                     len ? "; " : "", sq_g_pretty(tok), A, b, B);
        else
            snprintf(buf + len, n - len, "%s%s, all %s training and %s test images",
                     len ? "; " : "", sq_g_pretty(tok), A, B);
    }
}

void sq_greport_caption(const sq_grctx *c, char *buf, size_t n)
{
    const sq_gexp *x = c->g->x;
    const sq_gout *o = c->o;
    char epochs[64], seeds[128], data[600];
    distinct(c, "epochs", epochs, sizeof epochs, 0);
    distinct(c, "seed", seeds, sizeof seeds, 0);
    data_desc(c, data, sizeof data);
    int nseeds = 1;
    for (const char *p = seeds; (p = strchr(p, ',')); p++)
        nseeds++;
    const char *note = x->prof[c->g->profile].note;
    char runs[200], what[600], seed1[32];
    snprintf(seed1, sizeof seed1, "%.*s", (int)strcspn(seeds, ","), seeds);
    if (nseeds > 1)
        snprintf(runs, sizeof runs, "mean ± sample standard deviation over %d seeds (%s)", nseeds,
                 seeds);
    else
        snprintf(runs, sizeof runs, "one run each (seed %s)", seeds);
    switch (o->kind) {
    case SQ_GO_BITS:
        snprintf(what, sizeof what, "Test error in %% after training (weights snapped onto their "
                 "grid) versus the weights' bit width, %s; error bars and the band around the "
                 "dashed %s line: one standard deviation", runs, o->reference[0] ? o->reference : "");
        break;
    case SQ_GO_CURVES:
        snprintf(what, sizeof what, "Test error in %% after each epoch, with the weights as the "
                 "network is evaluated (quantized methods: snapped onto their grid), %s", runs);
        break;
    case SQ_GO_SWITCH:
        snprintf(what, sizeof what, "Share of each layer's weights whose nearest fixed-point mode "
                 "changed during the epoch (left axis, log scale) and the penalty weight lambda at "
                 "the end of the epoch (right axis, log scale; an epoch without any switch has no "
                 "point); the run with seed %s", seed1);
        break;
    case SQ_GO_HIST:
        snprintf(what, sizeof what, "Weight histograms per layer before training (epoch 0, top) "
                 "and after the epochs shown, x in units of the layer's step, each curve scaled "
                 "to its maximum; dotted lines: the fixed-point modes; the run with seed %s", seed1);
        break;
    default:
        snprintf(what, sizeof what, "Test error in %% of the network as evaluated after training "
                 "(weights snapped onto their grid), %s", runs);
    }
    snprintf(buf, n, "%s: %s. %s. Data: %s. Profile %s, %s epoch%s%s%s.",
             o->title[0] ? o->title : o->id, x->caption, what, data, sq_g_profiles[c->g->profile],
             epochs, strcmp(epochs, "1") ? "s" : "", note[0] ? ": " : "", note);
}

static void cell_text(const sq_gcell *cl, char *b, size_t n, int tex, int bold)
{
    if (cl->n == 0) {
        snprintf(b, n, "%s", cl->skipped == cl->runs && cl->runs ? "n/a"
                             : cl->diverged ? "diverged" : cl->runs ? "–" : "");
        if (tex && !strcmp(b, "–"))
            snprintf(b, n, "--");
        return;
    }
    const char *mark = cl->n < cl->runs - cl->skipped ? (tex ? "$^\\dagger$" : " †") : "";
    char v[64];
    if (cl->n > 1)
        snprintf(v, sizeof v, tex ? "%.2f \\pm %.2f" : "%.2f ± %.2f", cl->mean, cl->std);
    else
        snprintf(v, sizeof v, "%.2f", cl->mean);
    if (tex)
        snprintf(b, n, "$%s%s%s$%s", bold ? "\\mathbf{" : "", v, bold ? "}" : "", mark);
    else
        snprintf(b, n, "%s%s%s%s", bold ? "**" : "", v, bold ? "**" : "", mark);
}

typedef struct tdata {
    int R, C, nrows, rows[64], ncols;
    col cols[32];
    sq_gcell *cells;     /* [row][col]                                  */
    int show_bits, npub;
    int best[32];        /* row index of the lowest mean per column      */
} tdata;

static void pub_text(const sq_gout *o, const char *row, char *b, size_t n, double *val)
{
    b[0] = 0;
    *val = NAN;
    for (int i = 0; i < o->npub; i++)
        if (!strcmp(o->pub[i].row, row)) {
            size_t len = strlen(b);
            snprintf(b + len, n - len, "%s%.2f%s%s%s", len ? "; " : "", o->pub[i].value,
                     o->pub[i].col[0] ? " (" : "", o->pub[i].col[0] ? sq_g_pretty(o->pub[i].col) : "",
                     o->pub[i].col[0] ? ")" : "");
            *val = o->pub[i].value;
        }
}

static void header(const sq_grctx *c, const tdata *t, int k, char *b, size_t n)
{
    const col *cl = &t->cols[k];
    const char *m = c->o->metrics[cl->metric];
    if (cl->cv < 0)
        snprintf(b, n, "%s", metric_name(m));
    else if (c->o->nmetrics == 1)
        snprintf(b, n, "%s", sq_g_pretty(c->g->axes[t->C].v[cl->cv].label));
    else
        snprintf(b, n, "%s %s", sq_g_pretty(c->g->axes[t->C].v[cl->cv].label), metric_name(m));
}

static void write_md(const sq_grctx *c, const tdata *t, const char *caption, FILE *f)
{
    const sq_gaxis *ra = &c->g->axes[t->R];
    char b[200], rh[SQ_G_KEY];
    row_header(ra, rh, sizeof rh);
    fprintf(f, "**%s**\n\n| %s |", caption, rh);
    if (t->show_bits)
        fprintf(f, " Bits |");
    for (int k = 0; k < t->ncols; k++) {
        header(c, t, k, b, sizeof b);
        fprintf(f, " %s |", b);
    }
    fprintf(f, "%s\n|:--|", t->npub ? " Published |" : "");
    for (int k = 0; k < t->ncols + t->show_bits + (t->npub > 0); k++)
        fprintf(f, "--:|");
    fprintf(f, "\n");
    for (int i = 0; i < t->nrows; i++) {
        const sq_gval *rv = &ra->v[t->rows[i]];
        fputs("| ", f);
        md_cell(f, sq_g_pretty(rv->label));
        fputs(" |", f);
        if (t->show_bits)
            fprintf(f, " %d |", t->cells[i * t->ncols].bits);
        for (int k = 0; k < t->ncols; k++) {
            cell_text(&t->cells[i * t->ncols + k], b, sizeof b, 0, t->best[k] == i);
            fprintf(f, " %s |", b);
        }
        if (t->npub) {
            double v;
            pub_text(c->o, rv->label, b, sizeof b, &v);
            fprintf(f, " %s |", b);
        }
        fprintf(f, "\n");
    }
}

static void notes(const sq_grctx *c, const tdata *t, FILE *f, int tex)
{
    const char *sep = tex ? "\\\\\n" : "\n\n";
    int dag = 0, na = 0, pend = 0, div = 0;
    for (int i = 0; i < t->nrows * t->ncols; i++) {
        const sq_gcell *cl = &t->cells[i];
        dag |= cl->n && cl->n < cl->runs - cl->skipped;
        na |= cl->runs && cl->skipped == cl->runs;
        pend |= !cl->n && cl->runs && cl->skipped < cl->runs && !cl->diverged;
        div |= cl->diverged > 0;
    }
    int any_best = 0;
    for (int k = 0; k < t->ncols; k++)
        any_best |= t->best[k] >= 0;
    if (any_best) {
        fputs("Bold: the lowest mean of its column", f);
        if (c->o->reference[0]) {
            fputs(", not counting the reference ", f);
            tex ? tex_escape(f, c->o->reference) : (void)fputs(c->o->reference, f);
        }
        fprintf(f, ".%s", sep);
    }
    if (na) {
        for (int d = 0; d < c->ds->n; d++) {
            const sq_gdata *gd = &c->ds->d[d];
            int used = 0;
            for (int i = 0; i < t->nrows * t->ncols; i++)
                used |= t->cells[i].missing_data && !strcmp(t->cells[i].missing_data, gd->name);
            if (!used || gd->ok)
                continue;
            fprintf(f, "n/a: %s is not present on this machine, so its runs were skipped (no other "
                       "dataset is substituted); `make data` fetches it where a network is "
                       "reachable, or see the README.%s", sq_g_pretty(gd->name), sep);
        }
    }
    if (dag)
        fprintf(f, "%s: not every seed of this cell has finished; the mean is over those that have.%s",
                tex ? "$^\\dagger$" : "†", sep);
    if (div)
        fprintf(f, "diverged: a run of this cell stopped on NaN/Inf (its diverged.yaml says where); "
                   "a cell with other finished seeds shows their mean with %s.%s",
                tex ? "$^\\dagger$" : "†", sep);
    if (pend)
        fprintf(f, "%s: not trained yet, or failed (see `symog grid`).%s", tex ? "--" : "–", sep);
    for (int i = 0; i < c->o->npub; i++) {
        int dupl = 0;
        for (int j = 0; j < i; j++)
            dupl |= !strcmp(c->o->pub[j].source, c->o->pub[i].source);
        if (dupl)
            continue;
        fputs("Published: ", f);
        tex ? tex_escape(f, c->o->pub[i].source) : (void)fputs(c->o->pub[i].source, f);
        fputs(sep, f);
    }
    if (c->g->x->notes[0]) {
        tex ? tex_escape(f, c->g->x->notes) : (void)fputs(c->g->x->notes, f);
        fputs(tex ? "\n" : "\n", f);
    }
}

static void write_tex(const sq_grctx *c, const tdata *t, const char *caption, FILE *f)
{
    const sq_gaxis *ra = &c->g->axes[t->R];
    char b[200], rh[SQ_G_KEY];
    row_header(ra, rh, sizeof rh);
    fprintf(f, "%% generated by `symog report`; do not edit\n\\begin{table}[t]\n\\centering\n"
               "\\caption{");
    tex_escape(f, caption);
    fprintf(f, "}\n\\label{tab:%s}\n\\begin{tabular}{l%s", c->o->id, t->show_bits ? "r" : "");
    for (int k = 0; k < t->ncols + (t->npub > 0); k++)
        fputc('r', f);
    fprintf(f, "}\n\\toprule\n");
    tex_escape(f, rh);
    if (t->show_bits)
        fprintf(f, " & Bits");
    for (int k = 0; k < t->ncols; k++) {
        header(c, t, k, b, sizeof b);
        fputs(" & ", f);
        tex_escape(f, b);
    }
    fprintf(f, "%s \\\\\n\\midrule\n", t->npub ? " & Published" : "");
    for (int i = 0; i < t->nrows; i++) {
        const sq_gval *rv = &ra->v[t->rows[i]];
        tex_escape(f, sq_g_pretty(rv->label));
        if (t->show_bits)
            fprintf(f, " & %d", t->cells[i * t->ncols].bits);
        for (int k = 0; k < t->ncols; k++) {
            cell_text(&t->cells[i * t->ncols + k], b, sizeof b, 1, t->best[k] == i);
            fprintf(f, " & %s", b);
        }
        if (t->npub) {
            double v;
            pub_text(c->o, rv->label, b, sizeof b, &v);
            fputs(" & ", f);
            tex_escape(f, b);
        }
        fprintf(f, " \\\\\n");
    }
    fprintf(f, "\\bottomrule\n\\end{tabular}\n\n\\smallskip\n{\\footnotesize ");
    notes(c, t, f, 1);
    fprintf(f, "}\n\\end{table}\n");
}

static void write_csv(const sq_grctx *c, const tdata *t, FILE *f)
{
    const sq_gaxis *ra = &c->g->axes[t->R];
    fprintf(f, "table,row,col,metric,mean,std,n,runs,bits,published,status\n");
    for (int i = 0; i < t->nrows; i++) {
        const char *row = ra->v[t->rows[i]].label;
        double pub;
        char pb[200];
        pub_text(c->o, row, pb, sizeof pb, &pub);
        for (int k = 0; k < t->ncols; k++) {
            const sq_gcell *cl = &t->cells[i * t->ncols + k];
            const char *colname = t->cols[k].cv >= 0 ? c->g->axes[t->C].v[t->cols[k].cv].label : "";
            const char *st = cl->n == 0 ? (cl->runs && cl->skipped == cl->runs ? "data-missing"
                                           : cl->diverged ? "diverged" : "pending")
                             : cl->n < cl->runs - cl->skipped ? "partial" : "ok";
            fprintf(f, "%s,\"%s\",\"%s\",%s,", c->o->id, row, colname, c->o->metrics[t->cols[k].metric]);
            if (cl->n)
                fprintf(f, "%.4f,%.4f,", cl->mean, cl->std);
            else
                fprintf(f, ",,");
            fprintf(f, "%d,%d,%d,", cl->n, cl->runs - cl->skipped, cl->bits);
            if (!isnan(pub))
                fprintf(f, "%.2f", pub);
            fprintf(f, ",%s\n", st);
        }
    }
}

/* Write text as dir/<id>.<ext> atomically. */
static int put_file(const char *dir, const char *id, const char *ext, const char *text, size_t n,
                    sq_err *e)
{
    char p[SQ_G_PATH + 96];
    snprintf(p, sizeof p, "%s/%s.%s", dir, id, ext);
    return sq_write_file_atomic(p, text, n, e);
}

int sq_greport_table(sq_grctx *c, const char *dir, FILE *index, sq_err *e)
{
    const sq_ggrid *g = c->g;
    const sq_gout *o = c->o;
    tdata *t = sq_calloc(1, sizeof *t);
    if (!t)
        return sq_fail(e, "out of memory");
    t->R = sq_ggrid_axis(g, o->rows);
    t->C = o->cols[0] ? sq_ggrid_axis(g, o->cols) : -1;
    int fix[SQ_G_MAX_AXES];
    for (int a = 0; a < SQ_G_MAX_AXES; a++)
        fix[a] = -1;
    for (int v = 0; v < g->axes[t->R].n && t->nrows < 64; v++) {
        fix[t->R] = v;
        if (sq_gcell_exists(c, fix))
            t->rows[t->nrows++] = v;
    }
    fix[t->R] = -1;
    for (int v = 0; v < (t->C >= 0 ? g->axes[t->C].n : 1); v++) {
        if (t->C >= 0) {
            fix[t->C] = v;
            if (!sq_gcell_exists(c, fix))
                continue;
        }
        for (int m = 0; m < o->nmetrics && t->ncols < 32; m++)
            t->cols[t->ncols++] = (col){t->C >= 0 ? v : -1, m};
    }
    int rc = -1;
    char *md = NULL, *tex = NULL, *csv = NULL, caption[2000];
    size_t nmd = 0, ntex = 0, ncsv = 0;
    t->cells = sq_calloc((size_t)(t->nrows * t->ncols) + 1, sizeof *t->cells);
    if (!t->cells) {
        sq_fail(e, "out of memory");
        goto done;
    }
    int bits0 = -2;
    for (int i = 0; i < t->nrows; i++)
        for (int k = 0; k < t->ncols; k++) {
            for (int a = 0; a < SQ_G_MAX_AXES; a++)
                fix[a] = -1;
            fix[t->R] = t->rows[i];
            if (t->C >= 0)
                fix[t->C] = t->cols[k].cv;
            sq_gcell *cl = &t->cells[i * t->ncols + k];
            sq_gcell_get(c, fix, o->metrics[t->cols[k].metric], cl);
            if (bits0 == -2)
                bits0 = cl->bits;
            t->show_bits |= cl->bits != bits0 && cl->runs;
        }
    if (c->load_errors) { /* write nothing rather than a table with holes */
        sq_fail(e, "%s: %d result file%s could not be read (see above)", o->id, c->load_errors,
                c->load_errors > 1 ? "s" : "");
        goto done;
    }
    t->npub = o->npub;
    for (int k = 0; k < t->ncols; k++) {
        t->best[k] = -1;
        int with = 0;
        for (int i = 0; i < t->nrows; i++) {
            const sq_gcell *cl = &t->cells[i * t->ncols + k];
            if (!cl->n || !strcmp(g->axes[t->R].v[t->rows[i]].label, o->reference))
                continue;
            with++;
            if (t->best[k] < 0 || cl->mean < t->cells[t->best[k] * t->ncols + k].mean)
                t->best[k] = i;
        }
        if (with < 2)
            t->best[k] = -1;
    }
    sq_greport_caption(c, caption, sizeof caption);
    FILE *fm = open_memstream(&md, &nmd), *ft = open_memstream(&tex, &ntex),
         *fc = open_memstream(&csv, &ncsv);
    if (!fm || !ft || !fc) {
        if (fm)
            fclose(fm);
        if (ft)
            fclose(ft);
        if (fc)
            fclose(fc);
        sq_fail(e, "out of memory");
        goto done;
    }
    fprintf(fm, "<!-- generated by `symog report` from %s/%s/%s/*/result.yaml; do not edit -->\n",
            g->root, g->x->name, sq_g_profiles[g->profile]);
    write_md(c, t, caption, fm);
    fputs("\n", fm);
    notes(c, t, fm, 0);
    write_tex(c, t, caption, ft);
    write_csv(c, t, fc);
    int bad = ferror(fm) || ferror(ft) || ferror(fc);
    bad |= fclose(fm) != 0;
    bad |= fclose(ft) != 0;
    bad |= fclose(fc) != 0;
    if (bad) {
        sq_fail(e, "formatting table %s failed (out of memory?)", o->id);
        goto done;
    }
    if (put_file(dir, o->id, "md", md, nmd, e) || put_file(dir, o->id, "tex", tex, ntex, e) ||
        put_file(dir, o->id, "csv", csv, ncsv, e))
        goto done;
    if (index) {
        const char *body = strchr(md, '\n');
        fprintf(index, "## %s\n\n%s\n", o->title[0] ? o->title : o->id, body ? body + 1 : md);
    }
    rc = 0;
done:
    free(md); /* open_memstream buffers come from malloc */
    free(tex);
    free(csv);
    sq_free(t->cells);
    sq_free(t);
    return rc;
}
