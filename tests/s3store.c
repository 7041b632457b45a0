/*
 * s3store.c - the S3 store plugin through its descriptor, against a real
 * radosgw (tests/s3/test_s3.sh starts it and runs this suite).
 *
 * Usage: s3store ENDPOINT BUCKET ACCESS_KEY SECRET_KEY; the plugin is
 * loaded from the first directory of $CKPTIO_PLUGIN_PATH that has s3.so.
 * Every test works under its own prefix, so they do not see each other.
 *
 * Covered: single PUT and multipart puts, stable (zero-copy) and copied
 * data, writes of odd sizes across part boundaries; empty objects;
 * ranged reads coalesced and split; stat; list with continuation (pages of
 * 2 keys) and of uploads left behind; put-if-absent; abort; remove aborting
 * an abandoned upload; keys that need encoding; invalid keys; reads past
 * the end and of missing objects; injected faults that are retried.
 */
#include <check.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "testutil.h"

#define MiB (1u << 20)

static const char *endpoint, *bucket, *ak, *sk;
static void *dl;
static const ckptio_store_ops *ops;
static ckptio_host_ctx hc;
static ckptio__section sec;
static ckptio__opt opts[16];
static char prefix[64];

static void set_opt(const char *key, const char *value)
{
	for (size_t i = 0; i < sec.nopts; i++)
		if (strcmp(opts[i].key, key) == 0) {
			opts[i].value = (char *)value;
			return;
		}
	opts[sec.nopts] = (ckptio__opt){(char *)key, (char *)value, NULL, 1};
	sec.nopts++;
}

static void setup(void)
{
	static int n;

	ops = tu_plugin_open("s3", &dl)->store;
	memset(&sec, 0, sizeof(sec));
	sec.kind = CKPTIO__SEC_BACKEND;
	sec.name = "t";
	sec.file = "test.conf";
	sec.opts = opts;
	set_opt("endpoint", endpoint);
	set_opt("bucket", bucket);
	set_opt("access_key_id", ak);
	set_opt("secret_access_key", sk);
	set_opt("part_size", "5MiB");
	set_opt("concurrency", "4");
	set_opt("retries", "3");
	snprintf(prefix, sizeof(prefix), "store/%d-%d", (int)getpid(), ++n);
	set_opt("prefix", prefix);
	ckptio__hc_init(&hc, NULL, &sec, NULL);
	unsetenv("CKPTIO_S3_FAULTS");
}

static void teardown(void)
{
	ckptio__hc_destroy(&hc);
	dlclose(dl);
	dl = NULL;
}

/* A new operation: the first error recorded on hc is the one it keeps. */
static void fresh_hc(void)
{
	ckptio__hc_destroy(&hc);
	ckptio__hc_init(&hc, NULL, &sec, NULL);
}

static ckptio_store *open_store(void)
{
	ckptio_store *st = NULL;

	ck_assert_msg(ops->open(&ckptio__host, &hc, "", 1, &st) == CKPTIO_OK,
		      "%s", hc.msg);
	return st;
}

/* Put buf in writes of the given sizes (cycled); copy: write from a
 * scratch buffer overwritten after each write, as pulled items do. */
static ckptio_status put_sized(ckptio_store *st, const char *key,
			       const unsigned char *buf, size_t len,
			       unsigned flags, const size_t *sizes, size_t nsizes)
{
	ckptio_put *p;
	ckptio_status s = ops->put_open(st, key, len, flags, &p);
	unsigned char *scratch = NULL;
	size_t off = 0;

	if (s != CKPTIO_OK)
		return s;
	if (!(flags & CKPTIO_PUT_STABLE))
		scratch = malloc(len ? len : 1);
	for (size_t i = 0; off < len && s == CKPTIO_OK; i++) {
		size_t k = sizes[i % nsizes];

		if (k > len - off)
			k = len - off;
		if (scratch) {
			memcpy(scratch, buf + off, k);
			s = ops->put_write(p, scratch, k);
			memset(scratch, 0xAA, k);
		} else {
			s = ops->put_write(p, buf + off, k);
		}
		off += k;
	}
	free(scratch);
	if (s != CKPTIO_OK) {
		ops->put_abort(p);
		return s;
	}
	return ops->put_commit(p);
}

static ckptio_status put(ckptio_store *st, const char *key, const void *buf,
			 size_t len, unsigned flags)
{
	size_t whole = len ? len : 1;

	return put_sized(st, key, buf, len, flags, &whole, 1);
}

/* Read [off, off+len) of key and compare with want + off. */
static void check_bytes(ckptio_store *st, const char *key,
			const unsigned char *want, uint64_t off, size_t len)
{
	unsigned char *got = malloc(len ? len : 1);
	ckptio_range rg = {key, off, len, got};

	ck_assert_msg(ops->read(st, &rg, 1) == CKPTIO_OK, "%s", hc.msg);
	ck_assert_msg(memcmp(got, want + off, len) == 0, "%s: bytes differ",
		      key);
	free(got);
}

/* ------------------------------------------------------------------------ */

START_TEST(test_small_round_trip)
{
	ckptio_store *st = open_store();
	unsigned char buf[1000];
	ckptio_stat sb;

	tu_fill(buf, sizeof(buf), 1);
	ck_assert_int_eq(put(st, "a/small", buf, sizeof(buf), 0), CKPTIO_OK);
	ck_assert_int_eq(ops->stat(st, "a/small", &sb), CKPTIO_OK);
	ck_assert_uint_eq(sb.size, sizeof(buf));
	ck_assert_int_gt(sb.mtime, 1500000000);
	check_bytes(st, "a/small", buf, 0, sizeof(buf));
	check_bytes(st, "a/small", buf, 999, 1);
	check_bytes(st, "a/small", buf, 17, 500);
	ck_assert_int_eq(ops->remove(st, "a/small"), CKPTIO_OK);
	ck_assert_int_eq(ops->stat(st, "a/small", &sb), CKPTIO_ENOTFOUND);
	ops->close(st);
}
END_TEST

START_TEST(test_empty_object)
{
	ckptio_store *st = open_store();
	ckptio_put *p;
	ckptio_stat sb = {.size = 7};

	ck_assert_int_eq(ops->put_open(st, "empty", 0, 0, &p), CKPTIO_OK);
	ck_assert_int_eq(ops->put_commit(p), CKPTIO_OK);
	ck_assert_int_eq(ops->stat(st, "empty", &sb), CKPTIO_OK);
	ck_assert_uint_eq(sb.size, 0);
	ck_assert_int_eq(ops->read(st, &(ckptio_range){"empty", 0, 0, NULL},
				   1), CKPTIO_OK);
	ck_assert_int_eq(ops->remove(st, "empty"), CKPTIO_OK);
	ops->close(st);
}
END_TEST

/* Multipart: 23 MiB + 5 bytes in writes that straddle part boundaries,
 * from stable memory (references kept) or copied (scratch reused). */
static void multipart(unsigned flags)
{
	ckptio_store *st = open_store();
	size_t len = 23 * MiB + 5;
	unsigned char *buf = malloc(len);
	static const size_t sizes[] = {1, 4095, 7 * MiB, 333333, 3 * MiB + 1};
	ckptio_stat sb;

	tu_fill(buf, len, 42);
	ck_assert_msg(put_sized(st, "mp/obj", buf, len, flags, sizes, 5) ==
			      CKPTIO_OK, "%s", hc.msg);
	ck_assert_int_eq(ops->stat(st, "mp/obj", &sb), CKPTIO_OK);
	ck_assert_uint_eq(sb.size, len);
	check_bytes(st, "mp/obj", buf, 0, len);
	check_bytes(st, "mp/obj", buf, 5 * MiB - 3, 7);
	check_bytes(st, "mp/obj", buf, len - 1, 1);
	ck_assert_int_eq(ops->remove(st, "mp/obj"), CKPTIO_OK);
	free(buf);
	ops->close(st);
}

START_TEST(test_multipart_stable)
{
	multipart(CKPTIO_PUT_STABLE);
}
END_TEST

START_TEST(test_multipart_copied)
{
	multipart(0);
}
END_TEST

/* Many ranges at once: adjacent, with small gaps (coalesced), large (split
 * into several GETs), of two objects, in no particular order. */
START_TEST(test_scatter_read)
{
	ckptio_store *st = open_store();
	size_t len = 12 * MiB;
	unsigned char *a = malloc(len), *b = malloc(1000);
	unsigned char *ga = calloc(1, len), *gb = calloc(1, 1000);
	ckptio_range r[] = {
		{"s/b", 500, 500, gb + 500},
		{"s/a", 4096, 4096, ga + 4096},
		{"s/a", 0, 4000, ga},          /* gap of 96 bytes: coalesced */
		{"s/a", 8192, 11 * MiB, ga + 8192}, /* split in 3 GETs */
		{"s/b", 0, 500, gb},
		{"s/a", len - 100, 100, ga + len - 100},
	};

	tu_fill(a, len, 7);
	tu_fill(b, 1000, 8);
	ck_assert_int_eq(put(st, "s/a", a, len, CKPTIO_PUT_STABLE), CKPTIO_OK);
	ck_assert_int_eq(put(st, "s/b", b, 1000, 0), CKPTIO_OK);
	ck_assert_msg(ops->read(st, r, 6) == CKPTIO_OK, "%s", hc.msg);
	ck_assert(memcmp(ga, a, 4000) == 0);
	ck_assert(memcmp(ga + 4096, a + 4096, 4096 + 11 * MiB) == 0);
	ck_assert(memcmp(ga + len - 100, a + len - 100, 100) == 0);
	ck_assert(memcmp(gb, b, 1000) == 0);
	/* read_crc (ABI 1.7): the same bytes, and each range's CRC32C
	 * carried across its GETs and combined, with an empty range too. */
	{
		ckptio_range r2[7];
		uint32_t crcs[7];

		memcpy(r2, r, sizeof(r));
		r2[6] = (ckptio_range){"s/a", 77, 0, ga};
		memset(ga, 0, len);
		memset(gb, 0, 1000);
		memset(crcs, 0xab, sizeof(crcs));
		ck_assert_msg(ops->read_crc(st, r2, 7, crcs) == CKPTIO_OK,
			      "%s", hc.msg);
		for (int i = 0; i < 7; i++) {
			const unsigned char *src =
				(strcmp(r2[i].key, "s/a") == 0 ? a : b) +
				r2[i].offset;

			ck_assert_msg(memcmp(r2[i].buf, src, r2[i].length) == 0,
				      "range %d: bytes differ", i);
			ck_assert_msg(crcs[i] ==
					      ckptio__crc32c(0, src,
							     r2[i].length),
				      "range %d: CRC %08x", i, crcs[i]);
		}
	}
	ck_assert_int_eq(ops->remove(st, "s/a"), CKPTIO_OK);
	ck_assert_int_eq(ops->remove(st, "s/b"), CKPTIO_OK);
	free(a);
	free(b);
	free(ga);
	free(gb);
	ops->close(st);
}
END_TEST

typedef struct seen {
	char keys[16][128];
	uint64_t sizes[16];
	int n;
} seen;

static int collect(void *u, const char *key, const ckptio_stat *sb)
{
	seen *s = u;

	ck_assert_int_lt(s->n, 16);
	snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", key);
	s->sizes[s->n++] = sb->size;
	return 0;
}

static int has(const seen *s, const char *key)
{
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->keys[i], key) == 0)
			return 1;
	return 0;
}

/* One version per object: an object replaced by another writer after
 * this store first read it is refused ("changed on the server"), by a
 * GET and by a HEAD, rather than mixed; what this store writes itself it
 * reads again freely. */
START_TEST(test_one_version)
{
	ckptio_store *st = open_store(), *other = open_store();
	unsigned char a[64], b[64], got[64];
	ckptio_range rg = {"v/obj", 0, 64, got};
	ckptio_stat sb;

	tu_fill(a, sizeof(a), 1);
	tu_fill(b, sizeof(b), 2);
	ck_assert_int_eq(put(st, "v/obj", a, 64, CKPTIO_PUT_STABLE), CKPTIO_OK);
	ck_assert_msg(ops->read(st, &rg, 1) == CKPTIO_OK, "%s", hc.msg);
	ck_assert_mem_eq(got, a, 64);
	ck_assert_int_eq(put(other, "v/obj", b, 64, CKPTIO_PUT_STABLE),
			 CKPTIO_OK);
	ck_assert_int_eq(ops->read(st, &rg, 1), CKPTIO_ECORRUPT);
	ck_assert_msg(strstr(hc.msg, "v/obj: changed on the server since it "
			     "was first read"), "%s", hc.msg);
	ck_assert_int_eq(ops->stat(st, "v/obj", &sb), CKPTIO_ECORRUPT);
	/* This store's own write: the new version is the one it reads. */
	ck_assert_int_eq(put(st, "v/obj", a, 64, CKPTIO_PUT_STABLE), CKPTIO_OK);
	ck_assert_msg(ops->read(st, &rg, 1) == CKPTIO_OK, "%s", hc.msg);
	ck_assert_mem_eq(got, a, 64);
	ck_assert_int_eq(ops->stat(st, "v/obj", &sb), CKPTIO_OK);
	ck_assert_int_eq(ops->remove(st, "v/obj"), CKPTIO_OK);
	ops->close(other);
	ops->close(st);
}
END_TEST

START_TEST(test_list_pages)
{
	ckptio_store *st;
	seen s = {0};
	char key[32];

	set_opt("list_page", "2");
	st = open_store();
	for (int i = 0; i < 7; i++) {
		snprintf(key, sizeof(key), "l/k%d", i);
		ck_assert_int_eq(put(st, key, key, strlen(key), 0), CKPTIO_OK);
	}
	ck_assert_int_eq(put(st, "other", "x", 1, 0), CKPTIO_OK);
	ck_assert_msg(ops->list(st, "l/", collect, &s) == CKPTIO_OK, "%s",
		      hc.msg);
	ck_assert_int_eq(s.n, 7);
	for (int i = 0; i < 7; i++) {
		snprintf(key, sizeof(key), "l/k%d", i);
		ck_assert_msg(has(&s, key), "%s not listed", key);
	}
	ck_assert(!has(&s, "other"));
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(ops->list(st, "", collect, &s), CKPTIO_OK);
	ck_assert_int_eq(s.n, 8);
	for (int i = 0; i < 7; i++) {
		snprintf(key, sizeof(key), "l/k%d", i);
		ck_assert_int_eq(ops->remove(st, key), CKPTIO_OK);
	}
	ck_assert_int_eq(ops->remove(st, "other"), CKPTIO_OK);
	ops->close(st);
}
END_TEST

START_TEST(test_if_absent)
{
	ckptio_store *st = open_store();
	char got[5] = {0};

	ck_assert_int_eq(put(st, "c/meta", "first", 5, CKPTIO_PUT_IF_ABSENT),
			 CKPTIO_OK);
	ck_assert_int_eq(put(st, "c/meta", "again", 5, CKPTIO_PUT_IF_ABSENT),
			 CKPTIO_EEXIST);
	ck_assert_ptr_nonnull(strstr(hc.msg, "already exists"));
	fresh_hc();
	ck_assert_int_eq(ops->read(st, &(ckptio_range){"c/meta", 0, 5, got},
				   1), CKPTIO_OK);
	ck_assert(memcmp(got, "first", 5) == 0);
	ck_assert_int_eq(put(st, "c/meta", "third", 5, 0), CKPTIO_OK);
	ck_assert_int_eq(ops->remove(st, "c/meta"), CKPTIO_OK);
	ops->close(st);
}
END_TEST

static int upload_listed(ckptio_store *st, const char *key)
{
	seen s = {0};

	ck_assert_int_eq(ops->list(st, "", collect, &s), CKPTIO_OK);
	return has(&s, key);
}

/* An aborted multipart put leaves no object and no upload. */
START_TEST(test_abort)
{
	ckptio_store *st = open_store();
	size_t len = 11 * MiB;
	unsigned char *buf = malloc(len);
	ckptio_put *p;
	ckptio_stat sb;

	tu_fill(buf, len, 3);
	ck_assert_int_eq(ops->put_open(st, "ab/obj", len, CKPTIO_PUT_STABLE, &p),
			 CKPTIO_OK);
	ck_assert_int_eq(ops->put_write(p, buf, len), CKPTIO_OK);
	ops->put_abort(p);
	ck_assert_int_eq(ops->stat(st, "ab/obj", &sb), CKPTIO_ENOTFOUND);
	ck_assert(!upload_listed(st, "ab/obj"));
	free(buf);
	ops->close(st);
}
END_TEST

/* An upload whose abort failed (as after a crash) is listed, and remove
 * aborts it. */
START_TEST(test_abandoned_upload)
{
	ckptio_store *st;
	size_t len = 6 * MiB;
	unsigned char *buf = malloc(len);
	ckptio_put *p;

	setenv("CKPTIO_S3_FAULTS", "abort:1:403", 1);
	st = open_store();
	tu_fill(buf, len, 4);
	ck_assert_int_eq(ops->put_open(st, "gc/obj", len, 0, &p), CKPTIO_OK);
	ck_assert_int_eq(ops->put_write(p, buf, len), CKPTIO_OK);
	ops->put_abort(p); /* the injected 403 leaves the upload */
	ck_assert(upload_listed(st, "gc/obj"));
	ck_assert_int_eq(ops->remove(st, "gc/obj"), CKPTIO_OK);
	ck_assert(!upload_listed(st, "gc/obj"));
	free(buf);
	ops->close(st);
}
END_TEST

START_TEST(test_encoded_keys)
{
	static const char *const keys[] = {
		"sp ace/x", "plus+sign", "per%25cent%", "uni/\xc3\xbc\xe2\x82\xac",
		"q?a=b&c#d", "tilde~(paren)*!'", "semi;colon,comma:", NULL};
	ckptio_store *st = open_store();
	seen s = {0};

	for (int i = 0; keys[i]; i++) {
		char got[64] = {0};
		size_t n = strlen(keys[i]);

		ck_assert_msg(put(st, keys[i], keys[i], n, 0) == CKPTIO_OK,
			      "%s: %s", keys[i], hc.msg);
		ck_assert_int_eq(ops->read(st, &(ckptio_range){keys[i], 0, n,
							       got}, 1),
				 CKPTIO_OK);
		ck_assert_str_eq(got, keys[i]);
	}
	ck_assert_int_eq(ops->list(st, "", collect, &s), CKPTIO_OK);
	for (int i = 0; keys[i]; i++) {
		ck_assert_msg(has(&s, keys[i]), "%s not listed", keys[i]);
		ck_assert_int_eq(ops->remove(st, keys[i]), CKPTIO_OK);
	}
	ops->close(st);
}
END_TEST

/* Batch delete: keys that need escaping in XML, a missing key, an
 * abandoned upload of one of them. */
START_TEST(test_remove_many)
{
	static const char *const keys[] = {"rm/a", "rm/amp&<lt>\"q'",
					   "rm/sp ace+", "rm/missing", "rm/up"};
	ckptio_store *st;
	size_t len = 6u << 20;
	unsigned char *buf = calloc(1, len);
	seen s = {0};
	ckptio_put *p;

	setenv("CKPTIO_S3_FAULTS", "abort:1:403", 1);
	st = open_store();
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(put(st, keys[i], "x", 1, 0), CKPTIO_OK);
	ck_assert_int_eq(ops->put_open(st, "rm/up", len, 0, &p), CKPTIO_OK);
	ck_assert_int_eq(ops->put_write(p, buf, len), CKPTIO_OK);
	ops->put_abort(p); /* the injected 403 leaves the upload */
	ck_assert_int_eq(ops->list(st, "rm/", collect, &s), CKPTIO_OK);
	ck_assert_int_eq(s.n, 4);
	ck_assert_msg(ops->remove_many(st, keys, 5) == CKPTIO_OK, "%s", hc.msg);
	memset(&s, 0, sizeof(s));
	ck_assert_int_eq(ops->list(st, "rm/", collect, &s), CKPTIO_OK);
	ck_assert_msg(s.n == 0, "%d keys left, first %s", s.n, s.keys[0]);
	free(buf);
	ops->close(st);
}
END_TEST

START_TEST(test_bad_keys_and_ranges)
{
	ckptio_store *st = open_store();
	static const char *const bad[] = {"", "/abs", "a//b", "a/./b", "../x",
					  "dir/", NULL};
	char buf[16];
	ckptio_put *p;

	for (int i = 0; bad[i]; i++)
		ck_assert_int_eq(ops->put_open(st, bad[i], 1, 0, &p),
				 CKPTIO_EINVAL);
	fresh_hc();
	ck_assert_int_eq(put(st, "r/ten", "0123456789", 10, 0), CKPTIO_OK);
	ck_assert_int_eq(ops->read(st, &(ckptio_range){"r/ten", 5, 10, buf}, 1),
			 CKPTIO_ECORRUPT);
	ck_assert_msg(strstr(hc.msg, "past the end") != NULL, "%s", hc.msg);
	fresh_hc();
	ck_assert_int_eq(ops->read(st, &(ckptio_range){"r/none", 0, 4, buf}, 1),
			 CKPTIO_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(hc.msg, "r/none"));
	ck_assert_int_eq(ops->remove(st, "r/ten"), CKPTIO_OK);
	ops->close(st);
}
END_TEST

/* Every kind of fault, retried; the bytes come out right. */
START_TEST(test_faults_retried)
{
	ckptio_store *st;
	size_t len = 16 * MiB;
	unsigned char *buf = malloc(len);

	setenv("CKPTIO_S3_FAULTS",
	       "create:1:500,part:1:reset,part:3:503,part:4:429,complete:1:503,"
	       "get:1:short,get:2:reset,get:4:500,head:1:503", 1);
	st = open_store();
	tu_fill(buf, len, 9);
	ck_assert_msg(put(st, "f/obj", buf, len, CKPTIO_PUT_STABLE) == CKPTIO_OK,
		      "%s", hc.msg);
	check_bytes(st, "f/obj", buf, 0, len);
	ck_assert_int_eq(ops->stat(st, "f/obj", &(ckptio_stat){0}), CKPTIO_OK);
	ck_assert_int_eq(ops->remove(st, "f/obj"), CKPTIO_OK);
	free(buf);
	ops->close(st);
}
END_TEST

START_TEST(test_config_errors)
{
	ckptio_store *st = NULL;

	set_opt("part_size", "1MiB");
	ck_assert_int_eq(ops->open(&ckptio__host, &hc, "", 1, &st),
			 CKPTIO_ECONFIG);
	ck_assert_ptr_nonnull(strstr(hc.msg, "part_size"));
	fresh_hc();
	set_opt("part_size", "5MiB");
	set_opt("endpoint", "ftp://x");
	ck_assert_int_eq(ops->open(&ckptio__host, &hc, "", 1, &st),
			 CKPTIO_ECONFIG);
	ck_assert_ptr_nonnull(strstr(hc.msg, "http://"));
	fresh_hc();
	set_opt("endpoint", endpoint);
	setenv("CKPTIO_S3_FAULTS", "get:x:500", 1);
	ck_assert_int_eq(ops->open(&ckptio__host, &hc, "", 1, &st),
			 CKPTIO_ECONFIG);
	ck_assert_ptr_nonnull(strstr(hc.msg, "CKPTIO_S3_FAULTS"));
}
END_TEST

int main(int argc, char **argv)
{
	Suite *s = suite_create("s3store");
	TCase *tc = tcase_create("rgw");

	if (argc != 5) {
		fprintf(stderr, "usage: s3store ENDPOINT BUCKET ACCESS_KEY "
				"SECRET_KEY\n");
		return 2;
	}
	endpoint = argv[1];
	bucket = argv[2];
	ak = argv[3];
	sk = argv[4];
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_small_round_trip);
	tcase_add_test(tc, test_empty_object);
	tcase_add_test(tc, test_multipart_stable);
	tcase_add_test(tc, test_multipart_copied);
	tcase_add_test(tc, test_scatter_read);
	tcase_add_test(tc, test_one_version);
	tcase_add_test(tc, test_list_pages);
	tcase_add_test(tc, test_if_absent);
	tcase_add_test(tc, test_abort);
	tcase_add_test(tc, test_abandoned_upload);
	tcase_add_test(tc, test_encoded_keys);
	tcase_add_test(tc, test_remove_many);
	tcase_add_test(tc, test_bad_keys_and_ranges);
	tcase_add_test(tc, test_faults_retried);
	tcase_add_test(tc, test_config_errors);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
