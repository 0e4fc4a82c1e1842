/* test_io.c - tests for engine/io: atomic writes, safetensors, YAML.
 *
 * Round trips, a hand-made safetensors file written byte by byte from the
 * spec, one rejection test per malformed-input class (each checks that the
 * message names the file and the problem), allocation-failure injection
 * (no leaks, no half-written files), a mutation smoke test for the parsers,
 * and, where python3 is present, an independent reader of our output. */
#define _POSIX_C_SOURCE 200809L
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <sys/stat.h>

#include "io/atomic.h"
#include "io/safetensors.h"
#include "io/yamlio.h"

/* ---- helpers ------------------------------------------------------------ */
static char g_dir[256];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s", tu_tmpdir());
    return 0;
}

static int teardown_dir(void **state)
{
    (void)state;
    tu_rmdir(g_dir);
    return 0;
}

static const char *pathf(const char *name)
{
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

/* Number of entries (besides . and ..) in a directory. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static char *slurp(const char *path, size_t *n)
{
    void *buf;
    sq_err e;
    if (sq_read_file(path, 1u << 30, &buf, n, &e) != 0)
        fail_msg("%s", e.msg);
    return buf;
}

#define assert_msg_has(e, s)                                                   \
    do {                                                                       \
        if (!strstr((e).msg, (s)))                                             \
            fail_msg("error message lacks \"%s\": %s", (s), (e).msg);          \
    } while (0)

/* A python3 that can import `module` ("python3" first, then the system
 * one, which may differ under pyenv), or NULL. */
static const char *find_python(const char *module)
{
    static const char *const cands[] = {"python3", "/usr/bin/python3"};
    for (size_t i = 0; i < SQ_COUNT(cands); i++) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "%s -c 'import %s' >/dev/null 2>&1", cands[i], module);
        if (system(cmd) == 0)
            return cands[i];
    }
    return NULL;
}

/* Run a python script with one argument; returns stdout+stderr (static). */
static const char *run_python(const char *py, const char *script, const char *arg)
{
    static char out[4096];
    const char *sp = pathf("check.py");
    tu_write(sp, script, strlen(script));
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "%s '%s' '%s' 2>&1", py, sp, arg);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    pclose(p);
    unlink(sp);
    return out;
}

/* ---- fault-injecting allocator ------------------------------------------ */
static long fa_countdown = -1; /* allocations left before failing; -1 never */
static long fa_live;

static void *fa_alloc(void *ud, size_t n)
{
    (void)ud;
    if (fa_countdown == 0)
        return NULL;
    if (fa_countdown > 0)
        fa_countdown--;
    void *p = malloc(n);
    if (p)
        fa_live++;
    return p;
}

static void fa_release(void *ud, void *p)
{
    (void)ud;
    fa_live--;
    free(p);
}

static void fa_install(long countdown)
{
    static const sq_allocator a = {fa_alloc, fa_release, NULL};
    fa_countdown = countdown;
    fa_live = 0;
    sq_set_allocator(&a);
}

static void fa_remove(void) { sq_set_allocator(NULL); }

/* ==== atomic writes ===================================================== */
static void test_atomic_write_replace(void **state)
{
    (void)state;
    sq_err e;
    const char *p = pathf("out.bin");
    assert_int_equal(sq_write_file_atomic(p, "hello", 5, &e), 0);
    assert_int_equal(sq_write_file_atomic(p, "bye", 3, &e), 0);
    size_t n;
    char *s = slurp(p, &n);
    assert_int_equal(n, 3);
    assert_memory_equal(s, "bye", 3);
    sq_free(s);
    assert_int_equal(count_entries(g_dir), 1); /* no temp files left */
    assert_int_equal(sq_write_file_atomic(p, NULL, 0, &e), 0);
    s = slurp(p, &n);
    assert_int_equal(n, 0);
    sq_free(s);
}

static void test_atomic_missing_dir(void **state)
{
    (void)state;
    sq_err e = {{0}};
    const char *p = pathf("nope/out.bin");
    assert_int_equal(sq_write_file_atomic(p, "x", 1, &e), -1);
    assert_msg_has(e, p);
    assert_msg_has(e, strerror(ENOENT));
    assert_int_equal(count_entries(g_dir), 0);
    /* a parent that is a regular file */
    tu_write(pathf("file"), "x", 1);
    p = pathf("file/out.bin");
    assert_int_equal(sq_write_file_atomic(p, "x", 1, &e), -1);
    assert_msg_has(e, p);
    assert_msg_has(e, strerror(ENOTDIR));
    assert_int_equal(count_entries(g_dir), 1);
    assert_null(sq_afile_open("", &e));
    assert_null(sq_afile_open(pathf("dir/"), &e));
    assert_msg_has(e, "directory");
}

static void test_atomic_unwritable_dir(void **state)
{
    (void)state;
    if (geteuid() == 0)
        skip(); /* root ignores directory permissions */
    sq_err e = {{0}};
    const char *d = pathf("ro");
    assert_int_equal(mkdir(d, 0555), 0);
    const char *p = pathf("ro/out.bin");
    assert_int_equal(sq_write_file_atomic(p, "x", 1, &e), -1);
    assert_msg_has(e, p);
    assert_msg_has(e, strerror(EACCES));
    assert_int_equal(count_entries(d), 0);
    chmod(d, 0755);
}

/* Writes that fail at flush time (the FILE is redirected to /dev/full)
 * leave the old target and no temp file. */
static void test_atomic_failed_write_keeps_target(void **state)
{
    (void)state;
    sq_err e = {{0}};
    const char *p = pathf("keep.txt");
    tu_write(p, "original", 8);
    sq_afile *a = sq_afile_open(p, &e);
    assert_non_null(a);
    assert_int_equal(count_entries(g_dir), 2);
    assert_non_null(freopen("/dev/full", "w", sq_afile_fp(a)));
    fputs("new contents that will not fit", sq_afile_fp(a));
    assert_int_equal(sq_afile_commit(a, &e), -1);
    assert_msg_has(e, p);
    assert_msg_has(e, strerror(ENOSPC));
    size_t n;
    char *s = slurp(p, &n);
    assert_int_equal(n, 8);
    assert_memory_equal(s, "original", 8);
    sq_free(s);
    assert_int_equal(count_entries(g_dir), 1);
    /* abort also leaves the target alone */
    a = sq_afile_open(p, &e);
    assert_non_null(a);
    fputs("discarded", sq_afile_fp(a));
    sq_afile_abort(a);
    s = slurp(p, &n);
    assert_memory_equal(s, "original", 8);
    sq_free(s);
    assert_int_equal(count_entries(g_dir), 1);
    assert_int_equal(sq_afile_commit(NULL, &e), -1);
}

/* The temp dir turned unwritable after the temp file exists: the rename
 * fails, the temp is removed and the target is untouched. Needs non-root. */
static void test_atomic_dir_readonly_after_open(void **state)
{
    (void)state;
    if (geteuid() == 0)
        skip();
    sq_err e = {{0}};
    const char *d = pathf("sub");
    assert_int_equal(mkdir(d, 0755), 0);
    const char *p = pathf("sub/t.txt");
    tu_write(p, "old", 3);
    sq_afile *a = sq_afile_open(p, &e);
    assert_non_null(a);
    fputs("new", sq_afile_fp(a));
    assert_int_equal(chmod(d, 0555), 0);
    int rc = sq_afile_commit(a, &e);
    assert_int_equal(chmod(d, 0755), 0);
    assert_int_equal(rc, -1);
    assert_msg_has(e, p);
    size_t n;
    char *s = slurp(p, &n);
    assert_memory_equal(s, "old", 3);
    sq_free(s);
}

static void test_mkdir_p(void **state)
{
    (void)state;
    sq_err e = {{0}};
    assert_int_equal(sq_mkdir_p(pathf("a/b//c/"), &e), 0);
    struct stat st;
    assert_int_equal(stat(pathf("a/b/c"), &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(sq_mkdir_p(pathf("a/b/c"), &e), 0); /* exists: fine */
    tu_write(pathf("a/f"), "x", 1);
    assert_int_equal(sq_mkdir_p(pathf("a/f/g"), &e), -1);
    assert_msg_has(e, "not a directory");
    assert_int_equal(sq_mkdir_p(pathf("a/f"), &e), -1);
    assert_int_equal(sq_mkdir_p("", &e), -1);
}

/* ==== safetensors ======================================================= */
static sq_st_tensor mk(const char *name, const char *dtype, int ndim, const int64_t *shape,
                       void *data)
{
    sq_st_tensor t;
    memset(&t, 0, sizeof t);
    snprintf(t.name, sizeof t.name, "%s", name);
    snprintf(t.dtype, sizeof t.dtype, "%s", dtype);
    t.ndim = ndim;
    size_t count = 1;
    for (int d = 0; d < ndim; d++) {
        t.shape[d] = shape[d];
        count *= (size_t)shape[d];
    }
    t.nbytes = count * sq_st_dtype_size(dtype);
    t.data = data;
    return t;
}

static float g_w[6] = {-1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 1.5f};
static double g_v[4] = {0.25, -2.0, 1e300, 3.0};
static int64_t g_step = -1234567890123LL;
static int32_t g_idx[8] = {0, 1, -2, 3, 4, -5, 6, 2147483647};
static int8_t g_q[5] = {-128, -1, 0, 1, 127};
static uint8_t g_mask[3] = {0, 1, 255};

#define N_RT 7
static void rt_tensors(sq_st_tensor *t)
{
    static const int64_t s23[] = {2, 3}, s4[] = {4}, s222[] = {2, 2, 2}, s5[] = {5},
                         s30[] = {3, 0}, s3[] = {3};
    t[0] = mk("conv1.weight", "F32", 2, s23, g_w);
    t[1] = mk("bn \"odd\" name\\é", "F64", 1, s4, g_v);
    t[2] = mk("step", "I64", 0, NULL, &g_step);
    t[3] = mk("q", "I8", 1, s5, g_q);      /* 5 bytes: later offsets are odd */
    t[4] = mk("idx", "I32", 3, s222, g_idx);
    t[5] = mk("empty", "U8", 2, s30, NULL); /* zero elements */
    t[6] = mk("mask", "U8", 1, s3, g_mask);
}

static const char *const g_meta[] = {"format", "pt", "note", "a \"quoted\"\nline\\ with\ttab",
                                     "unicode", "µ σ", NULL};

static void check_rt(const sq_st_file *f)
{
    sq_st_tensor t[N_RT];
    rt_tensors(t);
    assert_int_equal(f->n, N_RT);
    for (int i = 0; i < N_RT; i++) {
        const sq_st_tensor *g = &f->t[i];
        assert_string_equal(g->name, t[i].name); /* header order = write order */
        assert_string_equal(g->dtype, t[i].dtype);
        assert_int_equal(g->ndim, t[i].ndim);
        for (int d = 0; d < g->ndim; d++)
            assert_int_equal(g->shape[d], t[i].shape[d]);
        assert_int_equal(g->nbytes, t[i].nbytes);
        assert_non_null(g->data);
        if (g->nbytes)
            assert_memory_equal(g->data, t[i].data, g->nbytes);
        assert_ptr_equal(sq_st_find(f, t[i].name), g);
    }
    assert_null(sq_st_find(f, "missing"));
    assert_int_equal(f->n_meta, 3);
    for (int i = 0; g_meta[i]; i += 2)
        assert_string_equal(sq_st_meta(f, g_meta[i]), g_meta[i + 1]);
    assert_null(sq_st_meta(f, "missing"));
    /* separately allocated: F64 data is 8-aligned even after the odd I8 */
    assert_int_equal((uintptr_t)sq_st_find(f, "idx")->data % 4, 0);
}

static void test_st_roundtrip(void **state)
{
    (void)state;
    sq_st_tensor t[N_RT];
    rt_tensors(t);
    sq_err e = {{0}};
    const char *p = pathf("rt.safetensors");
    if (sq_st_write(p, t, N_RT, (const char *const *)g_meta, &e) != 0)
        fail_msg("%s", e.msg);
    size_t n;
    unsigned char *raw = (unsigned char *)slurp(p, &n);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | raw[i];
    assert_int_equal(hlen % 8, 0);
    assert_int_equal(raw[8], '{');
    size_t data = 0;
    for (int i = 0; i < N_RT; i++)
        data += t[i].nbytes;
    assert_int_equal(n, 8 + hlen + data);

    sq_st_file f;
    if (sq_st_read(p, &f, &e) != 0)
        fail_msg("%s", e.msg);
    check_rt(&f);
    sq_st_free(&f);
    if (sq_st_parse(raw, n, &f, &e) != 0)
        fail_msg("%s", e.msg);
    check_rt(&f);
    sq_st_free(&f);
    sq_free(raw);
    /* no tensors, no metadata: "{}" padded */
    assert_int_equal(sq_st_write(p, NULL, 0, NULL, &e), 0);
    raw = (unsigned char *)slurp(p, &n);
    assert_int_equal(n, 16);
    assert_memory_equal(raw + 8, "{}      ", 8);
    sq_free(raw);
    assert_int_equal(sq_st_read(p, &f, &e), 0);
    assert_int_equal(f.n, 0);
    sq_st_free(&f);
    assert_int_equal(count_entries(g_dir), 1);
}

/* An independent reader (python's json + struct) following the spec. */
static const char *py_st_reader =
    "import json, struct, sys\n"
    "b = open(sys.argv[1], 'rb').read()\n"
    "n = struct.unpack('<Q', b[:8])[0]\n"
    "assert n % 8 == 0 and 8 + n <= len(b)\n"
    "h = json.loads(b[8:8 + n].decode('utf-8'))\n"
    "data = b[8 + n:]\n"
    "meta = h.pop('__metadata__', {})\n"
    "size = {'F32': 4, 'F64': 8, 'I64': 8, 'I32': 4, 'I8': 1, 'U8': 1}\n"
    "fmt = {'F32': 'f', 'F64': 'd', 'I64': 'q', 'I32': 'i', 'I8': 'b', 'U8': 'B'}\n"
    "pos = 0\n"
    "for s, e in sorted(tuple(v['data_offsets']) for v in h.values()):\n"
    "    assert s == pos, (s, pos)\n"
    "    pos = e\n"
    "assert pos == len(data)\n"
    "out = []\n"
    "for k in sorted(h):\n"
    "    v = h[k]\n"
    "    cnt = 1\n"
    "    for d in v['shape']:\n"
    "        cnt *= d\n"
    "    s, e = v['data_offsets']\n"
    "    assert e - s == cnt * size[v['dtype']]\n"
    "    vals = struct.unpack('<%d%s' % (cnt, fmt[v['dtype']]), data[s:e])\n"
    "    out.append([k, v['dtype'], v['shape'], list(vals)])\n"
    "print(json.dumps([sorted(meta.items()), out]))\n";

static void test_st_python_reader(void **state)
{
    (void)state;
    const char *py = find_python("json");
    if (!py)
        skip();
    sq_st_tensor t[N_RT];
    rt_tensors(t);
    sq_err e;
    const char *p = pathf("py.safetensors");
    assert_int_equal(sq_st_write(p, t, N_RT, (const char *const *)g_meta, &e), 0);
    const char *out = run_python(py, py_st_reader, p);
    const char *want =
        "[[[\"format\", \"pt\"], [\"note\", \"a \\\"quoted\\\"\\nline\\\\ with\\ttab\"], "
        "[\"unicode\", \"\\u00b5 \\u03c3\"]], "
        "[[\"bn \\\"odd\\\" name\\\\\\u00e9\", \"F64\", [4], [0.25, -2.0, 1e+300, 3.0]], "
        "[\"conv1.weight\", \"F32\", [2, 3], [-1.0, -0.5, 0.0, 0.5, 1.0, 1.5]], "
        "[\"empty\", \"U8\", [3, 0], []], "
        "[\"idx\", \"I32\", [2, 2, 2], [0, 1, -2, 3, 4, -5, 6, 2147483647]], "
        "[\"mask\", \"U8\", [3], [0, 1, 255]], "
        "[\"q\", \"I8\", [5], [-128, -1, 0, 1, 127]], "
        "[\"step\", \"I64\", [], [-1234567890123]]]]\n";
    assert_string_equal(out, want);
}

/* A file written by python's json.dumps (default ", " / ": " separators,
 * reference ordering: by dtype alignment, then name) read by us. */
static const char *py_st_writer =
    "import json, struct, sys\n"
    "ts = [('b', 'I8', [3], struct.pack('<3b', 1, -2, 3)),\n"
    "      ('d', 'F64', [], struct.pack('<d', 3.25)),\n"
    "      ('w', 'F32', [2, 1], struct.pack('<2f', -2.5, 0.125))]\n"
    "ts.sort(key=lambda t: (-struct.calcsize({'I8': 'b', 'F64': 'd', 'F32': 'f'}[t[1]]), t[0]))\n"
    "h, off, blob = {'__metadata__': {'format': 'pt'}}, 0, b''\n"
    "for name, dt, shape, b in ts:\n"
    "    h[name] = {'dtype': dt, 'shape': shape, 'data_offsets': [off, off + len(b)]}\n"
    "    off += len(b)\n"
    "    blob += b\n"
    "hb = json.dumps(h).encode()\n"
    "hb += b' ' * (-len(hb) % 8)\n"
    "open(sys.argv[1], 'wb').write(struct.pack('<Q', len(hb)) + hb + blob)\n"
    "print('OK')\n";

static void test_st_python_writer(void **state)
{
    (void)state;
    const char *py = find_python("json");
    if (!py)
        skip();
    const char *p = pathf("pyw.safetensors");
    assert_string_equal(run_python(py, py_st_writer, p), "OK\n");
    sq_st_file f;
    sq_err e;
    if (sq_st_read(p, &f, &e) != 0)
        fail_msg("%s", e.msg);
    assert_int_equal(f.n, 3);
    assert_string_equal(f.t[0].name, "d"); /* header order: F64 first */
    assert_true(((double *)f.t[0].data)[0] == 3.25 && f.t[0].ndim == 0);
    const sq_st_tensor *w = sq_st_find(&f, "w"), *b = sq_st_find(&f, "b");
    assert_true(w && w->ndim == 2 && w->shape[0] == 2 && w->shape[1] == 1);
    assert_true(((float *)w->data)[0] == -2.5f && ((float *)w->data)[1] == 0.125f);
    assert_true(b && ((int8_t *)b->data)[1] == -2);
    assert_string_equal(sq_st_meta(&f, "format"), "pt");
    sq_st_free(&f);
}

/* torch (1.13 has no safetensors loader, so a few lines of python do the
 * framing) must see our tensors, and we must read a file built from torch
 * tensors, BF16 included. Skipped where no python3 has torch. */
static const char *py_torch =
    "import json, struct, sys, torch\n"
    "DT = {'F64': torch.float64, 'F32': torch.float32, 'BF16': torch.bfloat16,\n"
    "      'I64': torch.int64, 'I32': torch.int32, 'I8': torch.int8, 'U8': torch.uint8}\n"
    "b = open(sys.argv[1], 'rb').read()\n"
    "n = struct.unpack('<Q', b[:8])[0]\n"
    "h = json.loads(b[8:8 + n])\n"
    "t = {}\n"
    "for k, v in h.items():\n"
    "    if k == '__metadata__':\n"
    "        continue\n"
    "    s, e = v['data_offsets']\n"
    "    raw = bytearray(b[8 + n + s:8 + n + e])\n"
    "    x = torch.frombuffer(raw, dtype=DT[v['dtype']]) if e > s else torch.empty(0, dtype=DT[v['dtype']])\n"
    "    t[k] = x.reshape(v['shape'])\n"
    "assert torch.equal(t['conv1.weight'], torch.tensor([[-1.0, -0.5, 0.0], [0.5, 1.0, 1.5]]))\n"
    "assert t['step'].dim() == 0 and t['step'].item() == -1234567890123\n"
    "assert torch.equal(t['idx'], torch.tensor([0, 1, -2, 3, 4, -5, 6, 2**31 - 1], dtype=torch.int32).reshape(2, 2, 2))\n"
    "assert t['empty'].shape == (3, 0) and t['q'].tolist() == [-128, -1, 0, 1, 127]\n"
    "assert t['bn \"odd\" name\\\\\\u00e9'].tolist() == [0.25, -2.0, 1e300, 3.0]\n"
    "assert t['mask'].dtype == torch.uint8 and t['mask'].tolist() == [0, 1, 255]\n"
    "src = {'h': torch.tensor([1.5, -2.0], dtype=torch.bfloat16), 'w': torch.arange(6.0).reshape(2, 3)}\n"
    "h, off, blob = {}, 0, b''\n"
    "for k in sorted(src):\n"
    "    raw = src[k].contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()\n"
    "    h[k] = {'dtype': {torch.bfloat16: 'BF16', torch.float32: 'F32'}[src[k].dtype],\n"
    "            'shape': list(src[k].shape), 'data_offsets': [off, off + len(raw)]}\n"
    "    off += len(raw)\n"
    "    blob += raw\n"
    "hb = json.dumps(h, separators=(',', ':')).encode()\n"
    "hb += b' ' * (-len(hb) % 8)\n"
    "open(sys.argv[1] + '.torch', 'wb').write(struct.pack('<Q', len(hb)) + hb + blob)\n"
    "print('OK')\n";

static void test_st_torch(void **state)
{
    (void)state;
    const char *py = find_python("torch");
    if (!py)
        skip();
    sq_st_tensor t[N_RT];
    rt_tensors(t);
    sq_err e;
    char p[512], pt[600];
    snprintf(p, sizeof p, "%s", pathf("torch.safetensors"));
    snprintf(pt, sizeof pt, "%s.torch", p);
    assert_int_equal(sq_st_write(p, t, N_RT, (const char *const *)g_meta, &e), 0);
    assert_string_equal(run_python(py, py_torch, p), "OK\n");
    sq_st_file f;
    if (sq_st_read(pt, &f, &e) != 0)
        fail_msg("%s", e.msg);
    const sq_st_tensor *h = sq_st_find(&f, "h"), *w = sq_st_find(&f, "w");
    assert_true(h && !strcmp(h->dtype, "BF16") && h->nbytes == 4);
    assert_int_equal(((uint16_t *)h->data)[0], 0x3FC0); /* 1.5 in bfloat16 */
    assert_int_equal(((uint16_t *)h->data)[1], 0xC000); /* -2.0 */
    assert_true(w && w->shape[0] == 2 && w->shape[1] == 3 && ((float *)w->data)[5] == 5.0f);
    sq_st_free(&f);
}

/* A file assembled byte by byte from the format description: whitespace in
 * the JSON, escapes in names, the header order differing from the data
 * order, __metadata__ in the middle, scalar shape, space padding. */
static void test_st_handmade(void **state)
{
    (void)state;
    const char hdr[] =
        "{ \"b\" : {\"shape\": [], \"dtype\": \"I8\", \"data_offsets\": [8, 9]},\n"
        "  \"__metadata__\": {\"k\\u00e9y\": \"v\\/\\\"x\\\"\"},\n"
        "  \"w\\ud83d\\ude00\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}\n}";
    size_t hl = strlen(hdr), padded = (hl + 7) / 8 * 8;
    const unsigned char data[] = {0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0, 0xFB};
    const char *p = pathf("hand.safetensors");
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    for (int i = 0; i < 8; i++)
        fputc((int)((padded >> (8 * i)) & 0xFF), f);
    for (size_t i = 0; i < padded; i++)
        fputc(i < hl ? hdr[i] : ' ', f);
    for (size_t i = 0; i < sizeof data; i++)
        fputc(data[i], f);
    assert_int_equal(fclose(f), 0);

    sq_st_file st;
    sq_err e;
    if (sq_st_read(p, &st, &e) != 0)
        fail_msg("%s", e.msg);
    assert_int_equal(st.n, 2);
    assert_string_equal(st.t[0].name, "b");
    assert_int_equal(st.t[0].ndim, 0);
    assert_int_equal(st.t[0].nbytes, 1);
    assert_int_equal(((int8_t *)st.t[0].data)[0], -5);
    const sq_st_tensor *w = sq_st_find(&st, "w\xF0\x9F\x98\x80");
    assert_non_null(w);
    assert_string_equal(w->dtype, "F32");
    assert_int_equal(w->shape[0], 2);
    assert_true(((float *)w->data)[0] == 1.0f && ((float *)w->data)[1] == -2.0f);
    assert_string_equal(sq_st_meta(&st, "k\xC3\xA9y"), "v/\"x\"");
    sq_st_free(&st);

    /* the example image from the reference implementation's documentation
     * (a 60-byte header, not padded: padding is the writer's job) */
    static const char ref[] = "<\x00\x00\x00\x00\x00\x00\x00"
                              "{\"test\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}"
                              "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";
    if (sq_st_parse(ref, sizeof ref - 1, &st, &e) != 0)
        fail_msg("%s", e.msg);
    assert_int_equal(st.n, 1);
    assert_string_equal(st.t[0].dtype, "I32");
    assert_int_equal(st.t[0].nbytes, 16);
    sq_st_free(&st);
}

/* A file image: 8-byte length, the header as given (no padding), then
 * `data` zero bytes. */
static unsigned char *image(const char *hdr, size_t data, size_t *n)
{
    size_t hl = strlen(hdr);
    *n = 8 + hl + data;
    unsigned char *b = calloc(1, *n);
    assert_non_null(b);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, hdr, hl);
    return b;
}

static void expect_reject(const char *hdr, size_t data, const char *want)
{
    size_t n;
    unsigned char *b = image(hdr, data, &n);
    sq_st_file f;
    sq_err e = {{0}};
    int rc = sq_st_parse_named("case.safetensors", b, n, &f, &e);
    free(b);
    if (rc == 0) {
        sq_st_free(&f);
        fail_msg("accepted: %s", hdr);
    }
    assert_int_equal(f.n, 0);
    assert_null(f.t);
    assert_msg_has(e, "case.safetensors");
    if (!strstr(e.msg, want))
        fail_msg("header %s\n  message lacks \"%s\": %s", hdr, want, e.msg);
}

#define T1(dt, shape, off) "{\"a\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":" off "}}"

static void test_st_reject_json(void **state)
{
    (void)state;
    static const struct {
        const char *hdr, *want;
    } cases[] = {
        {"{\"a\":{\"dtype\":\"F32\" \"shape\":[1],\"data_offsets\":[0,4]}}", "invalid JSON"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},}", "invalid JSON"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}", "invalid JSON"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} x", "trailing"},
        {"[1]", "expected '{'"},
        {"{\"a", "unterminated string"},
        {"{\"a\\q\":1}", "bad escape"},
        {"{\"a\\u12\":1}", "bad \\u escape"},
        {"{\"a\\ud800\":1}", "surrogate"},
        {"{\"a\\udc00x\":1}", "surrogate"},
        {"{\"a\\u0000\":1}", "NUL"},
        {"{\"a\x01\":1}", "control character"},
        {"{\"a\xff\":1}", "UTF-8"},
        {"{\"a\xc0\x80\":1}", "UTF-8"},
        {"{\"a\xed\xa0\x80\":1}", "UTF-8"},
        {"{\"a\":null}", "expected '{'"},
        {"{\"a\":[1]}", "expected '{'"},
        {T1("F32", "[1.5]", "[0,4]"), "only integers"},
        {T1("F32", "[1e2]", "[0,4]"), "only integers"},
        {T1("F32", "[-1]", "[0,4]"), "negative"},
        {T1("F32", "[01]", "[0,4]"), "leading zero"},
        {T1("F32", "[99999999999999999999]", "[0,4]"), "too large"},
        {T1("F32", "[1,]", "[0,4]"), "non-negative integer"},
        {T1("F32", "[1 2]", "[0,4]"), "expected ',' or ']'"},
        {T1("F32", "1", "[0,4]"), "expected '['"},
        {T1("F32", "[1,1,1,1,1,1,1,1,1]", "[0,4]"), "more than 8"},
        {T1("F32", "[1]", "[0,4,8]"), "data_offsets"},
        {T1("F32", "[1]", "[4]"), "exactly 2"},
        {"{\"a\":{\"dtype\":1,\"shape\":[1],\"data_offsets\":[0,4]}}", "dtype must be a string"},
        {"{\"__metadata__\":{\"k\":1}}", "must be a string"},
        {"{\"__metadata__\":[]}", "expected '{'"},
    };
    for (size_t i = 0; i < SQ_COUNT(cases); i++)
        expect_reject(cases[i].hdr, 4, cases[i].want);
}

static void test_st_reject_semantics(void **state)
{
    (void)state;
    char longname[300];
    memset(longname, 'n', 200);
    longname[200] = '\0';
    char longhdr[512];
    snprintf(longhdr, sizeof longhdr, "{\"%s\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
             longname);
    static const struct {
        const char *hdr;
        size_t data;
        const char *want;
    } cases[] = {
        {T1("F8", "[1]", "[0,1]"), 1, "unknown dtype 'F8'"},
        {T1("float32", "[1]", "[0,4]"), 4, "unknown dtype"},
        {T1("F32", "[2]", "[0,4]"), 4, "size mismatch"},
        {T1("F64", "[2,3]", "[0,24]"), 24, "size mismatch"},
        {T1("F32", "[4294967296,4294967296,16]", "[0,4]"), 4, "overflows"},
        {T1("F32", "[1]", "[8,4]"), 8, "end before"},
        {T1("F32", "[2]", "[0,8]"), 4, "past the end of the data section"},
        {T1("F32", "[1]", "[0,4]"), 8, "cover"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         12, "overlap"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
         4, "overlap"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
         12, "gap"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
         8, "duplicate tensor name 'a'"},
        {"{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, "duplicate metadata key 'k'"},
        {"{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate key '__metadata__'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "missing data_offsets"},
        {"{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "missing dtype"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":[]}}", 4,
         "unknown field 'x'"},
        {"{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
         "duplicate field 'dtype'"},
        {"{}", 4, "cover"},
    };
    for (size_t i = 0; i < SQ_COUNT(cases); i++)
        expect_reject(cases[i].hdr, cases[i].data, cases[i].want);
    expect_reject(longhdr, 1, "longer than 127");
}

static void test_st_reject_framing(void **state)
{
    (void)state;
    sq_st_file f;
    sq_err e = {{0}};
    const unsigned char five[5] = {1, 0, 0, 0, 0};
    assert_int_equal(sq_st_parse_named("short.st", five, 5, &f, &e), -1);
    assert_msg_has(e, "short.st");
    assert_msg_has(e, "truncated");
    assert_int_equal(sq_st_parse_named("empty.st", NULL, 0, &f, &e), -1);
    assert_msg_has(e, "truncated");

    size_t n;
    unsigned char *b = image(T1("F32", "[1]", "[0,4]"), 4, &n);
    b[0] = 0xE8, b[1] = 0x03; /* header length 1000 in a ~70-byte file */
    assert_int_equal(sq_st_parse_named("long.st", b, n, &f, &e), -1);
    assert_msg_has(e, "long.st");
    assert_msg_has(e, "header length 1000 runs past the end");
    memset(b, 0xFF, 8);
    assert_int_equal(sq_st_parse_named("huge.st", b, n, &f, &e), -1);
    assert_msg_has(e, "runs past the end");
    memset(b, 0, 8);
    assert_int_equal(sq_st_parse_named("zero.st", b, n, &f, &e), -1);
    assert_msg_has(e, "too small");
    free(b);

    /* a real file cut short inside the data */
    sq_st_tensor t[N_RT];
    rt_tensors(t);
    const char *p = pathf("cut.safetensors");
    assert_int_equal(sq_st_write(p, t, N_RT, NULL, &e), 0);
    char *raw = slurp(p, &n);
    tu_write(p, raw, n - 2);
    sq_free(raw);
    assert_int_equal(sq_st_read(p, &f, &e), -1);
    assert_msg_has(e, p);
    assert_msg_has(e, "truncated");
    tu_write(p, "1234", 4);
    assert_int_equal(sq_st_read(p, &f, &e), -1);
    assert_msg_has(e, "truncated");
    assert_int_equal(sq_st_read(pathf("absent"), &f, &e), -1);
    assert_msg_has(e, "absent");
    assert_int_equal(sq_st_read(g_dir, &f, &e), -1);
    assert_msg_has(e, "not a regular file");
}

static void test_st_write_rejects(void **state)
{
    (void)state;
    sq_err e = {{0}};
    const char *p = pathf("bad.safetensors");
    static const int64_t s2[] = {2}, sneg[] = {-1};
    float v[2] = {1, 2};
    sq_st_tensor t[2] = {mk("a", "F32", 1, s2, v), mk("a", "F32", 1, s2, v)};
    assert_int_equal(sq_st_write(p, t, 2, NULL, &e), -1);
    assert_msg_has(e, "duplicate tensor name 'a'");
    t[1] = mk("b", "F16", 1, s2, v);
    assert_int_equal(sq_st_write(p, t, 2, NULL, &e), 0); /* F16: 2 x 2 bytes */
    t[1] = mk("b", "X32", 1, s2, v);
    assert_int_equal(sq_st_write(p, t, 2, NULL, &e), -1);
    assert_msg_has(e, "unknown dtype 'X32'");
    t[1] = mk("b", "F32", 1, s2, v);
    t[1].nbytes = 4;
    assert_int_equal(sq_st_write(p, t, 2, NULL, &e), -1);
    assert_msg_has(e, "nbytes is 4");
    t[1] = mk("b", "F32", 1, sneg, v);
    assert_int_equal(sq_st_write(p, t, 2, NULL, &e), -1);
    assert_msg_has(e, "negative");
    t[1] = mk("__metadata__", "F32", 1, s2, v);
    assert_int_equal(sq_st_write(p, t, 2, NULL, &e), -1);
    assert_msg_has(e, "invalid tensor name");
    t[1] = mk("b", "F32", 1, s2, NULL);
    assert_int_equal(sq_st_write(p, t, 2, NULL, &e), -1);
    assert_msg_has(e, "no data");
    t[1] = mk("b", "F32", 1, s2, v);
    t[1].ndim = 9;
    assert_int_equal(sq_st_write(p, t, 2, NULL, &e), -1);
    assert_msg_has(e, "dims");
    const char *dupmeta[] = {"k", "1", "k", "2", NULL};
    assert_int_equal(sq_st_write(p, t, 1, dupmeta, &e), -1);
    assert_msg_has(e, "duplicate metadata key 'k'");
    const char *oddmeta[] = {"k", NULL};
    assert_int_equal(sq_st_write(p, t, 1, oddmeta, &e), -1);
    assert_msg_has(e, "no value");
    const char *badutf[] = {"k", "\xff", NULL};
    assert_int_equal(sq_st_write(p, t, 1, badutf, &e), -1);
    assert_msg_has(e, "UTF-8");
    assert_int_equal(sq_st_write(pathf("missing/x.st"), t, 1, NULL, &e), -1);
    assert_msg_has(e, "missing/x.st");
    /* the one successful write is the only file; no temp files */
    assert_int_equal(count_entries(g_dir), 1);
}

/* Every allocation failure is reported cleanly and frees what it took. */
static void test_st_alloc_failures(void **state)
{
    (void)state;
    sq_st_tensor t[N_RT];
    rt_tensors(t);
    sq_err e;
    char p[512];
    snprintf(p, sizeof p, "%s", pathf("fa.safetensors")); /* pathf's buffers rotate */
    assert_int_equal(sq_st_write(p, t, N_RT, (const char *const *)g_meta, &e), 0);
    size_t n;
    char *raw = slurp(p, &n);
    int ok_parse = 0, ok_read = 0, ok_write = 0;
    for (long k = 0; k < 200 && !(ok_parse && ok_read && ok_write); k++) {
        sq_st_file f;
        fa_install(k);
        int rc = sq_st_parse(raw, n, &f, &e);
        if (rc == 0)
            sq_st_free(&f);
        assert_int_equal(fa_live, 0);
        ok_parse |= rc == 0;
        fa_install(k);
        rc = sq_st_read(p, &f, &e);
        if (rc == 0)
            sq_st_free(&f);
        assert_int_equal(fa_live, 0);
        ok_read |= rc == 0;
        fa_install(k);
        rc = sq_st_write(pathf("fa2.safetensors"), t, N_RT, (const char *const *)g_meta, &e);
        assert_int_equal(fa_live, 0);
        ok_write |= rc == 0;
        fa_remove();
        if (rc == 0)
            unlink(pathf("fa2.safetensors"));
        assert_int_equal(count_entries(g_dir), 1); /* no temp file left */
    }
    fa_remove();
    assert_true(ok_parse && ok_read && ok_write);
    sq_free(raw);
}

/* Random mutations of a valid file must never crash; accepted mutants must
 * still satisfy the invariants. Run under SAN=1 this is a small fuzz. */
static void test_st_mutations(void **state)
{
    (void)state;
    sq_st_tensor t[N_RT];
    rt_tensors(t);
    sq_err e;
    const char *p = pathf("mut.safetensors");
    assert_int_equal(sq_st_write(p, t, N_RT, (const char *const *)g_meta, &e), 0);
    size_t n;
    char *raw = slurp(p, &n);
    unsigned char *m = malloc(n);
    assert_non_null(m);
    sq_rng r;
    sq_rng_seed(&r, 42);
    int accepted = 0;
    for (int it = 0; it < 20000; it++) {
        memcpy(m, raw, n);
        int flips = 1 + (int)sq_rng_below(&r, 4);
        for (int k = 0; k < flips; k++) {
            uint32_t at = sq_rng_below(&r, (uint32_t)n);
            m[at] = (unsigned char)(sq_rng_below(&r, 2) ? sq_rng_u64(&r) : m[at] ^ (1u << sq_rng_below(&r, 8)));
        }
        size_t len = sq_rng_below(&r, 8) ? n : sq_rng_below(&r, (uint32_t)n + 1);
        /* exact-size copy so ASan sees reads past len */
        unsigned char *buf = malloc(len ? len : 1);
        memcpy(buf, m, len);
        sq_st_file f;
        if (sq_st_parse(buf, len, &f, &e) == 0) {
            size_t total = 0;
            for (int i = 0; i < f.n; i++)
                total += f.t[i].nbytes;
            assert_true(total <= len);
            accepted++;
            sq_st_free(&f);
        } else {
            assert_true(strlen(e.msg) > 0);
        }
        free(buf);
    }
    assert_true(accepted > 0); /* data-byte flips keep the file valid */
    free(m);
    sq_free(raw);
}

/* ==== YAML ============================================================== */
static const double g_dbl[] = {0.001, 0.1, 1.0 / 3.0, 1e-300, 5e-324, -0.0, 5.0, 1e22,
                               123456789.125, DBL_MAX, -2.5e-7, 100.0};
static const float g_flt[] = {0.1f, 1e-45f, FLT_MAX, 3.14159274f, 16777216.0f, -0.0f, 0.3f};

static const struct {
    const char *key, *val;
} g_strs[] = {
    {"name", "run 1: baseline"},
    {"quote", "she said \"hi\" and 'bye'"},
    {"colon", "a: b # not a comment"},
    {"dash", "- item"},
    {"truthy", "true"},
    {"yes", "yes"},
    {"numeric", "1e5"},
    {"dotted", ".5"},
    {"tilde", "~"},
    {"empty", ""},
    {"multi", "line1\nline2\n  indented\n"},
    {"spaces", "  padded  "},
    {"unicode", "\xC2\xB5-law \xCF\x83"},
    {"key: with colon", "v"},
    {"123", "numeric key"},
    {"hash", "#notcomment"},
    {"brackets", "[not, a, list]"},
    {"tab", "a\tb"},
};

static void write_config(const char *p)
{
    sq_err e;
    sq_yw *w = sq_yw_open(p, &e);
    if (!w)
        fail_msg("%s", e.msg);
    for (size_t i = 0; i < SQ_COUNT(g_strs); i++)
        sq_yw_str(w, g_strs[i].key, g_strs[i].val);
    sq_yw_int(w, "big", LLONG_MAX);
    sq_yw_int(w, "small", LLONG_MIN);
    sq_yw_map_begin(w, "optim");
    for (size_t i = 0; i < SQ_COUNT(g_dbl); i++) {
        char k[16];
        snprintf(k, sizeof k, "d%zu", i);
        sq_yw_num(w, k, g_dbl[i]);
    }
    sq_yw_num(w, "nan", NAN);
    sq_yw_num(w, "inf", INFINITY);
    sq_yw_num(w, "ninf", -INFINITY);
    sq_yw_map_begin(w, "sched");
    sq_yw_bool(w, "on", 1);
    sq_yw_bool(w, "off", 0);
    sq_yw_null(w, "none");
    sq_yw_map_end(w);
    sq_yw_map_end(w);
    sq_yw_seq_begin(w, "floats");
    for (size_t i = 0; i < SQ_COUNT(g_flt); i++)
        sq_yw_float(w, NULL, g_flt[i]);
    sq_yw_seq_end(w);
    sq_yw_seq_begin(w, "items");
    sq_yw_int(w, NULL, 100);
    sq_yw_str(w, NULL, "x: y");
    sq_yw_map_begin(w, NULL);
    sq_yw_str(w, "k", "v");
    sq_yw_seq_begin(w, "inner");
    sq_yw_int(w, NULL, 1);
    sq_yw_seq_end(w);
    sq_yw_map_end(w);
    sq_yw_seq_begin(w, NULL);
    sq_yw_bool(w, NULL, 0);
    sq_yw_seq_end(w);
    sq_yw_seq_end(w);
    sq_yw_seq_begin(w, "empty_seq");
    sq_yw_seq_end(w);
    sq_yw_map_begin(w, "empty_map");
    sq_yw_map_end(w);
    assert_false(sq_yw_failed(w));
    if (sq_yw_close(w, &e) != 0)
        fail_msg("%s", e.msg);
}

static const char *get(const sq_ykv *kv, int n, const char *key)
{
    const char *v = sq_ykv_get(kv, n, key);
    if (!v)
        fail_msg("key %s missing", key);
    return v;
}

static void test_yaml_roundtrip(void **state)
{
    (void)state;
    const char *p = pathf("config.yaml");
    write_config(p);
    sq_ykv *kv;
    int n;
    sq_err e;
    if (sq_yaml_load(p, &kv, &n, &e) != 0)
        fail_msg("%s", e.msg);
    for (size_t i = 0; i < SQ_COUNT(g_strs); i++)
        assert_string_equal(get(kv, n, g_strs[i].key), g_strs[i].val);
    assert_string_equal(kv[0].key, "name"); /* document order */
    assert_int_equal(kv[0].line, 1);
    assert_string_equal(get(kv, n, "big"), "9223372036854775807");
    assert_string_equal(get(kv, n, "small"), "-9223372036854775808");
    for (size_t i = 0; i < SQ_COUNT(g_dbl); i++) {
        char k[32];
        snprintf(k, sizeof k, "optim.d%zu", i);
        double back = strtod(get(kv, n, k), NULL);
        if (memcmp(&back, &g_dbl[i], sizeof back) != 0)
            fail_msg("%s: %s does not read back as %.17g", k, get(kv, n, k), g_dbl[i]);
    }
    assert_string_equal(get(kv, n, "optim.d1"), "0.1");
    assert_string_equal(get(kv, n, "optim.d6"), "5.0");
    assert_string_equal(get(kv, n, "optim.nan"), ".nan");
    assert_string_equal(get(kv, n, "optim.inf"), ".inf");
    assert_string_equal(get(kv, n, "optim.ninf"), "-.inf");
    for (size_t i = 0; i < SQ_COUNT(g_flt); i++) {
        char k[32];
        snprintf(k, sizeof k, "floats.%zu", i);
        float back = strtof(get(kv, n, k), NULL);
        if (memcmp(&back, &g_flt[i], sizeof back) != 0)
            fail_msg("%s: %s does not read back as %.9g", k, get(kv, n, k), (double)g_flt[i]);
    }
    assert_string_equal(get(kv, n, "floats.0"), "0.1");
    assert_string_equal(get(kv, n, "optim.sched.on"), "true");
    assert_string_equal(get(kv, n, "optim.sched.off"), "false");
    assert_string_equal(get(kv, n, "optim.sched.none"), "null");
    assert_string_equal(get(kv, n, "items.0"), "100");
    assert_string_equal(get(kv, n, "items.1"), "x: y");
    assert_string_equal(get(kv, n, "items.2.k"), "v");
    assert_string_equal(get(kv, n, "items.2.inner.0"), "1");
    assert_string_equal(get(kv, n, "items.3.0"), "false");
    assert_null(sq_ykv_get(kv, n, "empty_seq"));
    assert_null(sq_ykv_get(kv, n, "optim"));
    assert_null(sq_ykv_get(kv, n, "nope"));
    sq_ykv_free(kv, n);
    assert_int_equal(count_entries(g_dir), 1);
}

/* PyYAML (YAML 1.1) must see the types we mean. */
static const char *py_yaml_check =
    "import sys, yaml, math\n"
    "d = yaml.safe_load(open(sys.argv[1]))\n"
    "o = d['optim']\n"
    "assert d['truthy'] == 'true' and d['yes'] == 'yes' and d['numeric'] == '1e5'\n"
    "assert d['tilde'] == '~' and d['empty'] == '' and d['dotted'] == '.5'\n"
    "assert d['123'] == 'numeric key' and d['key: with colon'] == 'v'\n"
    "assert d['multi'] == 'line1\\nline2\\n  indented\\n' and d['tab'] == 'a\\tb'\n"
    "assert d['big'] == 2**63 - 1 and d['small'] == -2**63\n"
    "assert all(type(o['d%d' % i]) is float for i in range(12)), o\n"
    "assert o['d0'] == 0.001 and o['d2'] == 1/3 and o['d4'] == 5e-324 and o['d6'] == 5.0\n"
    "assert math.isnan(o['nan']) and o['inf'] == math.inf and o['ninf'] == -math.inf\n"
    "assert o['sched'] == {'on': True, 'off': False, 'none': None}\n"
    "assert d['items'] == [100, 'x: y', {'k': 'v', 'inner': [1]}, [False]]\n"
    "assert d['empty_seq'] == [] and d['empty_map'] == {}\n"
    "print('OK')\n";

static void test_yaml_pyyaml_types(void **state)
{
    (void)state;
    const char *py = find_python("yaml");
    if (!py)
        skip();
    const char *p = pathf("py.yaml");
    write_config(p);
    assert_string_equal(run_python(py, py_yaml_check, p), "OK\n");
}

static void expect_yaml_reject(const char *text, const char *want, const char *want2)
{
    sq_ykv *kv;
    int n;
    sq_err e = {{0}};
    if (sq_yaml_parse("cfg.yaml", text, strlen(text), &kv, &n, &e) == 0) {
        sq_ykv_free(kv, n);
        fail_msg("accepted: %s", text);
    }
    assert_null(kv);
    assert_int_equal(n, 0);
    if (!strstr(e.msg, want) || (want2 && !strstr(e.msg, want2)))
        fail_msg("yaml %s\n  message lacks \"%s\"/\"%s\": %s", text, want, want2 ? want2 : "",
                 e.msg);
}

static void test_yaml_reject(void **state)
{
    (void)state;
    expect_yaml_reject("a: 1\nb: 2\n  c: 3\n", "cfg.yaml:3:", "syntax error");
    expect_yaml_reject("a:\n\tb: 1\n", "cfg.yaml:2:", "syntax error");
    expect_yaml_reject("a: [1, 2\nb: 3\n", "cfg.yaml:", "syntax error");
    expect_yaml_reject("a: \"unterminated\n", "cfg.yaml:", "syntax error");
    expect_yaml_reject("a: 1\nb: 2\na: 3\n", "cfg.yaml:3: duplicate key 'a'", "first at line 1");
    expect_yaml_reject("m:\n  x: 1\nm:\n  y: 2\n", "cfg.yaml:3: duplicate key 'm'", NULL);
    expect_yaml_reject("a.b: 1\na:\n  b: 2\n", "duplicate key 'a.b'", NULL);
    expect_yaml_reject("s: [x]\ns.0: y\n", "duplicate key 's.0'", NULL);
    expect_yaml_reject("a: &x 1\nb: 2\n", "cfg.yaml:1:", "anchors");
    expect_yaml_reject("a: 1\nb: *x\n", "cfg.yaml:2:", "aliases");
    expect_yaml_reject("- 1\n- 2\n", "top level must be a mapping", NULL);
    expect_yaml_reject("hello\n", "top level must be a mapping", NULL);
    expect_yaml_reject("? [a, b]\n: 1\n", "keys must be scalars", NULL);
    expect_yaml_reject("a: 1\n---\nb: 2\n", "cfg.yaml:2:", "only one");
    expect_yaml_reject("a: \"x\\0y\"\n", "cfg.yaml:1:", "NUL");
    expect_yaml_reject("a: \xff\n", "cfg.yaml", "byte");
    char deep[400] = "a: ";
    for (int i = 0; i < 70; i++)
        strcat(deep, "[");
    for (int i = 0; i < 70; i++)
        strcat(deep, "]");
    expect_yaml_reject(deep, "nesting deeper than 64", NULL);
    char longkey[1400] = "";
    for (int i = 0; i < 3; i++) {
        strcat(longkey, i ? "\n" : "");
        for (int k = 0; k < i * 2; k++)
            strcat(longkey, " ");
        size_t l = strlen(longkey);
        memset(longkey + l, 'k' + i, 400);
        strcpy(longkey + l + 400, ":");
    }
    strcat(longkey, " 1\n");
    expect_yaml_reject(longkey, "longer than 1024", NULL);
}

static void test_yaml_misc_reads(void **state)
{
    (void)state;
    sq_ykv *kv;
    int n;
    sq_err e;
    assert_int_equal(sq_yaml_parse("x", "", 0, &kv, &n, &e), 0);
    assert_int_equal(n, 0);
    assert_int_equal(sq_yaml_parse("x", "# only a comment\n", 17, &kv, &n, &e), 0);
    assert_int_equal(n, 0);
    assert_int_equal(sq_yaml_parse("x", "---\n", 4, &kv, &n, &e), 0);
    assert_int_equal(n, 0);
    const char *doc = "a: 1\nb:\n  c: hello world\n  d: [1, {e: f}]\ng:\n";
    assert_int_equal(sq_yaml_parse("x", doc, strlen(doc), &kv, &n, &e), 0);
    assert_int_equal(n, 5);
    assert_string_equal(sq_ykv_get(kv, n, "b.c"), "hello world");
    assert_int_equal(sq_ykv_find(kv, n, "b.c")->line, 3);
    assert_string_equal(sq_ykv_get(kv, n, "b.d.0"), "1");
    assert_string_equal(sq_ykv_get(kv, n, "b.d.1.e"), "f");
    assert_string_equal(sq_ykv_get(kv, n, "g"), "");
    sq_ykv_free(kv, n);
    assert_int_equal(sq_yaml_load(pathf("absent.yaml"), &kv, &n, &e), -1);
    assert_msg_has(e, "absent.yaml");
    tu_write(pathf("bad.yaml"), "a: 1\n  b: 2\n", 12);
    assert_int_equal(sq_yaml_load(pathf("bad.yaml"), &kv, &n, &e), -1);
    assert_msg_has(e, pathf("bad.yaml"));
    assert_msg_has(e, ":2:");
}

/* Misuse of the writer fails at close and leaves the old file in place. */
static void expect_writer_fails(const char *why, int which)
{
    sq_err e = {{0}};
    const char *p = pathf("keep.yaml");
    tu_write(p, "old: 1\n", 7);
    sq_yw *w = sq_yw_open(p, &e);
    assert_non_null(w);
    sq_yw_str(w, "a", "b");
    switch (which) {
    case 0: sq_yw_int(w, NULL, 3); break;
    case 1: sq_yw_seq_begin(w, "s"); sq_yw_int(w, "k", 1); sq_yw_seq_end(w); break;
    case 2: sq_yw_map_end(w); break;
    case 3: sq_yw_map_begin(w, "m"); break;
    case 4: sq_yw_str(w, "a", "again"); break;
    case 5: sq_yw_str(w, "n", NULL); break;
    case 6: sq_yw_str(w, "bad", "\xff\xfe"); break;
    case 7: sq_yw_seq_begin(w, "s"); sq_yw_map_end(w); break;
    case 8:
        for (int i = 0; i < SQ_YAML_MAX_DEPTH + 1; i++)
            sq_yw_map_begin(w, "d");
        break;
    }
    sq_yw_str(w, "after", "ignored"); /* errors are sticky */
    assert_true(sq_yw_failed(w) || which == 3);
    assert_int_equal(sq_yw_close(w, &e), -1);
    assert_msg_has(e, p);
    if (!strstr(e.msg, why))
        fail_msg("case %d: message lacks \"%s\": %s", which, why, e.msg);
    size_t n;
    char *s = slurp(p, &n);
    assert_int_equal(n, 7);
    assert_memory_equal(s, "old: 1\n", 7);
    sq_free(s);
    assert_int_equal(count_entries(g_dir), 1);
}

static void test_yaml_writer_misuse(void **state)
{
    (void)state;
    expect_writer_fails("needs a key", 0);
    expect_writer_fails("inside a sequence", 1);
    expect_writer_fails("without a matching", 2);
    expect_writer_fails("still open", 3);
    expect_writer_fails("duplicate key 'a'", 4);
    expect_writer_fails("NULL string", 5);
    expect_writer_fails("UTF-8", 6);
    expect_writer_fails("without a matching", 7);
    expect_writer_fails("nesting deeper", 8);
    sq_err e = {{0}};
    assert_null(sq_yw_open(pathf("missing/c.yaml"), &e));
    assert_msg_has(e, "missing/c.yaml");
    assert_int_equal(sq_yw_close(NULL, &e), -1);
    sq_yw_abort(NULL);
    sq_yw *w = sq_yw_open(pathf("aborted.yaml"), &e);
    sq_yw_int(w, "x", 1);
    sq_yw_abort(w);
    assert_int_equal(count_entries(g_dir), 1);
}

static void test_yaml_number_format(void **state)
{
    (void)state;
    char b[48];
    sq_yaml_fmt_num(b, sizeof b, 1e-5);
    assert_string_equal(b, "1.0e-05");
    sq_yaml_fmt_num(b, sizeof b, 2.0);
    assert_string_equal(b, "2.0");
    sq_yaml_fmt_num(b, sizeof b, -0.0);
    assert_string_equal(b, "-0.0");
    sq_yaml_fmt_num(b, sizeof b, 0.30000000000000004);
    assert_string_equal(b, "0.30000000000000004");
    sq_yaml_fmt_float(b, sizeof b, 0.1f);
    assert_string_equal(b, "0.1");
    sq_yaml_fmt_float(b, sizeof b, 1e20f);
    assert_string_equal(b, "1.0e+20");
    sq_yaml_fmt_num(b, sizeof b, 1.5e300);
    assert_string_equal(b, "1.5e+300");
    sq_yaml_fmt_num(b, sizeof b, 100.0);
    assert_string_equal(b, "100.0");
    sq_yaml_fmt_num(b, sizeof b, 1e16);
    assert_string_equal(b, "10000000000000000.0");
    sq_yaml_fmt_num(b, sizeof b, 1e17);
    assert_string_equal(b, "1.0e+17");
    sq_yaml_fmt_num(b, sizeof b, -1234.5);
    assert_string_equal(b, "-1234.5");
    sq_yaml_fmt_float(b, sizeof b, 1e8f);
    assert_string_equal(b, "100000000.0");
    sq_yaml_fmt_float(b, sizeof b, 1e9f);
    assert_string_equal(b, "1.0e+09");
}

static void test_yaml_alloc_failures(void **state)
{
    (void)state;
    const char *p = pathf("fa.yaml");
    write_config(p);
    size_t len;
    char *text = slurp(p, &len);
    int ok_r = 0, ok_w = 0;
    for (long k = 0; k < 2000 && !(ok_r && ok_w); k++) {
        sq_ykv *kv;
        int n;
        sq_err e;
        fa_install(k);
        int rc = sq_yaml_parse("fa", text, len, &kv, &n, &e);
        if (rc == 0)
            sq_ykv_free(kv, n);
        assert_int_equal(fa_live, 0);
        ok_r |= rc == 0;
        fa_install(k);
        sq_yw *w = sq_yw_open(pathf("fa2.yaml"), &e);
        if (w) {
            sq_yw_map_begin(w, "m");
            for (int i = 0; i < 20; i++) {
                char key[16];
                snprintf(key, sizeof key, "k%d", i);
                sq_yw_int(w, key, i);
            }
            sq_yw_map_end(w);
            rc = sq_yw_close(w, &e);
        } else {
            rc = -1;
        }
        assert_int_equal(fa_live, 0);
        ok_w |= rc == 0;
        fa_remove();
    }
    fa_remove();
    assert_true(ok_r && ok_w);
    sq_free(text);
}

static void test_yaml_mutations(void **state)
{
    (void)state;
    const char *p = pathf("m.yaml");
    write_config(p);
    size_t len;
    char *text = slurp(p, &len);
    static const char alphabet[] = ":-[]{}#&*!|>'\"%@`, \n\t?.\\0aZ";
    sq_rng r;
    sq_rng_seed(&r, 7);
    for (int it = 0; it < 3000; it++) {
        char *m = malloc(len);
        memcpy(m, text, len);
        int flips = 1 + (int)sq_rng_below(&r, 6);
        for (int k = 0; k < flips; k++)
            m[sq_rng_below(&r, (uint32_t)len)] = alphabet[sq_rng_below(&r, sizeof alphabet - 1)];
        size_t ml = sq_rng_below(&r, 4) ? len : sq_rng_below(&r, (uint32_t)len + 1);
        sq_ykv *kv;
        int n;
        sq_err e;
        if (sq_yaml_parse("mut", m, ml, &kv, &n, &e) == 0) {
            for (int i = 0; i < n; i++)
                assert_true(kv[i].key && kv[i].val && kv[i].line >= 1);
            sq_ykv_free(kv, n);
        } else {
            assert_true(strncmp(e.msg, "mut", 3) == 0);
        }
        free(m);
    }
    sq_free(text);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup_dir, teardown_dir)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_atomic_write_replace),
        T(test_atomic_missing_dir),
        T(test_atomic_unwritable_dir),
        T(test_atomic_failed_write_keeps_target),
        T(test_atomic_dir_readonly_after_open),
        T(test_mkdir_p),
        T(test_st_roundtrip),
        T(test_st_python_reader),
        T(test_st_python_writer),
        T(test_st_torch),
        T(test_st_handmade),
        T(test_st_reject_json),
        T(test_st_reject_semantics),
        T(test_st_reject_framing),
        T(test_st_write_rejects),
        T(test_st_alloc_failures),
        T(test_st_mutations),
        T(test_yaml_roundtrip),
        T(test_yaml_pyyaml_types),
        T(test_yaml_reject),
        T(test_yaml_misc_reads),
        T(test_yaml_writer_misuse),
        T(test_yaml_number_format),
        T(test_yaml_alloc_failures),
        T(test_yaml_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
