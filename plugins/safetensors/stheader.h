/*
 * stheader.h - the safetensors header parser of the safetensors layout
 * plugin: a pure function from a file's first bytes to its checked tensor
 * list, with no I/O, so that the reader and the fuzz harness
 * (tests/fuzz/fuzz_stheader.c) run the same code.  Internal to the plugin
 * (compiled into it, hidden by -fvisibility=hidden), not installed.
 *
 * A file is an 8-byte little-endian header length N, N bytes of JSON
 * ({name: {"dtype", "shape", "data_offsets": [begin, end]},
 * "__metadata__": {string: string}}), then the tensors' bytes back to
 * back.  The checks are the reference implementation's (docs/
 * safetensors.md, "Reading is strict"): each violation is reported as
 * CKPTIO_ECORRUPT with a message that starts with the file's display name
 * and names the tensor.
 *
 * Thread safety: the functions keep no state; distinct results may be
 * used from distinct threads.
 */
#ifndef CKPTIO_STHEADER_H
#define CKPTIO_STHEADER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ckptio/plugin.h"

#define STHEADER_MAX 100000000u /* header bytes: the reference's limit */
/* ckptio's keys in __metadata__ (docs/safetensors.md). */
#define STHEADER_META_CRC "ckptio.crc32c"
#define STHEADER_META_BYTES "ckptio.bytes"

/* The specification's dtypes, with ckptio's (stable) enum value and the
 * bits of one element (4 for F4, 6 for the F6 types). */
typedef struct stheader_dtype {
	const char *name;
	ckptio_dtype dt;
	unsigned bits;
} stheader_dtype;

extern const stheader_dtype stheader_dtypes[];
extern const size_t stheader_ndtypes;

/* The index of dt in stheader_dtypes, or -1 when it has no safetensors
 * name. */
int stheader_dtype_index(ckptio_dtype dt);

/* One tensor of a parsed header.  Offsets are relative to the start of
 * the data (the file offset is data_start + begin). */
typedef struct stheader_tensor {
	const char *name; /* in the header's JSON: lives as long as it */
	int dt;           /* index in stheader_dtypes */
	unsigned ndim;
	uint64_t shape[CKPTIO_MAX_NDIM];
	uint64_t begin, end;
	int has_crc;  /* __metadata__ "ckptio.crc32c" gives its CRC32C */
	int is_bytes; /* named in __metadata__ "ckptio.bytes": a bytes item */
	uint32_t crc;
} stheader_tensor;

/* A parsed, checked header: tensors sorted by offsets, contiguous from 0,
 * the last ending at the end of the file, names unique. */
typedef struct stheader {
	stheader_tensor *t;
	size_t n;
	uint64_t data_start; /* 8 + header length */
	json_t *json;        /* owns the tensors' names */
} stheader;

/* How an error is reported: status (CKPTIO_ECORRUPT for a bad file,
 * CKPTIO_ENOMEM, CKPTIO_EINVAL for a buffer shorter than promised) and
 * the whole message, which the callback may copy; it must not be NULL. */
typedef void (*stheader_error_fn)(void *user, ckptio_status status,
				  const char *msg);

/* Check the size of a file of `size` bytes and its header length, read
 * from buf (len bytes, the file's first; at least 8 when size >= 8):
 * *span = 8 + header length, the bytes stheader_parse needs.  Returns
 * CKPTIO_OK, or reports through err and returns its status (a file under
 * 8 bytes, a header length over STHEADER_MAX or past the end of the
 * file).  `file` is the name messages start with. */
ckptio_status stheader_span(const unsigned char *buf, size_t len,
			    uint64_t size, const char *file,
			    stheader_error_fn err, void *user, uint64_t *span);

/* Parse and check the header of a file of `size` bytes named `file`,
 * from buf: its first len bytes, at least the span stheader_span gives
 * (bytes past it are ignored).  On CKPTIO_OK *out holds the tensors, to
 * be released with stheader_free; on a failure err was called once with
 * the reason and *out is empty (stheader_free on it is harmless). */
ckptio_status stheader_parse(const unsigned char *buf, size_t len,
			     uint64_t size, const char *file,
			     stheader_error_fn err, void *user, stheader *out);

/* Release what stheader_parse gave and empty h. */
void stheader_free(stheader *h);

#endif /* CKPTIO_STHEADER_H */
