/* fuzz_safetensors.c - libFuzzer target for the safetensors reader (model
 * and state checkpoints, --init, --resume, eval --checkpoint).
 *
 * The input is a whole file image. sq_st_parse must accept it whole or
 * refuse it with a message; what it accepts must
 *   - be consistent (sizes match dtypes and shapes, names findable),
 *   - survive a round trip: sq_st_write then sq_st_parse gives the same
 *     tensors and metadata,
 *   - load into a lenet5-classic net through sq_ckpt_load_net (the path
 *     --init and eval take) when it names that model's first tensor. */
#include "fuzz.h"

#include <sys/stat.h>

#include "io/safetensors.h"
#include "io/atomic.h"
#include "models/models.h"
#include "train/checkpoint.h"

static char st_dir[64];
static sq_net st_net;
static int st_ready;

static void st_cleanup(void) { rmdir(st_dir); }

static void st_setup(void)
{
    if (st_ready)
        return;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(st_dir, sizeof st_dir, "%s/sqfuzz-st.XXXXXX", base);
    sq_err e;
    if (!mkdtemp(st_dir) ||
        sq_model_build("lenet5-classic", &st_net, (sq_shape){1, 28, 28}, 10, &e)) {
        fprintf(stderr, "fuzz_safetensors: setup failed\n");
        abort();
    }
    st_ready = 1;
    atexit(st_cleanup);
}

static void st_same(const sq_st_file *a, const sq_st_file *b)
{
    FUZZ_CHECK(a->n == b->n && a->n_meta == b->n_meta);
    for (int i = 0; i < a->n; i++) {
        const sq_st_tensor *x = &a->t[i], *y = sq_st_find(b, x->name);
        FUZZ_CHECK(y && !strcmp(x->dtype, y->dtype) && x->ndim == y->ndim);
        FUZZ_CHECK(x->nbytes == y->nbytes && !memcmp(x->shape, y->shape, sizeof x->shape));
        FUZZ_CHECK(x->nbytes == 0 || !memcmp(x->data, y->data, x->nbytes));
    }
    for (int i = 0; i < a->n_meta; i++) {
        const char *v = sq_st_meta(b, a->meta_k[i]);
        FUZZ_CHECK(v && !strcmp(v, a->meta_v[i]));
    }
}

static void st_roundtrip(const sq_st_file *f)
{
    char path[128];
    snprintf(path, sizeof path, "%s/rt.safetensors", st_dir);
    const char **meta = malloc(sizeof *meta * (2 * (size_t)f->n_meta + 1));
    FUZZ_CHECK(meta != NULL);
    for (int i = 0; i < f->n_meta; i++)
        meta[2 * i] = f->meta_k[i], meta[2 * i + 1] = f->meta_v[i];
    meta[2 * f->n_meta] = NULL;
    sq_err e = {{0}};
    int rc = sq_st_write(path, f->t, f->n, f->n_meta ? meta : NULL, &e);
    free(meta);
    if (rc) { /* whatever the reader accepts, the writer must be able to write */
        fprintf(stderr, "round trip write failed: %s\n", e.msg);
        abort();
    }
    sq_st_file g;
    if (sq_st_read(path, &g, &e)) {
        fprintf(stderr, "round trip read failed: %s\n", e.msg);
        abort();
    }
    st_same(f, &g);
    sq_st_free(&g);
    unlink(path);
}

FUZZ_TARGET(safetensors)
{
    st_setup();
    fuzz_begin();
    sq_st_file f;
    sq_err e = {{0}};
    if (sq_st_parse(data, size, &f, &e) == 0) {
        for (int i = 0; i < f.n; i++) {
            const sq_st_tensor *t = &f.t[i];
            size_t n = 1, es = sq_st_dtype_size(t->dtype);
            FUZZ_CHECK(es > 0 && t->ndim >= 0 && t->ndim <= SQ_ST_MAX_DIMS);
            for (int k = 0; k < t->ndim; k++)
                n *= (size_t)t->shape[k];
            FUZZ_CHECK(t->nbytes == n * es);
            FUZZ_CHECK(sq_st_find(&f, t->name) == t); /* names are unique */
        }
        for (int i = 0; i < f.n_meta; i++)
            FUZZ_CHECK(sq_st_meta(&f, f.meta_k[i]) == f.meta_v[i]);
        st_roundtrip(&f);
        if (sq_st_find(&f, "conv1.weight")) {
            char path[64];
            int fd = fuzz_memfile(data, size, path);
            long long nb;
            if (sq_ckpt_load_net(path, &st_net, &nb, NULL, &e))
                FUZZ_CHECK(e.msg[0] != '\0');
            close(fd);
        }
        sq_st_free(&f);
    } else {
        FUZZ_CHECK(e.msg[0] != '\0');
        FUZZ_CHECK(f.n == 0 && f.t == NULL && f.n_meta == 0);
    }
    fuzz_end();
    return 0;
}
