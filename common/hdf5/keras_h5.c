/* keras_h5.c - the walk over a Keras HDF5 weights file's layer_names and
 * weight_names, with Keras' rule for layers without weights (keras_h5.h). */
#include "hdf5/keras_h5.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

int keras_h5_open_root(hid_t file, const char *path, hid_t *root, char *err)
{
	char why[256];
	htri_t names, mw = 0;
	int use_mw;

	*root = H5I_INVALID_HID;
	if ((names = H5Aexists(file, "layer_names")) < 0 ||
	    (!names && (names = H5Aexists(file, "layer_names0")) < 0) ||
	    (!names && (mw = H5Lexists(file, "model_weights",
				       H5P_DEFAULT)) < 0))
		return err_set(err, ERR_FORMAT, "%s: root group unreadable (%s)",
			       path, h5util_reason(why, sizeof why));
	use_mw = !names && mw;
	*root = H5Oopen(file, use_mw ? "model_weights" : "/", H5P_DEFAULT);
	if (*root < 0)
		return err_set(err, ERR_FORMAT, "%s: %s unreadable (%s)", path,
			       use_mw ? "group model_weights" : "root group",
			       h5util_reason(why, sizeof why));
	if (H5Iget_type(*root) != H5I_GROUP) {
		H5Oclose(*root);
		*root = H5I_INVALID_HID;
		return err_set(err, ERR_FORMAT,
			       "%s: model_weights is not a group", path);
	}
	return 0;
}

/* add appends layer name and its weight names wn to out, taking wn's
 * strings (wn is left empty): 0 or -1 when out of memory. */
static int add(keras_h5_layers_t *out, const char *name, h5util_strlist_t *wn)
{
	size_t n = out->names.n, bytes;
	h5util_strlist_t *w;

	if (err_mul_size(n + 1, sizeof *w, &bytes) ||
	    !(w = realloc(out->weights, bytes)))
		return -1;
	out->weights = w;
	if (h5util_strlist_push(&out->names, name, strlen(name)))
		return -1;
	w[n] = *wn;
	memset(wn, 0, sizeof *wn);
	return 0;
}

int keras_h5_layers(hid_t root, const char *path, size_t limit,
		    keras_h5_layers_t *out, char *err)
{
	h5util_strlist_t all = { 0 }, wn = { 0 };
	hid_t g = H5I_INVALID_HID;
	char where[ERR_LEN], why[256];
	int found, ex, rc;

	if ((rc = h5util_attr_strings(root, "layer_names", &all, &found, path,
				      err)))
		goto out;
	if (!found) {
		rc = err_set(err, ERR_FORMAT,
			     "%s: no layer_names attribute: not a Keras "
			     "weights file", path);
		goto out;
	}
	for (size_t k = 0; k < all.n && out->names.n < limit; k++) {
		const char *name = all.v[k];
		snprintf(where, sizeof where, "%s: layer %s", path, name);
		if ((ex = h5util_link_exists(root, name)) <= 0) {
			if (ex < 0)
				rc = err_set(err, ERR_FORMAT,
					     "%s: lookup failed (%s)", where,
					     h5util_reason(why, sizeof why));
			else
				rc = err_set(err, ERR_MISSING,
					     "%s: listed in layer_names but "
					     "there is no such group", where);
			goto out;
		}
		if ((g = H5Gopen2(root, name, H5P_DEFAULT)) < 0) {
			rc = err_set(err, ERR_FORMAT,
				     "%s: group unreadable (%s)", where,
				     h5util_reason(why, sizeof why));
			goto out;
		}
		/* A missing weight_names reads as an empty list: no weights. */
		if ((rc = h5util_attr_strings(g, "weight_names", &wn, &found,
					      where, err)))
			goto out;
		if (wn.n > 0 && add(out, name, &wn)) {
			rc = err_set(err, ERR_NOMEM, "%s: out of memory", path);
			goto out;
		}
		h5util_strlist_free(&wn);
		H5Gclose(g);
		g = H5I_INVALID_HID;
	}
out:
	h5util_strlist_free(&wn);
	h5util_strlist_free(&all);
	if (g >= 0)
		H5Gclose(g);
	return rc;
}

void keras_h5_layers_free(keras_h5_layers_t *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->names.n; i++)
		h5util_strlist_free(&l->weights[i]);
	free(l->weights);
	h5util_strlist_free(&l->names);
	memset(l, 0, sizeof *l);
}
