/* dataset.h - a folder of face images in Keras' flow_from_directory layout:
 *
 *   ROOT/<person>/<images, possibly in subfolders>
 *   ROOT/{train,valid,test}/<person>/...   ("validation" and "val" = valid)
 *
 * The same files, order and class indices as Keras' flow_from_directory
 * (follow_links=False), with two documented differences:
 *  - class folders are ROOT's entries that are folders, symbolic links to
 *    folders included; a class's index is its place among them in Keras'
 *    order (classes.h);
 *  - each class folder is walked as os.walk(followlinks=False) walks it: a
 *    symbolic link to a file is read, a symbolic link to a folder below the
 *    class folder is not entered (it is listed in ds->unfollowed, unless
 *    DATASET_FOLLOW_LINKS);
 *  - a file is an image when its name, lowercased, ends with png, jpg, jpeg,
 *    bmp, ppm, tif or tiff (Keras tests the end of the name, without a dot:
 *    "scanjpg" is kept too), plus pgm, our addition (ORL and Yale B ship
 *    PGM);
 *  - the order is Keras': by class, then by folder (os.walk's roots sorted
 *    as Python sorts strings), then by file name; split layouts by split
 *    folder first;
 *  - differences: hidden entries (leading '.': ".ipynb_checkpoints",
 *    ".DS_Store") are skipped, where Keras would make a class of a hidden
 *    folder and read a hidden image; an image outside any class folder,
 *    which Keras ignores silently, is listed in ds->problems. */
#ifndef COMMON_DATASET_DATASET_H
#define COMMON_DATASET_DATASET_H

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
	dataset_item_t *items; /* in Keras' order (above) */
	size_t n;
	char **classes; /* in Keras' order, unique */
	int nclasses;
	int has_splits; /* the train/valid/test layout */
	dataset_problem_t *problems;
	size_t nproblems;
	size_t nignored; /* files whose name is not an image's */
	char **unfollowed; /* symbolic links to folders not entered (paths) */
	size_t nunfollowed;
} dataset_t;

/* dataset_scan flags. */
enum {
	/* Enter symbolic links to folders inside class folders too (Keras'
	 * follow_links=True), except one that leads back to a folder on the
	 * way down, ROOT and the class folder included (a loop), or to one
	 * already walked for this class: those are listed in ds->problems. */
	DATASET_FOLLOW_LINKS = 1,
};

/* dataset_scan walks root.  Errors: ERR_MISSING (root does not exist),
 * ERR_IO (not a directory, unreadable), ERR_FORMAT (no class folders; split
 * folders mixed with class folders), ERR_NOMEM.  Problems inside class
 * folders (unreadable subfolder, broken link, loop) are not errors: they are
 * listed in ds->problems. */
int dataset_scan(const char *root, int flags, dataset_t *ds, char *err);
void dataset_free(dataset_t *ds);

/* dataset_scan_files lists every image file under root (recursively, links
 * to folders followed, loops refused), without classes: all items have
 * class 0 and split 0, keys relative to root, in the same order; a root
 * that is itself a file is listed alone.  For predict, which takes any
 * folder of photos. */
int dataset_scan_files(const char *root, dataset_t *ds, char *err);

/* dataset_split_of: the split a top-level folder name stands for, or -1. */
int dataset_split_of(const char *name);

/* dataset_is_image_name: 1 when the file name is an image's (above). */
int dataset_is_image_name(const char *name);

/* The extensions, for messages: "png, jpg, jpeg, bmp, ppm, tif, tiff, pgm". */
#define DATASET_EXTENSIONS "png, jpg, jpeg, bmp, ppm, tif, tiff, pgm"

#endif
