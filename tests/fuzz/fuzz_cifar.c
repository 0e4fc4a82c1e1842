/* fuzz_cifar.c - libFuzzer target for the CIFAR-10/100 binary reader:
 * sq_cifar_load on one or two files cut from one input.
 *
 * Input: a flags byte (bit 0: CIFAR-100 layout, 2 label bytes and 100
 * classes; bit 1: two files), u16 split, then the bytes; with two files the
 * first split % (rest + 1) bytes are file 1. A loaded dataset must have
 * every label in range and 3x32x32 images. */
#include "fuzz.h"

#include "data/data.h"

FUZZ_TARGET(cifar)
{
    if (size < 3)
        return 0;
    int c100 = data[0] & 1, two = data[0] >> 1 & 1;
    int label_bytes = c100 ? 2 : 1, classes = c100 ? 100 : 10;
    size_t rest = size - 3, cut = two ? fuzz_u16(data + 1) % (rest + 1) : rest;
    char p1[64], p2[64];
    int f1 = fuzz_memfile(data + 3, cut, p1);
    int f2 = fuzz_memfile(data + 3 + cut, rest - cut, p2);
    const char *paths[2] = {p1, p2};
    fuzz_begin();
    sq_dataset d;
    memset(&d, 0, sizeof d);
    sq_err e = {{0}};
    if (sq_cifar_load(paths, two ? 2 : 1, label_bytes, classes, &d, &e) == 0) {
        FUZZ_CHECK(d.n >= 1 && d.c == 3 && d.h == 32 && d.w == 32 && d.classes == classes);
        FUZZ_CHECK((size_t)d.n * (3072 + label_bytes) == rest);
        for (int i = 0; i < d.n; i++)
            FUZZ_CHECK(d.labels[i] >= 0 && d.labels[i] < classes);
        sq_dataset_free(&d);
    } else {
        FUZZ_CHECK(e.msg[0] != '\0');
    }
    fuzz_end();
    close(f1);
    close(f2);
    return 0;
}
