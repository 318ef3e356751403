/*
 * fuzz_imapd.c - what the bridge reads from IMAP clients and servers
 * (src/bridge/imap_parse.c), as its session and its upstream child use
 * it.
 *
 * The first byte of the input chooses the size of the pieces the rest
 * is fed in (1 to 256 bytes), the second the caps (literal 0 to 255
 * bytes or 64 KiB; unit 2 lines or 1 MiB); the rest is one side of a
 * session.  Each unit's arguments are read as the session reads LOGIN.
 * Checked:
 *  - the reader takes no more than it is given and progresses unless
 *    it gives a unit or stops;
 *  - a unit is at most the unit cap, ends in LF, and holds no literal
 *    over the literal cap;
 *  - imap_arg's output is NUL-terminated within its buffer and it
 *    moves forward within the unit;
 *  - as a server's response (imap_rewrite.c): the capability list cut
 *    is no longer than the line; a UID is 1 to 4294967295; the unit with
 *    its whole-message literals rewritten reads back as one unit of
 *    the same length; each such message's header fields
 *    (imap_field_next) follow each other within it, its S/MIME kind
 *    is read, and it is encrypted only if that kind is enveloped;
 *  - the FETCH handler's reading (imap_fetchwire.c): a response's
 *    items, their strings and a header field in them lie within the
 *    unit, in order; a UID item's value is a number of 1 to
 *    4294967295; a client's FETCH line parsed points into it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "imap_fetchcmd.h"
#include "imap_parse.h"
#include "imap_rewrite.h"

/* The rewriting of the fuzzer: the message with one byte before it. */
static int wrap(void *arg, const char *msg, size_t n, char **out,
		size_t *outlen)
{
	struct imap_field f;
	size_t pos = 0;

	(void)arg;
	/* the header's fields follow each other within the message */
	while (imap_field_next(msg, n, &pos, &f) == 1)
		CHECK(f.line > 0 && f.line <= f.len &&
		      f.p + f.len == msg + pos && pos <= n);
	CHECK(pos <= n);
	CHECK(imap_message_smime(msg, n) <= IMAP_SMIME_ENVELOPED);
	CHECK(!imap_message_encrypted(msg, n) ||
	      imap_message_smime(msg, n) == IMAP_SMIME_ENVELOPED);
	*out = malloc(n + 1);
	CHECK(*out != NULL);
	(*out)[0] = '#';
	memcpy(*out + 1, msg, n);
	*outlen = n + 1;
	return 0;
}

static void response(const struct imap_reader *r)
{
	const char *lf = memchr(r->buf, '\n', r->len), *cap;
	char *out = NULL, uid[16];
	size_t n = 0, used = 0;
	struct imap_reader back;

	cap = strstr(r->buf, "CAPABILITY ");
	if (cap != NULL && cap < lf && r->len <= IMAP_LINE_MAX) {
		static char tmp[IMAP_LINE_MAX + 1];

		n = imap_cap_filter(tmp, r->buf, r->len,
				    (size_t)(cap - r->buf) + 11);
		CHECK(n <= r->len);
	}
	if (imap_fetch_uid(uid, r->buf, (size_t)(lf - r->buf)) == 0)
		CHECK(strlen(uid) >= 1 && strlen(uid) <= 10 &&
		      strspn(uid, "0123456789") == strlen(uid) &&
		      strtoul(uid, NULL, 10) >= 1 &&
		      strtoul(uid, NULL, 10) <= UINT32_MAX);
	if (imap_rewrite_literals(r->buf, r->len, wrap, NULL, &out, &n) == 1) {
		imap_reader_init(&back, SIZE_MAX / 2, SIZE_MAX / 2);
		CHECK(imap_reader_feed(&back, out, n, &used) != IMAP_MORE ||
		      used == n);
		/* a synchronizing literal stops the reader: read on */
		while (used < n) {
			size_t more = 0;
			int rc = imap_reader_feed(&back, out + used, n - used,
						  &more);

			used += more;
			CHECK(rc >= 0);
			if (rc == IMAP_UNIT)
				break;
		}
		CHECK(used == n && back.len == n);
		imap_reader_free(&back);
		free(out);
	}
}

/* Inside the unit R: [P, P + N). */
#define WITHIN(r, p, n)                        \
	((p) >= (r)->buf && (n) <= (r)->len && \
	 (size_t)((p) - (r)->buf) <= (r)->len - (n))

static void fetch_items(const struct imap_reader *r)
{
	struct imap_resp_item v[IMAP_RESP_ITEMS_MAX];
	struct imap_fetch_cmd c;
	const char *prev = r->buf, *p, *hv;
	unsigned long seq;
	size_t n, sn, hn;

	if (imap_fetch_resp_items(r->buf, r->len, &seq, v, &n) == 0) {
		CHECK(n <= IMAP_RESP_ITEMS_MAX);
		for (size_t i = 0; i < n; i++) {
			CHECK(v[i].name >= prev && v[i].namelen > 0 &&
			      v[i].name + v[i].namelen < v[i].value &&
			      WITHIN(r, v[i].value, v[i].valuelen));
			prev = v[i].value + v[i].valuelen;
			/* a UID item is a 32-bit nz-number, all of it */
			if (imap_resp_item_is(&v[i], "UID"))
				CHECK(v[i].valuelen <= 10 &&
				      strspn(v[i].value, "0123456789") ==
					      v[i].valuelen &&
				      strtoul(v[i].value, NULL, 10) >= 1 &&
				      strtoul(v[i].value, NULL, 10) <=
					      UINT32_MAX);
			if (imap_resp_string(v[i].value, v[i].valuelen, &p,
					     &sn) < 0)
				continue;
			CHECK(p >= v[i].value &&
			      p + sn <= v[i].value + v[i].valuelen);
			if (imap_header_value(p, sn, "Content-Type", &hv,
					      &hn) == 1)
				CHECK(hv > p && hv + hn <= p + sn);
		}
	}
	if (imap_fetch_cmd_parse(r->buf, r->len, &c) == 0)
		CHECK(strlen(c.tag) > 0 && strlen(c.tag) < sizeof(c.tag) &&
		      WITHIN(r, c.set, c.setlen) && c.setlen > 0 &&
		      WITHIN(r, c.items, c.itemslen) && c.itemslen > 0 &&
		      c.items > c.set);
}

static void unit(const struct imap_reader *r)
{
	const char *p = r->buf, *end = r->buf + r->len;
	char out[IMAP_ARG_MAX];

	CHECK(r->len > 0 && r->len <= r->unit_max);
	CHECK(r->buf[r->len - 1] == '\n');
	for (int i = 0; i < 8; i++) {
		const char *was = p;

		if (imap_arg(&p, end, out, sizeof(out)) < 0)
			break;
		CHECK(p > was && p <= end);
		CHECK(memchr(out, '\0', sizeof(out)) != NULL);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_reader r;
	size_t piece, at = 2;
	int stopped = 0;

	if (size < 2)
		return 0;
	piece = (size_t)data[0] + 1;
	imap_reader_init(&r, data[1] & 0x80 ? 65536 : data[1] & 0x7f,
			 data[1] & 1 ? 2 * IMAP_LINE_MAX : 1 << 20);
	while (at < size && !stopped) {
		size_t end = at + piece < size ? at + piece : size;

		while (at < end) {
			size_t used = 0;
			int rc = imap_reader_feed(&r, (const char *)data + at,
						  end - at, &used);

			CHECK(used <= end - at);
			at += used;
			if (rc == IMAP_UNIT) {
				unit(&r);
				response(&r);
				fetch_items(&r);
				imap_reader_next(&r);
			} else if (rc < 0) {
				stopped = 1;
				break;
			} else if (rc == IMAP_MORE) {
				CHECK(at == end);
			} else {
				CHECK(rc == IMAP_SYNC);
			}
		}
	}
	imap_reader_free(&r);
	return 0;
}
