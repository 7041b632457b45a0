/*
 * cmd_rm.c - `ckptio rm LOC [--gc] [--older-than AGE] [--dry-run]`: remove a
 * checkpoint, or only the debris of failed saves (ckptio_remove_ex).
 */
#include <getopt.h>
#include <inttypes.h>

#include "cli.h"

static const char rm_help[] =
	"Usage: ckptio rm [options] LOC\n"
	"\n"
	"Remove the checkpoint at LOC: its metadata first (so it stops being\n"
	"visible at once), then the data objects it names, then the debris of\n"
	"failed saves beside it.  LOC must hold a checkpoint (its metadata).\n"
	"\n"
	"With --gc, keep the checkpoint (if any) and remove only the debris:\n"
	"data objects of the layout's own form that the metadata does not name\n"
	"(left by crashed, failed or overwritten saves) and unfinished puts of\n"
	"them (temporary files, multipart uploads).  --gc works where no save\n"
	"ever committed, too.\n"
	"\n"
	"Nothing else is ever removed: files that are not ckptio's, nested\n"
	"checkpoints and subdirectories stay.  A save still running writes\n"
	"debris-like objects: when saves may run at LOC, give --older-than.\n"
	"\n"
	"Options:\n"
	"  --gc              only remove the debris of failed saves\n"
	"  --older-than AGE  keep debris modified less than AGE ago (90s, 15m,\n"
	"                    1h, 2d; default 0: any age).  Objects whose age\n"
	"                    the store cannot tell are kept when AGE > 0\n"
	"  -n, --dry-run     remove nothing; print what would be removed\n"
	"  -h, --help        show this help\n"
	"\n"
	"Examples:\n"
	"  ckptio rm /data/ckpt/step-100\n"
	"  ckptio rm --gc --older-than 1h s3://bucket/runs/step-200\n"
	CLI_HELP_FOOTER;

enum { OPT_GC = 256, OPT_OLDER };

struct rm_args {
	ckptio_rm_opts opts;
	int help;
};

static int parse_args(int argc, char **argv, struct rm_args *a)
{
	static const struct option opts[] = {
		{"gc", no_argument, NULL, OPT_GC},
		{"older-than", required_argument, NULL, OPT_OLDER},
		{"dry-run", no_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "hn", opts, NULL)) != -1) {
		switch (c) {
		case OPT_GC:
			a->opts.flags |= CKPTIO_RM_GC_ONLY;
			break;
		case OPT_OLDER:
			if (cli_parse_duration(optarg, &a->opts.min_age) != 0)
				return cli_usage_error("rm", "--older-than: bad "
					"age '%s' (e.g. 90s, 15m, 1h, 2d)",
					optarg);
			break;
		case 'n':
			a->opts.flags |= CKPTIO_RM_DRY_RUN;
			break;
		case 'h':
			a->help = 1;
			break;
		default:
			cli_bad_option("rm", c, argv);
			return CLI_EXIT_USAGE;
		}
	}
	if (a->help)
		return 0;
	if (cli_want_args("rm", argc - optind, 1, "LOC") != 0)
		return CLI_EXIT_USAGE;
	return 0;
}

static void report_json(const char *loc, const ckptio_rm_opts *o,
			const ckptio_rm_report *r)
{
	fputs("{\"location\": ", stdout);
	cli_json_str(stdout, loc);
	printf(", \"action\": \"%s\", \"dry_run\": %s, \"ok\": true"
	       ", \"removed\": %" PRIu64 ", \"removed_bytes\": %" PRIu64
	       ", \"debris\": %" PRIu64 ", \"debris_bytes\": %" PRIu64
	       ", \"kept_young\": %" PRIu64 ", \"kept_young_bytes\": %" PRIu64
	       ", \"foreign\": %" PRIu64 ", \"older_than\": %" PRIu64 "}\n",
	       (o->flags & CKPTIO_RM_GC_ONLY) ? "gc" : "remove",
	       (o->flags & CKPTIO_RM_DRY_RUN) ? "true" : "false", r->removed,
	       r->removed_bytes, r->debris, r->debris_bytes, r->kept_young,
	       r->kept_young_bytes, r->foreign, o->min_age);
}

static void report_text(const char *loc, const ckptio_rm_opts *o,
			const ckptio_rm_report *r)
{
	int dry = (o->flags & CKPTIO_RM_DRY_RUN) != 0;
	char bytes[32], young[32];

	cli_format_bytes(bytes, sizeof(bytes), r->removed_bytes);
	if (o->flags & CKPTIO_RM_GC_ONLY)
		printf("%s ", dry ? "would collect garbage of" : "collected garbage of");
	else
		printf("%s ", dry ? "would remove" : "removed");
	cli_print_name(stdout, loc);
	printf(": %" PRIu64 " objects (%s)", r->removed, bytes);
	if (!(o->flags & CKPTIO_RM_GC_ONLY) && r->debris)
		printf(", of which %" PRIu64 " debris of failed saves",
		       r->debris);
	putchar('\n');
	if (r->kept_young) {
		cli_format_bytes(young, sizeof(young), r->kept_young_bytes);
		printf("kept %" PRIu64 " objects of failed or running saves "
		       "(%s) younger than %" PRIu64 " s\n",
		       r->kept_young, young, o->min_age);
	}
	if (r->foreign)
		printf("left alone %" PRIu64 " objects that are not "
		       "ckptio's\n", r->foreign);
}

int cmd_rm(ckptio_ctx *ctx, const struct cli_global *g, int argc, char **argv)
{
	struct rm_args a = {.opts = CKPTIO_RM_OPTS_INIT};
	ckptio_rm_report rep = {.struct_size = sizeof(rep)};
	ckptio_status st;
	const char *loc;
	int rc;

	rc = parse_args(argc, argv, &a);
	if (rc != 0)
		return rc;
	if (a.help) {
		fputs(rm_help, stdout);
		return CLI_EXIT_OK;
	}
	loc = argv[optind];
	a.opts.report = &rep;
	st = ckptio_remove_ex(ctx, loc, &a.opts);
	if (st != CKPTIO_OK)
		return cli_fail(g, ctx, "rm", st);
	if (g->json)
		report_json(loc, &a.opts, &rep);
	else if (!g->quiet)
		report_text(loc, &a.opts, &rep);
	return CLI_EXIT_OK;
}
