/* h5util.c - HDF5 helpers shared by the code that reads and writes HDF5
 * files: see h5util.h. */
#include "hdf5/h5util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

typedef struct reason_buf {
	char *buf;
	size_t len;
} reason_buf_t;

static herr_t reason_cb(unsigned n, const H5E_error2_t *e, void *data)
{
	reason_buf_t *r = data;
	const char *m;

	if (n != 0 || !e->desc || !*e->desc)
		return 0;
	/* A failed system call's description holds its strerror() text among
	 * a dozen other fields: that text is the reason a reader wants. */
	if ((m = strstr(e->desc, "error message = '"))) {
		m += strlen("error message = '");
		const char *end = strchr(m, '\'');
		snprintf(r->buf, r->len, "%.*s",
			 end ? (int)(end - m) : (int)strlen(m), m);
	} else {
		snprintf(r->buf, r->len, "%s", e->desc);
	}
	return 0;
}

const char *h5util_reason(char *buf, size_t len)
{
	reason_buf_t r = { buf, len };

	snprintf(buf, len, "no detail from HDF5");
	H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, reason_cb, &r);
	H5Eclear2(H5E_DEFAULT);
	return buf;
}

void h5util_strlist_free(h5util_strlist_t *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof *l);
}

int h5util_strlist_push(h5util_strlist_t *l, const char *s, size_t len)
{
	char *copy;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32, bytes;
		char **v;
		if (cap < l->cap || err_mul_size(cap, sizeof *v, &bytes))
			return -1;
		v = realloc(l->v, bytes);
		if (!v)
			return -1;
		l->v = v;
		l->cap = cap;
	}
	if (len == SIZE_MAX || !(copy = malloc(len + 1)))
		return -1;
	memcpy(copy, s, len);
	copy[len] = '\0';
	l->v[l->n++] = copy;
	return 0;
}

/* attr_read_strings appends the strings of attribute name of obj to out.
 * Keras writes these lists through numpy, so they come as fixed-length
 * strings (NUL-padded, with no terminator when a name fills its slot) or,
 * from newer h5py, variable-length strings.  An empty list comes from
 * np.asarray([]), which is float64: when there are no elements the type does
 * not matter.  where prefixes error messages. */
static int attr_read_strings(hid_t obj, const char *name, h5util_strlist_t *out,
			     const char *where, char *err)
{
	hid_t attr = H5I_INVALID_HID, space = H5I_INVALID_HID;
	hid_t ftype = H5I_INVALID_HID, mtype = H5I_INVALID_HID;
	char *fixed = NULL, **vlen = NULL;
	hssize_t npoints;
	size_t n, size, bytes;
	int ndims, rc = 0, vlen_read = 0;
	char why[256];

	if ((attr = H5Aopen(obj, name, H5P_DEFAULT)) < 0 ||
	    (space = H5Aget_space(attr)) < 0 ||
	    (ftype = H5Aget_type(attr)) < 0 ||
	    (ndims = H5Sget_simple_extent_ndims(space)) < 0 ||
	    (npoints = H5Sget_simple_extent_npoints(space)) < 0) {
		rc = err_set(err, ERR_FORMAT, "%s: attribute %s unreadable (%s)",
			     where, name, h5util_reason(why, sizeof why));
		goto out;
	}
	n = (size_t)npoints;
	if (n == 0)
		goto out; /* an empty list, rc == 0 */
	if (ndims > 1) {
		rc = err_set(err, ERR_FORMAT,
			     "%s: attribute %s has %d dimensions, expected a "
			     "list of strings", where, name, ndims);
		goto out;
	}
	if (H5Tget_class(ftype) != H5T_STRING) {
		rc = err_set(err, ERR_FORMAT,
			     "%s: attribute %s is not a list of strings", where,
			     name);
		goto out;
	}
	if (H5Tis_variable_str(ftype) > 0) {
		/* The memory type keeps the file's character set: HDF5 does not
		 * convert between ASCII and UTF-8 strings. */
		if ((mtype = H5Tcopy(H5T_C_S1)) < 0 ||
		    H5Tset_size(mtype, H5T_VARIABLE) < 0 ||
		    H5Tset_cset(mtype, H5Tget_cset(ftype)) < 0) {
			rc = err_set(err, ERR_FORMAT, "%s: attribute %s: %s",
				     where, name, h5util_reason(why, sizeof why));
			goto out;
		}
		if (err_mul_size(n, sizeof *vlen, &bytes) ||
		    !(vlen = calloc(n, sizeof *vlen))) {
			rc = err_set(err, ERR_NOMEM,
				     "%s: attribute %s: out of memory", where,
				     name);
			goto out;
		}
		if (H5Aread(attr, mtype, vlen) < 0) {
			rc = err_set(err, ERR_FORMAT,
				     "%s: attribute %s unreadable (%s)", where,
				     name, h5util_reason(why, sizeof why));
			goto out;
		}
		vlen_read = 1;
		for (size_t i = 0; i < n; i++) {
			const char *s = vlen[i] ? vlen[i] : "";
			if (h5util_strlist_push(out, s, strlen(s))) {
				rc = err_set(err, ERR_NOMEM,
					     "%s: attribute %s: out of memory",
					     where, name);
				goto out;
			}
		}
	} else {
		H5T_str_t pad = H5Tget_strpad(ftype);
		size = H5Tget_size(ftype);
		/* Reading with the file's own type copies the bytes as they
		 * are, padding included; the padding is stripped below. */
		if (size == 0 || (mtype = H5Tcopy(ftype)) < 0) {
			rc = err_set(err, ERR_FORMAT,
				     "%s: attribute %s has a bad string type",
				     where, name);
			goto out;
		}
		if (err_mul_size(n, size, &bytes) || !(fixed = malloc(bytes))) {
			rc = err_set(err, ERR_NOMEM,
				     "%s: attribute %s: out of memory", where,
				     name);
			goto out;
		}
		if (H5Aread(attr, mtype, fixed) < 0) {
			rc = err_set(err, ERR_FORMAT,
				     "%s: attribute %s unreadable (%s)", where,
				     name, h5util_reason(why, sizeof why));
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			const char *s = fixed + i * size;
			size_t len = strnlen(s, size);
			if (pad == H5T_STR_SPACEPAD)
				while (len > 0 && s[len - 1] == ' ')
					len--;
			if (h5util_strlist_push(out, s, len)) {
				rc = err_set(err, ERR_NOMEM,
					     "%s: attribute %s: out of memory",
					     where, name);
				goto out;
			}
		}
	}
out:
	if (vlen_read)
		H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, vlen);
	free(vlen);
	free(fixed);
	if (mtype >= 0)
		H5Tclose(mtype);
	if (ftype >= 0)
		H5Tclose(ftype);
	if (space >= 0)
		H5Sclose(space);
	if (attr >= 0)
		H5Aclose(attr);
	return rc;
}

int h5util_attr_strings(hid_t obj, const char *name, h5util_strlist_t *out,
			int *found, const char *where, char *err)
{
	char chunk[128], why[256];
	htri_t ex;
	int rc;

	*found = 0;
	if ((ex = H5Aexists(obj, name)) < 0)
		return err_set(err, ERR_FORMAT, "%s: attributes unreadable (%s)",
			       where, h5util_reason(why, sizeof why));
	if (ex) {
		*found = 1;
		return attr_read_strings(obj, name, out, where, err);
	}
	for (unsigned k = 0;; k++) {
		snprintf(chunk, sizeof chunk, "%s%u", name, k);
		if ((ex = H5Aexists(obj, chunk)) < 0)
			return err_set(err, ERR_FORMAT,
				       "%s: attributes unreadable (%s)", where,
				       h5util_reason(why, sizeof why));
		if (!ex)
			return 0;
		*found = 1;
		if ((rc = attr_read_strings(obj, chunk, out, where, err)))
			return rc;
	}
}

int h5util_link_exists(hid_t loc, const char *path)
{
	size_t len = strlen(path);
	char *p;
	int rc = 1;

	if (len == 0 || !(p = malloc(len + 1)))
		return len == 0 ? 0 : -1;
	memcpy(p, path, len + 1);
	for (char *slash = p;; slash++) {
		htri_t ex;
		slash = strchr(slash, '/');
		if (slash)
			*slash = '\0';
		ex = *p ? H5Lexists(loc, p, H5P_DEFAULT) : 1;
		if (slash)
			*slash = '/';
		if (ex <= 0) {
			rc = ex < 0 ? -1 : 0;
			break;
		}
		if (!slash)
			break;
	}
	free(p);
	return rc;
}

int h5util_attr_write_text(hid_t obj, const char *name, const char *value)
{
	hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR);
	hid_t a = H5I_INVALID_HID;
	int rc = -1;

	/* One byte more than the text: its terminator, so that "" has a
	 * valid (non-zero) size too. */
	if (t >= 0 && sp >= 0 && H5Tset_size(t, strlen(value) + 1) >= 0 &&
	    (a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT)) >= 0 &&
	    H5Awrite(a, t, value) >= 0)
		rc = 0;
	if (a >= 0)
		H5Aclose(a);
	if (sp >= 0)
		H5Sclose(sp);
	if (t >= 0)
		H5Tclose(t);
	return rc;
}

void h5util_quiet(h5util_quiet_t *saved)
{
	H5Eget_auto2(H5E_DEFAULT, &saved->func, &saved->data);
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void h5util_unquiet(const h5util_quiet_t *saved)
{
	H5Eset_auto2(H5E_DEFAULT, saved->func, saved->data);
}

int h5util_write_dataset(hid_t loc, const char *name, hid_t ftype, hid_t mtype,
			 int rank, const hsize_t *dims, hid_t lcpl, hid_t dcpl,
			 const void *buf)
{
	hid_t sp = H5Screate_simple(rank, dims, NULL), d = H5I_INVALID_HID;
	hid_t why = H5I_INVALID_HID;
	hsize_t n = 1;
	int rc = 0;

	if (sp < 0)
		return -1;
	for (int i = 0; i < rank; i++)
		n *= dims[i];
	d = H5Dcreate2(loc, name, ftype, sp, lcpl, dcpl, H5P_DEFAULT);
	if (d < 0 || (n != 0 && H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT,
					 buf) < 0))
		rc = -1;
	/* Every HDF5 call clears the error stack as it starts: the failure's
	 * stack is kept aside while the cleanup runs, for h5util_reason. */
	if (rc)
		why = H5Eget_current_stack();
	if (d >= 0 && H5Dclose(d) < 0 && rc == 0) {
		rc = -1;
		why = H5Eget_current_stack();
	}
	H5Sclose(sp);
	if (why >= 0)
		H5Eset_current_stack(why);
	return rc;
}
