/*
 * awsconf.c - AWS credentials, region and endpoint from the environment
 * and the shared files (see awsconf.h).
 *
 * The files are INI as botocore reads them with Python's configparser:
 * "[section]" lines, "key = value" (or "key: value") lines, full-line '#'
 * and ';' comments, key names in any case, values kept as written after
 * trimming.  A sub-section is a key with an empty value ("s3 =") followed
 * by more indented "key = value" lines; any other line indented deeper
 * than the key above it would continue that key's value, which we reject
 * rather than guess.  A file is read whole (at most 1 MiB), split into
 * entries that point into the text, then queried.  Messages name the file
 * and line but never quote a line or a value, which may hold a secret.
 */
#ifndef _GNU_SOURCE
#define _DEFAULT_SOURCE /* getpwuid_r, strcasecmp, explicit_bzero */
#endif
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "awsconf.h"

#define MAX_FILE (1u << 20)
#define MAX_LINE (64u << 10)

static void wipe_free(char *s)
{
	if (s)
		explicit_bzero(s, strlen(s));
	free(s);
}

static void fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* The variable's value; unset and empty are both NULL. */
static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Strip blanks at both ends, in place. */
static char *trim(char *s)
{
	size_t n;

	while (is_blank(*s))
		s++;
	n = strlen(s);
	while (n && is_blank(s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* ------------------------------------------------------------------------ */
/* Reading a file                                                           */

/* One "key = value", sub-section "key = value" or "[section]" line; the
 * strings point into the file's text. */
typedef struct ini_ent {
	const char *sect; /* the header, trimmed: "profile ci" */
	const char *key;  /* NULL: the header line itself */
	const char *sub;  /* the nested key under key, or NULL */
	const char *value;
	int line;
} ini_ent;

typedef struct ini {
	const char *path;
	char *text;       /* NULL when the file does not exist */
	size_t len;       /* bytes of text: parsing puts NULs inside it */
	ini_ent *ent;
	size_t n, cap;
} ini;

static void ini_free(ini *f)
{
	if (f->text) /* every line: the parser split the text with NULs */
		explicit_bzero(f->text, f->len);
	free(f->text);
	free(f->ent);
	f->text = NULL;
	f->ent = NULL;
	f->n = f->cap = 0;
}

/* The line number of offset off in text. */
static int line_at(const char *text, size_t off)
{
	int line = 1;

	for (size_t i = 0; i < off; i++) {
		if (text[i] == '\n' ||
		    (text[i] == '\r' && text[i + 1] != '\n'))
			line++;
	}
	return line;
}

/* Read fd whole into f->text, NUL terminated, refusing more than MAX_FILE
 * bytes and NUL bytes.  hint: the expected size. */
static int read_all(int fd, ini *f, size_t hint, char *err, size_t errlen)
{
	size_t len = 0, cap = (hint < MAX_FILE ? hint : MAX_FILE) + 2;
	char *buf = malloc(cap), *nul;

	if (!buf)
		goto oom;
	for (;;) {
		ssize_t got;

		if (len + 1 == cap) { /* full, but for the NUL */
			size_t ncap = cap * 2 < MAX_FILE + 2 ? cap * 2
							     : MAX_FILE + 2;
			char *nb;

			if (cap == MAX_FILE + 2)
				break; /* MAX_FILE + 1 bytes: too big */
			/* Not realloc: a moved block would leave a copy of
			 * the secrets read so far in freed memory. */
			nb = malloc(ncap);
			if (!nb)
				goto oom;
			if (buf) {
				memcpy(nb, buf, len);
				explicit_bzero(buf, len);
				free(buf);
			}
			buf = nb;
			cap = ncap;
		}
		got = read(fd, buf + len, cap - 1 - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			fail(err, errlen, "%s: %s", f->path, strerror(errno));
			goto bad;
		}
		if (got == 0)
			break;
		len += (size_t)got;
	}
	buf[len] = '\0';
	if (len > MAX_FILE) {
		fail(err, errlen, "%s: larger than 1 MiB; not an AWS config "
		     "file?", f->path);
		goto bad;
	}
	nul = memchr(buf, '\0', len);
	if (nul) {
		fail(err, errlen, "%s:%d: NUL byte; not a text file?", f->path,
		     line_at(buf, (size_t)(nul - buf)));
		goto bad;
	}
	f->text = buf;
	f->len = len;
	return 0;
oom:
	fail(err, errlen, "%s: out of memory", f->path);
bad:
	if (buf)
		explicit_bzero(buf, len);
	free(buf);
	return -1;
}

/* f->text from f->path; a missing file leaves it NULL and is no error. */
static int ini_slurp(ini *f, char *err, size_t errlen)
{
	struct stat st;
	int fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOCTTY), rc;

	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		fail(err, errlen, "%s: %s", f->path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		fail(err, errlen, "%s: %s", f->path, strerror(errno));
		close(fd);
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		fail(err, errlen, "%s: is a directory, not a file", f->path);
		close(fd);
		return -1;
	}
	if (S_ISREG(st.st_mode) && st.st_size > (off_t)MAX_FILE) {
		fail(err, errlen, "%s: larger than 1 MiB; not an AWS config "
		     "file?", f->path);
		close(fd);
		return -1;
	}
	rc = read_all(fd, f, S_ISREG(st.st_mode) ? (size_t)st.st_size : 4096,
		      err, errlen);
	close(fd);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Parsing                                                                  */

/* Where the parser is: the section, and the last key with its indent. */
typedef struct pstate {
	const char *sect;
	const char *key;  /* NULL right after a header */
	size_t key_indent;
	int key_line;
	int key_empty;    /* "key =": a sub-section may follow */
} pstate;

static int add(ini *f, const char *sect, const char *key, const char *sub,
	       const char *value, int line, char *err, size_t errlen)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 32;
		ini_ent *ne = realloc(f->ent, cap * sizeof(*ne));

		if (!ne) {
			fail(err, errlen, "%s: out of memory", f->path);
			return -1;
		}
		f->ent = ne;
		f->cap = cap;
	}
	f->ent[f->n++] = (ini_ent){sect, key, sub, value, line};
	return 0;
}

/* "[name]", optionally followed by a comment. */
static int parse_header(ini *f, pstate *ps, char *s, int line, char *err,
			size_t errlen)
{
	char *end = strchr(s, ']'), *name;

	if (!end) {
		fail(err, errlen, "%s:%d: '[' without ']'", f->path, line);
		return -1;
	}
	*end++ = '\0';
	while (is_blank(*end))
		end++;
	if (*end && *end != '#' && *end != ';') {
		fail(err, errlen, "%s:%d: unexpected text after ']'", f->path,
		     line);
		return -1;
	}
	name = trim(s + 1);
	if (!*name) {
		fail(err, errlen, "%s:%d: empty section name '[]'", f->path,
		     line);
		return -1;
	}
	ps->sect = name;
	ps->key = NULL;
	return add(f, name, NULL, NULL, NULL, line, err, errlen);
}

/* A line indented deeper than the key above it. */
static int parse_nested(ini *f, pstate *ps, char *s, int line, char *err,
			size_t errlen)
{
	char *eq = strchr(s, '='), *k;

	if (!ps->key_empty) {
		fail(err, errlen, "%s:%d: indented line continues the value of "
		     "the key on line %d (multi-line values are not "
		     "supported; remove the indentation)", f->path, line,
		     ps->key_line);
		return -1;
	}
	if (!eq) {
		fail(err, errlen, "%s:%d: expected 'key = value' in the "
		     "sub-section of line %d", f->path, line, ps->key_line);
		return -1;
	}
	*eq = '\0';
	k = trim(s);
	if (!*k) {
		fail(err, errlen, "%s:%d: no key before '='", f->path, line);
		return -1;
	}
	return add(f, ps->sect, ps->key, k, trim(eq + 1), line, err, errlen);
}

/* "key = value" or "key: value" (the first '=' or ':' splits). */
static int parse_key(ini *f, pstate *ps, char *s, size_t indent, int line,
		     char *err, size_t errlen)
{
	size_t at = strcspn(s, "=:");
	char delim = s[at], *k, *v;

	if (!delim) {
		fail(err, errlen, "%s:%d: expected 'key = value' or "
		     "'[section]'", f->path, line);
		return -1;
	}
	s[at] = '\0';
	k = trim(s);
	v = trim(s + at + 1);
	if (!*k) {
		fail(err, errlen, "%s:%d: no key before '%c'", f->path, line,
		     delim);
		return -1;
	}
	if (!ps->sect) {
		fail(err, errlen, "%s:%d: 'key = value' before the first "
		     "'[section]'", f->path, line);
		return -1;
	}
	ps->key = k;
	ps->key_indent = indent;
	ps->key_line = line;
	ps->key_empty = !*v;
	return add(f, ps->sect, k, NULL, v, line, err, errlen);
}

static int parse_line(ini *f, pstate *ps, char *line, int lineno, char *err,
		      size_t errlen)
{
	size_t indent = strspn(line, " \t");
	char *s = trim(line);

	if (!*s || *s == '#' || *s == ';')
		return 0;
	if (ps->key && indent > ps->key_indent)
		return parse_nested(f, ps, s, lineno, err, errlen);
	if (*s == '[')
		return parse_header(f, ps, s, lineno, err, errlen);
	return parse_key(f, ps, s, indent, lineno, err, errlen);
}

/* Split f->text into lines ("\n", "\r\n" or "\r" end one) and parse. */
static int ini_parse(ini *f, char *err, size_t errlen)
{
	pstate ps = {0};
	char *p = f->text;
	int lineno = 0;

	if (strncmp(p, "\xef\xbb\xbf", 3) == 0) /* UTF-8 BOM */
		p += 3;
	while (p) {
		size_t len = strcspn(p, "\r\n");
		char *next = NULL;

		lineno++;
		if (len > MAX_LINE) {
			fail(err, errlen, "%s:%d: line longer than 64 KiB",
			     f->path, lineno);
			return -1;
		}
		if (p[len])
			next = p + len + (p[len] == '\r' && p[len + 1] == '\n'
					  ? 2 : 1);
		p[len] = '\0';
		if (parse_line(f, &ps, p, lineno, err, errlen) != 0)
			return -1;
		p = next;
	}
	return 0;
}

/* Read and parse path; a missing file is empty. */
static int ini_load(ini *f, const char *path, char *err, size_t errlen)
{
	memset(f, 0, sizeof(*f));
	f->path = path;
	if (ini_slurp(f, err, errlen) != 0)
		return -1;
	return f->text ? ini_parse(f, err, errlen) : 0;
}

/* ------------------------------------------------------------------------ */
/* Queries                                                                  */

/* Does header hdr name section name: kind NULL compares whole, else hdr
 * is "KIND NAME" with any blanks between and NAME maybe quoted. */
static int sect_is(const char *hdr, const char *kind, const char *name)
{
	size_t kl, nl;

	if (!kind)
		return strcmp(hdr, name) == 0;
	kl = strlen(kind);
	if (strncmp(hdr, kind, kl) != 0 || !is_blank(hdr[kl]))
		return 0;
	hdr += kl;
	while (is_blank(*hdr))
		hdr++;
	nl = strlen(hdr);
	if (nl >= 2 && (hdr[0] == '"' || hdr[0] == '\'') &&
	    hdr[nl - 1] == hdr[0])
		return nl - 2 == strlen(name) &&
		       strncmp(hdr + 1, name, nl - 2) == 0;
	return strcmp(hdr, name) == 0;
}

/* A section of a file: the credentials file's [NAME], the config file's
 * [profile NAME] (and [default] for default), [services NAME]. */
typedef struct where {
	const char *kind;
	const char *name;
	int also_default;
} where;

static int in(const ini_ent *e, const where *w)
{
	return sect_is(e->sect, w->kind, w->name) ||
	       (w->also_default && strcmp(e->sect, "default") == 0);
}

static int has_section(const ini *f, const where *w)
{
	for (size_t i = 0; i < f->n; i++)
		if (!f->ent[i].key && in(&f->ent[i], w))
			return 1;
	return 0;
}

/* The last non-empty value of key (any case) in the section, or of its
 * sub-section key when sub is not NULL (exact case, as botocore). */
static const ini_ent *get(const ini *f, const where *w, const char *key,
			  const char *sub)
{
	const ini_ent *found = NULL;

	for (size_t i = 0; i < f->n; i++) {
		const ini_ent *e = &f->ent[i];

		if (!e->key || !*e->value || !in(e, w) ||
		    strcasecmp(e->key, key) != 0)
			continue;
		if (sub ? e->sub && strcmp(e->sub, sub) == 0 : !e->sub)
			found = e;
	}
	return found;
}

/* ------------------------------------------------------------------------ */
/* Resolving                                                                */

typedef struct ctx {
	ini cred, conf;
	where cw, pw;     /* the profile in each file */
	char *cred_path, *conf_path;
	s3_aws_profile *out;
	char *err;
	size_t errlen;
} ctx;

/* A profile setting: the credentials file's [NAME] wins over the config
 * file's profile, as botocore merges them. */
static const ini_ent *setting(const ctx *c, const char *key,
			      const ini **from)
{
	const ini_ent *e = get(&c->cred, &c->cw, key, NULL);

	*from = &c->cred;
	if (!e) {
		e = get(&c->conf, &c->pw, key, NULL);
		*from = &c->conf;
	}
	return e;
}

static int keep(ctx *c, char **slot, const char *v)
{
	if (!v)
		return 0;
	*slot = strdup(v);
	if (*slot)
		return 0;
	fail(c->err, c->errlen, "out of memory");
	return -1;
}

static int keys_from_env(ctx *c)
{
	const char *ak = env("AWS_ACCESS_KEY_ID");
	const char *sk = env("AWS_SECRET_ACCESS_KEY");

	if (!ak || !sk) {
		fail(c->err, c->errlen, "%s is set but %s is not (set both or "
		     "neither)", ak ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
		     ak ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
		return -1;
	}
	snprintf(c->out->cred_source, sizeof(c->out->cred_source),
		 "environment (AWS_ACCESS_KEY_ID)");
	if (keep(c, &c->out->access_key, ak) != 0 ||
	    keep(c, &c->out->secret_key, sk) != 0 ||
	    keep(c, &c->out->session_token, env("AWS_SESSION_TOKEN")) != 0)
		return -1;
	return 0;
}

/* The keys of one file's section; 1 when it has none. */
static int keys_from(ctx *c, const ini *f, const where *w)
{
	const ini_ent *ak = get(f, w, "aws_access_key_id", NULL);
	const ini_ent *sk = get(f, w, "aws_secret_access_key", NULL);
	const ini_ent *tok = get(f, w, "aws_session_token", NULL);
	const ini_ent *one = ak ? ak : sk;

	if (!ak && !sk)
		return 1;
	if (!ak || !sk) {
		fail(c->err, c->errlen, "%s:%d: [%s] has %s but no %s", f->path,
		     one->line, one->sect, ak ? "aws_access_key_id"
					      : "aws_secret_access_key",
		     ak ? "aws_secret_access_key" : "aws_access_key_id");
		return -1;
	}
	snprintf(c->out->cred_source, sizeof(c->out->cred_source),
		 "%s [%s]", f->path, ak->sect);
	if (keep(c, &c->out->access_key, ak->value) != 0 ||
	    keep(c, &c->out->secret_key, sk->value) != 0 ||
	    keep(c, &c->out->session_token, tok ? tok->value : NULL) != 0)
		return -1;
	return 0;
}

static int keys_from_files(ctx *c)
{
	int rc = keys_from(c, &c->cred, &c->cw);

	if (rc == 1)
		rc = keys_from(c, &c->conf, &c->pw);
	return rc < 0 ? -1 : 0;
}

static int region(ctx *c)
{
	const ini *from;
	const ini_ent *e = setting(c, "region", &from);
	const char *v = env("AWS_REGION");

	if (!v)
		v = env("AWS_DEFAULT_REGION");
	if (!v && e)
		v = e->value;
	return keep(c, &c->out->region, v);
}

static int is_true(const char *v)
{
	return v && strcasecmp(v, "true") == 0;
}

/* The s3 endpoint_url of the profile's "services = NAME", or NULL. */
static int services_endpoint(ctx *c, const char **url)
{
	const ini *from;
	const ini_ent *e = setting(c, "services", &from);
	where sw = {"services", NULL, 0};

	*url = NULL;
	if (!e)
		return 0;
	sw.name = e->value;
	if (!has_section(&c->conf, &sw)) {
		fail(c->err, c->errlen, "%s:%d: services = %s, but %s has no "
		     "[services %s] section", from->path, e->line, e->value,
		     c->conf.path, e->value);
		return -1;
	}
	e = get(&c->conf, &sw, "s3", "endpoint_url");
	*url = e ? e->value : NULL;
	return 0;
}

static int endpoint(ctx *c)
{
	const ini *from;
	const ini_ent *ign = setting(c, "ignore_configured_endpoint_urls",
				     &from);
	const ini_ent *e;
	const char *v = env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");

	if (v ? is_true(v) : ign && is_true(ign->value))
		return 0;
	v = env("AWS_ENDPOINT_URL_S3");
	if (!v)
		v = env("AWS_ENDPOINT_URL");
	if (!v && services_endpoint(c, &v) != 0)
		return -1;
	if (!v && (e = setting(c, "endpoint_url", &from)))
		v = e->value;
	return keep(c, &c->out->endpoint_url, v);
}

/* ------------------------------------------------------------------------ */
/* Entry points                                                             */

/* $HOME, else the password database; NULL when neither says. */
static char *home_dir(void)
{
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (env("HOME"))
		return strdup(env("HOME"));
	if (getpwuid_r(getuid(), &pw, buf, sizeof(buf), &res) != 0 || !res ||
	    !res->pw_dir || !*res->pw_dir)
		return NULL;
	return strdup(res->pw_dir);
}

static char *join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *s = malloc(la + lb + 2);

	if (s) {
		memcpy(s, a, la);
		s[la] = '/';
		memcpy(s + la + 1, b, lb + 1);
	}
	return s;
}

/* $var with "~" and "~/" expanded, else HOME/def; NULL with *oom set when
 * out of memory, NULL alone when there is no home to look in. */
static char *file_path(const char *var, const char *home, const char *def,
		       int *oom)
{
	const char *v = env(var);
	char *p;

	if (v && home && (strcmp(v, "~") == 0 || strncmp(v, "~/", 2) == 0))
		p = v[1] ? join(home, v + 2) : strdup(home);
	else if (v)
		p = strdup(v);
	else if (home)
		p = join(home, def);
	else
		return NULL;
	if (!p)
		*oom = 1;
	return p;
}

/* Both files read and parsed, profile checked. */
static int load_files(ctx *c, const char *name, int named, const char *home)
{
	int oom = 0;

	c->cred_path = file_path("AWS_SHARED_CREDENTIALS_FILE", home,
				 ".aws/credentials", &oom);
	c->conf_path = file_path("AWS_CONFIG_FILE", home, ".aws/config", &oom);
	if (oom) {
		fail(c->err, c->errlen, "out of memory");
		return -1;
	}
	if ((c->cred_path && ini_load(&c->cred, c->cred_path, c->err,
				      c->errlen) != 0) ||
	    (c->conf_path && ini_load(&c->conf, c->conf_path, c->err,
				      c->errlen) != 0))
		return -1;
	c->cw = (where){NULL, name, 0};
	c->pw = (where){"profile", name, strcmp(name, "default") == 0};
	if (named && !has_section(&c->cred, &c->cw) &&
	    !has_section(&c->conf, &c->pw)) {
		fail(c->err, c->errlen, "AWS profile '%s' not found in %s or %s",
		     name, c->cred_path ? c->cred_path : "~/.aws/credentials",
		     c->conf_path ? c->conf_path : "~/.aws/config");
		return -1;
	}
	return 0;
}

int s3_aws_load(const char *profile, const char *home, s3_aws_profile *out,
		char *err, size_t errlen)
{
	const char *name = profile ? profile : env("AWS_PROFILE");
	int use_env = !profile && (env("AWS_ACCESS_KEY_ID") ||
				   env("AWS_SECRET_ACCESS_KEY"));
	ctx c = {.out = out, .err = err, .errlen = errlen};
	char *h = home ? strdup(home) : home_dir();
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (err && errlen)
		err[0] = '\0';
	if (home && !h) {
		fail(err, errlen, "out of memory");
		return -1;
	}
	if (load_files(&c, name ? name : "default", name != NULL, h) == 0 &&
	    (use_env ? keys_from_env(&c) : keys_from_files(&c)) == 0 &&
	    region(&c) == 0 && endpoint(&c) == 0)
		rc = 0;
	ini_free(&c.cred);
	ini_free(&c.conf);
	free(c.cred_path);
	free(c.conf_path);
	free(h);
	if (rc != 0)
		s3_aws_free(out);
	return rc;
}

void s3_aws_free(s3_aws_profile *p)
{
	if (!p)
		return;
	free(p->access_key);
	wipe_free(p->secret_key);
	wipe_free(p->session_token);
	free(p->region);
	free(p->endpoint_url);
	p->access_key = p->secret_key = p->session_token = NULL;
	p->region = p->endpoint_url = NULL;
	p->cred_source[0] = '\0';
}
