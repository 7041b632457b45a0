/*
 * cmd_cp.c - `ckptio cp SRC DST`: copy or convert a checkpoint between any
 * stores and layouts, streaming item by item (ckptio_copy).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>

#include "cli.h"

static const char cp_help[] =
	"Usage: ckptio cp [options] SRC DST\n"
	"\n"
	"Copy the checkpoint at SRC to DST, streaming item by item with bounded\n"
	"memory; the layout may change on the way (native <-> safetensors).\n"
	"DST becomes visible only when complete.  Ctrl-C cancels the copy and\n"
	"leaves no checkpoint at DST.\n"
	"\n"
	"Options:\n"
	"  --layout NAME  layout of DST (default: DST backend's, else native)\n"
	"  --overwrite    replace an existing checkpoint at DST\n"
	"  --threads N    I/O threads (default: the backend's `threads`)\n"
	"  -h, --help     show this help\n"
	"\n"
	"Examples:\n"
	"  ckptio cp /data/ckpt/step-100 s3://bucket/runs/step-100\n"
	"  ckptio cp --layout safetensors /data/ckpt/final /data/hf/final\n"
	CLI_HELP_FOOTER;

struct cp_args {
	const char *src;
	const char *dst;
	const char *layout;
	unsigned threads;
	int overwrite;
	int help;
};

enum { OPT_LAYOUT = 256, OPT_OVERWRITE, OPT_THREADS };

static int parse_args(int argc, char **argv, struct cp_args *a)
{
	static const struct option opts[] = {
		{"layout", required_argument, NULL, OPT_LAYOUT},
		{"overwrite", no_argument, NULL, OPT_OVERWRITE},
		{"threads", required_argument, NULL, OPT_THREADS},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_LAYOUT:
			a->layout = optarg;
			break;
		case OPT_OVERWRITE:
			a->overwrite = 1;
			break;
		case OPT_THREADS:
			if (cli_parse_uint(optarg, 1, 4096, &v) != 0)
				return cli_usage_error("cp", "--threads: bad "
					"number '%s' (1..4096)", optarg);
			a->threads = (unsigned)v;
			break;
		case 'h':
			a->help = 1;
			break;
		default:
			cli_bad_option("cp", c, argv);
			return CLI_EXIT_USAGE;
		}
	}
	if (a->help)
		return 0;
	if (cli_want_args("cp", argc - optind, 2, "SRC DST") != 0)
		return CLI_EXIT_USAGE;
	a->src = argv[optind];
	a->dst = argv[optind + 1];
	return 0;
}

static void report(const struct cli_global *g, const struct cp_args *a,
		   size_t items, uint64_t bytes, double secs)
{
	char human[32];

	if (g->json) {
		fputs("{\"src\": ", stdout);
		cli_json_str(stdout, a->src);
		fputs(", \"dst\": ", stdout);
		cli_json_str(stdout, a->dst);
		fputs(", \"layout\": ", stdout);
		cli_json_str(stdout, a->layout);
		fprintf(stdout, ", \"items\": %zu, \"bytes\": %" PRIu64
				", \"seconds\": ",
			items, bytes);
		cli_json_double(stdout, secs);
		fputs("}\n", stdout);
		return;
	}
	if (g->quiet)
		return;
	cli_format_bytes(human, sizeof(human), bytes);
	fputs("copied ", stdout);
	cli_print_name(stdout, a->src);
	fputs(" to ", stdout);
	cli_print_name(stdout, a->dst);
	printf(": %zu items, %s in %.2f s (%.2f GB/s)\n", items, human, secs,
	       secs > 0 ? (double)bytes / 1e9 / secs : 0.0);
}

/* Item count and size of SRC, for the summary. */
static ckptio_status src_stats(ckptio_ctx *ctx, const char *src,
			       size_t *items, uint64_t *bytes)
{
	ckptio_ckpt *ck;
	ckptio_status st;

	st = ckptio_open(ctx, src, &ck);
	if (st != CKPTIO_OK)
		return st;
	*items = ckptio_ckpt_count(ck);
	*bytes = ckptio_ckpt_nbytes(ck);
	ckptio_ckpt_close(ck);
	return CKPTIO_OK;
}

int cmd_cp(ckptio_ctx *ctx, const struct cli_global *g, int argc, char **argv)
{
	struct cp_args a = {0};
	ckptio_opts opts = CKPTIO_OPTS_INIT;
	struct cli_progress bar;
	ckptio_status st;
	uint64_t bytes;
	size_t items;
	double t0;
	int rc;

	rc = parse_args(argc, argv, &a);
	if (rc != 0)
		return rc;
	if (a.help) {
		fputs(cp_help, stdout);
		return CLI_EXIT_OK;
	}
	st = src_stats(ctx, a.src, &items, &bytes);
	if (st != CKPTIO_OK)
		return cli_fail(g, ctx, "cp", st);
	opts.flags = a.overwrite ? CKPTIO_SAVE_OVERWRITE : 0;
	opts.threads = a.threads;
	opts.layout = a.layout;
	cli_progress_init(&bar, g, "copy");
	cli_progress_attach(&bar, &opts);
	cli_sigint_catch();
	t0 = cli_now();
	st = ckptio_copy(ctx, a.src, a.dst, &opts);
	t0 = cli_now() - t0;
	cli_sigint_release();
	cli_progress_end(&bar, st == CKPTIO_OK);
	if (st != CKPTIO_OK)
		return cli_fail_exists(g, ctx, "cp", st);
	report(g, &a, items, bytes, t0);
	return CLI_EXIT_OK;
}
