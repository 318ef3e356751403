/*
 * imap_body_tool.c - the FETCH items of src/bridge/imap_body.c for a
 * message in a file, for tests/integration/test_imap_body.sh (built,
 * not installed, not run as a unit test).
 *
 *   imap_body_tool FILE ITEM...
 *
 * Each ITEM is a FETCH item list ("BODYSTRUCTURE", "BODY.PEEK[1.MIME]",
 * "(RFC822.SIZE ENVELOPE)"); for each item of it answered from the
 * message, its "NAME VALUE" is written as "<length>\n<bytes>\n" (an
 * empty record for an item that could not be rendered).  Exit 1 when
 * an ITEM is no valid list or an item could not be rendered.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/bridge/imap_body.h"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	size_t cap = 0;

	*len = 0;
	if (f == NULL)
		return NULL;
	for (;;) {
		size_t got;

		if (*len == cap) {
			char *q = realloc(p, cap ? cap * 2 : 65536);

			if (q == NULL) {
				free(p);
				fclose(f);
				return NULL;
			}
			p = q;
			cap = cap ? cap * 2 : 65536;
		}
		got = fread(p + *len, 1, cap - *len, f);
		if (got == 0)
			break;
		*len += got;
	}
	fclose(f);
	return p;
}

int main(int argc, char **argv)
{
	struct imap_msg *m = NULL;
	size_t len;
	char *data;
	int rc = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: imap_body_tool FILE ITEM...\n");
		return 2;
	}
	data = slurp(argv[1], &len);
	if (data == NULL || imap_msg_parse(data, len, &m) < 0) {
		fprintf(stderr, "imap_body_tool: cannot read %s\n", argv[1]);
		free(data);
		return 2;
	}
	for (int i = 2; i < argc; i++) {
		struct imap_items items;

		if (imap_items_parse(argv[i], strlen(argv[i]), &items) < 0) {
			fprintf(stderr, "imap_body_tool: bad item %s\n",
				argv[i]);
			printf("0\n\n");
			rc = 1;
			continue;
		}
		for (size_t j = 0; j < items.n; j++) {
			struct imap_buf o = { 0 };

			if (imap_msg_render(m, &items.v[j], &o) < 0 ||
			    o.failed) {
				fprintf(stderr, "imap_body_tool: %.*s\n",
					(int)items.v[j].len, items.v[j].text);
				printf("0\n\n");
				rc = 1;
			} else {
				printf("%zu\n", o.len);
				fwrite(o.p, 1, o.len, stdout);
				printf("\n");
			}
			free(o.p);
		}
	}
	imap_msg_free(&m);
	free(data);
	return rc;
}
