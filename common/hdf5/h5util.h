/* h5util.h - what the code that reads and writes HDF5 files (keras_h5.c,
 * weights.c for VGG16's weights, head_file.c for the softmax head) shares:
 * HDF5's own reason for a failure, Keras' string-list attributes
 * (layer_names, weight_names, classes...), links, quiet error printing and
 * datasets written in one call. */
#ifndef COMMON_HDF5_H5UTIL_H
#define COMMON_HDF5_H5UTIL_H

#include <stddef.h>

#include <hdf5.h>

/* h5util_reason writes the innermost message of HDF5's error stack (the
 * one that says what was actually wrong, e.g. "truncated file: eof = ..."
 * or, for a failed system call, its strerror() text) into buf (len bytes),
 * clears the stack and returns buf.  "no detail from HDF5" when the stack
 * is empty. */
const char *h5util_reason(char *buf, size_t len);

/* A growing list of strings; {0} is an empty list. */
typedef struct h5util_strlist {
	char **v;
	size_t n, cap;
} h5util_strlist_t;

/* h5util_strlist_push appends a copy of the first len bytes of s:
 * 0, or -1 when out of memory. */
int h5util_strlist_push(h5util_strlist_t *l, const char *s, size_t len);

/* h5util_strlist_free frees the strings and the list and empties it. */
void h5util_strlist_free(h5util_strlist_t *l);

/* h5util_attr_strings appends to out the strings of the list attribute
 * name of obj, read the way Keras' load_attributes_from_hdf5_group does:
 * the attribute itself or, when a list outgrew HDF5's 64 KB object
 * header, its chunks name0, name1, ... concatenated.  Keras writes the
 * lists through numpy, so they come as fixed-length strings (NUL- or
 * space-padded, with no terminator when a string fills its slot) or, from
 * newer h5py, variable-length ones; a scalar counts as a list of one, and
 * an empty list (np.asarray([]) is float64) as empty whatever its type.
 * *found says whether either form exists (absent is not an error).
 * where prefixes the error messages (usually the file's path).
 * Returns 0, ERR_FORMAT (not a list of strings, or unreadable, with HDF5's
 * reason) or ERR_NOMEM. */
int h5util_attr_strings(hid_t obj, const char *name, h5util_strlist_t *out,
			int *found, const char *where, char *err);

/* h5util_link_exists says whether the relative path (e.g. "fc6/relu",
 * "block1_conv1/kernel:0") exists under loc: 1, 0, or -1 when HDF5 fails
 * (its reason: h5util_reason).  H5Lexists alone needs every component
 * before the last to exist, so the components are checked one by one. */
int h5util_link_exists(hid_t loc, const char *path);

/* h5util_attr_write_text creates the scalar string attribute name of obj
 * holding value (ASCII, NUL-terminated): 0, or -1 when HDF5 fails (its
 * reason: h5util_reason). */
int h5util_attr_write_text(hid_t obj, const char *name, const char *value);

/* HDF5 prints its error stack on stderr unless told not to; this project
 * reports a failure through its err message instead (h5util_reason).
 * h5util_quiet turns the printing off, keeping what it was in *saved;
 * h5util_unquiet puts it back.  Every quiet has its unquiet. */
typedef struct h5util_quiet {
	H5E_auto2_t func;
	void *data;
} h5util_quiet_t;
void h5util_quiet(h5util_quiet_t *saved);
void h5util_unquiet(const h5util_quiet_t *saved);

/* h5util_write_dataset creates the dataset name in loc, of file type ftype
 * and shape dims (rank dimensions), with the link and creation property
 * lists lcpl and dcpl (H5P_DEFAULT when none), and writes buf (memory type
 * mtype; nothing for an empty shape) into it.  Returns 0, or -1 when HDF5
 * fails (its reason: h5util_reason). */
int h5util_write_dataset(hid_t loc, const char *name, hid_t ftype, hid_t mtype,
			 int rank, const hsize_t *dims, hid_t lcpl, hid_t dcpl,
			 const void *buf);

#endif
