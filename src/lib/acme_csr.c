/*
 * acme_csr.c - what enrolment makes on this machine: the certificate's
 * key pair, the certificate request for a mailbox, and the identity
 * assembled from the issued chain after checking it.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "acme_internal.h"

int ll_acme_address(char **out, const char *address, struct ll_error *err)
{
	struct ll_mailbox m;
	int rc;

	*out = NULL;
	rc = ll_mailbox_parse(&m, address, strlen(address), err);
	if (rc < 0)
		return rc;
	*out = strdup(m.addr);
	return *out != NULL ? 0 : ll_acme_nomem(err);
}

int ll_acme_certkey_generate(struct ll_acme_certkey **out, enum ll_keytype type,
			     struct ll_error *err)
{
	struct ll_acme_certkey *k;

	*out = NULL;
	k = calloc(1, sizeof(*k));
	if (k == NULL)
		return ll_acme_nomem(err);
	ERR_clear_error();
	switch (type) {
	case LL_KEY_RSA2048:
		k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		break;
	case LL_KEY_EC_P256:
		k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	case LL_KEY_RSA3072:
	default:
		k->pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
		break;
	}
	if (k->pkey == NULL) {
		free(k);
		return ll_err_ossl(err, LL_ECRYPTO, "key generation");
	}
	*out = k;
	return 0;
}

void ll_acme_certkey_free(struct ll_acme_certkey **pp)
{
	if (pp == NULL || *pp == NULL)
		return;
	EVP_PKEY_free((*pp)->pkey); /* OpenSSL wipes private key memory */
	free(*pp);
	*pp = NULL;
}

int ll_acme_certkey_der(unsigned char **out, size_t *len,
			const struct ll_acme_certkey *key, struct ll_error *err)
{
	unsigned char *p = NULL;
	int n;

	*out = NULL;
	*len = 0;
	ERR_clear_error();
	n = i2d_PrivateKey(key->pkey, &p);
	if (n <= 0)
		return ll_err_ossl(err, LL_ECRYPTO, "encoding the key");
	*out = malloc((size_t)n);
	if (*out == NULL) {
		OPENSSL_clear_free(p, (size_t)n);
		return ll_acme_nomem(err);
	}
	memcpy(*out, p, (size_t)n);
	*len = (size_t)n;
	OPENSSL_clear_free(p, (size_t)n);
	return 0;
}

int ll_acme_certkey_from_der(struct ll_acme_certkey **out,
			     const unsigned char *der, size_t len,
			     struct ll_error *err)
{
	const unsigned char *p = der;
	struct ll_acme_certkey *k;

	*out = NULL;
	if (len > LL_ACME_MAX_CERT)
		return ll_err(err, LL_ETOOBIG, LL_ECLASS_STORE,
			      "a stored key of %zu bytes", len);
	k = calloc(1, sizeof(*k));
	if (k == NULL)
		return ll_acme_nomem(err);
	ERR_clear_error();
	k->pkey = d2i_AutoPrivateKey(NULL, &p, (long)len);
	if (k->pkey == NULL || p != der + len) {
		EVP_PKEY_free(k->pkey);
		free(k);
		return ll_err_ossl(err, LL_EPARSE, "a stored key");
	}
	*out = k;
	return 0;
}

static int add_req_ext(STACK_OF(X509_EXTENSION) * exts, int nid, int crit,
		       void *value)
{
	X509_EXTENSION *x = X509V3_EXT_i2d(nid, crit, value);

	if (x == NULL)
		return 0;
	if (!sk_X509_EXTENSION_push(exts, x)) {
		X509_EXTENSION_free(x);
		return 0;
	}
	return 1;
}

int ll_acme_csr_new(unsigned char **out, size_t *len,
		    const struct ll_acme_certkey *key, const char *address,
		    struct ll_error *err)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	GENERAL_NAMES *gens = NULL;
	GENERAL_NAME *g = NULL;
	ASN1_BIT_STRING *ku = NULL;
	EXTENDED_KEY_USAGE *eku = NULL;
	X509_REQ *req = NULL;
	struct ll_mailbox m;
	unsigned char *der = NULL;
	int rc, n, cn, is_ec;

	*out = NULL;
	*len = 0;
	rc = ll_mailbox_parse(&m, address, strlen(address), err);
	if (rc < 0)
		return rc;
	ERR_clear_error();
	is_ec = EVP_PKEY_is_a(key->pkey, "EC");
	cn = m.chars <= LL_CN_MAX;
	req = X509_REQ_new();
	exts = sk_X509_EXTENSION_new_null();
	gens = sk_GENERAL_NAME_new_null();
	g = ll_mailbox_general_name(&m);
	ku = ASN1_BIT_STRING_new();
	eku = sk_ASN1_OBJECT_new_null();
	if (req == NULL || exts == NULL || gens == NULL || g == NULL ||
	    ku == NULL || eku == NULL || !sk_GENERAL_NAME_push(gens, g)) {
		rc = ll_acme_nomem(err);
		goto out;
	}
	g = NULL;
	if (!X509_REQ_set_version(req, X509_REQ_VERSION_1) ||
	    !X509_REQ_set_pubkey(req, key->pkey) ||
	    (cn && !X509_NAME_add_entry_by_txt(
			   X509_REQ_get_subject_name(req), "CN", MBSTRING_UTF8,
			   (const unsigned char *)m.addr, (int)m.len, -1, 0)) ||
	    !ASN1_BIT_STRING_set_bit(ku, LL_KU_DIGITAL_SIGNATURE, 1) ||
	    !ASN1_BIT_STRING_set_bit(
		    ku, is_ec ? LL_KU_KEY_AGREEMENT : LL_KU_KEY_ENCIPHERMENT,
		    1) ||
	    !sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_email_protect)) ||
	    /* RFC 5280 4.2.1.6: critical when the subject is empty */
	    !add_req_ext(exts, NID_subject_alt_name, !cn, gens) ||
	    !add_req_ext(exts, NID_key_usage, 1, ku) ||
	    !add_req_ext(exts, NID_ext_key_usage, 0, eku) ||
	    !X509_REQ_add_extensions(req, exts) ||
	    X509_REQ_sign(req, key->pkey, EVP_sha256()) <= 0) {
		rc = ll_err_ossl(err, LL_ECRYPTO,
				 "building the certificate request");
		goto out;
	}
	n = i2d_X509_REQ(req, &der);
	if (n <= 0) {
		rc = ll_err_ossl(err, LL_ECRYPTO,
				 "encoding the certificate request");
		goto out;
	}
	*out = malloc((size_t)n);
	if (*out == NULL) {
		rc = ll_acme_nomem(err);
		goto out;
	}
	memcpy(*out, der, (size_t)n);
	*len = (size_t)n;
out:
	OPENSSL_free(der);
	X509_REQ_free(req);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	GENERAL_NAMES_free(gens);
	GENERAL_NAME_free(g);
	ASN1_BIT_STRING_free(ku);
	/* the stack holds a static OBJ_nid2obj object: free only the stack */
	sk_ASN1_OBJECT_free(eku);
	return rc;
}

static int chain_verify(X509 *leaf, STACK_OF(X509) * untrusted, X509 *root,
			struct ll_error *err)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *vc = X509_STORE_CTX_new();
	int rc = 0, e;

	if (store == NULL || vc == NULL || !X509_STORE_add_cert(store, root) ||
	    !X509_STORE_CTX_init(vc, store, leaf, untrusted) ||
	    !X509_STORE_CTX_set_purpose(vc, X509_PURPOSE_SMIME_SIGN)) {
		rc = ll_err_ossl(err, LL_ECRYPTO, "chain verification");
		goto out;
	}
	if (X509_verify_cert(vc) != 1) {
		e = X509_STORE_CTX_get_error(vc);
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			    "the issued certificate does not chain to the "
			    "CA's root: %s",
			    X509_verify_cert_error_string(e));
	}
out:
	ERR_clear_error();
	X509_STORE_CTX_free(vc);
	X509_STORE_free(store);
	return rc;
}

int ll_acme_identity(struct ll_identity **out,
		     const struct ll_acme_certkey *key, const char *chain,
		     size_t len, const struct ll_cert *root,
		     const char *address, struct ll_error *err)
{
	struct ll_cert **v = NULL, *above[LL_ACME_MAX_CHAIN_CERTS];
	STACK_OF(X509) *untrusted = NULL;
	unsigned char *kder = NULL;
	X509 *leaf, *rx = ll_cert_x509(root);
	size_t n = 0, nabove = 0;
	int rc, klen = 0;

	*out = NULL;
	if (len > LL_ACME_MAX_CHAIN)
		return ll_err(err, LL_ETOOBIG, LL_ECLASS_POLICY,
			      "certificate chain larger than %d bytes",
			      LL_ACME_MAX_CHAIN);
	rc = ll_cert_parse_all(&v, &n, chain, len, err);
	if (rc < 0)
		return rc;
	if (n == 0 || n > LL_ACME_MAX_CHAIN_CERTS) {
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_POLICY,
			    "a chain of %zu certificates (1 to %d expected)", n,
			    LL_ACME_MAX_CHAIN_CERTS);
		goto out;
	}
	leaf = ll_cert_x509(v[0]);
	ERR_clear_error();
	if (X509_check_private_key(leaf, key->pkey) != 1) {
		rc = ll_err_ossl(err, LL_EPOLICY,
				 "the issued certificate is not for our key");
		goto out;
	}
	if (!ll_x509_has_email(leaf, address)) {
		rc = ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY,
			    "the issued certificate does not name %s", address);
		goto out;
	}
	untrusted = sk_X509_new_null();
	if (untrusted == NULL) {
		rc = ll_acme_nomem(err);
		goto out;
	}
	for (size_t i = 1; i < n; i++) {
		X509 *x = ll_cert_x509(v[i]);

		if (!sk_X509_push(untrusted, x)) {
			rc = ll_acme_nomem(err);
			goto out;
		}
		if (X509_cmp(x, rx) != 0)
			above[nabove++] = v[i];
	}
	rc = chain_verify(leaf, untrusted, rx, err);
	if (rc < 0)
		goto out;
	klen = i2d_PrivateKey(key->pkey, &kder);
	if (klen <= 0) {
		rc = ll_err_ossl(err, LL_ECRYPTO, "encoding the private key");
		klen = 0;
		goto out;
	}
	rc = ll_identity_from_key_der(out, kder, (size_t)klen, v[0], above,
				      nabove, err);
out:
	if (kder != NULL)
		OPENSSL_clear_free(kder, (size_t)klen);
	sk_X509_free(untrusted);
	for (size_t i = 0; i < n; i++)
		ll_cert_free(&v[i]);
	free(v);
	return rc;
}

void ll_acme_cert_serial(char *buf, size_t len, const struct ll_cert *c)
{
	const ASN1_INTEGER *s = X509_get0_serialNumber(ll_cert_x509(c));
	BIGNUM *bn = s ? ASN1_INTEGER_to_BN(s, NULL) : NULL;
	char *hex = bn ? BN_bn2hex(bn) : NULL;

	if (len > 0)
		snprintf(buf, len, "%s", hex ? hex : "?");
	OPENSSL_free(hex);
	BN_free(bn);
}
