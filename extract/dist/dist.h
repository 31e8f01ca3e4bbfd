/* dist.h - extract across machines: the processes (ranks) of one MPI job
 * share one to-do list, each runs the network on its block of it, and rank 0,
 * the store's only writer, receives the others' vectors (docs/machines.md).
 *
 * Two implementations behind this header, one linked into bin/extract:
 * dist_mpi.c (Open MPI, when the build finds mpicc) and dist_serial.c (one
 * process, rank 0 of 1, no MPI); both use dist_block.c's division of the
 * list.  Functions return 0 or a negative ERR_* code
 * with the reason in err, as the rest of the project; a rank that fails after
 * dist_init must end the whole job with dist_abort, since the others would
 * otherwise wait for it forever.
 *
 * Every rank must run on machines of one byte order (vectors travel as raw
 * float32) and see the images at the same FACES_DIR path. */
#ifndef EXTRACT_DIST_H
#define EXTRACT_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* One batch of results on its way to rank 0: n images, consecutive in the
 * shared to-do list from index first.  Image k was extracted when why[k][0]
 * is 0 (its vector is the next row of feats), else skipped for reason why[k].
 * feats is (good, dim) float32, dim the tap's (net/model.h): 16 KB per
 * image at fc2. */
typedef struct dist_batch {
	uint64_t first;
	int n, dim;
	char (*why)[ERR_LEN]; /* (n) */
	float *feats;         /* (good, dim) */
} dist_batch_t;

/* dist_init starts MPI (when built with it) before anything else of main().
 * ERR_IO when MPI cannot start. */
int dist_init(int *argc, char ***argv, char *err);

/* dist_rank: this process's rank, 0 to dist_size() - 1; dist_size: the
 * number of ranks (1 without MPI or without mpirun). */
int dist_rank(void);
int dist_size(void);

/* dist_local_size: the ranks on this machine, this one included (1
 * without MPI): they share its CPUs. */
int dist_local_size(void);

/* dist_check_weights compares every rank's weights fingerprint (a collective
 * call): ERR_MISMATCH naming the first rank whose fingerprint differs from
 * rank 0's.  Every rank gets the same result. */
int dist_check_weights(const char *fingerprint, char *err);

/* dist_share_keys sends rank 0's to-do list (keys[n]) to every rank (a
 * collective call).  On the other ranks *out is a malloc'd array of *out_n
 * malloc'd keys, the caller's; on rank 0 *out is NULL and *out_n is n. */
int dist_share_keys(char *const *keys, size_t n, char ***out, size_t *out_n,
		    char *err);

/* dist_block: the part of a list of n items that rank takes of size ranks,
 * [*first, *first + *count): consecutive blocks in rank order whose sizes
 * differ by at most 1. */
void dist_block(size_t n, int rank, int size, size_t *first, size_t *count);

/* dist_send_batch (a rank other than 0) copies b and sends it to rank 0,
 * overlapping the transfer with the next batch's work; dist_send_done waits
 * for every batch sent to arrive. */
int dist_send_batch(const dist_batch_t *b, char *err);
int dist_send_done(char *err);

/* dist_recv_batch (rank 0) takes the next batch another rank sent, of
 * vectors of dim floats: *got is 1 and b is filled (pointing into a buffer
 * that the next call reuses), or *got is 0 when wait is 0 and nothing has
 * arrived yet. */
int dist_recv_batch(int wait, int dim, dist_batch_t *b, int *got, char *err);

/* dist_finalize ends MPI after a successful run; dist_abort ends the whole
 * job (every rank) with status, after this rank printed why. */
void dist_finalize(void);
void dist_abort(int status) __attribute__((noreturn));

#endif
