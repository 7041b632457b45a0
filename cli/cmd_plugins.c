/*
 * cmd_plugins.c - `ckptio plugins`: the plugins found on the search path.
 */
#include <stdlib.h>
#include <string.h>

#include <ckptio/plugin.h> /* CKPTIO_STORE_CAP_* only */

#include "cli.h"

static const char plugins_help[] =
	"Usage: ckptio plugins\n"
	"\n"
	"List every plugin that loads from the search path ($CKPTIO_PLUGIN_PATH,\n"
	"the configuration's plugin_path, then the installed plugin directory)\n"
	"plus the built-in native layout: name, kind, ABI version, what a store\n"
	"can do, the file it came from and its description.  A plugin is loaded\n"
	"only when it and its directory are owned by root or by you and\n"
	"writable by no one else; files refused or failing to load are reported\n"
	"as warnings on stderr.\n"
	"\n"
	"Options:\n"
	"  -h, --help  show this help\n"
	"\n"
	"Example:\n"
	"  CKPTIO_PLUGIN_PATH=$HOME/ckptio-plugins ckptio plugins\n"
	CLI_HELP_FOOTER;

struct plugin_row {
	char *name;
	char *kind;
	char *path;
	char *description;
	uint32_t abi_version;
	uint64_t caps;
};

struct plugin_list {
	struct plugin_row *rows;
	size_t n;
	int oom;
};

static const struct {
	uint64_t bit;
	const char *word;
} cap_words[] = {
	{CKPTIO_STORE_CAP_WRITE, "write"},
	{CKPTIO_STORE_CAP_READ, "read"},
	{CKPTIO_STORE_CAP_RANGE, "range"},
	{CKPTIO_STORE_CAP_LIST, "list"},
	{CKPTIO_STORE_CAP_DELETE, "delete"},
	{CKPTIO_STORE_CAP_ATOMIC_PUT, "atomic-put"},
	{CKPTIO_STORE_CAP_IF_ABSENT, "if-absent"},
	{CKPTIO_STORE_CAP_COPY, "copy"},
};

#define NCAPS (sizeof(cap_words) / sizeof(cap_words[0]))

static void row_free(struct plugin_row *r)
{
	free(r->name);
	free(r->kind);
	free(r->path);
	free(r->description);
}

static char *dup_or_empty(const char *s)
{
	return strdup(s ? s : "");
}

/* ckptio_plugin_fn: copy what we print, since the table is sorted first. */
static int collect(void *user, const ckptio_plugin_info *info)
{
	struct plugin_list *l = user;
	struct plugin_row *rows, *r;

	rows = realloc(l->rows, (l->n + 1) * sizeof(*rows));
	if (!rows) {
		l->oom = 1;
		return 1;
	}
	l->rows = rows;
	r = &rows[l->n];
	r->name = dup_or_empty(info->name);
	r->kind = dup_or_empty(info->kind);
	r->path = dup_or_empty(info->path);
	r->description = dup_or_empty(info->description);
	r->abi_version = info->abi_version;
	r->caps = info->caps;
	l->n++;
	if (!r->name || !r->kind || !r->path || !r->description) {
		l->oom = 1;
		return 1;
	}
	return 0;
}

static int row_cmp(const void *a, const void *b)
{
	const struct plugin_row *x = a, *y = b;
	int c = strcmp(x->kind, y->kind);

	return c ? c : strcmp(x->name, y->name);
}

/* "write,read,..." or "-"; buf must hold every word. */
static void caps_text(char *buf, size_t len, uint64_t caps)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < NCAPS; i++) {
		if (!(caps & cap_words[i].bit))
			continue;
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
					off ? "," : "", cap_words[i].word);
		caps &= ~cap_words[i].bit;
	}
	if (caps)
		off += (size_t)snprintf(buf + off, len - off, "%s0x%llx",
					off ? "," : "",
					(unsigned long long)caps);
	if (!off)
		snprintf(buf, len, "-");
}

static void abi_text(char *buf, size_t len, uint32_t v)
{
	snprintf(buf, len, "%u.%u", (unsigned)(v >> 16), (unsigned)(v & 0xffff));
}

static size_t widest(size_t w, const char *s)
{
	return cli_name_width(s) > w ? cli_name_width(s) : w;
}

/* Plugins are trusted code, but their paths come from the environment
 * and their descriptions from the plugin: printed escaped. */
static void print_text(FILE *f, const struct plugin_list *l)
{
	size_t wname = 4, wkind = 4, wcaps = 4, wpath = 4;
	char caps[256], abi[24];

	for (size_t i = 0; i < l->n; i++) {
		const struct plugin_row *r = &l->rows[i];

		caps_text(caps, sizeof(caps), r->caps);
		wname = widest(wname, r->name);
		wkind = widest(wkind, r->kind);
		wcaps = widest(wcaps, caps);
		wpath = widest(wpath, r->path);
	}
	fprintf(f, "%-*s  %-*s  %-5s  %-*s  %-*s  %s\n", (int)wname, "NAME",
		(int)wkind, "KIND", "ABI", (int)wcaps, "CAPS", (int)wpath,
		"PATH", "DESCRIPTION");
	for (size_t i = 0; i < l->n; i++) {
		const struct plugin_row *r = &l->rows[i];

		caps_text(caps, sizeof(caps), r->caps);
		abi_text(abi, sizeof(abi), r->abi_version);
		cli_print_padded(f, r->name, wname);
		fputs("  ", f);
		cli_print_padded(f, r->kind, wkind);
		fprintf(f, "  %-5s  %-*s  ", abi, (int)wcaps, caps);
		cli_print_padded(f, r->path, wpath);
		fputs("  ", f);
		cli_print_name(f, r->description);
		fputc('\n', f);
	}
}

static void print_json_caps(FILE *f, uint64_t caps)
{
	int first = 1;

	fputc('[', f);
	for (size_t i = 0; i < NCAPS; i++) {
		if (!(caps & cap_words[i].bit))
			continue;
		fprintf(f, "%s\"%s\"", first ? "" : ", ", cap_words[i].word);
		first = 0;
	}
	fputc(']', f);
}

static void print_json(FILE *f, const struct plugin_list *l)
{
	char abi[24];

	fputs("{\"plugins\": [", f);
	for (size_t i = 0; i < l->n; i++) {
		const struct plugin_row *r = &l->rows[i];

		abi_text(abi, sizeof(abi), r->abi_version);
		fprintf(f, "%s\n  {\"name\": ", i ? "," : "");
		cli_json_str(f, r->name);
		fputs(", \"kind\": ", f);
		cli_json_str(f, r->kind);
		fprintf(f, ", \"abi_version\": \"%s\", \"caps\": ", abi);
		print_json_caps(f, r->caps);
		fputs(", \"path\": ", f);
		cli_json_str(f, r->path);
		fputs(", \"description\": ", f);
		cli_json_str(f, r->description);
		fputc('}', f);
	}
	fputs("\n]}\n", f);
}

int cmd_plugins(ckptio_ctx *ctx, const struct cli_global *g, int argc,
		char **argv)
{
	struct plugin_list l = {NULL, 0, 0};
	ckptio_status st;
	int help = 0, rc;
	FILE *out;

	rc = cli_parse_plain("plugins", argc, argv, 0, "no arguments", &help);
	if (rc != 0)
		return rc;
	if (help) {
		fputs(plugins_help, stdout);
		return CLI_EXIT_OK;
	}
	st = ckptio_plugins(ctx, collect, &l);
	if (st != CKPTIO_OK) {
		rc = cli_fail(g, ctx, "plugins", st);
	} else if (l.oom) {
		rc = cli_fail_msg(g, "plugins", CKPTIO_ENOMEM, "");
	} else {
		qsort(l.rows, l.n, sizeof(*l.rows), row_cmp);
		out = cli_out_begin();
		if (g->json)
			print_json(out, &l);
		else
			print_text(out, &l);
		if (cli_out_end(out, 1) != 0)
			rc = CLI_EXIT_FAIL;
	}
	for (size_t i = 0; i < l.n; i++)
		row_free(&l.rows[i]);
	free(l.rows);
	return rc;
}
