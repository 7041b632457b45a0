/*
 * planner.c - the core's save planner: which rank writes a replicated
 * chunk, and how a rank's items are spread over its writers (objects
 * written in parallel).  Layouts get their assignment through
 * host->plan_bins (ABI 1.4); save.c balances replicas across ranks.
 * docs/design-notes.md section 12.
 *
 * Both are greedy "largest first into the lightest": sort by size once
 * (a radix sort: linear), then a binary heap of the bins' loads, so the
 * cost is O(n log bins) in items, never a scan of the bins inside the
 * loop over items.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Min-heap of bins by (bytes, index): the index breaks ties, so a plan
 * comes out the same on every run. */
typedef struct heap {
	uint64_t *bytes; /* per bin */
	uint32_t *h;     /* bin numbers, heap-ordered */
	uint32_t n;
} heap;

static int lighter(const heap *hp, uint32_t a, uint32_t b)
{
	return hp->bytes[a] < hp->bytes[b] ||
	       (hp->bytes[a] == hp->bytes[b] && a < b);
}

static void sift_down(heap *hp, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i, t;

		if (l < hp->n && lighter(hp, hp->h[l], hp->h[m]))
			m = l;
		if (r < hp->n && lighter(hp, hp->h[r], hp->h[m]))
			m = r;
		if (m == i)
			return;
		t = hp->h[i];
		hp->h[i] = hp->h[m];
		hp->h[m] = t;
		i = m;
	}
}

unsigned ckptio__plan_nbins(size_t nitems, unsigned max_bins)
{
	if (max_bins < 1)
		max_bins = 1;
	return nitems < max_bins ? (unsigned)nitems : max_bins;
}

ckptio_status ckptio__plan_bins(const ckptio_plan *plan, unsigned max_bins,
				unsigned *nbins, uint32_t *bin_of)
{
	size_t n = plan->nitems;
	ckptio__keyed *order;
	heap hp = {0};

	*nbins = ckptio__plan_nbins(n, max_bins);
	if (n == 0)
		return CKPTIO_OK;
	order = malloc(n * sizeof(*order));
	hp.bytes = calloc(*nbins, sizeof(*hp.bytes));
	hp.h = malloc(*nbins * sizeof(*hp.h));
	if (!order || !hp.bytes || !hp.h) {
		free(order);
		free(hp.bytes);
		free(hp.h);
		return CKPTIO_ENOMEM;
	}
	/* Biggest first, equal sizes in item order: the sizes' complements
	 * ascending (a radix sort: qsort's comparisons were a tenth of a save
	 * of 64,000 small tensors). */
	for (size_t i = 0; i < n; i++)
		order[i] = (ckptio__keyed){~plan->items[i].nbytes, i};
	if (ckptio__sort_keyed(order, n) != 0) {
		free(order);
		free(hp.bytes);
		free(hp.h);
		return CKPTIO_ENOMEM;
	}
	for (uint32_t b = 0; b < *nbins; b++)
		hp.h[b] = b; /* all empty: already a heap */
	hp.n = *nbins;
	for (size_t k = 0; k < n; k++) {
		uint32_t b = hp.h[0];

		bin_of[order[k].idx] = b;
		hp.bytes[b] += ~order[k].key;
		sift_down(&hp, 0);
	}
	free(order);
	free(hp.bytes);
	free(hp.h);
	return CKPTIO_OK;
}

/* ------------------------------------------------------------------------ */
/* Replicas across ranks                                                    */

ckptio_status ckptio__plan_replicas(const ckptio__replica *reps, size_t n,
				    const uint64_t *base, int world,
				    int *writer)
{
	ckptio__keyed *order = malloc((n ? n : 1) * sizeof(*order));
	uint64_t *load = malloc((size_t)(world > 0 ? world : 1) *
				sizeof(*load));

	if (!order || !load) {
		free(order);
		free(load);
		return CKPTIO_ENOMEM;
	}
	for (int r = 0; r < world; r++)
		load[r] = base ? base[r] : 0;
	for (size_t i = 0; i < n; i++)
		order[i] = (ckptio__keyed){~reps[i].bytes, i};
	if (ckptio__sort_keyed(order, n) != 0) {
		free(order);
		free(load);
		return CKPTIO_ENOMEM;
	}
	/* Each chunk to the least loaded of the ranks that hold it: a scan
	 * of its holders only, so the whole is linear in plan entries. */
	for (size_t k = 0; k < n; k++) {
		const ckptio__replica *rp = &reps[order[k].idx];
		int best = rp->ranks[0];

		for (size_t j = 1; j < rp->nranks; j++)
			if (load[rp->ranks[j]] < load[best])
				best = rp->ranks[j];
		writer[order[k].idx] = best;
		load[best] += rp->bytes;
	}
	free(order);
	free(load);
	return CKPTIO_OK;
}
