/* dist_serial.c - dist.h for the build without MPI: one process, rank 0 of
 * 1, which never sends or receives. */
#include <stdlib.h>

#include "dist.h"

int dist_init(int *argc, char ***argv, char *err) { return 0; }
int dist_rank(void) { return 0; }
int dist_size(void) { return 1; }
int dist_local_size(void) { return 1; }
int dist_check_weights(const char *fingerprint, char *err) { return 0; }

int dist_share_keys(char *const *keys, size_t n, char ***out, size_t *out_n,
		    char *err)
{
	*out = NULL;
	*out_n = n;
	return 0;
}

int dist_send_batch(const dist_batch_t *b, char *err)
{
	return err_set(err, ERR_UNSUPPORTED, "built without MPI: nothing to send to");
}

int dist_send_done(char *err) { return 0; }

int dist_recv_batch(int wait, int dim, dist_batch_t *b, int *got, char *err)
{
	*got = 0;
	return wait ? err_set(err, ERR_UNSUPPORTED, "built without MPI: no batch "
			      "will arrive") : 0;
}

void dist_finalize(void) {}
void dist_abort(int status) { exit(status); }
