/* fuzz_idx.c - libFuzzer target for the IDX reader (MNIST, Fashion-MNIST;
 * raw and gzip): sq_idx_load on an image file and a label file cut from
 * one input.
 *
 * Input: u16 split (little-endian), then the bytes; the first
 * split % (rest + 1) bytes are the images file, the others the labels file.
 * Either may be gzip: zlib reads both kinds. A loaded dataset must be
 * consistent with what the reader promises (shapes, label range). */
#include "fuzz.h"

#include "data/data.h"

FUZZ_TARGET(idx)
{
    if (size < 2)
        return 0;
    size_t rest = size - 2, cut = fuzz_u16(data) % (rest + 1);
    char pi[64], pl[64];
    int fi = fuzz_memfile(data + 2, cut, pi);
    int fl = fuzz_memfile(data + 2 + cut, rest - cut, pl);
    fuzz_begin();
    sq_dataset d;
    memset(&d, 0, sizeof d);
    sq_err e = {{0}};
    if (sq_idx_load(pi, pl, 10, &d, &e) == 0) {
        FUZZ_CHECK(d.n >= 1 && d.c == 1 && d.h >= 1 && d.w >= 1 && d.classes == 10);
        FUZZ_CHECK(d.images && d.labels);
        unsigned sum = 0;
        for (size_t i = 0; i < (size_t)d.n * d.h * d.w; i++) /* every byte is readable */
            sum += d.images[i];
        (void)sum;
        for (int i = 0; i < d.n; i++)
            FUZZ_CHECK(d.labels[i] >= 0 && d.labels[i] < 10);
        sq_dataset_free(&d);
    } else {
        FUZZ_CHECK(e.msg[0] != '\0'); /* every failure says why */
        FUZZ_CHECK(!d.images && !d.labels);
    }
    fuzz_end();
    close(fi);
    close(fl);
    return 0;
}
