/*
 * fuzz_metadata.c - the metadata JSON parser (core/metadata.c,
 * ckptio__md_from_json), with a round trip: what parses must serialize
 * (ckptio__md_to_json), parse again to equal metadata, and serialize again
 * to the same bytes.  A rejection must name the object and say why.
 */
#include <string.h>

#include "internal.h"
#include "fuzz.h"

#define WHAT "ck/.metadata.json"

static int same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static int same_dims(const uint64_t *a, const uint64_t *b, unsigned n)
{
	return n == 0 || memcmp(a, b, n * sizeof(*a)) == 0;
}

/* Every chunk of item i of a and b equal; fails with the first difference. */
static void same_chunks(const ckptio_item_meta *a, const ckptio_item_meta *b)
{
	for (size_t c = 0; c < a->nchunks; c++) {
		const ckptio_chunk_meta *x = &a->chunks[c], *y = &b->chunks[c];

		FUZZ_CHECK(same_str(x->object, y->object) &&
				   x->offset == y->offset &&
				   x->length == y->length &&
				   x->has_crc == y->has_crc &&
				   (!x->has_crc || x->crc32c == y->crc32c) &&
				   same_dims(x->offsets, y->offsets, a->ndim) &&
				   same_dims(x->shape, y->shape, a->ndim),
			   "item '%s' chunk %zu changed in the round trip",
			   a->name, c);
	}
}

static void same_md(const ckptio_metadata *a, const ckptio_metadata *b)
{
	FUZZ_CHECK(a->version == b->version && a->world == b->world &&
			   same_str(a->layout, b->layout),
		   "version, world or layout changed in the round trip");
	FUZZ_CHECK(a->nattrs == b->nattrs, "%zu attrs became %zu", a->nattrs,
		   b->nattrs);
	for (size_t i = 0; i < a->nattrs; i++)
		FUZZ_CHECK(same_str(a->attr_keys[i], b->attr_keys[i]) &&
				   same_str(a->attr_values[i],
					    b->attr_values[i]),
			   "attr %zu changed in the round trip", i);
	FUZZ_CHECK(a->nitems == b->nitems, "%zu items became %zu", a->nitems,
		   b->nitems);
	for (size_t i = 0; i < a->nitems; i++) {
		const ckptio_item_meta *x = &a->items[i], *y = &b->items[i];

		FUZZ_CHECK(same_str(x->name, y->name) && x->kind == y->kind &&
				   x->dtype == y->dtype &&
				   x->ndim == y->ndim &&
				   same_dims(x->shape, y->shape, x->ndim) &&
				   x->nbytes == y->nbytes &&
				   x->nchunks == y->nchunks,
			   "item %zu ('%s') changed in the round trip", i,
			   x->name);
		same_chunks(x, y);
	}
}

/* What a sealed metadata promises its readers. */
static void check_sealed(const ckptio_metadata *md)
{
	for (size_t i = 0; i < md->nitems; i++) {
		const ckptio_item_meta *it = &md->items[i];

		FUZZ_CHECK(i == 0 || strcmp(md->items[i - 1].name, it->name) < 0,
			   "items not sorted or not unique at %zu", i);
		FUZZ_CHECK(ckptio__md_find(md, it->name) == i,
			   "item '%s' not found by name", it->name);
		FUZZ_CHECK(it->nchunks > 0, "item '%s' without chunks",
			   it->name);
		for (size_t c = 0; c < it->nchunks; c++)
			FUZZ_CHECK(ckptio__key_valid(it->chunks[c].object),
				   "item '%s': object key '%s' let through",
				   it->name, it->chunks[c].object);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ckptio_host_ctx hc;
	ckptio_metadata *md = NULL, *back = NULL;
	char *json = NULL, *again = NULL;
	size_t len = 0, len2 = 0;
	ckptio_status st;

	ckptio__hc_init(&hc, NULL, NULL, NULL);
	st = ckptio__md_from_json(&hc, WHAT, (const char *)data, size, &md);
	if (st != CKPTIO_OK) {
		FUZZ_CHECK(md == NULL, "failed parse returned metadata");
		FUZZ_CHECK(hc.status == st &&
				   strncmp(hc.msg, WHAT ": ", strlen(WHAT) + 2) == 0 &&
				   hc.msg[strlen(WHAT) + 2] != '\0',
			   "rejection without a message naming the object: "
			   "'%s'", hc.msg);
		goto out;
	}
	check_sealed(md);
	json = ckptio__md_to_json(md, &len);
	FUZZ_CHECK(json != NULL, "serializing parsed metadata failed");
	ckptio__hc_destroy(&hc);
	ckptio__hc_init(&hc, NULL, NULL, NULL);
	st = ckptio__md_from_json(&hc, WHAT, json, len, &back);
	FUZZ_CHECK(st == CKPTIO_OK, "serialized metadata does not parse: %s\n%s",
		   hc.msg, json);
	same_md(md, back);
	again = ckptio__md_to_json(back, &len2);
	FUZZ_CHECK(again && len2 == len && memcmp(json, again, len) == 0,
		   "serializing twice differs:\n%s\n%s", json,
		   again ? again : "(null)");
out:
	free(again);
	free(json);
	ckptio__md_free(back);
	ckptio__md_free(md);
	ckptio__hc_destroy(&hc);
	return 0;
}
