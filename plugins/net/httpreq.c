/*
 * httpreq.c - one request of the request layer: its headers, the curl
 * easy handle of an attempt, the callbacks that move its body and its
 * answer between the network and the caller's segments, and what an
 * answer means (a ckptio status and message, and whether to retry).
 *
 * The I/O thread that runs the attempts is httpclient.c; httpreq.h says
 * what a store provides.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf */
#endif
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "httpint.h"

/* ------------------------------------------------------------------------ */
/* Segments                                                                 */

/* Copy n bytes between ext and the segments v, from segment *i at offset
 * *off, and advance them: into the segments when in (a NULL segment
 * buffer drops its bytes), else out of them.  crc (in only, may be NULL):
 * the request's dst_crc, each segment's CRC32C carried on over the bytes
 * copied into it, from ext while they are in the CPU cache.  The caller
 * checks that the segments hold n more bytes. */
static void seg_copy(httpreq_seg *v, size_t *i, uint64_t *off,
		     unsigned char *ext, size_t n, int in, uint32_t *crc,
		     uint32_t (*crc32c)(uint32_t, const void *, size_t))
{
	for (size_t done = 0; done < n;) {
		httpreq_seg *sg = &v[*i];
		uint64_t left = sg->len - *off;
		size_t k = n - done < left ? n - done : (size_t)left;

		if (in && sg->buf) {
			memcpy(sg->buf + *off, ext + done, k);
			if (crc)
				crc[*i] = crc32c(crc[*i], ext + done, k);
		} else if (!in)
			memcpy(ext + done, sg->buf + *off, k);
		done += k;
		*off += k;
		if (*off == sg->len) {
			++*i;
			*off = 0;
		}
	}
}

static void body_rewind(httpreq *r)
{
	r->body_pos = 0;
	r->body_seg = 0;
	r->body_seg_off = 0;
}

/* Keep n bytes of the answer in r->resp, up to limit in all. */
static int keep_resp(httpreq *r, const char *p, size_t n, size_t limit)
{
	if (r->resp_len + n > limit) {
		r->overflow = 1;
		return -1;
	}
	if (r->resp_len + n + 1 > r->resp_cap) {
		size_t cap = r->resp_cap ? r->resp_cap : 4096;
		char *v;

		while (cap < r->resp_len + n + 1)
			cap *= 2;
		v = realloc(r->resp, cap);
		if (!v)
			return -1;
		r->resp = v;
		r->resp_cap = cap;
	}
	memcpy(r->resp + r->resp_len, p, n);
	r->resp_len += n;
	r->resp[r->resp_len] = '\0';
	return 0;
}

/* ------------------------------------------------------------------------ */
/* curl callbacks                                                           */

static size_t on_read(char *out, size_t size, size_t nmemb, void *u)
{
	httpreq *r = u;
	uint64_t left = r->body_len - r->body_pos;
	size_t n = size * nmemb < left ? size * nmemb : (size_t)left;

	if (r->pull) {
		n = r->pull(r, out, size * nmemb);
		if (n != CURL_READFUNC_PAUSE && n != CURL_READFUNC_ABORT)
			r->body_pos += n;
		return n;
	}
	if (r->injected == HTTPREQ_F_RESET && r->body_pos >= r->body_len / 2)
		return CURL_READFUNC_ABORT;
	seg_copy(r->body, &r->body_seg, &r->body_seg_off, (unsigned char *)out,
		 n, 0, NULL, NULL);
	r->body_pos += n;
	return n;
}

/* curl rewinds the body when it must resend it (a redirect, a reused
 * connection that turned out closed). */
static int on_seek(void *u, curl_off_t off, int origin)
{
	httpreq *r = u;
	uint64_t left;

	if (r->pull) /* a stream cannot go back, only stay at its start */
		return origin == SEEK_SET && off == 0 && r->body_pos == 0
			       ? CURL_SEEKFUNC_OK : CURL_SEEKFUNC_CANTSEEK;
	if (origin != SEEK_SET || off < 0 || (uint64_t)off > r->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	body_rewind(r);
	left = (uint64_t)off;
	while (left > 0) {
		uint64_t k = r->body[r->body_seg].len;

		if (left < k) {
			r->body_seg_off = left;
			break;
		}
		left -= k;
		r->body_seg++;
	}
	r->body_pos = (uint64_t)off;
	return CURL_SEEKFUNC_OK;
}

/* The version of the object an answer is of: its ETag, else its
 * Last-Modified; "" when it has neither. */
static const char *answer_tag(const httpreq *r)
{
	return r->etag[0] ? r->etag : r->last_modified;
}

int httpreq_answer_check(httpreq *r, int64_t length)
{
	const httpreq_config *cfg = &r->c->cfg;

	/* A 206 of other bytes than asked for never goes into dst.  (One
	 * without a Content-Range is taken, as libcurl and the S3 SDKs take
	 * it: a single range was asked for.) */
	if (r->wstatus == 206 && r->crange != 0 &&
	    (r->crange != 1 ||
	     r->crange_first != r->range_off + r->resume_at)) {
		r->badrange = 1;
		return -1;
	}

	if (r->range_hdr && r->wstatus != 206) {
		/* A server that ignores Range answers 200 with the whole
		 * object: right only when that is exactly the range. */
		if (r->range_off != 0 || r->resume_at != 0 || length < 0 ||
		    (uint64_t)length != r->dst_len) {
			r->norange = 1;
			return -1;
		}
	}
	if (r->resume_at && strcmp(answer_tag(r), r->resume_tag) != 0) {
		r->changed = 1;
		return -1;
	}
	if (cfg->hooks.accept && cfg->hooks.accept(cfg->ctx, r) != 0) {
		r->refused = 1;
		return -1;
	}
	return 0;
}

int httpreq_answer_bytes(httpreq *r, const char *p, size_t n)
{
	long status = r->wstatus;

	if (status < 200 || status > 299 || !r->dst)
		return keep_resp(r, p, n, r->dst || status < 200 || status > 299
						  ? HTTPREQ_MAX_ERROR_BODY
						  : r->c->cfg.max_body);
	if ((r->injected == HTTPREQ_F_SHORT ||
	     r->injected == HTTPREQ_F_RESET) && r->got + n > r->dst_len / 2)
		return -1; /* httpreq_classify maps the abort to the fault */
	if (r->got + n > r->dst_len) {
		r->overflow = 1; /* more than the range asked for */
		return -1;
	}
	seg_copy(r->dst, &r->dst_seg, &r->dst_seg_off, (unsigned char *)p, n,
		 1, r->dst_crc, r->c->cfg.host->crc32c);
	r->got += n;
	return 0;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *u)
{
	httpreq *r = u;
	size_t n = size * nmemb;

	if (!r->wstatus) { /* once per answer, not per block */
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->wstatus);
		if (r->wstatus >= 200 && r->wstatus <= 299 && r->dst) {
			curl_off_t cl = -1;

			curl_easy_getinfo(r->easy,
					  CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
					  &cl);
			if (httpreq_answer_check(r, cl) != 0)
				return 0;
		}
	}
	return httpreq_answer_bytes(r, p, n) == 0 ? n : 0;
}

/* The value of header line p (n bytes) after its name (nlen bytes), without
 * surrounding blanks and line end, into out (len); nothing when too long. */
static void header_value(const char *p, size_t n, size_t nlen, char *out,
			 size_t len)
{
	const char *v = p + nlen;
	size_t vlen = n - nlen;

	while (vlen && (*v == ' ' || *v == '\t'))
		v++, vlen--;
	while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' ||
			v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
		vlen--;
	if (vlen < len) {
		memcpy(out, v, vlen);
		out[vlen] = '\0';
	}
}

void httpreq_answer_header(httpreq *r, const char *p, size_t n)
{
	/* A new answer (after a redirect, or a 100 Continue): forget what
	 * the one before said. */
	if (n > 5 && strncmp(p, "HTTP/", 5) == 0) {
		r->etag[0] = '\0';
		r->last_modified[0] = '\0';
		r->obj_size = UINT64_MAX;
		r->crange = 0;
	}
	if (n > 5 && strncasecmp(p, "ETag:", 5) == 0)
		header_value(p, n, 5, r->etag, sizeof(r->etag));
	if (n > 14 && strncasecmp(p, "Last-Modified:", 14) == 0)
		header_value(p, n, 14, r->last_modified,
			     sizeof(r->last_modified));
	if (n > 14 && strncasecmp(p, "Content-Range:", 14) == 0) {
		const char *slash = memchr(p, '/', n);
		uint64_t first, last;
		char v[128] = "";
		int k = 0;

		/* "bytes A-B/N" (a 206), else "bytes * /N" (a 416); the line
		 * is not NUL-terminated */
		r->crange = -1;
		header_value(p, n, 14, v, sizeof(v));
		if (n - 14 < sizeof(v) &&
		    sscanf(v, "bytes %" SCNu64 "-%" SCNu64 "/%n", &first, &last,
			   &k) == 2 && k > 0 && last >= first &&
		    v[6] >= '0' && v[6] <= '9') {
			r->crange = 1;
			r->crange_first = first;
		} else if (n - 14 < sizeof(v) && strncmp(v, "bytes */", 8) == 0) {
			r->crange = 2;
		}
		char num[24];
		size_t len = slash ? n - (size_t)(slash + 1 - p) : 0;

		if (slash && len < sizeof(num)) {
			memcpy(num, slash + 1, len);
			num[len] = '\0';
			if (sscanf(num, "%" SCNu64, &r->obj_size) != 1)
				r->obj_size = UINT64_MAX;
		}
	}
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *u)
{
	httpreq_answer_header(u, p, size * nmemb);
	return size * nmemb;
}

/* ------------------------------------------------------------------------ */
/* Building a request                                                       */

void httpreq_init(httpreq *r, httpreq_client *c, unsigned op,
		  const char *method)
{
	r->c = c;
	r->op = op;
	r->method = method;
}

void httpreq_release(httpreq *r)
{
	if (r->c && r->pull) { /* an unpause asked for after the end */
		pthread_mutex_lock(&r->c->mu);
		if (r->unpause_queued) {
			httpreq **pp = &r->c->unpause;

			while (*pp != r)
				pp = &(*pp)->unext;
			*pp = r->unext;
			r->unpause_queued = 0;
		}
		pthread_mutex_unlock(&r->c->mu);
	}
	if (r->easy)
		curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->hdrs);
	for (size_t i = 0; i < r->nh; i++) {
		free(r->hname[i]);
		free(r->hval[i]);
	}
	free(r->resp);
	free(r->body);
	free(r->dst);
}

int httpreq_header(httpreq *r, const char *name, const char *value)
{
	if (r->nh == HTTPREQ_MAX_HEADERS)
		return -1;
	r->hname[r->nh] = strdup(name);
	r->hval[r->nh] = strdup(value);
	if (!r->hname[r->nh] || !r->hval[r->nh]) {
		free(r->hname[r->nh]);
		free(r->hval[r->nh]);
		return -1;
	}
	r->nh++;
	return 0;
}

int httpreq_range(httpreq *r, uint64_t off, uint64_t len)
{
	char v[64];

	snprintf(v, sizeof(v), "bytes=%" PRIu64 "-%" PRIu64, off,
		 off + len - 1);
	r->range_off = off;
	if (httpreq_header(r, "range", v) != 0)
		return -1;
	r->range_hdr = (int)r->nh;
	return 0;
}

/* The range header of a resumed attempt: the bytes not received yet. */
static int range_rest(httpreq *r)
{
	char v[64], *d;

	snprintf(v, sizeof(v), "bytes=%" PRIu64 "-%" PRIu64,
		 r->range_off + r->resume_at, r->range_off + r->dst_len - 1);
	if (!(d = strdup(v)))
		return -1;
	free(r->hval[r->range_hdr - 1]);
	r->hval[r->range_hdr - 1] = d;
	return 0;
}

int httpreq_resume(httpreq *r)
{
	const char *tag = answer_tag(r);

	if (!r->dst || !r->range_hdr || r->wstatus != 206 || r->got == 0 ||
	    r->got >= r->dst_len || !tag[0] || strlen(tag) >= sizeof(r->resume_tag))
		return 0;
	if (r->resume_at == 0)
		strcpy(r->resume_tag, tag);
	r->resume_at = r->got;
	return range_rest(r) == 0 ? 1 : -1;
}

int httpreq_key_valid(const char *key, size_t max_len)
{
	size_t len = strlen(key);

	if (len == 0 || len > max_len || key[0] == '/' || key[len - 1] == '/')
		return 0;
	for (const char *c = key; *c;) {
		size_t n = strcspn(c, "/");

		if (n == 0 || (n == 1 && c[0] == '.') ||
		    (n == 2 && c[0] == '.' && c[1] == '.'))
			return 0;
		c += n + (c[n] == '/');
	}
	return 1;
}

char *httpreq_asprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

int httpreq_header_line(struct curl_slist **l, const char *name,
			const char *value)
{
	/* No fixed buffer: STS session tokens run to kilobytes. */
	char *line = NULL;
	struct curl_slist *n;

	if (asprintf(&line, "%s: %s", name, value) < 0)
		return -1;
	n = curl_slist_append(*l, line);
	free(line);
	if (!n)
		return -1;
	*l = n;
	return 0;
}

void httpreq_redact_url(const char *url, char *out, size_t len)
{
	const char *sep = strstr(url, "://");
	const char *auth, *host, *path;
	size_t alen, hlen;

	if (!len)
		return;
	if (sep && strcspn(url, "/?#@") < (size_t)(sep - url))
		sep = NULL; /* a "://" in the path or query */
	auth = sep ? sep + 3 : url;
	/* The user info ends at the last '@' before the path: a password
	 * may hold any other character. */
	alen = strcspn(auth, "/");
	host = auth;
	for (const char *c = auth; c < auth + alen; c++)
		if (*c == '@')
			host = c + 1;
	hlen = strcspn(host, "/?#");
	/* A query or fragment before any '/' leaves no path. */
	path = host + hlen == auth + alen ? auth + alen : "";
	snprintf(out, len, "%.*s%.*s%.*s", (int)(auth - url), url, (int)hlen,
		 host, (int)strcspn(path, "?#"), path);
}

/* ------------------------------------------------------------------------ */
/* An attempt                                                               */

void httpreq_conn_options(const httpreq_config *cfg, CURL *easy)
{
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, cfg->opt.connect_timeout);
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, (long)cfg->opt.verify_tls);
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST,
			 cfg->opt.verify_tls ? 2L : 0L);
	if (cfg->opt.ca_file)
		curl_easy_setopt(easy, CURLOPT_CAINFO, cfg->opt.ca_file);
	curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
}

int httpreq_prepare_request(httpreq *r, char **url)
{
	const httpreq_config *cfg = &r->c->cfg;
	struct curl_slist *l;

	*url = NULL;
	r->hdrs = NULL;
	if (cfg->hooks.prepare(cfg->ctx, r, url, &r->hdrs) != 0)
		return -1;
	/* No "Expect: 100-continue" round trip before each part. */
	if (!(l = curl_slist_append(r->hdrs, "Expect:")))
		return -1;
	r->hdrs = l;
	return 0;
}

int httpreq_prepare(httpreq *r)
{
	const httpreq_config *cfg = &r->c->cfg;
	char *url = NULL;
	int rc = -1;

	if (httpreq_prepare_request(r, &url) != 0)
		goto out;
	if (!r->easy && !(r->easy = curl_easy_init()))
		goto out;
	curl_easy_reset(r->easy);
	curl_easy_setopt(r->easy, CURLOPT_URL, url);
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->hdrs);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->curl_err);
	httpreq_conn_options(cfg, r->easy);
	curl_easy_setopt(r->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(r->easy, CURLOPT_LOW_SPEED_TIME,
			 cfg->opt.stall_timeout);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(r->easy, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_BUFFERSIZE, 512L * 1024);
	curl_easy_setopt(r->easy, CURLOPT_USERAGENT, cfg->user_agent);
	if (cfg->opt.max_redirects) {
		/* curl sends Authorization and Cookie only to the first host
		 * (CURLOPT_UNRESTRICTED_AUTH stays off). */
		curl_easy_setopt(r->easy, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(r->easy, CURLOPT_MAXREDIRS,
				 (long)cfg->opt.max_redirects);
		curl_easy_setopt(r->easy, CURLOPT_REDIR_PROTOCOLS_STR,
				 "http,https");
	}
	if (strcmp(r->method, "HEAD") == 0) {
		curl_easy_setopt(r->easy, CURLOPT_NOBODY, 1L);
		curl_easy_setopt(r->easy, CURLOPT_FILETIME, 1L);
	} else if (r->body || r->pull) {
		curl_easy_setopt(r->easy, CURLOPT_UPLOAD, 1L);
		/* Held by every transfer in flight: 2 MiB cost an S3 save
		 * 2 MiB per unit of concurrency (payload + 142 MiB at 64),
		 * 256 KiB sends as fast for the same CPU (docs/s3.md). */
		curl_easy_setopt(r->easy, CURLOPT_UPLOAD_BUFFERSIZE,
				 256L * 1024);
		curl_easy_setopt(r->easy, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(r->easy, CURLOPT_READDATA, r);
		curl_easy_setopt(r->easy, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(r->easy, CURLOPT_SEEKDATA, r);
		if (r->body_len != UINT64_MAX) /* else chunked */
			curl_easy_setopt(r->easy, CURLOPT_INFILESIZE_LARGE,
					 (curl_off_t)r->body_len);
		if (strcmp(r->method, "PUT") != 0)
			curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST,
					 r->method);
	} else if (strcmp(r->method, "POST") == 0) {
		curl_easy_setopt(r->easy, CURLOPT_POST, 1L);
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE, 0L);
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, "");
	} else if (strcmp(r->method, "GET") != 0) {
		curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, r->method);
	}
	rc = 0;
out:
	free(url);
	return rc;
}

void httpreq_reset_answer(httpreq *r)
{
	if (!r->pull)
		body_rewind(r);
	if (r->got != r->resume_at) {
		/* Start again from the first byte, or (resumed) from where
		 * the bytes kept end. */
		uint64_t left = r->resume_at;

		/* The checksums carried on so far cover bytes now dropped:
		 * from the first byte they start again; from the middle they
		 * cannot, and the caller checksums the buffers instead. */
		if (r->dst_crc && r->resume_at == 0)
			memset(r->dst_crc, 0, r->ndst * sizeof(*r->dst_crc));
		else if (r->dst_crc)
			r->dst_crc_bad = 1;

		r->got = r->resume_at;
		r->dst_seg = 0;
		r->dst_seg_off = 0;
		while (left > 0) {
			uint64_t k = r->dst[r->dst_seg].len;

			if (left < k) {
				r->dst_seg_off = left;
				break;
			}
			left -= k;
			r->dst_seg++;
		}
	}
	r->resp_len = 0;
	if (r->resp)
		r->resp[0] = '\0';
	r->overflow = 0;
	r->wstatus = 0;
	r->status = 0;
	r->cc = CURLE_OK;
	r->curl_err[0] = '\0';
	r->etag[0] = '\0';
	r->last_modified[0] = '\0';
	r->retry_after = 0;
	r->refused = 0;
	r->norange = 0;
	r->badrange = 0;
	r->changed = 0;
	r->length = 0;
	r->obj_size = UINT64_MAX;
	r->mtime = 0;
	curl_slist_free_all(r->hdrs);
	r->hdrs = NULL;
}

void httpreq_inject_status(httpreq *r, httpreq_fault_kind k)
{
	static const long status[HTTPREQ_NFAULTS] = {
		[HTTPREQ_F_500] = 500, [HTTPREQ_F_503] = 503,
		[HTTPREQ_F_429] = 429, [HTTPREQ_F_403] = 403};
	const char *const *bodies = r->c->cfg.fault_body;

	r->status = status[k];
	if (k == HTTPREQ_F_429)
		r->retry_after = 1; /* as a throttling server says it */
	if (bodies && bodies[k])
		keep_resp(r, bodies[k], strlen(bodies[k]),
			  HTTPREQ_MAX_ERROR_BODY);
}

void httpreq_collect(httpreq *r, CURLcode cc)
{
	curl_off_t ra = 0;

	r->cc = cc;
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
	if (curl_easy_getinfo(r->easy, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK &&
	    ra > 0)
		r->retry_after = ra > 86400 ? 86400 : (long)ra;
	if (strcmp(r->method, "HEAD") == 0) {
		curl_off_t cl = -1;
		long ft = -1;

		curl_easy_getinfo(r->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
				  &cl);
		curl_easy_getinfo(r->easy, CURLINFO_FILETIME, &ft);
		r->length = cl >= 0 ? (int64_t)cl : -1;
		r->mtime = ft > 0 ? ft : 0;
	}
}

/* ------------------------------------------------------------------------ */
/* What an answer means                                                     */

/* A transfer that curl could not finish: 1 when another attempt may
 * succeed. */
static int classify_curl(httpreq *r, const char *target, const char *what)
{
	int retry;

	if (r->overflow && r->dst) {
		r->st = CKPTIO_ECORRUPT;
		snprintf(r->msg, sizeof(r->msg), "%s: %s: the server sent "
			 "more than the %" PRIu64 " bytes asked for", target,
			 what, r->dst_len);
		return 0;
	}
	if (r->overflow) {
		r->st = CKPTIO_ECORRUPT;
		snprintf(r->msg, sizeof(r->msg), "%s: %s: answer over the "
			 "%zu-byte limit", target, what,
			 r->dst ? (size_t)HTTPREQ_MAX_ERROR_BODY
				: r->c->cfg.max_body);
		return 0;
	}
	switch (r->cc) {
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_OUT_OF_MEMORY:
	case CURLE_ABORTED_BY_CALLBACK:
	case CURLE_TOO_MANY_REDIRECTS:
		retry = 0;
		break;
	default:
		retry = 1;
	}
	r->st = r->cc == CURLE_OUT_OF_MEMORY ? CKPTIO_ENOMEM : CKPTIO_ENET;
	snprintf(r->msg, sizeof(r->msg), "%s: %s: %s%s%s", target, what,
		 curl_easy_strerror(r->cc), r->curl_err[0] ? ": " : "",
		 r->curl_err);
	return retry;
}

/* A 2xx answer: into dst, it must have filled it. */
static int classify_ok(httpreq *r, const char *target, const char *what)
{
	if (r->dst && r->got != r->dst_len && r->obj_size != UINT64_MAX &&
	    r->range_off + r->dst_len > r->obj_size) {
		r->st = CKPTIO_ECORRUPT;
		snprintf(r->msg, sizeof(r->msg), "%s: bytes %" PRIu64
			 "-%" PRIu64 " are past the end of the object (%" PRIu64
			 " bytes)", target, r->range_off,
			 r->range_off + r->dst_len - 1, r->obj_size);
		return 0;
	}
	if (r->dst && r->got != r->dst_len) {
		r->st = CKPTIO_ENET;
		snprintf(r->msg, sizeof(r->msg), "%s: %s: the answer ended "
			 "after %" PRIu64 " of %" PRIu64 " bytes", target, what,
			 r->got, r->dst_len);
		return 1;
	}
	return 0;
}

/* An error status; the store's hooks read its body and may amend the
 * verdict. */
static int classify_error(httpreq *r, const char *target, const char *what)
{
	const httpreq_config *cfg = &r->c->cfg;
	char detail[300] = "";
	int retry = 0;

	if (cfg->hooks.error_detail)
		cfg->hooks.error_detail(cfg->ctx, r, detail, sizeof(detail));
	snprintf(r->msg, sizeof(r->msg), "%s: %s: HTTP %ld%s", target, what,
		 r->status, detail);
	switch (r->status) {
	case 404:
		r->st = CKPTIO_ENOTFOUND;
		break;
	case 401:
	case 403:
		r->st = CKPTIO_EAUTH;
		break;
	case 412:
		r->st = CKPTIO_EEXIST;
		break;
	case 416:
		r->st = CKPTIO_ECORRUPT;
		break;
	case 429:
	case 500:
	case 502:
	case 503:
	case 504:
		r->st = CKPTIO_ENET;
		retry = 1;
		break;
	default:
		r->st = CKPTIO_EIO;
	}
	if (cfg->hooks.error_verdict)
		retry = cfg->hooks.error_verdict(cfg->ctx, r, retry);
	return retry;
}

int httpreq_classify(httpreq *r)
{
	const httpreq_config *cfg = &r->c->cfg;
	const char *what = cfg->ops[r->op].what;
	char target[480];

	if (r->refused) /* the hook set st and msg */
		return 0;
	r->st = CKPTIO_OK;
	cfg->hooks.target(cfg->ctx, r, target, sizeof(target));
	if (r->norange) {
		r->st = CKPTIO_EIO;
		snprintf(r->msg, sizeof(r->msg), "%s: %s: the server does not "
			 "serve byte ranges (HTTP %ld to a request for bytes %"
			 PRIu64 "-%" PRIu64 ")", target, what, r->wstatus,
			 r->range_off + r->resume_at,
			 r->range_off + r->dst_len - 1);
		return 0;
	}
	if (r->badrange) {
		r->st = CKPTIO_ECORRUPT;
		snprintf(r->msg, sizeof(r->msg), "%s: %s: HTTP 206 with a "
			 "Content-Range other than the bytes %" PRIu64 "-%"
			 PRIu64 " asked for", target, what,
			 r->range_off + r->resume_at,
			 r->range_off + r->dst_len - 1);
		return 0;
	}
	if (r->changed) {
		r->st = CKPTIO_ECORRUPT;
		snprintf(r->msg, sizeof(r->msg), "%s: %s: the object changed "
			 "on the server during the transfer (%s, then %s)",
			 target, what, r->resume_tag,
			 answer_tag(r)[0] ? answer_tag(r) : "no ETag");
		return 0;
	}
	if (r->injected == HTTPREQ_F_RESET && r->cc != CURLE_OK)
		r->cc = CURLE_RECV_ERROR;
	if (r->injected == HTTPREQ_F_SHORT && r->cc != CURLE_OK)
		r->cc = CURLE_PARTIAL_FILE;
	if (r->cc != CURLE_OK)
		return classify_curl(r, target, what);
	if (r->status >= 200 && r->status <= 299)
		return classify_ok(r, target, what);
	return classify_error(r, target, what);
}
