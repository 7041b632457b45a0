/*
 * metadata.c - the checkpoint metadata model: building it (for savers and
 * for layout readers through the host table), validating it, and its JSON
 * form (.metadata.json of the native layout), parsed with jansson.
 *
 * Everything that comes from outside (a metadata file, a foreign header)
 * goes through md_add_item / md_add_chunk / md_seal, so one set of checks
 * guards every layout: names, dtypes, shapes, chunk bounds, byte lengths,
 * object keys (a hostile "../x" never reaches a store), overlaps and
 * coverage.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The public struct first, then what only the builder needs. */
typedef struct md_impl {
	ckptio_metadata pub;
	ckptio_item_meta *items;
	size_t icap;
	size_t *ccap; /* chunk capacity per item */
	char **akeys, **avals;
	size_t acap;
} md_impl;

#define IMPL(md) ((md_impl *)(md))

/* ------------------------------------------------------------------------ */
/* Building                                                                 */

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

static void free_item(ckptio_item_meta *it)
{
	for (size_t c = 0; c < it->nchunks; c++) {
		free((void *)it->chunks[c].offsets);
		free((void *)it->chunks[c].shape);
		free((void *)it->chunks[c].object);
	}
	free((void *)it->chunks);
	free((void *)it->shape);
	free((void *)it->name);
}

void ckptio__md_free(ckptio_metadata *md)
{
	md_impl *m = IMPL(md);

	if (!md)
		return;
	for (size_t i = 0; i < md->nitems; i++)
		free_item(&m->items[i]);
	for (size_t i = 0; i < md->nattrs; i++) {
		free(m->akeys[i]);
		free(m->avals[i]);
	}
	free(m->akeys);
	free(m->avals);
	free(m->items);
	free(m->ccap);
	free((void *)md->layout);
	free(m);
}

/* Multiply without overflow; 0 on success. */
static int mul_ok(uint64_t a, uint64_t b, uint64_t *out)
{
	return __builtin_mul_overflow(a, b, out) ? -1 : 0;
}

static int elements(unsigned ndim, const uint64_t *shape, uint64_t *out)
{
	uint64_t n = 1;

	for (unsigned d = 0; d < ndim; d++)
		if (mul_ok(n, shape[d], &n))
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
	uint64_t n = 0;
	size_t len = name ? strlen(name) : 0;

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
	    (ckptio_dtype_size(dtype) == 0 || ndim > CKPTIO_MAX_NDIM ||
	     elements(ndim, shape, &n) != 0 ||
	     mul_ok(n, ckptio_dtype_size(dtype), &n) != 0))
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"item '%.200s': bad dtype, rank (%u) or "
					"shape (too large)",
					name, ndim);
	if (md->nitems == m->icap) {
		size_t cap = m->icap ? m->icap * 2 : 16;
		ckptio_item_meta *items = realloc(m->items, cap * sizeof(*items));
		size_t *ccap = items ? realloc(m->ccap, cap * sizeof(*ccap)) : NULL;

		if (items)
			m->items = items;
		if (!items || !ccap)
			return ckptio__hc_error(hc, CKPTIO_ENOMEM, "out of memory");
		m->ccap = ccap;
		m->icap = cap;
		md->items = m->items;
	}
	it = &m->items[md->nitems];
	memset(it, 0, sizeof(*it));
	m->ccap[md->nitems] = 0;
	it->name = strdup(name);
	it->kind = kind;
	it->dtype = kind == CKPTIO_ITEM_TENSOR ? dtype : CKPTIO_DTYPE_INVALID;
	it->ndim = kind == CKPTIO_ITEM_TENSOR ? ndim : 0;
	it->nbytes = n;
	if (it->ndim) {
		uint64_t *s = malloc(ndim * sizeof(*s));

		if (s)
			memcpy(s, shape, ndim * sizeof(*s));
		it->shape = s;
	}
	if (!it->name || (it->ndim && !it->shape)) {
		free_item(it);
		return ckptio__hc_error(hc, CKPTIO_ENOMEM, "out of memory");
	}
	*index = md->nitems++;
	return CKPTIO_OK;
}

static uint64_t *dup_dims(const uint64_t *v, unsigned ndim)
{
	uint64_t *d = malloc((ndim ? ndim : 1) * sizeof(*d));

	if (d && ndim)
		memcpy(d, v, ndim * sizeof(*d));
	return d;
}

/* Chunk inside the tensor and its byte length right. */
static ckptio_status check_chunk(ckptio_host_ctx *hc, const ckptio_item_meta *it,
				 const uint64_t *offsets, const uint64_t *shape,
				 uint64_t length)
{
	uint64_t n, end;

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
	if (elements(it->ndim, shape, &n) != 0 ||
	    mul_ok(n, ckptio_dtype_size(it->dtype), &n) != 0 || n != length)
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"item '%.200s': chunk length %llu does "
					"not match its shape and dtype",
					it->name, (unsigned long long)length);
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
	ckptio_chunk_meta *c;
	uint64_t end;
	ckptio_status st;

	if (item >= md->nitems)
		return ckptio__hc_error(hc, CKPTIO_EINVAL, "no item %zu", item);
	it = &m->items[item];
	if (!object || !ckptio__key_valid(object))
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"item '%.200s': invalid object name "
					"'%.200s'",
					it->name, object ? object : "(null)");
	if (__builtin_add_overflow(offset, length, &end))
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"item '%.200s': chunk offset overflows",
					it->name);
	st = check_chunk(hc, it, offsets, shape, length);
	if (st != CKPTIO_OK)
		return st;
	if (it->nchunks == m->ccap[item]) {
		size_t cap = m->ccap[item] ? m->ccap[item] * 2 : 1;
		ckptio_chunk_meta *v = realloc((void *)it->chunks,
					       cap * sizeof(*v));

		if (!v)
			return ckptio__hc_error(hc, CKPTIO_ENOMEM, "out of memory");
		it->chunks = v;
		m->ccap[item] = cap;
	}
	c = (ckptio_chunk_meta *)&it->chunks[it->nchunks];
	memset(c, 0, sizeof(*c));
	c->offsets = dup_dims(offsets, it->ndim);
	c->shape = dup_dims(shape, it->ndim);
	c->object = strdup(object);
	if (!c->offsets || !c->shape || !c->object) {
		free((void *)c->offsets);
		free((void *)c->shape);
		free((void *)c->object);
		return ckptio__hc_error(hc, CKPTIO_ENOMEM, "out of memory");
	}
	c->offset = offset;
	c->length = length;
	c->has_crc = has_crc;
	c->crc32c = crc32c;
	it->nchunks++;
	return CKPTIO_OK;
}

ckptio_status ckptio__md_set_attr(ckptio_host_ctx *hc, ckptio_metadata *md,
				  const char *key, const char *value)
{
	md_impl *m = IMPL(md);

	if (!key || !value ||
	    ckptio__utf8_prefix(key, strlen(key)) != strlen(key) ||
	    ckptio__utf8_prefix(value, strlen(value)) != strlen(value))
		return ckptio__hc_error(hc, CKPTIO_EINVAL,
					"metadata attribute: key and value "
					"must be UTF-8 strings");
	for (size_t i = 0; i < md->nattrs; i++)
		if (strcmp(m->akeys[i], key) == 0) {
			char *v = strdup(value);

			if (!v)
				return ckptio__hc_error(hc, CKPTIO_ENOMEM,
							"out of memory");
			free(m->avals[i]);
			m->avals[i] = v;
			return CKPTIO_OK;
		}
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
	return CKPTIO_OK;
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

/* Chunks of a tensor must not overlap and must cover it exactly: with no
 * overlap, covering means their element counts add up. */
static ckptio_status check_cover(ckptio_host_ctx *hc, const char *what,
				 const ckptio_item_meta *it)
{
	uint64_t total = 0, n;
	size_t esz = it->kind == CKPTIO_ITEM_TENSOR
			     ? ckptio_dtype_size(it->dtype) : 1;

	if (it->nchunks == 0)
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"%s: item '%.200s' has no chunks", what,
					it->name);
	for (size_t i = 0; i < it->nchunks; i++) {
		total += it->chunks[i].length / esz;
		for (size_t j = 0; it->kind == CKPTIO_ITEM_TENSOR && j < i; j++)
			if (boxes_overlap(it->ndim, &it->chunks[i],
					  &it->chunks[j]))
				return ckptio__hc_error(
					hc, CKPTIO_ECORRUPT,
					"%s: item '%.200s': chunks %zu and %zu "
					"overlap",
					what, it->name, j, i);
	}
	n = it->kind == CKPTIO_ITEM_TENSOR ? it->nbytes / esz
					   : it->chunks[0].length;
	if (total != n)
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"%s: item '%.200s': chunks cover %llu "
					"of %llu elements",
					what, it->name,
					(unsigned long long)total,
					(unsigned long long)n);
	return CKPTIO_OK;
}

ckptio_status ckptio__md_seal(ckptio_host_ctx *hc, const char *what,
			      ckptio_metadata *md)
{
	md_impl *m = IMPL(md);
	ckptio_status st;

	/* Sorting moves items; the chunk capacities move with them only
	 * in meaning, so drop them: a sealed metadata is not extended. */
	if (md->nitems)
		qsort(m->items, md->nitems, sizeof(*m->items), cmp_items);
	free(m->ccap);
	m->ccap = NULL;
	m->icap = md->nitems;
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
	md->items = m->items;
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
/* JSON                                                                     */

static json_t *dims_json(const uint64_t *v, unsigned n)
{
	json_t *a = json_array();

	for (unsigned i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_integer((json_int_t)v[i]))) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static json_t *chunk_json(const ckptio_item_meta *it, const ckptio_chunk_meta *c)
{
	json_t *o = json_pack("{s:s, s:I, s:I}", "object", c->object, "offset",
			      (json_int_t)c->offset, "length",
			      (json_int_t)c->length);

	if (o && c->has_crc &&
	    json_object_set_new(o, "crc32c", json_integer(c->crc32c)))
		goto fail;
	if (o && it->kind == CKPTIO_ITEM_TENSOR &&
	    (json_object_set_new(o, "offsets", dims_json(c->offsets, it->ndim)) ||
	     json_object_set_new(o, "shape", dims_json(c->shape, it->ndim))))
		goto fail;
	return o;
fail:
	json_decref(o);
	return NULL;
}

static json_t *item_json(const ckptio_item_meta *it)
{
	json_t *o = json_pack("{s:s, s:s}", "name", it->name, "kind",
			      it->kind == CKPTIO_ITEM_TENSOR ? "tensor" : "bytes");
	json_t *chunks = json_array();

	if (!o || !chunks)
		goto fail;
	if (it->kind == CKPTIO_ITEM_TENSOR &&
	    (json_object_set_new(o, "dtype",
				 json_string(ckptio_dtype_name(it->dtype))) ||
	     json_object_set_new(o, "shape", dims_json(it->shape, it->ndim))))
		goto fail;
	for (size_t c = 0; c < it->nchunks; c++)
		if (json_array_append_new(chunks, chunk_json(it, &it->chunks[c])))
			goto fail;
	if (json_object_set_new(o, "chunks", chunks) == 0)
		return o;
	chunks = NULL;
fail:
	json_decref(chunks);
	json_decref(o);
	return NULL;
}

char *ckptio__md_to_json(const ckptio_metadata *md, size_t *len)
{
	json_t *root, *items, *attrs;
	char *s = NULL;

	root = json_pack("{s:s, s:i, s:s, s:i}", "format", "ckptio", "version",
			 (int)md->version, "layout", md->layout, "world",
			 md->world);
	items = json_array();
	attrs = json_object();
	if (!root || !items || !attrs)
		goto out;
	for (size_t i = 0; i < md->nattrs; i++)
		if (json_object_set_new(attrs, md->attr_keys[i],
					json_string(md->attr_values[i])))
			goto out;
	for (size_t i = 0; i < md->nitems; i++)
		if (json_array_append_new(items, item_json(&md->items[i])))
			goto out;
	if (json_object_set(root, "attrs", attrs) ||
	    json_object_set(root, "items", items))
		goto out;
	s = json_dumps(root, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (s)
		*len = strlen(s);
out:
	json_decref(attrs);
	json_decref(items);
	json_decref(root);
	return s;
}

/* Parsing: every field is checked and an error names the JSON path. */
typedef struct parser {
	ckptio_host_ctx *hc;
	const char *what;
	char path[128];
} parser;

static ckptio_status perr(parser *p, const char *field, const char *problem)
{
	return ckptio__hc_error(p->hc, CKPTIO_ECORRUPT, "%s: %s%s%s: %s",
				p->what, p->path, *p->path ? "." : "", field,
				problem);
}

static ckptio_status get_u64(parser *p, json_t *o, const char *field,
			     uint64_t *out)
{
	json_t *v = json_object_get(o, field);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return perr(p, field, v ? "expected a non-negative integer"
					: "missing");
	*out = (uint64_t)json_integer_value(v);
	return CKPTIO_OK;
}

static ckptio_status get_dims(parser *p, json_t *o, const char *field,
			      unsigned ndim, uint64_t *out)
{
	json_t *a = json_object_get(o, field), *v;
	size_t i;

	if (!json_is_array(a) || json_array_size(a) != ndim)
		return perr(p, field, "expected an array of one integer per "
				      "dimension");
	json_array_foreach(a, i, v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return perr(p, field, "expected non-negative integers");
		out[i] = (uint64_t)json_integer_value(v);
	}
	return CKPTIO_OK;
}

static ckptio_status parse_chunk(parser *p, ckptio_metadata *md, size_t idx,
				 const ckptio_item_meta *it, json_t *c)
{
	uint64_t offsets[CKPTIO_MAX_NDIM] = {0}, shape[CKPTIO_MAX_NDIM] = {0};
	uint64_t off, len, crc = 0;
	json_t *obj = json_object_get(c, "object"), *jcrc;
	ckptio_status st;

	if (!json_is_object(c))
		return perr(p, "chunk", "expected an object");
	if (!json_is_string(obj))
		return perr(p, "object", "expected a string");
	if ((st = get_u64(p, c, "offset", &off)) ||
	    (st = get_u64(p, c, "length", &len)))
		return st;
	jcrc = json_object_get(c, "crc32c");
	if (jcrc && (st = get_u64(p, c, "crc32c", &crc)))
		return st;
	if (crc > UINT32_MAX)
		return perr(p, "crc32c", "larger than 32 bits");
	if (it->kind == CKPTIO_ITEM_TENSOR &&
	    ((st = get_dims(p, c, "offsets", it->ndim, offsets)) ||
	     (st = get_dims(p, c, "shape", it->ndim, shape))))
		return st;
	st = ckptio__md_add_chunk(p->hc, md, idx, offsets, shape,
				  json_string_value(obj), off, len,
				  jcrc != NULL, (uint32_t)crc);
	if (st != CKPTIO_OK)
		return st;
	return CKPTIO_OK;
}

static ckptio_status parse_item(parser *p, ckptio_metadata *md, json_t *o)
{
	json_t *name = json_object_get(o, "name"), *kind, *dtype, *chunks, *c;
	uint64_t shape[CKPTIO_MAX_NDIM] = {0};
	ckptio_item_kind k;
	ckptio_dtype dt = CKPTIO_DTYPE_INVALID;
	unsigned ndim = 0;
	size_t idx, i, plen = strlen(p->path);
	ckptio_status st;

	if (!json_is_object(o))
		return perr(p, "item", "expected an object");
	kind = json_object_get(o, "kind");
	if (!json_is_string(name))
		return perr(p, "name", "expected a string");
	if (json_string_length(name) != strlen(json_string_value(name)))
		return perr(p, "name", "contains a NUL character");
	if (!json_is_string(kind) ||
	    (strcmp(json_string_value(kind), "tensor") &&
	     strcmp(json_string_value(kind), "bytes")))
		return perr(p, "kind", "expected \"tensor\" or \"bytes\"");
	k = strcmp(json_string_value(kind), "tensor") == 0 ? CKPTIO_ITEM_TENSOR
							  : CKPTIO_ITEM_BYTES;
	if (k == CKPTIO_ITEM_TENSOR) {
		json_t *js = json_object_get(o, "shape");

		dtype = json_object_get(o, "dtype");
		dt = ckptio_dtype_from_name(json_string_value(dtype));
		if (dt == CKPTIO_DTYPE_INVALID)
			return perr(p, "dtype", "unknown dtype");
		if (!json_is_array(js) || json_array_size(js) > CKPTIO_MAX_NDIM)
			return perr(p, "shape", "expected an array of at most "
						"32 integers");
		ndim = (unsigned)json_array_size(js);
		if ((st = get_dims(p, o, "shape", ndim, shape)))
			return st;
	}
	st = ckptio__md_add_item(p->hc, md, json_string_value(name), k, dt, ndim,
				 shape, &idx);
	if (st != CKPTIO_OK)
		return st;
	chunks = json_object_get(o, "chunks");
	if (!json_is_array(chunks))
		return perr(p, "chunks", "expected an array");
	json_array_foreach(chunks, i, c) {
		snprintf(p->path + plen, sizeof(p->path) - plen, ".chunks[%zu]",
			 i);
		st = parse_chunk(p, md, idx, &md->items[idx], c);
		if (st != CKPTIO_OK)
			return st;
	}
	p->path[plen] = '\0';
	return CKPTIO_OK;
}

static ckptio_status parse_root(parser *p, json_t *root, ckptio_metadata *md)
{
	json_t *items, *attrs, *v, *world;
	const char *key;
	size_t i;
	ckptio_status st;

	if (!json_is_object(root))
		return perr(p, "(top)", "expected a JSON object");
	v = json_object_get(root, "format");
	if (!json_is_string(v) || strcmp(json_string_value(v), "ckptio"))
		return perr(p, "format", "expected \"ckptio\"");
	v = json_object_get(root, "version");
	if (!json_is_integer(v) || json_integer_value(v) < 1)
		return perr(p, "version", "expected a positive integer");
	if (json_integer_value(v) > CKPTIO__MD_VERSION)
		return ckptio__hc_error(p->hc, CKPTIO_EUNSUPPORTED,
					"%s: metadata version %lld is newer "
					"than this ckptio understands (%d)",
					p->what, json_integer_value(v),
					CKPTIO__MD_VERSION);
	world = json_object_get(root, "world");
	if (!json_is_integer(world) || json_integer_value(world) < 1 ||
	    json_integer_value(world) > (1 << 24))
		return perr(p, "world", "expected a positive integer");
	md->world = (int)json_integer_value(world);
	attrs = json_object_get(root, "attrs");
	if (attrs && !json_is_object(attrs))
		return perr(p, "attrs", "expected an object of strings");
	json_object_foreach(attrs, key, v) {
		if (!json_is_string(v))
			return perr(p, "attrs", "expected string values");
		if ((st = ckptio__md_set_attr(p->hc, md, key,
					      json_string_value(v))))
			return st;
	}
	items = json_object_get(root, "items");
	if (!json_is_array(items))
		return perr(p, "items", "expected an array");
	json_array_foreach(items, i, v) {
		snprintf(p->path, sizeof(p->path), "items[%zu]", i);
		if ((st = parse_item(p, md, v)))
			return st;
	}
	return ckptio__md_seal(p->hc, p->what, md);
}

ckptio_status ckptio__md_from_json(ckptio_host_ctx *hc, const char *what,
				   const char *buf, size_t len,
				   ckptio_metadata **out)
{
	parser p = {.hc = hc, .what = what};
	json_error_t jerr;
	json_t *root;
	ckptio_metadata *md;
	json_t *layout;
	ckptio_status st;

	*out = NULL;
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return ckptio__hc_error(hc, CKPTIO_ECORRUPT,
					"%s: malformed JSON at line %d column "
					"%d: %s",
					what, jerr.line, jerr.column, jerr.text);
	layout = json_object_get(root, "layout");
	st = ckptio__md_new(hc, json_is_string(layout)
				       ? json_string_value(layout) : "native",
			    &md);
	if (st == CKPTIO_OK)
		st = parse_root(&p, root, md);
	json_decref(root);
	if (st != CKPTIO_OK) {
		ckptio__md_free(md);
		/* Builder errors do not know the file: name it. */
		ckptio__hc_prefix(hc, what);
		return st;
	}
	*out = md;
	return CKPTIO_OK;
}
