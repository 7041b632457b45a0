/*
 * config.c - the INI configuration file (DESIGN.md section 6).
 *
 * Parsing is shared between Debian's libinih (r55) and a reader callback
 * of ours.  That libinih build has no line numbers in its handler
 * (INI_HANDLER_LINENO=0), a 200-byte line buffer, a 50-byte section
 * buffer, multi-line continuations (an indented line continues the value
 * above) and ';'-only inline comments.  So the reader, fed one line per
 * call:
 *  - counts lines, so that every message can name file:line;
 *  - accepts lines up to MAX_LINE bytes: a key line too long for libinih
 *    is passed as a short stand-in, and the handler takes the key and the
 *    value the reader split off;
 *  - strips " #" and " ;" comments and leading blanks (an indented key
 *    must not become a continuation of the previous value);
 *  - handles [section] headers itself: libinih would truncate their names
 *    and never report a section without keys.
 * libinih still decides what is a syntax error and calls the handler for
 * every "key = value".  Checks that need the whole file (a backend without
 * `store`, `default` naming no backend) run after the parse.
 *
 * This file depends on libc and libinih only, so its tests can build it
 * alone.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* asprintf, memmem, open_memstream, strcasestr */
#endif
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#ifndef CKPTIO_SYSCONFDIR
#define CKPTIO_SYSCONFDIR "/etc"
#endif

#define MAX_LINE 4096    /* bytes in a line, without its newline */
#define MAX_NAME 64      /* bytes in a backend or plugin name */
#define MAX_THREADS 256

#define PLUGIN_CHARS "abcdefghijklmnopqrstuvwxyz0123456789_"
#define BACKEND_CHARS PLUGIN_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZ.-"
#define REF_HELP "write ${NAME}, ${NAME:-default}, or $$ for a '$'"

const char *const ckptio__backend_core_keys[] = {"store", "layout", "root",
						 "threads", NULL};
static const char *const main_keys[] = {"default", "plugin_path", "log_level",
					"threads", NULL};
static const char *const log_levels[] = {"error", "warn", "info", "debug",
					 NULL};

typedef struct parser {
	FILE *f;
	const char *file;
	ckptio__config *cfg;
	int line;             /* lines read so far: the current line */
	char raw[MAX_LINE + 1];
	char *text;           /* raw without blanks at the ends or comments */
	int stand_in;         /* libinih got a stand-in: use key and value */
	const char *key, *value;
	ckptio_status st;     /* first error; the parse stops there */
	int err_line;
	char *err;
	size_t errlen;
} parser;

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	CKPTIO__PRINTF(3, 4);
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int in_list_nocase(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (strcasecmp(*list, s) == 0)
			return 1;
	return 0;
}

/* s[0..len) is 1..MAX_NAME characters out of chars. */
static int valid_name(const char *s, size_t len, const char *chars)
{
	return len >= 1 && len <= MAX_NAME && strspn(s, chars) >= len;
}

/* Record the first error of the parse as "file:line: [key: ]problem";
 * returns -1 for the caller to pass on. */
static int fail(parser *p, ckptio_status st, const char *key,
		const char *fmt, ...) CKPTIO__PRINTF(4, 5);
static int fail(parser *p, ckptio_status st, const char *key,
		const char *fmt, ...)
{
	char problem[CKPTIO__ERRMSG];
	va_list ap;

	if (p->st != CKPTIO_OK)
		return -1;
	va_start(ap, fmt);
	vsnprintf(problem, sizeof(problem), fmt, ap);
	va_end(ap);
	if (key)
		set_err(p->err, p->errlen, "%s:%d: %s: %s", p->file, p->line,
			key, problem);
	else
		set_err(p->err, p->errlen, "%s:%d: %s", p->file, p->line,
			problem);
	p->st = st;
	p->err_line = p->line;
	return -1;
}

static int oom(parser *p)
{
	return fail(p, CKPTIO_ENOMEM, NULL, "out of memory");
}

static ckptio__section *current_section(parser *p)
{
	ckptio__config *cfg = p->cfg;

	/* Sections are only ever appended, and the parse stops at the first
	 * bad header, so the last one is the one being filled. */
	return cfg->nsections ? &cfg->sections[cfg->nsections - 1] : NULL;
}

static ckptio__section *find_section(const ckptio__config *cfg,
				     ckptio__section_kind kind,
				     const char *name)
{
	for (size_t i = 0; cfg && name && i < cfg->nsections; i++)
		if (cfg->sections[i].kind == kind &&
		    strcmp(cfg->sections[i].name, name) == 0)
			return &cfg->sections[i];
	return NULL;
}

static const char *kind_word(ckptio__section_kind kind)
{
	return kind == CKPTIO__SEC_BACKEND ? "backend" : "store";
}

/* ------------------------------------------------------------------------ */
/* Section headers                                                          */

/* Split hdr ("backend \"x\"") into kind and name; the name is a pointer
 * into hdr, terminated in place. */
static int parse_header(parser *p, char *hdr, ckptio__section_kind *kind,
			char **name)
{
	const char *chars = BACKEND_CHARS, *what = "backend name";
	const char *shown = "A-Z a-z 0-9 _ . -";
	size_t word, len;
	char *q;

	if (strcmp(hdr, "ckptio") == 0) {
		*kind = CKPTIO__SEC_MAIN;
		*name = hdr;
		return 0;
	}
	word = strcspn(hdr, " \t");
	if (word == 7 && strncmp(hdr, "backend", 7) == 0) {
		*kind = CKPTIO__SEC_BACKEND;
	} else if (word == 5 && strncmp(hdr, "store", 5) == 0) {
		*kind = CKPTIO__SEC_STORE;
		chars = PLUGIN_CHARS;
		shown = "a-z 0-9 _";
		what = "plugin name";
	} else {
		return fail(p, CKPTIO_ECONFIG, NULL, "unknown section [%s] "
			    "(expected [ckptio], [backend \"NAME\"] or "
			    "[store \"PLUGIN\"])", hdr);
	}
	q = hdr + word + strspn(hdr + word, " \t");
	len = strlen(q);
	if (q == hdr + word || len < 2 || q[0] != '"' || q[len - 1] != '"')
		return fail(p, CKPTIO_ECONFIG, NULL, "section [%s]: write the "
			    "name in double quotes: [%s \"NAME\"]", hdr,
			    kind_word(*kind));
	if (!valid_name(q + 1, len - 2, chars))
		return fail(p, CKPTIO_ECONFIG, NULL, "section [%s]: invalid %s "
			    "(1 to %d of %s)", hdr, what, MAX_NAME, shown);
	q[len - 1] = '\0';
	*name = q + 1;
	return 0;
}

static int add_section(parser *p, ckptio__section_kind kind, const char *name)
{
	ckptio__config *cfg = p->cfg;
	ckptio__section *v, *s;

	v = realloc(cfg->sections, (cfg->nsections + 1) * sizeof(*v));
	if (!v)
		return oom(p);
	cfg->sections = v;
	s = &v[cfg->nsections];
	memset(s, 0, sizeof(*s));
	s->name = strdup(name);
	if (!s->name)
		return oom(p);
	s->kind = kind;
	s->file = cfg->path;
	s->line = p->line;
	cfg->nsections++;
	return 0;
}

/* A "[...]" line; hdr is what lies between the brackets. */
static int open_section(parser *p, char *hdr)
{
	ckptio__section_kind kind = CKPTIO__SEC_MAIN;
	const ckptio__section *dup;
	char *name = NULL;
	size_t len = strlen(hdr);

	while (len > 0 && isblank((unsigned char)hdr[len - 1]))
		hdr[--len] = '\0';
	hdr += strspn(hdr, " \t");
	if (parse_header(p, hdr, &kind, &name) != 0)
		return -1;
	dup = find_section(p->cfg, kind, name);
	if (dup && kind == CKPTIO__SEC_MAIN)
		return fail(p, CKPTIO_ECONFIG, NULL, "section [ckptio] appears "
			    "twice (first on line %d)", dup->line);
	if (dup)
		return fail(p, CKPTIO_ECONFIG, NULL, "section [%s \"%s\"] "
			    "appears twice (first on line %d)",
			    kind_word(kind), name, dup->line);
	return add_section(p, kind, name);
}

/* ------------------------------------------------------------------------ */
/* ${VAR} expansion                                                         */

typedef struct ref {
	const char *name, *dflt; /* dflt NULL: no ":-" part */
	size_t nlen, dlen, len;  /* len: bytes of the whole reference */
} ref;

/* Parse "${NAME}" or "${NAME:-default}" at s; 0 when malformed.  The
 * default is taken as written, and may not hold another "${": nesting is
 * not supported, and silently taking "${B" literally would surprise. */
static int parse_ref(const char *s, ref *r)
{
	const char *q = s + 2, *end;

	if (!isalpha((unsigned char)*q) && *q != '_')
		return 0;
	r->name = q;
	while (isalnum((unsigned char)*q) || *q == '_')
		q++;
	r->nlen = (size_t)(q - r->name);
	r->dflt = NULL;
	if (q[0] == ':' && q[1] == '-') {
		r->dflt = q + 2;
		end = strchr(r->dflt, '}');
		if (!end)
			return 0;
		r->dlen = (size_t)(end - r->dflt);
		if (memmem(r->dflt, r->dlen, "${", 2))
			return 0;
		q = end;
	}
	if (*q != '}')
		return 0;
	r->len = (size_t)(q + 1 - s);
	return 1;
}

/* The malformed reference at s, quoted in the message unless the key holds
 * a secret (part of the value would end up in a log). */
static int bad_ref(parser *p, const char *key, const char *s)
{
	size_t len = strcspn(s + 1, "}") + 1;

	if (s[len] == '}')
		len++;
	if (ckptio__is_secret_key(key, NULL))
		return fail(p, CKPTIO_ECONFIG, key, "malformed variable "
			    "reference (" REF_HELP ")");
	return fail(p, CKPTIO_ECONFIG, key, "malformed variable reference "
		    "'%.*s' (" REF_HELP ")", len > 64 ? 64 : (int)len, s);
}

/* Append the value of reference r to out.  An unset variable without a
 * default is remembered in *unset (the first one only) rather than failing:
 * the key may never be used. */
static void put_ref(FILE *out, const ref *r, const char **unset,
		    size_t *unset_len)
{
	char name[MAX_LINE + 1];
	const char *v;

	memcpy(name, r->name, r->nlen);
	name[r->nlen] = '\0';
	v = getenv(name);
	/* Like the shell, ":-" also replaces an empty value. */
	if (r->dflt && (!v || !*v))
		fwrite(r->dflt, 1, r->dlen, out);
	else if (v)
		fputs(v, out);
	else if (!*unset) {
		*unset = r->name;
		*unset_len = r->nlen;
	}
}

/* Expand in into *out (malloc'd), or set *out NULL and *unset to the
 * (malloc'd) name of an unset variable.  -1 on an error, recorded. */
static int expand(parser *p, const char *key, const char *in, char **out,
		  char **unset)
{
	const char *unset_name = NULL;
	size_t unset_len = 0, len;
	FILE *f = open_memstream(out, &len);
	ref r;

	*unset = NULL;
	if (!f)
		return oom(p);
	for (const char *s = in; *s;) {
		if (s[0] == '$' && s[1] == '$') {
			fputc('$', f);
			s += 2;
		} else if (s[0] == '$' && s[1] == '{') {
			if (!parse_ref(s, &r)) {
				fclose(f);
				free(*out);
				*out = NULL;
				return bad_ref(p, key, s);
			}
			put_ref(f, &r, &unset_name, &unset_len);
			s += r.len;
		} else {
			fputc(*s++, f);
		}
	}
	if (fclose(f) != 0) {
		/* A failed write leaves glibc's buffer allocated. */
		free(*out);
		*out = NULL;
		return oom(p);
	}
	if (!unset_name)
		return 0;
	free(*out);
	*out = NULL;
	*unset = strndup(unset_name, unset_len);
	return *unset ? 0 : oom(p);
}

/* ------------------------------------------------------------------------ */
/* Keys                                                                     */

/* Check the value of a key the core itself reads.  NULL values (an unset
 * variable) are checked by whoever reads them. */
static int check_core_value(parser *p, const ckptio__section *sec,
			    const char *key, const char *v)
{
	uint64_t n;
	int main_sec = sec->kind == CKPTIO__SEC_MAIN;
	int backend = sec->kind == CKPTIO__SEC_BACKEND;

	if (!v || sec->kind == CKPTIO__SEC_STORE)
		return 0;
	if (strcmp(key, "threads") == 0 &&
	    (ckptio__parse_uint(v, &n) != 0 || n < 1 || n > MAX_THREADS))
		return fail(p, CKPTIO_ECONFIG, key, "'%s' is not a whole "
			    "number between 1 and %d", v, MAX_THREADS);
	if (main_sec && strcmp(key, "log_level") == 0 &&
	    !in_list_nocase(log_levels, v))
		return fail(p, CKPTIO_ECONFIG, key, "'%s' is not one of error, "
			    "warn, info, debug", v);
	if (main_sec && strcmp(key, "default") == 0 &&
	    !valid_name(v, strlen(v), BACKEND_CHARS))
		return fail(p, CKPTIO_ECONFIG, key, "'%s' is not a backend "
			    "name (1 to %d of A-Z a-z 0-9 _ . -)", v,
			    MAX_NAME);
	if (backend && (strcmp(key, "store") == 0 ||
			strcmp(key, "layout") == 0) &&
	    !valid_name(v, strlen(v), PLUGIN_CHARS))
		return fail(p, CKPTIO_ECONFIG, key, "'%s' is not a plugin name "
			    "(1 to %d of a-z 0-9 _)", v, MAX_NAME);
	return 0;
}

/* The key may appear in sec at all (plugin options come later). */
static int check_key(parser *p, const ckptio__section *sec, const char *key)
{
	const ckptio__opt *prev;

	if (!sec)
		return fail(p, CKPTIO_ECONFIG, key, "key outside of any "
			    "section");
	if (sec->kind == CKPTIO__SEC_MAIN && !ckptio__in_list(main_keys, key))
		return fail(p, CKPTIO_ECONFIG, key, "unknown key in [ckptio] "
			    "(known: default, plugin_path, log_level, "
			    "threads)");
	prev = ckptio__section_get(sec, key);
	if (prev)
		return fail(p, CKPTIO_ECONFIG, key, "set twice in this section "
			    "(first on line %d)", prev->line);
	return 0;
}

static int append_opt(parser *p, ckptio__section *sec, const char *key,
		      char *value, char *unset)
{
	ckptio__opt *v, *o;
	char *k = strdup(key);

	v = k ? realloc(sec->opts, (sec->nopts + 1) * sizeof(*v)) : NULL;
	if (!v) {
		free(k);
		free(value);
		free(unset);
		return oom(p);
	}
	sec->opts = v;
	o = &v[sec->nopts++];
	o->key = k;
	o->value = value;
	o->unset_var = unset;
	o->line = p->line;
	return 0;
}

/* The absolute directory of the config file named file; NULL when it
 * cannot be known (out of memory, or no current directory). */
static char *config_dir(const char *file)
{
	const char *slash = strrchr(file, '/');
	char *cwd, *dir = NULL;

	if (file[0] == '/')
		return strndup(file, slash == file ? 1 : (size_t)(slash - file));
	cwd = getcwd(NULL, 0);
	if (!cwd)
		return NULL;
	if (!slash)
		dir = strdup(cwd);
	else if (asprintf(&dir, "%s/%.*s", cwd, (int)(slash - file), file) < 0)
		dir = NULL;
	free(cwd);
	return dir;
}

/* plugin_path with every relative entry made absolute against the
 * directory of the file that names it, as git does for include.path:
 * what the current directory holds must never decide which code runs.
 * Done once, at load, so that a later chdir() changes nothing.  Empty
 * entries are dropped (an empty entry means the current directory to
 * ld.so; here it means nothing). */
static int resolve_plugin_path(parser *p, const char *key, char **value)
{
	char *dir = NULL, *out = NULL;
	const char *sep = "";
	size_t len;
	FILE *f;
	int err = 0;

	f = open_memstream(&out, &len);
	if (!f)
		return oom(p);
	for (const char *e = *value; e;) {
		const char *colon = strchr(e, ':');
		int n = colon ? (int)(colon - e) : (int)strlen(e);

		if (n > 0 && e[0] != '/' && !dir) {
			errno = 0;
			dir = config_dir(p->file);
			err = dir ? 0 : errno ? errno : ENOMEM;
		}
		if (err)
			break;
		if (n == 1 && e[0] == '.')
			fprintf(f, "%s%s", sep, dir);
		else if (n > 0 && e[0] != '/')
			fprintf(f, "%s%s/%.*s", sep, dir, n, e);
		else if (n > 0)
			fprintf(f, "%s%.*s", sep, n, e);
		if (n > 0)
			sep = ":";
		e = colon ? colon + 1 : NULL;
	}
	free(dir);
	if (fclose(f) != 0 || err == ENOMEM) {
		free(out);
		return oom(p);
	}
	if (err) {
		free(out);
		return fail(p, CKPTIO_ECONFIG, key, "cannot make the relative "
			    "directories of '%s' absolute: the directory of %s "
			    "is unknown (%s)", *value, p->file, strerror(err));
	}
	free(*value);
	*value = out;
	return 0;
}

static int add_opt(parser *p, const char *key, const char *raw_value)
{
	ckptio__section *sec = current_section(p);
	char *value, *unset;

	if (!*key)
		return fail(p, CKPTIO_ECONFIG, NULL, "missing key before "
			    "'='");
	if (check_key(p, sec, key) != 0 ||
	    expand(p, key, raw_value, &value, &unset) != 0)
		return -1;
	if (check_core_value(p, sec, key, value) != 0 ||
	    (value && sec->kind == CKPTIO__SEC_MAIN &&
	     strcmp(key, "plugin_path") == 0 &&
	     resolve_plugin_path(p, key, &value) != 0)) {
		free(value);
		free(unset);
		return -1;
	}
	return append_opt(p, sec, key, value, unset);
}

static int handler(void *user, const char *section, const char *key,
		   const char *value)
{
	parser *p = user;

	(void)section; /* truncated by libinih; the reader tracks sections */
	if (p->st != CKPTIO_OK)
		return 0; /* libinih's "handler failed" */
	if (p->stand_in) {
		key = p->key;
		value = p->value;
	}
	return add_opt(p, key, value) == 0;
}

/* ------------------------------------------------------------------------ */
/* The line reader                                                          */

/* Read the next line into p->raw, without its newline.  1 at the end of
 * the file, -1 on an error (recorded), else 0. */
static int read_line(parser *p)
{
	size_t n = 0;
	int c = getc(p->f);

	if (c != EOF)
		p->line++;
	for (; c != EOF && c != '\n'; c = getc(p->f)) {
		if (n == MAX_LINE)
			return fail(p, CKPTIO_ECONFIG, NULL, "line longer than "
				    "%d bytes", MAX_LINE);
		if (c == '\0')
			return fail(p, CKPTIO_ECONFIG, NULL, "NUL byte in the "
				    "line (not a text file?)");
		p->raw[n++] = (char)c;
	}
	if (ferror(p->f)) {
		set_err(p->err, p->errlen, "cannot read config file %s: %s",
			p->file, strerror(errno));
		p->st = CKPTIO_ECONFIG;
		p->err_line = p->line;
		return -1;
	}
	p->raw[n] = '\0';
	return c == EOF && n == 0 ? 1 : 0;
}

/* Point p->text at the line without a UTF-8 byte order mark, blanks at
 * either end and comments: a whole line starting with '#' or ';', or from
 * a '#' or ';' that follows a blank.  Values therefore cannot hold " #";
 * secrets that might should come from ${ENV}, which is not stripped. */
static void clean_line(parser *p)
{
	char *s = p->raw;
	size_t len;

	if (p->line == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3;
	s += strspn(s, " \t");
	if (*s == '#' || *s == ';')
		*s = '\0';
	for (size_t i = 1; s[0] && s[i]; i++)
		if ((s[i] == '#' || s[i] == ';') &&
		    isblank((unsigned char)s[i - 1])) {
			s[i] = '\0';
			break;
		}
	len = strlen(s);
	while (len > 0 && isspace((unsigned char)s[len - 1]))
		s[--len] = '\0';
	p->text = s;
}

/* Give libinih a key line that does not fit its buffer as "k=v", keeping
 * the real key and value for the handler.  A line without '=' or ':' goes
 * as "?", which libinih reports as a syntax error. */
static const char *stand_in(parser *p)
{
	char *t = p->text, *d = t + strcspn(t, "=:");
	char *end = d;

	if (!*d)
		return "?";
	while (end > t && isblank((unsigned char)end[-1]))
		end--;
	*end = '\0';
	p->key = t;
	p->value = d + 1 + strspn(d + 1, " \t");
	p->stand_in = 1;
	return "k=v";
}

/* What libinih gets for the current line: "" for a header (handled here)
 * or a comment, the line itself if it fits, else a stand-in. */
static const char *for_inih(parser *p, size_t num)
{
	char *t = p->text;
	size_t len = strlen(t);

	p->stand_in = 0;
	if (t[0] == '[' && len > 1 && t[len - 1] == ']') {
		t[len - 1] = '\0';
		return open_section(p, t + 1) == 0 ? "" : NULL;
	}
	if (t[0] == '[')
		return "["; /* unclosed header: libinih's syntax error */
	if (len + 2 <= num)
		return t;
	return stand_in(p);
}

static char *reader(char *str, int num, void *stream)
{
	parser *p = stream;
	const char *line;

	/* Stop at the first error: messages name the first problem only. */
	if (p->st != CKPTIO_OK || num < 8 || read_line(p) != 0)
		return NULL;
	clean_line(p);
	line = for_inih(p, (size_t)num);
	if (!line)
		return NULL;
	snprintf(str, (size_t)num, "%s\n", line);
	return str;
}

/* ------------------------------------------------------------------------ */
/* Loading                                                                  */

/* Checks that need the whole file. */
static void check_whole(parser *p)
{
	const ckptio__config *cfg = p->cfg;
	const ckptio__opt *d = ckptio__section_get(ckptio__config_main(cfg),
						   "default");

	for (size_t i = 0; i < cfg->nsections; i++) {
		const ckptio__section *s = &cfg->sections[i];

		if (s->kind == CKPTIO__SEC_BACKEND &&
		    !ckptio__section_get(s, "store")) {
			p->line = s->line;
			fail(p, CKPTIO_ECONFIG, NULL, "backend \"%s\" has no "
			     "'store' key", s->name);
			return;
		}
	}
	/* "local" is built in unless the file defines it (location.c). */
	if (d && d->value && strcmp(d->value, "local") != 0 &&
	    !ckptio__config_backend(cfg, d->value)) {
		p->line = d->line;
		fail(p, CKPTIO_ECONFIG, "default", "no backend \"%s\" is "
		     "defined in this file", d->value);
	}
}

/* Parse the open file f into cfg (whose path is set). */
static ckptio_status parse_file(FILE *f, ckptio__config *cfg, char *err,
				size_t errlen)
{
	parser *p = calloc(1, sizeof(*p)); /* 4 KiB: not on the stack */
	ckptio_status st;
	int rc;

	if (!p) {
		set_err(err, errlen, "out of memory");
		return CKPTIO_ENOMEM;
	}
	p->f = f;
	p->file = cfg->path;
	p->cfg = cfg;
	p->err = err;
	p->errlen = errlen;
	rc = ini_parse_stream(reader, p, handler, p);
	/* libinih returns the line of its first error, ours included. */
	if (rc > 0 && (p->st == CKPTIO_OK || rc < p->err_line)) {
		set_err(err, errlen, "%s:%d: syntax error", p->file, rc);
		p->st = CKPTIO_ECONFIG;
	} else if (rc < 0 && p->st == CKPTIO_OK) {
		set_err(err, errlen, "%s: out of memory", p->file);
		p->st = CKPTIO_ENOMEM;
	}
	if (p->st == CKPTIO_OK)
		check_whole(p);
	st = p->st;
	free(p);
	return st;
}

/* /dev/null (the tests' and CI's "no configuration") is the one file that
 * is not regular and still reads as a configuration: an empty one. */
static int is_dev_null(const struct stat *sb)
{
	struct stat null;

	return S_ISCHR(sb->st_mode) && stat("/dev/null", &null) == 0 &&
	       S_ISCHR(null.st_mode) && sb->st_rdev == null.st_rdev;
}

/* The configuration must be a regular file (links to one are fine): a FIFO
 * would block fopen until a writer came, a directory or a device like
 * /dev/zero would never make sense.  O_NONBLOCK lets the open return so
 * that fstat can tell. */
static ckptio_status load_file(ckptio__config *cfg, char *err, size_t errlen)
{
	int fd = open(cfg->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC), e;
	struct stat sb;
	FILE *f = NULL;
	ckptio_status st;

	if (fd >= 0 && fstat(fd, &sb) != 0) {
		e = errno;
		close(fd);
		fd = -1;
		errno = e;
	}
	if (fd >= 0 && !S_ISREG(sb.st_mode) && !is_dev_null(&sb)) {
		set_err(err, errlen, "config file %s is not a regular file (%s)",
			cfg->path,
			S_ISDIR(sb.st_mode)    ? "a directory"
			: S_ISFIFO(sb.st_mode) ? "a FIFO"
			: S_ISSOCK(sb.st_mode) ? "a socket"
			: S_ISCHR(sb.st_mode)  ? "a character device"
			: S_ISBLK(sb.st_mode)  ? "a block device"
					       : "of an unknown type");
		close(fd);
		return CKPTIO_ECONFIG;
	}
	/* Reads block again: the file is regular (or /dev/null). */
	if (fd >= 0 && fcntl(fd, F_SETFL, O_RDONLY) == 0)
		f = fdopen(fd, "r");
	if (!f) {
		e = errno;
		if (fd >= 0)
			close(fd);
		set_err(err, errlen, "cannot open config file %s: %s",
			cfg->path, strerror(e));
		return CKPTIO_ECONFIG;
	}
	st = parse_file(f, cfg, err, errlen);
	fclose(f);
	return st;
}

/* Take path (malloc'd) when a file is there: 1, or 0 after freeing it,
 * -1 for a NULL path (out of memory).  A file that exists but cannot be
 * read is then an error to report; one whose existence we cannot even
 * check (a private $HOME) is skipped, so that a daemon with a foreign
 * $HOME still runs. */
static int try_path(char *path, char **out)
{
	if (!path)
		return -1;
	if (access(path, F_OK) == 0) {
		*out = path;
		return 1;
	}
	free(path);
	return 0;
}

/* The file to read when none was named: *out NULL when there is none. */
static int search_path(char **out)
{
	const char *env = getenv("CKPTIO_CONFIG"), *home = getenv("HOME");
	char *path;
	int rc;

	*out = NULL;
	/* A file named by the variable must exist: no silent fallback. */
	if (env && *env)
		return (*out = strdup(env)) ? 0 : -1;
	if (home && *home) {
		if (asprintf(&path, "%s/.config/ckptio/ckptio.conf", home) < 0)
			return -1;
		rc = try_path(path, out);
		if (rc != 0)
			return rc < 0 ? -1 : 0;
	}
	rc = try_path(strdup(CKPTIO_SYSCONFDIR "/ckptio/ckptio.conf"), out);
	return rc < 0 ? -1 : 0;
}

ckptio_status ckptio__config_load(const char *path, ckptio__config **out,
				  char *err, size_t errlen)
{
	ckptio__config *cfg = calloc(1, sizeof(*cfg));
	ckptio_status st = CKPTIO_OK;
	int rc;

	*out = NULL;
	if (!cfg) {
		set_err(err, errlen, "out of memory");
		return CKPTIO_ENOMEM;
	}
	if (path) {
		cfg->path = strdup(path);
		rc = cfg->path ? 0 : -1;
	} else {
		rc = search_path(&cfg->path);
	}
	if (rc != 0) {
		set_err(err, errlen, "out of memory");
		st = CKPTIO_ENOMEM;
	} else if (cfg->path) {
		st = load_file(cfg, err, errlen);
	}
	if (st != CKPTIO_OK) {
		ckptio__config_free(cfg);
		return st;
	}
	*out = cfg;
	return CKPTIO_OK;
}

void ckptio__config_free(ckptio__config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->nsections; i++) {
		ckptio__section *s = &cfg->sections[i];

		for (size_t k = 0; k < s->nopts; k++) {
			free(s->opts[k].key);
			free(s->opts[k].value);
			free(s->opts[k].unset_var);
		}
		free(s->opts);
		free(s->name);
	}
	free(cfg->sections);
	free(cfg->path);
	free(cfg);
}

/* ------------------------------------------------------------------------ */
/* Lookups                                                                  */

const ckptio__section *ckptio__config_main(const ckptio__config *cfg)
{
	return find_section(cfg, CKPTIO__SEC_MAIN, "ckptio");
}

const ckptio__section *ckptio__config_backend(const ckptio__config *cfg,
					      const char *name)
{
	return find_section(cfg, CKPTIO__SEC_BACKEND, name);
}

const ckptio__section *ckptio__config_store(const ckptio__config *cfg,
					    const char *plugin)
{
	return find_section(cfg, CKPTIO__SEC_STORE, plugin);
}

const ckptio__opt *ckptio__section_get(const ckptio__section *sec,
				       const char *key)
{
	for (size_t i = 0; sec && key && i < sec->nopts; i++)
		if (strcmp(sec->opts[i].key, key) == 0)
			return &sec->opts[i];
	return NULL;
}

/* "a, b, c" into buf (cut short if it must be), "none" for no options. */
static void join_names(const char *const *names, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (; names && *names && len < size; names++)
		len += (size_t)snprintf(buf + len, size - len, "%s%s",
					len ? ", " : "", *names);
	if (len == 0)
		snprintf(buf, size, "none");
}

ckptio_status ckptio__config_check_plugin(const ckptio__section *sec,
					  const ckptio_plugin *plugin,
					  char *err, size_t errlen)
{
	char known[512];

	for (size_t i = 0; sec && i < sec->nopts; i++) {
		const ckptio__opt *o = &sec->opts[i];

		if ((sec->kind == CKPTIO__SEC_BACKEND &&
		     ckptio__in_list(ckptio__backend_core_keys, o->key)) ||
		    ckptio__in_list(plugin->options, o->key))
			continue;
		join_names(plugin->options, known, sizeof(known));
		set_err(err, errlen, "%s:%d: %s: unknown option for store '%s' "
			"(known: %s)", sec->file ? sec->file : "(config)",
			o->line, o->key, plugin->name, known);
		return CKPTIO_ECONFIG;
	}
	return CKPTIO_OK;
}

/* ------------------------------------------------------------------------ */
/* Value parsers                                                            */

int ckptio__parse_uint(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -1;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s) ||
		    __builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(*s - '0'), &v))
			return -1;
	*out = v;
	return 0;
}

/* The multiplier of a size suffix (any case): xB are powers of 1000, x,
 * xiB powers of 1024.  0 when unknown. */
static uint64_t size_unit(const char *suffix)
{
	static const struct {
		const char *name;
		uint64_t mult;
	} units[] = {
		{"", 1}, {"b", 1},
		{"k", 1ull << 10}, {"kib", 1ull << 10}, {"kb", 1000ull},
		{"m", 1ull << 20}, {"mib", 1ull << 20}, {"mb", 1000000ull},
		{"g", 1ull << 30}, {"gib", 1ull << 30}, {"gb", 1000000000ull},
		{"t", 1ull << 40}, {"tib", 1ull << 40},
		{"tb", 1000000000000ull},
	};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcasecmp(suffix, units[i].name) == 0)
			return units[i].mult;
	return 0;
}

/* floor(0.<digits> * mult), exactly: multiply the decimal digits by mult
 * from the right, as on paper; the carry out of the first digit is the
 * whole part.  Digits past the 64th cannot change the result (mult has at
 * most 40 factors of 2 and 12 of 10), so they are ignored. */
static uint64_t fraction_bytes(const char *digits, size_t n, uint64_t mult)
{
	uint64_t carry = 0;

	if (n > 64)
		n = 64;
	while (n-- > 0)
		carry = ((uint64_t)(digits[n] - '0') * mult + carry) / 10;
	return carry;
}

int ckptio__parse_size(const char *s, uint64_t *out)
{
	const char *frac = NULL;
	size_t nfrac = 0;
	uint64_t whole = 0, mult;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*s); s++)
		if (__builtin_mul_overflow(whole, 10, &whole) ||
		    __builtin_add_overflow(whole, (uint64_t)(*s - '0'), &whole))
			return -1;
	if (*s == '.') {
		frac = ++s;
		nfrac = strspn(s, "0123456789");
		if (nfrac == 0)
			return -1;
		s += nfrac;
	}
	s += strspn(s, " \t");
	mult = size_unit(s);
	if (mult == 0 || __builtin_mul_overflow(whole, mult, &whole) ||
	    __builtin_add_overflow(whole, fraction_bytes(frac, nfrac, mult),
				   &whole))
		return -1;
	*out = whole;
	return 0;
}

ckptio_status ckptio_parse_size(const char *s, uint64_t *out)
{
	uint64_t v;

	if (!out || ckptio__parse_size(s, &v) != 0)
		return CKPTIO_EINVAL;
	*out = v;
	return CKPTIO_OK;
}

int ckptio__parse_bool(const char *s, int *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1", NULL};
	static const char *const no[] = {"false", "no", "off", "0", NULL};

	if (!s)
		return -1;
	if (in_list_nocase(yes, s))
		*out = 1;
	else if (in_list_nocase(no, s))
		*out = 0;
	else
		return -1;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Secrets and the dump                                                     */

int ckptio__is_secret_key(const char *key, const ckptio_plugin *plugin)
{
	/* Names that hold secrets whatever the plugin says, so that a plugin
	 * forgetting secret_options cannot leak them.  Not "key": an
	 * access_key_id is an identifier, and listing it helps debugging. */
	static const char *const words[] = {"secret", "password", "token",
					    "passphrase", "authorization",
					    NULL};

	if (plugin && ckptio__in_list(plugin->secret_options, key))
		return 1;
	for (int i = 0; words[i]; i++)
		if (strcasestr(key, words[i]))
			return 1;
	return 0;
}

/* Whether the value of key in s may be printed.  The core's own keys
 * hold no secrets; a plugin option may be printed only when a loaded
 * plugin of the section declares it and none declares it secret: the
 * value of a key no plugin knows (a typo of session_token, say) is of
 * unknown nature, so it is not shown either. */
static int printable(const ckptio__section *s, const ckptio__dump_info *info,
		     const char *key)
{
	int known = 0;

	if (ckptio__is_secret_key(key, NULL))
		return 0;
	if (s->kind == CKPTIO__SEC_MAIN ||
	    (s->kind == CKPTIO__SEC_BACKEND &&
	     ckptio__in_list(ckptio__backend_core_keys, key)))
		return 1;
	if (!info || info->unloaded)
		return 0;
	for (int i = 0; i < 2; i++) {
		const ckptio_plugin *p = info->plugins[i];

		if (p && ckptio__in_list(p->secret_options, key))
			return 0;
		known |= p && ckptio__in_list(p->options, key);
	}
	return known;
}

static void dump_section(FILE *f, const ckptio__section *s,
			 const ckptio__dump_info *info)
{
	if (s->kind == CKPTIO__SEC_MAIN)
		fprintf(f, "\n[ckptio]\n");
	else
		fprintf(f, "\n[%s \"%s\"]\n", kind_word(s->kind), s->name);
	/* Say why values are hidden, so that no one hunts for a bug. */
	if (s->kind != CKPTIO__SEC_MAIN && info && info->unloaded)
		fprintf(f, "# plugin '%s' could not be loaded: the values of "
			"its options are redacted\n",
			*info->unloaded ? info->unloaded : "(unset)");
	for (size_t i = 0; i < s->nopts; i++) {
		const ckptio__opt *o = &s->opts[i];

		/* An unset variable's name reveals nothing, and tells the
		 * user what to export. */
		if (!o->value)
			fprintf(f, "%s = <unset: ${%s}>\n", o->key,
				o->unset_var);
		else if (!printable(s, info, o->key))
			fprintf(f, "%s = <redacted>\n", o->key);
		else
			fprintf(f, "%s = %s\n", o->key, o->value);
	}
}

char *ckptio__config_dump(const ckptio__config *cfg,
			  const ckptio__dump_info *info)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	if (cfg && cfg->path)
		fprintf(f, "# %s\n", cfg->path);
	else
		fprintf(f, "# no configuration file found\n");
	for (size_t i = 0; cfg && i < cfg->nsections; i++)
		dump_section(f, &cfg->sections[i], info ? &info[i] : NULL);
	/* A failed write leaves glibc's buffer allocated. */
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
