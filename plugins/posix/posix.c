/*
 * posix.c - the POSIX file store: objects are files under a root directory.
 *
 * Puts go to a temporary file in the target's directory and become visible
 * by rename (or link, for put-if-absent) after an fsync; the directory is
 * fsynced too, so a committed object survives a crash and an uncommitted
 * one never shows under its name.  Large writes are split across worker
 * threads with pwrite at distinct offsets; reads pread into the caller's
 * buffers, ranges spread over the same number of threads.  Buffered data
 * crosses into the kernel through small bounce buffers (see
 * write_copied).
 *
 * Options: threads (1..256, default 4), io_size (bytes per system call,
 * default 8MiB), direct (O_DIRECT through aligned staging buffers; the
 * default, where the file system takes it),
 * fsync (always | never), bounce (buffered I/O copied through a buffer of
 * this size, default 256KiB; 0: straight from and to the caller's memory).
 *
 * Below the root nothing is followed: every object is opened without
 * following a symbolic link in any component of its key, and must be a
 * regular file (see "Opening below the root").
 *
 * Tests inject failures through CKPTIO_POSIX_FAULT="op:N[:ERRNO]" (the Nth
 * call of op fails with ERRNO, default EIO), read at open: each hooked
 * system call first asks injected(), which costs one counter per call and
 * logs (at debug) the call it fails.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__) && __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#endif

#include "ckptio/plugin.h"

#define MAX_KEY 1024
#define ALIGN 4096
#define READ_PIECE (32u << 20) /* a range is split into pieces this big */

/* ------------------------------------------------------------------------ */
/* Private state                                                            */

enum sysop { OP_OPEN, OP_PWRITE, OP_PREAD, OP_FSYNC, OP_RENAME, OP_LINK,
	     OP_UNLINK, OP_OPENAT2, NOPS };
static const char *const op_names[NOPS] = {"open", "pwrite", "pread", "fsync",
					   "rename", "link", "unlink",
					   "openat2"};

typedef struct fault {
	int op;       /* -1: none */
	long nth;
	int err;
	atomic_long count;
} fault;

typedef struct pstore {
	ckptio_store base; /* first: the core sees a ckptio_store */
	int rootfd;
	char *root;
	const char *sep;    /* "/" between root and key in messages, or "" */
	unsigned threads;
	size_t io_size;
	int direct;
	int direct_set; /* direct came from the configuration */
	size_t bounce; /* buffered I/O copied through this many bytes; 0: not */
	/* Reads, when `bounce` is not configured: whether the bounce buffer
	 * pays here, decided by the first read big enough to time both ways
	 * (READ_PROBE): 0 not yet, 1 direct, 2 through the bounce buffer. */
	int read_auto;
	atomic_int read_mode;
	int fsync_always;
	atomic_int no_openat2; /* openat2 answered ENOSYS or EPERM: walk */
	fault fault;
} pstore;

struct ckptio_put {
	pstore *st;
	int fd;
	/* The directory the object goes in, opened once without following a
	 * link: the temporary file, the rename and the directory fsync all
	 * happen in it, so a directory swapped for a link meanwhile changes
	 * nothing. */
	int dirfd;
	const char *tmpbase; /* the temporary's name in dirfd (in tmp) */
	const char *keybase; /* the object's name in dirfd (in key) */
	uint64_t off;
	char key[MAX_KEY + 1];
	char tmp[MAX_KEY + 64];
	unsigned flags;
	int direct;           /* opened with O_DIRECT */
	/* O_DIRECT: staging buffer (stage_size, aligned); buffered: small
	 * writes gathered (GATHER bytes, allocated on the first) */
	unsigned char *stage;
	size_t stage_size;
	size_t staged;
};

/* O_DIRECT staging buffers hold at most this much (io_size if smaller):
 * every put of a save has one, so 8 MiB each (the default io_size) made
 * a 4-thread save of 64,000 small tensors hold 54 MiB more than its
 * payload, and 2 MiB writes measured as fast here (2 GiB: 0.85-0.91 s
 * either way; 2026-12-02). */
#define STAGE_MAX (2u << 20)

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

/* One failure point: the Nth call of the configured op fails. */
static int injected(pstore *s, enum sysop op)
{
	if (s->fault.op != (int)op)
		return 0;
	if (atomic_fetch_add(&s->fault.count, 1) + 1 != s->fault.nth)
		return 0;
	/* Tests sweeping every call of an op learn from this line that
	 * call N still happened. */
	s->base.host->log(s->base.hc, CKPTIO_LOG_DEBUG,
			  "posix: injected fault: call %ld of %s fails with %s",
			  s->fault.nth, op_names[op], strerror(s->fault.err));
	errno = s->fault.err;
	return 1;
}

static void fault_parse(pstore *s)
{
	const char *env = getenv("CKPTIO_POSIX_FAULT");
	char op[16], err[16] = "EIO";
	static const struct { const char *name; int err; } errs[] = {
		{"EIO", EIO}, {"ENOSPC", ENOSPC}, {"EDQUOT", EDQUOT},
		{"EACCES", EACCES}, {"EINTR", EINTR}, {"EROFS", EROFS},
		{"ENOSYS", ENOSYS}, {"EINVAL", EINVAL},
	};

	s->fault.op = -1;
	if (!env || sscanf(env, "%15[a-z0-9]:%ld:%15[A-Z]", op, &s->fault.nth,
			   err) < 2)
		return;
	for (int i = 0; i < NOPS; i++)
		if (strcmp(op, op_names[i]) == 0)
			s->fault.op = i;
	s->fault.err = EIO;
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		if (strcmp(err, errs[i].name) == 0)
			s->fault.err = errs[i].err;
}

static ckptio_status errno_status(int e)
{
	switch (e) {
	case ENOENT: return CKPTIO_ENOTFOUND;
	case ENOSPC: case EDQUOT: return CKPTIO_ENOSPC;
	case EACCES: case EPERM: case EROFS: return CKPTIO_EAUTH;
	case ENOMEM: return CKPTIO_ENOMEM;
	case EEXIST: return CKPTIO_EEXIST;
	default: return CKPTIO_EIO;
	}
}

static ckptio_status fail(pstore *s, int e, const char *key, const char *what)
{
	return s->base.host->error(s->base.hc, errno_status(e), "%s%s%s: %s: %s",
				   s->root, s->sep, key, what, strerror(e));
}

static int key_valid(const char *key)
{
	const char *p = key;
	size_t len;

	if (!key || !*key || strlen(key) > MAX_KEY || *key == '/')
		return 0;
	for (;;) {
		const char *slash = strchr(p, '/');

		len = slash ? (size_t)(slash - p) : strlen(p);
		if (len == 0 || (len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		if (!slash)
			return 1;
		p = slash + 1;
	}
}

static ckptio_status check_key(pstore *s, const char *key)
{
	if (key_valid(key))
		return CKPTIO_OK;
	return s->base.host->error(s->base.hc, CKPTIO_EINVAL,
				   "invalid key '%.200s' (empty, absolute, or "
				   "with '.', '..' or empty components)",
				   key ? key : "(null)");
}

/*
 * Opening below the root.  A symbolic link inside a store would let whoever
 * wrote the checkpoint choose what a load reads and `ckptio cp` copies (a
 * data object pointing at ~/.ssh/id_rsa), or where a save writes (a
 * subdirectory pointing at /etc).  So below the root no link is followed,
 * in any component of a key, and an object must be a regular file: a FIFO
 * would block a reader forever, a device would feed it endless bytes.  The
 * root itself may be a link (/data -> /mnt/disk1): posix_open follows it
 * once.
 *
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) does this in one call
 * (Linux 5.6); where it is missing (older kernels, seccomp filters that
 * answer ENOSYS or EPERM) a key is walked one component at a time with
 * O_NOFOLLOW.  Either way a link fails with ELOOP.
 */

/* Directory `name` in dfd, not a link: an O_PATH descriptor (search
 * permission suffices, as for a path lookup), or -1 with errno (ELOOP for a
 * link, ENOTDIR for anything else but a directory). */
static int open_component(int dfd, const char *name)
{
	struct stat sb;
	int fd = openat(dfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC), e;

	if (fd < 0)
		return -1;
	if (fstat(fd, &sb) != 0)
		e = errno;
	else if (S_ISDIR(sb.st_mode))
		return fd;
	else
		e = S_ISLNK(sb.st_mode) ? ELOOP : ENOTDIR;
	close(fd);
	errno = e;
	return -1;
}

/* The first len bytes of key, a directory below the root ("" for the root),
 * opened one component at a time; with create, missing ones are made.  An
 * O_PATH descriptor for *at calls, or -1 with errno. */
static int open_dir_beneath(pstore *s, const char *key, size_t len, int create)
{
	int dfd = fcntl(s->rootfd, F_DUPFD_CLOEXEC, 0);

	while (dfd >= 0 && len > 0) {
		const char *slash = memchr(key, '/', len);
		size_t n = slash ? (size_t)(slash - key) : len;
		char name[MAX_KEY + 1];
		int next, e;

		memcpy(name, key, n);
		name[n] = '\0';
		if (create && mkdirat(dfd, name, 0777) != 0 && errno != EEXIST)
			next = -1;
		else
			next = open_component(dfd, name);
		e = errno;
		close(dfd);
		errno = e;
		dfd = next;
		key += n + (slash ? 1 : 0);
		len -= n + (slash ? 1 : 0);
	}
	return dfd;
}

/* Object key (valid) opened with flags, no link followed: a descriptor, or
 * -1 with errno. */
static int open_beneath(pstore *s, const char *key, int flags)
{
	const char *base = strrchr(key, '/');
	int dfd, fd, e;
	struct stat sb;

#if defined(SYS_openat2) && defined(RESOLVE_NO_SYMLINKS)
	if (!atomic_load_explicit(&s->no_openat2, memory_order_relaxed)) {
		struct open_how how = {
			.flags = (uint64_t)(flags | O_CLOEXEC),
			.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS,
		};

		fd = injected(s, OP_OPENAT2)
			     ? -1
			     : (int)syscall(SYS_openat2, s->rootfd, key, &how,
					    sizeof(how));
		if (fd >= 0 || (errno != ENOSYS && errno != EPERM))
			return fd;
		atomic_store(&s->no_openat2, 1);
	}
#endif
	dfd = open_dir_beneath(s, key, base ? (size_t)(base - key) : 0, 0);
	if (dfd < 0)
		return -1;
	fd = openat(dfd, base ? base + 1 : key, flags | O_NOFOLLOW | O_CLOEXEC);
	/* O_PATH | O_NOFOLLOW opens a link itself: refuse it as openat2 does. */
	if (fd >= 0 && (flags & O_PATH) && fstat(fd, &sb) == 0 &&
	    S_ISLNK(sb.st_mode)) {
		close(fd);
		fd = -1;
		errno = ELOOP;
	}
	e = errno;
	close(dfd);
	errno = e;
	return fd;
}

/* What a file that is not a regular one is, for messages. */
static const char *file_kind(mode_t m)
{
	return S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO"
	     : S_ISSOCK(m) ? "a socket" : S_ISCHR(m) ? "a character device"
	     : S_ISBLK(m) ? "a block device" : S_ISLNK(m) ? "a symbolic link"
	     : "of an unknown type";
}

/* A link or a special file below the root is CKPTIO_ECORRUPT: the store
 * holds there what ckptio never writes. */
static ckptio_status refuse_link(pstore *s, const char *key)
{
	return s->base.host->error(s->base.hc, CKPTIO_ECORRUPT,
				   "%s%s%s: refused: a symbolic link below the "
				   "store root (links there are not followed; "
				   "only the root may be one)",
				   s->root, s->sep, key);
}

static ckptio_status refuse_kind(pstore *s, const char *key, mode_t m)
{
	return s->base.host->error(s->base.hc, CKPTIO_ECORRUPT,
				   "%s%s%s: not a regular file (%s)", s->root,
				   s->sep, key, file_kind(m));
}

/* mkdir -p for an absolute or relative path (the root itself). */
static int make_dirs(const char *path)
{
	char *buf = strdup(path), *p;
	int rc = 0;

	if (!buf)
		return -1;
	for (p = strchr(buf + 1, '/'); p && rc == 0; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdir(buf, 0777) != 0 && errno != EEXIST)
			rc = -1;
		*p = '/';
	}
	if (rc == 0 && mkdir(buf, 0777) != 0 && errno != EEXIST)
		rc = -1;
	free(buf);
	return rc;
}

/* fsync the directory dirfd (which may be an O_PATH descriptor: "." of
 * it opened for reading is the same directory, reached without a link). */
static int fsync_dir(pstore *s, int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc, e;

	if (fd < 0)
		return -1;
	rc = injected(s, OP_FSYNC) ? -1 : fsync(fd);
	e = errno;
	close(fd);
	errno = e;
	return rc;
}

/* pwrite all of buf at off, retrying short writes and EINTR. */
static int write_all(pstore *s, int fd, const unsigned char *buf, size_t len,
		     uint64_t off)
{
	while (len > 0) {
		size_t n = len < s->io_size ? len : s->io_size;
		ssize_t w = injected(s, OP_PWRITE)
				    ? -1 : pwrite(fd, buf, n, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = EIO;
			return -1;
		}
		buf += w;
		off += (uint64_t)w;
		len -= (size_t)w;
	}
	return 0;
}

/*
 * Bounce buffers.  Through the page cache the kernel copies between its
 * pages and the caller's memory; on some virtual machines the kernel's
 * first access to each page of a process's memory is very expensive (on
 * this project's VMs, 2026-12-02: a 2 GiB pread into freshly written user
 * memory took 2.8-3.5 s, the same pread into a reused 256 KiB buffer plus
 * a memcpy 0.21 s; pwrite likewise).  So buffered data goes through a
 * small buffer that stays in the CPU cache, once per `bounce` bytes:
 * elsewhere that costs one cache-hot memcpy and no extra memory traffic.
 * `bounce = 0` passes the caller's memory to the kernel directly.
 */
static int write_copied(pstore *s, int fd, const unsigned char *buf,
			size_t len, uint64_t off)
{
	unsigned char *b;

	if (s->bounce == 0 || !(b = malloc(s->bounce)))
		return write_all(s, fd, buf, len, off);
	while (len > 0) {
		size_t n = len < s->bounce ? len : s->bounce;

		memcpy(b, buf, n);
		if (write_all(s, fd, b, n, off) != 0) {
			int e = errno;

			free(b);
			errno = e;
			return -1;
		}
		buf += n;
		off += n;
		len -= n;
	}
	free(b);
	return 0;
}

/* host->parallel_for where the core has it (ABI 1.3), else in turn. */
static ckptio_status par_for(pstore *s, size_t n,
			     ckptio_status (*fn)(void *arg, size_t i), void *arg)
{
	const ckptio_host *h = s->base.host;
	ckptio_status st = CKPTIO_OK;

	if (h->struct_size > offsetof(ckptio_host, parallel_for) &&
	    h->parallel_for)
		return h->parallel_for(s->base.hc, n, fn, arg);
	for (size_t i = 0; i < n && st == CKPTIO_OK; i++)
		st = fn(arg, i);
	return st;
}

/* Parallel pwrite of one large buffer, io_size slices as tasks on the
 * operation's worker threads. */
typedef struct wjob {
	pstore *s;
	int fd;
	const unsigned char *buf;
	size_t len;
	uint64_t off;
	int copy; /* through a bounce buffer (buffered puts) */
	int err;
} wjob;

static ckptio_status write_slice(void *arg, size_t i)
{
	wjob *j = arg;
	size_t pos = i * j->s->io_size;
	size_t n = j->len - pos < j->s->io_size ? j->len - pos : j->s->io_size;

	if ((j->copy ? write_copied(j->s, j->fd, j->buf + pos, n, j->off + pos)
		     : write_all(j->s, j->fd, j->buf + pos, n, j->off + pos)) !=
	    0) {
		int none = 0;

		__atomic_compare_exchange_n(&j->err, &none, errno, 0,
					    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
		return CKPTIO_EIO;
	}
	return CKPTIO_OK;
}

static int write_parallel(pstore *s, int fd, const unsigned char *buf,
			  size_t len, uint64_t off, int copy)
{
	wjob j = {s, fd, buf, len, off, copy, 0};

	if (par_for(s, (len + s->io_size - 1) / s->io_size, write_slice, &j) ==
	    CKPTIO_OK)
		return 0;
	errno = j.err ? j.err : EIO;
	return -1;
}

/* ------------------------------------------------------------------------ */
/* Methods                                                                  */

static const struct ckptio_store_ops posix_ops;

static ckptio_status posix_open(const ckptio_host *host, ckptio_host_ctx *hc,
				const char *root, int create, ckptio_store **out)
{
	static const char *const fsync_words[] = {"always", "never", NULL};
	pstore *s = calloc(1, sizeof(*s));
	uint64_t threads, io_size, bounce = 0;
	unsigned fs = 0;
	ckptio_status st;

	*out = NULL;
	if (!s || !(s->root = strdup(root && *root ? root : "."))) {
		free(s);
		return host->error(hc, CKPTIO_ENOMEM, "posix: out of memory");
	}
	/* "/" + "k" reads "/k", not "//k". */
	s->sep = s->root[strlen(s->root) - 1] == '/' ? "" : "/";
	s->base.ops = &posix_ops;
	s->base.host = host;
	s->base.hc = hc;
	s->rootfd = -1;
	st = host->config_uint(hc, "threads", 4, 1, 256, &threads);
	if (st == CKPTIO_OK)
		st = host->config_size(hc, "io_size", 8u << 20, &io_size);
	if (st == CKPTIO_OK && (io_size < (64u << 10) || io_size > (1u << 30)))
		st = host->error(hc, CKPTIO_ECONFIG,
				 "posix: io_size must be between 64KiB and 1GiB");
	/* O_DIRECT by default (docs/posix.md, "Why direct writes are the
	 * default"); where the file system refuses it, the page cache. */
	if (st == CKPTIO_OK)
		st = host->config_bool(hc, "direct", 1, &s->direct);
	s->direct_set = host->config_get(hc, "direct") != NULL;
	if (st == CKPTIO_OK)
		st = host->config_enum(hc, "fsync", fsync_words, 0, &fs);
	if (st == CKPTIO_OK)
		st = host->config_size(hc, "bounce", 256u << 10, &bounce);
	if (st == CKPTIO_OK && bounce != 0 &&
	    (bounce < (4u << 10) || bounce > (64u << 20)))
		st = host->error(hc, CKPTIO_ECONFIG,
				 "posix: bounce must be 0 (off) or between "
				 "4KiB and 64MiB");
	if (st != CKPTIO_OK)
		goto fail;
	s->threads = (unsigned)threads;
	s->io_size = (size_t)(io_size & ~(uint64_t)(ALIGN - 1));
	s->fsync_always = fs == 0;
	s->bounce = (size_t)bounce;
	s->read_auto = s->bounce != 0 && !host->config_get(hc, "bounce");
	fault_parse(s);
	if (create && make_dirs(s->root) != 0) {
		st = host->error(hc, errno_status(errno),
				 "%s: cannot create directory: %s", s->root,
				 strerror(errno));
		goto fail;
	}
	s->rootfd = open(s->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->rootfd < 0) {
		st = host->error(hc, errno_status(errno), "%s: %s", s->root,
				 errno == ENOENT ? "no such directory"
						 : strerror(errno));
		goto fail;
	}
	*out = &s->base;
	return CKPTIO_OK;
fail:
	free(s->root);
	free(s);
	return st;
}

static void posix_close(ckptio_store *st)
{
	pstore *s = (pstore *)st;

	if (s->rootfd >= 0)
		close(s->rootfd);
	free(s->root);
	free(s);
}

static ckptio_status posix_put_open(ckptio_store *st, const char *key,
				    uint64_t size_hint, unsigned flags,
				    ckptio_put **out)
{
	pstore *s = (pstore *)st;
	const char *base, *tmpbase;
	unsigned rnd = 0;
	ckptio_put *p;
	int dfd;
	ckptio_status rc = check_key(s, key);

	*out = NULL;
	if (rc != CKPTIO_OK)
		return rc;
	p = calloc(1, sizeof(*p));
	if (!p)
		return st->host->error(st->hc, CKPTIO_ENOMEM, "out of memory");
	p->st = s;
	p->flags = flags;
	snprintf(p->key, sizeof(p->key), "%s", key);
	if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		rnd = (unsigned)rand();
	/* ".<name>.tmp.<pid>.<random>" beside the target, so rename stays
	 * within one directory (and one file system). */
	base = strrchr(key, '/');
	snprintf(p->tmp, sizeof(p->tmp), "%.*s.%s.tmp.%d.%08x",
		 base ? (int)(base - key + 1) : 0, key, base ? base + 1 : key,
		 (int)getpid(), rnd);
	/* The parent directories are made and entered without following a
	 * link, so a save never writes outside the root. */
	dfd = open_dir_beneath(s, key, base ? (size_t)(base - key) : 0, 1);
	if (dfd < 0) {
		rc = errno == ELOOP ? refuse_link(s, key)
				    : fail(s, errno, key,
					   "cannot create directory");
		free(p);
		return rc;
	}
	tmpbase = base ? p->tmp + (base - key + 1) : p->tmp;
	p->direct = __atomic_load_n(&s->direct, __ATOMIC_RELAXED);
	p->fd = injected(s, OP_OPEN) ? -1
		: openat(dfd, tmpbase,
			 O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
				 (p->direct ? O_DIRECT : 0),
			 0666);
	if (p->fd < 0 && errno == EINVAL && p->direct) {
		/* tmpfs and some network file systems refuse O_DIRECT: a
		 * warning when the configuration asked for it, else a note. */
		st->host->log(st->hc,
			      s->direct_set ? CKPTIO_LOG_WARN : CKPTIO_LOG_DEBUG,
			      "%s: O_DIRECT not supported here; writing "
			      "through the page cache", s->root);
		__atomic_store_n(&s->direct, 0, __ATOMIC_RELAXED);
		p->direct = 0;
		p->fd = openat(dfd, tmpbase,
			       O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	}
	if (p->fd < 0) {
		rc = fail(s, errno, key, "cannot create temporary file");
		close(dfd);
		free(p);
		return rc;
	}
	p->dirfd = dfd;
	p->tmpbase = tmpbase;
	p->keybase = base ? p->key + (base - key + 1) : p->key;
	p->stage_size = s->io_size < STAGE_MAX ? s->io_size : STAGE_MAX;
	if (p->direct &&
	    posix_memalign((void **)&p->stage, ALIGN, p->stage_size)) {
		close(p->fd);
		unlinkat(dfd, tmpbase, 0);
		close(dfd);
		free(p);
		return st->host->error(st->hc, CKPTIO_ENOMEM, "out of memory");
	}
	if (size_hint != UINT64_MAX && size_hint > 0)
		(void)posix_fallocate(p->fd, 0, (off_t)size_hint);
	*out = p;
	return CKPTIO_OK;
}

/* A write of the O_DIRECT path, at p->off.  A file system that takes
 * O_DIRECT at open but refuses the write itself with EINVAL (a block size
 * above ALIGN; some FUSE and network file systems) gets it through the
 * page cache instead: O_DIRECT is cleared on this file, later puts of the
 * store open without it, and the write is done again (pwrite at offsets:
 * what went before lands on the same bytes). */
static int direct_write(ckptio_put *p, const unsigned char *b, size_t n,
			int parallel)
{
	pstore *s = p->st;
	int rc, flags;

	rc = parallel ? write_parallel(s, p->fd, b, n, p->off, 0)
		      : write_all(s, p->fd, b, n, p->off);
	if (rc == 0 || errno != EINVAL)
		return rc;
	flags = fcntl(p->fd, F_GETFL);
	if (flags < 0 || !(flags & O_DIRECT) ||
	    fcntl(p->fd, F_SETFL, flags & ~O_DIRECT) != 0) {
		errno = EINVAL;
		return -1;
	}
	s->base.host->log(s->base.hc,
			  s->direct_set ? CKPTIO_LOG_WARN : CKPTIO_LOG_DEBUG,
			  "%s%s%s: the file system refused an O_DIRECT write; "
			  "writing through the page cache",
			  s->root, s->sep, p->key);
	__atomic_store_n(&s->direct, 0, __ATOMIC_RELAXED);
	return parallel ? write_parallel(s, p->fd, b, n, p->off, 1)
			: write_all(s, p->fd, b, n, p->off);
}

/* O_DIRECT.  Where the caller's memory and the file offset are both
 * block-aligned the data goes from the caller's buffer to the device with
 * no copy (in parallel when large); anything else goes through the
 * aligned staging buffer, written when full. */
static ckptio_status put_write_direct(ckptio_put *p, const unsigned char *b,
				      size_t len)
{
	pstore *s = p->st;

	while (len > 0) {
		size_t n;

		if (p->staged == 0 && len >= ALIGN && p->off % ALIGN == 0 &&
		    (uintptr_t)b % ALIGN == 0) {
			n = len & ~(size_t)(ALIGN - 1);
			if (direct_write(p, b, n,
					 n >= 2 * s->io_size && s->threads > 1) != 0)
				return fail(s, errno, p->key, "write");
			p->off += n;
			b += n;
			len -= n;
			continue;
		}
		n = p->stage_size - p->staged;
		if (n > len)
			n = len;
		memcpy(p->stage + p->staged, b, n);
		p->staged += n;
		b += n;
		len -= n;
		/* Flush when full, or at a block boundary so that an aligned
		 * caller buffer that follows can go straight to the device. */
		if (p->staged == p->stage_size ||
		    (p->staged % ALIGN == 0 && len >= ALIGN &&
		     (uintptr_t)b % ALIGN == 0)) {
			if (direct_write(p, p->stage, p->staged, 0) != 0)
				return fail(s, errno, p->key, "write");
			p->off += p->staged;
			p->staged = 0;
		}
	}
	return CKPTIO_OK;
}

/* Through the page cache, small writes are gathered and written GATHER
 * bytes at a time: the kernel's cost is per call and per folio, so 256 MiB
 * as 65,536 pwrites of 4 KiB took 0.53-0.95 s with its fsync on ext4 here,
 * and as 256 pwrites of 1 MiB 0.20 s (many small tensors: docs/posix.md).
 * Writes of SMALL_WRITE bytes or more go straight from the caller's
 * memory, after what is gathered. */
#define SMALL_WRITE (256u << 10)
#define GATHER (1u << 20)

/* Write what is gathered (buffered puts: p->stage holds the bytes from
 * p->off on). */
static int flush_gathered(ckptio_put *p)
{
	if (p->staged == 0)
		return 0;
	if (write_all(p->st, p->fd, p->stage, p->staged, p->off) != 0)
		return -1;
	p->off += p->staged;
	p->staged = 0;
	return 0;
}

static ckptio_status gather(ckptio_put *p, const unsigned char *b, size_t len)
{
	pstore *s = p->st;

	if (!p->stage && !(p->stage = malloc(GATHER)))
		return s->base.host->error(s->base.hc, CKPTIO_ENOMEM,
					   "out of memory");
	while (len > 0) {
		size_t n = GATHER - p->staged < len ? GATHER - p->staged : len;

		memcpy(p->stage + p->staged, b, n);
		p->staged += n;
		b += n;
		len -= n;
		if (p->staged == GATHER && flush_gathered(p) != 0)
			return fail(s, errno, p->key, "write");
	}
	return CKPTIO_OK;
}

static ckptio_status posix_put_write(ckptio_put *p, const void *buf, size_t len)
{
	pstore *s = p->st;
	int rc;

	if (p->direct)
		return put_write_direct(p, buf, len);
	if (len < SMALL_WRITE)
		return gather(p, buf, len);
	if (flush_gathered(p) != 0)
		return fail(s, errno, p->key, "write");
	if (len >= 2 * s->io_size && s->threads > 1)
		rc = write_parallel(s, p->fd, buf, len, p->off, 1);
	else
		rc = write_copied(s, p->fd, buf, len, p->off);
	if (rc != 0)
		return fail(s, errno, p->key, "write");
	p->off += len;
	return CKPTIO_OK;
}

static void put_free(ckptio_put *p)
{
	if (p->fd >= 0)
		close(p->fd);
	close(p->dirfd);
	free(p->stage);
	free(p);
}

static void posix_put_abort(ckptio_put *p)
{
	unlinkat(p->dirfd, p->tmpbase, 0);
	put_free(p);
}

/* The end of an O_DIRECT file: the whole blocks of what is staged still go
 * straight to the device; only the last partial block is written without
 * O_DIRECT, so the file length is exact.  (Writing the whole staged buffer
 * through the page cache put up to io_size bytes of every object there:
 * 32 MiB of a 256 MiB save in four objects, the kernel's copy 15% of the
 * save's CPU.) */
static int flush_direct_tail(ckptio_put *p)
{
	size_t whole = p->staged & ~(size_t)(ALIGN - 1);
	int flags;

	if (whole) {
		/* p->off is block-aligned: the stage only starts on a block. */
		if (direct_write(p, p->stage, whole, 0) != 0)
			return -1;
		p->off += whole;
		p->staged -= whole;
		memmove(p->stage, p->stage + whole, p->staged);
	}
	if (p->staged == 0)
		return 0;
	flags = fcntl(p->fd, F_GETFL);
	if (flags < 0 || fcntl(p->fd, F_SETFL, flags & ~O_DIRECT) != 0)
		return -1;
	if (write_all(p->st, p->fd, p->stage, p->staged, p->off) != 0)
		return -1;
	p->off += p->staged;
	p->staged = 0;
	return 0;
}

static ckptio_status posix_put_commit(ckptio_put *p)
{
	pstore *s = p->st;
	ckptio_status rc = CKPTIO_OK;
	int r;

	if ((p->direct ? flush_direct_tail(p) : flush_gathered(p)) != 0)
		rc = fail(s, errno, p->key, "write");
	/* fallocate may have reserved more than was written. */
	if (rc == CKPTIO_OK && ftruncate(p->fd, (off_t)p->off) != 0)
		rc = fail(s, errno, p->key, "truncate");
	if (rc == CKPTIO_OK && s->fsync_always &&
	    (injected(s, OP_FSYNC) || fsync(p->fd) != 0))
		rc = fail(s, errno, p->key, "fsync");
	if (rc == CKPTIO_OK && (p->flags & CKPTIO_PUT_IF_ABSENT)) {
		/* link() fails if the name exists: atomic create-if-absent. */
		r = injected(s, OP_LINK) ? -1
			: linkat(p->dirfd, p->tmpbase, p->dirfd, p->keybase,
				 0);
		if (r != 0 && errno == EEXIST)
			rc = s->base.host->error(s->base.hc, CKPTIO_EEXIST,
						 "%s%s%s already exists", s->root,
						 s->sep, p->key);
		else if (r != 0)
			rc = fail(s, errno, p->key, "link");
		unlinkat(p->dirfd, p->tmpbase, 0);
	} else if (rc == CKPTIO_OK) {
		r = injected(s, OP_RENAME) ? -1
			: renameat(p->dirfd, p->tmpbase, p->dirfd, p->keybase);
		if (r != 0)
			rc = fail(s, errno, p->key, "rename");
	}
	if (rc != CKPTIO_OK) {
		posix_put_abort(p);
		return rc;
	}
	/* The object is visible now: a failure from here on must not look
	 * like "nothing happened" (the caller would remove what it named).
	 * The fsync is not retried: after a write-back error a second fsync
	 * may succeed without the data being on disk. */
	if (s->fsync_always && fsync_dir(s, p->dirfd) != 0) {
		int e = errno;

		s->base.host->error(s->base.hc, CKPTIO_EINDOUBT,
				    "%s%s%s: committed, but the fsync of its "
				    "directory failed (%s): durability unknown",
				    s->root, s->sep, p->key, strerror(e));
		rc = CKPTIO_EINDOUBT;
	}
	put_free(p);
	return rc;
}

/* Scatter read: ranges cut into pieces, and runs of pieces of one object
 * (up to READ_TASK bytes) made into tasks, each opening its object once,
 * on the operation's worker threads (host->parallel_for).  A load of many
 * small tensors then opens each data object a few times, not once per
 * tensor. */
#define READ_TASK READ_PIECE

typedef struct piece {
	const ckptio_range *rg;
	uint64_t off; /* within the range */
	uint64_t len;
	uint32_t crc; /* read_crc: the CRC32C of these len bytes */
} piece;

typedef struct rtask {
	size_t first, n; /* pieces [first, first + n), all of one key */
} rtask;

typedef struct rjob {
	pstore *s;
	piece *pieces;
	rtask *tasks;
	int crc; /* checksum each piece as it is read (read_crc) */
} rjob;

/* Checksumming reads go to the caller's memory in steps this big, each
 * checksummed at once, while it is still in the CPU cache. */
#define CRC_STEP (512u << 10)

/* rg->key opened for reading: a regular file below the root, reached
 * without a link.  A descriptor, or -1 with the error recorded in *st. */
static int open_object(pstore *s, const ckptio_range *rg, ckptio_status *st)
{
	struct stat sb;
	int fd;

	*st = CKPTIO_OK;
	if (!key_valid(rg->key)) {
		*st = check_key(s, rg->key);
		return -1;
	}
	/* O_NONBLOCK: opening a FIFO must not wait for a writer. */
	fd = injected(s, OP_OPEN) ? -1
		: open_beneath(s, rg->key, O_RDONLY | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT)
		*st = s->base.host->error(s->base.hc, CKPTIO_ENOTFOUND,
					  "%s%s%s: no such object", s->root,
					  s->sep, rg->key);
	else if (fd < 0 && errno == ELOOP)
		*st = refuse_link(s, rg->key);
	else if (fd < 0 && errno == ENXIO) /* what open says of a socket */
		*st = s->base.host->error(s->base.hc, CKPTIO_ECORRUPT,
					  "%s%s%s: not a regular file (a "
					  "socket or a device)",
					  s->root, s->sep, rg->key);
	else if (fd < 0)
		*st = fail(s, errno, rg->key, "open");
	if (fd < 0)
		return -1;
	/* A regular file: its reads then block as usual again. */
	if (fstat(fd, &sb) != 0)
		*st = fail(s, errno, rg->key, "stat");
	else if (!S_ISREG(sb.st_mode))
		*st = refuse_kind(s, rg->key, sb.st_mode);
	else if (fcntl(fd, F_SETFL, O_RDONLY) != 0)
		*st = fail(s, errno, rg->key, "fcntl");
	if (*st != CKPTIO_OK) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Bytes of each of the two timed reads of the probe (pstore.read_auto). */
#define READ_PROBE (256u << 10)

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The probe's verdict from the time per byte through the bounce buffer
 * (pread + memcpy) and straight into the caller's memory: direct unless
 * it costs clearly more (on some virtual machines the kernel's first
 * access to a page of the process costs 10x: docs/posix.md).  The first
 * verdict stands for the store's life. */
static void probe_decide(pstore *s, double bounce_ns, double direct_ns)
{
	int none = 0, mode = direct_ns <= 1.5 * bounce_ns ? 1 : 2;

	if (atomic_compare_exchange_strong(&s->read_mode, &none, mode))
		s->base.host->log(s->base.hc, CKPTIO_LOG_DEBUG,
				  "posix: reads go %s (%.3f ns/byte through "
				  "the bounce buffer, %.3f directly)",
				  mode == 1 ? "directly" : "through the bounce "
				  "buffer", bounce_ns, direct_ns);
}

/* One piece from the open object fd: pread straight into the caller's
 * memory, or through the task's bounce buffer (see write_copied).  With
 * crc, pc->crc receives the piece's CRC32C, computed on each step just
 * read (the bounce buffer, or a CRC_STEP of the caller's memory).  When
 * the store's read mode is still open (read_auto), a piece of at least
 * two READ_PROBEs times one of each way and settles it. */
static ckptio_status read_piece(pstore *s, int fd, piece *pc,
				unsigned char *bounce, int crc)
{
	const ckptio_range *rg = pc->rg;
	unsigned char *dst = (unsigned char *)rg->buf + pc->off;
	uint64_t pos = rg->offset + pc->off, left = pc->len;
	int probe = bounce && s->read_auto &&
		    atomic_load(&s->read_mode) == 0 && left >= 2 * READ_PROBE;
	double t_bounce = 0;
	struct stat sb;

	pc->crc = 0;

	while (left > 0) {
		/* Probe steps 1 (bounce) and 2 (direct), then the mode. */
		int use = probe == 1   ? 1
			  : probe == 2 ? 0
			  : bounce && !(s->read_auto &&
					atomic_load(&s->read_mode) == 1);
		unsigned char *to = use ? bounce : dst;
		size_t max = probe ? READ_PROBE
			     : use ? s->bounce
			     : crc ? CRC_STEP : s->io_size * 4;
		size_t n = left < max ? (size_t)left : max;
		double t0 = probe ? now_ns() : 0;
		ssize_t r = injected(s, OP_PREAD) ? -1
			    : pread(fd, to, n, (off_t)pos);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return fail(s, errno, rg->key, "read");
		if (r == 0) {
			fstat(fd, &sb);
			return s->base.host->error(
				s->base.hc, CKPTIO_ECORRUPT,
				"%s%s%s: object is %lld bytes, cannot read bytes "
				"%llu..%llu (truncated?)",
				s->root, s->sep, rg->key, (long long)sb.st_size,
				(unsigned long long)rg->offset,
				(unsigned long long)(rg->offset + rg->length));
		}
		if (crc)
			pc->crc = s->base.host->crc32c(pc->crc, to, (size_t)r);
		if (use)
			memcpy(dst, bounce, (size_t)r);
		if (probe == 1) {
			t_bounce = (now_ns() - t0) / (double)r;
			probe = 2;
		} else if (probe == 2) {
			probe_decide(s, t_bounce, (now_ns() - t0) / (double)r);
			probe = 0;
		}
		dst += r;
		pos += (uint64_t)r;
		left -= (uint64_t)r;
	}
	return CKPTIO_OK;
}

static ckptio_status read_task(void *arg, size_t t)
{
	rjob *j = arg;
	const rtask *tk = &j->tasks[t];
	ckptio_status st;
	/* Without memory for the bounce buffer, read directly. */
	unsigned char *bounce = j->s->bounce ? malloc(j->s->bounce) : NULL;
	int fd = open_object(j->s, j->pieces[tk->first].rg, &st);

	/* Its pages faulted in now, not inside the probe's timing. */
	if (bounce && j->s->read_auto && atomic_load(&j->s->read_mode) == 0)
		memset(bounce, 0, j->s->bounce);

	for (size_t i = 0; fd >= 0 && st == CKPTIO_OK && i < tk->n; i++)
		st = read_piece(j->s, fd, &j->pieces[tk->first + i], bounce,
				j->crc);
	if (fd >= 0)
		close(fd);
	free(bounce);
	return st;
}

static ckptio_status read_ranges(ckptio_store *st, const ckptio_range *ranges,
				 size_t n, uint32_t *crcs)
{
	pstore *s = (pstore *)st;
	rjob j = {.s = s, .crc = crcs != NULL};
	size_t npieces = 0, np = 0, nt = 0;
	uint64_t task_bytes = 0;
	ckptio_status rc;

	for (size_t i = 0; i < n; i++)
		npieces += ranges[i].length / READ_PIECE + 1;
	j.pieces = malloc(npieces * sizeof(*j.pieces));
	j.tasks = malloc(npieces * sizeof(*j.tasks));
	if (!j.pieces || !j.tasks) {
		free(j.pieces);
		free(j.tasks);
		return st->host->error(st->hc, CKPTIO_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t off = 0;

		do {
			uint64_t len = ranges[i].length - off;

			if (len > READ_PIECE)
				len = READ_PIECE;
			/* A new task at another key, or when this one is
			 * big enough to keep a thread busy on its own. */
			if (nt == 0 || task_bytes + len > READ_TASK ||
			    strcmp(j.pieces[j.tasks[nt - 1].first].rg->key,
				   ranges[i].key) != 0) {
				j.tasks[nt++] = (rtask){np, 0};
				task_bytes = 0;
			}
			j.pieces[np++] = (piece){&ranges[i], off, len, 0};
			j.tasks[nt - 1].n++;
			task_bytes += len;
			off += len;
		} while (off < ranges[i].length);
	}
	rc = par_for(s, nt, read_task, &j);
	/* A range's pieces are in order: their checksums combine into its. */
	for (size_t p = 0; rc == CKPTIO_OK && crcs && p < np; p++) {
		size_t i = (size_t)(j.pieces[p].rg - ranges);

		crcs[i] = j.pieces[p].off == 0
				  ? j.pieces[p].crc
				  : s->base.host->crc32c_combine(
					    crcs[i], j.pieces[p].crc,
					    j.pieces[p].len);
	}
	free(j.pieces);
	free(j.tasks);
	/* The failing task recorded its detail (the first one wins). */
	return rc;
}

static ckptio_status posix_read(ckptio_store *st, const ckptio_range *ranges,
				size_t n)
{
	return read_ranges(st, ranges, n, NULL);
}

/* read, checksumming each step as it is read (ABI 1.7).  A core without
 * crc32c_combine never calls it (it has no read_crc to call). */
static ckptio_status posix_read_crc(ckptio_store *st,
				    const ckptio_range *ranges, size_t n,
				    uint32_t *crcs)
{
	return read_ranges(st, ranges, n, crcs);
}

static ckptio_status posix_stat(ckptio_store *st, const char *key,
				ckptio_stat *out)
{
	pstore *s = (pstore *)st;
	struct stat sb;
	int fd, rc, e;

	if (!key_valid(key))
		return check_key(s, key);
	/* A link or a FIFO where an object should be is an error, not "no
	 * such object": a symlinked .metadata.json is no checkpoint, and the
	 * message says why.  A directory is only a prefix of other keys. */
	fd = open_beneath(s, key, O_PATH);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return CKPTIO_ENOTFOUND;
		if (errno == ELOOP)
			return refuse_link(s, key);
		return fail(s, errno, key, "stat");
	}
	rc = fstat(fd, &sb);
	e = errno;
	close(fd);
	if (rc != 0)
		return fail(s, e, key, "stat");
	if (S_ISDIR(sb.st_mode))
		return CKPTIO_ENOTFOUND;
	if (!S_ISREG(sb.st_mode))
		return refuse_kind(s, key, sb.st_mode);
	out->size = (uint64_t)sb.st_size;
	out->mtime = sb.st_mtime;
	return CKPTIO_OK;
}

/* Depth-first walk of the directory `rel` (relative to the root), entry
 * `name` of the directory pfd: each level is opened from its parent's
 * descriptor with O_NOFOLLOW, so a directory replaced by a link during the
 * walk is skipped, never followed. */
static int walk(pstore *s, int pfd, const char *name, const char *rel,
		const char *prefix, ckptio_key_fn fn, void *user, int *err)
{
	/* A fresh open even for the root: a dup() would share the directory
	 * offset, and a second listing would start at the end. */
	int fd = openat(pfd, name,
			O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	size_t plen = strlen(prefix);
	struct dirent *de;
	DIR *d;
	int stop = 0;

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		/* A subdirectory we may not read holds nothing of ours. */
		if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP &&
		    (!*rel || (errno != EACCES && errno != EPERM)))
			*err = errno;
		return 0;
	}
	while (!stop && (de = readdir(d))) {
		char key[MAX_KEY + 2];
		struct stat sb;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if ((size_t)snprintf(key, sizeof(key), "%s%s%s", rel,
				     *rel ? "/" : "", de->d_name) >= sizeof(key))
			continue;
		/* Skip subtrees that cannot hold the prefix. */
		if (strncmp(key, prefix, plen < strlen(key) ? plen : strlen(key)))
			continue;
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (S_ISDIR(sb.st_mode)) {
			stop = walk(s, dirfd(d), de->d_name, key, prefix, fn,
				    user, err);
		} else if (S_ISREG(sb.st_mode) && strlen(key) >= plen) {
			ckptio_stat cs = {(uint64_t)sb.st_size, sb.st_mtime};

			stop = fn(user, key, &cs);
		}
	}
	closedir(d);
	return stop;
}

static ckptio_status posix_list(ckptio_store *st, const char *prefix,
				ckptio_key_fn fn, void *user)
{
	pstore *s = (pstore *)st;
	int err = 0;

	walk(s, s->rootfd, ".", "", prefix ? prefix : "", fn, user, &err);
	if (err)
		return fail(s, err, prefix ? prefix : "", "list");
	return CKPTIO_OK;
}

/* Temporary files are ".<name>.tmp.<pid>.<8 hex>" beside <name> (see
 * posix_put_open). */
static int posix_put_target(ckptio_store *st, const char *key, char *target,
			    size_t size)
{
	const char *base = strrchr(key, '/'), *tmp, *p;
	size_t dlen, nlen;

	(void)st;
	base = base ? base + 1 : key;
	dlen = (size_t)(base - key);
	if (base[0] != '.' || !(tmp = strstr(base + 1, ".tmp.")))
		return 0;
	/* The last ".tmp." of the name: the target itself may contain one. */
	while ((p = strstr(tmp + 1, ".tmp.")))
		tmp = p;
	nlen = (size_t)(tmp - (base + 1));
	p = tmp + 5;
	if (nlen == 0 || !(*p >= '0' && *p <= '9'))
		return 0;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p++ != '.' || strlen(p) != 8 || strspn(p, "0123456789abcdef") != 8)
		return 0;
	if (dlen + nlen + 1 > size)
		return 0;
	memcpy(target, key, dlen);
	memcpy(target + dlen, base + 1, nlen);
	target[dlen + nlen] = '\0';
	return 1;
}

static ckptio_status posix_remove(ckptio_store *st, const char *key)
{
	pstore *s = (pstore *)st;
	char dir[MAX_KEY + 1];
	const char *base = key ? strrchr(key, '/') : NULL;
	char *slash;
	int dfd, rc, e;

	if (!key_valid(key))
		return check_key(s, key);
	/* Through a linked directory the unlink would hit a file outside. */
	dfd = open_dir_beneath(s, key, base ? (size_t)(base - key) : 0, 0);
	rc = dfd < 0 || injected(s, OP_UNLINK) ||
	     unlinkat(dfd, base ? base + 1 : key, 0) != 0;
	e = errno;
	if (dfd >= 0)
		close(dfd);
	if (rc) {
		if (e == ENOENT || e == ENOTDIR)
			return CKPTIO_ENOTFOUND;
		if (e == ELOOP)
			return refuse_link(s, key);
		return fail(s, e, key, "remove");
	}
	/* Remove directories left empty, up to (not including) the root,
	 * each from its parent opened without following a link (an rmdir
	 * by path would resolve a linked parent to somewhere else). */
	snprintf(dir, sizeof(dir), "%s", key);
	while ((slash = strrchr(dir, '/'))) {
		const char *up = memrchr(dir, '/', (size_t)(slash - dir));
		int pfd;

		*slash = '\0';
		pfd = open_dir_beneath(s, dir, up ? (size_t)(up - dir) : 0, 0);
		rc = pfd < 0 || unlinkat(pfd, up ? up + 1 : dir, AT_REMOVEDIR);
		if (pfd >= 0)
			close(pfd);
		if (rc)
			break;
	}
	return CKPTIO_OK;
}

/* ------------------------------------------------------------------------ */
/* Descriptor                                                               */

static const struct ckptio_store_ops posix_ops = {
	.struct_size = sizeof(struct ckptio_store_ops),
	.caps = CKPTIO_STORE_CAP_WRITE | CKPTIO_STORE_CAP_READ |
		CKPTIO_STORE_CAP_RANGE | CKPTIO_STORE_CAP_LIST |
		CKPTIO_STORE_CAP_DELETE | CKPTIO_STORE_CAP_ATOMIC_PUT |
		CKPTIO_STORE_CAP_IF_ABSENT,
	.open = posix_open,
	.close = posix_close,
	.put_open = posix_put_open,
	.put_write = posix_put_write,
	.put_commit = posix_put_commit,
	.put_abort = posix_put_abort,
	.read = posix_read,
	.stat = posix_stat,
	.list = posix_list,
	.remove = posix_remove,
	.remove_many = NULL,
	.put_target = posix_put_target,
	.read_crc = posix_read_crc,
};

static const char *const posix_options[] = {"threads", "io_size", "direct",
					    "fsync", "bounce", NULL};
static const char *const posix_schemes[] = {"file", NULL};

static const ckptio_plugin posix_plugin = {
	.abi_version = CKPTIO_ABI_VERSION,
	.struct_size = sizeof(ckptio_plugin),
	.kind = CKPTIO_PLUGIN_STORE,
	.name = "posix",
	.description = "local and network file systems: atomic rename, "
		       "parallel pwrite/pread, optional O_DIRECT",
	.options = posix_options,
	.schemes = posix_schemes,
	.store = &posix_ops,
};

/* ------------------------------------------------------------------------ */
/* Entry point                                                              */

CKPTIO_EXPORT const ckptio_plugin *ckptio_plugin_entry(void)
{
	return &posix_plugin;
}
