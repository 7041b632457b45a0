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

/* ------------------------------------------------------------------------ */
/* Pieces                                                                   */

static int send_bytes(MPI_Comm comm, const unsigned char *buf, uint64_t len,
		      int dest)
{
	for (uint64_t off = 0; off < len; off += PIECE) {
		int n = (int)(len - off < PIECE ? len - off : PIECE);

		if (MPI_Send(buf + off, n, MPI_BYTE, dest, TAG, comm) !=
		    MPI_SUCCESS)
			return -1;
	}
	return 0;
}

/* Receive len bytes from src into buf, or, buf NULL, into a scratch piece
 * that is dropped (rank 0 out of memory).  -1: MPI failed, or no scratch. */
static int recv_bytes(MPI_Comm comm, unsigned char *buf, uint64_t len, int src)
{
	unsigned char *scratch = NULL;
	int rc = 0;

	if (!buf && len && !(scratch = malloc(len < PIECE ? len : PIECE)))
		return -1;
	for (uint64_t off = 0; off < len && rc == 0; off += PIECE) {
		int n = (int)(len - off < PIECE ? len - off : PIECE);

		if (MPI_Recv(buf ? buf + off : scratch, n, MPI_BYTE, src, TAG,
			     comm, MPI_STATUS_IGNORE) != MPI_SUCCESS)
			rc = -1;
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
	int ok = 1;

	*out_bufs = NULL;
	*out_lens = NULL;
	if (c->rank == 0 &&
	    !(lens = malloc((size_t)c->world * sizeof(*lens))))
		ok = 0; /* still takes part, below, and fails after */
	if (MPI_Gather(&mine, 1, MPI_UINT64_T, lens ? lens : &mine, 1,
		       MPI_UINT64_T, 0, c->comm) != MPI_SUCCESS) {
		free(lens);
		return CKPTIO_ECOORD;
	}
	if (c->rank != 0)
		return send_bytes(c->comm, buf, len, 0) == 0 ? CKPTIO_OK
							     : CKPTIO_ECOORD;
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

		if (!b)
			ok = 0;
		if (r == 0) {
			if (b)
				memcpy(b, buf, len);
		} else if (recv_bytes(c->comm, b, lens[r], r) != 0) {
			free(b);
			b = NULL;
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
	int ok = 1;

	if (MPI_Bcast(&n, 1, MPI_UINT64_T, 0, c->comm) != MPI_SUCCESS)
		return CKPTIO_ECOORD;
	if (c->rank == 0) {
		b = *buf;
	} else if (n > SIZE_MAX || !(b = malloc(n ? (size_t)n : 1))) {
		/* Take part all the same, into a dropped piece. */
		ok = 0;
		b = NULL;
		if (!(scratch = malloc(n < PIECE ? (size_t)n + 1 : PIECE)))
			MPI_Abort(c->comm, 1);
	}
	for (uint64_t off = 0; off < n; off += PIECE) {
		int k = (int)(n - off < PIECE ? n - off : PIECE);

		if (MPI_Bcast(b ? b + off : scratch, k, MPI_BYTE, 0, c->comm) !=
		    MPI_SUCCESS)
			ok = 0;
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
	if (!out || !coord)
		return fail(CKPTIO_EINVAL, "ckptio_mpi_coord_new: %s is NULL",
			    !out ? "out" : "coord");
	*out = NULL;
	memset(coord, 0, sizeof(*coord));
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
