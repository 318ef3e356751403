/*
 * kh_issue.c - the keyholder's ISSUE: a certificate from the parts of
 * a request the front parsed and checked (address, public key, usage),
 * journaled per order before it is answered.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "internal.h" /* ll_ca_issue_x509 */
#include "kh_internal.h"

/*
 * What makes a repeated request the same: SHA-256 of the canonical
 * address, a NUL, and the public key as received (SubjectPublicKeyInfo
 * DER, which ll_ca_csr_from_spki takes only in its one encoding) - not
 * a CSR's bytes, whose signature may differ each time.
 */
static int request_digest(unsigned char out[32], const char *email,
			  const unsigned char *spki, size_t len,
			  struct ll_error *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int rc = 0;

	if (md == NULL || !EVP_DigestInit_ex(md, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(md, email, strlen(email) + 1) ||
	    !EVP_DigestUpdate(md, spki, len) ||
	    !EVP_DigestFinal_ex(md, out, NULL))
		rc = kh_err_ossl(err, LL_ECRYPTO, "the request's digest");
	EVP_MD_CTX_free(md);
	return rc;
}

int kh_op_issue(struct keyholder *k, struct kh_rbuf *r, struct kh_wbuf *w,
		struct ll_error *err)
{
	struct ll_ca_issue_options opt = LL_CA_ISSUE_OPTIONS_INIT;
	char email[LLD_EMAIL_MAX + 1], serial[LLD_SERIAL_MAX + 1];
	struct ll_ca_csr *req = NULL;
	X509 *cert = NULL;
	unsigned char digest[32], *der = NULL;
	const unsigned char *spki;
	size_t spkilen = 0, derlen = 0;
	int n;
	int64_t order;
	uint32_t usage;
	int32_t days;
	int rc, found = 0;

	order = kh_r_i64(r);
	kh_r_text(r, email, sizeof(email), 3, kh_c_mailbox);
	spki = kh_r_bytes(r, LL_CA_SPKI_MAX, &spkilen);
	usage = kh_r_u32(r);
	days = kh_r_i32(r);
	if (!kh_r_done(r) || order < 1 || spkilen == 0 ||
	    (usage & ~(uint32_t)LL_CA_USAGE_BOTH) != 0 || days < 0 ||
	    days > LL_CA_MAX_DAYS)
		return KH_MALFORMED;
	/* the address and key checked again here: the front is not
	 * trusted with the profile */
	rc = ll_ca_csr_from_spki(&req, spki, spkilen, email, usage, err);
	if (rc == 0)
		rc = request_digest(digest, ll_ca_csr_email(req), spki, spkilen,
				    err);
	if (rc == 0)
		rc = kh_journal_find(k, order, digest, w, &found, err);
	if (rc < 0 || found)
		goto out;
	opt.days = days;
	rc = ll_ca_issue_x509(&cert, k->ca, req, &opt, err);
	if (rc < 0)
		goto out;
	n = i2d_X509(cert, &der);
	if (n <= 0) {
		rc = kh_err_ossl(err, LL_ECRYPTO, "encoding the certificate");
		goto out;
	}
	derlen = (size_t)n;
	if (derlen > KH_CERT_MAX ||
	    lld_serial_hex(serial, X509_get0_serialNumber(cert)) < 0) {
		rc = kh_err_ossl(err, LL_ECRYPTO,
				 "the new certificate: too large, or its "
				 "serial number is not positive");
		goto out;
	}
	/* journaled, and synced, before the answer leaves */
	rc = kh_journal_add(k, order, serial, digest, der, derlen, err);
	if (rc < 0)
		goto out;
	kh_w_str(w, serial);
	kh_w_bytes(w, der, derlen);
out:
	OPENSSL_free(der);
	X509_free(cert);
	ll_ca_csr_free(&req);
	return rc;
}
