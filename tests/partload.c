/*
 * partload.c - load some items of a checkpoint and compare them with a
 * reference copy, on the public API only (tests/s3/test_safetensors_s3.sh:
 * a few tensors of a safetensors model in a bucket, against the local
 * native checkpoint it was copied from).
 *
 *   partload [--fresh] SRC REF NAME...   load the items NAME... of SRC
 *   partload [--fresh] SRC REF --all     load every item of REF from SRC
 *
 * The shapes, dtypes and sizes come from REF.  SRC is loaded with
 * CKPTIO_LOAD_PARTIAL, with one more bytes item, "partload.absent", that
 * no checkpoint holds: the load must leave it untouched.  REF is loaded
 * the usual way.  Every byte must match.  Prints "items N bytes B" (the
 * payload of the items asked for) on stdout, with "seconds S cpu C": the
 * time and the process's CPU seconds (user + system, every thread) of
 * SRC's load alone (bench/safetensors_s3.sh, bench/http.sh), into memory
 * written before (a model's parameters), or with --fresh never touched
 * (a tensor fresh from torch.empty).
 *
 * Exit status: 0 identical, 4 different, 3 an item missing from REF,
 * 1 a failed call (its message on stderr), 2 bad usage.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "ckptio/ckptio.h"

#define ABSENT "partload.absent"
#define SENTINEL 0xa5

typedef struct item {
	ckptio_item_info info;
	unsigned char *src, *ref;
} item;

/* User + system seconds of a getrusage answer. */
static double cpu_seconds(const struct rusage *u)
{
	return (double)(u->ru_utime.tv_sec + u->ru_stime.tv_sec) +
	       (double)(u->ru_utime.tv_usec + u->ru_stime.tv_usec) * 1e-6;
}

static int fail(ckptio_ctx *ctx, const char *what, ckptio_status st)
{
	fprintf(stderr, "partload: %s: %s: %s\n", what, ckptio_strerror(st),
		ctx ? ckptio_errmsg(ctx) : ckptio_last_error());
	return 1;
}

/* Add it to sd over buf, as REF describes it. */
static ckptio_status add(ckptio_sd *sd, const item *it, unsigned char *buf)
{
	const ckptio_item_info *in = &it->info;

	if (in->kind == CKPTIO_ITEM_BYTES)
		return ckptio_sd_add_bytes(sd, in->name, buf, in->nbytes);
	return ckptio_sd_add_tensor(sd, in->name, in->dtype, in->ndim,
				    in->shape, NULL, NULL, buf);
}

/* The items of REF to load: those named, or all. */
static int pick(ckptio_ckpt *ck, int argc, char **argv, item **out,
		size_t *n)
{
	int all = argc == 1 && strcmp(argv[0], "--all") == 0;
	size_t count = all ? ckptio_ckpt_count(ck) : (size_t)argc;
	item *its = calloc(count ? count : 1, sizeof(*its));

	if (!its)
		return 1;
	for (size_t i = 0; i < count; i++) {
		size_t k = all ? i : ckptio_ckpt_find(ck, argv[i]);

		if (k == (size_t)-1) {
			fprintf(stderr, "partload: no item '%s' in the "
				"reference\n", argv[i]);
			free(its);
			return 3;
		}
		its[i].info.struct_size = sizeof(its[i].info);
		if (ckptio_ckpt_item(ck, k, &its[i].info) != CKPTIO_OK ||
		    !(its[i].src = calloc(1, its[i].info.nbytes + 1)) ||
		    !(its[i].ref = malloc(its[i].info.nbytes + 1))) {
			*out = its;
			*n = i + 1;
			return 1;
		}
	}
	*out = its;
	*n = count;
	return 0;
}

int main(int argc, char **argv)
{
	ckptio_opts partial = CKPTIO_OPTS_INIT;
	struct timespec t0, t1;
	struct rusage u0, u1;
	unsigned char absent[8];
	ckptio_sd *ssd = NULL, *rsd = NULL;
	ckptio_ckpt *ck = NULL;
	ckptio_ctx *ctx = NULL;
	ckptio_status st;
	item *its = NULL;
	size_t n = 0;
	uint64_t bytes = 0;
	int rc, fresh = 0;

	if (argc > 1 && strcmp(argv[1], "--fresh") == 0) {
		fresh = 1;
		argc--;
		argv++;
	}
	if (argc < 4) {
		fprintf(stderr, "usage: partload [--fresh] SRC REF NAME... | "
			"--all\n");
		return 2;
	}
	if ((st = ckptio_ctx_new(&ctx, NULL)) != CKPTIO_OK)
		return fail(NULL, "context", st);
	if ((st = ckptio_open(ctx, argv[2], &ck)) != CKPTIO_OK) {
		rc = fail(ctx, argv[2], st);
		goto out;
	}
	rc = pick(ck, argc - 3, argv + 3, &its, &n);
	if (rc == 1)
		fprintf(stderr, "partload: reading the reference's items "
			"failed\n");
	if (rc)
		goto out;
	if ((st = ckptio_sd_new(&ssd)) != CKPTIO_OK ||
	    (st = ckptio_sd_new(&rsd)) != CKPTIO_OK) {
		rc = fail(NULL, "state dict", st);
		goto out;
	}
	memset(absent, SENTINEL, sizeof(absent));
	st = ckptio_sd_add_bytes(ssd, ABSENT, absent, sizeof(absent));
	for (size_t i = 0; st == CKPTIO_OK && i < n; i++) {
		/* --fresh: src stays as calloc left it, zero and (for all
		 * but small items) never touched, as a tensor fresh from
		 * torch.empty: the load pays for the pages' first touch.
		 * Else written before, as a model's initialised parameters
		 * that a checkpoint is loaded into. */
		if (!fresh)
			memset(its[i].src, 0, its[i].info.nbytes);
		memset(its[i].ref, 0xff, its[i].info.nbytes);
		st = add(ssd, &its[i], its[i].src);
		if (st == CKPTIO_OK)
			st = add(rsd, &its[i], its[i].ref);
		bytes += its[i].info.nbytes;
	}
	if (st != CKPTIO_OK) {
		rc = fail(NULL, "state dict", st);
		goto out;
	}
	if ((st = ckptio_load(ctx, argv[2], rsd, NULL)) != CKPTIO_OK) {
		rc = fail(ctx, argv[2], st);
		goto out;
	}
	partial.flags = CKPTIO_LOAD_PARTIAL;
	getrusage(RUSAGE_SELF, &u0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((st = ckptio_load(ctx, argv[1], ssd, &partial)) != CKPTIO_OK) {
		rc = fail(ctx, argv[1], st);
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	getrusage(RUSAGE_SELF, &u1);
	for (size_t i = 0; i < n; i++)
		if (memcmp(its[i].src, its[i].ref, its[i].info.nbytes) != 0) {
			fprintf(stderr, "partload: item '%s' differs between "
				"%s and %s\n", its[i].info.name, argv[1],
				argv[2]);
			rc = 4;
		}
	for (size_t i = 0; i < sizeof(absent); i++)
		if (absent[i] != SENTINEL) {
			fprintf(stderr, "partload: %s, absent from %s, was "
				"written\n", ABSENT, argv[1]);
			rc = 4;
			break;
		}
	if (rc == 0)
		printf("items %zu bytes %llu seconds %.6f cpu %.6f\n", n,
		       (unsigned long long)bytes,
		       (double)(t1.tv_sec - t0.tv_sec) +
			       (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9,
		       cpu_seconds(&u1) - cpu_seconds(&u0));
out:
	for (size_t i = 0; i < n; i++) {
		free(its[i].src);
		free(its[i].ref);
	}
	free(its);
	ckptio_sd_free(ssd);
	ckptio_sd_free(rsd);
	ckptio_ckpt_close(ck);
	ckptio_ctx_free(ctx);
	return rc;
}
