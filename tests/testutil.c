/*
 * testutil.c - helpers shared by the Check suites; see testutil.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ckptio/plugin.h>
#include <dlfcn.h>

#include "testutil.h"

#define TU_TEMPLATE "ckptio-test-XXXXXX"

char *tu_mkdtemp(void)
{
	const char *base = getenv("TMPDIR");
	size_t len;
	char *path;

	if (!base || !*base)
		base = "/tmp";
	len = strlen(base) + 1 + sizeof(TU_TEMPLATE);
	path = malloc(len);
	ck_assert_ptr_nonnull(path);
	snprintf(path, len, "%s/%s", base, TU_TEMPLATE);
	if (!mkdtemp(path))
		ck_abort_msg("mkdtemp %s: %s", path, strerror(errno));
	return path;
}

static int rm_one(const char *path, const struct stat *sb, int type,
		  struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if ((type == FTW_DP ? rmdir(path) : unlink(path)) != 0 &&
	    errno != ENOENT)
		fprintf(stderr, "tu_rmrf: cannot remove %s: %s\n", path,
			strerror(errno));
	return 0; /* keep going: remove as much as possible */
}

void tu_rmrf(const char *path)
{
	if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0 &&
	    errno != ENOENT)
		fprintf(stderr, "tu_rmrf: %s: %s\n", path, strerror(errno));
}

void tu_fill(void *buf, size_t len, uint64_t seed)
{
	/* splitmix64 of the seed, so neighbouring seeds give unrelated
	 * streams and seed 0 does not give the all-zero xorshift state. */
	uint64_t s = seed + 0x9e3779b97f4a7c15ull;
	unsigned char *p = buf;

	s = (s ^ (s >> 30)) * 0xbf58476d1ce4e5b9ull;
	s = (s ^ (s >> 27)) * 0x94d049bb133111ebull;
	s ^= s >> 31;
	if (s == 0)
		s = 1;
	for (size_t i = 0; i < len; i += 8) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		for (size_t b = 0; b < 8 && i + b < len; b++)
			p[i + b] = (unsigned char)(s >> (8 * b));
	}
}

int tu_write_file(const char *path, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return -1;
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int e = n < 0 ? errno : EIO;

			close(fd);
			errno = e;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return close(fd);
}

char *tu_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;
	int e = 0;

	if (!f)
		return NULL;
	for (;;) {
		size_t got;

		if (n + 1 >= cap) {
			char *nb = realloc(buf, cap ? 2 * cap : 4096);

			if (!nb) {
				e = ENOMEM;
				break;
			}
			buf = nb;
			cap = cap ? 2 * cap : 4096;
		}
		got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0) {
			if (ferror(f))
				e = EIO;
			break;
		}
	}
	fclose(f);
	if (e) {
		free(buf);
		errno = e;
		return NULL;
	}
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

void tu_flip_bit(const char *path, uint64_t byte_offset, int bit)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	unsigned char c;

	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	ck_assert_msg(bit >= 0 && bit < 8, "bit %d is not 0..7", bit);
	ck_assert_msg(pread(fd, &c, 1, (off_t)byte_offset) == 1,
		      "%s: cannot read byte %llu", path,
		      (unsigned long long)byte_offset);
	c ^= (unsigned char)(1u << bit);
	ck_assert_msg(pwrite(fd, &c, 1, (off_t)byte_offset) == 1,
		      "%s: cannot write byte %llu: %s", path,
		      (unsigned long long)byte_offset, strerror(errno));
	ck_assert_int_eq(close(fd), 0);
}

int tu_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

const char *tu_plugin_path(void)
{
	/* Read once: suites point CKPTIO_PLUGIN_PATH elsewhere for their own
	 * tests and still need the original afterwards. */
	static char path[4096];
	const char *p;

	if (path[0])
		return path;
	p = getenv("CKPTIO_PLUGIN_PATH");
	ck_assert_msg(p && *p, "CKPTIO_PLUGIN_PATH is not set (run the "
			       "suites with `make check`)");
	ck_assert_msg(strlen(p) < sizeof(path), "CKPTIO_PLUGIN_PATH is too long");
	memcpy(path, p, strlen(p) + 1);
	return path;
}

const char *tu_plugin_path_listed(void)
{
	static char out[8192];
	size_t n = 0;

	for (const char *c = tu_plugin_path(); *c && n + 3 < sizeof(out); c++) {
		if (*c == ':') {
			out[n++] = ',';
			out[n++] = ' ';
		} else {
			out[n++] = *c;
		}
	}
	out[n] = '\0';
	return out;
}

char *tu_plugin_file(const char *name)
{
	char *dirs = strdup(tu_plugin_path()), *save = NULL, *found = NULL;

	ck_assert_ptr_nonnull(dirs);
	for (char *d = strtok_r(dirs, ":", &save); d && !found;
	     d = strtok_r(NULL, ":", &save)) {
		char path[4200];

		snprintf(path, sizeof(path), "%s/%s.so", d, name);
		if (access(path, R_OK) == 0)
			found = strdup(path);
	}
	ck_assert_msg(found != NULL, "%s.so is in none of %s", name,
		      tu_plugin_path());
	free(dirs);
	return found;
}

const ckptio_plugin *tu_plugin_open(const char *name, void **dl)
{
	char *path = tu_plugin_file(name);
	ckptio_plugin_entry_fn entry;
	const ckptio_plugin *p;

	*dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	ck_assert_msg(*dl != NULL, "dlopen %s: %s", path, dlerror());
	*(void **)&entry = dlsym(*dl, CKPTIO_PLUGIN_ENTRY_SYMBOL);
	ck_assert_msg(entry != NULL, "%s: no %s", path,
		      CKPTIO_PLUGIN_ENTRY_SYMBOL);
	p = entry();
	ck_assert_str_eq(p->name, name);
	free(path);
	return p;
}
