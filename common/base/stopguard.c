/* stopguard.c - a temporary file removed when the process is told to stop
 * (stopguard.h). */
#include "base/stopguard.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static const int stops[] = {SIGINT, SIGTERM, SIGHUP};
enum { NSTOPS = sizeof stops / sizeof *stops };
static struct sigaction stops_before[NSTOPS];
static char stop_tmp[4096];

static void on_stop(int sig)
{
	int saved = errno;

	unlink(stop_tmp);
	for (int i = 0; i < NSTOPS; i++)
		if (stops[i] == sig)
			sigaction(sig, &stops_before[i], NULL);
	/* Blocked until this handler returns, then delivered as before. */
	raise(sig);
	errno = saved;
}

void stopguard_arm(const char *tmp)
{
	struct sigaction sa = {.sa_handler = on_stop};

	snprintf(stop_tmp, sizeof stop_tmp, "%s", tmp);
	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < NSTOPS; i++)
		sigaddset(&sa.sa_mask, stops[i]);
	for (int i = 0; i < NSTOPS; i++)
		if (sigaction(stops[i], NULL, &stops_before[i]) == 0 &&
		    stops_before[i].sa_handler != SIG_IGN)
			sigaction(stops[i], &sa, NULL);
}

void stopguard_disarm(void)
{
	for (int i = 0; i < NSTOPS; i++)
		if (stops_before[i].sa_handler != SIG_IGN)
			sigaction(stops[i], &stops_before[i], NULL);
}
