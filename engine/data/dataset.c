/* dataset.c - opens a dataset by name: finds its files on disk (only in the
 * places documented in data.h, never substituting another dataset), loads
 * them through idx.c or cifar.c, fingerprints the bytes read with SHA-256 and
 * records where they came from. Also the per-dataset normalisation. */
#include "data/data.h"
#include "data/sha256.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define PATH_LEN 1024
#define MAX_FILES 5

enum { KIND_IDX, KIND_CIFAR };

typedef struct spec {
    const char *name;
    int kind, classes, label_bytes;     /* label_bytes: CIFAR only          */
    const char *subdir;                 /* under data_dir                   */
    const char *system_dir;             /* a second place to look, or NULL  */
    const char *hint;                   /* extra way to get it, or ""       */
    const char *url;                    /* official download                */
    const char *train[MAX_FILES + 1], *test[MAX_FILES + 1]; /* NULL-ended  */
    float mean[3], std[3];              /* of pixel/255, per channel        */
} spec;

#define IDX_TRAIN {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", NULL}
#define IDX_TEST {"t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", NULL}

static const spec SPECS[] = {
    {"fashion-mnist", KIND_IDX, 10, 0, "fashion-mnist", "/usr/share/datasets/fashion-mnist",
     "apt-get install dataset-fashion-mnist, or ",
     "https://github.com/zalandoresearch/fashion-mnist (data/fashion/)", IDX_TRAIN, IDX_TEST,
     {0.2860f, 0.2860f, 0.2860f}, {0.3530f, 0.3530f, 0.3530f}},
    {"mnist", KIND_IDX, 10, 0, "mnist", NULL, "",
     "https://ossci-datasets.s3.amazonaws.com/mnist/ (mirror of yann.lecun.com/exdb/mnist)",
     IDX_TRAIN, IDX_TEST, {0.1307f, 0.1307f, 0.1307f}, {0.3081f, 0.3081f, 0.3081f}},
    {"cifar10", KIND_CIFAR, 10, 1, "cifar-10-batches-bin", NULL, "",
     "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
     {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
      "data_batch_5.bin", NULL},
     {"test_batch.bin", NULL}, {0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f}},
    {"cifar100", KIND_CIFAR, 100, 2, "cifar-100-binary", NULL, "",
     "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz", {"train.bin", NULL},
     {"test.bin", NULL}, {0.5071f, 0.4865f, 0.4409f}, {0.2673f, 0.2564f, 0.2762f}},
};

/* The files chosen for one split. */
typedef struct fileset {
    char dir[PATH_LEN];
    char path[MAX_FILES][PATH_LEN];
    int n;
} fileset;

/* printf-append to a bounded string. */
static void add(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add(char *buf, size_t size, const char *fmt, ...)
{
    size_t len = strlen(buf);
    if (len + 1 >= size)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + len, size - len, fmt, ap);
    va_end(ap);
}

static const spec *find_spec(const char *name, sq_err *e)
{
    for (size_t i = 0; i < SQ_COUNT(SPECS); i++)
        if (name && strcmp(name, SPECS[i].name) == 0)
            return &SPECS[i];
    char valid[128] = "";
    for (size_t i = 0; i < SQ_COUNT(SPECS); i++)
        add(valid, sizeof valid, "%s%s", i ? ", " : "", SPECS[i].name);
    sq_fail(e, "unknown dataset '%s'; valid names: %s", name ? name : "(null)", valid);
    return NULL;
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* dir + "/" + name (+ suffix) into out; 0 if it did not fit. */
static int join(char *out, const char *dir, const char *name, const char *suffix)
{
    size_t len = strlen(dir);
    const char *sep = len && dir[len - 1] == '/' ? "" : "/";
    int n = snprintf(out, PATH_LEN, "%s%s%s%s", dir, sep, name, suffix);
    return n >= 0 && n < PATH_LEN;
}

/* Resolve one file in dir: IDX names may be raw or .gz (raw preferred). */
static int find_one(const spec *s, const char *dir, const char *name, char *out)
{
    if (join(out, dir, name, "") && is_file(out))
        return 1;
    return s->kind == KIND_IDX && join(out, dir, name, ".gz") && is_file(out);
}

/* Try one directory: 1 if every file is there, else notes what is missing. */
static int try_dir(const spec *s, const char *const *names, const char *dir, fileset *fs,
                   char *looked, size_t looked_size)
{
    const char *gz = s->kind == KIND_IDX ? "[.gz]" : "";
    add(looked, looked_size, "%s%s/", looked[0] ? "; " : "", dir);
    if (!is_dir(dir)) {
        add(looked, looked_size, " (no such directory)");
        return 0;
    }
    int missing = 0;
    for (fs->n = 0; names[fs->n]; fs->n++)
        if (!find_one(s, dir, names[fs->n], fs->path[fs->n]))
            add(looked, looked_size, "%s%s%s", missing++ ? ", " : " (missing ", names[fs->n], gz);
    if (missing)
        add(looked, looked_size, ")");
    snprintf(fs->dir, sizeof fs->dir, "%s", dir);
    return !missing;
}

static int not_found(const spec *s, int train, const char *data_dir, const char *looked,
                     sq_err *e)
{
    const char *split = train ? "train" : "test";
    const char *const *names = train ? s->train : s->test;
    if (s->kind == KIND_IDX)
        return sq_fail(e, "%s (%s split) not found. Looked in: %s. To get it: %s`make data` "
                          "(needs network), or download %s.gz and %s.gz from %s into %s/%s/",
                       s->name, split, looked, s->hint, names[0], names[1], s->url, data_dir,
                       s->subdir);
    return sq_fail(e, "%s (%s split) not found. Looked in: %s. To get it: `make data` (needs "
                      "network), or download %s and unpack it with tar xzf inside %s/ (it "
                      "creates %s/)", s->name, split, looked, s->url, data_dir, s->subdir);
}

static int locate(const spec *s, const char *data_dir, int train, fileset *fs, sq_err *e)
{
    const char *const *names = train ? s->train : s->test;
    char dir[PATH_LEN], looked[SQ_ERR_MSG] = "";
    if (!join(dir, data_dir, s->subdir, ""))
        return sq_fail(e, "data directory path '%.200s...' is too long (limit %d bytes); "
                          "use a shorter --data-dir", data_dir, PATH_LEN);
    if (try_dir(s, names, dir, fs, looked, sizeof looked))
        return 0;
    if (s->system_dir && try_dir(s, names, s->system_dir, fs, looked, sizeof looked))
        return 0;
    return not_found(s, train, data_dir, looked, e);
}

/* SHA-256 over the files in order, exactly as stored; and the source note. */
static int fingerprint(const fileset *fs, sq_dataset *d, sq_err *e)
{
    sq_sha256 h;
    uint8_t digest[32];
    sq_sha256_init(&h);
    d->source[0] = '\0';
    add(d->source, sizeof d->source, "%s:", fs->dir);
    for (int i = 0; i < fs->n; i++) {
        if (sq_sha256_file(&h, fs->path[i], e))
            return -1;
        const char *base = strrchr(fs->path[i], '/');
        add(d->source, sizeof d->source, "%s %s", i ? "," : "", base ? base + 1 : fs->path[i]);
    }
    sq_sha256_final(&h, digest);
    sq_sha256_hex(digest, d->sha256);
    return 0;
}

static int load(const spec *s, const fileset *fs, sq_dataset *out, sq_err *e)
{
    if (s->kind == KIND_IDX)
        return sq_idx_load(fs->path[0], fs->path[1], s->classes, out, e);
    const char *paths[MAX_FILES];
    for (int i = 0; i < fs->n; i++)
        paths[i] = fs->path[i];
    return sq_cifar_load(paths, fs->n, s->label_bytes, s->classes, out, e);
}

int sq_data_open(const char *name, const char *data_dir, int train, sq_dataset *out, sq_err *e)
{
    memset(out, 0, sizeof *out);
    const spec *s = find_spec(name, e);
    if (!s)
        return -1;
    if (!data_dir || !*data_dir)
        data_dir = "data";
    fileset fs;
    if (locate(s, data_dir, train, &fs, e))
        return -1;
    if (load(s, &fs, out, e) || fingerprint(&fs, out, e)) {
        sq_dataset_free(out);
        return sq_wrap(e, "%s (%s split)", s->name, train ? "train" : "test");
    }
    snprintf(out->name, sizeof out->name, "%s", s->name);
    return 0;
}

void sq_dataset_free(sq_dataset *d)
{
    if (!d)
        return;
    sq_free(d->images);
    sq_free(d->labels);
    memset(d, 0, sizeof *d);
}

int sq_dataset_subset(sq_dataset *d, int n, sq_err *e)
{
    if (n < 1 || n > d->n)
        return sq_fail(e, "subset of %d images requested but %s has %d; ask for 1..%d", n,
                       d->name[0] ? d->name : "the dataset", d->n, d->n);
    d->n = n;
    return 0;
}

int sq_data_norm(const char *name, float mean[3], float std[3], sq_err *e)
{
    const spec *s = find_spec(name, e);
    if (!s)
        return -1;
    memcpy(mean, s->mean, sizeof s->mean);
    memcpy(std, s->std, sizeof s->std);
    return 0;
}
