/* infile.h - a file a user names, opened to read without blocking in the
 * open: a FIFO that nothing writes to holds open(2) forever, so a FIFO
 * named on a command line hung the program before this.  Pipes and
 * /dev/stdin (predict <(cat a.jpg), /dev/stdin < a.jpg) read as before:
 * blocking is restored before the first read, so a slow writer's bytes all
 * arrive; a FIFO with no writer reads as empty at once, and
 * infile_empty names it.  One home for that open, for every program. */
#ifndef COMMON_BASE_INFILE_H
#define COMMON_BASE_INFILE_H

#include <stdio.h>
#include <sys/stat.h>

/* infile_open opens path to read (close-on-exec, blocking reads) into *fd,
 * which is the caller's to close, and its fstat into *st.  Returns 0,
 * ERR_MISSING (no such file) or ERR_IO (any other failure), with
 * "PATH: reason" in err. */
int infile_open(const char *path, int *fd, struct stat *st, char *err);

/* infile_fopen = infile_open as a stdio stream ("r") in *f, the caller's
 * to fclose.  Same returns, and ERR_NOMEM. */
int infile_fopen(const char *path, FILE **f, struct stat *st, char *err);

/* infile_empty says what an input that gave no byte at all is, st its
 * infile_open's: for a FIFO or pipe, ERR_IO and "PATH: a FIFO or pipe with
 * nothing written to it" (never "an empty file", which would send the user
 * looking at the wrong thing); else 0, the empty file the caller's to
 * judge. */
int infile_empty(const char *path, const struct stat *st, char *err);

#endif
