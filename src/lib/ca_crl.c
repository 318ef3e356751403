/*
 * ca_crl.c - a CRL with no entries, signed by a CA whose key is at hand
 * only now and then: the root, whose CRL (named in the CRL distribution
 * point of the CAs under it) is signed at `letterlockd init` and again
 * with `letterlockd root-crl` before it runs out.
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca_internal.h"

int ll_crl_finish(X509_CRL *crl, X509 *ca, EVP_PKEY *key, int64_t number,
		  time_t now, int days, struct ll_error *err)
{
	const EVP_MD *md = ll_ca_key_md(key);
	ASN1_TIME *last = ASN1_TIME_set(NULL, now);
	ASN1_TIME *next = ASN1_TIME_set(NULL, now + (time_t)days * 86400);
	AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
	ASN1_INTEGER *num = ASN1_INTEGER_new();
	int rc = 0;

	if (md == NULL) {
		rc = ll_err(err, LL_EINVAL, LL_ECLASS_POLICY,
			    "not a key a CA may sign a CRL with");
		goto out;
	}
	if (akid != NULL && X509_get0_subject_key_id(ca) != NULL)
		akid->keyid =
			ASN1_OCTET_STRING_dup(X509_get0_subject_key_id(ca));
	if (last == NULL || next == NULL || akid == NULL ||
	    akid->keyid == NULL || num == NULL ||
	    !ASN1_INTEGER_set_int64(num, number) ||
	    !X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) ||
	    !X509_CRL_set1_lastUpdate(crl, last) ||
	    !X509_CRL_set1_nextUpdate(crl, next) ||
	    !X509_CRL_add1_ext_i2d(crl, NID_authority_key_identifier, akid, 0,
				   0) ||
	    !X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) ||
	    X509_CRL_sign(crl, key, md) <= 0)
		rc = ll_err_ossl(err, LL_ECRYPTO, "signing the CRL");
out:
	ASN1_INTEGER_free(num);
	AUTHORITY_KEYID_free(akid);
	ASN1_TIME_free(next);
	ASN1_TIME_free(last);
	return rc;
}

int ll_ca_empty_crl(unsigned char **der, size_t *len, const void *cert,
		    size_t certlen, const void *key, size_t keylen, time_t now,
		    int days, struct ll_error *err)
{
	X509 *ca = NULL;
	EVP_PKEY *k = NULL;
	X509_CRL *crl = NULL;
	unsigned char *p = NULL;
	int n, rc = 0;

	ERR_clear_error();
	if (days < 1 || days > 366)
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "a CRL for %d days: 1 to 366", days);
	ca = ll_x509_read(cert, certlen);
	k = ll_pkey_read(key, keylen);
	if (ca == NULL || k == NULL) {
		rc = ll_err_ossl(err, LL_EPARSE,
				 "the CA's certificate or key does not read");
		goto out;
	}
	if (ll_ca_key_md(k) == NULL || X509_check_private_key(ca, k) != 1) {
		rc = ll_err_ossl(err, LL_EINVAL,
				 "the key is not the CA certificate's, or of "
				 "a kind a CA may have");
		goto out;
	}
	crl = X509_CRL_new();
	if (crl == NULL) {
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
		goto out;
	}
	/* the CRL number grows with time: a later CRL has a larger one
	 * without a counter to keep between signings (RFC 5280 5.2.3) */
	rc = ll_crl_finish(crl, ca, k, (int64_t)now, now, days, err);
	if (rc < 0)
		goto out;
	n = i2d_X509_CRL(crl, &p);
	if (n <= 0) {
		rc = ll_err_ossl(err, LL_ECRYPTO, "encoding the CRL");
		goto out;
	}
	*der = malloc((size_t)n);
	if (*der == NULL) {
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
		goto out;
	}
	memcpy(*der, p, (size_t)n);
	*len = (size_t)n;
out:
	OPENSSL_free(p);
	X509_CRL_free(crl);
	EVP_PKEY_free(k);
	X509_free(ca);
	return rc;
}
