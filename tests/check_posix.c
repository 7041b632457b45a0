/* check_posix.c - the posix store plugin through its descriptor, loaded
 * with dlopen exactly as the core loads it, with the core's host table. */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"
#include "testutil.h"

static void *dl;
static const ckptio_plugin *plug;
static const ckptio_store_ops *ops;
static char *dir;
static ckptio_host_ctx hc;
static ckptio__section sec;
static ckptio__opt opts[8];

#include <ftw.h>

static int nfiles;
static int count_one(const char *p, const struct stat *sb, int type,
		     struct FTW *f)
{
	(void)p, (void)sb, (void)f;
	nfiles += type == FTW_F;
	return 0;
}

/* Regular files under d, temporary ones included. */
static int count_files(const char *d)
{
	nfiles = 0;
	nftw(d, count_one, 16, FTW_PHYS);
	return nfiles;
}

static void set_opt(const char *key, const char *value)
{
	opts[sec.nopts] = (ckptio__opt){(char *)key, (char *)value, NULL, 1};
	sec.nopts++;
}

static void setup(void)
{
	plug = tu_plugin_open("posix", &dl);
	ops = plug->store;
	dir = tu_mkdtemp();
	memset(&sec, 0, sizeof(sec));
	sec.kind = CKPTIO__SEC_BACKEND;
	sec.name = "t";
	sec.file = "test.conf";
	sec.opts = opts;
	ckptio__hc_init(&hc, NULL, &sec, NULL);
	unsetenv("CKPTIO_POSIX_FAULT");
}

static void teardown(void)
{
	ckptio__hc_destroy(&hc);
	tu_rmrf(dir);
	free(dir);
	dlclose(dl);
}

static ckptio_store *open_store(void)
{
	ckptio_store *st = NULL;

	ck_assert_msg(ops->open(&ckptio__host, &hc, dir, 1, &st) == CKPTIO_OK,
		      "%s", hc.msg);
	return st;
}

static ckptio_status put(ckptio_store *st, const char *key, const void *buf,
			 size_t len, unsigned flags)
{
	ckptio_put *p;
	ckptio_status s = ops->put_open(st, key, len, flags, &p);

	if (s != CKPTIO_OK)
		return s;
	s = ops->put_write(p, buf, len / 2);
	if (s == CKPTIO_OK)
		s = ops->put_write(p, (const char *)buf + len / 2, len - len / 2);
	if (s != CKPTIO_OK) {
		ops->put_abort(p);
		return s;
	}
	return ops->put_commit(p);
}

/* Object key of st holds exactly the len bytes of want. */
static void expect_object(ckptio_store *st, const char *key,
			  const unsigned char *want, size_t len)
{
	unsigned char *b = malloc(len ? len : 1);
	ckptio_range rg = {key, 0, len, b};
	ckptio_stat sb;

	ck_assert_int_eq(ops->stat(st, key, &sb), CKPTIO_OK);
	ck_assert_uint_eq(sb.size, len);
	ck_assert_int_eq(ops->read(st, &rg, 1), CKPTIO_OK);
	ck_assert_msg(memcmp(want, b, len) == 0, "%s: bytes differ", key);
	free(b);
}

static void round_trip(size_t len)
{
	ckptio_store *st = open_store();
	unsigned char *a = malloc(len);

	tu_fill(a, len, len);
	ck_assert_int_eq(put(st, "x/y/obj", a, len, 0), CKPTIO_OK);
	expect_object(st, "x/y/obj", a, len);
	ops->close(st);
	free(a);
}

/* Each with the default (O_DIRECT where the file system takes it) and
 * through the page cache (direct = false). */
START_TEST(test_round_trip_threads_1)
{
	set_opt("threads", "1");
	if (_i)
		set_opt("direct", "false");
	round_trip((5u << 20) + 3);
}
END_TEST

START_TEST(test_round_trip_threads_4_parallel_write)
{
	set_opt("threads", "4");
	set_opt("io_size", "64KiB");
	if (_i)
		set_opt("direct", "false");
	round_trip((9u << 20) + 17); /* > 2 io_size: split across threads */
}
END_TEST

/* Whether the file system under the test's directory takes O_DIRECT. */
static int dir_takes_direct(void)
{
	char *p;
	int fd;

	ck_assert_int_gt(asprintf(&p, "%s/.probe", dir), 0);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_DIRECT, 0600);
	if (fd >= 0) {
		close(fd);
		unlink(p);
	}
	free(p);
	return fd >= 0;
}

/* The temporary file of an open put of an object named base: O_DIRECT in
 * its flags? */
static int put_is_direct(const char *base)
{
	char want[64];
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int found = -1;

	snprintf(want, sizeof(want), "/.%s.tmp.", base);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) && found < 0) {
		char link[300], target[4096], info[300], line[256];
		ssize_t n;
		FILE *f;

		snprintf(link, sizeof(link), "/proc/self/fd/%s", de->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (!strstr(target, want))
			continue;
		snprintf(info, sizeof(info), "/proc/self/fdinfo/%s",
			 de->d_name);
		ck_assert_ptr_nonnull(f = fopen(info, "r"));
		while (fgets(line, sizeof(line), f))
			if (!strncmp(line, "flags:", 6))
				found = (strtoul(line + 6, NULL, 8) &
					 O_DIRECT) != 0;
		fclose(f);
	}
	closedir(d);
	ck_assert_msg(found >= 0, "no temporary file of the put is open");
	return found;
}

/* The default is O_DIRECT where the file system takes it (docs/posix.md);
 * `direct = false` writes through the page cache.  A file system that
 * refuses O_DIRECT (tmpfs) gets the page cache, silently by default. */
START_TEST(test_direct_is_the_default)
{
	static unsigned char a[8192];
	int takes = dir_takes_direct();
	ckptio_store *st;
	ckptio_put *p;

	if (_i)
		set_opt("direct", "false");
	st = open_store();
	ck_assert_int_eq(ops->put_open(st, "obj", sizeof(a), 0, &p),
			 CKPTIO_OK);
	ck_assert_int_eq(put_is_direct("obj"), !_i && takes);
	ck_assert_int_eq(ops->put_write(p, a, sizeof(a)), CKPTIO_OK);
	ck_assert_int_eq(ops->put_commit(p), CKPTIO_OK);
	expect_object(st, "obj", a, sizeof(a));
	ck_assert_int_eq(hc.status, CKPTIO_OK);
	ops->close(st);
}
END_TEST

START_TEST(test_round_trip_direct)
{
	set_opt("direct", "true");
	set_opt("io_size", "1MiB");
	round_trip((3u << 20) + 4097); /* odd tail written without O_DIRECT */
}
END_TEST

/* A file system that takes O_DIRECT at open but refuses the write (EINVAL)
 * gets the bytes through the page cache, and the store's later puts open
 * without it; through the page cache an EINVAL is the put's failure. */
START_TEST(test_direct_write_refused)
{
	enum { LEN = (3u << 20) + 4097 };
	unsigned char *a = malloc(LEN);
	ckptio_store *st;
	ckptio_put *p;

	if (_i)
		set_opt("direct", "false");
	set_opt("io_size", "1MiB");
	setenv("CKPTIO_POSIX_FAULT", "pwrite:2:EINVAL", 1);
	st = open_store();
	tu_fill(a, LEN, 17);
	/* Where the file system refuses O_DIRECT at open, both are buffered. */
	if (_i || !dir_takes_direct()) {
		ck_assert_int_ne(put(st, "r/obj", a, LEN, 0), CKPTIO_OK);
		ck_assert_ptr_nonnull(strstr(hc.msg, "r/obj: write"));
		ck_assert_int_eq(count_files(dir), 0);
	} else {
		ck_assert_msg(put(st, "r/obj", a, LEN, 0) == CKPTIO_OK, "%s",
			      hc.msg);
		expect_object(st, "r/obj", a, LEN);
		ck_assert_int_eq(ops->put_open(st, "r/two", 8, 0, &p),
				 CKPTIO_OK);
		ck_assert_int_eq(put_is_direct("two"), 0);
		ck_assert_int_eq(ops->put_write(p, a, 8), CKPTIO_OK);
		ck_assert_int_eq(ops->put_commit(p), CKPTIO_OK);
		expect_object(st, "r/two", a, 8);
	}
	ops->close(st);
	unsetenv("CKPTIO_POSIX_FAULT");
	free(a);
}
END_TEST

/* Buffered data through bounce buffers smaller than a write, a piece and
 * an io_size slice (bounce = 4KiB: many copies per call, odd tails), then
 * read back through them in ranges that start and end mid-buffer; and
 * with bounce = 0, straight from and to the caller's memory. */
static void bounce_round_trip(const char *bounce)
{
	enum { LEN = (3u << 20) + 4097 };
	unsigned char *a = malloc(LEN), *b = malloc(LEN);
	ckptio_range rg[3];
	ckptio_store *st;

	set_opt("bounce", bounce);
	set_opt("threads", "4");
	set_opt("io_size", "64KiB");
	set_opt("direct", "false"); /* writes bounce only without O_DIRECT */
	st = open_store();
	tu_fill(a, LEN, 91);
	ck_assert_int_eq(put(st, "b/obj", a, LEN, 0), CKPTIO_OK);
	expect_object(st, "b/obj", a, LEN);
	memset(b, 0, LEN);
	rg[0] = (ckptio_range){"b/obj", 1, 4095, b + 1};
	rg[1] = (ckptio_range){"b/obj", 4096, 12289, b + 4096};
	rg[2] = (ckptio_range){"b/obj", 16385, LEN - 16385, b + 16385};
	ck_assert_int_eq(ops->read(st, rg, 3), CKPTIO_OK);
	ck_assert(memcmp(a + 1, b + 1, LEN - 1) == 0);
	ck_assert_int_eq(b[0], 0);
	/* A range past the end is reported through the bounce buffer too. */
	rg[0] = (ckptio_range){"b/obj", LEN - 5000, 5001, b};
	ck_assert_int_eq(ops->read(st, rg, 1), CKPTIO_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(hc.msg, "(truncated?)"));
	ops->close(st);
	free(a);
	free(b);
}

START_TEST(test_round_trip_bounce_small)
{
	bounce_round_trip("4KiB");
}
END_TEST

START_TEST(test_round_trip_bounce_off)
{
	bounce_round_trip("0");
}
END_TEST

/* A pwrite failing in the middle of a bounced write fails the put with
 * the key, and the object never shows. */
START_TEST(test_bounce_write_fault)
{
	enum { LEN = 1u << 20 };
	unsigned char *a = malloc(LEN);
	ckptio_stat sb;
	ckptio_store *st;

	set_opt("bounce", "64KiB");
	set_opt("threads", "1");
	set_opt("direct", "false");
	setenv("CKPTIO_POSIX_FAULT", "pwrite:5:ENOSPC", 1);
	st = open_store();
	tu_fill(a, LEN, 5);
	ck_assert_int_eq(put(st, "f/obj", a, LEN, 0), CKPTIO_ENOSPC);
	ck_assert_ptr_nonnull(strstr(hc.msg, "f/obj: write: No space left"));
	ck_assert_int_eq(ops->stat(st, "f/obj", &sb), CKPTIO_ENOTFOUND);
	ops->close(st);
	unsetenv("CKPTIO_POSIX_FAULT");
	free(a);
}
END_TEST

START_TEST(test_direct_aligned_zero_copy)
{
	/* Aligned caller memory at aligned offsets goes straight to the
	 * device; an odd piece in between goes through the staging buffer
	 * and the next aligned piece must still land at the right place. */
	size_t len = (6u << 20) + 4096 * 3;
	unsigned char *a;
	ckptio_store *st;
	ckptio_put *p;

	ck_assert_int_eq(posix_memalign((void **)&a, 4096, len), 0);
	tu_fill(a, len, 99);
	set_opt("direct", "yes");
	set_opt("io_size", "1MiB");
	set_opt("threads", "3");
	st = open_store();
	ck_assert_int_eq(ops->put_open(st, "d", len, 0, &p), CKPTIO_OK);
	ck_assert_int_eq(ops->put_write(p, a, 4u << 20), CKPTIO_OK);
	ck_assert_int_eq(ops->put_write(p, a + (4u << 20), 100), CKPTIO_OK);
	ck_assert_int_eq(ops->put_write(p, a + (4u << 20) + 100, 3996),
			 CKPTIO_OK);
	ck_assert_int_eq(ops->put_write(p, a + (4u << 20) + 4096,
					len - (4u << 20) - 4096 - 10),
			 CKPTIO_OK);
	ck_assert_int_eq(ops->put_write(p, a + len - 10, 10), CKPTIO_OK);
	ck_assert_int_eq(ops->put_commit(p), CKPTIO_OK);
	expect_object(st, "d", a, len);
	ops->close(st);
	free(a);
}
END_TEST

/* Buffered puts gather small writes (under 256 KiB) and write them 1 MiB
 * at a time; a larger write goes straight from the caller's memory after
 * what was gathered.  Every byte lands at its offset, whatever the mix:
 * small ones crossing the 1 MiB boundary, a large one in between, a
 * small tail that only the commit writes. */
START_TEST(test_small_writes_gathered)
{
	static const size_t sizes[] = {100, 4096, 3, (256u << 10) - 1,
				       256u << 10, 7, (3u << 20) + 5, 1};
	size_t len = 0, off = 0;
	unsigned char *a;
	ckptio_store *st;
	ckptio_put *p;

	/* 600 writes of 4099 bytes cross the gathering buffer's end twice. */
	len = 600 * 4099;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		len += sizes[i];
	a = malloc(len);
	tu_fill(a, len, 5);
	set_opt("threads", "2");
	set_opt("io_size", "64KiB");
	set_opt("direct", "false"); /* gathering is the page cache's */
	st = open_store();
	ck_assert_int_eq(ops->put_open(st, "g/obj", len, 0, &p), CKPTIO_OK);
	for (size_t i = 0; i < 600; i++, off += 4099)
		ck_assert_int_eq(ops->put_write(p, a + off, 4099), CKPTIO_OK);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		ck_assert_int_eq(ops->put_write(p, a + off, sizes[i]),
				 CKPTIO_OK);
		off += sizes[i];
	}
	ck_assert_uint_eq(off, len);
	ck_assert_int_eq(ops->put_commit(p), CKPTIO_OK);
	expect_object(st, "g/obj", a, len);
	ops->close(st);
	free(a);
}
END_TEST

/* A gathered write that fails when the buffer fills (not at the commit)
 * fails that put_write, and the abort leaves nothing behind. */
START_TEST(test_gathered_write_fault)
{
	static unsigned char chunk[4096];
	ckptio_status st_w = CKPTIO_OK;
	ckptio_store *st;
	ckptio_put *p;
	size_t i;

	setenv("CKPTIO_POSIX_FAULT", "pwrite:1:ENOSPC", 1);
	hc.status = CKPTIO_OK;
	set_opt("direct", "false");
	st = open_store();
	ck_assert_int_eq(ops->put_open(st, "f/obj", UINT64_MAX, 0, &p),
			 CKPTIO_OK);
	/* 1 MiB gathered, then the first pwrite fails. */
	for (i = 0; i < 1024 && st_w == CKPTIO_OK; i++)
		st_w = ops->put_write(p, chunk, sizeof(chunk));
	ck_assert_int_eq(st_w, CKPTIO_ENOSPC);
	ck_assert_uint_eq(i, 256);
	ck_assert_msg(strstr(hc.msg, "f/obj: write: No space left") != NULL,
		      "%s", hc.msg);
	ops->put_abort(p);
	ck_assert_int_eq(count_files(dir), 0);
	ops->close(st);
	unsetenv("CKPTIO_POSIX_FAULT");
}
END_TEST

START_TEST(test_invisible_until_commit_and_abort)
{
	ckptio_store *st = open_store();
	ckptio_put *p;
	ckptio_stat sb;
	char *path = ckptio__asprintf("%s/k", dir);

	ck_assert_int_eq(ops->put_open(st, "k", UINT64_MAX, 0, &p), CKPTIO_OK);
	ck_assert_int_eq(ops->put_write(p, "abc", 3), CKPTIO_OK);
	ck_assert_int_eq(ops->stat(st, "k", &sb), CKPTIO_ENOTFOUND);
	ck_assert_int_eq(access(path, F_OK), -1);
	ops->put_abort(p);
	ck_assert_int_eq(ops->stat(st, "k", &sb), CKPTIO_ENOTFOUND);
	ck_assert_int_eq(count_files(dir), 0);
	ops->close(st);
	free(path);
}
END_TEST

START_TEST(test_if_absent)
{
	ckptio_store *st = open_store();
	char buf[3];
	ckptio_range rg = {"m", 0, 3, buf};

	ck_assert_int_eq(put(st, "m", "one", 3, CKPTIO_PUT_IF_ABSENT), CKPTIO_OK);
	ck_assert_int_eq(put(st, "m", "two", 3, CKPTIO_PUT_IF_ABSENT),
			 CKPTIO_EEXIST);
	ck_assert_ptr_nonnull(strstr(hc.msg, "already exists"));
	ck_assert_int_eq(ops->read(st, &rg, 1), CKPTIO_OK);
	ck_assert(memcmp(buf, "one", 3) == 0);
	ck_assert_int_eq(put(st, "m", "two", 3, 0), CKPTIO_OK); /* replace */
	ck_assert_int_eq(ops->read(st, &rg, 1), CKPTIO_OK);
	ck_assert(memcmp(buf, "two", 3) == 0);
	ck_assert_int_eq(count_files(dir), 1); /* no temp files left */
	ops->close(st);
}
END_TEST

START_TEST(test_invalid_keys)
{
	static const char *const bad[] = {"../x", "/abs", "a//b", ".", "",
					  "a/../../b", "a/.", NULL};
	ckptio_store *st = open_store();
	char big[2001];
	ckptio_put *p;
	ckptio_stat sb;

	memset(big, 'a', 2000);
	big[2000] = '\0';
	for (int i = 0; bad[i]; i++) {
		ck_assert_int_eq(ops->put_open(st, bad[i], 1, 0, &p),
				 CKPTIO_EINVAL);
		ck_assert_int_eq(ops->stat(st, bad[i], &sb), CKPTIO_EINVAL);
		ck_assert_int_eq(ops->remove(st, bad[i]), CKPTIO_EINVAL);
	}
	ck_assert_int_eq(ops->put_open(st, big, 1, 0, &p), CKPTIO_EINVAL);
	ck_assert_ptr_nonnull(strstr(hc.msg, "invalid key"));
	ck_assert_int_eq(count_files(dir), 0);
	ops->close(st);
}
END_TEST

START_TEST(test_read_errors)
{
	ckptio_store *st = open_store();
	char buf[64];
	ckptio_range missing = {"nope", 0, 4, buf};
	ckptio_range past = {"short", 8, 16, buf};

	ck_assert_int_eq(ops->read(st, &missing, 1), CKPTIO_ENOTFOUND);
	ck_assert_int_eq(hc.status, CKPTIO_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(hc.msg, "nope: no such object"));
	hc.status = CKPTIO_OK;
	ck_assert_int_eq(put(st, "short", "0123456789", 10, 0), CKPTIO_OK);
	ck_assert_int_eq(ops->read(st, &past, 1), CKPTIO_ECORRUPT);
	ck_assert_int_eq(hc.status, CKPTIO_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(hc.msg, "short: object is 10 bytes, cannot "
				     "read bytes 8..24 (truncated?)"));
	ops->close(st);
}
END_TEST

/* A root written with a trailing '/' (as "/" always is) gives "root/key"
 * in messages, not "root//key". */
START_TEST(test_message_paths)
{
	char *root = ckptio__asprintf("%s/", dir), *want;
	ckptio_store *st = NULL;
	char buf[4];

	ck_assert_int_eq(ops->open(&ckptio__host, &hc, root, 1, &st), CKPTIO_OK);
	ck_assert_int_eq(ops->read(st, &(ckptio_range){"nope", 0, 4, buf}, 1),
			 CKPTIO_ENOTFOUND);
	want = ckptio__asprintf("%s/nope: no such object", dir);
	ck_assert_msg(strstr(hc.msg, want) != NULL, "%s", hc.msg);
	ops->close(st);
	free(want);
	free(root);
}
END_TEST

START_TEST(test_scatter_read)
{
	ckptio_store *st;
	enum { N = 100, OBJ = 1 << 20 };
	unsigned char *obj[3], *dst = malloc(N * 4096);
	ckptio_range rg[N];
	const char *keys[3] = {"a", "d/b", "d/e/c"};

	set_opt("threads", "4");
	st = open_store();
	for (int i = 0; i < 3; i++) {
		obj[i] = malloc(OBJ);
		tu_fill(obj[i], OBJ, (uint64_t)i + 40);
		ck_assert_int_eq(put(st, keys[i], obj[i], OBJ, 0), CKPTIO_OK);
	}
	srand(7);
	for (int i = 0; i < N; i++)
		rg[i] = (ckptio_range){keys[i % 3],
				       (uint64_t)(rand() % (OBJ - 4096)), 4096,
				       dst + i * 4096};
	ck_assert_int_eq(ops->read(st, rg, N), CKPTIO_OK);
	for (int i = 0; i < N; i++)
		ck_assert(memcmp(dst + i * 4096, obj[i % 3] + rg[i].offset,
				 4096) == 0);
	for (int i = 0; i < 3; i++)
		free(obj[i]);
	free(dst);
	ops->close(st);
}
END_TEST

/* read_crc (ABI 1.7): the bytes as read does, and each range's CRC32C
 * as the core computes it, for ranges over several pieces (32 MiB), a
 * piece boundary, an empty one and small ones; bounce unset (the probe
 * picks the read path), off, and small. */
static void read_crc_case(const char *bounce)
{
	enum { OBJ = (40u << 20) + 123, N = 5 };
	unsigned char *obj = malloc(OBJ), *dst = malloc(2 * (size_t)OBJ);
	uint32_t crcs[N];
	ckptio_range rg[N];
	ckptio_store *st;

	set_opt("threads", "4");
	if (bounce)
		set_opt("bounce", bounce);
	st = open_store();
	ck_assert_uint_ge(ops->struct_size,
			  offsetof(struct ckptio_store_ops, read_crc) +
				  sizeof(ops->read_crc));
	tu_fill(obj, OBJ, 77);
	ck_assert_int_eq(put(st, "d/big", obj, OBJ, 0), CKPTIO_OK);
	rg[0] = (ckptio_range){"d/big", 0, OBJ, dst};
	rg[1] = (ckptio_range){"d/big", (32u << 20) - 1000, 5000,
			       dst + OBJ};
	rg[2] = (ckptio_range){"d/big", 17, 0, dst + OBJ + 5000};
	rg[3] = (ckptio_range){"d/big", 1, 1, dst + OBJ + 5000};
	rg[4] = (ckptio_range){"d/big", 4096, 3u << 20, dst + OBJ + 5001};
	memset(crcs, 0xab, sizeof(crcs));
	ck_assert_msg(ops->read_crc(st, rg, N, crcs) == CKPTIO_OK, "%s",
		      hc.msg);
	for (int i = 0; i < N; i++) {
		ck_assert_msg(memcmp(rg[i].buf, obj + rg[i].offset,
				     rg[i].length) == 0,
			      "bounce %s: range %d: bytes differ",
			      bounce ? bounce : "unset", i);
		ck_assert_msg(crcs[i] == ckptio__crc32c(0, obj + rg[i].offset,
							rg[i].length),
			      "bounce %s: range %d: CRC %08x", bounce ? bounce
			      : "unset", i, crcs[i]);
	}
	/* A range past the end fails as read does. */
	rg[0].offset = OBJ - 10;
	rg[0].length = 20;
	ck_assert_int_eq(ops->read_crc(st, rg, 1, crcs), CKPTIO_ECORRUPT);
	ops->close(st);
	free(obj);
	free(dst);
}

START_TEST(test_read_crc)
{
	read_crc_case(NULL);
}
END_TEST

START_TEST(test_read_crc_bounce_off)
{
	read_crc_case("0");
}
END_TEST

START_TEST(test_read_crc_bounce_small)
{
	read_crc_case("4KiB");
}
END_TEST

static int collect(void *user, const char *key, const ckptio_stat *sb)
{
	char *out = user;

	(void)sb;
	strcat(out, key);
	strcat(out, ";");
	return 0;
}

START_TEST(test_list_remove)
{
	ckptio_store *st = open_store();
	char got[256] = "";
	char *sub = ckptio__asprintf("%s/ck/deep", dir);

	ck_assert_int_eq(put(st, "ck/a", "1", 1, 0), CKPTIO_OK);
	ck_assert_int_eq(put(st, "ck/deep/b", "2", 1, 0), CKPTIO_OK);
	ck_assert_int_eq(put(st, "ckx", "3", 1, 0), CKPTIO_OK);
	ck_assert_int_eq(ops->list(st, "ck/", collect, got), CKPTIO_OK);
	ck_assert(strstr(got, "ck/a;") && strstr(got, "ck/deep/b;"));
	ck_assert_ptr_null(strstr(got, "ckx"));
	got[0] = '\0';
	ck_assert_int_eq(ops->list(st, "", collect, got), CKPTIO_OK);
	ck_assert_ptr_nonnull(strstr(got, "ckx;"));
	ck_assert_int_eq(ops->remove(st, "ck/deep/b"), CKPTIO_OK);
	ck_assert_int_eq(access(sub, F_OK), -1); /* empty dir removed */
	ck_assert_int_eq(ops->remove(st, "ck/deep/b"), CKPTIO_ENOTFOUND);
	ops->close(st);
	free(sub);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Links and special files below the root                                   */

static char *outside; /* a directory beside the root, with a secret */

static const char secret[] = "the secret outside the store";

static void make_outside(void)
{
	char *path;

	outside = tu_mkdtemp();
	path = ckptio__asprintf("%s/secret", outside);
	ck_assert_int_eq(tu_write_file(path, secret, sizeof(secret) - 1), 0);
	free(path);
}

/* dir/rel -> target */
static void link_in_root(const char *target, const char *rel)
{
	char *path = ckptio__asprintf("%s/%s", dir, rel);

	ck_assert_msg(symlink(target, path) == 0, "symlink %s", path);
	free(path);
}

/* st fails with want and the recorded message has both needles. */
static void expect_refused(ckptio_status got, ckptio_status want,
			   const char *n1, const char *n2)
{
	ck_assert_msg(got == want, "%s: %s", ckptio_strerror(got), hc.msg);
	ck_assert_msg(strstr(hc.msg, n1) && strstr(hc.msg, n2),
		      "'%s' lacks '%s' or '%s'", hc.msg, n1, n2);
	hc.status = CKPTIO_OK;
	hc.msg[0] = '\0';
}

/* The same rules with openat2 and, after it "answered" ENOSYS once, with
 * the walk one component at a time that replaces it. */
static void links_refused(const char *fault_spec)
{
	ckptio_store *st;
	char buf[64], *secret_path;
	ckptio_range rg = {"ck/obj", 0, sizeof(secret) - 1, buf};
	ckptio_stat sb;
	char got[512] = "";

	if (fault_spec)
		setenv("CKPTIO_POSIX_FAULT", fault_spec, 1);
	make_outside();
	secret_path = ckptio__asprintf("%s/secret", outside);
	st = open_store();
	ck_assert_int_eq(put(st, "ck/real", "ok", 2, 0), CKPTIO_OK);
	/* An object that is a link to a file outside the root. */
	link_in_root(secret_path, "ck/obj");
	memset(buf, 0, sizeof(buf));
	expect_refused(ops->read(st, &rg, 1), CKPTIO_ECORRUPT, "ck/obj: ",
		       "symbolic link");
	ck_assert_ptr_null(strstr(buf, "secret"));
	expect_refused(ops->stat(st, "ck/obj", &sb), CKPTIO_ECORRUPT,
		       "ck/obj: ", "symbolic link");
	/* A subdirectory that is a link: reads, writes, removes refused. */
	link_in_root(outside, "sub");
	rg.key = "sub/secret";
	expect_refused(ops->read(st, &rg, 1), CKPTIO_ECORRUPT, "sub/secret: ",
		       "symbolic link");
	ck_assert_ptr_null(strstr(buf, "secret"));
	expect_refused(ops->stat(st, "sub/secret", &sb), CKPTIO_ECORRUPT,
		       "sub/secret: ", "symbolic link");
	expect_refused(put(st, "sub/new", "x", 1, 0), CKPTIO_ECORRUPT,
		       "sub/new: ", "symbolic link");
	expect_refused(put(st, "sub/deeper/new", "x", 1, 0), CKPTIO_ECORRUPT,
		       "sub/deeper/new: ", "symbolic link");
	expect_refused(ops->remove(st, "sub/secret"), CKPTIO_ECORRUPT,
		       "sub/secret: ", "symbolic link");
	ck_assert_int_eq(count_files(outside), 1); /* nothing written there */
	ck_assert_int_eq(access(secret_path, F_OK), 0);
	/* Listing shows neither the link nor what is behind one. */
	ck_assert_int_eq(ops->list(st, "", collect, got), CKPTIO_OK);
	ck_assert_str_eq(got, "ck/real;");
	/* A put replaces a link by a file; the target is left alone. */
	ck_assert_int_eq(put(st, "ck/obj", "new", 3, 0), CKPTIO_OK);
	rg = (ckptio_range){"ck/obj", 0, 3, buf};
	ck_assert_int_eq(ops->read(st, &rg, 1), CKPTIO_OK);
	ck_assert(memcmp(buf, "new", 3) == 0);
	ck_assert_int_eq(count_files(outside), 1);
	{
		size_t len;
		char *text = tu_read_file(secret_path, &len);

		ck_assert_ptr_nonnull(text);
		ck_assert_str_eq(text, secret);
		free(text);
	}
	ops->close(st);
	unsetenv("CKPTIO_POSIX_FAULT");
	tu_rmrf(outside);
	free(outside);
	free(secret_path);
}

START_TEST(test_links_refused)
{
	links_refused(NULL);
}
END_TEST

START_TEST(test_links_refused_without_openat2)
{
	links_refused("openat2:1:ENOSYS");
}
END_TEST

/* The root may be a link (/data -> /mnt/disk1): only what is below it is
 * held to the rule. */
START_TEST(test_root_may_be_a_link)
{
	char *root = ckptio__asprintf("%s/root-link", dir);
	char *real = ckptio__asprintf("%s/real", dir);
	ckptio_store *st = NULL;
	char buf[2];
	ckptio_range rg = {"ck/a", 0, 2, buf};

	ck_assert_int_eq(mkdir(real, 0755), 0);
	ck_assert_int_eq(symlink(real, root), 0);
	ck_assert_int_eq(ops->open(&ckptio__host, &hc, root, 1, &st), CKPTIO_OK);
	ck_assert_int_eq(put(st, "ck/a", "hi", 2, 0), CKPTIO_OK);
	ck_assert_int_eq(ops->read(st, &rg, 1), CKPTIO_OK);
	ck_assert(memcmp(buf, "hi", 2) == 0);
	ops->close(st);
	free(root);
	free(real);
}
END_TEST

/* A FIFO used to block a read forever (open waits for a writer); a
 * directory or a socket is no object either.  Each is refused at once. */
START_TEST(test_special_files_refused)
{
	ckptio_store *st = open_store();
	char buf[8];
	ckptio_range rg = {"ck/fifo", 0, 8, buf};
	char *fifo = ckptio__asprintf("%s/ck/fifo", dir);
	char *sub = ckptio__asprintf("%s/ck/dir", dir);
	char *sock = ckptio__asprintf("%s/ck/sock", dir);
	struct sockaddr_un sun = {0};
	ckptio_stat sb;
	int fd;

	ck_assert_int_eq(put(st, "ck/real", "ok", 2, 0), CKPTIO_OK);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	expect_refused(ops->read(st, &rg, 1), CKPTIO_ECORRUPT, "ck/fifo: ",
		       "not a regular file (a FIFO)");
	expect_refused(ops->stat(st, "ck/fifo", &sb), CKPTIO_ECORRUPT,
		       "ck/fifo: ", "not a regular file (a FIFO)");
	rg.key = "ck/dir";
	expect_refused(ops->read(st, &rg, 1), CKPTIO_ECORRUPT, "ck/dir: ",
		       "not a regular file (a directory)");
	/* A directory is only a prefix of other keys, as in S3. */
	ck_assert_int_eq(ops->stat(st, "ck/dir", &sb), CKPTIO_ENOTFOUND);
	sun.sun_family = AF_UNIX;
	ck_assert_uint_lt(strlen(sock), sizeof(sun.sun_path));
	strcpy(sun.sun_path, sock);
	ck_assert_int_ge(fd = socket(AF_UNIX, SOCK_STREAM, 0), 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	rg.key = "ck/sock";
	expect_refused(ops->read(st, &rg, 1), CKPTIO_ECORRUPT, "ck/sock: ",
		       "not a regular file");
	expect_refused(ops->stat(st, "ck/sock", &sb), CKPTIO_ECORRUPT,
		       "ck/sock: ", "not a regular file (a socket)");
	close(fd);
	ops->close(st);
	free(fifo);
	free(sub);
	free(sock);
}
END_TEST

/* A put's directory is swapped for a link to elsewhere between its open
 * and its commit: the object lands in the directory the put opened, and
 * nothing is written or renamed through the link. */
START_TEST(test_directory_swapped_during_put)
{
	ckptio_store *st = open_store();
	char *a = ckptio__asprintf("%s/a", dir);
	char *moved = ckptio__asprintf("%s/a.real", dir);
	char *obj = ckptio__asprintf("%s/a.real/obj", dir);
	ckptio_put *p;
	size_t len;
	char *got;

	make_outside();
	ck_assert_int_eq(ops->put_open(st, "a/obj", 5, CKPTIO_PUT_IF_ABSENT, &p),
			 CKPTIO_OK);
	ck_assert_int_eq(ops->put_write(p, "hello", 5), CKPTIO_OK);
	ck_assert_int_eq(rename(a, moved), 0);
	ck_assert_int_eq(symlink(outside, a), 0);
	ck_assert_msg(ops->put_commit(p) == CKPTIO_OK, "%s", hc.msg);
	got = tu_read_file(obj, &len);
	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got, "hello");
	free(got);
	ck_assert_int_eq(count_files(outside), 1); /* only its secret */
	ops->close(st);
	tu_rmrf(outside);
	free(outside);
	free(a);
	free(moved);
	free(obj);
}
END_TEST

static void fault(const char *spec, ckptio_status want, const char *msg)
{
	ckptio_store *st;
	char buf[100000];

	setenv("CKPTIO_POSIX_FAULT", spec, 1);
	hc.status = CKPTIO_OK;
	st = open_store();
	memset(buf, 1, sizeof(buf));
	ck_assert_int_eq(put(st, "f/obj", buf, sizeof(buf), 0), want);
	ck_assert_msg(strstr(hc.msg, msg) != NULL, "'%s' lacks '%s'", hc.msg,
		      msg);
	ck_assert_int_eq(count_files(dir), 0); /* nothing visible or left */
	ops->close(st);
	unsetenv("CKPTIO_POSIX_FAULT");
}

START_TEST(test_faults)
{
	fault("pwrite:1:ENOSPC", CKPTIO_ENOSPC, "f/obj: write: No space left");
	fault("fsync:1:EIO", CKPTIO_EIO, "f/obj: fsync: Input/output error");
	fault("rename:1", CKPTIO_EIO, "f/obj: rename");
	fault("open:1:EACCES", CKPTIO_EAUTH, "cannot create temporary file");
}
END_TEST

START_TEST(test_bad_options)
{
	ckptio_store *st = NULL;

	set_opt("fsync", "sometimes");
	ck_assert_int_eq(ops->open(&ckptio__host, &hc, dir, 1, &st),
			 CKPTIO_ECONFIG);
	ck_assert_ptr_null(st);
	ck_assert_str_eq(hc.msg, "test.conf:1: fsync: 'sometimes' is not one "
				 "of always, never");
}
END_TEST

START_TEST(test_bad_bounce)
{
	ckptio_store *st = NULL;

	set_opt("bounce", "1KiB");
	ck_assert_int_eq(ops->open(&ckptio__host, &hc, dir, 1, &st),
			 CKPTIO_ECONFIG);
	ck_assert_ptr_null(st);
	ck_assert_str_eq(hc.msg, "posix: bounce must be 0 (off) or between "
				 "4KiB and 64MiB");
}
END_TEST

START_TEST(test_missing_root)
{
	ckptio_store *st = NULL;
	char *root = ckptio__asprintf("%s/none", dir);

	ck_assert_int_eq(ops->open(&ckptio__host, &hc, root, 0, &st),
			 CKPTIO_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(hc.msg, "no such directory"));
	free(root);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("posix");
	TCase *tc = tcase_create("store");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_round_trip_threads_1, 0, 2);
	tcase_add_loop_test(tc, test_round_trip_threads_4_parallel_write, 0,
			    2);
	tcase_add_loop_test(tc, test_direct_is_the_default, 0, 2);
	tcase_add_loop_test(tc, test_direct_write_refused, 0, 2);
	tcase_add_test(tc, test_round_trip_direct);
	tcase_add_test(tc, test_round_trip_bounce_small);
	tcase_add_test(tc, test_round_trip_bounce_off);
	tcase_add_test(tc, test_bounce_write_fault);
	tcase_add_test(tc, test_bad_bounce);
	tcase_add_test(tc, test_direct_aligned_zero_copy);
	tcase_add_test(tc, test_small_writes_gathered);
	tcase_add_test(tc, test_gathered_write_fault);
	tcase_add_test(tc, test_invisible_until_commit_and_abort);
	tcase_add_test(tc, test_if_absent);
	tcase_add_test(tc, test_invalid_keys);
	tcase_add_test(tc, test_read_errors);
	tcase_add_test(tc, test_message_paths);
	tcase_add_test(tc, test_scatter_read);
	tcase_add_test(tc, test_read_crc);
	tcase_add_test(tc, test_read_crc_bounce_off);
	tcase_add_test(tc, test_read_crc_bounce_small);
	tcase_add_test(tc, test_list_remove);
	tcase_add_test(tc, test_faults);
	tcase_add_test(tc, test_bad_options);
	tcase_add_test(tc, test_missing_root);
	tcase_add_test(tc, test_links_refused);
	tcase_add_test(tc, test_links_refused_without_openat2);
	tcase_add_test(tc, test_root_may_be_a_link);
	tcase_add_test(tc, test_special_files_refused);
	tcase_add_test(tc, test_directory_swapped_during_put);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
