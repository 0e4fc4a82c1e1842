/* fuzz.h - what the libFuzzer targets in tests/fuzz/ share, and how the same
 * targets are replayed by tests/test_fuzz.c under `make test`.
 *
 * A target is written once:
 *     FUZZ_TARGET(idx) { ... uses data, size; returns 0 ... }
 * Built by `make fuzz` (clang, -DFUZZ_LIBFUZZER) it becomes
 * LLVMFuzzerTestOneInput; included by tests/test_fuzz.c it is the static
 * function fuzz_idx, which the replay test runs over the committed corpus
 * and over every input that once crashed (tests/fuzz/regress/<target>/).
 *
 * Every target checks, besides "no crash, no sanitizer report", that the
 * engine's allocations balance: it installs a counting allocator through
 * sq_set_allocator, so an engine leak is caught even without LeakSanitizer. */
#ifndef SQ_FUZZ_H
#define SQ_FUZZ_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sq.h"

#ifdef FUZZ_LIBFUZZER
#define FUZZ_TARGET(name)                                                   \
    static int fuzz_##name(const uint8_t *data, size_t size);              \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);          \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)           \
    {                                                                       \
        return fuzz_##name(data, size);                                     \
    }                                                                       \
    static int fuzz_##name(const uint8_t *data, size_t size)
#else
#define FUZZ_TARGET(name) static int fuzz_##name(const uint8_t *data, size_t size)
#endif

/* A broken invariant: say which and abort, so libFuzzer keeps the input. */
#define FUZZ_CHECK(cond)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, \
                    __LINE__, #cond);                                       \
            abort();                                                        \
        }                                                                   \
    } while (0)

/* ---- a counting allocator: live blocks must be 0 after every input ---- */
static long fuzz_live;
static void *fuzz_count_alloc(void *ud, size_t n)
{
    (void)ud;
    void *p = malloc(n);
    fuzz_live += p != NULL;
    return p;
}
static void fuzz_count_release(void *ud, void *p)
{
    (void)ud;
    fuzz_live -= p != NULL;
    free(p);
}
static inline void fuzz_begin(void)
{
    static const sq_allocator a = {fuzz_count_alloc, fuzz_count_release, NULL};
    sq_set_allocator(&a);
    fuzz_live = 0;
}
static inline void fuzz_end(void)
{
    if (fuzz_live != 0) {
        fprintf(stderr, "fuzz: %ld engine allocation(s) leaked\n", fuzz_live);
        abort();
    }
    sq_set_allocator(NULL);
}

/* ---- in-memory files for readers that take a path --------------------- */
/* An anonymous memory file holding data[0..n); path gets a name that
 * open()/stat() accept (/proc/self/fd/N). Returns the fd (close it), or -1. */
static inline int fuzz_memfile(const void *data, size_t n, char path[64])
{
    int fd = memfd_create("fuzz", MFD_CLOEXEC);
    if (fd < 0) {
        perror("memfd_create");
        abort();
    }
    const char *p = data;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) {
            perror("write to memfd");
            abort();
        }
        p += w, n -= (size_t)w;
    }
    snprintf(path, 64, "/proc/self/fd/%d", fd);
    return fd;
}

/* Little-endian u16 from the input, for splitting it into parts. */
static inline size_t fuzz_u16(const uint8_t *p) { return (size_t)p[0] | (size_t)p[1] << 8; }

#endif
