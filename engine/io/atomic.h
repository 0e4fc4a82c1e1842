/* atomic.h - write files so a reader never sees a half-written one.
 *
 * Every output of the harness (checkpoints, config.yaml, result.yaml) goes
 * through here: the bytes go to a uniquely named temp file in the target's
 * directory, are flushed and fsync'ed, and the temp file is renamed onto the
 * target. On any failure the temp file is removed and the target is left as
 * it was. */
#ifndef SQ_IO_ATOMIC_H
#define SQ_IO_ATOMIC_H

#include <stddef.h>
#include <stdio.h>

#include "sq.h"

typedef struct sq_afile sq_afile;

/* Create a temp file next to `path`. NULL (and e set) on failure. */
sq_afile *sq_afile_open(const char *path, sq_err *e);
/* The stdio stream to write through; owned by the sq_afile. */
FILE *sq_afile_fp(sq_afile *a);
/* The final path this file will be renamed to. */
const char *sq_afile_path(const sq_afile *a);
/* Flush, fsync, close and rename onto the target. Always frees `a`; on
 * failure the temp file is removed and the target is untouched. */
int sq_afile_commit(sq_afile *a, sq_err *e);
/* Close and remove the temp file; frees `a`. NULL is a no-op. */
void sq_afile_abort(sq_afile *a);

/* Write n bytes atomically to path. */
int sq_write_file_atomic(const char *path, const void *data, size_t n, sq_err *e);

/* mkdir -p: create path and its missing parents (mode 0777 & ~umask). An
 * existing directory is fine; an existing non-directory is an error. */
int sq_mkdir_p(const char *path, sq_err *e);

/* Read a whole file (or pipe) into a fresh sq_malloc block (NUL-terminated for
 * convenience; *n excludes the NUL). Files larger than max_bytes are
 * refused. */
int sq_read_file(const char *path, size_t max_bytes, void **data, size_t *n, sq_err *e);

#endif
