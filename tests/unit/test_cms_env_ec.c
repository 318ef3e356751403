/*
 * test_cms_env_ec.c - our EnvelopedData / AuthEnvelopedData to EC P-256
 * recipients (src/lib/cms_env_ec.c), read back by OpenSSL's own CMS code
 * (CMS_decrypt: its ECDH, X9.63 KDF, SharedInfo and key unwrap), for 1
 * and 4 recipients, CBC and GCM; tampering; the KDF against a vector.
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
#include <openssl/err.h>

#include <letterlock/letterlock.h>

#include "internal.h"

#define NID_COUNT 5 /* the last one is never a recipient */
#define PT_LEN (150 * 1024 + 7)

static struct ll_identity *ids[NID_COUNT];
static struct ll_identity *rsa_id;
static struct ll_ctx *ctx;
static unsigned char *plain;

static int setup(void **state)
{
	struct ll_error err = { 0 };

	(void)state;
	for (size_t i = 0; i < NID_COUNT; i++) {
		char email[64];

		snprintf(email, sizeof(email), "ec%zu@example.test", i);
		if (ll_identity_generate(&ids[i], email, LL_KEY_EC_P256, 30,
					 &err) != 0)
			return -1;
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
	for (size_t i = 0; i < NID_COUNT; i++)
		ll_identity_free(&ids[i]);
	ll_identity_free(&rsa_id);
	ll_ctx_free(&ctx);
	free(plain);
	return 0;
}

/* PLAIN enveloped to the first N identities, DER in *der. */
static void envelop(struct ll_buf *der, size_t n, int gcm)
{
	static const size_t pieces[] = { 1, 15, 1000, 70000, 16, 0 };
	struct ll_cert *rcpts[NID_COUNT];
	struct ll_error err = { 0 };
	BIO *sink, *e;
	size_t off = 0;

	for (size_t i = 0; i < n; i++)
		rcpts[i] = ll_identity_cert(ids[i]);
	assert_true(ll_cms_env_ec_ok(rcpts, n));
	sink = ll_bio_buf_new(der);
	assert_non_null(sink);
	e = ll_cms_env_ec_new(ctx, rcpts, n, gcm, &err);
	assert_non_null(e);
	BIO_push(e, sink);
	/* writes of every size the stream meets: 1 octet to 80 KiB */
	for (size_t i = 0; off < PT_LEN; i++) {
		size_t k = pieces[i % LL_ARRAY_SIZE(pieces)];

		if (k == 0 || k > PT_LEN - off)
			k = PT_LEN - off < 81920 ? PT_LEN - off : 81920;
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

	assert_non_null(cms);
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
	}
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
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
