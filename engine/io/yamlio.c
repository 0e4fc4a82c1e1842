/* yamlio.c - the YAML writer (libyaml emitter, atomic commit) and the
 * flattening reader (libyaml event parser, no recursion, depth-limited).
 * See yamlio.h for the contract. */
#define _POSIX_C_SOURCE 200809L
#include "io/yamlio.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "io/atomic.h"

#define YAML_MAX_FILE (64u << 20) /* config files are small; refuse huge ones */

/* ---- number formatting --------------------------------------------------- */
/* Make a %g result read as a float in YAML 1.1 too: "5" -> "5.0",
 * "1e-05" -> "1.0e-05" (PyYAML needs the dot). */
static void floatify(char *buf, size_t cap)
{
    if (strpbrk(buf, ".ni")) /* has a dot, or is nan/inf */
        return;
    size_t len = strlen(buf);
    char *ex = strchr(buf, 'e');
    size_t at = ex ? (size_t)(ex - buf) : len;
    if (len + 3 > cap)
        return;
    memmove(buf + at + 2, buf + at, len - at + 1);
    buf[at] = '.';
    buf[at + 1] = '0';
}

static int fmt_special(char *buf, size_t cap, double v)
{
    if (isnan(v))
        snprintf(buf, cap, ".nan");
    else if (isinf(v))
        snprintf(buf, cap, v > 0 ? ".inf" : "-.inf");
    else
        return 0;
    return 1;
}

/* %g switches to an exponent when the decimal exponent X >= precision;
 * for moderate X write the same digits positionally ("1e+02" -> "100"). */
static void positional(char *buf, size_t cap, double v, int max_x)
{
    const char *ex = strchr(buf, 'e');
    if (!ex)
        return;
    int x = atoi(ex + 1);
    if (x >= 0 && x < max_x)
        snprintf(buf, cap, "%.*g", x + 1, v);
}

void sq_yaml_fmt_num(char *buf, size_t cap, double v)
{
    if (fmt_special(buf, cap, v))
        return;
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    positional(buf, cap, v, 17);
    floatify(buf, cap);
}

void sq_yaml_fmt_float(char *buf, size_t cap, float v)
{
    if (fmt_special(buf, cap, v))
        return;
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, cap, "%.*g", prec, (double)v);
        if (strtof(buf, NULL) == v)
            break;
    }
    positional(buf, cap, v, 9);
    floatify(buf, cap);
}

/* ---- writer -------------------------------------------------------------- */
typedef struct ylevel {
    char kind;   /* 'm' mapping, 's' sequence */
    char **keys; /* keys so far (mappings), to refuse duplicates */
    int nkeys, cap;
} ylevel;

struct sq_yw {
    sq_afile *af;
    yaml_emitter_t em;
    int em_ready;
    ylevel lv[SQ_YAML_MAX_DEPTH];
    int depth;
    int failed;
    sq_err err;
};

static int wfail(sq_yw *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int wfail(sq_yw *w, const char *fmt, ...)
{
    if (w->failed)
        return -1;
    char what[SQ_ERR_MSG];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    w->failed = 1;
    return sq_fail(&w->err, "writing %s: %s", sq_afile_path(w->af), what);
}

static int emit(sq_yw *w, yaml_event_t *ev)
{
    if (yaml_emitter_emit(&w->em, ev))
        return 0;
    return wfail(w, "YAML emitter: %s", w->em.problem ? w->em.problem : "write error");
}

static int emit_scalar(sq_yw *w, const char *s, yaml_scalar_style_t style)
{
    yaml_event_t ev;
    if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, -1, 1, 1, style))
        return wfail(w, "cannot emit '%.64s' (not valid UTF-8?)", s);
    return emit(w, &ev);
}

static int is_word(const char *s, const char *const *words)
{
    for (; *words; words++)
        if (strcmp(s, *words) == 0)
            return 1;
    return 0;
}

/* Would a YAML 1.1 reader resolve this plain scalar to a non-string? */
static int needs_quotes(const char *s)
{
    static const char *const words[] = {
        "y",   "Y",   "yes",  "Yes",  "YES",  "n",     "N",     "no",    "No",   "NO",
        "true", "True", "TRUE", "false", "False", "FALSE", "on",   "On",   "ON",   "off",
        "Off", "OFF", "null", "Null", "NULL", "~",     "<<",    "=",     NULL};
    if (!*s || is_word(s, words))
        return 1;
    const char *p = s + (*s == '+' || *s == '-'); /* numbers, .inf, .nan */
    return (*p >= '0' && *p <= '9') || *p == '.';
}

static int add_key(sq_yw *w, ylevel *lv, const char *key)
{
    for (int i = 0; i < lv->nkeys; i++)
        if (strcmp(lv->keys[i], key) == 0)
            return wfail(w, "duplicate key '%.200s'", key);
    if (lv->nkeys == lv->cap) {
        int cap = lv->cap ? lv->cap * 2 : 8;
        char **k = cap > 0 && cap < INT_MAX / 2 ? sq_calloc((size_t)cap, sizeof *k) : NULL;
        if (!k)
            return wfail(w, "out of memory");
        if (lv->nkeys)
            memcpy(k, lv->keys, (size_t)lv->nkeys * sizeof *k);
        sq_free(lv->keys);
        lv->keys = k;
        lv->cap = cap;
    }
    if (!(lv->keys[lv->nkeys] = sq_strdup(key)))
        return wfail(w, "out of memory");
    lv->nkeys++;
    return 0;
}

/* Check the key against the enclosing container and emit it if needed. */
static int place(sq_yw *w, const char *key)
{
    if (!w || w->failed)
        return -1;
    if (w->depth == 0)
        return wfail(w, "value after the document was closed");
    ylevel *lv = &w->lv[w->depth - 1];
    if (lv->kind == 's') {
        if (key)
            return wfail(w, "key '%.200s' given inside a sequence (use NULL)", key);
        return 0;
    }
    if (!key)
        return wfail(w, "a value inside a mapping needs a key");
    if (add_key(w, lv, key) != 0)
        return -1;
    return emit_scalar(w, key, needs_quotes(key) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE
                                                 : YAML_ANY_SCALAR_STYLE);
}

static void put_plain(sq_yw *w, const char *key, const char *text)
{
    if (place(w, key) == 0)
        emit_scalar(w, text, YAML_PLAIN_SCALAR_STYLE);
}

void sq_yw_str(sq_yw *w, const char *key, const char *value)
{
    if (w && !w->failed && !value) {
        wfail(w, "NULL string for key '%.200s'", key ? key : "(item)");
        return;
    }
    if (place(w, key) == 0)
        emit_scalar(w, value, needs_quotes(value) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE
                                                  : YAML_ANY_SCALAR_STYLE);
}

void sq_yw_int(sq_yw *w, const char *key, long long value)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", value);
    put_plain(w, key, buf);
}

void sq_yw_num(sq_yw *w, const char *key, double value)
{
    char buf[48];
    sq_yaml_fmt_num(buf, sizeof buf, value);
    put_plain(w, key, buf);
}

void sq_yw_float(sq_yw *w, const char *key, float value)
{
    char buf[48];
    sq_yaml_fmt_float(buf, sizeof buf, value);
    put_plain(w, key, buf);
}

void sq_yw_bool(sq_yw *w, const char *key, int value) { put_plain(w, key, value ? "true" : "false"); }
void sq_yw_null(sq_yw *w, const char *key) { put_plain(w, key, "null"); }

/* Emit a block mapping/sequence start and open a level for it. */
static void open_level(sq_yw *w, char kind)
{
    if (w->depth == SQ_YAML_MAX_DEPTH) {
        wfail(w, "nesting deeper than %d", SQ_YAML_MAX_DEPTH);
        return;
    }
    yaml_event_t ev;
    int ok = kind == 'm'
                 ? yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE)
                 : yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
                                                        YAML_BLOCK_SEQUENCE_STYLE);
    if (!ok) {
        wfail(w, "out of memory");
        return;
    }
    if (emit(w, &ev) != 0)
        return;
    w->lv[w->depth++] = (ylevel){.kind = kind};
}

static void push(sq_yw *w, const char *key, char kind)
{
    if (place(w, key) == 0)
        open_level(w, kind);
}

static void level_free(ylevel *lv)
{
    for (int i = 0; i < lv->nkeys; i++)
        sq_free(lv->keys[i]);
    sq_free(lv->keys);
    *lv = (ylevel){0};
}

static void pop(sq_yw *w, char kind)
{
    if (!w || w->failed)
        return;
    if (w->depth <= 1 || w->lv[w->depth - 1].kind != kind) {
        wfail(w, "%s_end without a matching %s_begin", kind == 'm' ? "map" : "seq",
              kind == 'm' ? "map" : "seq");
        return;
    }
    yaml_event_t ev;
    int ok = kind == 'm' ? yaml_mapping_end_event_initialize(&ev)
                         : yaml_sequence_end_event_initialize(&ev);
    if (!ok || emit(w, &ev) != 0) {
        wfail(w, "out of memory");
        return;
    }
    level_free(&w->lv[--w->depth]);
}

void sq_yw_map_begin(sq_yw *w, const char *key) { push(w, key, 'm'); }
void sq_yw_map_end(sq_yw *w) { pop(w, 'm'); }
void sq_yw_seq_begin(sq_yw *w, const char *key) { push(w, key, 's'); }
void sq_yw_seq_end(sq_yw *w) { pop(w, 's'); }
int sq_yw_failed(const sq_yw *w) { return !w || w->failed; }

/* Stream start, implicit document start, the root block mapping. */
static void begin_document(sq_yw *w)
{
    yaml_event_t ev;
    yaml_emitter_set_output_file(&w->em, sq_afile_fp(w->af));
    yaml_emitter_set_unicode(&w->em, 1);
    yaml_emitter_set_width(&w->em, -1);
    yaml_emitter_set_indent(&w->em, 2);
    if (!yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) || emit(w, &ev) != 0 ||
        !yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) || emit(w, &ev) != 0) {
        wfail(w, "cannot start the YAML document");
        return;
    }
    open_level(w, 'm');
}

sq_yw *sq_yw_open(const char *path, sq_err *e)
{
    sq_yw *w = sq_calloc(1, sizeof *w);
    if (!w) {
        sq_fail(e, "writing %s: out of memory", path);
        return NULL;
    }
    w->af = sq_afile_open(path, e);
    if (!w->af) {
        sq_free(w);
        return NULL;
    }
    if (!yaml_emitter_initialize(&w->em)) {
        sq_afile_abort(w->af);
        sq_free(w);
        sq_fail(e, "writing %s: cannot initialise the YAML emitter", path);
        return NULL;
    }
    w->em_ready = 1;
    begin_document(w);
    if (w->failed) {
        if (e)
            *e = w->err;
        sq_yw_abort(w);
        return NULL;
    }
    return w;
}

static void yw_free(sq_yw *w)
{
    for (int i = 0; i < SQ_YAML_MAX_DEPTH; i++)
        level_free(&w->lv[i]);
    if (w->em_ready)
        yaml_emitter_delete(&w->em);
    sq_free(w);
}

void sq_yw_abort(sq_yw *w)
{
    if (!w)
        return;
    if (w->em_ready) { /* the emitter may still hold buffered output */
        yaml_emitter_delete(&w->em);
        w->em_ready = 0;
    }
    sq_afile_abort(w->af);
    yw_free(w);
}

static void end_document(sq_yw *w)
{
    yaml_event_t ev;
    if (w->depth != 1) {
        wfail(w, "%d map/seq still open at close", w->depth - 1);
        return;
    }
    if (!yaml_mapping_end_event_initialize(&ev) || emit(w, &ev) != 0 ||
        !yaml_document_end_event_initialize(&ev, 1) || emit(w, &ev) != 0 ||
        !yaml_stream_end_event_initialize(&ev) || emit(w, &ev) != 0) {
        wfail(w, "cannot finish the YAML document");
        return;
    }
    if (!yaml_emitter_flush(&w->em))
        wfail(w, "YAML emitter flush: %s", w->em.problem ? w->em.problem : "write error");
}

int sq_yw_close(sq_yw *w, sq_err *e)
{
    if (!w)
        return sq_fail(e, "sq_yw_close: no writer (open failed?)");
    if (!w->failed)
        end_document(w);
    if (w->failed) {
        if (e)
            *e = w->err;
        sq_yw_abort(w);
        return -1;
    }
    yaml_emitter_delete(&w->em);
    w->em_ready = 0;
    sq_afile *af = w->af;
    yw_free(w);
    return sq_afile_commit(af, e);
}

/* ---- reader -------------------------------------------------------------- */
typedef struct yframe {
    char kind;   /* 'm' or 's' */
    char *path;  /* this container's own path ("" for the root) */
    long idx;    /* next sequence index */
    char *key;   /* pending mapping key, or NULL when a key is expected */
    int key_line;
} yframe;

typedef struct yload {
    const char *name;
    sq_err *e;
    yframe st[SQ_YAML_MAX_DEPTH];
    int depth;
    sq_ykv *kv; /* every path seen; val NULL for containers (dropped later) */
    int n, cap;
    int docs, done;
} yload;

static int yfail(yload *L, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int yfail(yload *L, int line, const char *fmt, ...)
{
    char what[SQ_ERR_MSG];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return sq_fail(L->e, "%s:%d: %s", L->name, line, what);
}

static int ev_line(const yaml_event_t *ev)
{
    size_t l = ev->start_mark.line + 1;
    return l > INT_MAX ? INT_MAX : (int)l;
}

/* Append (path, val, line); takes ownership of path and val. */
static int add_kv(yload *L, char *path, char *val, int line)
{
    if (L->n == L->cap) {
        int cap = L->cap ? L->cap * 2 : 32;
        sq_ykv *nk = L->cap < INT_MAX / 4 ? sq_calloc((size_t)cap, sizeof *nk) : NULL;
        if (!nk) {
            sq_free(path);
            sq_free(val);
            return yfail(L, line, "out of memory");
        }
        if (L->n)
            memcpy(nk, L->kv, (size_t)L->n * sizeof *nk);
        sq_free(L->kv);
        L->kv = nk;
        L->cap = cap;
    }
    L->kv[L->n++] = (sq_ykv){path, val, line};
    return 0;
}

/* A scalar's text as a fresh C string; NUL bytes inside are refused. */
static char *scalar_dup(yload *L, const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    if (memchr(v, '\0', len)) {
        yfail(L, ev_line(ev), "scalar contains a NUL character");
        return NULL;
    }
    char *s = sq_malloc(len + 1);
    if (!s) {
        yfail(L, ev_line(ev), "out of memory");
        return NULL;
    }
    memcpy(s, v, len);
    s[len] = '\0';
    return s;
}

/* The path of the next child of the top frame (consumes a pending key). */
static char *child_path(yload *L, int line)
{
    yframe *f = &L->st[L->depth - 1];
    char idx[32];
    const char *leaf = f->key;
    if (f->kind == 's') {
        snprintf(idx, sizeof idx, "%ld", f->idx++);
        leaf = idx;
    }
    size_t pl = strlen(f->path), ll = strlen(leaf);
    if (pl + 1 + ll >= SQ_YAML_MAX_PATH) {
        yfail(L, line, "key path longer than %d bytes", SQ_YAML_MAX_PATH);
        return NULL;
    }
    char *p = sq_malloc(pl + ll + 2);
    if (!p) {
        yfail(L, line, "out of memory");
        return NULL;
    }
    if (pl)
        snprintf(p, pl + ll + 2, "%s.%s", f->path, leaf);
    else
        memcpy(p, leaf, ll + 1);
    sq_free(f->key);
    f->key = NULL;
    return p;
}

static int on_scalar(yload *L, const yaml_event_t *ev)
{
    int line = ev_line(ev);
    if (ev->data.scalar.anchor)
        return yfail(L, line, "anchors are not supported");
    if (L->depth == 0) {
        if (ev->data.scalar.length == 0 && ev->data.scalar.plain_implicit)
            return 0; /* an empty document */
        return yfail(L, line, "the top level must be a mapping, not a scalar");
    }
    yframe *f = &L->st[L->depth - 1];
    if (f->kind == 'm' && !f->key) {
        f->key = scalar_dup(L, ev);
        f->key_line = line;
        return f->key ? 0 : -1;
    }
    char *path = child_path(L, line);
    if (!path)
        return -1;
    char *val = scalar_dup(L, ev);
    if (!val) {
        sq_free(path);
        return -1;
    }
    return add_kv(L, path, val, line);
}

static int push_frame(yload *L, char kind, char *path, int line)
{
    if (L->depth == SQ_YAML_MAX_DEPTH) {
        sq_free(path);
        return yfail(L, line, "nesting deeper than %d levels", SQ_YAML_MAX_DEPTH);
    }
    L->st[L->depth++] = (yframe){.kind = kind, .path = path};
    return 0;
}

static int on_container_start(yload *L, const yaml_event_t *ev, char kind)
{
    int line = ev_line(ev);
    const yaml_char_t *anchor =
        kind == 'm' ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
    if (anchor)
        return yfail(L, line, "anchors are not supported");
    if (L->depth == 0) {
        if (kind != 'm')
            return yfail(L, line, "the top level must be a mapping, not a sequence");
        char *root = sq_strdup("");
        return root ? push_frame(L, 'm', root, line) : yfail(L, line, "out of memory");
    }
    yframe *f = &L->st[L->depth - 1];
    if (f->kind == 'm' && !f->key)
        return yfail(L, line, "mapping keys must be scalars");
    char *path = child_path(L, line);
    if (!path)
        return -1;
    char *copy = sq_strdup(path);
    if (!copy) {
        sq_free(path);
        return yfail(L, line, "out of memory");
    }
    int key_line = f->kind == 'm' ? f->key_line : line;
    if (add_kv(L, copy, NULL, key_line) != 0) { /* recorded to catch duplicate keys */
        sq_free(path);
        return -1;
    }
    return push_frame(L, kind, path, line);
}

static void pop_frame(yload *L)
{
    yframe *f = &L->st[--L->depth];
    sq_free(f->path);
    sq_free(f->key);
    *f = (yframe){0};
}

static int on_event(yload *L, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_STREAM_END_EVENT:
        L->done = 1;
        return 0;
    case YAML_DOCUMENT_START_EVENT:
        if (L->docs++)
            return yfail(L, ev_line(ev), "only one YAML document is allowed");
        return 0;
    case YAML_ALIAS_EVENT:
        return yfail(L, ev_line(ev), "aliases are not supported");
    case YAML_SCALAR_EVENT:
        return on_scalar(L, ev);
    case YAML_MAPPING_START_EVENT:
        return on_container_start(L, ev, 'm');
    case YAML_SEQUENCE_START_EVENT:
        return on_container_start(L, ev, 's');
    case YAML_MAPPING_END_EVENT:
    case YAML_SEQUENCE_END_EVENT:
        if (L->depth > 0)
            pop_frame(L);
        return 0;
    default:
        return 0;
    }
}

static int parser_error(yload *L, const yaml_parser_t *p)
{
    const char *problem = p->problem ? p->problem : "malformed YAML";
    if (p->error == YAML_READER_ERROR)
        return sq_fail(L->e, "%s: byte %zu: %s", L->name, p->problem_offset, problem);
    if (p->error == YAML_MEMORY_ERROR)
        return sq_fail(L->e, "%s: out of memory parsing YAML", L->name);
    size_t line = p->problem_mark.line + 1;
    if (p->context)
        return sq_fail(L->e, "%s:%zu: syntax error: %s %s (line %zu)", L->name, line, problem,
                       p->context, p->context_mark.line + 1);
    return sq_fail(L->e, "%s:%zu: syntax error: %s", L->name, line, problem);
}

static int run_parser(yload *L, const void *buf, size_t len)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return sq_fail(L->e, "%s: cannot initialise the YAML parser", L->name);
    yaml_parser_set_input_string(&p, buf, len);
    int rc = 0;
    while (rc == 0 && !L->done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            rc = parser_error(L, &p);
            break;
        }
        rc = on_event(L, &ev);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    return rc;
}

static int cmp_kv_key(const void *a, const void *b)
{
    const sq_ykv *x = *(const sq_ykv *const *)a, *y = *(const sq_ykv *const *)b;
    int c = strcmp(x->key, y->key);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

/* Every path (keys of containers included) must be unique. */
static int check_dups(yload *L)
{
    if (L->n < 2)
        return 0;
    const sq_ykv **s = sq_calloc((size_t)L->n, sizeof *s);
    if (!s)
        return sq_fail(L->e, "%s: out of memory", L->name);
    for (int i = 0; i < L->n; i++)
        s[i] = &L->kv[i];
    qsort(s, (size_t)L->n, sizeof *s, cmp_kv_key);
    int rc = 0;
    for (int i = 1; i < L->n && rc == 0; i++)
        if (strcmp(s[i - 1]->key, s[i]->key) == 0)
            rc = yfail(L, s[i]->line, "duplicate key '%.200s' (first at line %d)", s[i]->key,
                       s[i - 1]->line);
    sq_free(s);
    return rc;
}

/* Drop the container entries, keeping scalars in document order. */
static void keep_scalars(yload *L)
{
    int k = 0;
    for (int i = 0; i < L->n; i++) {
        if (L->kv[i].val)
            L->kv[k++] = L->kv[i];
        else
            sq_free(L->kv[i].key);
    }
    L->n = k;
}

int sq_yaml_parse(const char *name, const void *buf, size_t len, sq_ykv **kv, int *n, sq_err *e)
{
    *kv = NULL;
    *n = 0;
    yload L = {.name = name ? name : "<memory>", .e = e};
    if (!buf && len)
        return sq_fail(e, "%s: no buffer", L.name);
    int rc = run_parser(&L, buf ? buf : "", len);
    if (rc == 0)
        rc = check_dups(&L);
    while (L.depth > 0)
        pop_frame(&L);
    if (rc != 0) {
        sq_ykv_free(L.kv, L.n);
        return -1;
    }
    keep_scalars(&L);
    *kv = L.kv;
    *n = L.n;
    return 0;
}

int sq_yaml_load(const char *path, sq_ykv **kv, int *n, sq_err *e)
{
    void *buf;
    size_t len;
    *kv = NULL;
    *n = 0;
    if (sq_read_file(path, YAML_MAX_FILE, &buf, &len, e) != 0)
        return -1;
    int rc = sq_yaml_parse(path, buf, len, kv, n, e);
    sq_free(buf);
    return rc;
}

const sq_ykv *sq_ykv_find(const sq_ykv *kv, int n, const char *key)
{
    for (int i = 0; kv && i < n; i++)
        if (strcmp(kv[i].key, key) == 0)
            return &kv[i];
    return NULL;
}

const char *sq_ykv_get(const sq_ykv *kv, int n, const char *key)
{
    const sq_ykv *p = sq_ykv_find(kv, n, key);
    return p ? p->val : NULL;
}

void sq_ykv_free(sq_ykv *kv, int n)
{
    for (int i = 0; kv && i < n; i++) {
        sq_free(kv[i].key);
        sq_free(kv[i].val);
    }
    sq_free(kv);
}
