/*
 * mpibench.c - one timed ckptio_save from every process of an MPI job
 * (bench/mpi.sh).  Each rank saves BYTES of its own rows of TENSORS
 * row-sharded F32 tensors to LOC with the MPI coordinator; the save is
 * timed between two barriers, and rank 0 prints
 *   world W bytes TOTAL seconds S
 * where TOTAL is the job's payload and S the slowest rank's save.
 *
 *   mpibench LOC BYTES TENSORS
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckptio/ckptio.h"
#include "ckptio/ckptio_mpi.h"

#define COLS 1024

int main(int argc, char **argv)
{
	int provided, rank, world, rc = 0;
	uint64_t bytes, rows;
	unsigned n;
	unsigned char *data;
	ckptio_ctx *ctx;
	ckptio_mpi_coord *mc;
	ckptio_coord co;
	ckptio_sd *sd;
	ckptio_opts o = CKPTIO_OPTS_INIT;
	ckptio_status st;
	double t0, t1;

	if (argc != 4)
		return 2;
	MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &world);
	bytes = strtoull(argv[2], NULL, 10);
	n = (unsigned)strtoul(argv[3], NULL, 10);
	rows = bytes / n / (COLS * 4);
	if (!n || !rows || !(data = malloc(rows * COLS * 4 * n)))
		MPI_Abort(MPI_COMM_WORLD, 2);
	/* Not zeros (a file system may compress or skip them). */
	for (uint64_t i = 0; i < rows * COLS * 4 * n; i++)
		data[i] = (unsigned char)(i * 2654435761u >> 13 ^ (unsigned)rank);
	if (ckptio_ctx_new(&ctx, NULL) != CKPTIO_OK ||
	    ckptio_mpi_coord_new(MPI_COMM_WORLD, MPI_THREAD_FUNNELED, &mc,
				 &co) != CKPTIO_OK ||
	    ckptio_sd_new(&sd) != CKPTIO_OK)
		MPI_Abort(MPI_COMM_WORLD, 1);
	for (unsigned t = 0; t < n; t++) {
		char name[32];
		uint64_t gs[2] = {rows * (uint64_t)world, COLS},
			 off[2] = {rows * (uint64_t)rank, 0}, sh[2] = {rows, COLS};

		snprintf(name, sizeof(name), "layers.%u.weight", t);
		if (ckptio_sd_add_tensor(sd, name, CKPTIO_F32, 2, gs, off, sh,
					 data + (size_t)t * rows * COLS * 4) !=
		    CKPTIO_OK)
			MPI_Abort(MPI_COMM_WORLD, 1);
	}
	o.coord = &co;
	o.flags = CKPTIO_SAVE_OVERWRITE;
	MPI_Barrier(MPI_COMM_WORLD);
	t0 = MPI_Wtime();
	st = ckptio_save(ctx, argv[1], sd, &o);
	MPI_Barrier(MPI_COMM_WORLD);
	t1 = MPI_Wtime();
	if (st != CKPTIO_OK) {
		fprintf(stderr, "mpibench rank %d: %s\n", rank, ckptio_errmsg(ctx));
		rc = 1;
	} else if (rank == 0) {
		printf("world %d bytes %llu seconds %.6f\n", world,
		       (unsigned long long)(rows * COLS * 4 * n * (uint64_t)world),
		       t1 - t0);
	}
	ckptio_sd_free(sd);
	ckptio_mpi_coord_free(mc);
	ckptio_ctx_free(ctx);
	free(data);
	MPI_Finalize();
	return rc;
}
