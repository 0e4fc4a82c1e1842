/* safetensors.c - the safetensors reader and writer (format in
 * safetensors.h). The header is parsed by a small strict JSON parser for the
 * subset the format uses: objects, arrays, strings with escapes and
 * non-negative integers. Nesting is fixed by the format (at most three
 * levels), so the parser needs no recursion. Every length, offset and size
 * from the file is checked before it is used. */
#define _POSIX_C_SOURCE 200809L
#include "io/safetensors.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/atomic.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c stores host bytes as little-endian; port it for big-endian hosts"
#endif

/* ---- dtypes ------------------------------------------------------------- */
static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4},
    {"I16", 2}, {"I8", 1},  {"U64", 8}, {"U32", 4},  {"U16", 2}, {"U8", 1},
    {"BOOL", 1},
};

size_t sq_st_dtype_size(const char *dtype)
{
    for (size_t i = 0; i < SQ_COUNT(dtypes); i++)
        if (strcmp(dtype, dtypes[i].name) == 0)
            return dtypes[i].size;
    return 0;
}

/* ---- UTF-8 validation (RFC 3629: no overlongs, no surrogates) ----------- */
/* Length of the valid sequence at s[0..n), or 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

static int utf8_valid(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(u + i, n - i);
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

/* ---- string builder for the header -------------------------------------- */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (n > SIZE_MAX - b->len - 1) {
        b->oom = 1;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap = cap > SIZE_MAX / 2 ? b->len + n + 1 : cap * 2;
        char *np = sq_malloc(cap);
        if (!np) {
            b->oom = 1;
            return;
        }
        if (b->p)
            memcpy(np, b->p, b->len);
        sq_free(b->p);
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_u64(sbuf *b, uint64_t v)
{
    char tmp[32];
    int k = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    sb_put(b, tmp, (size_t)k);
}

/* A JSON string literal: quotes, backslashes and control bytes escaped. */
static void sb_json_str(sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c;
            sb_put(b, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            sb_put(b, esc, 6);
        } else {
            sb_put(b, p, 1);
        }
    }
    sb_put(b, "\"", 1);
}

/* ---- writer ------------------------------------------------------------- */
static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* First duplicate among n strings (sorted copy of the pointers), or NULL.
 * *oom is set if the scratch array cannot be allocated. */
static const char *find_duplicate(const char **names, size_t n, int *oom)
{
    *oom = 0;
    if (n < 2)
        return NULL;
    const char **s = sq_calloc(n, sizeof *s);
    if (!s) {
        *oom = 1;
        return NULL;
    }
    memcpy(s, names, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_str_ptr);
    const char *dup = NULL;
    for (size_t i = 1; i < n && !dup; i++)
        if (strcmp(s[i - 1], s[i]) == 0)
            dup = s[i];
    sq_free(s);
    return dup;
}

/* Element count of a shape, or -1 on a negative dim or overflow. */
static int shape_bytes(const int64_t *shape, int ndim, size_t esize, uint64_t *bytes)
{
    uint64_t count = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0)
            return -1;
        uint64_t dim = (uint64_t)shape[d];
        if (dim && count > UINT64_MAX / dim)
            return -1;
        count *= dim;
    }
    if (count > UINT64_MAX / esize)
        return -1;
    *bytes = count * esize;
    return 0;
}

static int check_out_tensor(const char *path, const sq_st_tensor *t, sq_err *e)
{
    size_t nl = strnlen(t->name, SQ_ST_NAME_MAX);
    if (nl == SQ_ST_NAME_MAX)
        return sq_fail(e, "writing %s: a tensor name is not NUL-terminated within %d bytes", path,
                       SQ_ST_NAME_MAX);
    if (strcmp(t->name, "__metadata__") == 0 || !utf8_valid(t->name))
        return sq_fail(e, "writing %s: invalid tensor name '%s'", path, t->name);
    size_t esize = 0;
    if (strnlen(t->dtype, sizeof t->dtype) < sizeof t->dtype)
        esize = sq_st_dtype_size(t->dtype);
    if (!esize)
        return sq_fail(e, "writing %s: tensor '%s' has unknown dtype '%.8s'", path, t->name,
                       t->dtype);
    if (t->ndim < 0 || t->ndim > SQ_ST_MAX_DIMS)
        return sq_fail(e, "writing %s: tensor '%s' has %d dims (0..%d allowed)", path, t->name,
                       t->ndim, SQ_ST_MAX_DIMS);
    uint64_t bytes;
    if (shape_bytes(t->shape, t->ndim, esize, &bytes) != 0)
        return sq_fail(e, "writing %s: tensor '%s' has a negative or overflowing shape", path,
                       t->name);
    if (bytes != t->nbytes)
        return sq_fail(e, "writing %s: tensor '%s': shape and dtype give %llu bytes but nbytes is %zu",
                       path, t->name, (unsigned long long)bytes, t->nbytes);
    if (t->nbytes && !t->data)
        return sq_fail(e, "writing %s: tensor '%s' has no data", path, t->name);
    return 0;
}

static int check_out_meta(const char *path, const char *const *kv, size_t *count, sq_err *e)
{
    size_t n = 0;
    for (; kv && kv[n]; n += 2) {
        if (!kv[n + 1])
            return sq_fail(e, "writing %s: metadata key '%s' has no value", path, kv[n]);
        if (!utf8_valid(kv[n]) || !utf8_valid(kv[n + 1]))
            return sq_fail(e, "writing %s: metadata '%s' is not valid UTF-8", path, kv[n]);
    }
    *count = n / 2;
    return 0;
}

static int check_out_dups(const char *path, const sq_st_tensor *t, int n, const char *const *kv,
                          size_t nmeta, sq_err *e)
{
    size_t cnt = SQ_MAX((size_t)n, nmeta);
    const char **names = sq_calloc(cnt ? cnt : 1, sizeof *names);
    if (!names)
        return sq_fail(e, "writing %s: out of memory", path);
    int oom = 0, oom2 = 0;
    for (int i = 0; i < n; i++)
        names[i] = t[i].name;
    const char *dup = find_duplicate(names, (size_t)n, &oom);
    for (size_t i = 0; i < nmeta; i++)
        names[i] = kv[2 * i];
    const char *mdup = find_duplicate(names, nmeta, &oom2);
    sq_free(names);
    if (oom || oom2)
        return sq_fail(e, "writing %s: out of memory", path);
    if (dup)
        return sq_fail(e, "writing %s: duplicate tensor name '%s'", path, dup);
    if (mdup)
        return sq_fail(e, "writing %s: duplicate metadata key '%s'", path, mdup);
    return 0;
}

/* The JSON header, padded with spaces to a multiple of 8. */
static void build_header(sbuf *b, const sq_st_tensor *t, int n, const char *const *kv, size_t nmeta)
{
    sb_str(b, "{");
    if (nmeta) {
        sb_str(b, "\"__metadata__\":{");
        for (size_t i = 0; i < nmeta; i++) {
            if (i)
                sb_str(b, ",");
            sb_json_str(b, kv[2 * i]);
            sb_str(b, ":");
            sb_json_str(b, kv[2 * i + 1]);
        }
        sb_str(b, "}");
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        if (i || nmeta)
            sb_str(b, ",");
        sb_json_str(b, t[i].name);
        sb_str(b, ":{\"dtype\":");
        sb_json_str(b, t[i].dtype);
        sb_str(b, ",\"shape\":[");
        for (int d = 0; d < t[i].ndim; d++) {
            if (d)
                sb_str(b, ",");
            sb_u64(b, (uint64_t)t[i].shape[d]);
        }
        sb_str(b, "],\"data_offsets\":[");
        sb_u64(b, off);
        sb_str(b, ",");
        off += t[i].nbytes;
        sb_u64(b, off);
        sb_str(b, "]}");
    }
    sb_str(b, "}");
    while (!b->oom && b->len % 8)
        sb_str(b, " ");
}

static int write_body(FILE *fp, const sbuf *hdr, const sq_st_tensor *t, int n)
{
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)hdr->len >> (8 * i));
    if (fwrite(len8, 1, 8, fp) != 8 || fwrite(hdr->p, 1, hdr->len, fp) != hdr->len)
        return -1;
    for (int i = 0; i < n; i++)
        if (t[i].nbytes && fwrite(t[i].data, 1, t[i].nbytes, fp) != t[i].nbytes)
            return -1;
    return 0;
}

int sq_st_write(const char *path, const sq_st_tensor *t, int n, const char *const *meta_kv,
                sq_err *e)
{
    size_t nmeta = 0;
    if (n < 0 || (n > 0 && !t))
        return sq_fail(e, "writing %s: bad tensor list (n = %d)", path, n);
    for (int i = 0; i < n; i++)
        if (check_out_tensor(path, &t[i], e) != 0)
            return -1;
    uint64_t total = 0;
    for (int i = 0; i < n; i++) {
        if (t[i].nbytes > UINT64_MAX - total)
            return sq_fail(e, "writing %s: total data size overflows", path);
        total += t[i].nbytes;
    }
    if (check_out_meta(path, meta_kv, &nmeta, e) != 0 ||
        check_out_dups(path, t, n, meta_kv, nmeta, e) != 0)
        return -1;
    sbuf hdr = {0};
    build_header(&hdr, t, n, meta_kv, nmeta);
    if (hdr.oom) {
        sq_free(hdr.p);
        return sq_fail(e, "writing %s: out of memory building the header", path);
    }
    sq_afile *a = sq_afile_open(path, e);
    if (!a) {
        sq_free(hdr.p);
        return -1;
    }
    int bad = write_body(sq_afile_fp(a), &hdr, t, n);
    int err = errno;
    sq_free(hdr.p);
    if (bad) {
        sq_afile_abort(a);
        return sq_fail(e, "writing %s failed: %s", path, strerror(err));
    }
    return sq_afile_commit(a, e);
}

/* ---- strict JSON cursor ------------------------------------------------- */
typedef struct jcur {
    const unsigned char *s;
    size_t n, i;
    const char *file;
    sq_err *e;
} jcur;

static int jfail(jcur *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int jfail(jcur *c, const char *fmt, ...)
{
    char what[SQ_ERR_MSG];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return sq_fail(c->e, "%s: invalid JSON header at byte %zu: %s", c->file, c->i, what);
}

static void jws(jcur *c)
{
    while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\t' || c->s[c->i] == '\n' ||
                           c->s[c->i] == '\r'))
        c->i++;
}

/* Skip whitespace, then peek at the next byte (-1 at the end). */
static int jpeek(jcur *c)
{
    jws(c);
    return c->i < c->n ? c->s[c->i] : -1;
}

static int jexpect(jcur *c, char ch, const char *where)
{
    if (jpeek(c) != (unsigned char)ch) {
        if (c->i >= c->n)
            return jfail(c, "header ends where '%c' %s was expected", ch, where);
        return jfail(c, "expected '%c' %s", ch, where);
    }
    c->i++;
    return 0;
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Four hex digits at s[i..]; -1 if malformed or out of bounds. */
static long hex4(const unsigned char *s, size_t n, size_t i)
{
    if (i > n || n - i < 4)
        return -1;
    long v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(s[i + k]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

static size_t put_utf8(char *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A \uXXXX escape (with its surrogate pair) at c->i, which points at 'u'. */
static int junicode(jcur *c, char *out, size_t *olen)
{
    long hi = hex4(c->s, c->n, c->i + 1);
    if (hi < 0)
        return jfail(c, "bad \\u escape");
    c->i += 5;
    uint32_t cp = (uint32_t)hi;
    if (hi >= 0xDC00 && hi <= 0xDFFF)
        return jfail(c, "unpaired low surrogate in \\u escape");
    if (hi >= 0xD800 && hi <= 0xDBFF) {
        long lo = c->i + 1 < c->n && c->s[c->i] == '\\' && c->s[c->i + 1] == 'u'
                      ? hex4(c->s, c->n, c->i + 2)
                      : -1;
        if (lo < 0xDC00 || lo > 0xDFFF)
            return jfail(c, "unpaired high surrogate in \\u escape");
        c->i += 6;
        cp = 0x10000 + (((uint32_t)hi - 0xD800) << 10) + ((uint32_t)lo - 0xDC00);
    }
    if (cp == 0)
        return jfail(c, "\\u0000 (NUL) in a string is not supported");
    *olen += put_utf8(out + *olen, cp);
    return 0;
}

/* One escape sequence at c->i (just past the backslash). */
static int jescape(jcur *c, char *out, size_t *olen)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    if (c->i >= c->n)
        return jfail(c, "unterminated string");
    int ch = c->s[c->i];
    if (ch == 'u')
        return junicode(c, out, olen);
    const char *p = ch ? strchr(from, ch) : NULL;
    if (!p)
        return jfail(c, "bad escape '\\%c'", ch >= 0x20 && ch < 0x7F ? ch : '?');
    out[(*olen)++] = to[p - from];
    c->i++;
    return 0;
}

/* Bytes to the closing quote, skipping escapes; the cursor is just past the
 * opening quote. Returns -1 if the string is unterminated. */
static int jstr_extent(const jcur *c, size_t *end)
{
    for (size_t i = c->i; i < c->n; i++) {
        if (c->s[i] == '"') {
            *end = i;
            return 0;
        }
        if (c->s[i] == '\\')
            i++;
    }
    return -1;
}

/* A string literal, decoded into a fresh NUL-terminated sq_malloc block. The
 * decoded form is never longer than the literal, which bounds the buffer. */
static int jstring(jcur *c, char **out)
{
    *out = NULL;
    size_t end;
    if (jexpect(c, '"', "(a string)") != 0)
        return -1;
    if (jstr_extent(c, &end) != 0)
        return jfail(c, "unterminated string");
    char *o = sq_malloc(end - c->i + 1);
    if (!o)
        return sq_fail(c->e, "%s: out of memory reading the header", c->file);
    size_t olen = 0;
    while (c->i < end) {
        unsigned char ch = c->s[c->i];
        size_t k;
        int rc = 0;
        if (ch == '\\') {
            c->i++;
            rc = jescape(c, o, &olen);
        } else if (ch < 0x20) {
            rc = jfail(c, "raw control character 0x%02x in a string", ch);
        } else if (!(k = utf8_seq(c->s + c->i, end - c->i))) {
            rc = jfail(c, "invalid UTF-8 in a string");
        } else {
            memcpy(o + olen, c->s + c->i, k);
            olen += k;
            c->i += k;
        }
        if (rc != 0) {
            sq_free(o);
            return -1;
        }
    }
    o[olen] = '\0';
    c->i = end + 1;
    *out = o;
    return 0;
}

/* A non-negative integer without sign, fraction or exponent. */
static int juint(jcur *c, uint64_t *v)
{
    int ch = jpeek(c);
    if (ch == '-')
        return jfail(c, "negative numbers are not allowed here");
    if (ch < '0' || ch > '9')
        return jfail(c, "expected a non-negative integer");
    if (ch == '0' && c->i + 1 < c->n && c->s[c->i + 1] >= '0' && c->s[c->i + 1] <= '9')
        return jfail(c, "integer with a leading zero");
    uint64_t x = 0;
    while (c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9') {
        unsigned d = c->s[c->i] - '0';
        if (x > (UINT64_MAX - d) / 10)
            return jfail(c, "integer too large");
        x = x * 10 + d;
        c->i++;
    }
    if (c->i < c->n && (c->s[c->i] == '.' || c->s[c->i] == 'e' || c->s[c->i] == 'E'))
        return jfail(c, "only integers are allowed here");
    *v = x;
    return 0;
}

/* An array of at most max non-negative integers. */
static int juint_array(jcur *c, uint64_t *v, int max, int *count, const char *what)
{
    *count = 0;
    if (jexpect(c, '[', what) != 0)
        return -1;
    if (jpeek(c) == ']') {
        c->i++;
        return 0;
    }
    for (;;) {
        if (*count == max)
            return jfail(c, "%s has more than %d entries", what, max);
        if (juint(c, &v[(*count)++]) != 0)
            return -1;
        int ch = jpeek(c);
        if (ch != ',' && ch != ']')
            return jfail(c, "expected ',' or ']' in %s", what);
        c->i++;
        if (ch == ']')
            return 0;
    }
}

/* After a member value: ',' (more follow) -> 1, '}' (done) -> 0, else -1. */
static int jnext_member(jcur *c, const char *where)
{
    int ch = jpeek(c);
    if (ch == ',') {
        c->i++;
        return 1;
    }
    if (ch == '}') {
        c->i++;
        return 0;
    }
    return jfail(c, "expected ',' or '}' %s", where);
}

/* '{' then either '}' (returns 0: empty) or the first member (returns 1). */
static int jobject_open(jcur *c, const char *where)
{
    if (jexpect(c, '{', where) != 0)
        return -1;
    if (jpeek(c) == '}') {
        c->i++;
        return 0;
    }
    return 1;
}

/* ---- header model ------------------------------------------------------- */
typedef struct st_entry {
    uint64_t begin, end;
} st_entry;

typedef struct st_parse {
    jcur c;
    sq_st_file *f;
    st_entry *ent; /* parallel to f->t */
    int cap_t, cap_m;
    int seen_meta;
} st_parse;

static int grow_tensors(st_parse *p)
{
    if (p->f->n < p->cap_t)
        return 0;
    if (p->cap_t > INT32_MAX / 2)
        return sq_fail(p->c.e, "%s: too many tensors", p->c.file);
    int cap = p->cap_t ? p->cap_t * 2 : 16;
    sq_st_tensor *t = sq_calloc((size_t)cap, sizeof *t);
    st_entry *en = sq_calloc((size_t)cap, sizeof *en);
    if (!t || !en) {
        sq_free(t);
        sq_free(en);
        return sq_fail(p->c.e, "%s: out of memory reading the header", p->c.file);
    }
    if (p->f->n) {
        memcpy(t, p->f->t, (size_t)p->f->n * sizeof *t);
        memcpy(en, p->ent, (size_t)p->f->n * sizeof *en);
    }
    sq_free(p->f->t);
    sq_free(p->ent);
    p->f->t = t;
    p->ent = en;
    p->cap_t = cap;
    return 0;
}

static int grow_meta(st_parse *p)
{
    sq_st_file *f = p->f;
    if (f->n_meta < p->cap_m)
        return 0;
    if (p->cap_m > INT32_MAX / 2)
        return sq_fail(p->c.e, "%s: too many metadata entries", p->c.file);
    int cap = p->cap_m ? p->cap_m * 2 : 8;
    char **k = sq_calloc((size_t)cap, sizeof *k);
    char **v = sq_calloc((size_t)cap, sizeof *v);
    if (!k || !v) {
        sq_free(k);
        sq_free(v);
        return sq_fail(p->c.e, "%s: out of memory reading the header", p->c.file);
    }
    if (f->n_meta) {
        memcpy(k, f->meta_k, (size_t)f->n_meta * sizeof *k);
        memcpy(v, f->meta_v, (size_t)f->n_meta * sizeof *v);
    }
    sq_free(f->meta_k);
    sq_free(f->meta_v);
    f->meta_k = k;
    f->meta_v = v;
    p->cap_m = cap;
    return 0;
}

/* "__metadata__": {"k": "v", ...}, string values only. */
static int parse_meta(st_parse *p)
{
    jcur *c = &p->c;
    if (p->seen_meta)
        return jfail(c, "duplicate key '__metadata__'");
    p->seen_meta = 1;
    int more = jobject_open(c, "to open __metadata__");
    while (more > 0) {
        if (grow_meta(p) != 0)
            return -1;
        int m = p->f->n_meta;
        if (jstring(c, &p->f->meta_k[m]) != 0)
            return -1;
        p->f->n_meta++; /* owned from here, so sq_st_free releases it */
        if (jexpect(c, ':', "after a metadata key") != 0)
            return -1;
        if (jpeek(c) != '"')
            return jfail(c, "metadata value for '%s' must be a string", p->f->meta_k[m]);
        if (jstring(c, &p->f->meta_v[m]) != 0)
            return -1;
        more = jnext_member(c, "in __metadata__");
    }
    return more;
}

static int parse_dtype(jcur *c, sq_st_tensor *t)
{
    char *s;
    if (jpeek(c) != '"')
        return jfail(c, "tensor '%s': dtype must be a string", t->name);
    if (jstring(c, &s) != 0)
        return -1;
    int ok = strlen(s) < sizeof t->dtype && sq_st_dtype_size(s) != 0;
    if (ok)
        strcpy(t->dtype, s);
    else
        sq_fail(c->e, "%s: tensor '%s' has unknown dtype '%.32s'", c->file, t->name, s);
    sq_free(s);
    return ok ? 0 : -1;
}

static int parse_shape(jcur *c, sq_st_tensor *t)
{
    uint64_t dims[SQ_ST_MAX_DIMS];
    if (juint_array(c, dims, SQ_ST_MAX_DIMS, &t->ndim, "shape") != 0)
        return -1;
    for (int d = 0; d < t->ndim; d++) {
        if (dims[d] > (uint64_t)INT64_MAX)
            return jfail(c, "tensor '%s': shape entry too large", t->name);
        t->shape[d] = (int64_t)dims[d];
    }
    return 0;
}

static int parse_offsets(jcur *c, sq_st_tensor *t, st_entry *en)
{
    uint64_t v[2];
    int cnt;
    if (juint_array(c, v, 2, &cnt, "data_offsets") != 0)
        return -1;
    if (cnt != 2)
        return jfail(c, "tensor '%s': data_offsets must have exactly 2 entries", t->name);
    en->begin = v[0];
    en->end = v[1];
    return 0;
}

/* One field of a tensor entry; `have` tracks dtype/shape/offsets bits. */
static int parse_field(jcur *c, sq_st_tensor *t, st_entry *en, int *have)
{
    static const char *const fields[] = {"dtype", "shape", "data_offsets"};
    char *key;
    if (jstring(c, &key) != 0)
        return -1;
    int which = -1, rc = 0;
    for (int k = 0; k < 3; k++)
        if (strcmp(key, fields[k]) == 0)
            which = k;
    if (which < 0)
        rc = jfail(c, "tensor '%s': unknown field '%.64s'", t->name, key);
    else if (*have & (1 << which))
        rc = jfail(c, "tensor '%s': duplicate field '%s'", t->name, key);
    sq_free(key);
    if (rc != 0 || jexpect(c, ':', "after a field name") != 0)
        return -1;
    *have |= 1 << which;
    if (which == 0)
        return parse_dtype(c, t);
    if (which == 1)
        return parse_shape(c, t);
    return parse_offsets(c, t, en);
}

static int parse_tensor(st_parse *p, const char *name)
{
    jcur *c = &p->c;
    if (strlen(name) >= SQ_ST_NAME_MAX)
        return jfail(c, "tensor name longer than %d bytes", SQ_ST_NAME_MAX - 1);
    if (grow_tensors(p) != 0)
        return -1;
    sq_st_tensor *t = &p->f->t[p->f->n];
    st_entry *en = &p->ent[p->f->n];
    memset(t, 0, sizeof *t);
    strcpy(t->name, name);
    int have = 0;
    int more = jobject_open(c, "to open a tensor entry");
    while (more > 0) {
        if (parse_field(c, t, en, &have) != 0)
            return -1;
        more = jnext_member(c, "in a tensor entry");
    }
    if (more < 0)
        return -1;
    if (have != 7)
        return sq_fail(c->e, "%s: tensor '%s' is missing %s", c->file, name,
                       !(have & 1) ? "dtype" : !(have & 2) ? "shape" : "data_offsets");
    p->f->n++;
    return 0;
}

/* The top-level object: __metadata__ and tensor entries. */
static int parse_top(st_parse *p)
{
    jcur *c = &p->c;
    int more = jobject_open(c, "at the start of the header");
    while (more > 0) {
        char *key;
        if (jstring(c, &key) != 0)
            return -1;
        int rc = jexpect(c, ':', "after a tensor name");
        if (rc == 0)
            rc = strcmp(key, "__metadata__") == 0 ? parse_meta(p) : parse_tensor(p, key);
        sq_free(key);
        if (rc != 0)
            return -1;
        more = jnext_member(c, "between tensor entries");
    }
    if (more < 0)
        return -1;
    if (jpeek(c) != -1)
        return jfail(c, "trailing bytes after the JSON object (only spaces may pad it)");
    return 0;
}

/* ---- validation --------------------------------------------------------- */
static int check_sizes(st_parse *p, uint64_t data_len)
{
    sq_st_file *f = p->f;
    for (int i = 0; i < f->n; i++) {
        sq_st_tensor *t = &f->t[i];
        st_entry *en = &p->ent[i];
        uint64_t bytes;
        if (shape_bytes(t->shape, t->ndim, sq_st_dtype_size(t->dtype), &bytes) != 0)
            return sq_fail(p->c.e, "%s: tensor '%s': shape size overflows", p->c.file, t->name);
        if (en->end < en->begin)
            return sq_fail(p->c.e, "%s: tensor '%s': data_offsets [%llu, %llu] end before they begin",
                           p->c.file, t->name, (unsigned long long)en->begin,
                           (unsigned long long)en->end);
        if (en->end > data_len)
            return sq_fail(p->c.e,
                           "%s: tensor '%s': data_offsets end %llu is past the end of the data "
                           "section (%llu bytes; file truncated?)",
                           p->c.file, t->name, (unsigned long long)en->end,
                           (unsigned long long)data_len);
        if (bytes != en->end - en->begin)
            return sq_fail(p->c.e,
                           "%s: tensor '%s': size mismatch: shape and dtype %s give %llu bytes "
                           "but data_offsets span %llu",
                           p->c.file, t->name, t->dtype, (unsigned long long)bytes,
                           (unsigned long long)(en->end - en->begin));
        t->nbytes = (size_t)bytes;
    }
    return 0;
}

typedef struct st_span {
    uint64_t begin, end;
    int idx;
} st_span;

static int cmp_span(const void *a, const void *b)
{
    const st_span *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

/* Sorted by offset, each tensor must start where the previous one ended,
 * and the last must end at the end of the data section. */
static int check_tiling(st_parse *p, uint64_t data_len, const st_span *s)
{
    const char *file = p->c.file;
    uint64_t pos = 0;
    for (int k = 0; k < p->f->n; k++) {
        const char *name = p->f->t[s[k].idx].name;
        const char *prev = k ? p->f->t[s[k - 1].idx].name : "";
        if (s[k].begin < pos)
            return sq_fail(p->c.e, "%s: tensors '%s' and '%s' overlap (offset %llu < %llu)", file,
                           prev, name, (unsigned long long)s[k].begin, (unsigned long long)pos);
        if (s[k].begin > pos)
            return sq_fail(p->c.e,
                           "%s: gap in the data section before tensor '%s' (bytes %llu..%llu unused)",
                           file, name, (unsigned long long)pos, (unsigned long long)s[k].begin);
        pos = s[k].end;
    }
    if (pos != data_len)
        return sq_fail(p->c.e, "%s: data section is %llu bytes but the tensors cover %llu", file,
                       (unsigned long long)data_len, (unsigned long long)pos);
    return 0;
}

static int check_layout(st_parse *p, uint64_t data_len)
{
    int n = p->f->n;
    st_span *s = sq_calloc(n ? (size_t)n : 1, sizeof *s);
    if (!s)
        return sq_fail(p->c.e, "%s: out of memory validating the header", p->c.file);
    for (int i = 0; i < n; i++)
        s[i] = (st_span){p->ent[i].begin, p->ent[i].end, i};
    qsort(s, (size_t)n, sizeof *s, cmp_span);
    int rc = check_tiling(p, data_len, s);
    sq_free(s);
    return rc;
}

static int check_names(st_parse *p)
{
    sq_st_file *f = p->f;
    size_t cnt = (size_t)SQ_MAX(f->n, f->n_meta);
    const char **names = sq_calloc(cnt ? cnt : 1, sizeof *names);
    if (!names)
        return sq_fail(p->c.e, "%s: out of memory validating the header", p->c.file);
    int oom = 0, oom2 = 0;
    for (int i = 0; i < f->n; i++)
        names[i] = f->t[i].name;
    const char *dup = find_duplicate(names, (size_t)f->n, &oom);
    int rc = dup ? sq_fail(p->c.e, "%s: duplicate tensor name '%s'", p->c.file, dup) : 0;
    for (int i = 0; i < f->n_meta; i++)
        names[i] = f->meta_k[i];
    const char *mdup = rc ? NULL : find_duplicate(names, (size_t)f->n_meta, &oom2);
    if (mdup)
        rc = sq_fail(p->c.e, "%s: duplicate metadata key '%s'", p->c.file, mdup);
    sq_free(names);
    if (rc == 0 && (oom || oom2))
        rc = sq_fail(p->c.e, "%s: out of memory validating the header", p->c.file);
    return rc;
}

/* Parse and validate the header; fills f (without data) and *ent. */
static int parse_header(const char *file, const void *hdr, size_t hlen, uint64_t data_len,
                        sq_st_file *f, st_entry **ent, sq_err *e)
{
    st_parse p = {.c = {hdr, hlen, 0, file, e}, .f = f};
    int rc = parse_top(&p);
    if (rc == 0)
        rc = check_names(&p);
    if (rc == 0)
        rc = check_sizes(&p, data_len);
    if (rc == 0)
        rc = check_layout(&p, data_len);
    *ent = p.ent;
    return rc;
}

/* ---- reading ------------------------------------------------------------ */
static uint64_t le64(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | b[i];
    return v;
}

/* The header length from the first 8 bytes of a total-byte file. */
static int check_hlen(const char *file, uint64_t total, const unsigned char *len8, uint64_t *hlen,
                      sq_err *e)
{
    if (total < 8)
        return sq_fail(e, "%s: truncated: %llu bytes, too short for the 8-byte header length",
                       file, (unsigned long long)total);
    *hlen = le64(len8);
    if (*hlen > total - 8)
        return sq_fail(e, "%s: header length %llu runs past the end of the file (%llu bytes)", file,
                       (unsigned long long)*hlen, (unsigned long long)total);
    if (*hlen > SQ_ST_MAX_HEADER)
        return sq_fail(e, "%s: header length %llu is larger than the %u allowed", file,
                       (unsigned long long)*hlen, SQ_ST_MAX_HEADER);
    if (*hlen < 2)
        return sq_fail(e, "%s: header length %llu is too small for a JSON object", file,
                       (unsigned long long)*hlen);
    return 0;
}

/* Give every tensor its own data block. */
static int alloc_data(const char *file, sq_st_file *f, sq_err *e)
{
    for (int i = 0; i < f->n; i++) {
        f->t[i].data = sq_malloc(f->t[i].nbytes);
        if (!f->t[i].data)
            return sq_fail(e, "%s: out of memory for tensor '%s' (%zu bytes)", file, f->t[i].name,
                           f->t[i].nbytes);
    }
    return 0;
}

int sq_st_parse_named(const char *name, const void *buf, size_t len, sq_st_file *f, sq_err *e)
{
    memset(f, 0, sizeof *f);
    const unsigned char *b = buf;
    uint64_t hlen;
    st_entry *ent = NULL;
    if (!buf && len)
        return sq_fail(e, "%s: no buffer", name);
    if (check_hlen(name, len, b, &hlen, e) != 0)
        return -1;
    int rc = parse_header(name, b + 8, (size_t)hlen, len - 8 - hlen, f, &ent, e);
    if (rc == 0)
        rc = alloc_data(name, f, e);
    for (int i = 0; rc == 0 && i < f->n; i++)
        if (f->t[i].nbytes)
            memcpy(f->t[i].data, b + 8 + hlen + ent[i].begin, f->t[i].nbytes);
    sq_free(ent);
    if (rc != 0)
        sq_st_free(f);
    return rc;
}

int sq_st_parse(const void *buf, size_t len, sq_st_file *f, sq_err *e)
{
    return sq_st_parse_named("<memory>", buf, len, f, e);
}

/* Read the header bytes and hand them to parse_header. */
static int read_header(FILE *fp, const char *path, uint64_t total, uint64_t *hlen, sq_st_file *f,
                       st_entry **ent, sq_err *e)
{
    unsigned char len8[8] = {0};
    if (total >= 8 && fread(len8, 1, 8, fp) != 8)
        return sq_fail(e, "%s: read failed: %s", path, strerror(errno));
    if (check_hlen(path, total, len8, hlen, e) != 0)
        return -1;
    unsigned char *hdr = sq_malloc((size_t)*hlen);
    if (!hdr)
        return sq_fail(e, "%s: out of memory for a %llu-byte header", path,
                       (unsigned long long)*hlen);
    int rc = 0;
    if (fread(hdr, 1, (size_t)*hlen, fp) != *hlen)
        rc = sq_fail(e, "%s: truncated while reading the header", path);
    if (rc == 0)
        rc = parse_header(path, hdr, (size_t)*hlen, total - 8 - *hlen, f, ent, e);
    sq_free(hdr);
    return rc;
}

static int read_data(FILE *fp, const char *path, uint64_t hlen, sq_st_file *f,
                     const st_entry *ent, sq_err *e)
{
    for (int i = 0; i < f->n; i++) {
        sq_st_tensor *t = &f->t[i];
        if (!t->nbytes)
            continue;
        uint64_t off = 8 + hlen + ent[i].begin;
        if (off > (uint64_t)INT64_MAX || fseeko(fp, (off_t)off, SEEK_SET) != 0)
            return sq_fail(e, "%s: seek to tensor '%s' failed: %s", path, t->name, strerror(errno));
        if (fread(t->data, 1, t->nbytes, fp) != t->nbytes)
            return sq_fail(e, "%s: truncated while reading tensor '%s'", path, t->name);
    }
    return 0;
}

int sq_st_read(const char *path, sq_st_file *f, sq_err *e)
{
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return sq_fail(e, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    st_entry *ent = NULL;
    uint64_t hlen = 0;
    int rc = 0;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0)
        rc = sq_fail(e, "%s: not a regular file", path);
    if (rc == 0)
        rc = read_header(fp, path, (uint64_t)st.st_size, &hlen, f, &ent, e);
    if (rc == 0)
        rc = alloc_data(path, f, e);
    if (rc == 0)
        rc = read_data(fp, path, hlen, f, ent, e);
    sq_free(ent);
    fclose(fp);
    if (rc != 0)
        sq_st_free(f);
    return rc;
}

void sq_st_free(sq_st_file *f)
{
    if (!f)
        return;
    for (int i = 0; i < f->n; i++)
        sq_free(f->t[i].data);
    for (int i = 0; i < f->n_meta; i++) {
        sq_free(f->meta_k[i]);
        sq_free(f->meta_v[i]);
    }
    sq_free(f->t);
    sq_free(f->meta_k);
    sq_free(f->meta_v);
    memset(f, 0, sizeof *f);
}

const sq_st_tensor *sq_st_find(const sq_st_file *f, const char *name)
{
    for (int i = 0; f && i < f->n; i++)
        if (strcmp(f->t[i].name, name) == 0)
            return &f->t[i];
    return NULL;
}

const char *sq_st_meta(const sq_st_file *f, const char *key)
{
    for (int i = 0; f && i < f->n_meta; i++)
        if (strcmp(f->meta_k[i], key) == 0)
            return f->meta_v[i];
    return NULL;
}
