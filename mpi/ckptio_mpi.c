/*
 * ckptio_mpi.c - the MPI coordinator (ckptio_mpi.h): ckptio's gather and
 * broadcast on a private duplicate of the application's communicator.
 *
 * Messages are bytes of any length (a plan of 10^6 items is hundreds of
 * MiB, and world of them exceed the int counts of MPI_Gatherv), so they
 * move in pieces of at most PIECE bytes: the lengths go first (MPI_Gather
 * of uint64), then each rank's bytes to rank 0 point to point, in rank
 * order; a broadcast sends its length, then MPI_Bcast piece by piece.
 * When rank 0 cannot allocate a rank's buffer it still receives (into a
 * small buffer, dropped) and fails the gather: a sender left blocked in
 * MPI_Send would hang the job.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckptio/ckptio_mpi.h"

#define PIECE (16 << 20) /* bytes per MPI call */
#define TAG 0x636b       /* point-to-point messages of the gather */

struct ckptio_mpi_coord {
	MPI_Comm comm;
	int rank, world;
	char err[512]; /* the last failure, for the errmsg method */
};

static __thread char last_error[512];

const char *ckptio_mpi_last_error(void)
{
	return last_error;
}

static ckptio_status fail(ckptio_status st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static ckptio_status fail(ckptio_status st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return st;
}

/* Record what failed (MPI's own words for rc) for ckptio's message;
 * returns CKPTIO_ECOORD. */
static ckptio_status mpi_fail(ckptio_mpi_coord *c, int rc, const char *fmt,
			      ...) __attribute__((format(printf, 3, 4)));

static ckptio_status mpi_fail(ckptio_mpi_coord *c, int rc, const char *fmt,
			      ...)
{
	char mpi[MPI_MAX_ERROR_STRING] = "";
	int n = 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	if (rc != MPI_SUCCESS && MPI_Error_string(rc, mpi, &n) == MPI_SUCCESS) {
		size_t k = strlen(c->err);

		snprintf(c->err + k, sizeof(c->err) - k, ": %s", mpi);
	}
	return CKPTIO_ECOORD;
}

static const char *mpi_errmsg(void *self)
{
	return ((ckptio_mpi_coord *)self)->err;
}

/* ------------------------------------------------------------------------ */
/* Pieces                                                                   */

/* MPI_SUCCESS, or the failing call's code. */
static int send_bytes(MPI_Comm comm, const unsigned char *buf, uint64_t len,
		      int dest)
{
	for (uint64_t off = 0; off < len; off += PIECE) {
		int n = (int)(len - off < PIECE ? len - off : PIECE);
		int rc = MPI_Send(buf + off, n, MPI_BYTE, dest, TAG, comm);

		if (rc != MPI_SUCCESS)
			return rc;
	}
	return MPI_SUCCESS;
}

/* Receive len bytes from src into buf, or, buf NULL, into a scratch piece
 * that is dropped (rank 0 out of memory).  MPI_SUCCESS, the failing call's
 * code, or MPI_ERR_NO_MEM without scratch. */
static int recv_bytes(MPI_Comm comm, unsigned char *buf, uint64_t len, int src)
{
	unsigned char *scratch = NULL;
	int rc = MPI_SUCCESS;

	if (!buf && len && !(scratch = malloc(len < PIECE ? len : PIECE)))
		return MPI_ERR_NO_MEM;
	for (uint64_t off = 0; off < len && rc == MPI_SUCCESS; off += PIECE) {
		int n = (int)(len - off < PIECE ? len - off : PIECE);

		rc = MPI_Recv(buf ? buf + off : scratch, n, MPI_BYTE, src, TAG,
			      comm, MPI_STATUS_IGNORE);
	}
	free(scratch);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* The coordinator's methods                                                */

static ckptio_status mpi_gather(void *self, const void *buf, size_t len,
				void ***out_bufs, size_t **out_lens)
{
	ckptio_mpi_coord *c = self;
	uint64_t mine = len, *lens = NULL;
	void **bufs = NULL;
	size_t *slens = NULL;
	int ok = 1, rc;

	*out_bufs = NULL;
	*out_lens = NULL;
	c->err[0] = '\0';
	if (c->rank == 0 &&
	    !(lens = malloc((size_t)c->world * sizeof(*lens))))
		ok = 0; /* still takes part, below, and fails after */
	rc = MPI_Gather(&mine, 1, MPI_UINT64_T, lens ? lens : &mine, 1,
			MPI_UINT64_T, 0, c->comm);
	if (rc != MPI_SUCCESS) {
		free(lens);
		return mpi_fail(c, rc, "MPI_Gather of the lengths");
	}
	if (c->rank != 0) {
		rc = send_bytes(c->comm, buf, len, 0);
		return rc == MPI_SUCCESS
			       ? CKPTIO_OK
			       : mpi_fail(c, rc, "MPI_Send of %zu bytes to rank "
					  "0", len);
	}
	if (!lens) {
		/* Without the lengths nothing can be received: the others
		 * are blocked in MPI_Send; the job cannot go on. */
		MPI_Abort(c->comm, 1);
		return CKPTIO_ECOORD;
	}
	bufs = calloc((size_t)c->world, sizeof(*bufs));
	slens = calloc((size_t)c->world, sizeof(*slens));
	if (!bufs || !slens)
		ok = 0;
	for (int r = 0; r < c->world; r++) {
		unsigned char *b = ok && lens[r] <= SIZE_MAX
					   ? malloc(lens[r] ? (size_t)lens[r] : 1)
					   : NULL;

		if (!b && ok) {
			ok = 0;
			mpi_fail(c, MPI_SUCCESS, "rank 0 is out of memory for "
				 "rank %d's %llu bytes", r,
				 (unsigned long long)lens[r]);
		}
		if (r == 0) {
			if (b)
				memcpy(b, buf, len);
		} else if ((rc = recv_bytes(c->comm, b, lens[r], r)) !=
			   MPI_SUCCESS) {
			free(b);
			b = NULL;
			if (ok)
				mpi_fail(c, rc, "MPI_Recv of rank %d's %llu "
					 "bytes", r,
					 (unsigned long long)lens[r]);
			ok = 0;
		}
		if (bufs && slens) {
			bufs[r] = b;
			slens[r] = (size_t)lens[r];
		} else {
			free(b);
		}
	}
	free(lens);
	if (!ok) {
		for (int r = 0; bufs && r < c->world; r++)
			free(bufs[r]);
		free(bufs);
		free(slens);
		return CKPTIO_ECOORD;
	}
	*out_bufs = bufs;
	*out_lens = slens;
	return CKPTIO_OK;
}

static ckptio_status mpi_broadcast(void *self, void **buf, size_t *len)
{
	ckptio_mpi_coord *c = self;
	uint64_t n = c->rank == 0 ? *len : 0;
	unsigned char *b = NULL, *scratch = NULL;
	int ok = 1, rc;

	c->err[0] = '\0';
	rc = MPI_Bcast(&n, 1, MPI_UINT64_T, 0, c->comm);
	if (rc != MPI_SUCCESS)
		return mpi_fail(c, rc, "MPI_Bcast of the length");
	if (c->rank == 0) {
		b = *buf;
	} else if (n > SIZE_MAX || !(b = malloc(n ? (size_t)n : 1))) {
		/* Take part all the same, into a dropped piece. */
		ok = 0;
		b = NULL;
		mpi_fail(c, MPI_SUCCESS, "rank %d is out of memory for %llu "
			 "bytes", c->rank, (unsigned long long)n);
		if (!(scratch = malloc(n < PIECE ? (size_t)n + 1 : PIECE)))
			MPI_Abort(c->comm, 1);
	}
	for (uint64_t off = 0; off < n; off += PIECE) {
		int k = (int)(n - off < PIECE ? n - off : PIECE);

		rc = MPI_Bcast(b ? b + off : scratch, k, MPI_BYTE, 0, c->comm);
		if (rc != MPI_SUCCESS && ok) {
			ok = 0;
			mpi_fail(c, rc, "MPI_Bcast of %llu bytes",
				 (unsigned long long)n);
		}
	}
	free(scratch);
	if (c->rank != 0) {
		if (!ok) {
			free(b);
			return CKPTIO_ECOORD;
		}
		*buf = b;
		*len = (size_t)n;
	}
	return ok ? CKPTIO_OK : CKPTIO_ECOORD;
}

static ckptio_status mpi_barrier(void *self)
{
	ckptio_mpi_coord *c = self;

	return MPI_Barrier(c->comm) == MPI_SUCCESS ? CKPTIO_OK : CKPTIO_ECOORD;
}

/* ------------------------------------------------------------------------ */
/* New and free                                                             */

ckptio_status ckptio_mpi_coord_new(MPI_Comm comm, int need,
				   ckptio_mpi_coord **out, ckptio_coord *coord)
{
	ckptio_mpi_coord *c;
	int inited = 0, finalized = 0, provided = MPI_THREAD_SINGLE;

	last_error[0] = '\0';
	/* Cleared first, even when the other is missing: a caller that
	 * ignores the status finds nothing it could use. */
	if (out)
		*out = NULL;
	if (coord)
		memset(coord, 0, sizeof(*coord));
	if (!out || !coord)
		return fail(CKPTIO_EINVAL, "ckptio_mpi_coord_new: %s is NULL",
			    !out ? "out" : "coord");
	MPI_Initialized(&inited);
	MPI_Finalized(&finalized);
	if (!inited || finalized)
		return fail(CKPTIO_EINVAL, "ckptio_mpi_coord_new: MPI is %s",
			    finalized ? "finalized" : "not initialised "
			    "(MPI_Init_thread first)");
	if (comm == MPI_COMM_NULL)
		return fail(CKPTIO_EINVAL,
			    "ckptio_mpi_coord_new: comm is MPI_COMM_NULL");
	MPI_Query_thread(&provided);
	if (provided < need)
		return fail(CKPTIO_EINVAL,
			    "ckptio_mpi_coord_new: MPI provides thread level "
			    "%d, below the %d asked for (MPI_THREAD_MULTIPLE "
			    "is %d; ckptio_async_save needs it)", provided,
			    need, MPI_THREAD_MULTIPLE);
	if (!(c = calloc(1, sizeof(*c))))
		return fail(CKPTIO_ENOMEM, "out of memory");
	if (MPI_Comm_dup(comm, &c->comm) != MPI_SUCCESS) {
		free(c);
		return fail(CKPTIO_ECOORD, "ckptio_mpi_coord_new: "
			    "MPI_Comm_dup failed");
	}
	MPI_Comm_set_errhandler(c->comm, MPI_ERRORS_RETURN);
	MPI_Comm_rank(c->comm, &c->rank);
	MPI_Comm_size(c->comm, &c->world);
	coord->struct_size = sizeof(*coord);
	coord->rank = c->rank;
	coord->world = c->world;
	coord->self = c;
	coord->gather = mpi_gather;
	coord->broadcast = mpi_broadcast;
	coord->barrier = mpi_barrier;
	coord->errmsg = mpi_errmsg;
	*out = c;
	return CKPTIO_OK;
}

void ckptio_mpi_coord_free(ckptio_mpi_coord *c)
{
	if (!c)
		return;
	MPI_Comm_free(&c->comm);
	free(c);
}
