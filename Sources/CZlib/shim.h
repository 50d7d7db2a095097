#ifndef CZLIB_SHIM_H
#define CZLIB_SHIM_H
/* zlib (Debian's zlib1g-dev): CRC-32 for the checksums of journal records and snapshots, and deflate for
   snapshots. deflateInit and inflateInit are macros, unavailable to Swift; these wrappers call them.
   Also the one file call of the durable state that Swift's Glibc module does not show (fallocate). */
#include <zlib.h>

static inline int czlib_deflate_init(z_stream *s, int level) { return deflateInit(s, level); }
static inline int czlib_inflate_init(z_stream *s) { return inflateInit(s); }

#ifdef __linux__
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcntl.h>
/* Reserves `len` bytes of disk at `offset` without changing the file's size (FALLOC_FL_KEEP_SIZE):
   0, or -1 with errno (ENOSPC when the disk is full, EOPNOTSUPP where the file system cannot). */
static inline int czlib_reserve(int fd, long long offset, long long len) { return fallocate(fd, 1, offset, len); }
#else
static inline int czlib_reserve(int fd, long long offset, long long len) { (void)fd; (void)offset; (void)len; return 0; }
#endif

#endif
