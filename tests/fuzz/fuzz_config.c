/*
 * fuzz_config.c - the INI configuration parser (core/config.c): the input
 * is a ckptio.conf, written to a file in a private temporary directory
 * and loaded with ckptio__config_load, with a few variables set for its
 * ${ENV} references (tests/fuzz/config.dict names them).  What loads is
 * dumped and every value goes through the size, number and boolean
 * parsers, which must agree with each other; a rejection must name the
 * file and say why.  The first line of the input is also fed to the value
 * parsers directly.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "fuzz.h"

static char dir[4096], path[4096 + 16];

static void cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_mkdtemp(dir, sizeof(dir), "ckptio-fuzz-config");
	snprintf(path, sizeof(path), "%s/ckptio.conf", dir);
	atexit(cleanup);
	setenv("CKPTIO_FUZZ_ROOT", "/mnt/ckpt", 1);
	setenv("CKPTIO_FUZZ_EMPTY", "", 1);
	setenv("CKPTIO_FUZZ_SIZE", "1.5GiB", 1);
	setenv("CKPTIO_FUZZ_TRICKY", "a # b ${CKPTIO_FUZZ_ROOT} $$ ; [x]", 1);
	unsetenv("CKPTIO_FUZZ_UNSET");
	return 0;
}

static void write_input(const uint8_t *data, size_t size)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
		perror("fuzz_config: writing the input");
		exit(1);
	}
}

/* s without its ".digits" part; -1 when it has none. */
static int drop_fraction(const char *s, char *out, size_t outlen)
{
	const char *dot = strchr(s, '.');
	size_t n;

	if (!dot || strlen(s) >= outlen)
		return -1;
	n = strspn(dot + 1, "0123456789");
	memcpy(out, s, (size_t)(dot - s));
	strcpy(out + (dot - s), dot + 1 + n);
	return 0;
}

/* The value parsers on s, checked against each other. */
static void check_values(const char *s)
{
	uint64_t size = 0, num = 0, whole, unit;
	int b = -1, size_ok = ckptio__parse_size(s, &size) == 0;
	char w[256], one[64];

	if (ckptio__parse_uint(s, &num) == 0)
		FUZZ_CHECK(size_ok && size == num, "'%s': parse_uint gives %llu, "
			   "parse_size %s", s, (unsigned long long)num,
			   size_ok ? "another value" : "an error");
	if (ckptio__parse_bool(s, &b) == 0)
		FUZZ_CHECK(b == 0 || b == 1, "'%s': boolean %d", s, b);
	/* "W.F unit" lies in [W unit, W unit + 1 unit). */
	if (size_ok && drop_fraction(s, w, sizeof(w)) == 0) {
		const char *u = w + strspn(w, "0123456789");

		u += strspn(u, " \t"); /* a valid unit is short */
		snprintf(one, sizeof(one), "1%.40s", u);
		FUZZ_CHECK(ckptio__parse_size(w, &whole) == 0 &&
				   ckptio__parse_size(one, &unit) == 0 &&
				   size >= whole && size - whole < unit,
			   "'%s' (%llu bytes) is not between '%s' and one "
			   "'%s' more", s, (unsigned long long)size, w, one);
	}
}

/* What config.c accepts in names (written out again: a test of it). */
#define PLUGIN_CHARS "abcdefghijklmnopqrstuvwxyz0123456789_"
#define BACKEND_CHARS PLUGIN_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZ.-"

static int name_ok(const char *s, const char *chars)
{
	size_t len = strlen(s);

	return len >= 1 && len <= 64 && strspn(s, chars) == len;
}

/* What a loaded config promises: checked names, keys and core values. */
static void check_config(const ckptio__config *cfg)
{
	const ckptio__opt *d;
	ckptio__dump_info *info;
	char *dump;

	for (size_t i = 0; i < cfg->nsections; i++) {
		const ckptio__section *s = &cfg->sections[i];

		FUZZ_CHECK(s->kind == CKPTIO__SEC_MAIN
				   ? strcmp(s->name, "ckptio") == 0
				   : name_ok(s->name, s->kind == CKPTIO__SEC_STORE
							  ? PLUGIN_CHARS
							  : BACKEND_CHARS),
			   "section name '%s' let through", s->name);
		FUZZ_CHECK(s->kind != CKPTIO__SEC_BACKEND ||
				   ckptio__section_get(s, "store"),
			   "backend '%s' without store", s->name);
		for (size_t k = 0; k < s->nopts; k++) {
			const ckptio__opt *o = &s->opts[k];
			uint64_t n;

			FUZZ_CHECK(*o->key && !o->value == !!o->unset_var,
				   "key '%s': empty, or value and unset "
				   "variable both set or both missing", o->key);
			FUZZ_CHECK(ckptio__section_get(s, o->key) == o,
				   "key '%s' twice in a section", o->key);
			if (!o->value)
				continue;
			check_values(o->value);
			if (s->kind != CKPTIO__SEC_STORE &&
			    strcmp(o->key, "threads") == 0)
				FUZZ_CHECK(ckptio__parse_uint(o->value, &n) == 0 &&
						   n >= 1 && n <= 256,
					   "threads = '%s' let through",
					   o->value);
			if (s->kind == CKPTIO__SEC_BACKEND &&
			    (strcmp(o->key, "store") == 0 ||
			     strcmp(o->key, "layout") == 0))
				FUZZ_CHECK(name_ok(o->value, PLUGIN_CHARS),
					   "%s = '%s' let through", o->key,
					   o->value);
		}
	}
	d = ckptio__section_get(ckptio__config_main(cfg), "default");
	FUZZ_CHECK(!d || !d->value || strcmp(d->value, "local") == 0 ||
			   ckptio__config_backend(cfg, d->value),
		   "default = '%s' names no backend", d->value);
	/* No plugins here: every section as if its plugins were unknown,
	 * the fail-safe path that redacts every non-core value. */
	info = calloc(cfg->nsections ? cfg->nsections : 1, sizeof(*info));
	FUZZ_CHECK(info != NULL, "out of memory");
	dump = ckptio__config_dump(cfg, info);
	FUZZ_CHECK(dump != NULL, "dump failed");
	free(dump);
	free(info);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ckptio__config *cfg = NULL;
	char err[1024] = "", first[256];
	size_t n = size < sizeof(first) - 1 ? size : sizeof(first) - 1;
	ckptio_status st;

	memcpy(first, data, n);
	first[n] = '\0';
	first[strcspn(first, "\n")] = '\0';
	check_values(first);
	write_input(data, size);
	st = ckptio__config_load(path, &cfg, err, sizeof(err));
	if (st != CKPTIO_OK) {
		FUZZ_CHECK(cfg == NULL, "failed load returned a config");
		FUZZ_CHECK(strncmp(err, path, strlen(path)) == 0 &&
				   err[strlen(path)] == ':' &&
				   strlen(err) > strlen(path) + 2,
			   "rejection without a message naming the file: "
			   "'%s'", err);
		return 0;
	}
	FUZZ_CHECK(cfg && cfg->path && strcmp(cfg->path, path) == 0,
		   "loaded config lost its path");
	check_config(cfg);
	ckptio__config_free(cfg);
	return 0;
}
