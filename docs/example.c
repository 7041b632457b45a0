/*
 * example.c - save two tensors with ckptio and load them back (the C API
 * example of README.md).
 *
 * Build against an installed ckptio:
 *     cc -o example docs/example.c $(pkg-config --cflags --libs ckptio)
 * Run:
 *     ./example                        # the built-in "local" backend
 *     ./example /tmp/ckpts/step-100    # or any location
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ckptio/ckptio.h>

#define ROWS 256
#define COLS 128

/* Print what failed: the status text and the detail naming the file, key,
 * item or config line.  Without a context the detail is per thread. */
static int fail(const ckptio_ctx *ctx, const char *what, ckptio_status st)
{
	fprintf(stderr, "example: %s: %s: %s\n", what, ckptio_strerror(st),
		ctx ? ckptio_errmsg(ctx) : ckptio_last_error());
	return EXIT_FAILURE;
}

/* A state dict over the caller's buffers: a [ROWS, COLS] weight and a
 * [COLS] bias, both F32.  The buffers are borrowed, not copied. */
static ckptio_status make_sd(float *weight, float *bias, ckptio_sd **out)
{
	const uint64_t wshape[2] = {ROWS, COLS}, bshape[1] = {COLS};
	ckptio_status st;
	ckptio_sd *sd;

	st = ckptio_sd_new(&sd);
	if (st != CKPTIO_OK)
		return st;
	st = ckptio_sd_add_tensor(sd, "model.linear.weight", CKPTIO_F32, 2,
				  wshape, NULL, NULL, weight);
	if (st == CKPTIO_OK)
		st = ckptio_sd_add_tensor(sd, "model.linear.bias", CKPTIO_F32,
					  1, bshape, NULL, NULL, bias);
	if (st != CKPTIO_OK) {
		ckptio_sd_free(sd);
		sd = NULL;
	}
	*out = sd;
	return st;
}

/* Save, then load into fresh buffers and compare. */
static int save_and_load(ckptio_ctx *ctx, const char *location)
{
	static float weight[ROWS * COLS], bias[COLS];
	static float weight2[ROWS * COLS], bias2[COLS];
	ckptio_opts opts = CKPTIO_OPTS_INIT;
	ckptio_status st;
	ckptio_sd *sd;

	for (size_t i = 0; i < ROWS * COLS; i++)
		weight[i] = (float)i * 0.5f;
	for (size_t i = 0; i < COLS; i++)
		bias[i] = -(float)i;

	st = make_sd(weight, bias, &sd);
	if (st != CKPTIO_OK)
		return fail(NULL, "building the state dict", st);
	opts.flags = CKPTIO_SAVE_OVERWRITE; /* replace an earlier run's */
	st = ckptio_save(ctx, location, sd, &opts);
	ckptio_sd_free(sd);
	if (st != CKPTIO_OK)
		return fail(ctx, "save", st);

	st = make_sd(weight2, bias2, &sd);
	if (st != CKPTIO_OK)
		return fail(NULL, "building the state dict", st);
	st = ckptio_load(ctx, location, sd, NULL); /* CRC32C-checked */
	ckptio_sd_free(sd);
	if (st != CKPTIO_OK)
		return fail(ctx, "load", st);

	if (memcmp(weight, weight2, sizeof(weight)) != 0 ||
	    memcmp(bias, bias2, sizeof(bias)) != 0) {
		fprintf(stderr, "example: loaded data differs\n");
		return EXIT_FAILURE;
	}
	printf("saved and loaded %s: 2 tensors, %zu bytes\n", location,
	       sizeof(weight) + sizeof(bias));
	return EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
	const char *location = argc > 1 ? argv[1] : "local:example/step-1";
	ckptio_ctx *ctx;
	ckptio_status st;
	int rc;

	st = ckptio_ctx_new(&ctx, NULL); /* searches for ckptio.conf */
	if (st != CKPTIO_OK)
		return fail(NULL, "configuration", st);
	rc = save_and_load(ctx, location);
	ckptio_ctx_free(ctx);
	return rc;
}
