/*
 * fuzz_jws.c - JOSE as letterlockd reads it off the network
 * (src/lib/jose.c):
 *
 *  - ll_jws_parse on the input; a JWS that parses has an algorithm we
 *    take, a "url", exactly one of "jwk" and "kid", and the payload that
 *    jansson and ll_b64url_decode read from it (checked here); when it
 *    carries a jwk, ll_jws_verify against that key, which says yes, no
 *    (LL_EDECRYPT) or "not this key" (LL_EPOLICY) and nothing else;
 *  - ll_jwk_parse on the input; a key that parses has a canonical JSON
 *    without private members that parses again to the same key, and a
 *    43-character thumbprint;
 *  - ll_b64url_decode on the input; what decodes encodes back to the
 *    input byte for byte (one encoding per value).
 *
 * A refusal leaves *out NULL with its code and a one-line message.
 *
 * Seeds (corpus/fuzz_jws/): flattened JWS made with Python's
 * `cryptography` (ES256, RS256, EdDSA; jwk and kid; POST-as-GET),
 * damaged copies (unprotected header, crit, duplicate keys, "none",
 * padding, DER signature, private or off-curve or RSA-1024 jwk), bare
 * JWKs and base64url strings.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/err.h>

#include <letterlock/jose.h>

#include "internal.h"
#include "fuzz.h"

static void check_refusal(int rc, const struct ll_error *err)
{
	CHECK(rc == LL_EPARSE || rc == LL_EPOLICY || rc == LL_ETOOBIG);
	CHECK(err->code == rc);
	CHECK(memchr(err->message, '\0', sizeof(err->message)) != NULL);
	CHECK(memchr(err->detail, '\0', sizeof(err->detail)) != NULL);
	CHECK(err->message[0] != '\0');
	CHECK(strchr(err->message, '\n') == NULL);
}

static int is_alg(const char *alg)
{
	return strcmp(alg, "ES256") == 0 || strcmp(alg, "RS256") == 0 ||
	       strcmp(alg, "EdDSA") == 0;
}

/* The invariants of a key that parsed. */
static void check_jwk(const struct ll_jwk *k)
{
	char tp[LL_JWK_THUMBPRINT_LEN + 1], tp2[LL_JWK_THUMBPRINT_LEN + 1];
	struct ll_jwk *again = NULL;
	char *json = NULL;

	CHECK(is_alg(ll_jwk_alg(k)));
	CHECK(ll_jwk_json(&json, k, NULL) == 0);
	CHECK(strstr(json, "\"d\"") == NULL);
	CHECK(ll_jwk_parse(&again, json, strlen(json), NULL) == 0);
	CHECK(ll_jwk_equal(k, again));
	CHECK(strcmp(ll_jwk_alg(k), ll_jwk_alg(again)) == 0);
	CHECK(ll_jwk_thumbprint(tp, k, NULL) == 0);
	CHECK(ll_jwk_thumbprint(tp2, again, NULL) == 0);
	CHECK(strlen(tp) == LL_JWK_THUMBPRINT_LEN);
	CHECK(strcmp(tp, tp2) == 0);
	ll_jwk_free(&again);
	free(json);
}

/* The payload of the JWS text DATA as jansson and the decoder see it
 * equals what ll_jws_parse kept. */
static void check_payload(const uint8_t *data, size_t size,
			  const struct ll_jws *jws)
{
	json_t *top = json_loadb((const char *)data, size, 0, NULL);
	const char *s, *p;
	unsigned char *want = NULL;
	size_t wlen = 0, plen = 0;

	CHECK(top != NULL);
	s = json_string_value(json_object_get(top, "payload"));
	CHECK(s != NULL);
	CHECK(ll_b64url_decode(&want, &wlen, s, strlen(s), LL_JWS_MAX, NULL) ==
	      0);
	p = ll_jws_payload(jws, &plen);
	CHECK(p != NULL && plen == wlen && p[plen] == '\0');
	CHECK(memcmp(p, want, plen) == 0);
	free(want);
	json_decref(top);
}

static void jws(const uint8_t *data, size_t size)
{
	struct ll_error err = { 0 };
	struct ll_jws *j = (struct ll_jws *)&err;
	const struct ll_jwk *k;
	int rc;

	rc = ll_jws_parse(&j, data, size, &err);
	if (rc < 0) {
		CHECK(j == NULL);
		check_refusal(rc, &err);
		return;
	}
	CHECK(rc == 0 && j != NULL);
	CHECK(size <= LL_JWS_MAX);
	CHECK(is_alg(ll_jws_alg(j)));
	CHECK(ll_jws_url(j) != NULL);
	k = ll_jws_jwk(j);
	CHECK((k == NULL) != (ll_jws_kid(j) == NULL));
	check_payload(data, size, j);
	if (k != NULL) {
		check_jwk(k);
		ll_error_clear(&err);
		rc = ll_jws_verify(j, k, &err);
		CHECK(rc == 0 || rc == LL_EDECRYPT || rc == LL_EPOLICY);
		CHECK(rc == 0 || err.code == rc);
		CHECK(rc != LL_EPOLICY ||
		      strcmp(ll_jws_alg(j), ll_jwk_alg(k)) != 0);
	}
	ll_jws_free(&j);
	CHECK(j == NULL);
}

static void jwk(const uint8_t *data, size_t size)
{
	struct ll_error err = { 0 };
	struct ll_jwk *k = (struct ll_jwk *)&err;
	int rc;

	rc = ll_jwk_parse(&k, (const char *)data, size, &err);
	if (rc < 0) {
		CHECK(k == NULL);
		check_refusal(rc, &err);
		return;
	}
	check_jwk(k);
	ll_jwk_free(&k);
}

static void b64url(const uint8_t *data, size_t size)
{
	unsigned char *d = NULL;
	char *e = NULL;
	size_t n = 0, elen = 0;

	if (ll_b64url_decode(&d, &n, (const char *)data, size, size, NULL) <
	    0) {
		CHECK(d == NULL && n == 0);
		return;
	}
	CHECK(d[n] == '\0');
	CHECK(ll_b64url_encode(&e, &elen, d, n, NULL) == 0);
	CHECK(elen == size && memcmp(e, data, size) == 0);
	free(e);
	free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	jws(data, size);
	jwk(data, size);
	b64url(data, size);
	ERR_clear_error();
	return 0;
}
