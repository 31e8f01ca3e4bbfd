/* dist_mpi.c - dist.h over MPI (Open MPI), for bin/extract built where mpicc
 * exists.
 *
 * MPI starts only when a launcher started this process (mpirun, or Slurm's
 * srun with PMIx/PMI): a plain `extract ...` stays a plain single process.
 * MPI's default error handler (MPI_ERRORS_ARE_FATAL) stays in force, so a
 * failed MPI call or a rank that dies ends the whole job; the MPI calls'
 * return values are therefore not checked here.
 *
 * A batch travels as one message of bytes, native byte order:
 *   u64 first, i32 n, i32 good, n bytes (1 = extracted, 0 = skipped),
 *   (n - good) * ERR_LEN bytes of reasons, good * dim float32 (dim the tap's).
 *
 * Test hook: with VGGFEAT_TEST_DIE_AFTER=N in the environment, the last rank
 * (when it is not rank 0) kills itself with SIGKILL right after its N-th
 * batch reached rank 0, so that tests can show a rank dying mid-run.  Unset,
 * it does nothing. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "dist.h"

#define TAG_BATCH 1
#define HEAD 16
#define FP_LEN 17 /* weights_t.fingerprint */

static int g_on, g_rank, g_size = 1, g_local = 1;
static long g_die_after = -1, g_sent;

/* Two send buffers: one in flight while the next batch is packed. */
static uint8_t *g_sbuf[2];
static size_t g_scap[2];
static MPI_Request g_sreq[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
/* The message received, and the batch unpacked from it. */
static uint8_t *g_rbuf, *g_obuf;
static size_t g_rcap, g_ocap;

int dist_init(int *argc, char ***argv, char *err)
{
	static const char *launched[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK",
					 "PMI_RANK", "PMI_SIZE"};
	int by_launcher = 0;

	for (size_t i = 0; i < sizeof launched / sizeof *launched; i++)
		by_launcher |= getenv(launched[i]) != NULL;
	if (!by_launcher)
		return 0;
	if (MPI_Init(argc, argv) != MPI_SUCCESS)
		return err_set(err, ERR_IO, "MPI_Init failed");
	g_on = 1;
	MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
	MPI_Comm_size(MPI_COMM_WORLD, &g_size);
	MPI_Comm node;
	if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0,
				MPI_INFO_NULL, &node) == MPI_SUCCESS) {
		MPI_Comm_size(node, &g_local);
		MPI_Comm_free(&node);
	}
	const char *die = getenv("VGGFEAT_TEST_DIE_AFTER");
	if (die && g_size > 1 && g_rank == g_size - 1)
		g_die_after = strtol(die, NULL, 10);
	return 0;
}

int dist_rank(void) { return g_rank; }
int dist_size(void) { return g_size; }
int dist_local_size(void) { return g_local; }

int dist_check_weights(const char *fingerprint, char *err)
{
	char mine[FP_LEN] = {0}, *all;

	if (g_size == 1)
		return 0;
	if (!(all = malloc((size_t)g_size * FP_LEN)))
		return err_set(err, ERR_NOMEM, "out of memory");
	strncpy(mine, fingerprint, FP_LEN - 1);
	MPI_Allgather(mine, FP_LEN, MPI_CHAR, all, FP_LEN, MPI_CHAR, MPI_COMM_WORLD);
	int rc = 0;
	for (int r = 1; r < g_size && !rc; r++)
		if (memcmp(all + (size_t)r * FP_LEN, all, FP_LEN) != 0)
			rc = err_set(err, ERR_MISMATCH,
				     "rank %d loaded weights with fingerprint %s, rank 0 %s; "
				     "every rank needs the same weights file",
				     r, all + (size_t)r * FP_LEN, all);
	free(all);
	return rc;
}

/* Broadcasts len bytes from rank 0 in pieces MPI's int counts can hold. */
static void bcast_bytes(char *buf, uint64_t len)
{
	for (uint64_t off = 0; off < len; off += INT_MAX / 2) {
		uint64_t k = len - off < INT_MAX / 2 ? len - off : INT_MAX / 2;
		MPI_Bcast(buf + off, (int)k, MPI_CHAR, 0, MPI_COMM_WORLD);
	}
}

int dist_share_keys(char *const *keys, size_t n, char ***out, size_t *out_n,
		    char *err)
{
	/* head is (number of keys, bytes of the keys with their NULs) */
	uint64_t head[2] = {n, 0};
	char *buf = NULL, **list = NULL;
	int ret;

	*out = NULL;
	*out_n = n;
	if (g_size == 1)
		return 0;
	if (g_rank == 0)
		for (size_t i = 0; i < n; i++)
			head[1] += strlen(keys[i]) + 1;
	MPI_Bcast(head, 2, MPI_UINT64_T, 0, MPI_COMM_WORLD);
	if (head[1] > SIZE_MAX - 1 || !(buf = malloc(head[1] + 1)))
		return err_set(err, ERR_NOMEM, "out of memory for the to-do list");
	if (g_rank == 0) {
		char *p = buf;
		for (size_t i = 0; i < n; i++) {
			size_t l = strlen(keys[i]) + 1;
			memcpy(p, keys[i], l);
			p += l;
		}
	}
	bcast_bytes(buf, head[1]);
	if (g_rank == 0) {
		free(buf);
		return 0;
	}
	/* Each key is read up to its NUL, never past the bytes received, even
	 * if the count and the bytes were to disagree. */
	buf[head[1]] = '\0';
	if (head[0] > head[1]) {
		ret = err_set(err, ERR_FORMAT, "rank 0 announced %llu keys in %llu "
			      "bytes", (unsigned long long)head[0],
			      (unsigned long long)head[1]);
		goto fail;
	}
	if (!(list = calloc(head[0] + 1, sizeof *list))) {
		ret = err_set(err, ERR_NOMEM, "out of memory for the to-do list");
		goto fail;
	}
	char *p = buf, *end = buf + head[1];
	for (uint64_t i = 0; i < head[0]; i++) {
		if (p >= end) {
			ret = err_set(err, ERR_FORMAT, "rank 0 sent fewer keys than the "
				      "%llu it announced", (unsigned long long)head[0]);
			goto fail;
		}
		if (!(list[i] = strdup(p))) {
			ret = err_set(err, ERR_NOMEM, "out of memory for the to-do list");
			goto fail;
		}
		p += strlen(p) + 1;
	}
	free(buf);
	*out = list;
	*out_n = head[0];
	return 0;
fail:
	if (list)
		for (uint64_t i = 0; i < head[0]; i++)
			free(list[i]);
	free(list);
	free(buf);
	return ret;
}

int dist_send_batch(const dist_batch_t *b, char *err)
{
	int i = (int)(g_sent % 2), good = 0;

	for (int k = 0; k < b->n; k++)
		good += b->why[k][0] == 0;
	size_t len = HEAD + (size_t)b->n + (size_t)(b->n - good) * ERR_LEN +
		     (size_t)good * (size_t)b->dim * sizeof(float);
	if (len > INT_MAX)
		return err_set(err, ERR_TOO_BIG, "a batch of %d is too big to send", b->n);
	MPI_Wait(&g_sreq[i], MPI_STATUS_IGNORE);
	if (len > g_scap[i]) {
		uint8_t *nb = realloc(g_sbuf[i], len);
		if (!nb)
			return err_set(err, ERR_NOMEM, "out of memory for a batch to send");
		g_sbuf[i] = nb;
		g_scap[i] = len;
	}
	uint8_t *p = g_sbuf[i];
	int32_t n32 = b->n, g32 = good;
	memcpy(p, &b->first, 8);
	memcpy(p + 8, &n32, 4);
	memcpy(p + 12, &g32, 4);
	p += HEAD;
	for (int k = 0; k < b->n; k++)
		*p++ = b->why[k][0] == 0;
	for (int k = 0; k < b->n; k++)
		if (b->why[k][0]) {
			memcpy(p, b->why[k], ERR_LEN);
			p[ERR_LEN - 1] = 0;
			p += ERR_LEN;
		}
	memcpy(p, b->feats, (size_t)good * (size_t)b->dim * sizeof(float));
	MPI_Isend(g_sbuf[i], (int)len, MPI_BYTE, 0, TAG_BATCH, MPI_COMM_WORLD, &g_sreq[i]);
	if (++g_sent == g_die_after) {
		MPI_Wait(&g_sreq[i], MPI_STATUS_IGNORE);
		raise(SIGKILL);
	}
	return 0;
}

int dist_send_done(char *err)
{
	MPI_Waitall(2, g_sreq, MPI_STATUSES_IGNORE);
	return 0;
}

int dist_recv_batch(int wait, int dim, dist_batch_t *b, int *got, char *err)
{
	MPI_Status st;
	int flag = 1, len;

	*got = 0;
	if (wait)
		MPI_Probe(MPI_ANY_SOURCE, TAG_BATCH, MPI_COMM_WORLD, &st);
	else
		MPI_Iprobe(MPI_ANY_SOURCE, TAG_BATCH, MPI_COMM_WORLD, &flag, &st);
	if (!flag)
		return 0;
	MPI_Get_count(&st, MPI_BYTE, &len);
	if ((size_t)len > g_rcap) {
		uint8_t *nb = realloc(g_rbuf, (size_t)len);
		if (!nb)
			return err_set(err, ERR_NOMEM, "out of memory for a received batch");
		g_rbuf = nb;
		g_rcap = (size_t)len;
	}
	MPI_Recv(g_rbuf, len, MPI_BYTE, st.MPI_SOURCE, TAG_BATCH, MPI_COMM_WORLD,
		 MPI_STATUS_IGNORE);

	int32_t n, good;
	if (len < HEAD)
		goto bad;
	memcpy(&b->first, g_rbuf, 8);
	memcpy(&n, g_rbuf + 8, 4);
	memcpy(&good, g_rbuf + 12, 4);
	if (n < 0 || good < 0 || good > n ||
	    (size_t)len != HEAD + (size_t)n + (size_t)(n - good) * ERR_LEN +
				   (size_t)good * (size_t)dim * sizeof(float))
		goto bad;
	/* The reasons are rewritten in place as one ERR_LEN string per image,
	 * so the buffer needs room for n of them; the vectors are copied out. */
	size_t need = (size_t)n * ERR_LEN + (size_t)good * (size_t)dim * sizeof(float);
	if (need > g_ocap) {
		uint8_t *nb = realloc(g_obuf, need);
		if (!nb)
			return err_set(err, ERR_NOMEM, "out of memory for a received batch");
		g_obuf = nb;
		g_ocap = need;
	}
	const uint8_t *ok = g_rbuf + HEAD, *why = ok + n;
	/* The flags must name exactly good images, or the reasons and vectors
	 * would be read from the wrong bytes (past the message, even). */
	int32_t flagged = 0;
	for (int k = 0; k < n; k++) {
		if (ok[k] > 1)
			goto bad;
		flagged += ok[k];
	}
	if (flagged != good)
		goto bad;
	b->n = n;
	b->dim = dim;
	b->why = (char (*)[ERR_LEN])g_obuf;
	b->feats = (float *)(g_obuf + (size_t)n * ERR_LEN);
	for (int k = 0; k < n; k++) {
		if (ok[k]) {
			b->why[k][0] = 0;
		} else {
			memcpy(b->why[k], why, ERR_LEN);
			b->why[k][ERR_LEN - 1] = 0;
			/* An empty reason would read as an extracted image. */
			if (!b->why[k][0])
				snprintf(b->why[k], ERR_LEN, "rank %d gave no reason",
					 st.MPI_SOURCE);
			why += ERR_LEN;
		}
	}
	memcpy(b->feats, why, (size_t)good * (size_t)dim * sizeof(float));
	*got = 1;
	return 0;
bad:
	return err_set(err, ERR_FORMAT, "rank %d sent a malformed batch (%d bytes)",
		       st.MPI_SOURCE, len);
}

void dist_finalize(void)
{
	if (!g_on)
		return;
	MPI_Waitall(2, g_sreq, MPI_STATUSES_IGNORE);
	MPI_Finalize();
	free(g_sbuf[0]);
	free(g_sbuf[1]);
	free(g_rbuf);
	free(g_obuf);
}

void dist_abort(int status)
{
	if (g_on)
		MPI_Abort(MPI_COMM_WORLD, status);
	exit(status);
}
