/*
 * fuzz.h - what every fuzz harness (tests/fuzz/fuzz_NAME.c) shares.
 *
 * A harness defines LLVMFuzzerTestOneInput, and LLVMFuzzerInitialize when
 * it needs set-up (a temporary directory, environment variables).  The
 * same source links two ways (docs/fuzzing.md):
 *  - with libFuzzer (clang -fsanitize=fuzzer), in a build configured with
 *    --enable-fuzzing: tests/fuzz/fuzz_NAME, run by `make fuzz`;
 *  - with replay.c, in every build: tests/fuzz/replay_NAME, which feeds
 *    it each file of the seed corpus tests/fuzz/NAME/ in `make check`.
 * A property that does not hold (a round trip that changes the data, a
 * failure without a message) is reported with fuzz_fail, which aborts:
 * libFuzzer then saves the input as a crash, and `make check` fails.
 * Memory errors, leaks and undefined behaviour are the sanitizers' job.
 */
#ifndef CKPTIO_FUZZ_H
#define CKPTIO_FUZZ_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Print "fuzz: property violated: ..." and abort. */
static inline void fuzz_fail(const char *fmt, ...)
	__attribute__((noreturn, format(printf, 1, 2)));
static inline void fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("fuzz: property violated: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* Abort with a message unless cond holds. */
#define FUZZ_CHECK(cond, ...)                                                \
	do {                                                                 \
		if (!(cond))                                                 \
			fuzz_fail(__VA_ARGS__);                              \
	} while (0)

/* A fresh private directory for a harness that must write its input to a
 * file: NAME-XXXXXX in $TMPDIR, else in /dev/shm (a harness rewrites its
 * file for every input, and on ext4 that can flush to disk each time),
 * else in /tmp.  Exits when none can be made. */
static inline void fuzz_mkdtemp(char *dir, size_t len, const char *name)
{
	const char *tmp = getenv("TMPDIR");
	const char *const bases[] = {tmp && *tmp ? tmp : "/dev/shm", "/tmp"};

	for (size_t i = 0; i < 2; i++) {
		snprintf(dir, len, "%s/%s-XXXXXX", bases[i], name);
		if (mkdtemp(dir))
			return;
	}
	perror("fuzz: cannot make a temporary directory");
	exit(1);
}

#endif /* CKPTIO_FUZZ_H */
