/*
 * testutil.h - helpers shared by the Check suites (tests/check_*.c).
 *
 * Every helper that cannot fail meaningfully aborts the running test with
 * a Check failure naming the path and errno, so a suite never continues on
 * a half-built fixture.  Call them from tests or checked fixtures only.
 */
#ifndef CKPTIO_TESTUTIL_H
#define CKPTIO_TESTUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

/* A fresh, empty directory $TMPDIR/ckptio-test-XXXXXX (/tmp without
 * TMPDIR).  Returns its malloc'd path; the caller frees it (and removes the
 * directory with tu_rmrf).  Never NULL. */
char *tu_mkdtemp(void);

/* rm -rf path: files, directories and symlinks (not followed).  A missing
 * path is not an error; anything else that cannot be removed is reported
 * on stderr and left. */
void tu_rmrf(const char *path);

/* Fill buf with a deterministic pseudo-random pattern: a xorshift64 stream
 * seeded from seed (any value, 0 included), stored little-endian, 8 bytes
 * per step.  Equal (len, seed) give equal bytes on every platform; a
 * prefix of a longer fill equals a shorter fill with the same seed. */
void tu_fill(void *buf, size_t len, uint64_t seed);

/* Create or truncate path (mode 0644) and write len bytes.  0 on success,
 * -1 with errno set. */
int tu_write_file(const char *path, const void *buf, size_t len);

/* The whole file, malloc'd, with a NUL appended (not counted in *len) so
 * text can be used as a string.  len may be NULL.  NULL with errno set on
 * failure. */
char *tu_read_file(const char *path, size_t *len);

/* Flip bit (0..7) of the byte at byte_offset of path, in place.  Fails the
 * test when the file cannot be opened or is too short. */
void tu_flip_bit(const char *path, uint64_t byte_offset, int bit);

/* Run every test of s (CK_NORMAL output), free the runner and return
 * EXIT_SUCCESS when nothing failed, else EXIT_FAILURE: `return
 * tu_run_suite(s);` ends a suite's main(). */
int tu_run_suite(Suite *s);

/* $CKPTIO_PLUGIN_PATH as `make check` set it (the in-tree plugins),
 * read on the first call in the process: a suite may change the variable
 * afterwards and still get the original.  Fails the test when unset. */
const char *tu_plugin_path(void);

/* The same list as ckptio's messages print it: "a, b" for "a:b".  Static
 * storage. */
const char *tu_plugin_path_listed(void);

/* The path of NAME.so in the first directory of tu_plugin_path() that has
 * it; malloc'd.  Fails the test when no directory does. */
char *tu_plugin_file(const char *name);

/* dlopen NAME.so from tu_plugin_path() into *dl and return its descriptor,
 * checked to be the plugin NAME.  Fails the test otherwise.  dlclose *dl
 * when done. */
struct ckptio_plugin;
const struct ckptio_plugin *tu_plugin_open(const char *name, void **dl);

#endif /* CKPTIO_TESTUTIL_H */
