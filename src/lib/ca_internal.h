/*
 * ca_internal.h - shared by libletterlock's ca_*.c files only.
 */
#ifndef LL_CA_INTERNAL_H
#define LL_CA_INTERNAL_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <letterlock/ca.h>

#include "internal.h"

/* ---- ca_addr.c: one mailbox address ---- */

#define LL_MAILBOX_MAX 254	/* octets of local@domain (RFC 5321) */
#define LL_MAILBOX_LOCAL_MAX 64 /* octets of the local part */
#define LL_CN_MAX 64		/* ub-common-name (RFC 5280), characters */

struct ll_mailbox {
	/* canonical: local part as given, '@', domain in lower-case
	 * A-labels (RFC 9598 section 3) */
	char addr[LL_MAILBOX_MAX + 1];
	size_t len;	 /* octets of addr */
	size_t chars;	 /* characters (code points) of addr */
	int utf8_local;	 /* the local part has non-ASCII characters */
};

/*
 * Parse the address S (LEN octets, UTF-8): a dot-atom local part of
 * ASCII atext and UTF-8 characters (RFC 6531; no quoted local parts),
 * '@', a domain of at least two labels that is IDNA2008 without
 * mappings (RFC 9598 section 4) - ASCII letters are lower-cased,
 * U-labels become A-labels.  LL_EINVAL with a message on anything else.
 */
int ll_mailbox_parse(struct ll_mailbox *m, const char *s, size_t len,
		     struct ll_error *err);

/* The GeneralName naming M: rfc822Name, or otherName SmtpUTF8Mailbox
 * when the local part is not ASCII.  NULL when out of memory. */
GENERAL_NAME *ll_mailbox_general_name(const struct ll_mailbox *m);

/* A GeneralName as text for messages ("DNS:x.test", "email:a@b"),
 * control and non-ASCII octets escaped; always NUL-terminated. */
void ll_general_name_text(char *buf, size_t len, const GENERAL_NAME *g);

/* 1 if S[0..N) is well-formed UTF-8 (no overlong forms, surrogates or
 * code points past U+10FFFF); *CHARS, if not NULL, gets the number of
 * characters. */
int ll_utf8_valid(const unsigned char *s, size_t n, size_t *chars);

/* ---- ca_csr.c ---- */

struct ll_ca_csr {
	X509_REQ *req; /* NULL when rebuilt by ll_ca_csr_from_spki */
	EVP_PKEY *pkey; /* a reference */
	/* ll_ca_csr_from_spki of an RSA or EC P-256/P-384 key: the
	 * subjectPublicKey's octets (OpenSSL's encoding of PKEY), put in
	 * the certificate as they are; the curve's NID, NID_undef for
	 * RSA.  NULL otherwise. */
	unsigned char *keybits;
	size_t keylen;
	int curve;
	struct ll_mailbox mbox;
	unsigned usage; /* LL_CA_USAGE_* asked for, 0 if none */
	int is_ec;
};

/* ---- ca_issue.c ---- */

struct ll_ca {
	X509 *cert;
	EVP_PKEY *key;
	EVP_PKEY *lint_key; /* throw-away key of the issuer's type */
	const EVP_MD *md;   /* the digest BR 7.1.3.2 wants for key */
	struct ll_cert *wrapped;
	char *crl_url;
	char *ocsp_url;
	char *issuers_url;
	int default_days;
};


/* ---- ca_key.c ---- */

/* The BR 6.1.6 checks of an RSA public key that cost microseconds
 * (exponent odd, 2^16 < e < 2^256; modulus odd, no factor below 752):
 * NULL when they pass, else what is wrong. */
const char *ll_rsa_key_problem(const EVP_PKEY *k);

/* ---- ca_ext.c: building extensions from structures (never from
 * configuration strings, so no URL can inject syntax) ---- */

int ll_ext_basic_constraints(X509 *x, int ca, long pathlen);
int ll_ext_key_usage(X509 *x, unsigned bits); /* bit i = KU bit i */
int ll_ext_eku(X509 *x, const int *nids, size_t n, int critical);
int ll_ext_policies(X509 *x, const char *const *oids, size_t n);
int ll_ext_ski(X509 *x);
int ll_ext_aki(X509 *x, X509 *issuer);
int ll_ext_crldp(X509 *x, const char *url);
/* AIA; either URL may be NULL. */
int ll_ext_aia(X509 *x, const char *ocsp, const char *issuers);
int ll_ext_ocsp_nocheck(X509 *x);
/* Serial of 16 random bytes, positive. */
int ll_set_random_serial(X509 *x);
/* notBefore = NOW - BACKDATE, notAfter = notBefore + SECS - 1. */
int ll_set_validity(X509 *x, time_t now, time_t backdate, long long secs);

/* KeyUsage bit numbers (RFC 5280 4.2.1.3). */
enum {
	LL_KU_DIGITAL_SIGNATURE = 0,
	LL_KU_NON_REPUDIATION = 1,
	LL_KU_KEY_ENCIPHERMENT = 2,
	LL_KU_DATA_ENCIPHERMENT = 3,
	LL_KU_KEY_AGREEMENT = 4,
	LL_KU_KEY_CERT_SIGN = 5,
	LL_KU_CRL_SIGN = 6,
	LL_KU_ENCIPHER_ONLY = 7,
	LL_KU_DECIPHER_ONLY = 8,
};

/* ---- ca_profile.c ---- */

/* The end-entity certificate for CSR, complete but unsigned.  With RAW,
 * the subject's key goes in as the octets ll_ca_csr_from_spki kept
 * (when it kept them), not decoded in the X509 (see ll_ca_issue_x509). */
int ll_ca_profile_build(X509 **out, const struct ll_ca *ca, int raw,
			const struct ll_ca_csr *csr,
			const struct ll_ca_issue_options *opt,
			struct ll_error *err);

/* ---- ca_lint.c ---- */

/* ll_ca_lint_x509 for a certificate whose public key is KEY (its SPKI
 * holds KEY's encoding): KEY is not decoded again from X. */
int ll_ca_lint_x509_key(struct ll_ca_lint_report **out, X509 *x, EVP_PKEY *key,
			X509 *issuer, const char *email, struct ll_error *err);
int ll_ca_lint_x509(struct ll_ca_lint_report **out, X509 *x, X509 *issuer,
		    const char *email, struct ll_error *err);

#endif
