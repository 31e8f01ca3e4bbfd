/* dataset.h - a folder of face images in Keras' flow_from_directory layout:
 *
 *   ROOT/<person>/<images, possibly in subfolders>
 *   ROOT/{train,valid,test}/<person>/...   ("validation" and "val" = valid)
 *
 * Class names are the person folders; class indices are the positions in
 * the sorted list of names (Keras' class_indices).  Image files are told by
 * their extension, case-insensitive, as Keras does (png jpg jpeg bmp ppm,
 * plus pgm); other files are ignored.  Hidden entries (leading '.') are
 * skipped; symbolic links are followed, and a directory already on the
 * current path (a loop) is not entered again. */
#ifndef COMMON_DATASET_H
#define COMMON_DATASET_H

#include <stddef.h>

typedef struct dataset_item {
	char *key;  /* path relative to ROOT, '/'-separated: the store's key */
	char *path; /* ROOT/key, to open */
	int cls;    /* index into dataset_t.classes */
	int split;  /* enum featdb_split */
} dataset_item_t;

/* Something found while scanning that is not an image we can use. */
typedef struct dataset_problem {
	char *path;
	char *reason;
} dataset_problem_t;

typedef struct dataset {
	dataset_item_t *items; /* sorted by key (byte order) */
	size_t n;
	char **classes; /* sorted, unique */
	int nclasses;
	int has_splits; /* the train/valid/test layout */
	dataset_problem_t *problems;
	size_t nproblems;
	size_t nignored; /* files whose name is not an image's */
} dataset_t;

/* dataset_scan walks root.  Errors: ERR_MISSING (root does not exist),
 * ERR_IO (not a directory, unreadable), ERR_FORMAT (no class folders; split
 * folders mixed with class folders), ERR_NOMEM.  Problems inside class
 * folders (unreadable subfolder, broken link, loop) are not errors: they are
 * listed in ds->problems. */
int dataset_scan(const char *root, dataset_t *ds, char *err);
void dataset_free(dataset_t *ds);

/* dataset_scan_files lists every image file under root (recursively, same
 * rules as dataset_scan), without classes: all items have class 0 and split
 * 0, keys relative to root; a root that is itself a file is listed alone.
 * For predict, which takes any folder of photos. */
int dataset_scan_files(const char *root, dataset_t *ds, char *err);

/* dataset_split_of: the split a top-level folder name stands for, or -1. */
int dataset_split_of(const char *name);

/* dataset_is_image_name: 1 when the file name has an image extension. */
int dataset_is_image_name(const char *name);

#endif
