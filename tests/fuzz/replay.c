/*
 * replay.c - a main() for a fuzz harness without libFuzzer: feed it every
 * file named on the command line, or in a directory named there, each in
 * a malloc'd buffer of exactly its size (so that AddressSanitizer and
 * valgrind see a read past the end).
 *
 * Without arguments it replays the harness's seed corpus,
 * $CKPTIO_SRCDIR/tests/fuzz/FUZZ_NAME/, as `make check` does, and fails
 * when that holds no file.  With a file argument it reproduces one input
 * (a crash saved by libFuzzer) in any build, under gdb or valgrind.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#ifndef FUZZ_NAME
#error "compile with -DFUZZ_NAME='\"name\"' (the corpus directory)"
#endif

/* Optional in a harness, as with libFuzzer. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Read path whole and run the harness on it; -1 when it cannot be read. */
static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t len = 0;
	long size;

	if (!f || fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) != 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		if (f)
			fclose(f);
		return -1;
	}
	len = (size_t)size;
	buf = malloc(len ? len : 1);
	if (!buf || fread(buf, 1, len, f) != len) {
		fprintf(stderr, "replay: %s: cannot read %zu bytes\n", path, len);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	/* Named first: if the harness aborts, the log ends with the culprit. */
	printf("replay: %s\n", path);
	fflush(stdout);
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}

static int skip_entry(const struct dirent *e)
{
	return e->d_name[0] != '.';
}

/* Every file of dir, in name order; the count in *n.  -1 on an error. */
static int replay_dir(const char *dir, size_t *n)
{
	struct dirent **ents;
	int count = scandir(dir, &ents, skip_entry, alphasort), rc = 0;

	if (count < 0) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < count; i++) {
		char *path;

		if (rc == 0 && asprintf(&path, "%s/%s", dir, ents[i]->d_name) < 0)
			rc = -1;
		else if (rc == 0) {
			rc = replay_file(path);
			(*n)++;
			free(path);
		}
		free(ents[i]);
	}
	free(ents);
	return rc;
}

static int replay_path(const char *path, size_t *n)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode))
		return replay_dir(path, n);
	(*n)++;
	return replay_file(path);
}

int main(int argc, char **argv)
{
	const char *src = getenv("CKPTIO_SRCDIR");
	char *corpus = NULL;
	size_t n = 0;
	int rc = 0;

	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	if (argc > 1) {
		for (int i = 1; i < argc && rc == 0; i++)
			rc = replay_path(argv[i], &n);
		printf("replay %s: %zu input(s)\n", FUZZ_NAME, n);
		return rc ? EXIT_FAILURE : EXIT_SUCCESS;
	}
	if (asprintf(&corpus, "%s/tests/fuzz/%s", src ? src : ".",
		     FUZZ_NAME) < 0)
		return EXIT_FAILURE;
	rc = replay_dir(corpus, &n);
	printf("replay %s: %zu input(s) from %s\n", FUZZ_NAME, n, corpus);
	if (rc == 0 && n == 0) {
		fprintf(stderr, "replay: %s holds no input\n", corpus);
		rc = -1;
	}
	free(corpus);
	return rc ? EXIT_FAILURE : EXIT_SUCCESS;
}
