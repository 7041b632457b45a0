/*
 * cmd_config.c - `ckptio config`: the resolved configuration, secrets
 * redacted by the library (ckptio_config_dump).
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char config_help[] =
	"Usage: ckptio config\n"
	"\n"
	"Print the configuration in use as INI text: every section and key\n"
	"after ${ENV} expansion, with secrets shown as <redacted>: keys such as\n"
	"secret_access_key, password or token, options a plugin declares\n"
	"secret, options no plugin of the section declares, and every plugin\n"
	"option of a section whose plugin cannot be loaded.  The first line is\n"
	"a comment naming the file, or saying that none was found.  With --json:\n"
	"  {\"path\": FILE or null, \"text\": INI}\n"
	"\n"
	"Options:\n"
	"  -h, --help  show this help\n"
	"\n"
	"Examples:\n"
	"  ckptio config\n"
	"  ckptio --config ./ckptio.conf config\n"
	CLI_HELP_FOOTER;

int cmd_config(ckptio_ctx *ctx, const struct cli_global *g, int argc,
	       char **argv)
{
	const char *path;
	ckptio_status st;
	char *text = NULL;
	int help = 0, rc;

	rc = cli_parse_plain("config", argc, argv, 0, "no arguments", &help);
	if (rc != 0)
		return rc;
	if (help) {
		fputs(config_help, stdout);
		return CLI_EXIT_OK;
	}
	st = ckptio_config_dump(ctx, &text);
	if (st != CKPTIO_OK)
		return cli_fail(g, ctx, "config", st);
	path = ckptio_config_path(ctx);
	if (g->json) {
		fputs("{\"path\": ", stdout);
		cli_json_str(stdout, path);
		fputs(", \"text\": ", stdout);
		cli_json_str(stdout, text);
		fputs("}\n", stdout);
	} else {
		/* The dump's first line already names the file (or says that
		 * none was found).  Values may hold anything ${ENV} gave. */
		cli_print_lines(stdout, text);
		if (*text && text[strlen(text) - 1] != '\n')
			fputc('\n', stdout);
	}
	free(text);
	return CLI_EXIT_OK;
}
