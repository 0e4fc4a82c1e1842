/* sha256.h - a small streaming SHA-256 (FIPS 180-4), used to fingerprint the
 * dataset files a run read so results can name exactly which bytes they saw. */
#ifndef SQ_SHA256_H
#define SQ_SHA256_H

#include "core/sq.h"

typedef struct sq_sha256 {
    uint32_t h[8];      /* chaining state                       */
    uint64_t bytes;     /* message length so far, in bytes      */
    uint8_t buf[64];    /* partial block not yet compressed     */
    size_t nbuf;        /* bytes used in buf                    */
} sq_sha256;

void sq_sha256_init(sq_sha256 *s);
void sq_sha256_update(sq_sha256 *s, const void *data, size_t n);
void sq_sha256_final(sq_sha256 *s, uint8_t digest[32]);
/* Lower-case hex of a digest, NUL-terminated (65 bytes). */
void sq_sha256_hex(const uint8_t digest[32], char hex[65]);
/* Feed the bytes of the file at path, as stored on disk, into s. */
int sq_sha256_file(sq_sha256 *s, const char *path, sq_err *e);

#endif
