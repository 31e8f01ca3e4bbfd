/* out.c - where train-head writes the head (train_head.h): --out, by
 * default head.h5 in the current folder, checked before any training so
 * that a run never trains for nothing.  The folder must take a new file,
 * and a file already at that path is replaced only when it is a head that
 * train-head wrote: never a photo, a CSV or a Keras model of the user's. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "head/head.h"
#include "train_head.h"

/* HDF5's signature, at the start of the files head_save writes. */
static const char hdf5_magic[8] = "\211HDF\r\n\032\n";

/* not_a_head: NULL when path is a head file train-head wrote, else why
 * not, in why (len bytes). */
static const char *not_a_head(const char *path, char *why, size_t len)
{
	char magic[8], err[ERR_LEN];
	head_t h = {0};
	head_meta_t m = {0};
	FILE *f = fopen(path, "rb");
	size_t got = f ? fread(magic, 1, sizeof magic, f) : 0;

	if (f)
		fclose(f);
	if (!f)
		snprintf(why, len, "%s", strerror(errno));
	else if (got < sizeof magic || memcmp(magic, hdf5_magic, sizeof magic) != 0)
		snprintf(why, len, "not an HDF5 file");
	/* In a child process, as predict reads a head: a damaged file must
	 * not take train-head down. */
	else if (head_load(path, &h, &m, err) != 0)
		snprintf(why, len, "%s", err);
	else if (!m.classes || !m.fingerprint[0])
		snprintf(why, len, "an HDF5 file without train-head's class names "
			 "and fingerprint");
	else
		why = NULL;
	head_free(&h);
	head_meta_free(&m);
	return why;
}

int th_out_check(const char *path, char *err)
{
	char dir[4096], why[ERR_LEN];
	const char *slash = strrchr(path, '/');
	struct stat st;

	if (!*path)
		return err_set(err, ERR_ARG, "--out: an empty path");
	if (slash == path)
		snprintf(dir, sizeof dir, "/");
	else if (slash)
		snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
	else
		snprintf(dir, sizeof dir, ".");
	if (access(dir, W_OK) != 0)
		return err_set(err, ERR_IO, "%s: cannot write the head there: %s: %s",
			       path, dir, strerror(errno));
	if (stat(path, &st) != 0)
		return errno == ENOENT ? 0
				       : err_set(err, ERR_IO, "%s: %s", path, strerror(errno));
	if (S_ISDIR(st.st_mode))
		return err_set(err, ERR_ARG, "%s is a folder; --out names the head's "
			       "file (%s/head.h5, say)", path, path);
	if (!S_ISREG(st.st_mode) || not_a_head(path, why, sizeof why))
		return err_set(err, ERR_ARG, "%s exists and is not a head file (%s); "
			       "train-head replaces only a head it wrote: move that "
			       "file away or give another --out", path,
			       S_ISREG(st.st_mode) ? why : "not a regular file");
	return 0;
}
