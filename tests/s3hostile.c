/*
 * s3hostile.c - the S3 store plugin against a server that misbehaves
 * (tests/s3/hostile.py, started by tests/s3/test_hostile.sh): bodies longer
 * than asked, a 2^62-byte Content-Length, bodies that end early, a server
 * that ignores Range, unknown error codes, 5xx without XML, endless 503,
 * truncated and DTD-carrying listings, a listing without a continuation
 * token or with a size past 2^64, and a CompleteMultipartUpload answered
 * 200 with an <Error>.  Every one must end in a clear error (naming the
 * object and the problem), never a crash, a hang or wrong bytes.
 * Env: CKPTIO_HOSTILE_ENDPOINT (http://127.0.0.1:PORT).
 */
#include <check.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "testutil.h"

static void *dl;
static const ckptio_store_ops *ops;
static ckptio_host_ctx hc;
static ckptio__section sec;
static ckptio__opt opts[16];
static ckptio_store *st;

static void setup(void)
{
	static const char *const kv[][2] = {
		{"bucket", "hostile"}, {"access_key_id", "AK"},
		{"secret_access_key", "SK"}, {"retries", "2"},
		{"concurrency", "2"}, {"part_size", "5MiB"},
		{"connect_timeout", "5"}, {"stall_timeout", "10"}};

	ops = tu_plugin_open("s3", &dl)->store;
	memset(&sec, 0, sizeof(sec));
	sec.kind = CKPTIO__SEC_BACKEND;
	sec.name = "h";
	sec.file = "test.conf";
	sec.opts = opts;
	opts[0] = (ckptio__opt){"endpoint", getenv("CKPTIO_HOSTILE_ENDPOINT"),
				NULL, 1};
	ck_assert_ptr_nonnull(opts[0].value);
	sec.nopts = 1;
	for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
		opts[sec.nopts++] = (ckptio__opt){(char *)kv[i][0],
						  (char *)kv[i][1], NULL, 1};
	unsetenv("CKPTIO_S3_FAULTS");
	unsetenv("AWS_CA_BUNDLE");
	ckptio__hc_init(&hc, NULL, &sec, NULL);
	ck_assert_msg(ops->open(&ckptio__host, &hc, "", 1, &st) == CKPTIO_OK,
		      "%s", hc.msg);
}

static void teardown(void)
{
	ops->close(st);
	ckptio__hc_destroy(&hc);
	dlclose(dl);
	dl = NULL;
}

/* Read 10 bytes of key: its status; hc.msg holds the message. */
static ckptio_status read10(const char *key, unsigned char *buf)
{
	ckptio_range r = {key, 0, 10, buf};

	return ops->read(st, &r, 1);
}

#define EXPECT_MSG(text) \
	ck_assert_msg(strstr(hc.msg, text) != NULL, "message lacks '%s': %s", \
		      text, hc.msg)

START_TEST(test_longer_body)
{
	unsigned char buf[10];

	ck_assert_int_eq(read10("long", buf), CKPTIO_ECORRUPT);
	EXPECT_MSG("more than the 10 bytes");
	EXPECT_MSG("s3://hostile/long");
}
END_TEST

START_TEST(test_huge_content_length)
{
	unsigned char buf[10];
	ckptio_stat sb;

	ck_assert_int_eq(ops->stat(st, "hugelen", &sb), CKPTIO_OK);
	ck_assert_uint_eq(sb.size, 1ull << 62);
	ck_assert_int_eq(read10("hugelen", buf), CKPTIO_ECORRUPT);
	EXPECT_MSG("more than the 10 bytes");
}
END_TEST

START_TEST(test_head_without_length)
{
	ckptio_stat sb;

	ck_assert_int_eq(ops->stat(st, "nolen", &sb), CKPTIO_EIO);
	EXPECT_MSG("s3://hostile/nolen: HEAD: no Content-Length");
}
END_TEST

START_TEST(test_range_ignored)
{
	unsigned char buf[10];

	/* Not the bytes asked for: said so, not retried. */
	ck_assert_int_eq(read10("nolength", buf), CKPTIO_EIO);
	EXPECT_MSG("does not serve byte ranges (HTTP 200");
}
END_TEST

START_TEST(test_short_body_retried_then_fails)
{
	unsigned char buf[10];

	ck_assert_int_eq(read10("short", buf), CKPTIO_ENET);
	EXPECT_MSG("5 bytes remaining");
	EXPECT_MSG("after 3 attempts");
}
END_TEST

START_TEST(test_unknown_error_code)
{
	unsigned char buf[10];

	ck_assert_int_eq(read10("weird", buf), CKPTIO_EIO);
	EXPECT_MSG("HTTP 400 WeirdNewError: never seen");
	ck_assert(strstr(hc.msg, "attempts") == NULL); /* not retried */
}
END_TEST

START_TEST(test_endless_503)
{
	unsigned char buf[10];

	ck_assert_int_eq(read10("busy", buf), CKPTIO_ENET);
	EXPECT_MSG("503 SlowDown");
	EXPECT_MSG("after 3 attempts");
}
END_TEST

START_TEST(test_500_not_xml)
{
	unsigned char buf[10];

	ck_assert_int_eq(read10("garbage500", buf), CKPTIO_ENET);
	EXPECT_MSG("HTTP 500");
}
END_TEST

START_TEST(test_missing)
{
	unsigned char buf[10];
	ckptio_stat sb;

	ck_assert_int_eq(read10("nothing", buf), CKPTIO_ENOTFOUND);
	EXPECT_MSG("NoSuchKey");
	ck_assert_int_eq(ops->stat(st, "nothing", &sb), CKPTIO_ENOTFOUND);
}
END_TEST

static int count_keys(void *u, const char *key, const ckptio_stat *sb)
{
	(void)key, (void)sb;
	++*(int *)u;
	return 0;
}

static void bad_listing(const char *prefix, const char *text)
{
	int n = 0;

	ck_assert_int_eq(ops->list(st, prefix, count_keys, &n), CKPTIO_EIO);
	EXPECT_MSG(text);
	EXPECT_MSG("ListObjectsV2 response");
}

START_TEST(test_listing_truncated)
{
	bad_listing("trunc/", "malformed XML");
}
END_TEST

START_TEST(test_listing_dtd)
{
	bad_listing("dtd/", "DTD");
}
END_TEST

START_TEST(test_listing_no_token)
{
	bad_listing("notoken/", "NextContinuationToken");
}
END_TEST

START_TEST(test_listing_big_size)
{
	bad_listing("bigsize/", "not a number");
}
END_TEST

START_TEST(test_complete_error_in_200)
{
	size_t len = 6u << 20;
	unsigned char *buf = calloc(1, len);
	ckptio_put *p;

	ck_assert_int_eq(ops->put_open(st, "mp", len, CKPTIO_PUT_STABLE, &p),
			 CKPTIO_OK);
	ck_assert_int_eq(ops->put_write(p, buf, len), CKPTIO_OK);
	ck_assert_int_eq(ops->put_commit(p), CKPTIO_EIO);
	EXPECT_MSG("CompleteMultipartUpload: InternalError");
	free(buf);
}
END_TEST

/* The checksums sent with PUTs, parts and Complete are the bodies'
 * CRC32C (the server recomputes them; RGW does not check them). */
START_TEST(test_checksums_sent)
{
	size_t len = (5u << 20) + 10;
	unsigned char *buf = malloc(len);

	tu_fill(buf, len, 11);
	for (int stable = 0; stable < 2; stable++) {
		ckptio_put *p;

		ck_assert_int_eq(ops->put_open(st, stable ? "ckmulti" : "ckcopy",
					       len, stable ? CKPTIO_PUT_STABLE : 0,
					       &p), CKPTIO_OK);
		ck_assert_int_eq(ops->put_write(p, buf, 1000), CKPTIO_OK);
		ck_assert_int_eq(ops->put_write(p, buf + 1000, len - 1000),
				 CKPTIO_OK);
		ck_assert_msg(ops->put_commit(p) == CKPTIO_OK, "%s", hc.msg);
	}
	{
		ckptio_put *p;

		ck_assert_int_eq(ops->put_open(st, "cksmall", 1000, 0, &p),
				 CKPTIO_OK);
		ck_assert_int_eq(ops->put_write(p, buf, 1000), CKPTIO_OK);
		ck_assert_msg(ops->put_commit(p) == CKPTIO_OK, "%s", hc.msg);
	}
	free(buf);
}
END_TEST

/* DeleteObjects answering 200 with per-key errors. */
START_TEST(test_delete_partial_failure)
{
	static const char *const keys[] = {"d/free", "d/locked&1", "d/x"};

	ck_assert_int_eq(ops->remove_many(st, keys, 3), CKPTIO_EAUTH);
	EXPECT_MSG("s3://hostile/d/locked&1: DeleteObjects: AccessDenied");
	EXPECT_MSG("1 of 3 keys");
}
END_TEST

/* A fault table the plugin cannot honour whole is refused, not cut. */
START_TEST(test_fault_table_refused)
{
	static const char *const bad[] = {
		"get:5-2:500", "get:1:teapot", "nosuch:1:500",
		"get:1:500,get:2:500,get:3:500,get:4:500,get:5:500,get:6:500,"
		"get:7:500,get:8:500,get:9:500,get:10:500,get:11:500,"
		"get:12:500,get:13:500,get:14:500,get:15:500,get:16:500,"
		"get:17:500", NULL};

	for (int i = 0; bad[i]; i++) {
		ckptio_store *s2 = NULL;

		setenv("CKPTIO_S3_FAULTS", bad[i], 1);
		ckptio__hc_destroy(&hc);
		ckptio__hc_init(&hc, NULL, &sec, NULL);
		ck_assert_msg(ops->open(&ckptio__host, &hc, "", 1, &s2) ==
			      CKPTIO_ECONFIG, "%s accepted", bad[i]);
		EXPECT_MSG("CKPTIO_S3_FAULTS");
	}
	unsetenv("CKPTIO_S3_FAULTS");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Whole saves through the public API against the in-memory mode           */

/* A context whose backend "h" is the hostile server under prefix, with
 * the backend options in extra ("" for none). */
static ckptio_ctx *mem_ctx_with(const char *prefix, const char *extra,
				char **tmpdir)
{
	char *conf, *text;
	ckptio_ctx *c;

	*tmpdir = tu_mkdtemp();
	ck_assert_int_gt(asprintf(&conf, "%s/ckptio.conf", *tmpdir), 0);
	ck_assert_int_gt(asprintf(&text,
				  "[backend \"h\"]\nstore = s3\nendpoint = %s\n"
				  "bucket = hostile\nprefix = %s\n"
				  "access_key_id = AK\nsecret_access_key = SK\n"
				  "region = us-east-1\nretries = 2\n%s",
				  getenv("CKPTIO_HOSTILE_ENDPOINT"), prefix,
				  extra),
			 0);
	ck_assert_int_eq(tu_write_file(conf, text, strlen(text)), 0);
	ck_assert_msg(ckptio_ctx_new(&c, conf) == CKPTIO_OK, "%s",
		      ckptio_last_error());
	free(conf);
	free(text);
	return c;
}

static ckptio_ctx *mem_ctx(const char *prefix, char **tmpdir)
{
	return mem_ctx_with(prefix, "", tmpdir);
}

static ckptio_sd *two_tensors(float *a, float *b)
{
	const uint64_t shape[1] = {1000};
	ckptio_sd *sd;

	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "a", CKPTIO_F32, 1, shape,
					      NULL, NULL, a), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_tensor(sd, "b", CKPTIO_F32, 1, shape,
					      NULL, NULL, b), CKPTIO_OK);
	return sd;
}

/* The location loads back as a and b, every chunk checked. */
static void loads_back(ckptio_ctx *c, const float *a, const float *b)
{
	static float a2[1000], b2[1000];
	ckptio_sd *sd = two_tensors(a2, b2);

	ck_assert_msg(ckptio_load(c, "h:ck", sd, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(c));
	ck_assert(memcmp(a, a2, sizeof(a2)) == 0);
	ck_assert(memcmp(b, b2, sizeof(b2)) == 0);
	ck_assert_msg(ckptio_verify(c, "h:ck", NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(c));
	ckptio_sd_free(sd);
}

/* The server stores the metadata and drops the connection; the retried
 * put-if-absent meets the object (412).  The save reads the key back,
 * finds its own bytes: committed.  (It used to report "already exists"
 * and remove the data objects the committed metadata names.) */
START_TEST(test_lost_commit_answer)
{
	static float a[1000], b[1000];
	char *tmp;
	ckptio_ctx *c = mem_ctx("memlost/", &tmp);
	ckptio_sd *sd;

	tu_fill(a, sizeof(a), 1);
	tu_fill(b, sizeof(b), 2);
	sd = two_tensors(a, b);
	ck_assert_msg(ckptio_save(c, "h:ck", sd, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(c));
	ckptio_sd_free(sd);
	loads_back(c, a, b);
	ckptio_ctx_free(c);
	tu_rmrf(tmp);
	free(tmp);
}
END_TEST

/* Likewise, and reading the key back fails too: the commit is in doubt.
 * The save says so and keeps every data object: once the server answers
 * again, the checkpoint loads whole. */
START_TEST(test_commit_in_doubt)
{
	static float a[1000], b[1000];
	char *tmp;
	ckptio_ctx *c = mem_ctx("memdark/", &tmp);
	ckptio_sd *sd;
	ckptio_status rc;

	tu_fill(a, sizeof(a), 3);
	tu_fill(b, sizeof(b), 4);
	sd = two_tensors(a, b);
	rc = ckptio_save(c, "h:ck", sd, NULL);
	ck_assert_msg(rc == CKPTIO_EINDOUBT, "%s: %s", ckptio_strerror(rc),
		      ckptio_errmsg(c));
	ckptio_sd_free(sd);
	loads_back(c, a, b);
	ckptio_ctx_free(c);
	tu_rmrf(tmp);
	free(tmp);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* conditional_put = false: no if-absent capability (ABI 1.3 instance_caps) */

/* The store's capabilities follow its configuration. */
START_TEST(test_instance_caps)
{
	ckptio_host_ctx hc2;
	ckptio__section sec2 = sec;
	ckptio__opt opts2[17];
	ckptio_store *st2;

	ck_assert_ptr_nonnull(ops->instance_caps);
	ck_assert_uint_eq(ops->instance_caps(st), ops->caps);
	ck_assert(ops->caps & CKPTIO_STORE_CAP_IF_ABSENT);
	memcpy(opts2, opts, sec.nopts * sizeof(*opts));
	opts2[sec.nopts] = (ckptio__opt){"conditional_put", "false", NULL, 1};
	sec2.opts = opts2;
	sec2.nopts = sec.nopts + 1;
	ckptio__hc_init(&hc2, NULL, &sec2, NULL);
	ck_assert_msg(ops->open(&ckptio__host, &hc2, "", 1, &st2) == CKPTIO_OK,
		      "%s", hc2.msg);
	ck_assert_uint_eq(ops->instance_caps(st2),
			  ops->caps & ~CKPTIO_STORE_CAP_IF_ABSENT);
	ops->close(st2);
	ckptio__hc_destroy(&hc2);
}
END_TEST

typedef struct warnings {
	pthread_mutex_t mu;
	int if_absent;
} warnings;

static void count_warnings(void *user, ckptio_log_level level,
			   const char *msg)
{
	warnings *w = user;

	pthread_mutex_lock(&w->mu);
	w->if_absent += level == CKPTIO_LOG_WARN &&
			strstr(msg, "store 's3' cannot put an object only if "
				    "it is absent") != NULL;
	pthread_mutex_unlock(&w->mu);
}

/* Reading "c" the first time commits another save of h:ck first. */
typedef struct racer {
	int done;
	ckptio_status inner;
	float a[1000], b[1000];
} racer;

static ckptio_status racing_read(void *user, uint64_t offset, void *buf,
				 size_t len)
{
	racer *r = user;

	if (!r->done) {
		char *tmp;
		ckptio_ctx *c = mem_ctx_with("memnocond/",
					     "conditional_put = false\n", &tmp);
		ckptio_sd *sd = two_tensors(r->a, r->b);

		ckptio_set_log(c, CKPTIO_LOG_ERROR, NULL, NULL);
		r->done = 1;
		r->inner = ckptio_save(c, "h:ck", sd, NULL);
		ckptio_sd_free(sd);
		ckptio_ctx_free(c);
		tu_rmrf(tmp);
		free(tmp);
	}
	memset(buf, (int)(offset & 0x7f), len);
	return CKPTIO_OK;
}

/* Without If-None-Match a save still refuses to replace a checkpoint:
 * one that exists when it starts (warning once per save that two first
 * saves could both succeed), and one that another save committed while
 * it wrote its data. */
START_TEST(test_no_conditional_put)
{
	static float a[1000], b[1000];
	static racer r;
	char *tmp;
	ckptio_ctx *c = mem_ctx_with("memnocond/", "conditional_put = false\n",
				     &tmp);
	warnings w = {PTHREAD_MUTEX_INITIALIZER, 0};
	ckptio_sd *sd;
	ckptio_status rc;

	ckptio_set_log(c, CKPTIO_LOG_WARN, count_warnings, &w);
	tu_fill(a, sizeof(a), 5);
	tu_fill(b, sizeof(b), 6);
	sd = two_tensors(a, b);
	ck_assert_msg(ckptio_save(c, "h:ck", sd, NULL) == CKPTIO_OK, "%s",
		      ckptio_errmsg(c));
	ck_assert_int_eq(w.if_absent, 1);
	rc = ckptio_save(c, "h:ck", sd, NULL);
	ck_assert_msg(rc == CKPTIO_EEXIST, "%s: %s", ckptio_strerror(rc),
		      ckptio_errmsg(c));
	ck_assert_ptr_nonnull(strstr(ckptio_errmsg(c), "already exists"));
	ck_assert_int_eq(w.if_absent, 2);
	ckptio_sd_free(sd);
	loads_back(c, a, b);
	ck_assert_int_eq(ckptio_remove(c, "h:ck", 0), CKPTIO_OK);

	tu_fill(r.a, sizeof(r.a), 7);
	tu_fill(r.b, sizeof(r.b), 8);
	ck_assert_int_eq(ckptio_sd_new(&sd), CKPTIO_OK);
	ck_assert_int_eq(ckptio_sd_add_bytes_fn(sd, "c", 4096, racing_read, &r),
			 CKPTIO_OK);
	rc = ckptio_save(c, "h:ck", sd, NULL);
	ckptio_sd_free(sd);
	ck_assert(r.done);
	ck_assert_int_eq(r.inner, CKPTIO_OK);
	ck_assert_msg(rc == CKPTIO_EEXIST, "%s: %s", ckptio_strerror(rc),
		      ckptio_errmsg(c));
	loads_back(c, r.a, r.b);
	ck_assert_int_eq(ckptio_remove(c, "h:ck", 0), CKPTIO_OK);
	ckptio_ctx_free(c);
	pthread_mutex_destroy(&w.mu);
	tu_rmrf(tmp);
	free(tmp);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("s3hostile");
	TCase *tc = tcase_create("hostile");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_longer_body);
	tcase_add_test(tc, test_huge_content_length);
	tcase_add_test(tc, test_range_ignored);
	tcase_add_test(tc, test_head_without_length);
	tcase_add_test(tc, test_short_body_retried_then_fails);
	tcase_add_test(tc, test_unknown_error_code);
	tcase_add_test(tc, test_endless_503);
	tcase_add_test(tc, test_500_not_xml);
	tcase_add_test(tc, test_missing);
	tcase_add_test(tc, test_listing_truncated);
	tcase_add_test(tc, test_listing_dtd);
	tcase_add_test(tc, test_listing_no_token);
	tcase_add_test(tc, test_listing_big_size);
	tcase_add_test(tc, test_complete_error_in_200);
	tcase_add_test(tc, test_delete_partial_failure);
	tcase_add_test(tc, test_checksums_sent);
	tcase_add_test(tc, test_fault_table_refused);
	tcase_add_test(tc, test_lost_commit_answer);
	tcase_add_test(tc, test_commit_in_doubt);
	tcase_add_test(tc, test_instance_caps);
	tcase_add_test(tc, test_no_conditional_put);
	suite_add_tcase(s, tc);
	return tu_run_suite(s);
}
