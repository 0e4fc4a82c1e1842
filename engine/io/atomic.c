/* atomic.c - atomic file writes (temp file + fsync + rename), mkdir -p and
 * whole-file reads. See atomic.h for the contract. */
#define _POSIX_C_SOURCE 200809L
#include "io/atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct sq_afile {
    FILE *fp;
    char *path; /* the target                    */
    char *tmp;  /* the temp file in the same dir  */
};

static atomic_ulong tmp_counter;

static const char *errstr(int err) { return err ? strerror(err) : "unknown I/O error"; }

/* Build "<dir>/.<base>.tmp.<pid>.<n>.<nanos>" for the target path. */
static char *temp_name(const char *path, unsigned long n)
{
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
    const char *base = path + dirlen;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    size_t cap = strlen(path) + 80;
    char *t = sq_malloc(cap);
    if (!t)
        return NULL;
    snprintf(t, cap, "%.*s.%s.tmp.%ld.%lu.%09ld", (int)dirlen, path, base, (long)getpid(), n,
             (long)ts.tv_nsec);
    return t;
}

/* Create the temp file exclusively; retry a few names on EEXIST. */
static int open_temp(sq_afile *a, sq_err *e)
{
    for (int attempt = 0; attempt < 32; attempt++) {
        a->tmp = temp_name(a->path, atomic_fetch_add(&tmp_counter, 1));
        if (!a->tmp)
            return sq_fail(e, "atomic write of %s: out of memory", a->path);
        int fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0) {
            a->fp = fdopen(fd, "wb");
            if (a->fp)
                return 0;
            int err = errno;
            close(fd);
            unlink(a->tmp);
            return sq_fail(e, "atomic write of %s: fdopen: %s", a->path, errstr(err));
        }
        int err = errno;
        sq_free(a->tmp);
        a->tmp = NULL;
        if (err != EEXIST)
            return sq_fail(e, "cannot create a temp file for %s: %s", a->path, errstr(err));
    }
    return sq_fail(e, "cannot create a temp file for %s: too many name collisions", a->path);
}

static void afile_free(sq_afile *a)
{
    sq_free(a->path);
    sq_free(a->tmp);
    sq_free(a);
}

sq_afile *sq_afile_open(const char *path, sq_err *e)
{
    if (!path || !*path) {
        sq_fail(e, "atomic write: empty path");
        return NULL;
    }
    size_t len = strlen(path);
    if (path[len - 1] == '/') {
        sq_fail(e, "atomic write of %s: path names a directory", path);
        return NULL;
    }
    sq_afile *a = sq_calloc(1, sizeof *a);
    if (!a || !(a->path = sq_strdup(path))) {
        sq_free(a);
        sq_fail(e, "atomic write of %s: out of memory", path);
        return NULL;
    }
    if (open_temp(a, e) != 0) {
        afile_free(a);
        return NULL;
    }
    return a;
}

FILE *sq_afile_fp(sq_afile *a) { return a ? a->fp : NULL; }
const char *sq_afile_path(const sq_afile *a) { return a ? a->path : NULL; }

/* fflush + error check + fsync + fclose; fp is closed whatever happens. */
static int close_synced(sq_afile *a, sq_err *e)
{
    errno = 0;
    int bad = fflush(a->fp) != 0 || ferror(a->fp);
    int err = errno;
    if (!bad && fsync(fileno(a->fp)) != 0) {
        bad = 1;
        err = errno;
    }
    errno = 0;
    if (fclose(a->fp) != 0 && !bad) {
        bad = 1;
        err = errno;
    }
    a->fp = NULL;
    if (bad)
        return sq_fail(e, "writing %s failed: %s", a->path, errstr(err));
    return 0;
}

/* Make the rename durable; best effort, a failure here loses nothing. */
static void sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == path)
        snprintf(dir, sizeof dir, "/");
    else if ((size_t)(slash - path) < sizeof dir)
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    else
        return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

int sq_afile_commit(sq_afile *a, sq_err *e)
{
    if (!a)
        return sq_fail(e, "atomic write: commit of a file that failed to open");
    int rc = close_synced(a, e);
    if (rc == 0 && rename(a->tmp, a->path) != 0)
        rc = sq_fail(e, "renaming %s onto %s failed: %s", a->tmp, a->path, errstr(errno));
    if (rc != 0)
        unlink(a->tmp);
    else
        sync_dir(a->path);
    afile_free(a);
    return rc;
}

void sq_afile_abort(sq_afile *a)
{
    if (!a)
        return;
    if (a->fp)
        fclose(a->fp);
    unlink(a->tmp);
    afile_free(a);
}

int sq_write_file_atomic(const char *path, const void *data, size_t n, sq_err *e)
{
    sq_afile *a = sq_afile_open(path, e);
    if (!a)
        return -1;
    if (n && fwrite(data, 1, n, a->fp) != n) {
        int err = errno;
        sq_afile_abort(a);
        return sq_fail(e, "writing %s failed: %s", path, errstr(err));
    }
    return sq_afile_commit(a, e);
}

/* ---- mkdir -p ----------------------------------------------------------- */
static int mkdir_one(const char *dir, const char *full, sq_err *e)
{
    if (mkdir(dir, 0777) == 0)
        return 0;
    int err = errno;
    struct stat st;
    if (err == EEXIST && stat(dir, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return 0;
        return sq_fail(e, "mkdir -p %s: %s exists and is not a directory", full, dir);
    }
    return sq_fail(e, "mkdir -p %s: cannot create %s: %s", full, dir, errstr(err));
}

int sq_mkdir_p(const char *path, sq_err *e)
{
    if (!path || !*path)
        return sq_fail(e, "mkdir -p: empty path");
    char *buf = sq_strdup(path);
    if (!buf)
        return sq_fail(e, "mkdir -p %s: out of memory", path);
    int rc = 0;
    for (char *p = buf + 1; *p && rc == 0; p++) {
        if (*p != '/' || p[-1] == '/')
            continue;
        *p = '\0';
        rc = mkdir_one(buf, path, e);
        *p = '/';
    }
    if (rc == 0)
        rc = mkdir_one(buf, path, e);
    sq_free(buf);
    return rc;
}

/* ---- whole-file read ---------------------------------------------------- */
static int grow(char **buf, size_t *cap, size_t need, const char *path, sq_err *e)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 4096;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    char *nb = sq_malloc(ncap);
    if (!nb)
        return sq_fail(e, "reading %s: out of memory (%zu bytes)", path, ncap);
    if (*buf)
        memcpy(nb, *buf, *cap);
    sq_free(*buf);
    *buf = nb;
    *cap = ncap;
    return 0;
}

static int read_all(FILE *f, const char *path, size_t max_bytes, char **buf, size_t *len,
                    sq_err *e)
{
    size_t cap = 0;
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode)) {
        if ((uintmax_t)st.st_size > max_bytes)
            return sq_fail(e, "reading %s: file is %jd bytes, more than the %zu allowed", path,
                           (intmax_t)st.st_size, max_bytes);
        if (grow(buf, &cap, (size_t)st.st_size + 2, path, e) != 0)
            return -1;
    }
    for (;;) {
        if (*len > max_bytes)
            return sq_fail(e, "reading %s: file is larger than the %zu bytes allowed", path,
                           max_bytes);
        if (grow(buf, &cap, *len + 2, path, e) != 0)
            return -1;
        size_t want = cap - *len - 1;
        size_t got = fread(*buf + *len, 1, want, f);
        *len += got;
        if (got < want)
            break;
    }
    if (ferror(f))
        return sq_fail(e, "reading %s failed: %s", path, errstr(errno));
    if (*len > max_bytes)
        return sq_fail(e, "reading %s: file is larger than the %zu bytes allowed", path, max_bytes);
    (*buf)[*len] = '\0';
    return 0;
}

int sq_read_file(const char *path, size_t max_bytes, void **data, size_t *n, sq_err *e)
{
    *data = NULL;
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return sq_fail(e, "cannot open %s: %s", path, errstr(errno));
    char *buf = NULL;
    size_t len = 0;
    int rc = read_all(f, path, max_bytes, &buf, &len, e);
    fclose(f);
    if (rc != 0) {
        sq_free(buf);
        return -1;
    }
    *data = buf;
    *n = len;
    return 0;
}
