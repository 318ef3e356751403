/*
 * ca_hierarchy.c - the CA hierarchy letterlockd runs under:
 *
 *   root (EC P-384, 20 years, pathLen 1)
 *    |- S/MIME issuing CA (EC P-256, 10 years, pathLen 0,
 *    |    EKU emailProtection, policy 2.23.140.1.5.1.3)
 *    |    '- OCSP responder (EC P-256, 1 year, EKU OCSPSigning,
 *    |         id-pkix-ocsp-nocheck)
 *    '- time-stamping CA (EC P-256, 10 years, pathLen 0,
 *         |  EKU timeStamping only)
 *         '- time-stamping unit, the TSA's signer (EC P-256, 10 years,
 *              EKU timeStamping only and critical, RFC 3161 2.3)
 *
 * Why a separate time-stamping CA: S/MIME BR 7.1.2.2 g forbids
 * id-kp-timeStamping on a CA that issues S/MIME certificates, and the
 * Code Signing BR 7.1.2.2 g (the CA/B rules for time-stamp
 * authorities) want a CA issuing time-stamp certificates to carry
 * id-kp-timeStamping and not emailProtection.  RFC 3161 2.3 itself
 * constrains only the TSA's signing certificate (EKU timeStamping
 * alone, critical): the time-stamping unit.
 *
 * The unit's certificate lives as long as its CA, so that tokens stay
 * verifiable by relying parties that judge the TSA certificate at the
 * time they verify (openssl ts -verify does); the Code Signing BR 6.3.2
 * limit of 15 months of signing with one TSA key is a matter of
 * rotating the key, which letterlockd does not do yet (doc/tsa.md).
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "ca_internal.h"

#define BASE_URL_MAX 200
#define NAME_MAX_CHARS 40 /* + " Time-Stamping CA" fits a 64-char CN */

struct ll_ca_hierarchy {
	EVP_PKEY *key[LL_CA_NROLES];
	X509 *cert[LL_CA_NROLES];
	struct ll_cert *wrapped[LL_CA_NROLES];
};

static const struct role {
	const char *stem;
	const char *cn;
	const char *curve;
	int days;
	enum ll_ca_role parent;
} roles[LL_CA_NROLES] = {
	[LL_CA_ROOT] = { "root", "Root CA", "P-384", 7305, LL_CA_ROOT },
	[LL_CA_SMIME] = { "smime-ca", "S/MIME CA", "P-256", 3652, LL_CA_ROOT },
	[LL_CA_TSA] = { "tsa-ca", "Time-Stamping CA", "P-256", 3652,
			LL_CA_ROOT },
	[LL_CA_OCSP] = { "ocsp", "OCSP Responder", "P-256", 365, LL_CA_SMIME },
	[LL_CA_TSU] = { "tsa", "Time-Stamping Unit", "P-256", 3651, LL_CA_TSA },
};

const char *ll_ca_role_name(enum ll_ca_role role)
{
	return (unsigned)role < LL_CA_NROLES ? roles[role].stem : "";
}

static int check_options(const struct ll_ca_hierarchy_options *o,
			 struct ll_error *err)
{
	size_t chars = 0;
	const char *c;

	if (o == NULL || o->version != LL_CA_HIERARCHY_OPTIONS_VERSION)
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "hierarchy options missing or of another "
			      "version");
	if (o->name == NULL || *o->name == '\0' ||
	    !ll_utf8_valid((const unsigned char *)o->name, strlen(o->name),
			   &chars) ||
	    chars > NAME_MAX_CHARS)
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "the CA name must be 1 to %d characters of "
			      "UTF-8",
			      NAME_MAX_CHARS);
	for (c = o->name; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
				      "the CA name has a control character");
	c = o->country ? o->country : "XX";
	if (strlen(c) != 2 || c[0] < 'A' || c[0] > 'Z' || c[1] < 'A' ||
	    c[1] > 'Z')
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "the country must be two capital letters (ISO "
			      "3166-1)");
	c = o->base_url;
	if (c == NULL || strncmp(c, "http://", 7) != 0 || c[7] == '\0' ||
	    c[7] == '/' || strlen(c) > BASE_URL_MAX || c[strlen(c) - 1] == '/')
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
			      "the base URL must be http://HOST[:PORT][/PATH] "
			      "without a final '/' (CRL and AIA URLs must be "
			      "http, S/MIME BR 7.1.2.3 b, c)");
	for (; *c != '\0'; c++)
		if (*c <= 0x20 || *c >= 0x7f)
			return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE,
				      "the base URL has a space or a "
				      "non-ASCII character");
	return 0;
}

/* CN=<name> <role>, O=<name>, C=<country> (S/MIME BR 7.1.4.3.1). */
static int set_names(X509 *x, const struct ll_ca_hierarchy_options *o,
		     enum ll_ca_role role, X509 *parent)
{
	X509_NAME *nm = X509_NAME_new();
	char cn[160];
	int ok = 0;

	snprintf(cn, sizeof(cn), "%s %s", o->name, roles[role].cn);
	if (nm == NULL ||
	    !X509_NAME_add_entry_by_NID(
		    nm, NID_countryName, V_ASN1_PRINTABLESTRING,
		    (const unsigned char *)(o->country ? o->country : "XX"), -1,
		    -1, 0) ||
	    !X509_NAME_add_entry_by_NID(
		    nm, NID_organizationName, V_ASN1_UTF8STRING,
		    (const unsigned char *)o->name, -1, -1, 0) ||
	    !X509_NAME_add_entry_by_NID(nm, NID_commonName, V_ASN1_UTF8STRING,
					(const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_subject_name(x, nm))
		goto out;
	ok = X509_set_issuer_name(x,
				  parent ? X509_get_subject_name(parent) : nm);
out:
	X509_NAME_free(nm);
	return ok;
}

static int role_exts(X509 *x, enum ll_ca_role role, X509 *parent,
		     const char *base)
{
	static const int smime_eku[] = { NID_email_protect };
	static const int tsa_eku[] = { NID_time_stamp };
	static const int ocsp_eku[] = { NID_OCSP_sign };
	static const char *const smime_policy[] = {
		LL_CA_POLICY_MAILBOX_STRICT
	};
	static const char *const any_policy[] = { "2.5.29.32.0" };
	const unsigned ca_ku = (1u << LL_KU_KEY_CERT_SIGN) |
			       (1u << LL_KU_CRL_SIGN);
	char crl[BASE_URL_MAX + 32], issuers[BASE_URL_MAX + 32];
	char tsa_ca[BASE_URL_MAX + 32];

	snprintf(crl, sizeof(crl), "%s/crl/root.crl", base);
	snprintf(issuers, sizeof(issuers), "%s/ca/root.crt", base);
	snprintf(tsa_ca, sizeof(tsa_ca), "%s/ca/tsa-ca.crt", base);
	switch (role) {
	case LL_CA_ROOT:
		/* S/MIME BR 7.1.2.1: no EKU, no policies; pathLen 1 keeps
		 * every CA one level under the root */
		return ll_ext_basic_constraints(x, 1, 1) &&
		       ll_ext_key_usage(x, ca_ku) && ll_ext_ski(x);
	case LL_CA_SMIME:
		/* S/MIME BR 7.1.2.2 */
		return ll_ext_basic_constraints(x, 1, 0) &&
		       ll_ext_key_usage(x, ca_ku) &&
		       ll_ext_eku(x, smime_eku, 1, 0) &&
		       ll_ext_policies(x, smime_policy, 1) && ll_ext_ski(x) &&
		       ll_ext_aki(x, parent) && ll_ext_crldp(x, crl) &&
		       ll_ext_aia(x, NULL, issuers);
	case LL_CA_TSA:
		/* Code Signing BR 7.1.2.2: EKU timeStamping, not
		 * emailProtection; anyPolicy as the root's affiliate */
		return ll_ext_basic_constraints(x, 1, 0) &&
		       ll_ext_key_usage(x, ca_ku) &&
		       ll_ext_eku(x, tsa_eku, 1, 0) &&
		       ll_ext_policies(x, any_policy, 1) && ll_ext_ski(x) &&
		       ll_ext_aki(x, parent) && ll_ext_crldp(x, crl) &&
		       ll_ext_aia(x, NULL, issuers);
	case LL_CA_OCSP:
		/* RFC 6960 4.2.2.2: delegated responder, no revocation
		 * checking of its own certificate */
		return ll_ext_basic_constraints(x, 0, -1) &&
		       ll_ext_key_usage(x, 1u << LL_KU_DIGITAL_SIGNATURE) &&
		       ll_ext_eku(x, ocsp_eku, 1, 0) &&
		       ll_ext_ocsp_nocheck(x) && ll_ext_ski(x) &&
		       ll_ext_aki(x, parent);
	case LL_CA_TSU:
		/* RFC 3161 2.3: EKU timeStamping alone, critical; the
		 * time-stamping CA keeps no CRL of its own yet, so no
		 * distribution point is named */
		return ll_ext_basic_constraints(x, 0, -1) &&
		       ll_ext_key_usage(x, 1u << LL_KU_DIGITAL_SIGNATURE) &&
		       ll_ext_eku(x, tsa_eku, 1, 1) && ll_ext_ski(x) &&
		       ll_ext_aki(x, parent) && ll_ext_aia(x, NULL, tsa_ca);
	default:
		return 0;
	}
}

static int make_role(struct ll_ca_hierarchy *h, enum ll_ca_role role,
		     const struct ll_ca_hierarchy_options *o, time_t now,
		     struct ll_error *err)
{
	const struct role *rs = &roles[role];
	X509 *parent = role == LL_CA_ROOT ? NULL : h->cert[rs->parent];
	EVP_PKEY *signer = role == LL_CA_ROOT ? NULL : h->key[rs->parent];
	X509 *x = NULL;
	int rc = 0;

	h->key[role] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", rs->curve);
	if (h->key[role] == NULL) {
		rc = ll_err_ossl(err, LL_ECRYPTO, "generating the %s key",
				 rs->stem);
		goto out;
	}
	if (signer == NULL)
		signer = h->key[role];
	x = X509_new_ex(NULL, NULL);
	if (x == NULL || !X509_set_version(x, X509_VERSION_3) ||
	    !ll_set_random_serial(x) || !set_names(x, o, role, parent) ||
	    !ll_set_validity(x, now, 0, (long long)rs->days * 86400) ||
	    !X509_set_pubkey(x, h->key[role]) ||
	    !role_exts(x, role, parent, o->base_url) ||
	    !X509_sign(x, signer, ll_ca_key_md(signer))) {
		rc = ll_err_ossl(err, LL_ECRYPTO, "building the %s certificate",
				 rs->stem);
		goto out;
	}
	rc = ll_cert_wrap(&h->wrapped[role], x, err);
	if (rc < 0)
		goto out;
	h->cert[role] = x; /* the wrapper's reference, shared */
	x = NULL;
out:
	X509_free(x);
	return rc;
}

int ll_ca_hierarchy_create(struct ll_ca_hierarchy **out,
			   const struct ll_ca_hierarchy_options *opt,
			   struct ll_error *err)
{
	struct ll_ca_hierarchy *h = NULL;
	time_t now;
	int rc;

	ERR_clear_error();
	rc = check_options(opt, err);
	if (rc < 0)
		goto out;
	now = opt->now ? opt->now : time(NULL);
	h = calloc(1, sizeof(*h));
	if (h == NULL) {
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
		goto out;
	}
	/* parents first */
	rc = make_role(h, LL_CA_ROOT, opt, now, err);
	if (rc < 0)
		goto out;
	rc = make_role(h, LL_CA_SMIME, opt, now, err);
	if (rc < 0)
		goto out;
	rc = make_role(h, LL_CA_TSA, opt, now, err);
	if (rc < 0)
		goto out;
	rc = make_role(h, LL_CA_OCSP, opt, now, err);
	if (rc < 0)
		goto out;
	rc = make_role(h, LL_CA_TSU, opt, now, err);
	if (rc < 0)
		goto out;
	*out = h;
	h = NULL;
out:
	ll_ca_hierarchy_free(&h);
	return rc;
}

void ll_ca_hierarchy_free(struct ll_ca_hierarchy **pp)
{
	struct ll_ca_hierarchy *h;

	if (pp == NULL || *pp == NULL)
		return;
	h = *pp;
	*pp = NULL;
	for (int i = 0; i < LL_CA_NROLES; i++) {
		ll_cert_free(&h->wrapped[i]); /* frees cert[i] */
		EVP_PKEY_free(h->key[i]); /* cleared by OpenSSL */
	}
	free(h);
}

struct ll_cert *ll_ca_hierarchy_cert(const struct ll_ca_hierarchy *h,
				     enum ll_ca_role role)
{
	return (unsigned)role < LL_CA_NROLES ? h->wrapped[role] : NULL;
}

int ll_ca_hierarchy_key_pem(char **out, size_t *len,
			    const struct ll_ca_hierarchy *h,
			    enum ll_ca_role role, struct ll_error *err)
{
	BIO *b = NULL;
	BUF_MEM *m = NULL;
	int rc = 0;

	if ((unsigned)role >= LL_CA_NROLES || h->key[role] == NULL)
		return ll_err(err, LL_EINVAL, LL_ECLASS_USAGE, "no such role");
	b = BIO_new(BIO_s_secmem());
	if (b == NULL || !PEM_write_bio_PKCS8PrivateKey(b, h->key[role], NULL,
							NULL, 0, NULL, NULL)) {
		rc = ll_err_ossl(err, LL_ECRYPTO, "encoding the %s key",
				 roles[role].stem);
		goto out;
	}
	BIO_get_mem_ptr(b, &m);
	*out = malloc(m->length + 1);
	if (*out == NULL) {
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
		goto out;
	}
	memcpy(*out, m->data, m->length);
	(*out)[m->length] = '\0';
	*len = m->length;
out:
	BIO_free(b); /* secure memory BIO: cleared on free */
	return rc;
}
