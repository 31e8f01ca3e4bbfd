/* answer.c - two images' verdict, printed (verify.h): a line of text, or
 * DeepFace.verify's keys in JSON. */
#include <stdio.h>

#include "cli.h"
#include "verify.h"

/* s as a JSON string: '"', '\\' and the control characters escaped; other
 * bytes as they are (paths are UTF-8 or bytes, and JSON is UTF-8). */
static void put_json_string(FILE *f, const char *s)
{
	putc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p == '\t')
			fputs("\\t", f);
		else if (*p == '\r')
			fputs("\\r", f);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			putc(*p, f);
	}
	putc('"', f);
}

void vf_answer_print(const vf_answer_t *ans, int json)
{
	if (!json) {
		cli_put_tsv(stdout, ans->a);
		putchar('\t');
		cli_put_tsv(stdout, ans->b);
		printf("\t%.6f\t%.6f\t%s\n", ans->distance, ans->threshold,
		       ans->same ? "same" : "different");
		return;
	}
	printf("{\"verified\": %s, \"distance\": %.6f, \"threshold\": %.6f, "
	       "\"model\": ", ans->same ? "true" : "false", ans->distance,
	       ans->threshold);
	put_json_string(stdout, ans->model);
	printf(", \"detector_backend\": \"skip\", \"similarity_metric\": ");
	put_json_string(stdout, ans->metric);
	printf(", \"time\": %.2f}\n", ans->seconds);
}
