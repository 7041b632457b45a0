/*
 * bad.c - store plugins for the loader suite (tests/check_loader.c), one
 * source built six times (Makefile.am).  Each build has exactly one defect,
 * so the loader's message for that defect is what the suite sees:
 *
 *   -DBAD_ABI      badabi.so       major ABI version one too high
 *   -DBAD_SHORT    shortstruct.so  struct_size ends before description
 *   -DBAD_METHODS  nomethods.so    open and read NULL although caps has READ
 *   -DBAD_NAME     wrongname.so    says it is "someothername"
 *   -DBAD_NOENTRY  noentry.so      no ckptio_plugin_entry symbol at all
 *   -DGOOD         goodstore.so    a correct, complete in-memory store
 *   -DGOOD_TWIN    memtwin.so      the same store under another name
 *
 * goodstore and memtwin serve the URI scheme mem:// (mem://anything/id),
 * which no plugin is named after: the core finds them by their `schemes`,
 * and goodstore, first by name in one directory, wins.  Their option
 * drop_caps ("if_absent,delete", any of write read list delete
 * if_absent) takes capabilities away from one opened store
 * (instance_caps); the store then also ignores CKPTIO_PUT_IF_ABSENT, as
 * an S3 store with conditional_put = false does, and a call of a method
 * whose capability it lacks aborts the process: the core must never
 * make one.
 *
 * The store (every build but BAD_NOENTRY) keeps its objects in one list
 * for the whole process (every store object sees the same objects, as
 * with a real server), so a save and a later load meet the same data.  Puts are buffered
 * and published atomically at commit.  Like any plugin it uses only the
 * host table, never libckptio.
 */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ckptio/plugin.h>

#if defined(BAD_ABI) + defined(BAD_SHORT) + defined(BAD_METHODS) + \
	defined(BAD_NAME) + defined(BAD_NOENTRY) + defined(GOOD) + \
	defined(GOOD_TWIN) != 1
#error "define exactly one of BAD_ABI BAD_SHORT BAD_METHODS BAD_NAME BAD_NOENTRY GOOD GOOD_TWIN"
#endif

#ifdef BAD_NOENTRY

/* A valid shared object whose author named the entry point after the
 * plugin: the loader must call it "not a ckptio plugin" and search on. */
CKPTIO_EXPORT const void *noentry_plugin_entry(void);

const void *noentry_plugin_entry(void)
{
	return NULL;
}

#else /* every other build carries the in-memory store */

/* ------------------------------------------------------------------------ */
/* Private state                                                            */

#if defined(BAD_ABI)
#define MEM_NAME "badabi"
#elif defined(BAD_SHORT)
#define MEM_NAME "shortstruct"
#elif defined(BAD_METHODS)
#define MEM_NAME "nomethods"
#elif defined(BAD_NAME)
#define MEM_NAME "someothername" /* the file is wrongname.so */
#elif defined(GOOD_TWIN)
#define MEM_NAME "memtwin"
#else
#define MEM_NAME "goodstore"
#endif

#ifdef BAD_ABI
#define MEM_ABI_VERSION ((uint32_t)(CKPTIO_ABI_MAJOR + 1) << 16)
#else
#define MEM_ABI_VERSION CKPTIO_ABI_VERSION
#endif

#ifdef BAD_SHORT
/* Too short to hold the required fields (name, ops tables...). */
#define MEM_DESC_SIZE offsetof(ckptio_plugin, description)
#else
#define MEM_DESC_SIZE sizeof(ckptio_plugin)
#endif

typedef struct mem_object {
	struct mem_object *next;
	char *key;
	unsigned char *data;
	size_t len;
	int64_t mtime;
} mem_object;

/* The objects of every store of this process, and their lock. */
static pthread_mutex_t mem_mu = PTHREAD_MUTEX_INITIALIZER;
static mem_object *mem_objects;

typedef struct mem_store {
	ckptio_store base; /* first: the core sees a ckptio_store */
	uint64_t caps;     /* of this store: the static caps minus drop_caps */
} mem_store;

static const struct ckptio_store_ops mem_ops;

#define MEM_CAPS \
	(CKPTIO_STORE_CAP_WRITE | CKPTIO_STORE_CAP_READ | \
	 CKPTIO_STORE_CAP_RANGE | CKPTIO_STORE_CAP_LIST | \
	 CKPTIO_STORE_CAP_DELETE | CKPTIO_STORE_CAP_ATOMIC_PUT | \
	 CKPTIO_STORE_CAP_IF_ABSENT)

struct ckptio_put {
	mem_store *ms;
	char *key;
	unsigned flags;
	unsigned char *data;
	size_t len, cap;
};

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

static mem_store *mem_of(ckptio_store *st)
{
	return (mem_store *)st;
}

static ckptio_status mem_error(mem_store *ms, ckptio_status status,
			       const char *what, const char *key)
{
	return ms->base.host->error(ms->base.hc, status, MEM_NAME ": %s: %s",
				    key, what);
}

/* plugin.h's key rules: relative, '/'-separated, no empty, "." or ".."
 * component. */
static int key_valid(const char *key)
{
	const char *p = key;

	if (!key || !*key)
		return 0;
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (n == 0 || (n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		if (!slash)
			break;
		p = slash + 1;
		if (!*p) /* trailing '/': an empty last component */
			return 0;
	}
	return 1;
}

/* Caller holds mem_mu.  The link that points at key's object, or at the
 * terminating NULL when there is none (where a new object goes). */
static mem_object **find_locked(const char *key)
{
	mem_object **pp = &mem_objects;

	while (*pp && strcmp((*pp)->key, key) != 0)
		pp = &(*pp)->next;
	return pp;
}

static void object_free(mem_object *o)
{
	if (!o)
		return;
	free(o->key);
	free(o->data);
	free(o);
}

static void put_free(ckptio_put *p)
{
	free(p->key);
	free(p->data);
	free(p);
}

static int64_t now_seconds(void)
{
	return (int64_t)time(NULL);
}

/* The core called method although this store lacks cap: a broken promise
 * of the ABI that a test must see, whatever the method would return. */
static void need_cap(mem_store *ms, uint64_t cap, const char *method)
{
	if (ms->caps & cap)
		return;
	fprintf(stderr, MEM_NAME ": the core called %s on a store without "
		"that capability\n", method);
	abort();
}

/* ------------------------------------------------------------------------ */
/* Methods                                                                  */

#ifndef BAD_METHODS
/* drop_caps: capability words separated by commas. */
static ckptio_status parse_drop(const ckptio_host *host, ckptio_host_ctx *hc,
				const char *v, uint64_t *drop)
{
	static const struct {
		const char *word;
		uint64_t bit;
	} words[] = {
		{"write", CKPTIO_STORE_CAP_WRITE},
		{"read", CKPTIO_STORE_CAP_READ},
		{"list", CKPTIO_STORE_CAP_LIST},
		{"delete", CKPTIO_STORE_CAP_DELETE},
		{"if_absent", CKPTIO_STORE_CAP_IF_ABSENT},
	};
	size_t nwords = sizeof(words) / sizeof(words[0]);

	*drop = 0;
	while (v && *v) {
		size_t n = strcspn(v, ","), i;

		for (i = 0; i < nwords; i++)
			if (strlen(words[i].word) == n &&
			    strncmp(v, words[i].word, n) == 0)
				break;
		if (i == nwords)
			return host->error(hc, CKPTIO_ECONFIG,
					   MEM_NAME ": drop_caps: unknown "
					   "capability '%.*s'",
					   (int)n, v);
		*drop |= words[i].bit;
		v += n + (v[n] == ',');
	}
	return CKPTIO_OK;
}

static ckptio_status mem_open(const ckptio_host *host, ckptio_host_ctx *hc,
			      const char *root, int create, ckptio_store **out)
{
	mem_store *ms;
	uint64_t drop;
	ckptio_status st = parse_drop(host, hc,
				      host->config_get(hc, "drop_caps"), &drop);

	(void)create; /* memory is always writable */
	if (st != CKPTIO_OK)
		return st;
	if (!(ms = calloc(1, sizeof(*ms))))
		return host->error(hc, CKPTIO_ENOMEM, MEM_NAME ": out of memory");
	ms->caps = MEM_CAPS & ~drop;
	ms->base.ops = &mem_ops;
	ms->base.host = host;
	ms->base.hc = hc;
	host->log(hc, CKPTIO_LOG_DEBUG, MEM_NAME ": opened root '%s'",
		  root ? root : "");
	*out = &ms->base;
	return CKPTIO_OK;
}
#endif

static void mem_close(ckptio_store *st)
{
	free(mem_of(st)); /* the objects outlive it, like a server's */
}

static ckptio_status mem_put_open(ckptio_store *st, const char *key,
				  uint64_t size_hint, unsigned flags,
				  ckptio_put **out)
{
	mem_store *ms = mem_of(st);
	ckptio_put *p;

	need_cap(ms, CKPTIO_STORE_CAP_WRITE, "put_open");
	if (!key_valid(key))
		return mem_error(ms, CKPTIO_EINVAL, "invalid key", key ? key : "");
	p = calloc(1, sizeof(*p));
	if (!p || !(p->key = strdup(key))) {
		free(p);
		return mem_error(ms, CKPTIO_ENOMEM, "out of memory", key);
	}
	p->ms = ms;
	p->flags = flags;
	/* Reserve the announced size; a wrong hint only costs reallocs. */
	if (size_hint != UINT64_MAX && size_hint > 0 && size_hint <= SIZE_MAX &&
	    (p->data = malloc((size_t)size_hint)) != NULL)
		p->cap = (size_t)size_hint;
	*out = p;
	return CKPTIO_OK;
}

static ckptio_status mem_put_write(ckptio_put *p, const void *buf, size_t len)
{
	if (len > SIZE_MAX - p->len)
		return mem_error(p->ms, CKPTIO_ENOMEM, "object too large", p->key);
	if (p->len + len > p->cap) {
		size_t cap = p->cap ? p->cap : 4096;
		unsigned char *nd;

		while (cap < p->len + len)
			cap = cap > SIZE_MAX / 2 ? p->len + len : 2 * cap;
		nd = realloc(p->data, cap);
		if (!nd)
			return mem_error(p->ms, CKPTIO_ENOMEM, "out of memory",
					 p->key);
		p->data = nd;
		p->cap = cap;
	}
	if (len)
		memcpy(p->data + p->len, buf, len);
	p->len += len;
	return CKPTIO_OK;
}

/* Publish the buffered bytes under the key, replacing an older object
 * (unless CKPTIO_PUT_IF_ABSENT), in one step under the lock. */
static ckptio_status mem_put_commit(ckptio_put *p)
{
	mem_store *ms = p->ms;
	mem_object *o = calloc(1, sizeof(*o)), **pp, *old;
	ckptio_status st = CKPTIO_OK;

	if (!o) {
		st = mem_error(ms, CKPTIO_ENOMEM, "out of memory", p->key);
		put_free(p);
		return st;
	}
	o->key = p->key;
	o->data = p->data;
	o->len = p->len;
	o->mtime = now_seconds();
	p->key = NULL;
	p->data = NULL;
	pthread_mutex_lock(&mem_mu);
	pp = find_locked(o->key);
	old = *pp;
	if (old && (p->flags & CKPTIO_PUT_IF_ABSENT) &&
	    (ms->caps & CKPTIO_STORE_CAP_IF_ABSENT)) {
		st = CKPTIO_EEXIST;
	} else {
		o->next = old ? old->next : NULL;
		*pp = o;
	}
	pthread_mutex_unlock(&mem_mu);
	if (st == CKPTIO_OK) {
		object_free(old);
	} else {
		mem_error(ms, st, "already exists", o->key);
		object_free(o);
	}
	put_free(p);
	return st;
}

static void mem_put_abort(ckptio_put *p)
{
	put_free(p);
}

#ifndef BAD_METHODS
/* Copy one range out of the store.  Caller holds mem_mu. */
static ckptio_status read_one_locked(mem_store *ms, const ckptio_range *r)
{
	mem_object *o;

	if (!key_valid(r->key))
		return mem_error(ms, CKPTIO_EINVAL, "invalid key",
				 r->key ? r->key : "");
	o = *find_locked(r->key);
	if (!o)
		return mem_error(ms, CKPTIO_ENOTFOUND, "no such object", r->key);
	if (r->offset > o->len || r->length > o->len - r->offset)
		return ms->base.host->error(
			ms->base.hc, CKPTIO_ECORRUPT,
			MEM_NAME ": %s: range [%llu, +%llu) past the end of the "
				 "%zu-byte object",
			r->key, (unsigned long long)r->offset,
			(unsigned long long)r->length, o->len);
	if (r->length)
		memcpy(r->buf, o->data + r->offset, (size_t)r->length);
	return CKPTIO_OK;
}

static ckptio_status mem_read(ckptio_store *st, const ckptio_range *ranges,
			      size_t n)
{
	mem_store *ms = mem_of(st);
	ckptio_status s = CKPTIO_OK;

	need_cap(ms, CKPTIO_STORE_CAP_READ, "read");
	pthread_mutex_lock(&mem_mu);
	for (size_t i = 0; i < n && s == CKPTIO_OK; i++)
		s = read_one_locked(ms, &ranges[i]);
	pthread_mutex_unlock(&mem_mu);
	return s;
}
#endif

static ckptio_status mem_stat(ckptio_store *st, const char *key,
			      ckptio_stat *out)
{
	mem_store *ms = mem_of(st);
	mem_object *o;

	if (!key_valid(key))
		return mem_error(ms, CKPTIO_EINVAL, "invalid key", key ? key : "");
	pthread_mutex_lock(&mem_mu);
	o = *find_locked(key);
	if (o) {
		out->size = o->len;
		out->mtime = o->mtime;
	}
	pthread_mutex_unlock(&mem_mu);
	return o ? CKPTIO_OK : CKPTIO_ENOTFOUND; /* absent: no error recorded */
}

/* The callback may call back into the store (the native layout removes
 * stale objects while listing), so it runs on a snapshot, unlocked. */
static ckptio_status mem_list(ckptio_store *st, const char *prefix,
			      ckptio_key_fn fn, void *user)
{
	mem_store *ms = mem_of(st);
	size_t plen = prefix ? strlen(prefix) : 0, n = 0, i;
	ckptio_stat *stats = NULL;
	char **keys = NULL;
	ckptio_status s = CKPTIO_OK;
	mem_object *o;

	need_cap(ms, CKPTIO_STORE_CAP_LIST, "list");
	pthread_mutex_lock(&mem_mu);
	for (o = mem_objects; o; o = o->next)
		n += strncmp(o->key, prefix ? prefix : "", plen) == 0;
	keys = calloc(n ? n : 1, sizeof(*keys));
	stats = calloc(n ? n : 1, sizeof(*stats));
	for (o = mem_objects, i = 0; keys && stats && o; o = o->next) {
		if (strncmp(o->key, prefix ? prefix : "", plen) != 0)
			continue;
		stats[i] = (ckptio_stat){.size = o->len, .mtime = o->mtime};
		if (!(keys[i++] = strdup(o->key))) {
			s = CKPTIO_ENOMEM;
			break;
		}
	}
	pthread_mutex_unlock(&mem_mu);
	if (!keys || !stats)
		s = CKPTIO_ENOMEM;
	for (i = 0; s == CKPTIO_OK && i < n; i++)
		if (fn(user, keys[i], &stats[i]))
			break;
	for (i = 0; keys && i < n; i++)
		free(keys[i]);
	free(keys);
	free(stats);
	if (s != CKPTIO_OK)
		return mem_error(ms, s, "out of memory while listing",
				 prefix ? prefix : "");
	return CKPTIO_OK;
}

static ckptio_status mem_remove(ckptio_store *st, const char *key)
{
	mem_store *ms = mem_of(st);
	mem_object **pp, *o;

	need_cap(ms, CKPTIO_STORE_CAP_DELETE, "remove");
	if (!key_valid(key))
		return mem_error(ms, CKPTIO_EINVAL, "invalid key", key ? key : "");
	pthread_mutex_lock(&mem_mu);
	pp = find_locked(key);
	o = *pp;
	if (o)
		*pp = o->next;
	pthread_mutex_unlock(&mem_mu);
	if (!o)
		return mem_error(ms, CKPTIO_ENOTFOUND, "no such object", key);
	object_free(o);
	return CKPTIO_OK;
}

static uint64_t mem_instance_caps(ckptio_store *st)
{
	return mem_of(st)->caps;
}

/* ------------------------------------------------------------------------ */
/* Descriptor                                                               */

static const struct ckptio_store_ops mem_ops = {
	.struct_size = sizeof(struct ckptio_store_ops),
	/* nomethods.so claims READ without a read method (and has no open). */
	.caps = MEM_CAPS,
#ifndef BAD_METHODS
	.open = mem_open,
	.read = mem_read,
#endif
	.close = mem_close,
	.put_open = mem_put_open,
	.put_write = mem_put_write,
	.put_commit = mem_put_commit,
	.put_abort = mem_put_abort,
	.stat = mem_stat,
	.list = mem_list,
	.remove = mem_remove,
	.instance_caps = mem_instance_caps,
};

#if defined(GOOD) || defined(GOOD_TWIN)
static const char *const mem_schemes[] = {"mem", NULL};
#else /* never loaded: no scheme */
static const char *const mem_schemes[] = {NULL};
#endif
/* drop_caps, and options it accepts and ignores.  "opaque" is declared
 * secret although its name does not say so: `ckptio config` must still
 * hide it. */
static const char *const mem_options[] = {"opaque", "label", "drop_caps",
					  NULL};
static const char *const mem_secrets[] = {"opaque", NULL};

static const ckptio_plugin mem_plugin = {
	.abi_version = MEM_ABI_VERSION,
	.struct_size = MEM_DESC_SIZE,
	.kind = CKPTIO_PLUGIN_STORE,
	.name = MEM_NAME,
	.description = "in-memory test store (objects live until the store "
		       "is closed)",
	.options = mem_options,
	.schemes = mem_schemes,
	.secret_options = mem_secrets,
	.store = &mem_ops,
	.layout = NULL,
};

/* ------------------------------------------------------------------------ */
/* Entry point                                                              */

CKPTIO_EXPORT const ckptio_plugin *ckptio_plugin_entry(void);

const ckptio_plugin *ckptio_plugin_entry(void)
{
	return &mem_plugin;
}

#endif /* !BAD_NOENTRY */
