/* trace.c - what --trace records of train-head's one run, and its file
 * (train_head.h, which defines the file's layout). */
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "hdf5/h5util.h"
#include "train_head.h"

int th_trace_alloc(th_trace_t *tr, long epochs, size_t ntrain, const head_t *h,
		   char *err)
{
	size_t on;
	int hidden[HEAD_MAX_LAYERS];

	memset(tr, 0, sizeof *tr);
	for (int l = 0; l + 1 < h->nlayers; l++)
		hidden[l] = h->layer[l].out;
	if (err_mul_size((size_t)epochs, ntrain, &on) || ntrain > UINT32_MAX ||
	    !(tr->order = malloc((on ? on : 1) * sizeof *tr->order)) ||
	    !(tr->metrics = calloc((size_t)epochs * 4, sizeof *tr->metrics)) ||
	    !(tr->lr = calloc((size_t)epochs, sizeof *tr->lr)) ||
	    !(tr->class_weight = malloc((size_t)h->K * sizeof *tr->class_weight)) ||
	    head_create(h->D, h->nlayers - 1, hidden, h->K, 0, &tr->h0, NULL)) {
		th_trace_free(tr);
		return err_set(err, ERR_NOMEM, "--trace: out of memory");
	}
	return 0;
}

void th_trace_start(th_trace_t *tr, const head_t *h, const float *cw)
{
	head_copy(&tr->h0, h);
	if (cw)
		memcpy(tr->class_weight, cw, (size_t)h->K * sizeof *cw);
	else {
		free(tr->class_weight);
		tr->class_weight = NULL;
	}
}

void th_trace_epoch(th_trace_t *tr, int e, const size_t *order, size_t ntrain,
		    const head_metrics_t *mt, const head_metrics_t *mv, double lr)
{
	for (size_t i = 0; i < ntrain; i++)
		tr->order[(size_t)(e - 1) * ntrain + i] = (uint32_t)order[i];
	double *m = tr->metrics + (size_t)(e - 1) * 4;
	m[0] = mt->loss, m[1] = mt->accuracy, m[2] = mv->loss, m[3] = mv->accuracy;
	tr->lr[e - 1] = lr;
	tr->epochs = e;
}

/* write_sets writes the training and validation features and labels; a
 * failed write sets *bad.  0 or ERR_NOMEM. */
static int write_sets(hid_t f, const th_data_t *d, const th_split_t *s, int *bad,
		      char *err)
{
	size_t nmax = s->ntrain > s->nvalid ? s->ntrain : s->nvalid, bytes;
	float *x = NULL;
	int32_t *y = NULL;

	if (err_mul3_size(nmax ? nmax : 1, (size_t)d->D, sizeof *x, &bytes) ||
	    !(x = malloc(bytes)) || !(y = malloc((nmax ? nmax : 1) * sizeof *y))) {
		free(x);
		return err_set(err, ERR_NOMEM, "--trace: out of memory");
	}
	for (int which = 0; which < 2; which++) {
		const size_t *idx = which ? s->valid : s->train;
		size_t n = which ? s->nvalid : s->ntrain;
		for (size_t i = 0; i < n; i++) {
			memcpy(x + i * d->D, d->x + idx[i] * d->D, (size_t)d->D * sizeof *x);
			y[i] = d->y[idx[i]];
		}
		hsize_t xd[2] = {n, (hsize_t)d->D}, yd[1] = {n};
		*bad |= h5util_write_dataset(f, which ? "valid_x" : "train_x",
					     H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, xd,
					     H5P_DEFAULT, H5P_DEFAULT, x);
		*bad |= h5util_write_dataset(f, which ? "valid_y" : "train_y",
					     H5T_STD_I32LE, H5T_NATIVE_INT32, 1, yd,
					     H5P_DEFAULT, H5P_DEFAULT, y);
	}
	free(x);
	free(y);
	return 0;
}

/* write_layer writes a Dense layer's starting kernel and bias. */
static int write_layer(hid_t f, const head_layer_t *L, const char *kname,
		       const char *bname)
{
	hsize_t kd[2] = {(hsize_t)L->in, (hsize_t)L->out}, bd[1] = {(hsize_t)L->out};
	return h5util_write_dataset(f, kname, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, kd,
				    H5P_DEFAULT, H5P_DEFAULT, L->kernel) |
	       h5util_write_dataset(f, bname, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, bd,
				    H5P_DEFAULT, H5P_DEFAULT, L->bias);
}

/* A float64 attribute of the root. */
static int attr_f64(hid_t f, const char *name, double v)
{
	hid_t sp = H5Screate(H5S_SCALAR), a;
	int bad = sp < 0;
	if (!bad && (a = H5Acreate2(f, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT,
				    H5P_DEFAULT)) >= 0) {
		bad = H5Awrite(a, H5T_NATIVE_DOUBLE, &v) < 0;
		bad |= H5Aclose(a) < 0;
	} else {
		bad = 1;
	}
	if (sp >= 0)
		H5Sclose(sp);
	return bad;
}

int th_trace_write(const char *path, const th_data_t *d, const th_split_t *s,
		   const th_config_t *c, const th_opts_t *o, const th_trace_t *tr,
		   char *err)
{
	const head_t *h = &tr->h0;
	hid_t f = H5I_INVALID_HID;
	int rc = 0, bad = 0;
	h5util_quiet_t quiet;

	h5util_quiet(&quiet);
	if ((f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT)) < 0) {
		rc = err_set(err, ERR_IO, "--trace %s: HDF5 could not create it", path);
		goto out;
	}
	if ((rc = write_sets(f, d, s, &bad, err)))
		goto out;
	hsize_t od[2] = {(hsize_t)tr->epochs, s->ntrain}, md[2] = {(hsize_t)tr->epochs, 4};
	hsize_t ld[1] = {(hsize_t)tr->epochs}, kd[1] = {(hsize_t)d->K}, hd[1] = {8};
	const head_hparams_t *hp = &c->hp;
	double hv[8] = {hp->lr, hp->beta1, hp->beta2, hp->epsilon, hp->l2, hp->batch,
			(double)o->epochs, (double)o->seed};
	bad |= write_layer(f, &h->layer[0], "kernel0", "bias0");
	if (h->nlayers > 1)
		bad |= write_layer(f, &h->layer[h->nlayers - 1], "kernel0_out", "bias0_out");
	bad |= h5util_write_dataset(f, "order", H5T_STD_U32LE, H5T_NATIVE_UINT32, 2, od,
				    H5P_DEFAULT, H5P_DEFAULT, tr->order);
	bad |= h5util_write_dataset(f, "metrics", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, md,
				    H5P_DEFAULT, H5P_DEFAULT, tr->metrics);
	bad |= h5util_write_dataset(f, "lr", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, ld,
				    H5P_DEFAULT, H5P_DEFAULT, tr->lr);
	if (tr->class_weight)
		bad |= h5util_write_dataset(f, "class_weight", H5T_IEEE_F32LE,
					    H5T_NATIVE_FLOAT, 1, kd, H5P_DEFAULT,
					    H5P_DEFAULT, tr->class_weight);
	bad |= h5util_write_dataset(f, "hparams", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, hd,
				    H5P_DEFAULT, H5P_DEFAULT, hv);
	bad |= attr_f64(f, "hidden", c->hidden) | attr_f64(f, "dropout", hp->dropout) |
	       attr_f64(f, "label_smoothing", hp->loss.smoothing) |
	       attr_f64(f, "cosine_steps", (double)hp->cosine_steps) |
	       attr_f64(f, "patience", c->patience) | attr_f64(f, "monitor", c->monitor) |
	       attr_f64(f, "min_delta", c->min_delta) |
	       attr_f64(f, "restore_best", c->restore_best) |
	       attr_f64(f, "reduce_lr", c->reduce_lr) |
	       attr_f64(f, "reduce_patience", c->reduce_patience) |
	       attr_f64(f, "min_lr", c->min_lr) | attr_f64(f, "restored", tr->restored);
	bad |= h5util_attr_write_text(f, "format", TH_TRACE_FORMAT);
	if (bad)
		rc = err_set(err, ERR_IO, "%s: writing failed", path);
out:
	if (f >= 0 && H5Fclose(f) < 0 && !rc)
		rc = err_set(err, ERR_IO, "%s: writing failed", path);
	H5Eclear2(H5E_DEFAULT);
	h5util_unquiet(&quiet);
	return rc;
}

void th_trace_free(th_trace_t *tr)
{
	head_free(&tr->h0);
	free(tr->order);
	free(tr->metrics);
	free(tr->lr);
	free(tr->class_weight);
	memset(tr, 0, sizeof *tr);
}
