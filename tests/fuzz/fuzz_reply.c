/*
 * fuzz_reply.c - the RFC 8823 response email as letterlockd reads it
 * (src/service/mail_reply.c, lld_reply_parse): header fields, From,
 * Subject (folded, RFC 2047), the first text/plain part of nested
 * multiparts, quoted-printable and base64 bodies, the response block.
 *
 * Checked besides the sanitizers: a reply that parses has a token of
 * 1..LLD_TOKEN_MAX base64url characters and a digest of base64url
 * characters, every string is NUL-terminated inside its array, and the
 * From is either empty or one address whose domain is from_domain,
 * lower case; a refused one leaves the token empty and says why.  The
 * same message with LF line ends reads the same.
 *
 * Seeds (corpus/fuzz_reply/): replies in the shapes tests/unit/
 * test_reply.c uses (CRLF and LF, Re: and folded or encoded Subjects,
 * quoted-printable and base64 bodies, multipart/alternative, nested
 * multiparts, HTML only, groups and display names in From, List-Id,
 * broken response blocks).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "mail.h"
#include "fuzz.h"

static int b64url_only(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return 0;
	return 1;
}

static int terminated(const char *s, size_t cap)
{
	return memchr(s, '\0', cap) != NULL;
}

static void check_reply(const struct lld_reply *r)
{
	const char *at;

	CHECK(terminated(r->from, sizeof(r->from)));
	CHECK(terminated(r->from_domain, sizeof(r->from_domain)));
	CHECK(terminated(r->token1, sizeof(r->token1)));
	CHECK(terminated(r->digest, sizeof(r->digest)));
	CHECK(r->token1[0] != '\0' && strlen(r->token1) <= LLD_TOKEN_MAX);
	CHECK(b64url_only(r->token1));
	CHECK(r->digest[0] != '\0' && b64url_only(r->digest));
	CHECK(r->from_count >= 0);
	CHECK(r->has_list_header == 0 || r->has_list_header == 1);
	if (r->from[0] == '\0') {
		CHECK(r->from_domain[0] == '\0');
		return;
	}
	CHECK(r->from_count == 1);
	at = strrchr(r->from, '@');
	CHECK(at != NULL && at != r->from);
	CHECK(strcmp(at + 1, r->from_domain) == 0);
	for (const char *s = r->from_domain; *s; s++)
		CHECK(!(*s >= 'A' && *s <= 'Z'));
}

/* P (N bytes) with every CRLF made LF, into a buffer of exactly that
 * size; its length in *out_len. */
static char *to_lf(const char *p, size_t n, size_t *out_len)
{
	char *o = malloc(n ? n : 1);
	size_t k = 0;

	CHECK(o != NULL);
	for (size_t i = 0; i < n; i++)
		if (!(p[i] == '\r' && i + 1 < n && p[i + 1] == '\n'))
			o[k++] = p[i];
	*out_len = k;
	return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ll_error err = { 0 };
	struct lld_reply r, r2;
	char *lf;
	size_t lflen;
	int rc, rc2;

	rc = lld_reply_parse(&r, (const char *)data, size, &err);
	if (rc < 0) {
		CHECK(rc == LL_EPARSE || rc == LL_ETOOBIG || rc == LL_ENOMEM);
		CHECK(err.code == rc && err.message[0] != '\0');
		CHECK(terminated(err.message, sizeof(err.message)));
		CHECK(r.token1[0] == '\0' && r.from[0] == '\0' &&
		      r.digest[0] == '\0');
		return 0;
	}
	check_reply(&r);

	/*
	 * The same message with LF line ends: the header, Subject and
	 * block read the same (a quoted-printable or base64 body may
	 * hold CR bytes of its own, and a bare CR before LF inside a
	 * header value is not a line end for the splitter, so only a
	 * message without other CRs is compared).
	 */
	if (memchr(data, '\r', size) == NULL)
		return 0;
	lf = to_lf((const char *)data, size, &lflen);
	if (memchr(lf, '\r', lflen) == NULL) {
		rc2 = lld_reply_parse(&r2, lf, lflen, NULL);
		if (rc2 == 0) {
			check_reply(&r2);
			CHECK(strcmp(r.token1, r2.token1) == 0);
			CHECK(strcmp(r.digest, r2.digest) == 0);
			CHECK(strcmp(r.from, r2.from) == 0);
			CHECK(r.from_count == r2.from_count);
			CHECK(r.has_list_header == r2.has_list_header);
		}
	}
	free(lf);
	return 0;
}
