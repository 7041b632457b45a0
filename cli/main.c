/*
 * main.c - the `ckptio` command: global options, context, dispatch.
 *
 *   ckptio [global options] COMMAND [options] [args]
 *
 * Global options stop at the first non-option (the command); everything
 * after it belongs to the subcommand, which parses it with getopt_long.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct cli_command {
	const char *name;
	int (*fn)(ckptio_ctx *ctx, const struct cli_global *g, int argc,
		  char **argv);
	const char *summary;
};

static const struct cli_command commands[] = {
	{"plugins", cmd_plugins, "list the plugins found on the search path"},
	{"ls", cmd_ls, "describe a checkpoint, or list the checkpoints under a "
		       "location"},
	{"cp", cmd_cp, "copy or convert a checkpoint between stores and layouts"},
	{"verify", cmd_verify, "read every chunk and check its CRC32C"},
	{"rm", cmd_rm, "remove a checkpoint, or only its debris (--gc)"},
	{"bench", cmd_bench, "save, load and compare a synthetic state dict"},
	{"config", cmd_config, "print the resolved configuration (secrets "
			       "redacted)"},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: ckptio [global options] COMMAND [options] [args]\n"
		"\n"
		"Save, load, inspect and copy ML checkpoints on local disks, "
		"object stores\nand HTTP servers.\n"
		"\n"
		"Commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(f,
		"  help [COMMAND]  this text, or a command's help\n"
		"\n"
		"Global options (before COMMAND):\n"
		"  --config FILE   read FILE instead of searching $CKPTIO_CONFIG,\n"
		"                  ~/.config/ckptio/ckptio.conf and the system one\n"
		"  --json          machine-readable output: one JSON document on "
		"stdout\n"
		"                  (an {\"error\": ...} document on failure)\n"
		"  -q, --quiet     no progress bar, no informational lines\n"
		"  -v, --verbose   library log messages down to debug level\n"
		"  -h, --help      show this help and exit\n"
		"  -V, --version   show the version and exit\n"
		"\n"
		"A location is a path (/data/ck/step-1), a URI (file:///..., "
		"s3://bucket/prefix,\nor any scheme a store plugin declares) "
		"or NAME:path for a backend of the\nconfiguration file.\n"
		"Progress bars are drawn on stderr only when it is a terminal.\n"
		"\n"
		"%s"
		"\n"
		"Run 'ckptio COMMAND --help' for a command's options and "
		"examples.\n",
		cli_exit_codes_help);
}

static void version(void)
{
	printf("ckptio %d.%d.%d (libckptio %s)\n", CKPTIO_VERSION_MAJOR,
	       CKPTIO_VERSION_MINOR, CKPTIO_VERSION_PATCH, ckptio_version());
}

static const struct cli_command *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* -h/--help among a subcommand's arguments (before "--"): the command only
 * prints help, so no context is needed and a broken configuration must
 * not get in the way. */
static int asks_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return 0;
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			return 1;
	}
	return 0;
}

/* Returns -1 to go on, else an exit code. */
static int parse_global(int argc, char **argv, struct cli_global *g)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"json", no_argument, NULL, 'j'},
		{"quiet", no_argument, NULL, 'q'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "+qvhV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			g->config = optarg;
			break;
		case 'j':
			g->json = 1;
			break;
		case 'q':
			g->quiet = 1;
			break;
		case 'v':
			g->verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return CLI_EXIT_OK;
		case 'V':
			version();
			return CLI_EXIT_OK;
		default:
			fprintf(stderr, "Try 'ckptio --help' for more "
					"information.\n");
			return CLI_EXIT_USAGE;
		}
	}
	return -1;
}

/* -v and -q win; otherwise the configuration's log_level stands. */
static ckptio_log_level log_level(const ckptio_ctx *ctx,
				  const struct cli_global *g)
{
	if (g->verbose)
		return CKPTIO_LOG_DEBUG;
	return g->quiet ? CKPTIO_LOG_ERROR : ckptio_log_level_get(ctx);
}

static int run(const struct cli_command *cmd, const struct cli_global *g,
	       int argc, char **argv)
{
	char argv0[64];
	ckptio_ctx *ctx = NULL;
	ckptio_status st;
	int rc;

	snprintf(argv0, sizeof(argv0), "ckptio %s", cmd->name);
	argv[0] = argv0; /* getopt's messages then name the command */
	optind = 0;      /* a fresh getopt scan for the subcommand */
	if (asks_help(argc, argv))
		return cmd->fn(NULL, g, argc, argv);
	st = ckptio_ctx_new(&ctx, g->config);
	if (st != CKPTIO_OK)
		return cli_fail(g, NULL, cmd->name, st);
	ckptio_set_log(ctx, log_level(ctx, g), cli_log, NULL);
	rc = cmd->fn(ctx, g, argc, argv);
	ckptio_ctx_free(ctx);
	return rc;
}

/* `ckptio help [COMMAND]` */
static int help(int argc, char **argv, const struct cli_global *g)
{
	static char help_opt[] = "--help";
	const struct cli_command *cmd;
	char *sub[3];

	if (argc < 2) {
		usage(stdout);
		return CLI_EXIT_OK;
	}
	cmd = find_command(argv[1]);
	if (!cmd) {
		fputs("ckptio: help: unknown command '", stderr);
		cli_print_name(stderr, argv[1]);
		fputs("'\n", stderr);
		return CLI_EXIT_USAGE;
	}
	sub[0] = argv[1];
	sub[1] = help_opt;
	sub[2] = NULL;
	return run(cmd, g, 2, sub);
}

int main(int argc, char **argv)
{
	struct cli_global g = {0};
	const struct cli_command *cmd;
	int rc;

	rc = parse_global(argc, argv, &g);
	if (rc >= 0)
		return rc;
	if (optind >= argc) {
		fprintf(stderr, "ckptio: missing COMMAND\n");
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[optind], "help") == 0)
		return help(argc - optind, argv + optind, &g);
	cmd = find_command(argv[optind]);
	if (!cmd) {
		fputs("ckptio: unknown command '", stderr);
		cli_print_name(stderr, argv[optind]);
		fputs("'\nTry 'ckptio --help' for the list of commands.\n",
		      stderr);
		return CLI_EXIT_USAGE;
	}
	rc = run(cmd, &g, argc - optind, argv + optind);
	if (fflush(stdout) != 0 && rc == CLI_EXIT_OK) {
		perror("ckptio: writing output");
		rc = CLI_EXIT_FAIL;
	}
	return rc;
}
