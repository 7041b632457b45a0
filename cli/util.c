/*
 * util.c - helpers shared by the ckptio subcommands: error reporting and
 * exit codes, size parsing, a tiny JSON writer, buffered output, the
 * progress bar and Ctrl-C handling.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* ------------------------------------------------------------------------ */
/* Errors and exit codes                                                    */

const char cli_exit_codes_help[] =
	"Exit codes:\n"
	"  0    success\n"
	"  1    other failure (I/O, network, permission, out of memory...)\n"
	"  2    usage error (unknown command or option, bad argument)\n"
	"  3    not found (checkpoint, object, item or backend)\n"
	"  4    corrupt: checksum mismatch, malformed data, bench mismatch\n"
	"  5    configuration or plugin error\n"
	"  6    checkpoint already exists (use --overwrite)\n"
	"  130  cancelled (Ctrl-C)\n";

int cli_exit_code(ckptio_status st)
{
	switch (st) {
	case CKPTIO_OK:
		return CLI_EXIT_OK;
	case CKPTIO_ENOTFOUND:
		return CLI_EXIT_NOTFOUND;
	case CKPTIO_ECORRUPT:
		return CLI_EXIT_CORRUPT;
	case CKPTIO_ECONFIG:
	case CKPTIO_EPLUGIN:
		return CLI_EXIT_CONFIG;
	case CKPTIO_EEXIST:
		return CLI_EXIT_EXIST;
	case CKPTIO_ECANCELED:
		return CLI_EXIT_CANCELED;
	default:
		return CLI_EXIT_FAIL;
	}
}

int cli_fail_msg(const struct cli_global *g, const char *cmd,
		 ckptio_status st, const char *detail)
{
	const char *what = ckptio_strerror(st);

	if (!detail)
		detail = "";
	fflush(stdout);
	/* The detail quotes names, ids and keys from checkpoints, stores
	 * and files: escaped, like everything else the CLI prints. */
	fprintf(stderr, "ckptio: %s: %s%s", cmd, what, *detail ? ": " : "");
	cli_print_name(stderr, detail);
	fputc('\n', stderr);
	if (g && g->json) {
		printf("{\"error\": {\"command\": ");
		cli_json_str(stdout, cmd);
		printf(", \"status\": ");
		cli_json_str(stdout, what);
		printf(", \"code\": %d, \"exit\": %d, \"message\": ", (int)st,
		       cli_exit_code(st));
		cli_json_str(stdout, detail);
		printf("}}\n");
		fflush(stdout);
	}
	return cli_exit_code(st);
}

int cli_fail(const struct cli_global *g, ckptio_ctx *ctx, const char *cmd,
	     ckptio_status st)
{
	return cli_fail_msg(g, cmd, st,
			    ctx ? ckptio_errmsg(ctx) : ckptio_last_error());
}

int cli_fail_exists(const struct cli_global *g, ckptio_ctx *ctx,
		    const char *cmd, ckptio_status st)
{
	int rc = cli_fail(g, ctx, cmd, st);

	if (st == CKPTIO_EEXIST)
		fprintf(stderr, "Use 'ckptio %s --overwrite' to replace it.\n",
			cmd);
	return rc;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "ckptio: %s: ", cmd);
	cli_print_name(stderr, msg); /* it may quote an argument */
	fprintf(stderr, "\nTry 'ckptio %s --help' for more information.\n",
		cmd);
	return CLI_EXIT_USAGE;
}

/* Global options, and how to write them before a command. */
static const struct {
	const char *name;
	const char *usage;
} global_opts[] = {
	{"--config", "--config FILE"}, {"--json", "--json"},
	{"--quiet", "--quiet"},        {"--verbose", "--verbose"},
	{"-q", "-q"},                  {"-v", "-v"},
};

static const char *global_opt_usage(const char *arg)
{
	for (size_t i = 0; i < sizeof(global_opts) / sizeof(global_opts[0]);
	     i++) {
		size_t n = strlen(global_opts[i].name);

		if (strncmp(arg, global_opts[i].name, n) == 0 &&
		    (arg[n] == '\0' || arg[n] == '='))
			return global_opts[i].usage;
	}
	return NULL;
}

int cli_bad_option(const char *cmd, int c, char *const *argv)
{
	const char *usage;

	if (c != '?' && c != ':')
		return 0;
	/* getopt_long has already said what was wrong; a global option
	 * after the command is the likely mistake. */
	usage = global_opt_usage(optind > 0 ? argv[optind - 1] : "");
	if (usage)
		fprintf(stderr, "ckptio: global options go before the command: "
				"ckptio %s %s ...\n", usage, cmd);
	fprintf(stderr, "Try 'ckptio %s --help' for more information.\n", cmd);
	return 1;
}

int cli_want_args(const char *cmd, int have, int want, const char *what)
{
	if (have < want) {
		cli_usage_error(cmd, "missing %s", what);
		return -1;
	}
	if (have > want) {
		cli_usage_error(cmd, "too many arguments (expected %s)", what);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Numbers and text                                                         */

int cli_parse_plain(const char *cmd, int argc, char **argv, int nargs,
		    const char *what, int *help)
{
	static const struct option opts[] = {
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c != 'h') {
			cli_bad_option(cmd, c, argv);
			return CLI_EXIT_USAGE;
		}
		*help = 1;
	}
	if (*help)
		return 0;
	if (cli_want_args(cmd, argc - optind, nargs, what) != 0)
		return CLI_EXIT_USAGE;
	return 0;
}

int cli_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int cli_parse_duration(const char *s, uint64_t *out)
{
	static const struct {
		const char *unit;
		uint64_t secs;
	} units[] = {{"", 1},	  {"s", 1},	 {"m", 60},	{"min", 60},
		     {"h", 3600}, {"d", 86400}, {"w", 604800}};
	uint64_t v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].unit) == 0) {
			if (__builtin_mul_overflow(v, units[i].secs, out))
				return -1;
			return 0;
		}
	return -1;
}

void cli_format_bytes(char *buf, size_t len, uint64_t n)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)n;
	unsigned u = 0;

	if (n < 1024) {
		snprintf(buf, len, "%" PRIu64 " B", n);
		return;
	}
	v /= 1024;
	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%.*f %s", v < 10 ? 2 : 1, v, units[u]);
}

double cli_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t utf8_len(const unsigned char *p);

/* Bytes at p that print as they are: a valid UTF-8 sequence that is not a
 * control character (C0, DEL, C1 U+0080..U+009F: the terminal would act
 * on them) nor a backslash (the escape character).  Returns their
 * number, or 0 when p[0] must be escaped. */
static size_t plain_len(const unsigned char *p)
{
	size_t n = utf8_len(p);

	if (n == 1 && (p[0] < 0x20 || p[0] == 0x7f || p[0] == '\\'))
		return 0;
	if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0)
		return 0;
	return n;
}

/* Print s escaped ("\\" and \xNN, byte by byte); a newline stays when
 * keep_nl. */
static void print_escaped(FILE *f, const char *s, int keep_nl)
{
	const unsigned char *p = (const unsigned char *)s;

	while (p && *p) {
		size_t n = plain_len(p);

		if (n > 0)
			fwrite(p, 1, n, f);
		else if (*p == '\\')
			fputs("\\\\", f);
		else if (*p == '\n' && keep_nl)
			fputc('\n', f);
		else
			fprintf(f, "\\x%02x", *p);
		p += n ? n : 1;
	}
}

void cli_print_name(FILE *f, const char *s)
{
	print_escaped(f, s, 0);
}

void cli_print_lines(FILE *f, const char *s)
{
	print_escaped(f, s, 1);
}

size_t cli_name_width(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t w = 0;

	/* A column per character (wide CJK characters take two; the CLI
	 * does not call setlocale, so it cannot know). */
	while (p && *p) {
		size_t n = plain_len(p);

		w += n ? 1 : *p == '\\' ? 2 : 4;
		p += n ? n : 1;
	}
	return w;
}

void cli_print_padded(FILE *f, const char *s, size_t width)
{
	size_t w = cli_name_width(s);

	cli_print_name(f, s);
	for (; w < width; w++)
		fputc(' ', f);
}

/* ------------------------------------------------------------------------ */
/* JSON                                                                     */

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when invalid
 * (overlong forms, surrogates and code points above U+10FFFF included). */
static size_t utf8_len(const unsigned char *p)
{
	uint32_t cp;
	size_t n;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

static void json_escape_byte(FILE *f, unsigned char c)
{
	switch (c) {
	case '"':
		fputs("\\\"", f);
		break;
	case '\\':
		fputs("\\\\", f);
		break;
	case '\n':
		fputs("\\n", f);
		break;
	case '\r':
		fputs("\\r", f);
		break;
	case '\t':
		fputs("\\t", f);
		break;
	default:
		if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
}

void cli_json_str(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (!s) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	while (*p) {
		size_t n = utf8_len(p);

		if (n == 0) {
			fputs("\\ufffd", f);
			p++;
		} else if (n == 1) {
			json_escape_byte(f, *p++);
		} else if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0) {
			/* C1 controls: valid JSON raw, but a terminal showing
			 * the document (jq, less) would act on them. */
			fprintf(f, "\\u%04x", p[1]);
			p += 2;
		} else {
			fwrite(p, 1, n, f);
			p += n;
		}
	}
	fputc('"', f);
}

void cli_json_double(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.6g", v);
	else
		fputs("null", f);
}

/* ------------------------------------------------------------------------ */
/* Buffered output                                                          */

static char *out_buf;
static size_t out_len;

FILE *cli_out_begin(void)
{
	FILE *f = open_memstream(&out_buf, &out_len);

	/* Without memory for a buffer, write straight through. */
	return f ? f : stdout;
}

int cli_out_end(FILE *f, int ok)
{
	int rc = 0;

	if (f != stdout) {
		fclose(f);
		if (ok && out_len)
			fwrite(out_buf, 1, out_len, stdout);
		free(out_buf);
		out_buf = NULL;
		out_len = 0;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "ckptio: writing output: %s\n",
			strerror(errno));
		rc = -1;
	}
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Progress bar                                                             */

/* stderr is shared by the bar (worker threads) and log lines (maybe other
 * worker threads): one lock, and the bar being drawn is known so that a
 * log line can clear it first. */
static pthread_mutex_t stderr_mu = PTHREAD_MUTEX_INITIALIZER;
static struct cli_progress *active_bar;

#define BAR_INTERVAL 0.1 /* seconds between redraws: 10 per second */

static unsigned term_columns(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 80;
}

void cli_progress_init(struct cli_progress *p, const struct cli_global *g,
		       const char *label)
{
	memset(p, 0, sizeof(*p));
	p->label = label;
	p->draw = !g->quiet && !g->json && isatty(STDERR_FILENO);
	p->start = cli_now();
	p->last_draw = -1;
	if (p->draw) {
		pthread_mutex_lock(&stderr_mu);
		active_bar = p;
		pthread_mutex_unlock(&stderr_mu);
	}
}

void cli_progress_attach(struct cli_progress *p, ckptio_opts *opts)
{
	opts->progress = cli_progress_cb;
	opts->progress_user = p;
}

static void format_eta(char *buf, size_t len, double secs)
{
	unsigned long s;

	if (!isfinite(secs) || secs < 0 || secs > 359999) {
		snprintf(buf, len, "--:--");
		return;
	}
	s = (unsigned long)(secs + 0.5);
	if (s >= 3600)
		snprintf(buf, len, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60,
			 s % 60);
	else
		snprintf(buf, len, "%lu:%02lu", s / 60, s % 60);
}

static void format_rate(char *buf, size_t len, double bytes_per_s)
{
	if (!isfinite(bytes_per_s) || bytes_per_s <= 0)
		snprintf(buf, len, "- MB/s");
	else if (bytes_per_s >= 1e9)
		snprintf(buf, len, "%.2f GB/s", bytes_per_s / 1e9);
	else
		snprintf(buf, len, "%.1f MB/s", bytes_per_s / 1e6);
}

/* Called with stderr_mu held. */
static void progress_draw(struct cli_progress *p, double now)
{
	char done[32], total[32], rate[32], eta[32], bar[64];
	double frac = p->total ? (double)p->done / (double)p->total : 0;
	double elapsed = now - p->start;
	double bps = elapsed > 0 ? (double)p->done / elapsed : 0;
	unsigned cols = term_columns(), width = 0;

	if (frac > 1)
		frac = 1;
	cli_format_bytes(done, sizeof(done), p->done);
	cli_format_bytes(total, sizeof(total), p->total);
	format_rate(rate, sizeof(rate), bps);
	format_eta(eta, sizeof(eta), bps > 0 && p->done < p->total
				     ? (double)(p->total - p->done) / bps
				     : p->done >= p->total ? 0 : -1);
	/* The text around the bar takes about 64 columns. */
	if (cols > 72)
		width = cols - 72 < sizeof(bar) - 1 ? cols - 72 : sizeof(bar) - 1;
	for (unsigned i = 0; i < width; i++)
		bar[i] = i < (unsigned)(frac * width + 0.5) ? '#' : '.';
	bar[width] = '\0';
	fprintf(stderr, "\r%-6s %s%s%s %3d%%  %s / %s  %s  ETA %s\033[K",
		p->label, width ? "[" : "", bar, width ? "]" : "",
		(int)(frac * 100), done, total, rate, eta);
	fflush(stderr);
	p->drawn = 1;
	p->last_draw = now;
}

int cli_progress_cb(void *user, uint64_t done, uint64_t total)
{
	struct cli_progress *p = user;
	double now;

	p->done = done;
	p->total = total;
	if (p->draw) {
		now = cli_now();
		pthread_mutex_lock(&stderr_mu);
		if (p->last_draw < 0 || now - p->last_draw >= BAR_INTERVAL)
			progress_draw(p, now);
		pthread_mutex_unlock(&stderr_mu);
	}
	return cli_interrupted();
}

void cli_progress_end(struct cli_progress *p, int ok)
{
	if (!p->draw)
		return;
	pthread_mutex_lock(&stderr_mu);
	if (ok && p->last_draw >= 0)
		progress_draw(p, cli_now());
	if (p->drawn)
		fputc('\n', stderr);
	p->drawn = 0;
	active_bar = NULL;
	pthread_mutex_unlock(&stderr_mu);
}

void cli_log(void *user, ckptio_log_level level, const char *msg)
{
	static const char *const names[] = {"error", "warning", "info",
					    "debug"};
	unsigned lvl = (unsigned)level;

	(void)user;
	pthread_mutex_lock(&stderr_mu);
	if (active_bar && active_bar->drawn) {
		fputs("\r\033[K", stderr);
		active_bar->drawn = 0;
	}
	fprintf(stderr, "ckptio: %s: ", lvl < 4 ? names[lvl] : "log");
	cli_print_name(stderr, msg);
	fputc('\n', stderr);
	pthread_mutex_unlock(&stderr_mu);
}

/* ------------------------------------------------------------------------ */
/* Ctrl-C                                                                   */

static volatile sig_atomic_t interrupted;
static struct sigaction old_sigint;
static int sigint_caught;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

void cli_sigint_catch(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	/* One-shot: a second Ctrl-C gets the default action and kills us
	 * even when the library does not call back. */
	sa.sa_flags = SA_RESTART | SA_RESETHAND;
	if (sigaction(SIGINT, &sa, &old_sigint) != 0)
		return;
	sigint_caught = 1;
	/* Started with Ctrl-C ignored (nohup, `cmd &` in a script): keep
	 * ignoring it. */
	if (old_sigint.sa_handler == SIG_IGN)
		cli_sigint_release();
}

void cli_sigint_release(void)
{
	if (sigint_caught)
		sigaction(SIGINT, &old_sigint, NULL);
	sigint_caught = 0;
}

int cli_interrupted(void)
{
	return interrupted != 0;
}
