/* fsutil.c - fsync of a file and of the folder holding a name, temporary
 * files' names, and what a program may replace (fsutil.h). */
#define _POSIX_C_SOURCE 200809L
#include "base/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
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

/* this_host puts the host's name into host (len bytes), "localhost" when
 * it has none; a '/' or '.' would not survive in a file name's field. */
static void this_host(char *host, size_t len)
{
	if (gethostname(host, len) != 0 || !*host)
		snprintf(host, len, "localhost");
	host[len - 1] = '\0';
	for (char *c = host; *c; c++)
		if (*c == '/' || *c == '.')
			*c = '_';
}

int fsutil_tmp_path(const char *path, char *tmp, size_t len)
{
	char host[256];
	int n;

	this_host(host, sizeof host);
	n = snprintf(tmp, len, "%s.tmp.%s.%ld", path, host, (long)getpid());
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* stale_pid: the process id that name gives after prefix (all digits, no
 * more than a pid_t holds), or 0. */
static pid_t stale_pid(const char *name, const char *prefix)
{
	size_t n = strlen(prefix);
	const char *p = name + n;
	long pid = 0;

	if (strncmp(name, prefix, n) != 0 || !*p)
		return 0;
	for (; *p; p++) {
		if (*p < '0' || *p > '9' || pid > INT_MAX / 10)
			return 0;
		pid = pid * 10 + (*p - '0');
	}
	return (pid_t)pid;
}

int fsutil_remove_stale(const char *path)
{
	char dir[4096], prefix[512], host[256], full[8192];
	const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
	struct dirent *e;
	struct stat st;
	int removed = 0, saved = errno;
	DIR *d;

	if (slash)
		snprintf(dir, sizeof dir, "%.*s", (int)(slash == path ? 1 : slash - path), path);
	else
		snprintf(dir, sizeof dir, ".");
	this_host(host, sizeof host);
	if (snprintf(prefix, sizeof prefix, "%s.tmp.%s.", base, host) >= (int)sizeof prefix ||
	    !(d = opendir(dir))) {
		errno = saved;
		return 0;
	}
	while ((e = readdir(d))) {
		pid_t pid = stale_pid(e->d_name, prefix);
		if (pid <= 0 || pid == getpid() || kill(pid, 0) == 0 || errno != ESRCH)
			continue;
		if (snprintf(full, sizeof full, "%s/%s", dir, e->d_name) >= (int)sizeof full ||
		    lstat(full, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		removed += unlink(full) == 0;
	}
	closedir(d);
	errno = saved;
	return removed;
}

/* own_stream: 1 or 2 when st (a stat of the path given) is the file behind
 * this process' standard output or error (/dev/stdout, /dev/fd/2, or the
 * log a shell redirected them to, named again), else 0.  Such a path is
 * written through that stream, at its place: opened anew it would be
 * truncated, and renamed over, the log replaced. */
static int own_stream(const struct stat *st)
{
	struct stat fs;

	for (int fd = 1; fd <= 2; fd++)
		if (fstat(fd, &fs) == 0 && fs.st_dev == st->st_dev && fs.st_ino == st->st_ino)
			return fd;
	return 0;
}

int fsutil_whole_open(fsutil_whole_t *w, const char *path)
{
	struct stat st, lst;
	char *real = NULL;
	int fd = 0;

	*w = (fsutil_whole_t){0};
	if (stat(path, &st) == 0 && ((fd = own_stream(&st)) || !S_ISREG(st.st_mode))) {
		w->direct = 1;
	} else if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode)) {
		/* A link to a file: the file is replaced, the link kept; a
		 * dangling one is written through. */
		if (!(real = realpath(path, NULL)))
			w->direct = 1;
	}
	int n = snprintf(w->path, sizeof w->path, "%s", real ? real : path);
	free(real);
	if (n >= (int)sizeof w->path ||
	    (!w->direct && fsutil_tmp_path(w->path, w->tmp, sizeof w->tmp))) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (fd) {
		int copy = dup(fd);
		if (copy < 0 || !(w->f = fdopen(copy, "w"))) {
			int e = errno;
			if (copy >= 0)
				close(copy);
			errno = e;
			return -1;
		}
		return 0;
	}
	if (w->direct)
		return (w->f = fopen(w->path, "w")) ? 0 : -1;
	fsutil_remove_stale(w->path);
	return (w->f = fopen(w->tmp, "w")) ? 0 : -1;
}

/* whole_failed remembers errno as w's first failure (EIO when a write
 * failed without one); -1 with errno that failure. */
static int whole_failed(fsutil_whole_t *w)
{
	if (!w->error)
		w->error = errno ? errno : EIO;
	errno = w->error;
	return -1;
}

int fsutil_whole_flush(fsutil_whole_t *w)
{
	if (w->error) {
		errno = w->error;
		return -1;
	}
	/* A write's failure sets errno and the stream's error flag; fflush
	 * then has nothing left to fail on, or fails itself. */
	if (!w->f || fflush(w->f) != 0 || ferror(w->f))
		return whole_failed(w);
	return 0;
}

int fsutil_whole_finish(fsutil_whole_t *w)
{
	if (!w->f) {
		if (w->finished && !w->error)
			return 0;
		errno = w->error ? w->error : EBADF;
		return -1;
	}
	/* A stream has nothing to fsync; a file's bytes reach the disk before
	 * its name does, or a crash could leave path naming an empty file. */
	int bad = fsutil_whole_flush(w) != 0 ||
		  (!w->direct && fsync(fileno(w->f)) != 0 && whole_failed(w));
	if (fclose(w->f) != 0 && !bad)
		bad = whole_failed(w);
	w->f = NULL;
	if (bad) {
		if (!w->direct)
			unlink(w->tmp);
		errno = w->error;
		return -1;
	}
	w->finished = 1;
	return 0;
}

int fsutil_whole_commit(fsutil_whole_t *w)
{
	if (fsutil_whole_finish(w) != 0)
		return -1;
	w->finished = 0;
	if (w->direct)
		return 0;
	if (rename(w->tmp, w->path) != 0) {
		whole_failed(w);
		unlink(w->tmp);
		errno = w->error;
		return -1;
	}
	(void)fsutil_sync_dir_of(w->path);
	return 0;
}

void fsutil_whole_abandon(fsutil_whole_t *w)
{
	int e = errno;

	if (w->f)
		fclose(w->f);
	if ((w->f || w->finished) && !w->direct)
		unlink(w->tmp);
	w->f = NULL;
	w->finished = 0;
	errno = e;
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
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, sizeof why, "not a regular file");
	} else {
		int rc = o->ours(path, why, sizeof why);
		if (rc == 0)
			return 0;
		/* Not examined (its reader killed): no verdict on what the
		 * file is. */
		if (rc == ERR_IO)
			return err_set(err, ERR_IO, "%s", why);
	}
	return err_set(err, ERR_ARG, "%s exists and is not %s (%s); %s", path, o->what,
		       why, o->refusal);
}
