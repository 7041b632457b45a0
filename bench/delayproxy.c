/*
 * delayproxy.c - a TCP proxy that emulates a link of DELAY ms one way,
 * window included.
 *
 * Usage: delayproxy [--window BYTES] LISTEN_PORT UPSTREAM_PORT DELAY_MS
 *
 * Listens on 127.0.0.1:LISTEN_PORT (0: a free port, printed on the first
 * line of stdout) and forwards each connection to 127.0.0.1:UPSTREAM_PORT.
 * Bytes read from either side are written to the other DELAY_MS later, in
 * order, and so are a half-close (shutdown) and a reset (the other side is
 * then reset too): a request and its answer each take DELAY_MS more than
 * they would, what a client sees of a server DELAY_MS away.  DELAY_MS may
 * be fractional, or 0 (then the proxy only forwards).
 *
 * The kernel's netem qdisc would do this per packet, but this machine's
 * kernel has none (`tc qdisc add dev lo root netem` fails: "Specified qdisc
 * kind is unknown").  Latency alone is not what a long link does to TCP,
 * though: a sender may have only one window of unacknowledged bytes out,
 * and an ACK comes back a round trip after the bytes left, so one
 * connection carries at most WINDOW / (2 x DELAY) and parallel connections
 * add up.  That limit is what makes a client open several connections, so
 * it is modelled here: each direction of each connection counts a byte as
 * in flight from when it is read until 2 x DELAY later (it arrives after
 * DELAY; its ACK would take another DELAY), or until it is written if that
 * is later; at WINDOW bytes in flight the proxy stops reading that side and
 * TCP pushes back on the sender.  The default WINDOW, 4 MiB, is about what
 * Linux's receive-buffer autotuning advertises at its default tcp_rmem
 * maximum (6 MiB; see /proc/sys/net/ipv4/tcp_rmem for this machine's);
 * 20 ms each way thus allows 4 MiB / 40 ms, about 105 MB/s, per
 * connection.  The window does not grow or shrink (no slow start, no
 * loss): a long link at its best.  Reading also stops while the
 * destination's socket takes no more (until it does).
 *
 * Not modelled: the handshake.  The proxy accepts locally and connects
 * upstream at once, so connect() returns without delay; the first bytes
 * pay DELAY as all others do.  The kernel's socket buffers in front of the
 * proxy hold bytes that are not in flight yet: they add queueing, not
 * throughput.
 *
 * One thread: epoll over non-blocking sockets, a timerfd for the next due
 * time (a heap of directions keyed by it), CLOCK_MONOTONIC.  Each direction
 * is a queue of records of what was read and when.  The bytes themselves
 * move by splice() through pipes, not copied: at DELAY_MS 0 the proxy must
 * not be the bottleneck, and the Python proxy this replaces, which copied
 * every byte, topped out near 1 GB/s on 2 cores.  A direction holds its
 * window in up to 16 pipes (of 1 MiB each without CAP_SYS_RESOURCE); past
 * that, or without pipes, bytes are copied into buffers of up to 256 KiB.
 * Memory is bounded by WINDOW per direction.  Stops on SIGTERM or SIGINT.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#define CHUNK (256 << 10)	/* the most one read() takes */
#define SPLICE_MAX (1 << 20)	/* the most one splice() takes */
#define PIPE_MAX (16 << 20)	/* the largest pipe asked for */
#define PIPE_MIN (64 << 10)	/* a smaller pipe is not worth its syscalls */
#define PIPES 16		/* the most pipes of one direction */
#define READS_PER_EVENT 4	/* then let the other connections have a go */
#define POOL_MAX 64		/* spare CHUNK buffers kept for reuse */
#define NEVER UINT64_MAX

enum kind {
	PIPED,			/* the bytes are in one of the direction's pipes */
	COPIED,			/* the bytes are in data[] */
	END,			/* a half-close */
	RESET,			/* an error: the connection ends */
};

/* What was read from one side, waiting to be written to the other. */
struct chunk {
	struct chunk *next;
	uint64_t read_at;	/* ns, CLOCK_MONOTONIC */
	size_t len;
	enum kind kind;
	int pipe;		/* PIPED: which of the direction's pipes */
	bool pooled;		/* CHUNK bytes of data: back to the pool */
	unsigned char data[];
};

/* Bytes between a splice() in and a splice() out. */
struct pipe {
	int fd[2];
	size_t bytes, size;
	bool full;		/* it took no more: use another until it drains */
};

struct conn;

/* One socket of a connection; what epoll hands back. */
struct side {
	struct conn *conn;	/* NULL: the listener, timer or signal fd */
	int fd;
	uint32_t events;	/* registered with epoll; 0: not registered */
	bool connecting;	/* upstream, connect() under way */
	bool broken;		/* an error: no more I/O on it */
};

/*
 * One direction: read from src, written to dst.  The queue runs head ..
 * tail; chunks before `sent` are written and only wait to leave the
 * window, `sent` and after wait for their time.
 */
struct dir {
	struct conn *conn;
	struct side *src, *dst;
	struct chunk *head, *tail, *sent;
	size_t off;		/* bytes of *sent written */
	size_t inflight;	/* bytes of the queue, against the window */
	struct pipe pipes[PIPES];
	int npipes, pipes_max;	/* made, and the most it may make */
	int cur;		/* the pipe splice() fills */
	bool rd_done;		/* no more reading from src */
	bool wr_done;		/* the half-close went to dst */
	bool reset_queued;
	bool blocked;		/* dst said EAGAIN: waiting for EPOLLOUT */
	uint64_t next;		/* when there is something to do; NEVER */
	int heap_idx;		/* -1: not in the heap */
};

struct conn {
	struct side side[2];	/* 0: the client, 1: upstream */
	struct dir dir[2];	/* dir[i] reads side[i], writes side[1 - i] */
	struct conn *prev, *next;
	bool dead;		/* closed; freed after this round of events */
};

static uint64_t delay;		/* ns, one way */
static size_t window = 4 << 20;
static int upstream_port;
static int ep = -1;
static struct side listener = { .fd = -1 }, timer = { .fd = -1 },
		   sigs = { .fd = -1 };
static bool accept_paused;
static struct conn *conns;	/* open */
static struct conn *zombies;	/* closed, not yet freed (see conn_kill) */
static struct dir **heap;	/* min-heap of dirs by next */
static size_t heap_len, heap_cap;
static uint64_t armed = NEVER;	/* the timer's expiry */
static struct chunk *pool;
static size_t pool_len;

static void verror(const char *fmt, va_list ap)
{
	fputs("delayproxy: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

static void error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror(fmt, ap);
	va_end(ap);
}

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verror(fmt, ap);
	va_end(ap);
	exit(1);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (!p)
		die("out of memory");
	return p;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A chunk with room for CHUNK bytes. */
static struct chunk *chunk_get(void)
{
	struct chunk *k = pool;

	if (k) {
		pool = k->next;
		pool_len--;
	} else {
		k = xmalloc(sizeof(*k) + CHUNK);
		k->pooled = true;
	}
	k->next = NULL;
	k->len = 0;
	k->kind = COPIED;
	k->pipe = -1;
	return k;
}

static void chunk_free(struct chunk *k)
{
	if (k->pooled && pool_len < POOL_MAX) {
		k->next = pool;
		pool = k;
		pool_len++;
	} else {
		free(k);
	}
}

/*
 * A chunk held for DELAY should not pin CHUNK bytes for the few that were
 * read: the window counts bytes, memory should follow.  A small read is
 * copied into a chunk of its size, and the big one goes back to the pool.
 */
static struct chunk *chunk_fit(struct chunk *k)
{
	struct chunk *s;

	if (!delay || k->len >= CHUNK / 2)
		return k;
	s = xmalloc(sizeof(*s) + k->len);
	*s = *k;
	s->pooled = false;
	memcpy(s->data, k->data, k->len);
	chunk_free(k);
	return s;
}

/* The heap of directions, earliest `next` on top. */
static void heap_place(size_t i, struct dir *d)
{
	heap[i] = d;
	d->heap_idx = i;
}

static void heap_up(size_t i)
{
	struct dir *d = heap[i];

	while (i > 0 && heap[(i - 1) / 2]->next > d->next) {
		heap_place(i, heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_place(i, d);
}

static void heap_down(size_t i)
{
	struct dir *d = heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= heap_len)
			break;
		if (c + 1 < heap_len && heap[c + 1]->next < heap[c]->next)
			c++;
		if (heap[c]->next >= d->next)
			break;
		heap_place(i, heap[c]);
		i = c;
	}
	heap_place(i, d);
}

/* Set d's due time; NEVER takes it out of the heap. */
static void heap_set(struct dir *d, uint64_t next)
{
	if (d->heap_idx < 0) {
		if (next == NEVER)
			return;
		if (heap_len == heap_cap) {
			heap_cap = heap_cap ? 2 * heap_cap : 64;
			heap = realloc(heap, heap_cap * sizeof(*heap));
			if (!heap)
				die("out of memory");
		}
		d->next = next;
		heap_place(heap_len++, d);
		heap_up(heap_len - 1);
	} else if (next == NEVER) {
		size_t i = d->heap_idx;
		struct dir *last = heap[--heap_len];

		d->heap_idx = -1;
		d->next = NEVER;
		if (i < heap_len) {
			heap_place(i, last);
			heap_up(i);
			heap_down(last->heap_idx);
		}
	} else {
		uint64_t old = d->next;

		d->next = next;
		if (next < old)
			heap_up(d->heap_idx);
		else
			heap_down(d->heap_idx);
	}
}

static void watch(struct side *s, uint32_t want)
{
	struct epoll_event ev = { .events = want, .data.ptr = s };
	int op;

	if (want == s->events)
		return;
	/*
	 * Unregister rather than register for nothing: epoll reports
	 * EPOLLHUP and EPOLLERR whatever the mask, and a socket both shut
	 * down and not read for now would wake us in a loop.
	 */
	if (!want)
		op = EPOLL_CTL_DEL;
	else if (!s->events)
		op = EPOLL_CTL_ADD;
	else
		op = EPOLL_CTL_MOD;
	if (epoll_ctl(ep, op, s->fd, &ev) < 0)
		die("epoll_ctl: %s", strerror(errno));
	s->events = want;
}

static void queue_push(struct dir *d, struct chunk *k)
{
	if (d->tail)
		d->tail->next = k;
	else
		d->head = k;
	d->tail = k;
	if (!d->sent)
		d->sent = k;
	d->inflight += k->len;
}

/* Queue what carries no data of its own: END, RESET, or PIPED in d->cur. */
static void queue_record(struct dir *d, enum kind kind, size_t len,
			 uint64_t now)
{
	struct chunk *k = xmalloc(sizeof(*k));

	k->next = NULL;
	k->read_at = now;
	k->len = len;
	k->kind = kind;
	k->pipe = d->cur;
	k->pooled = false;
	queue_push(d, k);
}

/* The direction is over: its queue, and its pipes with what they hold. */
static void queue_drop(struct dir *d)
{
	while (d->head) {
		struct chunk *k = d->head;

		d->head = k->next;
		chunk_free(k);
	}
	d->tail = d->sent = NULL;
	d->off = 0;
	d->inflight = 0;
	while (d->npipes) {
		struct pipe *p = &d->pipes[--d->npipes];

		close(p->fd[0]);
		close(p->fd[1]);
	}
	d->pipes_max = 0;
}

/*
 * Another pipe for d, so that its bytes go through the proxy by splice(),
 * not copied: a pipe holds references to the socket buffers' pages.  With
 * a delay its pipes should hold a window: as one if it may (a process
 * without CAP_SYS_RESOURCE gets at most /proc/sys/fs/pipe-max-size, 1 MiB
 * by default), else as several.  Without a delay one splice's worth is
 * enough.  None (out of descriptors, or the user's pipe quota spent): d
 * copies from then on.
 */
static bool pipe_new(struct dir *d)
{
	int want = !delay ? SPLICE_MAX : window > PIPE_MAX ? PIPE_MAX : window;
	struct pipe *p = &d->pipes[d->npipes];
	int size;

	if (d->npipes >= d->pipes_max)
		return false;
	if (pipe2(p->fd, O_NONBLOCK | O_CLOEXEC) < 0) {
		d->pipes_max = d->npipes;
		return false;
	}
	if (fcntl(p->fd[1], F_SETPIPE_SZ, want) < 0 && want > SPLICE_MAX)
		fcntl(p->fd[1], F_SETPIPE_SZ, SPLICE_MAX);
	size = fcntl(p->fd[1], F_GETPIPE_SZ);
	if (size < PIPE_MIN) {
		close(p->fd[0]);
		close(p->fd[1]);
		d->pipes_max = d->npipes;
		return false;
	}
	p->size = size;
	p->bytes = 0;
	p->full = false;
	d->cur = d->npipes++;
	return true;
}

/* A pipe with room, made if need be; false: copy instead. */
static bool pipe_pick(struct dir *d)
{
	int i;

	for (i = 0; i < d->npipes; i++) {
		int j = (d->cur + i) % d->npipes;

		if (!d->pipes[j].full && d->pipes[j].bytes < d->pipes[j].size) {
			d->cur = j;
			return true;
		}
	}
	return pipe_new(d);
}

/*
 * Close both sockets; reset, if given, is sent a reset rather than a FIN
 * (SO_LINGER 0), as its peer's error is forwarded.  The conn is freed after
 * the current round of events, some of which may still point at it.
 */
static void conn_kill(struct conn *c, struct side *reset)
{
	int i;

	if (c->dead)
		return;
	c->dead = true;
	for (i = 0; i < 2; i++) {
		struct side *s = &c->side[i];

		if (s == reset && !s->broken) {
			struct linger l = { .l_onoff = 1, .l_linger = 0 };

			setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		}
		close(s->fd);	/* also leaves the epoll set */
		s->fd = -1;
		heap_set(&c->dir[i], NEVER);
		queue_drop(&c->dir[i]);
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->next = zombies;
	zombies = c;
	if (accept_paused) {
		accept_paused = false;
		watch(&listener, EPOLLIN);
	}
}

/*
 * Socket s failed (a reset, or a write that could not go).  What was read
 * from it still goes to the other side, then a reset, after DELAY; what
 * was on its way to it is dropped, and the other side is no longer read.
 */
static void side_failed(struct side *s, uint64_t now)
{
	struct conn *c = s->conn;
	int i = s == &c->side[1];
	struct dir *r = &c->dir[i], *w = &c->dir[1 - i];

	s->broken = true;
	if (c->side[1 - i].broken) {
		conn_kill(c, NULL);
		return;
	}
	r->rd_done = true;
	if (!r->reset_queued) {
		r->reset_queued = true;
		queue_record(r, RESET, 0, now);
	}
	queue_drop(w);
	w->rd_done = w->wr_done = true;
	w->blocked = false;
}

/* Write (more of) k, the chunk at d->sent, to dst; write(2)'s answer. */
static ssize_t chunk_write(struct dir *d, struct chunk *k)
{
	size_t len = k->len - d->off;
	struct pipe *p;
	ssize_t n;

	if (k->kind == COPIED)
		return send(d->dst->fd, k->data + d->off, len, MSG_NOSIGNAL);
	p = &d->pipes[k->pipe];
	n = splice(p->fd[0], NULL, d->dst->fd, NULL, len,
		   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (!n)
		die("bug: a pipe holds less than its records say");
	if (n > 0) {
		p->bytes -= n;
		p->full = false;
	}
	return n;
}

/* Write what is due, in order, then let out of the window what is acked. */
static void dir_process(struct dir *d, uint64_t now)
{
	while (d->sent && !d->blocked && !d->dst->connecting &&
	       d->sent->read_at + delay <= now) {
		struct chunk *k = d->sent;

		if (k->kind == PIPED || k->kind == COPIED) {
			while (d->off < k->len) {
				ssize_t n = chunk_write(d, k);

				if (n >= 0) {
					d->off += n;
				} else if (errno == EAGAIN) {
					d->blocked = true;
					goto release;
				} else if (errno != EINTR) {
					side_failed(d->dst, now);
					return;
				}
			}
			d->off = 0;
		} else if (k->kind == END) {
			/* ENOTCONN: reset meanwhile; the read side tells */
			shutdown(d->dst->fd, SHUT_WR);
			d->wr_done = true;
		} else {
			conn_kill(d->conn, d->dst);
			return;
		}
		d->sent = k->next;
	}
release:
	while (d->head && d->head != d->sent &&
	       d->head->read_at + 2 * delay <= now) {
		struct chunk *k = d->head;

		d->head = k->next;
		if (!d->head)
			d->tail = NULL;
		d->inflight -= k->len;
		chunk_free(k);
	}
}

static uint64_t dir_next(struct dir *d)
{
	uint64_t t = NEVER;

	if (d->sent && !d->blocked && !d->dst->connecting)
		t = d->sent->read_at + delay;
	if (d->head && d->head != d->sent && d->head->read_at + 2 * delay < t)
		t = d->head->read_at + 2 * delay;
	return t;
}

/* After anything happened to c: close it if done, else what to wait for. */
static void conn_sync(struct conn *c)
{
	int i;

	if (c->dead)
		return;
	if (c->dir[0].wr_done && c->dir[1].wr_done &&
	    !c->dir[0].sent && !c->dir[1].sent) {
		conn_kill(c, NULL);
		return;
	}
	for (i = 0; i < 2; i++) {
		struct side *s = &c->side[i];
		struct dir *r = &c->dir[i], *w = &c->dir[1 - i];
		uint32_t want = 0;

		if (!s->broken) {
			if (!s->connecting && !r->rd_done && !r->blocked &&
			    r->inflight < window)
				want |= EPOLLIN;
			if (s->connecting || w->blocked)
				want |= EPOLLOUT;
		}
		watch(s, want);
		heap_set(r, dir_next(r));
	}
}

/* What a read says. */
enum got {
	MORE,			/* all it asked for: there may be more */
	DRAINED,		/* less, or nothing: epoll says when more */
	GOT_EOF,
	FAILED,
	AGAIN,			/* nothing yet: try again */
};

/* Splice what src has into the current pipe. */
static enum got read_spliced(struct dir *d, size_t room)
{
	struct pipe *p = &d->pipes[d->cur];
	size_t want = room < SPLICE_MAX ? room : SPLICE_MAX;
	ssize_t n;
	char c;

	/* the rest goes to the next pipe, without an EAGAIN to find out */
	if (want > p->size - p->bytes)
		want = p->size - p->bytes;
	n = splice(d->src->fd, NULL, p->fd[1], NULL, want,
		   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
	if (n > 0) {
		uint64_t now = now_ns();

		p->bytes += n;
		queue_record(d, PIPED, n, now);
		dir_process(d, now);
		return (size_t)n < want ? DRAINED : MORE;
	}
	if (!n)
		return GOT_EOF;
	if (errno == EINTR)
		return AGAIN;
	if (errno != EAGAIN)
		return FAILED;
	if (!p->bytes)
		return DRAINED;	/* an empty pipe: the socket is */
	/*
	 * A full pipe says EAGAIN too, before it looks at the socket (and it
	 * may be full short of its size in bytes: it counts page buffers).
	 * A peek tells.
	 */
	n = recv(d->src->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n > 0) {
		p->full = true;
		return AGAIN;
	}
	if (!n)
		return GOT_EOF;
	return errno == EAGAIN ? DRAINED : errno == EINTR ? AGAIN : FAILED;
}

/* Copy what src has into a chunk, when no pipe has room. */
static enum got read_copied(struct dir *d, size_t room)
{
	size_t want = room < CHUNK ? room : CHUNK;
	struct chunk *k = chunk_get();
	ssize_t n = read(d->src->fd, k->data, want);

	if (n > 0) {
		uint64_t now = now_ns();

		k->len = n;
		k->read_at = now;
		queue_push(d, chunk_fit(k));
		dir_process(d, now);
		return (size_t)n < want ? DRAINED : MORE;
	}
	chunk_free(k);
	if (!n)
		return GOT_EOF;
	return errno == EAGAIN ? DRAINED : errno == EINTR ? AGAIN : FAILED;
}

/* Read what src has, as far as the window allows. */
static void dir_read(struct dir *d)
{
	int i;

	for (i = 0; i < READS_PER_EVENT; i++) {
		size_t room = window - d->inflight;
		enum got got;

		if (d->rd_done || d->blocked || d->inflight >= window ||
		    d->conn->dead)
			return;
		got = pipe_pick(d) ? read_spliced(d, room) :
				     read_copied(d, room);
		if (got == GOT_EOF) {
			uint64_t now = now_ns();

			d->rd_done = true;
			queue_record(d, END, 0, now);
			dir_process(d, now);
			return;
		}
		if (got == FAILED) {
			side_failed(d->src, now_ns());
			return;
		}
		if (got == DRAINED)
			return;
	}
}

static void connected(struct conn *c)
{
	struct side *up = &c->side[1];
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(up->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		error("upstream 127.0.0.1:%d: %s", upstream_port, strerror(err));
		conn_kill(c, NULL);
		return;
	}
	up->connecting = false;
	dir_process(&c->dir[0], now_ns());
}

static void side_event(struct side *s, uint32_t ev)
{
	struct conn *c = s->conn;
	int i = s == &c->side[1];

	if (c->dead || s->broken)
		return;
	if (s->connecting) {
		if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			connected(c);
		conn_sync(c);
		return;
	}
	if (ev & EPOLLERR) {
		side_failed(s, now_ns());
		conn_sync(c);
		return;
	}
	if ((ev & (EPOLLOUT | EPOLLHUP)) && c->dir[1 - i].blocked) {
		c->dir[1 - i].blocked = false;
		dir_process(&c->dir[1 - i], now_ns());
	}
	/* EPOLLHUP with data or an EOF still to read: read says which */
	if ((ev & (EPOLLIN | EPOLLHUP)) && !c->dead && !s->broken)
		dir_read(&c->dir[i]);
	conn_sync(c);
}

static void nodelay(int fd)
{
	int one = 1;

	/* the sender's own Nagle already happened; add none */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void conn_new(int fd)
{
	struct conn *c = xmalloc(sizeof(*c));
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons(upstream_port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	int i, up;

	memset(c, 0, sizeof(*c));
	up = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (up < 0) {
		error("socket: %s", strerror(errno));
		close(fd);
		free(c);
		return;
	}
	nodelay(fd);
	nodelay(up);
	c->side[0].fd = fd;
	c->side[1].fd = up;
	for (i = 0; i < 2; i++) {
		c->side[i].conn = c;
		c->dir[i].conn = c;
		c->dir[i].src = &c->side[i];
		c->dir[i].dst = &c->side[1 - i];
		c->dir[i].next = NEVER;
		c->dir[i].heap_idx = -1;
		c->dir[i].pipes_max = PIPES;
	}
	c->next = conns;
	if (conns)
		conns->prev = c;
	conns = c;
	if (connect(up, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		if (errno != EINPROGRESS) {
			error("upstream 127.0.0.1:%d: %s", upstream_port,
			      strerror(errno));
			conn_kill(c, NULL);
			return;
		}
		/* the client's bytes wait in dir[0] until it is done */
		c->side[1].connecting = true;
	}
	conn_sync(c);
}

static void accept_all(void)
{
	for (;;) {
		int fd = accept4(listener.fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			conn_new(fd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE) {
			/* level-triggered: wait for a close, not in a loop */
			error("accept: %s (waiting for a connection to end)",
			      strerror(errno));
			accept_paused = true;
			watch(&listener, 0);
		} else if (errno != EAGAIN) {
			error("accept: %s", strerror(errno));
		}
		return;
	}
}

/* Process every direction whose time has come, then arm the timer. */
static void run_due(void)
{
	uint64_t now = now_ns();
	uint64_t next;

	while (heap_len && heap[0]->next <= now) {
		struct dir *d = heap[0];

		dir_process(d, now);
		/* conn_sync moves d on: what is left is later, or waits */
		if (d->conn->dead)
			continue;
		conn_sync(d->conn);
		if (!d->conn->dead && d->heap_idx == 0 && d->next <= now)
			die("bug: a direction due and not processed");
	}
	next = heap_len ? heap[0]->next : NEVER;
	if (next != armed) {
		struct itimerspec its = { 0 };

		if (next != NEVER) {
			its.it_value.tv_sec = next / 1000000000;
			its.it_value.tv_nsec = next % 1000000000;
		}
		if (timerfd_settime(timer.fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
			die("timerfd_settime: %s", strerror(errno));
		armed = next;
	}
}

static void free_zombies(void)
{
	while (zombies) {
		struct conn *c = zombies;

		zombies = c->next;
		free(c);
	}
}

static size_t parse_bytes(const char *s)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (end == s || errno || *s == '-')
		die("--window: bad size %s", s);
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'M': shift = 20; end++; break;
	case 'G': shift = 30; end++; break;
	}
	if (shift && !strcmp(end, "iB"))
		end += 2;
	if (*end || !v || v > (SIZE_MAX >> 2) >> shift)
		die("--window: bad size %s", s);
	return v << shift;
}

static int parse_port(const char *s, const char *what, int min)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (end == s || *end || errno || v < min || v > 65535)
		die("bad %s port %s", what, s);
	return v;
}

static void usage(void)
{
	fputs("usage: delayproxy [--window BYTES] LISTEN_PORT UPSTREAM_PORT DELAY_MS\n",
	      stderr);
	exit(2);
}

static int listen_on(int port)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t len = sizeof(sin);
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(fd, SOMAXCONN) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
		die("cannot listen on 127.0.0.1:%d: %s", port, strerror(errno));
	printf("%d\n", ntohs(sin.sin_port));
	fflush(stdout);
	return fd;
}

int main(int argc, char **argv)
{
	struct epoll_event evs[256];
	struct rlimit rl;
	sigset_t mask;
	double ms;
	char *end;
	bool stop = false;
	int i, n;

	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		if (!strcmp(argv[i], "--window") && i + 1 < argc)
			window = parse_bytes(argv[++i]);
		else if (!strcmp(argv[i], "--"))
			break;
		else
			usage();
	}
	if (i < argc && !strcmp(argv[i], "--"))
		i++;
	if (argc - i != 3)
		usage();
	upstream_port = parse_port(argv[i + 1], "upstream", 1);
	errno = 0;
	ms = strtod(argv[i + 2], &end);
	if (end == argv[i + 2] || *end || errno || !isfinite(ms) || ms < 0 ||
	    ms > 1e6)
		die("bad DELAY_MS %s", argv[i + 2]);
	delay = ms * 1e6 + 0.5;

	/* a connection takes two descriptors, and its pipes two each */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		die("sigprocmask: %s", strerror(errno));
	sigs.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	timer.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (sigs.fd < 0 || timer.fd < 0 || ep < 0)
		die("signalfd, timerfd or epoll: %s", strerror(errno));
	listener.fd = listen_on(parse_port(argv[i], "listen", 0));
	watch(&listener, EPOLLIN);
	watch(&timer, EPOLLIN);
	watch(&sigs, EPOLLIN);

	while (!stop) {
		run_due();
		n = epoll_wait(ep, evs, sizeof(evs) / sizeof(evs[0]), -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		for (i = 0; i < n; i++) {
			struct side *s = evs[i].data.ptr;

			if (s == &listener) {
				accept_all();
			} else if (s == &timer) {
				uint64_t ticks;

				/* run_due does the work; just clear it */
				if (read(timer.fd, &ticks, sizeof(ticks)) < 0 &&
				    errno != EAGAIN)
					die("timerfd: %s", strerror(errno));
			} else if (s == &sigs) {
				stop = true;
			} else {
				side_event(s, evs[i].events);
			}
		}
		free_zombies();
	}

	while (conns)
		conn_kill(conns, NULL);
	free_zombies();
	while (pool) {
		struct chunk *k = pool;

		pool = k->next;
		free(k);
	}
	free(heap);
	close(listener.fd);
	close(timer.fd);
	close(sigs.fd);
	close(ep);
	return 0;
}
