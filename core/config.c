/*
 * config.c - the INI configuration (DESIGN.md section 6), parsed with
 * Debian's libinih.  libinih does not pass line numbers to its handler in
 * Debian's build, so a reader callback counts lines (and strips " #"
 * comments, which that build does not know); errors name file:line:key.
 */
#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <ini.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "internal.h"

#define MAX_LINE 4096

const char *const ckptio__backend_core_keys[] = {"store", "layout", "root",
						 "threads", NULL};
static const char *const main_keys[] = {"default", "plugin_path", "log_level",
					"threads", NULL};

typedef struct parse {
	FILE *f;
	const char *file;
	ckptio__config *cfg;
	int line;
	int long_line;
	int header_line; /* line of the last [section] header read */
	int new_header;  /* a header was read since the last key */
	char *err;
	size_t errlen;
	int failed;
} parse;

static int in_list(const char *const *l, const char *s)
{
	for (; l && *l; l++)
		if (strcmp(*l, s) == 0)
			return 1;
	return 0;
}

static int fail(parse *p, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(parse *p, const char *key, const char *fmt, ...)
{
	char detail[512];
	va_list ap;

	if (p->failed)
		return 0;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (key)
		snprintf(p->err, p->errlen, "%s:%d: %s: %s", p->file, p->line,
			 key, detail);
	else
		snprintf(p->err, p->errlen, "%s:%d: %s", p->file, p->line,
			 detail);
	p->failed = 1;
	return 0;
}

/* ini reader: one line per call, counted; " #" / " ;" comments removed. */
static char *reader(char *str, int num, void *stream)
{
	parse *p = stream;
	char buf[MAX_LINE + 2];
	size_t len;

	if (!fgets(buf, sizeof(buf), p->f))
		return NULL;
	p->line++;
	len = strlen(buf);
	if (len == sizeof(buf) - 1 && buf[len - 1] != '\n') {
		int c;

		p->long_line = p->line;
		while ((c = fgetc(p->f)) != EOF && c != '\n')
			;
		buf[0] = '\0';
		len = 0;
	}
	/* Debian's inih does not report new sections; notice them here. */
	for (size_t i = 0; i < len; i++) {
		if (buf[i] == ' ' || buf[i] == '\t')
			continue;
		if (buf[i] == '[') {
			p->header_line = p->line;
			p->new_header = 1;
		}
		break;
	}
	for (size_t i = 1; i < len; i++)
		if ((buf[i] == '#' || buf[i] == ';') &&
		    (buf[i - 1] == ' ' || buf[i - 1] == '\t')) {
			buf[i] = '\n';
			buf[i + 1] = '\0';
			break;
		}
	if ((int)strlen(buf) >= num) {
		p->long_line = p->line;
		buf[0] = '\0';
	}
	strcpy(str, buf);
	return str;
}

/* ${VAR}, ${VAR:-default}, $$.  Returns malloc'd value or NULL with
 * *unset (malloc'd name) for an unset variable; -1 on syntax error. */
static int expand(const char *in, char **out, char **unset)
{
	size_t cap = strlen(in) + 64, n = 0;
	char *o = malloc(cap);

	*out = NULL;
	*unset = NULL;
	if (!o)
		return -2;
	for (const char *s = in; *s;) {
		const char *val = NULL;
		char name[256];
		size_t vl;

		if (s[0] == '$' && s[1] == '$') {
			val = "$";
			s += 2;
		} else if (s[0] == '$' && s[1] == '{') {
			const char *end = strchr(s + 2, '}'), *dflt;
			size_t nl;

			if (!end) {
				free(o);
				return -1;
			}
			dflt = strstr(s + 2, ":-");
			if (dflt && dflt > end)
				dflt = NULL;
			nl = (size_t)((dflt ? dflt : end) - (s + 2));
			if (nl == 0 || nl >= sizeof(name)) {
				free(o);
				return -1;
			}
			memcpy(name, s + 2, nl);
			name[nl] = '\0';
			for (size_t i = 0; i < nl; i++)
				if (!isalnum((unsigned char)name[i]) && name[i] != '_') {
					free(o);
					return -1;
				}
			val = getenv(name);
			if (!val && dflt) {
				static _Thread_local char d[MAX_LINE];
				size_t dl = (size_t)(end - dflt - 2);

				memcpy(d, dflt + 2, dl);
				d[dl] = '\0';
				val = d;
			}
			if (!val) {
				free(o);
				*unset = strdup(name);
				return *unset ? 0 : -2;
			}
			s = end + 1;
		} else {
			static _Thread_local char one[2];

			one[0] = *s++;
			val = one;
		}
		vl = strlen(val);
		if (n + vl + 1 > cap) {
			char *no = realloc(o, cap = (n + vl + 1) * 2);

			if (!no) {
				free(o);
				return -2;
			}
			o = no;
		}
		memcpy(o + n, val, vl);
		n += vl;
	}
	o[n] = '\0';
	*out = o;
	return 0;
}

static ckptio__section *find_section(ckptio__config *cfg,
				     ckptio__section_kind kind, const char *name)
{
	for (size_t i = 0; i < cfg->nsections; i++)
		if (cfg->sections[i].kind == kind &&
		    strcmp(cfg->sections[i].name, name) == 0)
			return &cfg->sections[i];
	return NULL;
}

static int valid_name(const char *s, size_t len, int backend)
{
	if (len == 0 || len > 64)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!(islower((unsigned char)c) || isdigit((unsigned char)c) ||
		      c == '_' ||
		      (backend && (isupper((unsigned char)c) || c == '-' ||
				   c == '.'))))
			return 0;
	}
	return 1;
}

/* "ckptio", "backend \"x\"", "store \"s3\"" -> kind and name. */
static int parse_header(const char *sec, ckptio__section_kind *kind,
			char *name, size_t nlen)
{
	const char *q1, *q2;
	size_t len;

	if (strcmp(sec, "ckptio") == 0) {
		*kind = CKPTIO__SEC_MAIN;
		snprintf(name, nlen, "ckptio");
		return 0;
	}
	if (strncmp(sec, "backend ", 8) == 0)
		*kind = CKPTIO__SEC_BACKEND;
	else if (strncmp(sec, "store ", 6) == 0)
		*kind = CKPTIO__SEC_STORE;
	else
		return -1;
	q1 = strchr(sec, '"');
	q2 = q1 ? strchr(q1 + 1, '"') : NULL;
	if (!q1 || !q2 || q2[1] != '\0')
		return -1;
	len = (size_t)(q2 - q1 - 1);
	if (!valid_name(q1 + 1, len, *kind == CKPTIO__SEC_BACKEND) || len >= nlen)
		return -1;
	memcpy(name, q1 + 1, len);
	name[len] = '\0';
	return 0;
}

static ckptio__section *section_for(parse *p, const char *sec)
{
	ckptio__section_kind kind;
	char name[72];
	ckptio__section *s, *v;
	ckptio__config *cfg = p->cfg;

	if (parse_header(sec, &kind, name, sizeof(name)) != 0) {
		p->line = p->header_line;
		fail(p, NULL, "unknown section [%s] (expected [ckptio], "
			      "[backend \"NAME\"] or [store \"PLUGIN\"])", sec);
		return NULL;
	}
	/* inih calls us per key: the section is the last one unless a
	 * header was read since. */
	if (!p->new_header && cfg->nsections)
		return &cfg->sections[cfg->nsections - 1];
	p->new_header = 0;
	if (find_section(cfg, kind, name)) {
		p->line = p->header_line;
		fail(p, NULL, "section [%s] appears twice", sec);
		return NULL;
	}
	v = realloc(cfg->sections, (cfg->nsections + 1) * sizeof(*v));
	if (!v) {
		fail(p, NULL, "%s", "out of memory");
		return NULL;
	}
	cfg->sections = v;
	s = &v[cfg->nsections];
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->name = strdup(name);
	s->file = cfg->path;
	s->line = p->header_line;
	if (!s->name) {
		fail(p, NULL, "%s", "out of memory");
		return NULL;
	}
	cfg->nsections++;
	return s;
}

static int check_core_value(parse *p, ckptio__section *s, const char *key,
			    const char *value)
{
	uint64_t v;

	if (!value)
		return 1;
	if (strcmp(key, "threads") == 0 &&
	    (ckptio__parse_uint(value, &v) != 0 || v < 1 || v > 256))
		return fail(p, key, "'%s' is not a whole number between 1 and 256",
			    value);
	if (s->kind == CKPTIO__SEC_MAIN && strcmp(key, "log_level") == 0 &&
	    !in_list((const char *const[]){"error", "warn", "info", "debug",
					   NULL}, value))
		return fail(p, key, "'%s' is not one of error, warn, info, debug",
			    value);
	if (s->kind == CKPTIO__SEC_BACKEND &&
	    (strcmp(key, "store") == 0 || strcmp(key, "layout") == 0) &&
	    !valid_name(value, strlen(value), 0))
		return fail(p, key, "'%s' is not a plugin name (lowercase "
				    "letters, digits, '_')", value);
	return 1;
}

static int handler(void *user, const char *sec, const char *key,
		   const char *value)
{
	parse *p = user;
	ckptio__section *s;
	ckptio__opt *o;
	char *val = NULL, *unset = NULL;
	int rc;

	if (p->failed)
		return 0;
	if (p->long_line)
		return 1;
	if (!*sec)
		return fail(p, key, "%s", "key outside of any section");
	s = section_for(p, sec);
	if (!s)
		return 0;
	if (s->kind == CKPTIO__SEC_MAIN && !in_list(main_keys, key))
		return fail(p, key, "unknown key in [ckptio] (known: %s)",
			    "default, plugin_path, log_level, threads");
	if (ckptio__section_get(s, key))
		return fail(p, key, "%s", "set twice in this section");
	rc = expand(value, &val, &unset);
	if (rc == -1)
		return fail(p, key, "malformed variable reference in '%s' "
				    "(use ${NAME} or ${NAME:-default})", value);
	if (rc == -2)
		return fail(p, key, "%s", "out of memory");
	if (!check_core_value(p, s, key, val)) {
		free(val);
		free(unset);
		return 0;
	}
	o = realloc(s->opts, (s->nopts + 1) * sizeof(*o));
	if (!o) {
		free(val);
		free(unset);
		return fail(p, key, "%s", "out of memory");
	}
	s->opts = o;
	o = &o[s->nopts++];
	o->key = strdup(key);
	o->value = val;
	o->unset_var = unset;
	o->line = p->line;
	return o->key ? 1 : fail(p, key, "%s", "out of memory");
}

static ckptio_status load_file(const char *path, ckptio__config *cfg,
			       char *err, size_t errlen)
{
	parse p = {.file = path, .cfg = cfg, .err = err, .errlen = errlen};
	int rc;

	p.f = fopen(path, "r");
	if (!p.f) {
		snprintf(err, errlen, "cannot open config file %s: %s", path,
			 strerror(errno));
		return CKPTIO_ECONFIG;
	}
	cfg->path = strdup(path);
	p.file = cfg->path ? cfg->path : path;
	rc = ini_parse_stream(reader, &p, handler, &p);
	fclose(p.f);
	if (p.failed)
		return CKPTIO_ECONFIG;
	if (p.long_line) {
		snprintf(err, errlen, "%s:%d: line longer than %d bytes", path,
			 p.long_line, MAX_LINE);
		return CKPTIO_ECONFIG;
	}
	if (rc > 0) {
		snprintf(err, errlen, "%s:%d: syntax error (expected [section] "
			 "or key = value)", path, rc);
		return CKPTIO_ECONFIG;
	}
	if (rc < 0) {
		snprintf(err, errlen, "%s: cannot read", path);
		return CKPTIO_ECONFIG;
	}
	{
		const ckptio__opt *d = ckptio__section_get(ckptio__config_main(cfg),
							   "default");

		if (d && d->value && strcmp(d->value, "local") != 0 &&
		    !ckptio__config_backend(cfg, d->value)) {
			snprintf(err, errlen, "%s:%d: default: no backend \"%s\" "
				 "is defined in this file", path, d->line,
				 d->value);
			return CKPTIO_ECONFIG;
		}
	}
	for (size_t i = 0; i < cfg->nsections; i++)
		if (cfg->sections[i].kind == CKPTIO__SEC_BACKEND &&
		    !ckptio__section_get(&cfg->sections[i], "store")) {
			snprintf(err, errlen, "%s:%d: backend \"%s\" has no "
				 "'store' key", path, cfg->sections[i].line,
				 cfg->sections[i].name);
			return CKPTIO_ECONFIG;
		}
	return CKPTIO_OK;
}

ckptio_status ckptio__config_load(const char *path, ckptio__config **out,
				  char *err, size_t errlen)
{
	ckptio__config *cfg = calloc(1, sizeof(*cfg));
	const char *env = getenv("CKPTIO_CONFIG"), *home = getenv("HOME");
	char *user = NULL;
	ckptio_status st = CKPTIO_OK;

	*out = NULL;
	if (!cfg) {
		snprintf(err, errlen, "out of memory");
		return CKPTIO_ENOMEM;
	}
	if (!path && env && *env)
		path = env;
	if (!path && home && *home) {
		user = ckptio__asprintf("%s/.config/ckptio/ckptio.conf", home);
		if (user && access(user, F_OK) == 0)
			path = user;
	}
	if (!path && access(CKPTIO_SYSCONFDIR "/ckptio/ckptio.conf", F_OK) == 0)
		path = CKPTIO_SYSCONFDIR "/ckptio/ckptio.conf";
	if (path)
		st = load_file(path, cfg, err, errlen);
	free(user);
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

const ckptio__section *ckptio__config_main(const ckptio__config *cfg)
{
	return cfg ? find_section((ckptio__config *)cfg, CKPTIO__SEC_MAIN,
				  "ckptio") : NULL;
}

const ckptio__section *ckptio__config_backend(const ckptio__config *cfg,
					      const char *name)
{
	return cfg ? find_section((ckptio__config *)cfg, CKPTIO__SEC_BACKEND,
				  name) : NULL;
}

const ckptio__section *ckptio__config_store(const ckptio__config *cfg,
					    const char *plugin)
{
	return cfg ? find_section((ckptio__config *)cfg, CKPTIO__SEC_STORE,
				  plugin) : NULL;
}

const ckptio__opt *ckptio__section_get(const ckptio__section *sec,
				       const char *key)
{
	for (size_t i = 0; sec && i < sec->nopts; i++)
		if (strcmp(sec->opts[i].key, key) == 0)
			return &sec->opts[i];
	return NULL;
}

ckptio_status ckptio__config_check_plugin(const ckptio__section *sec,
					  const ckptio_plugin *plugin,
					  char *err, size_t errlen)
{
	for (size_t i = 0; sec && i < sec->nopts; i++) {
		const char *k = sec->opts[i].key;
		char known[512] = "";
		size_t len = 0;

		if ((sec->kind == CKPTIO__SEC_BACKEND &&
		     in_list(ckptio__backend_core_keys, k)) ||
		    in_list(plugin->options, k))
			continue;
		for (const char *const *o = plugin->options; o && *o; o++)
			len += (size_t)snprintf(known + len, sizeof(known) - len,
						"%s%s", len ? ", " : "", *o);
		snprintf(err, errlen, "%s:%d: %s: unknown option for store "
			 "'%s' (known: %s)", sec->file ? sec->file : "(config)",
			 sec->opts[i].line, k, plugin->name,
			 len ? known : "none");
		return CKPTIO_ECONFIG;
	}
	return CKPTIO_OK;
}

int ckptio__parse_uint(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -1;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s) ||
		    __builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, (uint64_t)(*s - '0'), &v))
			return -1;
	}
	*out = v;
	return 0;
}

int ckptio__parse_size(const char *s, uint64_t *out)
{
	static const struct {
		const char *suffix;
		uint64_t mult;
	} units[] = {
		{"", 1}, {"b", 1}, {"k", 1ull << 10}, {"kib", 1ull << 10},
		{"kb", 1000}, {"m", 1ull << 20}, {"mib", 1ull << 20},
		{"mb", 1000000}, {"g", 1ull << 30}, {"gib", 1ull << 30},
		{"gb", 1000000000ull}, {"t", 1ull << 40}, {"tib", 1ull << 40},
		{"tb", 1000000000000ull},
	};
	uint64_t whole = 0, frac = 0, fdiv = 1;
	const char *p = s;
	char suffix[8];
	size_t n = 0;

	if (!s || !isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++)
		if (__builtin_mul_overflow(whole, 10, &whole) ||
		    __builtin_add_overflow(whole, (uint64_t)(*p - '0'), &whole))
			return -1;
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++)
			if (fdiv < 1000000000000ull) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				fdiv *= 10;
			}
	}
	while (*p == ' ')
		p++;
	for (; *p && n < sizeof(suffix) - 1; p++)
		suffix[n++] = (char)tolower((unsigned char)*p);
	suffix[n] = '\0';
	if (*p)
		return -1;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		uint64_t v, f;

		if (strcmp(units[i].suffix, suffix) != 0)
			continue;
		if (__builtin_mul_overflow(whole, units[i].mult, &v))
			return -1;
		/* The fraction, rounded down to whole bytes. */
		f = (uint64_t)((long double)frac * units[i].mult / fdiv);
		if (__builtin_add_overflow(v, f, &v))
			return -1;
		*out = v;
		return 0;
	}
	return -1;
}

int ckptio__parse_bool(const char *s, int *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1", NULL};
	static const char *const no[] = {"false", "no", "off", "0", NULL};

	for (int i = 0; s && yes[i]; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

int ckptio__is_secret_key(const char *key, const ckptio_plugin *plugin)
{
	static const char *const words[] = {"secret", "password", "token",
					    "passphrase", "authorization", NULL};

	if (plugin && in_list(plugin->secret_options, key))
		return 1;
	for (int i = 0; words[i]; i++)
		if (strcasestr(key, words[i]))
			return 1;
	return 0;
}

char *ckptio__config_dump(const ckptio__config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	fprintf(f, "# %s\n", cfg->path ? cfg->path
				       : "no configuration file found");
	for (size_t i = 0; i < cfg->nsections; i++) {
		const ckptio__section *s = &cfg->sections[i];

		if (s->kind == CKPTIO__SEC_MAIN)
			fprintf(f, "\n[ckptio]\n");
		else
			fprintf(f, "\n[%s \"%s\"]\n",
				s->kind == CKPTIO__SEC_BACKEND ? "backend"
							       : "store",
				s->name);
		for (size_t k = 0; k < s->nopts; k++) {
			const ckptio__opt *o = &s->opts[k];

			if (ckptio__is_secret_key(o->key, NULL))
				fprintf(f, "%s = <redacted>\n", o->key);
			else if (!o->value)
				fprintf(f, "%s = <unset: ${%s}>\n", o->key,
					o->unset_var);
			else
				fprintf(f, "%s = %s\n", o->key, o->value);
		}
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
