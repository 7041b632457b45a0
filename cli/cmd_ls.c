/*
 * cmd_ls.c - `ckptio ls LOC`: describe the checkpoint at LOC, or, when LOC
 * is not a checkpoint, list the checkpoint ids under it.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char ls_help[] =
	"Usage: ckptio ls LOC\n"
	"\n"
	"When LOC is a complete checkpoint, print its layout, world size, item\n"
	"count and total bytes, then one line per item: name, kind, dtype,\n"
	"shape, bytes and number of saved chunks, and for layouts other than\n"
	"native (safetensors) the file holding it.  Otherwise list the ids of\n"
	"the committed checkpoints under LOC, one per line (exit 3 when there\n"
	"is none).\n"
	"\n"
	"Options:\n"
	"  -h, --help  show this help\n"
	"\n"
	"Examples:\n"
	"  ckptio ls /data/ckpt/step-100\n"
	"  ckptio --json ls s3://bucket/runs/\n"
	CLI_HELP_FOOTER;

/* Room for CKPTIO_MAX_NDIM extents of up to 20 digits and separators. */
#define SHAPE_MAX (CKPTIO_MAX_NDIM * 22 + 3)

static void shape_text(char *buf, size_t len, const ckptio_item_info *it)
{
	size_t off;

	if (it->kind != CKPTIO_ITEM_TENSOR) {
		snprintf(buf, len, "-");
		return;
	}
	off = (size_t)snprintf(buf, len, "[");
	for (unsigned d = 0; d < it->ndim && off < len; d++)
		off += (size_t)snprintf(buf + off, len - off, "%s%" PRIu64,
					d ? ", " : "", it->shape[d]);
	if (off < len)
		snprintf(buf + off, len - off, "]");
}

static const char *kind_text(ckptio_item_kind kind)
{
	return kind == CKPTIO_ITEM_TENSOR ? "tensor" : "bytes";
}

static const char *dtype_text(const ckptio_item_info *it)
{
	const char *name = ckptio_dtype_name(it->dtype);

	return it->kind == CKPTIO_ITEM_TENSOR && name ? name : "-";
}

static ckptio_status item_at(const ckptio_ckpt *ck, size_t i,
			     ckptio_item_info *it)
{
	memset(it, 0, sizeof(*it));
	it->struct_size = sizeof(*it);
	return ckptio_ckpt_item(ck, i, it);
}

/* ---------------------------------------------------------------- text */

struct widths {
	size_t name, shape, bytes, file;
};

/* Layouts other than native keep items in files a user knows by name
 * (safetensors shards): ls shows the file of each item. */
static int show_files(const ckptio_ckpt *ck)
{
	return strcmp(ckptio_ckpt_layout(ck), "native") != 0;
}

static const char *file_text(const ckptio_item_info *it)
{
	return it->object ? it->object : "-";
}

static ckptio_status measure(const ckptio_ckpt *ck, struct widths *w)
{
	char shape[SHAPE_MAX], bytes[24];
	ckptio_item_info it;
	ckptio_status st;

	w->name = 4;
	w->shape = 5;
	w->bytes = 5;
	w->file = 4;
	for (size_t i = 0; i < ckptio_ckpt_count(ck); i++) {
		st = item_at(ck, i, &it);
		if (st != CKPTIO_OK)
			return st;
		shape_text(shape, sizeof(shape), &it);
		snprintf(bytes, sizeof(bytes), "%" PRIu64, it.nbytes);
		if (cli_name_width(it.name) > w->name)
			w->name = cli_name_width(it.name);
		if (strlen(shape) > w->shape)
			w->shape = strlen(shape);
		if (strlen(bytes) > w->bytes)
			w->bytes = strlen(bytes);
		if (cli_name_width(file_text(&it)) > w->file)
			w->file = cli_name_width(file_text(&it));
	}
	return CKPTIO_OK;
}

/* The debris of failed saves beside the checkpoint, and how to remove it
 * (quiet when there is none or the store cannot list). */
static void debris_text(FILE *f, const char *loc, const ckptio_rm_report *r)
{
	char human[32];

	if (!r || r->debris == 0)
		return;
	cli_format_bytes(human, sizeof(human), r->debris_bytes);
	fprintf(f, "debris:   %" PRIu64 " objects (%s) of failed saves; "
		   "`ckptio rm --gc ",
		r->debris, human);
	cli_print_name(f, loc);
	fputs("` removes them\n", f);
}

static ckptio_status ckpt_text(FILE *f, const char *loc, const ckptio_ckpt *ck,
			       const ckptio_rm_report *debris)
{
	char shape[SHAPE_MAX], human[32];
	ckptio_item_info it;
	struct widths w;
	ckptio_status st;

	st = measure(ck, &w);
	if (st != CKPTIO_OK)
		return st;
	cli_format_bytes(human, sizeof(human), ckptio_ckpt_nbytes(ck));
	fputs("location: ", f);
	cli_print_name(f, loc);
	fputs("\nlayout:   ", f);
	cli_print_name(f, ckptio_ckpt_layout(ck));
	fprintf(f, "\nworld:    %d\nitems:    %zu\nbytes:    %" PRIu64
		   " (%s)\n",
		ckptio_ckpt_world(ck), ckptio_ckpt_count(ck),
		ckptio_ckpt_nbytes(ck), human);
	debris_text(f, loc, debris);
	fputc('\n', f);
	fprintf(f, "%-*s  %-6s  %-11s  %-*s  %*s  %s%s\n", (int)w.name, "NAME",
		"KIND", "DTYPE", (int)w.shape, "SHAPE", (int)w.bytes, "BYTES",
		"CHUNKS", show_files(ck) ? "  FILE" : "");
	for (size_t i = 0; i < ckptio_ckpt_count(ck); i++) {
		st = item_at(ck, i, &it);
		if (st != CKPTIO_OK)
			return st;
		shape_text(shape, sizeof(shape), &it);
		cli_print_padded(f, it.name, w.name);
		fprintf(f, "  %-6s  %-11s  %-*s  %*" PRIu64 "  %-*zu",
			kind_text(it.kind), dtype_text(&it), (int)w.shape,
			shape, (int)w.bytes, it.nbytes, show_files(ck) ? 6 : 0,
			it.nchunks);
		if (show_files(ck)) {
			fputs("  ", f);
			cli_print_name(f, file_text(&it));
		}
		fputc('\n', f);
	}
	return CKPTIO_OK;
}

/* ---------------------------------------------------------------- JSON */

static void item_json(FILE *f, const ckptio_item_info *it, int file)
{
	fputs("{\"name\": ", f);
	cli_json_str(f, it->name);
	fprintf(f, ", \"kind\": \"%s\", \"dtype\": ", kind_text(it->kind));
	if (it->kind == CKPTIO_ITEM_TENSOR) {
		cli_json_str(f, ckptio_dtype_name(it->dtype));
		fputs(", \"shape\": [", f);
		for (unsigned d = 0; d < it->ndim; d++)
			fprintf(f, "%s%" PRIu64, d ? ", " : "", it->shape[d]);
		fputc(']', f);
	} else {
		fputs("null, \"shape\": null", f);
	}
	fprintf(f, ", \"bytes\": %" PRIu64 ", \"chunks\": %zu", it->nbytes,
		it->nchunks);
	if (file) {
		fputs(", \"file\": ", f);
		cli_json_str(f, it->object);
	}
	fputc('}', f);
}

static ckptio_status ckpt_json(FILE *f, const char *loc, const ckptio_ckpt *ck,
			       const ckptio_rm_report *debris)
{
	ckptio_item_info it;
	ckptio_status st;

	fputs("{\"location\": ", f);
	cli_json_str(f, loc);
	fputs(", \"checkpoint\": true, \"layout\": ", f);
	cli_json_str(f, ckptio_ckpt_layout(ck));
	fprintf(f, ", \"world\": %d, \"item_count\": %zu, \"bytes\": %" PRIu64,
		ckptio_ckpt_world(ck), ckptio_ckpt_count(ck),
		ckptio_ckpt_nbytes(ck));
	if (debris)
		fprintf(f, ", \"debris\": {\"objects\": %" PRIu64
			   ", \"bytes\": %" PRIu64 "}",
			debris->debris, debris->debris_bytes);
	fputs(", \"items\": [", f);
	for (size_t i = 0; i < ckptio_ckpt_count(ck); i++) {
		st = item_at(ck, i, &it);
		if (st != CKPTIO_OK)
			return st;
		fputs(i ? ",\n  " : "\n  ", f);
		item_json(f, &it, show_files(ck));
	}
	fputs("\n]}\n", f);
	return CKPTIO_OK;
}

/* ------------------------------------------------------------- listing */

struct listing {
	FILE *out;
	int json;
	size_t n;
};

static int list_one(void *user, const char *id)
{
	struct listing *l = user;

	if (l->json) {
		fputs(l->n ? ",\n  " : "\n  ", l->out);
		cli_json_str(l->out, id);
	} else {
		cli_print_name(l->out, id);
		fputc('\n', l->out);
	}
	l->n++;
	return 0;
}

/* Append to msg what a failed save left directly in LOC, if anything. */
static void debris_hint(ckptio_ctx *ctx, const char *loc, char *msg,
			size_t len)
{
	ckptio_rm_report rep = {.struct_size = sizeof(rep)};
	ckptio_rm_opts o = CKPTIO_RM_OPTS_INIT;
	size_t used = strlen(msg);
	char human[32];

	o.flags = CKPTIO_RM_GC_ONLY | CKPTIO_RM_DRY_RUN;
	o.report = &rep;
	if (ckptio_remove_ex(ctx, loc, &o) != CKPTIO_OK || rep.debris == 0 ||
	    used >= len)
		return;
	cli_format_bytes(human, sizeof(human), rep.debris_bytes);
	snprintf(msg + used, len - used,
		 "; %" PRIu64 " objects (%s) of failed saves are there: "
		 "`ckptio rm --gc` removes them",
		 rep.debris, human);
}

/* LOC is not a checkpoint (open said ENOTFOUND with message open_msg):
 * list what is under it. */
static int ls_list(ckptio_ctx *ctx, const struct cli_global *g,
		   const char *loc, const char *open_msg)
{
	struct listing l = {cli_out_begin(), g->json, 0};
	ckptio_status st;
	char msg[512];

	if (l.json) {
		fputs("{\"location\": ", l.out);
		cli_json_str(l.out, loc);
		fputs(", \"checkpoint\": false, \"checkpoints\": [", l.out);
	}
	st = ckptio_list(ctx, loc, list_one, &l);
	if (l.json)
		fputs(l.n ? "\n]}\n" : "]}\n", l.out);
	if (st == CKPTIO_OK && l.n > 0)
		return cli_out_end(l.out, 1) ? CLI_EXIT_FAIL : CLI_EXIT_OK;
	cli_out_end(l.out, 0);
	if (st == CKPTIO_EUNSUPPORTED) /* a store that cannot list */
		return cli_fail_msg(g, "ls", CKPTIO_ENOTFOUND, open_msg);
	if (st != CKPTIO_OK)
		return cli_fail(g, ctx, "ls", st);
	snprintf(msg, sizeof(msg), "%s: no checkpoint there or under it", loc);
	debris_hint(ctx, loc, msg, sizeof(msg));
	return cli_fail_msg(g, "ls", CKPTIO_ENOTFOUND, msg);
}

static int ls_checkpoint(ckptio_ctx *ctx, const struct cli_global *g,
			 const char *loc, ckptio_ckpt *ck)
{
	ckptio_rm_report rep = {.struct_size = sizeof(rep)}, *debris = &rep;
	FILE *out;
	ckptio_status st;

	/* Debris is a hint: a store that cannot list just shows none. */
	if (ckptio_ckpt_debris(ck, 0, &rep) != CKPTIO_OK)
		debris = NULL;
	out = cli_out_begin();
	st = g->json ? ckpt_json(out, loc, ck, debris)
		     : ckpt_text(out, loc, ck, debris);
	if (cli_out_end(out, st == CKPTIO_OK) != 0)
		return CLI_EXIT_FAIL;
	if (st != CKPTIO_OK)
		return cli_fail(g, ctx, "ls", st);
	return CLI_EXIT_OK;
}

int cmd_ls(ckptio_ctx *ctx, const struct cli_global *g, int argc, char **argv)
{
	ckptio_ckpt *ck = NULL;
	ckptio_status st;
	const char *loc;
	char *open_msg;
	int help = 0, rc;

	rc = cli_parse_plain("ls", argc, argv, 1, "LOC", &help);
	if (rc != 0)
		return rc;
	if (help) {
		fputs(ls_help, stdout);
		return CLI_EXIT_OK;
	}
	loc = argv[optind];
	st = ckptio_open(ctx, loc, &ck);
	if (st == CKPTIO_OK) {
		rc = ls_checkpoint(ctx, g, loc, ck);
		ckptio_ckpt_close(ck);
		return rc;
	}
	if (st != CKPTIO_ENOTFOUND)
		return cli_fail(g, ctx, "ls", st);
	/* The next call overwrites ckptio_errmsg(ctx). */
	open_msg = strdup(ckptio_errmsg(ctx));
	rc = ls_list(ctx, g, loc, open_msg ? open_msg : "");
	free(open_msg);
	return rc;
}
