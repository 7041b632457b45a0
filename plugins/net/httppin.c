/*
 * httppin.c - one version per object (httpreq.h, httpreq_pins): the
 * version (ETag, else Last-Modified) of each object a store has had an
 * answer about, pinned for the store's life, so that a load never mixes
 * bytes of two versions of an object replaced on the server meanwhile (a
 * safetensors file overwritten in place carries no checksums to catch
 * it).  An open-addressing table keyed by the object's key; the caller
 * holds the client's lock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpreq.h"

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

static httpreq_pin *slot(httpreq_pins *p, const char *key)
{
	size_t i = (size_t)hash_str(key) & (p->cap - 1);

	while (p->v[i].key && strcmp(p->v[i].key, key) != 0)
		i = (i + 1) & (p->cap - 1);
	return &p->v[i];
}

httpreq_pin *httpreq_pin_find(httpreq_pins *p, const char *key)
{
	httpreq_pin *e;

	if (!p->cap)
		return NULL;
	e = slot(p, key);
	return e->key ? e : NULL;
}

httpreq_pin *httpreq_pin_of(httpreq_pins *p, const char *key)
{
	httpreq_pin *e;

	if ((p->n + 1) * 2 > p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64, ocap = p->cap;
		httpreq_pin *old = p->v, *v = calloc(cap, sizeof(*v));

		if (!v)
			return NULL;
		p->v = v;
		p->cap = cap;
		for (size_t i = 0; i < ocap; i++)
			if (old[i].key)
				*slot(p, old[i].key) = old[i];
		free(old);
	}
	e = slot(p, key);
	if (e->key)
		return e;
	if (!(e->key = strdup(key)))
		return NULL;
	p->n++;
	return e;
}

void httpreq_pin_forget(httpreq_pins *p, const char *key)
{
	size_t i, j;
	httpreq_pin *e;

	if (!p->cap || !(e = slot(p, key))->key)
		return;
	i = (size_t)(e - p->v);
	free(p->v[i].key);
	free(p->v[i].tag);
	p->v[i] = (httpreq_pin){0};
	p->n--;
	/* Backward-shift: the entries after it move up to where a lookup
	 * finds them. */
	for (j = (i + 1) & (p->cap - 1); p->v[j].key; j = (j + 1) & (p->cap - 1)) {
		httpreq_pin moved = p->v[j];

		p->v[j] = (httpreq_pin){0};
		*slot(p, moved.key) = moved;
	}
}

void httpreq_pins_free(httpreq_pins *p)
{
	for (size_t i = 0; i < p->cap; i++) {
		free(p->v[i].key);
		free(p->v[i].tag);
	}
	free(p->v);
	*p = (httpreq_pins){0};
}

int httpreq_pin_check(httpreq_pins *p, const char *key, httpreq *r,
		      const char *shown)
{
	const char *tag = r->etag[0] ? r->etag : r->last_modified;
	httpreq_pin *e;

	if (!tag[0])
		return 0; /* the server gives none: nothing to compare */
	if (!(e = httpreq_pin_of(p, key)))
		return 0; /* out of memory: compared with nothing, as before */
	if (!e->tag) {
		e->tag = strdup(tag); /* NULL: compared with nothing later */
		return 0;
	}
	if (strcmp(e->tag, tag) == 0)
		return 0;
	r->st = CKPTIO_ECORRUPT;
	snprintf(r->msg, sizeof(r->msg), "%s: changed on the server since it "
		 "was first read (%s, now %s): not mixing two versions of it",
		 shown, e->tag, tag);
	return -1;
}
