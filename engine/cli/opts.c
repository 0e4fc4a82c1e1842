/* opts.c - see opts.h. */
#include "opts.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void opts_help(const opt *t, int n, const char *usage)
{
    printf("%s\n\nOptions:\n", usage);
    for (int i = 0; i < n; i++) {
        char lhs[64];
        snprintf(lhs, sizeof lhs, "--%s%s%s", t[i].name, t[i].type == OPT_FLAG ? "" : " ",
                 t[i].type == OPT_FLAG ? "" : (t[i].arg ? t[i].arg : "X"));
        printf("  %-24s %s\n", lhs, t[i].help);
    }
    printf("  %-24s %s\n", "--help", "show this help");
}

static int bad(const opt *o, const char *v, const char *why)
{
    fprintf(stderr, "symog: --%s %s: %s\n", o->name, v, why);
    return 2;
}

static int set(const opt *o, const char *v, void *ctx)
{
    char *end, msg[256];
    errno = 0;
    switch (o->type) {
    case OPT_STR:
        if (!*v)
            return bad(o, "''", "expected a non-empty value");
        if (strlen(v) >= o->cap) {
            snprintf(msg, sizeof msg, "too long (at most %zu characters)", o->cap - 1);
            return bad(o, v, msg);
        }
        memcpy(o->dst, v, strlen(v) + 1);
        return 0;
    case OPT_INT: {
        long x = strtol(v, &end, 10);
        if (errno || end == v || *end || x < o->min || x > o->max) {
            snprintf(msg, sizeof msg, "expected an integer in %.0f..%.0f", o->min, o->max);
            return bad(o, v, msg);
        }
        *(int *)o->dst = (int)x;
        return 0;
    }
    case OPT_U64: {
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || end == v || *end || v[0] == '-')
            return bad(o, v, "expected a non-negative integer");
        *(uint64_t *)o->dst = x;
        return 0;
    }
    case OPT_NUM: {
        double x = strtod(v, &end);
        if (errno || end == v || *end || !isfinite(x) || x < o->min || x > o->max) {
            snprintf(msg, sizeof msg, "expected a number in [%g, %g]", o->min, o->max);
            return bad(o, v, msg);
        }
        *(double *)o->dst = x;
        return 0;
    }
    case OPT_LIST:
        if (o->add(ctx, v, msg, sizeof msg))
            return bad(o, v, msg);
        return 0;
    }
    return bad(o, v, "internal: unknown option type");
}

int opts_parse(const opt *t, int n, int argc, char **argv, int first, const char *usage, void *ctx)
{
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            opts_help(t, n, usage);
            return 1;
        }
        if (strncmp(a, "--", 2)) {
            fprintf(stderr, "symog: unexpected argument '%s' (options start with --; see --help)\n", a);
            return 2;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const opt *o = NULL;
        for (int j = 0; j < n && !o; j++)
            if (strlen(t[j].name) == len && !strncmp(t[j].name, name, len))
                o = &t[j];
        if (!o) {
            fprintf(stderr, "symog: unknown option '%.*s'; valid options:", (int)len + 2, a);
            for (int j = 0; j < n; j++)
                fprintf(stderr, " --%s", t[j].name);
            fprintf(stderr, "\n");
            return 2;
        }
        if (o->type == OPT_FLAG) {
            if (eq)
                return bad(o, eq + 1, "takes no value");
            *(int *)o->dst = 1;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) {
            fprintf(stderr, "symog: --%s needs a value (%s)\n", o->name, o->arg ? o->arg : "X");
            return 2;
        }
        int rc = set(o, v, ctx);
        if (rc)
            return rc;
    }
    return 0;
}
