/* testutil.h - small helpers shared by the tests (cmocka is the runner). */
#ifndef SQ_TESTUTIL_H
#define SQ_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

/* A fresh temporary directory for a test; removed by tu_rmdir. */
static inline char *tu_tmpdir(void)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "/tmp/sqtest.XXXXXX");
    char *d = mkdtemp(buf);
    assert_non_null(d);
    return d;
}

static inline void tu_rmdir(const char *d)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
    assert_int_equal(system(cmd), 0);
}

static inline void tu_write(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* |a-b| <= atol + rtol*|b|, with a message naming what differs. */
#define tu_close(a, b, atol, rtol, what)                                                   \
    do {                                                                                   \
        double a_ = (a), b_ = (b);                                                         \
        if (!(fabs(a_ - b_) <= (atol) + (rtol)*fabs(b_))) {                                \
            print_error("%s: %.10g vs %.10g (diff %.3g)\n", (what), a_, b_, fabs(a_ - b_)); \
            fail();                                                                        \
        }                                                                                  \
    } while (0)

#endif
