/* fsutil.h - making a finished file durable: after writing a temporary
 * file, fsync it, rename it over the target, then fsync the folder that
 * holds the name, or a crash may bring back the old name or none; which
 * file a path given through a symbolic link names; the temporary file's
 * name, and the removal of those killed runs left; and what that rename
 * may replace. */
#ifndef COMMON_BASE_FSUTIL_H
#define COMMON_BASE_FSUTIL_H

#include <stddef.h>
#include <sys/stat.h>
#include <stdio.h>

/* fsutil_sync_file fsyncs the file path: 0, or -1 with errno set. */
int fsutil_sync_file(const char *path);

/* fsutil_sync_dir_of fsyncs the folder holding path ("." when path has no
 * slash, "/" for "/name"): 0, or -1 with errno set. */
int fsutil_sync_dir_of(const char *path);

/* fsutil_dir_of puts into dir (len bytes) the folder holding path: "."
 * when path has no slash, "/" for "/name".  0, or -1 with errno
 * ENAMETOOLONG. */
int fsutil_dir_of(const char *path, char *dir, size_t len);

/* fsutil_target puts into real (len bytes) the file that writing path
 * replaces: path itself, or, when path is a symbolic link (or a chain of
 * them), the file the last one names, there or not (a dangling link's
 * file is created where it points).  So a link is kept and its file
 * replaced, as cp, a shell's > and h5py's File(path, "w") do; a rename
 * over path would have replaced the link.  A link's relative name is
 * taken from the link's folder.  0, or -1 with errno set: ELOOP (more
 * than 40 links), ENAMETOOLONG, or lstat's or readlink's (EACCES,
 * ENOTDIR...); a missing folder on the way is no error here (the write
 * says so). */
int fsutil_target(const char *path, char *real, size_t len);

/* fsutil_within: whether path, which need not exist yet (its nearest
 * existing folder is resolved, links and all), lies inside the folder dir
 * (dir itself included).  1, with the first name below dir on the way to
 * path in first (len bytes; "" when path is dir); 0 when it does not;
 * -1 with errno when dir or path's folders cannot be resolved. */
int fsutil_within(const char *path, const char *dir, char *first, size_t len);

/* fsutil_tmp_path puts into tmp (len bytes) the name of the temporary
 * file a program writes before renaming it over path: "PATH.tmp.HOST.PID",
 * this host's name and this process' id, so that runs on several machines
 * writing into one shared folder never take one another's, and
 * fsutil_remove_stale knows a killed run's.  0, or -1 with errno set
 * (ENAMETOOLONG). */
int fsutil_tmp_path(const char *path, char *tmp, size_t len);

/* fsutil_path_error: err_set's "PATH: REASON" for path, which failed
 * with errno e, and what to do when the cause is the path's own: for
 * ELOOP (a symbolic link that leads back to itself, alone "Too many levels
 * of symbolic links") "; a symbolic link on the way leads back to itself:
 * fix the link or name another path".  Returns code. */
int fsutil_path_error(const char *path, int e, int code, char *err);

/* fsutil_remove_stale removes the temporary files of path (fsutil_tmp_path's
 * names, regular files) that runs on this host left when they were killed:
 * those whose process is gone.  Another host's, a living process' (or one
 * whose id was taken again) and anything else are left.  Returns how many
 * were removed; a folder that cannot be read removes none. */
int fsutil_remove_stale(const char *path);

/* Where a file written whole goes (a head, a whole model, an export, and
 * the text files below): its temporary file is written, then renamed over
 * the file the path names (fsutil_target: a link kept, its file
 * replaced), in that file's folder so that the rename stays on one file
 * system.  The path as given is kept for the messages. */
typedef struct fsutil_dest {
	char given[4096]; /* the path as the user gave it: errors name it */
	char path[4096];  /* the file replaced (fsutil_target of given) */
	char tmp[4200];   /* written first: fsutil_tmp_path of path */
} fsutil_dest_t;

/* fsutil_dest_open fills d for given and removes the stale temporary
 * files of d->path (fsutil_remove_stale), and of given when that is a
 * link (a run's from before the link was followed); it creates nothing:
 * the caller writes d->tmp as it will (open, stdio, libhdf5 in a child).
 * 0, or -1 with errno set (fsutil_target's). */
int fsutil_dest_open(fsutil_dest_t *d, const char *given);

/* fsutil_dest_commit fsyncs d->tmp, once written and closed, renames it
 * over d->path, then fsyncs the folder (best effort: the file is in place
 * already).  0, or -1 with errno set, d->tmp left for fsutil_dest_failed
 * and d->path as it was. */
int fsutil_dest_commit(const fsutil_dest_t *d);

/* fsutil_dest_abandon removes d->tmp, errno kept.  fsutil_dest_failed
 * does too, for a write that failed with err already saying why
 * ("GIVEN: writing failed: No space left on device", ERR_LEN bytes), and
 * adds " (the earlier GIVEN is unchanged)" when a file is at d->path: the
 * one the user had, which the failure left as it was.  Returns code. */
void fsutil_dest_abandon(const fsutil_dest_t *d);
int fsutil_dest_failed(const fsutil_dest_t *d, int code, char *err);

/* A text file that appears whole or not at all (a history, a confusion
 * matrix, the tuner's cache): written through stdio to its temporary file
 * (an fsutil_dest_t's), and renamed over its file by fsutil_whole_commit;
 * a link to a file, or a dangling one, is kept and its file written.  A
 * path that is not a file (a FIFO, a terminal, /dev/null) is written
 * directly, as it comes: a stream has no whole, and a device is never
 * replaced.  A path that is this process' standard output or error
 * (/dev/stdout, or the log file a shell sent it to) is written through
 * that stream, at its place: never truncated, never renamed over.
 * The first write that fails is remembered with its errno, which the
 * calls below return. */
typedef struct fsutil_whole {
	FILE *f;
	fsutil_dest_t dest; /* dest.given: the path; dest.path the file written */
	int direct;   /* dest.path itself is written (dest.tmp unused) */
	int finished; /* closed, waiting for the commit's rename */
	int error;    /* the first failure's errno, 0 while none */
} fsutil_whole_t;

/* fsutil_whole_open opens w's temporary file (fsutil_dest_open: the
 * stale ones of path's file removed), or path itself when it is written
 * directly: 0, or -1 with errno set.  A FIFO that no process reads yet
 * waits for a reader, as open(2) does; fsutil_whole_open_now fails on it
 * at once instead, with EAGAIN (a device or a socket keeps open(2)'s
 * errno, ENXIO among them), so that the caller can say why it waits
 * before it calls fsutil_whole_open. */
int fsutil_whole_open(fsutil_whole_t *w, const char *path);
int fsutil_whole_open_now(fsutil_whole_t *w, const char *path);

/* fsutil_whole_flush flushes what was written so far: 0, or -1 with errno
 * the first failure's (a full disk), for the caller to report now or at
 * the commit. */
int fsutil_whole_flush(fsutil_whole_t *w);

/* fsutil_whole_finish fsyncs and closes the file, its rename left for the
 * commit (a program that keeps many such files until one moment, a
 * sweep's histories, holds no descriptor for them meanwhile): 0, or -1
 * with errno the first failure's, the temporary file removed.
 * fsutil_whole_commit finishes it when not yet done and renames it over
 * path's file (fsutil_dest_commit): 0, or -1 with errno the first
 * failure's, the temporary file removed and that file as it was.
 * fsutil_whole_abandon closes and removes the temporary file, path as it
 * was.  All three accept a w never opened or already ended. */
int fsutil_whole_finish(fsutil_whole_t *w);
int fsutil_whole_commit(fsutil_whole_t *w);
void fsutil_whole_abandon(fsutil_whole_t *w);

/* fsutil_whole_failed: fsutil_dest_failed for w's commit that failed,
 * err already saying why: " (the earlier GIVEN is unchanged)" added when
 * a file is at the path, which the failure left as it was.  Nothing added
 * for a path written directly (a stream, a device: what was written is
 * there).  Returns code. */
int fsutil_whole_failed(const fsutil_whole_t *w, int code, char *err);

/* Where a file written whole at a path (fsutil_whole_open,
 * fsutil_dest_open) goes: the folder of the file it replaces
 * (fsutil_target), its name there, and the file itself when there is one.
 * Two paths with one place write one file, whatever they say (links, ./x
 * and x, hard links): the second write replaces the first. */
typedef struct fsutil_dest_id {
	struct stat dir;  /* the folder */
	char name[256];   /* the file's name in it */
	int exists;       /* file is the file's */
	struct stat file;
} fsutil_dest_id_t;

/* fsutil_dest_id fills id for path: 0; 1 when path is a stream or a
 * device, written as named (any number of outputs may share one); -1 with
 * errno when it cannot be told (a missing folder: the write says so). */
int fsutil_dest_id(const char *path, fsutil_dest_id_t *id);

/* fsutil_dest_writable: 0 when a file written whole at path (through a
 * link, at the file it names) can be made there: its folder exists and
 * takes new files, or path is a stream or a device; else -1 with errno (a
 * missing folder, a link loop, a read-only folder).  For outputs written
 * after the work, checked before it. */
int fsutil_dest_writable(const char *path);

/* fsutil_same_dest: whether a and b (fsutil_dest_id's) are one file. */
int fsutil_same_dest(const fsutil_dest_id_t *a, const fsutil_dest_id_t *b);

/* A program's output file, and how its refusals read. */
typedef struct fsutil_output {
	const char *what;    /* "a featdb export" */
	const char *folder;  /* "--out names the export's file" */
	const char *example; /* "feats.h5" */
	/* "export replaces only a file it wrote: move that file away or give
	 * another --out" */
	const char *refusal;
	/* 0 when the regular file path is one the program wrote, else nonzero
	 * with why not in why (len bytes); ERR_IO when it could not be
	 * examined (its reader killed), which is no verdict on the file. */
	int (*ours)(const char *path, char *why, size_t len);
} fsutil_output_t;

/* fsutil_replaceable: 0 when the program may put its output at path:
 * nothing is there yet (a dangling link included), or a regular file
 * o->ours accepts.  What is looked at is the file path names
 * (fsutil_target), the one the write would replace: a link to a photo is
 * a photo.  Else ERR_ARG, err "PATH is a folder; FOLDER (PATH/EXAMPLE,
 * say)" or "PATH exists and is not WHAT (why); REFUSAL", PATH written
 * "PATH (a link to FILE)" for a link, or ERR_IO when path cannot be
 * examined: never a photo, another program's file or a model of the
 * user's. */
int fsutil_replaceable(const char *path, const fsutil_output_t *o, char *err);

#endif
