/*
 * test_jose.c - src/lib/jose.c: base64url (RFC 4648 vectors, the strict
 * decoder, OpenSSL's encoder as an independent reference), JWK
 * thumbprints (RFC 7638 section 3.1, RFC 8037 appendix A.3), the
 * RFC 7515 appendix A.3 (ES256) and RFC 8037 appendix A.4 (EdDSA)
 * signatures, sign/verify round trips for ES256, RS256 and EdDSA, what
 * RFC 8555 section 6.2 makes the parser refuse, PEM round trips, and the
 * RFC 8823 digest recomputed here with OpenSSL.
 *
 * The RFC examples are JWS whose protected header is only {"alg":...}:
 * ll_jws_parse refuses them by design (no "url", no "jwk" or "kid").  To
 * check their signatures with the code under ll_jws_verify, this file
 * compiles jose.c in and calls its verify_input() and sign_input().
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/rand.h>
#include <openssl/x509.h>

#include "jose.c"

/* ---- helpers ---- */

static struct ll_jwk *keys[3]; /* ES256, RS256, EdDSA */
static const char *const algs[] = { "ES256", "RS256", "EdDSA" };

static int setup_keys(void **state)
{
	(void)state;
	for (size_t i = 0; i < LL_ARRAY_SIZE(algs); i++)
		if (ll_jwk_generate(&keys[i], algs[i], NULL) != 0)
			return -1;
	return 0;
}

static int teardown_keys(void **state)
{
	(void)state;
	for (size_t i = 0; i < LL_ARRAY_SIZE(keys); i++)
		ll_jwk_free(&keys[i]);
	return 0;
}

/* A message: non-empty, one line, NUL-terminated. */
static void assert_message(const struct ll_error *err, int rc)
{
	assert_int_equal(err->code, rc);
	assert_non_null(memchr(err->message, '\0', sizeof(err->message)));
	assert_true(err->message[0] != '\0');
	assert_null(strchr(err->message, '\n'));
}

static char *b64u(const void *p, size_t n)
{
	char *s = NULL;

	assert_int_equal(ll_b64url_encode(&s, NULL, p, n, NULL), 0);
	return s;
}

static char *b64u_str(const char *s)
{
	return b64u(s, strlen(s));
}

/* base64url by OpenSSL's base64 encoder: the independent reference. */
static char *ref_b64url(const unsigned char *p, size_t n)
{
	char *s = malloc(n / 3 * 4 + 5);
	int len;

	assert_non_null(s);
	len = EVP_EncodeBlock((unsigned char *)s, p, (int)n);
	assert_true(len >= 0);
	while (len > 0 && s[len - 1] == '=')
		len--;
	s[len] = '\0';
	for (char *q = s; *q != '\0'; q++) {
		if (*q == '+')
			*q = '-';
		else if (*q == '/')
			*q = '_';
	}
	return s;
}

/* A flattened JWS of the protected header HDR (JSON text), PAYLOAD and
 * SIG; the caller frees it. */
static char *flat(const char *hdr, const void *payload, size_t plen,
		  const void *sig, size_t siglen)
{
	char *h = b64u_str(hdr), *p = b64u(payload, plen),
	     *s = b64u(sig, siglen);
	char *out = NULL;

	assert_true(asprintf(&out,
			     "{\"protected\":\"%s\",\"payload\":\"%s\","
			     "\"signature\":\"%s\"}",
			     h, p, s) > 0);
	free(h);
	free(p);
	free(s);
	return out;
}

/* ll_jws_parse on an exact-size copy of BODY (no NUL after it, so that
 * ASan sees reads past the end). */
static int parse(struct ll_jws **out, const char *body, size_t len,
		 struct ll_error *err)
{
	char *copy = malloc(len > 0 ? len : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, body, len);
	rc = ll_jws_parse(out, copy, len, err);
	free(copy);
	return rc;
}

/* BODY is refused with RC and a message containing WHY. */
static void assert_jws_refused(const char *body, int rc, const char *why)
{
	struct ll_error err = { 0 };
	struct ll_jws *jws = (struct ll_jws *)&err; /* must be reset */
	int got = parse(&jws, body, strlen(body), &err);

	if (got != rc)
		fail_msg("%s: rc %d (%s), want %d", body, got, err.message, rc);
	assert_null(jws);
	assert_message(&err, rc);
	if (why != NULL && strstr(err.message, why) == NULL)
		fail_msg("message \"%s\" does not say \"%s\"", err.message,
			 why);
}

static void assert_jwk_refused(const char *json, int rc, const char *why)
{
	struct ll_error err = { 0 };
	struct ll_jwk *k = (struct ll_jwk *)&err;
	int got = ll_jwk_parse(&k, json, strlen(json), &err);

	if (got != rc)
		fail_msg("%s: rc %d (%s), want %d", json, got, err.message, rc);
	assert_null(k);
	assert_message(&err, rc);
	if (why != NULL && strstr(err.message, why) == NULL)
		fail_msg("message \"%s\" does not say \"%s\"", err.message,
			 why);
}

static struct ll_jwk *jwk_of(const char *json)
{
	struct ll_error err = { 0 };
	struct ll_jwk *k = NULL;

	if (ll_jwk_parse(&k, json, strlen(json), &err) != 0)
		fail_msg("%s: %s", json, err.message);
	return k;
}

static char *json_of(const struct ll_jwk *k)
{
	char *s = NULL;

	assert_int_equal(ll_jwk_json(&s, k, NULL), 0);
	return s;
}

/* The JWK JSON of an OpenSSL key, built here; BREAK_Y changes the last
 * byte of an EC key's y (a point off the curve). */
static char *jwk_json_of_pkey(EVP_PKEY *pk, int break_y)
{
	char *out = NULL, *a, *b;

	if (EVP_PKEY_is_a(pk, "EC")) {
		int c = (EVP_PKEY_get_bits(pk) + 7) / 8;
		unsigned char x[66], y[66];
		BIGNUM *bx = NULL, *by = NULL;

		assert_true(c > 0 && c <= 66);
		assert_true(EVP_PKEY_get_bn_param(pk, "qx", &bx));
		assert_true(EVP_PKEY_get_bn_param(pk, "qy", &by));
		assert_int_equal(BN_bn2binpad(bx, x, c), c);
		assert_int_equal(BN_bn2binpad(by, y, c), c);
		if (break_y)
			y[c - 1] ^= 1;
		a = b64u(x, (size_t)c);
		b = b64u(y, (size_t)c);
		assert_true(asprintf(&out,
				     "{\"kty\":\"EC\",\"crv\":\"%s\","
				     "\"x\":\"%s\",\"y\":\"%s\"}",
				     c == 32 ? "P-256" : "P-384", a, b) > 0);
		BN_free(bx);
		BN_free(by);
	} else {
		BIGNUM *n = NULL, *e = NULL;
		unsigned char nb[1100], eb[8];
		int nl, el;

		assert_true(EVP_PKEY_get_bn_param(pk, "n", &n));
		assert_true(EVP_PKEY_get_bn_param(pk, "e", &e));
		nl = BN_bn2bin(n, nb);
		el = BN_bn2bin(e, eb);
		a = b64u(nb, (size_t)nl);
		b = b64u(eb, (size_t)el);
		assert_true(asprintf(&out,
				     "{\"kty\":\"RSA\",\"n\":\"%s\","
				     "\"e\":\"%s\"}",
				     a, b) > 0);
		BN_free(n);
		BN_free(e);
	}
	free(a);
	free(b);
	return out;
}

/* TMPL with its "$JWK" replaced by JWK. */
static char *with_jwk(const char *tmpl, const char *jwk)
{
	const char *at = strstr(tmpl, "$JWK");
	char *out = NULL;

	if (at == NULL)
		return strdup(tmpl);
	assert_true(asprintf(&out, "%.*s%s%s", (int)(at - tmpl), tmpl, jwk,
			     at + 4) > 0);
	return out;
}

static char *rsa_jwk(const char *n, const char *e)
{
	char *j = NULL;

	assert_true(asprintf(&j, "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"}",
			     n, e) > 0);
	return j;
}

/* The three members of the flattened JWS BODY, decoded. */
struct parts {
	char *hdr; /* JSON text */
	unsigned char *payload;
	size_t plen;
	unsigned char *sig;
	size_t siglen;
};

static void split(struct parts *p, const char *body)
{
	json_t *j = json_loads(body, 0, NULL);
	size_t hlen;
	const char *s;

	assert_non_null(j);
	s = json_string_value(json_object_get(j, "protected"));
	assert_non_null(s);
	assert_int_equal(ll_b64url_decode((unsigned char **)&p->hdr, &hlen, s,
					  strlen(s), LL_JWS_MAX, NULL),
			 0);
	s = json_string_value(json_object_get(j, "payload"));
	assert_non_null(s);
	assert_int_equal(ll_b64url_decode(&p->payload, &p->plen, s, strlen(s),
					  LL_JWS_MAX, NULL),
			 0);
	s = json_string_value(json_object_get(j, "signature"));
	assert_non_null(s);
	assert_int_equal(ll_b64url_decode(&p->sig, &p->siglen, s, strlen(s),
					  LL_JWS_MAX, NULL),
			 0);
	json_decref(j);
}

static void parts_free(struct parts *p)
{
	free(p->hdr);
	free(p->payload);
	free(p->sig);
}

/* Sign PAYLOAD with KEY (jwk embedded when KID is NULL). */
static char *sign(const struct ll_jwk *key, const char *kid,
		  const char *payload)
{
	struct ll_error err = { 0 };
	char *out = NULL;
	size_t len = 0;

	if (ll_jws_sign(&out, &len, key, kid, "nonce-1",
			"https://ca.example/acme/new-order", payload,
			strlen(payload), &err) != 0)
		fail_msg("sign: %s", err.message);
	assert_int_equal(strlen(out), len);
	return out;
}

/* ---- base64url ---- */

static const struct {
	const char *plain, *b64;
} rfc4648[] = {
	{ "", "" },
	{ "f", "Zg" },
	{ "fo", "Zm8" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg" },
	{ "fooba", "Zm9vYmE" },
	{ "foobar", "Zm9vYmFy" },
};

static void test_b64url_rfc4648(void **state)
{
	(void)state;
	for (size_t i = 0; i < LL_ARRAY_SIZE(rfc4648); i++) {
		const char *p = rfc4648[i].plain, *b = rfc4648[i].b64;
		unsigned char *d = NULL;
		char *e = NULL;
		size_t n = 99;

		assert_int_equal(ll_b64url_encode(&e, &n, p, strlen(p), NULL),
				 0);
		assert_string_equal(e, b);
		assert_int_equal(n, strlen(b));
		assert_int_equal(
			ll_b64url_decode(&d, &n, b, strlen(b), 100, NULL), 0);
		assert_int_equal(n, strlen(p));
		assert_memory_equal(d, p, n);
		assert_int_equal(d[n], '\0');
		free(e);
		free(d);
	}
}

/* '-' and '_' where base64 has '+' and '/'. */
static void test_b64url_alphabet(void **state)
{
	static const unsigned char in[] = { 0xfb, 0xef, 0xbe, 0xff,
					    0xff, 0xff, 0xfb, 0xff };
	unsigned char *d = NULL;
	size_t n = 0;
	char *e;

	(void)state;
	e = b64u(in, sizeof(in));
	assert_string_equal(e, "----____-_8");
	assert_int_equal(ll_b64url_decode(&d, &n, e, strlen(e), 64, NULL), 0);
	assert_int_equal(n, sizeof(in));
	assert_memory_equal(d, in, n);
	free(d);
	free(e);
}

static void assert_b64url_refused(const char *s, size_t len, size_t max, int rc)
{
	struct ll_error err = { 0 };
	unsigned char *d = (unsigned char *)&err;
	size_t n = 99;

	if (ll_b64url_decode(&d, &n, s, len, max, &err) != rc)
		fail_msg("\"%.*s\" not refused with %d", (int)len, s, rc);
	assert_null(d);
	assert_int_equal(n, 0);
	assert_message(&err, rc);
}

static void test_b64url_strict(void **state)
{
	static const char *const bad[] = {
		"Zg==", /* padding */
		"Zg=",	  "Zm8=",      "Zm9vYmE=",
		"+/8", /* the base64 alphabet */
		"Zm/v",	  "Zm+v",      "Zm9v ", /* white space */
		" Zm9v",  "Zm\r\n9v",  "Zm9v\n",
		"Zm\t9v", "Zh", /* trailing bits: 'f' is "Zg" */
		"Zm9", /* "fo" is "Zm8" */
		"Zm9vYh", "Zm9vYmF",   "Z", /* 1 mod 4 */
		"Zm9vY",  "Zm9vYmFyZ", "Zm9v.",
		"Zm9v*",  "Zm9v\x80",  "\xc3\xa9",
	};

	(void)state;
	for (size_t i = 0; i < LL_ARRAY_SIZE(bad); i++)
		assert_b64url_refused(bad[i], strlen(bad[i]), 100, LL_EPARSE);
	/* a NUL inside the counted length */
	assert_b64url_refused("Zm\0v", 4, 100, LL_EPARSE);
}

static void test_b64url_max(void **state)
{
	unsigned char *d = NULL;
	size_t n = 0;

	(void)state;
	assert_int_equal(ll_b64url_decode(&d, &n, "Zm9vYmFy", 8, 6, NULL), 0);
	assert_int_equal(n, 6);
	free(d);
	assert_b64url_refused("Zm9vYmFy", 8, 5, LL_ETOOBIG);
	assert_b64url_refused("Zm9vYmE", 7, 4, LL_ETOOBIG);
	assert_int_equal(ll_b64url_decode(&d, &n, "", 0, 0, NULL), 0);
	assert_int_equal(n, 0);
	assert_int_equal(d[0], '\0');
	free(d);
}

/* Every length 0..300 of random bytes against OpenSSL's encoder. */
static void test_b64url_reference(void **state)
{
	unsigned char in[300], *d;
	size_t n;

	(void)state;
	assert_int_equal(RAND_bytes(in, sizeof(in)), 1);
	for (size_t len = 0; len <= sizeof(in); len++) {
		char *mine = b64u(in, len), *ref = ref_b64url(in, len);

		assert_string_equal(mine, ref);
		d = NULL;
		assert_int_equal(ll_b64url_decode(&d, &n, mine, strlen(mine),
						  len, NULL),
				 0);
		assert_int_equal(n, len);
		assert_memory_equal(d, in, len);
		free(d);
		free(mine);
		free(ref);
	}
}

/* ---- thumbprints ---- */

/* RFC 7638 section 3.1 */
static const char rfc7638_n[] =
	"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1"
	"RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5"
	"n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8K"
	"JZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQF"
	"h6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJz"
	"KnqDKgw";

static void test_thumbprint_rfc7638(void **state)
{
	char tp[LL_JWK_THUMBPRINT_LEN + 1], *json, *canon;
	struct ll_jwk *k;

	(void)state;
	/* as in the RFC, with the members the thumbprint leaves out */
	assert_true(asprintf(&json,
			     "{\"kty\": \"RSA\", \"n\": \"%s\", \"e\": "
			     "\"AQAB\", \"alg\": \"RS256\", \"kid\": "
			     "\"2011-04-29\"}",
			     rfc7638_n) > 0);
	k = jwk_of(json);
	assert_int_equal(ll_jwk_thumbprint(tp, k, NULL), 0);
	assert_string_equal(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	assert_string_equal(ll_jwk_alg(k), "RS256");
	canon = json_of(k);
	free(json);
	assert_true(asprintf(&json,
			     "{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"%s\"}",
			     rfc7638_n) > 0);
	assert_string_equal(canon, json);
	free(canon);
	free(json);
	ll_jwk_free(&k);
	assert_null(k);
	ll_jwk_free(&k);
	ll_jwk_free(NULL);
}

/* RFC 8037 appendix A.1 (the public part) and A.3 */
static const char rfc8037_x[] = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
static const char rfc8037_d[] = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";

static void test_thumbprint_rfc8037(void **state)
{
	char tp[LL_JWK_THUMBPRINT_LEN + 1], *json, *canon;
	struct ll_jwk *k;

	(void)state;
	assert_true(
		asprintf(&json,
			 "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"}",
			 rfc8037_x) > 0);
	k = jwk_of(json);
	assert_int_equal(ll_jwk_thumbprint(tp, k, NULL), 0);
	assert_string_equal(tp, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
	assert_string_equal(ll_jwk_alg(k), "EdDSA");
	canon = json_of(k);
	free(json);
	assert_true(
		asprintf(&json,
			 "{\"crv\":\"Ed25519\",\"kty\":\"OKP\",\"x\":\"%s\"}",
			 rfc8037_x) > 0);
	assert_string_equal(canon, json);
	free(canon);
	free(json);
	ll_jwk_free(&k);
}

/* ---- the RFC signature examples ---- */

/* RFC 7515 appendix A.3 */
static const char a3_hdr[] = "eyJhbGciOiJFUzI1NiJ9";
static const char a3_payload[] =
	"eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxl"
	"LmNvbS9pc19yb290Ijp0cnVlfQ";
static const char a3_sig[] = "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgf"
			     "TjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
static const char a3_jwk[] =
	"{\"kty\":\"EC\",\"crv\":\"P-256\","
	"\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
	"\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}";

static void test_rfc7515_a3(void **state)
{
	struct ll_error err = { 0 };
	struct ll_jwk *k = jwk_of(a3_jwk);
	unsigned char *sig = NULL;
	char *input = NULL, *body = NULL;
	size_t siglen = 0;

	(void)state;
	assert_string_equal(ll_jwk_alg(k), "ES256");
	assert_int_equal(ll_b64url_decode(&sig, &siglen, a3_sig, strlen(a3_sig),
					  64, NULL),
			 0);
	assert_int_equal(siglen, 64);
	assert_true(asprintf(&input, "%s.%s", a3_hdr, a3_payload) > 0);
	assert_int_equal(
		verify_input(k, input, strlen(input), sig, siglen, &err), 0);
	/* one bit off, in r and in s; the input one byte shorter */
	sig[0] ^= 0x80;
	assert_int_equal(verify_input(k, input, strlen(input), sig, siglen,
				      &err),
			 LL_EDECRYPT);
	sig[0] ^= 0x80;
	sig[63] ^= 0x01;
	assert_int_equal(verify_input(k, input, strlen(input), sig, siglen,
				      &err),
			 LL_EDECRYPT);
	sig[63] ^= 0x01;
	assert_int_equal(verify_input(k, input, strlen(input) - 1, sig, siglen,
				      &err),
			 LL_EDECRYPT);
	assert_int_equal(verify_input(k, input, strlen(input), sig, 63, &err),
			 LL_EDECRYPT);
	/* the flattened form of the example: refused by the ACME rules */
	assert_true(asprintf(&body,
			     "{\"protected\":\"%s\",\"payload\":\"%s\","
			     "\"signature\":\"%s\"}",
			     a3_hdr, a3_payload, a3_sig) > 0);
	assert_jws_refused(body, LL_EPARSE,
			   "JWS protected header has no \"url\"");
	free(body);
	free(input);
	free(sig);
	ll_jwk_free(&k);
}

/* RFC 8037 appendix A.4 (and A.5: it verifies) */
static const char a4_input[] =
	"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
static const char a4_sig[] = "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dW"
			     "bhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";

/* The RFC 8037 A.1 private key as PKCS#8 PEM, written by OpenSSL. */
static char *rfc8037_pem(size_t *len)
{
	unsigned char *d = NULL;
	EVP_PKEY *pk;
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *out;
	size_t n;
	long l;

	assert_int_equal(ll_b64url_decode(&d, &n, rfc8037_d, strlen(rfc8037_d),
					  32, NULL),
			 0);
	pk = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL, d, n);
	assert_non_null(pk);
	assert_true(PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL));
	l = BIO_get_mem_data(b, &p);
	out = strndup(p, (size_t)l);
	*len = (size_t)l;
	BIO_free(b);
	EVP_PKEY_free(pk);
	free(d);
	return out;
}

static void test_rfc8037_a4(void **state)
{
	char tp[LL_JWK_THUMBPRINT_LEN + 1], *json, *pem, *got;
	unsigned char *sig = NULL, mine[JWS_SIG_MAX];
	struct ll_error err = { 0 };
	struct ll_jwk *pub, *priv = NULL;
	size_t siglen = 0, mlen = 0, pemlen = 0;

	(void)state;
	assert_true(
		asprintf(&json,
			 "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"}",
			 rfc8037_x) > 0);
	pub = jwk_of(json);
	assert_int_equal(ll_b64url_decode(&sig, &siglen, a4_sig, strlen(a4_sig),
					  64, NULL),
			 0);
	assert_int_equal(verify_input(pub, a4_input, strlen(a4_input), sig,
				      siglen, &err),
			 0);
	sig[10] ^= 4;
	assert_int_equal(verify_input(pub, a4_input, strlen(a4_input), sig,
				      siglen, &err),
			 LL_EDECRYPT);
	sig[10] ^= 4;

	/* Ed25519 is deterministic: the A.1 private key signs A.4 again */
	pem = rfc8037_pem(&pemlen);
	assert_int_equal(ll_jwk_from_private_pem(&priv, pem, pemlen, &err), 0);
	assert_true(ll_jwk_equal(pub, priv));
	assert_int_equal(ll_jwk_thumbprint(tp, priv, NULL), 0);
	assert_string_equal(tp, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
	assert_int_equal(sign_input(mine, &mlen, priv, a4_input,
				    strlen(a4_input), &err),
			 0);
	got = b64u(mine, mlen);
	assert_string_equal(got, a4_sig);
	free(got);
	free(pem);
	free(json);
	free(sig);
	ll_jwk_free(&pub);
	ll_jwk_free(&priv);
}

/* ---- round trips ---- */

static void round_trip(const struct ll_jwk *key, const char *kid,
		       const char *payload)
{
	struct ll_error err = { 0 };
	struct ll_jws *jws = NULL;
	const char *p;
	char *body = sign(key, kid, payload);
	struct parts parts = { 0 };
	size_t plen = 99;

	if (parse(&jws, body, strlen(body), &err) != 0)
		fail_msg("%s: %s", body, err.message);
	assert_string_equal(ll_jws_alg(jws), ll_jwk_alg(key));
	assert_string_equal(ll_jws_nonce(jws), "nonce-1");
	assert_string_equal(ll_jws_url(jws),
			    "https://ca.example/acme/new-order");
	if (kid != NULL) {
		assert_string_equal(ll_jws_kid(jws), kid);
		assert_null(ll_jws_jwk(jws));
	} else {
		assert_null(ll_jws_kid(jws));
		assert_non_null(ll_jws_jwk(jws));
		assert_true(ll_jwk_equal(ll_jws_jwk(jws), key));
		assert_int_equal(ll_jws_verify(jws, ll_jws_jwk(jws), &err), 0);
	}
	p = ll_jws_payload(jws, &plen);
	assert_int_equal(plen, strlen(payload));
	assert_memory_equal(p, payload, plen);
	assert_int_equal(p[plen], '\0');
	if (ll_jws_verify(jws, key, &err) != 0)
		fail_msg("%s: %s", ll_jwk_alg(key), err.message);

	/* the output's shape: three members in this order, the header
	 * with only public key members */
	assert_true(strncmp(body, "{\"protected\":\"", 14) == 0);
	assert_non_null(strstr(body, "\",\"payload\":\""));
	assert_non_null(strstr(body, "\",\"signature\":\""));
	split(&parts, body);
	if (strcmp(ll_jwk_alg(key), "RS256") != 0)
		assert_int_equal(parts.siglen, 64);
	assert_null(strstr(parts.hdr, "\"d\""));
	assert_non_null(strstr(parts.hdr, "\"alg\":\""));
	parts_free(&parts);
	ll_jws_free(&jws);
	assert_null(jws);
	free(body);
}

static void test_round_trip(void **state)
{
	(void)state;
	for (size_t i = 0; i < LL_ARRAY_SIZE(keys); i++) {
		round_trip(keys[i], NULL, "{\"termsOfServiceAgreed\":true}");
		round_trip(keys[i], "https://ca.example/acme/acct/1",
			   "{\"identifiers\":[]}");
		/* POST-as-GET */
		round_trip(keys[i], "https://ca.example/acme/acct/1", "");
		round_trip(keys[i], NULL, "");
	}
}

static void test_post_as_get(void **state)
{
	struct ll_jws *jws = NULL;
	char *body = sign(keys[0], "https://ca.example/acme/acct/1", "");
	size_t len = 99;

	(void)state;
	assert_non_null(strstr(body, "\"payload\":\"\""));
	assert_int_equal(parse(&jws, body, strlen(body), NULL), 0);
	assert_string_equal(ll_jws_payload(jws, &len), "");
	assert_int_equal(len, 0);
	assert_int_equal(ll_jws_verify(jws, keys[0], NULL), 0);
	ll_jws_free(&jws);
	free(body);
}

/* Parse BODY and verify it with KEY: the code that comes back. */
static int parse_verify(const char *body, const struct ll_jwk *key,
			struct ll_error *err)
{
	struct ll_jws *jws = NULL;
	int rc = parse(&jws, body, strlen(body), err);

	if (rc == 0)
		rc = ll_jws_verify(jws, key != NULL ? key : ll_jws_jwk(jws),
				   err);
	ll_jws_free(&jws);
	return rc;
}

static void test_tampered(void **state)
{
	(void)state;
	for (size_t i = 0; i < LL_ARRAY_SIZE(keys); i++) {
		struct ll_error err = { 0 };
		char *body = sign(keys[i], NULL, "{\"a\":1}"), *t, *hdr;
		struct parts p = { 0 };

		split(&p, body);
		/* as signed */
		t = flat(p.hdr, p.payload, p.plen, p.sig, p.siglen);
		assert_int_equal(parse_verify(t, NULL, &err), 0);
		free(t);
		/* another payload */
		t = flat(p.hdr, "{\"a\":2}", 7, p.sig, p.siglen);
		assert_int_equal(parse_verify(t, NULL, &err), LL_EDECRYPT);
		assert_message(&err, LL_EDECRYPT);
		free(t);
		/* an empty payload */
		t = flat(p.hdr, "", 0, p.sig, p.siglen);
		assert_int_equal(parse_verify(t, NULL, &err), LL_EDECRYPT);
		free(t);
		/* another url in the protected header */
		hdr = strdup(p.hdr);
		memcpy(strstr(hdr, "ca.example"), "ca.exampla", 10);
		t = flat(hdr, p.payload, p.plen, p.sig, p.siglen);
		assert_int_equal(parse_verify(t, NULL, &err), LL_EDECRYPT);
		free(t);
		free(hdr);
		/* every byte of the signature, one bit each */
		for (size_t j = 0; j < p.siglen; j += 7) {
			p.sig[j] ^= 0x10;
			t = flat(p.hdr, p.payload, p.plen, p.sig, p.siglen);
			assert_int_equal(parse_verify(t, NULL, &err),
					 LL_EDECRYPT);
			free(t);
			p.sig[j] ^= 0x10;
		}
		parts_free(&p);
		free(body);
	}
}

static void test_alg_mismatch(void **state)
{
	struct ll_error err = { 0 };
	struct ll_jwk *other = NULL;
	char *body, *hdr, *jwk, *t;
	struct parts p = { 0 };

	(void)state;
	/* right alg, wrong key of the same type */
	assert_int_equal(ll_jwk_generate(&other, "ES256", NULL), 0);
	body = sign(keys[0], "kid-1", "{}");
	assert_int_equal(parse_verify(body, other, &err), LL_EDECRYPT);
	/* a key of another type */
	assert_int_equal(parse_verify(body, keys[1], &err), LL_EPOLICY);
	assert_message(&err, LL_EPOLICY);
	assert_int_equal(parse_verify(body, keys[2], &err), LL_EPOLICY);
	free(body);
	ll_jwk_free(&other);

	/* a header claiming RS256 with an EC jwk (and an RSA-sized
	 * signature), and claiming ES256 with an Ed25519 jwk */
	jwk = json_of(keys[0]);
	assert_true(asprintf(&hdr,
			     "{\"alg\":\"RS256\",\"url\":\"u\",\"jwk\":%s}",
			     jwk) > 0);
	t = flat(hdr, "{}", 2, (unsigned char[384]){ 1 }, 384);
	assert_int_equal(parse_verify(t, NULL, &err), LL_EPOLICY);
	free(t);
	free(hdr);
	free(jwk);
	jwk = json_of(keys[2]);
	body = sign(keys[2], NULL, "{}");
	split(&p, body);
	assert_true(asprintf(&hdr,
			     "{\"alg\":\"ES256\",\"url\":\"u\",\"jwk\":%s}",
			     jwk) > 0);
	t = flat(hdr, p.payload, p.plen, p.sig, p.siglen);
	assert_int_equal(parse_verify(t, NULL, &err), LL_EPOLICY);
	free(t);
	free(hdr);
	free(jwk);
	parts_free(&p);
	free(body);
}

/* ---- what the parser refuses ---- */

static void test_jws_refused(void **state)
{
	static const unsigned char sig64[64] = { 1 };
	char *jwk = json_of(keys[0]), *hdr, *t;
	const struct {
		const char *tmpl; /* $JWK: the EC jwk */
		int rc;
		const char *why;
	} hdrs[] = {
		{ "{\"alg\":\"ES256\",\"url\":\"u\",\"jwk\":$JWK,"
		  "\"kid\":\"k\"}",
		  LL_EPARSE, "both \"jwk\" and \"kid\"" },
		{ "{\"alg\":\"ES256\",\"url\":\"u\"}", LL_EPARSE,
		  "neither \"jwk\" nor \"kid\"" },
		{ "{\"alg\":\"ES256\",\"url\":\"u\",\"jwk\":$JWK,"
		  "\"crit\":[\"b64\"]}",
		  LL_EPARSE, "\"crit\"" },
		{ "{\"alg\":\"ES256\",\"jwk\":$JWK}", LL_EPARSE,
		  "JWS protected header has no \"url\"" },
		{ "{\"url\":\"u\",\"jwk\":$JWK}", LL_EPARSE, "no \"alg\"" },
		{ "{\"alg\":\"none\",\"url\":\"u\",\"jwk\":$JWK}", LL_EPOLICY,
		  "\"none\"" },
		{ "{\"alg\":\"HS256\",\"url\":\"u\",\"jwk\":$JWK}", LL_EPOLICY,
		  NULL },
		{ "{\"alg\":\"ES384\",\"url\":\"u\",\"jwk\":$JWK}", LL_EPOLICY,
		  NULL },
		{ "{\"alg\":\"es256\",\"url\":\"u\",\"jwk\":$JWK}", LL_EPOLICY,
		  NULL },
		{ "{\"alg\":\"ES256\",\"alg\":\"ES256\",\"url\":\"u\","
		  "\"jwk\":$JWK}",
		  LL_EPARSE, "duplicate" },
		{ "{\"alg\":\"ES256\",\"url\":1,\"jwk\":$JWK}", LL_EPARSE,
		  "\"url\" is not a string" },
		{ "{\"alg\":\"ES256\",\"url\":\"u\",\"nonce\":null,"
		  "\"jwk\":$JWK}",
		  LL_EPARSE, "\"nonce\" is not a string" },
		{ "{\"alg\":\"ES256\",\"url\":\"u\\u0000v\",\"jwk\":$JWK}",
		  LL_EPARSE, NULL },
		{ "{\"alg\":\"ES256\",\"url\":\"u\",\"kid\":7}", LL_EPARSE,
		  "\"kid\" is not a string" },
		{ "{\"alg\":\"ES256\",\"url\":\"u\",\"jwk\":\"x\"}", LL_EPARSE,
		  NULL },
		{ "[\"ES256\"]", LL_EPARSE, "not a JSON object" },
		{ "{\"alg\":\"ES256\",\"url\":\"u\",\"jwk\":$JWK} x", LL_EPARSE,
		  "not JSON" },
		{ "{\"alg\":\"ES256\",\"url\":\"u\",\"jwk\":"
		  "{\"kty\":\"EC\",\"kty\":\"EC\"}}",
		  LL_EPARSE, "duplicate" },
	};

	(void)state;
	for (size_t i = 0; i < LL_ARRAY_SIZE(hdrs); i++) {
		hdr = with_jwk(hdrs[i].tmpl, jwk);
		t = flat(hdr, "{}", 2, sig64, sizeof(sig64));
		assert_jws_refused(t, hdrs[i].rc, hdrs[i].why);
		free(t);
		free(hdr);
	}

	free(jwk);
}

/* {"protected":H,"payload":P,"signature":S} of encoded members (NULL:
 * left out), and the members EXTRA (JSON text, or NULL) after them. */
static char *body_of(const char *h, const char *p, const char *s,
		     const char *extra)
{
	struct ll_buf b = { 0 };
	const char *sep = "";

	assert_int_equal(ll_buf_adds(&b, "{"), 0);
	if (h != NULL) {
		assert_int_equal(ll_buf_addf(&b, "\"protected\":\"%s\"", h), 0);
		sep = ",";
	}
	if (p != NULL) {
		assert_int_equal(
			ll_buf_addf(&b, "%s\"payload\":\"%s\"", sep, p), 0);
		sep = ",";
	}
	if (s != NULL) {
		assert_int_equal(
			ll_buf_addf(&b, "%s\"signature\":\"%s\"", sep, s), 0);
		sep = ",";
	}
	if (extra != NULL)
		assert_int_equal(ll_buf_addf(&b, "%s%s", sep, extra), 0);
	assert_int_equal(ll_buf_adds(&b, "}"), 0);
	return b.p;
}

static void assert_body_refused(char *body, int rc, const char *why)
{
	assert_jws_refused(body, rc, why);
	free(body);
}

/* The flattened serialization around a valid ES256 header. */
static void test_jws_serialization(void **state)
{
	char *body = sign(keys[0], NULL, "{}"), *h, *pl, *s, *s63, *s65, *der;
	char *dup, *padded, *t, *ws;
	unsigned char big[65] = { 0 }, *dp = NULL;
	struct ll_error err = { 0 };
	struct ll_jws *jws = NULL;
	struct parts p = { 0 };
	ECDSA_SIG *es = ECDSA_SIG_new();
	size_t n;
	int dn;

	(void)state;
	split(&p, body);
	h = b64u_str(p.hdr);
	pl = b64u(p.payload, p.plen);
	s = b64u(p.sig, p.siglen);
	s63 = b64u(p.sig, 63);
	memcpy(big, p.sig, 64);
	s65 = b64u(big, 65);
	/* the signature in DER, as OpenSSL makes it */
	assert_true(ECDSA_SIG_set0(es, BN_bin2bn(p.sig, 32, NULL),
				   BN_bin2bn(p.sig + 32, 32, NULL)));
	dn = i2d_ECDSA_SIG(es, &dp);
	assert_true(dn > 0);
	der = b64u(dp, (size_t)dn);
	assert_true(asprintf(&dup, "\"protected\":\"%s\"", h) > 0);
	assert_true(asprintf(&padded, "%s=", pl) > 0);

	assert_body_refused(body_of(h, pl, s, "\"header\":{\"kid\":\"k\"}"),
			    LL_EPARSE, "unprotected \"header\"");
	assert_body_refused(body_of(h, pl, s, "\"extra\":1"), LL_EPARSE,
			    "members other than");
	assert_body_refused(body_of(h, pl, s, dup), LL_EPARSE, "duplicate");
	assert_body_refused(body_of(NULL, pl, s, NULL), LL_EPARSE,
			    "JWS has no \"protected\"");
	assert_body_refused(body_of(h, NULL, s, NULL), LL_EPARSE,
			    "JWS has no \"payload\"");
	assert_body_refused(body_of(h, pl, NULL, NULL), LL_EPARSE,
			    "JWS has no \"signature\"");
	assert_body_refused(body_of(h, padded, s, NULL), LL_EPARSE,
			    "JWS \"payload\" has padding");
	assert_body_refused(body_of(h, NULL, s, "\"payload\":{}"), LL_EPARSE,
			    "\"payload\" is not a string");
	assert_body_refused(body_of("", pl, s, NULL), LL_EPARSE,
			    "protected header is not JSON");
	/* wrong-size ES256 signatures: 63, 65 bytes, DER */
	assert_body_refused(body_of(h, pl, s63, NULL), LL_EPARSE, "not 64");
	assert_body_refused(body_of(h, pl, s65, NULL), LL_EPARSE, "not 64");
	assert_body_refused(body_of(h, pl, der, NULL), LL_EPARSE, "not 64");

	/* the one that is right, for contrast; white space around it */
	t = body_of(h, pl, s, NULL);
	assert_int_equal(parse_verify(t, NULL, NULL), 0);
	assert_true(asprintf(&ws, " \r\n%s\n", t) > 0);
	assert_int_equal(parse_verify(ws, NULL, NULL), 0);
	free(ws);
	/* and a NUL byte after it */
	n = strlen(t);
	assert_int_equal(parse(&jws, t, n + 1, &err), LL_EPARSE);
	assert_null(jws);
	assert_non_null(strstr(err.message, "NUL"));
	free(t);

	OPENSSL_free(dp);
	ECDSA_SIG_free(es);
	free(h);
	free(pl);
	free(s);
	free(s63);
	free(s65);
	free(der);
	free(dup);
	free(padded);
	parts_free(&p);
	free(body);

	/* an EdDSA signature of 63 bytes */
	body = sign(keys[2], NULL, "{}");
	split(&p, body);
	t = flat(p.hdr, p.payload, p.plen, p.sig, 63);
	assert_jws_refused(t, LL_EPARSE, "not 64");
	free(t);
	parts_free(&p);
	free(body);
}

static void test_jws_too_big(void **state)
{
	struct ll_error err = { 0 };
	struct ll_jws *jws = NULL;
	struct ll_jwk *k = NULL;
	char *big = malloc(LL_JWS_MAX + 1);

	(void)state;
	memset(big, ' ', LL_JWS_MAX + 1);
	big[0] = '{';
	big[LL_JWS_MAX] = '}';
	assert_int_equal(parse(&jws, big, LL_JWS_MAX + 1, &err), LL_ETOOBIG);
	assert_null(jws);
	assert_message(&err, LL_ETOOBIG);
	assert_int_equal(ll_jwk_parse(&k, big, LL_JWS_MAX + 1, &err),
			 LL_ETOOBIG);
	assert_null(k);
	free(big);
}

/* Every proper prefix of a valid JWS is refused (STYLE.md 9). */
static void test_prefixes(void **state)
{
	(void)state;
	for (size_t i = 0; i < LL_ARRAY_SIZE(keys); i++) {
		char *body = sign(keys[i], NULL, "{\"x\":\"y\"}");
		size_t n = strlen(body);

		for (size_t len = 0; len < n; len++) {
			struct ll_error err = { 0 };
			struct ll_jws *jws = NULL;

			assert_true(parse(&jws, body, len, &err) < 0);
			assert_null(jws);
			assert_message(&err, err.code);
		}
		assert_int_equal(parse_verify(body, NULL, NULL), 0);
		free(body);
	}
}

/* ---- JWK ---- */

static void test_jwk_refused(void **state)
{
	EVP_PKEY *small, *p384, *ec;
	struct ll_jwk *ok;
	char *j, *x, *y;

	(void)state;
	/* a private key */
	assert_true(
		asprintf(&j,
			 "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\","
			 "\"d\":\"%s\"}",
			 rfc8037_x, rfc8037_d) > 0);
	assert_jwk_refused(j, LL_EPARSE, "private member \"d\"");
	free(j);
	assert_true(asprintf(&j,
			     "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\","
			     "\"p\":\"AQAB\"}",
			     rfc7638_n) > 0);
	assert_jwk_refused(j, LL_EPARSE, "private member \"p\"");
	free(j);
	assert_jwk_refused("{\"kty\":\"oct\",\"k\":\"AAAA\"}", LL_EPARSE,
			   "private member \"k\"");

	/* RSA-1024 */
	small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	assert_non_null(small);
	j = jwk_json_of_pkey(small, 0);
	assert_jwk_refused(j, LL_EPOLICY, "1024 bits");
	free(j);
	EVP_PKEY_free(small);

	/* an EC point off the curve */
	ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(ec);
	j = jwk_json_of_pkey(ec, 0);
	ok = jwk_of(j);
	ll_jwk_free(&ok);
	free(j);
	j = jwk_json_of_pkey(ec, 1);
	assert_jwk_refused(j, LL_EPARSE, NULL);
	{
		/* the same inside a JWS */
		char *hdr, *t;

		assert_true(asprintf(&hdr,
				     "{\"alg\":\"ES256\",\"url\":\"u\","
				     "\"jwk\":%s}",
				     j) > 0);
		t = flat(hdr, "", 0, (unsigned char[64]){ 0 }, 64);
		assert_jws_refused(t, LL_EPARSE, NULL);
		free(t);
		free(hdr);
	}
	free(j);
	EVP_PKEY_free(ec);

	/* other curves and key types */
	p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	assert_non_null(p384);
	j = jwk_json_of_pkey(p384, 0);
	assert_jwk_refused(j, LL_EPOLICY, "P-384");
	free(j);
	EVP_PKEY_free(p384);
	assert_jwk_refused("{\"kty\":\"OKP\",\"crv\":\"Ed448\",\"x\":\"AA\"}",
			   LL_EPOLICY, "Ed448");
	assert_jwk_refused("{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"AA\"}",
			   LL_EPOLICY, NULL);
	assert_jwk_refused("{\"kty\":\"oct\"}", LL_EPOLICY, "\"oct\"");
	assert_jwk_refused("{\"crv\":\"P-256\"}", LL_EPARSE,
			   "JWK has no \"kty\"");
	assert_jwk_refused("{\"kty\":1}", LL_EPARSE, NULL);
	assert_jwk_refused("[]", LL_EPARSE, NULL);
	assert_jwk_refused("", LL_EPARSE, NULL);

	/* sizes and encodings of the members */
	x = strdup(a3_jwk);
	memcpy(strstr(x, "f83O"), "AAAA", 4); /* likely off the curve */
	assert_jwk_refused(x, LL_EPARSE, NULL);
	free(x);
	assert_jwk_refused(
		"{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":"
		"\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVE\","
		"\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}",
		LL_EPARSE, NULL);
	/* x with a leading zero byte: 33 bytes */
	x = b64u((unsigned char[33]){ 0 }, 33);
	y = b64u((unsigned char[32]){ 0 }, 32);
	assert_true(asprintf(&j,
			     "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"%s\","
			     "\"y\":\"%s\"}",
			     x, y) > 0);
	assert_jwk_refused(j, LL_EPARSE, "\"x\" is not 32 bytes");
	free(j);
	free(x);
	free(y);
	x = b64u((unsigned char[31]){ 0 }, 31);
	assert_true(asprintf(&j,
			     "{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
			     "\"x\":\"%s\"}",
			     x) > 0);
	assert_jwk_refused(j, LL_EPARSE, "not 32 bytes");
	free(j);
	free(x);
	assert_jwk_refused(
		"{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
		"\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"}",
		LL_EPARSE, "padding");

	/* RSA n and e: leading zeros, e of 1, even e, too large e */
	{
		unsigned char *n = NULL, *n0;
		size_t nlen = 0;
		char *s;

		assert_int_equal(ll_b64url_decode(&n, &nlen, rfc7638_n,
						  strlen(rfc7638_n), 1024,
						  NULL),
				 0);
		n0 = calloc(1, nlen + 1);
		memcpy(n0 + 1, n, nlen);
		s = b64u(n0, nlen + 1);
		j = rsa_jwk(s, "AQAB");
		assert_jwk_refused(j, LL_EPARSE, "leading zero");
		free(j);
		j = rsa_jwk(rfc7638_n, "AAEAAQ");
		assert_jwk_refused(j, LL_EPARSE, "leading zero");
		free(j);
		j = rsa_jwk(rfc7638_n, "AQ");
		assert_jwk_refused(j, LL_EPOLICY, "exponent");
		free(j);
		j = rsa_jwk(rfc7638_n, "AQAA");
		assert_jwk_refused(j, LL_EPOLICY, "exponent");
		free(j);
		j = rsa_jwk(rfc7638_n, "AQAAAAE");
		assert_jwk_refused(j, LL_EPOLICY, NULL);
		free(j);
		j = rsa_jwk(rfc7638_n, "");
		assert_jwk_refused(j, LL_EPARSE, "empty");
		free(j);
		/* an even modulus */
		n[nlen - 1] &= 0xfe;
		free(s);
		s = b64u(n, nlen);
		j = rsa_jwk(s, "AQAB");
		assert_jwk_refused(j, LL_EPOLICY, "even");
		free(j);
		free(s);
		free(n);
		free(n0);
	}
	/* 8200 bits */
	{
		unsigned char n[1025];
		char *s;

		memset(n, 0xff, sizeof(n));
		s = b64u(n, sizeof(n));
		j = rsa_jwk(s, "AQAB");
		assert_jwk_refused(j, LL_EPOLICY, NULL);
		free(j);
		free(s);
	}
	/* other members are ignored */
	assert_true(
		asprintf(&j,
			 "{\"use\":\"sig\",\"kty\":\"OKP\",\"alg\":\"EdDSA\","
			 "\"crv\":\"Ed25519\",\"x\":\"%s\",\"kid\":[1]}",
			 rfc8037_x) > 0);
	ok = jwk_of(j);
	assert_string_equal(ll_jwk_alg(ok), "EdDSA");
	ll_jwk_free(&ok);
	free(j);
}

static void test_generate(void **state)
{
	struct ll_error err = { 0 };
	struct ll_jwk *k = (struct ll_jwk *)&err;

	(void)state;
	assert_int_equal(ll_jwk_generate(&k, "ES384", &err), LL_EINVAL);
	assert_null(k);
	assert_message(&err, LL_EINVAL);
	assert_int_equal(ll_jwk_generate(&k, NULL, &err), LL_EINVAL);
	for (size_t i = 0; i < LL_ARRAY_SIZE(keys); i++)
		assert_string_equal(ll_jwk_alg(keys[i]), algs[i]);
}

static void test_pem_round_trip(void **state)
{
	(void)state;
	for (size_t i = 0; i < LL_ARRAY_SIZE(keys); i++) {
		struct ll_error err = { 0 };
		struct ll_jwk *back = NULL;
		char *pem = NULL, *body;
		size_t len = 0;

		assert_int_equal(ll_jwk_private_pem(&pem, &len, keys[i], &err),
				 0);
		assert_int_equal(strlen(pem), len);
		assert_true(strncmp(pem, "-----BEGIN PRIVATE KEY-----\n", 28) ==
			    0);
		assert_int_equal(ll_jwk_from_private_pem(&back, pem, len, &err),
				 0);
		assert_true(ll_jwk_equal(back, keys[i]));
		/* the key read back signs for the one we had */
		body = sign(back, NULL, "{}");
		assert_int_equal(parse_verify(body, keys[i], &err), 0);
		free(body);
		ll_wipe_free(pem, len);
		ll_jwk_free(&back);
	}
}

static void test_pem_refused(void **state)
{
	struct ll_error err = { 0 };
	struct ll_jwk *pub, *k = (struct ll_jwk *)&err;
	char *pem = (char *)&err, *json, *out = (char *)&err, *big;
	EVP_PKEY *pk;
	BIO *b;
	size_t len = 99;
	long l;

	(void)state;
	/* a public key has no PEM and cannot sign */
	json = json_of(keys[0]);
	pub = jwk_of(json);
	assert_int_equal(ll_jwk_private_pem(&pem, &len, pub, &err), LL_EINVAL);
	assert_null(pem);
	assert_message(&err, LL_EINVAL);
	assert_int_equal(ll_jws_sign(&out, &len, pub, NULL, "n", "u", "", 0,
				     &err),
			 LL_EINVAL);
	assert_null(out);
	assert_int_equal(len, 0);
	ll_jwk_free(&pub);
	free(json);

	/* encrypted: refused, and no passphrase prompt */
	pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	b = BIO_new(BIO_s_mem());
	assert_true(PEM_write_bio_PKCS8PrivateKey(b, pk, EVP_aes_256_cbc(),
						  "secret", 6, NULL, NULL));
	l = BIO_get_mem_data(b, &pem);
	assert_true(ll_jwk_from_private_pem(&k, pem, (size_t)l, &err) < 0);
	assert_null(k);
	assert_message(&err, err.code);
	BIO_free(b);
	EVP_PKEY_free(pk);

	/* P-384 and RSA-1024 private keys */
	pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	b = BIO_new(BIO_s_mem());
	assert_true(PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL));
	l = BIO_get_mem_data(b, &pem);
	assert_int_equal(ll_jwk_from_private_pem(&k, pem, (size_t)l, &err),
			 LL_EPOLICY);
	assert_null(k);
	BIO_free(b);
	EVP_PKEY_free(pk);
	pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	b = BIO_new(BIO_s_mem());
	assert_true(PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL));
	l = BIO_get_mem_data(b, &pem);
	assert_int_equal(ll_jwk_from_private_pem(&k, pem, (size_t)l, &err),
			 LL_EPOLICY);
	BIO_free(b);
	EVP_PKEY_free(pk);

	/* not a key; too large to be one */
	assert_int_equal(ll_jwk_from_private_pem(&k, "hello", 5, &err),
			 LL_EPARSE);
	big = malloc(LL_JWS_MAX + 1);
	memset(big, 'A', LL_JWS_MAX + 1);
	assert_int_equal(ll_jwk_from_private_pem(&k, big, LL_JWS_MAX + 1, &err),
			 LL_EPARSE);
	assert_null(k);
	free(big);
	assert_int_equal(ll_jwk_from_private_pem(&k, "", 0, &err), LL_EPARSE);
}

/* A self-signed certificate for PK. */
static struct ll_cert *cert_for(EVP_PKEY *pk)
{
	struct ll_cert *c = NULL;
	X509 *x = X509_new();
	X509_NAME *nm;

	assert_non_null(x);
	assert_true(X509_set_version(x, X509_VERSION_3));
	assert_true(ASN1_INTEGER_set(X509_get_serialNumber(x), 7));
	nm = X509_get_subject_name(x);
	assert_true(X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
					       (const unsigned char *)"jose",
					       -1, -1, 0));
	assert_true(X509_set_issuer_name(x, nm));
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
	assert_true(X509_set_pubkey(x, pk));
	assert_true(X509_sign(x, pk,
			      EVP_PKEY_is_a(pk, "ED25519") ? NULL :
							     EVP_sha256()) > 0);
	assert_int_equal(ll_cert_wrap(&c, x, NULL), 0);
	return c;
}

static void test_equal_and_from_cert(void **state)
{
	struct ll_error err = { 0 };
	struct ll_jwk *a, *b, *fc = NULL;
	struct ll_cert *c;
	EVP_PKEY *pk;
	char *j;

	(void)state;
	/* the same key: generated, and parsed from its JSON */
	for (size_t i = 0; i < LL_ARRAY_SIZE(keys); i++) {
		j = json_of(keys[i]);
		a = jwk_of(j);
		assert_true(ll_jwk_equal(a, keys[i]));
		assert_true(ll_jwk_equal(keys[i], a));
		for (size_t k = 0; k < LL_ARRAY_SIZE(keys); k++)
			assert_int_equal(ll_jwk_equal(a, keys[k]), i == k);
		ll_jwk_free(&a);
		free(j);
	}
	assert_false(ll_jwk_equal(keys[0], NULL));
	assert_false(ll_jwk_equal(NULL, NULL));

	/* the RFC 7515 key in a different member order, white space */
	a = jwk_of(a3_jwk);
	b = jwk_of(
		"{ \"y\" : \"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\","
		" \"x\" : \"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
		" \"crv\" : \"P-256\", \"kty\" : \"EC\", \"use\": \"sig\" }");
	assert_true(ll_jwk_equal(a, b));
	ll_jwk_free(&a);
	ll_jwk_free(&b);

	/* from certificates: EC, Ed25519, and a refused P-384 */
	pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	c = cert_for(pk);
	assert_int_equal(ll_jwk_from_cert(&fc, c, &err), 0);
	j = jwk_json_of_pkey(pk, 0);
	a = jwk_of(j);
	assert_true(ll_jwk_equal(fc, a));
	assert_string_equal(ll_jwk_alg(fc), "ES256");
	free(j);
	ll_jwk_free(&a);
	ll_jwk_free(&fc);
	ll_cert_free(&c);
	EVP_PKEY_free(pk);

	pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	c = cert_for(pk);
	assert_int_equal(ll_jwk_from_cert(&fc, c, &err), 0);
	assert_string_equal(ll_jwk_alg(fc), "EdDSA");
	ll_jwk_free(&fc);
	ll_cert_free(&c);
	EVP_PKEY_free(pk);

	pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	c = cert_for(pk);
	fc = (struct ll_jwk *)&err;
	assert_int_equal(ll_jwk_from_cert(&fc, c, &err), LL_EPOLICY);
	assert_null(fc);
	assert_message(&err, LL_EPOLICY);
	ll_cert_free(&c);
	EVP_PKEY_free(pk);
}

/* ---- RFC 8823 ---- */

static void test_email_digest(void **state)
{
	static const char t1[] = "DGyRejmCefe7v4NfDGDKfA";
	static const char t2[] = "bSC3DwDKvW1YbKJUoY35ZV";
	char got[LL_JWK_THUMBPRINT_LEN + 1], tp[LL_JWK_THUMBPRINT_LEN + 1];
	unsigned char md[32];
	unsigned int mdlen = 0;
	char *ka, *want;

	(void)state;
	assert_int_equal(ll_jwk_thumbprint(tp, keys[0], NULL), 0);
	assert_int_equal(strlen(tp), LL_JWK_THUMBPRINT_LEN);
	assert_int_equal(ll_acme_email_digest(got, t1, t2, tp, NULL), 0);

	/* the same with OpenSSL: SHA-256 of token1 token2 "." thumbprint */
	assert_true(asprintf(&ka, "%s%s.%s", t1, t2, tp) > 0);
	assert_true(EVP_Digest(ka, strlen(ka), md, &mdlen, EVP_sha256(), NULL));
	assert_int_equal(mdlen, 32);
	want = ref_b64url(md, mdlen);
	assert_string_equal(got, want);
	assert_int_equal(strlen(got), LL_JWK_THUMBPRINT_LEN);
	free(want);
	free(ka);

	/* the order of the tokens counts */
	assert_int_equal(ll_acme_email_digest(tp, t2, t1, got, NULL), 0);
	assert_string_not_equal(tp, got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64url_rfc4648),
		cmocka_unit_test(test_b64url_alphabet),
		cmocka_unit_test(test_b64url_strict),
		cmocka_unit_test(test_b64url_max),
		cmocka_unit_test(test_b64url_reference),
		cmocka_unit_test(test_thumbprint_rfc7638),
		cmocka_unit_test(test_thumbprint_rfc8037),
		cmocka_unit_test(test_rfc7515_a3),
		cmocka_unit_test(test_rfc8037_a4),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_post_as_get),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_alg_mismatch),
		cmocka_unit_test(test_jws_refused),
		cmocka_unit_test(test_jws_serialization),
		cmocka_unit_test(test_jws_too_big),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_jwk_refused),
		cmocka_unit_test(test_generate),
		cmocka_unit_test(test_pem_round_trip),
		cmocka_unit_test(test_pem_refused),
		cmocka_unit_test(test_equal_and_from_cert),
		cmocka_unit_test(test_email_digest),
	};

	return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
