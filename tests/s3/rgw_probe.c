/*
 * rgw_probe.c - the S3 plugin's signer and XML parsers against a real
 * server that verifies SigV4 (Ceph RADOS Gateway, started by
 * tests/s3/test_rgw_signer.sh).  Usage: rgw_probe ENDPOINT AK SK
 * (ENDPOINT like http://127.0.0.1:9150).  Prints one line per check and
 * "N passed, M failed"; exits nonzero on any failure.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../plugins/s3/s3xml.h"
#include "../../plugins/s3/sigv4.h"

static const char *endpoint, *ak, *sk;
static int passed, failed;

typedef struct resp {
	char *body;
	size_t len;
	long status;
} resp;

static size_t on_body(char *p, size_t sz, size_t n, void *u)
{
	resp *r = u;
	char *nb = realloc(r->body, r->len + sz * n + 1);

	if (!nb)
		return 0;
	r->body = nb;
	memcpy(r->body + r->len, p, sz * n);
	r->len += sz * n;
	r->body[r->len] = '\0';
	return sz * n;
}

/* One signed request with path-style addressing; path not encoded. */
static resp request(const char *method, const char *path, const s3_kv *q,
		    size_t nq, const char *body, const char *range,
		    const char *secret)
{
	char date[17], hash[65], url[4096], host[256], *epath, *auth;
	char hdr[6][512];
	s3_kv h[5];
	size_t nh = 0, ulen;
	time_t now = time(NULL);
	struct curl_slist *list = NULL;
	CURL *c = curl_easy_init();
	resp r = {0};

	strftime(date, sizeof(date), "%Y%m%dT%H%M%SZ", gmtime(&now));
	s3_sha256_hex(body ? body : "", body ? strlen(body) : 0, hash);
	snprintf(host, sizeof(host), "%s", strstr(endpoint, "://") + 3);
	h[nh++] = (s3_kv){"host", host};
	h[nh++] = (s3_kv){"x-amz-date", date};
	h[nh++] = (s3_kv){"x-amz-content-sha256", hash};
	if (range)
		h[nh++] = (s3_kv){"range", range};
	{
		s3_sig_request sr = {method, path, q, nq, h, nh, hash, date,
				     "us-east-1", "s3", 0};

		auth = s3_authorization(&sr, ak, secret);
	}
	epath = s3_uri_encode(path, 1);
	ulen = (size_t)snprintf(url, sizeof(url), "%s%s", endpoint, epath);
	for (size_t i = 0; i < nq; i++) {
		char *k = s3_uri_encode(q[i].name, 0);
		char *v = s3_uri_encode(q[i].value ? q[i].value : "", 0);

		ulen += (size_t)snprintf(url + ulen, sizeof(url) - ulen, "%c%s=%s",
					 i ? '&' : '?', k, v);
		free(k);
		free(v);
	}
	snprintf(hdr[0], sizeof(hdr[0]), "Authorization: %s", auth);
	snprintf(hdr[1], sizeof(hdr[1]), "x-amz-date: %s", date);
	snprintf(hdr[2], sizeof(hdr[2]), "x-amz-content-sha256: %s", hash);
	snprintf(hdr[3], sizeof(hdr[3]), "Range: %s", range ? range : "");
	list = curl_slist_append(list, hdr[0]);
	list = curl_slist_append(list, hdr[1]);
	list = curl_slist_append(list, hdr[2]);
	if (range)
		list = curl_slist_append(list, hdr[3]);
	list = curl_slist_append(list, "Expect:");
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	if (body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	}
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
	curl_slist_free_all(list);
	curl_easy_cleanup(c);
	free(auth);
	free(epath);
	return r;
}

static void check(int ok, const char *what, const resp *r)
{
	if (ok) {
		passed++;
		printf("ok: %s\n", what);
	} else {
		failed++;
		printf("FAIL: %s (HTTP %ld) %.400s\n", what, r ? r->status : 0,
		       r && r->body ? r->body : "");
	}
}

static int collect(void *user, const char *key, uint64_t size,
		   int64_t mtime)
{
	char *out = user;

	(void)size;
	(void)mtime;
	strcat(out, key);
	strcat(out, "|");
	return 0;
}

int main(int argc, char **argv)
{
	const char *key = "/ckptio-probe/runs/a b+c%\xc3\xa9.bin";
	const char *data = "0123456789abcdefghij";
	s3_kv lq[] = {{"list-type", "2"}, {"prefix", "runs/a b"},
		      {"max-keys", "1"}};
	char keys[512] = "", err[256], *tok = NULL;
	int trunc = 0;
	s3_error_info e;
	resp r;

	if (argc != 4) {
		fprintf(stderr, "usage: rgw_probe ENDPOINT AK SK\n");
		return 2;
	}
	endpoint = argv[1];
	ak = argv[2];
	sk = argv[3];
	curl_global_init(CURL_GLOBAL_DEFAULT);

	r = request("PUT", "/ckptio-probe", NULL, 0, NULL, NULL, sk);
	check(r.status == 200, "create bucket", &r);
	free(r.body);
	r = request("PUT", key, NULL, 0, data, NULL, sk);
	check(r.status == 200, "PUT a key with space, '+', '%' and UTF-8", &r);
	free(r.body);
	r = request("PUT", "/ckptio-probe/runs/a b/second", NULL, 0, "x", NULL, sk);
	check(r.status == 200, "PUT a second key", &r);
	free(r.body);
	r = request("GET", key, NULL, 0, NULL, "bytes=5-9", sk);
	check(r.status == 206 && r.len == 5 && memcmp(r.body, "56789", 5) == 0,
	      "ranged GET returns bytes 5..9", &r);
	free(r.body);
	r = request("GET", "/ckptio-probe", lq, 3, NULL, NULL, sk);
	check(r.status == 200 &&
	      s3xml_list(r.body, r.len, collect, keys, &trunc, &tok, err,
			 sizeof(err)) == 0 && trunc == 1 && tok &&
	      strcmp(keys, "runs/a b+c%\xc3\xa9.bin|") == 0,
	      "ListObjectsV2 with an encoded prefix, page 1 of 2", &r);
	free(r.body);
	if (tok) {
		s3_kv q2[] = {{"list-type", "2"}, {"prefix", "runs/a b"},
			      {"continuation-token", tok}};

		keys[0] = '\0';
		r = request("GET", "/ckptio-probe", q2, 3, NULL, NULL, sk);
		free(tok);
		tok = NULL;
		check(r.status == 200 &&
		      s3xml_list(r.body, r.len, collect, keys, &trunc, &tok, err,
				 sizeof(err)) == 0 && trunc == 0 &&
		      strcmp(keys, "runs/a b/second|") == 0,
		      "ListObjectsV2 page 2 with the continuation token", &r);
		free(r.body);
		free(tok);
	}
	r = request("GET", key, NULL, 0, NULL, NULL, "wrong-secret");
	check(r.status == 403 && s3xml_error(r.body, r.len, &e, err,
					     sizeof(err)) == 0 &&
	      strcmp(e.code, "SignatureDoesNotMatch") == 0,
	      "a wrong secret gives 403 SignatureDoesNotMatch", &r);
	free(r.body);
	r = request("DELETE", key, NULL, 0, NULL, NULL, sk);
	check(r.status == 204, "DELETE", &r);
	free(r.body);
	r = request("DELETE", "/ckptio-probe/runs/a b/second", NULL, 0, NULL,
		    NULL, sk);
	free(r.body);
	r = request("DELETE", "/ckptio-probe", NULL, 0, NULL, NULL, sk);
	check(r.status == 204, "delete bucket", &r);
	free(r.body);
	curl_global_cleanup();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
