/*
 * ranks.c - one save by many ranks running as threads of this process,
 * through the in-process coordinator (ckptio_coord_threads_new/get), with
 * many small items per rank, so that the planner and metadata costs of
 * rank 0 show rather than the payload.  Driver of bench/ranks.sh; not a
 * test and not built by `make`: ranks.sh compiles it against the tree it
 * measures.
 *
 *   ranks DIR [--ranks R] [--items K] [--bytes B] [--mode sharded|distinct]
 *         [--stack-kib S] [--threads T] [--log FILE]
 *
 * sharded (default): K float32 tensors "model.layers.<k>.weight" of
 *   global shape [R, B/4]; rank r saves row r of each (FSDP-like: every
 *   rank holds a shard of every tensor), so the metadata has K items of R
 *   chunks each.
 * distinct: rank r saves its own K tensors "rank<r>.item<k>" of B/4
 *   elements, so the metadata has R x K items of one chunk.
 *
 * Each rank has its own context, made before the threads start; threads
 * are created with S KiB of stack (default 256) and ask for T I/O threads
 * each (default 1).  The rank threads pass through a barrier, then call
 * ckptio_save together.
 *
 * What is measured from outside the library: every rank's coordinator is
 * wrapped, so the calls of rank 0 to gather and broadcast are timestamped.
 * A save is two rounds (plan, then commit), each a gather on rank 0
 * followed by rank 0's computation and a broadcast, so:
 *   local plan     first rank's call -> rank 0 enters gather 1
 *   plan gather    until gather 1 returns on rank 0 (the slowest rank's
 *                  plan and the transfer)
 *   global step    gather 1 returns -> rank 0 calls broadcast 1: checking
 *                  every rank's plan (the "global step")
 *   write          broadcast 1 -> rank 0 enters gather 2 (its own data)
 *   result gather  until gather 2 returns on rank 0 (slowest writer)
 *   commit step    gather 2 returns -> rank 0 calls broadcast 2: building
 *                  the metadata and committing it
 *   end            broadcast 2 -> the last rank returns from save
 * For the two steps of rank 0 it also reads the process's resident memory
 * (VmRSS) at the start and its peak (VmHWM, reset through
 * /proc/self/clear_refs) at the end; the other ranks wait in the
 * coordinator meanwhile, so the rise is rank 0's.  Also: bytes gathered
 * and broadcast, the process's peak RSS, the metadata file's size.
 * --log FILE writes rank 0's ckptio log at debug level, each line with the
 * seconds since the start.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include <ckptio/ckptio.h>

#include "benchutil.h"

struct args {
	const char *dir;
	int ranks;
	uint64_t items;
	uint64_t bytes;
	int distinct;
	size_t stack_kib;
	unsigned threads;
	const char *log;
};

/* Rank 0's view of the two rounds: [round] of each event. */
struct rank0 {
	double gather_in[2], gather_out[2], bcast_in[2], bcast_out[2];
	uint64_t gathered[2], bcast_bytes[2];
	long rss_kb[2], hwm_kb[2]; /* at the step's start, peak during it */
	long peak_kb; /* peak RSS before the resets of VmHWM */
	int hwm_ok;
};

/* A rank's coordinator: the threads coordinator, with rank 0's calls
 * timestamped. */
struct wrap {
	ckptio_coord inner;
	ckptio_coord outer;
	int ngather, nbcast;
};

struct rank {
	struct wrap w;
	pthread_t tid;
	ckptio_ctx *ctx;
	ckptio_sd *sd;
	void *data;
	double t_in, t_out; /* ckptio_save call */
	ckptio_status st;
	char msg[512];
};

static struct args a = {.ranks = 64, .items = 1000, .bytes = 256,
			.stack_kib = 256, .threads = 1};
static struct rank0 r0;
static pthread_barrier_t start_barrier;
static double t_start;
static FILE *logf;

/* A "VmRSS:" or "VmHWM:" line of /proc/self/status, in KiB; -1 when
 * absent. */
static long proc_status_kb(const char *key)
{
	char line[256];
	size_t klen = strlen(key);
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, key, klen) == 0) {
			v = strtol(line + klen, NULL, 10);
			break;
		}
	if (f)
		fclose(f);
	return v;
}

/* Reset the peak RSS (VmHWM) to the current RSS: "5" to clear_refs
 * (Linux >= 4.0).  0 when done. */
static int reset_hwm(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");
	int ok;

	if (!f)
		return -1;
	ok = fputs("5", f) >= 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* Round of a call: the save makes two gathers and two broadcasts. */
static int round_of(int n)
{
	return n < 2 ? n : 1;
}

static ckptio_status w_gather(void *self, const void *buf, size_t len,
			      void ***out_bufs, size_t **out_lens)
{
	struct wrap *w = self;
	int r = round_of(w->ngather++);
	ckptio_status st;
	long hwm;

	if (w->inner.rank != 0)
		return w->inner.gather(w->inner.self, buf, len, out_bufs,
				       out_lens);
	r0.gather_in[r] = now();
	st = w->inner.gather(w->inner.self, buf, len, out_bufs, out_lens);
	for (int i = 0; st == CKPTIO_OK && i < w->inner.world; i++)
		r0.gathered[r] += (*out_lens)[i];
	r0.rss_kb[r] = proc_status_kb("VmRSS:");
	/* Resetting VmHWM also lowers what getrusage reports as the peak:
	 * keep the peak so far. */
	hwm = proc_status_kb("VmHWM:");
	if (hwm > r0.peak_kb)
		r0.peak_kb = hwm;
	r0.hwm_ok = reset_hwm() == 0;
	r0.gather_out[r] = now();
	return st;
}

static ckptio_status w_broadcast(void *self, void **buf, size_t *len)
{
	struct wrap *w = self;
	int r = round_of(w->nbcast++);
	ckptio_status st;

	if (w->inner.rank != 0)
		return w->inner.broadcast(w->inner.self, buf, len);
	r0.bcast_in[r] = now();
	r0.hwm_kb[r] = proc_status_kb("VmHWM:");
	r0.bcast_bytes[r] = *len;
	st = w->inner.broadcast(w->inner.self, buf, len);
	r0.bcast_out[r] = now();
	return st;
}

static ckptio_status w_barrier(void *self)
{
	struct wrap *w = self;

	return w->inner.barrier(w->inner.self);
}

static void log_line(void *user, ckptio_log_level level, const char *msg)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};

	(void)user;
	fprintf(logf, "%10.6f %s: %s\n", now() - t_start,
		names[level <= CKPTIO_LOG_DEBUG ? level : CKPTIO_LOG_DEBUG],
		msg);
}

/* Rank r's state dict over one buffer of K x B bytes. */
static ckptio_status build_sd(struct rank *rk, int r)
{
	uint64_t n = a.bytes / 4, g[2] = {(uint64_t)a.ranks, n};
	uint64_t off[2] = {(uint64_t)r, 0}, sh[2] = {1, n};
	ckptio_status st;
	float *p;

	rk->data = malloc(a.items * n * 4);
	if (!rk->data)
		return CKPTIO_ENOMEM;
	p = rk->data;
	for (uint64_t i = 0; i < a.items * n; i++)
		p[i] = (float)(i + (uint64_t)r);
	st = ckptio_sd_new(&rk->sd);
	for (uint64_t k = 0; st == CKPTIO_OK && k < a.items; k++) {
		char name[64];

		if (a.distinct) {
			snprintf(name, sizeof(name), "rank%d.item%" PRIu64, r, k);
			st = ckptio_sd_add_tensor(rk->sd, name, CKPTIO_F32, 1,
						  &n, NULL, NULL, p + k * n);
		} else {
			snprintf(name, sizeof(name),
				 "model.layers.%" PRIu64 ".weight", k);
			st = ckptio_sd_add_tensor(rk->sd, name, CKPTIO_F32, 2,
						  g, off, sh, p + k * n);
		}
	}
	return st;
}

static void *rank_main(void *arg)
{
	struct rank *rk = arg;
	ckptio_opts opts = CKPTIO_OPTS_INIT;

	opts.coord = &rk->w.outer;
	opts.threads = a.threads;
	opts.flags = CKPTIO_SAVE_OVERWRITE;
	pthread_barrier_wait(&start_barrier);
	rk->t_in = now();
	rk->st = ckptio_save(rk->ctx, a.dir, rk->sd, &opts);
	rk->t_out = now();
	if (rk->st != CKPTIO_OK)
		snprintf(rk->msg, sizeof(rk->msg), "%s", ckptio_errmsg(rk->ctx));
	return NULL;
}

static int parse_args(int argc, char **argv)
{
	int i;

	if (argc < 2 || argv[1][0] == '-')
		return -1;
	a.dir = argv[1];
	for (i = 2; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		uint64_t n = 0;

		if (!strcmp(k, "--mode") && (!strcmp(v, "sharded") ||
					     !strcmp(v, "distinct"))) {
			a.distinct = !strcmp(v, "distinct");
			continue;
		}
		if (!strcmp(k, "--log")) {
			a.log = v;
			continue;
		}
		if (parse_u64(v, &n) != 0)
			return -1;
		if (!strcmp(k, "--ranks") && n >= 1 && n <= 1000000)
			a.ranks = (int)n;
		else if (!strcmp(k, "--items") && n >= 1)
			a.items = n;
		else if (!strcmp(k, "--bytes") && n >= 4)
			a.bytes = n;
		else if (!strcmp(k, "--stack-kib") && n >= 64)
			a.stack_kib = (size_t)n;
		else if (!strcmp(k, "--threads") && n >= 1 && n <= 256)
			a.threads = (unsigned)n;
		else
			return -1;
	}
	return i == argc ? 0 : -1;
}

static long file_size(const char *dir, const char *name)
{
	char path[4096];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

static void report(const struct rank *rks, double setup)
{
	double first_in = rks[0].t_in, last_out = 0, max_save = 0, sum_save = 0;
	long peak = proc_status_kb("VmHWM:");
	struct rusage ru;

	for (int r = 0; r < a.ranks; r++) {
		double s = rks[r].t_out - rks[r].t_in;

		if (rks[r].t_in < first_in)
			first_in = rks[r].t_in;
		if (rks[r].t_out > last_out)
			last_out = rks[r].t_out;
		if (s > max_save)
			max_save = s;
		sum_save += s;
	}
	getrusage(RUSAGE_SELF, &ru);
	if (ru.ru_maxrss > peak)
		peak = ru.ru_maxrss;
	if (r0.peak_kb > peak)
		peak = r0.peak_kb;
	printf("{\"ranks\": %d, \"items_per_rank\": %" PRIu64
	       ", \"bytes_per_item\": %" PRIu64 ", \"mode\": \"%s\""
	       ", \"setup_seconds\": %.3f"
	       ", \"save_seconds\": %.6f, \"rank0_save_seconds\": %.6f"
	       ", \"max_rank_save_seconds\": %.6f"
	       ", \"mean_rank_save_seconds\": %.6f"
	       ", \"local_plan_seconds\": %.6f, \"plan_gather_seconds\": %.6f"
	       ", \"global_step_seconds\": %.6f, \"write_seconds\": %.6f"
	       ", \"result_gather_seconds\": %.6f"
	       ", \"commit_step_seconds\": %.6f, \"end_seconds\": %.6f"
	       ", \"plan_bytes\": %" PRIu64 ", \"verdict_bytes\": %" PRIu64
	       ", \"result_bytes\": %" PRIu64
	       ", \"global_step_rss_kb\": %ld, \"global_step_peak_kb\": %ld"
	       ", \"commit_step_rss_kb\": %ld, \"commit_step_peak_kb\": %ld"
	       ", \"maxrss_kb\": %ld, \"cpu_seconds\": %.3f"
	       ", \"metadata_bytes\": %ld}\n",
	       a.ranks, a.items, a.bytes, a.distinct ? "distinct" : "sharded",
	       setup, last_out - first_in, rks[0].t_out - rks[0].t_in,
	       max_save, sum_save / a.ranks,
	       r0.gather_in[0] - first_in, r0.gather_out[0] - r0.gather_in[0],
	       r0.bcast_in[0] - r0.gather_out[0],
	       r0.gather_in[1] - r0.bcast_out[0],
	       r0.gather_out[1] - r0.gather_in[1],
	       r0.bcast_in[1] - r0.gather_out[1], last_out - r0.bcast_in[1],
	       r0.gathered[0], r0.bcast_bytes[0], r0.gathered[1],
	       r0.rss_kb[0], r0.hwm_ok ? r0.hwm_kb[0] : -1L, r0.rss_kb[1],
	       r0.hwm_ok ? r0.hwm_kb[1] : -1L, peak,
	       (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
		       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6,
	       file_size(a.dir, ".metadata.json"));
}

int main(int argc, char **argv)
{
	ckptio_coord_group *group;
	struct rank *rks;
	pthread_attr_t attr;
	double t0;
	int failed = 0, started = 0;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		puts("Usage: ranks DIR [--ranks R] [--items K] [--bytes B] "
		     "[--mode sharded|distinct] [--stack-kib S] [--threads T] "
		     "[--log FILE]");
		return 0;
	}
	if (parse_args(argc, argv) != 0) {
		fprintf(stderr, "ranks: bad arguments (see --help)\n");
		return 2;
	}
	if (a.log && !(logf = fopen(a.log, "w"))) {
		fprintf(stderr, "ranks: %s: %s\n", a.log, strerror(errno));
		return 1;
	}
	t0 = now();
	rks = calloc((size_t)a.ranks, sizeof(*rks));
	if (!rks || ckptio_coord_threads_new(&group, a.ranks) != CKPTIO_OK) {
		fprintf(stderr, "ranks: %s\n", ckptio_last_error());
		return 1;
	}
	for (int r = 0; r < a.ranks; r++) {
		struct wrap *w = &rks[r].w;

		/* Contexts are made here, not in the rank threads: a rank
		 * failing there would leave the others waiting in the
		 * coordinator forever. */
		if (ckptio_coord_threads_get(group, r, &w->inner) != CKPTIO_OK ||
		    build_sd(&rks[r], r) != CKPTIO_OK ||
		    ckptio_ctx_new(&rks[r].ctx, NULL) != CKPTIO_OK) {
			fprintf(stderr, "ranks: rank %d: %s\n", r,
				ckptio_last_error());
			return 1;
		}
		w->outer = w->inner;
		w->outer.self = w;
		w->outer.gather = w_gather;
		w->outer.broadcast = w_broadcast;
		w->outer.barrier = w_barrier;
	}
	if (logf)
		ckptio_set_log(rks[0].ctx, CKPTIO_LOG_DEBUG, log_line, NULL);
	pthread_barrier_init(&start_barrier, NULL, (unsigned)a.ranks + 1);
	pthread_attr_init(&attr);
	if (pthread_attr_setstacksize(&attr, a.stack_kib * 1024) != 0) {
		fprintf(stderr, "ranks: stack size %zu KiB refused\n", a.stack_kib);
		return 1;
	}
	for (int r = 0; r < a.ranks; r++) {
		int e = pthread_create(&rks[r].tid, &attr, rank_main, &rks[r]);

		if (e != 0) {
			/* The barrier counts every rank: without them all, the
			 * started ones would wait forever. */
			fprintf(stderr, "ranks: starting rank %d of %d: %s\n",
				r, a.ranks, strerror(e));
			exit(1);
		}
		started++;
	}
	pthread_attr_destroy(&attr);
	t_start = now();
	pthread_barrier_wait(&start_barrier);
	for (int r = 0; r < started; r++)
		pthread_join(rks[r].tid, NULL);
	for (int r = 0; r < a.ranks; r++)
		if (rks[r].st != CKPTIO_OK && !failed++)
			fprintf(stderr, "ranks: rank %d: %s: %s\n", r,
				ckptio_strerror(rks[r].st), rks[r].msg);
	if (!failed)
		report(rks, t_start - t0);
	for (int r = 0; r < a.ranks; r++) {
		ckptio_ctx_free(rks[r].ctx);
		ckptio_sd_free(rks[r].sd);
		free(rks[r].data);
	}
	ckptio_coord_threads_free(group);
	free(rks);
	pthread_barrier_destroy(&start_barrier);
	if (logf)
		fclose(logf);
	return failed ? 1 : 0;
}
