/* cifar.c - reader for the binary versions of CIFAR-10 and CIFAR-100:
 * fixed-size records of label byte(s) followed by a 3x32x32 CHW image.
 * Checks every file's size and every label before trusting the data. */
#include "data/data.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define CIFAR_PIXELS 3072 /* 3 x 32 x 32 */
#define CIFAR_MAX_LABEL_BYTES 2

/* Number of records in one file, from its size. */
static int count_records(const char *path, int label_bytes, long long *count, sq_err *e)
{
    struct stat st;
    long long rec = label_bytes + CIFAR_PIXELS;
    if (stat(path, &st) != 0)
        return sq_fail(e, "%s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return sq_fail(e, "%s: not a regular file; put the CIFAR .bin file there", path);
    if (st.st_size == 0)
        return sq_fail(e, "%s: the file is empty (0 bytes); re-download the dataset", path);
    if (st.st_size % rec != 0)
        return sq_fail(e, "%s: size %lld bytes is not a multiple of the %lld-byte record "
                          "(%d label byte(s) + %d pixels); the file is truncated or not this "
                          "CIFAR binary format, re-download it",
                       path, (long long)st.st_size, rec, label_bytes, CIFAR_PIXELS);
    *count = st.st_size / rec;
    return 0;
}

/* Read n records of one file into images/labels (already sized for them). */
static int read_file(const char *path, long long n, int label_bytes, int classes,
                     uint8_t *images, int *labels, sq_err *e)
{
    uint8_t rec[CIFAR_MAX_LABEL_BYTES + CIFAR_PIXELS];
    size_t rsize = (size_t)label_bytes + CIFAR_PIXELS;
    FILE *f = fopen(path, "rb");
    if (!f)
        return sq_fail(e, "%s: cannot open: %s", path, strerror(errno));
    int rc = 0;
    for (long long i = 0; i < n && !rc; i++) {
        if (fread(rec, 1, rsize, f) != rsize) {
            rc = sq_fail(e, "%s: truncated at record %lld of %lld (the file changed while "
                            "being read?)", path, i, n);
        } else if (rec[label_bytes - 1] >= classes) {
            rc = sq_fail(e, "%s: label %u of record %lld is out of range (%d classes, 0..%d); "
                            "the file is corrupt or from another dataset",
                         path, rec[label_bytes - 1], i, classes, classes - 1);
        } else {
            labels[i] = rec[label_bytes - 1];
            memcpy(images + (size_t)i * CIFAR_PIXELS, rec + label_bytes, CIFAR_PIXELS);
        }
    }
    fclose(f);
    return rc;
}

int sq_cifar_load(const char *const *paths, int npaths, int label_bytes, int classes,
                  sq_dataset *out, sq_err *e)
{
    long long counts[16], total = 0;
    if (npaths < 1 || npaths > (int)SQ_COUNT(counts) || label_bytes < 1 ||
        label_bytes > CIFAR_MAX_LABEL_BYTES)
        return sq_fail(e, "sq_cifar_load: %d files with %d label bytes; expected 1..16 files "
                          "and 1..2 label bytes (a bug in the caller)", npaths, label_bytes);
    for (int i = 0; i < npaths; i++) {
        if (count_records(paths[i], label_bytes, &counts[i], e))
            return -1;
        total += counts[i];
    }
    if (total > 100000000)
        return sq_fail(e, "%s: %lld CIFAR records in all, more than this reader accepts (10^8)",
                       paths[0], total);
    uint8_t *images = sq_malloc((size_t)total * CIFAR_PIXELS);
    int *labels = sq_calloc((size_t)total, sizeof *labels);
    if (!images || !labels) {
        sq_free(images);
        sq_free(labels);
        return sq_fail(e, "%s: out of memory for %lld CIFAR images", paths[0], total);
    }
    long long at = 0;
    for (int i = 0; i < npaths; i++) {
        if (read_file(paths[i], counts[i], label_bytes, classes,
                      images + (size_t)at * CIFAR_PIXELS, labels + at, e)) {
            sq_free(images);
            sq_free(labels);
            return -1;
        }
        at += counts[i];
    }
    out->n = (int)total;
    out->c = 3;
    out->h = out->w = 32;
    out->classes = classes;
    out->images = images;
    out->labels = labels;
    return 0;
}
