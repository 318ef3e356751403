/*
 * kh_revoke.c - the keyholder's CRL (signed with the S/MIME CA's key)
 * and OCSP responses (signed with the OCSP responder's).
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "internal.h" /* ll_crl_finish, ll_ca_key_md */
#include "kh_internal.h"

#define KH_CRL_DAYS 7
#define KH_OCSP_SECS 86400

/* A DER encoding made by OpenSSL into the reply, at most MAX octets. */
static int put_der(struct kh_wbuf *w, unsigned char *der, int n, size_t max,
		   struct ll_error *err, const char *what)
{
	int rc;

	if (n <= 0)
		rc = kh_err_ossl(err, LL_ECRYPTO, "encoding the %s", what);
	else if ((size_t)n > max)
		rc = kh_err(err, LL_ETOOBIG, "the %s has %d octets, over %zu",
			    what, n, max);
	else {
		kh_w_bytes(w, der, (size_t)n);
		rc = 0;
	}
	OPENSSL_free(der);
	return rc;
}

/* A serial number from lower-case hex (already checked). */
static ASN1_INTEGER *serial_int(const char *hex)
{
	BIGNUM *bn = NULL;
	ASN1_INTEGER *a = NULL;

	if (BN_hex2bn(&bn, hex) == (int)strlen(hex))
		a = BN_to_ASN1_INTEGER(bn, NULL);
	BN_free(bn);
	return a;
}

static int crl_add_entry(X509_CRL *crl, const char *serial, int64_t when,
			 int reason, struct ll_error *err)
{
	X509_REVOKED *rv = X509_REVOKED_new();
	ASN1_INTEGER *sn = serial_int(serial);
	ASN1_TIME *t = ASN1_TIME_set(NULL, (time_t)when);
	ASN1_ENUMERATED *e = NULL;
	int rc = 0;

	if (rv == NULL || sn == NULL || t == NULL ||
	    !X509_REVOKED_set_serialNumber(rv, sn) ||
	    !X509_REVOKED_set_revocationDate(rv, t)) {
		rc = kh_err_ossl(err, LL_ECRYPTO, "a CRL entry");
		goto out;
	}
	/* RFC 5280 5.3.1: no reasonCode rather than unspecified (0) */
	if (reason > 0) {
		e = ASN1_ENUMERATED_new();
		if (e == NULL || !ASN1_ENUMERATED_set(e, reason) ||
		    !X509_REVOKED_add1_ext_i2d(rv, NID_crl_reason, e, 0, 0)) {
			rc = kh_err_ossl(err, LL_ECRYPTO, "a reasonCode");
			goto out;
		}
	}
	if (!X509_CRL_add0_revoked(crl, rv)) {
		rc = kh_err_ossl(err, LL_ECRYPTO, "a CRL entry");
		goto out;
	}
	rv = NULL;
out:
	ASN1_ENUMERATED_free(e);
	ASN1_TIME_free(t);
	ASN1_INTEGER_free(sn);
	X509_REVOKED_free(rv);
	return rc;
}

/* Sorted, checked for a repeated serial, numbered and signed (the
 * library's CRL finisher), DER into W. */
static int crl_finish(struct keyholder *k, X509_CRL *crl, int64_t now,
		      struct kh_wbuf *w, struct ll_error *err)
{
	STACK_OF(X509_REVOKED) * revs;
	unsigned char *der = NULL;
	int64_t number = 0;
	int rc, n;

	if (!X509_CRL_sort(crl)) {
		rc = kh_err_ossl(err, LL_ECRYPTO, "sorting the CRL");
		goto out;
	}
	revs = X509_CRL_get_REVOKED(crl);
	for (int i = 1; i < sk_X509_REVOKED_num(revs); i++) {
		const ASN1_INTEGER *a = X509_REVOKED_get0_serialNumber(
			sk_X509_REVOKED_value(revs, i - 1));
		const ASN1_INTEGER *b = X509_REVOKED_get0_serialNumber(
			sk_X509_REVOKED_value(revs, i));
		char hex[LLD_SERIAL_MAX + 1] = "?";

		if (ASN1_INTEGER_cmp(a, b) == 0) {
			lld_serial_hex(hex, a);
			rc = kh_err(err, LL_EINVAL, "serial %s is listed twice",
				    hex);
			goto out;
		}
	}
	rc = kh_journal_crl_number(k, &number, err);
	if (rc == 0)
		rc = ll_crl_finish(crl, k->ca_cert, k->ca_key, number,
				   (time_t)now, KH_CRL_DAYS, err);
	if (rc < 0)
		goto out;
	n = i2d_X509_CRL(crl, &der);
	rc = put_der(w, der, n, KH_CRL_DER_MAX, err, "CRL");
out:
	return rc;
}

int kh_op_crl(struct keyholder *k, struct kh_rbuf *r, struct kh_wbuf *w,
	      struct ll_error *err)
{
	X509_CRL *crl = NULL;
	int64_t now = kh_r_i64(r);
	uint32_t n = kh_r_u32(r);
	int rc = 0;

	if (r->bad || !kh_time_ok(now) || n > LLD_KH_CRL_MAX)
		return KH_MALFORMED;
	crl = X509_CRL_new();
	if (crl == NULL) {
		rc = kh_err_ossl(err, LL_ENOMEM, "a CRL");
		goto out;
	}
	for (uint32_t i = 0; i < n; i++) {
		char serial[LLD_SERIAL_MAX + 1];
		int64_t when;
		int32_t reason;

		kh_r_text(r, serial, sizeof(serial), 1, kh_c_hex);
		when = kh_r_i64(r);
		reason = kh_r_i32(r);
		if (r->bad || !kh_time_ok(when) || !kh_reason_ok(reason)) {
			rc = KH_MALFORMED;
			goto out;
		}
		if (rc == 0)
			rc = crl_add_entry(crl, serial, when, reason, err);
	}
	if (!kh_r_done(r)) {
		rc = KH_MALFORMED;
		goto out;
	}
	if (rc == 0)
		rc = crl_finish(k, crl, now, w, err);
out:
	X509_CRL_free(crl);
	return rc;
}

int kh_op_ocsp(struct keyholder *k, struct kh_rbuf *r, struct kh_wbuf *w,
	       struct ll_error *err)
{
	char serial[LLD_SERIAL_MAX + 1];
	unsigned char nonce[LLD_OCSP_NONCE_MAX], *der = NULL;
	const unsigned char *np;
	size_t noncelen = 0;
	ASN1_GENERALIZEDTIME *thisupd = NULL, *nextupd = NULL, *rev = NULL;
	ASN1_INTEGER *sn = NULL;
	OCSP_CERTID *id = NULL;
	OCSP_BASICRESP *bs = NULL;
	OCSP_RESPONSE *resp = NULL;
	unsigned sha256, status;
	int64_t revoked, now;
	int32_t reason;
	int rc = 0, st, n;

	sha256 = kh_r_u8(r);
	kh_r_text(r, serial, sizeof(serial), 1, kh_c_hex);
	status = kh_r_u8(r);
	revoked = kh_r_i64(r);
	reason = kh_r_i32(r);
	np = kh_r_bytes(r, LLD_OCSP_NONCE_MAX, &noncelen);
	now = kh_r_i64(r);
	if (!kh_r_done(r) || sha256 > 1 || status > LLD_OCSP_UNKNOWN ||
	    !kh_time_ok(now) || !kh_reason_ok(reason) ||
	    (status == LLD_OCSP_REVOKED ? !kh_time_ok(revoked) :
					  revoked != 0 || reason != -1))
		return KH_MALFORMED;
	memcpy(nonce, np, noncelen);
	st = status == LLD_OCSP_GOOD	? V_OCSP_CERTSTATUS_GOOD :
	     status == LLD_OCSP_REVOKED ? V_OCSP_CERTSTATUS_REVOKED :
					  V_OCSP_CERTSTATUS_UNKNOWN;
	sn = serial_int(serial);
	id = sn ? OCSP_cert_id_new(sha256 ? EVP_sha256() : EVP_sha1(),
				   X509_get_subject_name(k->ca_cert),
				   X509_get0_pubkey_bitstr(k->ca_cert), sn) :
		  NULL;
	bs = OCSP_BASICRESP_new();
	thisupd = ASN1_GENERALIZEDTIME_set(NULL, (time_t)now);
	nextupd = ASN1_GENERALIZEDTIME_set(NULL, (time_t)now + KH_OCSP_SECS);
	if (status == LLD_OCSP_REVOKED)
		rev = ASN1_GENERALIZEDTIME_set(NULL, (time_t)revoked);
	if (id == NULL || bs == NULL || thisupd == NULL || nextupd == NULL ||
	    (status == LLD_OCSP_REVOKED && rev == NULL) ||
	    OCSP_basic_add1_status(bs, id, st,
				   reason > 0 ? reason :
						OCSP_REVOKED_STATUS_NOSTATUS,
				   rev, thisupd, nextupd) == NULL ||
	    (noncelen > 0 &&
	     !OCSP_basic_add1_nonce(bs, nonce, (int)noncelen))) {
		rc = kh_err_ossl(err, LL_ECRYPTO, "the OCSP response");
		goto out;
	}
	if (!OCSP_basic_sign(bs, k->ocsp_cert, k->ocsp_key,
			     ll_ca_key_md(k->ocsp_key), NULL,
			     OCSP_RESPID_KEY)) {
		rc = kh_err_ossl(err, LL_ECRYPTO, "signing the OCSP response");
		goto out;
	}
	resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
	if (resp == NULL) {
		rc = kh_err_ossl(err, LL_ECRYPTO, "the OCSP response");
		goto out;
	}
	n = i2d_OCSP_RESPONSE(resp, &der);
	rc = put_der(w, der, n, KH_OCSP_MAX, err, "OCSP response");
out:
	OCSP_RESPONSE_free(resp);
	OCSP_BASICRESP_free(bs);
	OCSP_CERTID_free(id);
	ASN1_INTEGER_free(sn);
	ASN1_GENERALIZEDTIME_free(rev);
	ASN1_GENERALIZEDTIME_free(nextupd);
	ASN1_GENERALIZEDTIME_free(thisupd);
	return rc;
}
