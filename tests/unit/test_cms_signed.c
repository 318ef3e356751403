/*
 * test_cms_signed.c - src/lib/cms_signed.c, the SignedData letterlock
 * writes, held to what OpenSSL's CMS wrote for the same signer and
 * content (ll_cms_sign_buffer_ossl): the same structure octet for octet
 * but for the signature value and the signingTime; verified by
 * OpenSSL's CMS_verify and by ll_cms_verify; its signed attributes in
 * DER order; with a time-stamp token (made here by OpenSSL's TSA code,
 * as in test_tsp.c) that ll_tsp_check takes.  RSA and EC P-256 signers
 * under a letterlock CA hierarchy, detached and embedded content.
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
#include <openssl/x509v3.h>

#include <letterlock/letterlock.h>
#include <letterlock/ca.h>

#include "internal.h"
#include "tsptest.h"

#define DATA "Content-Type: text/plain\r\n\r\nthe signed content\r\n"

struct fixture {
	struct ll_ca_hierarchy *h;
	X509 *smime, *tsa_ca, *tsu;
	EVP_PKEY *smime_key, *tsu_key;
	struct ll_ctx *ctx[2]; /* RSA, EC: each holds its signer */
	struct ll_identity *id[2];
};

static struct fixture F;

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *e;

	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	assert_non_null(e);
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
}

/* A context whose identity is KEY's, certified by the hierarchy's S/MIME
 * CA (its chain: that CA), trusting the hierarchy's root. */
static struct ll_ctx *signer_ctx(EVP_PKEY *key, long serial,
				 struct ll_identity **idp)
{
	X509 *x = X509_new();
	struct ll_cert *cert = NULL, *ca = NULL, *root = NULL;
	struct ll_identity *id = NULL;
	struct ll_ctx *ctx = NULL;
	unsigned char *der = NULL;
	X509 *rx = ll_cert_x509(ll_ca_hierarchy_cert(F.h, LL_CA_ROOT));
	int n;

	assert_non_null(x);
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"alice@example.test",
				   -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(F.smime));
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 30 * 86400);
	X509_set_pubkey(x, key);
	add_ext(x, F.smime, NID_subject_alt_name, "email:alice@example.test");
	add_ext(x, F.smime, NID_authority_key_identifier, "keyid");
	add_ext(x, F.smime, NID_ext_key_usage, "emailProtection");
	assert_true(X509_sign(x, F.smime_key, EVP_sha256()) > 0);
	assert_int_equal(ll_cert_wrap(&cert, x, NULL), 0); /* takes X */
	X509_up_ref(F.smime);
	assert_int_equal(ll_cert_wrap(&ca, F.smime, NULL), 0);
	X509_up_ref(rx);
	assert_int_equal(ll_cert_wrap(&root, rx, NULL), 0);
	n = i2d_PrivateKey(key, &der);
	assert_true(n > 0);
	assert_int_equal(ll_identity_from_key_der(&id, der, (size_t)n, cert,
						  &ca, 1, NULL),
			 0);
	OPENSSL_clear_free(der, (size_t)n);
	assert_int_equal(ll_ctx_new(&ctx, NULL), 0);
	assert_int_equal(ll_ctx_add_trust(ctx, root, NULL), 0);
	*idp = id;
	assert_int_equal(ll_ctx_add_identity(ctx, &id, NULL), 0);
	ll_cert_free(&cert);
	ll_cert_free(&ca);
	ll_cert_free(&root);
	return ctx;
}

static int setup(void **state)
{
	struct ll_ca_hierarchy_options ho = LL_CA_HIERARCHY_OPTIONS_INIT;
	EVP_PKEY *rsa, *ec;

	(void)state;
	ho.name = "Signed Test";
	ho.country = "CN";
	ho.base_url = "http://ca.test";
	if (ll_ca_hierarchy_create(&F.h, &ho, NULL) < 0)
		return -1;
	F.smime = ll_cert_x509(ll_ca_hierarchy_cert(F.h, LL_CA_SMIME));
	F.tsa_ca = ll_cert_x509(ll_ca_hierarchy_cert(F.h, LL_CA_TSA));
	F.tsu = ll_cert_x509(ll_ca_hierarchy_cert(F.h, LL_CA_TSU));
	F.smime_key = tt_role_key(F.h, LL_CA_SMIME);
	F.tsu_key = tt_role_key(F.h, LL_CA_TSU);
	rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	if (rsa == NULL || ec == NULL)
		return -1;
	F.ctx[0] = signer_ctx(rsa, 0x1234, &F.id[0]);
	/* a serial whose first octet has the high bit: a leading zero */
	F.ctx[1] = signer_ctx(ec, 0x89abcdL, &F.id[1]);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++)
		ll_ctx_free(&F.ctx[i]);
	EVP_PKEY_free(F.smime_key);
	EVP_PKEY_free(F.tsu_key);
	ll_ca_hierarchy_free(&F.h);
	return 0;
}

/* The children of the constructed TLV T, into KIDS (at most MAX). */
static size_t children(struct ll_tlv *kids, size_t max, const struct ll_tlv *t)
{
	const unsigned char *p = t->p;
	size_t n = 0;

	while (p < t->end) {
		assert_true(n < max);
		assert_int_equal(ll_tlv_read(&kids[n], p, t->end, 0), 0);
		assert_false(kids[n].inf); /* DER: definite lengths */
		p = kids[n++].next;
	}
	assert_true(p == t->end);
	return n;
}

static void assert_same_tlv(const struct ll_tlv *a, const struct ll_tlv *b)
{
	assert_int_equal(a->next - a->start, b->next - b->start);
	assert_memory_equal(a->start, b->start, (size_t)(a->next - a->start));
}

/* The SignerInfo's fields of the ContentInfo DER..END, into SI. */
static size_t signer_info(struct ll_tlv *si, size_t max, struct ll_tlv *sd,
			  size_t *nsd, const unsigned char *der,
			  const unsigned char *end)
{
	struct ll_tlv ci, kids[4], sis[2], one;

	assert_int_equal(ll_tlv_read(&ci, der, end, 0), 0);
	assert_true(ci.next == end);
	assert_int_equal(children(kids, 4, &ci), 2);
	assert_int_equal(children(&one, 1, &kids[1]), 1); /* [0] */
	*nsd = children(sd, 8, &one);
	assert_int_equal(children(sis, 2, &sd[*nsd - 1]), 1);
	return children(si, max, &sis[0]);
}

/* The signed attributes of SI (the [0] field): their count. */
static size_t signed_attrs(struct ll_tlv *attrs, size_t max,
			   const struct ll_tlv *si, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (si[i].cls == V_ASN1_CONTEXT_SPECIFIC && si[i].tag == 0)
			return children(attrs, max, &si[i]);
	fail_msg("no signed attributes");
	return 0;
}

static int is_signing_time(const struct ll_tlv *attr)
{
	static const unsigned char oid[] = { 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
					     0xf7, 0x0d, 0x01, 0x09, 0x05 };

	return memcmp(attr->p, oid, sizeof(oid)) == 0;
}

/*
 * OURS and THEIRS are the same SignedData but for the signature value
 * and the signingTime attribute's value.
 */
static void assert_same_shape(const struct ll_buf *ours,
			      const struct ll_buf *theirs)
{
	const unsigned char *o = (const unsigned char *)ours->p;
	const unsigned char *t = (const unsigned char *)theirs->p;
	struct ll_tlv osd[8], tsd[8], osi[8], tsi[8], oa[8], ta[8];
	size_t nosd, ntsd, nosi, ntsi, noa, nta;

	nosi = signer_info(osi, 8, osd, &nosd, o, o + ours->len);
	ntsi = signer_info(tsi, 8, tsd, &ntsd, t, t + theirs->len);
	assert_int_equal(nosd, ntsd);
	for (size_t i = 0; i + 1 < nosd; i++) /* all but signerInfos */
		assert_same_tlv(&osd[i], &tsd[i]);
	assert_int_equal(nosi, ntsi);
	for (size_t i = 0; i < nosi; i++) {
		if (osi[i].cls == V_ASN1_UNIVERSAL &&
		    osi[i].tag == V_ASN1_OCTET_STRING)
			continue; /* the signature */
		if (osi[i].cls == V_ASN1_CONTEXT_SPECIFIC && osi[i].tag == 0)
			continue; /* below */
		assert_same_tlv(&osi[i], &tsi[i]);
	}
	noa = signed_attrs(oa, 8, osi, nosi);
	nta = signed_attrs(ta, 8, tsi, ntsi);
	assert_int_equal(noa, 5);
	assert_int_equal(noa, nta);
	for (size_t i = 0; i < noa; i++) {
		if (is_signing_time(&oa[i])) {
			assert_true(is_signing_time(&ta[i]));
			/* both UTCTime, within a few seconds */
			assert_int_equal(oa[i].next - oa[i].start,
					 ta[i].next - ta[i].start);
			continue;
		}
		assert_same_tlv(&oa[i], &ta[i]);
	}
}

/* Signed attributes of the DER SignedData in DER order (X.690 11.6). */
static void assert_attrs_sorted(const struct ll_buf *der)
{
	const unsigned char *p = (const unsigned char *)der->p;
	struct ll_tlv sd[8], si[8], a[8];
	size_t nsd, nsi, na;

	nsi = signer_info(si, 8, sd, &nsd, p, p + der->len);
	na = signed_attrs(a, 8, si, nsi);
	for (size_t i = 0; i + 1 < na; i++) {
		struct ll_buf x = { .p = (char *)a[i].start,
				    .len = (size_t)(a[i].next - a[i].start) };
		struct ll_buf y = { .p = (char *)a[i + 1].start,
				    .len = (size_t)(a[i + 1].next -
						    a[i + 1].start) };

		assert_true(ll_der_cmp(&x, &y) < 0);
	}
}

static CMS_ContentInfo *parse(const struct ll_buf *der)
{
	const unsigned char *p = (const unsigned char *)der->p;
	CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)der->len);

	assert_non_null(cms);
	assert_true(p == (const unsigned char *)der->p + der->len);
	return cms;
}

/* OpenSSL's CMS_verify, chain to the hierarchy's root and all, on
 * CMS (detached content DATA, or NULL): 1 or 0. */
static int ossl_verify(CMS_ContentInfo *cms, const char *data)
{
	X509_STORE *store = X509_STORE_new();
	BIO *in = data ? BIO_new_mem_buf(data, -1) : NULL;
	BIO *out = BIO_new(BIO_s_mem());
	int ok;

	assert_non_null(store);
	X509_STORE_add_cert(
		store, ll_cert_x509(ll_ca_hierarchy_cert(F.h, LL_CA_ROOT)));
	ok = CMS_verify(cms, NULL, store, in, out, CMS_BINARY);
	if (ok == 1 && data == NULL) {
		char *p = NULL;
		long n = BIO_get_mem_data(out, &p);

		assert_int_equal(n, strlen(DATA));
		assert_memory_equal(p, DATA, strlen(DATA));
	}
	ERR_clear_error();
	BIO_free(in);
	BIO_free(out);
	X509_STORE_free(store);
	return ok == 1;
}

/* ll_cms_verify in the signer's own context (it trusts the root). */
static void ll_verify(struct ll_verify_result *r, struct ll_ctx *ctx,
		      CMS_ContentInfo *cms, const char *data)
{
	assert_int_equal(ll_cms_verify(r, ctx, cms, NULL, data,
				       data ? strlen(data) : 0, NULL, NULL),
			 0);
}

static void test_same_shape_as_openssl(void **state)
{
	(void)state;
	for (int k = 0; k < 2; k++) {
		for (int detached = 0; detached < 2; detached++) {
			struct ll_buf ours = { 0 }, theirs = { 0 };

			assert_true(ll_cms_signed_ok(F.ctx[k], F.id[k]));
			assert_int_equal(ll_cms_sign_buffer(&ours, F.ctx[k],
							    F.id[k], detached,
							    DATA, strlen(DATA),
							    NULL, NULL),
					 0);
			assert_int_equal(ll_cms_sign_buffer_ossl(
						 &theirs, F.ctx[k], F.id[k],
						 detached, DATA, strlen(DATA),
						 NULL, NULL),
					 0);
			assert_same_shape(&ours, &theirs);
			assert_attrs_sorted(&ours);
			ll_buf_free(&ours);
			ll_buf_free(&theirs);
		}
	}
}

static void test_verifies(void **state)
{
	(void)state;
	for (int k = 0; k < 2; k++) {
		for (int detached = 0; detached < 2; detached++) {
			struct ll_buf der = { 0 };
			struct ll_verify_result r;
			CMS_ContentInfo *cms;
			char bad[] = DATA;

			assert_int_equal(ll_cms_sign_buffer(&der, F.ctx[k],
							    F.id[k], detached,
							    DATA, strlen(DATA),
							    NULL, NULL),
					 0);
			cms = parse(&der);
			assert_true(ossl_verify(cms, detached ? DATA : NULL));
			ll_verify(&r, F.ctx[k], cms, detached ? DATA : NULL);
			assert_int_equal(r.state, LL_SIG_VALID);
			assert_string_equal(r.signer, "alice@example.test");
			assert_true(r.caps & LL_CAP_AES256_GCM);
			assert_int_equal(r.ts_trusted, 0);
			X509_free(r.signer_cert);
			if (detached) {
				/* another content: refused by both */
				bad[strlen(bad) - 3] ^= 1;
				assert_false(ossl_verify(cms, bad));
				ll_verify(&r, F.ctx[k], cms, bad);
				assert_int_equal(r.state, LL_SIG_INVALID);
				X509_free(r.signer_cert);
			}
			CMS_ContentInfo_free(cms);
			/* a changed signature value: refused */
			der.p[der.len - 10] ^= 0x40; /* in the signature */
			cms = parse(&der);
			assert_false(ossl_verify(cms, detached ? DATA : NULL));
			CMS_ContentInfo_free(cms);
			ll_buf_free(&der);
		}
	}
}

/* With a token over the signature value as the unsigned attribute:
 * OpenSSL verifies the signature, ll_cms_verify takes the token. */
static void test_token(void **state)
{
	(void)state;
	for (int k = 0; k < 2; k++) {
		for (int detached = 0; detached < 2; detached++) {
			struct ll_signed sd = { .siglen = 0 };
			struct ll_buf tok = { 0 }, der = { 0 };
			struct ll_verify_result r;
			CMS_ContentInfo *cms;
			CMS_SignerInfo *si;
			ASN1_OCTET_STRING *sig;

			assert_int_equal(ll_cms_signed_sign(&sd, F.ctx[k],
							    F.id[k], DATA,
							    strlen(DATA), NULL),
					 0);
			tt_token(&tok, sd.sig, sd.siglen, F.tsu, F.tsu_key,
				 F.tsa_ca);
			assert_int_equal(
				ll_cms_signed_encode(
					&der, &sd, detached ? NULL : DATA,
					strlen(DATA), (unsigned char *)tok.p,
					tok.len, NULL),
				0);
			assert_attrs_sorted(&der);
			cms = parse(&der);
			si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms),
						     0);
			sig = CMS_SignerInfo_get0_signature(si);
			assert_int_equal(ASN1_STRING_length(sig), sd.siglen);
			assert_memory_equal(ASN1_STRING_get0_data(sig), sd.sig,
					    sd.siglen);
			assert_int_equal(CMS_unsigned_get_attr_count(si), 1);
			assert_true(ossl_verify(cms, detached ? DATA : NULL));
			ll_verify(&r, F.ctx[k], cms, detached ? DATA : NULL);
			assert_int_equal(r.state, LL_SIG_VALID);
			assert_int_equal(r.ts_trusted, 1);
			assert_string_equal(r.ts_why, "");
			X509_free(r.signer_cert);
			CMS_ContentInfo_free(cms);
			ll_buf_free(&der);
			ll_buf_free(&tok);
			ll_signed_free(&sd);
		}
	}
}

/* An identity that is not the context's goes to OpenSSL's CMS (the
 * context keeps its signer by the identity's address). */
static void test_not_ours(void **state)
{
	struct ll_identity *id = NULL;

	(void)state;
	assert_int_equal(ll_identity_generate(&id, "x@example.test",
					      LL_KEY_EC_P256, 1, NULL),
			 0);
	assert_false(ll_cms_signed_ok(F.ctx[1], id));
	assert_false(ll_cms_signed_ok(F.ctx[0], F.id[1]));
	ll_identity_free(&id);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_shape_as_openssl),
		cmocka_unit_test(test_verifies),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_not_ours),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
