/* dataset.c - see dataset.h: the walk (os.walk's rules, links, loops)
 * and the order (Keras'). */
#include "dataset/dataset.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "dataset/classes.h"
#include "error.h"
#include "store/featdb.h"

/* The folders on the way down from ROOT to the one being read, ROOT and
 * the class folder included: a symbolic link back to one of them (a loop)
 * is not entered. */
#define DATASET_MAX_DEPTH 64

typedef struct dir_id {
	dev_t dev;
	ino_t ino;
} dir_id_t;

typedef struct walk {
	dataset_t *ds;
	int follow; /* DATASET_FOLLOW_LINKS */
	size_t cap_items, cap_problems, cap_unfollowed;
	dir_id_t up[DATASET_MAX_DEPTH];
	int depth;
	/* Every folder walked since the class folder's: one reached again
	 * through another link is not walked twice, or links arranged as a
	 * lattice (each folder linking twice to the next) would make the walk
	 * take 2^depth steps. */
	dir_id_t *seen;
	size_t nseen, cap_seen;
} walk_t;

int dataset_split_of(const char *name)
{
	if (strcmp(name, "train") == 0)
		return FEATDB_TRAIN;
	if (strcmp(name, "valid") == 0 || strcmp(name, "validation") == 0 ||
	    strcmp(name, "val") == 0)
		return FEATDB_VALID;
	if (strcmp(name, "test") == 0)
		return FEATDB_TEST;
	return -1;
}

int dataset_is_image_name(const char *name)
{
	/* Keras: fname.lower().endswith(white_list_formats), the formats
	 * without a dot.  No character outside ASCII lowercases to one of
	 * these letters, so a byte-wise, ASCII-only comparison is the same. */
	static const char *const ext[] = {"png", "jpg", "jpeg", "bmp", "ppm",
					  "tif", "tiff", "pgm"};
	size_t n = strlen(name);
	for (size_t i = 0; i < sizeof ext / sizeof *ext; i++) {
		size_t e = strlen(ext[i]);
		if (n >= e && strcasecmp(name + n - e, ext[i]) == 0)
			return 1;
	}
	return 0;
}

/* a/b; a folder given with a trailing slash (faces/) adds no second. */
static char *join(const char *a, const char *b)
{
	char *s = NULL;
	size_t n = strlen(a);
	if (!n)
		return strdup(b);
	if (asprintf(&s, "%s%s%s", a, a[n - 1] == '/' ? "" : "/", b) < 0)
		return NULL;
	return s;
}

static int grow(void **p, size_t *cap, size_t n, size_t elem)
{
	size_t want = *cap ? *cap * 2 : 64, bytes;
	void *q;
	if (n < *cap)
		return 0;
	if (err_mul_size(want, elem, &bytes))
		return -1;
	q = realloc(*p, bytes);
	if (!q)
		return -1;
	*p = q;
	*cap = want;
	return 0;
}

static int add_problem(walk_t *w, const char *path, const char *reason)
{
	dataset_t *ds = w->ds;
	if (grow((void **)&ds->problems, &w->cap_problems, ds->nproblems,
		 sizeof *ds->problems))
		return ERR_NOMEM;
	dataset_problem_t *p = &ds->problems[ds->nproblems];
	p->path = strdup(path);
	p->reason = strdup(reason);
	if (!p->path || !p->reason) {
		free(p->path);
		free(p->reason);
		return ERR_NOMEM;
	}
	ds->nproblems++;
	return 0;
}

static int add_item(walk_t *w, const char *root, const char *key, int cls,
		    int split)
{
	dataset_t *ds = w->ds;
	if (grow((void **)&ds->items, &w->cap_items, ds->n, sizeof *ds->items))
		return ERR_NOMEM;
	dataset_item_t *it = &ds->items[ds->n];
	it->key = strdup(key);
	it->path = join(root, key);
	it->cls = cls;
	it->split = split;
	if (!it->key || !it->path) {
		free(it->key);
		free(it->path);
		return ERR_NOMEM;
	}
	ds->n++;
	return 0;
}

static int add_unfollowed(walk_t *w, const char *path)
{
	dataset_t *ds = w->ds;
	if (grow((void **)&ds->unfollowed, &w->cap_unfollowed, ds->nunfollowed,
		 sizeof *ds->unfollowed) ||
	    !(ds->unfollowed[ds->nunfollowed] = strdup(path)))
		return ERR_NOMEM;
	ds->nunfollowed++;
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return classes_cmp(*(char *const *)a, *(char *const *)b);
}

/* Reads the names in dir (hidden ones left out), in Keras' order. */
static int list_dir(const char *dir, char ***names, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t cap = 0;
	int rc = 0;

	*names = NULL;
	*n = 0;
	if (!d)
		return -errno;
	for (;;) {
		/* errno tells readdir's end from its failure; reset it each
		 * time, as the calls below may set it even when they work. */
		errno = 0;
		if (!(e = readdir(d))) {
			rc = -errno;
			break;
		}
		if (e->d_name[0] == '.')
			continue;
		if (grow((void **)names, &cap, *n, sizeof **names) ||
		    !((*names)[*n] = strdup(e->d_name))) {
			rc = -ENOMEM;
			goto done;
		}
		(*n)++;
	}
done:
	closedir(d);
	if (rc == 0 && *n > 1)
		qsort(*names, *n, sizeof **names, cmp_name);
	return rc;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static int same_dir(const dir_id_t *d, const struct stat *st)
{
	return d->dev == st->st_dev && d->ino == st->st_ino;
}

/* Pushes the folder st on the way down; 0, or -1 when too deep. */
static int push(walk_t *w, const struct stat *st)
{
	if (w->depth == DATASET_MAX_DEPTH)
		return -1;
	w->up[w->depth++] = (dir_id_t){st->st_dev, st->st_ino};
	return 0;
}

static int walk_dir(walk_t *w, const char *root, const char *rel, int cls,
		    int split);

/* One entry of a class folder or of a folder below it: ROOT/key. */
static int walk_entry(walk_t *w, const char *root, const char *key,
		      const char *name, int cls, int split)
{
	char *path = join(root, key);
	struct stat st;
	int rc = 0, is_link;

	if (!path)
		return ERR_NOMEM;
	if (lstat(path, &st) != 0) {
		/* Gone since the folder was read: a problem only for an image. */
		rc = dataset_is_image_name(name) || errno != ENOENT
			     ? add_problem(w, path, strerror(errno))
			     : 0;
		goto done;
	}
	is_link = S_ISLNK(st.st_mode);
	if (is_link && stat(path, &st) != 0) {
		/* A broken link: os.walk lists it as a file. */
		rc = dataset_is_image_name(name) ? add_problem(w, path, strerror(errno))
						 : 0;
		goto done;
	}
	if (S_ISDIR(st.st_mode)) {
		if (is_link && !w->follow)
			rc = add_unfollowed(w, path);
		else
			rc = walk_dir(w, root, key, cls, split);
	} else if (!dataset_is_image_name(name)) {
		w->ds->nignored++;
	} else if (!S_ISREG(st.st_mode)) {
		rc = add_problem(w, path, "not a regular file");
	} else {
		rc = add_item(w, root, key, cls, split);
	}
done:
	free(path);
	return rc;
}

/* Walks ROOT/rel (a class folder or a folder inside one), adding its
 * images. */
static int walk_dir(walk_t *w, const char *root, const char *rel, int cls,
		    int split)
{
	char *dir = join(root, rel), **names = NULL;
	size_t n = 0;
	struct stat st;
	int rc = 0;

	if (!dir)
		return ERR_NOMEM;
	if (stat(dir, &st) != 0) {
		rc = add_problem(w, dir, strerror(errno));
		goto done;
	}
	for (int i = 0; i < w->depth; i++)
		if (same_dir(&w->up[i], &st)) {
			rc = add_problem(w, dir, "symbolic link loop, not followed");
			goto done;
		}
	for (size_t i = 0; i < w->nseen; i++)
		if (same_dir(&w->seen[i], &st)) {
			rc = add_problem(w, dir, "already walked through another link, "
					 "not followed");
			goto done;
		}
	if (grow((void **)&w->seen, &w->cap_seen, w->nseen, sizeof *w->seen)) {
		rc = ERR_NOMEM;
		goto done;
	}
	w->seen[w->nseen++] = (dir_id_t){st.st_dev, st.st_ino};
	int lrc = list_dir(dir, &names, &n);
	if (lrc) {
		rc = lrc == -ENOMEM ? ERR_NOMEM : add_problem(w, dir, strerror(-lrc));
		goto done;
	}
	if (push(w, &st) != 0) {
		rc = add_problem(w, dir, "folders nested too deep");
		goto done;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		char *key = join(rel, names[i]);
		rc = key ? walk_entry(w, root, key, names[i], cls, split) : ERR_NOMEM;
		free(key);
	}
	w->depth--;
done:
	free_names(names, n);
	free(dir);
	return rc;
}

static int is_dir(const char *root, const char *name)
{
	char *p = join(root, name);
	struct stat st;
	int r = p && stat(p, &st) == 0 && S_ISDIR(st.st_mode);
	free(p);
	return r;
}

/* The length of key's first component ("train" of "train/ann/1.jpg"). */
static size_t first_len(const char *key)
{
	const char *slash = strchr(key, '/');
	return slash ? (size_t)(slash - key) : strlen(key);
}

/* Keras' order (dataset.h): the split folder (has_splits, *arg), the class,
 * the folder (os.walk's root, compared as a string), the file name. */
static int cmp_item(const void *pa, const void *pb, void *arg)
{
	const dataset_item_t *a = pa, *b = pb;
	int c;

	if (*(const int *)arg &&
	    (c = classes_cmp_len(a->key, first_len(a->key), b->key, first_len(b->key))))
		return c;
	if (a->cls != b->cls)
		return a->cls < b->cls ? -1 : 1;
	const char *sa = strrchr(a->key, '/'), *sb = strrchr(b->key, '/');
	size_t da = sa ? (size_t)(sa - a->key) : 0, db = sb ? (size_t)(sb - b->key) : 0;
	if ((c = classes_cmp_len(a->key, da, b->key, db)))
		return c;
	return classes_cmp(sa ? sa + 1 : a->key, sb ? sb + 1 : b->key);
}

static void sort_items(dataset_t *ds)
{
	if (ds->n > 1)
		qsort_r(ds->items, ds->n, sizeof *ds->items, cmp_item, &ds->has_splits);
}

/* Adds name to the class list (kept unique; sorted at the end). */
static int add_class(dataset_t *ds, size_t *cap, const char *name)
{
	for (int i = 0; i < ds->nclasses; i++)
		if (strcmp(ds->classes[i], name) == 0)
			return i;
	if (grow((void **)&ds->classes, cap, (size_t)ds->nclasses,
		 sizeof *ds->classes) ||
	    !(ds->classes[ds->nclasses] = strdup(name)))
		return ERR_NOMEM;
	return ds->nclasses++;
}

/* Walks every class folder of ROOT/top (top "" for the plain layout). */
static int scan_classes(walk_t *w, const char *root, const char *top,
			int split, size_t *ccap)
{
	char *dir = join(root, top), **names = NULL;
	size_t n = 0;
	struct stat st;
	int rc = 0, depth = w->depth;

	if (!dir)
		return ERR_NOMEM;
	/* A split folder is on the way down from ROOT to its classes. */
	if (*top && stat(dir, &st) == 0 && push(w, &st) != 0)
		goto done;
	int lrc = list_dir(dir, &names, &n);
	if (lrc) {
		rc = lrc == -ENOMEM ? ERR_NOMEM : add_problem(w, dir, strerror(-lrc));
		goto done;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (!is_dir(dir, names[i])) {
			if (dataset_is_image_name(names[i]))
				rc = add_problem(w, names[i],
						 "image outside any class folder, ignored");
			continue;
		}
		if (strchr(names[i], '\n')) {
			rc = add_problem(w, names[i],
					 "class folder name contains a newline, ignored");
			continue;
		}
		int cls = add_class(w->ds, ccap, names[i]);
		if (cls < 0) {
			rc = cls;
			break;
		}
		char *rel = join(top, names[i]);
		w->nseen = 0; /* a folder may belong to two people, through links */
		rc = rel ? walk_dir(w, root, rel, cls, split) : ERR_NOMEM;
		free(rel);
	}
done:
	w->depth = depth;
	free_names(names, n);
	free(dir);
	return rc;
}

int dataset_scan(const char *root, int flags, dataset_t *ds, char *err)
{
	walk_t w = {.ds = ds, .follow = (flags & DATASET_FOLLOW_LINKS) != 0};
	char **top = NULL;
	size_t ntop = 0, ccap = 0;
	struct stat st;
	int rc = 0, nsplit = 0, nother = 0;
	int *remap = NULL;
	char **sorted = NULL;

	memset(ds, 0, sizeof *ds);
	if (stat(root, &st) != 0) {
		rc = errno == ENOENT ? ERR_MISSING : ERR_IO;
		err_set(err, rc, "%s: %s", root, strerror(errno));
		goto fail;
	}
	if (!S_ISDIR(st.st_mode)) {
		rc = err_set(err, ERR_IO, "%s: not a directory", root);
		goto fail;
	}
	push(&w, &st);
	int lrc = list_dir(root, &top, &ntop);
	if (lrc) {
		rc = err_set(err, lrc == -ENOMEM ? ERR_NOMEM : ERR_IO, "%s: %s",
			     root, strerror(-lrc));
		goto fail;
	}
	for (size_t i = 0; i < ntop; i++) {
		if (!is_dir(root, top[i]))
			continue;
		if (dataset_split_of(top[i]) >= 0)
			nsplit++;
		else
			nother++;
	}
	if (nsplit && nother) {
		rc = err_set(err, ERR_FORMAT,
			     "%s: mixes split folders (train/valid/test) with %d "
			     "other folders; use one layout", root, nother);
		goto fail;
	}
	ds->has_splits = nsplit > 0;
	for (size_t i = 0; i < ntop && rc == 0; i++) {
		if (ds->has_splits && is_dir(root, top[i]))
			rc = scan_classes(&w, root, top[i], dataset_split_of(top[i]),
					  &ccap);
	}
	if (!ds->has_splits && rc == 0)
		rc = scan_classes(&w, root, "", FEATDB_TRAIN, &ccap);
	if (rc) {
		err_set(err, rc, "%s: out of memory while scanning", root);
		goto fail;
	}
	if (ds->nclasses == 0) {
		/* A person's own folder given for the folder of people. */
		size_t nimages = 0;
		for (size_t i = 0; i < ntop; i++)
			nimages += !is_dir(root, top[i]) && dataset_is_image_name(top[i]);
		rc = err_set(err, ERR_FORMAT,
			     "%s: no class folders (expected %s/<person>/<images>)%s",
			     root, root, nimages ? "; the images in it are one person's? "
			     "Give the folder that holds a folder per person" : "");
		goto fail;
	}
	/* Class indices follow the names in Keras' order. */
	sorted = malloc((size_t)ds->nclasses * sizeof *sorted);
	remap = malloc((size_t)ds->nclasses * sizeof *remap);
	if (!sorted || !remap) {
		rc = err_set(err, ERR_NOMEM, "out of memory");
		goto fail;
	}
	memcpy(sorted, ds->classes, (size_t)ds->nclasses * sizeof *sorted);
	qsort(sorted, (size_t)ds->nclasses, sizeof *sorted, cmp_name);
	for (int i = 0; i < ds->nclasses; i++)
		for (int j = 0; j < ds->nclasses; j++)
			if (ds->classes[i] == sorted[j])
				remap[i] = j;
	for (size_t i = 0; i < ds->n; i++)
		ds->items[i].cls = remap[ds->items[i].cls];
	free(ds->classes);
	ds->classes = sorted;
	sorted = NULL;
	sort_items(ds);
	free(remap);
	free_names(top, ntop);
	free(w.seen);
	return 0;
fail:
	free(sorted);
	free(remap);
	free_names(top, ntop);
	free(w.seen);
	dataset_free(ds);
	return rc;
}

int dataset_scan_files(const char *root, dataset_t *ds, char *err)
{
	walk_t w = {.ds = ds, .follow = 1};
	struct stat st;
	int rc;

	memset(ds, 0, sizeof *ds);
	if (stat(root, &st) != 0)
		return err_set(err, errno == ENOENT ? ERR_MISSING : ERR_IO, "%s: %s",
			       root, strerror(errno));
	if (!S_ISDIR(st.st_mode)) {
		ds->items = calloc(1, sizeof *ds->items);
		if (ds->items && (ds->items[0].key = strdup(root)) &&
		    (ds->items[0].path = strdup(root))) {
			ds->n = 1;
			return 0;
		}
		dataset_free(ds);
		return err_set(err, ERR_NOMEM, "out of memory");
	}
	rc = walk_dir(&w, root, "", 0, FEATDB_TRAIN);
	free(w.seen);
	if (rc) {
		dataset_free(ds);
		return err_set(err, rc, "%s: out of memory while scanning", root);
	}
	sort_items(ds);
	return 0;
}

void dataset_free(dataset_t *ds)
{
	if (!ds)
		return;
	for (size_t i = 0; i < ds->n; i++) {
		free(ds->items[i].key);
		free(ds->items[i].path);
	}
	for (size_t i = 0; i < ds->nproblems; i++) {
		free(ds->problems[i].path);
		free(ds->problems[i].reason);
	}
	for (int i = 0; i < ds->nclasses; i++)
		free(ds->classes[i]);
	for (size_t i = 0; i < ds->nunfollowed; i++)
		free(ds->unfollowed[i]);
	free(ds->items);
	free(ds->problems);
	free(ds->classes);
	free(ds->unfollowed);
	memset(ds, 0, sizeof *ds);
}
