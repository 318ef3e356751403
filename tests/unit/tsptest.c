/* tsptest.c - the CA roles' keys and RFC 3161 tokens of the tests. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/ts.h>

#include <letterlock/letterlock.h>

#include "tsptest.h"

EVP_PKEY *tt_role_key(struct ll_ca_hierarchy *h, enum ll_ca_role r)
{
	char *pem = NULL;
	size_t len = 0;
	EVP_PKEY *k;

	assert_int_equal(ll_ca_hierarchy_key_pem(&pem, &len, h, r, NULL), 0);
	k = ll_pkey_read(pem, len);
	ll_wipe_free(pem, len);
	assert_non_null(k);
	return k;
}

void tt_token(struct ll_buf *tok, const unsigned char *sig, size_t len,
	      X509 *unit, EVP_PKEY *key, X509 *chain)
{
	unsigned char digest[32], *der = NULL, *t = NULL;
	TS_RESP_CTX *rc = TS_RESP_CTX_new();
	TS_REQ *req = TS_REQ_new();
	TS_MSG_IMPRINT *mi = TS_MSG_IMPRINT_new();
	X509_ALGOR *alg = X509_ALGOR_new();
	ASN1_OBJECT *policy = OBJ_txt2obj("1.2.3.4.5", 1);
	STACK_OF(X509) *certs = sk_X509_new_null();
	TS_RESP *resp;
	BIO *b;
	int n;

	assert_int_equal(EVP_Digest(sig, len, digest, NULL, EVP_sha256(), NULL),
			 1);
	X509_ALGOR_set0(alg, OBJ_nid2obj(NID_sha256), V_ASN1_UNDEF, NULL);
	TS_MSG_IMPRINT_set_algo(mi, alg);
	TS_MSG_IMPRINT_set_msg(mi, digest, sizeof(digest));
	TS_REQ_set_version(req, 1);
	TS_REQ_set_msg_imprint(req, mi);
	TS_REQ_set_cert_req(req, 1);
	n = i2d_TS_REQ(req, &der);
	assert_true(n > 0);
	b = BIO_new_mem_buf(der, n);
	sk_X509_push(certs, chain);
	/* OpenSSL checks the unit's EKU itself; a bad unit goes in
	 * through the back door, set after */
	assert_int_equal(TS_RESP_CTX_set_signer_key(rc, key), 1);
	assert_int_equal(TS_RESP_CTX_set_def_policy(rc, policy), 1);
	assert_int_equal(TS_RESP_CTX_add_md(rc, EVP_sha256()), 1);
	assert_int_equal(TS_RESP_CTX_set_certs(rc, certs), 1);
	assert_int_equal(TS_RESP_CTX_set_signer_cert(rc, unit), 1);
	resp = TS_RESP_create_response(rc, b);
	assert_non_null(resp);
	assert_int_equal(ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(
				 TS_RESP_get_status_info(resp))),
			 0);
	n = i2d_PKCS7(TS_RESP_get_token(resp), &t);
	assert_true(n > 0);
	assert_int_equal(ll_buf_add(tok, t, (size_t)n), 0);
	OPENSSL_free(t);
	TS_RESP_free(resp);
	BIO_free(b);
	OPENSSL_free(der);
	sk_X509_free(certs);
	ASN1_OBJECT_free(policy);
	X509_ALGOR_free(alg);
	TS_MSG_IMPRINT_free(mi);
	TS_REQ_free(req);
	TS_RESP_CTX_free(rc);
}
