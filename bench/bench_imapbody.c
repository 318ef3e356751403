/*
 * bench_imapbody.c - how long the bridge takes to answer FETCH items
 * from a message it holds (src/bridge/imap_body.h): parse, then
 * BODYSTRUCTURE, ENVELOPE and one section, for message shapes that
 * could make a parser slow, at two sizes (24 and 96 MiB: both larger
 * than the caches) so that the growth shows (linear: about 4x).
 *
 *   bench_imapbody [ROUNDS]
 *
 * Shapes: many parts (2 KiB base64 attachments up to the size; past
 * 10,000 parts the rest is one body), one large part, 32 nested
 * multiparts whose body is lines that begin like a delimiter and are
 * none, a header of many short fields.  Output: one line a shape and
 * size, the best of ROUNDS (default 5) in milliseconds and MiB/s.
 * Not a test: the figures depend on the machine.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imap_body.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void add(struct imap_buf *o, const char *s)
{
	imap_buf_add(o, s, strlen(s));
}

/* A message of SHAPE, about SIZE bytes, into O. */
static void make(struct imap_buf *o, const char *shape, size_t size)
{
	char line[160];

	add(o, "From: bench@example.test\r\nTo: you@example.test\r\n"
	       "Subject: bench\r\n");
	if (strcmp(shape, "parts") == 0) {
		add(o, "Content-Type: multipart/mixed; boundary=zz\r\n\r\n");
		for (int i = 0; o->len < size; i++) {
			snprintf(line, sizeof(line),
				 "--zz\r\nContent-Type: application/pdf; "
				 "name=p%d.pdf\r\nContent-Transfer-Encoding: "
				 "base64\r\n\r\n",
				 i);
			add(o, line);
			for (int l = 0; l < 36; l++)
				add(o, "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVph"
				       "YmNkZWZnaGlqa2xtbm9wcXJzdHV2\r\n");
		}
		add(o, "--zz--\r\n");
	} else if (strcmp(shape, "one-part") == 0) {
		add(o, "Content-Type: application/octet-stream\r\n\r\n");
		while (o->len < size)
			add(o,
			    "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlq"
			    "a2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n");
	} else if (strcmp(shape, "near-delimiters") == 0) {
		for (int i = 0; i < 32; i++) {
			snprintf(
				line, sizeof(line),
				"Content-Type: multipart/mixed; "
				"boundary=boundary%02d\r\n\r\n--boundary%02d\r\n",
				i, i);
			add(o, line);
		}
		add(o, "\r\n");
		while (o->len < size)
			add(o, "--boundary9x begins like a delimiter\r\n");
	} else {
		while (o->len < size)
			add(o, "X-Field: a short value\r\n");
		add(o, "\r\nbody\r\n");
	}
}

int main(int argc, char **argv)
{
	static const char *const shapes[] = { "parts", "one-part",
					      "near-delimiters", "fields" };
	static const char *const list =
		"(BODYSTRUCTURE ENVELOPE BODY.PEEK[1.MIME] RFC822.SIZE)";
	int rounds = argc > 1 ? atoi(argv[1]) : 5;
	struct imap_items items;

	if (rounds < 1 || imap_items_parse(list, strlen(list), &items) < 0)
		return 2;
	printf("shape\tMiB\tbest ms\tMiB/s\n");
	for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		for (size_t mib = 24; mib <= 96; mib *= 4) {
			struct imap_buf msg = { 0 };
			double best = 1e9;

			make(&msg, shapes[s], mib << 20);
			if (msg.failed)
				return 1;
			for (int r = 0; r < rounds; r++) {
				struct imap_msg *m = NULL;
				double t = now();

				if (imap_msg_parse(msg.p, msg.len, &m) < 0)
					return 1;
				for (size_t i = 0; i < items.n; i++) {
					struct imap_buf o = { 0 };

					if (imap_msg_render(m, &items.v[i],
							    &o) < 0 ||
					    o.failed)
						return 1;
					free(o.p);
				}
				imap_msg_free(&m);
				t = now() - t;
				if (t < best)
					best = t;
			}
			printf("%s\t%.1f\t%.1f\t%.0f\n", shapes[s],
			       (double)msg.len / (1 << 20), best * 1e3,
			       (double)msg.len / (1 << 20) / best);
			free(msg.p);
		}
	}
	return 0;
}
