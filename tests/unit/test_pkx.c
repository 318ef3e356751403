/*
 * test_pkx.c - the PKX directory's pure parts (src/service/pkx.h): the
 * address keys (case, IDNA, NFC), SMIMEA owner names (RFC 8162 / RFC
 * 7929 test vector), the batch body and every truncation of it,
 * fingerprints, capabilities, If-None-Match, the rate limit (burst,
 * refill, clients apart, IPv6 /64, a full table), SipHash (reference
 * vectors), the answer cache (version, expiry, size, a full table),
 * and the checks of another CA's certificate on certificates made here
 * for each rule.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <letterlock/jose.h>

#include "internal.h"
#include "pkx.h"

#define CAROL "carol@example.test"
#define NOW ((time_t)1800000000)
#define DAY 86400L

/* ------------------------------------------------------------ addresses */

static void assert_key(const char *in, const char *want)
{
	char key[LLD_EMAIL_MAX + 1];
	struct ll_error err = { 0 };

	assert_int_equal(lld_pkx_addr_key(key, in, strlen(in), &err), 0);
	assert_string_equal(key, want);
}

static void assert_no_key(const char *in, size_t len, int code)
{
	char key[LLD_EMAIL_MAX + 1];
	struct ll_error err = { 0 };

	assert_int_equal(lld_pkx_addr_key(key, in, len, &err), code);
	assert_string_equal(key, "");
	assert_true(err.message[0] != '\0');
}

static void test_addr_key(void **state)
{
	char big[LLD_PKX_ADDR_IN_MAX + 2];

	assert_key("alice@example.test", "alice@example.test");
	/* the domain's case goes, the local part's stays (RFC 5321 2.4) */
	assert_key("Alice@EXAMPLE.Test", "Alice@example.test");
	/* U-labels become A-labels */
	assert_key("alice@b\xc3\xbc"
		   "cher.test",
		   "alice@xn--bcher-kva.test");
	assert_key("alice@xn--bcher-kva.test", "alice@xn--bcher-kva.test");
	/* a local part decomposed (e + U+0301) finds the composed one */
	assert_key("e\xcc\x81@example.test", "\xc3\xa9@example.test");
	assert_key("\xc3\xa9@example.test", "\xc3\xa9@example.test");
	assert_key("\xe9\xa9\xac\xe5\x85\x8b@example.test",
		   "\xe9\xa9\xac\xe5\x85\x8b@example.test");
	assert_no_key("", 0, LL_EINVAL);
	assert_no_key("alice", 5, LL_EINVAL);
	assert_no_key("a b@example.test", 16, LL_EINVAL);
	assert_no_key("alice@example", 13, LL_EINVAL);
	assert_no_key("alice@exa\0mple.test", 19, LL_EINVAL);
	/* IDNA2008 without mappings: an upper-case U-label is refused */
	assert_no_key("alice@B\xc3\x9c"
		      "CHER.test",
		      17, LL_EINVAL);
	assert_no_key("\"a\"@example.test", 16, LL_EINVAL);
	/* U+037E is ';' in NFC: no local part (found by fuzz_pkx) */
	assert_no_key("u\xcd\xbelple@example.test", 20, LL_EINVAL);
	/* NFC of the key's local part is checked like the rest: a key is
	 * always an address, and its own key */
	assert_key("\xe2\x84\xab@example.test", "\xc3\x85@example.test");
	memset(big, 'a', sizeof(big));
	memcpy(big + sizeof(big) - 14, "@example.test", 13);
	assert_no_key(big, sizeof(big) - 1, LL_ETOOBIG);
}

static void test_smimea_owner(void **state)
{
	char out[160];
	struct ll_error err = { 0 };

	/* RFC 7929 section 3's vector: the same hash for SMIMEA */
	assert_int_equal(lld_smimea_owner(out, sizeof(out), "hugh@example.com",
					  &err),
			 0);
	assert_string_equal(out, "c93f1e400f26708f98cb19d936620da35eec8f72e5"
				 "7f9eec01c1afd6._smimecert.example.com.");
	assert_int_equal(lld_smimea_owner(out, 60, "hugh@example.com", &err),
			 LL_ETOOBIG);
	assert_int_equal(lld_smimea_owner(out, sizeof(out), "hugh", &err),
			 LL_EINVAL);
	assert_int_equal(lld_smimea_owner(out, sizeof(out), "@x.test", &err),
			 LL_EINVAL);
}

/* ------------------------------------------------------------- batches */

static int batch(struct lld_pkx_batch **b, const char *body)
{
	struct ll_error err = { 0 };
	int rc = lld_pkx_batch_parse(b, body, strlen(body), &err);

	if (rc < 0) {
		assert_null(*b);
		assert_true(err.message[0] != '\0');
	}
	return rc;
}

static void test_batch(void **state)
{
	static const char good[] =
		"{\"addresses\": [\"alice@EXAMPLE.test\", \"nope\","
		" \"e\\u0301@example.test\"]}";
	struct lld_pkx_batch *b = NULL;
	struct ll_buf big = { 0 };

	assert_int_equal(batch(&b, good), 0);
	assert_int_equal(b->n, 3);
	assert_string_equal(b->q[0].key, "alice@example.test");
	assert_string_equal(b->q[0].given, "alice@EXAMPLE.test");
	assert_string_equal(b->q[0].why, "");
	/* a bad address does not refuse the batch: its entry says why */
	assert_string_equal(b->q[1].key, "");
	assert_string_equal(b->q[1].given, "nope");
	assert_true(b->q[1].why[0] != '\0');
	assert_string_equal(b->q[2].key, "\xc3\xa9@example.test");
	free(b);

	assert_int_equal(batch(&b, "{\"addresses\": []}"), LL_EPARSE);
	assert_int_equal(batch(&b, "[\"a@example.test\"]"), LL_EPARSE);
	assert_int_equal(batch(&b, "{\"addresses\": [1]}"), LL_EPARSE);
	assert_int_equal(batch(&b, "{\"addresses\": \"a@example.test\"}"),
			 LL_EPARSE);
	assert_int_equal(batch(&b, "{\"addresses\": [\"a@example.test\"],"
				   " \"more\": 1}"),
			 LL_EPARSE);
	assert_int_equal(batch(&b, "{\"addresses\": [\"a@example.test\"],"
				   " \"addresses\": [\"b@example.test\"]}"),
			 LL_EPARSE);
	assert_int_equal(batch(&b, ""), LL_EPARSE);

	/* LLD_PKX_BATCH_MAX addresses, then one more */
	ll_buf_adds(&big, "{\"addresses\":[");
	for (int i = 0; i < LLD_PKX_BATCH_MAX; i++)
		ll_buf_addf(&big, "%s\"u%d@example.test\"", i ? "," : "", i);
	ll_buf_adds(&big, "]}");
	ll_buf_add(&big, "", 1);
	assert_int_equal(batch(&b, big.p), 0);
	assert_int_equal(b->n, LLD_PKX_BATCH_MAX);
	assert_string_equal(b->q[99].key, "u99@example.test");
	free(b);
	big.len -= 3; /* "]}" and the NUL */
	ll_buf_adds(&big, ",\"one@more.test\"]}");
	ll_buf_add(&big, "", 1);
	assert_int_equal(batch(&b, big.p), LL_ETOOBIG);

	/* an address longer than anyone's */
	big.len = 0;
	ll_buf_adds(&big, "{\"addresses\":[\"");
	for (int i = 0; i < LLD_PKX_ADDR_IN_MAX; i++)
		ll_buf_add(&big, "a", 1);
	ll_buf_adds(&big, "@x.test\"]}");
	ll_buf_add(&big, "", 1);
	assert_int_equal(batch(&b, big.p), LL_ETOOBIG);
	ll_buf_free(&big);
}

/* Every strict prefix of a good body is refused, none crashes. */
static void test_batch_truncated(void **state)
{
	static const char good[] =
		"{\"addresses\":[\"alice@example.test\",\"b@xn--bcher-kva"
		".test\"]}";
	struct lld_pkx_batch *b = NULL;
	struct ll_error err = { 0 };
	char *copy;

	for (size_t n = 0; n < sizeof(good) - 1; n++) {
		/* a copy of exactly N octets: a read past it is caught by
		 * ASan */
		copy = malloc(n ? n : 1);
		assert_non_null(copy);
		memcpy(copy, good, n);
		assert_true(lld_pkx_batch_parse(&b, copy, n, &err) < 0);
		assert_null(b);
		free(copy);
	}
	assert_int_equal(lld_pkx_batch_parse(&b, good, LLD_PKX_BODY_MAX + 1,
					     &err),
			 LL_ETOOBIG);
	assert_int_equal(lld_pkx_batch_parse(&b, good, sizeof(good) - 1, &err),
			 0);
	free(b);
}

static void test_fpr(void **state)
{
	const char *ok = "0123456789abcdef0123456789abcdef"
			 "0123456789abcdef0123456789abcdef";

	assert_true(lld_pkx_fpr_ok(ok, 64));
	assert_false(lld_pkx_fpr_ok(ok, 63));
	assert_false(lld_pkx_fpr_ok("0123456789ABCDEF0123456789abcdef"
				    "0123456789abcdef0123456789abcdef",
				    64));
	assert_false(lld_pkx_fpr_ok("g123456789abcdef0123456789abcdef"
				    "0123456789abcdef0123456789abcdef",
				    64));
}

/* ------------------------------------------------------- capabilities */

static int caps(char *out, const char *json)
{
	struct ll_error err = { 0 };
	json_t *v = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	int rc;

	assert_non_null(v);
	rc = lld_pkx_caps_parse(out, v, &err);
	json_decref(v);
	if (rc < 0)
		assert_true(err.message[0] != '\0');
	return rc;
}

static void test_caps(void **state)
{
	char out[LLD_CAPS_MAX + 1];
	struct ll_buf many = { 0 };
	struct ll_error err = { 0 };

	assert_int_equal(caps(out, "[\"aes256-gcm\", \"rsaes-oaep\"]"), 0);
	assert_string_equal(out, "[\"aes256-gcm\",\"rsaes-oaep\"]");
	/* known OIDs become names; repeats go, the order stays */
	assert_int_equal(caps(out, "[\"2.16.840.1.101.3.4.1.42\","
				   " \"aes128-cbc\", \"aes256-cbc\","
				   " \"1.2.840.113549.1.1.7\"]"),
			 0);
	assert_string_equal(out,
			    "[\"aes256-cbc\",\"aes128-cbc\",\"rsaes-oaep\"]");
	/* an OID we do not know is kept for the clients that do */
	assert_int_equal(caps(out, "[\"1.3.6.1.4.1.99999.1\"]"), 0);
	assert_string_equal(out, "[\"1.3.6.1.4.1.99999.1\"]");
	assert_int_equal(caps(out, "[]"), 0);
	assert_string_equal(out, "[]");
	assert_int_equal(caps(out, "null"), 0);
	assert_string_equal(out, "");
	assert_int_equal(lld_pkx_caps_parse(out, NULL, &err), 0);
	assert_string_equal(out, "");

	assert_int_equal(caps(out, "[\"AES256-GCM\"]"), LL_EPARSE);
	assert_int_equal(caps(out, "[\"chacha20\"]"), LL_EPARSE);
	assert_int_equal(caps(out, "\"aes256-gcm\""), LL_EPARSE);
	assert_int_equal(caps(out, "[1]"), LL_EPARSE);
	assert_int_equal(caps(out, "[\"aes256-gcm\\u0000\"]"), LL_EPARSE);
	for (size_t i = 0; i < 6; i++) {
		static const char *const bad[] = { "1.2.", "3.1", "1.40",
						   "01.2", "1",	  "1..2" };
		char in[32];

		snprintf(in, sizeof(in), "[\"%s\"]", bad[i]);
		assert_int_equal(caps(out, in), LL_EPARSE);
	}
	assert_int_equal(caps(out, "[\"1.2.840.113549.1.1.1.1.1.1.1.1.1.1.1."
				   "1.1.1\"]"),
			 LL_EPARSE);
	ll_buf_adds(&many, "[");
	for (int i = 0; i <= LLD_PKX_CAPS_MAX; i++)
		ll_buf_addf(&many, "%s\"1.3.6.1.4.1.%d\"", i ? "," : "", i);
	ll_buf_adds(&many, "]");
	ll_buf_add(&many, "", 1);
	assert_int_equal(caps(out, many.p), LL_ETOOBIG);
	ll_buf_free(&many);
}

static void test_etag(void **state)
{
	const char *tag = "\"abc\"";

	assert_false(lld_pkx_etag_match(NULL, tag));
	assert_true(lld_pkx_etag_match("\"abc\"", tag));
	assert_true(lld_pkx_etag_match("W/\"abc\"", tag));
	assert_true(lld_pkx_etag_match("\"x\", \"abc\"", tag));
	assert_true(lld_pkx_etag_match(" \"x\",W/\"abc\" ", tag));
	assert_true(lld_pkx_etag_match("*", tag));
	assert_true(lld_pkx_etag_match(" * ", tag));
	assert_false(lld_pkx_etag_match("\"abcd\"", tag));
	assert_false(lld_pkx_etag_match("abc", tag));
	assert_false(lld_pkx_etag_match("\"abc", tag));
	assert_false(lld_pkx_etag_match("\"x\" \"abc\"", tag));
	assert_false(lld_pkx_etag_match("*, \"abc\"", tag));
	assert_false(lld_pkx_etag_match("", tag));
}

/* ---------------------------------------------------------- rate limit */

static void test_limit(void **state)
{
	struct lld_limit *l = NULL;
	struct ll_error err = { 0 };

	/* a token a second, ten at once */
	assert_int_equal(lld_limit_new(&l, 60, 10, 1024, &err), 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(lld_limit_take(l, "192.0.2.1", 1, 100.0), 0);
	assert_int_equal(lld_limit_take(l, "192.0.2.1", 1, 100.0), 1);
	/* refused takes nothing: a second later one token is there */
	assert_int_equal(lld_limit_take(l, "192.0.2.1", 1, 101.0), 0);
	assert_int_equal(lld_limit_take(l, "192.0.2.1", 1, 101.0), 1);
	/* a batch waits for all its tokens */
	assert_int_equal(lld_limit_take(l, "192.0.2.1", 5, 101.5), 5);
	/* more than the bucket holds costs the bucket */
	assert_int_equal(lld_limit_take(l, "192.0.2.1", 500, 101.5), 10);
	assert_int_equal(lld_limit_take(l, "192.0.2.1", 500, 120.0), 0);
	/* others have their own bucket; IPv4-mapped is the same client */
	assert_int_equal(lld_limit_take(l, "192.0.2.2", 10, 120.0), 0);
	assert_int_equal(lld_limit_take(l, "::ffff:192.0.2.2", 1, 120.0), 1);
	/* an IPv6 client is its /64 */
	assert_int_equal(lld_limit_take(l, "2001:db8:1:2::1", 10, 120.0), 0);
	assert_int_equal(lld_limit_take(l, "2001:db8:1:2:ffff::9", 1, 120.0),
			 1);
	assert_int_equal(lld_limit_take(l, "2001:db8:1:3::1", 1, 120.0), 0);
	/* whatever is no address shares one bucket */
	assert_int_equal(lld_limit_take(l, NULL, 10, 120.0), 0);
	assert_int_equal(lld_limit_take(l, "unix:/x", 1, 120.0), 1);
	/* a clock that goes back gives nothing */
	assert_int_equal(lld_limit_take(l, "192.0.2.1", 10, 50.0), 10);
	lld_limit_free(&l);
	assert_null(l);
	lld_limit_free(&l);

	/* no limit */
	assert_int_equal(lld_limit_new(&l, 0, 100, 1024, &err), 0);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(lld_limit_take(l, "192.0.2.1", 100, 1.0), 0);
	lld_limit_free(&l);
}

/* More clients than slots: a new client is never refused, a counted
 * one is limited while the table holds it. */
static void test_limit_full(void **state)
{
	struct lld_limit *l = NULL;
	struct ll_error err = { 0 };
	char peer[32];

	assert_int_equal(lld_limit_new(&l, 1, 100, 8, &err), 0);
	assert_int_equal(lld_limit_take(l, "198.51.100.1", 100, 0.0), 0);
	assert_true(lld_limit_take(l, "198.51.100.1", 1, 0.0) > 0);
	for (int i = 0; i < 5000; i++) {
		snprintf(peer, sizeof(peer), "10.%d.%d.1", i / 250, i % 250);
		assert_int_equal(lld_limit_take(l, peer, 1, 1.0), 0);
	}
	/* the fullest buckets went, not the one that was spent */
	assert_true(lld_limit_take(l, "198.51.100.1", 1, 1.0) > 0);
	lld_limit_free(&l);
}

/* ------------------------------------------------------------ SipHash */

/* The reference implementation's vectors: key 00..0f, message 00.. */
static void test_siphash(void **state)
{
	unsigned char k[16], m[16];
	uint64_t k0 = 0, k1 = 0;

	for (int i = 0; i < 16; i++)
		k[i] = m[i] = (unsigned char)i;
	for (int i = 7; i >= 0; i--) {
		k0 = (k0 << 8) | k[i];
		k1 = (k1 << 8) | k[8 + i];
	}
	assert_true(lld_siphash(m, 0, k0, k1) == 0x726fdb47dd0e0e31ULL);
	assert_true(lld_siphash(m, 1, k0, k1) == 0x74f839c593dc67fdULL);
	assert_true(lld_siphash(m, 8, k0, k1) == 0x93f5f5799a932462ULL);
	/* the paper's example */
	assert_true(lld_siphash(m, 15, k0, k1) == 0xa129ca6149be45e5ULL);
}

/* ------------------------------------------------------- answer cache */

#define TAG "00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff"

static void assert_kept(struct lld_pkx_cache *c, const char *key,
			uint64_t version, time_t now, const char *body)
{
	struct lld_pkx_answer a = { 0 };

	assert_int_equal(lld_pkx_cache_get(c, key, version, now, &a), 1);
	assert_int_equal(a.len, strlen(body));
	assert_memory_equal(a.body, body, a.len);
	assert_string_equal(a.etag, TAG);
}

static int kept(struct lld_pkx_cache *c, const char *key, uint64_t version,
		time_t now)
{
	struct lld_pkx_answer a;

	return lld_pkx_cache_get(c, key, version, now, &a);
}

static void test_cache(void **state)
{
	struct lld_pkx_cache *c = NULL;
	struct ll_error err = { 0 };
	char big[8192];

	/* none: nothing kept, nothing found */
	assert_int_equal(lld_pkx_cache_new(&c, 0, &err), 0);
	assert_null(c);
	lld_pkx_cache_put(c, CAROL, 1, NOW, "{}", 2, TAG);
	assert_int_equal(kept(c, CAROL, 1, NOW), 0);
	lld_pkx_cache_free(&c);

	assert_int_equal(lld_pkx_cache_new(&c, 64 * 1024, &err), 0);
	assert_int_equal(kept(c, CAROL, 1, NOW), 0);
	lld_pkx_cache_put(c, CAROL, 1, NOW + DAY, "{\"a\":1}", 7, TAG);
	assert_kept(c, CAROL, 1, NOW, "{\"a\":1}");
	/* up to its last second */
	assert_kept(c, CAROL, 1, NOW + DAY, "{\"a\":1}");
	assert_int_equal(kept(c, "dave@example.test", 1, NOW), 0);
	/* a new answer for the key takes the old one's place */
	lld_pkx_cache_put(c, CAROL, 1, NOW + DAY, "{\"a\":2}", 7, TAG);
	assert_kept(c, CAROL, 1, NOW, "{\"a\":2}");
	/* past its last second, or the store changed: gone for good */
	assert_int_equal(kept(c, CAROL, 1, NOW + DAY + 1), 0);
	assert_int_equal(kept(c, CAROL, 1, NOW), 0);
	lld_pkx_cache_put(c, CAROL, 1, NOW + DAY, "{}", 2, TAG);
	assert_int_equal(kept(c, CAROL, 2, NOW), 0);
	assert_int_equal(kept(c, CAROL, 1, NOW), 0);
	/* an answer over a sixteenth of the cache is not kept */
	memset(big, 'x', sizeof(big));
	lld_pkx_cache_put(c, CAROL, 1, NOW + DAY, big, sizeof(big), TAG);
	assert_int_equal(kept(c, CAROL, 1, NOW), 0);
	lld_pkx_cache_free(&c);
	assert_null(c);
	lld_pkx_cache_free(&c);
}

/* More answers than fit: the cache stays within its size, the one kept
 * last is there, and each is found under its own key. */
static void test_cache_full(void **state)
{
	struct lld_pkx_cache *c = NULL;
	struct ll_error err = { 0 };
	char key[64], body[1024];
	size_t found = 0;

	memset(body, 'b', sizeof(body));
	assert_int_equal(lld_pkx_cache_new(&c, 64 * 1024, &err), 0);
	for (int i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "u%d@example.test", i);
		snprintf(body, sizeof(body), "%d", i);
		body[strlen(body)] = 'b';
		lld_pkx_cache_put(c, key, 1, NOW, body, sizeof(body), TAG);
		assert_int_equal(kept(c, key, 1, NOW), 1);
	}
	for (int i = 0; i < 1000; i++) {
		struct lld_pkx_answer a;
		char want[16];

		snprintf(key, sizeof(key), "u%d@example.test", i);
		if (!lld_pkx_cache_get(c, key, 1, NOW, &a))
			continue;
		found++;
		snprintf(want, sizeof(want), "%db", i);
		assert_memory_equal(a.body, want, strlen(want));
	}
	/* 64 KiB of answers of 1 KiB and more */
	assert_true(found > 0 && found < 64);
	lld_pkx_cache_free(&c);
}

/* ------------------------------------------- certificates of other CAs */

enum key {
	RSA2048,
	RSA1024,
	P256,
	P384,
	P521,
	KEYS
};

static EVP_PKEY *keys[KEYS];

static EVP_PKEY *key_of(enum key k)
{
	if (keys[k] == NULL) {
		switch (k) {
		case RSA2048:
			keys[k] = EVP_RSA_gen(2048);
			break;
		case RSA1024:
			keys[k] = EVP_RSA_gen(1024);
			break;
		case P256:
			keys[k] = EVP_EC_gen("P-256");
			break;
		case P384:
			keys[k] = EVP_EC_gen("P-384");
			break;
		default:
			keys[k] = EVP_EC_gen("P-521");
			break;
		}
	}
	assert_non_null(keys[k]);
	return keys[k];
}

struct spec {
	enum key key;
	/* subjectAltName, openssl's syntax; NULL none; "utf8:ADDR" one
	 * SmtpUTF8Mailbox (openssl's syntax makes UTF-8 Latin-1 first) */
	const char *san;
	const char *email; /* subject emailAddress, NULL none */
	const char *eku, *ku, *bc; /* NULL: no such extension */
	long from, to; /* validity, seconds from NOW */
};

static void add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	if (value == NULL)
		return;
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

/* subjectAltName: one SmtpUTF8Mailbox ADDR (UTF-8). */
static void add_utf8_san(X509 *x, const char *addr)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *g = GENERAL_NAME_new();
	ASN1_TYPE *t = ASN1_TYPE_new();
	ASN1_UTF8STRING *u = ASN1_UTF8STRING_new();

	assert_true(gens && g && t && u);
	assert_int_equal(ASN1_STRING_set(u, addr, (int)strlen(addr)), 1);
	ASN1_TYPE_set(t, V_ASN1_UTF8STRING, u);
	assert_int_equal(GENERAL_NAME_set0_othername(
				 g, OBJ_nid2obj(NID_id_on_SmtpUTF8Mailbox), t),
			 1);
	assert_true(sk_GENERAL_NAME_push(gens, g) > 0);
	assert_int_equal(X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0,
					   X509V3_ADD_DEFAULT),
			 1);
	GENERAL_NAMES_free(gens);
}

/* A self-signed certificate as S says, DER into *len (malloc'd). */
static unsigned char *make(const struct spec *s, size_t *len)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	EVP_PKEY *k = key_of(s->key);
	unsigned char *der = NULL, *p;
	int dlen;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
				   (const unsigned char *)"test", -1, -1, 0);
	if (s->email != NULL)
		X509_NAME_add_entry_by_NID(n, NID_pkcs9_emailAddress,
					   MBSTRING_ASC,
					   (const unsigned char *)s->email, -1,
					   -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_NAME_free(n);
	assert_non_null(X509_time_adj_ex(X509_getm_notBefore(x), 0, s->from,
					 &(time_t){ NOW }));
	assert_non_null(X509_time_adj_ex(X509_getm_notAfter(x), 0, s->to,
					 &(time_t){ NOW }));
	assert_int_equal(X509_set_pubkey(x, k), 1);
	if (s->san != NULL && strncmp(s->san, "utf8:", 5) == 0)
		add_utf8_san(x, s->san + 5);
	else
		add_ext(x, NID_subject_alt_name, s->san);
	add_ext(x, NID_ext_key_usage, s->eku);
	add_ext(x, NID_key_usage, s->ku);
	add_ext(x, NID_basic_constraints, s->bc);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	dlen = i2d_X509(x, NULL);
	assert_true(dlen > 0);
	der = malloc((size_t)dlen + 1);
	assert_non_null(der);
	p = der;
	i2d_X509(x, &p);
	X509_free(x);
	*len = (size_t)dlen;
	return der;
}

/* The verdict on a certificate made as S for the key EMAIL at NOW. */
static enum lld_pkx_refusal verdict(const struct spec *s, const char *email)
{
	enum lld_pkx_refusal why = LLD_PKX_OK;
	struct ll_error err = { 0 };
	time_t nb = 0, na = 0;
	size_t len = 0;
	unsigned char *der = make(s, &len);
	int rc = lld_pkx_cert_check(der, len, email, NOW, &nb, &na, &why, &err);

	if (rc == 0) {
		assert_int_equal(nb, NOW + s->from);
		assert_int_equal(na, NOW + s->to);
	} else {
		assert_int_equal(rc, LL_EPOLICY);
		assert_true(err.message[0] != '\0');
		assert_int_not_equal(why, LLD_PKX_OK);
	}
	free(der);
	return why;
}

#define RSA_OK                                                       \
	{                                                            \
		RSA2048, "email:" CAROL, NULL, "emailProtection",    \
			"critical,digitalSignature,keyEncipherment", \
			"critical,CA:FALSE", -DAY, 365 * DAY         \
	}

static void test_cert_ok(void **state)
{
	struct spec rsa = RSA_OK;
	struct spec ec = { P256,	   "email:" CAROL, NULL, NULL,
			   "keyAgreement", NULL,	   -DAY, DAY };
	struct spec p384 = { P384, "utf8:\xe9\xa9\xac\xe5\x85\x8b@example.test",
			     NULL, "emailProtection",
			     NULL, NULL,
			     -DAY, DAY };

	assert_int_equal(verdict(&rsa, CAROL), LLD_PKX_OK);
	/* no EKU: any use; keyUsage keyAgreement for an EC key */
	assert_int_equal(verdict(&ec, CAROL), LLD_PKX_OK);
	assert_int_equal(verdict(&p384,
				 "\xe9\xa9\xac\xe5\x85\x8b@example.test"),
			 LLD_PKX_OK);
	/* names compare as directory keys: the domain's case goes */
	rsa.san = "email:carol@EXAMPLE.TEST, DNS:example.test";
	rsa.email = "carol@Example.Test";
	assert_int_equal(verdict(&rsa, CAROL), LLD_PKX_OK);
	rsa = (struct spec)RSA_OK;
	rsa.eku = "emailProtection, anyExtendedKeyUsage";
	assert_int_equal(verdict(&rsa, CAROL), LLD_PKX_OK);
	/* valid on its last second (RFC 5280: notAfter inclusive) */
	rsa = (struct spec)RSA_OK;
	rsa.from = 0;
	rsa.to = 0;
	assert_int_equal(verdict(&rsa, CAROL), LLD_PKX_OK);
}

static void test_cert_refused(void **state)
{
	struct spec s;

	s = (struct spec)RSA_OK;
	assert_int_equal(verdict(&s, "bob@example.test"), LLD_PKX_WRONG_NAME);
	s.san = "email:" CAROL ", email:bob@example.test";
	assert_int_equal(verdict(&s, CAROL), LLD_PKX_WRONG_NAME);
	s.san = NULL;
	assert_int_equal(verdict(&s, CAROL), LLD_PKX_WRONG_NAME);
	s.san = "DNS:example.test";
	assert_int_equal(verdict(&s, CAROL), LLD_PKX_WRONG_NAME);
	s = (struct spec)RSA_OK;
	s.email = "bob@example.test";
	assert_int_equal(verdict(&s, CAROL), LLD_PKX_WRONG_NAME);
	/* a local part's case is its own */
	s = (struct spec)RSA_OK;
	s.san = "email:Carol@example.test";
	assert_int_equal(verdict(&s, CAROL), LLD_PKX_WRONG_NAME);

	s = (struct spec)RSA_OK;
	s.to = -1;
	assert_int_equal(verdict(&s, CAROL), LLD_PKX_BAD_TIME);
	s = (struct spec)RSA_OK;
	s.from = 1;
	assert_int_equal(verdict(&s, CAROL), LLD_PKX_BAD_TIME);

	s = (struct spec)RSA_OK;
	s.eku = "serverAuth, clientAuth";
	assert_int_equal(verdict(&s, CAROL), LLD_PKX_BAD_USE);
	s.eku = "anyExtendedKeyUsage";
	assert_int_equal(verdict(&s, CAROL), LLD_PKX_BAD_USE);
	s = (struct spec)RSA_OK;
	s.bc = "critical,CA:TRUE";
	s.ku = "keyCertSign, keyEncipherment";
	assert_int_equal(verdict(&s, CAROL), LLD_PKX_BAD_USE);
	s = (struct spec)RSA_OK;
	s.ku = "digitalSignature";
	assert_int_equal(verdict(&s, CAROL), LLD_PKX_BAD_USE);
	s.key = P256;
	s.ku = "digitalSignature, keyEncipherment";
	assert_int_equal(verdict(&s, CAROL), LLD_PKX_BAD_USE);

	s = (struct spec)RSA_OK;
	s.key = RSA1024;
	assert_int_equal(verdict(&s, CAROL), LLD_PKX_BAD_KEY);
	s.key = P521;
	s.ku = "keyAgreement";
	assert_int_equal(verdict(&s, CAROL), LLD_PKX_BAD_KEY);
}

static void test_cert_not_der(void **state)
{
	struct spec s = RSA_OK;
	enum lld_pkx_refusal why;
	struct ll_error err = { 0 };
	time_t nb, na;
	size_t len = 0;
	unsigned char *der = make(&s, &len);

	/* a byte after it */
	der[len] = 0;
	assert_int_equal(lld_pkx_cert_check(der, len + 1, CAROL, NOW, &nb, &na,
					    &why, &err),
			 LL_EPOLICY);
	assert_int_equal(why, LLD_PKX_NOT_CERT);
	/* every truncation */
	for (size_t n = 0; n < len; n++) {
		unsigned char *cut = malloc(n ? n : 1);

		assert_non_null(cut);
		memcpy(cut, der, n);
		assert_int_equal(lld_pkx_cert_check(cut, n, CAROL, NOW, &nb,
						    &na, &why, &err),
				 LL_EPOLICY);
		assert_int_equal(why, LLD_PKX_NOT_CERT);
		free(cut);
	}
	assert_int_equal(lld_pkx_cert_check(der, LLD_PKX_CERT_MAX + 1, CAROL,
					    NOW, &nb, &na, &why, &err),
			 LL_EPOLICY);
	assert_int_equal(why, LLD_PKX_NOT_CERT);
	free(der);
}

static void test_cert_decode(void **state)
{
	struct spec s = RSA_OK;
	struct ll_error err = { 0 };
	unsigned char *der0, *der = NULL;
	size_t len0 = 0, len = 0;
	char *b64 = NULL, *pem = NULL;
	struct ll_buf two = { 0 };
	BIO *bio = BIO_new(BIO_s_mem());
	long plen;

	der0 = make(&s, &len0);
	assert_int_equal(ll_b64url_encode(&b64, NULL, der0, len0, &err), 0);
	assert_int_equal(
		lld_pkx_cert_decode(&der, &len, b64, strlen(b64), &err), 0);
	assert_int_equal(len, len0);
	assert_memory_equal(der, der0, len0);
	free(der);

	assert_non_null(bio);
	assert_true(PEM_write_bio(bio, "CERTIFICATE", "", der0, (long)len0) >
		    0);
	plen = BIO_get_mem_data(bio, &pem);
	assert_true(plen > 0);
	assert_int_equal(
		lld_pkx_cert_decode(&der, &len, pem, (size_t)plen, &err), 0);
	assert_int_equal(len, len0);
	assert_memory_equal(der, der0, len0);
	free(der);

	/* two blocks, a block of another kind, text after it */
	ll_buf_add(&two, pem, (size_t)plen);
	ll_buf_add(&two, pem, (size_t)plen);
	assert_int_equal(lld_pkx_cert_decode(&der, &len, two.p, two.len, &err),
			 LL_EPARSE);
	assert_null(der);
	two.len = (size_t)plen;
	ll_buf_adds(&two, "x");
	assert_int_equal(lld_pkx_cert_decode(&der, &len, two.p, two.len, &err),
			 LL_EPARSE);
	assert_int_equal(lld_pkx_cert_decode(&der, &len, pem, 40, &err),
			 LL_EPARSE);
	/* base64url only: no padding, no '+' */
	assert_int_equal(lld_pkx_cert_decode(&der, &len, "AAAA==", 6, &err),
			 LL_EPARSE);
	assert_int_equal(lld_pkx_cert_decode(&der, &len, "AA+A", 4, &err),
			 LL_EPARSE);
	two.len = 0;
	for (int i = 0; i < LLD_PKX_CERT_MAX / 3 * 4 + 8; i++)
		ll_buf_add(&two, "A", 1);
	assert_int_equal(lld_pkx_cert_decode(&der, &len, two.p, two.len, &err),
			 LL_ETOOBIG);
	assert_null(der);
	ll_buf_free(&two);
	BIO_free(bio);
	free(b64);
	free(der0);
}

static int teardown_keys(void **state)
{
	for (int i = 0; i < KEYS; i++)
		EVP_PKEY_free(keys[i]);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr_key),
		cmocka_unit_test(test_smimea_owner),
		cmocka_unit_test(test_batch),
		cmocka_unit_test(test_batch_truncated),
		cmocka_unit_test(test_fpr),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_etag),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_limit_full),
		cmocka_unit_test(test_siphash),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_cache_full),
		cmocka_unit_test(test_cert_ok),
		cmocka_unit_test(test_cert_refused),
		cmocka_unit_test(test_cert_not_der),
		cmocka_unit_test(test_cert_decode),
	};

	return cmocka_run_group_tests(tests, NULL, teardown_keys);
}
