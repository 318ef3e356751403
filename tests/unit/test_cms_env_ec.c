/*
 * test_cms_env_ec.c - our EnvelopedData / AuthEnvelopedData to EC P-256
 * recipients (src/lib/cms_env_ec.c), read back by OpenSSL's own CMS code
 * (CMS_decrypt: its ECDH, X9.63 KDF, SharedInfo and key unwrap), for 1
 * and 4 recipients, CBC and GCM, each with an ephemeral P-256 key of
 * its own; tampering; the KDF against a vector.
 * And the other way (src/lib/cms_open_ec.c): what we and OpenSSL's CMS
 * write for EC keys, opened without OpenSSL's CMS, with the same outcome
 * as OpenSSL's CMS_decrypt for every changed octet of the message.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/cms.h>
#include <openssl/ec.h>
#include <openssl/err.h>

#include <letterlock/letterlock.h>

#include "internal.h"

#define NID_COUNT 5 /* the last one is never a recipient */
#define PT_LEN (150 * 1024 + 7)

/* each identity in a context of its own (which owns it); the last
 * context holds two more, an older and a newer (key history) */
static struct ll_identity *ids[NID_COUNT];
static struct ll_ctx *rctx[NID_COUNT + 1];
static struct ll_identity *rsa_id;
static struct ll_ctx *ctx;
static unsigned char *plain;

static int setup(void **state)
{
	struct ll_error err = { 0 };

	(void)state;
	for (size_t i = 0; i < NID_COUNT + 2; i++) {
		size_t c = i < NID_COUNT ? i : NID_COUNT;
		struct ll_identity *id = NULL;
		char email[64];

		snprintf(email, sizeof(email), "ec%zu@example.test", c);
		if ((rctx[c] == NULL && ll_ctx_new(&rctx[c], &err) != 0) ||
		    ll_identity_generate(&id, email, LL_KEY_EC_P256, 30,
					 &err) != 0 ||
		    ll_ctx_add_identity(rctx[c], &id, &err) != 0)
			return -1;
		if (i < NID_COUNT)
			ids[i] = ll_ctx_identity_at(rctx[c], 0);
	}
	if (ll_identity_generate(&rsa_id, "rsa@example.test", LL_KEY_RSA2048,
				 30, &err) != 0 ||
	    ll_ctx_new(&ctx, &err) != 0)
		return -1;
	plain = malloc(PT_LEN);
	if (plain == NULL)
		return -1;
	for (size_t i = 0; i < PT_LEN; i++)
		plain[i] = (unsigned char)(i * 7 + i / 251);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < NID_COUNT + 1; i++)
		ll_ctx_free(&rctx[i]);
	ll_identity_free(&rsa_id);
	ll_ctx_free(&ctx);
	free(plain);
	return 0;
}

/* PLAIN[0..LEN) enveloped to the N certificates RCPTS, DER in *der. */
static void envelop_to(struct ll_buf *der, struct ll_cert *const *rcpts,
		       size_t n, int gcm, size_t len)
{
	static const size_t pieces[] = { 1, 15, 1000, 70000, 16, 0 };
	struct ll_error err = { 0 };
	BIO *sink, *e;
	size_t off = 0;

	assert_true(ll_cms_env_ec_ok(rcpts, n));
	sink = ll_bio_buf_new(der);
	assert_non_null(sink);
	e = ll_cms_env_ec_new(ctx, rcpts, n, gcm, &err);
	assert_non_null(e);
	BIO_push(e, sink);
	/* writes of every size the stream meets: 1 octet to 80 KiB */
	for (size_t i = 0; off < len; i++) {
		size_t k = pieces[i % LL_ARRAY_SIZE(pieces)];

		if (k == 0 || k > len - off)
			k = len - off < 81920 ? len - off : 81920;
		assert_int_equal(ll_bio_put(e, plain + off, k), 0);
		off += k;
	}
	assert_int_equal(BIO_flush(e), 1);
	/* the message is closed: nothing more goes in */
	assert_true(BIO_write(e, "x", 1) <= 0);
	BIO_pop(e);
	BIO_free(e);
	BIO_free(sink);
}

/* PLAIN enveloped to the first N identities. */
static void envelop(struct ll_buf *der, size_t n, int gcm)
{
	struct ll_cert *rcpts[NID_COUNT];

	for (size_t i = 0; i < n; i++)
		rcpts[i] = ll_identity_cert(ids[i]);
	envelop_to(der, rcpts, n, gcm, PT_LEN);
}

/* OpenSSL's CMS_decrypt of DER with identity I: 1 and the plaintext
 * checked, or 0 if it refuses. */
static int openssl_decrypts(const struct ll_buf *der, size_t i, int gcm)
{
	const unsigned char *p = (const unsigned char *)der->p;
	CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)der->len);
	BIO *out = BIO_new(BIO_s_mem());
	char *got = NULL;
	long len;
	int ok;

	assert_non_null(cms);
	assert_ptr_equal(p, (const unsigned char *)der->p + der->len);
	assert_int_equal(OBJ_obj2nid(CMS_get0_type(cms)),
			 gcm ? NID_id_smime_ct_authEnvelopedData :
			       NID_pkcs7_enveloped);
	ok = CMS_decrypt(cms, ll_identity_pkey(ids[i]),
			 ll_cert_x509(ll_identity_cert(ids[i])), NULL, out,
			 CMS_BINARY) == 1;
	if (ok) {
		len = BIO_get_mem_data(out, &got);
		assert_int_equal(len, PT_LEN);
		assert_memory_equal(got, plain, PT_LEN);
	}
	ERR_clear_error();
	BIO_free(out);
	CMS_ContentInfo_free(cms);
	return ok;
}

static void check_recipient_infos(const struct ll_buf *der, size_t n)
{
	const unsigned char *p = (const unsigned char *)der->p;
	CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)der->len);
	STACK_OF(CMS_RecipientInfo) * ris;
	EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	EC_POINT *pt = g ? EC_POINT_new(g) : NULL;
	unsigned char points[NID_COUNT][65];

	assert_non_null(cms);
	assert_non_null(pt);
	ris = CMS_get0_RecipientInfos(cms);
	assert_int_equal(sk_CMS_RecipientInfo_num(ris), (int)n);
	for (size_t i = 0; i < n; i++) {
		CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, (int)i);
		STACK_OF(CMS_RecipientEncryptedKey) * reks;
		int found = 0;

		assert_int_equal(CMS_RecipientInfo_type(ri),
				 CMS_RECIPINFO_AGREE);
		/* one recipient per KARI, each with its own ephemeral key */
		reks = CMS_RecipientInfo_kari_get0_reks(ri);
		assert_int_equal(sk_CMS_RecipientEncryptedKey_num(reks), 1);
		for (size_t j = 0; j < n; j++) {
			X509 *x = ll_cert_x509(ll_identity_cert(ids[j]));

			found += CMS_RecipientEncryptedKey_cert_cmp(
					 sk_CMS_RecipientEncryptedKey_value(
						 reks, 0),
					 x) == 0;
		}
		assert_int_equal(found, 1);
		/* the ephemeral key: an uncompressed point of P-256, none
		 * the same as another recipient's */
		{
			ASN1_BIT_STRING *pub = NULL;
			X509_ALGOR *alg = NULL;

			assert_int_equal(CMS_RecipientInfo_kari_get0_orig_id(
						 ri, &alg, &pub, NULL, NULL,
						 NULL),
					 1);
			assert_non_null(pub);
			assert_int_equal(ASN1_STRING_length(pub), 65);
			memcpy(points[i], ASN1_STRING_get0_data(pub), 65);
			assert_int_equal(points[i][0], 0x04);
			assert_int_equal(EC_POINT_oct2point(g, pt, points[i],
							    65, NULL),
					 1);
			for (size_t j = 0; j < i; j++)
				assert_memory_not_equal(points[i], points[j],
							65);
		}
	}
	EC_POINT_free(pt);
	EC_GROUP_free(g);
	CMS_ContentInfo_free(cms);
}

static void roundtrip(size_t n, int gcm)
{
	struct ll_buf der = { 0 };

	envelop(&der, n, gcm);
	check_recipient_infos(&der, n);
	for (size_t i = 0; i < n; i++)
		assert_true(openssl_decrypts(&der, i, gcm));
	/* not a recipient */
	assert_false(openssl_decrypts(&der, NID_COUNT - 1, gcm));
	ll_buf_free(&der);
}

static void test_one_cbc(void **state)
{
	(void)state;
	roundtrip(1, 0);
}

static void test_one_gcm(void **state)
{
	(void)state;
	roundtrip(1, 1);
}

static void test_four_cbc(void **state)
{
	(void)state;
	roundtrip(4, 0);
}

static void test_four_gcm(void **state)
{
	(void)state;
	roundtrip(4, 1);
}

/* A changed octet of ciphertext or tag: GCM yields nothing. */
static void test_gcm_tamper(void **state)
{
	struct ll_buf der = { 0 };
	/* the tag, then six end-of-contents octets close the message */
	size_t tag_at, ct_at;

	(void)state;
	envelop(&der, 2, 1);
	tag_at = der.len - 6 - 16;
	assert_memory_equal(der.p + tag_at - 6, "\0\0\0\0\x04\x10", 6);
	der.p[tag_at] ^= 1;
	assert_false(openssl_decrypts(&der, 0, 1));
	der.p[tag_at] ^= 1;
	assert_true(openssl_decrypts(&der, 1, 1));
	ct_at = der.len / 2;
	der.p[ct_at] ^= 0x40;
	assert_false(openssl_decrypts(&der, 1, 1));
	ll_buf_free(&der);
}

/* An RSA key among the recipients: not ours to do (OpenSSL's CMS). */
static void test_not_all_ec(void **state)
{
	struct ll_cert *rcpts[2] = { ll_identity_cert(ids[0]),
				     ll_identity_cert(rsa_id) };
	struct ll_error err = { 0 };

	(void)state;
	assert_false(ll_cms_env_ec_ok(rcpts, 2));
	assert_false(ll_cms_env_ec_ok(rcpts, 0));
	assert_null(ll_cms_env_ec_new(ctx, rcpts, 2, 0, &err));
	assert_int_equal(err.code, LL_EINVAL);
}

/* ---- opening (cms_open_ec.c) ---- */

/* DER (a copy) opened in C along *BY: the result; the plaintext in
 * *PT (malloc'd, *PTLEN) when it opened. */
static int open_by(unsigned char **pt, size_t *ptlen, struct ll_ctx *c,
		   const struct ll_buf *der, enum ll_decrypt_path *by)
{
	struct ll_buf b = { 0 };
	struct ll_error err = { 0 };
	const char *cipher = NULL;
	size_t off = 0, len = 0;
	int rc;

	*pt = NULL;
	*ptlen = 0;
	assert_int_equal(ll_buf_add(&b, der->p, der->len), 0);
	rc = ll_cms_decrypt_inplace_by(&off, &len, &cipher, by, c, &b, 0, &err);
	if (rc == 0) {
		*pt = malloc(len + 1);
		assert_non_null(*pt);
		memcpy(*pt, b.p + off, len);
		*ptlen = len;
	} else {
		assert_int_equal(err.code, rc);
	}
	ll_buf_free(&b);
	ERR_clear_error();
	return rc;
}

/*
 * DER opened in C by both paths, with the same outcome: the result
 * (0 or the error code) and the plaintext.  1 if ours did it, 0 if it
 * left the message to OpenSSL's CMS.
 */
static int both_ways(int *rc, struct ll_ctx *c, const struct ll_buf *der)
{
	enum ll_decrypt_path any = LL_DECRYPT_ANY, ossl = LL_DECRYPT_OPENSSL;
	unsigned char *a = NULL, *o = NULL;
	size_t alen = 0, olen = 0;
	int ra, ro;

	ra = open_by(&a, &alen, c, der, &any);
	ro = open_by(&o, &olen, c, der, &ossl);
	assert_int_equal(ossl, LL_DECRYPT_OPENSSL);
	assert_int_equal(ra, ro);
	assert_int_equal(alen, olen);
	if (ra == 0)
		assert_memory_equal(a, o, alen);
	free(a);
	free(o);
	*rc = ra;
	return any == LL_DECRYPT_OURS;
}

/* DER opens in C, by our path, to PLAIN[0..LEN). */
static void opens_ours(struct ll_ctx *c, const struct ll_buf *der, size_t len)
{
	enum ll_decrypt_path any = LL_DECRYPT_ANY;
	unsigned char *pt = NULL;
	size_t ptlen = 0;
	int rc;

	assert_true(both_ways(&rc, c, der));
	assert_int_equal(rc, 0);
	assert_int_equal(open_by(&pt, &ptlen, c, der, &any), 0);
	assert_int_equal(ptlen, len);
	assert_memory_equal(pt, plain, len);
	free(pt);
}

static void test_open_ours(void **state)
{
	struct ll_buf der = { 0 };
	int rc;

	(void)state;
	for (int gcm = 0; gcm <= 1; gcm++) {
		envelop(&der, 4, gcm);
		for (size_t i = 0; i < 4; i++)
			opens_ours(rctx[i], &der, PT_LEN);
		/* not a recipient: left to OpenSSL's CMS, which says so */
		assert_false(both_ways(&rc, rctx[NID_COUNT - 1], &der));
		assert_int_equal(rc, LL_ENOKEY);
		ll_buf_free(&der);
	}
}

/* PLAIN[0..LEN) to identities 0 and 1 by OpenSSL's CMS: with the SHA-256
 * KDF as ll_cms_env_new asks for, or its default (SHA-1). */
static void openssl_envelop(struct ll_buf *der, int sha1, int gcm, size_t len)
{
	struct ll_cert *rcpts[2] = { ll_identity_cert(ids[0]),
				     ll_identity_cert(ids[1]) };
	const EVP_CIPHER *cipher = gcm ? EVP_aes_256_gcm() : EVP_aes_256_cbc();
	BIO *in = BIO_new_mem_buf(plain, (int)len);
	BIO *out = BIO_new(BIO_s_mem());
	STACK_OF(X509) *sk = sk_X509_new_null();
	struct ll_error err = { 0 };
	CMS_ContentInfo *cms;
	char *p = NULL;
	long n;

	for (size_t i = 0; i < 2; i++)
		assert_true(sk_X509_push(sk, ll_cert_x509(rcpts[i])) > 0);
	if (sha1) {
		cms = CMS_encrypt_ex(sk, in, cipher, CMS_BINARY, NULL, NULL);
	} else {
		cms = ll_cms_env_new(ctx, rcpts, 2, gcm, 0, &err);
		assert_non_null(cms);
		assert_int_equal(CMS_final(cms, in, NULL, CMS_BINARY), 1);
	}
	assert_non_null(cms);
	assert_int_equal(i2d_CMS_bio(out, cms), 1);
	n = BIO_get_mem_data(out, &p);
	assert_int_equal(ll_buf_add(der, p, (size_t)n), 0);
	CMS_ContentInfo_free(cms);
	sk_X509_free(sk);
	BIO_free(in);
	BIO_free(out);
}

/* What OpenSSL's CMS writes: with the SHA-256 KDF ours (the form is
 * the same), with its default SHA-1 KDF left to it. */
static void test_open_openssl_made(void **state)
{
	int rc;

	(void)state;
	for (int sha1 = 0; sha1 <= 1; sha1++) {
		for (int gcm = 0; gcm <= 1; gcm++) {
			struct ll_buf der = { 0 };

			openssl_envelop(&der, sha1, gcm, 5000);
			for (size_t i = 0; i < 2 && !sha1; i++)
				opens_ours(rctx[i], &der, 5000);
			for (size_t i = 0; i < 2 && sha1; i++) {
				assert_false(both_ways(&rc, rctx[i], &der));
				assert_int_equal(rc, 0);
			}
			ll_buf_free(&der);
		}
	}
}

/* A context with an older and a newer key: each opens what was sealed
 * to it, and to both, the newer (as OpenSSL's path chooses). */
static void test_open_key_history(void **state)
{
	struct ll_ctx *c = rctx[NID_COUNT];
	struct ll_cert *rcpts[2] = {
		ll_identity_cert(ll_ctx_identity_at(c, 0)),
		ll_identity_cert(ll_ctx_identity_at(c, 1)),
	};
	struct ll_buf der = { 0 };

	(void)state;
	for (size_t k = 0; k < 3; k++) {
		envelop_to(&der, k < 2 ? rcpts + k : rcpts, k < 2 ? 1 : 2, 0,
			   3000);
		opens_ours(c, &der, 3000);
		ll_buf_free(&der);
	}
}

/*
 * Every octet of a message to three recipients changed in turn (one
 * bit, then the top bit): both paths give the same result, and ours
 * does the work in most cases (the rest, an octet of the form it reads
 * changed, goes to OpenSSL's CMS).
 */
static void test_open_every_octet(void **state)
{
	struct ll_buf der = { 0 };

	(void)state;
	for (int gcm = 0; gcm <= 1; gcm++) {
		size_t ours = 0, opened = 0, tries = 0;

		envelop_to(&der,
			   (struct ll_cert *[]){ ll_identity_cert(ids[0]),
						 ll_identity_cert(ids[1]),
						 ll_identity_cert(ids[2]) },
			   3, gcm, 600);
		for (size_t i = 0; i < der.len; i++) {
			for (int bit = 0; bit <= 7; bit += 7) {
				int rc;

				der.p[i] ^= (char)(1 << bit);
				ours += (size_t)both_ways(&rc, rctx[1], &der);
				opened += rc == 0;
				tries++;
				der.p[i] ^= (char)(1 << bit);
			}
		}
		/* an octet of another recipient's key or point changes
		 * nothing for us, nor one of CBC ciphertext but the last
		 * blocks (garbled text: CBC has no integrity); the rest
		 * fail; most are read by our path */
		assert_true(opened > 0 && opened < tries);
		assert_true(ours > tries / 2);
		ll_buf_free(&der);
	}
}

/*
 * The KDF: SHA-256(Z || 00000001 || ECC-CMS-SharedInfo { id-aes256-wrap,
 * suppPubInfo 256 }) for Z = 01 02 .. 20; the vector from OpenSSL's
 * X963KDF (`openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt
 * hexkey:0102..20 -kdfopt hexinfo:3015300b0609608648016503
 * 04012da206040400000100 X963KDF`); that the CMS readers agree on the
 * SharedInfo is what the round trips above show.
 */
static void test_kek_vector(void **state)
{
	static const unsigned char want[32] = {
		0xba, 0x62, 0x0c, 0x40, 0xa0, 0xa4, 0xbd, 0x48,
		0x7a, 0x0e, 0x7e, 0x89, 0xe6, 0x20, 0xee, 0xc1,
		0x9a, 0x3f, 0xdf, 0x8c, 0x2d, 0xed, 0xbf, 0xc7,
		0xb4, 0x75, 0x4a, 0xb4, 0xe0, 0xea, 0xc2, 0xe2
	};
	unsigned char z[32], kek[32];

	(void)state;
	for (size_t i = 0; i < sizeof(z); i++)
		z[i] = (unsigned char)(i + 1);
	assert_int_equal(ll_cms_ecdh_kek(kek, z, sizeof(z), ll_ctx_libctx(ctx)),
			 0);
	assert_memory_equal(kek, want, sizeof(want));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_cbc),
		cmocka_unit_test(test_one_gcm),
		cmocka_unit_test(test_four_cbc),
		cmocka_unit_test(test_four_gcm),
		cmocka_unit_test(test_gcm_tamper),
		cmocka_unit_test(test_not_all_ec),
		cmocka_unit_test(test_kek_vector),
		cmocka_unit_test(test_open_ours),
		cmocka_unit_test(test_open_openssl_made),
		cmocka_unit_test(test_open_key_history),
		cmocka_unit_test(test_open_every_octet),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
