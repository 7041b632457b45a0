/*
 * crashsave.c - a saver for the SIGKILL test (tests/cli/test_crash.sh),
 * built on the public API only.
 *
 *   crashsave [-v] DIR ID SEED SIZE_MIB
 *       save a deterministic state dict of SIZE_MIB MiB (40 tensors, mixed
 *       F32/BF16, plus a bytes item naming the seed) to DIR/ID, replacing
 *       whatever is there (CKPTIO_SAVE_OVERWRITE)
 *   crashsave [-v] --check DIR ID SEED SIZE_MIB
 *       load DIR/ID and compare every byte with what SEED and SIZE_MIB give
 *
 * Exit status: 0 saved / matches, 3 no such checkpoint, 4 the checkpoint
 * is there but differs or is corrupt, 1 anything else (2 for bad usage).
 * Quiet on success unless -v, which prints "saving ... prepare=SECONDS"
 * just before ckptio_save and "saved ... save=SECONDS" after it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ckptio/ckptio.h"

#define NTENSORS 40
#define ROW_BYTES 1024u /* every tensor is [rows, 1 KiB of elements] */

enum { EXIT_MATCH = 0, EXIT_OTHER = 1, EXIT_USAGE = 2, EXIT_NOTFOUND = 3,
       EXIT_MISMATCH = 4 };

typedef struct tensor {
	char name[48];
	ckptio_dtype dtype;
	uint64_t shape[2];
	size_t nbytes;
	unsigned char *data;
} tensor;

typedef struct state {
	tensor t[NTENSORS];
	char info[64]; /* bytes item "crashsave.info" */
} state;

static int verbose;
static double t_start; /* process start, for -v timings */

/* ------------------------------------------------------------------------ */
/* The deterministic state dict                                             */

/* xorshift64* stream from (seed, tensor index); never the zero state. */
static void fill(unsigned char *buf, size_t len, uint64_t seed, unsigned idx)
{
	uint64_t s = (seed * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)idx << 32) ^
		     0x5851f42d4c957f2dull;
	size_t i = 0;

	while (i < len) {
		uint64_t v;

		s ^= s >> 12;
		s ^= s << 25;
		s ^= s >> 27;
		v = s * 0x2545f4914f6cdd1dull;
		for (int k = 0; k < 8 && i < len; k++, i++)
			buf[i] = (unsigned char)(v >> (8 * k));
	}
}

/* Split size_mib MiB into NTENSORS tensors of uneven sizes (weights 1..7),
 * even ones F32 and odd ones BF16.  Names and shapes only; no memory. */
static int plan(state *s, uint64_t seed, unsigned size_mib)
{
	uint64_t rows = (uint64_t)size_mib * (1u << 20) / ROW_BYTES, left;
	unsigned wsum = 0;

	if (rows < NTENSORS) {
		fprintf(stderr, "crashsave: SIZE_MIB must be at least 1\n");
		return -1;
	}
	for (unsigned i = 0; i < NTENSORS; i++)
		wsum += i % 7 + 1;
	left = rows;
	for (unsigned i = 0; i < NTENSORS; i++) {
		tensor *t = &s->t[i];
		uint64_t r = i + 1 < NTENSORS ? rows * (i % 7 + 1) / wsum : left;

		if (r == 0)
			r = 1;
		left -= r;
		t->dtype = i % 2 ? CKPTIO_BF16 : CKPTIO_F32;
		t->shape[0] = r;
		t->shape[1] = ROW_BYTES / ckptio_dtype_size(t->dtype);
		t->nbytes = (size_t)(r * ROW_BYTES);
		snprintf(t->name, sizeof(t->name), "model.layers.%u.%s", i,
			 i % 2 ? "norm.bf16" : "proj.weight");
	}
	snprintf(s->info, sizeof(s->info), "crashsave seed=%llu size=%uMiB",
		 (unsigned long long)seed, size_mib);
	return 0;
}

static void state_free(state *s)
{
	for (unsigned i = 0; i < NTENSORS; i++)
		free(s->t[i].data);
}

/* A state dict over s's buffers (allocated here when missing). */
static ckptio_status build_sd(state *s, ckptio_sd **out)
{
	ckptio_sd *sd;
	ckptio_status st = ckptio_sd_new(&sd);

	for (unsigned i = 0; st == CKPTIO_OK && i < NTENSORS; i++) {
		tensor *t = &s->t[i];

		if (!t->data && !(t->data = malloc(t->nbytes)))
			st = CKPTIO_ENOMEM;
		if (st == CKPTIO_OK)
			st = ckptio_sd_add_tensor(sd, t->name, t->dtype, 2,
						  t->shape, NULL, NULL,
						  t->data);
	}
	if (st == CKPTIO_OK)
		st = ckptio_sd_add_bytes(sd, "crashsave.info", s->info,
					 sizeof(s->info));
	if (st != CKPTIO_OK) {
		fprintf(stderr, "crashsave: building the state dict: %s\n",
			ckptio_last_error());
		ckptio_sd_free(sd);
		return st;
	}
	*out = sd;
	return CKPTIO_OK;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------------------ */
/* Save and check                                                           */

static int do_save(ckptio_ctx *ctx, const char *where, state *s,
		   uint64_t seed)
{
	ckptio_opts opts = CKPTIO_OPTS_INIT;
	ckptio_sd *sd;
	ckptio_status st;
	double t0;

	if (build_sd(s, &sd) != CKPTIO_OK)
		return EXIT_OTHER;
	for (unsigned i = 0; i < NTENSORS; i++)
		fill(s->t[i].data, s->t[i].nbytes, seed, i);
	opts.flags = CKPTIO_SAVE_OVERWRITE;
	t0 = now();
	/* The crash test reads these lines (through a pipe, hence the
	 * flushes) to aim its kills at the save and to tell whether a kill
	 * came before ckptio_save returned. */
	if (verbose) {
		printf("saving %s seed=%llu prepare=%.3f\n", where,
		       (unsigned long long)seed, t0 - t_start);
		fflush(stdout);
	}
	st = ckptio_save(ctx, where, sd, &opts);
	ckptio_sd_free(sd);
	if (st != CKPTIO_OK) {
		fprintf(stderr, "crashsave: save %s: %s: %s\n", where,
			ckptio_strerror(st), ckptio_errmsg(ctx));
		return EXIT_OTHER;
	}
	if (verbose) {
		printf("saved %s seed=%llu prepare=%.3f save=%.3f\n", where,
		       (unsigned long long)seed, t0 - t_start, now() - t0);
		fflush(stdout);
	}
	return EXIT_MATCH;
}

static int do_check(ckptio_ctx *ctx, const char *where, state *s,
		    uint64_t seed)
{
	char want_info[sizeof(s->info)];
	unsigned char *expect = NULL;
	ckptio_ckpt *ck;
	ckptio_sd *sd;
	ckptio_status st;
	size_t count;

	st = ckptio_open(ctx, where, &ck);
	if (st != CKPTIO_OK) {
		if (verbose || st != CKPTIO_ENOTFOUND)
			fprintf(stderr, "crashsave: open %s: %s: %s\n", where,
				ckptio_strerror(st), ckptio_errmsg(ctx));
		return st == CKPTIO_ENOTFOUND ? EXIT_NOTFOUND
		       : st == CKPTIO_ECORRUPT ? EXIT_MISMATCH : EXIT_OTHER;
	}
	count = ckptio_ckpt_count(ck);
	ckptio_ckpt_close(ck);
	if (count != NTENSORS + 1) {
		fprintf(stderr, "crashsave: %s has %zu items, not %d\n", where,
			count, NTENSORS + 1);
		return EXIT_MISMATCH;
	}
	memcpy(want_info, s->info, sizeof(want_info));
	memset(s->info, 0, sizeof(s->info));
	if (build_sd(s, &sd) != CKPTIO_OK)
		return EXIT_OTHER;
	st = ckptio_load(ctx, where, sd, NULL);
	ckptio_sd_free(sd);
	if (st != CKPTIO_OK) {
		fprintf(stderr, "crashsave: load %s: %s: %s\n", where,
			ckptio_strerror(st), ckptio_errmsg(ctx));
		return st == CKPTIO_ECORRUPT || st == CKPTIO_EINVAL ||
				       st == CKPTIO_ENOTFOUND
			       ? EXIT_MISMATCH : EXIT_OTHER;
	}
	if (memcmp(want_info, s->info, sizeof(want_info)) != 0) {
		fprintf(stderr, "crashsave: %s holds '%.63s', not '%s'\n",
			where, s->info, want_info);
		return EXIT_MISMATCH;
	}
	for (unsigned i = 0; i < NTENSORS; i++) {
		tensor *t = &s->t[i];
		unsigned char *e = realloc(expect, t->nbytes);

		if (!e) {
			free(expect);
			fprintf(stderr, "crashsave: out of memory\n");
			return EXIT_OTHER;
		}
		expect = e;
		fill(expect, t->nbytes, seed, i);
		if (memcmp(expect, t->data, t->nbytes) != 0) {
			free(expect);
			fprintf(stderr, "crashsave: %s: %s differs from seed "
					"%llu\n",
				where, t->name, (unsigned long long)seed);
			return EXIT_MISMATCH;
		}
	}
	free(expect);
	if (verbose)
		printf("%s matches seed %llu\n", where, (unsigned long long)seed);
	return EXIT_MATCH;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || end == s || *end || *s == '-' ? -1 : 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: crashsave [-v] [--check] DIR ID SEED "
			"SIZE_MIB\n");
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	int check = 0, rc, i = 1;
	uint64_t seed, size;
	ckptio_ctx *ctx;
	ckptio_status st;
	char *where;
	static state s;

	t_start = now();
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-v") == 0)
			verbose = 1;
		else if (strcmp(argv[i], "--check") == 0)
			check = 1;
		else
			return usage();
	}
	if (argc - i != 4 || parse_u64(argv[i + 2], &seed) ||
	    parse_u64(argv[i + 3], &size) || size == 0 || size > 65536)
		return usage();
	if (plan(&s, seed, (unsigned)size) != 0)
		return EXIT_USAGE;
	st = ckptio_ctx_new(&ctx, NULL);
	if (st != CKPTIO_OK) {
		fprintf(stderr, "crashsave: %s\n", ckptio_last_error());
		return EXIT_OTHER;
	}
	if (asprintf(&where, "%s/%s", argv[i], argv[i + 1]) < 0) {
		ckptio_ctx_free(ctx);
		return EXIT_OTHER;
	}
	rc = check ? do_check(ctx, where, &s, seed)
		   : do_save(ctx, where, &s, seed);
	free(where);
	state_free(&s);
	ckptio_ctx_free(ctx);
	return rc;
}
