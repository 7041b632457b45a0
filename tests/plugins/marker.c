/*
 * marker.c - a shared object that leaves a mark when it is loaded: its
 * constructor creates the file named by $CKPTIO_TEST_MARKER.  The loader
 * suite and the CLI tests put copies of it where a careless loader would
 * map it (./posix.so, a world-writable directory) and check that the mark
 * never appears: a refused file must never reach dlopen, since its
 * constructors would already have run.  It has no ckptio_plugin_entry on
 * purpose; nothing in it is needed but the constructor.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((constructor)) static void marker_loaded(void)
{
	const char *path = getenv("CKPTIO_TEST_MARKER");
	int fd;

	if (!path || !*path)
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0)
		close(fd);
}
