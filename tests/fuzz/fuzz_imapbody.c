/*
 * fuzz_imapbody.c - the FETCH items the bridge answers from a message
 * (src/bridge/imap_body.c, imap_msg.c, imap_bodystruct.c).
 *
 * The input's first line (up to LF, at most 600 bytes) is a FETCH item
 * list; the rest is the message.  When the line is no valid list, a
 * list of every kind of item is used.  Every item is rendered.
 * Checked:
 *  - imap_items_parse gives at most IMAP_ITEMS_MAX items, each within
 *    the list, a section NUL-terminated;
 *  - every content item renders (0, nothing failed but memory);
 *  - each item is one response item: literals announce their sizes
 *    rightly, no line end outside them, no NUL;
 *  - RFC822.SIZE is the message's length, BODY[] and RFC822 are the
 *    message (a NUL as 0x80).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "imap_body.h"

static const char every[] =
	"(FLAGS RFC822.SIZE ENVELOPE BODY BODYSTRUCTURE RFC822 "
	"RFC822.HEADER RFC822.TEXT BODY[] BODY.PEEK[TEXT]<3.40> BODY[1] "
	"BODY[1.MIME] BODY[2.1] BODY[2.HEADER] BODY[2.TEXT] BODY[1.2.3] "
	"BODY[HEADER.FIELDS (FROM To \"Subject\")] "
	"BODY[1.HEADER.FIELDS.NOT (CONTENT-TYPE)]<0.10>)";

/*
 * O is one response item: line ends only as the CRLF after a literal's
 * "{n}", each literal's n bytes there, no NUL anywhere.  (What the
 * reader of imap_parse.c would check but for its cap on line length:
 * a BODYSTRUCTURE line may be longer, as Dovecot's are.)
 */
static void one_item(const char *o, size_t n)
{
	CHECK(memchr(o, '\0', n) == NULL);
	for (size_t i = 0; i < n;) {
		size_t digits = i, len;

		if (o[i] != '\r' && o[i] != '\n') {
			i++;
			continue;
		}
		CHECK(o[i] == '\r' && i + 1 < n && o[i + 1] == '\n');
		CHECK(i >= 3 && o[i - 1] == '}');
		digits = i - 1;
		while (digits > 0 && o[digits - 1] >= '0' &&
		       o[digits - 1] <= '9')
			digits--;
		CHECK(digits >= 1 && o[digits - 1] == '{' && digits < i - 1);
		len = strtoul(o + digits, NULL, 10);
		i += 2;
		CHECK(len <= n - i);
		i += len;
	}
}

/* O is "NAME {n}\r\n" and the message's bytes. */
static void is_message(const char *o, size_t n, const char *msg, size_t len)
{
	const char *lit = memchr(o, '{', n);

	CHECK(lit != NULL);
	lit = strstr(lit, "}\r\n");
	CHECK(lit != NULL);
	lit += 3;
	CHECK((size_t)(o + n - lit) == len);
	for (size_t i = 0; i < len; i++)
		CHECK(lit[i] == (msg[i] == '\0' ? '\x80' : msg[i]));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	const char *lf = memchr(in, '\n', size < 600 ? size : 600);
	const char *msg = lf != NULL ? lf + 1 : in;
	size_t len = size - (size_t)(msg - in);
	static struct imap_items items;
	struct imap_msg *m = NULL;

	if (lf == NULL || imap_items_parse(in, (size_t)(lf - in), &items) < 0)
		CHECK(imap_items_parse(every, strlen(every), &items) == 0);
	CHECK(items.n <= IMAP_ITEMS_MAX);
	if (imap_msg_parse(msg, len, &m) < 0)
		return 0; /* out of memory */
	for (size_t i = 0; i < items.n; i++) {
		const struct imap_item *it = &items.v[i];
		struct imap_buf o = { 0 };
		int rc;

		CHECK(memchr(it->section, '\0', sizeof(it->section)) != NULL);
		rc = imap_msg_render(m, it, &o);
		CHECK(rc == (imap_item_content(it) ? 0 : -1));
		if (rc == 0 && !o.failed) {
			one_item(o.p, o.len);
			if (it->kind == IMAP_ITEM_RFC822_SIZE) {
				char want[32];

				snprintf(want, sizeof(want), "RFC822.SIZE %zu",
					 len);
				CHECK(strcmp(o.p, want) == 0);
			}
			if (it->kind == IMAP_ITEM_RFC822 ||
			    (it->kind == IMAP_ITEM_SECTION &&
			     it->section[0] == '\0' && !it->partial))
				is_message(o.p, o.len, msg, len);
		}
		free(o.p);
	}
	imap_msg_free(&m);
	return 0;
}
