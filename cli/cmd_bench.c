/*
 * cmd_bench.c - `ckptio bench LOC`: save a synthetic, model-like state
 * dict, load it back into fresh buffers, compare every byte and report
 * the save and load throughput.
 *
 * The state dict is deterministic: tensor sizes come from a fixed-seed
 * PRNG and tensor contents from a per-tensor xorshift stream (one 64-bit
 * word per 8 bytes), so runs are repeatable and any misplaced, shifted or
 * missing data shows up in the comparison.  Only the save and load calls
 * are timed; allocating, filling and pre-touching buffers are not.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"

static const char bench_help[] =
	"Usage: ckptio bench [options] LOC\n"
	"\n"
	"Save a synthetic model-like state dict to LOC, load it back, compare\n"
	"every byte, print the throughput and remove the checkpoint.  The state\n"
	"dict has --tensors 2-D tensors of mixed sizes (F32 and BF16, columns a\n"
	"multiple of 64) totalling --size bytes, plus three bytes items\n"
	"(optimizer.step, rng_state, config.json).  Sizes and contents are\n"
	"deterministic.  Only the save and load calls are timed; rates are in\n"
	"GB/s (10^9 bytes per second), with the process's CPU seconds per GB\n"
	"spent in each call.  A data mismatch exits with 4 and keeps\n"
	"the checkpoint for inspection.\n"
	"\n"
	"Options:\n"
	"  --size SIZE    payload of the tensors (default 1GiB); suffixes\n"
	"                 KiB MiB GiB TiB (also k M G T) and KB MB GB TB\n"
	"  --tensors N    number of tensors (default 200)\n"
	"  --threads N    I/O threads (default: the backend's `threads`)\n"
	"  --keep         keep the checkpoint instead of removing it\n"
	"  --overwrite    replace an existing checkpoint at LOC\n"
	"  -h, --help     show this help\n"
	"\n"
	"Examples:\n"
	"  ckptio bench /mnt/nvme/bench --size 4GiB\n"
	"  ckptio --json bench rgw:bench/run1 --size 2GiB --threads 16\n"
	CLI_HELP_FOOTER;

#define BENCH_ALIGN 4096
#define BENCH_MIN_TENSOR 4096 /* bytes of --size per tensor, at least */
#define BENCH_SEED 0x9e3779b97f4a7c15ull
#define BENCH_NBLOBS 3

struct bench_args {
	const char *loc;
	uint64_t size;
	uint64_t ntensors;
	unsigned threads;
	int keep;
	int overwrite;
	int help;
};

struct bench_item {
	char name[64];
	ckptio_dtype dtype;   /* CKPTIO_DTYPE_INVALID for bytes items */
	uint64_t shape[2];
	size_t nbytes;
	void *src;
	void *dst;
};

struct bench {
	struct bench_args a;
	struct bench_item *items; /* tensors, then the bytes items */
	size_t nitems;
	uint64_t total;           /* payload bytes of every item */
	char config_json[256];    /* contents of the config.json item */
	double save_s;
	double load_s;
	double save_cpu;          /* CPU seconds of the process (all threads) */
	double load_cpu;
};

static double cpu_now(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* ------------------------------------------------------------------------ */
/* Deterministic generation                                                 */

static uint64_t xorshift64(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

/* The contents of item idx: its own xorshift stream, one word per 8
 * bytes, so every byte depends on the item and its position. */
static void fill(void *buf, size_t len, size_t idx)
{
	uint64_t s = BENCH_SEED ^ ((uint64_t)(idx + 1) * 0xff51afd7ed558ccdull);
	unsigned char *p = buf;
	size_t i;

	if (!s)
		s = BENCH_SEED;
	for (i = 0; i + 8 <= len; i += 8) {
		uint64_t v = xorshift64(&s);

		memcpy(p + i, &v, 8);
	}
	if (i < len) {
		uint64_t v = xorshift64(&s);

		memcpy(p + i, &v, len - i);
	}
}

/* A transformer layer has 8 kinds of tensors; relative sizes loosely
 * follow a Llama block (attention square, MLP wider, norm tiny). */
static const struct {
	const char *name;
	unsigned weight;
} layer_parts[] = {
	{"self_attn.q_proj.weight", 16}, {"self_attn.k_proj.weight", 16},
	{"self_attn.v_proj.weight", 16}, {"self_attn.o_proj.weight", 16},
	{"mlp.gate_proj.weight", 44},    {"mlp.up_proj.weight", 44},
	{"mlp.down_proj.weight", 44},    {"input_layernorm.weight", 1},
};

#define NPARTS (sizeof(layer_parts) / sizeof(layer_parts[0]))

/* Weights with a +-25% jitter from the fixed-seed PRNG. */
static double *tensor_weights(uint64_t n, double *sum)
{
	double *w = malloc(n * sizeof(*w));
	uint64_t s = BENCH_SEED;

	if (!w)
		return NULL;
	*sum = 0;
	for (uint64_t i = 0; i < n; i++) {
		w[i] = layer_parts[i % NPARTS].weight *
		       (0.75 + (double)(xorshift64(&s) % 1001) / 2000.0);
		*sum += w[i];
	}
	return w;
}

/* A [rows, cols] shape of about target bytes with cols a multiple of 64
 * near the square root of the element count. */
static void tensor_shape(struct bench_item *t, uint64_t target)
{
	uint64_t es = ckptio_dtype_size(t->dtype);
	uint64_t elems = target / es, cols = 64;

	if (elems < 64)
		elems = 64;
	while (4 * cols * cols <= elems)
		cols *= 2;
	cols = cols / 64 * 64;
	t->shape[1] = cols;
	t->shape[0] = elems / cols ? elems / cols : 1;
	t->nbytes = (size_t)(t->shape[0] * t->shape[1] * es);
}

static void tensor_name(struct bench_item *t, uint64_t i)
{
	snprintf(t->name, sizeof(t->name), "model.layers.%" PRIu64 ".%s",
		 i / NPARTS, layer_parts[i % NPARTS].name);
}

/* Names, dtypes and shapes of every tensor; the last one takes what the
 * rounding of the others left so the total stays close to --size. */
static int plan_tensors(struct bench *b)
{
	uint64_t n = b->a.ntensors, assigned = 0, target;
	double sum, *w = tensor_weights(n, &sum);

	if (!w)
		return -1;
	for (uint64_t i = 0; i < n; i++) {
		struct bench_item *t = &b->items[i];

		if (i + 1 < n)
			target = (uint64_t)((double)b->a.size * w[i] / sum);
		else
			target = b->a.size > assigned ? b->a.size - assigned : 0;
		t->dtype = i % 2 ? CKPTIO_BF16 : CKPTIO_F32;
		tensor_name(t, i);
		tensor_shape(t, target);
		assigned += t->nbytes;
	}
	free(w);
	return 0;
}

static void plan_blobs(struct bench *b)
{
	static const char *const names[BENCH_NBLOBS] = {
		"optimizer.step", "rng_state", "config.json"};
	struct bench_item *blobs = &b->items[b->a.ntensors];

	snprintf(b->config_json, sizeof(b->config_json),
		 "{\"generator\": \"ckptio bench\", \"tensors\": %" PRIu64
		 ", \"size\": %" PRIu64 ", \"dtypes\": [\"F32\", \"BF16\"]}",
		 b->a.ntensors, b->a.size);
	for (int i = 0; i < BENCH_NBLOBS; i++) {
		snprintf(blobs[i].name, sizeof(blobs[i].name), "%s", names[i]);
		blobs[i].dtype = CKPTIO_DTYPE_INVALID;
	}
	blobs[0].nbytes = 8;
	blobs[1].nbytes = 5000;
	blobs[2].nbytes = strlen(b->config_json);
}

static void *alloc_aligned(size_t len)
{
	void *p;

	if (posix_memalign(&p, BENCH_ALIGN, len ? len : 1) != 0)
		return NULL;
	return p;
}

static int alloc_failed(const struct cli_global *g, const struct bench_item *it)
{
	char msg[160], human[32];

	cli_format_bytes(human, sizeof(human), it->nbytes);
	snprintf(msg, sizeof(msg), "allocating %s for %s", human, it->name);
	return cli_fail_msg(g, "bench", CKPTIO_ENOMEM, msg);
}

/* Plan the state dict, allocate and fill the source buffers. */
static int bench_prepare(const struct cli_global *g, struct bench *b)
{
	struct bench_item *blobs;
	uint64_t step = 1000;

	b->nitems = b->a.ntensors + BENCH_NBLOBS;
	b->items = calloc(b->nitems, sizeof(*b->items));
	if (!b->items || plan_tensors(b) != 0)
		return cli_fail_msg(g, "bench", CKPTIO_ENOMEM, "");
	plan_blobs(b);
	for (size_t i = 0; i < b->nitems; i++) {
		b->items[i].src = alloc_aligned(b->items[i].nbytes);
		if (!b->items[i].src)
			return alloc_failed(g, &b->items[i]);
		b->total += b->items[i].nbytes;
	}
	for (size_t i = 0; i < b->a.ntensors; i++)
		fill(b->items[i].src, b->items[i].nbytes, i);
	blobs = &b->items[b->a.ntensors];
	memcpy(blobs[0].src, &step, sizeof(step));
	fill(blobs[1].src, blobs[1].nbytes, b->nitems);
	memcpy(blobs[2].src, b->config_json, blobs[2].nbytes);
	return CLI_EXIT_OK;
}

/* Fresh destination buffers, touched so that page faults are not timed. */
static int bench_alloc_dst(const struct cli_global *g, struct bench *b)
{
	for (size_t i = 0; i < b->nitems; i++) {
		b->items[i].dst = alloc_aligned(b->items[i].nbytes);
		if (!b->items[i].dst)
			return alloc_failed(g, &b->items[i]);
		memset(b->items[i].dst, 0, b->items[i].nbytes);
	}
	return CLI_EXIT_OK;
}

static void bench_free(struct bench *b)
{
	for (size_t i = 0; b->items && i < b->nitems; i++) {
		free(b->items[i].src);
		free(b->items[i].dst);
	}
	free(b->items);
	b->items = NULL;
}

/* A state dict over the source (for a save) or destination buffers.  A
 * failure is reported with ckptio_last_error() (no context involved). */
static ckptio_status build_sd(const struct bench *b, int dst, ckptio_sd **out)
{
	ckptio_status st;
	ckptio_sd *sd;

	st = ckptio_sd_new(&sd);
	for (size_t i = 0; st == CKPTIO_OK && i < b->nitems; i++) {
		const struct bench_item *it = &b->items[i];
		void *data = dst ? it->dst : it->src;

		if (it->dtype != CKPTIO_DTYPE_INVALID)
			st = ckptio_sd_add_tensor(sd, it->name, it->dtype, 2,
						  it->shape, NULL, NULL, data);
		else
			st = ckptio_sd_add_bytes(sd, it->name, data,
						 it->nbytes);
	}
	if (st != CKPTIO_OK) {
		ckptio_sd_free(sd);
		sd = NULL;
	}
	*out = sd;
	return st;
}

/* ------------------------------------------------------------------------ */
/* The timed phases                                                         */

static void print_rate(const struct cli_global *g, const char *what,
		       uint64_t bytes, double secs, double cpu)
{
	if (g->json)
		return;
	printf("%s: %.3f GiB in %.3f s = %.2f GB/s, %.2f CPU s/GB\n", what,
	       (double)bytes / (1024.0 * 1024 * 1024), secs,
	       secs > 0 ? (double)bytes / 1e9 / secs : 0.0,
	       bytes ? cpu / ((double)bytes / 1e9) : 0.0);
	fflush(stdout);
}

/* One save or load of the whole state dict, with only the call timed. */
static int bench_run(ckptio_ctx *ctx, const struct cli_global *g,
		     struct bench *b, int load)
{
	const char *what = load ? "load" : "save";
	ckptio_opts opts = CKPTIO_OPTS_INIT;
	struct cli_progress bar;
	ckptio_status st;
	ckptio_sd *sd;
	double t0, c0, *secs = load ? &b->load_s : &b->save_s;
	double *cpu = load ? &b->load_cpu : &b->save_cpu;

	st = build_sd(b, load, &sd);
	if (st != CKPTIO_OK)
		return cli_fail(g, NULL, "bench", st);
	opts.threads = b->a.threads;
	if (!load && b->a.overwrite)
		opts.flags = CKPTIO_SAVE_OVERWRITE;
	cli_progress_init(&bar, g, what);
	cli_progress_attach(&bar, &opts);
	t0 = cli_now();
	c0 = cpu_now();
	if (load)
		st = ckptio_load(ctx, b->a.loc, sd, &opts);
	else
		st = ckptio_save(ctx, b->a.loc, sd, &opts);
	*secs = cli_now() - t0;
	*cpu = cpu_now() - c0;
	cli_progress_end(&bar, st == CKPTIO_OK);
	ckptio_sd_free(sd);
	if (st != CKPTIO_OK)
		return cli_fail_exists(g, ctx, "bench", st);
	print_rate(g, what, b->total, *secs, *cpu);
	return CLI_EXIT_OK;
}

/* Every byte loaded must equal the byte saved. */
static int bench_compare(const struct cli_global *g, const struct bench *b)
{
	char msg[256];

	for (size_t i = 0; i < b->nitems; i++) {
		const struct bench_item *it = &b->items[i];
		const unsigned char *s = it->src, *d = it->dst;
		size_t off = 0;

		if (memcmp(s, d, it->nbytes) == 0)
			continue;
		while (s[off] == d[off])
			off++;
		snprintf(msg, sizeof(msg),
			 "data mismatch after load: item '%s' differs at byte "
			 "%zu of %zu",
			 it->name, off, it->nbytes);
		return cli_fail_msg(g, "bench", CKPTIO_ECORRUPT, msg);
	}
	return CLI_EXIT_OK;
}

static int bench_cancelled(const struct cli_global *g)
{
	return cli_fail_msg(g, "bench", CKPTIO_ECANCELED, "interrupted");
}

/* Save, load and compare; a Ctrl-C between the phases stops there (during
 * one, the progress callback cancels it).  *saved tells the caller that
 * there is a checkpoint to clean up. */
static int bench_phases(ckptio_ctx *ctx, const struct cli_global *g,
			struct bench *b, int *saved)
{
	int rc;

	rc = bench_run(ctx, g, b, 0);
	if (rc != CLI_EXIT_OK)
		return rc;
	*saved = 1;
	rc = cli_interrupted() ? bench_cancelled(g) : bench_alloc_dst(g, b);
	if (rc != CLI_EXIT_OK)
		return rc;
	rc = cli_interrupted() ? bench_cancelled(g) : bench_run(ctx, g, b, 1);
	if (rc != CLI_EXIT_OK)
		return rc;
	return bench_compare(g, b);
}

/* ------------------------------------------------------------------------ */
/* Output and the command                                                   */

static void report_json(const struct bench *b, int kept)
{
	printf("{\"location\": ");
	cli_json_str(stdout, b->a.loc);
	printf(", \"bytes\": %" PRIu64 ", \"tensors\": %" PRIu64
	       ", \"items\": %zu, \"threads\": %u, \"save_seconds\": ",
	       b->total, b->a.ntensors, b->nitems, b->a.threads);
	cli_json_double(stdout, b->save_s);
	printf(", \"load_seconds\": ");
	cli_json_double(stdout, b->load_s);
	printf(", \"save_cpu_seconds\": ");
	cli_json_double(stdout, b->save_cpu);
	printf(", \"load_cpu_seconds\": ");
	cli_json_double(stdout, b->load_cpu);
	printf(", \"save_GBps\": ");
	cli_json_double(stdout, b->save_s > 0 ? b->total / 1e9 / b->save_s : 0);
	printf(", \"load_GBps\": ");
	cli_json_double(stdout, b->load_s > 0 ? b->total / 1e9 / b->load_s : 0);
	printf(", \"verified\": true, \"kept\": %s}\n", kept ? "true" : "false");
}

static void report_intro(const struct cli_global *g, const struct bench *b)
{
	char human[32];

	if (g->json || g->quiet)
		return;
	cli_format_bytes(human, sizeof(human), b->total);
	fputs("bench: ", stdout);
	cli_print_name(stdout, b->a.loc);
	printf(": %" PRIu64 " tensors (F32/BF16) + %d bytes items, "
	       "%s; GB = 10^9 bytes\n",
	       b->a.ntensors, BENCH_NBLOBS, human);
	fflush(stdout);
}

/* Remove the checkpoint unless asked to keep it, or unless it is needed
 * to investigate a corruption. */
static int bench_cleanup(ckptio_ctx *ctx, const struct cli_global *g,
			 const struct bench *b, int rc, int *kept)
{
	ckptio_status st;

	*kept = 1;
	if (b->a.keep)
		return rc;
	if (rc == CLI_EXIT_CORRUPT) {
		fputs("ckptio: bench: checkpoint kept at ", stderr);
		cli_print_name(stderr, b->a.loc);
		fputs(" for inspection\n", stderr);
		return rc;
	}
	st = ckptio_remove(ctx, b->a.loc, 0);
	if (st != CKPTIO_OK)
		return rc == CLI_EXIT_OK ? cli_fail(g, ctx, "bench", st) : rc;
	*kept = 0;
	return rc;
}

enum { OPT_SIZE = 256, OPT_TENSORS, OPT_THREADS, OPT_KEEP, OPT_OVERWRITE };

static int parse_opt(int c, char **argv, struct bench_args *a)
{
	uint64_t v;

	switch (c) {
	case OPT_SIZE:
		if (ckptio_parse_size(optarg, &a->size) != CKPTIO_OK || a->size == 0)
			return cli_usage_error("bench", "--size: bad size '%s'",
					       optarg);
		return 0;
	case OPT_TENSORS:
		if (cli_parse_uint(optarg, 1, 1000000, &a->ntensors) != 0)
			return cli_usage_error("bench", "--tensors: bad number "
					       "'%s' (1..1000000)", optarg);
		return 0;
	case OPT_THREADS:
		if (cli_parse_uint(optarg, 1, 4096, &v) != 0)
			return cli_usage_error("bench", "--threads: bad number "
					       "'%s' (1..4096)", optarg);
		a->threads = (unsigned)v;
		return 0;
	case OPT_KEEP:
		a->keep = 1;
		return 0;
	case OPT_OVERWRITE:
		a->overwrite = 1;
		return 0;
	case 'h':
		a->help = 1;
		return 0;
	default:
		cli_bad_option("bench", c, argv);
		return CLI_EXIT_USAGE;
	}
}

static int parse_args(int argc, char **argv, struct bench_args *a)
{
	static const struct option opts[] = {
		{"size", required_argument, NULL, OPT_SIZE},
		{"tensors", required_argument, NULL, OPT_TENSORS},
		{"threads", required_argument, NULL, OPT_THREADS},
		{"keep", no_argument, NULL, OPT_KEEP},
		{"overwrite", no_argument, NULL, OPT_OVERWRITE},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		rc = parse_opt(c, argv, a);
		if (rc != 0)
			return rc;
	}
	if (a->help)
		return 0;
	if (cli_want_args("bench", argc - optind, 1, "LOC") != 0)
		return CLI_EXIT_USAGE;
	a->loc = argv[optind];
	if (a->size / a->ntensors < BENCH_MIN_TENSOR)
		return cli_usage_error("bench", "--size: too small for %" PRIu64
				       " tensors (at least %d bytes each)",
				       a->ntensors, BENCH_MIN_TENSOR);
	return 0;
}

int cmd_bench(ckptio_ctx *ctx, const struct cli_global *g, int argc,
	      char **argv)
{
	struct bench b;
	int rc, saved = 0, kept = 0;

	memset(&b, 0, sizeof(b));
	b.a.size = 1ull << 30;
	b.a.ntensors = 200;
	rc = parse_args(argc, argv, &b.a);
	if (rc != 0)
		return rc;
	if (b.a.help) {
		fputs(bench_help, stdout);
		return CLI_EXIT_OK;
	}
	rc = bench_prepare(g, &b);
	if (rc == CLI_EXIT_OK) {
		/* Catch Ctrl-C before announcing the save: a signal sent on
		 * seeing the announcement must find the handler in place. */
		cli_sigint_catch();
		report_intro(g, &b);
		rc = bench_phases(ctx, g, &b, &saved);
		cli_sigint_release();
	}
	if (saved)
		rc = bench_cleanup(ctx, g, &b, rc, &kept);
	if (rc == CLI_EXIT_OK && g->json)
		report_json(&b, kept);
	else if (rc == CLI_EXIT_OK && !g->quiet)
		printf("verified: %" PRIu64 " bytes identical; checkpoint %s\n",
		       b.total, kept ? "kept" : "removed");
	bench_free(&b);
	return rc;
}
