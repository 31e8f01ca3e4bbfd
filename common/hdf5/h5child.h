/* h5child.h - reading (or writing) an HDF5 file in a child process.
 *
 * libhdf5 1.10.8 (Debian 12's) crashes or loops on some damaged files,
 * inside its own parsers (H5HG_read, H5C_protect, H5O__msg_iterate_real:
 * the fuzzers found dozens).  A program that read a damaged weights or head
 * file in its own process would die by a signal, or hang.  So the reading
 * runs in a forked child: the parent gets the child's answer, or one error
 * line, "PATH: damaged HDF5 file (libhdf5 died of SIGSEGV)", whatever the
 * standard streams are, and never waits longer than a deadline.
 *
 * What the child read comes back through memory the parent mapped shared
 * before the fork (h5child_map: the weights, 528 MB, without a second
 * copy), or through a pipe the parent reads while the child writes (the
 * head, whose size is only known from the file).  The child ends with
 * _exit: no atexit handler, no flush of the parent's buffered output.
 * On Linux it dies with its parent (SIGKILL when the parent is gone), so
 * a program killed does not leave its reader or writer running.  Under
 * mpirun the child runs no MPI call. */
#ifndef COMMON_HDF5_H5CHILD_H
#define COMMON_HDF5_H5CHILD_H

#include <stddef.h>

/* The deadline, in seconds: $VGGFEAT_HDF5_TIMEOUT when set (tests), else
 * H5CHILD_TIMEOUT (loading the 553 MB weights takes seconds; a slow disk
 * may take a minute). */
#define H5CHILD_TIMEOUT 600

/* h5child_map returns bytes of zeroed memory shared with the children
 * forked after it (mmap MAP_SHARED | MAP_ANONYMOUS), or NULL.
 * h5child_unmap releases it; accepts NULL. */
void *h5child_map(size_t bytes);
void h5child_unmap(void *p, size_t bytes);

/* The two sides.  child runs in the child with fd the pipe's write end;
 * parent (may be NULL) runs in the parent meanwhile with fd its read end,
 * and must read until end of file (h5child_read) or fail. */
typedef int (*h5child_fn)(void *arg, int fd, char *err);

/* h5child_run forks, runs child in the child and parent in the parent, and
 * waits for the child.  Returns, in this order: ERR_IO "PATH: reading it
 * was stopped: its process was killed (SIGKILL...)" when another process
 * killed the child (the out-of-memory killer: no fault of the file's);
 * ERR_FORMAT "PATH: damaged HDF5 file (...)" when the child died by
 * another signal or passed the deadline (it is killed); the child's return value and error text; parent's.  Or
 * ERR_IO / ERR_NOMEM when the child cannot be started. */
int h5child_run(const char *path, h5child_fn child, h5child_fn parent,
		void *arg, char *err);

/* h5child_verdict: h5child_run of child on path (its arg, no parent
 * side), for a check of what the file at path is (fsutil.h's ours): its
 * return value, and its reason, when not 0, in why (len bytes). */
int h5child_verdict(const char *path, h5child_fn child, char *why, size_t len);

/* h5child_run_writer: h5child_run for a child that writes a file (the
 * whole-model file, net/model_file.h: a failed write leaves libhdf5 1.10
 * with a file it cannot close, which then dies with the child), no parent
 * side; path is the file's name for the messages, the one the user gave
 * (the child writes where it will: a temporary file).  A child that dies
 * by a signal or passes the deadline gives ERR_IO "PATH: writing failed:
 * libhdf5 died of SIGBUS"; otherwise the child's return value and error
 * text, or ERR_IO / ERR_NOMEM when the child cannot be started. */
int h5child_run_writer(const char *path, h5child_fn child, void *arg,
		       char *err);

/* h5child_write writes len bytes to fd (the child's side): 0 or -1.
 * h5child_read reads exactly len bytes from fd (the parent's side) before
 * the deadline: 0, or -1 at end of file, on error or past the deadline. */
int h5child_write(int fd, const void *buf, size_t len);
int h5child_read(int fd, void *buf, size_t len);

#endif
