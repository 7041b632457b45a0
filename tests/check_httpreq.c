/*
 * check_httpreq.c - the request layer of the HTTP stores
 * (plugins/net/httpreq.h) on its own, as a store other than S3 uses it:
 * the fault table's grammar and counting, the redaction of URLs, and a
 * client against a small HTTP/1.1 server on loopback run by this suite
 * (ranged GETs into segments with a skipped gap, PUT bodies from
 * segments, retries of 503 and of what a store's hook says, errors not
 * retried, injected faults, an answer longer than asked, a body that
 * ends early).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf, strcasestr */
#endif
#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "httpint.h" /* the client's state: direct_off */
#include "internal.h"
#include "testutil.h"

#define FAULTS_ENV "CKPTIO_HTTPREQ_TEST_FAULTS"

enum { T_GET, T_PUT, T_HEAD, T_NOPS };
static const httpreq_op t_ops[T_NOPS] = {
	[T_GET] = {"get", "GET"}, [T_PUT] = {"put", "PUT"},
	[T_HEAD] = {"head", "HEAD"}};

/* ------------------------------------------------------------------------ */
/* A loopback HTTP/1.1 server answering from a script                       */

/* Script lines name the fields they need; the rest are zero. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

typedef struct canned {
	int status;
	const char *body;
	size_t cut;          /* nonzero: send this many body bytes, close */
	const char *hdrs;    /* more header lines, each ending in CRLF */
	const char *raw;     /* sent as it is instead, then closed */
	int close_after;     /* close the connection after the answer,
			      * without saying so in the answer */
	int hold;            /* after a cut, keep the connection open
			      * (silent) until the client closes it */
} canned;

#define MAX_SCRIPT 8
#define MAX_CONNS 64

static struct {
	int lfd, port;
	pthread_t th;
	pthread_mutex_t mu;
	canned script[MAX_SCRIPT];
	size_t nscript;
	size_t served;                 /* requests read */
	size_t conns;                  /* connections accepted */
	pthread_t conn_th[MAX_CONNS];  /* their threads */
	char head[MAX_SCRIPT][2048];   /* each request's head */
	char body[MAX_SCRIPT][64];     /* and body */
	size_t blen[MAX_SCRIPT];
} srv;

/* One request from fd (buffer buf of *have bytes, kept across keep-alive
 * requests), given the next slot (*slot) once it is whole: connections
 * run at once, each request counts when it has come.  0, or -1: the
 * connection ended. */
static int read_request(int fd, char *buf, size_t cap, size_t *have,
			size_t *slot)
{
	char *end, *cl;
	size_t hlen, blen = 0, i;
	ssize_t n;

	while (!(end = memmem(buf, *have, "\r\n\r\n", 4))) {
		if (*have == cap || (n = read(fd, buf + *have, cap - *have)) <= 0)
			return -1;
		*have += (size_t)n;
	}
	hlen = (size_t)(end + 4 - buf);
	if ((cl = memmem(buf, hlen, "\ncontent-length:", 16)) ||
	    (cl = memmem(buf, hlen, "\nContent-Length:", 16)))
		blen = strtoul(cl + 16, NULL, 10);
	while (*have < hlen + blen) {
		if (*have == cap || (n = read(fd, buf + *have, cap - *have)) <= 0)
			return -1;
		*have += (size_t)n;
	}
	pthread_mutex_lock(&srv.mu);
	i = srv.served++;
	if (i < MAX_SCRIPT) {
		snprintf(srv.head[i], sizeof(srv.head[i]), "%.*s", (int)hlen,
			 buf);
		srv.blen[i] = blen < sizeof(srv.body[i]) ? blen : 0;
		memcpy(srv.body[i], buf + hlen, srv.blen[i]);
	}
	pthread_mutex_unlock(&srv.mu);
	memmove(buf, buf + hlen + blen, *have - hlen - blen);
	*have -= hlen + blen;
	*slot = i;
	return 0;
}

/* The first byte of the range a request head asks for; 0: none. */
static unsigned long range_first(const char *head)
{
	const char *r = strcasestr(head, "\nrange: bytes=");

	return r ? strtoul(r + 14, NULL, 10) : 0;
}

/* Answer the request in slot i; 0, or -1 to close the connection.  A 206
 * says which bytes it holds (from the request's range) unless the script
 * says it itself. */
static int answer(int fd, size_t i, int head)
{
	canned c = {500, "script ended", 0, NULL};
	size_t blen, send_len;
	char *out = NULL, crange[96] = "";
	int n, rc;

	pthread_mutex_lock(&srv.mu);
	if (i < srv.nscript)
		c = srv.script[i];
	pthread_mutex_unlock(&srv.mu);
	blen = strlen(c.body);
	send_len = c.cut ? c.cut : blen;

	if (c.raw) {
		n = (int)strlen(c.raw);
		rc = send(fd, c.raw, (size_t)n, MSG_NOSIGNAL);
		(void)rc;
		return -1;
	}
	if (c.status == 206 && i < MAX_SCRIPT && blen &&
	    !(c.hdrs && strcasestr(c.hdrs, "content-range:")))
		snprintf(crange, sizeof(crange),
			 "Content-Range: bytes %lu-%lu/*\r\n",
			 range_first(srv.head[i]),
			 range_first(srv.head[i]) + blen - 1);
	n = asprintf(&out, "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s%s\r\n"
		     "%.*s", c.status, blen, crange, c.hdrs ? c.hdrs : "",
		     head ? 0 : (int)send_len, c.body);
	rc = n > 0 && send(fd, out, (size_t)n, MSG_NOSIGNAL) == n && !c.cut &&
		     !c.close_after ? 0 : -1;
	free(out);
	if (c.cut && c.hold) { /* silent until the client gives up */
		char b[256];

		while (read(fd, b, sizeof(b)) > 0)
			;
	}
	return rc;
}

/* One connection, its requests in turn. */
static void *serve_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char *buf = malloc(16384);
	size_t have = 0, i;

	while (buf && read_request(fd, buf, 16384, &have, &i) == 0) {
		int head;

		pthread_mutex_lock(&srv.mu);
		head = i < MAX_SCRIPT && strncmp(srv.head[i], "HEAD", 4) == 0;
		pthread_mutex_unlock(&srv.mu);
		if (answer(fd, i, head) != 0)
			break;
	}
	free(buf);
	close(fd);
	return NULL;
}

/* Each connection on a thread of its own (a client keeps connections in
 * two pools), joined when the server stops. */
static void *serve(void *arg)
{
	int fd;

	(void)arg;
	while ((fd = accept(srv.lfd, NULL, NULL)) >= 0) {
		pthread_mutex_lock(&srv.mu);
		if (srv.conns < MAX_CONNS &&
		    pthread_create(&srv.conn_th[srv.conns], NULL, serve_conn,
				   (void *)(intptr_t)fd) == 0)
			srv.conns++;
		else
			close(fd);
		pthread_mutex_unlock(&srv.mu);
	}
	return NULL;
}

static void server_start(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	srv.lfd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(srv.lfd, 0);
	ck_assert_int_eq(bind(srv.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(srv.lfd, 8), 0);
	ck_assert_int_eq(getsockname(srv.lfd, (struct sockaddr *)&a, &alen),
			 0);
	srv.port = ntohs(a.sin_port);
	pthread_mutex_init(&srv.mu, NULL);
	ck_assert_int_eq(pthread_create(&srv.th, NULL, serve, NULL), 0);
}

static void server_stop(void)
{
	shutdown(srv.lfd, SHUT_RDWR); /* accept() returns */
	pthread_join(srv.th, NULL);
	/* The client closed its connections: each thread sees the end. */
	for (size_t i = 0; i < srv.conns; i++)
		pthread_join(srv.conn_th[i], NULL);
	close(srv.lfd);
	pthread_mutex_destroy(&srv.mu);
	memset(&srv, 0, sizeof(srv));
}

static size_t conns(void)
{
	size_t n;

	pthread_mutex_lock(&srv.mu);
	n = srv.conns;
	pthread_mutex_unlock(&srv.mu);
	return n;
}

static size_t served(void)
{
	size_t n;

	pthread_mutex_lock(&srv.mu);
	n = srv.served;
	pthread_mutex_unlock(&srv.mu);
	return n;
}

/* ------------------------------------------------------------------------ */
/* A store of the test: hooks and a client                                  */

static ckptio_host_ctx hc;
static ckptio__section sec;
static httpreq_client *client;
static int direct_mode;   /* the tcase: ranged GETs on direct reads */
static long stall_s = 10; /* the client's stall_timeout */
static unsigned prepared; /* prepare hook calls */

static int t_prepare(void *ctx, httpreq *r, char **url,
		     struct curl_slist **hdrs)
{
	(void)ctx;
	prepared++;
	if (asprintf(url, "http://127.0.0.1:%d/obj", srv.port) < 0)
		return -1;
	for (size_t i = 0; i < r->nh; i++)
		if (httpreq_header_line(hdrs, r->hname[i], r->hval[i]) != 0)
			return -1;
	return 0;
}

/* Messages name the object by a URL that carries secrets. */
static void t_target(void *ctx, const httpreq *r, char *out, size_t len)
{
	char url[128];

	(void)ctx;
	(void)r;
	snprintf(url, sizeof(url), "http://me:pw-SECRET@127.0.0.1:%d/obj?"
		 "sig=SECRET", srv.port);
	httpreq_redact_url(url, out, len);
}

static void t_detail(void *ctx, httpreq *r, char *out, size_t len)
{
	(void)ctx;
	if (r->resp_len)
		snprintf(out, len, " [%s]", r->resp);
}

/* The store's version check: an answer tagged "bad" is refused. */
static int t_accept(void *ctx, httpreq *r)
{
	(void)ctx;
	if (strcmp(r->etag, "\"bad\"") != 0)
		return 0;
	r->st = CKPTIO_ECORRUPT;
	snprintf(r->msg, sizeof(r->msg), "refused by the store");
	return -1;
}

/* The store's own rule: a 400 whose body says "again" may pass. */
static int t_verdict(void *ctx, httpreq *r, int retry)
{
	(void)ctx;
	return retry || (r->status == 400 && r->resp_len &&
			 strcmp(r->resp, "again") == 0);
}

static const char *const t_fault_body[HTTPREQ_NFAULTS] = {
	[HTTPREQ_F_503] = "injected"};

static httpreq_config config(void)
{
	return (httpreq_config){
		.name = "t", .user_agent = "ckptio-test/1",
		.faults_env = FAULTS_ENV, .ops = t_ops, .nops = T_NOPS,
		.fault_body = t_fault_body, .max_body = 64,
		.opt = {.concurrency = 2, .retries = 2, .connect_timeout = 5,
			.stall_timeout = stall_s, .verify_tls = 1,
			.max_redirects = 3, .direct_reads = direct_mode},
		.hooks = {.prepare = t_prepare, .target = t_target,
			  .error_detail = t_detail, .error_verdict = t_verdict,
			  .accept = t_accept},
		.host = &ckptio__host, .hc = &hc};
}

static void setup(void)
{
	httpreq_config cfg;

	unsetenv(FAULTS_ENV);
	prepared = 0;
	sec = (ckptio__section){.kind = CKPTIO__SEC_BACKEND, .name = "t",
				.file = "test.conf"};
	ckptio__hc_init(&hc, NULL, &sec, NULL);
	server_start();
	cfg = config();
	ck_assert_msg(httpreq_client_open(&cfg, &client) == CKPTIO_OK, "%s",
		      hc.msg);
}

static void setup_direct(void)
{
	direct_mode = 1;
	setup();
}

static void teardown(void)
{
	httpreq_client_close(client); /* closes its connections first */
	client = NULL;
	server_stop();
	ckptio__hc_destroy(&hc);
	direct_mode = 0;
	stall_s = 10;
}

static void script(const canned *c, size_t n)
{
	pthread_mutex_lock(&srv.mu);
	memcpy(srv.script, c, n * sizeof(*c));
	srv.nscript = n;
	pthread_mutex_unlock(&srv.mu);
}

/* A new script, counted from its first request again. */
static void rescript(const canned *c, size_t n)
{
	pthread_mutex_lock(&srv.mu);
	srv.served = 0;
	pthread_mutex_unlock(&srv.mu);
	script(c, n);
}

static httpreq *req_new(unsigned op, const char *method)
{
	httpreq *r = calloc(1, sizeof(*r));

	ck_assert_ptr_nonnull(r);
	httpreq_init(r, client, op, method);
	return r;
}

static void req_free(httpreq *r)
{
	free(r->dst_crc); /* the caller's, as httpread's are */
	r->dst_crc = NULL;
	httpreq_release(r);
	free(r);
}

/* A GET of len bytes at off into one destination segment. */
static httpreq *get_into(unsigned char *buf, uint64_t off, uint64_t len)
{
	httpreq *r = req_new(T_GET, "GET");

	ck_assert_int_eq(httpreq_range(r, off, len), 0);
	r->dst = malloc(sizeof(*r->dst));
	ck_assert_ptr_nonnull(r->dst);
	r->dst[0] = (httpreq_seg){buf, len};
	r->ndst = 1;
	r->dst_len = len;
	r->dst_crc = calloc(1, sizeof(*r->dst_crc));
	ck_assert_ptr_nonnull(r->dst_crc);
	return r;
}

/* ------------------------------------------------------------------------ */
/* Fault table and redaction                                                */

START_TEST(test_faults_grammar)
{
	static const char *const good[] = {
		"get:1:500", "put:2-5:reset,head:1:short",
		"get:1:503,get:2:429,get:3:403", "get:4-4:500"};
	static const char *const bad[] = {
		"get", "get:1", "get:x:500", "get:1:nope", "post:1:500",
		"get:3-2:500", "get:1:500x", "GET:1:500", "get:1-:500",
		"get:1:500,put", ":1:500"};
	httpreq_faults t;
	char many[1024] = "";

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ck_assert_msg(httpreq_faults_parse(&t, good[i], t_ops,
						   T_NOPS) == 0, "%s", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(httpreq_faults_parse(&t, bad[i], t_ops,
						   T_NOPS) != 0, "%s", bad[i]);
	/* Sixteen rules fit; a seventeenth is refused, not dropped. */
	for (int i = 1; i <= HTTPREQ_MAX_FAULTS; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many),
			 "%sget:%d:500", i > 1 ? "," : "", i);
	ck_assert_int_eq(httpreq_faults_parse(&t, many, t_ops, T_NOPS), 0);
	ck_assert_uint_eq(t.n, HTTPREQ_MAX_FAULTS);
	strcat(many, ",put:1:500");
	ck_assert_int_ne(httpreq_faults_parse(&t, many, t_ops, T_NOPS), 0);
}
END_TEST

START_TEST(test_faults_counting)
{
	httpreq_faults t;

	ck_assert_int_eq(httpreq_faults_parse(&t, "get:2-3:reset,put:1:503",
					      t_ops, T_NOPS), 0);
	/* Each op counts its own requests. */
	ck_assert_int_eq(httpreq_faults_next(&t, T_PUT), HTTPREQ_F_503);
	ck_assert_int_eq(httpreq_faults_next(&t, T_GET), HTTPREQ_F_NONE);
	ck_assert_int_eq(httpreq_faults_next(&t, T_PUT), HTTPREQ_F_NONE);
	ck_assert_int_eq(httpreq_faults_next(&t, T_GET), HTTPREQ_F_RESET);
	ck_assert_int_eq(httpreq_faults_next(&t, T_HEAD), HTTPREQ_F_NONE);
	ck_assert_int_eq(httpreq_faults_next(&t, T_GET), HTTPREQ_F_RESET);
	ck_assert_int_eq(httpreq_faults_next(&t, T_GET), HTTPREQ_F_NONE);
}
END_TEST

START_TEST(test_redact_url)
{
	static const char *const cases[][2] = {
		{"https://h.example/a/b", "https://h.example/a/b"},
		{"https://u:p@h.example:8443/a?X-Amz-Signature=s#f",
		 "https://h.example:8443/a"},
		{"http://u:p?w#x@h/a", "http://h/a"},  /* odd password */
		{"http://u@h@k/a@b", "http://k/a@b"},  /* last '@' wins */
		{"http://h?token=s/x", "http://h"},     /* no path */
		{"h/p?u=http://x", "h/p"},             /* no scheme */
		{"http://h", "http://h"},
		{"", ""},
	};
	char out[64], small[8];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		httpreq_redact_url(cases[i][0], out, sizeof(out));
		ck_assert_str_eq(out, cases[i][1]);
	}
	httpreq_redact_url("https://u:p@host.example/x", small, sizeof(small));
	ck_assert_str_eq(small, "https:/");
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The client against the loopback server                                   */

START_TEST(test_get_segments)
{
	httpreq *r = req_new(T_GET, "GET");
	unsigned char a[3], b[5];

	script((canned[]){{206, "0123456789", 0, NULL}}, 1);
	ck_assert_int_eq(httpreq_range(r, 100, 10), 0);
	r->dst = malloc(3 * sizeof(*r->dst));
	ck_assert_ptr_nonnull(r->dst);
	r->dst[0] = (httpreq_seg){a, 3};
	r->dst[1] = (httpreq_seg){NULL, 2}; /* a gap, dropped */
	r->dst[2] = (httpreq_seg){b, 5};
	r->ndst = 3;
	r->dst_len = 10;
	r->dst_crc = calloc(3, sizeof(*r->dst_crc));
	ck_assert_msg(httpreq_run(r) == CKPTIO_OK, "%s", r->msg);
	ck_assert_mem_eq(a, "012", 3);
	ck_assert_mem_eq(b, "56789", 5);
	/* Each segment's CRC32C, as the bytes arrived; none for the gap. */
	ck_assert_uint_eq(r->dst_crc[0], ckptio__crc32c(0, "012", 3));
	ck_assert_uint_eq(r->dst_crc[1], 0);
	ck_assert_uint_eq(r->dst_crc[2], ckptio__crc32c(0, "56789", 5));
	ck_assert_int_eq(r->dst_crc_bad, 0);
	free(r->dst_crc);
	r->dst_crc = NULL;
	ck_assert_uint_eq(r->attempt, 1);
	ck_assert_ptr_nonnull(strstr(srv.head[0], "GET /obj HTTP/1.1\r\n"));
	ck_assert_ptr_nonnull(strstr(srv.head[0], "range: bytes=100-109\r\n"));
	ck_assert_ptr_nonnull(strstr(srv.head[0], "ckptio-test/1"));
	{
		char host[64];

		snprintf(host, sizeof(host), "\r\nHost: 127.0.0.1:%d\r\n",
			 srv.port);
		ck_assert_ptr_nonnull(strstr(srv.head[0], host));
		ck_assert_ptr_null(strstr(srv.head[0], "Expect:"));
	}
	/* Direct reads: no curl transfer of its own (libcurl only
	 * connected); else one. */
	ck_assert(direct_mode ? r->easy == NULL : r->easy != NULL);
	req_free(r);
}
END_TEST

START_TEST(test_put_segments)
{
	httpreq *r = req_new(T_PUT, "PUT");
	static unsigned char x[] = "abc", y[] = "defg";

	script((canned[]){{200, "", 0, NULL}}, 1);
	r->body = malloc(3 * sizeof(*r->body));
	ck_assert_ptr_nonnull(r->body);
	r->body[0] = (httpreq_seg){x, 3};
	r->body[1] = (httpreq_seg){y, 0};
	r->body[2] = (httpreq_seg){y, 4};
	r->nbody = 3;
	r->body_len = 7;
	ck_assert_int_eq(httpreq_run(r), CKPTIO_OK);
	ck_assert_uint_eq(served(), 1);
	ck_assert_uint_eq(srv.blen[0], 7);
	ck_assert_mem_eq(srv.body[0], "abcdefg", 7);
	ck_assert_ptr_nonnull(strstr(srv.head[0], "PUT /obj HTTP/1.1\r\n"));
	req_free(r);
}
END_TEST

START_TEST(test_head_and_answer_buffer)
{
	httpreq *h = req_new(T_HEAD, "HEAD"), *g = req_new(T_GET, "GET");

	script((canned[]){{200, "12345", 0, NULL}, {200, "<doc/>", 0, NULL}}, 2);
	ck_assert_int_eq(httpreq_run(h), CKPTIO_OK);
	ck_assert_int_eq(h->length, 5);
	ck_assert_int_eq(httpreq_run(g), CKPTIO_OK); /* no dst: into resp */
	ck_assert_uint_eq(g->resp_len, 6);
	ck_assert_str_eq(g->resp, "<doc/>");
	req_free(h);
	req_free(g);
}
END_TEST

START_TEST(test_retry_503)
{
	unsigned char buf[4];
	httpreq *r = get_into(buf, 0, 4);

	script((canned[]){{503, "busy", 0, NULL}, {206, "abcd", 0, NULL}}, 2);
	ck_assert_int_eq(httpreq_run(r), CKPTIO_OK);
	ck_assert_uint_eq(r->attempt, 2);
	ck_assert_uint_eq(r->retries, 1);
	ck_assert_uint_eq(served(), 2);
	ck_assert_uint_eq(prepared, 2); /* prepared (signed) anew */
	ck_assert_mem_eq(buf, "abcd", 4);
	req_free(r);
}
END_TEST

START_TEST(test_not_found_not_retried)
{
	unsigned char buf[4];
	httpreq *r = get_into(buf, 0, 4);

	script((canned[]){{404, "gone", 0, NULL}}, 1);
	ck_assert_int_eq(httpreq_run(r), CKPTIO_ENOTFOUND);
	ck_assert_uint_eq(served(), 1);
	ck_assert_msg(strncmp(r->msg, "http://127.0.0.1:", 17) == 0 &&
		      strstr(r->msg, "/obj: GET: HTTP 404 [gone]"), "%s",
		      r->msg);
	ck_assert_ptr_null(strstr(r->msg, "SECRET"));
	req_free(r);
}
END_TEST

START_TEST(test_store_verdict)
{
	unsigned char buf[2];
	httpreq *r = get_into(buf, 0, 2), *q = get_into(buf, 0, 2);

	/* The hook makes a 400 "again" pass; another 400 stays an error. */
	script((canned[]){{400, "again", 0, NULL}, {206, "ok", 0, NULL},
			  {400, "bad", 0, NULL}}, 3);
	ck_assert_int_eq(httpreq_run(r), CKPTIO_OK);
	ck_assert_uint_eq(r->attempt, 2);
	ck_assert_int_eq(httpreq_run(q), CKPTIO_EIO);
	ck_assert_uint_eq(q->attempt, 1);
	ck_assert_ptr_nonnull(strstr(q->msg, "HTTP 400 [bad]"));
	req_free(r);
	req_free(q);
}
END_TEST

START_TEST(test_retries_exhausted)
{
	unsigned char buf[2];
	httpreq *r = get_into(buf, 0, 2);

	script((canned[]){{500, "a", 0, NULL}, {502, "b", 0, NULL}, {503, "c", 0, NULL}}, 3);
	ck_assert_int_eq(httpreq_run(r), CKPTIO_ENET);
	ck_assert_uint_eq(served(), 3); /* 1 + retries (2) */
	ck_assert_ptr_nonnull(strstr(r->msg, "HTTP 503 [c] (after 3 attempts)"));
	req_free(r);
}
END_TEST

START_TEST(test_longer_than_asked)
{
	unsigned char buf[4];
	httpreq *r = get_into(buf, 0, 4);

	script((canned[]){{206, "0123456789", 0, NULL}}, 1);
	ck_assert_int_eq(httpreq_run(r), CKPTIO_ECORRUPT);
	ck_assert_uint_eq(served(), 1);
	ck_assert_ptr_nonnull(strstr(r->msg, "more than the 4 bytes asked"));
	req_free(r);
}
END_TEST

START_TEST(test_body_ends_early)
{
	unsigned char buf[10];
	httpreq *r = get_into(buf, 0, 10);

	/* The first answer stops after 4 of its 10 bytes: retried. */
	script((canned[]){{206, "0123456789", 4, NULL}, {206, "0123456789", 0, NULL}}, 2);
	ck_assert_int_eq(httpreq_run(r), CKPTIO_OK);
	ck_assert_uint_eq(r->attempt, 2);
	ck_assert_mem_eq(buf, "0123456789", 10);
	req_free(r);
}
END_TEST

START_TEST(test_answer_over_limit)
{
	httpreq *r = req_new(T_GET, "GET");
	char big[100];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	script((canned[]){{200, big, 0, NULL}}, 1);
	ck_assert_int_eq(httpreq_run(r), CKPTIO_ECORRUPT); /* max_body 64 */
	ck_assert_ptr_nonnull(strstr(r->msg, "answer over the 64-byte limit"));
	req_free(r);
}
END_TEST

/* A client opened with faults in the environment. */
static void reopen_with_faults(const char *spec)
{
	httpreq_config cfg = config();

	httpreq_client_close(client);
	client = NULL;
	setenv(FAULTS_ENV, spec, 1);
	ck_assert_msg(httpreq_client_open(&cfg, &client) == CKPTIO_OK, "%s",
		      hc.msg);
}

START_TEST(test_injected_status)
{
	unsigned char buf[2];
	httpreq *r;

	reopen_with_faults("get:1-3:503");
	r = get_into(buf, 0, 2);
	/* Answered without the server, with the store's fault body. */
	ck_assert_int_eq(httpreq_run(r), CKPTIO_ENET);
	ck_assert_uint_eq(served(), 0);
	ck_assert_ptr_nonnull(strstr(r->msg,
				     "HTTP 503 [injected] (after 3 attempts)"));
	req_free(r);
}
END_TEST

START_TEST(test_injected_cuts)
{
	unsigned char buf[10];
	httpreq *r;

	/* Real answers, cut short on our side: retried like real cuts. */
	reopen_with_faults("get:1:short,get:2:reset");
	script((canned[]){{206, "0123456789", 0, NULL}, {206, "0123456789", 0, NULL},
			  {206, "0123456789", 0, NULL}}, 3);
	r = get_into(buf, 0, 10);
	ck_assert_int_eq(httpreq_run(r), CKPTIO_OK);
	ck_assert_uint_eq(r->attempt, 3);
	ck_assert_uint_eq(served(), 3);
	ck_assert_mem_eq(buf, "0123456789", 10);
	req_free(r);
}
END_TEST

START_TEST(test_bad_fault_spec)
{
	httpreq_config cfg = config();
	httpreq_client *c = NULL;

	setenv(FAULTS_ENV, "get:x:500", 1);
	ck_assert_int_eq(httpreq_client_open(&cfg, &c), CKPTIO_ECONFIG);
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(hc.msg, FAULTS_ENV ": expected OP:N[-M]:KIND") &&
		      strstr(hc.msg, "(OP: get put head; KIND:"), "%s",
		      hc.msg);
}
END_TEST

START_TEST(test_too_many_ops)
{
	httpreq_op many[HTTPREQ_MAX_OPS + 1];
	httpreq_config cfg = config();
	httpreq_client *c = NULL;

	for (size_t i = 0; i < HTTPREQ_MAX_OPS + 1; i++)
		many[i] = (httpreq_op){"get", "GET"};
	cfg.ops = many;
	cfg.nops = HTTPREQ_MAX_OPS + 1;
	ck_assert_int_eq(httpreq_client_open(&cfg, &c), CKPTIO_EINVAL);
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(strstr(hc.msg, "17 kinds of request"));
}
END_TEST

START_TEST(test_options)
{
	ckptio__opt o[] = {{"concurrency", "3", NULL, 1},
			   {"ca_file", "/etc/x.pem", NULL, 2}};
	httpreq_options opt = {0};

	ck_assert_int_eq(httpreq_options_read(&ckptio__host, &hc, &opt),
			 CKPTIO_OK);
	ck_assert_uint_eq(opt.concurrency, 16);
	ck_assert_uint_eq(opt.retries, 8);
	ck_assert_int_eq(opt.connect_timeout, 10);
	ck_assert_int_eq(opt.stall_timeout, 60);
	ck_assert_int_eq(opt.verify_tls, 1);
	ck_assert_ptr_null(opt.ca_file);
	sec.opts = o;
	sec.nopts = 2;
	ck_assert_int_eq(httpreq_options_read(&ckptio__host, &hc, &opt),
			 CKPTIO_OK);
	ck_assert_uint_eq(opt.concurrency, 3);
	ck_assert_str_eq(opt.ca_file, "/etc/x.pem");
	httpreq_options_free(&opt);
	o[0].value = "0";
	ck_assert_int_eq(httpreq_options_read(&ckptio__host, &hc, &opt),
			 CKPTIO_ECONFIG);
	ck_assert_ptr_nonnull(strstr(hc.msg, "concurrency"));
	sec.nopts = 0;
}
END_TEST


START_TEST(test_resume_where_it_broke)
{
	unsigned char buf[10];
	httpreq *r = get_into(buf, 100, 10);

	/* 4 bytes, then the connection drops: the retry asks for the other
	 * 6, of the same version, and they land after the first 4. */
	script((canned[]){{206, "0123456789", 4, "ETag: \"v1\"\r\n"},
			  {206, "456789", 0, "ETag: \"v1\"\r\n"}}, 2);
	ck_assert_int_eq(httpreq_run(r), CKPTIO_OK);
	ck_assert_uint_eq(r->attempt, 2);
	ck_assert_ptr_nonnull(strstr(srv.head[0], "range: bytes=100-109\r\n"));
	ck_assert_ptr_nonnull(strstr(srv.head[1], "range: bytes=104-109\r\n"));
	ck_assert_mem_eq(buf, "0123456789", 10);
	/* The checksum carried on across the resume. */
	ck_assert_uint_eq(r->dst_crc[0], ckptio__crc32c(0, "0123456789", 10));
	ck_assert_int_eq(r->dst_crc_bad, 0);
	free(r->dst_crc);
	r->dst_crc = NULL;
	req_free(r);
}
END_TEST

START_TEST(test_resume_other_version)
{
	unsigned char buf[10];
	httpreq *r = get_into(buf, 0, 10);

	/* The rest comes from another version of the object: an error,
	 * never the two halves together, and not retried again. */
	script((canned[]){{206, "0123456789", 4, "ETag: \"v1\"\r\n"},
			  {206, "ABCDEF", 0, "ETag: \"v2\"\r\n"},
			  {206, "ABCDEF", 0, "ETag: \"v2\"\r\n"}}, 3);
	ck_assert_int_eq(httpreq_run(r), CKPTIO_ECORRUPT);
	ck_assert_uint_eq(served(), 2);
	ck_assert_msg(strstr(r->msg, "changed on the server during the "
			     "transfer (\"v1\", then \"v2\")"), "%s", r->msg);
	req_free(r);
}
END_TEST

START_TEST(test_no_tag_restarts)
{
	unsigned char buf[10];
	httpreq *r = get_into(buf, 0, 10);

	/* Without an ETag or Last-Modified nothing says the rest is of the
	 * same version: the whole range again. */
	script((canned[]){{206, "0123456789", 4, NULL},
			  {206, "0123456789", 0, NULL}}, 2);
	ck_assert_int_eq(httpreq_run(r), CKPTIO_OK);
	ck_assert_ptr_nonnull(strstr(srv.head[1], "range: bytes=0-9\r\n"));
	ck_assert_mem_eq(buf, "0123456789", 10);
	/* Started again from the first byte: so did the checksum. */
	ck_assert_uint_eq(r->dst_crc[0], ckptio__crc32c(0, "0123456789", 10));
	ck_assert_int_eq(r->dst_crc_bad, 0);
	free(r->dst_crc);
	r->dst_crc = NULL;
	req_free(r);
}
END_TEST

START_TEST(test_range_ignored)
{
	unsigned char buf[10], part[4];
	httpreq *r = get_into(part, 100, 4), *w = get_into(buf, 0, 10);

	/* 200 with the whole object to a request for 4 bytes at 100: the
	 * server ignores Range; said, not retried. */
	script((canned[]){{200, "0123456789", 0, NULL}, {200, "0123456789", 0, NULL}}, 2);
	ck_assert_int_eq(httpreq_run(r), CKPTIO_EIO);
	ck_assert_uint_eq(served(), 1);
	ck_assert_msg(strstr(r->msg, "does not serve byte ranges (HTTP 200 "
			     "to a request for bytes 100-103)"), "%s", r->msg);
	/* The whole object is exactly the range: taken. */
	ck_assert_int_eq(httpreq_run(w), CKPTIO_OK);
	ck_assert_mem_eq(buf, "0123456789", 10);
	req_free(r);
	req_free(w);
}
END_TEST

START_TEST(test_retry_after)
{
	unsigned char buf[2];
	httpreq *r = get_into(buf, 0, 2), *q = get_into(buf, 0, 2);
	struct timespec t0, t1;
	double waited;

	script((canned[]){{429, "slow", 0, "Retry-After: 1\r\n"},
			  {206, "ab", 0, NULL},
			  {503, "later", 0, "Retry-After: 3600\r\n"}}, 3);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(httpreq_run(r), CKPTIO_OK);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	waited = (double)(t1.tv_sec - t0.tv_sec) +
		 (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ck_assert_uint_eq(r->attempt, 2);
	/* The backoff alone would be at most 100 ms. */
	ck_assert_msg(waited >= 0.9, "waited %.3f s for Retry-After: 1",
		      waited);
	/* An hour is more than a client waits: an error at once. */
	ck_assert_int_eq(httpreq_run(q), CKPTIO_ENET);
	ck_assert_uint_eq(q->attempt, 1);
	ck_assert_msg(strstr(q->msg, "(Retry-After: 3600 s, more than the "
			     "120 s this client waits)"), "%s", q->msg);
	req_free(r);
	req_free(q);
}
END_TEST

START_TEST(test_accept_refuses)
{
	unsigned char buf[2];
	httpreq *r = get_into(buf, 0, 2);

	script((canned[]){{206, "ab", 0, "ETag: \"bad\"\r\n"},
			  {206, "ab", 0, NULL}}, 2);
	ck_assert_int_eq(httpreq_run(r), CKPTIO_ECORRUPT);
	ck_assert_uint_eq(served(), 1);
	ck_assert_str_eq(r->msg, "refused by the store");
	req_free(r);
}
END_TEST

START_TEST(test_fail_fast)
{
	unsigned char a[2], b[2], c[2];
	httpreq *r[3] = {get_into(a, 0, 2), get_into(b, 0, 2),
			 get_into(c, 0, 2)};
	httpreq_group g = {.fail_fast = 1};

	/* The first request of the group fails; the two submitted after it
	 * are canceled without reaching the server.  (Submitted together,
	 * which of them start before the failure is known depends on
	 * timing: this order does not.) */
	script((canned[]){{404, "gone", 0, NULL}, {206, "ok", 0, NULL},
			  {206, "no", 0, NULL}}, 3);
	r[0]->grp = &g;
	httpreq_submit(r[0]);
	httpreq_wait(client, &g, 0);
	ck_assert_int_eq(r[0]->st, CKPTIO_ENOTFOUND);
	for (int i = 1; i < 3; i++) {
		r[i]->grp = &g;
		httpreq_submit(r[i]);
	}
	httpreq_wait(client, &g, 0);
	ck_assert_int_eq(r[1]->st, CKPTIO_ECANCELED);
	ck_assert_int_eq(r[2]->st, CKPTIO_ECANCELED);
	ck_assert_uint_eq(served(), 1);
	for (int i = 0; i < 3; i++)
		req_free(r[i]);
}
END_TEST


/* ------------------------------------------------------------------------ */
/* Both paths, and direct reads (httpdirect.c) alone                        */

START_TEST(test_stall)
{
	unsigned char buf[10];
	httpreq *r;

	/* 4 bytes, then silence on an open connection: given up after the
	 * stall timeout, and the retry asks again. */
	stall_s = 1;
	reopen_with_faults("");
	r = get_into(buf, 0, 10);
	script((canned[]){{206, "0123456789", 4, NULL, NULL, 0, 1},
			  {206, "0123456789", 0, NULL}}, 2);
	ck_assert_int_eq(httpreq_run(r), CKPTIO_OK);
	ck_assert_uint_eq(r->attempt, 2);
	ck_assert_mem_eq(buf, "0123456789", 10);
	req_free(r);
}
END_TEST

START_TEST(test_wrong_range)
{
	unsigned char buf[10];
	httpreq *r = get_into(buf, 0, 10);

	/* A 206 of other bytes than asked: an error, nothing written, on
	 * either path (httpreq_answer_check). */
	memset(buf, 'z', sizeof(buf));
	script((canned[]){{206, "0123456789", 0,
			   "Content-Range: bytes 5-14/100\r\n"}}, 1);
	ck_assert_int_eq(httpreq_run(r), CKPTIO_ECORRUPT);
	ck_assert_uint_eq(served(), 1);
	ck_assert_msg(strstr(r->msg, "HTTP 206 with a Content-Range other "
			     "than the bytes 0-9 asked for"), "%s", r->msg);
	ck_assert_mem_eq(buf, "zzzzzzzzzz", 10);
	req_free(r);
}
END_TEST

START_TEST(test_no_content_range)
{
	unsigned char buf[4], b2[4];
	httpreq *r = get_into(buf, 0, 4), *q = get_into(b2, 0, 4);

	/* A 206 without Content-Range is taken, as libcurl takes it (one
	 * range was asked for); one that cannot be read is not. */
	script((canned[]){{0, "", 0, NULL,
			   "HTTP/1.1 206 X\r\nContent-Length: 4\r\n\r\nabcd"}},
	       1);
	ck_assert_msg(httpreq_run(r) == CKPTIO_OK, "%s", r->msg);
	ck_assert_mem_eq(buf, "abcd", 4);
	ck_assert(direct_mode ? r->easy == NULL : r->easy != NULL);
	rescript((canned[]){{206, "abcd", 0, "Content-Range: bytes 0-x/4\r\n"}},
		 1);
	ck_assert_int_eq(httpreq_run(q), CKPTIO_ECORRUPT);
	ck_assert_uint_eq(served(), 1);
	req_free(r);
	req_free(q);
}
END_TEST

START_TEST(test_keep_alive)
{
	unsigned char a[4], b[4], c[4];
	httpreq *r = get_into(a, 0, 4), *q = get_into(b, 4, 4),
		*w = get_into(c, 8, 4);

	/* Two reads on one connection; the second answer closes it without
	 * a word (a server's idle timeout): the third read opens another
	 * connection, on the same attempt. */
	script((canned[]){{206, "abcd", 0, NULL},
			  {206, "efgh", 0, NULL, NULL, 1},
			  {206, "ijkl", 0, NULL}}, 3);
	ck_assert_int_eq(httpreq_run(r), CKPTIO_OK);
	ck_assert_int_eq(httpreq_run(q), CKPTIO_OK);
	ck_assert_uint_eq(conns(), 1);
	ck_assert_int_eq(httpreq_run(w), CKPTIO_OK);
	ck_assert_uint_eq(w->attempt, 1);
	ck_assert_uint_eq(conns(), 2);
	ck_assert_mem_eq(a, "abcd", 4);
	ck_assert_mem_eq(b, "efgh", 4);
	ck_assert_mem_eq(c, "ijkl", 4);
	req_free(r);
	req_free(q);
	req_free(w);
}
END_TEST

START_TEST(test_connection_close)
{
	unsigned char a[4], b[4];
	httpreq *r = get_into(a, 0, 4), *q = get_into(b, 0, 4);

	/* "Connection: close" is honoured: the next read connects anew. */
	script((canned[]){{206, "abcd", 0, "Connection: close\r\n", NULL, 1},
			  {206, "efgh", 0, NULL}}, 2);
	ck_assert_int_eq(httpreq_run(r), CKPTIO_OK);
	ck_assert_int_eq(httpreq_run(q), CKPTIO_OK);
	ck_assert_uint_eq(q->attempt, 1);
	ck_assert_uint_eq(conns(), 2);
	ck_assert_mem_eq(b, "efgh", 4);
	req_free(r);
	req_free(q);
}
END_TEST

START_TEST(test_direct_interim_and_heads)
{
	unsigned char a[4], b[4], c[4], d[4];
	httpreq *r = get_into(a, 0, 4), *q = get_into(b, 0, 4),
		*w = get_into(c, 0, 4), *v = get_into(d, 0, 4);
	char *big = malloc(80000);

	ck_assert_ptr_nonnull(big);
	/* A 100 before the answer is skipped; no reason phrase is fine. */
	script((canned[]){{0, "", 0, NULL,
			   "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 206\r\n"
			   "Content-Range: bytes 0-3/4\r\nContent-Length: 4"
			   "\r\n\r\nabcd"}}, 1);
	ck_assert_int_eq(httpreq_run(r), CKPTIO_OK);
	ck_assert_mem_eq(a, "abcd", 4);
	/* Not HTTP: an error after the retries, saying so. */
	rescript((canned[]){{0, "", 0, NULL, "HTTX/1.1 206 OK\r\n\r\n"},
			  {0, "", 0, NULL, "garbage\r\n\r\n"},
			  {0, "", 0, NULL, "HTTP/1.1 2x6 OK\r\n\r\n"}}, 3);
	ck_assert_int_eq(httpreq_run(q), CKPTIO_ENET);
	ck_assert_uint_eq(q->attempt, 3);
	ck_assert_msg(strstr(q->msg, "an answer that is not HTTP/1.x "
			     "(after 3 attempts)"), "%s", q->msg);
	/* Two different Content-Lengths: refused. */
	rescript((canned[]){{0, "", 0, NULL,
			   "HTTP/1.1 206 X\r\nContent-Range: bytes 0-3/4\r\n"
			   "Content-Length: 4\r\nContent-Length: 5\r\n\r\n"
			   "abcd"}}, 1);
	sec.nopts = 0;
	httpreq_client_close(client);
	client = NULL;
	{
		httpreq_config cfg = config();

		cfg.opt.retries = 0;
		ck_assert_int_eq(httpreq_client_open(&cfg, &client), CKPTIO_OK);
	}
	w->c = client;
	ck_assert_int_eq(httpreq_run(w), CKPTIO_ENET);
	ck_assert_msg(strstr(w->msg, "not HTTP/1.x"), "%s", w->msg);
	/* A head without end, over 64 KiB: refused once that much came. */
	memset(big, 'h', 79999);
	big[79999] = '\0';
	memcpy(big, "HTTP/1.1 206 X\r\nX-Long: ", 24); /* no NUL */
	rescript((canned[]){{0, "", 0, NULL, big}}, 1);
	v->c = client;
	ck_assert_int_eq(httpreq_run(v), CKPTIO_ENET);
	ck_assert_msg(strstr(v->msg, "an answer's head over 64 KiB"), "%s",
		      v->msg);
	free(big);
	req_free(r);
	req_free(q);
	req_free(w);
	req_free(v);
}
END_TEST

START_TEST(test_direct_proxy_env)
{
	unsigned char buf[4];
	httpreq *r;

	/* A proxy in the environment: every read is libcurl's, which knows
	 * proxies (here told to bypass it for this host). */
	setenv("http_proxy", "http://127.0.0.1:1", 1);
	setenv("no_proxy", "127.0.0.1", 1);
	reopen_with_faults("");
	unsetenv("http_proxy");
	unsetenv("no_proxy");
	r = get_into(buf, 0, 4);
	script((canned[]){{206, "abcd", 0, NULL}}, 1);
	ck_assert_msg(httpreq_run(r) == CKPTIO_OK, "%s", r->msg);
	ck_assert_mem_eq(buf, "abcd", 4);
	ck_assert_ptr_nonnull(r->easy);
	req_free(r);
}
END_TEST

START_TEST(test_direct_falls_back)
{
	unsigned char a[10], b[4];
	httpreq *r = get_into(a, 0, 10), *q = get_into(b, 0, 4);

	/* A chunked 206: libcurl asks again and reads it. */
	script((canned[]){{206, "a\r\n0123456789\r\n0\r\n\r\n", 0,
			   "Transfer-Encoding: chunked\r\n"
			   "Content-Range: bytes 0-9/10\r\n"},
			  {206, "a\r\n0123456789\r\n0\r\n\r\n", 0,
			   "Transfer-Encoding: chunked\r\n"
			   "Content-Range: bytes 0-9/10\r\n"}}, 2);
	ck_assert_int_eq(httpreq_run(r), CKPTIO_OK);
	ck_assert_uint_eq(r->attempt, 1);
	ck_assert_uint_eq(served(), 2);
	ck_assert_ptr_nonnull(r->easy);
	ck_assert_mem_eq(a, "0123456789", 10);
	req_free(r);
	/* A redirect: libcurl follows it, for this read and the later ones
	 * (a hub redirects every download). */
	{
		char loc[96];
		static char hdr[128];

		snprintf(loc, sizeof(loc), "http://127.0.0.1:%d/other",
			 srv.port);
		snprintf(hdr, sizeof(hdr), "Location: %s\r\n", loc);
		rescript((canned[]){{302, "moved", 0, hdr}, {302, "moved", 0, hdr},
				  {206, "wxyz", 0, NULL}}, 3);
	}
	ck_assert_int_eq(httpreq_run(q), CKPTIO_OK);
	ck_assert_uint_eq(served(), 3);
	ck_assert_ptr_nonnull(strstr(srv.head[2], "GET /other HTTP/1.1"));
	ck_assert_mem_eq(b, "wxyz", 4);
	ck_assert_int_eq(client->direct_off, 1);
	req_free(q);
}
END_TEST

/* The tests of the client, in either tcase. */
static void add_client_tests(TCase *c)
{
	tcase_add_test(c, test_get_segments);
	tcase_add_test(c, test_put_segments);
	tcase_add_test(c, test_head_and_answer_buffer);
	tcase_add_test(c, test_retry_503);
	tcase_add_test(c, test_not_found_not_retried);
	tcase_add_test(c, test_store_verdict);
	tcase_add_test(c, test_retries_exhausted);
	tcase_add_test(c, test_longer_than_asked);
	tcase_add_test(c, test_body_ends_early);
	tcase_add_test(c, test_answer_over_limit);
	tcase_add_test(c, test_injected_status);
	tcase_add_test(c, test_injected_cuts);
	tcase_add_test(c, test_bad_fault_spec);
	tcase_add_test(c, test_too_many_ops);
	tcase_add_test(c, test_options);
	tcase_add_test(c, test_resume_where_it_broke);
	tcase_add_test(c, test_resume_other_version);
	tcase_add_test(c, test_no_tag_restarts);
	tcase_add_test(c, test_range_ignored);
	tcase_add_test(c, test_retry_after);
	tcase_add_test(c, test_accept_refuses);
	tcase_add_test(c, test_fail_fast);
	tcase_add_test(c, test_stall);
	tcase_add_test(c, test_keep_alive);
	tcase_add_test(c, test_connection_close);
	tcase_add_test(c, test_wrong_range);
	tcase_add_test(c, test_no_content_range);
	tcase_set_timeout(c, 30);
}

int main(void)
{
	Suite *s = suite_create("httpreq");
	TCase *t = tcase_create("pure");
	TCase *c = tcase_create("client");
	TCase *d = tcase_create("direct");

	tcase_add_test(t, test_faults_grammar);
	tcase_add_test(t, test_faults_counting);
	tcase_add_test(t, test_redact_url);
	suite_add_tcase(s, t);
	/* Ranged GETs through libcurl's transfers. */
	tcase_add_checked_fixture(c, setup, teardown);
	add_client_tests(c);
	suite_add_tcase(s, c);
	/* The same with direct reads, and what only they do. */
	tcase_add_checked_fixture(d, setup_direct, teardown);
	add_client_tests(d);
	tcase_add_test(d, test_direct_interim_and_heads);
	tcase_add_test(d, test_direct_falls_back);
	tcase_add_test(d, test_direct_proxy_env);
	suite_add_tcase(s, d);
	return tu_run_suite(s);
}
