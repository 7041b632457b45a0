/*
 * sigv4.c - AWS Signature Version 4: canonical request, string to sign,
 * derived key, Authorization header (see sigv4.h).
 */
#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sigv4.h"

/* ------------------------------------------------------------------------ */
/* A growing string                                                         */

typedef struct buf {
	char *s;
	size_t len, cap;
	int oom;
} buf;

static void put(buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *ns = realloc(b->s, cap);

		if (!ns) {
			b->oom = 1;
			return;
		}
		b->s = ns;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void puts_(buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static char *done(buf *b)
{
	if (b->oom || !b->s) {
		free(b->s);
		return b->oom ? NULL : strdup("");
	}
	return b->s;
}

/* ------------------------------------------------------------------------ */
/* Encoding and hashing                                                     */

static int unreserved(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

static void encode_into(buf *b, const char *s, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};

		if (unreserved(*p) || (keep_slash && *p == '/'))
			put(b, (const char *)p, 1);
		else
			put(b, e, 3);
	}
}

char *s3_uri_encode(const char *s, int keep_slash)
{
	buf b = {0};

	encode_into(&b, s, keep_slash);
	return done(&b);
}

static void hex_of(const unsigned char *d, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[2 * n] = '\0';
}

void s3_sha256_hex(const void *data, size_t len, char out[65])
{
	unsigned char d[SHA256_DIGEST_LENGTH];

	SHA256(data, len, d);
	hex_of(d, sizeof(d), out);
}

static int hmac(const void *key, size_t klen, const char *msg,
		unsigned char out[32])
{
	unsigned int n = 32;

	return HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg,
		    strlen(msg), out, &n) ? 0 : -1;
}

/* ------------------------------------------------------------------------ */
/* Canonical pieces                                                         */

typedef struct enc_kv {
	char *k, *v;
} enc_kv;

static int cmp_kv(const void *a, const void *b)
{
	const enc_kv *x = a, *y = b;
	int c = strcmp(x->k, y->k);

	return c ? c : strcmp(x->v, y->v);
}

/* Encoded, sorted by key then value, joined with '&'. */
static void canonical_query(buf *b, const s3_sig_request *req)
{
	enc_kv *v = calloc(req->nquery ? req->nquery : 1, sizeof(*v));
	size_t i;

	if (!v) {
		b->oom = 1;
		return;
	}
	for (i = 0; i < req->nquery; i++) {
		v[i].k = s3_uri_encode(req->query[i].name, 0);
		v[i].v = s3_uri_encode(req->query[i].value ? req->query[i].value
							   : "", 0);
		if (!v[i].k || !v[i].v)
			b->oom = 1;
	}
	if (!b->oom && req->nquery)
		qsort(v, req->nquery, sizeof(*v), cmp_kv);
	for (i = 0; !b->oom && i < req->nquery; i++) {
		if (i)
			puts_(b, "&");
		puts_(b, v[i].k);
		puts_(b, "=");
		puts_(b, v[i].v);
	}
	for (i = 0; i < req->nquery; i++) {
		free(v[i].k);
		free(v[i].v);
	}
	free(v);
}

/* Lower-case name, value trimmed with inner runs of spaces folded. */
static enc_kv header_norm(const s3_kv *h)
{
	enc_kv e = {strdup(h->name), malloc(strlen(h->value) + 1)};
	const char *p = h->value;
	size_t n = 0;

	if (!e.k || !e.v)
		return e;
	for (char *c = e.k; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	while (*p == ' ' || *p == '\t')
		p++;
	for (; *p; p++) {
		if ((*p == ' ' || *p == '\t') &&
		    (n == 0 || e.v[n - 1] == ' '))
			continue;
		e.v[n++] = *p == '\t' ? ' ' : *p;
	}
	while (n > 0 && e.v[n - 1] == ' ')
		n--;
	e.v[n] = '\0';
	return e;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(((const enc_kv *)a)->k, ((const enc_kv *)b)->k);
}

/* "name:value\n" lines (repeated names joined with ','), a blank line,
 * then the signed header list; into hdrs and signed_list. */
static void canonical_headers(buf *hdrs, buf *names,
			      const s3_sig_request *req)
{
	enc_kv *v = calloc(req->nheaders ? req->nheaders : 1, sizeof(*v));
	size_t i;

	if (!v) {
		hdrs->oom = 1;
		return;
	}
	for (i = 0; i < req->nheaders; i++) {
		v[i] = header_norm(&req->headers[i]);
		if (!v[i].k || !v[i].v)
			hdrs->oom = 1;
	}
	/* Insertion order among equal names is kept: qsort is not stable,
	 * so sort indices by (name, position). */
	if (!hdrs->oom) {
		for (i = 1; i < req->nheaders; i++) {
			enc_kv x = v[i];
			size_t j = i;

			while (j > 0 && cmp_name(&v[j - 1], &x) > 0) {
				v[j] = v[j - 1];
				j--;
			}
			v[j] = x;
		}
	}
	for (i = 0; !hdrs->oom && i < req->nheaders; i++) {
		int same = i > 0 && strcmp(v[i].k, v[i - 1].k) == 0;

		if (same) {
			hdrs->len--; /* drop the previous '\n' */
			puts_(hdrs, ",");
		} else {
			if (names->len)
				puts_(names, ";");
			puts_(names, v[i].k);
			puts_(hdrs, v[i].k);
			puts_(hdrs, ":");
		}
		puts_(hdrs, v[i].v);
		puts_(hdrs, "\n");
	}
	if (names->oom)
		hdrs->oom = 1;
	for (i = 0; i < req->nheaders; i++) {
		free(v[i].k);
		free(v[i].v);
	}
	free(v);
}

static int complete(const s3_sig_request *req)
{
	return req && req->method && req->path && req->payload_hash &&
	       req->amz_date && strlen(req->amz_date) == 16 && req->region &&
	       req->service && (req->nquery == 0 || req->query) &&
	       (req->nheaders == 0 || req->headers);
}

/* The SignedHeaders list alone. */
static char *signed_headers(const s3_sig_request *req)
{
	buf h = {0}, n = {0};

	canonical_headers(&h, &n, req);
	free(h.s);
	if (h.oom) {
		free(n.s);
		return NULL;
	}
	return done(&n);
}

char *s3_canonical_request(const s3_sig_request *req)
{
	buf b = {0}, h = {0}, n = {0};

	if (!complete(req))
		return NULL;
	puts_(&b, req->method);
	puts_(&b, "\n");
	if (req->double_encode_path) {
		char *once = s3_uri_encode(req->path, 1);

		if (!once)
			b.oom = 1;
		else
			encode_into(&b, once, 1);
		free(once);
	} else {
		encode_into(&b, req->path, 1);
	}
	puts_(&b, "\n");
	canonical_query(&b, req);
	puts_(&b, "\n");
	canonical_headers(&h, &n, req);
	if (h.oom)
		b.oom = 1;
	else if (h.s)
		put(&b, h.s, h.len);
	puts_(&b, "\n");
	if (n.s)
		puts_(&b, n.s);
	puts_(&b, "\n");
	puts_(&b, req->payload_hash);
	free(h.s);
	free(n.s);
	return done(&b);
}

char *s3_string_to_sign(const s3_sig_request *req, const char *canonical)
{
	char hash[65];
	buf b = {0};

	if (!complete(req) || !canonical)
		return NULL;
	s3_sha256_hex(canonical, strlen(canonical), hash);
	puts_(&b, "AWS4-HMAC-SHA256\n");
	puts_(&b, req->amz_date);
	puts_(&b, "\n");
	put(&b, req->amz_date, 8);
	puts_(&b, "/");
	puts_(&b, req->region);
	puts_(&b, "/");
	puts_(&b, req->service);
	puts_(&b, "/aws4_request\n");
	puts_(&b, hash);
	return done(&b);
}

char *s3_signature(const s3_sig_request *req, const char *secret_key,
		   const char *string_to_sign)
{
	unsigned char k[32];
	char date[9], *seed, *out;
	size_t slen;

	if (!complete(req) || !secret_key || !string_to_sign)
		return NULL;
	memcpy(date, req->amz_date, 8);
	date[8] = '\0';
	slen = strlen(secret_key) + 5;
	seed = malloc(slen);
	out = malloc(65);
	if (!seed || !out) {
		free(seed);
		free(out);
		return NULL;
	}
	snprintf(seed, slen, "AWS4%s", secret_key);
	/* kDate -> kRegion -> kService -> kSigning -> signature */
	if (hmac(seed, strlen(seed), date, k) || hmac(k, 32, req->region, k) ||
	    hmac(k, 32, req->service, k) || hmac(k, 32, "aws4_request", k) ||
	    hmac(k, 32, string_to_sign, k)) {
		free(out);
		out = NULL;
	} else {
		hex_of(k, 32, out);
	}
	OPENSSL_cleanse(seed, slen);
	OPENSSL_cleanse(k, sizeof(k));
	free(seed);
	return out;
}

char *s3_authorization(const s3_sig_request *req, const char *access_key,
		       const char *secret_key)
{
	char *creq = s3_canonical_request(req);
	char *sts = s3_string_to_sign(req, creq);
	char *sig = s3_signature(req, secret_key, sts);
	char *names = signed_headers(req);
	buf b = {0};

	if (creq && sts && sig && names && access_key) {
		puts_(&b, "AWS4-HMAC-SHA256 Credential=");
		puts_(&b, access_key);
		puts_(&b, "/");
		put(&b, req->amz_date, 8);
		puts_(&b, "/");
		puts_(&b, req->region);
		puts_(&b, "/");
		puts_(&b, req->service);
		puts_(&b, "/aws4_request, SignedHeaders=");
		puts_(&b, names);
		puts_(&b, ", Signature=");
		puts_(&b, sig);
	} else {
		b.oom = 1;
	}
	free(creq);
	free(sts);
	free(sig);
	free(names);
	return done(&b);
}
