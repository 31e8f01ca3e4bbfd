/* out.c - where train-head writes the head (train_head.h): --out, by
 * default head.h5 in the current folder, checked before any training so
 * that a run never trains for nothing; and that no two of its outputs are
 * one file, nor one a file of the store.  The folder must take a new file,
 * and a file already at that path is replaced only when it is a head that
 * train-head wrote: never a photo, a CSV or a Keras model of the user's;
 * asked again at the save, which replaces what is there then.
 * Through a symbolic link, both are the file the link names (head_save
 * writes it and keeps the link). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fsutil.h"
#include "error.h"
#include "head/head.h"
#include "store/featdb.h"
#include "train_head.h"

/* HDF5's signature, at the start of the files head_save writes. */
static const char hdf5_magic[8] = "\211HDF\r\n\032\n";

/* not_a_head, fsutil_output_t's ours: 0 when path is a head file
 * train-head wrote, else ERR_FORMAT and why not, in why (len bytes), or
 * ERR_IO when it could not be examined (its reader killed). */
static int not_a_head(const char *path, char *why, size_t len)
{
	char magic[8], err[ERR_LEN];
	head_t h = {0};
	head_meta_t m = {0};
	FILE *f = fopen(path, "rb");
	size_t got = f ? fread(magic, 1, sizeof magic, f) : 0;
	int rc = ERR_FORMAT, loaded;

	if (f)
		fclose(f);
	if (!f)
		snprintf(why, len, "%s", strerror(errno));
	else if (got < sizeof magic || memcmp(magic, hdf5_magic, sizeof magic) != 0)
		snprintf(why, len, "not an HDF5 file");
	/* In a child process, as predict reads a head: a damaged file must
	 * not take train-head down.  Its reader killed is no verdict. */
	else if ((loaded = head_load(path, &h, &m, err)) != 0)
		snprintf(why, len, "%s", err), rc = loaded == ERR_IO ? ERR_IO : ERR_FORMAT;
	else if (!m.classes || !m.fingerprint[0])
		snprintf(why, len, "an HDF5 file without train-head's class names "
			 "and fingerprint");
	else
		rc = 0;
	head_free(&h);
	head_meta_free(&m);
	return rc;
}

int th_out_check(const char *path, char *err)
{
	static const fsutil_output_t head_file = {
		.what = "a head file",
		.folder = "--out names the head's file",
		.example = "head.h5",
		.refusal = "train-head replaces only a head it wrote: move that file "
			   "away or give another --out",
		.ours = not_a_head,
	};
	char real[4096], dir[4096];

	if (!*path)
		return err_set(err, ERR_ARG, "--out: an empty path");
	/* The folder that takes the new file is that of the file a link
	 * names (fsutil_target), where the head is written. */
	if (fsutil_target(path, real, sizeof real) || fsutil_dir_of(real, dir, sizeof dir))
		return fsutil_path_error(path, errno, ERR_IO, err);
	if (access(dir, W_OK) != 0)
		return err_set(err, ERR_IO, "%s: cannot write the head there: %s: %s",
			       path, dir, strerror(errno));
	return fsutil_replaceable(path, &head_file, err);
}

int th_outputs_check(const th_opts_t *o, char *err)
{
	const char *opt[] = {"--out", "--history", "--confusion", "--trace"};
	const char *path[] = {o->out, o->history, o->confusion, o->trace};
	enum { N = sizeof opt / sizeof *opt };
	fsutil_dest_id_t id[N];
	int known[N];
	struct stat db;
	int have_db = o->db && stat(o->db, &db) == 0 && S_ISDIR(db.st_mode);

	for (int i = 0; i < N; i++) {
		/* A stream, a device or a path not told (the write says why)
		 * is no file here. */
		known[i] = path[i] && fsutil_dest_id(path[i], &id[i]) == 0;
		if (!known[i])
			continue;
		for (int j = 0; j < i; j++)
			if (known[j] && fsutil_same_dest(&id[j], &id[i]))
				return err_set(err, ERR_ARG, "%s %s and %s %s are one file: "
					       "one would replace the other; give each its "
					       "own", opt[j], path[j], opt[i], path[i]);
		/* The store's data.mdb or lock.mdb replaced by a CSV is the
		 * store lost; a history of its own beside them is the user's
		 * choice. */
		if (have_db && id[i].exists && id[i].dir.st_dev == db.st_dev &&
		    id[i].dir.st_ino == db.st_ino && featdb_is_store_file(id[i].name))
			return err_set(err, ERR_ARG, "%s %s is a file of the store %s: "
				       "writing it would destroy the store; give another "
				       "path", opt[i], path[i], o->db);
	}
	return 0;
}

int th_output_error(const char *opt, const char *path, int e, char *err)
{
	char named[4200];

	snprintf(named, sizeof named, "%s %s", opt, path);
	return fsutil_path_error(named, e, ERR_IO, err);
}

int th_output_check(const char *opt, const char *path, char *err)
{
	return fsutil_dest_writable(path) ? th_output_error(opt, path, errno, err) : 0;
}

int th_output_open(fsutil_whole_t *w, const char *opt, const char *path)
{
	if (fsutil_whole_open_now(w, path) == 0)
		return 0;
	if (errno != EAGAIN)
		return -1;
	/* Without this line the run would stop here, saying nothing. */
	fprintf(stderr, PROG ": %s %s is a FIFO that nothing reads yet; waiting "
		"for a reader\n", opt, path);
	return fsutil_whole_open(w, path);
}
