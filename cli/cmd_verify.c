/*
 * cmd_verify.c - `ckptio verify LOC`: read every chunk of a checkpoint and
 * check its length and CRC32C (ckptio_verify), with bounded memory.
 */
#include <getopt.h>
#include <inttypes.h>

#include "cli.h"

static const char verify_help[] =
	"Usage: ckptio verify [options] LOC\n"
	"\n"
	"Read every chunk of the checkpoint at LOC and check its length and\n"
	"CRC32C without keeping the data.  Prints\n"
	"  OK: N items, B bytes verified\n"
	"or, on a mismatch, names the item and the object on stderr and exits\n"
	"with 4.  Chunks of a layout that keeps no checksums are read in full,\n"
	"but make verify fail with 1: their content cannot be verified.\n"
	"\n"
	"Options:\n"
	"  --threads N  I/O threads (default: the backend's `threads`)\n"
	"  -h, --help   show this help\n"
	"\n"
	"Example:\n"
	"  ckptio verify s3://bucket/runs/step-100 && echo intact\n"
	CLI_HELP_FOOTER;

enum { OPT_THREADS = 256 };

static int parse_args(int argc, char **argv, unsigned *threads, int *help)
{
	static const struct option opts[] = {
		{"threads", required_argument, NULL, OPT_THREADS},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_THREADS:
			if (cli_parse_uint(optarg, 1, 4096, &v) != 0)
				return cli_usage_error("verify", "--threads: bad "
					"number '%s' (1..4096)", optarg);
			*threads = (unsigned)v;
			break;
		case 'h':
			*help = 1;
			break;
		default:
			cli_bad_option("verify", c, argv);
			return CLI_EXIT_USAGE;
		}
	}
	if (*help)
		return 0;
	if (cli_want_args("verify", argc - optind, 1, "LOC") != 0)
		return CLI_EXIT_USAGE;
	return 0;
}

static void report(const struct cli_global *g, const char *loc, size_t items,
		   uint64_t bytes, double secs)
{
	if (!g->json) {
		printf("OK: %zu items, %" PRIu64 " bytes verified\n", items,
		       bytes);
		return;
	}
	fputs("{\"location\": ", stdout);
	cli_json_str(stdout, loc);
	printf(", \"ok\": true, \"items\": %zu, \"bytes\": %" PRIu64
	       ", \"seconds\": ",
	       items, bytes);
	cli_json_double(stdout, secs);
	fputs("}\n", stdout);
}

int cmd_verify(ckptio_ctx *ctx, const struct cli_global *g, int argc,
	       char **argv)
{
	ckptio_opts opts = CKPTIO_OPTS_INIT;
	struct cli_progress bar;
	unsigned threads = 0;
	ckptio_ckpt *ck;
	ckptio_status st;
	const char *loc;
	uint64_t bytes;
	int help = 0, rc;
	size_t items;
	double t0;

	rc = parse_args(argc, argv, &threads, &help);
	if (rc != 0)
		return rc;
	if (help) {
		fputs(verify_help, stdout);
		return CLI_EXIT_OK;
	}
	loc = argv[optind];
	/* The metadata gives the totals that verify itself does not return. */
	st = ckptio_open(ctx, loc, &ck);
	if (st != CKPTIO_OK)
		return cli_fail(g, ctx, "verify", st);
	items = ckptio_ckpt_count(ck);
	bytes = ckptio_ckpt_nbytes(ck);
	ckptio_ckpt_close(ck);

	opts.threads = threads;
	cli_progress_init(&bar, g, "verify");
	cli_progress_attach(&bar, &opts);
	cli_sigint_catch();
	t0 = cli_now();
	st = ckptio_verify(ctx, loc, &opts);
	t0 = cli_now() - t0;
	cli_sigint_release();
	cli_progress_end(&bar, st == CKPTIO_OK);
	if (st != CKPTIO_OK)
		return cli_fail(g, ctx, "verify", st);
	report(g, loc, items, bytes, t0);
	return CLI_EXIT_OK;
}
