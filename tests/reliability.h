/* reliability.h - helpers shared by the reliability tests (test_crash.c,
 * test_faults.c, test_cli.c): a tiny Fashion-MNIST cut into a temp data
 * directory, running build/symog as a child process, and comparing two run
 * directories byte for byte (all but the wall-clock columns). */
#ifndef SQ_RELIABILITY_H
#define SQ_RELIABILITY_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <zlib.h>

#include "testutil.h"

#include "io/safetensors.h"

#ifndef SQ_BUILD_DIR
#define SQ_BUILD_DIR "build"
#endif
#define RL_SYMOG SQ_BUILD_DIR "/symog"
#define RL_FASHION "/usr/share/datasets/fashion-mnist"

/* ---- files ------------------------------------------------------------- */
static inline void *rl_slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        *n = 0;
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *d = malloc((size_t)len + 1);
    assert_non_null(d);
    *n = fread(d, 1, (size_t)len, f);
    d[*n] = '\0';
    fclose(f);
    return d;
}

static inline int rl_exists(const char *dir, const char *file)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    return access(p, F_OK) == 0;
}

/* Temp files of atomic writes (".NAME.tmp.*") left in dir and dir/hist. */
static inline int rl_temp_files(const char *dir)
{
    int n = 0;
    for (int sub = 0; sub < 2; sub++) {
        char d[1024];
        snprintf(d, sizeof d, sub ? "%s/hist" : "%s", dir);
        DIR *h = opendir(d);
        struct dirent *de;
        while (h && (de = readdir(h)))
            if (de->d_name[0] == '.' && strstr(de->d_name, ".tmp."))
                n++, print_message("left behind: %s/%s\n", d, de->d_name);
        if (h)
            closedir(h);
    }
    return n;
}

/* ---- a tiny dataset: the first ntrain / ntest Fashion-MNIST images ----- */
static inline void rl_idx_cut(const char *src, const char *dst, int hdr, size_t item, int n)
{
    gzFile g = gzopen(src, "rb");
    assert_non_null(g);
    unsigned char h[16];
    assert_int_equal(gzread(g, h, (unsigned)hdr), hdr);
    h[4] = (unsigned char)(n >> 24), h[5] = (unsigned char)(n >> 16);
    h[6] = (unsigned char)(n >> 8), h[7] = (unsigned char)n;
    size_t body = item * (size_t)n;
    unsigned char *buf = malloc((size_t)hdr + body);
    assert_non_null(buf);
    memcpy(buf, h, (size_t)hdr);
    assert_int_equal(gzread(g, buf + hdr, (unsigned)body), (int)body);
    gzclose(g);
    tu_write(dst, buf, (size_t)hdr + body);
    free(buf);
}

/* Make data_dir/fashion-mnist/ with raw IDX files of the first images. */
static inline void rl_tiny_data(const char *data_dir, int ntrain, int ntest)
{
    char d[512], s[512], t[600];
    snprintf(d, sizeof d, "%s/fashion-mnist", data_dir);
    assert_int_equal(mkdir(data_dir, 0755) == 0 || errno == EEXIST, 1);
    assert_int_equal(mkdir(d, 0755) == 0 || errno == EEXIST, 1);
    static const char *split[2] = {"train", "t10k"};
    for (int i = 0; i < 2; i++) {
        int n = i ? ntest : ntrain;
        snprintf(s, sizeof s, RL_FASHION "/%s-images-idx3-ubyte.gz", split[i]);
        snprintf(t, sizeof t, "%s/%s-images-idx3-ubyte", d, split[i]);
        rl_idx_cut(s, t, 16, 784, n);
        snprintf(s, sizeof s, RL_FASHION "/%s-labels-idx1-ubyte.gz", split[i]);
        snprintf(t, sizeof t, "%s/%s-labels-idx1-ubyte", d, split[i]);
        rl_idx_cut(s, t, 8, 1, n);
    }
}

/* ---- running build/symog ------------------------------------------------ */
/* Start `symog args...` (NULL-terminated) with stdout+stderr into log. */
static inline pid_t rl_spawn(const char *log, const char *const *args)
{
    const char *argv[64];
    int n = 0;
    argv[n++] = RL_SYMOG;
    while (args[n - 1] && n < 63)
        argv[n] = args[n - 1], n++;
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Wait; the exit code, or 1000 + signal when killed by one. */
static inline int rl_wait(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        assert_int_equal(errno, EINTR);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1000 + WTERMSIG(st);
}

static inline int rl_run(const char *log, const char *const *args)
{
    return rl_wait(rl_spawn(log, args));
}

/* ---- comparing two run directories --------------------------------------- */
/* Text files equal line by line, except the last comma-separated field
 * (csv: seconds) or a line starting with skip_prefix (yaml). */
static inline void rl_same_text(const char *a, const char *b, const char *file, int csv_last,
                                const char *skip_prefix)
{
    char pa[1024], pb[1024];
    size_t na, nb;
    snprintf(pa, sizeof pa, "%s/%s", a, file);
    snprintf(pb, sizeof pb, "%s/%s", b, file);
    char *x = rl_slurp(pa, &na), *y = rl_slurp(pb, &nb);
    if (!x || !y) {
        print_error("%s missing in %s\n", file, x ? b : a);
        fail();
    }
    char *sx, *sy, *lx = strtok_r(x, "\n", &sx), *ly = strtok_r(y, "\n", &sy);
    for (int line = 1; lx || ly; line++) {
        if (!lx || !ly) {
            print_error("%s: one file ends at line %d\n", file, line);
            fail();
        }
        int same;
        if (skip_prefix && !strncmp(lx, skip_prefix, strlen(skip_prefix)))
            same = !strncmp(ly, skip_prefix, strlen(skip_prefix));
        else if (csv_last && strrchr(lx, ',') && strrchr(ly, ','))
            same = strrchr(lx, ',') - lx == strrchr(ly, ',') - ly &&
                   !strncmp(lx, ly, (size_t)(strrchr(lx, ',') - lx));
        else
            same = !strcmp(lx, ly);
        if (!same) {
            print_error("%s line %d differs:\n  %s\n  %s\n", file, line, lx, ly);
            fail();
        }
        lx = strtok_r(NULL, "\n", &sx);
        ly = strtok_r(NULL, "\n", &sy);
    }
    free(x);
    free(y);
}

static inline void rl_same_bytes(const char *a, const char *b, const char *file)
{
    char pa[1024], pb[1024];
    size_t na, nb;
    snprintf(pa, sizeof pa, "%s/%s", a, file);
    snprintf(pb, sizeof pb, "%s/%s", b, file);
    void *x = rl_slurp(pa, &na), *y = rl_slurp(pb, &nb);
    if (!x || !y || na != nb || memcmp(x, y, na)) {
        print_error("%s differs between %s and %s (%zu vs %zu bytes)\n", file, a, b, na, nb);
        fail();
    }
    free(x);
    free(y);
}

/* Every tensor of state.safetensors bit for bit, but the seconds column
 * of the metrics; the metadata too. */
static inline void rl_same_state(const char *a, const char *b)
{
    char pa[1024], pb[1024];
    sq_st_file fa, fb;
    sq_err e = {{0}};
    snprintf(pa, sizeof pa, "%s/state.safetensors", a);
    snprintf(pb, sizeof pb, "%s/state.safetensors", b);
    assert_int_equal(sq_st_read(pa, &fa, &e), 0);
    assert_int_equal(sq_st_read(pb, &fb, &e), 0);
    assert_int_equal(fa.n, fb.n);
    assert_int_equal(fa.n_meta, fb.n_meta);
    for (int i = 0; i < fa.n_meta; i++) {
        assert_string_equal(fa.meta_k[i], fb.meta_k[i]);
        assert_string_equal(fa.meta_v[i], fb.meta_v[i]);
    }
    for (int i = 0; i < fa.n; i++) {
        assert_string_equal(fa.t[i].name, fb.t[i].name);
        assert_int_equal(fa.t[i].nbytes, fb.t[i].nbytes);
        if (strcmp(fa.t[i].name, "metrics")) {
            if (memcmp(fa.t[i].data, fb.t[i].data, fa.t[i].nbytes)) {
                print_error("state tensor %s differs\n", fa.t[i].name);
                fail();
            }
            continue;
        }
        const double *ma = fa.t[i].data, *mb = fb.t[i].data;
        int cols = (int)fa.t[i].shape[1];
        for (int k = 0; k < (int)(fa.t[i].nbytes / sizeof(double)); k++)
            if (k % cols != cols - 1) /* the last column is seconds */
                assert_true(ma[k] == mb[k]);
    }
    sq_st_free(&fa);
    sq_st_free(&fb);
}

/* Two finished runs are the same run: model bytes, training state, metrics,
 * diagnostics, histograms, config and result (but wall-clock seconds). */
static inline void rl_same_run(const char *a, const char *b)
{
    rl_same_bytes(a, b, "model.safetensors");
    rl_same_state(a, b);
    rl_same_text(a, b, "metrics.csv", 1, NULL);
    rl_same_text(a, b, "result.yaml", 0, "seconds:");
    rl_same_bytes(a, b, "config.yaml");
    rl_same_bytes(a, b, "diag.csv");
    char h[1024];
    snprintf(h, sizeof h, "%s/hist", a);
    DIR *d = opendir(h);
    struct dirent *de;
    int nh = 0;
    while (d && (de = readdir(d)))
        if (de->d_name[0] != '.') {
            char f[512];
            snprintf(f, sizeof f, "hist/%s", de->d_name);
            rl_same_bytes(a, b, f);
            nh++;
        }
    if (d)
        closedir(d);
    assert_true(nh > 0);
    assert_int_equal(rl_temp_files(b), 0);
    assert_false(rl_exists(b, "diverged.yaml"));
}

#endif
