/*
 * httpfault.c - the fault table of the request layer (tests only): which
 * attempts of which kind of request fail, and how (httpreq.h).  Parsed
 * once when a client opens, from the environment variable its store
 * names; consulted by the I/O thread before each attempt.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strtok_r */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpreq.h"

/* One rule "OP:N[-M]:KIND" into *op, *first, *last and *kind.  0, or
 * -1: malformed. */
static int rule_parse(const char *t, const httpreq_op *ops, unsigned nops,
		      unsigned *op, unsigned long *first, unsigned long *last,
		      httpreq_fault_kind *kind)
{
	static const struct {
		const char *name;
		httpreq_fault_kind k;
	} kinds[] = {
		{"500", HTTPREQ_F_500}, {"503", HTTPREQ_F_503},
		{"429", HTTPREQ_F_429}, {"403", HTTPREQ_F_403},
		{"reset", HTTPREQ_F_RESET}, {"short", HTTPREQ_F_SHORT},
	};
	char opname[16], kname[16];
	unsigned long a, b;
	int n, found = 0;

	if (sscanf(t, "%15[a-z]:%lu-%lu:%15[a-z0-9]%n", opname, &a, &b, kname,
		   &n) == 4 && !t[n]) {
		if (b < a)
			return -1;
	} else if (sscanf(t, "%15[a-z]:%lu:%15[a-z0-9]%n", opname, &a, kname,
			  &n) == 3 && !t[n]) {
		b = a;
	} else {
		return -1;
	}
	*first = a;
	*last = b;
	for (unsigned i = 0; i < nops; i++)
		if (strcmp(opname, ops[i].name) == 0)
			*op = i, found |= 1;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (strcmp(kname, kinds[i].name) == 0)
			*kind = kinds[i].k, found |= 2;
	return found == 3 ? 0 : -1;
}

int httpreq_faults_parse(httpreq_faults *t, const char *spec,
			 const httpreq_op *ops, unsigned nops)
{
	char *copy = strdup(spec), *save = NULL;
	int rc = 0;

	memset(t, 0, sizeof(*t));
	if (!copy || nops > HTTPREQ_MAX_OPS) {
		free(copy);
		return -1;
	}
	for (char *tok = strtok_r(copy, ",", &save); tok && rc == 0;
	     tok = strtok_r(NULL, ",", &save)) {
		if (t->n == HTTPREQ_MAX_FAULTS) { /* not silently dropped */
			rc = -1;
			break;
		}
		rc = rule_parse(tok, ops, nops, &t->rule[t->n].op,
				&t->rule[t->n].first, &t->rule[t->n].last,
				&t->rule[t->n].kind);
		if (rc == 0)
			t->n++;
	}
	free(copy);
	return rc;
}

httpreq_fault_kind httpreq_faults_next(httpreq_faults *t, unsigned op)
{
	unsigned long n = ++t->count[op];

	for (size_t i = 0; i < t->n; i++)
		if (t->rule[i].op == op && n >= t->rule[i].first &&
		    n <= t->rule[i].last)
			return t->rule[i].kind;
	return HTTPREQ_F_NONE;
}
