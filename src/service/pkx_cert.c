/*
 * pkx_cert.c - certificates of other CAs that a mailbox owner publishes
 * in the directory: taken in (base64url DER or one PEM block) and
 * checked against the address the owner proved (pkx.h).
 *
 * The directory publishes a key for an address only when the mail to
 * that address was read (the mailbox proof of the publishing order),
 * so what matters here is that the certificate is for exactly that
 * address, and that a sender can use it now: valid, for S/MIME, with a
 * key that every S/MIME client encrypts to.  Its issuer is not judged:
 * a sender's client checks the chain against its own trust anchors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <letterlock/jose.h>

#include "internal.h"
#include "pkx.h"

#define PEM_BEGIN "-----BEGIN CERTIFICATE-----"
#define PEM_END "-----END CERTIFICATE-----"
/* PEM text: base64 of LLD_PKX_CERT_MAX, its line ends, the markers */
#define PEM_MAX (2 * LLD_PKX_CERT_MAX)

/* One PEM CERTIFICATE block, nothing but white space after it. */
static int pem_der(unsigned char **der, size_t *derlen, const char *text,
		   size_t len, struct ll_error *err)
{
	const char *end = memmem(text, len, PEM_END, sizeof(PEM_END) - 1);
	BIO *bio = NULL;
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long dlen = 0;
	int rc;

	if (len > PEM_MAX)
		return ll_err(err, LL_ETOOBIG, LL_ECLASS_USAGE,
			      "PEM text longer than %d octets", PEM_MAX);
	if (end == NULL)
		return ll_err(err, LL_EPARSE, LL_ECLASS_USAGE,
			      "no " PEM_END " line");
	for (const char *p = end + sizeof(PEM_END) - 1; p < text + len; p++)
		if (*p != '\r' && *p != '\n' && *p != ' ' && *p != '\t')
			return ll_err(err, LL_EPARSE, LL_ECLASS_USAGE,
				      "more than one PEM block");
	bio = BIO_new_mem_buf(text, (int)len);
	if (bio == NULL)
		return ll_err_ossl(err, LL_ENOMEM, "BIO_new_mem_buf");
	if (PEM_read_bio(bio, &name, &header, &data, &dlen) != 1 ||
	    strcmp(name, "CERTIFICATE") != 0 || header[0] != '\0' ||
	    dlen <= 0) {
		ERR_clear_error();
		rc = ll_err(err, LL_EPARSE, LL_ECLASS_USAGE,
			    "not a PEM CERTIFICATE block");
		goto out;
	}
	if ((size_t)dlen > LLD_PKX_CERT_MAX) {
		rc = ll_err(err, LL_ETOOBIG, LL_ECLASS_USAGE,
			    "certificate larger than %d octets",
			    LLD_PKX_CERT_MAX);
		goto out;
	}
	*der = malloc((size_t)dlen);
	if (*der == NULL) {
		rc = ll_err(err, LL_ENOMEM, LL_ECLASS_OS, "out of memory");
		goto out;
	}
	memcpy(*der, data, (size_t)dlen);
	*derlen = (size_t)dlen;
	rc = 0;
out:
	OPENSSL_free(name);
	OPENSSL_free(header);
	OPENSSL_free(data);
	BIO_free(bio);
	return rc;
}

int lld_pkx_cert_decode(unsigned char **der, size_t *derlen, const char *text,
			size_t len, struct ll_error *err)
{
	*der = NULL;
	*derlen = 0;
	if (len >= sizeof(PEM_BEGIN) - 1 &&
	    memcmp(text, PEM_BEGIN, sizeof(PEM_BEGIN) - 1) == 0)
		return pem_der(der, derlen, text, len, err);
	if (len > (LLD_PKX_CERT_MAX + 2) / 3 * 4)
		return ll_err(err, LL_ETOOBIG, LL_ECLASS_USAGE,
			      "certificate larger than %d octets",
			      LLD_PKX_CERT_MAX);
	return ll_b64url_decode(der, derlen, text, len, LLD_PKX_CERT_MAX, err);
}

/* ---- the checks ---- */

static int refuse(enum lld_pkx_refusal *why, enum lld_pkx_refusal r,
		  struct ll_error *err, const char *msg)
{
	*why = r;
	return ll_err(err, LL_EPOLICY, LL_ECLASS_POLICY, "%s", msg);
}

#define STR(x) #x
#define XSTR(x) STR(x)

/* S (a name of the certificate) is the address whose key is EMAIL. */
static int names_email(const ASN1_STRING *s, const char *email)
{
	char key[LLD_EMAIL_MAX + 1];

	return lld_pkx_addr_key(key, (const char *)ASN1_STRING_get0_data(s),
				(size_t)ASN1_STRING_length(s), NULL) == 0 &&
	       strcmp(key, email) == 0;
}

/* Every mailbox X names is EMAIL, and it names one at least. */
static int names_ok(X509 *x, const char *email)
{
	const X509_NAME *subj = X509_get_subject_name(x);
	GENERAL_NAMES *gens;
	int crit = 0, seen = 0, ok = 1, i = -1;

	gens = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
	if (gens == NULL)
		return 0; /* none, two, or malformed */
	for (int k = 0; ok && k < sk_GENERAL_NAME_num(gens); k++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, k);
		const ASN1_STRING *s = NULL;

		if (g->type == GEN_EMAIL) {
			s = g->d.rfc822Name;
		} else if (g->type == GEN_OTHERNAME &&
			   OBJ_obj2nid(g->d.otherName->type_id) ==
				   NID_id_on_SmtpUTF8Mailbox) {
			if (g->d.otherName->value->type != V_ASN1_UTF8STRING)
				ok = 0;
			else
				s = g->d.otherName->value->value.utf8string;
		}
		if (s == NULL)
			continue; /* not a mailbox */
		seen++;
		ok = ok && names_email(s, email);
	}
	GENERAL_NAMES_free(gens);
	while (ok && (i = X509_NAME_get_index_by_NID(
			      subj, NID_pkcs9_emailAddress, i)) >= 0)
		ok = names_email(
			X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i)),
			email);
	return ok && seen > 0;
}

/* What the key must be allowed (keyUsage), 0 if we do not encrypt to
 * it. */
static uint32_t key_use(X509 *x)
{
	EVP_PKEY *k = X509_get0_pubkey(x);
	char group[32];
	size_t glen = 0;
	int bits;

	if (k == NULL)
		return 0;
	if (EVP_PKEY_is_a(k, "RSA")) {
		bits = EVP_PKEY_get_bits(k);
		return bits >= 2048 && bits <= 8192 ? KU_KEY_ENCIPHERMENT : 0;
	}
	if (EVP_PKEY_is_a(k, "EC") &&
	    EVP_PKEY_get_group_name(k, group, sizeof(group), &glen) == 1 &&
	    (strcmp(group, "prime256v1") == 0 ||
	     strcmp(group, "secp384r1") == 0))
		return KU_KEY_AGREEMENT;
	return 0;
}

int lld_pkx_cert_check(const unsigned char *der, size_t len, const char *email,
		       time_t now, time_t *nb, time_t *na,
		       enum lld_pkx_refusal *why, struct ll_error *err)
{
	const unsigned char *p = der;
	X509 *x = NULL;
	uint32_t flags, need;
	int rc;

	*why = LLD_PKX_OK;
	*nb = *na = 0;
	if (len == 0 || len > LLD_PKX_CERT_MAX)
		return refuse(why, LLD_PKX_NOT_CERT, err,
			      "not a certificate of at most " XSTR(
				      LLD_PKX_CERT_MAX) " octets");
	x = d2i_X509(NULL, &p, (long)len);
	if (x == NULL || p != der + len) {
		rc = refuse(why, LLD_PKX_NOT_CERT, err,
			    "not one DER certificate");
		goto out;
	}
	flags = X509_get_extension_flags(x);
	if (flags & EXFLAG_INVALID) {
		rc = refuse(why, LLD_PKX_NOT_CERT, err,
			    "the certificate's extensions do not parse");
		goto out;
	}
	*nb = ll_asn1_time(X509_get0_notBefore(x));
	*na = ll_asn1_time(X509_get0_notAfter(x));
	if (*nb == 0 || *na == 0 || now < *nb || now > *na) {
		rc = refuse(why, LLD_PKX_BAD_TIME, err,
			    "the certificate is not valid now");
		goto out;
	}
	if (flags & EXFLAG_CA) {
		rc = refuse(why, LLD_PKX_BAD_USE, err,
			    "a CA certificate, not a mailbox's");
		goto out;
	}
	/* no EKU: any use (RFC 5280 4.2.1.12); anyExtendedKeyUsage alone
	 * does not say S/MIME (the S/MIME BR forbid it) */
	if ((flags & EXFLAG_XKUSAGE) &&
	    !(X509_get_extended_key_usage(x) & XKU_SMIME)) {
		rc = refuse(why, LLD_PKX_BAD_USE, err,
			    "extended key usage without emailProtection");
		goto out;
	}
	need = key_use(x);
	if (need == 0) {
		ERR_clear_error();
		rc = refuse(why, LLD_PKX_BAD_KEY, err,
			    "the key is not RSA of 2048 to 8192 bits or EC "
			    "P-256 or P-384");
		goto out;
	}
	if ((flags & EXFLAG_KUSAGE) && !(X509_get_key_usage(x) & need)) {
		rc = refuse(why, LLD_PKX_BAD_USE, err,
			    "key usage does not allow encryption to the key");
		goto out;
	}
	if (!names_ok(x, email)) {
		ERR_clear_error();
		rc = refuse(why, LLD_PKX_WRONG_NAME, err,
			    "the certificate's mailboxes are not exactly the "
			    "address proven");
		goto out;
	}
	rc = 0;
out:
	X509_free(x);
	return rc;
}
