/*
 * ckptio_mpi.h - a ckptio coordinator on an MPI communicator
 * (libckptio-mpi, pkg-config ckptio-mpi).
 *
 * Every process of the communicator calls ckptio_save (or
 * ckptio_async_save) with its own state dict, the same location and a
 * ckptio_coord filled by ckptio_mpi_coord_new; rank 0 of the communicator
 * commits.  The coordinator's collectives run on a private duplicate of
 * the communicator, so ckptio's messages never mix with the application's,
 * with MPI_ERRORS_RETURN on it: an MPI error fails the save with
 * CKPTIO_ECOORD instead of aborting the job.
 *
 *   MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
 *   ckptio_mpi_coord *mc;
 *   ckptio_opts o = CKPTIO_OPTS_INIT;
 *   ckptio_coord co;
 *   ckptio_mpi_coord_new(MPI_COMM_WORLD, &mc, &co);
 *   o.coord = &co;
 *   ckptio_save(ctx, "s3://bucket/run/step-100", sd, &o);
 *   ...
 *   ckptio_mpi_coord_free(mc);          (before MPI_Finalize)
 *
 * Thread level.  ckptio calls the coordinator from the thread that called
 * ckptio_save, or, for ckptio_async_save, from a thread of its own while
 * the application goes on.  ckptio_save from the thread that initialised
 * MPI needs MPI_THREAD_FUNNELED; from any one thread at a time,
 * MPI_THREAD_SERIALIZED; ckptio_async_save needs MPI_THREAD_MULTIPLE
 * (unless the application makes no MPI call of its own until
 * ckptio_future_wait returns, which is MPI_THREAD_SERIALIZED).
 * ckptio_mpi_coord_new checks the level MPI provides against the
 * `need` it is told and refuses a coordinator that could not work.
 *
 * A process that dies during a save: the others wait in a collective
 * until MPI notices.  Open MPI's mpirun does, and ends the whole job
 * (docs/python.md, "MPI"); no rank commits, so no checkpoint appears.
 */
#ifndef CKPTIO_MPI_H
#define CKPTIO_MPI_H

#include <mpi.h>

#include "ckptio/ckptio.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ckptio_mpi_coord ckptio_mpi_coord;

/* The reason the last ckptio_mpi_coord_new of this thread failed ("" when
 * it did not); valid until that thread's next call. */
const char *ckptio_mpi_last_error(void);

/* A coordinator over comm (any intracommunicator; it is duplicated, so the
 * caller may free comm afterwards).  Collective: every process of comm
 * calls it.  need: the MPI thread level ckptio will be used at (above:
 * MPI_THREAD_FUNNELED for ckptio_save from the main thread,
 * MPI_THREAD_MULTIPLE for ckptio_async_save); a lower level provided by
 * MPI is CKPTIO_EINVAL.  On success *out is the coordinator and *coord is
 * filled for ckptio_opts.coord (rank and world of comm); both stay valid
 * until ckptio_mpi_coord_free.  Errors (in ckptio_mpi_last_error()):
 * CKPTIO_EINVAL (NULL arguments, MPI not initialised or finalised,
 * MPI_COMM_NULL, a thread level below need), CKPTIO_ECOORD (MPI failed),
 * CKPTIO_ENOMEM; on any error *out is NULL and *coord zeroed (whichever
 * is not NULL), and a save refuses a zeroed coordinator. */
ckptio_status ckptio_mpi_coord_new(MPI_Comm comm, int need,
				   ckptio_mpi_coord **out, ckptio_coord *coord);

/* Free the coordinator and its communicator (NULL: nothing).  Collective,
 * like MPI_Comm_free; call it before MPI_Finalize. */
void ckptio_mpi_coord_free(ckptio_mpi_coord *c);

#ifdef __cplusplus
}
#endif

#endif /* CKPTIO_MPI_H */
