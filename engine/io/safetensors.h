/* safetensors.h - read and write Hugging Face safetensors files.
 *
 * Layout: an 8-byte little-endian u64 N, N bytes of JSON header
 *   {"__metadata__": {"k": "v", ...},
 *    "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
 * padded with spaces to a multiple of 8, then the raw little-endian tensor
 * bytes. Offsets are relative to the start of the data section; the tensors
 * must tile it exactly (contiguous, no overlap, no gaps, no trailing bytes).
 *
 * Supported dtypes: F32, F64, I64, I32, I8, U8. The reader treats every byte
 * as hostile and reports the first problem found, naming the file. */
#ifndef SQ_IO_SAFETENSORS_H
#define SQ_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "sq.h"

#define SQ_ST_NAME_MAX 128      /* name buffer incl. NUL: names <= 127 bytes */
#define SQ_ST_MAX_DIMS 8
#define SQ_ST_MAX_HEADER (100u * 1000u * 1000u) /* same cap as the reference */

typedef struct sq_st_tensor {
    char name[SQ_ST_NAME_MAX];
    char dtype[8];                   /* "F32", "F64", "I64", "I32", "I8", "U8" */
    int ndim;                        /* 0 = scalar (one element)             */
    int64_t shape[SQ_ST_MAX_DIMS];
    size_t nbytes;                   /* product(shape) * dtype size          */
    void *data;                      /* host (little-endian) bytes           */
} sq_st_tensor;

/* A file read into memory. Tensors are in header order; each tensor's data
 * is its own sq_malloc block (so it is suitably aligned for its dtype).
 * Metadata pairs are in header order. */
typedef struct sq_st_file {
    int n;
    sq_st_tensor *t;
    int n_meta;
    char **meta_k, **meta_v;
} sq_st_file;

/* Bytes per element of a dtype name; 0 if unknown. */
size_t sq_st_dtype_size(const char *dtype);

/* Write n tensors in the given order, atomically. meta_kv is NULL or a
 * NULL-terminated list key, value, key, value, ... */
int sq_st_write(const char *path, const sq_st_tensor *t, int n, const char *const *meta_kv,
                sq_err *e);

/* Read and validate a file. On failure *f is left empty (safe to free). */
int sq_st_read(const char *path, sq_st_file *f, sq_err *e);
/* Parse a whole file image from memory (the fuzz entry point). */
int sq_st_parse(const void *buf, size_t len, sq_st_file *f, sq_err *e);
/* The same, with `name` used in error messages instead of "<memory>". */
int sq_st_parse_named(const char *name, const void *buf, size_t len, sq_st_file *f, sq_err *e);
void sq_st_free(sq_st_file *f);

const sq_st_tensor *sq_st_find(const sq_st_file *f, const char *name);
const char *sq_st_meta(const sq_st_file *f, const char *key);

#endif
