/*
 * stheader.c - the safetensors header parser (stheader.h): length checks,
 * the JSON header, each tensor entry, contiguity, and __metadata__ with
 * ckptio's own keys.  No I/O: the reader hands it the bytes it read.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stheader.h"

/* ------------------------------------------------------------------------ */
/* Dtypes: the specification's names (ckptio's enum values are stable).    */

const stheader_dtype stheader_dtypes[] = {
	{"BOOL", CKPTIO_BOOL, 8},	  {"U8", CKPTIO_U8, 8},
	{"I8", CKPTIO_I8, 8},		  {"F8_E5M2", CKPTIO_F8_E5M2, 8},
	{"F8_E4M3", CKPTIO_F8_E4M3, 8},	  {"F8_E8M0", CKPTIO_F8_E8M0, 8},
	{"F8_E4M3FNUZ", CKPTIO_F8_E4M3FNUZ, 8},
	{"F8_E5M2FNUZ", CKPTIO_F8_E5M2FNUZ, 8},
	{"I16", CKPTIO_I16, 16},	  {"U16", CKPTIO_U16, 16},
	{"F16", CKPTIO_F16, 16},	  {"BF16", CKPTIO_BF16, 16},
	{"I32", CKPTIO_I32, 32},	  {"U32", CKPTIO_U32, 32},
	{"F32", CKPTIO_F32, 32},	  {"I64", CKPTIO_I64, 64},
	{"U64", CKPTIO_U64, 64},	  {"F64", CKPTIO_F64, 64},
	{"C64", CKPTIO_C64, 64},	  {"F4", CKPTIO_F4, 4},
	{"F6_E2M3", CKPTIO_F6_E2M3, 6},	  {"F6_E3M2", CKPTIO_F6_E3M2, 6},
};
const size_t stheader_ndtypes =
	sizeof(stheader_dtypes) / sizeof(stheader_dtypes[0]);

int stheader_dtype_index(ckptio_dtype dt)
{
	for (size_t i = 0; i < stheader_ndtypes; i++)
		if (stheader_dtypes[i].dt == dt)
			return (int)i;
	return -1;
}

static int dtype_index_named(const char *name)
{
	for (size_t i = 0; i < stheader_ndtypes; i++)
		if (strcmp(stheader_dtypes[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* Bytes of n elements of `bits` bits: 0 on success, -1 when not whole
 * bytes, -2 on overflow. */
static int elems_bytes(uint64_t n, unsigned bits, uint64_t *out)
{
	if (n > UINT64_MAX / bits)
		return -2;
	if (n * bits % 8)
		return -1;
	*out = n * bits / 8;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

/* Where errors go, and the file they name. */
typedef struct parser {
	const char *file;
	stheader_error_fn err;
	void *user;
} parser;

static ckptio_status report(const parser *p, ckptio_status st,
			    const char *f, ...)
	__attribute__((format(printf, 3, 4)));
static ckptio_status report(const parser *p, ckptio_status st,
			    const char *f, ...)
{
	va_list ap;
	char *msg;
	int n;

	va_start(ap, f);
	n = vasprintf(&msg, f, ap);
	va_end(ap);
	if (n < 0) {
		/* No memory for the detail: still name the file. */
		p->err(p->user, st, p->file);
		return st;
	}
	p->err(p->user, st, msg);
	free(msg);
	return st;
}

#define BAD(...) report(p, CKPTIO_ECORRUPT, __VA_ARGS__)

/* A JSON integer that is >= 0. */
static int get_u64(json_t *v, uint64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return 0;
	*out = (uint64_t)json_integer_value(v);
	return 1;
}

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0'
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int by_offsets(const void *a, const void *b)
{
	const stheader_tensor *x = a, *y = b;

	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* ------------------------------------------------------------------------ */
/* The parts of a header                                                    */

/* One tensor entry. */
static ckptio_status parse_tensor(const parser *p, const char *name, json_t *v,
				  stheader_tensor *t)
{
	json_t *dt = json_object_get(v, "dtype"),
	       *shape = json_object_get(v, "shape"),
	       *offs = json_object_get(v, "data_offsets");
	uint64_t numel = 1, bytes;
	const char *key;
	json_t *x;
	size_t i;
	int e;

	t->name = name;
	if (!json_is_object(v))
		return BAD("%s: tensor '%.200s': not a JSON object", p->file,
			   name);
	json_object_foreach(v, key, x)
		if (strcmp(key, "dtype") && strcmp(key, "shape") &&
		    strcmp(key, "data_offsets"))
			return BAD("%s: tensor '%.200s': unknown field "
				   "'%.100s'",
				   p->file, name, key);
	if (!json_is_string(dt) ||
	    (t->dt = dtype_index_named(json_string_value(dt))) < 0)
		return BAD("%s: tensor '%.200s': %s dtype%s%.40s", p->file,
			   name,
			   json_is_string(dt) ? "unknown" : "missing or non-string",
			   json_is_string(dt) ? " " : "",
			   json_is_string(dt) ? json_string_value(dt) : "");
	if (!json_is_array(shape))
		return BAD("%s: tensor '%.200s': shape is not an array",
			   p->file, name);
	if (json_array_size(shape) > CKPTIO_MAX_NDIM)
		return BAD("%s: tensor '%.200s': %zu dimensions, more than %d",
			   p->file, name, json_array_size(shape),
			   CKPTIO_MAX_NDIM);
	t->ndim = (unsigned)json_array_size(shape);
	json_array_foreach(shape, i, x) {
		if (!get_u64(x, &t->shape[i]))
			return BAD("%s: tensor '%.200s': shape[%zu] is not a "
				   "non-negative integer",
				   p->file, name, i);
		if (t->shape[i] && numel > UINT64_MAX / t->shape[i])
			return BAD("%s: tensor '%.200s': the shape's element "
				   "count overflows",
				   p->file, name);
		numel *= t->shape[i];
	}
	if (!json_is_array(offs) || json_array_size(offs) != 2 ||
	    !get_u64(json_array_get(offs, 0), &t->begin) ||
	    !get_u64(json_array_get(offs, 1), &t->end))
		return BAD("%s: tensor '%.200s': data_offsets is not two "
			   "non-negative integers",
			   p->file, name);
	if (t->end < t->begin)
		return BAD("%s: tensor '%.200s': data_offsets [%llu, %llu] end "
			   "before they begin",
			   p->file, name, (unsigned long long)t->begin,
			   (unsigned long long)t->end);
	e = elems_bytes(numel, stheader_dtypes[t->dt].bits, &bytes);
	if (e == -1)
		return BAD("%s: tensor '%.200s': %llu elements of %s are not "
			   "a whole number of bytes",
			   p->file, name, (unsigned long long)numel,
			   stheader_dtypes[t->dt].name);
	if (e == -2 || bytes != t->end - t->begin)
		return BAD("%s: tensor '%.200s': %s of shape with %llu elements "
			   "takes %s%llu bytes, but data_offsets [%llu, %llu] "
			   "hold %llu",
			   p->file, name, stheader_dtypes[t->dt].name,
			   (unsigned long long)numel, e == -2 ? "over " : "",
			   (unsigned long long)(e == -2 ? UINT64_MAX : bytes),
			   (unsigned long long)t->begin,
			   (unsigned long long)t->end,
			   (unsigned long long)(t->end - t->begin));
	return CKPTIO_OK;
}

/* "ckptio.crc32c": 8 hex digits per tensor in data order, "--------"
 * where unknown. */
static ckptio_status parse_crcs(const parser *p, stheader *h, json_t *crc)
{
	const char *s = json_string_value(crc);

	if (json_string_length(crc) != 8 * h->n)
		return BAD("%s: __metadata__ %s holds %zu characters, not 8 for "
			   "each of %zu tensors",
			   p->file, STHEADER_META_CRC, json_string_length(crc), h->n);
	for (size_t i = 0; i < h->n; i++) {
		uint32_t v = 0;
		int ok = 1;

		if (memcmp(s + 8 * i, "--------", 8) == 0)
			continue;
		for (int k = 0; k < 8 && ok; k++) {
			int x = hexval(s[8 * i + k]);

			ok = x >= 0;
			v = v << 4 | (uint32_t)(x < 0 ? 0 : x);
		}
		if (!ok)
			return BAD("%s: __metadata__ %s: entry %zu is not 8 hex "
				   "digits",
				   p->file, STHEADER_META_CRC, i);
		h->t[i].has_crc = 1;
		h->t[i].crc = v;
	}
	return CKPTIO_OK;
}

static int cmp_tensor_name(const void *a, const void *b)
{
	return strcmp((*(const stheader_tensor *const *)a)->name,
		      (*(const stheader_tensor *const *)b)->name);
}

/* "ckptio.bytes": a JSON array (in a string) of names of 1-D U8 tensors
 * that are bytes items. */
static ckptio_status parse_bytes(const parser *p, stheader *h, json_t *bytes)
{
	json_t *list = json_loads(json_string_value(bytes),
				  JSON_REJECT_DUPLICATES, NULL),
	       *x;
	stheader_tensor **by_name = NULL;
	size_t i;

	if (!json_is_array(list)) {
		json_decref(list);
		return BAD("%s: __metadata__ %s is not a JSON array", p->file,
			   STHEADER_META_BYTES);
	}
	/* Names to tensors through a sorted index: a list naming every
	 * tensor of a file of 10^6 costs n log n, not n^2. */
	if (json_array_size(list) > 0 && !by_name) {
		by_name = malloc((h->n ? h->n : 1) * sizeof(*by_name));
		if (!by_name) {
			json_decref(list);
			return BAD("%s: out of memory", p->file);
		}
		for (size_t k = 0; k < h->n; k++)
			by_name[k] = &h->t[k];
		qsort(by_name, h->n, sizeof(*by_name), cmp_tensor_name);
	}
	json_array_foreach(list, i, x) {
		size_t k = h->n;

		if (json_is_string(x)) {
			stheader_tensor key = {.name = json_string_value(x)},
					*kp = &key, **hit;

			hit = bsearch(&kp, by_name, h->n, sizeof(*by_name),
				      cmp_tensor_name);
			if (hit)
				k = (size_t)(*hit - h->t);
		}
		if (k == h->n || stheader_dtypes[h->t[k].dt].dt != CKPTIO_U8 ||
		    h->t[k].ndim != 1) {
			ckptio_status st = BAD(
				"%s: __metadata__ %s names '%.200s', which is "
				"no 1-D U8 tensor of the file",
				p->file, STHEADER_META_BYTES,
				json_is_string(x) ? json_string_value(x)
						  : "(not a string)");

			json_decref(list);
			free(by_name);
			return st;
		}
		h->t[k].is_bytes = 1;
	}
	json_decref(list);
	free(by_name);
	return CKPTIO_OK;
}

/* __metadata__: strings only; ckptio's own keys applied to h's tensors
 * (sorted by offsets). */
static ckptio_status parse_meta(const parser *p, stheader *h, json_t *meta)
{
	json_t *crc, *bytes, *x;
	const char *key;
	ckptio_status st = CKPTIO_OK;

	if (!meta)
		return CKPTIO_OK;
	if (!json_is_object(meta))
		return BAD("%s: __metadata__ is not a JSON object", p->file);
	json_object_foreach(meta, key, x)
		if (!json_is_string(x))
			return BAD("%s: __metadata__ '%.100s' is not a string",
				   p->file, key);
	if ((crc = json_object_get(meta, STHEADER_META_CRC)))
		st = parse_crcs(p, h, crc);
	if (st == CKPTIO_OK && (bytes = json_object_get(meta, STHEADER_META_BYTES)))
		st = parse_bytes(p, h, bytes);
	return st;
}

/* Tensors sorted by offsets: contiguous from 0, no overlap, the last
 * ending at the end of the file. */
static ckptio_status check_extents(const parser *p, const stheader *h,
				   uint64_t size)
{
	uint64_t end;

	for (size_t k = 0; k < h->n; k++) {
		uint64_t want = k ? h->t[k - 1].end : 0;

		if (h->t[k].begin != want)
			return BAD("%s: tensor '%.200s' starts at data offset "
				   "%llu, but %s ends at %llu (%s)",
				   p->file, h->t[k].name,
				   (unsigned long long)h->t[k].begin,
				   k ? "the tensor before it" : "nothing",
				   (unsigned long long)want,
				   h->t[k].begin < want ? "overlap" : "a gap");
	}
	/* No overflow: data_start <= 8 + STHEADER_MAX, end <= INT64_MAX. */
	end = h->data_start + (h->n ? h->t[h->n - 1].end : 0);
	if (end != size)
		return BAD("%s: the tensors end at byte %llu, but the file has "
			   "%llu bytes",
			   p->file, (unsigned long long)end,
			   (unsigned long long)size);
	return CKPTIO_OK;
}

/* ------------------------------------------------------------------------ */
/* Entry points                                                             */

ckptio_status stheader_span(const unsigned char *buf, size_t len,
			    uint64_t size, const char *file,
			    stheader_error_fn err, void *user, uint64_t *span)
{
	const parser pp = {file, err, user}, *p = &pp;
	uint64_t hlen = 0;

	if (size < 8)
		return BAD("%s: %llu bytes, too short for a safetensors file "
			   "(8-byte header length)",
			   file, (unsigned long long)size);
	if (len < 8)
		return report(p, CKPTIO_EINVAL,
			      "%s: %zu bytes given of the 8-byte header length",
			      file, len);
	for (int i = 7; i >= 0; i--)
		hlen = hlen << 8 | buf[i];
	if (hlen > STHEADER_MAX || hlen > size - 8)
		return BAD("%s: header length %llu is %s", file,
			   (unsigned long long)hlen,
			   hlen > STHEADER_MAX ? "over the 100000000-byte limit"
					       : "past the end of the file");
	*span = 8 + hlen;
	return CKPTIO_OK;
}

ckptio_status stheader_parse(const unsigned char *buf, size_t len,
			     uint64_t size, const char *file,
			     stheader_error_fn err, void *user, stheader *out)
{
	const parser pp = {file, err, user}, *p = &pp;
	stheader h = {0};
	json_error_t jerr;
	json_t *meta = NULL, *v;
	const char *name;
	uint64_t span;
	ckptio_status st;
	size_t k = 0;

	*out = h;
	if ((st = stheader_span(buf, len, size, file, err, user, &span)) !=
	    CKPTIO_OK)
		return st;
	if (len < span)
		return report(p, CKPTIO_EINVAL,
			      "%s: %zu bytes given of a %llu-byte header", file,
			      len, (unsigned long long)span);
	if (span == 8 || buf[8] != '{')
		return BAD("%s: the header does not start with '{'", file);
	h.json = json_loadb((const char *)buf + 8, (size_t)(span - 8),
			    JSON_REJECT_DUPLICATES, &jerr);
	if (!h.json)
		return BAD("%s: header is not valid JSON: %s (at byte %d)%s", file,
			   jerr.text, jerr.position,
			   /* jansson's words for bytes that are not UTF-8 */
			   strstr(jerr.text, "unable to decode byte")
				   ? " (the format's names are UTF-8; this "
				     "one is not)" : "");
	h.data_start = span;
	h.n = json_object_size(h.json);
	if (!json_is_object(h.json))
		st = BAD("%s: header is not a JSON object", file);
	else if (json_object_get(h.json, "__metadata__"))
		h.n--;
	if (st == CKPTIO_OK &&
	    !(h.t = calloc(h.n ? h.n : 1, sizeof(*h.t))))
		st = report(p, CKPTIO_ENOMEM, "%s: out of memory", file);
	if (st == CKPTIO_OK)
		json_object_foreach(h.json, name, v) {
			if (strcmp(name, "__metadata__") == 0) {
				meta = v;
				continue;
			}
			if ((st = parse_tensor(p, name, v, &h.t[k++])) !=
			    CKPTIO_OK)
				break;
		}
	if (st == CKPTIO_OK) {
		qsort(h.t, h.n, sizeof(*h.t), by_offsets);
		st = check_extents(p, &h, size);
	}
	if (st == CKPTIO_OK)
		st = parse_meta(p, &h, meta);
	if (st != CKPTIO_OK) {
		stheader_free(&h);
		return st;
	}
	*out = h;
	return CKPTIO_OK;
}

void stheader_free(stheader *h)
{
	free(h->t);
	json_decref(h->json);
	*h = (stheader){0};
}
