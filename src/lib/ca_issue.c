/*
 * ca_issue.c - the issuing CA: build, lint, then sign.
 *
 * Pre-issuance lint: the to-be-signed certificate is first signed with
 * a throw-away key of the issuer's type (so that its signature
 * algorithm fields are the real ones), linted, and only if the lint
 * finds nothing signed again with the CA's key.  A certificate that
 * fails the lint is never signed by the CA.
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>

#include "ca_internal.h"

#define URL_MAX 512

const EVP_MD *ll_ca_key_md(const EVP_PKEY *k)
{
	char group[64] = "";

	if (EVP_PKEY_is_a(k, "RSA"))
		return EVP_PKEY_get_bits(k) >= 2048 ? EVP_sha256() : NULL;
	if (!EVP_PKEY_is_a(k, "EC") ||
	    !EVP_PKEY_get_group_name(k, group, sizeof(group), NULL))
		return NULL;
	if (strcmp(group, "prime256v1") == 0)
		return EVP_sha256();
	if (strcmp(group, "secp384r1") == 0)
		return EVP_sha384();
	return NULL;
}

/* A URL we can put in a certificate: printable ASCII, a scheme, a host. */
static int url_dup(char **out, const char *url, const char *what,
		   struct ll_error *err)
{
	const char *colon;
	size_t n;

	if (url == NULL || *url == '\0')
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "the CA needs a %s", what);
	n = strlen(url);
	colon = strstr(url, "://");
	if (n > URL_MAX || colon == NULL || colon == url || colon[3] == '\0' ||
	    colon[3] == '/')
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "%s is not a URL: %.80s", what, url);
	for (size_t i = 0; i < n; i++)
		if (url[i] <= 0x20 || url[i] >= 0x7f)
			return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
				      "%s has a space or a non-ASCII "
				      "character",
				      what);
	*out = strdup(url);
	if (*out == NULL)
		return ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
	return 0;
}

/* A CA certificate able to issue: cA, keyCertSign, an SKI. */
static int check_ca_cert(X509 *x, struct ll_error *err)
{
	uint32_t ku;

	if (X509_check_ca(x) != 1)
		return ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			      "the issuing certificate is not a CA");
	ku = X509_get_key_usage(x);
	if (!(ku & KU_KEY_CERT_SIGN))
		return ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			      "the issuing certificate lacks keyCertSign");
	if (X509_get0_subject_key_id(x) == NULL)
		return ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			      "the issuing certificate has no "
			      "subjectKeyIdentifier (needed for the AKI)");
	return 0;
}

static EVP_PKEY *lint_key_like(const EVP_PKEY *k)
{
	char group[64] = "";

	if (EVP_PKEY_is_a(k, "RSA"))
		return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	if (!EVP_PKEY_get_group_name(k, group, sizeof(group), NULL))
		return NULL;
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", group);
}

int ll_ca_new(struct ll_ca **out, const void *cert, size_t certlen,
	      const void *key, size_t keylen, const struct ll_ca_options *opt,
	      struct ll_error *err)
{
	struct ll_ca *ca = NULL;
	int rc;

	ERR_clear_error();
	if (opt == NULL || opt->version != LL_CA_OPTIONS_VERSION) {
		rc = ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			    "ll_ca_new: options missing or of another version");
		goto out;
	}
	if (opt->default_days < 0 || opt->default_days > LL_CA_MAX_DAYS) {
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			    "default validity of %d days: 1 to %d allowed",
			    opt->default_days, LL_CA_MAX_DAYS);
		goto out;
	}
	ca = calloc(1, sizeof(*ca));
	if (ca == NULL) {
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
		goto out;
	}
	ca->default_days = opt->default_days ? opt->default_days :
					       LL_CA_DEFAULT_DAYS;
	rc = url_dup(&ca->crl_url, opt->crl_url, "CRL URL", err);
	if (rc < 0)
		goto out;
	rc = url_dup(&ca->ocsp_url, opt->ocsp_url, "OCSP URL", err);
	if (rc < 0)
		goto out;
	rc = url_dup(&ca->issuers_url, opt->ca_issuers_url, "caIssuers URL",
		     err);
	if (rc < 0)
		goto out;
	ca->cert = ll_x509_read(cert, certlen);
	if (ca->cert == NULL) {
		rc = ll_err_ossl(err, LL_EPARSE, "the CA certificate");
		goto out;
	}
	ca->key = ll_pkey_read(key, keylen);
	if (ca->key == NULL) {
		rc = ll_err_ossl(err, LL_EPARSE,
				 "the CA key (unencrypted PEM or DER)");
		goto out;
	}
	if (X509_check_private_key(ca->cert, ca->key) != 1) {
		rc = ll_err_ossl(err, LL_EINVAL,
				 "the CA key does not match its certificate");
		goto out;
	}
	rc = check_ca_cert(ca->cert, err);
	if (rc < 0)
		goto out;
	ca->md = ll_ca_key_md(ca->key);
	if (ca->md == NULL) {
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			    "the CA key must be EC P-256/P-384 or RSA >= 2048");
		goto out;
	}
	ca->lint_key = lint_key_like(ca->key);
	if (ca->lint_key == NULL) {
		rc = ll_err_ossl(err, LL_ECRYPTO, "generating the lint key");
		goto out;
	}
	if (!X509_up_ref(ca->cert)) {
		rc = ll_err_ossl(err, LL_ECRYPTO, "X509_up_ref");
		goto out;
	}
	rc = ll_cert_wrap(&ca->wrapped, ca->cert, err);
	if (rc < 0) {
		X509_free(ca->cert);
		goto out;
	}
	*out = ca;
	ca = NULL;
out:
	ll_ca_free(&ca);
	return rc;
}

void ll_ca_free(struct ll_ca **pp)
{
	struct ll_ca *ca;

	if (pp == NULL || *pp == NULL)
		return;
	ca = *pp;
	*pp = NULL;
	ll_cert_free(&ca->wrapped);
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key); /* OpenSSL clears key material on free */
	EVP_PKEY_free(ca->lint_key);
	free(ca->crl_url);
	free(ca->ocsp_url);
	free(ca->issuers_url);
	free(ca);
}

struct ll_cert *ll_ca_cert(const struct ll_ca *ca)
{
	return ca->wrapped;
}

/* The lint's verdict as an error: the first violation in the message,
 * all of them in the detail. */
static int lint_refusal(const struct ll_ca_lint_report *r, struct ll_error *err)
{
	size_t n = ll_ca_lint_count(r), used = 0;
	int rc;

	rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
		    "pre-issuance lint refused the certificate: %s%s",
		    ll_ca_lint_violation(r, 0), n > 1 ? " (and more)" : "");
	if (err == NULL)
		return rc;
	for (size_t i = 0; i < n; i++) {
		const char *v = ll_ca_lint_violation(r, i);

		if (used + strlen(v) + 3 >= sizeof(err->detail))
			break;
		used += (size_t)snprintf(err->detail + used,
					 sizeof(err->detail) - used, "%s%s",
					 used ? "; " : "", v);
	}
	return rc;
}

/* Build, lint, sign (and check the signature of) the certificate for
 * CSR; RAW as for ll_ca_profile_build. */
static int issue(X509 **out, struct ll_ca *ca, const struct ll_ca_csr *csr,
		 const struct ll_ca_issue_options *opt, int raw,
		 struct ll_error *err)
{
	struct ll_ca_issue_options defaults = LL_CA_ISSUE_OPTIONS_INIT;
	struct ll_ca_lint_report *report = NULL;
	X509 *x = NULL;
	int rc;

	if (opt == NULL)
		opt = &defaults;
	if (opt->version != LL_CA_ISSUE_OPTIONS_VERSION) {
		rc = ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			    "ll_ca_issue: options of another version");
		goto out;
	}
	rc = ll_ca_profile_build(&x, ca, raw, csr, opt, err);
	if (rc < 0)
		goto out;
	if (!X509_sign(x, ca->lint_key, ca->md)) {
		rc = ll_err_ossl(err, LL_ECRYPTO, "signing the lint copy");
		goto out;
	}
	rc = ll_ca_lint_x509_key(&report, x, csr->pkey, ca->cert,
				 csr->mbox.addr, err);
	if (rc < 0)
		goto out;
	if (ll_ca_lint_count(report) > 0) {
		rc = lint_refusal(report, err);
		goto out;
	}
	if (!X509_sign(x, ca->key, ca->md) ||
	    X509_verify(x, X509_get0_pubkey(ca->cert)) != 1) {
		rc = ll_err_ossl(err, LL_ECRYPTO, "signing the certificate");
		goto out;
	}
	*out = x;
	x = NULL;
out:
	ll_ca_lint_free(&report);
	X509_free(x);
	return rc;
}

int ll_ca_issue(struct ll_cert **out, struct ll_ca *ca,
		const struct ll_ca_csr *csr,
		const struct ll_ca_issue_options *opt, struct ll_error *err)
{
	X509 *x = NULL;
	int rc = issue(&x, ca, csr, opt, 0, err);

	if (rc == 0)
		rc = ll_cert_wrap(out, x, err);
	if (rc < 0)
		X509_free(x);
	return rc;
}

int ll_ca_issue_x509(X509 **out, struct ll_ca *ca, const struct ll_ca_csr *csr,
		     const struct ll_ca_issue_options *opt,
		     struct ll_error *err)
{
	return issue(out, ca, csr, opt, 1, err);
}
