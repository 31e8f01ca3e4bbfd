/* fsutil.c - fsync of a file and of the folder holding a name (fsutil.h). */
#define _POSIX_C_SOURCE 200809L
#include "base/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"

/* sync_open fsyncs what open(path, flags) opens, keeping open's or
 * fsync's errno. */
static int sync_open(const char *path, int flags)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | flags), rc, e;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	e = errno;
	close(fd);
	errno = e;
	return rc;
}

int fsutil_sync_file(const char *path)
{
	return sync_open(path, 0);
}

int fsutil_sync_dir_of(const char *path)
{
	char dir[4096];
	char *slash;

	if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir) {
		errno = ENAMETOOLONG;
		return -1;
	}
	slash = strrchr(dir, '/');
	if (!slash)
		return sync_open(".", O_DIRECTORY);
	slash[slash == dir] = '\0';
	return sync_open(dir, O_DIRECTORY);
}

int fsutil_replaceable(const char *path, const fsutil_output_t *o, char *err)
{
	char why[ERR_LEN];
	struct stat st;

	if (stat(path, &st) != 0)
		return errno == ENOENT ? 0 : err_set(err, ERR_IO, "%s: %s", path,
						     strerror(errno));
	if (S_ISDIR(st.st_mode))
		return err_set(err, ERR_ARG, "%s is a folder; %s (%s/%s, say)", path,
			       o->folder, path, o->example);
	if (!S_ISREG(st.st_mode))
		snprintf(why, sizeof why, "not a regular file");
	else if (o->ours(path, why, sizeof why) == 0)
		return 0;
	return err_set(err, ERR_ARG, "%s exists and is not %s (%s); %s", path, o->what,
		       why, o->refusal);
}
