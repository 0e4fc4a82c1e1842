/* yamlio.h - YAML for config.yaml and result.yaml, on libyaml.
 *
 * Writer: block-style mappings and sequences, keys in insertion order,
 * committed atomically on close. The first error sticks: later calls are
 * no-ops and sq_yw_close reports it (and leaves the target untouched).
 *
 *   sq_yw *w = sq_yw_open("run/config.yaml", &e);
 *   sq_yw_str(w, "model", "vgg7");
 *   sq_yw_map_begin(w, "optim");
 *     sq_yw_num(w, "lr", 1e-3);
 *   sq_yw_map_end(w);
 *   sq_yw_seq_begin(w, "milestones");
 *     sq_yw_int(w, NULL, 100); sq_yw_int(w, NULL, 150);
 *   sq_yw_seq_end(w);
 *   if (sq_yw_close(w, &e) != 0) ...
 *
 * Inside a mapping every call needs a key; inside a sequence key must be
 * NULL. Strings that would read back as something else (numbers, booleans,
 * null, empty) are quoted, so a YAML 1.1 reader such as PyYAML sees a string.
 *
 * Reader: flattens a mapping document into (dotted key path, scalar, line)
 * triples in document order: {a: {b: 1}, s: [x, y]} gives "a.b"="1",
 * "s.0"="x", "s.1"="y". Scalars are returned as written (no type
 * resolution). Rejected with file:line: syntax errors, a non-mapping top
 * level, non-scalar keys, duplicate keys (and key paths that collide after
 * flattening), anchors/aliases, more than one document, nesting deeper than
 * SQ_YAML_MAX_DEPTH. Empty mappings and sequences produce no entries. */
#ifndef SQ_IO_YAMLIO_H
#define SQ_IO_YAMLIO_H

#include <stddef.h>

#include "sq.h"

#define SQ_YAML_MAX_DEPTH 64
#define SQ_YAML_MAX_PATH 1024 /* bytes in a flattened key path */

/* ---- writer ------------------------------------------------------------- */
typedef struct sq_yw sq_yw;

sq_yw *sq_yw_open(const char *path, sq_err *e);
void sq_yw_str(sq_yw *w, const char *key, const char *value);
void sq_yw_int(sq_yw *w, const char *key, long long value);
/* Shortest decimal that reads back as the same double; always has a '.' or
 * exponent so YAML readers see a float; nan/inf as .nan/.inf/-.inf. */
void sq_yw_num(sq_yw *w, const char *key, double value);
/* The same, shortest that reads back as the same float (for sq_real data). */
void sq_yw_float(sq_yw *w, const char *key, float value);
void sq_yw_bool(sq_yw *w, const char *key, int value);
void sq_yw_null(sq_yw *w, const char *key);
void sq_yw_map_begin(sq_yw *w, const char *key);
void sq_yw_map_end(sq_yw *w);
void sq_yw_seq_begin(sq_yw *w, const char *key);
void sq_yw_seq_end(sq_yw *w);
/* Nonzero once an error has happened (the writer is then inert). */
int sq_yw_failed(const sq_yw *w);
/* Finish the document and rename it onto the target. Frees w. Fails (and
 * writes nothing) on an earlier error or unbalanced begin/end calls. */
int sq_yw_close(sq_yw *w, sq_err *e);
/* Drop everything; the target is untouched. Frees w; NULL is a no-op. */
void sq_yw_abort(sq_yw *w);

/* Format a double / float the way sq_yw_num / sq_yw_float write it. */
void sq_yaml_fmt_num(char *buf, size_t cap, double v);
void sq_yaml_fmt_float(char *buf, size_t cap, float v);

/* ---- reader ------------------------------------------------------------- */
typedef struct sq_ykv {
    char *key;  /* dotted path           */
    char *val;  /* scalar text, as written */
    int line;   /* 1-based line of the value */
} sq_ykv;

int sq_yaml_load(const char *path, sq_ykv **kv, int *n, sq_err *e);
/* From memory; `name` is used in messages (the fuzz entry point). */
int sq_yaml_parse(const char *name, const void *buf, size_t len, sq_ykv **kv, int *n,
                  sq_err *e);
/* The value for key, or NULL. */
const char *sq_ykv_get(const sq_ykv *kv, int n, const char *key);
/* The entry for key, or NULL (for its line number). */
const sq_ykv *sq_ykv_find(const sq_ykv *kv, int n, const char *key);
void sq_ykv_free(sq_ykv *kv, int n);

#endif
