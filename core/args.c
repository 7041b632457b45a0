/*
 * args.c - checks of what the caller passes to the public functions: NULL
 * pointers, the caller's ckptio_opts (struct_size, flags) and coordinator.
 *
 * Every message names the function and the argument.  It goes to
 * ctx->errmsg, or to the thread's ckptio_last_error() when there is no
 * context to hold it.  Checks run first, before any I/O or collective.
 */
#include <stddef.h>

#include "internal.h"

ckptio_status ckptio__null_arg(ckptio_ctx *ctx, const char *fn,
			       const char *arg)
{
	if (!ctx)
		return ckptio__set_last_error(CKPTIO_EINVAL, "%s: ctx is NULL",
					      fn);
	return ckptio__error(ctx, CKPTIO_EINVAL, "%s: %s is NULL", fn, arg);
}

/* A member the caller's struct holds whole: its struct_size reaches the
 * member's end.  A size that cuts a member (never the sizeof of any
 * release) leaves that member at its default rather than half-read. */
#define OPTS_HAS(o, m) ((o)->struct_size >= CKPTIO__END_OF(ckptio_opts, m))

ckptio_status ckptio__opts_get(ckptio_ctx *ctx, const char *fn,
			       const ckptio_opts *in, ckptio_opts *out)
{
	const ckptio_opts def = CKPTIO_OPTS_INIT;

	*out = def;
	if (!in)
		return CKPTIO_OK;
	if (!OPTS_HAS(in, flags))
		return ckptio__error(ctx, CKPTIO_EINVAL,
				     "%s: opts->struct_size is %u, smaller "
				     "than any ckptio_opts (at least %zu "
				     "bytes); initialise opts with "
				     "CKPTIO_OPTS_INIT",
				     fn, (unsigned)in->struct_size,
				     CKPTIO__END_OF(ckptio_opts, flags));
	out->flags = in->flags;
	if (OPTS_HAS(in, coord))
		out->coord = in->coord;
	if (OPTS_HAS(in, progress))
		out->progress = in->progress;
	if (OPTS_HAS(in, progress_user))
		out->progress_user = in->progress_user;
	if (OPTS_HAS(in, threads))
		out->threads = in->threads;
	if (OPTS_HAS(in, layout))
		out->layout = in->layout;
	return CKPTIO_OK;
}

ckptio_status ckptio__flags_check(ckptio_ctx *ctx, const char *fn,
				  uint32_t flags, uint32_t known,
				  const char *family)
{
	if (!(flags & ~known))
		return CKPTIO_OK;
	return ckptio__error(ctx, CKPTIO_EINVAL,
			     "%s: opts->flags 0x%x has bits this ckptio does "
			     "not know (0x%x); it takes only %s flags (0x%x)",
			     fn, (unsigned)flags, (unsigned)(flags & ~known),
			     family, (unsigned)known);
}

const char *ckptio__coord_why(const ckptio_coord *co, char *buf, size_t len)
{
	const char *why = NULL;

	if (co && co->struct_size >= CKPTIO__END_OF(ckptio_coord, errmsg) &&
	    co->errmsg)
		why = co->errmsg(co->self);
	if (!why || !*why || len < 3)
		return "";
	snprintf(buf, len, ": %s", why);
	return buf;
}

ckptio_status ckptio__coord_check(ckptio_ctx *ctx, const char *fn,
				  const ckptio_coord *co)
{
	const char *missing;

	if (!co)
		return CKPTIO_OK;
	if (co->struct_size < CKPTIO__END_OF(ckptio_coord, broadcast))
		return ckptio__error(ctx, CKPTIO_EINVAL,
				     "%s: opts->coord->struct_size is %u, "
				     "smaller than a ckptio_coord (%zu bytes); "
				     "set it to sizeof(ckptio_coord) or fill "
				     "the coordinator with "
				     "ckptio_coord_threads_get()",
				     fn, (unsigned)co->struct_size,
				     CKPTIO__END_OF(ckptio_coord, broadcast));
	if (co->world < 1)
		return ckptio__error(ctx, CKPTIO_EINVAL,
				     "%s: opts->coord: world size %d is not "
				     "positive", fn, co->world);
	if (co->rank < 0 || co->rank >= co->world)
		return ckptio__error(ctx, CKPTIO_EINVAL,
				     "%s: opts->coord: rank %d is outside "
				     "0..%d (world size %d)",
				     fn, co->rank, co->world - 1, co->world);
	/* barrier is optional: ckptio never calls it. */
	missing = !co->gather ? "gather" : !co->broadcast ? "broadcast" : NULL;
	if (missing)
		return ckptio__error(ctx, CKPTIO_EINVAL,
				     "%s: opts->coord has no %s method", fn,
				     missing);
	return CKPTIO_OK;
}
