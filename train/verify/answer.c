/* answer.c - two images' verdict, printed (verify.h): a line of text, or
 * DeepFace.verify's keys in JSON, as Python's json.dumps writes DeepFace's
 * dictionary (base/jsonw.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/jsonw.h"
#include "cli.h"
#include "error.h"
#include "verify.h"

int vf_answer_print(const vf_answer_t *ans, int json, char *err)
{
	jsonw_t j = {0};
	char *text = NULL;
	int rc;

	if (!json) {
		cli_put_tsv(stdout, ans->a);
		putchar('\t');
		cli_put_tsv(stdout, ans->b);
		printf("\t%.6f\t%.6f\t%s\n", ans->distance, ans->threshold,
		       ans->same ? "same" : "different");
		return 0;
	}
	/* DeepFace rounds the distance to 6 decimals (np.round) and the time
	 * to 2 (round), and reports the threshold as it was given. */
	jsonw_begin_object(&j);
	jsonw_key(&j, "verified");
	jsonw_bool(&j, ans->same);
	jsonw_key(&j, "distance");
	jsonw_real(&j, round(ans->distance * 1e6) / 1e6);
	jsonw_key(&j, "threshold");
	jsonw_real(&j, ans->threshold);
	jsonw_key(&j, "model");
	jsonw_string(&j, ans->model);
	jsonw_key(&j, "detector_backend");
	jsonw_string(&j, "skip");
	jsonw_key(&j, "similarity_metric");
	jsonw_string(&j, ans->metric);
	jsonw_key(&j, "time");
	jsonw_real(&j, round(ans->seconds * 100) / 100);
	jsonw_end_object(&j);
	if ((rc = jsonw_finish(&j, &text, err)) == 0)
		printf("%s\n", text);
	free(text);
	return rc;
}
