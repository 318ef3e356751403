/*
 * fuzz_acme_http.c - the header lines of the CA's HTTP answers as the
 * ACME client keeps them (ll_acme_resp_header, src/lib/acme_http.c):
 * the input is cut after each LF into lines, handed over one by one as
 * libcurl does, into one answer.
 *
 * After every line: the nonce is empty or 1 to LL_ACME_NONCE_MAX
 * base64url characters, the Location NULL or at most LL_ACME_MAX_URL
 * bytes, the Content-Type lower case without parameters, Retry-After
 * -1 or a number of seconds not below 0.  A status line ("HTTP/")
 * forgets all of them.  Nothing is read outside the line.
 *
 * Seeds (corpus/fuzz_acme_http/): header blocks as letterlockd sends
 * them (newNonce, 201 with Location, problem+json, the PEM chain, a
 * 100 Continue before the answer), Retry-After in seconds and as an
 * HTTP date, and broken ones (a nonce with '=', too long, no colon,
 * a Location of 3000 bytes, NUL bytes, folded lines).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acme_internal.h"
#include "fuzz.h"

static void check_resp(const struct ll_acme_resp *r)
{
	CHECK(memchr(r->nonce, '\0', sizeof(r->nonce)) != NULL);
	CHECK(r->nonce[0] == '\0' ||
	      ll_acme_b64url_ok(r->nonce, LL_ACME_NONCE_MAX));
	if (r->location != NULL)
		CHECK(strlen(r->location) <= LL_ACME_MAX_URL);
	CHECK(memchr(r->ctype, '\0', sizeof(r->ctype)) != NULL);
	for (const char *c = r->ctype; *c != '\0'; c++)
		CHECK(!(*c >= 'A' && *c <= 'Z') && *c != ';' && *c != ' ');
	CHECK(r->retry_after >= -1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ll_acme_resp r;
	size_t off = 0;

	ll_acme_resp_init(&r, LL_ACME_MAX_JSON);
	while (off < size) {
		const uint8_t *nl = memchr(data + off, '\n', size - off);
		size_t n = nl != NULL ? (size_t)(nl - (data + off)) + 1 :
					size - off;
		/* a copy of exactly the line, so that ASan sees any read
		 * past it */
		char *line = malloc(n);

		CHECK(line != NULL);
		memcpy(line, data + off, n);
		ll_acme_resp_header(&r, line, n);
		if (n >= 5 && memcmp(line, "HTTP/", 5) == 0)
			CHECK(r.nonce[0] == '\0' && r.location == NULL &&
			      r.ctype[0] == '\0' && r.retry_after == -1);
		free(line);
		check_resp(&r);
		off += n;
	}
	ll_acme_resp_reset(&r);
	CHECK(r.location == NULL && r.sink.body.p == NULL &&
	      r.sink.max == LL_ACME_MAX_JSON);
	return 0;
}
