/* trace.c - what --trace records of train-head's one run, and its file
 * (train_head.h, which defines the file's layout). */
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "hdf5/h5util.h"
#include "train_head.h"

int th_trace_alloc(th_trace_t *tr, long epochs, size_t ntrain, int D, int K,
		   char *err)
{
	size_t on;

	if (err_mul_size((size_t)epochs, ntrain, &on) || ntrain > UINT32_MAX ||
	    !(tr->order = malloc(on * sizeof *tr->order)) ||
	    !(tr->metrics = calloc((size_t)epochs * 4, sizeof *tr->metrics)) ||
	    !(tr->kernel0 = malloc(((size_t)D * K + K) * sizeof(float)))) {
		th_trace_free(tr);
		return err_set(err, ERR_NOMEM, "--trace: out of memory");
	}
	return 0;
}

void th_trace_start(th_trace_t *tr, const head_t *h)
{
	memcpy(tr->kernel0, h->params, h->nparams * sizeof(float));
}

void th_trace_epoch(th_trace_t *tr, int e, const size_t *order, size_t ntrain,
		    const head_metrics_t *mt, const head_metrics_t *mv)
{
	for (size_t i = 0; i < ntrain; i++)
		tr->order[(size_t)(e - 1) * ntrain + i] = (uint32_t)order[i];
	double *m = tr->metrics + (size_t)(e - 1) * 4;
	m[0] = mt->loss, m[1] = mt->accuracy, m[2] = mv->loss, m[3] = mv->accuracy;
}

int th_trace_write(const char *path, const th_data_t *d, const th_split_t *s,
		   const head_hparams_t *hp, const th_opts_t *o,
		   const th_trace_t *tr, char *err)
{
	hid_t f = H5I_INVALID_HID;
	float *x = NULL;
	int32_t *y = NULL;
	size_t nmax = s->ntrain > s->nvalid ? s->ntrain : s->nvalid, bytes;
	int rc = 0, bad = 0;
	h5util_quiet_t quiet;

	h5util_quiet(&quiet);
	if (err_mul3_size(nmax ? nmax : 1, (size_t)d->D, sizeof *x, &bytes) ||
	    !(x = malloc(bytes)) || !(y = malloc((nmax ? nmax : 1) * sizeof *y))) {
		rc = err_set(err, ERR_NOMEM, "--trace: out of memory");
		goto out;
	}
	if ((f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT)) < 0) {
		rc = err_set(err, ERR_IO, "%s: cannot create", path);
		goto out;
	}
	for (int which = 0; which < 2; which++) {
		const size_t *idx = which ? s->valid : s->train;
		size_t n = which ? s->nvalid : s->ntrain;
		for (size_t i = 0; i < n; i++) {
			memcpy(x + i * d->D, d->x + idx[i] * d->D, (size_t)d->D * sizeof *x);
			y[i] = d->y[idx[i]];
		}
		hsize_t xd[2] = {n, (hsize_t)d->D}, yd[1] = {n};
		bad |= h5util_write_dataset(f, which ? "valid_x" : "train_x", H5T_IEEE_F32LE,
					    H5T_NATIVE_FLOAT, 2, xd, H5P_DEFAULT, H5P_DEFAULT, x);
		bad |= h5util_write_dataset(f, which ? "valid_y" : "train_y", H5T_STD_I32LE,
					    H5T_NATIVE_INT32, 1, yd, H5P_DEFAULT, H5P_DEFAULT, y);
	}
	hsize_t kd[2] = {(hsize_t)d->D, (hsize_t)d->K}, bd[1] = {(hsize_t)d->K};
	hsize_t od[2] = {(hsize_t)o->epochs, s->ntrain}, md[2] = {(hsize_t)o->epochs, 4};
	hsize_t hd[1] = {8};
	double hv[8] = {hp->lr, hp->beta1, hp->beta2, hp->epsilon, hp->l2, hp->batch,
			(double)o->epochs, (double)o->seed};
	bad |= h5util_write_dataset(f, "kernel0", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, kd,
				    H5P_DEFAULT, H5P_DEFAULT, tr->kernel0);
	bad |= h5util_write_dataset(f, "bias0", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, bd,
				    H5P_DEFAULT, H5P_DEFAULT, tr->kernel0 + (size_t)d->D * d->K);
	bad |= h5util_write_dataset(f, "order", H5T_STD_U32LE, H5T_NATIVE_UINT32, 2, od,
				    H5P_DEFAULT, H5P_DEFAULT, tr->order);
	bad |= h5util_write_dataset(f, "metrics", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, md,
				    H5P_DEFAULT, H5P_DEFAULT, tr->metrics);
	bad |= h5util_write_dataset(f, "hparams", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, hd,
				    H5P_DEFAULT, H5P_DEFAULT, hv);
	bad |= h5util_attr_write_text(f, "format", TH_TRACE_FORMAT);
	if (bad)
		rc = err_set(err, ERR_IO, "%s: writing failed", path);
out:
	if (f >= 0 && H5Fclose(f) < 0 && !rc)
		rc = err_set(err, ERR_IO, "%s: writing failed", path);
	free(x);
	free(y);
	H5Eclear2(H5E_DEFAULT);
	h5util_unquiet(&quiet);
	return rc;
}

void th_trace_free(th_trace_t *tr)
{
	free(tr->kernel0);
	free(tr->order);
	free(tr->metrics);
	memset(tr, 0, sizeof *tr);
}
