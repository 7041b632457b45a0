/*
 * metadata.c - the checkpoint metadata model: building it (for savers and
 * for layout readers through the host table), validating it, and its JSON
 * form (.metadata.json of the native layout), written with yajl's
 * generator and read with yajl's callback parser, both streaming.
 *
 * Everything that comes from outside (a metadata file, a foreign header)
 * goes through md_add_item / md_add_chunk / md_seal, so one set of checks
 * guards every layout: names, dtypes, shapes, chunk bounds, byte lengths,
 * object keys (a hostile "../x" never reaches a store), overlaps and
 * coverage.
 */
#include <search.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>

#include "internal.h"

/* The public struct first, then what only the builder needs.
 *
 * Memory stays a small multiple of the metadata file (a model's optimizer
 * state has millions of items): names, dims and one-chunk arrays come from
 * an arena freed at once, and object names are interned, since millions of
 * chunks share a few data objects.  An item's chunk array is malloc'd, and
 * grows by doubling, exactly when it holds two chunks or more. */
typedef struct ablock {
	struct ablock *next;
	size_t used, size; /* in words */
	uint64_t data[];
} ablock;

typedef struct md_impl {
	ckptio_metadata pub;
	ckptio_item_meta *items;
	size_t icap;
	char **akeys, **avals;
	size_t acap;
	size_t aclean;   /* attrs [0, aclean) are sorted, their keys unique */
	ablock *arena;
	size_t anext;    /* words in the arena's next block */
	void *objects;   /* tsearch tree of the interned object names */
	const char *last_object;
	int sealed;      /* nothing was added since the last seal */
} md_impl;

#define IMPL(md) ((md_impl *)(md))

#define ARENA_FIRST 512         /* words: 4 KiB */
#define ARENA_MAX (128u << 10)  /* words: 1 MiB */

/* ------------------------------------------------------------------------ */
/* Building                                                                 */

/* n bytes, 8-byte aligned, freed with the metadata. */
static void *arena_alloc(md_impl *m, size_t n)
{
	ablock *b = m->arena;
	size_t words = n ? (n + 7) / 8 : 1, size;

	if (n > SIZE_MAX / 2)
		return NULL;
	if (b && b->size - b->used >= words) {
		b->used += words;
		return b->data + b->used - words;
	}
	size = m->anext ? m->anext : ARENA_FIRST;
	if (words > size / 4) {
		/* A big piece gets a block of its own, behind the current
		 * one, whose free room stays in use. */
		if (!(b = malloc(sizeof(*b) + words * 8)))
			return NULL;
		b->size = b->used = words;
		b->next = m->arena ? m->arena->next : NULL;
		if (m->arena)
			m->arena->next = b;
		else
			m->arena = b;
		return b->data;
	}
	if (!(b = malloc(sizeof(*b) + size * 8)))
		return NULL;
	b->size = size;
	b->used = words;
	b->next = m->arena;
	m->arena = b;
	m->anext = size < ARENA_MAX ? size * 2 : ARENA_MAX;
	return b->data;
}

static char *arena_strdup(md_impl *m, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = arena_alloc(m, n);

	if (d)
		memcpy(d, s, n);
	return d;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* For trees of structs that start with a string pointer. */
static int cmp_str_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void keep_node(void *p)
{
	(void)p; /* the strings live in the arena */
}

/* The one copy of an object name: chunks mostly repeat the previous
 * chunk's object, and otherwise a balanced tree (tsearch) finds it. */
static const char *intern(md_impl *m, const char *s)
{
	const char **node;
	char *copy;

	if (m->last_object && strcmp(m->last_object, s) == 0)
		return m->last_object;
	node = tfind(s, &m->objects, cmp_str);
	if (!node) {
		if (!(copy = arena_strdup(m, s)) ||
		    !(node = tsearch(copy, &m->objects, cmp_str)))
			return NULL;
	}
	return m->last_object = *node;
}

/* Is object a valid object name (a key, UTF-8)?  Every name interned
 * was checked before: a save's chunks repeat a few names, and checking
 * each again was a tenth of the metadata's build. */
static int object_ok(md_impl *m, const char *object)
{
	size_t len;

	if (!object)
		return 0;
	if (m->last_object && strcmp(m->last_object, object) == 0)
		return 1;
	if (tfind(object, &m->objects, cmp_str))
		return 1;
	len = strlen(object);
	return ckptio__key_valid(object) &&
	       ckptio__utf8_prefix(object, len) == len;
}

ckptio_status ckptio__md_new(ckptio_host_ctx *hc, const char *layout,
			     ckptio_metadata **out)
{
	md_impl *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (!m || !(m->pub.layout = strdup(layout ? layout : "native"))) {
		free(m);
		return ckptio__hc_error(hc, CKPTIO_ENOMEM, "out of memory");
	}
	m->pub.version = CKPTIO__MD_VERSION;
	m->pub.world = 1;
	*out = &m->pub;
	return CKPTIO_OK;
}

void ckptio__md_free(ckptio_metadata *md)
{
	md_impl *m = IMPL(md);
	ablock *b, *next;

	if (!md)
		return;
	for (size_t i = 0; i < md->nitems; i++)
		if (m->items[i].nchunks >= 2)
			free((void *)m->items[i].chunks);
	for (size_t i = 0; i < md->nattrs; i++) {
		free(m->akeys[i]);
		free(m->avals[i]);
	}
	free(m->akeys);
	free(m->avals);
	free(m->items);
	free((void *)md->layout);
	tdestroy(m->objects, keep_node);
	for (b = m->arena; b; b = next) {
		next = b->next;
		free(b);
	}
	free(m);
}

/* Multiply without overflow; 0 on success. */
static int mul_ok(uint64_t a, uint64_t b, uint64_t *out)
{
	return __builtin_mul_overflow(a, b, out) ? -1 : 0;
}

/* The element count; -1 when it overflows or a dimension is 2^63 or more
 * (the JSON form holds signed 64-bit integers: whatever is built must
 * read back). */
static int elements(unsigned ndim, const uint64_t *shape, uint64_t *out)
{
	uint64_t n = 1;

	for (unsigned d = 0; d < ndim; d++)
		if (shape[d] > INT64_MAX || mul_ok(n, shape[d], &n))
			return -1;
	*out = n;
	return 0;
}

ckptio_status ckptio__md_add_item(ckptio_host_ctx *hc, ckptio_metadata *md,
				  const char *name, ckptio_item_kind kind,
				  ckptio_dtype dtype, unsigned ndim,
				  const uint64_t *shape, size_t *index)
{
	md_impl *m = IMPL(md);
	ckptio_item_meta *it;
	uint64_t n = 0, *s = NULL;
	size_t len = name ? strlen(name) : 0;
	char why[CKPTIO__WHY];

	if (len == 0 || len > CKPTIO_MAX_NAME)
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"item name is %zu bytes; it must be 1 "
					"to %d bytes",
					len, CKPTIO_MAX_NAME);
	if (ckptio__utf8_prefix(name, len) != len)
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"item name is not valid UTF-8 (byte "
					"%zu)",
					ckptio__utf8_prefix(name, len));
	if (kind != CKPTIO_ITEM_TENSOR && kind != CKPTIO_ITEM_BYTES)
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"item '%.200s': unknown kind %d", name,
					(int)kind);
	if (kind == CKPTIO_ITEM_TENSOR &&
	    (ckptio_dtype_bits(dtype) == 0 || ndim > CKPTIO_MAX_NDIM ||
	     elements(ndim, shape, &n) != 0))
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"item '%.200s': bad dtype, rank (%u) or "
					"shape (too large)",
					name, ndim);
	if (kind == CKPTIO_ITEM_TENSOR &&
	    ckptio__dtype_bytes(dtype, n, &n, why, sizeof(why)) != 0)
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT, "item '%.200s': %s",
					name, why);
	if (md->nitems == m->icap) {
		size_t cap = m->icap ? m->icap * 2 : 16;
		ckptio_item_meta *items = realloc(m->items, cap * sizeof(*items));

		if (!items)
			return ckptio__hc_error(hc, CKPTIO_ENOMEM, "out of memory");
		m->items = items;
		m->icap = cap;
		md->items = m->items;
	}
	if (kind == CKPTIO_ITEM_TENSOR && ndim &&
	    (s = arena_alloc(m, ndim * sizeof(*s))))
		memcpy(s, shape, ndim * sizeof(*s));
	it = &m->items[md->nitems];
	memset(it, 0, sizeof(*it));
	it->name = arena_strdup(m, name);
	it->kind = kind;
	it->dtype = kind == CKPTIO_ITEM_TENSOR ? dtype : CKPTIO_DTYPE_INVALID;
	it->ndim = kind == CKPTIO_ITEM_TENSOR ? ndim : 0;
	it->nbytes = n;
	it->shape = s;
	if (!it->name || (it->ndim && !it->shape))
		return ckptio__hc_error(hc, CKPTIO_ENOMEM, "out of memory");
	m->sealed = 0;
	*index = md->nitems++;
	return CKPTIO_OK;
}

/* Chunk inside the tensor and its byte length right. */
static ckptio_status check_chunk(ckptio_host_ctx *hc, const ckptio_item_meta *it,
				 const uint64_t *offsets, const uint64_t *shape,
				 uint64_t length)
{
	uint64_t n, end;
	char why[CKPTIO__WHY];

	if (it->kind == CKPTIO_ITEM_BYTES) {
		if (it->nchunks > 0)
			return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
						"item '%.200s': a bytes item "
						"has exactly one chunk",
						it->name);
		return CKPTIO_OK;
	}
	for (unsigned d = 0; d < it->ndim; d++)
		if (__builtin_add_overflow(offsets[d], shape[d], &end) ||
		    end > it->shape[d])
			return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
						"item '%.200s': chunk out of "
						"bounds in dimension %u",
						it->name, d);
	/* Within bounds, the chunk has no more elements than the tensor,
	 * whose byte count fits: only the sub-byte rules can fail here. */
	if (elements(it->ndim, shape, &n) != 0 ||
	    ckptio__dtype_bytes(it->dtype, n, &n, why, sizeof(why)) != 0 ||
	    ckptio__chunk_bytes_aligned(it->dtype, it->ndim, it->shape,
					offsets, shape, why, sizeof(why)) != 0)
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"item '%.200s': chunk of length %llu: "
					"%s",
					it->name, (unsigned long long)length,
					why);
	if (n != length)
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"item '%.200s': chunk length %llu does "
					"not match its shape and dtype "
					"(expected %llu)",
					it->name, (unsigned long long)length,
					(unsigned long long)n);
	return CKPTIO_OK;
}

/* Room for one more chunk; the last step of adding one that can fail. */
static ckptio_chunk_meta *chunk_slot(md_impl *m, ckptio_item_meta *it)
{
	size_t n = it->nchunks;
	ckptio_chunk_meta *v = (ckptio_chunk_meta *)it->chunks;

	if (n == 0) {
		v = arena_alloc(m, sizeof(*v));
	} else if (n == 1) {
		if ((v = malloc(2 * sizeof(*v))))
			memcpy(v, it->chunks, sizeof(*v));
	} else if ((n & (n - 1)) == 0) {
		v = n <= SIZE_MAX / 2 / sizeof(*v)
			    ? realloc(v, 2 * n * sizeof(*v)) : NULL;
	}
	if (!v)
		return NULL;
	it->chunks = v;
	return &v[n];
}

/* md_add_chunk once the item is known and the object name checked; the
 * name is interned here unless it already is (`interned`: the JSON
 * reader's table of objects, checked as md_add_chunk checks names). */
static ckptio_status add_chunk(ckptio_host_ctx *hc, md_impl *m,
			       ckptio_item_meta *it, const uint64_t *offsets,
			       const uint64_t *shape, const char *object,
			       int interned, uint64_t offset, uint64_t length,
			       int has_crc, uint32_t crc32c)
{
	static const uint64_t zeros[CKPTIO_MAX_NDIM];
	size_t size = it->ndim * sizeof(*offsets);
	const uint64_t *o = zeros, *s = it->ndim ? it->shape : zeros;
	ckptio_chunk_meta *c;
	const char *obj = object;
	uint64_t end, *dims;
	ckptio_status st;

	/* Below 2^63, as every number of the JSON form. */
	if (__builtin_add_overflow(offset, length, &end) || end > INT64_MAX)
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"item '%.200s': chunk offset plus "
					"length reaches 2^63",
					it->name);
	st = check_chunk(hc, it, offsets, shape, length);
	if (st != CKPTIO_OK)
		return st;
	/* A chunk of the whole tensor, the usual case, shares its dims. */
	if (it->kind == CKPTIO_ITEM_TENSOR && size &&
	    (memcmp(offsets, zeros, size) != 0 ||
	     memcmp(shape, it->shape, size) != 0)) {
		if (!(dims = arena_alloc(m, 2 * size)))
			return ckptio__hc_error(hc, CKPTIO_ENOMEM,
						"out of memory");
		memcpy(dims, offsets, size);
		memcpy(dims + it->ndim, shape, size);
		o = dims;
		s = dims + it->ndim;
	}
	if ((!interned && !(obj = intern(m, object))) ||
	    !(c = chunk_slot(m, it)))
		return ckptio__hc_error(hc, CKPTIO_ENOMEM, "out of memory");
	memset(c, 0, sizeof(*c));
	c->offsets = o;
	c->shape = s;
	c->object = obj;
	c->offset = offset;
	c->length = length;
	c->has_crc = has_crc;
	c->crc32c = crc32c;
	it->nchunks++;
	m->sealed = 0;
	return CKPTIO_OK;
}

ckptio_status ckptio__md_add_chunk(ckptio_host_ctx *hc, ckptio_metadata *md,
				   size_t item, const uint64_t *offsets,
				   const uint64_t *shape, const char *object,
				   uint64_t offset, uint64_t length,
				   int has_crc, uint32_t crc32c)
{
	md_impl *m = IMPL(md);
	ckptio_item_meta *it;

	if (item >= md->nitems)
		return ckptio__hc_error(hc, CKPTIO_EINVAL, "no item %zu", item);
	it = &m->items[item];
	if (!object_ok(m, object))
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"item '%.200s': invalid object name "
					"'%.200s'",
					it->name, object ? object : "(null)");
	return add_chunk(hc, m, it, offsets, shape, object, 0, offset, length,
			 has_crc, crc32c);
}

ckptio_status ckptio__md_set_location(ckptio_host_ctx *hc, ckptio_metadata *md,
				      size_t item, size_t chunk,
				      const char *object, uint64_t offset,
				      uint64_t length, uint32_t crc32c)
{
	md_impl *m = IMPL(md);
	ckptio_item_meta *it;
	ckptio_chunk_meta *c;
	const char *obj;
	uint64_t end;

	if (item >= md->nitems || chunk >= m->items[item].nchunks)
		return ckptio__hc_error(hc, CKPTIO_EINVAL,
					"no chunk %zu of item %zu", chunk, item);
	it = &m->items[item];
	c = (ckptio_chunk_meta *)&it->chunks[chunk];
	if (!object_ok(m, object))
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"item '%.200s': invalid object name "
					"'%.200s'",
					it->name, object ? object : "(null)");
	if (length != c->length)
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"item '%.200s': %llu bytes written for "
					"a chunk of %llu",
					it->name, (unsigned long long)length,
					(unsigned long long)c->length);
	if (__builtin_add_overflow(offset, length, &end) || end > INT64_MAX)
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"item '%.200s': chunk offset plus "
					"length reaches 2^63",
					it->name);
	if (!(obj = intern(m, object)))
		return ckptio__hc_error(hc, CKPTIO_ENOMEM, "out of memory");
	c->object = obj;
	c->offset = offset;
	c->has_crc = 1;
	c->crc32c = crc32c;
	return CKPTIO_OK;
}

/* Attributes are appended; a sort keeps the last value of each key.  It
 * runs at seal and whenever the list doubles, so setting n attributes
 * costs O(n log n) and at most twice their memory. */
static ckptio_status attr_append(ckptio_host_ctx *hc, md_impl *m,
				 const char *key, const char *value)
{
	ckptio_metadata *md = &m->pub;

	if (md->nattrs == m->acap) {
		size_t cap = m->acap ? m->acap * 2 : 4;
		char **k = realloc(m->akeys, cap * sizeof(*k));
		char **v = k ? realloc(m->avals, cap * sizeof(*v)) : NULL;

		if (k)
			m->akeys = k;
		if (!v)
			return ckptio__hc_error(hc, CKPTIO_ENOMEM, "out of memory");
		m->avals = v;
		m->acap = cap;
	}
	m->akeys[md->nattrs] = strdup(key);
	m->avals[md->nattrs] = strdup(value);
	if (!m->akeys[md->nattrs] || !m->avals[md->nattrs]) {
		free(m->akeys[md->nattrs]);
		free(m->avals[md->nattrs]);
		return ckptio__hc_error(hc, CKPTIO_ENOMEM, "out of memory");
	}
	md->nattrs++;
	md->attr_keys = (const char *const *)m->akeys;
	md->attr_values = (const char *const *)m->avals;
	m->sealed = 0;
	return CKPTIO_OK;
}

typedef struct attr_ref {
	char *key, *value;
	size_t seq;
} attr_ref;

static int cmp_attr(const void *a, const void *b)
{
	const attr_ref *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* Sort the attributes by key and keep the last value set for each; with
 * `what` (a metadata file), a key set twice is an error instead. */
static ckptio_status attrs_sort(ckptio_host_ctx *hc, md_impl *m,
				const char *what)
{
	ckptio_metadata *md = &m->pub;
	size_t n = md->nattrs, k = 0;
	attr_ref *r;

	if (n == m->aclean)
		return CKPTIO_OK;
	if (!(r = malloc(n * sizeof(*r))))
		return ckptio__hc_error(hc, CKPTIO_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		r[i] = (attr_ref){m->akeys[i], m->avals[i], i};
	qsort(r, n, sizeof(*r), cmp_attr);
	for (size_t i = 1; what && i < n; i++)
		if (strcmp(r[i - 1].key, r[i].key) == 0) {
			const char *key = r[i].key; /* still in m->akeys */

			free(r);
			return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
						"%s: attrs: key '%.200s' appears "
						"twice",
						what, key);
		}
	for (size_t i = 0; i < n; i++) {
		if (i + 1 < n && strcmp(r[i].key, r[i + 1].key) == 0) {
			free(r[i].key);
			free(r[i].value);
			continue;
		}
		m->akeys[k] = r[i].key;
		m->avals[k++] = r[i].value;
	}
	free(r);
	md->nattrs = m->aclean = k;
	return CKPTIO_OK;
}

ckptio_status ckptio__md_set_attr(ckptio_host_ctx *hc, ckptio_metadata *md,
				  const char *key, const char *value)
{
	md_impl *m = IMPL(md);
	ckptio_status st;

	if (!key || !value)
		return ckptio__hc_error(hc, CKPTIO_EINVAL,
					"attribute %s is NULL",
					key ? "value" : "key");
	/* The metadata is JSON: UTF-8 only, as for item names. */
	if (ckptio__utf8_prefix(key, strlen(key)) != strlen(key) ||
	    ckptio__utf8_prefix(value, strlen(value)) != strlen(value))
		return ckptio__hc_error(hc, CKPTIO_EINVAL,
					"attribute '%.100s': key and value "
					"must be UTF-8",
					key);
	st = attr_append(hc, m, key, value);
	if (st == CKPTIO_OK && md->nattrs >= 16 && md->nattrs >= 2 * m->aclean)
		st = attrs_sort(hc, m, NULL);
	return st;
}

/* ------------------------------------------------------------------------ */
/* Sealing: order and whole-item checks                                     */

static int cmp_items(const void *a, const void *b)
{
	return strcmp(((const ckptio_item_meta *)a)->name,
		      ((const ckptio_item_meta *)b)->name);
}

static int boxes_overlap(unsigned ndim, const ckptio_chunk_meta *a,
			 const ckptio_chunk_meta *b)
{
	for (unsigned d = 0; d < ndim; d++)
		if (a->offsets[d] >= b->offsets[d] + b->shape[d] ||
		    b->offsets[d] >= a->offsets[d] + a->shape[d])
			return 0;
	return 1;
}

/*
 * Do the chunks tile the tensor, every element in exactly one chunk?
 * Chunks are inside the tensor (md_add_chunk); those with no element are
 * left out.  On the tensor's elements x, the indicator of a chunk
 * [a, b) (a product of [a_k, b_k)) expands into "corner" functions
 * Q_p(x) = [x >= p in every dimension]:
 *
 *     [a_k <= x_k < b_k] = Q(a_k) - Q(b_k),  and Q(n_k) = 0 on the tensor,
 *
 * so a chunk is the signed sum of its corners p with p_k in {a_k, b_k},
 * b_k < n_k, sign (-1)^(number of b's), and the whole tensor is Q_0.
 * Let w_p be the signed count of corner p over all chunks, minus 1 at
 * p = 0.  Then (sum of the chunks' indicators - 1) = sum_p w_p Q_p.  If
 * every w_p is 0, every element is in exactly one chunk.  If not, let p*
 * be the lexicographically smallest p with w_p != 0: every other p with
 * w_p != 0 is lexicographically larger, so not <= p* in all dimensions,
 * and Q_p(p*) = 0; hence element p* is in 1 + w_p* chunks: two or more
 * (an overlap), or none (a gap).  Sorting the corners finds p*.
 *
 * A chunk has 2^t corners, t = dimensions where it ends before the
 * tensor does, so the check costs O(C log C) for C corners.  Grids, the
 * usual case, are checked more cheaply first (tiling_grid), and
 * dimensions that every chunk spans whole are dropped.  A tiling with
 * more corners than the budget (16 a chunk, plus 2^20) is checked pair by
 * pair when it has few chunks, so its cost is bounded too, and refused
 * otherwise, with a message that says why.
 */
#define TILE_BUDGET(m) (16 * (m) + ((size_t)1 << 20))
#define TILE_PAIRWISE 2048 /* chunks */
#define NO_CHUNK UINT32_MAX /* the tensor's own corner, at 0 */

typedef struct corner {
	uint32_t chunk; /* index in the item, or NO_CHUNK */
	uint32_t mask;  /* bit j: the end, not the start, in dims[j] */
} corner;

typedef struct tiling {
	const ckptio_item_meta *it;
	unsigned nd;                    /* dimensions kept */
	unsigned dims[CKPTIO_MAX_NDIM]; /* which */
} tiling;

static uint64_t corner_at(const tiling *t, const corner *c, unsigned j)
{
	const ckptio_chunk_meta *k;
	unsigned d = t->dims[j];

	if (c->chunk == NO_CHUNK)
		return 0;
	k = &t->it->chunks[c->chunk];
	return k->offsets[d] + ((c->mask >> j & 1) ? k->shape[d] : 0);
}

static int cmp_corner(const void *a, const void *b, void *arg)
{
	const tiling *t = arg;

	for (unsigned j = 0; j < t->nd; j++) {
		uint64_t x = corner_at(t, a, j), y = corner_at(t, b, j);

		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}

static int corner_sign(const corner *c)
{
	if (c->chunk == NO_CHUNK)
		return -1;
	return __builtin_parity(c->mask) ? -1 : 1;
}

static int chunk_empty(const ckptio_chunk_meta *c)
{
	return c->length == 0;
}

/* Bit j set where the chunk ends before the tensor in dims[j]. */
static uint32_t inner_ends(const tiling *t, const ckptio_chunk_meta *c)
{
	uint32_t mask = 0;

	for (unsigned j = 0; j < t->nd; j++)
		if (c->offsets[t->dims[j]] + c->shape[t->dims[j]] <
		    t->it->shape[t->dims[j]])
			mask |= (uint32_t)1 << j;
	return mask;
}

/* The element at corner c (dimensions not kept: 0) as "[i, j, k]". */
static void element_text(const tiling *t, const corner *c, char *buf,
			 size_t len, uint64_t *at)
{
	size_t off = (size_t)snprintf(buf, len, "[");

	memset(at, 0, t->it->ndim * sizeof(*at));
	for (unsigned j = 0; j < t->nd; j++)
		at[t->dims[j]] = corner_at(t, c, j);
	for (unsigned d = 0; d < t->it->ndim && off < len; d++)
		off += (size_t)snprintf(buf + off, len - off, "%s%llu",
					d ? ", " : "",
					(unsigned long long)at[d]);
	if (off < len)
		snprintf(buf + off, len - off, "]");
}

/* Element p* of the comment above is in 1 + w chunks: say which. */
static ckptio_status tiling_error(ckptio_host_ctx *hc, const char *what,
				  const tiling *t, const corner *c, long long w)
{
	const ckptio_item_meta *it = t->it;
	char text[CKPTIO_MAX_NDIM * 22 + 3];
	uint64_t at[CKPTIO_MAX_NDIM];
	size_t first = SIZE_MAX;

	element_text(t, c, text, sizeof(text), at);
	if (w < 0)
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"%s: item '%.200s': chunks overlap: "
					"element %s is in none of them",
					what, it->name, text);
	for (size_t i = 0; i < it->nchunks; i++) {
		const ckptio_chunk_meta *k = &it->chunks[i];
		unsigned d = 0;

		while (d < it->ndim && k->offsets[d] <= at[d] &&
		       at[d] - k->offsets[d] < k->shape[d])
			d++;
		if (d < it->ndim)
			continue;
		if (first != SIZE_MAX)
			return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
						"%s: item '%.200s': chunks %zu "
						"and %zu overlap at element %s",
						what, it->name, first, i, text);
		first = i;
	}
	return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
				"%s: item '%.200s': chunks overlap at element "
				"%s",
				what, it->name, text);
}

/* Few chunks: compare every pair. */
static ckptio_status tiling_pairwise(ckptio_host_ctx *hc, const char *what,
				     const ckptio_item_meta *it)
{
	for (size_t i = 0; i < it->nchunks; i++)
		for (size_t j = 0; j < i && !chunk_empty(&it->chunks[i]); j++)
			if (!chunk_empty(&it->chunks[j]) &&
			    boxes_overlap(it->ndim, &it->chunks[i],
					  &it->chunks[j]))
				return ckptio__hc_error(
					hc, CKPTIO_ECORRUPT,
					"%s: item '%.200s': chunks %zu and %zu "
					"overlap",
					what, it->name, j, i);
	return CKPTIO_OK;
}

typedef struct range {
	uint64_t a, b;
} range;

static int cmp_range(const void *x, const void *y)
{
	const range *p = x, *q = y;

	if (p->a != q->a)
		return p->a < q->a ? -1 : 1;
	return (p->b > q->b) - (p->b < q->b);
}

/* Chunks by where they start. */
static int cmp_start(const void *a, const void *b, void *arg)
{
	const corner x = {*(const uint32_t *)a, 0}, y = {*(const uint32_t *)b, 0};

	return cmp_corner(&x, &y, arg);
}

/*
 * The usual case, a grid (rows, columns, blocks, in any number of
 * dimensions), is checked directly.  If in each dimension the chunks'
 * ranges, repeats aside, follow one another from 0 to the tensor's end,
 * every chunk is one cell of the grid they draw, and every cell has
 * elements; the chunks, as many elements in all as the tensor, then tile
 * it exactly when no two start at the same place.  *grid = 0 when the
 * ranges do not follow one another.
 */
static ckptio_status tiling_grid(ckptio_host_ctx *hc, const char *what,
				 const tiling *t, size_t m, int *grid)
{
	const ckptio_item_meta *it = t->it;
	range *r = malloc(m * sizeof(*r));
	uint32_t *order = r ? malloc(m * sizeof(*order)) : NULL;
	ckptio_status st = CKPTIO_OK;
	size_t k = 0;

	*grid = 0;
	if (!order) {
		free(r);
		return ckptio__hc_error(hc, CKPTIO_ENOMEM, "out of memory");
	}
	for (unsigned j = 0; j < t->nd; j++) {
		unsigned d = t->dims[j];
		uint64_t end = 0;

		k = 0;
		for (size_t i = 0; i < it->nchunks; i++) {
			const ckptio_chunk_meta *c = &it->chunks[i];

			if (!chunk_empty(c))
				r[k++] = (range){c->offsets[d],
						 c->offsets[d] + c->shape[d]};
		}
		qsort(r, m, sizeof(*r), cmp_range);
		for (size_t i = 0; i < m; i++) {
			if (i > 0 && cmp_range(&r[i - 1], &r[i]) == 0)
				continue;
			if (r[i].a != end)
				goto out;
			end = r[i].b;
		}
		if (end != it->shape[d])
			goto out;
	}
	*grid = 1;
	k = 0;
	for (size_t i = 0; i < it->nchunks; i++)
		if (!chunk_empty(&it->chunks[i]))
			order[k++] = (uint32_t)i;
	qsort_r(order, m, sizeof(*order), cmp_start, (void *)t);
	for (size_t i = 1; i < m && st == CKPTIO_OK; i++)
		if (cmp_start(&order[i - 1], &order[i], (void *)t) == 0)
			st = tiling_error(hc, what, t,
					  &(corner){order[i], 0}, 1);
out:
	free(order);
	free(r);
	return st;
}

/* Any other tiling, by its corners (see above). */
static ckptio_status tiling_corners(ckptio_host_ctx *hc, const char *what,
				    const tiling *t, size_t m)
{
	const ckptio_item_meta *it = t->it;
	size_t ncorners = 1, k = 0;
	ckptio_status st = CKPTIO_OK;
	corner *v;

	for (size_t i = 0; i < it->nchunks; i++) {
		int bits = __builtin_popcount(inner_ends(t, &it->chunks[i]));

		if (chunk_empty(&it->chunks[i]))
			continue;
		ncorners += bits < 32 ? (size_t)1 << bits : SIZE_MAX / 2;
		if (ncorners > TILE_BUDGET(m))
			break;
	}
	if (ncorners > TILE_BUDGET(m)) {
		if (m <= TILE_PAIRWISE)
			return tiling_pairwise(hc, what, it);
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"%s: item '%.200s': its %zu chunks are "
					"cut along %u dimensions in a pattern "
					"too irregular to check that they tile "
					"it (more than %zu corners)",
					what, it->name, m, t->nd,
					TILE_BUDGET(m));
	}
	if (!(v = malloc(ncorners * sizeof(*v))))
		return ckptio__hc_error(hc, CKPTIO_ENOMEM, "out of memory");
	for (size_t i = 0; i < it->nchunks; i++) {
		uint32_t inner = inner_ends(t, &it->chunks[i]), s = inner;

		if (chunk_empty(&it->chunks[i]))
			continue;
		do { /* every subset s of inner */
			v[k++] = (corner){(uint32_t)i, s};
			s = (s - 1) & inner;
		} while (s != inner);
	}
	v[k++] = (corner){NO_CHUNK, 0};
	qsort_r(v, k, sizeof(*v), cmp_corner, (void *)t);
	for (size_t i = 0, j; i < k && st == CKPTIO_OK; i = j) {
		long long w = 0;

		for (j = i; j < k && cmp_corner(&v[i], &v[j], (void *)t) == 0;
		     j++)
			w += corner_sign(&v[j]);
		if (w != 0)
			st = tiling_error(hc, what, t, &v[i], w);
	}
	free(v);
	return st;
}

/* The item has m >= 2 chunks with elements, as many elements in all as
 * the tensor: are they disjoint (so they tile it)?  Dimensions that every
 * chunk spans whole play no part. */
static ckptio_status check_tiling(ckptio_host_ctx *hc, const char *what,
				  const ckptio_item_meta *it, size_t m)
{
	tiling t = {.it = it};
	int grid;
	ckptio_status st;

	if (it->nchunks >= NO_CHUNK)
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"%s: item '%.200s': more than %u chunks",
					what, it->name, NO_CHUNK - 1);
	for (unsigned d = 0; d < it->ndim; d++)
		for (size_t i = 0; i < it->nchunks; i++) {
			const ckptio_chunk_meta *c = &it->chunks[i];

			if (!chunk_empty(c) &&
			    (c->offsets[d] != 0 || c->shape[d] != it->shape[d])) {
				t.dims[t.nd++] = d;
				break;
			}
		}
	st = tiling_grid(hc, what, &t, m, &grid);
	return st != CKPTIO_OK || grid ? st : tiling_corners(hc, what, &t, m);
}

/* A bytes item is its one chunk.  The chunks of a tensor hold every
 * element once: as many elements in all as the tensor, and disjoint. */
static ckptio_status check_cover(ckptio_host_ctx *hc, const char *what,
				 const ckptio_item_meta *it)
{
	uint64_t total = 0, n = 0, c;
	size_t m = 0;
	int over = 0;

	if (it->nchunks == 0)
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"%s: item '%.200s' has no chunks", what,
					it->name);
	if (it->kind != CKPTIO_ITEM_TENSOR)
		return CKPTIO_OK;
	/* Elements, not bytes: a sub-byte element has no byte count.  Both
	 * counts fit, as add_item and add_chunk checked. */
	over = elements(it->ndim, it->shape, &n) != 0;
	for (size_t i = 0; !over && i < it->nchunks; i++) {
		m += !chunk_empty(&it->chunks[i]);
		over = elements(it->ndim, it->chunks[i].shape, &c) != 0 ||
		       __builtin_add_overflow(total, c, &total);
	}
	if (over || total > n)
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"%s: item '%.200s': chunks overlap: "
					"they hold more elements than its %llu",
					what, it->name, (unsigned long long)n);
	if (total != n)
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"%s: item '%.200s': chunks cover %llu "
					"of %llu elements",
					what, it->name,
					(unsigned long long)total,
					(unsigned long long)n);
	/* One chunk inside the tensor with all its elements is the tensor. */
	return m < 2 ? CKPTIO_OK : check_tiling(hc, what, it, m);
}

ckptio_status ckptio__md_seal(ckptio_host_ctx *hc, const char *what,
			      ckptio_metadata *md)
{
	md_impl *m = IMPL(md);
	ckptio_status st;

	if (m->sealed)
		return CKPTIO_OK;
	/* Metadata files are written sorted: sort only when needed. */
	for (size_t i = 1; i < md->nitems; i++)
		if (cmp_items(&m->items[i - 1], &m->items[i]) > 0) {
			qsort(m->items, md->nitems, sizeof(*m->items),
			      cmp_items);
			break;
		}
	for (size_t i = 0; i < md->nitems; i++) {
		ckptio_item_meta *it = &m->items[i];

		if (i > 0 && strcmp(m->items[i - 1].name, it->name) == 0)
			return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
						"%s: item '%.200s' appears twice",
						what, it->name);
		if (it->kind == CKPTIO_ITEM_BYTES && it->nchunks == 1)
			it->nbytes = it->chunks[0].length;
		st = check_cover(hc, what, it);
		if (st != CKPTIO_OK)
			return st;
	}
	if ((st = attrs_sort(hc, m, NULL)) != CKPTIO_OK)
		return st;
	/* New chunks are rare after this: the tree's nodes can go. */
	tdestroy(m->objects, keep_node);
	m->objects = NULL;
	m->sealed = 1;
	return CKPTIO_OK;
}

size_t ckptio__md_find(const ckptio_metadata *md, const char *name)
{
	size_t lo = 0, hi = md->nitems;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(md->items[mid].name, name);

		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (size_t)-1;
}

/* ------------------------------------------------------------------------ */
/* JSON: writing                                                            */

/* yajl_gen's output, in a buffer that grows by doubling (the print
 * callback cannot fail: a failure is remembered). */
typedef struct outbuf {
	char *s;
	size_t len, cap;
	int failed;
} outbuf;

/* out_room when the buffer must grow first. */
static char *out_grow(outbuf *o, size_t n)
{
	size_t cap = o->cap ? o->cap : 4096;
	char *b;

	if (o->failed)
		return NULL;
	while (cap - o->len <= n && cap <= SIZE_MAX / 2)
		cap *= 2;
	if (cap - o->len <= n) {
		o->failed = 1;
		return NULL;
	}
	if (cap != o->cap) {
		if (!(b = realloc(o->s, cap))) {
			o->failed = 1;
			return NULL;
		}
		o->s = b;
		o->cap = cap;
	}
	return o->s + o->len;
}

/* Room for n more bytes at the end of o, or NULL (remembered in
 * o->failed). */
static inline char *out_room(outbuf *o, size_t n)
{
	if (!o->failed && o->cap - o->len > n)
		return o->s + o->len;
	return out_grow(o, n);
}

static void out_print(void *ctx, const char *s, size_t n)
{
	outbuf *o = ctx;
	char *d;

	if (n == 0 || !(d = out_room(o, n)))
		return;
	memcpy(d, s, n);
	o->len += n;
}

/* Each returns a yajl_gen_status, 0 when it went well: ORed together,
 * nonzero means something failed. */
static unsigned gen_str(yajl_gen g, const char *s)
{
	return yajl_gen_string(g, (const unsigned char *)s, strlen(s));
}

static unsigned put_str(yajl_gen g, const char *key, const char *value)
{
	unsigned bad = gen_str(g, key);

	return bad | gen_str(g, value);
}

/* The builder keeps every number below 2^63. */
static unsigned put_int(yajl_gen g, const char *key, long long value)
{
	unsigned bad = gen_str(g, key);

	return bad | yajl_gen_integer(g, value);
}

/* The objects table: each distinct object name once, in the order of
 * first use, found again by name (the builder interns names, but a
 * location set after a seal may be a second copy of a name). */
typedef struct objent {
	const char *name; /* first: the tree compares entries as strings */
	size_t index;
} objent;

typedef struct objtab {
	void *tree;         /* tsearch tree of objent */
	const char **names; /* by index */
	size_t n, cap;
	/* The last names looked up and their indexes, by address: the
	 * metadata's chunks share the interned copy of a name, and
	 * consecutive items mostly alternate between a few objects. */
	struct {
		const char *name;
		size_t index;
	} recent[8];
	unsigned next;
} objtab;

static void objtab_free(objtab *t)
{
	tdestroy(t->tree, free);
	free(t->names);
}

/* The index of name, added when new; -1 when out of memory. */
static int objtab_index(objtab *t, const char *name, size_t *index)
{
	objent *e, **node;
	const char **v;

	for (unsigned i = 0; i < 8; i++)
		if (t->recent[i].name == name) {
			*index = t->recent[i].index;
			return 0;
		}
	node = tfind(&name, &t->tree, cmp_str_ptr);
	if (!node) {
		if (t->n == t->cap) {
			size_t cap = t->cap ? 2 * t->cap : 16;

			if (!(v = realloc(t->names, cap * sizeof(*v))))
				return -1;
			t->names = v;
			t->cap = cap;
		}
		if (!(e = malloc(sizeof(*e))))
			return -1;
		*e = (objent){name, t->n};
		if (!(node = tsearch(e, &t->tree, cmp_str_ptr))) {
			free(e);
			return -1;
		}
		t->names[t->n++] = name;
	}
	*index = (*node)->index;
	t->recent[t->next].name = name;
	t->recent[t->next].index = *index;
	t->next = (t->next + 1) % 8;
	return 0;
}

/* Does the chunk hold the whole tensor (every offset 0, its shape the
 * tensor's)?  Then version 2 leaves out its offsets and shape. */
static int chunk_whole(const ckptio_item_meta *it, const ckptio_chunk_meta *c)
{
	for (unsigned d = 0; d < it->ndim; d++)
		if (c->offsets[d] != 0 || c->shape[d] != it->shape[d])
			return 0;
	return 1;
}

/*
 * The items, the bulk of the text, are written straight into the output
 * buffer between yajl_gen's "[" and "]" of their array: through yajl_gen
 * (a call and a print callback per token) they were half of the save of
 * 64,000 small tensors.  The text is yajl_gen's: compact, strings escaped
 * as it escapes them, UTF-8 checked as it checks it.
 */

static void out_byte(outbuf *o, char c)
{
	char *d = out_room(o, 1);

	if (d) {
		*d = c;
		o->len++;
	}
}

/* An unsigned number, in decimal (yajl_gen_integer formats with
 * sprintf). */
static void out_u64(outbuf *o, uint64_t v)
{
	static const char pairs[201] =
		"00010203040506070809101112131415161718192021222324252627282930"
		"31323334353637383940414243444546474849505152535455565758596061"
		"62636465666768697071727374757677787980818283848586878889909192"
		"93949596979899";
	char buf[20], *d;
	size_t i = sizeof(buf);

	/* Two digits a division. */
	while (v >= 100) {
		unsigned r = (unsigned)(v % 100);

		v /= 100;
		i -= 2;
		memcpy(buf + i, pairs + 2 * r, 2);
	}
	if (v >= 10) {
		i -= 2;
		memcpy(buf + i, pairs + 2 * v, 2);
	} else {
		buf[--i] = (char)('0' + v);
	}
	if ((d = out_room(o, sizeof(buf)))) {
		memcpy(d, buf + i, sizeof(buf) - i);
		o->len += sizeof(buf) - i;
	}
}

/* Does any byte of w need escaping in a JSON string: below 0x20, '"' or
 * '\\'?  (Bytes of 0x80 and up are told apart from those by their top
 * bit.) */
static int needs_escape(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101ull, high = ones << 7;
	uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');

	return ((((w - ones * 0x20) & ~w) | ((q - ones) & ~q) |
		 ((b - ones) & ~b)) & high) != 0;
}

/* A JSON string: '"', '\\' and control characters escaped as yajl_gen
 * escapes them (and '/' not); anything but UTF-8 fails, as yajl_gen's
 * check makes it fail. */
static void out_str(outbuf *o, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t len = strlen(s), run = 0;
	char *d;

	if (ckptio__utf8_prefix(s, len) != len) {
		o->failed = 1;
		return;
	}
	/* At most 6 bytes ("\u001f") per byte, and the quotes. */
	if (len > (SIZE_MAX - 2) / 6 || !(d = out_room(o, 6 * len + 2))) {
		o->failed = 1;
		return;
	}
	*d++ = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		uint64_t w;
		char e = 0;

		/* Eight plain bytes at a time. */
		if (len - i >= 8 && (memcpy(&w, s + i, 8), !needs_escape(w))) {
			run += 8;
			i += 7;
			continue;
		}
		if (c >= 0x20 && c != '"' && c != '\\') {
			run++;
			continue;
		}
		memcpy(d, s + i - run, run);
		d += run;
		run = 0;
		switch (c) {
		case '"': e = '"'; break;
		case '\\': e = '\\'; break;
		case '\b': e = 'b'; break;
		case '\f': e = 'f'; break;
		case '\n': e = 'n'; break;
		case '\r': e = 'r'; break;
		case '\t': e = 't'; break;
		}
		*d++ = '\\';
		if (e) {
			*d++ = e;
		} else {
			memcpy(d, "u00", 3);
			d[3] = hex[c >> 4];
			d[4] = hex[c & 15];
			d += 5;
		}
	}
	memcpy(d, s + len - run, run);
	d += run;
	*d++ = '"';
	o->len = (size_t)(d - o->s);
}

static void out_dims(outbuf *o, const uint64_t *v, unsigned n)
{
	out_byte(o, '[');
	for (unsigned i = 0; i < n; i++) {
		if (i)
			out_byte(o, ',');
		out_u64(o, v[i]);
	}
	out_byte(o, ']');
}

/* [object, offset, length, crc32c] with, for a part of a tensor,
 * offsets and shape after them; crc32c null when the chunk has none. */
static void out_chunk(outbuf *o, objtab *t, const ckptio_item_meta *it,
		      const ckptio_chunk_meta *c)
{
	size_t obj;

	if (objtab_index(t, c->object, &obj) != 0) {
		o->failed = 1;
		return;
	}
	out_byte(o, '[');
	out_u64(o, obj);
	out_byte(o, ',');
	out_u64(o, c->offset);
	out_byte(o, ',');
	out_u64(o, c->length);
	out_byte(o, ',');
	if (c->has_crc)
		out_u64(o, c->crc32c);
	else
		out_print(o, "null", 4);
	if (it->kind == CKPTIO_ITEM_TENSOR && !chunk_whole(it, c)) {
		out_byte(o, ',');
		out_dims(o, c->offsets, it->ndim);
		out_byte(o, ',');
		out_dims(o, c->shape, it->ndim);
	}
	out_byte(o, ']');
}

/* [name, dtype, shape, chunks]; a bytes item: [name, "bytes", null,
 * chunks]. */
static void out_item(outbuf *o, objtab *t, const ckptio_item_meta *it)
{
	int tensor = it->kind == CKPTIO_ITEM_TENSOR;

	out_byte(o, '[');
	out_str(o, it->name);
	out_byte(o, ',');
	out_str(o, tensor ? ckptio_dtype_name(it->dtype) : "bytes");
	out_byte(o, ',');
	if (tensor)
		out_dims(o, it->shape, it->ndim);
	else
		out_print(o, "null", 4);
	out_print(o, ",[", 2);
	for (size_t c = 0; c < it->nchunks && !o->failed; c++) {
		if (c)
			out_byte(o, ',');
		out_chunk(o, t, it, &it->chunks[c]);
	}
	out_print(o, "]]", 2);
}

/* The objects table, in the order the items' chunks first use them. */
static unsigned put_objects(yajl_gen g, objtab *t, const ckptio_metadata *md)
{
	unsigned bad = gen_str(g, "objects");
	size_t index;

	for (size_t i = 0; i < md->nitems && !bad; i++)
		for (size_t c = 0; c < md->items[i].nchunks && !bad; c++)
			bad |= objtab_index(t, md->items[i].chunks[c].object,
					    &index) != 0;
	bad |= yajl_gen_array_open(g);
	for (size_t i = 0; i < t->n && !bad; i++)
		bad |= gen_str(g, t->names[i]);
	return bad | yajl_gen_array_close(g);
}

/* Version 2 (docs/metadata.md), streamed by yajl_gen into one buffer,
 * compact, members in a fixed order, UTF-8 as it is (yajl_gen has no
 * ASCII-only mode; RFC 8259 asks for UTF-8) and checked by yajl_gen. */
char *ckptio__md_to_json(const ckptio_metadata *md, size_t *len)
{
	outbuf o = {0};
	objtab t = {0};
	yajl_gen g = yajl_gen_alloc(NULL);
	unsigned bad = !g;
	char *s;

	if (g && (!yajl_gen_config(g, yajl_gen_print_callback, out_print, &o) ||
		  !yajl_gen_config(g, yajl_gen_validate_utf8, 1) ||
		  !yajl_gen_config(g, yajl_gen_escape_solidus, 0)))
		bad = 1;
	if (!bad) {
		bad |= yajl_gen_map_open(g);
		bad |= put_str(g, "format", "ckptio");
		bad |= put_int(g, "version", CKPTIO__MD_VERSION);
		bad |= put_str(g, "layout", md->layout);
		bad |= put_int(g, "world", md->world);
		bad |= gen_str(g, "attrs");
		bad |= yajl_gen_map_open(g);
		for (size_t i = 0; i < md->nattrs; i++)
			bad |= put_str(g, md->attr_keys[i], md->attr_values[i]);
		bad |= yajl_gen_map_close(g);
		bad |= put_objects(g, &t, md);
		bad |= gen_str(g, "items");
		bad |= yajl_gen_array_open(g);
		for (size_t i = 0; i < md->nitems && !bad && !o.failed; i++) {
			if (i)
				out_byte(&o, ',');
			out_item(&o, &t, &md->items[i]);
		}
		bad |= yajl_gen_array_close(g);
		bad |= yajl_gen_map_close(g);
	}
	if (g)
		yajl_gen_free(g);
	objtab_free(&t);
	out_print(&o, "", 1); /* a NUL after the text, not counted */
	if (bad || o.failed) {
		free(o.s);
		return NULL;
	}
	*len = o.len - 1;
	s = realloc(o.s, o.len); /* give back the doubling's spare room */
	return s ? s : o.s;
}

/* ------------------------------------------------------------------------ */
/* JSON: reading                                                            */

/*
 * yajl's callback parser validates the document (strict JSON: no
 * comments, one value, nothing after it, UTF-8 checked) and hands each
 * token to the callbacks below, which feed the builder as the document
 * streams by: nothing like a tree is built, so memory stays near the
 * metadata's own.  A stack of frames (the root object, attrs, the objects
 * table, items, an item, its chunks, a chunk, an array of dims) says
 * where the next value goes; unknown members are skipped, at any depth.
 *
 * Two versions are read (docs/metadata.md).  In version 1 items and
 * chunks are objects with named members; in version 2 they are arrays of
 * a fixed arity whose elements go by position, and chunks name their
 * data object by its index in the root's "objects" table.
 *
 * Members may come in any order.  An item's chunks need the item (its
 * name, kind, dtype and shape), attrs and items need the header (format,
 * version, world), so that a newer version is said so before its items
 * are read, and version 2's items need the objects table.  When those
 * come later, a look-ahead runs a second yajl parser over the rest of
 * that object for them first (the files ckptio writes never need it).  A
 * known key given twice is an error.
 *
 * yajl checks UTF-8 only loosely and decodes a \u escape of an unpaired
 * UTF-16 surrogate into '?' or into bytes that are not UTF-8: every
 * string is checked strictly here, its escapes too, and \u0000 is refused
 * as jansson (the coordinator's messages) refuses it.
 *
 * A JSON error gives the line, column and byte; a content error names the
 * member's path: items[3].chunks[0].offset in version 1, and in version
 * 2 the element's, with the field's name: items[3][3][0][1] (offset).
 */
#define JSON_DEPTH 2048 /* nesting, as jansson's limit */

/* Where a value goes: the member (by its key) or the array element. */
enum {
	S_SKIP, /* unknown: checked by yajl, then ignored */
	S_ROOT, S_FORMAT, S_VERSION, S_LAYOUT, S_WORLD, S_ATTRS, S_ITEMS,
	S_OBJECTS,
	S_ATTR, /* a value in attrs */
	S_ITEM, S_NAME, S_KIND, S_DTYPE, S_SHAPE, S_CHUNKS,
	S_CHUNK, S_OBJECT, S_OFFSET, S_LENGTH, S_CRC, S_OFFSETS, S_CSHAPE,
	S_DIM, /* an element of a shape or offsets array */
	/* Version 2 only: an entry of objects, an item, its dtype (or
	 * "bytes"), a chunk, its object index, and an element past the
	 * arity of an item or chunk. */
	S_OBJ, S_ITEM2, S_TYPE2, S_CHUNK2, S_OBJIDX, S_EXTRA,
};

/* The containers the schema knows; F_TOP stands before the document. */
enum {
	F_TOP, F_ROOT, F_ATTRS, F_ITEMS, F_ITEM, F_CHUNKS, F_CHUNK, F_DIMS,
	F_OBJECTS, F_ITEM2, F_CHUNK2, /* version 2 */
};

/* Version 2: the slots of the elements of an item and of a chunk, by
 * position, and the names their paths give them. */
static const unsigned char item2_slots[] = {S_NAME, S_TYPE2, S_SHAPE,
					    S_CHUNKS, S_EXTRA};
static const unsigned char chunk2_slots[] = {S_OBJIDX, S_OFFSET, S_LENGTH,
					     S_CRC,    S_OFFSETS, S_CSHAPE,
					     S_EXTRA};
static const char *const item2_names[] = {"name", "dtype", "shape",
					  "chunks"};
static const char *const chunk2_names[] = {"object", "offset",  "length",
					   "crc32c", "offsets", "shape"};
#define ITEM2_ARITY 4
#define CHUNK2_ARITY 4 /* or 6, with offsets and shape */
#define CHUNK2_PART 6

/* The keys of each object, in the order of their slots from the first:
 * key i goes to slot first + i, and is bit i of the frame's seen.  Each
 * fits in 8 bytes with its NUL. */
typedef struct jkeys {
	const char (*names)[8];
	unsigned n;
	unsigned char first;
} jkeys;

static const char root_names[][8] = {"format", "version", "layout", "world",
				     "attrs",  "items",   "objects"};
static const char item_names[][8] = {"name", "kind", "dtype", "shape",
				     "chunks"};
static const char chunk_names[][8] = {"object", "offset",  "length",
				      "crc32c", "offsets", "shape"};
#define KEYS(names, first) {names, sizeof(names) / sizeof(names[0]), first}
static const jkeys root_keys = KEYS(root_names, S_FORMAT);
static const jkeys item_keys = KEYS(item_names, S_NAME);
static const jkeys chunk_keys = KEYS(chunk_names, S_OBJECT);

#define ROOT_BIT(slot) (1u << ((slot) - S_FORMAT))
#define ITEM_BIT(slot) (1u << ((slot) - S_NAME))
#define CHUNK_BIT(slot) (1u << ((slot) - S_OBJECT))
#define R_HEADER (ROOT_BIT(S_FORMAT) | ROOT_BIT(S_VERSION) | ROOT_BIT(S_WORLD))

typedef struct frame {
	unsigned char type;  /* F_* */
	unsigned char slot;  /* S_*: where the next value goes */
	unsigned seen;       /* the known keys met: bit i for key i */
	size_t n;            /* elements so far (arrays) */
	size_t start, depth; /* where its '{' is, and how deep */
} frame;

/* A member as read: absent, of the wrong type, or there (V_NEG: dims
 * with an element that is not a non-negative integer; V_NULL: null, a
 * bytes item's shape in version 2). */
enum { V_ABSENT, V_WRONG, V_OK, V_NEG, V_NULL };

typedef struct jtext {
	char *s; /* NUL-terminated */
	size_t cap;
	unsigned char st; /* V_* */
} jtext;

/* Dims as read: V_WRONG for anything but an array of at most
 * CKPTIO_MAX_NDIM elements. */
typedef struct jdims {
	uint64_t v[CKPTIO_MAX_NDIM];
	unsigned n;
	unsigned char st;
} jdims;

typedef struct jheader {
	unsigned char format; /* V_OK: "ckptio" */
	long long version, world;
	unsigned char version_st, world_st;
	jtext layout;
} jheader;

typedef struct jitem {
	jtext name;
	ckptio_item_kind kind; /* 0 when neither tensor nor bytes */
	ckptio_dtype dtype;
	unsigned char dtype_st;
	jdims shape;
	int added;
	size_t idx;
} jitem;

typedef struct jchunk {
	jtext object;
	uint64_t obj, offset, length, crc; /* obj: version 2's index */
	int has_crc;                       /* version 2 */
	jdims offsets, shape;
} jchunk;

/* Version 2's objects table: names interned in the metadata, and which
 * a chunk used (every one must be). */
typedef struct jobjects {
	const char **names;
	unsigned char *used;
	size_t n, cap;
	int done; /* read whole */
} jobjects;

typedef struct parser {
	ckptio_host_ctx *hc;
	const char *what;
	const char *buf;
	size_t len;
	size_t base;       /* where yajl started in buf */
	yajl_handle h;
	int look;          /* a look-ahead: read the header of the object */
	int v2;            /* the document is version 2 (known at root_open) */
	int done;          /* at stack[1], and stop at its end (done) */
	ckptio_status st;  /* why a callback stopped the parse */
	frame stack[8];
	int top;
	size_t depth;      /* JSON nesting */
	size_t skip;       /* > 0: this deep in a value passed over */
	int where;         /* 0, 1 in items[item], 2 in its chunks[chunk],
			    * 3 in objects[obj] */
	size_t item, chunk, obj;
	size_t end;        /* past the document's closing brace */
	ckptio_metadata *md;
	jheader hd;
	jitem it;
	jchunk ck;
	jobjects objs;     /* version 2 */
	jdims *dims;       /* the dims array being read */
	jtext akey, value; /* an attribute's key and value */
} parser;

/* Version 2: field's position in an item (where 1) or a chunk (2), or
 * -1. */
static int field_pos(int where, const char *field)
{
	const char *const *names = where == 1 ? item2_names : chunk2_names;
	int n = where == 1 ? ITEM2_ARITY : CHUNK2_PART;

	for (int i = 0; (where == 1 || where == 2) && i < n; i++)
		if (strcmp(names[i], field) == 0)
			return i;
	return -1;
}

/* The member path of the value being read: items[3].chunks[0].field in
 * version 1, items[3][3][0][k] (field) in version 2, objects[2]. */
static void json_path(const parser *p, const char *field, char *buf,
		      size_t len)
{
	size_t n = 0;
	int pos = p->v2 && field ? field_pos(p->where, field) : -1;

	buf[0] = '\0';
	if (p->where == 3)
		n = (size_t)snprintf(buf, len, "objects[%zu]", p->obj);
	if (p->where == 1 || p->where == 2)
		n = (size_t)snprintf(buf, len, "items[%zu]", p->item);
	if (p->where == 2 && n < len)
		n += (size_t)snprintf(buf + n, len - n,
				      p->v2 ? "[3][%zu]" : ".chunks[%zu]",
				      p->chunk);
	if (pos >= 0 && n < len)
		snprintf(buf + n, len - n, "[%d] (%s)", pos, field);
	else if (field && n < len)
		snprintf(buf + n, len - n, "%s%s", n ? "." : "", field);
}

/* A content error at field of the value being read (field NULL: the
 * value itself). */
__attribute__((format(printf, 3, 4)))
static ckptio_status perr(parser *p, const char *field, const char *fmt, ...)
{
	char path[96], problem[256];
	va_list ap;

	json_path(p, field, path, sizeof(path));
	va_start(ap, fmt);
	vsnprintf(problem, sizeof(problem), fmt, ap);
	va_end(ap);
	return ckptio__hc_error(p->hc, CKPTIO_ECORRUPT, "%s: %s%s%s", p->what,
				path, path[0] ? ": " : "", problem);
}

/* A JSON error at byte pos. */
__attribute__((format(printf, 3, 4)))
static ckptio_status jerr(parser *p, size_t pos, const char *fmt, ...)
{
	char problem[256];
	int line = 1, column = 1;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(problem, sizeof(problem), fmt, ap);
	va_end(ap);
	for (size_t i = 0; i < pos && i < p->len; i++) {
		if (p->buf[i] == '\n') {
			line++;
			column = 1;
		} else if (((unsigned char)p->buf[i] & 0xc0) != 0x80) {
			column++; /* characters, not UTF-8 bytes */
		}
	}
	return ckptio__hc_error(p->hc, CKPTIO_ECORRUPT,
				"%s: malformed JSON at line %d column %d (byte "
				"%zu): %s",
				p->what, line, column, pos, problem);
}

/* A builder call failed: say where in the file (the file is named last,
 * by ckptio__md_from_json). */
static ckptio_status built(parser *p, ckptio_status st)
{
	char path[96];

	if (st != CKPTIO_OK && st != CKPTIO_ENOMEM) {
		json_path(p, NULL, path, sizeof(path));
		if (path[0])
			ckptio__hc_prefix(p->hc, path);
	}
	return st;
}

/* Stop the parse: a callback's return value. */
static int stop(parser *p, ckptio_status st)
{
	p->st = st;
	return 0;
}

/* Where yajl is in buf: just past the token it handed over. */
static size_t here(const parser *p)
{
	return p->base + yajl_get_bytes_consumed(p->h);
}

static void text_free(jtext *t)
{
	free(t->s);
	*t = (jtext){0};
}

static int text_set(parser *p, jtext *t, const char *s, size_t n)
{
	char *b;

	if (n >= t->cap) {
		if (!(b = realloc(t->s, n + 1)))
			return stop(p, ckptio__hc_error(p->hc, CKPTIO_ENOMEM,
							"out of memory"));
		t->s = b;
		t->cap = n + 1;
	}
	memcpy(t->s, s, n);
	t->s[n] = '\0';
	t->st = V_OK;
	return 1;
}

static unsigned hex4(const char *s)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++)
		v = v << 4 | (unsigned)(s[i] <= '9' ? s[i] - '0'
						    : (s[i] | 0x20) - 'a' + 10);
	return v;
}

/* Are the \u escapes of UTF-16 surrogates in the string token that ends
 * here (past its closing quote) paired, high then low?  yajl does not
 * say: it decodes a lone one to '?' or to bytes that are not UTF-8, and
 * a high one before any other escape to some other character. */
static int surrogates_paired(const parser *p)
{
	const char *b = p->buf;
	size_t end = here(p), lo, k;
	unsigned v;

	if (end < 2 || end > p->len || b[end - 1] != '"')
		return 0;
	/* The opening quote: the first one back not escaped. */
	for (lo = end - 1; lo-- > 0;) {
		for (k = 0; b[lo] == '"' && k < lo && b[lo - 1 - k] == '\\'; k++)
			;
		if (b[lo] == '"' && k % 2 == 0)
			break;
	}
	for (size_t i = lo + 1; i + 1 < end; i++) {
		if (b[i] != '\\' || b[++i] != 'u')
			continue;
		v = hex4(b + i + 1);
		i += 4;
		if (v >= 0xdc00 && v <= 0xdfff)
			return 0;
		if (v < 0xd800 || v > 0xdbff)
			continue;
		if (i + 7 >= end || b[i + 1] != '\\' || b[i + 2] != 'u')
			return 0;
		v = hex4(b + i + 3);
		if (v < 0xdc00 || v > 0xdfff)
			return 0;
		i += 6;
	}
	return 1;
}

/* Every string, keys too, wherever it is: strict UTF-8, no NUL (it
 * would cut a C string), no lone surrogate. */
static int string_ok(parser *p, const unsigned char *s, size_t n)
{
	const char *why = NULL;
	int decoded = (uintptr_t)s - (uintptr_t)p->buf >= p->len;
	size_t i = 0;

	while (i < n && s[i] < 0x80) /* the usual case, quickly */
		i++;
	if (decoded && memchr(s, 0, n))
		why = "a string holds a NUL character (\\u0000)";
	else if (decoded && !surrogates_paired(p))
		why = "a string holds an unpaired UTF-16 surrogate escape";
	else if (ckptio__utf8_prefix((const char *)s + i, n - i) != n - i)
		why = "a string is not valid UTF-8";
	return why ? stop(p, jerr(p, here(p), "%s", why)) : 1;
}

/* A scalar as yajl handed it over. */
enum { J_STRING, J_INT, J_NULL, J_OTHER };
typedef struct jval {
	int type;
	const char *s;
	size_t n;
	long long i;
} jval;

#define JVAL_IS(v, lit) \
	((v)->type == J_STRING && (v)->n == sizeof(lit) - 1 && \
	 memcmp((v)->s, lit, sizeof(lit) - 1) == 0)

static int set_text(parser *p, jtext *t, const jval *v)
{
	if (v->type != J_STRING) {
		t->st = V_WRONG;
		return 1;
	}
	return text_set(p, t, v->s, v->n);
}

static void set_int(long long *out, unsigned char *st, const jval *v)
{
	*st = v->type == J_INT ? V_OK : V_WRONG;
	*out = v->i;
}

/* An offset, length or CRC: a non-negative integer, said at once. */
static int set_u64(parser *p, const char *field, uint64_t *out,
		   const jval *v)
{
	if (v->type != J_INT || v->i < 0)
		return stop(p, perr(p, field, "expected a non-negative integer"));
	*out = (uint64_t)v->i;
	return 1;
}

static void set_dim(jdims *d, const jval *v)
{
	if (d->st != V_OK)
		return;
	if (v->type != J_INT || v->i < 0)
		d->st = V_NEG;
	else if (d->n == CKPTIO_MAX_NDIM)
		d->st = V_WRONG;
	else
		d->v[d->n++] = (uint64_t)v->i;
}

/* Version 2: an entry of the objects table, a valid key given once. */
static int add_object(parser *p, const jval *v)
{
	md_impl *m = IMPL(p->md);
	jobjects *o = &p->objs;
	const char *name, **node;

	if (v->type != J_STRING)
		return stop(p, perr(p, NULL, "expected a string"));
	if (!text_set(p, &p->value, v->s, v->n))
		return 0;
	if (!ckptio__key_valid(p->value.s))
		return stop(p, perr(p, NULL, "invalid object name '%.200s'",
				    p->value.s));
	if (o->n == o->cap) {
		size_t cap = o->cap ? 2 * o->cap : 16;
		const char **names = realloc(o->names, cap * sizeof(*names));

		if (!names)
			return stop(p, ckptio__hc_error(p->hc, CKPTIO_ENOMEM,
							"out of memory"));
		o->names = names;
		o->cap = cap;
	}
	/* Interned: the tree holds the table's names, and nothing else yet. */
	if (!(name = arena_strdup(m, p->value.s)) ||
	    !(node = tsearch(name, &m->objects, cmp_str)))
		return stop(p, ckptio__hc_error(p->hc, CKPTIO_ENOMEM,
						"out of memory"));
	if (*node != name)
		return stop(p, perr(p, NULL, "object '%.200s' appears twice",
				    p->value.s));
	o->names[o->n++] = name;
	return 1;
}

/* Version 2: an item's dtype, or "bytes". */
static void set_type(jitem *it, const jval *v)
{
	char name[16] = "";

	it->dtype_st = v->type == J_STRING ? V_OK : V_WRONG;
	if (v->type == J_STRING && JVAL_IS(v, "bytes")) {
		it->kind = CKPTIO_ITEM_BYTES;
		return;
	}
	if (v->type == J_STRING && v->n < sizeof(name))
		memcpy(name, v->s, v->n);
	it->kind = CKPTIO_ITEM_TENSOR;
	it->dtype = ckptio_dtype_from_name(name);
}

/* Version 2: a chunk's object, an index into the table. */
static int set_objidx(parser *p, const jval *v)
{
	if (!set_u64(p, "object", &p->ck.obj, v))
		return 0;
	if (p->ck.obj >= p->objs.n)
		return stop(p, perr(p, "object", "object index %llu is out of "
					      "range (%zu objects)",
				    (unsigned long long)p->ck.obj, p->objs.n));
	return 1;
}

/* A CRC32C: below 2^32; in version 2, null for none. */
static int set_crc(parser *p, const jval *v)
{
	if (p->v2 && v->type == J_NULL) {
		p->ck.has_crc = 0;
		return 1;
	}
	if (p->v2 && v->type != J_INT)
		return stop(p, perr(p, "crc32c", "expected a non-negative "
						 "integer or null"));
	if (!set_u64(p, "crc32c", &p->ck.crc, v))
		return 0;
	if (p->ck.crc > UINT32_MAX)
		return stop(p, perr(p, "crc32c", "larger than 32 bits"));
	p->ck.has_crc = 1;
	return 1;
}

static int add_attr(parser *p, const jval *v)
{
	if (v->type != J_STRING)
		return stop(p, perr(p, "attrs", "expected string values"));
	if (!text_set(p, &p->value, v->s, v->n))
		return 0;
	p->st = attr_append(p->hc, IMPL(p->md), p->akey.s, p->value.s);
	return p->st == CKPTIO_OK;
}

/* The value in slot (not a container of the schema's): store it, or
 * say why it cannot be there. */
static int store(parser *p, unsigned char slot, const jval *v)
{
	switch (slot) {
	case S_FORMAT:
		p->hd.format = JVAL_IS(v, "ckptio") ? V_OK : V_WRONG;
		return 1;
	case S_VERSION:
		set_int(&p->hd.version, &p->hd.version_st, v);
		return 1;
	case S_WORLD:
		set_int(&p->hd.world, &p->hd.world_st, v);
		return 1;
	case S_LAYOUT:
		return set_text(p, &p->hd.layout, v);
	case S_ATTR:
		return add_attr(p, v);
	case S_NAME:
		return set_text(p, &p->it.name, v);
	case S_KIND:
		p->it.kind = JVAL_IS(v, "tensor") ? CKPTIO_ITEM_TENSOR
			     : JVAL_IS(v, "bytes") ? CKPTIO_ITEM_BYTES : 0;
		return 1;
	case S_DTYPE: {
		char name[16] = "";

		if (v->type == J_STRING && v->n < sizeof(name))
			memcpy(name, v->s, v->n);
		p->it.dtype = ckptio_dtype_from_name(name);
		p->it.dtype_st = v->type == J_STRING ? V_OK : V_WRONG;
		return 1;
	}
	case S_SHAPE:
		p->it.shape.st = p->v2 && v->type == J_NULL ? V_NULL : V_WRONG;
		return 1;
	case S_OBJECT:
		return set_text(p, &p->ck.object, v);
	case S_OFFSET:
		return set_u64(p, "offset", &p->ck.offset, v);
	case S_LENGTH:
		return set_u64(p, "length", &p->ck.length, v);
	case S_CRC:
		return set_crc(p, v);
	case S_OFFSETS:
		p->ck.offsets.st = V_WRONG;
		return 1;
	case S_CSHAPE:
		p->ck.shape.st = V_WRONG;
		return 1;
	case S_DIM:
		set_dim(p->dims, v);
		return 1;
	case S_ROOT:
		return stop(p, perr(p, "(top)", "expected a JSON object"));
	case S_ATTRS:
		return stop(p, perr(p, "attrs", "expected an object of strings"));
	case S_ITEMS:
		return stop(p, perr(p, "items", "expected an array"));
	case S_ITEM:
		p->where = 1;
		return stop(p, perr(p, NULL, "expected an object"));
	case S_CHUNKS:
		return stop(p, perr(p, "chunks", "expected an array"));
	case S_CHUNK:
		p->where = 2;
		return stop(p, perr(p, NULL, "expected an object"));
	case S_OBJECTS:
		return 1; /* in version 2, missing: said before the items */
	case S_OBJ:
		return add_object(p, v);
	case S_TYPE2:
		set_type(&p->it, v);
		return 1;
	case S_OBJIDX:
		return set_objidx(p, v);
	case S_ITEM2:
		p->where = 1;
		return stop(p, perr(p, NULL, "expected an array [name, dtype, "
					     "shape, chunks]"));
	case S_CHUNK2:
		p->where = 2;
		return stop(p, perr(p, NULL, "expected an array [object, offset, "
					     "length, crc32c] or [object, "
					     "offset, length, crc32c, offsets, "
					     "shape]"));
	case S_EXTRA:
		return stop(p, perr(p, NULL, "more than %d elements",
				    p->where == 1 ? ITEM2_ARITY : CHUNK2_PART));
	}
	return 1; /* S_SKIP */
}

/* The slot of the value that starts now; an array counts it, and in
 * version 2's items and chunks, its position says what it is. */
static unsigned char next_value(parser *p)
{
	frame *f = &p->stack[p->top];
	size_t k;

	if (f->type == F_ITEMS) {
		p->item = f->n++;
	} else if (f->type == F_CHUNKS) {
		p->chunk = f->n++;
	} else if (f->type == F_OBJECTS) {
		p->obj = f->n++;
	} else if (f->type == F_ITEM2) {
		k = f->n++;
		return item2_slots[k < ITEM2_ARITY ? k : ITEM2_ARITY];
	} else if (f->type == F_CHUNK2) {
		k = f->n++;
		return chunk2_slots[k < CHUNK2_PART ? k : CHUNK2_PART];
	}
	return f->slot;
}

static int scalar(parser *p, const jval *v)
{
	return p->skip ? 1 : store(p, next_value(p), v);
}

/* ---- the header, items and chunks, once known --------------------------- */

static ckptio_status look_ahead(parser *p, const frame *f);

/* Check the header, in this order (a newer version is said so before
 * its items are read), and make the metadata.  f is the root, whose
 * header is looked for ahead when it is not all read yet (and `ahead`). */
static int root_open(parser *p, const frame *f, int ahead)
{
	ckptio_status st;

	if (p->md)
		return 1;
	if (ahead && (f->seen & R_HEADER) != R_HEADER &&
	    (st = look_ahead(p, f)) != CKPTIO_OK)
		return stop(p, st);
	if (p->hd.format != V_OK)
		return stop(p, perr(p, "format", "expected \"ckptio\""));
	if (p->hd.version_st != V_OK || p->hd.version < 1)
		return stop(p, perr(p, "version", "expected a positive integer"));
	if (p->hd.version > CKPTIO__MD_VERSION)
		return stop(p, ckptio__hc_error(p->hc, CKPTIO_EUNSUPPORTED,
						"%s: metadata version %lld is "
						"newer than this ckptio "
						"understands (%d)",
						p->what, p->hd.version,
						CKPTIO__MD_VERSION));
	if (p->hd.world_st != V_OK || p->hd.world < 1 ||
	    p->hd.world > (1 << 24))
		return stop(p, perr(p, "world", "expected an integer from 1 to "
					     "%d", 1 << 24));
	if ((st = ckptio__md_new(p->hc, "native", &p->md)) != CKPTIO_OK)
		return stop(p, st);
	p->md->world = (int)p->hd.world;
	p->v2 = p->hd.version >= 2;
	return 1;
}

/* Version 2's items are about to start: the objects table must be read,
 * ahead when it comes later. */
static int objects_ready(parser *p, const frame *f)
{
	ckptio_status st;

	if (!p->objs.done && (st = look_ahead(p, f)) != CKPTIO_OK)
		return stop(p, st);
	if (!p->objs.done)
		return stop(p, perr(p, "objects", "expected an array of object "
						  "names"));
	return 1;
}

static int objects_close(parser *p)
{
	jobjects *o = &p->objs;

	if (!(o->used = calloc(o->n ? o->n : 1, 1)))
		return stop(p, ckptio__hc_error(p->hc, CKPTIO_ENOMEM,
						"out of memory"));
	o->done = 1;
	p->where = 0;
	return 1;
}

/* Version 2: the table names no object that no chunk uses, so that
 * "the objects the metadata names" has one meaning. */
static int objects_all_used(parser *p)
{
	for (size_t i = 0; i < p->objs.n; i++)
		if (!p->objs.used[i]) {
			p->where = 3;
			p->obj = i;
			return stop(p, perr(p, NULL, "object '%.200s' is used by "
						     "no chunk",
					    p->objs.names[i]));
		}
	return 1;
}

static int root_close(parser *p, const frame *f)
{
	char *layout;

	p->end = here(p);
	if (!root_open(p, f, 0))
		return 0;
	if (!(f->seen & ROOT_BIT(S_ITEMS)))
		return stop(p, perr(p, "items", "expected an array"));
	if (p->v2 && !objects_all_used(p))
		return 0;
	if (p->hd.layout.st == V_WRONG)
		return stop(p, perr(p, "layout", "expected a string"));
	if (p->hd.layout.st == V_OK) {
		if (!(layout = strdup(p->hd.layout.s)))
			return stop(p, ckptio__hc_error(p->hc, CKPTIO_ENOMEM,
							"out of memory"));
		free((void *)p->md->layout);
		p->md->layout = layout;
	}
	return 1;
}

/* Check the item's header, in this order, and add it. */
static int item_add(parser *p)
{
	jitem *it = &p->it;
	int tensor = it->kind == CKPTIO_ITEM_TENSOR;

	if (it->name.st != V_OK)
		return stop(p, perr(p, "name", "expected a string"));
	if (!p->v2 && !it->kind)
		return stop(p, perr(p, "kind", "expected \"tensor\" or \"bytes\""));
	if ((tensor || p->v2) && it->dtype_st != V_OK)
		return stop(p, perr(p, "dtype", "expected a string"));
	if (tensor && it->dtype == CKPTIO_DTYPE_INVALID)
		return stop(p, perr(p, "dtype", p->v2 ? "unknown dtype (nor "
							"\"bytes\")"
						      : "unknown dtype"));
	if (p->v2 && !tensor && it->shape.st != V_NULL)
		return stop(p, perr(p, "shape", "expected null: a bytes item has "
					      "no shape"));
	if (tensor && it->shape.st == V_NEG)
		return stop(p, perr(p, "shape", "expected non-negative integers"));
	if (tensor && it->shape.st != V_OK)
		return stop(p, perr(p, "shape", "expected an array of at most "
					     "%d integers", CKPTIO_MAX_NDIM));
	p->st = built(p, ckptio__md_add_item(p->hc, p->md, it->name.s, it->kind,
					    it->dtype, tensor ? it->shape.n : 0,
					    it->shape.v, &it->idx));
	it->added = p->st == CKPTIO_OK;
	return it->added;
}

/* The item's chunks start: add the item first, looking ahead for what
 * of its header comes after them. */
static int item_open(parser *p)
{
	const frame *f = &p->stack[p->top];
	const jitem *it = &p->it;
	unsigned need = ITEM_BIT(S_NAME) | ITEM_BIT(S_KIND);
	ckptio_status st;

	if (it->kind == CKPTIO_ITEM_TENSOR)
		need |= ITEM_BIT(S_DTYPE) | ITEM_BIT(S_SHAPE);
	if ((f->seen & need) != need && (st = look_ahead(p, f)) != CKPTIO_OK)
		return stop(p, st);
	return item_add(p);
}

static int item_close(parser *p, const frame *f)
{
	if (!p->it.added && !item_add(p))
		return 0;
	if (!(f->seen & ITEM_BIT(S_CHUNKS)))
		return stop(p, perr(p, "chunks", "expected an array"));
	p->where = 0;
	return 1;
}

static int dims_ok(parser *p, const char *field, const jdims *d,
		   unsigned ndim)
{
	if (d->st == V_NEG)
		return stop(p, perr(p, field, "expected non-negative integers"));
	if (d->st != V_OK || d->n != ndim)
		return stop(p, perr(p, field, "expected an array of one integer "
					      "per dimension"));
	return 1;
}

static int chunk_close(parser *p, const frame *f)
{
	const ckptio_item_meta *it = &p->md->items[p->it.idx];
	const jchunk *c = &p->ck;

	if (c->object.st != V_OK)
		return stop(p, perr(p, "object", "expected a string"));
	if (!(f->seen & CHUNK_BIT(S_OFFSET)))
		return stop(p, perr(p, "offset", "missing"));
	if (!(f->seen & CHUNK_BIT(S_LENGTH)))
		return stop(p, perr(p, "length", "missing"));
	if (it->kind == CKPTIO_ITEM_TENSOR &&
	    (!dims_ok(p, "offsets", &c->offsets, it->ndim) ||
	     !dims_ok(p, "shape", &c->shape, it->ndim)))
		return 0;
	p->st = built(p, ckptio__md_add_chunk(
				 p->hc, p->md, p->it.idx, c->offsets.v,
				 c->shape.v, c->object.s, c->offset, c->length,
				 (f->seen & CHUNK_BIT(S_CRC)) != 0,
				 (uint32_t)c->crc));
	p->where = 1;
	return p->st == CKPTIO_OK;
}

/* Version 2: [name, dtype, shape, chunks], the item added when its
 * chunks started. */
static int item2_close(parser *p, const frame *f)
{
	if (f->n < ITEM2_ARITY)
		return stop(p, perr(p, NULL, "expected an array [name, dtype, "
					     "shape, chunks], not %zu "
					     "element%s",
				    f->n, f->n == 1 ? "" : "s"));
	p->where = 0;
	return 1;
}

/* Version 2: [object, offset, length, crc32c], the whole tensor (or a
 * bytes item), or with offsets and shape after them, a part of it. */
static int chunk2_close(parser *p, const frame *f)
{
	static const uint64_t zeros[CKPTIO_MAX_NDIM];
	ckptio_item_meta *it = &IMPL(p->md)->items[p->it.idx];
	const jchunk *c = &p->ck;
	const uint64_t *offsets = zeros, *shape = it->shape;

	if (f->n != CHUNK2_ARITY && f->n != CHUNK2_PART)
		return stop(p, perr(p, NULL, "expected an array [object, offset, "
					     "length, crc32c] or [object, "
					     "offset, length, crc32c, offsets, "
					     "shape], not %zu element%s",
				    f->n, f->n == 1 ? "" : "s"));
	if (f->n == CHUNK2_PART && it->kind != CKPTIO_ITEM_TENSOR)
		return stop(p, perr(p, NULL, "a chunk of a bytes item has no "
					     "offsets or shape"));
	if (f->n == CHUNK2_PART) {
		if (!dims_ok(p, "offsets", &c->offsets, it->ndim) ||
		    !dims_ok(p, "shape", &c->shape, it->ndim))
			return 0;
		offsets = c->offsets.v;
		shape = c->shape.v;
	}
	p->st = built(p, add_chunk(p->hc, IMPL(p->md), it, offsets, shape,
				   p->objs.names[c->obj], 1, c->offset,
				   c->length, c->has_crc, (uint32_t)c->crc));
	p->objs.used[c->obj] = 1;
	p->where = 1;
	return p->st == CKPTIO_OK;
}

/* ---- yajl's callbacks ------------------------------------------------ */

static int on_null(void *ctx)
{
	return scalar(ctx, &(jval){.type = J_NULL});
}

static int on_bool(void *ctx, int b)
{
	(void)b;
	return scalar(ctx, &(jval){.type = J_OTHER});
}

static int on_int(void *ctx, long long i)
{
	return scalar(ctx, &(jval){.type = J_INT, .i = i});
}

static int on_double(void *ctx, double d)
{
	(void)d;
	return scalar(ctx, &(jval){.type = J_OTHER});
}

static int on_string(void *ctx, const unsigned char *s, size_t n)
{
	parser *p = ctx;

	if (!string_ok(p, s, n))
		return 0;
	return scalar(p, &(jval){.type = J_STRING, .s = (const char *)s,
				 .n = n});
}

static int on_key(void *ctx, const unsigned char *s, size_t n)
{
	parser *p = ctx;
	frame *f = &p->stack[p->top];
	const jkeys *keys = f->type == F_ROOT   ? &root_keys
			    : f->type == F_ITEM ? &item_keys
						: &chunk_keys;

	if (!string_ok(p, s, n))
		return 0;
	if (p->skip)
		return 1;
	if (f->type == F_ATTRS) {
		f->slot = S_ATTR;
		return text_set(p, &p->akey, (const char *)s, n);
	}
	f->slot = S_SKIP;
	if (n == 0 || n >= sizeof(keys->names[0]))
		return 1;
	for (unsigned i = 0; i < keys->n; i++) {
		if (keys->names[i][0] != s[0] || keys->names[i][n] != '\0' ||
		    memcmp(s, keys->names[i], n) != 0)
			continue;
		if (f->seen & 1u << i)
			return stop(p, perr(p, NULL, "key '%s' appears twice",
					    keys->names[i]));
		f->seen |= 1u << i;
		f->slot = (unsigned char)(keys->first + i);
		/* A bytes item has no dims: whatever is there is ignored. */
		if ((f->slot == S_OFFSETS || f->slot == S_CSHAPE) &&
		    p->it.kind == CKPTIO_ITEM_BYTES)
			f->slot = S_SKIP;
		break;
	}
	return 1;
}

static void push(parser *p, unsigned char type, unsigned char slot)
{
	p->stack[++p->top] = (frame){.type = type, .slot = slot,
				     .start = here(p) - 1, .depth = p->depth};
}

/* A new item or chunk: nothing read yet (dims are only emptied: they
 * are large, and a million chunks each cleared whole cost). */
static void item_reset(jitem *it)
{
	it->name.st = V_ABSENT;
	it->kind = 0;
	it->dtype = CKPTIO_DTYPE_INVALID;
	it->dtype_st = V_ABSENT;
	it->shape.n = 0;
	it->shape.st = V_ABSENT;
	it->added = 0;
	it->idx = 0;
}

static void chunk_reset(jchunk *c)
{
	c->object.st = V_ABSENT;
	c->obj = c->offset = c->length = c->crc = 0;
	c->has_crc = 0;
	c->offsets.n = c->shape.n = 0;
	c->offsets.st = c->shape.st = V_ABSENT;
}

/* A dims array starts: the one its slot names, emptied. */
static void dims_open(parser *p, unsigned char slot)
{
	p->dims = slot == S_SHAPE ? &p->it.shape
		  : slot == S_OFFSETS ? &p->ck.offsets : &p->ck.shape;
	p->dims->n = 0;
	p->dims->st = V_OK;
	push(p, F_DIMS, S_DIM);
}

static int on_open(parser *p, int object)
{
	unsigned char slot;

	if (++p->depth > JSON_DEPTH)
		return stop(p, jerr(p, here(p) - 1,
				    "nested deeper than %d levels (maximum "
				    "parsing depth)",
				    JSON_DEPTH));
	if (p->skip) {
		p->skip++;
		return 1;
	}
	slot = next_value(p);
	/* A look-ahead reads only its object's own scalars and dims, and
	 * once the header is known, the objects table. */
	if (p->look && (slot == S_ATTRS || slot == S_ITEMS || slot == S_CHUNKS ||
			(slot == S_OBJECTS && !p->md)))
		slot = S_SKIP;
	if (object && slot == S_ROOT) {
		push(p, F_ROOT, S_SKIP);
	} else if (object && slot == S_ATTRS) {
		if (!root_open(p, &p->stack[p->top], 1))
			return 0;
		push(p, F_ATTRS, S_SKIP);
	} else if (!object && slot == S_OBJECTS) {
		if (!root_open(p, &p->stack[p->top], 1))
			return 0;
		/* Version 1 has no table; one read ahead is not read again. */
		if (!p->v2 || p->objs.done) {
			p->skip = 1;
		} else {
			p->where = 3;
			push(p, F_OBJECTS, S_OBJ);
		}
	} else if (!object && slot == S_ITEMS) {
		if (!root_open(p, &p->stack[p->top], 1) ||
		    (p->v2 && !objects_ready(p, &p->stack[p->top])))
			return 0;
		push(p, F_ITEMS, p->v2 ? S_ITEM2 : S_ITEM);
	} else if (!object && slot == S_ITEM2) {
		item_reset(&p->it);
		p->where = 1;
		push(p, F_ITEM2, S_SKIP);
	} else if (!object && slot == S_CHUNKS && p->v2) {
		/* Version 2: the item's name, dtype and shape came first. */
		if (!(p->it.added = item_add(p)))
			return 0;
		push(p, F_CHUNKS, S_CHUNK2);
	} else if (!object && slot == S_CHUNK2) {
		chunk_reset(&p->ck);
		p->where = 2;
		push(p, F_CHUNK2, S_SKIP);
	} else if (object && slot == S_ITEM) {
		item_reset(&p->it);
		p->where = 1;
		push(p, F_ITEM, S_SKIP);
	} else if (!object && slot == S_CHUNKS) {
		if (!item_open(p))
			return 0;
		push(p, F_CHUNKS, S_CHUNK);
	} else if (object && slot == S_CHUNK) {
		chunk_reset(&p->ck);
		p->where = 2;
		push(p, F_CHUNK, S_SKIP);
	} else if (!object &&
		   (slot == S_SHAPE || slot == S_OFFSETS || slot == S_CSHAPE)) {
		dims_open(p, slot);
	} else {
		/* Not what the slot holds: said (or noted) as for a scalar,
		 * then passed over. */
		p->skip = 1;
		return store(p, slot, &(jval){.type = J_OTHER});
	}
	return 1;
}

static int on_start_map(void *ctx)
{
	return on_open(ctx, 1);
}

static int on_start_array(void *ctx)
{
	return on_open(ctx, 0);
}

static int on_close(void *ctx)
{
	parser *p = ctx;
	frame f;
	ckptio_status st;

	p->depth--;
	if (p->skip) {
		p->skip--;
		return 1;
	}
	f = p->stack[p->top--];
	if (p->look && p->top == 0) {
		p->done = 1; /* the object looked at has ended */
		return 0;
	}
	switch (f.type) {
	case F_ROOT:
		return root_close(p, &f);
	case F_ATTRS:
		st = attrs_sort(p->hc, IMPL(p->md), p->what);
		return st == CKPTIO_OK ? 1 : stop(p, st);
	case F_ITEM:
		return item_close(p, &f);
	case F_CHUNK:
		return chunk_close(p, &f);
	case F_OBJECTS:
		return objects_close(p);
	case F_ITEM2:
		return item2_close(p, &f);
	case F_CHUNK2:
		return chunk2_close(p, &f);
	}
	return 1;
}

/* ---- running yajl ---------------------------------------------------- */

static void parser_free(parser *p)
{
	text_free(&p->hd.layout);
	text_free(&p->it.name);
	text_free(&p->ck.object);
	text_free(&p->akey);
	text_free(&p->value);
	free(p->objs.names);
	free(p->objs.used);
	p->objs = (jobjects){0};
}

/* Parse buf from p->base: the whole document, or for a look-ahead the
 * object that starts there. */
static ckptio_status run(parser *p)
{
	static const yajl_callbacks cb = {
		.yajl_null = on_null,
		.yajl_boolean = on_bool,
		.yajl_integer = on_int,
		.yajl_double = on_double,
		.yajl_string = on_string,
		.yajl_start_map = on_start_map,
		.yajl_map_key = on_key,
		.yajl_end_map = on_close,
		.yajl_start_array = on_start_array,
		.yajl_end_array = on_close,
	};
	const unsigned char *text = (const unsigned char *)p->buf + p->base;
	size_t n = p->len - p->base, at;
	unsigned char *e;
	char *end;
	yajl_status ys;
	ckptio_status st = CKPTIO_OK;

	if (!(p->h = yajl_alloc(&cb, NULL, p)))
		return ckptio__hc_error(p->hc, CKPTIO_ENOMEM, "out of memory");
	/* Strict JSON (yajl's defaults, said here): no comments, strings
	 * checked for UTF-8, one value and nothing after it. */
	yajl_config(p->h, yajl_allow_comments, 0);
	yajl_config(p->h, yajl_dont_validate_strings, 0);
	yajl_config(p->h, yajl_allow_trailing_garbage, 0);
	yajl_config(p->h, yajl_allow_multiple_values, 0);
	yajl_config(p->h, yajl_allow_partial_values, 0);
	ys = yajl_parse(p->h, text, n);
	at = here(p);
	if (ys == yajl_status_ok) {
		ys = yajl_complete_parse(p->h);
		at = p->len;
	}
	if (ys == yajl_status_client_canceled) {
		st = p->done ? CKPTIO_OK : p->st;
	} else if (ys == yajl_status_error) {
		e = yajl_get_error(p->h, 0, text, n);
		if (!e) {
			st = ckptio__hc_error(p->hc, CKPTIO_ENOMEM,
					      "out of memory");
		} else {
			/* "parse error: premature EOF\n" */
			for (end = (char *)e + strlen((char *)e);
			     end > (char *)e && (end[-1] == '\n' || end[-1] == ' ');)
				*--end = '\0';
			st = jerr(p, at, "%s", (char *)e);
			yajl_free_error(p->h, e);
		}
	}
	yajl_free(p->h);
	p->h = NULL;
	return st;
}

/* The header of the object at f (the root, or an item), read to its
 * end by a second parser, so that what comes inside it can be checked
 * against it; once the metadata is made (the header known), the root's
 * objects table. */
static ckptio_status look_ahead(parser *p, const frame *f)
{
	parser q = {.hc = p->hc, .what = p->what, .buf = p->buf,
		    .len = p->len, .base = f->start, .look = 1,
		    .depth = f->depth - 1, .item = p->item, .md = p->md,
		    .v2 = p->v2};
	ckptio_status st;

	q.stack[0] = f->type == F_ROOT
			     ? (frame){.type = F_TOP, .slot = S_ROOT}
			     : (frame){.type = F_ITEMS, .slot = S_ITEM,
				       .n = p->item};
	st = run(&q);
	if (st == CKPTIO_OK && f->type == F_ROOT) {
		jheader h = p->hd;
		jobjects o = p->objs;

		p->hd = q.hd;
		q.hd = h;
		p->objs = q.objs;
		q.objs = o;
	} else if (st == CKPTIO_OK) {
		jitem it = p->it;

		p->it = q.it;
		q.it = it;
	}
	parser_free(&q);
	return st;
}

ckptio_status ckptio__md_from_json(ckptio_host_ctx *hc, const char *what,
				   const char *buf, size_t len,
				   ckptio_metadata **out)
{
	parser p = {.hc = hc, .what = what, .buf = buf ? buf : "",
		    .len = buf ? len : 0};
	ckptio_status st;

	p.stack[0] = (frame){.type = F_TOP, .slot = S_ROOT};
	st = run(&p);
	/* yajl takes an unterminated string after the document for a token
	 * still to come, not for garbage. */
	while (st == CKPTIO_OK && p.end < p.len)
		if (!strchr(" \t\n\r", p.buf[p.end++]) || !p.buf[p.end - 1])
			st = jerr(&p, p.end - 1, "trailing garbage");
	parser_free(&p);
	if (st == CKPTIO_OK)
		st = ckptio__md_seal(hc, what, p.md);
	*out = NULL;
	if (st != CKPTIO_OK) {
		ckptio__md_free(p.md);
		/* Builder errors do not know the file: name it. */
		ckptio__hc_prefix(hc, what);
		return st;
	}
	*out = p.md;
	return CKPTIO_OK;
}
