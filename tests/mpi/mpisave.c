/*
 * mpisave.c - the MPI coordinator across real processes (run under
 * mpirun by tests/mpi/test_mpi.sh):
 *
 *   mpisave save LOC           every rank saves its rows of W (F32,
 *                              [ROWS * world, COLS], row-sharded), the
 *                              replicated R (BF16 [5, 7], written once) and
 *                              its own bytes item state.RANK
 *   mpisave load LOC SAVED     world ranks (any number) load W split their
 *                              own way, R, and every state.K of the SAVED
 *                              ranks, collectively (rank 0 reads the
 *                              metadata); every value is compared
 *   mpisave nometa LOC         a collective load where no checkpoint is:
 *                              CKPTIO_ENOTFOUND everywhere, rank 0's message
 *   mpisave fail LOC FAILRANK  a save in which FAILRANK's W is a pull
 *                              callback that fails (EIO):
 *                              every rank must fail naming that rank
 *   mpisave kill LOC KILLRANK  a save in which KILLRANK's pull callback
 *                              kills its own process (SIGKILL)
 *
 * Values: W[i][j] = i * 1000 + j, R[i][j] = BF16 of (i * 7 + j), state.K
 * = "state of rank K".  Exit 0 when the rank saw what it should, 1 when
 * not (with a line on stderr), 2 on bad usage.
 */
#include <mpi.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckptio/ckptio.h"
#include "ckptio/ckptio_mpi.h"

#define ROWS 96   /* rows of W per saving rank */
#define COLS 1024 /* 4 KiB rows: a rank's part is 384 KiB */

static int rank, world;

static int bad(const char *what, ckptio_ctx *ctx, ckptio_status st)
{
	fprintf(stderr, "mpisave rank %d: %s: %s: %s\n", rank, what,
		ckptio_strerror(st), ctx ? ckptio_errmsg(ctx) : "");
	return 1;
}

static float w_at(uint64_t i, uint64_t j)
{
	return (float)(i * 1000 + j);
}

static void fill_r(uint16_t *r)
{
	for (int i = 0; i < 35; i++) {
		float f = (float)i;
		uint32_t u;

		memcpy(&u, &f, 4);
		r[i] = (uint16_t)(u >> 16);
	}
}

/* The pull source of a failing or dying rank. */
typedef struct puller {
	const float *rows;
	int kill;
} puller;

/* Its rows come through here (one call for the whole part): the rank
 * fails, or dies, while the others write theirs. */
static ckptio_status pull(void *user, uint64_t off, void *buf, size_t len)
{
	puller *p = user;

	(void)off;
	(void)buf;
	(void)len;
	if (p->kill)
		raise(SIGKILL);
	return CKPTIO_EIO;
}

/* mode 0: a plain save; 1: rank `odd` fails in its pull callback; 2: rank
 * `odd` kills itself there. */
static int save(ckptio_ctx *ctx, const char *loc, const ckptio_coord *co,
		int mode, int odd)
{
	uint64_t gs[2] = {(uint64_t)ROWS * (uint64_t)world, COLS};
	uint64_t off[2] = {(uint64_t)ROWS * (uint64_t)rank, 0},
		 sh[2] = {ROWS, COLS}, rs[2] = {5, 7};
	float *rows = malloc((size_t)ROWS * COLS * sizeof(*rows));
	uint16_t r[35];
	char name[32], state[64];
	ckptio_opts o = CKPTIO_OPTS_INIT;
	puller p = {rows, mode == 2};
	int pulls = mode != 0 && rank == odd;
	ckptio_sd *sd;
	ckptio_status st;

	if (!rows || ckptio_sd_new(&sd) != CKPTIO_OK)
		return bad("setup", NULL, CKPTIO_ENOMEM);
	for (uint64_t i = 0; i < ROWS; i++)
		for (uint64_t j = 0; j < COLS; j++)
			rows[i * COLS + j] = w_at(off[0] + i, j);
	fill_r(r);
	snprintf(name, sizeof(name), "state.%d", rank);
	snprintf(state, sizeof(state), "state of rank %d", rank);
	st = pulls ? ckptio_sd_add_tensor_fn(sd, "W", CKPTIO_F32, 2, gs, off, sh,
					   pull, &p)
		   : ckptio_sd_add_tensor(sd, "W", CKPTIO_F32, 2, gs, off, sh,
					  rows);
	if (st == CKPTIO_OK)
		st = ckptio_sd_add_tensor(sd, "R", CKPTIO_BF16, 2, rs, NULL,
					  NULL, r);
	if (st == CKPTIO_OK)
		st = ckptio_sd_add_bytes(sd, name, state, strlen(state));
	if (st != CKPTIO_OK)
		return bad("state dict", NULL, st);
	o.coord = co;
	o.flags = CKPTIO_SAVE_OVERWRITE;
	st = ckptio_save(ctx, loc, sd, &o);
	ckptio_sd_free(sd);
	free(rows);
	if (mode != 0) {
		/* Expected to fail, on every rank, naming the odd one. */
		char want[32];

		snprintf(want, sizeof(want), "rank %d", odd);
		if (st == CKPTIO_OK)
			return bad("save succeeded with a failing rank", ctx, st);
		if (!strstr(ckptio_errmsg(ctx), want))
			return bad("the message does not name the failing rank",
				   ctx, st);
		return 0;
	}
	return st == CKPTIO_OK ? 0 : bad("save", ctx, st);
}

static int load(ckptio_ctx *ctx, const char *loc, int saved,
		const ckptio_coord *co)
{
	uint64_t total = (uint64_t)ROWS * (uint64_t)saved;
	/* This run's split: rank k of world takes an uneven share. */
	uint64_t first = total * (uint64_t)rank / (uint64_t)world;
	uint64_t last = total * (uint64_t)(rank + 1) / (uint64_t)world;
	uint64_t gs[2] = {total, COLS}, off[2] = {first, 0},
		 sh[2] = {last - first, COLS}, rs[2] = {5, 7};
	float *rows = calloc((size_t)(last - first) * COLS + 1, sizeof(*rows));
	uint16_t r[35] = {0}, want_r[35];
	char (*states)[64] = calloc((size_t)saved, sizeof(*states));
	ckptio_sd *sd;
	ckptio_status st;
	int rc = 0;

	if (!rows || !states || ckptio_sd_new(&sd) != CKPTIO_OK)
		return bad("setup", NULL, CKPTIO_ENOMEM);
	st = ckptio_sd_add_tensor(sd, "W", CKPTIO_F32, 2, gs, off, sh, rows);
	if (st == CKPTIO_OK)
		st = ckptio_sd_add_tensor(sd, "R", CKPTIO_BF16, 2, rs, NULL,
					  NULL, r);
	for (int k = 0; k < saved && st == CKPTIO_OK; k++) {
		char name[32];

		snprintf(name, sizeof(name), "state.%d", k);
		snprintf(states[k], sizeof(states[k]), "state of rank %d", k);
		st = ckptio_sd_add_bytes(sd, name, states[k], strlen(states[k]));
		memset(states[k], 0, strlen(states[k]));
	}
	if (st != CKPTIO_OK)
		return bad("state dict", NULL, st);
	{
		ckptio_opts o = CKPTIO_OPTS_INIT;

		o.coord = co; /* collective: rank 0 reads the metadata */
		if ((st = ckptio_load(ctx, loc, sd, &o)) != CKPTIO_OK)
			return bad("load", ctx, st);
	}
	for (uint64_t i = first; i < last && !rc; i++)
		for (uint64_t j = 0; j < COLS && !rc; j++)
			if (rows[(i - first) * COLS + j] != w_at(i, j)) {
				fprintf(stderr, "mpisave rank %d: W[%llu][%llu] "
					"is %g\n", rank, (unsigned long long)i,
					(unsigned long long)j,
					(double)rows[(i - first) * COLS + j]);
				rc = 1;
			}
	fill_r(want_r);
	if (memcmp(r, want_r, sizeof(r)) != 0) {
		fprintf(stderr, "mpisave rank %d: R differs\n", rank);
		rc = 1;
	}
	for (int k = 0; k < saved; k++) {
		char want[64];

		snprintf(want, sizeof(want), "state of rank %d", k);
		if (strcmp(states[k], want) != 0) {
			fprintf(stderr, "mpisave rank %d: state.%d is '%s'\n",
				rank, k, states[k]);
			rc = 1;
		}
	}
	ckptio_sd_free(sd);
	free(rows);
	free(states);
	return rc;
}

/* A collective load of a location without a checkpoint: every rank fails
 * with CKPTIO_ENOTFOUND, the others with rank 0's message. */
static int nometa(ckptio_ctx *ctx, const char *loc, const ckptio_coord *co)
{
	static float w[4];
	const uint64_t gs[1] = {4};
	ckptio_opts o = CKPTIO_OPTS_INIT;
	ckptio_sd *sd;
	ckptio_status st;

	if (ckptio_sd_new(&sd) != CKPTIO_OK ||
	    ckptio_sd_add_tensor(sd, "W", CKPTIO_F32, 1, gs, NULL, NULL, w) !=
		    CKPTIO_OK)
		return bad("state dict", NULL, CKPTIO_ENOMEM);
	o.coord = co;
	st = ckptio_load(ctx, loc, sd, &o);
	ckptio_sd_free(sd);
	if (st != CKPTIO_ENOTFOUND)
		return bad("load of nothing: not CKPTIO_ENOTFOUND", ctx, st);
	if (rank != 0 && strncmp(ckptio_errmsg(ctx), "rank 0: ", 8) != 0)
		return bad("load of nothing: not rank 0's message", ctx, st);
	return 0;
}

/* ckptio_mpi_coord_new refuses what it cannot use, with a message, and
 * leaves its outputs cleared: NULL out or coord, MPI_COMM_NULL, a thread
 * level above the one MPI provides.  0 when every refusal was right. */
static int args(void)
{
	static const struct {
		int comm_null, need, null_out, null_coord;
		const char *words;
	} bad_args[] = {
		{0, MPI_THREAD_FUNNELED, 1, 0, "out is NULL"},
		{0, MPI_THREAD_FUNNELED, 0, 1, "coord is NULL"},
		{1, MPI_THREAD_FUNNELED, 0, 0, "MPI_COMM_NULL"},
		{0, MPI_THREAD_MULTIPLE, 0, 0, "below the"},
	};
	int provided, fails = 0;

	MPI_Query_thread(&provided);
	for (size_t i = 0; i < sizeof(bad_args) / sizeof(bad_args[0]); i++) {
		ckptio_mpi_coord *mc = (ckptio_mpi_coord *)&provided;
		ckptio_coord co;
		ckptio_status st;

		if (bad_args[i].need == MPI_THREAD_MULTIPLE &&
		    provided >= MPI_THREAD_MULTIPLE)
			continue; /* this MPI gives it: nothing to refuse */
		memset(&co, 0x5a, sizeof(co));
		st = ckptio_mpi_coord_new(bad_args[i].comm_null
						  ? MPI_COMM_NULL
						  : MPI_COMM_WORLD,
					  bad_args[i].need,
					  bad_args[i].null_out ? NULL : &mc,
					  bad_args[i].null_coord ? NULL : &co);
		if (st != CKPTIO_EINVAL ||
		    !strstr(ckptio_mpi_last_error(), bad_args[i].words) ||
		    (!bad_args[i].null_out && mc != NULL) ||
		    (!bad_args[i].null_coord && co.struct_size != 0)) {
			fprintf(stderr, "mpisave rank %d: case %zu (%s): status "
				"%d, message '%s'\n", rank, i,
				bad_args[i].words, (int)st,
				ckptio_mpi_last_error());
			fails++;
		}
	}
	return fails ? 1 : 0;
}

int main(int argc, char **argv)
{
	ckptio_mpi_coord *mc = NULL;
	ckptio_coord co;
	ckptio_ctx *ctx = NULL;
	ckptio_status st;
	int provided, rc;

	if (argc < 3)
		return 2;
	MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &world);
	if ((st = ckptio_ctx_new(&ctx, NULL)) != CKPTIO_OK) {
		rc = bad("context", NULL, st);
	} else if ((st = ckptio_mpi_coord_new(MPI_COMM_WORLD,
					      MPI_THREAD_FUNNELED, &mc, &co)) !=
		   CKPTIO_OK) {
		fprintf(stderr, "mpisave rank %d: %s\n", rank,
			ckptio_mpi_last_error());
		rc = 1;
	} else if (co.rank != rank || co.world != world) {
		rc = bad("coordinator's rank or world", NULL, CKPTIO_EINVAL);
	} else if (strcmp(argv[1], "args") == 0) {
		rc = args();
	} else if (strcmp(argv[1], "save") == 0) {
		rc = save(ctx, argv[2], &co, 0, -1);
	} else if (strcmp(argv[1], "load") == 0 && argc == 4) {
		rc = load(ctx, argv[2], atoi(argv[3]), &co);
	} else if (strcmp(argv[1], "nometa") == 0) {
		rc = nometa(ctx, argv[2], &co);
	} else if (strcmp(argv[1], "fail") == 0 && argc == 4) {
		rc = save(ctx, argv[2], &co, 1, atoi(argv[3]));
	} else if (strcmp(argv[1], "kill") == 0 && argc == 4) {
		rc = save(ctx, argv[2], &co, 2, atoi(argv[3]));
	} else {
		rc = 2;
	}
	ckptio_mpi_coord_free(mc);
	ckptio_ctx_free(ctx);
	MPI_Finalize();
	return rc;
}
