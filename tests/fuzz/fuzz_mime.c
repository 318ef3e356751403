/*
 * fuzz_mime.c - the bounded MIME splitter (src/lib/mime.c) and the
 * address lists (msg_addr.c): ll_mime_split, every header field,
 * ll_mime_ctype, ll_mime_parts with the parsed boundary (nested, a few
 * levels), ll_mime_decode_body, ll_msg_addresses.
 *
 * Checked besides the sanitizers: every slice handed back lies inside
 * the input, fields tile the header block, parts come in order without
 * overlapping, and CRLF canonicalisation leaves no bare LF.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "fuzz.h"


#define MAX_PARTS 16
#define MAX_NEST 4


static int inside(const struct ll_slice *s, const char *p, size_t len)
{
	return s->p >= p && s->len <= len && (size_t)(s->p - p) <= len - s->len;
}

static void fields(const struct ll_slice *hdr)
{
	struct ll_field f;
	size_t pos = 0, n = 0, prev = 0;
	char *v;

	while (ll_mime_next_field(hdr, &pos, &f)) {
		CHECK(pos > prev && pos <= hdr->len);
		CHECK(f.raw.p == hdr->p + prev);
		CHECK(f.raw.len == pos - prev);
		CHECK(inside(&f.name, f.raw.p, f.raw.len));
		CHECK(inside(&f.value, f.raw.p, f.raw.len));
		prev = pos;
		CHECK(++n <= hdr->len);
	}
	CHECK(pos == hdr->len || hdr->len == 0);
	v = ll_mime_get(hdr, "Content-Type");
	if (v != NULL)
		CHECK(strlen(v) <= hdr->len);
	free(v);
	(void)ll_mime_count(hdr, "Content-Transfer-Encoding");
}

static void entity(const char *p, size_t len, int depth)
{
	struct ll_error err = { 0 };
	struct ll_entity e;
	struct ll_ctype ct;
	struct ll_slice parts[MAX_PARTS];
	struct ll_buf out = { 0 };
	size_t n = 0;

	if (ll_mime_split(&e, p, len, &err) < 0)
		return;
	CHECK(inside(&e.all, p, len));
	CHECK(inside(&e.hdr, p, len));
	CHECK(inside(&e.body, p, len));
	CHECK(e.hdr.len > 0);
	CHECK(e.body.p >= e.hdr.p + e.hdr.len);
	CHECK(e.nl != NULL && (strcmp(e.nl, "\r\n") == 0 ||
			       strcmp(e.nl, "\n") == 0));
	fields(&e.hdr);

	if (ll_mime_decode_body(&out, &e, &err) == 0)
		CHECK(out.len <= e.body.len);
	ll_buf_free(&out);

	if (ll_mime_ctype(&ct, &e.hdr, &err) < 0 || ct.boundary[0] == '\0' ||
	    depth >= MAX_NEST)
		return;
	if (ll_mime_parts(parts, MAX_PARTS, &n, &e.body, ct.boundary, &err) <
	    0)
		return;
	CHECK(n <= MAX_PARTS);
	for (size_t i = 0; i < n; i++) {
		CHECK(inside(&parts[i], e.body.p, e.body.len));
		if (i > 0)
			CHECK(parts[i].p >= parts[i - 1].p + parts[i - 1].len);
		entity(parts[i].p, parts[i].len, depth + 1);
	}
}

static void addresses(const char *p, size_t len)
{
	static const enum ll_addr_field which[] = { LL_ADDR_FROM,
						    LL_ADDR_TO_CC,
						    LL_ADDR_BCC };

	for (size_t i = 0; i < sizeof(which) / sizeof(which[0]); i++) {
		struct ll_error err = { 0 };
		char **v = (char **)1;
		int rc = ll_msg_addresses(&v, p, len, which[i], &err);

		if (rc < 0) {
			CHECK(v == NULL);
			continue;
		}
		CHECK(v != NULL);
		for (size_t j = 0; v[j] != NULL; j++) {
			CHECK(strchr(v[j], '@') != NULL);
			CHECK(j < LL_MSG_MAX_RECIPIENTS);
		}
		ll_strv_free(&v);
		CHECK(v == NULL);
	}
}

static void canon(const char *p, size_t len)
{
	struct ll_buf out = { 0 };

	if (ll_crlf_add(&out, p, len) == 0) {
		CHECK(!ll_has_bare_lf(out.p ? out.p : "", out.len));
		CHECK(out.len >= len);
		if (!ll_has_bare_lf(p, len))
			CHECK(out.len == len &&
			      (len == 0 || memcmp(out.p, p, len) == 0));
	}
	ll_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;

	entity(p, size, 0);
	addresses(p, size);
	canon(p, size);
	return 0;
}
