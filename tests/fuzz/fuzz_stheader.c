/*
 * fuzz_stheader.c - the safetensors header parser of the safetensors
 * layout (plugins/safetensors/stheader.c): the input is a whole
 * .safetensors file, parsed as the reader parses it, from its bytes and
 * its size.
 *
 * What parses keeps stheader.h's promises: tensors sorted, contiguous
 * from data offset 0 to the end of the file, each holding dtype bits x
 * elements / 8 bytes, names unique, bytes items 1-D U8.  What does not
 * parse was reported once, with a non-empty message starting with the
 * file's name.  The parser is also given exactly the header's bytes (as
 * the reader does for a header over 64 KiB, in a buffer of that size, so
 * that a read past it is a sanitizer report) and must say the same.
 */
#include <string.h>

#include "../../plugins/safetensors/stheader.h"
#include "fuzz.h"

#define FILE_NAME "ckpt/model-00001-of-00002.safetensors"

/* What the error callback saw. */
typedef struct seen {
	int calls;
	ckptio_status status;
	char msg[1024];
} seen;

static void on_error(void *user, ckptio_status status, const char *msg)
{
	seen *s = user;

	FUZZ_CHECK(msg != NULL, "error callback given a NULL message");
	s->calls++;
	s->status = status;
	snprintf(s->msg, sizeof(s->msg), "%s", msg);
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Names unique (the parser rejects duplicate JSON keys). */
static void check_unique(const stheader *h)
{
	const char **names = malloc((h->n ? h->n : 1) * sizeof(*names));

	FUZZ_CHECK(names != NULL, "out of memory");
	for (size_t k = 0; k < h->n; k++)
		names[k] = h->t[k].name;
	qsort(names, h->n, sizeof(*names), by_name);
	for (size_t k = 1; k < h->n; k++)
		FUZZ_CHECK(strcmp(names[k - 1], names[k]) != 0,
			   "tensor '%s' twice", names[k]);
	free(names);
}

/* One accepted tensor: a known dtype, at most CKPTIO_MAX_NDIM dimensions,
 * and exactly bits x elements / 8 bytes. */
static void check_tensor(const stheader_tensor *t)
{
	unsigned __int128 bits;

	FUZZ_CHECK(t->name && strcmp(t->name, "__metadata__") != 0,
		   "a tensor named %s", t->name ? t->name : "NULL");
	FUZZ_CHECK(t->dt >= 0 && (size_t)t->dt < stheader_ndtypes,
		   "tensor '%s': dtype index %d", t->name, t->dt);
	FUZZ_CHECK(t->ndim <= CKPTIO_MAX_NDIM, "tensor '%s': %u dimensions",
		   t->name, t->ndim);
	FUZZ_CHECK(t->begin <= t->end, "tensor '%s': [%llu, %llu]", t->name,
		   (unsigned long long)t->begin, (unsigned long long)t->end);
	bits = stheader_dtypes[t->dt].bits;
	for (unsigned d = 0; d < t->ndim && bits; d++) {
		/* Overflowing 128 bits would already be far over any file. */
		FUZZ_CHECK(t->shape[d] == 0 ||
				   bits <= ((unsigned __int128)1 << 100) /
						   t->shape[d],
			   "tensor '%s': accepted with a huge shape", t->name);
		bits *= t->shape[d];
	}
	FUZZ_CHECK(bits == (unsigned __int128)(t->end - t->begin) * 8,
		   "tensor '%s': %s shape x bits is not the %llu bytes of "
		   "[%llu, %llu]",
		   t->name, stheader_dtypes[t->dt].name,
		   (unsigned long long)(t->end - t->begin),
		   (unsigned long long)t->begin, (unsigned long long)t->end);
	FUZZ_CHECK(!t->is_bytes || (stheader_dtypes[t->dt].dt == CKPTIO_U8 &&
				    t->ndim == 1),
		   "bytes item '%s' is no 1-D U8 tensor", t->name);
}

static void check_accepted(const stheader *h, const uint8_t *data,
			   size_t size)
{
	uint64_t hlen = 0, at = 0;

	for (int i = 7; i >= 0; i--)
		hlen = hlen << 8 | data[i];
	FUZZ_CHECK(h->data_start == 8 + hlen && h->data_start <= size,
		   "data starts at %llu, header length %llu, file %zu",
		   (unsigned long long)h->data_start, (unsigned long long)hlen,
		   size);
	FUZZ_CHECK(h->n == 0 || h->t, "%zu tensors, no array", h->n);
	for (size_t k = 0; k < h->n; k++) {
		check_tensor(&h->t[k]);
		FUZZ_CHECK(h->t[k].begin == at,
			   "tensor '%s' begins at %llu, not %llu", h->t[k].name,
			   (unsigned long long)h->t[k].begin,
			   (unsigned long long)at);
		at = h->t[k].end;
	}
	FUZZ_CHECK(h->data_start + at == size,
		   "tensors end at %llu in a file of %zu bytes",
		   (unsigned long long)(h->data_start + at), size);
	check_unique(h);
}

static void check_rejected(ckptio_status st, const seen *s)
{
	size_t nl = strlen(FILE_NAME);

	FUZZ_CHECK(s->calls == 1, "rejected (%d) with %d error reports",
		   (int)st, s->calls);
	FUZZ_CHECK(s->status == st, "reported status %d, returned %d",
		   (int)s->status, (int)st);
	/* Only the input's own faults: memory aside, it is corrupt. */
	FUZZ_CHECK(st == CKPTIO_ECORRUPT || st == CKPTIO_ENOMEM,
		   "status %d: %s", (int)st, s->msg);
	FUZZ_CHECK(strncmp(s->msg, FILE_NAME ": ", nl + 2) == 0 &&
			   s->msg[nl + 2],
		   "message does not name the file and the fault: '%s'",
		   s->msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	seen s = {0}, s2 = {0};
	stheader h, h2;
	ckptio_status st, st2;
	uint64_t span = 0;
	unsigned char *exact;

	st = stheader_parse(data, size, size, FILE_NAME, on_error, &s, &h);
	if (st == CKPTIO_OK) {
		FUZZ_CHECK(s.calls == 0, "accepted after reporting: %s", s.msg);
		check_accepted(&h, data, size);
	} else {
		check_rejected(st, &s);
		FUZZ_CHECK(h.t == NULL && h.n == 0 && h.json == NULL,
			   "a rejection left a result behind");
	}

	/* The header's bytes alone, as the reader hands a long header. */
	if (stheader_span(data, size, size, FILE_NAME, on_error, &s2, &span) !=
	    CKPTIO_OK) {
		FUZZ_CHECK(st != CKPTIO_OK && s2.status == st &&
				   strcmp(s2.msg, s.msg) == 0,
			   "span check and parse disagree: '%s' / '%s'", s2.msg,
			   s.msg);
		stheader_free(&h);
		return 0;
	}
	FUZZ_CHECK(span >= 8 && span <= size, "span %llu of a %zu-byte file",
		   (unsigned long long)span, size);
	exact = malloc((size_t)span);
	FUZZ_CHECK(exact != NULL, "out of memory");
	memcpy(exact, data, (size_t)span);
	st2 = stheader_parse(exact, (size_t)span, size, FILE_NAME, on_error,
			     &s2, &h2);
	FUZZ_CHECK(st2 == st && strcmp(s2.msg, s.msg) == 0 &&
			   h2.n == h.n && h2.data_start == h.data_start,
		   "the header alone parses differently: %d '%s' / %d '%s'",
		   (int)st2, s2.msg, (int)st, s.msg);
	for (size_t k = 0; k < h.n; k++)
		FUZZ_CHECK(strcmp(h.t[k].name, h2.t[k].name) == 0 &&
				   h.t[k].begin == h2.t[k].begin &&
				   h.t[k].has_crc == h2.t[k].has_crc &&
				   h.t[k].crc == h2.t[k].crc &&
				   h.t[k].is_bytes == h2.t[k].is_bytes,
			   "tensor %zu differs with the header alone", k);
	stheader_free(&h2);
	stheader_free(&h);
	free(exact);
	/* Freeing twice is harmless: the result was emptied. */
	stheader_free(&h);
	return 0;
}
