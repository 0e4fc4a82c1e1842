/* runner.c - runs the plan: prints it (runs per status, missing datasets with
 * the loader's reason, estimated cost), then trains what is left with N
 * parallel `symog train` children (posix_spawn, no shell), each in its run
 * directory with --threads T --progress 0 --resume, its stdout and stderr in
 * DIR/log.txt.
 *
 * Resumability: DIR/grid.yaml (written atomically before the child starts)
 * holds the config hash. A directory whose hash matches and that has
 * result.yaml is finished and skipped; one whose hash matches without
 * result.yaml was interrupted and continues from its last epoch (--resume;
 * if that fails it is retried once from scratch); any other directory is
 * emptied and started again. A child holds an flock on DIR/.lock (inherited
 * from the runner), so a second grid never trains the same directory while
 * the first one's child still runs, even after the first grid was killed.
 * Runs with the same hash (in this plan or finished elsewhere) are trained
 * once; the others get a grid.yaml with `same_as:` the directory that holds
 * the results. A failed run is reported with its log and the rest go on. */
#define _DEFAULT_SOURCE /* flock */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "grid.h"
#include "io/atomic.h"
#include "io/yamlio.h"

extern char **environ;

static volatile sig_atomic_t stop_signal;
static void on_signal(int s) { stop_signal = s; }

static const char *const STATUS[SQ_GR_NSTATES] = {
    "todo", "resume", "redo", "done", "reused", "same", "skipped", "invalid", "busy", "FAILED", "ok", "diverged"};

typedef struct job {
    pid_t pid;
    int g, r, threads, attempt;
    double t0;
} job;

typedef struct state {
    sq_ggrid **g;
    int ng;
    const sq_grunner_opts *o;
    sq_gdatasets *ds;
    unsigned char **sel;    /* selected by --only                         */
    int ncpu, used_threads;
    job *jobs;
    int njobs;
    double est_done, real_done, est_left;
    int finished, total;
} state;

static sq_grun *run_at(state *s, int g, int r) { return &s->g[g]->r[r]; }

static int selected(const sq_ggrid *g, const sq_grun *r, const char *pat)
{
    if (!pat || !*pat)
        return 1;
    char full[400];
    snprintf(full, sizeof full, "%s/%s", g->x->name, r->name);
    return !fnmatch(pat, full, 0) || !fnmatch(pat, r->name, 0) || !fnmatch(pat, g->x->name, 0);
}

static int to_run(int st) { return st == SQ_GR_TODO || st == SQ_GR_RESUME || st == SQ_GR_REDO; }

/* "same_as" as written in grid.yaml: the source relative to the runs root. */
static const char *rel(const sq_ggrid *g, const char *dir)
{
    size_t n = strlen(g->root);
    return !strncmp(dir, g->root, n) && dir[n] == '/' ? dir + n + 1 : dir;
}

static void fmt_minutes(char *buf, size_t n, double s)
{
    if (s < 90)
        snprintf(buf, n, "%.0f s", s);
    else if (s < 5400)
        snprintf(buf, n, "%.0f min", s / 60);
    else
        snprintf(buf, n, "%.1f h", s / 3600);
}

static void print_plan(state *s)
{
    const sq_grunner_opts *o = s->o;
    int T = o->threads ? o->threads : SQ_MAX(1, s->ncpu / SQ_MAX(1, o->jobs));
    printf("symog grid: profile %s, %d job%s x %d thread%s (%d cores)%s\n",
           sq_g_profiles[s->g[0]->profile], o->jobs, o->jobs > 1 ? "s" : "", T, T > 1 ? "s" : "",
           s->ncpu, o->dry_run ? ", dry run" : "");
    printf("  %-28s %5s %6s %6s %5s %5s %6s %5s %7s %7s\n", "experiment", "runs", "to do",
           "resume", "redo", "done", "reused", "same", "skipped", "invalid");
    double cost = 0;
    int unknown = 0, todo = 0;
    for (int k = 0; k < s->ng; k++) {
        int c[SQ_GR_NSTATES] = {0}, n = 0;
        for (int i = 0; i < s->g[k]->n; i++) {
            sq_grun *r = run_at(s, k, i);
            if (!s->sel[k][i])
                continue;
            n++;
            c[r->status]++;
            if (to_run(r->status)) {
                todo++;
                r->cost = sq_grun_cost(r, s->ds, o->gflops);
                if (r->cost < 0)
                    unknown++;
                else
                    cost += r->cost;
            }
        }
        printf("  %-28s %5d %6d %6d %5d %5d %6d %5d %7d %7d\n", s->g[k]->x->name, n,
               c[SQ_GR_TODO], c[SQ_GR_RESUME], c[SQ_GR_REDO], c[SQ_GR_DONE] + c[SQ_GR_DIVERGED],
               c[SQ_GR_REUSED],
               c[SQ_GR_DUP], c[SQ_GR_SKIPPED], c[SQ_GR_INVALID]);
    }
    /* missing datasets, once each */
    for (int d = 0; d < s->ds->n; d++) {
        const sq_gdata *gd = &s->ds->d[d];
        int cnt = 0;
        for (int k = 0; k < s->ng; k++)
            for (int i = 0; i < s->g[k]->n; i++)
                cnt += s->sel[k][i] && run_at(s, k, i)->status == SQ_GR_SKIPPED &&
                       !strcmp(sq_grun_get(run_at(s, k, i), "data"), gd->name);
        if (cnt)
            printf("skipped: %d run%s need %s, which is missing (never replaced by another "
                   "dataset):\n    %s\n", cnt, cnt > 1 ? "s" : "", gd->name, gd->why);
    }
    for (int k = 0; k < s->ng; k++)
        for (int i = 0; i < s->g[k]->n; i++) {
            sq_grun *r = run_at(s, k, i);
            if (s->sel[k][i] && r->status == SQ_GR_INVALID)
                printf("invalid: %s/%s: %s\n", s->g[k]->x->name, r->name, r->why);
        }
    if (o->dry_run)
        for (int k = 0; k < s->ng; k++)
            for (int i = 0; i < s->g[k]->n; i++) {
                sq_grun *r = run_at(s, k, i);
                char est[32] = "";
                if (!s->sel[k][i])
                    continue;
                if (to_run(r->status) && r->cost < 0)
                    snprintf(est, sizeof est, "?");
                else if (to_run(r->status))
                    fmt_minutes(est, sizeof est, r->cost);
                printf("  %-8s %s%s%s\n", STATUS[r->status], r->dir, est[0] ? "  ~" : "", est);
            }
    int eff = SQ_MIN(s->ncpu, o->jobs * T);
    char a[32], b[32];
    fmt_minutes(a, sizeof a, cost);
    fmt_minutes(b, sizeof b, cost / SQ_MAX(1, eff));
    printf("to do: %d run%s, about %s of one core%s: ~%s on %d core%s\n", todo, todo == 1 ? "" : "s",
           a, unknown ? " (plus runs of unknown cost)" : "", b, eff, eff > 1 ? "s" : "");
    s->est_left = cost;
    fflush(stdout);
}

/* Lock DIR/.lock for the child; -1 busy (msg in why), -2 error. */
static int lock_dir(sq_grun *r, sq_err *e)
{
    char p[SQ_G_PATH + 16];
    if (sq_mkdir_p(r->dir, e))
        return -2;
    snprintf(p, sizeof p, "%s/.lock", r->dir);
    int fd = open(p, O_RDWR | O_CREAT, 0644); /* inherited by the child on purpose */
    if (fd < 0) {
        sq_fail(e, "cannot open %s: %s", p, strerror(errno));
        return -2;
    }
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        close(fd);
        snprintf(r->why, sizeof r->why, "another process is training %.400s right now", r->dir);
        return -1;
    }
    return fd;
}

static int spawn(state *s, int g, int ri, int threads, int lockfd, pid_t *pid, sq_err *e)
{
    sq_grun *r = run_at(s, g, ri);
    static char args[64][SQ_G_VAL + SQ_G_KEY + 8];
    char *argv[80], tbuf[16], logp[SQ_G_PATH + 16], omp[40], blas[48];
    int n = 0, na = sq_grun_argv(r, args, 64);
    argv[n++] = (char *)s->o->exe;
    argv[n++] = "train";
    for (int i = 0; i < na; i++)
        argv[n++] = args[i];
    snprintf(tbuf, sizeof tbuf, "%d", threads);
    argv[n++] = "--threads", argv[n++] = tbuf;
    argv[n++] = "--progress", argv[n++] = "0";
    argv[n++] = "--out", argv[n++] = r->dir;
    if (s->o->data_dir && *s->o->data_dir)
        argv[n++] = "--data-dir", argv[n++] = (char *)s->o->data_dir;
    argv[n++] = "--resume";
    argv[n] = NULL;
    /* environment: ours, with the thread counts of the child's libraries */
    int ne = 0;
    while (environ[ne])
        ne++;
    char **envp = sq_calloc((size_t)ne + 3, sizeof *envp);
    if (!envp)
        return sq_fail(e, "out of memory");
    int k = 0;
    for (int i = 0; i < ne; i++)
        if (strncmp(environ[i], "OMP_NUM_THREADS=", 16) &&
            strncmp(environ[i], "OPENBLAS_NUM_THREADS=", 21))
            envp[k++] = environ[i];
    snprintf(omp, sizeof omp, "OMP_NUM_THREADS=%d", threads);
    snprintf(blas, sizeof blas, "OPENBLAS_NUM_THREADS=%d", threads);
    envp[k++] = omp;
    envp[k++] = blas;
    envp[k] = NULL;
    snprintf(logp, sizeof logp, "%s/log.txt", r->dir);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, logp, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    int rc = posix_spawn(pid, s->o->exe, &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    sq_free(envp);
    (void)lockfd;
    if (rc)
        return sq_fail(e, "cannot start %s: %s", s->o->exe, strerror(rc));
    return 0;
}

/* The last non-empty line of the run's log: usually "symog train: why". */
static void log_tail(const char *dir, char *out, size_t n)
{
    char p[SQ_G_PATH + 16], buf[4096];
    snprintf(p, sizeof p, "%s/log.txt", dir);
    out[0] = 0;
    FILE *f = fopen(p, "rb");
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0, SEEK_SET);
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
        buf[--len] = 0;
    char *nl = strrchr(buf, '\n');
    const char *last = nl ? nl + 1 : buf;
    snprintf(out, n, "%.*s", (int)SQ_MIN(strlen(last), n - 1), last);
}

static int start(state *s, int g, int ri, int attempt, int pending, sq_err *e)
{
    sq_grun *r = run_at(s, g, ri);
    int free_t = s->ncpu - s->used_threads;
    int slots = SQ_MIN(s->o->jobs - s->njobs, pending);
    int T = s->o->threads ? s->o->threads : SQ_MAX(1, free_t / SQ_MAX(1, slots));
    int fd = lock_dir(r, e);
    if (fd == -1) {
        r->status = SQ_GR_BUSY;
        printf("[%3d/%d] busy     %s: %s\n", s->finished, s->total, r->dir, r->why);
        return 0;
    }
    if (fd < 0)
        return -1;
    int rc = 0;
    if (r->status == SQ_GR_REDO && sq_g_clear_dir(r->dir, ".lock", e))
        rc = -1;
    if (!rc && sq_grun_write_meta(s->g[g], r, NULL, e))
        rc = -1;
    pid_t pid = 0;
    if (!rc && spawn(s, g, ri, T, fd, &pid, e))
        rc = -1;
    close(fd); /* the child keeps the lock */
    if (rc)
        return -1;
    job *j = &s->jobs[s->njobs++];
    *j = (job){pid, g, ri, T, attempt, sq_now()};
    s->used_threads += T;
    printf("[%3d/%d] start    %s/%s (%s, %d thread%s)\n", s->finished, s->total, s->g[g]->x->name,
           r->name, STATUS[r->status], T, T > 1 ? "s" : "");
    fflush(stdout);
    return 0;
}

static void finish(state *s, int jn, int wstatus, int *requeue)
{
    job j = s->jobs[jn];
    s->jobs[jn] = s->jobs[--s->njobs];
    s->used_threads -= j.threads;
    sq_grun *r = run_at(s, j.g, j.r);
    double secs = sq_now() - j.t0;
    char p[SQ_G_PATH + 16];
    snprintf(p, sizeof p, "%s/result.yaml", r->dir);
    int ok = WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0 && access(p, F_OK) == 0;
    *requeue = 0;
    if (!ok && stop_signal) {
        r->status = SQ_GR_RESUME;
        printf("[%3d/%d] stopped  %s (continues on the next run of this grid)\n", s->finished,
               s->total, r->dir);
        return;
    }
    if (!ok && j.attempt == 0 && r->status == SQ_GR_RESUME && !stop_signal) {
        printf("[%3d/%d] retry    %s: resuming failed, starting it from scratch\n", s->finished,
               s->total, r->dir);
        r->status = SQ_GR_REDO;
        *requeue = 1;
        return;
    }
    s->finished++;
    if (r->cost > 0) {
        s->est_done += r->cost;
        s->est_left -= r->cost;
        s->real_done += secs * j.threads;
    }
    char left[32] = "?";
    if (s->est_done > 0)
        fmt_minutes(left, sizeof left, s->est_left * (s->real_done / s->est_done) /
                                           SQ_MAX(1, SQ_MIN(s->ncpu, s->o->jobs)));
    snprintf(p, sizeof p, "%s/diverged.yaml", r->dir);
    if (!ok && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 3 && access(p, F_OK) == 0) {
        char tail[300];
        log_tail(r->dir, tail, sizeof tail);
        r->status = SQ_GR_DIVERGED;
        snprintf(r->source, sizeof r->source, "%s", r->dir);
        printf("[%3d/%d] diverged %s/%s (%s); recorded in %s/diverged.yaml, not retried; ~%s left\n",
               s->finished, s->total, s->g[j.g]->x->name, r->name, tail, r->dir, left);
    } else if (ok) {
        r->status = SQ_GR_OK;
        snprintf(r->source, sizeof r->source, "%s", r->dir);
        sq_gresult res;
        sq_err e2;
        char te[32] = "";
        if (!sq_gresult_load(r->dir, &res, &e2))
            snprintf(te, sizeof te, "test error %.2f %%, ", res.test_error);
        printf("[%3d/%d] ok       %s/%s: %s%.0f s; ~%s left\n", s->finished, s->total,
               s->g[j.g]->x->name, r->name, te, secs, left);
    } else {
        char tail[300];
        log_tail(r->dir, tail, sizeof tail);
        r->status = SQ_GR_FAILED;
        if (WIFSIGNALED(wstatus))
            snprintf(r->why, sizeof r->why, "killed by signal %d", WTERMSIG(wstatus));
        else
            snprintf(r->why, sizeof r->why, "exit status %d: %s", WEXITSTATUS(wstatus), tail);
        printf("[%3d/%d] FAILED   %s/%s (%s); log: %s/log.txt\n", s->finished, s->total,
               s->g[j.g]->x->name, r->name, r->why, r->dir);
    }
    fflush(stdout);
}

/* Runs with the same config as a finished one: a grid.yaml pointing there. */
static int link_same(state *s, sq_grun *r, int g, sq_err *e)
{
    char own[65] = "";
    int fd = lock_dir(r, e);
    if (fd == -1)
        return 0;
    if (fd < 0)
        return -1;
    int rc = 0;
    /* keep nothing of another config in a directory that now points elsewhere */
    char p[SQ_G_PATH + 16];
    snprintf(p, sizeof p, "%s/grid.yaml", r->dir);
    sq_ykv *kv = NULL;
    int n = 0;
    sq_err e2;
    if (!access(p, F_OK) && !sq_yaml_load(p, &kv, &n, &e2)) {
        const char *h = sq_ykv_get(kv, n, "hash");
        snprintf(own, sizeof own, "%s", h ? h : "");
        sq_ykv_free(kv, n);
    }
    if (strcmp(own, r->hash))
        rc = sq_g_clear_dir(r->dir, ".lock", e);
    if (!rc)
        rc = sq_grun_write_meta(s->g[g], r, rel(s->g[g], r->source), e);
    close(fd);
    return rc;
}

static void summary(state *s)
{
    int c[SQ_GR_NSTATES] = {0};
    for (int k = 0; k < s->ng; k++)
        for (int i = 0; i < s->g[k]->n; i++)
            if (s->sel[k][i])
                c[run_at(s, k, i)->status]++;
    printf("symog grid: %d trained now, %d failed, %d diverged, %d invalid, %d already finished, "
           "%d reused (same config), %d skipped (missing data)%s\n",
           c[SQ_GR_OK], c[SQ_GR_FAILED], c[SQ_GR_DIVERGED], c[SQ_GR_INVALID], c[SQ_GR_DONE],
           c[SQ_GR_REUSED], c[SQ_GR_SKIPPED], c[SQ_GR_BUSY] ? ", some busy in another process" : "");
    for (int k = 0; k < s->ng; k++)
        for (int i = 0; i < s->g[k]->n; i++) {
            sq_grun *r = run_at(s, k, i);
            if (s->sel[k][i] && (r->status == SQ_GR_FAILED || r->status == SQ_GR_BUSY))
                printf("  %s %s: %s (log: %s/log.txt)\n", STATUS[r->status], r->dir, r->why,
                       r->dir);
        }
    fflush(stdout);
}

static int execute(state *s, sq_err *e)
{
    int cap = 0;
    for (int k = 0; k < s->ng; k++)
        cap += s->g[k]->n;
    int *qg = sq_calloc((size_t)cap + 1, sizeof *qg), *qr = sq_calloc((size_t)cap + 1, sizeof *qr);
    int *att = sq_calloc((size_t)cap + 1, sizeof *att);
    s->jobs = sq_calloc((size_t)s->o->jobs, sizeof *s->jobs);
    int head = 0, tail = 0, rc = 0;
    if (!qg || !qr || !att || !s->jobs) {
        rc = sq_fail(e, "out of memory");
        goto done;
    }
    for (int k = 0; k < s->ng; k++)
        for (int i = 0; i < s->g[k]->n; i++)
            if (s->sel[k][i] && to_run(run_at(s, k, i)->status))
                qg[tail] = k, qr[tail++] = i;
    s->total = tail;
    struct sigaction sa, old_int, old_term, old_hup;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);
    stop_signal = 0;
    while (head < tail || s->njobs) {
        while (!stop_signal && !rc && head < tail && s->njobs < s->o->jobs) {
            int g = qg[head], r = qr[head], a = att[head];
            head++;
            if (start(s, g, r, a, tail - head + 1, e)) {
                rc = -1;
                break;
            }
        }
        if (stop_signal || rc) {
            for (int j = 0; j < s->njobs; j++)
                kill(s->jobs[j].pid, SIGTERM);
            if (!s->njobs)
                break;
        }
        int ws;
        pid_t pid = waitpid(-1, &ws, 0);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            rc = sq_fail(e, "waitpid: %s", strerror(errno));
            break; /* no children left to wait for */
        }
        for (int j = 0; j < s->njobs; j++)
            if (s->jobs[j].pid == pid) {
                int g = s->jobs[j].g, r = s->jobs[j].r, again, a = s->jobs[j].attempt;
                finish(s, j, ws, &again);
                if (again) {
                    qg[--head] = g, qr[head] = r, att[head] = a + 1;
                }
                break;
            }
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
done:
    sq_free(qg);
    sq_free(qr);
    sq_free(att);
    sq_free(s->jobs);
    s->jobs = NULL;
    return rc;
}

int sq_grid_run(sq_ggrid **g, int ng, sq_gdatasets *ds, const sq_grunner_opts *o, sq_err *e)
{
    if (ng <= 0)
        return sq_fail(e, "no experiment to run");
    state s = {g, ng, o, ds, NULL, 0, 0, NULL, 0, 0, 0, 0, 0, 0};
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    s.ncpu = nc > 0 ? (int)nc : 1;
    sq_gindex *ix = NULL;
    int rc = -1;
    s.sel = sq_calloc((size_t)ng, sizeof *s.sel);
    if (!s.sel)
        return sq_fail(e, "out of memory");
    for (int k = 0; k < ng; k++) {
        s.sel[k] = sq_calloc((size_t)g[k]->n + 1, 1);
        if (!s.sel[k]) {
            sq_fail(e, "out of memory");
            goto done;
        }
        for (int i = 0; i < g[k]->n; i++)
            s.sel[k][i] = (unsigned char)selected(g[k], &g[k]->r[i], o->only);
    }
    if (sq_gindex_build(g[0]->root, &ix, e) || sq_gplan_status(g, ng, ds, ix, 1, e))
        goto done;
    for (int k = 0; k < ng; k++)
        for (int i = 0; i < g[k]->n; i++) {
            sq_grun *r = &g[k]->r[i];
            if (!s.sel[k][i])
                continue;
            if (o->force && (r->status == SQ_GR_DONE || r->status == SQ_GR_REUSED ||
                             r->status == SQ_GR_RESUME || r->status == SQ_GR_DIVERGED))
                r->status = SQ_GR_REDO;
            if (r->status == SQ_GR_DUP)
                s.sel[r->primary_g][r->primary_r] = 1; /* its twin runs for it */
        }
    print_plan(&s);
    int bad = 0;
    if (!o->dry_run) {
        for (int k = 0; k < ng && !bad; k++)
            for (int i = 0; i < g[k]->n && !bad; i++)
                if (s.sel[k][i] && g[k]->r[i].status == SQ_GR_REUSED)
                    bad = link_same(&s, &g[k]->r[i], k, e);
        if (bad || execute(&s, e))
            goto done;
        for (int k = 0; k < ng; k++)
            for (int i = 0; i < g[k]->n; i++) {
                sq_grun *r = &g[k]->r[i];
                if (!s.sel[k][i] || r->status != SQ_GR_DUP)
                    continue;
                const sq_grun *p = &g[r->primary_g]->r[r->primary_r];
                if (p->status == SQ_GR_OK) {
                    r->status = SQ_GR_REUSED;
                    snprintf(r->source, sizeof r->source, "%s", p->dir);
                    if (link_same(&s, r, k, e))
                        goto done;
                } else if (p->status == SQ_GR_DIVERGED) {
                    r->status = SQ_GR_DIVERGED;
                    snprintf(r->source, sizeof r->source, "%s", p->dir);
                } else if (stop_signal) {
                    r->status = SQ_GR_TODO;
                } else {
                    r->status = SQ_GR_FAILED;
                    snprintf(r->why, sizeof r->why, "same config as %.400s, which did not finish",
                             p->dir);
                }
            }
        summary(&s);
    }
    rc = 0;
    if (stop_signal) {
        printf("symog grid: interrupted; run the same command again to continue where it "
               "stopped\n");
        rc = 3;
    } else
        for (int k = 0; k < ng; k++)
            for (int i = 0; i < g[k]->n; i++) {
                int st = g[k]->r[i].status;
                if (s.sel[k][i] && (st == SQ_GR_FAILED || st == SQ_GR_INVALID || st == SQ_GR_BUSY))
                    rc = 1;
            }
done:
    sq_gindex_free(ix);
    for (int k = 0; k < ng; k++)
        sq_free(s.sel[k]);
    sq_free(s.sel);
    return rc;
}
