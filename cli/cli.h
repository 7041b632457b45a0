/*
 * cli.h - helpers shared by the subcommands of the `ckptio` command.
 *
 * The CLI uses the public API (<ckptio/ckptio.h>) only; it never looks
 * inside the library.  Every subcommand lives in its own cmd_NAME.c with
 * the signature of cmd_* below.  Output conventions:
 *  - results go to stdout (text, or one JSON document with --json);
 *  - errors go to stderr as "ckptio: COMMAND: <status text>: <detail>";
 *  - progress bars go to stderr, only when it is a terminal.
 */
#ifndef CKPTIO_CLI_H
#define CKPTIO_CLI_H

#include <stdint.h>
#include <stdio.h>

#include <ckptio/ckptio.h>

/* Exit codes, documented in `ckptio --help` and docs/cli.md. */
enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAIL = 1,      /* any other failure */
	CLI_EXIT_USAGE = 2,     /* bad command line */
	CLI_EXIT_NOTFOUND = 3,  /* CKPTIO_ENOTFOUND */
	CLI_EXIT_CORRUPT = 4,   /* CKPTIO_ECORRUPT, bench data mismatch */
	CLI_EXIT_CONFIG = 5,    /* CKPTIO_ECONFIG, CKPTIO_EPLUGIN */
	CLI_EXIT_EXIST = 6,     /* CKPTIO_EEXIST */
	CLI_EXIT_CANCELED = 130 /* CKPTIO_ECANCELED (Ctrl-C) */
};

/* Options given before the command; read-only for the subcommands. */
struct cli_global {
	const char *config; /* --config FILE, or NULL to search */
	int json;           /* --json: one JSON document on stdout */
	int quiet;          /* -q: no progress, no informational lines */
	int verbose;        /* -v: library log level debug */
};

/* The subcommands.  ctx is NULL when the arguments ask for --help (so
 * help works even with a broken configuration); a command must then print
 * its help before touching ctx.  argv[0] is "ckptio NAME" and getopt's
 * optind has been reset.  Each returns an exit code (enum cli_exit). */
int cmd_plugins(ckptio_ctx *ctx, const struct cli_global *g, int argc,
		char **argv);
int cmd_ls(ckptio_ctx *ctx, const struct cli_global *g, int argc, char **argv);
int cmd_cp(ckptio_ctx *ctx, const struct cli_global *g, int argc, char **argv);
int cmd_verify(ckptio_ctx *ctx, const struct cli_global *g, int argc,
	       char **argv);
int cmd_rm(ckptio_ctx *ctx, const struct cli_global *g, int argc, char **argv);
int cmd_bench(ckptio_ctx *ctx, const struct cli_global *g, int argc,
	      char **argv);
int cmd_config(ckptio_ctx *ctx, const struct cli_global *g, int argc,
	       char **argv);

/* ------------------------------------------------------------------------ */
/* Errors and exit codes (util.c).                                          */

#if defined(__GNUC__)
#define CLI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CLI_PRINTF(f, a)
#endif

/* Exit code for a library status. */
int cli_exit_code(ckptio_status st);

/* Report a failed library call: "ckptio: cmd: <strerror>: <detail>" on
 * stderr, where detail is ckptio_errmsg(ctx) (or ckptio_last_error() when
 * ctx is NULL); with --json also {"error": {...}} on stdout.  Returns the
 * exit code for st. */
int cli_fail(const struct cli_global *g, ckptio_ctx *ctx, const char *cmd,
	     ckptio_status st);
/* Same with a detail message supplied by the caller (may be ""). */
int cli_fail_msg(const struct cli_global *g, const char *cmd,
		 ckptio_status st, const char *detail);
/* cli_fail for commands with --overwrite: CKPTIO_EEXIST adds a hint. */
int cli_fail_exists(const struct cli_global *g, ckptio_ctx *ctx,
		    const char *cmd, ckptio_status st);

/* "ckptio: cmd: message" plus a hint to run --help, on stderr; returns
 * CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) CLI_PRINTF(2, 3);

/* After getopt_long returned c: '?' or ':' (getopt already printed why)
 * is a usage error, with a hint when the option is a global one given
 * after the command.  Returns 1 when c is an error. */
int cli_bad_option(const char *cmd, int c, char *const *argv);

/* Exact positional argument count check; prints a usage error. */
int cli_want_args(const char *cmd, int have, int want, const char *what);

/* The options of a command that has none but -h/--help, and nargs
 * positional arguments (what: "LOC", "no arguments"): 0, with *help set
 * for --help, or CLI_EXIT_USAGE after printing why. */
int cli_parse_plain(const char *cmd, int argc, char **argv, int nargs,
		    const char *what, int *help);

/* Text of the exit-code table printed by `ckptio --help`. */
extern const char cli_exit_codes_help[];

/* Last lines of every subcommand's --help. */
#define CLI_HELP_FOOTER \
	"\nGlobal options (--config, --json, -q, -v) go before the command;\n" \
	"see 'ckptio --help' for them and for the exit codes.\n"

/* ------------------------------------------------------------------------ */
/* Numbers and text (util.c).                                               */

/* Parse a decimal unsigned integer in [min, max]. */
int cli_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Parse a duration "90", "90s", "15m", "1h", "2d", "1w" into seconds.
 * Returns 0, or -1 on a bad value or overflow. */
int cli_parse_duration(const char *s, uint64_t *out);

/* "1.50 GiB", "512 B"; buf of at least 32 bytes. */
void cli_format_bytes(char *buf, size_t len, uint64_t n);

/* Monotonic clock in seconds. */
double cli_now(void);

/* The one rule for text that the CLI did not write itself (item names,
 * checkpoint ids, layouts, object keys, paths, plugin descriptions,
 * configuration values, error details, log lines): it reaches stdout or
 * stderr only through these, so that a checkpoint cannot send escape
 * sequences to the terminal, nor break line-oriented output.  Valid
 * UTF-8 prints as it is, except control characters (C0, DEL and the C1
 * code points U+0080..U+009F), which print as \xNN per byte, as does every
 * byte that is not valid UTF-8; a backslash prints as \\, so the result
 * is unambiguous.  NULL prints nothing.
 *
 * cli_print_name: one line (a newline is escaped too).
 * cli_print_lines: the same, but newlines stay (multi-line text).
 * cli_name_width: the columns cli_print_name takes (one per character).
 * cli_print_padded: cli_print_name, then spaces up to width columns. */
void cli_print_name(FILE *f, const char *s);
void cli_print_lines(FILE *f, const char *s);
size_t cli_name_width(const char *s);
void cli_print_padded(FILE *f, const char *s, size_t width);

/* ------------------------------------------------------------------------ */
/* JSON output (util.c).  A tiny writer: the CLI does not link jansson.     */

/* s as a JSON string literal with quotes; NULL becomes null.  Control
 * characters (C0, DEL, C1) are written as \u00XX, so the document shows
 * safely on a terminal; bytes that are not valid UTF-8 are written as
 * U+FFFD (JSON strings cannot hold them) so the output always parses. */
void cli_json_str(FILE *f, const char *s);
/* A JSON number for a double; non-finite values become null. */
void cli_json_double(FILE *f, double v);

/* ------------------------------------------------------------------------ */
/* Buffered output: a command writes its result to cli_out_begin()'s
 * stream and calls cli_out_end(ok) so that stdout receives either the
 * whole document or nothing (errors are then the only JSON document). */
FILE *cli_out_begin(void);
/* Flush to stdout when ok, discard otherwise; returns 0, or -1 when
 * writing stdout failed (reported on stderr). */
int cli_out_end(FILE *f, int ok);

/* ------------------------------------------------------------------------ */
/* Progress bar and Ctrl-C (util.c).                                       */

struct cli_progress {
	const char *label; /* "save", "load", "copy", "verify" */
	int draw;          /* stderr is a terminal and not -q / --json */
	double start;
	double last_draw;
	uint64_t done;
	uint64_t total;
	int drawn;         /* a partial line is on the screen */
};

/* Prepare p for one operation (the start time is taken now). */
void cli_progress_init(struct cli_progress *p, const struct cli_global *g,
		       const char *label);
/* ckptio_progress_fn: user is a struct cli_progress.  Draws at most 10
 * times a second and returns nonzero after a first Ctrl-C (cancel). */
int cli_progress_cb(void *user, uint64_t done, uint64_t total);
/* Draw the final state and end the line (if anything was drawn). */
void cli_progress_end(struct cli_progress *p, int ok);
/* Fill opts' progress fields with p. */
void cli_progress_attach(struct cli_progress *p, ckptio_opts *opts);

/* SIGINT: the first Ctrl-C asks for cancellation (the progress callback
 * then returns nonzero); a second one kills the process as usual. */
void cli_sigint_catch(void);
void cli_sigint_release(void);
int cli_interrupted(void);

/* Library log lines to stderr ("ckptio: warning: ..."), clearing a
 * progress bar first; user is unused. */
void cli_log(void *user, ckptio_log_level level, const char *msg);

#endif /* CKPTIO_CLI_H */
