/* idx.c - reader for the IDX files of MNIST and Fashion-MNIST, raw or
 * gzip-compressed. Validates the header and that the file holds exactly the
 * bytes the header declares, so a damaged file is an error, never garbage. */
#include "data/data.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#define IDX_IMAGES_MAGIC 0x00000803u /* unsigned bytes, 3 dimensions */
#define IDX_LABELS_MAGIC 0x00000801u /* unsigned bytes, 1 dimension  */
#define IDX_MAX_SIDE 1024
#define IDX_MAX_COUNT 100000000u
/* deflate cannot compress better than about 1032:1; a gzip header that
 * promises more than this many bytes per compressed byte is lying. */
#define GZIP_MAX_RATIO 1100

typedef struct idx_file {
    const char *path;
    gzFile gz;         /* zlib reads gzip and (transparently) raw files */
    int gzip;          /* the file starts with the gzip magic 1f 8b     */
    long long disk;    /* size on disk in bytes                         */
} idx_file;

static const char *kind(const idx_file *f) { return f->gzip ? "gzip" : "raw"; }

static int idx_open(idx_file *f, const char *path, sq_err *e)
{
    struct stat st;
    unsigned char magic[2] = {0, 0};
    f->path = path;
    f->gz = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp || fstat(fileno(fp), &st) != 0) {
        int err = errno;
        if (fp)
            fclose(fp);
        return sq_fail(e, "%s: cannot open: %s", path, strerror(err));
    }
    size_t got = fread(magic, 1, 2, fp);
    fclose(fp);
    f->disk = (long long)st.st_size;
    f->gzip = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    f->gz = gzopen(path, "rb");
    if (!f->gz)
        return sq_fail(e, "%s: cannot open through zlib: %s", path, strerror(errno));
    gzbuffer(f->gz, 1 << 17);
    return 0;
}

static void idx_close(idx_file *f)
{
    if (f->gz)
        gzclose(f->gz);
    f->gz = NULL;
}

/* zlib reports a stream cut short (Z_BUF_ERROR) or corrupt through gzerror,
 * even when gzread itself returned data. 0 when all is well. */
static int zlib_status(idx_file *f, sq_err *e)
{
    int zerr;
    const char *msg = gzerror(f->gz, &zerr);
    if (zerr == Z_OK)
        return 0;
    size_t plen = strlen(f->path); /* zlib prefixes its message with the path */
    if (strncmp(msg, f->path, plen) == 0 && strncmp(msg + plen, ": ", 2) == 0)
        msg += plen + 2;
    const char *what = zerr == Z_BUF_ERROR ? "truncated" : "corrupt";
    return sq_fail(e, "%s: %s %s data (zlib: %s); re-download the file", f->path, what, kind(f),
                   msg);
}

/* Read up to n bytes; *got says how many arrived. -1 on a zlib error. */
static int idx_read(idx_file *f, void *buf, size_t n, size_t *got, sq_err *e)
{
    unsigned char *p = buf;
    *got = 0;
    while (*got < n) {
        unsigned chunk = (unsigned)SQ_MIN(n - *got, (size_t)1 << 20);
        int r = gzread(f->gz, p + *got, chunk);
        if (r <= 0)
            break;
        *got += (size_t)r;
    }
    return zlib_status(f, e);
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Header: magic, then one big-endian count per dimension. */
static int read_header(idx_file *f, uint32_t magic, int ndims, uint32_t dims[3], sq_err *e)
{
    unsigned char hdr[16];
    size_t want = 4 + 4 * (size_t)ndims, got;
    const char *what = ndims == 3 ? "images" : "labels";
    if (idx_read(f, hdr, want, &got, e))
        return -1;
    if (got >= 4 && be32(hdr) != magic)
        return sq_fail(e, "%s: bad magic 0x%08x, expected 0x%08x (IDX unsigned-byte %s); "
                          "this is not an IDX %s file (swapped with the other file?)",
                       f->path, be32(hdr), magic, what, what);
    if (got < want)
        return sq_fail(e, "%s: truncated: the IDX header needs %zu bytes, the %s file has %zu; "
                          "re-download it",
                       f->path, want, kind(f), got);
    for (int i = 0; i < ndims; i++)
        dims[i] = be32(hdr + 4 + 4 * i);
    if (dims[0] < 1 || dims[0] > IDX_MAX_COUNT)
        return sq_fail(e, "%s: header declares %u %s; expected 1..%u, the header is corrupt",
                       f->path, dims[0], what, IDX_MAX_COUNT);
    for (int i = 1; i < ndims; i++)
        if (dims[i] < 1 || dims[i] > IDX_MAX_SIDE)
            return sq_fail(e, "%s: header declares images of %u x %u pixels; each side must be "
                              "1..%d, the header is corrupt", f->path, dims[1], dims[2],
                           IDX_MAX_SIDE);
    return 0;
}

/* Before allocating, compare what the header promises with the file size. */
static int check_size(idx_file *f, size_t hdr, size_t body, sq_err *e)
{
    long long need = (long long)(hdr + body);
    if (!f->gzip && f->disk < need)
        return sq_fail(e, "%s: truncated: the header declares %lld bytes, the file has %lld; "
                          "re-download it", f->path, need, f->disk);
    if (!f->gzip && f->disk > need)
        return sq_fail(e, "%s: %lld trailing bytes after the %lld bytes its header declares; "
                          "the file is corrupt, re-download it", f->path, f->disk - need, need);
    if (f->gzip && need / GZIP_MAX_RATIO > f->disk)
        return sq_fail(e, "%s: truncated: the header declares %lld bytes, more than a %lld-byte "
                          "gzip file can hold; re-download it", f->path, need, f->disk);
    return 0;
}

/* Read exactly `body` bytes of data and make sure nothing follows. */
static int read_body(idx_file *f, uint8_t *data, size_t body, sq_err *e)
{
    size_t got;
    unsigned char extra;
    if (idx_read(f, data, body, &got, e))
        return -1;
    if (got < body)
        return sq_fail(e, "%s: truncated: the header declares %zu data bytes, the %s file "
                          "holds only %zu; re-download it", f->path, body, kind(f), got);
    if (idx_read(f, &extra, 1, &got, e))
        return -1;
    if (got)
        return sq_fail(e, "%s: trailing bytes after the %zu data bytes its header declares; "
                          "the file is corrupt, re-download it", f->path, body);
    return 0;
}

/* Read an IDX file of unsigned bytes with ndims dimensions (1 or 3). */
static int idx_read_file(const char *path, uint32_t magic, int ndims, uint32_t dims[3],
                         uint8_t **data, sq_err *e)
{
    idx_file f;
    *data = NULL;
    dims[1] = dims[2] = 1;
    if (idx_open(&f, path, e))
        return -1;
    size_t body = 0;
    int rc = read_header(&f, magic, ndims, dims, e);
    if (!rc) {
        body = (size_t)dims[0] * dims[1] * dims[2];
        rc = check_size(&f, 4 + 4 * (size_t)ndims, body, e);
    }
    if (!rc && !(*data = sq_malloc(body)))
        rc = sq_fail(e, "%s: out of memory for %zu bytes of data", path, body);
    if (!rc)
        rc = read_body(&f, *data, body, e);
    idx_close(&f);
    if (rc) {
        sq_free(*data);
        *data = NULL;
    }
    return rc;
}

static int check_labels(const char *path, const uint8_t *lab, uint32_t n, int classes, sq_err *e)
{
    for (uint32_t i = 0; i < n; i++)
        if (lab[i] >= classes)
            return sq_fail(e, "%s: label %u of item %u is out of range (this dataset has %d "
                              "classes, 0..%d); the file is corrupt or from another dataset",
                           path, lab[i], i, classes, classes - 1);
    return 0;
}

static int widen_labels(const uint8_t *lab, int n, int **out, sq_err *e)
{
    *out = sq_calloc((size_t)n, sizeof **out);
    if (!*out)
        return sq_fail(e, "out of memory for %d labels", n);
    for (int i = 0; i < n; i++)
        (*out)[i] = lab[i];
    return 0;
}

int sq_idx_load(const char *images_path, const char *labels_path, int classes,
                sq_dataset *out, sq_err *e)
{
    uint32_t di[3], dl[3];
    uint8_t *img = NULL, *lab = NULL;
    int *labels = NULL;
    int rc = idx_read_file(images_path, IDX_IMAGES_MAGIC, 3, di, &img, e);
    if (!rc)
        rc = idx_read_file(labels_path, IDX_LABELS_MAGIC, 1, dl, &lab, e);
    if (!rc && di[0] != dl[0])
        rc = sq_fail(e, "%s holds %u images but %s holds %u labels; the counts must match "
                        "(files from different splits or datasets?)",
                     images_path, di[0], labels_path, dl[0]);
    if (!rc)
        rc = check_labels(labels_path, lab, dl[0], classes, e);
    if (!rc)
        rc = widen_labels(lab, (int)dl[0], &labels, e);
    sq_free(lab);
    if (rc) {
        sq_free(img);
        return -1;
    }
    out->n = (int)di[0];
    out->c = 1;
    out->h = (int)di[1];
    out->w = (int)di[2];
    out->classes = classes;
    out->images = img;
    out->labels = labels;
    return 0;
}
