/*
 * cmd_rm.c - `ckptio rm LOC [--gc]`: remove a checkpoint, or only the
 * objects its metadata does not reference (ckptio_remove).
 */
#include <getopt.h>

#include "cli.h"

static const char rm_help[] =
	"Usage: ckptio rm [options] LOC\n"
	"\n"
	"Remove the checkpoint at LOC: its metadata first (so it stops being\n"
	"visible at once), then its data objects and the leftovers of failed\n"
	"saves.  With --gc, keep the checkpoint and remove only the objects its\n"
	"committed metadata does not reference (debris of crashed or\n"
	"overwritten saves).\n"
	"\n"
	"Options:\n"
	"  --gc        only remove unreferenced objects; the checkpoint stays\n"
	"  -h, --help  show this help\n"
	"\n"
	"Examples:\n"
	"  ckptio rm /data/ckpt/step-100\n"
	"  ckptio rm --gc s3://bucket/runs/step-200\n"
	CLI_HELP_FOOTER;

enum { OPT_GC = 256 };

static int parse_args(int argc, char **argv, int *gc, int *help)
{
	static const struct option opts[] = {
		{"gc", no_argument, NULL, OPT_GC},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_GC:
			*gc = 1;
			break;
		case 'h':
			*help = 1;
			break;
		default:
			cli_bad_option("rm", c, argv);
			return CLI_EXIT_USAGE;
		}
	}
	if (*help)
		return 0;
	if (cli_want_args("rm", argc - optind, 1, "LOC") != 0)
		return CLI_EXIT_USAGE;
	return 0;
}

int cmd_rm(ckptio_ctx *ctx, const struct cli_global *g, int argc, char **argv)
{
	int gc = 0, help = 0, rc;
	ckptio_status st;
	const char *loc;

	rc = parse_args(argc, argv, &gc, &help);
	if (rc != 0)
		return rc;
	if (help) {
		fputs(rm_help, stdout);
		return CLI_EXIT_OK;
	}
	loc = argv[optind];
	st = ckptio_remove(ctx, loc, gc ? CKPTIO_RM_GC_ONLY : 0);
	if (st != CKPTIO_OK)
		return cli_fail(g, ctx, "rm", st);
	if (g->json) {
		fputs("{\"location\": ", stdout);
		cli_json_str(stdout, loc);
		printf(", \"action\": \"%s\", \"ok\": true}\n",
		       gc ? "gc" : "remove");
	} else if (!g->quiet) {
		printf("%s %s\n", gc ? "collected garbage of" : "removed", loc);
	}
	return CLI_EXIT_OK;
}
