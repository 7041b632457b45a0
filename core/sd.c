/*
 * sd.c - state dicts: the caller's list of items to save or load.
 * Names and shapes are copied; data stays the caller's.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* No context here: the message goes to ckptio_last_error(). */
static ckptio_status null_arg(const char *fn, const char *arg)
{
	return ckptio__set_last_error(CKPTIO_EINVAL, "%s: %s is NULL", fn, arg);
}

ckptio_status ckptio_sd_new(ckptio_sd **out)
{
	if (!out)
		return null_arg(__func__, "out");
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return ckptio__set_last_error(CKPTIO_ENOMEM, "out of memory");
	return CKPTIO_OK;
}

static void item_free(ckptio__sd_item *it)
{
	free((void *)it->pi.name);
	free((void *)it->pi.global_shape);
	free((void *)it->pi.offsets);
	free((void *)it->pi.shape);
}

void ckptio_sd_free(ckptio_sd *sd)
{
	if (!sd)
		return;
	for (size_t i = 0; i < sd->n; i++)
		item_free(&sd->items[i]);
	free(sd->items);
	free(sd->slots);
	free(sd);
}

/* ------------------------------------------------------------------------ */
/* The name index: adding N items costs O(N), not O(N^2) string compares  */
/* (state dicts of large models have 100k+ items).                          */

static uint64_t name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static void slot_put(size_t *slots, size_t nslots, const char *name,
		     size_t index)
{
	size_t i = (size_t)name_hash(name) & (nslots - 1);

	while (slots[i])
		i = (i + 1) & (nslots - 1);
	slots[i] = index + 1;
}

static int name_taken(const ckptio_sd *sd, const char *name)
{
	size_t i;

	if (!sd->nslots) {
		for (size_t k = 0; k < sd->n; k++)
			if (strcmp(sd->items[k].pi.name, name) == 0)
				return 1;
		return 0;
	}
	for (i = (size_t)name_hash(name) & (sd->nslots - 1); sd->slots[i];
	     i = (i + 1) & (sd->nslots - 1)) {
		size_t k = sd->slots[i] - 1;

		if (k < sd->n && strcmp(sd->items[k].pi.name, name) == 0)
			return 1;
	}
	return 0;
}

/* Index the item just added (sd->n - 1); rebuild at half load.  Out of
 * memory only costs speed: lookups fall back to the scan. */
static void name_index(ckptio_sd *sd)
{
	size_t *v, n;

	if (sd->nslots && (sd->nused + 1) * 2 <= sd->nslots) {
		slot_put(sd->slots, sd->nslots, sd->items[sd->n - 1].pi.name,
			 sd->n - 1);
		sd->nused++;
		return;
	}
	for (n = 64; n < sd->n * 4; n *= 2)
		;
	v = calloc(n, sizeof(*v));
	free(sd->slots);
	sd->slots = v;
	sd->nslots = v ? n : 0;
	sd->nused = v ? sd->n : 0;
	for (size_t k = 0; v && k < sd->n; k++)
		slot_put(v, n, sd->items[k].pi.name, k);
}

size_t ckptio_sd_count(const ckptio_sd *sd)
{
	return sd ? sd->n : 0;
}

static ckptio_status check_name(const ckptio_sd *sd, const char *name)
{
	size_t len = name ? strlen(name) : 0, ok;

	if (len == 0)
		return ckptio__set_last_error(CKPTIO_EINVAL,
					      "item name is empty");
	if (len > CKPTIO_MAX_NAME)
		return ckptio__set_last_error(CKPTIO_EINVAL,
					      "item name '%.40s...' is %zu "
					      "bytes; the limit is %d",
					      name, len, CKPTIO_MAX_NAME);
	/* Names travel in JSON metadata and safetensors headers, which hold
	 * UTF-8 only: refuse other bytes here rather than lose the item
	 * later. */
	ok = ckptio__utf8_prefix(name, len);
	if (ok != len)
		return ckptio__set_last_error(CKPTIO_EINVAL,
					      "item name is not valid UTF-8: "
					      "byte 0x%02x at offset %zu "
					      "(after '%.*s')",
					      (unsigned char)name[ok], ok,
					      (int)ckptio__utf8_prefix(
						      name, ok > 200 ? 200 : ok),
					      name);
	if (name_taken(sd, name))
		return ckptio__set_last_error(CKPTIO_EINVAL, "item '%.200s' is "
					      "already in the state dict",
					      name);
	return CKPTIO_OK;
}

static uint64_t *dims_or(const uint64_t *v, const uint64_t *def,
			 unsigned ndim)
{
	uint64_t *d = calloc(ndim ? ndim : 1, sizeof(*d));

	if (d && ndim && (v || def))
		memcpy(d, v ? v : def, ndim * sizeof(*d));
	return d;
}

static ckptio__sd_item *push(ckptio_sd *sd)
{
	if (sd->n == sd->cap) {
		size_t cap = sd->cap ? sd->cap * 2 : 32;
		ckptio__sd_item *v = realloc(sd->items, cap * sizeof(*v));

		if (!v)
			return NULL;
		sd->items = v;
		sd->cap = cap;
	}
	memset(&sd->items[sd->n], 0, sizeof(sd->items[0]));
	return &sd->items[sd->n];
}

static const uint64_t zeros[CKPTIO_MAX_NDIM];

static ckptio_status add_tensor(ckptio_sd *sd, const char *name,
				ckptio_dtype dtype, unsigned ndim,
				const uint64_t *global_shape,
				const uint64_t *offsets, const uint64_t *shape,
				ckptio__sd_item **out)
{
	ckptio__sd_item *it;
	ckptio_status st = check_name(sd, name);
	uint64_t n, end, elems = 1, gelems = 1;
	char why[CKPTIO__WHY];
	int big = 0;

	if (st != CKPTIO_OK)
		return st;
	if (ckptio_dtype_bits(dtype) == 0)
		return ckptio__set_last_error(CKPTIO_EINVAL,
					      "item '%.200s': unknown dtype %d",
					      name, (int)dtype);
	if (ndim > CKPTIO_MAX_NDIM || (ndim && !global_shape))
		return ckptio__set_last_error(CKPTIO_EINVAL,
					      "item '%.200s': %u dimensions "
					      "(at most %d, with a shape)",
					      name, ndim, CKPTIO_MAX_NDIM);
	for (unsigned d = 0; d < ndim; d++) {
		uint64_t o = offsets ? offsets[d] : 0;
		uint64_t s = shape ? shape[d] : global_shape[d];

		/* Metadata holds extents as JSON integers (signed 64-bit):
		 * a larger one could be saved but never read back. */
		if (global_shape[d] > INT64_MAX)
			return ckptio__set_last_error(
				CKPTIO_EINVAL,
				"item '%.200s': dimension %u is %llu, larger "
				"than 2^63 - 1",
				name, d, (unsigned long long)global_shape[d]);
		if (__builtin_add_overflow(o, s, &end) || end > global_shape[d])
			return ckptio__set_last_error(
				CKPTIO_EINVAL,
				"item '%.200s': chunk [%llu, +%llu) out of "
				"bounds of dimension %u (size %llu)",
				name, (unsigned long long)o,
				(unsigned long long)s, d,
				(unsigned long long)global_shape[d]);
		big |= __builtin_mul_overflow(elems, s, &elems);
		big |= __builtin_mul_overflow(gelems, global_shape[d], &gelems);
	}
	/* The whole tensor must be storable too (the metadata holds it), and
	 * for a sub-byte dtype the chunk must keep its rows byte-aligned. */
	if (big)
		return ckptio__set_last_error(CKPTIO_EINVAL,
					      "item '%.200s': more than "
					      "2^64 - 1 elements",
					      name);
	if (ckptio__dtype_bytes(dtype, gelems, &n, why, sizeof(why)) != 0 ||
	    ckptio__dtype_bytes(dtype, elems, &n, why, sizeof(why)) != 0 ||
	    (ndim && ckptio__chunk_bytes_aligned(dtype, ndim, global_shape,
						 offsets ? offsets : zeros,
						 shape ? shape : global_shape,
						 why, sizeof(why)) != 0))
		return ckptio__set_last_error(CKPTIO_EINVAL,
					      "item '%.200s': %s", name, why);
	it = push(sd);
	if (!it)
		return ckptio__set_last_error(CKPTIO_ENOMEM, "out of memory");
	it->pi.name = strdup(name);
	it->pi.kind = CKPTIO_ITEM_TENSOR;
	it->pi.dtype = dtype;
	it->pi.ndim = ndim;
	it->pi.global_shape = dims_or(global_shape, NULL, ndim);
	it->pi.offsets = dims_or(offsets, NULL, ndim);
	it->pi.shape = dims_or(shape, global_shape, ndim);
	it->pi.nbytes = n;
	if (!it->pi.name || !it->pi.global_shape || !it->pi.offsets ||
	    !it->pi.shape) {
		item_free(it);
		return ckptio__set_last_error(CKPTIO_ENOMEM, "out of memory");
	}
	sd->n++;
	name_index(sd);
	*out = it;
	return CKPTIO_OK;
}

ckptio_status ckptio_sd_add_tensor(ckptio_sd *sd, const char *name,
				   ckptio_dtype dtype, unsigned ndim,
				   const uint64_t *global_shape,
				   const uint64_t *offsets,
				   const uint64_t *shape, void *data)
{
	ckptio__sd_item *it;
	ckptio_status st;

	if (!sd || !name)
		return null_arg(__func__, !sd ? "sd" : "name");
	st = add_tensor(sd, name, dtype, ndim, global_shape, offsets, shape, &it);
	if (st != CKPTIO_OK)
		return st;
	if (!data && it->pi.nbytes) {
		item_free(it);
		sd->n--;
		return ckptio__set_last_error(CKPTIO_EINVAL,
					      "item '%.200s': no data", name);
	}
	it->pi.data = data;
	it->wdata = data;
	return CKPTIO_OK;
}

ckptio_status ckptio_sd_add_tensor_fn(ckptio_sd *sd, const char *name,
				      ckptio_dtype dtype, unsigned ndim,
				      const uint64_t *global_shape,
				      const uint64_t *offsets,
				      const uint64_t *shape,
				      ckptio_read_fn read, void *user)
{
	ckptio__sd_item *it;
	ckptio_status st;

	if (!sd || !name || !read)
		return null_arg(__func__, !sd ? "sd" : !name ? "name" : "read");
	st = add_tensor(sd, name, dtype, ndim, global_shape, offsets, shape, &it);
	if (st != CKPTIO_OK)
		return st;
	it->pi.read = read;
	it->pi.read_user = user;
	return CKPTIO_OK;
}

static ckptio_status add_bytes(ckptio_sd *sd, const char *name, void *data,
			       uint64_t len, ckptio_read_fn read, void *user)
{
	ckptio__sd_item *it;
	ckptio_status st = check_name(sd, name);

	if (st != CKPTIO_OK)
		return st;
	if (!data && !read && len)
		return ckptio__set_last_error(CKPTIO_EINVAL,
					      "item '%.200s': no data", name);
	it = push(sd);
	if (!it || !(it->pi.name = strdup(name)))
		return ckptio__set_last_error(CKPTIO_ENOMEM, "out of memory");
	it->pi.kind = CKPTIO_ITEM_BYTES;
	it->pi.nbytes = len;
	it->pi.data = data;
	it->wdata = data;
	it->pi.read = read;
	it->pi.read_user = user;
	sd->n++;
	name_index(sd);
	return CKPTIO_OK;
}

ckptio_status ckptio_sd_add_bytes(ckptio_sd *sd, const char *name, void *data,
				  size_t len)
{
	if (!sd || !name)
		return null_arg(__func__, !sd ? "sd" : "name");
	return add_bytes(sd, name, data, len, NULL, NULL);
}

ckptio_status ckptio_sd_add_bytes_fn(ckptio_sd *sd, const char *name,
				     uint64_t len, ckptio_read_fn read,
				     void *user)
{
	if (!sd || !name || !read)
		return null_arg(__func__, !sd ? "sd" : !name ? "name" : "read");
	return add_bytes(sd, name, NULL, len, read, user);
}
