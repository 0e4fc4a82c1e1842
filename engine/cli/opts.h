/* opts.h - table-driven command-line options: parsing with range checks,
 * and --help text generated from the same table. */
#ifndef SQ_OPTS_H
#define SQ_OPTS_H

#include <stddef.h>

enum { OPT_STR, OPT_INT, OPT_NUM, OPT_FLAG, OPT_U64, OPT_LIST };

typedef struct opt {
    const char *name;  /* without the leading "--"                         */
    int type;
    void *dst;         /* char[cap], int, double, int (flag), uint64_t     */
    size_t cap;        /* OPT_STR: buffer size                             */
    double min, max;   /* OPT_INT / OPT_NUM: allowed range                  */
    const char *arg;   /* placeholder in help, e.g. "N"                    */
    const char *help;
    /* OPT_LIST: called for each occurrence (e.g. --q-opt k=v); 0 = ok */
    int (*add)(void *ctx, const char *value, char *err, size_t errlen);
} opt;

/* Parse argv[first..argc); returns 0, or prints a message naming the
 * option and the allowed values to stderr and returns 2. --help prints the
 * usage and returns 1. */
int opts_parse(const opt *t, int n, int argc, char **argv, int first, const char *usage,
               void *ctx);
void opts_help(const opt *t, int n, const char *usage);

#endif
