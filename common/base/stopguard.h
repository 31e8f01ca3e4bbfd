/* stopguard.h - a large temporary file removed when the process is told to
 * stop while it is written (Ctrl-C's SIGINT, kill's SIGTERM, a closed
 * terminal's SIGHUP).  Otherwise seconds and hundreds of megabytes of it
 * (the whole model's 537 MB, an export's) would stay until a run writing
 * the same name removed it (fsutil_remove_stale), and another name never
 * comes back for it.  The signal then does what it did before, the
 * process ended by it.  A signal the process was started to ignore
 * (nohup's SIGHUP, a background job's SIGINT) is left ignored.  SIGKILL
 * cannot be caught: that leaves the file for the next run to remove.
 * One file at a time, for the process: not for threads that write two. */
#ifndef COMMON_BASE_STOPGUARD_H
#define COMMON_BASE_STOPGUARD_H

/* stopguard_arm: from now, the stops remove tmp (copied; at most 4095
 * bytes) before they end the process. */
void stopguard_arm(const char *tmp);

/* stopguard_disarm: the stops do what they did before stopguard_arm. */
void stopguard_disarm(void);

#endif
