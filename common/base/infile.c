/* infile.c - a user's file opened to read without blocking (infile.h). */
#include "base/infile.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "error.h"

int infile_open(const char *path, int *fd, struct stat *st, char *err)
{
	/* O_NONBLOCK: a FIFO with no writer opens at once instead of
	 * waiting for one. */
	int f = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC), flags, e;

	*fd = -1;
	if (f < 0) {
		e = errno;
		return err_set(err, e == ENOENT ? ERR_MISSING : ERR_IO, "%s: %s", path,
			       strerror(e));
	}
	/* Reads block again: a pipe whose writer is slow gives all its bytes,
	 * not EAGAIN; one with no writer reads as empty at once. */
	if ((flags = fcntl(f, F_GETFL)) < 0 ||
	    fcntl(f, F_SETFL, flags & ~O_NONBLOCK) < 0 || fstat(f, st) != 0) {
		e = errno;
		close(f);
		return err_set(err, ERR_IO, "%s: %s", path, strerror(e));
	}
	*fd = f;
	return 0;
}

int infile_fopen(const char *path, FILE **f, struct stat *st, char *err)
{
	int fd, rc;

	*f = NULL;
	if ((rc = infile_open(path, &fd, st, err)))
		return rc;
	if (!(*f = fdopen(fd, "r"))) {
		int e = errno;
		close(fd);
		return err_set(err, e == ENOMEM ? ERR_NOMEM : ERR_IO, "%s: %s", path,
			       strerror(e));
	}
	return 0;
}

int infile_empty(const char *path, const struct stat *st, char *err)
{
	if (!S_ISFIFO(st->st_mode))
		return 0;
	return err_set(err, ERR_IO, "%s: a FIFO or pipe with nothing written to it",
		       path);
}
