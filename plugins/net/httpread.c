/*
 * httpread.c - the reads of the stores on the request layer: a scatter
 * read (ckptio_range[]) sorted by object and offset, neighbours at most
 * COALESCE_GAP apart joined (the gap read and dropped), cut into ranged
 * GETs of at most max_len bytes, submitted together on one fail-fast
 * group and written by the layer straight into the caller's buffers
 * (httpreq.h, httpreq_read).
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "httpint.h"

#define COALESCE_GAP (64u << 10) /* ranges this close share one GET */

typedef struct rjob {
	const char *key;
	uint64_t offset, len;
	httpreq_seg *dst;
	size_t *rix; /* the range each dst segment is of; SIZE_MAX: a gap */
	size_t ndst, cap;
} rjob;

static int by_key_offset(const void *a, const void *b)
{
	const ckptio_range *x = *(ckptio_range *const *)a;
	const ckptio_range *y = *(ckptio_range *const *)b;
	int c = strcmp(x->key, y->key);

	if (c)
		return c;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static int job_add(rjob *j, void *buf, uint64_t len, size_t rix)
{
	if (j->ndst == j->cap) {
		size_t cap = j->cap ? j->cap * 2 : 4;
		httpreq_seg *v = realloc(j->dst, cap * sizeof(*v));
		size_t *x;

		if (!v)
			return -1;
		j->dst = v;
		if (!(x = realloc(j->rix, cap * sizeof(*x))))
			return -1;
		j->rix = x;
		j->cap = cap;
	}
	j->rix[j->ndst] = rix;
	j->dst[j->ndst++] = (httpreq_seg){buf, len};
	j->len += len;
	return 0;
}

/* Cut the ranges into GETs of at most max_len bytes, joining ranges of one
 * object at most COALESCE_GAP apart.  -1: out of memory. */
static int plan_reads(uint64_t max_len, const ckptio_range *ranges, size_t n,
		      rjob **out, size_t *nout)
{
	const ckptio_range **order = malloc((n ? n : 1) * sizeof(*order));
	rjob *jobs = NULL, *j = NULL;
	size_t njobs = 0, cap = 0;

	if (!order)
		return -1;
	for (size_t i = 0; i < n; i++)
		order[i] = &ranges[i];
	qsort(order, n, sizeof(*order), by_key_offset);
	for (size_t i = 0; i < n; i++) {
		const ckptio_range *rg = order[i];
		unsigned char *buf = rg->buf;
		uint64_t off = rg->offset, left = rg->length;

		while (left > 0) {
			uint64_t end = j ? j->offset + j->len : 0, k;
			int join = j && strcmp(j->key, rg->key) == 0 &&
				   off >= end && off - end <= COALESCE_GAP &&
				   j->len + (off - end) < max_len;

			if (join && off > end &&
			    job_add(j, NULL, off - end, SIZE_MAX))
				goto oom;
			if (!join) {
				if (njobs == cap) {
					rjob *v;

					cap = cap ? cap * 2 : 16;
					v = realloc(jobs, cap * sizeof(*v));
					if (!v)
						goto oom;
					jobs = v;
				}
				j = &jobs[njobs++];
				*j = (rjob){.key = rg->key, .offset = off};
			}
			k = max_len - j->len;
			if (k > left)
				k = left;
			if (job_add(j, buf, k, (size_t)(rg - ranges)) != 0)
				goto oom;
			buf += k;
			off += k;
			left -= k;
		}
	}
	free(order);
	*out = jobs;
	*nout = njobs;
	return 0;
oom:
	for (size_t i = 0; i < njobs; i++) {
		free(jobs[i].dst);
		free(jobs[i].rix);
	}
	free(jobs);
	free(order);
	return -1;
}

/* Record the failure of r, a GET of bytes off .. off+len-1; its status. */
static ckptio_status read_failed(httpreq_client *c, httpreq *r, uint64_t off,
				 uint64_t len)
{
	const httpreq_config *cfg = &c->cfg;
	char target[480];

	if (r->status == 416) {
		cfg->hooks.target(cfg->ctx, r, target, sizeof(target));
		return cfg->host->error(cfg->hc, CKPTIO_ECORRUPT,
					"%s: bytes %" PRIu64 "-%" PRIu64 " are "
					"past the end of the object", target,
					off, off + len - 1);
	}
	return cfg->host->error(cfg->hc, r->st, "%s", r->msg);
}

static ckptio_status read_oom(httpreq_client *c)
{
	return c->cfg.host->error(c->cfg.hc, CKPTIO_ENOMEM, "out of memory");
}

/* Job i's checksums into the ranges' (crcs, in order: a range's segments
 * come job after job, in increasing offset); started[r]: range r has a
 * first segment; bad[r]: checksum range r from its buffer instead. */
static void job_crcs(const rjob *j, const httpreq *r, uint32_t (*combine)(
			     uint32_t, uint32_t, uint64_t),
		     uint32_t *crcs, unsigned char *started,
		     unsigned char *bad)
{
	for (size_t k = 0; k < j->ndst; k++) {
		size_t i = j->rix[k];

		if (i == SIZE_MAX)
			continue;
		if (!r->dst_crc || r->dst_crc_bad)
			bad[i] = 1;
		else if (!started[i])
			crcs[i] = r->dst_crc[k];
		else
			crcs[i] = combine(crcs[i], r->dst_crc[k],
					  r->dst[k].len);
		started[i] = 1;
	}
}

/* Fault in the pages of the requests' destinations, in the order they are
 * sent, while the I/O thread receives: memory never touched (a tensor
 * fresh from torch.empty) costs its first touch, on this project's VMs
 * 0.7-1.4 CPU s/GB, which would otherwise all fall on the one I/O thread
 * inside its recv calls.  MADV_POPULATE_WRITE (Linux 5.14) makes pages
 * present and writable without changing a byte, so it may race the
 * receiving thread on the same page; present pages cost a look at their
 * page table entry.  A hint: a refusal ends it, for the process when the
 * kernel does not know the advice (EINVAL: older than 5.14, or memory it
 * does not apply to). */
static void populate(httpreq **reqs, size_t n)
{
#ifdef MADV_POPULATE_WRITE
	static int unsupported;
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);

	if (__atomic_load_n(&unsupported, __ATOMIC_RELAXED))
		return;
	for (size_t i = 0; i < n && reqs[i]; i++)
		for (size_t k = 0; k < reqs[i]->ndst; k++) {
			const httpreq_seg *sg = &reqs[i]->dst[k];
			uintptr_t a = ((uintptr_t)sg->buf + pg - 1) & ~(pg - 1);
			uintptr_t e = ((uintptr_t)sg->buf + sg->len) & ~(pg - 1);

			if (!sg->buf || e <= a + pg)
				continue; /* a gap, or too small to matter */
			if (madvise((void *)a, e - a, MADV_POPULATE_WRITE) != 0) {
				if (errno == EINVAL)
					__atomic_store_n(&unsupported, 1,
							 __ATOMIC_RELAXED);
				return;
			}
		}
#else
	(void)reqs;
	(void)n;
#endif
}

static ckptio_status read_ranges(const httpreq_reader *rd,
				 const ckptio_range *ranges, size_t n,
				 uint32_t *crcs)
{
	const ckptio_host *host = rd->c->cfg.host;
	rjob *jobs = NULL;
	size_t njobs = 0;
	httpreq **reqs;
	httpreq_group g = {.fail_fast = 1};
	unsigned char *flags = NULL; /* started[n], then bad[n] */
	ckptio_status rc = CKPTIO_OK;

	if (plan_reads(rd->max_len, ranges, n, &jobs, &njobs) != 0)
		return read_oom(rd->c);
	reqs = calloc(njobs ? njobs : 1, sizeof(*reqs));
	if (crcs && host->struct_size <
			    offsetof(ckptio_host, crc32c_combine) +
				    sizeof(host->crc32c_combine))
		crcs = NULL; /* cannot happen: a 1.7 core calls read_crc */
	if (crcs && !(flags = calloc(2 * n + 1, 1)))
		rc = read_oom(rd->c);
	if (!reqs)
		rc = read_oom(rd->c);
	for (size_t i = 0; rc == CKPTIO_OK && i < njobs; i++) {
		httpreq *r = rd->get(rd->ctx, jobs[i].key);

		if (!r || httpreq_range(r, jobs[i].offset, jobs[i].len) != 0) {
			if (r)
				rd->release(rd->ctx, r);
			rc = read_oom(rd->c);
			break;
		}
		r->dst = jobs[i].dst;
		r->ndst = jobs[i].ndst;
		r->dst_len = jobs[i].len;
		/* Without memory for them, the checksums come from the
		 * buffers afterwards (job_crcs). */
		r->dst_crc = crcs ? calloc(r->ndst ? r->ndst : 1,
					   sizeof(*r->dst_crc))
				  : NULL;
		jobs[i].dst = NULL;
		r->grp = &g;
		reqs[i] = r;
		httpreq_submit(r);
	}
	if (rc == CKPTIO_OK)
		populate(reqs, njobs);
	httpreq_wait(rd->c, &g, 0);
	for (size_t i = 0; i < njobs; i++) {
		httpreq *r = reqs ? reqs[i] : NULL;

		/* The first real failure, not the requests it canceled. */
		if (r && r->st != CKPTIO_OK && r->st != CKPTIO_ECANCELED &&
		    rc == CKPTIO_OK)
			rc = read_failed(rd->c, r, jobs[i].offset, jobs[i].len);
		if (r && rc == CKPTIO_OK && crcs)
			job_crcs(&jobs[i], r, host->crc32c_combine, crcs, flags,
				 flags + n);
		if (r) {
			free(r->dst_crc);
			r->dst_crc = NULL;
			rd->release(rd->ctx, r);
		}
		free(jobs[i].dst);
		free(jobs[i].rix);
	}
	for (size_t i = 0; rc == CKPTIO_OK && crcs && i < n; i++)
		if (!flags[i] || flags[n + i]) /* empty, or from the buffer */
			crcs[i] = host->crc32c(0, ranges[i].buf,
					       (size_t)ranges[i].length);
	free(flags);
	free(reqs);
	free(jobs);
	return rc;
}

ckptio_status httpreq_read(const httpreq_reader *rd, const ckptio_range *ranges,
			   size_t n)
{
	return read_ranges(rd, ranges, n, NULL);
}

ckptio_status httpreq_read_crc(const httpreq_reader *rd,
			       const ckptio_range *ranges, size_t n,
			       uint32_t *crcs)
{
	return read_ranges(rd, ranges, n, crcs);
}
