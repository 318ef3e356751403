/*
 * test_tsp.c - src/lib/tsp.c as open uses it (ll_cms_verify,
 * ll_tsp_check): a signer whose certificate has expired by "now" is
 * judged at the time of an RFC 3161 token over its signature, made
 * here by OpenSSL's own TSA code (TS_RESP_CTX) with the time-stamping
 * unit of a letterlock CA hierarchy; a token over another signature, a
 * token by a TSA outside the trust anchors and two tokens are not
 * taken, and the signature is judged as if it had none.  (A unit
 * without EKU timeStamping: OpenSSL's TS_RESP_CTX will not sign with
 * one, and its verifier, which tsp.c uses, refuses one by the
 * timestampsign purpose.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/ts.h>
#include <openssl/x509v3.h>

#include <letterlock/letterlock.h>
#include <letterlock/ca.h>

#include "internal.h"
#include "tsptest.h"

#define DATA "the signed content\r\n"

struct fixture {
	struct ll_ca_hierarchy *h, *other;
	X509 *smime, *tsa_ca, *tsu, *other_tsu;
	EVP_PKEY *smime_key, *tsu_key, *other_tsu_key, *leaf_key;
	X509 *leaf; /* alice, valid for one day from now */
};

static struct fixture F;

/* Alice's certificate for KEY under ISSUER (its key IKEY), DAYS long. */
static X509 *make_cert(EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey, long days)
{
	X509 *x = X509_new();
	X509V3_CTX v3;
	X509_EXTENSION *e;

	assert_non_null(x);
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)time(NULL));
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"alice@example.test",
				   -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(issuer));
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), days * 86400);
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
				"email:alice@example.test");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	e = X509V3_EXT_conf_nid(NULL, &v3, NID_authority_key_identifier,
				"keyid");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	e = X509V3_EXT_conf_nid(NULL, &v3, NID_ext_key_usage,
				"emailProtection");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	assert_true(X509_sign(x, ikey, EVP_sha256()) > 0);
	return x;
}

static int setup(void **state)
{
	struct ll_ca_hierarchy_options ho = LL_CA_HIERARCHY_OPTIONS_INIT;
	struct ll_error err = { 0 };

	(void)state;
	ho.name = "TSP Test";
	ho.country = "CN";
	ho.base_url = "http://ca.test";
	if (ll_ca_hierarchy_create(&F.h, &ho, &err) < 0 ||
	    ll_ca_hierarchy_create(&F.other, &ho, &err) < 0)
		return -1;
	F.smime = ll_cert_x509(ll_ca_hierarchy_cert(F.h, LL_CA_SMIME));
	F.tsa_ca = ll_cert_x509(ll_ca_hierarchy_cert(F.h, LL_CA_TSA));
	F.tsu = ll_cert_x509(ll_ca_hierarchy_cert(F.h, LL_CA_TSU));
	F.other_tsu = ll_cert_x509(ll_ca_hierarchy_cert(F.other, LL_CA_TSU));
	F.smime_key = tt_role_key(F.h, LL_CA_SMIME);
	F.tsu_key = tt_role_key(F.h, LL_CA_TSU);
	F.other_tsu_key = tt_role_key(F.other, LL_CA_TSU);
	F.leaf_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	F.leaf = make_cert(F.leaf_key, F.smime, F.smime_key, 1);
	return F.leaf_key && F.leaf ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	X509_free(F.leaf);
	EVP_PKEY_free(F.leaf_key);
	EVP_PKEY_free(F.smime_key);
	EVP_PKEY_free(F.tsu_key);
	EVP_PKEY_free(F.other_tsu_key);
	ll_ca_hierarchy_free(&F.h);
	ll_ca_hierarchy_free(&F.other);
	return 0;
}

/* Alice's signed-data over DATA, without signed attributes: no
 * signingTime, so without a token the certificate is judged "now". */
static CMS_ContentInfo *sign(void)
{
	STACK_OF(X509) *chain = sk_X509_new_null();
	BIO *in = BIO_new_mem_buf(DATA, -1);
	CMS_ContentInfo *cms;

	sk_X509_push(chain, F.smime);
	cms = CMS_sign(F.leaf, F.leaf_key, chain, in,
		       CMS_BINARY | CMS_NOATTR | CMS_NOSMIMECAP);
	assert_non_null(cms);
	sk_X509_free(chain);
	BIO_free(in);
	return cms;
}

static CMS_SignerInfo *signer_of(CMS_ContentInfo *cms)
{
	return sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0);
}

/* A token by UNIT (KEY, its chain CHAIN) over the signature of OVER,
 * added to the signer of INTO. */
static void stamp(CMS_ContentInfo *into, CMS_ContentInfo *over, X509 *unit,
		  EVP_PKEY *key, X509 *chain)
{
	ASN1_OCTET_STRING *sig = CMS_SignerInfo_get0_signature(signer_of(over));
	struct ll_buf tok = { 0 };

	tt_token(&tok, ASN1_STRING_get0_data(sig),
		 (size_t)ASN1_STRING_length(sig), unit, key, chain);
	assert_int_equal(CMS_unsigned_add1_attr_by_NID(
				 signer_of(into),
				 NID_id_smime_aa_timeStampToken,
				 V_ASN1_SEQUENCE, tok.p, (int)tok.len),
			 1);
	ll_buf_free(&tok);
}

/* ll_cms_verify of CMS in a context trusting our root, three days on. */
static void verify(struct ll_verify_result *r, CMS_ContentInfo *cms)
{
	struct ll_ctx *ctx = NULL;
	struct ll_cert *root = NULL;
	struct ll_buf out = { 0 };
	X509 *x = ll_cert_x509(ll_ca_hierarchy_cert(F.h, LL_CA_ROOT));

	assert_int_equal(ll_ctx_new(&ctx, NULL), 0);
	X509_up_ref(x); /* the wrapper takes this reference */
	assert_int_equal(ll_cert_wrap(&root, x, NULL), 0);
	assert_int_equal(ll_ctx_add_trust(ctx, root, NULL), 0);
	ll_ctx_set_time(ctx, time(NULL) + 3 * 86400);
	assert_int_equal(ll_cms_verify(r, ctx, cms, NULL, NULL, 0, &out, NULL),
			 0);
	assert_int_equal(out.len, strlen(DATA));
	ll_buf_free(&out);
	ll_cert_free(&root);
	ll_ctx_free(&ctx);
}

static void test_no_token(void **state)
{
	struct ll_verify_result r;
	CMS_ContentInfo *cms = sign();

	(void)state;
	verify(&r, cms);
	assert_int_equal(r.state, LL_SIG_EXPIRED);
	assert_int_equal(r.ts_trusted, 0);
	assert_string_equal(r.ts_why, "");
	X509_free(r.signer_cert);
	CMS_ContentInfo_free(cms);
}

/* The token's time, when the certificate held: valid. */
static void test_token(void **state)
{
	struct ll_verify_result r;
	CMS_ContentInfo *cms = sign();
	time_t now = time(NULL);
	struct tm tm;

	(void)state;
	stamp(cms, cms, F.tsu, F.tsu_key, F.tsa_ca);
	verify(&r, cms);
	assert_int_equal(r.state, LL_SIG_VALID);
	assert_int_equal(r.ts_trusted, 1);
	assert_string_equal(r.ts_why, "");
	memset(&tm, 0, sizeof(tm));
	assert_non_null(strptime(r.when, "%Y-%m-%dT%H:%M:%SZ", &tm));
	assert_true(labs((long)(timegm(&tm) - now)) <= 5);
	X509_free(r.signer_cert);
	CMS_ContentInfo_free(cms);
}

/* A token over another signature, or by a TSA outside the trust
 * anchors: not taken, said, and the signature is judged at "now"
 * (expired). */
static void test_bad_tokens(void **state)
{
	for (int i = 0; i < 2; i++) {
		struct ll_verify_result r;
		CMS_ContentInfo *cms = sign(), *other = sign();

		(void)state;
		if (i == 0)
			stamp(cms, other, F.tsu, F.tsu_key, F.tsa_ca);
		else
			stamp(cms, cms, F.other_tsu, F.other_tsu_key,
			      ll_cert_x509(ll_ca_hierarchy_cert(F.other,
								LL_CA_TSA)));
		verify(&r, cms);
		assert_int_equal(r.ts_trusted, 0);
		assert_non_null(strstr(r.ts_why, "does not verify"));
		assert_int_equal(r.state, LL_SIG_EXPIRED);
		X509_free(r.signer_cert);
		CMS_ContentInfo_free(cms);
		CMS_ContentInfo_free(other);
	}
}

/* Two tokens: refused as out of shape. */
static void test_two_tokens(void **state)
{
	struct ll_verify_result r;
	CMS_ContentInfo *cms = sign();

	(void)state;
	stamp(cms, cms, F.tsu, F.tsu_key, F.tsa_ca);
	stamp(cms, cms, F.tsu, F.tsu_key, F.tsa_ca);
	verify(&r, cms);
	assert_int_equal(r.ts_trusted, 0);
	assert_non_null(strstr(r.ts_why, "more than one"));
	X509_free(r.signer_cert);
	CMS_ContentInfo_free(cms);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_token),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_bad_tokens),
		cmocka_unit_test(test_two_tokens),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
