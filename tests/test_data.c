/* test_data.c - the dataset layer: SHA-256 vectors, IDX and CIFAR readers on
 * small files written here in the real formats (raw and gzip), every file
 * error the readers must catch, dataset lookup, normalisation, shuffling,
 * batching with augmentation, subsets, allocation failures, the real
 * Fashion-MNIST test split when installed and the offline path of
 * tests/fetch-data.sh. */
#include "testutil.h"

#include <math.h>
#include <sys/stat.h>
#include <zlib.h>

#include "data/data.h"
#include "data/sha256.h"

/* ---- helpers -------------------------------------------------------------- */

/* Assert an API call failed with a message containing `part`. */
#define expect_msg(e, part)                                                    \
    do {                                                                       \
        if (!strstr((e).msg, (part))) {                                        \
            print_error("message lacks \"%s\": %s\n", (part), (e).msg);       \
            fail();                                                            \
        }                                                                      \
    } while (0)

static char *path_in(char *buf, const char *dir, const char *name)
{
    int n = snprintf(buf, 1024, "%s/%s", dir, name);
    assert_true(n > 0 && n < 1024);
    return buf;
}

static void make_dir(const char *dir, const char *sub)
{
    char p[1024];
    assert_int_equal(mkdir(path_in(p, dir, sub), 0755), 0);
}

static int is_dir_present(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Write bytes raw, or gzip-compressed through zlib when gz. */
static void write_maybe_gz(const char *path, const void *data, size_t n, int gz)
{
    if (!gz) {
        tu_write(path, data, n);
        return;
    }
    gzFile f = gzopen(path, "wb");
    assert_non_null(f);
    if (n)
        assert_int_equal(gzwrite(f, data, (unsigned)n), (int)n);
    assert_int_equal(gzclose(f), Z_OK);
}

/* An IDX file: magic, dims (big-endian), then `len` data bytes (which may
 * deliberately disagree with the dims). */
static void write_idx(const char *path, uint32_t magic, const uint32_t *dims, int ndims,
                      const uint8_t *data, size_t len, int gz)
{
    size_t hdr = 4 + 4 * (size_t)ndims;
    uint8_t *buf = malloc(hdr + len + 1);
    assert_non_null(buf);
    put_be32(buf, magic);
    for (int i = 0; i < ndims; i++)
        put_be32(buf + 4 + 4 * i, dims[i]);
    if (len)
        memcpy(buf + hdr, data, len);
    write_maybe_gz(path, buf, hdr + len, gz);
    free(buf);
}

/* The small synthetic IDX dataset: N images of R x C, labels i % 10. */
enum { N = 5, R = 3, C = 4 };

static uint8_t pix(int i, int k) { return (uint8_t)((i * 37 + k * 11 + 3) % 256); }

static void fill_images(uint8_t *img, int n)
{
    for (int i = 0; i < n; i++)
        for (int k = 0; k < R * C; k++)
            img[i * R * C + k] = pix(i, k);
}

/* Write split files (prefix "train" or "t10k") into dir. Overrides: count of
 * images/labels declared, extra/missing data bytes, one label value. */
typedef struct idx_opts {
    int gz, n_img, n_lab, img_delta, lab_delta, bad_label;
    uint32_t img_magic, lab_magic, rows;
} idx_opts;

static idx_opts defaults(int gz)
{
    return (idx_opts){gz, N, N, 0, 0, -1, 0x803, 0x801, R};
}

static void write_idx_pair(const char *dir, const char *prefix, idx_opts o)
{
    char p[1024], name[64];
    uint8_t img[64 * R * C + 16] = {0}, lab[80] = {0};
    fill_images(img, 64);
    for (int i = 0; i < 80; i++)
        lab[i] = (uint8_t)(i % 10);
    if (o.bad_label >= 0)
        lab[1] = (uint8_t)o.bad_label;
    const char *sfx = o.gz ? ".gz" : "";
    uint32_t di[3] = {(uint32_t)o.n_img, o.rows, C}, dl[1] = {(uint32_t)o.n_lab};
    snprintf(name, sizeof name, "%s-images-idx3-ubyte%s", prefix, sfx);
    write_idx(path_in(p, dir, name), o.img_magic, di, 3, img,
              (size_t)(o.n_img * R * C + o.img_delta), o.gz);
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte%s", prefix, sfx);
    write_idx(path_in(p, dir, name), o.lab_magic, dl, 1, lab, (size_t)(o.n_lab + o.lab_delta),
              o.gz);
}

/* A fresh temp dir holding "<sub>/" (copied: tu_tmpdir reuses its buffer). */
static char *fresh_dir(char *buf, const char *sub)
{
    snprintf(buf, 256, "%s", tu_tmpdir());
    if (sub)
        make_dir(buf, sub);
    return buf;
}

/* SHA-256 hex of the concatenation of files, as stored. */
static void sha_of_files(const char *const *paths, int n, char hex[65])
{
    sq_sha256 h;
    uint8_t d[32];
    sq_err e;
    sq_sha256_init(&h);
    for (int i = 0; i < n; i++)
        assert_int_equal(sq_sha256_file(&h, paths[i], &e), 0);
    sq_sha256_final(&h, d);
    sq_sha256_hex(d, hex);
}

static void sha_of(const void *data, size_t n, size_t chunk, char hex[65])
{
    sq_sha256 h;
    uint8_t d[32];
    const uint8_t *p = data;
    sq_sha256_init(&h);
    for (size_t at = 0; at < n; at += chunk)
        sq_sha256_update(&h, p + at, SQ_MIN(chunk, n - at));
    sq_sha256_final(&h, d);
    sq_sha256_hex(d, hex);
}

/* ---- SHA-256 -------------------------------------------------------------- */

static void test_sha256_vectors(void **state)
{
    char hex[65];
    sha_of("abc", 3, 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sha_of("", 0, 1, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha_of(m448, strlen(m448), strlen(m448), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    sha_of(m448, strlen(m448), 5, hex); /* streaming in odd pieces */
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                       "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    sha_of(m896, strlen(m896), 13, hex);
    assert_string_equal(hex, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    /* lengths around the padding boundaries (55/56 and 119/120 bytes), values
     * from an independent implementation (Python's hashlib) */
    static const struct { size_t n; const char *hex; } as[] = {
        {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
        {63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
        {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
        {65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
        {119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"},
        {120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"},
    };
    char *a = malloc(1000000);
    assert_non_null(a);
    memset(a, 'a', 1000000);
    for (size_t i = 0; i < SQ_COUNT(as); i++) {
        sha_of(a, as[i].n, 1 + i, hex);
        assert_string_equal(hex, as[i].hex);
    }
    sha_of(a, 1000000, 4099, hex);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

static void test_sha256_file(void **state)
{
    char dir[256], p[1024], hex1[65], hex2[65];
    fresh_dir(dir, NULL);
    uint8_t buf[100000];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 7 + (i >> 9));
    tu_write(path_in(p, dir, "f.bin"), buf, sizeof buf);
    const char *paths[1] = {p};
    sha_of_files(paths, 1, hex1);
    sha_of(buf, sizeof buf, sizeof buf, hex2);
    assert_string_equal(hex1, hex2);
    sq_sha256 h;
    sq_err e;
    sq_sha256_init(&h);
    assert_int_equal(sq_sha256_file(&h, path_in(p, dir, "absent.bin"), &e), -1);
    expect_msg(e, "absent.bin");
    tu_rmdir(dir);
}

/* ---- IDX loading -------------------------------------------------------- */

static void check_synthetic(const sq_dataset *d, int n)
{
    assert_int_equal(d->n, n);
    assert_int_equal(d->c, 1);
    assert_int_equal(d->h, R);
    assert_int_equal(d->w, C);
    assert_int_equal(d->classes, 10);
    for (int i = 0; i < n; i++) {
        assert_int_equal(d->labels[i], i % 10);
        for (int k = 0; k < R * C; k++)
            assert_int_equal(d->images[i * R * C + k], pix(i, k));
    }
}

static void load_idx_case(int gz, int train)
{
    char dir[256], sub[1024], p1[1024], p2[1024], hex[65];
    sq_dataset d;
    sq_err e;
    fresh_dir(dir, "mnist");
    const char *prefix = train ? "train" : "t10k";
    write_idx_pair(path_in(sub, dir, "mnist"), prefix, defaults(gz));
    assert_int_equal(sq_data_open("mnist", dir, train, &d, &e), 0);
    check_synthetic(&d, N);
    assert_string_equal(d.name, "mnist");
    /* the fingerprint covers the files as stored: images, then labels */
    char n1[64], n2[64];
    snprintf(n1, sizeof n1, "%s-images-idx3-ubyte%s", prefix, gz ? ".gz" : "");
    snprintf(n2, sizeof n2, "%s-labels-idx1-ubyte%s", prefix, gz ? ".gz" : "");
    const char *paths[2] = {path_in(p1, sub, n1), path_in(p2, sub, n2)};
    sha_of_files(paths, 2, hex);
    assert_string_equal(d.sha256, hex);
    assert_non_null(strstr(d.source, sub));
    assert_non_null(strstr(d.source, n1));
    assert_non_null(strstr(d.source, n2));
    sq_dataset_free(&d);
    assert_null(d.images);
    tu_rmdir(dir);
}

static void test_idx_raw_train(void **state) { load_idx_case(0, 1); }
static void test_idx_gzip_test(void **state) { load_idx_case(1, 0); }

/* data_dir/fashion-mnist/ is searched before the system copy. */
static void test_fashion_local_first(void **state)
{
    char dir[256], sub[1024];
    sq_dataset d;
    sq_err e;
    fresh_dir(dir, "fashion-mnist");
    write_idx_pair(path_in(sub, dir, "fashion-mnist"), "t10k", defaults(1));
    assert_int_equal(sq_data_open("fashion-mnist", dir, 0, &d, &e), 0);
    check_synthetic(&d, N);
    assert_non_null(strstr(d.source, sub));
    sq_dataset_free(&d);
    tu_rmdir(dir);
}

/* Load the synthetic pair written with options o; expect failure naming part. */
static void idx_error_case(idx_opts o, const char *part, const char *part2)
{
    char dir[256], sub[1024];
    sq_dataset d;
    sq_err e;
    fresh_dir(dir, "mnist");
    write_idx_pair(path_in(sub, dir, "mnist"), "train", o);
    assert_int_equal(sq_data_open("mnist", dir, 1, &d, &e), -1);
    assert_null(d.images);
    assert_null(d.labels);
    assert_int_equal(d.n, 0);
    expect_msg(e, part);
    if (part2)
        expect_msg(e, part2);
    expect_msg(e, sub); /* names the file's directory */
    tu_rmdir(dir);
}

static void test_idx_truncated(void **state)
{
    for (int gz = 0; gz <= 1; gz++) {
        idx_opts o = defaults(gz);
        o.img_delta = -7;
        idx_error_case(o, "truncated", "train-images-idx3-ubyte");
        o = defaults(gz);
        o.lab_delta = -1;
        idx_error_case(o, "truncated", "train-labels-idx1-ubyte");
    }
}

/* Write a 60-image gzip pair, then damage the images file: cut `cut` bytes
 * off its end, or (cut < 0) flip a byte of its CRC. */
static void gzip_damage_case(int cut, const char *part)
{
    char dir[256], sub[1024], p[1024];
    sq_dataset d;
    sq_err e;
    fresh_dir(dir, "mnist");
    idx_opts o = defaults(1);
    o.n_img = o.n_lab = 60;
    write_idx_pair(path_in(sub, dir, "mnist"), "train", o);
    path_in(p, sub, "train-images-idx3-ubyte.gz");
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    if (cut >= 0) {
        assert_int_equal(truncate(p, st.st_size - cut), 0);
    } else {
        FILE *f = fopen(p, "r+b");
        assert_non_null(f);
        assert_int_equal(fseek(f, st.st_size - 6, SEEK_SET), 0);
        int c = fgetc(f);
        assert_int_equal(fseek(f, st.st_size - 6, SEEK_SET), 0);
        fputc(c ^ 0xff, f);
        assert_int_equal(fclose(f), 0);
    }
    assert_int_equal(sq_data_open("mnist", dir, 1, &d, &e), -1);
    assert_null(d.images);
    expect_msg(e, p);
    expect_msg(e, part);
    tu_rmdir(dir);
}

/* A gzip stream cut short, even by only its 8-byte trailer, or with a bad
 * CRC is reported, not silently accepted. */
static void test_idx_gzip_damage(void **state)
{
    gzip_damage_case(1, "truncated");
    gzip_damage_case(8, "truncated");  /* all data there, CRC and size gone */
    gzip_damage_case(12, "truncated");
    gzip_damage_case(200, "truncated");
    gzip_damage_case(-1, "corrupt gzip data");
}

static void test_idx_trailing(void **state)
{
    for (int gz = 0; gz <= 1; gz++) {
        idx_opts o = defaults(gz);
        o.img_delta = 3;
        idx_error_case(o, "trailing", "train-images-idx3-ubyte");
        o = defaults(gz);
        o.lab_delta = 1;
        idx_error_case(o, "trailing", "train-labels-idx1-ubyte");
    }
}

static void test_idx_bad_magic(void **state)
{
    idx_opts o = defaults(0);
    o.img_magic = 0x801; /* a labels magic in the images file */
    idx_error_case(o, "bad magic 0x00000801", "expected 0x00000803");
    o = defaults(1);
    o.lab_magic = 0x12345678;
    idx_error_case(o, "bad magic 0x12345678", "train-labels-idx1-ubyte.gz");
}

static void test_idx_count_mismatch(void **state)
{
    idx_opts o = defaults(0);
    o.n_lab = N - 1;
    idx_error_case(o, "5 images", "4 labels");
}

static void test_idx_label_range(void **state)
{
    idx_opts o = defaults(1);
    o.bad_label = 10;
    idx_error_case(o, "label 10 of item 1 is out of range", "train-labels-idx1-ubyte.gz");
}

static void test_idx_bad_dims(void **state)
{
    idx_opts o = defaults(0);
    o.rows = 0;
    idx_error_case(o, "0 x 4", "corrupt");
    o.rows = 2000;
    idx_error_case(o, "2000 x 4", "corrupt");
    o = defaults(1);
    o.n_img = o.n_lab = 0;
    idx_error_case(o, "declares 0 images", "corrupt");
}

/* A header claiming 10^8 images must be caught before trusting it. */
static void test_idx_huge_count(void **state)
{
    char dir[256], sub[1024], p[1024];
    sq_err e;
    sq_dataset d;
    fresh_dir(dir, "mnist");
    write_idx_pair(path_in(sub, dir, "mnist"), "train", defaults(1));
    uint32_t di[3] = {100000000u, 1024, 1024};
    uint8_t data[16] = {0};
    write_idx(path_in(p, sub, "train-images-idx3-ubyte.gz"), 0x803, di, 3, data, 16, 1);
    assert_int_equal(sq_data_open("mnist", dir, 1, &d, &e), -1);
    expect_msg(e, "truncated");
    write_idx(path_in(p, sub, "train-images-idx3-ubyte.gz"), 0x803, di, 3, data, 16, 0);
    assert_int_equal(sq_data_open("mnist", dir, 1, &d, &e), -1);
    expect_msg(e, "truncated");
    tu_rmdir(dir);
}

/* ---- CIFAR ------------------------------------------------------------------ */

static uint8_t cpix(int rec, int k) { return (uint8_t)((rec * 101 + k * 7) % 251); }

/* Write `n` records starting at global record number `first`. */
static void write_cifar(const char *path, int first, int n, int label_bytes, int classes)
{
    size_t rs = (size_t)label_bytes + 3072;
    uint8_t *buf = malloc(rs * (size_t)n + 1);
    assert_non_null(buf);
    for (int r = 0; r < n; r++) {
        uint8_t *rec = buf + (size_t)r * rs;
        int g = first + r;
        rec[0] = (uint8_t)(label_bytes == 2 ? g % 20 : g % classes); /* coarse or only */
        if (label_bytes == 2)
            rec[1] = (uint8_t)((g * 7) % classes); /* fine */
        for (int k = 0; k < 3072; k++)
            rec[label_bytes + k] = cpix(g, k);
    }
    tu_write(path, buf, rs * (size_t)n);
    free(buf);
}

static void test_cifar10_load(void **state)
{
    char dir[256], sub[1024], p[5][1024], name[32], hex[65];
    const int sizes[5] = {2, 1, 3, 1, 2};
    sq_dataset d;
    sq_err e;
    fresh_dir(dir, "cifar-10-batches-bin");
    path_in(sub, dir, "cifar-10-batches-bin");
    const char *paths[5];
    for (int b = 0, first = 0; b < 5; first += sizes[b], b++) {
        snprintf(name, sizeof name, "data_batch_%d.bin", b + 1);
        write_cifar(path_in(p[b], sub, name), first, sizes[b], 1, 10);
        paths[b] = p[b];
    }
    char pt[1024];
    write_cifar(path_in(pt, sub, "test_batch.bin"), 100, 4, 1, 10);
    assert_int_equal(sq_data_open("cifar10", dir, 1, &d, &e), 0);
    assert_int_equal(d.n, 9);
    assert_int_equal(d.c, 3);
    assert_int_equal(d.h, 32);
    assert_int_equal(d.w, 32);
    assert_int_equal(d.classes, 10);
    for (int i = 0; i < 9; i++) {
        assert_int_equal(d.labels[i], i % 10);
        for (int k = 0; k < 3072; k += 97)
            assert_int_equal(d.images[(size_t)i * 3072 + k], cpix(i, k));
    }
    sha_of_files(paths, 5, hex);
    assert_string_equal(d.sha256, hex);
    sq_dataset_free(&d);
    assert_int_equal(sq_data_open("cifar10", dir, 0, &d, &e), 0);
    assert_int_equal(d.n, 4);
    assert_int_equal(d.labels[3], 103 % 10);
    assert_int_equal(d.images[3 * 3072 + 5], cpix(103, 5));
    sq_dataset_free(&d);
    tu_rmdir(dir);
}

static void test_cifar100_fine_labels(void **state)
{
    char dir[256], sub[1024], p[1024];
    sq_dataset d;
    sq_err e;
    fresh_dir(dir, "cifar-100-binary");
    path_in(sub, dir, "cifar-100-binary");
    write_cifar(path_in(p, sub, "train.bin"), 0, 20, 2, 100);
    write_cifar(path_in(p, sub, "test.bin"), 0, 3, 2, 100);
    assert_int_equal(sq_data_open("cifar100", dir, 1, &d, &e), 0);
    assert_int_equal(d.n, 20);
    assert_int_equal(d.classes, 100);
    for (int i = 0; i < 20; i++)
        assert_int_equal(d.labels[i], (i * 7) % 100); /* fine, not coarse */
    assert_int_equal(d.images[19 * 3072 + 3071], cpix(19, 3071));
    sq_dataset_free(&d);
    tu_rmdir(dir);
}

static void cifar_error_case(const char *name, const char *sub, const char *file,
                             const void *data, size_t n, int train, const char *part)
{
    char dir[256], s[1024], p[1024];
    sq_dataset d;
    sq_err e;
    fresh_dir(dir, sub);
    path_in(s, dir, sub);
    tu_write(path_in(p, s, file), data, n);
    assert_int_equal(sq_data_open(name, dir, train, &d, &e), -1);
    assert_null(d.images);
    expect_msg(e, part);
    expect_msg(e, p);
    tu_rmdir(dir);
}

static void test_cifar_errors(void **state)
{
    static uint8_t buf[3 * 3074];
    cifar_error_case("cifar10", "cifar-10-batches-bin", "test_batch.bin", buf, 0, 0, "empty");
    cifar_error_case("cifar10", "cifar-10-batches-bin", "test_batch.bin", buf, 3073 * 2 + 5, 0,
                     "not a multiple of the 3073-byte record");
    cifar_error_case("cifar100", "cifar-100-binary", "test.bin", buf, 3073 * 2, 0,
                     "not a multiple of the 3074-byte record");
    buf[3073] = 10; /* second record's label */
    cifar_error_case("cifar10", "cifar-10-batches-bin", "test_batch.bin", buf, 3073 * 3, 0,
                     "label 10 of record 1 is out of range");
    memset(buf, 0, sizeof buf);
    buf[2 * 3074 + 1] = 100; /* third record's fine label */
    cifar_error_case("cifar100", "cifar-100-binary", "test.bin", buf, 3074 * 3, 0,
                     "label 100 of record 2 is out of range");
}

/* ---- lookup errors ---------------------------------------------------------- */

static void test_missing_dataset(void **state)
{
    char dir[256], want[1024];
    sq_dataset d;
    sq_err e;
    fresh_dir(dir, NULL);
    assert_int_equal(sq_data_open("mnist", dir, 1, &d, &e), -1);
    expect_msg(e, "mnist (train split) not found");
    expect_msg(e, path_in(want, dir, "mnist/ (no such directory)"));
    expect_msg(e, "make data");
    expect_msg(e, "ossci-datasets.s3.amazonaws.com/mnist");

    make_dir(dir, "cifar-10-batches-bin");
    char p[1024];
    path_in(want, dir, "cifar-10-batches-bin");
    tu_write(path_in(p, want, "data_batch_1.bin"), "", 0);
    assert_int_equal(sq_data_open("cifar10", dir, 1, &d, &e), -1);
    expect_msg(e, "cifar10 (train split) not found");
    expect_msg(e, want);
    expect_msg(e, "missing data_batch_2.bin, data_batch_3.bin, data_batch_4.bin");
    expect_msg(e, "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz");

    assert_int_equal(sq_data_open("cifar100", dir, 0, &d, &e), -1);
    expect_msg(e, "cifar-100-binary/ (no such directory)");
    expect_msg(e, "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz");

    /* the message for fashion-mnist lists the system path too, when absent */
    if (!is_dir_present("/usr/share/datasets/fashion-mnist")) {
        assert_int_equal(sq_data_open("fashion-mnist", dir, 0, &d, &e), -1);
        expect_msg(e, "/usr/share/datasets/fashion-mnist/");
        expect_msg(e, "dataset-fashion-mnist");
    }
    tu_rmdir(dir);
}

static void test_unknown_name(void **state)
{
    sq_dataset d;
    sq_err e;
    float m[3], s[3];
    assert_int_equal(sq_data_open("imagenet", "data", 1, &d, &e), -1);
    expect_msg(e, "unknown dataset 'imagenet'");
    expect_msg(e, "fashion-mnist, mnist, cifar10, cifar100");
    assert_int_equal(sq_data_norm("svhn", m, s, &e), -1);
    expect_msg(e, "unknown dataset 'svhn'");
}

/* ---- normalisation and batches ------------------------------------------- */

static void test_norm_constants(void **state)
{
    float m[3], s[3];
    sq_err e;
    assert_int_equal(sq_data_norm("mnist", m, s, &e), 0);
    assert_true(m[0] == 0.1307f && s[0] == 0.3081f);
    assert_int_equal(sq_data_norm("fashion-mnist", m, s, &e), 0);
    assert_true(m[0] == 0.2860f && s[0] == 0.3530f);
    assert_int_equal(sq_data_norm("cifar10", m, s, &e), 0);
    assert_true(m[0] == 0.4914f && m[1] == 0.4822f && m[2] == 0.4465f);
    assert_true(s[0] == 0.2470f && s[1] == 0.2435f && s[2] == 0.2616f);
    assert_int_equal(sq_data_norm("cifar100", m, s, &e), 0);
    assert_true(m[0] == 0.5071f && m[1] == 0.4865f && m[2] == 0.4409f);
    assert_true(s[0] == 0.2673f && s[1] == 0.2564f && s[2] == 0.2762f);
}

/* An in-memory dataset of n images c x h x w; pixel = 1 + 3c*h*w... kept < 256. */
static sq_dataset mem_dataset(int n, int c, int h, int w)
{
    sq_dataset d = {.n = n, .c = c, .h = h, .w = w, .classes = 10};
    d.images = malloc((size_t)n * c * h * w);
    d.labels = malloc((size_t)n * sizeof(int));
    assert_non_null(d.images);
    assert_non_null(d.labels);
    for (int i = 0; i < n; i++) {
        d.labels[i] = (i * 3) % 10;
        for (int k = 0; k < c * h * w; k++)
            d.images[(size_t)i * c * h * w + k] = (uint8_t)(1 + (i * 5 + k) % 250);
    }
    return d;
}

static void mem_free(sq_dataset *d)
{
    free(d->images);
    free(d->labels);
}

static void test_batch_plain(void **state)
{
    sq_dataset d = mem_dataset(6, 3, 5, 4);
    float mean[3] = {0.4914f, 0.4822f, 0.4465f}, std[3] = {0.2470f, 0.2435f, 0.2616f};
    int idx[3] = {4, 0, 5}, y[3];
    sq_real x[3 * 60];
    d.images[4 * 60 + 1 * 20 + 2 * 4 + 3] = 200; /* image 4, channel 1, row 2, col 3 */
    uint8_t before[6 * 60];
    memcpy(before, d.images, sizeof before);
    sq_rng r, r0;
    sq_rng_seed(&r, 9);
    r0 = r;
    sq_make_batch(&d, idx, 3, mean, std, 0, &r, x, y);
    tu_close(x[0 * 60 + 1 * 20 + 2 * 4 + 3], (200 / 255.0 - 0.4822) / 0.2435, 1e-5, 0,
             "known pixel");
    for (int b = 0; b < 3; b++) {
        assert_int_equal(y[b], d.labels[idx[b]]);
        for (int k = 0; k < 60; k++) {
            int c = k / 20;
            double want = (d.images[idx[b] * 60 + k] / 255.0 - mean[c]) / std[c];
            tu_close(x[b * 60 + k], want, 1e-5, 0, "normalised pixel");
        }
    }
    assert_memory_equal(before, d.images, sizeof before); /* images untouched */
    assert_memory_equal(&r, &r0, sizeof r);               /* no randomness used */
    sq_make_batch(&d, idx, 3, mean, std, 0, NULL, x, y);  /* r may be NULL */
    mem_free(&d);
}

/* Reference augmentation written differently from batch.c: build the padded
 * raw image explicitly, cut the window, then mirror. */
static double ref_aug(const sq_dataset *d, int img, int c, int i, int j, int dy, int dx,
                      int flip, float mean, float std)
{
    int h = d->h, w = d->w, ph = h + 8, pw = w + 8;
    uint8_t pad[64][64] = {{0}};
    for (int a = 0; a < h; a++)
        for (int b = 0; b < w; b++)
            pad[a + 4][b + 4] = d->images[((size_t)img * d->c + c) * h * w + a * w + b];
    assert_true(ph <= 64 && pw <= 64);
    int jj = flip ? w - 1 - j : j;
    return (pad[i + dy][jj + dx] / 255.0 - mean) / std;
}

static void test_batch_augment(void **state)
{
    enum { B = 400, CH = 2, H = 6, W = 5 };
    sq_dataset d = mem_dataset(3, CH, H, W);
    float mean[2] = {0.5f, 0.25f}, std[2] = {0.25f, 0.5f};
    int idx[B], y[B], seen_dy[9] = {0}, seen_dx[9] = {0}, seen_flip[2] = {0};
    static sq_real x[B * CH * H * W];
    for (int b = 0; b < B; b++)
        idx[b] = b % 3;
    sq_rng r, draw;
    sq_rng_seed(&r, 1234);
    draw = r;
    sq_make_batch(&d, idx, B, mean, std, 1, &r, x, y);
    for (int b = 0; b < B; b++) {
        int dy = (int)sq_rng_below(&draw, 9), dx = (int)sq_rng_below(&draw, 9);
        int flip = (int)sq_rng_below(&draw, 2);
        seen_dy[dy] = seen_dx[dx] = seen_flip[flip] = 1;
        assert_int_equal(y[b], d.labels[idx[b]]);
        const sq_real *o = x + (size_t)b * CH * H * W;
        for (int c = 0; c < CH; c++)
            for (int i = 0; i < H; i++)
                for (int j = 0; j < W; j++)
                    tu_close(o[(c * H + i) * W + j],
                             ref_aug(&d, idx[b], c, i, j, dy, dx, flip, mean[c], std[c]), 1e-5,
                             0, "augmented pixel");
        /* hand-checked cases */
        const uint8_t *im = d.images + (size_t)idx[b] * CH * H * W;
        if (dy == 0 && dx == 0 && !flip) {
            tu_close(o[0], (0 - 0.5) / 0.25, 1e-6, 0, "padding is a raw 0 pixel");
            tu_close(o[H * W], (0 - 0.25) / 0.5, 1e-6, 0, "padding, channel 1");
            tu_close(o[5 * W + 4], (im[1 * W + 0] / 255.0 - 0.5) / 0.25, 1e-5, 0,
                     "(5,4) <- (1,0)");
        }
        if (dy == 4 && dx == 4)
            for (int k = 0; k < H * W; k++) {
                int i = k / W, j = k % W, sj = flip ? W - 1 - j : j;
                tu_close(o[k], (im[i * W + sj] / 255.0 - 0.5) / 0.25, 1e-5, 0,
                         "centre crop is the image (mirrored if flip)");
            }
        if (dy == 8 && dx == 8 && flip) {
            /* padded column of output j is (W-1-j) + 8: only j = W-1 lands inside */
            tu_close(o[0], (0 - 0.5) / 0.25, 1e-6, 0, "(0,0) <- padding");
            tu_close(o[W - 1], (im[4 * W + 4] / 255.0 - 0.5) / 0.25, 1e-5, 0,
                     "(0,W-1) <- (4,4)");
        }
    }
    for (int k = 0; k < 9; k++)
        assert_true(seen_dy[k] && seen_dx[k]);
    assert_true(seen_flip[0] && seen_flip[1]);
    assert_memory_equal(&r, &draw, sizeof r); /* exactly 3 draws per image */
    mem_free(&d);
}

/* Same seed, same batch; another seed, another batch. */
static void test_batch_augment_deterministic(void **state)
{
    sq_dataset d = mem_dataset(4, 3, 32, 32);
    float mean[3] = {0.5f, 0.5f, 0.5f}, std[3] = {0.25f, 0.25f, 0.25f};
    int idx[4] = {0, 1, 2, 3}, y[4];
    static sq_real a[4 * 3072], b[4 * 3072], c[4 * 3072];
    sq_rng r;
    sq_rng_seed(&r, 5);
    sq_make_batch(&d, idx, 4, mean, std, 1, &r, a, y);
    sq_rng_seed(&r, 5);
    sq_make_batch(&d, idx, 4, mean, std, 1, &r, b, y);
    sq_rng_seed(&r, 6);
    sq_make_batch(&d, idx, 4, mean, std, 1, &r, c, y);
    assert_memory_equal(a, b, sizeof a);
    assert_true(memcmp(a, c, sizeof a) != 0);
    mem_free(&d);
}

static void test_shuffle(void **state)
{
    enum { M = 1000 };
    static int a[M], b[M], c[M], count[M];
    for (int i = 0; i < M; i++)
        a[i] = b[i] = c[i] = i;
    sq_rng r;
    sq_rng_seed(&r, 42);
    sq_shuffle(a, M, &r);
    sq_rng_seed(&r, 42);
    sq_shuffle(b, M, &r);
    sq_rng_seed(&r, 43);
    sq_shuffle(c, M, &r);
    int fixed = 0;
    for (int i = 0; i < M; i++) {
        assert_true(a[i] >= 0 && a[i] < M);
        count[a[i]]++;
        fixed += a[i] == i;
    }
    for (int i = 0; i < M; i++)
        assert_int_equal(count[i], 1); /* a permutation */
    assert_memory_equal(a, b, sizeof a); /* deterministic for a seed */
    assert_true(memcmp(a, c, sizeof a) != 0);
    assert_true(fixed < 20); /* actually shuffled */
    int one = 7;
    sq_shuffle(&one, 1, &r);
    sq_shuffle(NULL, 0, &r);
    assert_int_equal(one, 7);
    /* every position reachable: first element over many small shuffles */
    int seen[4] = {0};
    for (int t = 0; t < 200; t++) {
        int s[4] = {0, 1, 2, 3};
        sq_shuffle(s, 4, &r);
        seen[s[0]] = 1;
    }
    assert_true(seen[0] && seen[1] && seen[2] && seen[3]);
}

static void test_subset(void **state)
{
    char dir[256], sub[1024];
    sq_dataset d;
    sq_err e;
    fresh_dir(dir, "mnist");
    write_idx_pair(path_in(sub, dir, "mnist"), "t10k", defaults(0));
    assert_int_equal(sq_data_open("mnist", dir, 0, &d, &e), 0);
    char sha[65];
    memcpy(sha, d.sha256, sizeof sha);
    assert_int_equal(sq_dataset_subset(&d, 3, &e), 0);
    check_synthetic(&d, 3);
    assert_string_equal(d.sha256, sha);
    assert_int_equal(sq_dataset_subset(&d, 0, &e), -1);
    expect_msg(e, "subset of 0 images requested but mnist has 3");
    assert_int_equal(sq_dataset_subset(&d, 4, &e), -1);
    expect_msg(e, "ask for 1..3");
    assert_int_equal(d.n, 3);
    sq_dataset_free(&d);
    sq_dataset_free(NULL);
    tu_rmdir(dir);
}

/* ---- allocation failures -------------------------------------------------- */

static int alloc_budget;
static void *failing_alloc(void *ud, size_t n) { return alloc_budget-- > 0 ? malloc(n) : NULL; }
static void plain_release(void *ud, void *p) { free(p); }

/* Fail the k-th allocation for every k until the load succeeds: each failure
 * is a clean error (ASan builds check that nothing leaks). */
static void alloc_fail_case(const char *name, const char *dir, int train)
{
    sq_allocator a = {failing_alloc, plain_release, NULL};
    sq_dataset d;
    sq_err e;
    int k;
    for (k = 0; k < 100; k++) {
        alloc_budget = k;
        sq_set_allocator(&a);
        int rc = sq_data_open(name, dir, train, &d, &e);
        sq_set_allocator(NULL);
        if (rc == 0)
            break;
        expect_msg(e, "out of memory");
        assert_null(d.images);
        assert_null(d.labels);
    }
    assert_true(k > 0 && k < 100);
    sq_dataset_free(&d);
}

static void test_alloc_failures(void **state)
{
    char dir[256], sub[1024], p[1024];
    fresh_dir(dir, "mnist");
    write_idx_pair(path_in(sub, dir, "mnist"), "train", defaults(1));
    alloc_fail_case("mnist", dir, 1);
    make_dir(dir, "cifar-100-binary");
    path_in(sub, dir, "cifar-100-binary");
    write_cifar(path_in(p, sub, "test.bin"), 0, 2, 2, 100);
    alloc_fail_case("cifar100", dir, 0);
    tu_rmdir(dir);
}

/* ---- the real Fashion-MNIST test split (Debian dataset-fashion-mnist) ------- */

static void test_real_fashion_mnist(void **state)
{
    const char *sys = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
    struct stat st;
    if (stat(sys, &st) != 0) {
        print_message("skipping: %s absent (apt-get install dataset-fashion-mnist)\n", sys);
        skip();
    }
    char dir[256];
    sq_dataset d;
    sq_err e;
    fresh_dir(dir, NULL); /* empty data_dir: the system copy must be found */
    if (sq_data_open("fashion-mnist", dir, 0, &d, &e) != 0)
        fail_msg("%s", e.msg);
    assert_int_equal(d.n, 10000);
    assert_int_equal(d.c, 1);
    assert_int_equal(d.h, 28);
    assert_int_equal(d.w, 28);
    assert_int_equal(d.classes, 10);
    assert_non_null(strstr(d.source, "/usr/share/datasets/fashion-mnist"));
    assert_int_equal(strlen(d.sha256), 64);
    int per_class[10] = {0};
    double sum = 0;
    for (int i = 0; i < d.n; i++)
        per_class[d.labels[i]]++;
    for (size_t k = 0; k < (size_t)d.n * 784; k++)
        sum += d.images[k];
    for (int c = 0; c < 10; c++)
        assert_int_equal(per_class[c], 1000); /* the test split is balanced */
    tu_close(sum / d.n / 784 / 255, 0.2860, 0.003, 0, "mean pixel near the published 0.2860");
    sq_dataset_free(&d);
    tu_rmdir(dir);
}

/* ---- tests/fetch-data.sh without a network --------------------------------- */

/* curl and wget replaced by stubs that fail the way they do offline. */
static void test_fetch_offline(void **state)
{
    struct stat st;
    if (stat("tests/fetch-data.sh", &st) != 0) {
        print_message("skipping: run from the repository root to test tests/fetch-data.sh\n");
        skip();
    }
    char dir[256], bin[1024], p[1024], cmd[4096];
    fresh_dir(dir, "bin");
    path_in(bin, dir, "bin");
    const char *stub = "#!/bin/sh\necho \"$0: could not resolve host\" >&2\nexit 6\n";
    tu_write(path_in(p, bin, "curl"), stub, strlen(stub));
    assert_int_equal(chmod(p, 0755), 0);
    tu_write(path_in(p, bin, "wget"), stub, strlen(stub));
    assert_int_equal(chmod(p, 0755), 0);
    snprintf(cmd, sizeof cmd, "PATH='%s':\"$PATH\" sh tests/fetch-data.sh '%s/data' >'%s/out' 2>&1",
             bin, dir, dir);
    int rc = system(cmd);
    assert_true(rc != 0); /* never fails silently */
    FILE *f = fopen(path_in(p, dir, "out"), "r");
    assert_non_null(f);
    static char out[65536];
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = '\0';
    fclose(f);
    int sys_fashion = is_dir_present("/usr/share/datasets/fashion-mnist");
    const char *want[] = {sys_fashion ? "could not fetch: mnist cifar10 cifar100\n"
                                      : "could not fetch: mnist fashion-mnist cifar10 cifar100\n",
                          sys_fashion ? "fashion-mnist: already installed in /usr/share"
                                      : "/data/fashion-mnist/",
                          "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
                          "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
                          "train-images-idx3-ubyte.gz", "/data/mnist/",
                          "/data/cifar-10-batches-bin/", "/data/cifar-100-binary/"};
    for (size_t i = 0; i < SQ_COUNT(want); i++)
        if (!strstr(out, want[i]))
            fail_msg("fetch-data.sh output lacks \"%s\":\n%s", want[i], out);
    /* nothing half-downloaded is left where the loader would find it */
    assert_int_equal(stat(path_in(p, dir, "data/mnist/train-images-idx3-ubyte.gz"), &st), -1);
    tu_rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_sha256_file),
        cmocka_unit_test(test_idx_raw_train),
        cmocka_unit_test(test_idx_gzip_test),
        cmocka_unit_test(test_fashion_local_first),
        cmocka_unit_test(test_idx_truncated),
        cmocka_unit_test(test_idx_gzip_damage),
        cmocka_unit_test(test_idx_trailing),
        cmocka_unit_test(test_idx_bad_magic),
        cmocka_unit_test(test_idx_count_mismatch),
        cmocka_unit_test(test_idx_label_range),
        cmocka_unit_test(test_idx_bad_dims),
        cmocka_unit_test(test_idx_huge_count),
        cmocka_unit_test(test_cifar10_load),
        cmocka_unit_test(test_cifar100_fine_labels),
        cmocka_unit_test(test_cifar_errors),
        cmocka_unit_test(test_missing_dataset),
        cmocka_unit_test(test_unknown_name),
        cmocka_unit_test(test_norm_constants),
        cmocka_unit_test(test_batch_plain),
        cmocka_unit_test(test_batch_augment),
        cmocka_unit_test(test_batch_augment_deterministic),
        cmocka_unit_test(test_shuffle),
        cmocka_unit_test(test_subset),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_real_fashion_mnist),
        cmocka_unit_test(test_fetch_offline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
