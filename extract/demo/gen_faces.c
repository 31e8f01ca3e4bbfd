/* gen_faces - writes a small face-like data set for the demo and the tests:
 * OUT/<person>/<n>.jpg, each person a cartoon face with its own geometry and
 * colours, each image with its own pose, light and noise (seeded).
 *
 *   gen_faces --out DIR [--people N] [--images N] [--seed N] [--size WxH]
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h> /* after stdio.h: it needs FILE and size_t */

#include "base/rng.h"

typedef struct person {
	double face_w, face_h, eye_dx, eye_y, eye_r, mouth_w, mouth_y, nose;
	double skin[3], hair[3], eyes[3], bg[3];
	double hair_h;
} person_t;

static double uni(rng_t *r, double lo, double hi)
{
	return lo + (hi - lo) * rng_uniform(r);
}

static void make_person(person_t *p, rng_t *r)
{
	p->face_w = uni(r, 0.25, 0.38);
	p->face_h = uni(r, 0.33, 0.45);
	p->eye_dx = uni(r, 0.08, 0.15);
	p->eye_y = uni(r, -0.12, -0.04);
	p->eye_r = uni(r, 0.025, 0.05);
	p->mouth_w = uni(r, 0.07, 0.16);
	p->mouth_y = uni(r, 0.12, 0.22);
	p->nose = uni(r, 0.03, 0.08);
	p->hair_h = uni(r, 0.05, 0.25);
	/* Skin tones from dark to light: red > green > blue. */
	p->skin[0] = uni(r, 110, 245);
	p->skin[1] = p->skin[0] * uni(r, 0.62, 0.85);
	p->skin[2] = p->skin[1] * uni(r, 0.65, 0.9);
	for (int c = 0; c < 3; c++) {
		p->hair[c] = uni(r, 10, 200);
		p->eyes[c] = uni(r, 0, 120);
		p->bg[c] = uni(r, 0, 255);
	}
}

static int write_jpeg(const char *path, const unsigned char *rgb, int w, int h)
{
	struct jpeg_compress_struct c;
	struct jpeg_error_mgr e;
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	c.err = jpeg_std_error(&e);
	jpeg_create_compress(&c);
	jpeg_stdio_dest(&c, f);
	c.image_width = (JDIMENSION)w;
	c.image_height = (JDIMENSION)h;
	c.input_components = 3;
	c.in_color_space = JCS_RGB;
	jpeg_set_defaults(&c);
	jpeg_set_quality(&c, 92, TRUE);
	jpeg_start_compress(&c, TRUE);
	while (c.next_scanline < c.image_height) {
		JSAMPROW row = (JSAMPROW)(rgb + (size_t)c.next_scanline * w * 3);
		jpeg_write_scanlines(&c, &row, 1);
	}
	jpeg_finish_compress(&c);
	jpeg_destroy_compress(&c);
	return fclose(f) == 0 ? 0 : -1;
}

/* Renders one image of person p: u, v are coordinates centred on the face,
 * in units of the image size. */
static void render(const person_t *p, rng_t *r, unsigned char *rgb, int w, int h)
{
	double cx = uni(r, -0.06, 0.06), cy = uni(r, -0.06, 0.06);
	double scale = uni(r, 0.9, 1.1), light = uni(r, 0.75, 1.2);
	double tilt = uni(r, -0.15, 0.15), ct = cos(tilt), st = sin(tilt);
	double smile = uni(r, -0.02, 0.04);

	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			double x0 = ((double)x / w - 0.5 - cx) / scale;
			double y0 = ((double)y / h - 0.5 - cy) / scale;
			double u = ct * x0 + st * y0, v = -st * x0 + ct * y0;
			const double *col = p->bg;
			double fe = (u * u) / (p->face_w * p->face_w) +
				    (v * v) / (p->face_h * p->face_h);
			if (fe < 1) {
				col = p->skin;
				if (v < -p->face_h + p->hair_h)
					col = p->hair;
				for (int s = -1; s <= 1; s += 2) {
					double ex = u - s * p->eye_dx, ey = v - p->eye_y;
					if (ex * ex + ey * ey < p->eye_r * p->eye_r)
						col = p->eyes;
				}
				double my = v - p->mouth_y + smile * (u * u) * 40;
				if (fabs(u) < p->mouth_w && fabs(my) < 0.012)
					col = p->eyes;
				if (fabs(u) < 0.012 && v > -0.02 && v < p->nose)
					col = p->hair;
			} else if (fe < 1.15 && v < 0) {
				col = p->hair;
			}
			unsigned char *o = rgb + ((size_t)y * w + x) * 3;
			for (int c = 0; c < 3; c++) {
				double val = col[c] * light + uni(r, -12, 12);
				o[c] = (unsigned char)(val < 0 ? 0 : val > 255 ? 255 : val);
			}
		}
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"out", required_argument, 0, 'o'}, {"people", required_argument, 0, 'p'},
		{"images", required_argument, 0, 'n'}, {"seed", required_argument, 0, 's'},
		{"size", required_argument, 0, 'z'}, {"help", no_argument, 0, 'h'},
		{0, 0, 0, 0}};
	const char *out = NULL;
	int people = 6, images = 12, w = 96, h = 112, c;
	unsigned long long seed = 7;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'p': people = atoi(optarg); break;
		case 'n': images = atoi(optarg); break;
		case 's': seed = strtoull(optarg, NULL, 10); break;
		case 'z':
			if (sscanf(optarg, "%dx%d", &w, &h) != 2) {
				fprintf(stderr, "gen_faces: --size WxH\n");
				return 2;
			}
			break;
		case 'h':
			printf("usage: gen_faces --out DIR [--people N] [--images N] "
			       "[--seed N] [--size WxH]\n");
			return 0;
		default:
			return 2;
		}
	}
	if (!out || people < 1 || people > 1000 || images < 1 || images > 10000 ||
	    w < 8 || h < 8 || w > 4096 || h > 4096) {
		fprintf(stderr, "gen_faces: need --out DIR and sane --people/--images/--size\n");
		return 2;
	}
	if (mkdir(out, 0777) != 0 && errno != EEXIST) {
		fprintf(stderr, "gen_faces: %s: %s\n", out, strerror(errno));
		return 1;
	}
	unsigned char *rgb = malloc((size_t)w * h * 3);
	if (!rgb)
		return 1;
	for (int i = 0; i < people; i++) {
		rng_t r = {seed * 1000003ULL + (unsigned long long)i};
		person_t p;
		char dir[4096], path[4200];
		make_person(&p, &r);
		snprintf(dir, sizeof dir, "%s/person_%02d", out, i + 1);
		if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
			fprintf(stderr, "gen_faces: %s: %s\n", dir, strerror(errno));
			return 1;
		}
		for (int k = 0; k < images; k++) {
			render(&p, &r, rgb, w, h);
			snprintf(path, sizeof path, "%s/%03d.jpg", dir, k + 1);
			if (write_jpeg(path, rgb, w, h) != 0) {
				fprintf(stderr, "gen_faces: %s: %s\n", path, strerror(errno));
				return 1;
			}
		}
	}
	free(rgb);
	return 0;
}
