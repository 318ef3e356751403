/*
 * letterlock/ca.h - the certificate authority of letterlockd.
 *
 * End-entity S/MIME certificates for one validated mailbox, built to the
 * CA/Browser Forum S/MIME Baseline Requirements (BR), Mailbox-validated
 * Strict profile (policy 2.23.140.1.5.1.3); a pre-issuance lint that
 * checks a finished certificate against that profile on its own; and the
 * CA hierarchy: a root, the S/MIME issuing CA, a separate time-stamping
 * CA and the OCSP responder.  doc/ca-profile.md tells which BR clause
 * each rule comes from.
 *
 * The profile in short: subject CN = the address (an empty subject and a
 * critical subjectAltName when the address is longer than the 64
 * characters a CN may hold); subjectAltName exactly the address, as
 * rfc822Name when the local part is ASCII, as otherName SmtpUTF8Mailbox
 * (RFC 9598) when it is not, the domain as lower-case A-labels in both;
 * basicConstraints CA:FALSE and keyUsage critical; EKU emailProtection
 * only; CRL distribution point, AIA (OCSP, caIssuers) over http; SKI,
 * AKI; serial of 16 random bytes; 365 days by default, never over 825.
 * Keys: RSA 2048..8192 bits or EC P-256/P-384.
 *
 * The URL layout a letterlockd at BASE serves (ll_ca_hierarchy_create
 * writes the root-level ones into the CA certificates):
 *   BASE/ca/root.crt  BASE/ca/smime-ca.crt  BASE/ca/tsa-ca.crt   (DER)
 *   BASE/crl/root.crl BASE/crl/smime-ca.crl BASE/crl/tsa-ca.crl
 *   BASE/ocsp
 */
#ifndef LETTERLOCK_CA_H
#define LETTERLOCK_CA_H

#include <stddef.h>
#include <time.h>
#include <letterlock/error.h>
#include <letterlock/cert.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CA/B Forum reserved policy: Mailbox-validated, Strict generation. */
#define LL_CA_POLICY_MAILBOX_STRICT "2.23.140.1.5.1.3"
#define LL_CA_DEFAULT_DAYS 365
#define LL_CA_MAX_DAYS 825 /* BR 6.3.2, Strict */
/* notBefore lies this many seconds before the moment of issuance, for
 * relying parties whose clocks run a little slow. */
#define LL_CA_BACKDATE 300
#define LL_CA_CSR_MAX (64 * 1024) /* largest CSR accepted, bytes */
/* largest SubjectPublicKeyInfo accepted, bytes (RSA-8192 takes ~1.1K) */
#define LL_CA_SPKI_MAX 2048

/* What the key of an end-entity certificate may do. */
enum ll_ca_usage {
	LL_CA_USAGE_FROM_CSR = 0, /* what the CSR asks; both if nothing */
	LL_CA_USAGE_SIGN = 1u << 0,    /* digitalSignature */
	LL_CA_USAGE_ENCRYPT = 1u << 1, /* keyEncipherment (RSA) or
					  keyAgreement (EC) */
	LL_CA_USAGE_BOTH = (1u << 0) | (1u << 1),
};

/* ---- mailbox addresses ---- */

/*
 * The canonical form of the mailbox address ADDR (UTF-8; no quoted
 * local parts): the local part as given, '@', the domain as lower-case
 * A-labels (IDNA2008), into OUT (LEN bytes, NUL-terminated); the
 * domain part starts at OUT + *at + 1 if AT is not NULL.  This is the
 * form certificates carry and ACME identifiers are compared in.
 * Errors: LL_EINVAL (not an address we can certify; the message says
 * why), LL_ETOOBIG (OUT too small).
 */
int ll_ca_mailbox_canonical(char *out, size_t len, size_t *at,
			    const char *addr, struct ll_error *err);

/* ---- certificate requests ---- */

struct ll_ca_csr;

/*
 * Parse a PKCS#10 request (PEM or DER, detected; at most LL_CA_CSR_MAX
 * bytes) for the mailbox EMAIL (UTF-8; the domain may be given as
 * U-labels) and check it: version 1, its self-signature verifies, its
 * key is RSA 2048..8192 bits (a multiple of 8, public exponent odd and
 * in 2^16+1..2^256-1, modulus odd without factors below 752) or EC
 * P-256/P-384 on a named curve with a valid point, its subjectAltName
 * holds exactly the address
 * and nothing else, no subject attribute names another address, and
 * what it requests of keyUsage, extendedKeyUsage and basicConstraints
 * fits the profile.  Other requested extensions and subject attributes
 * are not copied into a certificate, and are ignored.
 *
 * On success *out belongs to the caller (ll_ca_csr_free).
 * Errors: LL_EINVAL (EMAIL is not a mailbox address we can certify),
 * LL_ETOOBIG, LL_EPARSE (not a CSR), LL_EPOLICY (the request breaks
 * the profile; the message says what, e.g. "CSR requests DNS:x.test
 * besides alice@example.test").
 */
int ll_ca_csr_parse(struct ll_ca_csr **out, const void *buf, size_t len,
		    const char *email, struct ll_error *err);

void ll_ca_csr_free(struct ll_ca_csr **pp);

/* The address in its canonical form (domain as lower-case A-labels);
 * borrowed from CSR. */
const char *ll_ca_csr_email(const struct ll_ca_csr *csr);

/* The usage the CSR's keyUsage asks for (LL_CA_USAGE_*), 0 if none. */
unsigned ll_ca_csr_usage(const struct ll_ca_csr *csr);

/*
 * The public key of CSR as SubjectPublicKeyInfo DER, encoded afresh by
 * OpenSSL from the key (not copied from the request), into *der
 * (malloc'd, *len octets; the caller frees it).  With the address and
 * ll_ca_csr_usage this is all ll_ca_csr_from_spki needs: what a front
 * that parsed the request hands a process that must not parse one.
 * Errors: LL_ECRYPTO, LL_ENOMEM.
 */
int ll_ca_csr_spki(unsigned char **der, size_t *len,
		   const struct ll_ca_csr *csr, struct ll_error *err);

/*
 * A request rebuilt from fixed-shape parts, without a CSR: the mailbox
 * EMAIL (canonicalised as ll_ca_csr_parse does), the public key SPKI
 * (LEN octets of SubjectPublicKeyInfo DER, exactly the encoding
 * ll_ca_csr_spki gives for that key: nothing after it, no other
 * encoding of the same key) checked as ll_ca_csr_parse checks a CSR's
 * key, and USAGE (LL_CA_USAGE_* bits; 0: nothing asked, which
 * ll_ca_issue takes as both, as for a CSR without keyUsage).  There is
 * no self-signature to check: the caller vouches that the key's holder
 * asked for this, normally by having parsed the CSR itself.  The result
 * serves ll_ca_issue, ll_ca_csr_email and ll_ca_csr_usage like a parsed
 * request.
 *
 * On success *out belongs to the caller (ll_ca_csr_free).
 * Errors: LL_EINVAL (EMAIL is not a mailbox address we can certify,
 * USAGE has other bits), LL_ETOOBIG (over LL_CA_SPKI_MAX), LL_EPARSE
 * (SPKI is not one DER SubjectPublicKeyInfo, or not in OpenSSL's
 * encoding), LL_EPOLICY (the key breaks the profile; the message says
 * how).
 */
int ll_ca_csr_from_spki(struct ll_ca_csr **out, const void *spki, size_t len,
			const char *email, unsigned usage,
			struct ll_error *err);

/* ---- issuing ---- */

struct ll_ca;

struct ll_ca_options {
	unsigned version;	    /* LL_CA_OPTIONS_VERSION */
	const char *crl_url;	    /* http URL of the issuing CA's CRL */
	const char *ocsp_url;	    /* http URL of its OCSP responder */
	const char *ca_issuers_url; /* http URL of its certificate (DER) */
	int default_days;	    /* 0: LL_CA_DEFAULT_DAYS */
};
#define LL_CA_OPTIONS_VERSION 1
#define LL_CA_OPTIONS_INIT { LL_CA_OPTIONS_VERSION, NULL, NULL, NULL, 0 }

/*
 * An issuing CA from its certificate (PEM or DER) and its private key
 * (unencrypted PEM or DER, PKCS#8 or traditional).  The certificate must
 * be a CA certificate (basicConstraints cA, keyUsage keyCertSign, a
 * subjectKeyIdentifier) whose key is EC P-256/P-384 or RSA >= 2048, and
 * the key must be its key.  The URLs are copied; that they are http
 * URLs is left to the lint, which refuses every certificate otherwise.
 *
 * *out belongs to the caller (ll_ca_free, which wipes the key).
 * Errors: LL_EINVAL (missing option, a URL that is not a URL, the key
 * does not match), LL_EPARSE, LL_EPOLICY (not a usable CA), LL_ECRYPTO.
 */
int ll_ca_new(struct ll_ca **out, const void *cert, size_t certlen,
	      const void *key, size_t keylen, const struct ll_ca_options *opt,
	      struct ll_error *err);

void ll_ca_free(struct ll_ca **pp);

/* The issuing CA's certificate; borrowed from CA. */
struct ll_cert *ll_ca_cert(const struct ll_ca *ca);

struct ll_ca_issue_options {
	unsigned version; /* LL_CA_ISSUE_OPTIONS_VERSION */
	int days;	  /* validity; 0: the CA's default */
	unsigned usage;	  /* LL_CA_USAGE_*; 0: from the CSR */
	time_t now;	  /* moment of issuance; 0: the clock */
};
#define LL_CA_ISSUE_OPTIONS_VERSION 1
#define LL_CA_ISSUE_OPTIONS_INIT { LL_CA_ISSUE_OPTIONS_VERSION, 0, 0, 0 }

/*
 * Build the certificate for CSR (from ll_ca_csr_parse or
 * ll_ca_csr_from_spki), lint it (ll_ca_lint, on the to-be-signed
 * certificate signed with a throw-away key of the issuer's type), and
 * only if the lint finds nothing sign it with the CA's key.  OPT may be
 * NULL.
 *
 * On success *out is the new certificate (the caller frees it).
 * Errors: LL_EINVAL (bad option), LL_EPOLICY (validity over
 * LL_CA_MAX_DAYS, or the lint found a violation: the message names the
 * first, err->detail lists them all), LL_ECRYPTO.
 */
int ll_ca_issue(struct ll_cert **out, struct ll_ca *ca,
		const struct ll_ca_csr *csr,
		const struct ll_ca_issue_options *opt, struct ll_error *err);

/* ---- pre-issuance lint ---- */

struct ll_ca_lint_report;

/*
 * Check CERT against the Mailbox-validated Strict profile, every rule
 * derived from the certificate itself (not from how letterlock builds
 * one).  ISSUER is the issuing CA's certificate: the issuer name, the
 * authorityKeyIdentifier and the signature algorithm are checked
 * against it.  EMAIL, if not NULL, is the validated address the
 * certificate must name and no other.  The signature itself is not
 * checked (the issuing path lints a certificate signed with a
 * throw-away key).
 *
 * Returns 0 when the lint ran; *out (the caller frees it) then holds
 * the violations, none when the certificate passes.  Errors:
 * LL_EINVAL (EMAIL is not an address), LL_ENOMEM.
 */
int ll_ca_lint(struct ll_ca_lint_report **out, const struct ll_cert *cert,
	       const struct ll_cert *issuer, const char *email,
	       struct ll_error *err);

/* Number of violations. */
size_t ll_ca_lint_count(const struct ll_ca_lint_report *r);

/*
 * The i-th violation as one line "RULE: what is wrong (source)", RULE
 * a stable identifier such as "ku.critical" or "san.count", source the
 * BR clause or RFC, or "letterlock profile" for our own stricter
 * choices.  Borrowed from R; NULL past the end.
 */
const char *ll_ca_lint_violation(const struct ll_ca_lint_report *r,
				 size_t i);

/* 1 if a violation of RULE (e.g. "ku.bits") is in R. */
int ll_ca_lint_has(const struct ll_ca_lint_report *r, const char *rule);

void ll_ca_lint_free(struct ll_ca_lint_report **pp);

/* ---- the hierarchy ---- */

enum ll_ca_role {
	LL_CA_ROOT = 0, /* EC P-384, 20 years, pathLen 1, no EKU */
	LL_CA_SMIME,	/* EC P-256 issuing CA, 10 years, pathLen 0, EKU
			   emailProtection, policy 2.23.140.1.5.1.3 */
	LL_CA_TSA,	/* EC P-256 time-stamping CA, 10 years, pathLen 0,
			   EKU timeStamping only */
	LL_CA_OCSP,	/* EC P-256 OCSP responder under the S/MIME CA,
			   1 year, EKU OCSPSigning, id-pkix-ocsp-nocheck */
	LL_CA_TSU,	/* EC P-256 time-stamping unit (the TSA's signer)
			   under the time-stamping CA, 10 years, EKU
			   timeStamping only, critical */
	LL_CA_NROLES,
};

struct ll_ca_hierarchy_options {
	unsigned version;     /* LL_CA_HIERARCHY_OPTIONS_VERSION */
	const char *name;     /* organizationName, e.g. "Example CA" */
	const char *country;  /* ISO 3166-1 alpha-2; NULL: "XX" */
	const char *base_url; /* http://host[:port][/path], no final '/' */
	time_t now;	      /* 0: the clock */
};
#define LL_CA_HIERARCHY_OPTIONS_VERSION 1
#define LL_CA_HIERARCHY_OPTIONS_INIT \
	{ LL_CA_HIERARCHY_OPTIONS_VERSION, NULL, NULL, NULL, 0 }

struct ll_ca_hierarchy;

/*
 * Generate the four keys and certificates.  Subjects are
 * "CN=<name> <role>, O=<name>, C=<country>" (BR 7.1.4.3.1).
 * *out belongs to the caller (ll_ca_hierarchy_free wipes the keys).
 * Errors: LL_EINVAL (missing or bad option), LL_ECRYPTO.
 */
int ll_ca_hierarchy_create(struct ll_ca_hierarchy **out,
			   const struct ll_ca_hierarchy_options *opt,
			   struct ll_error *err);

void ll_ca_hierarchy_free(struct ll_ca_hierarchy **pp);

/* The certificate of ROLE; borrowed from H. */
struct ll_cert *ll_ca_hierarchy_cert(const struct ll_ca_hierarchy *h,
				     enum ll_ca_role role);

/*
 * The private key of ROLE as unencrypted PKCS#8 PEM, NUL-terminated,
 * malloc'd into *out with its length in *len.  The caller must wipe it
 * (ll_wipe_free(*out, *len)).  Errors: LL_EINVAL, LL_ECRYPTO.
 */
int ll_ca_hierarchy_key_pem(char **out, size_t *len,
			    const struct ll_ca_hierarchy *h,
			    enum ll_ca_role role, struct ll_error *err);

/*
 * A version 2 CRL with no entries, issued by the CA of CERT (PEM or
 * DER) with its KEY (PEM or DER): thisUpdate NOW, nextUpdate DAYS later
 * (1..366; the BR want a CA's CRL renewed within 12 months), the
 * authority key identifier, and NOW as the CRL number (later CRLs get
 * larger numbers with no counter to keep).  For the root, whose key is
 * taken out only for this.  DER into *der (malloc'd).
 * Errors: LL_EINVAL (days, or KEY is not CERT's), LL_EPARSE, LL_ECRYPTO.
 */
int ll_ca_empty_crl(unsigned char **der, size_t *len, const void *cert,
		    size_t certlen, const void *key, size_t keylen, time_t now,
		    int days, struct ll_error *err);

/* File stem of ROLE: "root", "smime-ca", "tsa-ca", "ocsp". */
const char *ll_ca_role_name(enum ll_ca_role role);

#ifdef __cplusplus
}
#endif
#endif
