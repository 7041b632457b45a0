/*
 * scale.c - the ckptio side of bench/scale.sh: one save or one load of a
 * state dict of many float32 tensors through the C API, timed, with the
 * process's peak memory.  Not a test and not built by `make`: scale.sh
 * compiles it against the tree it measures.
 *
 *   scale save|load DIR --tensors N --size BYTES
 *   scale save|load DIR --tensors N --min-bytes A --max-bytes B [--seed S]
 *   scale size - --tensors N ...   (prints the payload's bytes only)
 *
 * Tensor i is named "model.layers.<i>.weight", 1-D float32, element j
 * holding (float)(j + i % 4096).  With --size every tensor has
 * BYTES / N / 4 elements; with --min-bytes/--max-bytes its element count
 * is drawn uniformly from [ceil(A/4), floor(B/4)] by splitmix64(seed + i),
 * so bench/dcp.py builds the same state dict.  Each tensor is its own
 * 64-byte aligned allocation, as a framework's tensors are.
 *
 * Only the ckptio_save / ckptio_load call is timed.  A load then compares
 * every element (not timed) and exits 4 on a mismatch.  Prints one JSON
 * object: op, tensors, bytes, seconds, cpu_seconds (user + system of the
 * process during the call), setup_seconds, maxrss_kb (peak RSS of the
 * process) and maxrss_before_kb (peak RSS before the call: the buffers).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <ckptio/ckptio.h>

#include "benchutil.h"

struct args {
	const char *op;
	const char *dir;
	uint64_t ntensors;
	uint64_t size;      /* --size: payload, split evenly */
	uint64_t min_bytes; /* or --min-bytes/--max-bytes: random sizes */
	uint64_t max_bytes;
	uint64_t seed;
	unsigned threads;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: scale save|load DIR --tensors N --size BYTES\n"
		"       scale save|load DIR --tensors N --min-bytes A "
		"--max-bytes B [--seed S]\n"
		"       scale size - --tensors N ... (the payload's bytes)\n"
		"Options: --threads T (I/O threads; default: the backend's)\n");
}

static int die(const char *what, const char *detail)
{
	fprintf(stderr, "scale: %s%s%s\n", what, detail && *detail ? ": " : "",
		detail ? detail : "");
	return 1;
}

static double cpu_now(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static long maxrss_kb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* splitmix64: the element counts of random-size tensors; bench/dcp.py
 * computes the same. */
static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static uint64_t tensor_elems(const struct args *a, uint64_t i)
{
	uint64_t lo, hi;

	if (a->size)
		return a->size / a->ntensors / 4;
	lo = (a->min_bytes + 3) / 4;
	hi = a->max_bytes / 4;
	return lo + splitmix64(a->seed + i) % (hi - lo + 1);
}

static int parse_args(int argc, char **argv, struct args *a)
{
	int i;

	if (argc < 3)
		return -1;
	a->op = argv[1];
	a->dir = argv[2];
	if (strcmp(a->op, "save") != 0 && strcmp(a->op, "load") != 0 &&
	    strcmp(a->op, "size") != 0)
		return -1;
	for (i = 3; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		uint64_t n;

		if (parse_u64(v, &n) != 0)
			return -1;
		if (strcmp(k, "--tensors") == 0)
			a->ntensors = n;
		else if (strcmp(k, "--size") == 0)
			a->size = n;
		else if (strcmp(k, "--min-bytes") == 0)
			a->min_bytes = n;
		else if (strcmp(k, "--max-bytes") == 0)
			a->max_bytes = n;
		else if (strcmp(k, "--seed") == 0)
			a->seed = n;
		else if (strcmp(k, "--threads") == 0 && n <= 256)
			a->threads = (unsigned)n;
		else
			return -1;
	}
	if (i != argc || !a->ntensors)
		return -1;
	if (a->size)
		return a->size / a->ntensors / 4 ? 0 : -1;
	return a->max_bytes >= 4 && a->min_bytes <= a->max_bytes &&
	       (a->min_bytes + 3) / 4 <= a->max_bytes / 4 ? 0 : -1;
}

static void fill(float *p, uint64_t n, uint64_t i)
{
	for (uint64_t j = 0; j < n; j++)
		p[j] = (float)(j + i % 4096);
}

int main(int argc, char **argv)
{
	struct args a = {0};
	ckptio_opts opts = CKPTIO_OPTS_INIT;
	ckptio_status st;
	ckptio_ctx *ctx;
	ckptio_sd *sd;
	float **bufs;
	uint64_t bytes = 0;
	double t0, t1, c0, c1, setup;
	long rss0;
	int load, rc = 0;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		usage(stdout);
		return 0;
	}
	if (parse_args(argc, argv, &a) != 0) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(a.op, "size")) {
		for (uint64_t i = 0; i < a.ntensors; i++)
			bytes += tensor_elems(&a, i) * 4;
		printf("%" PRIu64 "\n", bytes);
		return 0;
	}
	load = !strcmp(a.op, "load");
	t0 = now();
	bufs = calloc(a.ntensors, sizeof(*bufs));
	if (!bufs || ckptio_sd_new(&sd) != CKPTIO_OK)
		return die("out of memory", NULL);
	for (uint64_t i = 0; i < a.ntensors; i++) {
		uint64_t n = tensor_elems(&a, i);
		size_t len = (size_t)(n * 4 + 63) / 64 * 64;
		char name[64];

		bufs[i] = aligned_alloc(64, len);
		if (!bufs[i])
			return die("out of memory", NULL);
		if (load)
			memset(bufs[i], 0, len); /* touched, as the save's are */
		else
			fill(bufs[i], n, i);
		snprintf(name, sizeof(name), "model.layers.%" PRIu64 ".weight", i);
		st = ckptio_sd_add_tensor(sd, name, CKPTIO_F32, 1, &n, NULL,
					  NULL, bufs[i]);
		if (st != CKPTIO_OK)
			return die("adding a tensor", ckptio_last_error());
		bytes += n * 4;
	}
	if (ckptio_ctx_new(&ctx, NULL) != CKPTIO_OK)
		return die("creating the context", ckptio_last_error());
	opts.threads = a.threads;
	if (!load)
		opts.flags = CKPTIO_SAVE_OVERWRITE;
	setup = now() - t0;
	rss0 = maxrss_kb();
	c0 = cpu_now();
	t0 = now();
	st = load ? ckptio_load(ctx, a.dir, sd, &opts)
		  : ckptio_save(ctx, a.dir, sd, &opts);
	t1 = now();
	c1 = cpu_now();
	if (st != CKPTIO_OK)
		rc = die(a.op, ckptio_errmsg(ctx));
	for (uint64_t i = 0; !rc && load && i < a.ntensors; i++) {
		uint64_t n = tensor_elems(&a, i);

		for (uint64_t j = 0; j < n; j++)
			if (bufs[i][j] != (float)(j + i % 4096)) {
				fprintf(stderr, "scale: load: tensor %" PRIu64
					" differs at element %" PRIu64 "\n", i, j);
				rc = 4;
				break;
			}
	}
	if (!rc)
		printf("{\"op\": \"%s\", \"tensors\": %" PRIu64
		       ", \"bytes\": %" PRIu64 ", \"seconds\": %.6f, "
		       "\"cpu_seconds\": %.3f, \"setup_seconds\": %.3f, "
		       "\"maxrss_before_kb\": %ld, \"maxrss_kb\": %ld}\n",
		       a.op, a.ntensors, bytes, t1 - t0, c1 - c0, setup, rss0,
		       maxrss_kb());
	ckptio_sd_free(sd);
	ckptio_ctx_free(ctx);
	for (uint64_t i = 0; i < a.ntensors; i++)
		free(bufs[i]);
	free(bufs);
	return rc;
}
