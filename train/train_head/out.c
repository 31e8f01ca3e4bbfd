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
#include <stdlib.h>
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

/* One output file of the run: the option, its value and, for a sweep's
 * history, the file of one run. */
typedef struct output {
	const char *opt, *path;
	char run_path[4096];
	int run;
	fsutil_dest_id_t id;
	int known;
} output_t;

/* output_name puts into buf how a message names x: "--out h.h5", or
 * "--history h.csv's run 2 file, h.run2.csv". */
static const char *output_name(const output_t *x, char *buf, size_t len)
{
	if (x->run)
		snprintf(buf, len, "%s %s's run %d file, %s,", x->opt, x->path, x->run,
			 x->run_path);
	else
		snprintf(buf, len, "%s %s", x->opt, x->path);
	return buf;
}

/* check_output: x against the store and the outputs before it. */
static int check_output(const th_opts_t *o, const struct stat *db,
			const output_t *x, const output_t *before, int n,
			char *err)
{
	char a[8400], b[8400];

	for (int j = 0; j < n; j++)
		if (before[j].known && fsutil_same_dest(&before[j].id, &x->id))
			return err_set(err, ERR_ARG, "%s and %s are one file: one would "
				       "replace the other; give each its own",
				       output_name(&before[j], a, sizeof a),
				       output_name(x, b, sizeof b));
	/* The store's data.mdb or lock.mdb replaced by a CSV is the store
	 * lost; a history of its own beside them is the user's choice. */
	if (db && x->id.exists && x->id.dir.st_dev == db->st_dev &&
	    x->id.dir.st_ino == db->st_ino && featdb_is_store_file(x->id.name))
		return err_set(err, ERR_ARG, "%s is a file of the store %s: writing it "
			       "would destroy the store; give another path",
			       output_name(x, a, sizeof a), o->db);
	return 0;
}

int th_outputs_check(const th_opts_t *o, char *err)
{
	long runs = th_runs_of(o), nhist = !o->history ? 0 : runs > 1 ? runs : 1;
	size_t n = 3 + (size_t)nhist;
	output_t *x = calloc(n, sizeof *x);
	struct stat db;
	int have_db = o->db && stat(o->db, &db) == 0 && S_ISDIR(db.st_mode), rc = 0;

	if (!x)
		return err_set(err, ERR_NOMEM, "out of memory for %zu outputs", n);
	/* In the order the messages name them: --out, --history (each run's
	 * file in a sweep), --confusion, --trace. */
	x[0] = (output_t){.opt = "--out", .path = o->out};
	for (long r = 0; r < nhist; r++)
		x[1 + r] = (output_t){.opt = "--history", .path = o->history,
				      .run = runs > 1 ? (int)r + 1 : 0};
	x[n - 2] = (output_t){.opt = "--confusion", .path = o->confusion};
	x[n - 1] = (output_t){.opt = "--trace", .path = o->trace};
	/* A sweep writes a history per run beside the one named; beside a
	 * stream or a device there is none to write. */
	if (nhist && runs > 1 && fsutil_dest_id(o->history, &x[1].id) == 1)
		rc = err_set(err, ERR_ARG, "--history %s is not a file: a sweep writes "
			     "one history per run, beside the file named (h.csv: "
			     "h.run1.csv, h.run2.csv, ...); name a file", o->history);
	for (size_t i = 0; i < n && !rc; i++) {
		if (x[i].run && (rc = th_history_run_path(x[i].path, x[i].run,
							  x[i].run_path,
							  sizeof x[i].run_path, err)))
			break;
		/* A stream, a device or a path not told (the write says why)
		 * is no file here. */
		x[i].known = x[i].path &&
			     fsutil_dest_id(x[i].run ? x[i].run_path : x[i].path,
					    &x[i].id) == 0;
		if (x[i].known)
			rc = check_output(o, have_db ? &db : NULL, &x[i], x, (int)i, err);
	}
	free(x);
	return rc;
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
