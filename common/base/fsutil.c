/* fsutil.c - fsync of a file and of the folder holding a name, the file a
 * link names, temporary files' names, files written whole, and what a
 * program may replace (fsutil.h). */
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

int fsutil_dir_of(const char *path, char *dir, size_t len)
{
	const char *slash = strrchr(path, '/');
	int n;

	if (!slash)
		n = snprintf(dir, len, ".");
	else
		n = snprintf(dir, len, "%.*s", (int)(slash == path ? 1 : slash - path), path);
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int fsutil_sync_dir_of(const char *path)
{
	char dir[4096];

	if (fsutil_dir_of(path, dir, sizeof dir))
		return -1;
	return sync_open(dir, O_DIRECTORY);
}

/* The links fsutil_target follows before giving up, as Linux's
 * path walk does (its MAXSYMLINKS). */
#define LINK_HOPS 40

int fsutil_target(const char *path, char *real, size_t len)
{
	char cur[4096], next[4096], to[4096];
	struct stat st;

	if (snprintf(cur, sizeof cur, "%s", path) >= (int)sizeof cur)
		goto too_long;
	for (int hops = 0;; hops++) {
		if (lstat(cur, &st) != 0) {
			if (errno != ENOENT)
				return -1;
			break; /* nothing there: cur is the file to create */
		}
		if (!S_ISLNK(st.st_mode))
			break;
		if (hops == LINK_HOPS) {
			errno = ELOOP;
			return -1;
		}
		ssize_t n = readlink(cur, to, sizeof to);
		if (n < 0)
			return -1;
		if ((size_t)n >= sizeof to)
			goto too_long;
		to[n] = '\0';
		/* A relative name is the link's folder's: the kernel then walks
		 * "folder/name" as it walks the link itself. */
		const char *slash = strrchr(cur, '/');
		int m = to[0] == '/' || !slash
			? snprintf(next, sizeof next, "%s", to)
			: snprintf(next, sizeof next, "%.*s/%s", (int)(slash - cur), cur, to);
		if (m < 0 || (size_t)m >= sizeof next)
			goto too_long;
		memcpy(cur, next, (size_t)m + 1);
	}
	if (snprintf(real, len, "%s", cur) < (int)len)
		return 0;
too_long:
	errno = ENAMETOOLONG;
	return -1;
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

/* last_name: where the last name of path's first *n bytes begins, the
 * slashes after it passed over (*n cut to its end): "a/b//" 2, "b" 0,
 * "/b" 1. */
static size_t last_name(const char *path, size_t *n)
{
	size_t i;

	while (*n > 1 && path[*n - 1] == '/')
		(*n)--;
	for (i = *n; i > 0 && path[i - 1] != '/'; i--)
		;
	return i;
}

int fsutil_within(const char *path, const char *dir, char *first, size_t len)
{
	char d[PATH_MAX], p[PATH_MAX], at[PATH_MAX];
	const char *tail = "", *below;
	size_t dn;

	if (!realpath(dir, d))
		return -1;
	if (snprintf(at, sizeof at, "%s", path) >= (int)sizeof at) {
		errno = ENAMETOOLONG;
		return -1;
	}
	/* Up to the nearest folder that exists; the names below it (tail,
	 * at the same offset in path as in at) are taken as written. */
	while (!realpath(at, p)) {
		size_t n = strlen(at), i = last_name(at, &n);
		if (errno != ENOENT)
			return -1;
		tail = path + i;
		if (i == 0)
			snprintf(at, sizeof at, ".");
		else
			at[i == 1 ? 1 : i - 1] = '\0'; /* "/name": the root */
	}
	dn = strcmp(d, "/") == 0 ? 0 : strlen(d);
	if (strncmp(p, d, dn) != 0 || (p[dn] != '\0' && p[dn] != '/'))
		return 0;
	below = p[dn] == '/' ? p + dn + 1 : p + dn;
	if (!*below)
		below = tail;
	snprintf(first, len, "%.*s", (int)strcspn(below, "/"), below);
	return 1;
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

	this_host(host, sizeof host);
	if (fsutil_dir_of(path, dir, sizeof dir) ||
	    snprintf(prefix, sizeof prefix, "%s.tmp.%s.", base, host) >= (int)sizeof prefix ||
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

int fsutil_path_error(const char *path, int e, int code, char *err)
{
	return err_set(err, code, "%s: %s%s", path, strerror(e),
		       e == ELOOP ? "; a symbolic link on the way leads back to "
				    "itself: fix the link or name another path" : "");
}

int fsutil_dest_open(fsutil_dest_t *d, const char *given)
{
	if (snprintf(d->given, sizeof d->given, "%s", given) >= (int)sizeof d->given) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (fsutil_target(given, d->path, sizeof d->path) ||
	    fsutil_tmp_path(d->path, d->tmp, sizeof d->tmp))
		return -1;
	/* A run killed while writing left its temporary file: gone now, or
	 * they would pile up until the disk is full.  Through a link, beside
	 * the link's own name too: a run's from before the link was made, or
	 * from before 2026-12-07, when the link itself was renamed over. */
	fsutil_remove_stale(d->path);
	if (strcmp(d->path, given) != 0)
		fsutil_remove_stale(given);
	return 0;
}

int fsutil_dest_commit(const fsutil_dest_t *d)
{
	/* The bytes on the disk before the name, or a crash could leave the
	 * file's name on an empty or partial file. */
	if (fsutil_sync_file(d->tmp) != 0 || rename(d->tmp, d->path) != 0)
		return -1;
	(void)fsutil_sync_dir_of(d->path);
	return 0;
}

void fsutil_dest_abandon(const fsutil_dest_t *d)
{
	int e = errno;

	unlink(d->tmp);
	errno = e;
}

int fsutil_dest_failed(const fsutil_dest_t *d, int code, char *err)
{
	struct stat st;

	fsutil_dest_abandon(d);
	if (err && stat(d->path, &st) == 0 && S_ISREG(st.st_mode)) {
		char note[4200];
		size_t n = strlen(err), m = (size_t)snprintf(note, sizeof note,
							     " (the earlier %s is unchanged)",
							     d->given);
		/* Cut short when it does not fit: the failure's reason goes
		 * first. */
		if (n + m >= ERR_LEN)
			m = n < ERR_LEN - 1 ? ERR_LEN - 1 - n : 0;
		memcpy(err + n, note, m);
		err[n + m] = '\0';
	}
	return code;
}

int fsutil_dest_id(const char *path, fsutil_dest_id_t *id)
{
	char real[4096], dir[4096];
	struct stat st;

	*id = (fsutil_dest_id_t){0};
	/* As fsutil_whole_open tells them: written as named. */
	if (stat(path, &st) == 0 && (own_stream(&st) || !S_ISREG(st.st_mode)))
		return 1;
	if (fsutil_target(path, real, sizeof real) ||
	    fsutil_dir_of(real, dir, sizeof dir) || stat(dir, &id->dir) != 0)
		return -1;
	const char *slash = strrchr(real, '/');
	if (snprintf(id->name, sizeof id->name, "%s", slash ? slash + 1 : real) >=
	    (int)sizeof id->name) {
		errno = ENAMETOOLONG;
		return -1;
	}
	id->exists = stat(real, &id->file) == 0;
	return 0;
}

int fsutil_dest_writable(const char *path)
{
	char real[4096], dir[4096];
	fsutil_dest_id_t id;
	int rc = fsutil_dest_id(path, &id);

	if (rc)
		return rc < 0 ? -1 : 0;
	if (fsutil_target(path, real, sizeof real) || fsutil_dir_of(real, dir, sizeof dir))
		return -1;
	return access(dir, W_OK) == 0 ? 0 : -1;
}

int fsutil_same_dest(const fsutil_dest_id_t *a, const fsutil_dest_id_t *b)
{
	if (a->exists && b->exists)
		return a->file.st_dev == b->file.st_dev && a->file.st_ino == b->file.st_ino;
	return a->dir.st_dev == b->dir.st_dev && a->dir.st_ino == b->dir.st_ino &&
	       strcmp(a->name, b->name) == 0;
}

/* open_direct opens path, written directly, for writing: a FIFO without
 * a reader waits for one, or, when !wait (given for FIFOs alone), fails
 * with EAGAIN.  A stream, or NULL with errno set. */
static FILE *open_direct(const char *path, int wait)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC | (wait ? 0 : O_NONBLOCK));
	FILE *f;

	if (fd < 0) {
		if (!wait && errno == ENXIO) /* open(2)'s word for no reader */
			errno = EAGAIN;
		return NULL;
	}
	/* Written as any file from here: a full pipe waits for its reader. */
	if ((!wait && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) ||
	    !(f = fdopen(fd, "w"))) {
		int e = errno;
		close(fd);
		errno = e;
		return NULL;
	}
	return f;
}

static int whole_open(fsutil_whole_t *w, const char *path, int wait)
{
	struct stat st;
	int fd = 0;

	*w = (fsutil_whole_t){0};
	/* A stream or a device is written as it is named: followed through
	 * its links by the kernel (/dev/stdout's lead to /proc's, which name
	 * no file to replace). */
	if (stat(path, &st) == 0 && ((fd = own_stream(&st)) || !S_ISREG(st.st_mode))) {
		w->direct = 1;
		if (snprintf(w->dest.given, sizeof w->dest.given, "%s", path) >=
		    (int)sizeof w->dest.given) {
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(w->dest.path, w->dest.given, sizeof w->dest.path);
	} else if (fsutil_dest_open(&w->dest, path)) {
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
	w->f = w->direct ? open_direct(w->dest.path, wait || !S_ISFIFO(st.st_mode))
		     : fopen(w->dest.tmp, "w");
	return w->f ? 0 : -1;
}

int fsutil_whole_open(fsutil_whole_t *w, const char *path)
{
	return whole_open(w, path, 1);
}

int fsutil_whole_open_now(fsutil_whole_t *w, const char *path)
{
	return whole_open(w, path, 0);
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
			fsutil_dest_abandon(&w->dest);
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
	if (fsutil_dest_commit(&w->dest) != 0) {
		whole_failed(w);
		fsutil_dest_abandon(&w->dest);
		return -1;
	}
	return 0;
}

void fsutil_whole_abandon(fsutil_whole_t *w)
{
	int e = errno;

	if (w->f)
		fclose(w->f);
	if ((w->f || w->finished) && !w->direct)
		unlink(w->dest.tmp);
	w->f = NULL;
	w->finished = 0;
	errno = e;
}

int fsutil_whole_failed(const fsutil_whole_t *w, int code, char *err)
{
	return w->direct ? code : fsutil_dest_failed(&w->dest, code, err);
}

/* folder_named: the refusal of an output path that is a folder, with the
 * file to name instead: one inside it, or for a store's folder (LMDB's
 * data.mdb; a file there would travel with the store) one beside it. */
static int folder_named(const char *path, const char *named,
			const fsutil_output_t *o, char *err)
{
	char data[4200];
	size_t n = strlen(path), i = last_name(path, &n);

	snprintf(data, sizeof data, "%s/data.mdb", path);
	if (access(data, F_OK) != 0)
		return err_set(err, ERR_ARG, "%s is a folder; %s (%s/%s, say)", named,
			       o->folder, path, o->example);
	return err_set(err, ERR_ARG, "%s is a feature store's folder; %s (%.*s%s "
		       "beside it, say)", named, o->folder, (int)i, path, o->example);
}

int fsutil_replaceable(const char *path, const fsutil_output_t *o, char *err)
{
	char why[ERR_LEN], real[4096], named[8300];
	struct stat st;

	/* The kernel follows the links to the file a write replaces (and
	 * /dev/stdout's to the stream, which fsutil_target cannot name). */
	if (stat(path, &st) != 0)
		return errno == ENOENT ? 0 : fsutil_path_error(path, errno, ERR_IO, err);
	if (fsutil_target(path, real, sizeof real) == 0 && strcmp(real, path) != 0)
		snprintf(named, sizeof named, "%s (a link to %s)", path, real);
	else
		snprintf(named, sizeof named, "%s", path);
	if (S_ISDIR(st.st_mode))
		return folder_named(path, named, o, err);
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
	return err_set(err, ERR_ARG, "%s exists and is not %s (%s); %s", named, o->what,
		       why, o->refusal);
}
