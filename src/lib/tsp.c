/*
 * tsp.c - RFC 3161 time-stamp tokens in CMS signatures: the token over
 * a SignerInfo's signature value, as the unsigned attribute
 * id-aa-timeStampToken (RFC 3161 Appendix A), asked of a TSA over HTTP
 * when sealing, and checked when opening.
 *
 * A token is taken into a signature only once it verifies here as it
 * will for the reader: the reply to our request (version, imprint,
 * nonce), signed by a TSA certificate with EKU timeStamping alone and
 * critical that chains to the context's trust anchors.  A token read
 * from a message is untrusted input: one attribute of one value, at
 * most LL_TSP_TOKEN_MAX octets, parsed whole.
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ts.h>

#include "internal.h"

#define LL_TSP_TOKEN_MAX (64 * 1024)
#define LL_TSP_TIMEOUT 15 /* seconds, connection and exchange */

/* A TimeStampReq for the SHA-256 of SIG (LEN octets): a random nonce,
 * certReq. */
static TS_REQ *make_request(const unsigned char *sig, size_t len)
{
	unsigned char digest[32], nonce[8];
	TS_REQ *req = TS_REQ_new();
	TS_MSG_IMPRINT *mi = TS_MSG_IMPRINT_new();
	X509_ALGOR *alg = X509_ALGOR_new();
	ASN1_INTEGER *n = NULL;
	BIGNUM *bn = NULL;
	int ok = 0;

	if (req == NULL || mi == NULL || alg == NULL ||
	    !EVP_Digest(sig, len, digest, NULL, EVP_sha256(), NULL) ||
	    RAND_bytes(nonce, sizeof(nonce)) != 1 ||
	    !X509_ALGOR_set0(alg, OBJ_nid2obj(NID_sha256), V_ASN1_UNDEF, NULL))
		goto out;
	bn = BN_bin2bn(nonce, sizeof(nonce), NULL);
	n = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
	ok = n != NULL && TS_REQ_set_version(req, 1) &&
	     TS_MSG_IMPRINT_set_algo(mi, alg) &&
	     TS_MSG_IMPRINT_set_msg(mi, digest, sizeof(digest)) &&
	     TS_REQ_set_msg_imprint(req, mi) && TS_REQ_set_nonce(req, n) &&
	     TS_REQ_set_cert_req(req, 1);
out:
	ASN1_INTEGER_free(n);
	BN_free(bn);
	X509_ALGOR_free(alg);
	TS_MSG_IMPRINT_free(mi);
	if (!ok) {
		TS_REQ_free(req);
		return NULL;
	}
	return req;
}

/* A verification context whose store is CTX's trust anchors. */
static TS_VERIFY_CTX *verifier(TS_VERIFY_CTX *v, struct ll_ctx *ctx)
{
	X509_STORE *store = ll_ctx_store(ctx);

	if (v == NULL || !X509_STORE_up_ref(store)) {
		TS_VERIFY_CTX_free(v);
		return NULL;
	}
	TS_VERIFY_CTX_set_store(v, store); /* freed with V */
	return v;
}

int ll_tsp_token(struct ll_buf *token, const unsigned char *sig, size_t len,
		 struct ll_ctx *ctx, const char *url, const char *ca_file,
		 struct ll_error *err)
{
	struct ll_curl_sink sink = { .max = LL_TSP_TOKEN_MAX };
	TS_REQ *req = make_request(sig, len);
	TS_RESP *resp = NULL;
	TS_VERIFY_CTX *v = NULL;
	unsigned char *der = NULL, *tok = NULL;
	const unsigned char *p;
	int n, rc = 0;

	ERR_clear_error();
	n = req ? i2d_TS_REQ(req, &der) : -1;
	if (n <= 0) {
		rc = ll_err_ossl(err, LL_ECRYPTO,
				 "making the time-stamp "
				 "request");
		goto out;
	}
	rc = ll_curl_post(&sink, url, "application/timestamp-query", ca_file,
			  LL_TSP_TIMEOUT, der, (size_t)n, "the TSA", err);
	if (rc < 0)
		goto out;
	p = (const unsigned char *)sink.body.p;
	resp = sink.body.len ? d2i_TS_RESP(NULL, &p, (long)sink.body.len) :
			       NULL;
	if (resp == NULL ||
	    p != (const unsigned char *)sink.body.p + sink.body.len) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_CMS,
			    "the TSA at %s: not a TimeStampResp", url);
		goto out;
	}
	if (ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(
		    TS_RESP_get_status_info(resp))) > 1) {
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_CMS,
			    "the TSA at %s refused the request", url);
		goto out;
	}
	/* as the reader will: to our trust anchors, our imprint and
	 * nonce (TS_REQ_to_TS_VERIFY_CTX), EKU timeStamping critical */
	v = verifier(TS_REQ_to_TS_VERIFY_CTX(req, NULL), ctx);
	if (v == NULL) {
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
		goto out;
	}
	TS_VERIFY_CTX_add_flags(v, TS_VFY_SIGNATURE);
	if (TS_RESP_verify_response(v, resp) != 1) {
		rc = ll_err_ossl(err, LL_EPOLICY,
				 "the TSA at %s: its reply does not verify "
				 "under the trust anchors",
				 url);
		goto out;
	}
	n = i2d_PKCS7(TS_RESP_get_token(resp), &tok);
	if (n <= 0 || (size_t)n > LL_TSP_TOKEN_MAX) {
		rc = ll_err_ossl(err, LL_ECRYPTO,
				 "encoding the time-stamp token");
		goto out;
	}
	rc = ll_buf_add(token, tok, (size_t)n);
out:
	OPENSSL_free(tok);
	OPENSSL_free(der);
	ll_buf_free(&sink.body);
	TS_VERIFY_CTX_free(v);
	TS_RESP_free(resp);
	TS_REQ_free(req);
	ERR_clear_error();
	return rc;
}

int ll_tsp_stamp(CMS_SignerInfo *si, struct ll_ctx *ctx, const char *url,
		 const char *ca_file, struct ll_error *err)
{
	ASN1_OCTET_STRING *sig = CMS_SignerInfo_get0_signature(si);
	struct ll_buf tok = { 0 };
	int rc;

	rc = ll_tsp_token(&tok, ASN1_STRING_get0_data(sig),
			  (size_t)ASN1_STRING_length(sig), ctx, url, ca_file,
			  err);
	if (rc == 0 && !CMS_unsigned_add1_attr_by_NID(
			       si, NID_id_smime_aa_timeStampToken,
			       V_ASN1_SEQUENCE, tok.p, (int)tok.len))
		rc = ll_err_ossl(err, LL_ECRYPTO,
				 "adding the time-stamp token");
	ll_buf_free(&tok);
	return rc;
}

int ll_tsp_check(CMS_SignerInfo *si, struct ll_ctx *ctx, STACK_OF(X509) * extra,
		 time_t *when, char *why, size_t cap)
{
	int idx = CMS_unsigned_get_attr_by_NID(
		si, NID_id_smime_aa_timeStampToken, -1);
	ASN1_OCTET_STRING *sig = CMS_SignerInfo_get0_signature(si);
	TS_VERIFY_CTX *v = NULL;
	STACK_OF(X509) *certs = NULL;
	const unsigned char *p;
	X509_ATTRIBUTE *a;
	ASN1_TYPE *t;
	PKCS7 *tok = NULL;
	TS_TST_INFO *tst = NULL;
	BIO *data = NULL;
	struct tm tm;
	int rc = -1, len;

	if (idx < 0)
		return 0;
	if (CMS_unsigned_get_attr_by_NID(si, NID_id_smime_aa_timeStampToken,
					 idx) >= 0) {
		snprintf(why, cap, "more than one time-stamp token");
		return -1;
	}
	a = CMS_unsigned_get_attr(si, idx);
	t = a != NULL && X509_ATTRIBUTE_count(a) == 1 ?
		    X509_ATTRIBUTE_get0_type(a, 0) :
		    NULL;
	if (t == NULL || t->type != V_ASN1_SEQUENCE ||
	    (len = ASN1_STRING_length(t->value.sequence)) <= 0 ||
	    len > LL_TSP_TOKEN_MAX) {
		snprintf(why, cap, "a time-stamp token attribute out of shape");
		return -1;
	}
	ERR_clear_error();
	p = ASN1_STRING_get0_data(t->value.sequence);
	tok = d2i_PKCS7(NULL, &p, len);
	if (tok == NULL ||
	    p != ASN1_STRING_get0_data(t->value.sequence) + len) {
		snprintf(why, cap, "a time-stamp token that does not parse");
		goto out;
	}
	/* over this signature's value, signed by a TSA the trust anchors
	 * vouch for (EKU timeStamping, critical; RFC 3161 2.3) */
	data = BIO_new_mem_buf(ASN1_STRING_get0_data(sig),
			       ASN1_STRING_length(sig));
	certs = sk_X509_new_null();
	for (int i = 0;
	     certs != NULL && extra != NULL && i < sk_X509_num(extra); i++)
		if (sk_X509_push(certs, sk_X509_value(extra, i)))
			X509_up_ref(sk_X509_value(extra, i));
	v = verifier(TS_VERIFY_CTX_new(), ctx);
	if (v == NULL || data == NULL || certs == NULL) {
		snprintf(why, cap, "out of memory");
		goto out;
	}
	TS_VERIFY_CTX_set_flags(v, TS_VFY_VERSION | TS_VFY_SIGNATURE |
					   TS_VFY_DATA);
	TS_VERIFY_CTX_set_data(v, data); /* freed with V */
	data = NULL;
	TS_VERIFY_CTX_set_certs(v, certs); /* freed with V */
	certs = NULL;
	if (TS_RESP_verify_token(v, tok) != 1) {
		unsigned long e = ERR_peek_last_error();

		snprintf(why, cap, "the time-stamp token does not verify: %s",
			 e ? ERR_reason_error_string(e) : "unknown reason");
		goto out;
	}
	tst = PKCS7_to_TS_TST_INFO(tok);
	if (tst == NULL || !ASN1_TIME_to_tm(TS_TST_INFO_get_time(tst), &tm)) {
		snprintf(why, cap, "the time-stamp token has no usable time");
		goto out;
	}
	*when = timegm(&tm);
	if (*when > ll_ctx_now(ctx) + 300) {
		snprintf(why, cap,
			 "the time-stamp token's time is in the future");
		goto out;
	}
	rc = 1;
out:
	ERR_clear_error();
	TS_TST_INFO_free(tst);
	BIO_free(data);
	sk_X509_pop_free(certs, X509_free);
	TS_VERIFY_CTX_free(v);
	PKCS7_free(tok);
	return rc;
}
