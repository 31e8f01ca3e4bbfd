/* fsutil.h - making a finished file durable: after writing a temporary
 * file, fsync it, rename it over the target, then fsync the folder that
 * holds the name, or a crash may bring back the old name or none. */
#ifndef COMMON_BASE_FSUTIL_H
#define COMMON_BASE_FSUTIL_H

/* fsutil_sync_file fsyncs the file path: 0, or -1 with errno set. */
int fsutil_sync_file(const char *path);

/* fsutil_sync_dir_of fsyncs the folder holding path ("." when path has no
 * slash, "/" for "/name"): 0, or -1 with errno set. */
int fsutil_sync_dir_of(const char *path);

#endif
